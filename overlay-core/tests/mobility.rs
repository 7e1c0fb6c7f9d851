//! A host's NAT gets a new public IP in the middle of a conversation: the node learns its new
//! address by vote, opens its streams again from it and has its peers punctured towards it
//! through introducers; both sides see one `PathChanged` event, no disconnect, and messages
//! flow again well within two keep-alive intervals (2 × 15 s).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::IpAddr;
use std::time::Duration;

use netsim::NatConfig;
use overlay_core::Event;
use sansio_core::Instant;

mod util;
use util::network;

#[test]
fn a_renumbered_peer_is_reached_again_without_the_application_doing_anything() {
    let mut nats = vec![NatConfig::full_cone(), NatConfig::port_restricted_cone()];
    nats.extend((0..6).map(|k| if k % 2 == 0 { NatConfig::restricted_cone() } else { NatConfig::linux_masquerade() }));
    let mut net = network(31, 3, &nats);
    let (a, b) = (3, 4);
    net.sim.run_until(Instant::from_secs(20)).unwrap();
    let (ma, mb) = (net.node(a).mid(), net.node(b).mid());
    assert!(net.node(a).peer(&mb).is_some(), "a knows b before the move");
    // A message each way every second from 20 s to 90 s.
    for k in 20..90u64 {
        let at = Instant::from_secs(k);
        net.sim.call_at(at, net.nodes[a], move |n, now| {
            let _ = n.send(now, &mb, format!("a{k}").as_bytes());
        });
        net.sim.call_at(at, net.nodes[b], move |n, now| {
            let _ = n.send(now, &ma, format!("b{k}").as_bytes());
        });
    }
    net.sim.run_until(Instant::from_secs(40)).unwrap();
    for h in &net.nodes {
        net.sim.take_events(*h);
    }
    let (nat, _) = net.nats[a].unwrap();
    let new_ip: IpAddr = "192.0.2.200".parse().unwrap();
    net.sim.renumber_nat(nat, new_ip);
    let moved_at = net.sim.now();
    net.sim.run_until(Instant::from_secs(95)).unwrap();

    let (ea, eb) = (net.sim.take_events(net.nodes[a]), net.sim.take_events(net.nodes[b]));
    let wan =
        ea.iter().find_map(|(t, e)| matches!(e, Event::WanChanged { address } if address.ip() == new_ip).then_some(*t));
    let wan = wan.expect("a learned its new public address by vote");
    let changed = |events: &[(Instant, Event)], peer| {
        events.iter().find_map(|(t, e)| matches!(e, Event::PathChanged { mid, .. } if *mid == peer).then_some(*t))
    };
    let (ca, cb) = (changed(&ea, mb).expect("a: path changed"), changed(&eb, ma).expect("b: path changed"));
    eprintln!("moved at {moved_at:?}; new address known at {wan:?}; path changed at a {ca:?}, at b {cb:?}",);
    for (who, events) in [("a", &ea), ("b", &eb)] {
        assert!(
            !events.iter().any(|(_, e)| matches!(e, Event::Disconnected { .. } | Event::SendFailed { .. })),
            "{who} saw only a path change: {events:?}"
        );
    }
    let made: u64 = net.nodes.iter().map(|h| net.sim.machine(*h).stats().introductions_made).sum();
    assert!(made >= 1, "b's NAT opened towards a's new address through an introduction");
    let within = moved_at + Duration::from_secs(30);
    assert!(ca <= within && cb <= within, "reached again within two keep-alive intervals");
    // From a second after both saw the change, every message arrives.
    let settled = ca.max(cb) + Duration::from_secs(1);
    let got = |events: &[(Instant, Event)], prefix: char| -> Vec<u64> {
        events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Message { data, .. } => {
                    let s = String::from_utf8(data.clone()).unwrap();
                    s.strip_prefix(prefix).map(|k| k.parse().unwrap())
                }
                _ => None,
            })
            .collect()
    };
    let first = settled.as_micros().div_ceil(1_000_000);
    let expect: Vec<u64> = (first..90).collect();
    let at_b: Vec<u64> = got(&eb, 'a').into_iter().filter(|k| *k >= first).collect();
    let at_a: Vec<u64> = got(&ea, 'b').into_iter().filter(|k| *k >= first).collect();
    assert_eq!(at_b, expect, "a's messages reach b again");
    assert_eq!(at_a, expect, "b's messages reach a again");
}
