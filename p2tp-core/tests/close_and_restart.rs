//! The end of a stream and a peer that loses its state: a close is accepted only when it
//! proves knowledge of the stream, a draining side answers strays with a close, a reconnect
//! after a close works, a restarted peer replaces the stream, and a peer that lost its state
//! is won back through its stateless reply (docs/p2tp.md §5.6, §10.4).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::time::Duration;

use common::{A, B, Pair, delay, opened, received};
use netsim::addr;
use p2tp_core::{CloseReason, Config, Endpoint, Event, SendError};
use sansio_core::Seed;

fn established(seed: u64) -> Pair {
    let mut p = Pair::new(seed, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| e.connect(now, addr(B)).unwrap());
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"hello").unwrap());
    p.run_for(Duration::from_millis(300));
    // Let B send too, so both sides hold each other's timestamps.
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"hi").unwrap());
    p.run_for(Duration::from_millis(300));
    assert!(p.sim.machine(p.a).is_established(addr(B)) && p.sim.machine(p.b).is_established(addr(A)));
    p
}

fn closed(p: &Pair, h: netsim::HostId<Endpoint>) -> Vec<CloseReason> {
    p.sim
        .events(h)
        .into_iter()
        .filter_map(|(_, e)| if let Event::Closed { reason, .. } = e { Some(*reason) } else { None })
        .collect()
}

#[test]
fn a_close_ends_the_stream_on_both_sides_and_nothing_arrives_after_it() {
    let mut p = established(1);
    let before = received(&p.sim, p.a).len();
    p.sim.call(p.a, |e: &mut Endpoint, now| assert!(e.close(now, addr(B))));
    // B still sends, unaware for a moment: A is draining and delivers none of it.
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"late").unwrap());
    assert_eq!(p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"x")), Err(SendError::Closing));
    p.run_for(Duration::from_secs(3));
    assert_eq!(closed(&p, p.a), vec![CloseReason::Local]);
    assert_eq!(closed(&p, p.b), vec![CloseReason::ByPeer], "B accepted the close");
    assert_eq!(received(&p.sim, p.a).len(), before, "nothing is delivered after close()");
    assert_eq!((p.sim.machine(p.a).streams(), p.sim.machine(p.b).streams()), (0, 0), "drained and freed");
    assert_eq!(p.sim.machine(p.b).stats().bad_close, 0);
}

#[test]
fn a_draining_side_answers_strays_with_a_close_the_peer_accepts() {
    let mut p = established(2);
    // A's close is lost: B learns only from the close A sends back to B's next packet.
    let up = p.sim.host_uplink(p.a);
    p.sim.link_mut(up).up = false;
    p.sim.call(p.a, |e: &mut Endpoint, now| assert!(e.close(now, addr(B))));
    p.run_for(Duration::from_millis(50));
    p.sim.link_mut(up).up = true;
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"anyone?").unwrap());
    p.run_for(Duration::from_millis(200));
    assert_eq!(closed(&p, p.b), vec![CloseReason::ByPeer]);
    assert!(p.sim.machine(p.a).stats().drain_closes >= 1);
    assert_eq!(p.sim.machine(p.b).stats().bad_close, 0);
}

#[test]
fn a_forged_close_is_refused_and_counted() {
    let mut p = established(3);
    // A close from the right address but with a made-up timestamp and sequence number.
    let forged = {
        let mut d = [0u8; 8];
        p2tp_core::Header { sop: false, lss: true, v1: 12_345, clr: false, yts: true, v2: 67_890 }.encode(&mut d);
        d
    };
    p.sim.call(p.b, move |e: &mut Endpoint, now| {
        sansio_core::Machine::handle_datagram(e, now, addr(B), addr(A), &forged);
    });
    p.run_for(Duration::from_millis(10));
    assert!(p.sim.machine(p.b).is_established(addr(A)));
    assert_eq!(p.sim.machine(p.b).stats().bad_close, 1);
}

#[test]
fn reconnecting_after_a_close_opens_a_new_stream() {
    let mut p = established(4);
    p.sim.call(p.a, |e: &mut Endpoint, now| assert!(e.close(now, addr(B))));
    p.run_for(Duration::from_millis(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| {
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"again").unwrap();
    });
    p.run_for(Duration::from_secs(2));
    assert_eq!(opened(&p.sim, p.a).len(), 2, "opened, closed, opened again");
    assert!(received(&p.sim, p.b).contains(&b"again".to_vec()));
}

#[test]
fn a_peer_that_restarts_and_reconnects_replaces_the_stream() {
    let mut p = established(5);
    // Quiet first, so that nothing A sends reaches the restarted B before B reconnects (B
    // would answer it statelessly, and A would win B back as in the next test instead).
    p.run_for(Duration::from_secs(1));
    let fresh = Endpoint::new(Config::new(addr(B)), Seed::from_u64(99));
    p.sim.call(p.b, move |e: &mut Endpoint, now| {
        *e = fresh;
        e.connect(now, addr(A)).unwrap();
        e.send(now, addr(A), b"I am back").unwrap();
    });
    p.run_for(Duration::from_secs(2));
    let a_events: Vec<_> = p.sim.events(p.a).into_iter().map(|(_, e)| e.clone()).collect();
    assert!(a_events.contains(&Event::Closed { peer: addr(B), reason: CloseReason::ByPeer }), "{a_events:?}");
    assert_eq!(opened(&p.sim, p.a).len(), 2);
    assert!(received(&p.sim, p.a).contains(&b"I am back".to_vec()));
    assert!(p.sim.machine(p.a).is_established(addr(B)));
}

#[test]
fn a_peer_that_lost_its_state_is_won_back_through_its_stateless_reply() {
    let mut p = established(6);
    let fresh = Endpoint::new(Config::new(addr(B)), Seed::from_u64(100));
    p.sim.call(p.b, move |e: &mut Endpoint, _| *e = fresh);
    let at = p.now();
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"still there?").unwrap());
    p.run_for(Duration::from_secs(2));
    // B answered A's packet with H2R; A echoed B's new cookie; B holds state again.
    assert!(p.sim.machine(p.b).is_established(addr(A)) && p.sim.machine(p.a).is_established(addr(B)));
    assert_eq!(opened(&p.sim, p.a).len(), 1, "for A the stream never closed");
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"and now?").unwrap());
    p.run_for(Duration::from_millis(200));
    let got = received(&p.sim, p.b);
    assert!(got.contains(&b"and now?".to_vec()), "{got:?}");
    assert!(p.now() > at);
}
