//! Two nodes behind Linux routers, where a handshake reached the peer's router before the
//! peer's own packet had left it. Linux conntrack then keeps the unsolicited flow and moves
//! the peer's mapping towards this node to another port, which this node's router filters.
//! Every retry refreshes that state, so retrying cannot mend it. The two nodes give up,
//! leave each other's addresses alone until both routers have forgotten, and then punch
//! again and meet directly. Meanwhile every message goes by relay (`docs/overlay.md` §7.1).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::time::Duration;

use netsim::NatConfig;
use overlay_core::{Event, Mid};
use sansio_core::Instant;

mod util;
use util::network_with;

fn delivered(events: &[(Instant, Event)], from: Mid) -> usize {
    events.iter().filter(|(_, e)| matches!(e, Event::Message { mid, .. } if *mid == from)).count()
}

#[test]
fn a_blind_handshake_that_poisoned_a_linux_router_is_outwaited_and_the_pair_meets_directly() {
    let nats = [NatConfig::linux_masquerade(), NatConfig::linux_masquerade()];
    let mut net = network_with(71, 1, &nats, |c| {
        c.trust_threshold = 0.0;
        c.punch_silence = true;
        c.puncture_delay = Duration::from_millis(50);
    });
    let (a, b) = (1, 2);
    // They meet, and each learns the other's Binding record.
    net.sim.run_until(Instant::from_secs(20)).unwrap();
    let (ma, mb) = (net.node(a).mid(), net.node(b).mid());
    // B goes offline long enough for everyone, and B's router, to forget it.
    let (up, down) = (net.sim.host_uplink(net.nodes[b]), net.sim.host_downlink(net.nodes[b]));
    net.sim.link_mut(up).up = false;
    net.sim.link_mut(down).up = false;
    net.sim.run_until(Instant::from_secs(300)).unwrap();
    assert!(net.node(a).peer(&mb).is_none(), "A forgot B");
    // B comes back, but hears nothing yet: the introducers' puncture requests are lost, so
    // A's stream to B's Binding address, after its opening sequence, starts its handshake
    // blind. It reaches B's router first: the poison.
    net.sim.link_mut(up).up = true;
    net.sim.run_until(Instant::from_secs(302)).unwrap();
    for h in &net.nodes {
        net.sim.take_events(*h);
    }
    net.sim.call(net.nodes[a], move |n, now| n.send(now, &mb, b"m0")).unwrap();
    net.sim.run_until(Instant::from_millis(305_500)).unwrap();
    net.sim.link_mut(down).up = true;
    // A message every 5 s, as an application would keep talking.
    let mut sent = 1;
    let mut direct_at = None;
    let start = net.sim.now();
    while net.sim.now() < Instant::from_secs(420) {
        net.sim.run_for(Duration::from_secs(5)).unwrap();
        if direct_at.is_none() && net.node(a).connected().any(|(m, _)| m == mb) {
            direct_at = Some(net.sim.now());
        }
        let text = format!("m{sent}").into_bytes();
        net.sim.call(net.nodes[a], move |n, now| n.send(now, &mb, &text)).unwrap();
        sent += 1;
    }
    net.sim.run_for(Duration::from_secs(5)).unwrap();
    let got = delivered(&net.sim.take_events(net.nodes[b]), ma);
    let (sa, sb) = (net.node(a).stats(), net.node(b).stats());
    let direct_at = direct_at.expect("A and B end up on a direct stream");
    let took = direct_at.saturating_duration_since(start);
    // 20 s of unanswered punches, 50 s left alone, then a punch: 75 s here. Without the
    // silence no direct stream comes at all (the retries keep the routers' state alive).
    assert!(took <= Duration::from_secs(90), "direct {took:?} after the poison");
    let moved = net.sim.nat_stats(net.nats[b].unwrap().0).ports_moved_by_inbound_state;
    assert!(moved >= 1, "the handshake did poison B's router");
    assert!(sa.punches_failed >= 1 && sb.punches_failed >= 1, "both sides gave up: A {sa:?}, B {sb:?}");
    assert_eq!(got, sent, "every message arrived, by relay until the direct stream took over");
}
