//! When a node's trust in a signer falls below half its threshold, the signer's records leave
//! its store in the same step that moved the trust: the relation that arrived, or the
//! application's own call. Not at the next sync round, when an application or a peer
//! reconciling in between would still find them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use overlay_core::{Event, Mid};
use sansio_core::Instant;
use sync_core::{Kind, RelationType, Slot, Store};

mod util;
use util::{Net, network};

fn mid(net: &Net, i: usize) -> Mid {
    net.node(i).mid()
}

/// Whether node `at` holds node `of`'s Peer record.
fn holds_peer_record(net: &Net, at: usize, of: usize) -> bool {
    let key = net.node(at).key_of(&mid(net, of)).unwrap();
    net.node(at).records().current(&Slot::Peer(key)).is_some()
}

/// Three public nodes; 0 befriends 1 and 1 befriends 2, so 0 stores both their records.
fn trusted_chain() -> Net {
    let mut net = network(5, 3, &[]);
    net.sim.run_until(Instant::from_secs(15)).unwrap();
    let (m1, m2) = (mid(&net, 1), mid(&net, 2));
    net.sim.call(net.nodes[0], |n, now| n.relate(now, &m1, RelationType::SOCIAL_FRIEND, 10)).unwrap();
    net.sim.call(net.nodes[1], |n, now| n.relate(now, &m2, RelationType::SOCIAL_FRIEND, 10)).unwrap();
    net.sim.run_until(Instant::from_secs(45)).unwrap();
    assert!(holds_peer_record(&net, 0, 1) && holds_peer_record(&net, 0, 2), "the chain's records are stored");
    net.sim.take_events(net.nodes[0]);
    net
}

#[test]
fn a_withdrawn_relation_that_arrives_by_sync_evicts_at_the_same_instant() {
    let mut net = trusted_chain();
    let m2 = mid(&net, 2);
    let key2 = net.node(0).key_of(&m2).unwrap();
    let key1 = net.node(0).key_of(&mid(&net, 1)).unwrap();
    // 1 withdraws its relation to 2: once 0 learns that, no trusted path reaches 2.
    net.sim.call(net.nodes[1], |n, now| n.relate(now, &m2, RelationType::SOCIAL_FRIEND, 0)).unwrap();
    net.sim.run_until(Instant::from_secs(75)).unwrap();
    let events = net.sim.take_events(net.nodes[0]);
    let arrived = events
        .iter()
        .find(|(_, e)| {
            matches!(e, Event::RecordStored { kind: Kind::Relation, signer, from: Some(_), .. } if *signer == key1)
        })
        .map(|(t, _)| *t)
        .expect("1's withdrawal reached 0 by sync");
    let evicted: Vec<Instant> = events
        .iter()
        .filter(|(_, e)| matches!(e, Event::RecordEvicted { signer, .. } if *signer == key2))
        .map(|(t, _)| *t)
        .collect();
    assert!(!evicted.is_empty(), "2's records were evicted");
    assert!(evicted.iter().all(|t| *t == arrived), "evicted at {evicted:?}, the withdrawal arrived at {arrived:?}");
    assert!(!holds_peer_record(&net, 0, 2));
    assert!(holds_peer_record(&net, 0, 1), "1 is still trusted directly");
}

#[test]
fn an_application_that_withdraws_its_relation_finds_the_records_gone_when_the_call_returns() {
    let mut net = trusted_chain();
    let m1 = mid(&net, 1);
    net.sim.call(net.nodes[0], |n, now| n.relate(now, &m1, RelationType::SOCIAL_FRIEND, 0)).unwrap();
    // No time has passed: the call itself swept.
    assert!(!holds_peer_record(&net, 0, 1), "1's records went with the relation");
    assert!(!holds_peer_record(&net, 0, 2), "and so did those of the friend it vouched for");
    assert!(net.node(0).sync_stats().records_evicted >= 2);
}
