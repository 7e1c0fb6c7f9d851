//! Records and trust at work: neighbours reconcile their signed records over the overlay's
//! socket, relations feed each node's trust graph, and the trust gate decides whose records
//! a node stores.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use netsim::NatConfig;
use overlay_core::{Event, Mid};
use sansio_core::Instant;
use sync_core::{Kind, RelationType, Store};

mod util;
use util::{network, network_with};

fn stored_relations(net: &util::Net, i: usize) -> usize {
    let mut n = 0;
    let store = net.node(i).records();
    store.for_each_id(&mut |id| {
        if sync_core::VerifiedRecord::decode(&store.get(id).unwrap()).unwrap().record().kind() == Kind::Relation {
            n += 1;
        }
    });
    n
}

#[test]
fn with_an_open_gate_a_relation_made_at_one_node_reaches_every_node_within_a_minute() {
    let presets = [NatConfig::full_cone(), NatConfig::port_restricted_cone(), NatConfig::linux_masquerade()];
    let nats: Vec<NatConfig> = (0..60).map(|k| presets[k % presets.len()].clone()).collect();
    let mut net = network_with(3, 3, &nats, |c| c.trust_threshold = 0.0);
    net.sim.run_until(Instant::from_secs(20)).unwrap();
    let subject = net.node(10).peers().map(|p| p.key.mid()).max().unwrap();
    let made_at = net.sim.now();
    net.sim.call(net.nodes[10], |n, now| n.relate(now, &subject, RelationType::SOCIAL_FRIEND, 5)).unwrap();
    let mut reached = None;
    for s in 0..60 {
        net.sim.run_until(made_at + std::time::Duration::from_secs(s + 1)).unwrap();
        if (0..net.nodes.len()).all(|i| stored_relations(&net, i) == 1) {
            reached = Some(s + 1);
            break;
        }
    }
    let missing: Vec<usize> = (0..net.nodes.len()).filter(|i| stored_relations(&net, *i) == 0).collect();
    eprintln!("relation at all {} nodes after {reached:?} s; missing at {missing:?}", net.nodes.len());
    assert!(reached.is_some(), "not everywhere after 60 s: missing at {missing:?}");
    // Every node also holds every node's Peer record by then.
    let mut peers = 0;
    let store = net.node(0).records();
    store.for_each_id(&mut |id| {
        if sync_core::VerifiedRecord::decode(&store.get(id).unwrap()).unwrap().record().kind() == Kind::Peer {
            peers += 1;
        }
    });
    assert_eq!(peers, net.nodes.len());
}

#[test]
fn a_strangers_records_are_refused_until_a_trusted_path_vouches_for_it() {
    // Three public nodes: 0 bootstraps 1 and 2. With the default gate, node 0 stores only its
    // own records and those of peers some trusted relation path reaches.
    let mut net = network(5, 3, &[]);
    net.sim.run_until(Instant::from_secs(15)).unwrap();
    let mid = |net: &util::Net, i: usize| -> Mid { net.node(i).mid() };
    let (m1, m2) = (mid(&net, 1), mid(&net, 2));
    let has_peer_record_of = |net: &util::Net, at: usize, of: usize| {
        let key = net.node(at).key_of(&net.node(of).mid()).unwrap();
        net.node(at).records().current(&sync_core::Slot::Peer(key)).is_some()
    };
    assert!(!has_peer_record_of(&net, 0, 2), "a stranger's Peer record is not stored");
    assert!(net.node(0).sync_stats().records_refused > 0, "it was offered and refused");
    assert_eq!(net.sim.call(net.nodes[0], |n, _| n.trust(&m2)), Some(0.0));

    // 0 vouches for 1, 1 for 2 (with the largest strength a record holds): 2 is now reached
    // by a trusted path from 0.
    net.sim.call(net.nodes[0], |n, now| n.relate(now, &m1, RelationType::SOCIAL_FRIEND, 10)).unwrap();
    net.sim.call(net.nodes[1], |n, now| n.relate(now, &m2, RelationType::SOCIAL_FRIEND, u32::MAX)).unwrap();
    net.sim.run_until(Instant::from_secs(45)).unwrap();
    assert!(has_peer_record_of(&net, 0, 1), "a directly trusted peer's records are stored");
    assert!(has_peer_record_of(&net, 0, 2), "and, once 1's relation to it arrived, the friend of a friend's");
    let trust = net.sim.call(net.nodes[0], |n, _| n.trust(&m2)).unwrap();
    assert!(trust > 0.0, "{trust}");
    let path = net.node(0).friendship_path(&m2).expect("a path");
    let keys: Vec<_> = path.iter().map(|h| (h.from, h.to)).collect();
    let k = |i: usize| net.node(0).key_of(&mid(&net, i)).unwrap();
    let me = sync_core::Identity::from_seed(util::identity(0)).unwrap().public();
    assert_eq!(keys, vec![(me, k(1)), (k(1), k(2))]);
    assert!(path.iter().all(|h| h.kind == RelationType::SOCIAL_FRIEND));
    let strengths: Vec<u32> = path.iter().map(|h| h.strength).collect();
    assert_eq!(strengths, [10, u32::MAX], "the strengths as signed, not the graph's f32 copies");
}

#[test]
fn records_stored_are_reported_with_their_kind_and_origin() {
    let mut net = network_with(7, 2, &[], |c| c.trust_threshold = 0.0);
    net.sim.run_until(Instant::from_secs(12)).unwrap();
    let events = net.sim.take_events(net.nodes[0]);
    let own =
        events.iter().filter(|(_, e)| matches!(e, Event::RecordStored { from: None, kind: Kind::Peer, .. })).count();
    let synced =
        events.iter().filter(|(_, e)| matches!(e, Event::RecordStored { from: Some(_), kind: Kind::Peer, .. })).count();
    assert_eq!((own, synced), (1, 1), "its own Peer record, and the other node's by sync");
}

#[test]
fn a_node_restarted_over_its_store_knows_its_trust_at_once() {
    let mut net = network(8, 3, &[]);
    net.sim.run_until(Instant::from_secs(5)).unwrap();
    let (m1, m2) = (net.node(1).mid(), net.node(2).mid());
    net.sim.call(net.nodes[0], |n, now| n.relate(now, &m1, RelationType::SOCIAL_FRIEND, 4)).unwrap();
    net.sim.call(net.nodes[1], |n, now| n.relate(now, &m2, RelationType::SOCIAL_FRIEND, 4)).unwrap();
    net.sim.run_until(Instant::from_secs(30)).unwrap();
    let before = net.sim.call(net.nodes[0], |n, _| n.trust(&m2)).unwrap();
    assert!(before > 0.0);
    // A new node over a copy of the store: same identity, nothing heard yet.
    let store = net.node(0).records().clone();
    let config = overlay_core::Config::new(util::COMMUNITY, util::public(0), vec![]);
    let mut again =
        overlay_core::Node::with_store(config, util::identity(0), sansio_core::Seed::from_u64(99), store).unwrap();
    assert_eq!(again.peers().count(), 0);
    let after = again.trust(&m2).expect("the relation's subject is known from the store");
    assert!(after > 0.0, "{after}");
    assert_eq!(again.friendship_path(&m2).map(|p| p.len()), Some(2));
}
