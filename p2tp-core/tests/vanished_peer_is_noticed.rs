//! A peer that vanishes (its host gone, its NAT mapping dropped) is noticed by the side that
//! still talks to it within `unreachable_after` of the first packet it left unanswered: at
//! once when data is waiting, at the next keep-alive on a quiet stream (not after four
//! keep-alives, up to twenty minutes with a long measured binding lifetime). A live peer
//! behind a lossy path is probed again before anything is given up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::time::Duration;

use common::{A, B, Pair, delay};
use netsim::addr;
use p2tp_core::{CloseReason, Config, Endpoint, Event};
use sansio_core::{Instant, Machine, Seed};

fn established(keepalive: Option<Duration>) -> Pair {
    let mut p = Pair::new(3, delay(20));
    p.sim.call(p.a, move |e: &mut Endpoint, now| {
        if let Some(k) = keepalive {
            e.set_keepalive(now, k);
        }
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"hello").unwrap();
    });
    p.sim.call(p.b, move |e: &mut Endpoint, now| {
        if let Some(k) = keepalive {
            e.set_keepalive(now, k);
        }
    });
    p.run_for(Duration::from_secs(2));
    assert!(p.sim.machine(p.a).is_established(addr(B)));
    p
}

/// B's host drops off the network: nothing in, nothing out.
fn vanish_b(p: &mut Pair) {
    for link in [p.sim.host_uplink(p.b), p.sim.host_downlink(p.b)] {
        p.sim.link_mut(link).up = false;
    }
}

fn closed_at(p: &Pair) -> Option<(Instant, CloseReason)> {
    p.sim.events(p.a).into_iter().find_map(|(t, e)| match e {
        Event::Closed { reason, .. } => Some((t, *reason)),
        _ => None,
    })
}

#[test]
fn data_to_a_vanished_peer_closes_the_stream_within_unreachable_after() {
    let mut p = established(None);
    vanish_b(&mut p);
    let sent_at = p.now();
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"anyone there?").unwrap());
    p.run_for(Duration::from_secs(30));
    let (at, reason) = closed_at(&p).expect("the stream was closed");
    assert_eq!(reason, CloseReason::Unreachable);
    let after = at.saturating_duration_since(sent_at);
    let limit = p.sim.machine(p.a).config().unreachable_after;
    assert!(after >= limit && after <= limit + Duration::from_secs(1), "closed {after:?} after the send");
    assert!(!p.sim.machine(p.a).is_established(addr(B)));
}

#[test]
fn a_quiet_stream_notices_at_its_next_keepalive_not_after_four() {
    // A binding lifetime of 300 s measured: keep-alives every 240 s, idle timeout 16 min.
    let keepalive = Duration::from_secs(240);
    let mut p = established(Some(keepalive));
    let vanished_at = p.now();
    vanish_b(&mut p);
    p.run_for(Duration::from_secs(20 * 60));
    let (at, reason) = closed_at(&p).expect("the stream was closed");
    assert_eq!(reason, CloseReason::Unreachable);
    let limit = keepalive + p.sim.machine(p.a).config().unreachable_after + Duration::from_secs(1);
    assert!(at.saturating_duration_since(vanished_at) <= limit, "noticed after {:?}", at - vanished_at);
}

#[test]
fn a_live_peer_whose_first_answers_are_lost_is_probed_not_dropped() {
    let mut p = established(None);
    // B hears everything but its replies are lost for 5 s, then the path heals.
    p.sim.link_mut(p.sim.host_uplink(p.b)).up = false;
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"still there?").unwrap());
    p.run_for(Duration::from_secs(5));
    p.sim.link_mut(p.sim.host_uplink(p.b)).up = true;
    p.run_for(Duration::from_secs(60));
    assert_eq!(closed_at(&p), None, "a peer that answers within the limit is kept");
    assert!(p.sim.machine(p.a).is_established(addr(B)));
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"good").unwrap());
    p.run_for(Duration::from_secs(1));
    assert!(common::received(&p.sim, p.b).iter().any(|d| d == b"good"));
}

#[test]
fn a_quiet_stream_whose_keepalive_answers_are_lost_probes_and_stays() {
    let mut p = established(Some(Duration::from_secs(240)));
    let keepalives = |p: &Pair| p.sim.machine(p.a).path_stats(addr(B)).unwrap().keepalives_sent;
    let before = keepalives(&p);
    p.run_for(Duration::from_secs(200));
    // B's replies are lost from before A's next keep-alive until 5 s after it: only A's
    // liveness probes (1 s and 3 s after it; the one at 7 s is answered) can save the stream.
    p.sim.link_mut(p.sim.host_uplink(p.b)).up = false;
    while keepalives(&p) == before {
        p.run_for(Duration::from_millis(10));
        assert!(p.now() < Instant::from_secs(400), "no keep-alive went out");
    }
    p.run_for(Duration::from_secs(5));
    p.sim.link_mut(p.sim.host_uplink(p.b)).up = true;
    p.run_for(Duration::from_secs(60));
    assert_eq!(closed_at(&p), None);
    assert!(p.sim.machine(p.a).is_established(addr(B)));
}

#[test]
fn a_driver_that_slept_past_both_deadlines_hears_of_one_close() {
    // Two endpoints shuttled by hand, so A's driver can sleep through every timer at once.
    let (a, b) = (addr(A), addr(B));
    let mut ea = Endpoint::new(Config::new(a), Seed::from_u64(1));
    let mut eb = Endpoint::new(Config::new(b), Seed::from_u64(2));
    let now = common::open_by_hand(&mut ea, a, &mut eb, b);
    let mut buf = vec![0u8; 2048];
    // B vanishes: what A sends is lost. Then A's driver sleeps for two hours, past the
    // unreachable deadline and the idle timeout alike.
    ea.send(now, b, b"lost").unwrap();
    while ea.poll_transmit(now, &mut buf).is_some() {}
    // What a driver asks before it sleeps.
    assert!(ea.poll_timeout().is_some());
    let later = now + Duration::from_secs(2 * 3600);
    ea.handle_timeout(later);
    while ea.poll_transmit(later, &mut buf).is_some() {}
    let closes: Vec<CloseReason> = std::iter::from_fn(|| ea.poll_event())
        .filter_map(|e| match e {
            Event::Closed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert!(!ea.is_established(b));
    assert!(ea.poll_timeout().is_none_or(|t| t > later));
}
