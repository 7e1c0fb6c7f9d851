//! Trust-aware admission ranks streams whose peer has not proved its key yet by what the node
//! knows of their address. During a sustained flood of strangers (500 new streams a second,
//! each never saying hello), a node holding at most 16 unverified streams keeps the one from
//! the address of a friend of a friend (MeritRank trust above 0) until its hello arrives, so
//! its message gets through at once; a peer the node knows but does not trust gets no such
//! place: its stream closes with the strangers', it is told its message was not delivered,
//! and it gets in once the flood is over.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{HostId, LinkConfig, Sim};
use overlay_core::{Config, Event, Mid, Node};
use sansio_core::{Instant, Seed};
use sync_core::RelationType;

mod util;
use util::{COMMUNITY, identity, public, stranger_flood};

/// When the flood starts and ends, and when the two newcomers first send.
const FLOOD_START_MS: u64 = 25_000;
const FLOOD_MS: u64 = 3_000;
const NEWCOMERS_SEND_MS: u64 = 25_500;

#[test]
fn a_friend_of_a_friend_gets_in_during_a_flood_and_an_untrusted_peer_waits_for_its_end() {
    let mut sim = Sim::new(Seed::from_u64(9));
    let net = sim.internet();
    let link = LinkConfig { delay: Duration::from_millis(10), ..LinkConfig::default() };
    let add = |sim: &mut Sim, i: usize, boot: Vec<SocketAddr>| -> HostId<Node> {
        let mut c = Config::new(COMMUNITY, public(i), boot);
        c.max_unverified = 16;
        c.transport.max_streams = 256;
        let h = sim.add_host(net, &[public(i)], Node::new(c, identity(i), Seed::from_u64(i as u64)).unwrap());
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
        *sim.link_mut(sim.host_downlink(h)) = link.clone();
        h
    };
    // V is the node under the flood; F is its friend; W is F's friend (V's friend of a
    // friend); U walks to V like the others, so V knows its key, but nobody vouches for it.
    let v = add(&mut sim, 0, vec![]);
    let f = add(&mut sim, 1, vec![public(0)]);
    let w = add(&mut sim, 2, vec![public(0)]);
    let u = add(&mut sim, 3, vec![public(0)]);
    sim.run_until(Instant::from_secs(2)).unwrap();
    let mid = |sim: &Sim, h: HostId<Node>| -> Mid { sim.machine(h).mid() };
    let (mv, mf, mw, mu) = (mid(&sim, v), mid(&sim, f), mid(&sim, w), mid(&sim, u));
    sim.call(v, |n, now| n.relate(now, &mf, RelationType::SOCIAL_FRIEND, 5)).unwrap();
    sim.call(f, |n, now| n.relate(now, &mw, RelationType::SOCIAL_FRIEND, 5)).unwrap();
    sim.run_until(Instant::from_millis(FLOOD_START_MS)).unwrap();
    let trust_w = sim.call(v, move |n, _| n.trust(&mw)).unwrap_or(0.0);
    let trust_u = sim.call(v, move |n, _| n.trust(&mu)).unwrap_or(0.0);
    assert!(trust_w > 0.0, "F's relation reached V by sync: W is a friend of a friend ({trust_w})");
    assert!(trust_u.abs() < f64::EPSILON, "nobody vouches for U ({trust_u})");

    // The flood: 1,500 strangers, each at its own address, 2 ms apart.
    stranger_flood(&mut sim, 1_500, Instant::from_millis(FLOOD_START_MS), Duration::from_millis(2), public(0));
    for h in [w, u] {
        sim.call_at(Instant::from_millis(NEWCOMERS_SEND_MS), h, move |n, now| {
            let _ = n.send(now, &mv, b"hello V");
        });
    }
    sim.run_until(Instant::from_millis(FLOOD_START_MS + FLOOD_MS)).unwrap();
    // U's stream ranked with the strangers' and was closed; U was told, and sends again once
    // the flood is over.
    let failed = sim.take_events(u).into_iter().find_map(|(t, e)| match e {
        Event::SendFailed { mid, dropped, .. } if mid == mv => Some((t, dropped)),
        _ => None,
    });
    let (failed_at, dropped) = failed.expect("U heard that its message could not be delivered");
    assert!(failed_at < Instant::from_millis(FLOOD_START_MS + FLOOD_MS) && dropped == 1, "{failed_at:?} {dropped}");
    let again = Instant::from_millis(FLOOD_START_MS + FLOOD_MS + 1_000);
    sim.call_at(again, u, move |n, now| {
        let _ = n.send(now, &mv, b"hello V");
    });
    sim.run_until(again + Duration::from_secs(5)).unwrap();
    let events = sim.take_events(v);
    let first = |from: Mid| {
        events.iter().find_map(|(t, e)| match e {
            Event::Message { mid, .. } if *mid == from => Some(*t),
            _ => None,
        })
    };
    let (at_w, at_u) = (first(mw).expect("W's message arrived"), first(mu).expect("U's second message arrived"));
    let sent = Instant::from_millis(NEWCOMERS_SEND_MS);
    eprintln!(
        "W (friend of a friend) after {:?}; U (known, untrusted) failed at {failed_at:?}, resent after the flood: \
         arrived {:?} later; closed by admission {}",
        at_w.saturating_duration_since(sent),
        at_u.saturating_duration_since(again),
        sim.machine(v).stats().admission_closed
    );
    assert!(at_w < sent + Duration::from_secs(1), "W got in during the flood: {at_w:?}");
    assert!(at_u > again && at_u < again + Duration::from_secs(1), "U got in once the flood was over: {at_u:?}");
    assert!(sim.machine(v).stats().admission_closed >= 1_000, "the strangers were held to the cap");
}
