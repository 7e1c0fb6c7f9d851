//! A record stays stored while its signer keeps the trust it was admitted with, give or take
//! a margin: once the signer falls below half the threshold, `regate` drops its records,
//! reconciliation does not bring them back, and they return only when trust does.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::collections::BTreeMap;

use common::{config, reconciled, run_round};
use sansio_core::{Instant, Machine, Seed};
use sync_core::{
    AcceptAll, Body, Event, FixedReputation, Identity, MemStore, Policy, Rejection, Slot, Store, SyncNode,
    VerifiedRecord,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn id(n: u8) -> Identity {
    Identity::from_seed([n; 32]).unwrap()
}

fn peer(who: &Identity, n: u8) -> VerifiedRecord {
    who.sign(NOW_MS - 1000, Body::Peer { metadata: vec![n] }).unwrap()
}

fn binding(who: &Identity) -> VerifiedRecord {
    who.sign(NOW_MS - 500, Body::Binding { address: std::net::SocketAddr::from(([192, 0, 2, 1], 4000)) }).unwrap()
}

fn node(me: &Identity, threshold: f64) -> SyncNode<MemStore, FixedReputation> {
    let mut c = config(1024);
    c.policy = Policy { own: me.public(), threshold, max_future_ms: 60_000 };
    SyncNode::new(c, Seed::from_u64(5), MemStore::new(), FixedReputation { scores: BTreeMap::new() })
}

fn set(n: &mut SyncNode<MemStore, FixedReputation>, who: &Identity, score: f64) {
    n.reputation_mut().scores.insert(who.public(), score);
}

fn evicted(n: &mut SyncNode<MemStore, FixedReputation>) -> Vec<sync_core::ContentId> {
    std::iter::from_fn(|| n.poll_event())
        .filter_map(|e| match e {
            Event::Evicted { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

/// A peer that stores whatever verifies, holding `records`.
fn peer_with(records: &[&VerifiedRecord]) -> SyncNode<MemStore, AcceptAll> {
    let mut c = config(1024);
    c.policy.own = id(9).public();
    let mut n = SyncNode::new(c, Seed::from_u64(7), MemStore::new(), AcceptAll);
    for r in records {
        n.insert_local(Instant::ZERO, (*r).clone()).unwrap();
    }
    n
}

#[test]
fn a_signer_below_half_the_threshold_loses_its_records_and_no_one_else_does() {
    let (me, fading, steady) = (id(1), id(2), id(3));
    let mut n = node(&me, 0.1);
    set(&mut n, &fading, 0.5);
    set(&mut n, &steady, 0.5);
    let (f1, f2, s1, mine) = (peer(&fading, 1), binding(&fading), peer(&steady, 2), peer(&me, 3));
    n.insert_local(Instant::ZERO, mine.clone()).unwrap();
    let mut other = peer_with(&[&f1, &f2, &s1]);
    run_round(&mut other, &mut n);
    assert_eq!(n.store().len(), 4, "all three received while their signers were trusted");
    evicted(&mut n);

    // Below the threshold but above half of it: kept (estimates wobble; no churn).
    set(&mut n, &fading, 0.06);
    assert_eq!(n.regate(), 0);
    assert_eq!(n.store().len(), 4);

    set(&mut n, &fading, 0.01);
    assert_eq!(n.regate(), 2);
    let gone = evicted(&mut n);
    let mut expected = vec![f1.id(), f2.id()];
    expected.sort_unstable();
    assert_eq!(gone, expected, "both of its records, reported in id order");
    assert_eq!(n.store().len(), 2);
    assert!(n.store().contains(&s1.id()) && n.store().contains(&mine.id()));
    assert_eq!(n.store().current(&Slot::Binding(fading.public())), None, "its slot is free");
    assert_eq!(n.stats().records_evicted, 2);
    assert_eq!(n.regate(), 0, "nothing more to drop");

    // Offered again, it is known as refused; once trust returns it is judged anew.
    assert_eq!(n.insert_local(Instant::ZERO, f2.clone()), Err(Rejection::Known));
    set(&mut n, &fading, 0.2);
    n.reputation_changed();
    assert!(n.insert_local(Instant::ZERO, f2.clone()).is_ok());
}

#[test]
fn only_what_the_gate_let_in_from_peers_is_ever_dropped() {
    let (me, stranger, imported) = (id(1), id(4), id(5));
    let mut gated = node(&me, 0.1);
    // The node's own record, one the application inserted itself, and one written into the
    // store directly (an import, or a store kept from an earlier run).
    let (mine, inserted, in_store) = (peer(&me, 1), peer(&stranger, 2), peer(&imported, 3));
    set(&mut gated, &stranger, 0.5);
    gated.insert_local(Instant::ZERO, mine.clone()).unwrap();
    gated.insert_local(Instant::ZERO, inserted.clone()).unwrap();
    gated.store_mut().insert(&in_store, None).unwrap();
    set(&mut gated, &stranger, 0.0);
    assert_eq!(gated.regate(), 0, "none of them came from a peer");
    assert_eq!(gated.store().len(), 3);

    let mut open = node(&me, 0.0);
    let mut other = peer_with(&[&inserted]);
    run_round(&mut other, &mut open);
    assert_eq!(open.store().len(), 1);
    assert_eq!(open.regate(), 0, "an open gate drops nothing");
    assert_eq!(open.store().len(), 1);
}

#[test]
fn reconciliation_does_not_bring_an_evicted_record_back() {
    let (me, fading) = (id(1), id(2));
    let relations: Vec<VerifiedRecord> = (0..10u8)
        .map(|i| {
            fading
                .sign(
                    NOW_MS - 1000 + u64::from(i),
                    Body::Relation {
                        subject: id(20 + i).public(),
                        kind: sync_core::RelationType::SOCIAL_FRIEND,
                        strength: 1,
                        countersigned: false,
                    },
                )
                .unwrap()
        })
        .collect();
    let mut peer_node = peer_with(&relations.iter().collect::<Vec<_>>());
    let mut n = node(&me, 0.1);
    set(&mut n, &fading, 0.5);
    run_round(&mut peer_node, &mut n);
    assert_eq!(n.store().len(), 10, "admitted while trusted");

    set(&mut n, &fading, 0.0);
    assert_eq!(n.regate(), 10);
    assert_eq!(n.store().len(), 0);
    // The evicted ids stay in the reconciled set: both sides agree and the next round moves
    // no record.
    assert_eq!(reconciled(&peer_node), reconciled(&n));
    let again = run_round(&mut peer_node, &mut n).report;
    assert_eq!(again.records_sent + again.records_received, 0, "{again:?}");
    assert_eq!(n.store().len(), 0);
}

#[test]
fn an_evicted_relation_leaves_the_trust_graph_but_a_newer_one_stays() {
    let (me, friend, stranger) = (id(1), id(2), id(3));
    let mut graph = sync_core::TrustGraph::new(
        me.public(),
        trust_core::TypeWeights::default(),
        trust_core::WalkConfig::default(),
        Seed::from_u64(1),
    );
    let relation = |ts, strength| {
        friend
            .sign(
                ts,
                Body::Relation {
                    subject: stranger.public(),
                    kind: sync_core::RelationType::SOCIAL_FRIEND,
                    strength,
                    countersigned: false,
                },
            )
            .unwrap()
    };
    let (old, new) = (relation(NOW_MS, 3), relation(NOW_MS + 1, 4));
    assert!(graph.apply_record(old.record()));
    assert_eq!(graph.graph.relations(), 1);
    assert!(graph.forget_record(old.record()));
    assert_eq!(graph.graph.relations(), 0, "as if it had never been applied");
    assert!(graph.apply_record(old.record()) && graph.apply_record(new.record()));
    assert!(!graph.forget_record(old.record()), "the newer record's edge is not the evicted one's");
    assert_eq!(graph.graph.relations(), 1);
}

#[test]
fn a_replaced_record_is_never_reported_evicted_and_one_the_application_stored_over_it_stays() {
    let (me, fading) = (id(1), id(2));
    let at = |ms: u64, port| {
        fading.sign(NOW_MS - ms, Body::Binding { address: std::net::SocketAddr::from(([192, 0, 2, 1], port)) }).unwrap()
    };
    let (old, newer) = (at(900, 4000), at(800, 4001));

    // Both received: the newer replaces the old, and only the newer is dropped and reported.
    let mut n = node(&me, 0.1);
    set(&mut n, &fading, 0.5);
    run_round(&mut peer_with(&[&old]), &mut n);
    run_round(&mut peer_with(&[&newer]), &mut n);
    assert!(n.store().contains(&newer.id()) && !n.store().contains(&old.id()), "the newer replaced the old");
    evicted(&mut n);
    set(&mut n, &fading, 0.0);
    assert_eq!(n.regate(), 1);
    assert_eq!(evicted(&mut n), vec![newer.id()]);
    assert_eq!(n.store().len(), 0);

    // The old one received, the newer stored by the application over it: nothing the gate
    // let in is left, so nothing is dropped.
    let mut n = node(&me, 0.1);
    set(&mut n, &fading, 0.5);
    run_round(&mut peer_with(&[&old]), &mut n);
    n.insert_local(Instant::ZERO, newer.clone()).unwrap();
    set(&mut n, &fading, 0.0);
    assert_eq!(n.regate(), 0);
    assert!(n.store().contains(&newer.id()));
}
