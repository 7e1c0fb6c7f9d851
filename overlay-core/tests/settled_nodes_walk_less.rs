//! With `settled_peers` set, a node that knows enough peers walks at `settled_walk_interval`:
//! a network of them sends far less once discovery is done, and keeps its peer tables full
//! (a node whose table thins out walks faster again).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::time::Duration;

use netsim::NatConfig;

mod util;
use util::{network_with, run_until};

/// Bytes the NAT'd nodes sent from 60 s to 120 s, and the fewest peers any of them knows at
/// the end.
fn maintenance(settled_peers: usize) -> (u64, usize) {
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
    run_until(&mut net, 120);
    let fewest = net.nodes.iter().skip(3).map(|h| net.sim.machine(*h).peers().count()).min().unwrap();
    (sent(&net) - before, fewest)
}

#[test]
fn settled_nodes_send_much_less_and_still_know_their_peers() {
    let (walking, walking_fewest) = maintenance(0);
    let (settled, settled_fewest) = maintenance(20);
    eprintln!("bytes 60-120 s: {walking} walking, {settled} settled; fewest peers {walking_fewest} / {settled_fewest}");
    assert!(settled * 10 < walking * 6, "{settled} vs {walking} bytes");
    assert!(settled_fewest >= 20, "a settled node whose table thinned out walked faster: {settled_fewest}");
    assert!(walking_fewest >= 20);
}
