//! Only records of signers with enough reputation enter a store, whatever a peer sends; the
//! latest record of a slot wins; refused records are not fetched again and again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::collections::BTreeMap;

use common::{config, reconciled, run_round};
use sansio_core::{Instant, Seed};
use sync_core::{
    AcceptAll, Body, FixedReputation, Identity, MemStore, Policy, Rejection, RelationType, Store, SyncNode,
    VerifiedRecord,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn id(n: u8) -> Identity {
    Identity::from_seed([n; 32]).unwrap()
}

fn binding(who: &Identity, ts: u64, port: u16) -> VerifiedRecord {
    who.sign(ts, Body::Binding { address: std::net::SocketAddr::from(([192, 0, 2, 1], port)) }).unwrap()
}

fn gated_node(me: &Identity, threshold: f64, scores: &[(&Identity, f64)]) -> SyncNode<MemStore, FixedReputation> {
    let mut c = config(1024);
    c.policy = Policy { own: me.public(), threshold, max_future_ms: 60_000 };
    let rep = FixedReputation { scores: scores.iter().map(|(i, s)| (i.public(), *s)).collect::<BTreeMap<_, _>>() };
    SyncNode::new(c, Seed::from_u64(u64::from(me.public().0[0])), MemStore::new(), rep)
}

fn open_node(me: &Identity) -> SyncNode<MemStore, AcceptAll> {
    let mut c = config(1024);
    c.policy.own = me.public();
    SyncNode::new(c, Seed::from_u64(7), MemStore::new(), AcceptAll)
}

#[test]
fn records_of_low_reputation_signers_never_enter_the_store() {
    let me = id(3);
    let trusted: Vec<Identity> = (10..30).map(id).collect();
    let shady: Vec<Identity> = (30..50).map(id).collect();
    let mut sender = open_node(&id(9));
    for (i, (t, s)) in trusted.iter().zip(&shady).enumerate() {
        sender.insert_local(Instant::ZERO, binding(t, NOW_MS - 1000, 1000 + i as u16)).unwrap();
        sender.insert_local(Instant::ZERO, s.sign(NOW_MS, Body::Peer { metadata: vec![i as u8] }).unwrap()).unwrap();
    }
    let scores: Vec<(&Identity, f64)> =
        trusted.iter().map(|t| (t, 0.9)).chain(shady.iter().map(|s| (s, 0.1))).collect();
    let mut receiver = gated_node(&me, 0.5, &scores);

    let first = run_round(&mut sender, &mut receiver).report;
    let mut stored_signers = Vec::new();
    receiver.store().for_each_id(&mut |i| {
        let bytes = receiver.store().get(i).unwrap();
        stored_signers.push(VerifiedRecord::decode(&bytes).unwrap().record().signer);
    });
    assert_eq!(stored_signers.len(), 20);
    assert!(stored_signers.iter().all(|s| trusted.iter().any(|t| t.public() == *s)), "a shady record was stored");
    assert_eq!(receiver.stats().records_refused, 20, "the 20 shady records were refused");

    // The refused ids are part of the receiver's reconciled set: the next round sends nothing.
    assert_eq!(reconciled(&sender), reconciled(&receiver));
    let second = run_round(&mut sender, &mut receiver).report;
    assert_eq!(second.records_sent + second.records_received, 0, "{second:?}");
    assert!(second.reconciliation_bytes < first.reconciliation_bytes);
    assert!(second.reconciliation_bytes <= 250, "{second:?}");
}

#[test]
fn the_latest_binding_wins_whatever_order_they_arrive_in() {
    let (alice, me) = (id(1), id(3));
    let mut node = gated_node(&me, 0.0, &[]);
    let (old, new) = (binding(&alice, NOW_MS - 5000, 1), binding(&alice, NOW_MS - 10, 2));
    assert!(node.insert_local(Instant::ZERO, new.clone()).is_ok());
    assert_eq!(node.insert_local(Instant::ZERO, old.clone()), Err(Rejection::Superseded));
    assert_eq!(node.store().len(), 1);
    assert!(node.store().contains(&new.id()));

    let mut other = gated_node(&me, 0.0, &[]);
    other.insert_local(Instant::ZERO, old.clone()).unwrap();
    assert!(
        matches!(other.insert_local(Instant::ZERO, new.clone()), Ok(sync_core::Accepted::Replaced(i)) if i == old.id())
    );
    assert!(other.store().contains(&new.id()) && !other.store().contains(&old.id()));
    assert!(other.seen().contains(&old.id()), "the superseded id is remembered");
}

#[test]
fn equal_timestamps_are_broken_by_content_id() {
    let (alice, me) = (id(1), id(3));
    let (x, y) = (binding(&alice, NOW_MS, 1), binding(&alice, NOW_MS, 2));
    let (low, high) = if x.id() < y.id() { (x, y) } else { (y, x) };
    let mut a = gated_node(&me, 0.0, &[]);
    a.insert_local(Instant::ZERO, low.clone()).unwrap();
    a.insert_local(Instant::ZERO, high.clone()).unwrap();
    let mut b = gated_node(&me, 0.0, &[]);
    b.insert_local(Instant::ZERO, high.clone()).unwrap();
    assert_eq!(b.insert_local(Instant::ZERO, low), Err(Rejection::Superseded));
    assert!(a.store().contains(&high.id()) && b.store().contains(&high.id()));
}

#[test]
fn a_record_from_the_far_future_is_refused_but_not_forgotten_as_bad() {
    let (alice, me) = (id(1), id(3));
    let mut node = gated_node(&me, 0.0, &[]);
    let future = binding(&alice, NOW_MS + 3_600_000, 1);
    assert_eq!(node.insert_local(Instant::ZERO, future.clone()), Err(Rejection::FarFuture));
    assert!(!node.seen().contains(&future.id()));
    // An hour later it is fine.
    assert!(node.insert_local(Instant::from_secs(3600), future).is_ok());
}

#[test]
fn own_records_and_directly_trusted_signers_pass_any_threshold() {
    let me = id(3);
    let mut node = gated_node(&me, 1e9, &[]);
    assert!(node.insert_local(Instant::ZERO, binding(&me, NOW_MS, 1)).is_ok());
    assert_eq!(node.insert_local(Instant::ZERO, binding(&id(4), NOW_MS, 1)), Err(Rejection::LowReputation));
}

#[test]
fn a_trust_graph_gates_on_the_trust_the_node_computes_from_relation_records() {
    use sync_core::TrustGraph;
    use trust_core::{TypeWeights, WalkConfig};
    let (me, friend, friend_of_friend, stranger) = (id(3), id(4), id(5), id(6));
    let friendship = |a: &Identity, b: &Identity| {
        a.sign(
            NOW_MS,
            Body::Relation {
                subject: b.public(),
                kind: RelationType::SOCIAL_FRIEND,
                strength: 1,
                countersigned: false,
            },
        )
        .unwrap()
    };
    let mut trust = TrustGraph::new(me.public(), TypeWeights::default(), WalkConfig::default(), Seed::from_u64(1));
    assert!(trust.apply_record(friendship(&me, &friend).record()));
    assert!(trust.apply_record(friendship(&friend, &friend_of_friend).record()));
    let mut c = config(64);
    c.policy = Policy { own: me.public(), threshold: 0.01, max_future_ms: 60_000 };
    let mut node = SyncNode::new(c, Seed::from_u64(1), MemStore::new(), trust);
    assert!(node.insert_local(Instant::ZERO, binding(&friend, NOW_MS, 1)).is_ok(), "directly trusted");
    assert!(
        node.insert_local(Instant::ZERO, binding(&friend_of_friend, NOW_MS, 1)).is_ok(),
        "trusted through a friend"
    );
    assert_eq!(node.insert_local(Instant::ZERO, binding(&stranger, NOW_MS, 1)), Err(Rejection::LowReputation));
}
