//! With `settled_peers` set, a node that knows enough peers walks at `settled_walk_interval`:
//! a network of them sends far less once discovery is done, and keeps its peer tables full
//! (a node whose table thins out walks faster again).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::time::Duration;

use netsim::NatConfig;

mod util;
use util::{network_with, run_until};

const SETTLED_PEERS: usize = 20;

/// What the NAT'd nodes did from 60 s to 120 s.
struct Maintenance {
    /// Bytes they sent.
    sent: u64,
    /// The fewest peers any knew, sampled every second.
    fewest: usize,
    /// The longest any stayed below `SETTLED_PEERS` (consecutive one-second samples).
    longest_thin_s: u64,
}

fn maintenance(settled_peers: usize) -> Maintenance {
    let nats: Vec<NatConfig> = (0..40).map(|_| NatConfig::full_cone()).collect();
    let mut net = network_with(7, 3, &nats, |c| {
        c.settled_peers = settled_peers;
        c.settled_walk_interval = Duration::from_secs(5);
    });
    let sent = |net: &util::Net| -> u64 {
        net.nats.iter().flatten().map(|(n, _)| net.sim.link_stats(net.sim.nat_uplink(*n)).delivered_bytes).sum()
    };
    run_until(&mut net, 60);
    let before = sent(&net);
    let (mut fewest, mut longest_thin_s) = (usize::MAX, 0);
    let mut thin_for = vec![0u64; net.nodes.len()];
    for t in 61..=120 {
        run_until(&mut net, t);
        for (k, h) in net.nodes.iter().enumerate().skip(3) {
            let known = net.sim.machine(*h).peers().count();
            fewest = fewest.min(known);
            thin_for[k] = if known < SETTLED_PEERS { thin_for[k] + 1 } else { 0 };
            longest_thin_s = longest_thin_s.max(thin_for[k]);
        }
    }
    Maintenance { sent: sent(&net) - before, fewest, longest_thin_s }
}

#[test]
fn settled_nodes_send_much_less_and_still_know_their_peers() {
    let walking = maintenance(0);
    let settled = maintenance(SETTLED_PEERS);
    eprintln!(
        "bytes 60-120 s: {} walking, {} settled; fewest peers {} / {}; longest below {SETTLED_PEERS}: {} s / {} s",
        walking.sent, settled.sent, walking.fewest, settled.fewest, walking.longest_thin_s, settled.longest_thin_s
    );
    assert!(settled.sent * 10 < walking.sent * 6, "{} vs {} bytes", settled.sent, walking.sent);
    // Peers come and go from a settled node's table (liveness expires them between its slow
    // steps), so it dips below SETTLED_PEERS now and then (to 11-17 over eight seeds); a
    // node that thinned out walks fast again and refills it (4-11 s measured), where one
    // that stayed slow would stay thin.
    assert!(settled.longest_thin_s <= 15, "a node stayed below {SETTLED_PEERS} peers for {} s", settled.longest_thin_s);
    assert!(settled.fewest >= SETTLED_PEERS / 2, "{}", settled.fewest);
    assert!(walking.fewest >= SETTLED_PEERS);
}
