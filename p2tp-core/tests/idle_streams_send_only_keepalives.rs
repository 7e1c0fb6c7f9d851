//! Two established streams with nothing to say exchange keep-alives and their echoes, and
//! nothing else: a packet sent to return an echo never asks for one back (docs/p2tp.md §6.1,
//! §10.1). Before that rule, two idle sides kept each other sending every round trip forever.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::time::Duration;

use common::{A, B, Pair, delay};
use netsim::addr;
use p2tp_core::Endpoint;

#[test]
fn idle_established_streams_send_only_keepalives_and_their_echoes() {
    let mut p = Pair::new(1, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| {
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"ping").unwrap();
    });
    p.run_for(Duration::from_millis(500));
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"pong").unwrap());
    p.run_for(Duration::from_secs(2));
    let sent =
        |p: &Pair| (p.sim.link_stats(p.sim.host_uplink(p.a)).offered, p.sim.link_stats(p.sim.host_uplink(p.b)).offered);
    let before = sent(&p);
    p.run_for(Duration::from_secs(120));
    let after = sent(&p);
    // A keep-alive every 15 s from each side, each answered once: about 16 packets a side in
    // two minutes; a round-trip ping-pong would be 3,000.
    let (a, b) = (after.0 - before.0, after.1 - before.1);
    assert!(a <= 20 && b <= 20, "{a} and {b} packets in two idle minutes");
    assert!(a >= 4 && b >= 4, "keep-alives still go out: {a}, {b}");
    assert!(p.sim.machine(p.a).is_established(addr(B)) && p.sim.machine(p.b).is_established(addr(A)));
}
