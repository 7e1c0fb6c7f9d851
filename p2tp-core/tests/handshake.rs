//! Opening a stream: one side or both at once, over links that lose each handshake packet,
//! with the responder keeping no state until its cookie returns (docs/p2tp.md §5).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::time::Duration;

use common::{A, B, Pair, delay, opened, received};
use netsim::addr;
use p2tp_core::Endpoint;
use sansio_core::Instant;

#[test]
fn one_sided_open_delivers_data_in_the_second_round_trip() {
    let mut p = Pair::new(1, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| {
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"first").unwrap();
    });
    p.run_for(Duration::from_millis(200));
    // H1 out, H2 back (one RTT of 40 ms: 10 ms per access link, two links each way), then
    // the first SOP=1 packet carries the data: it arrives 1.5 RTT after connect.
    assert_eq!(received(&p.sim, p.b), vec![b"first".to_vec()]);
    let b_opened = opened(&p.sim, p.b);
    assert_eq!(b_opened, vec![(Instant::from_millis(60), addr(A))]);
    let a_opened = opened(&p.sim, p.a);
    assert_eq!(a_opened, vec![(Instant::from_millis(80), addr(B))], "A opens when B's first packet arrives, 2 RTT in");
    assert!(p.sim.machine(p.a).is_established(addr(B)) && p.sim.machine(p.b).is_established(addr(A)));
    let srtt = p.sim.machine(p.a).path_stats(addr(B)).unwrap().srtt;
    assert!(srtt >= Duration::from_millis(40) && srtt <= Duration::from_millis(48), "{srtt:?}");
}

#[test]
fn simultaneous_open_needs_no_tie_break() {
    let mut p = Pair::new(2, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| e.connect(now, addr(B)).unwrap());
    p.sim.call(p.b, |e: &mut Endpoint, now| e.connect(now, addr(A)).unwrap());
    p.run_for(Duration::from_millis(300));
    assert_eq!(opened(&p.sim, p.a).len(), 1);
    assert_eq!(opened(&p.sim, p.b).len(), 1);
    assert_eq!(p.sim.machine(p.a).streams(), 1, "one stream per pair, not two");
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"x").unwrap());
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"y").unwrap());
    p.run_for(Duration::from_millis(100));
    assert_eq!(received(&p.sim, p.b), vec![b"x".to_vec()]);
    assert_eq!(received(&p.sim, p.a), vec![b"y".to_vec()]);
}

/// Runs a one-sided open from A over 10 ms links, with A's uplink (`a_side`) or B's down
/// from just before `at_ms` for 15 ms. Returns A's `Opened` events, what B received, and how
/// many packets the outage dropped.
fn open_with_outage(seed: u64, a_side: bool, at_ms: u64) -> (Vec<(Instant, std::net::SocketAddr)>, Vec<Vec<u8>>, u64) {
    let mut p = Pair::new(seed, delay(10));
    let link = if a_side { p.sim.host_uplink(p.a) } else { p.sim.host_uplink(p.b) };
    if at_ms == 0 {
        p.sim.link_mut(link).up = false;
    }
    p.sim.call(p.a, |e: &mut Endpoint, now| {
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"data").unwrap();
    });
    if at_ms > 0 {
        // Stop just before the packet to be lost leaves.
        p.sim.run_until(Instant::from_millis(at_ms - 1)).unwrap();
        p.sim.link_mut(link).up = false;
    }
    p.sim.run_until(Instant::from_millis(at_ms + 15)).unwrap();
    p.sim.link_mut(link).up = true;
    p.run_for(Duration::from_secs(3));
    let dropped = p.sim.link_stats(link).dropped_down;
    (opened(&p.sim, p.a), received(&p.sim, p.b), dropped)
}

#[test]
fn every_handshake_packet_lost_once_is_recovered() {
    // Each outage eats exactly one packet of the exchange of the one-sided test: A's H1 (sent
    // at 0 ms), B's H2 (20 ms), A's first SOP=1 packet (40 ms), B's first SOP=1 packet (60 ms).
    for (name, a_side, at) in
        [("H1", true, 0), ("H2", false, 20), ("A's first SOP=1", true, 40), ("B's first SOP=1", false, 60)]
    {
        let (a_opened, b_got, dropped) = open_with_outage(10, a_side, at);
        assert_eq!(dropped, 1, "{name}: the outage took exactly that packet");
        assert_eq!(a_opened.len(), 1, "{name} lost: A opens once, {a_opened:?}");
        assert!(a_opened[0].0 < Instant::from_secs(2), "{name} lost: recovered within the backoff, {a_opened:?}");
        assert!(b_got.is_empty() || b_got == vec![b"data".to_vec()], "{name}: at most once, {b_got:?}");
    }
}

#[test]
fn a_peer_that_never_answers_fails_after_eight_h1s() {
    let mut p = Pair::new(3, delay(10));
    let down = p.sim.host_downlink(p.b);
    p.sim.link_mut(down).up = false;
    p.sim.call(p.a, |e: &mut Endpoint, now| e.connect(now, addr(B)).unwrap());
    p.run_for(Duration::from_secs(70));
    let events = p.sim.events(p.a);
    let failed: Vec<Instant> =
        events.iter().filter(|(_, e)| matches!(e, p2tp_core::Event::OpenFailed { .. })).map(|(t, _)| *t).collect();
    assert_eq!(failed, vec![Instant::from_millis(63_750)]);
    assert_eq!(p.sim.link_stats(p.sim.host_uplink(p.a)).delivered, 8, "H1 at 0, 0.25, 0.75, ... 31.75 s");
    assert_eq!(p.sim.machine(p.a).streams(), 0);
}
