//! Two nodes behind symmetric NATs cannot punch a hole to each other: their messages go
//! through a relay that knows both, which forwards the signed messages unchanged. The target
//! checks the sender's signature and counter itself; the relay refuses strangers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::time::Duration;

use netsim::NatConfig;
use overlay_core::wire::{self, Message, Payload, Relay, Signer, Style};
use overlay_core::{Event, Mid, PathKind};
use sansio_core::{Instant, Machine};

mod util;
use util::{COMMUNITY, network, network_with};

fn texts(events: &[(Instant, Event)], from: Mid) -> Vec<String> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { mid, data, .. } if *mid == from => Some(String::from_utf8(data.clone()).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn two_nodes_behind_symmetric_nats_talk_through_a_relay() {
    // They never meet directly, so each learns the other's key and address from the other's
    // records: the trust gate is open.
    let mut net = network_with(41, 3, &[NatConfig::symmetric(), NatConfig::symmetric()], |c| c.trust_threshold = 0.0);
    let (a, b) = (3, 4);
    net.sim.run_until(Instant::from_secs(20)).unwrap();
    let (ma, mb) = (net.node(a).mid(), net.node(b).mid());
    for h in &net.nodes {
        net.sim.take_events(*h);
    }
    for k in 0..5 {
        net.sim.call(net.nodes[a], move |n, now| n.send(now, &mb, format!("a{k}").as_bytes())).unwrap();
    }
    net.sim.run_for(Duration::from_secs(10)).unwrap();
    let (ea, eb) = (net.sim.take_events(net.nodes[a]), net.sim.take_events(net.nodes[b]));
    assert_eq!(texts(&eb, ma), ["a0", "a1", "a2", "a3", "a4"], "every message, once, in order");
    let relayed = |events: &[(Instant, Event)], peer| {
        events.iter().any(|(_, e)| matches!(e, Event::Connected { mid, path: PathKind::Relayed, .. } if *mid == peer))
    };
    assert!(relayed(&ea, mb) && relayed(&eb, ma), "both sides report a relayed path");
    // The answer goes back through the relay at once.
    net.sim.call(net.nodes[b], move |n, now| n.send(now, &ma, b"b0")).unwrap();
    net.sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(texts(&net.sim.take_events(net.nodes[a]), mb), ["b0"]);
    // Until a relay is known to work, each message goes through two (here both know the
    // target, and b drops the second copies by their counters); b's answer, through the one
    // a's messages came by.
    let forwarded: u64 = net.nodes.iter().map(|h| net.sim.machine(*h).stats().relayed_forwarded).sum();
    assert_eq!(forwarded, 5 * 2 + 1);
    assert_eq!(net.node(a).stats().relayed_sent, 5);
    assert_eq!(net.node(b).stats().relayed_received, 5);
    assert_eq!(net.node(b).stats().replayed_frames, 5);
}

#[test]
fn a_relay_forwards_only_between_peers_it_knows_and_a_target_drops_replays_and_forgeries() {
    let mut net = network(42, 1, &[NatConfig::full_cone(), NatConfig::full_cone()]);
    net.sim.run_until(Instant::from_secs(10)).unwrap();
    let (boot, a, b) = (0, 1, 2);
    let (mb, boot_local) = (net.node(b).mid(), util::public(0));
    let a_id = sync_core::Identity::from_seed(util::identity(a)).unwrap();
    let a_key = overlay_core::PeerKey::from_ed25519(&a_id.public()).unwrap();
    let relay = |id: &sync_core::Identity, key, target: Mid, counter: u64| {
        let msg = Message {
            community: COMMUNITY,
            style: Style::New,
            global_time: 1,
            sender: None,
            payload: Payload::Relay(Relay { target, counter, data: b"hi".to_vec() }),
        };
        wire::encode(&msg, Some(Signer { identity: id, key })).unwrap()
    };
    // A stranger's relay message is refused by the relay.
    let stranger = sync_core::Identity::from_seed([200; 32]).unwrap();
    let s_key = overlay_core::PeerKey::from_ed25519(&stranger.public()).unwrap();
    let from_stranger = relay(&stranger, &s_key, mb, 1);
    net.sim.call(net.nodes[boot], move |n, now| {
        n.handle_datagram(now, boot_local, "198.51.0.77:1".parse().unwrap(), &from_stranger)
    });
    assert_eq!(net.node(boot).stats().relays_refused, 1);
    // A's own message, but from another address than the relay knows A at: refused too (the
    // relay's budget is A's, and a spoofed source must not spend it or bounce it about).
    let spoofed = relay(&a_id, &a_key, mb, 1);
    net.sim.call(net.nodes[boot], move |n, now| {
        n.handle_datagram(now, boot_local, "198.51.0.99:1".parse().unwrap(), &spoofed)
    });
    assert_eq!(net.node(boot).stats().relays_refused, 2);
    // A's own message, delivered to B straight (B is the target: it checks it itself)...
    let b_local = "192.168.1.2:6421".parse().unwrap();
    let from_a = relay(&a_id, &a_key, mb, 7);
    let twice = from_a.clone();
    let via = util::public(0);
    net.sim.call(net.nodes[b], move |n, now| {
        n.handle_datagram(now, b_local, via, &from_a);
        // ...once: the same bytes again are a replay.
        n.handle_datagram(now, b_local, via, &twice);
    });
    let events = net.sim.take_events(net.nodes[b]);
    assert_eq!(texts(&events, a_key.mid()), ["hi"]);
    assert_eq!(net.node(b).stats().replayed_frames, 1);
    // A forgery (A's key, another signer) does not even decode.
    let mut forged = relay(&stranger, &a_key, mb, 8);
    let n = forged.len();
    forged[n - 1] ^= 1;
    net.sim.call(net.nodes[b], move |node, now| node.handle_datagram(now, b_local, via, &forged));
    assert!(texts(&net.sim.take_events(net.nodes[b]), a_key.mid()).is_empty());
    assert!(net.node(b).stats().malformed >= 1);
}

#[test]
fn strangers_share_half_the_relay_budget_and_a_trusted_sender_keeps_the_rest() {
    // A relay that forwards at most 8,000 bytes a second, for six peers behind full-cone NATs.
    let nats = vec![NatConfig::full_cone(); 6];
    let mut net = network_with(43, 1, &nats, |c| c.relay_bytes_per_sec = 8_000);
    net.sim.run_until(Instant::from_secs(10)).unwrap();
    let (relay_node, boot_local) = (net.nodes[0], util::public(0));
    let target = net.node(1).mid();
    let trusted = net.node(2).mid();
    net.sim.call(relay_node, move |n, now| n.relate(now, &trusted, sync_core::RelationType::SOCIAL_FRIEND, 5)).unwrap();
    // Signed Relay messages of 1,000 bytes from peer `i`, from where the relay knows it.
    let mut counter = 0;
    let mut relay_from = |net: &mut util::Net, i: usize| {
        counter += 1;
        let id = sync_core::Identity::from_seed(util::identity(i)).unwrap();
        let key = overlay_core::PeerKey::from_ed25519(&id.public()).unwrap();
        let msg = Message {
            community: COMMUNITY,
            style: Style::New,
            global_time: 1,
            sender: None,
            payload: Payload::Relay(Relay { target, counter, data: vec![7; 1_000] }),
        };
        let bytes = wire::encode(&msg, Some(Signer { identity: &id, key: &key })).unwrap();
        let len = bytes.len();
        let from = net.node(0).peers().find(|p| p.key.mid() == key.mid()).map(|p| p.address).unwrap();
        net.sim.call(relay_node, move |n, now| n.handle_datagram(now, boot_local, from, &bytes));
        len
    };
    let stats = |net: &util::Net| {
        let s = net.node(0).stats();
        (s.relayed_forwarded, s.relays_over_budget)
    };
    let before = stats(&net);
    // Strangers (peers 3 to 6) send 20 messages within the second: they get half the budget.
    let mut len = 0;
    for k in 0..20 {
        len = relay_from(&mut net, 3 + k % 4);
    }
    let shared = (4_000 / len) as u64;
    assert!(shared >= 2, "{len}-byte datagrams");
    let after_strangers = stats(&net);
    assert_eq!(after_strangers, (before.0 + shared, before.1 + 20 - shared), "{len}-byte datagrams");
    // The trusted sender still gets through, from the half the strangers cannot spend.
    for _ in 0..shared {
        relay_from(&mut net, 2);
    }
    assert_eq!(stats(&net), (after_strangers.0 + shared, after_strangers.1));
    // A stranger is still refused; in the next second the budget is whole again.
    relay_from(&mut net, 3);
    assert_eq!(stats(&net), (after_strangers.0 + shared, after_strangers.1 + 1));
    net.sim.run_for(Duration::from_secs(1)).unwrap();
    let now = stats(&net);
    relay_from(&mut net, 4);
    assert_eq!(stats(&net).0, now.0 + 1, "a new second");
}
