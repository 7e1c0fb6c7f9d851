//! Trust-aware admission under a flood: 400 strangers open P2TP streams to a node within
//! 40 ms (10,000 handshakes a second) and never prove a key. The node keeps at most
//! `max_unverified` of them, and answers the handshakes of peers it vouches for from a
//! budget the strangers cannot spend: a trusted peer that first contacts it in the middle
//! of the flood gets in at once, and messages on an established trusted stream are delayed
//! by less than one round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{HostId, LinkConfig, Sim};
use overlay_core::{Config, Event, Node};
use sansio_core::{Instant, Seed};
use sync_core::RelationType;

mod util;
use util::{COMMUNITY, identity, public, stranger_flood};

struct Run {
    /// Delays of the trusted stream's messages before and during the flood.
    before: Duration,
    during: Duration,
    /// When the trusted newcomer's first message arrived (virtual time).
    newcomer: Option<Instant>,
    /// Trusted-stream messages sent during the flood that arrived.
    arrived_during: usize,
    admission_closed: u64,
    /// Validated handshakes the node refused for want of room.
    stream_limit: u64,
}

fn run(max_unverified: usize) -> Run {
    let mut sim = Sim::new(Seed::from_u64(5));
    let net = sim.internet();
    let link = LinkConfig { delay: Duration::from_millis(10), ..LinkConfig::default() };
    let add = |sim: &mut Sim, i: usize, boot: Vec<SocketAddr>| -> HostId<Node> {
        let mut c = Config::new(COMMUNITY, public(i), boot);
        c.max_unverified = max_unverified;
        c.transport.max_streams = 128;
        let h = sim.add_host(net, &[public(i)], Node::new(c, identity(i), Seed::from_u64(i as u64)).unwrap());
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
        *sim.link_mut(sim.host_downlink(h)) = link.clone();
        h
    };
    let v = add(&mut sim, 0, vec![]);
    let t1 = add(&mut sim, 1, vec![public(0)]);
    let t2 = add(&mut sim, 2, vec![public(0)]);
    sim.run_until(Instant::from_secs(5)).unwrap();
    let (mv, m1, m2) = (sim.machine(v).mid(), sim.machine(t1).mid(), sim.machine(t2).mid());
    // V vouches for both.
    sim.call(v, |n, now| n.relate(now, &m1, RelationType::SOCIAL_FRIEND, 5)).unwrap();
    sim.call(v, |n, now| n.relate(now, &m2, RelationType::SOCIAL_FRIEND, 5)).unwrap();
    // T1 messages V every 100 ms from 5 s to 20 s; each message carries its send time.
    for k in 0..150u64 {
        let at = Instant::from_millis(5_000 + 100 * k);
        sim.call_at(at, t1, move |n, now| {
            let _ = n.send(now, &mv, &now.as_micros().to_be_bytes());
        });
    }
    // T2 first contacts V in the middle of the flood.
    sim.call_at(Instant::from_millis(10_020), t2, move |n, now| {
        let _ = n.send(now, &mv, b"hello from a friend");
    });
    // The flood: 400 strangers, each at its own address, 0.1 ms apart from 10 s on.
    stranger_flood(&mut sim, 400, Instant::from_secs(10), Duration::from_micros(100), public(0));
    sim.run_until(Instant::from_secs(25)).unwrap();
    let events = sim.take_events(v);
    let mut before = Duration::ZERO;
    let mut during = Duration::ZERO;
    let mut newcomer = None;
    let mut arrived_during = 0;
    for (t, e) in &events {
        if let Event::Message { mid, data, .. } = e {
            if *mid == m1 && data.len() == 8 {
                let sent = Instant::from_micros(u64::from_be_bytes(data[..].try_into().unwrap()));
                let delay = t.saturating_duration_since(sent);
                // (Before 6 s the first messages also wait for the stream to open.)
                if sent >= Instant::from_secs(6) && sent < Instant::from_secs(10) {
                    before = before.max(delay);
                } else if sent >= Instant::from_secs(10) && sent < Instant::from_secs(20) {
                    during = during.max(delay);
                    arrived_during += 1;
                }
            } else if *mid == m2 && newcomer.is_none() {
                newcomer = Some(*t);
            }
        }
    }
    let t = sim.machine(v).transport_stats();
    Run {
        before,
        during,
        newcomer,
        arrived_during,
        admission_closed: sim.machine(v).stats().admission_closed,
        stream_limit: t.stream_limit,
    }
}

#[test]
fn a_flood_of_strangers_neither_locks_out_a_trusted_newcomer_nor_slows_a_trusted_stream() {
    let r = run(16);
    eprintln!(
        "trusted stream delay: before {:?}, during {:?}; newcomer at {:?}; closed by admission {}; refused {}",
        r.before, r.during, r.newcomer, r.admission_closed, r.stream_limit
    );
    let rtt = Duration::from_millis(40);
    assert!(r.during <= r.before + rtt, "at most one round trip more: {:?} then {:?}", r.before, r.during);
    let arrived = r.newcomer.expect("the trusted newcomer got in");
    assert!(arrived < Instant::from_millis(10_020) + Duration::from_secs(1), "at once: {arrived:?}");
    assert!(r.admission_closed >= 300, "the strangers were held to the cap");
    assert_eq!(r.stream_limit, 0, "closed streams make room at once: nobody was refused for want of it");
    assert_eq!(r.arrived_during, 100, "every message of the trusted stream sent during the flood arrived");
}

#[test]
fn without_the_cap_the_strangers_fill_the_table_and_the_newcomer_waits() {
    // The control: no limit on unverified streams.
    let r = run(usize::MAX);
    eprintln!("without the cap: newcomer at {:?}, refused {}", r.newcomer, r.stream_limit);
    assert!(r.stream_limit > 0, "validated handshakes were refused for want of room");
    assert!(r.newcomer.is_none_or(|t| t > Instant::from_millis(10_020) + Duration::from_secs(2)), "{:?}", r.newcomer);
}
