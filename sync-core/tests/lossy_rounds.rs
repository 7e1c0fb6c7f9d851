//! Rounds over a lossy wire end (complete, incomplete or timed out, never hanging), and a few
//! rounds make two stores of signed records equal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use common::{config, reconciled, run_round_lossy, synthetic_pair};
use sansio_core::{Instant, Seed, SeededRng};
use sync_core::{AcceptAll, Body, Identity, MemStore, RoundEnd, SyncNode, VerifiedRecord};

fn record(i: u32) -> VerifiedRecord {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    let who = Identity::from_seed(seed).unwrap();
    who.sign(1_699_999_000_000 + u64::from(i), Body::Peer { metadata: i.to_le_bytes().to_vec() }).unwrap()
}

#[test]
fn ten_percent_loss_still_converges_within_five_rounds() {
    let node = |seed, ids: &mut dyn Iterator<Item = u32>| {
        let mut n = SyncNode::new(config(1024), Seed::from_u64(seed), MemStore::new(), AcceptAll);
        for i in ids {
            n.insert_local(Instant::ZERO, record(i)).unwrap();
        }
        n
    };
    let mut a = node(1, &mut (0..1_700));
    let mut b = node(2, &mut (0..1_500).chain(1_700..1_900));
    let mut rng = SeededRng::from_seed(Seed::from_u64(3));
    let mut now = Instant::ZERO;
    let mut ends = Vec::new();
    for _ in 0..5 {
        let out = run_round_lossy(&mut a, &mut b, now, |_| rng.chance(0.10));
        ends.push(out.report.end);
        now = out.at + std::time::Duration::from_secs(1);
        if reconciled(&a) == reconciled(&b) {
            break;
        }
    }
    assert!(reconciled(&a) == reconciled(&b), "not equal after {ends:?}");
    assert_eq!(sync_core::Store::len(a.store()), 1_900);
}

#[test]
fn a_round_whose_every_datagram_is_lost_times_out() {
    let (mut a, mut b) = synthetic_pair(100, 5, 5);
    let out = run_round_lossy(&mut a, &mut b, Instant::ZERO, |_| true);
    assert_eq!(out.report.end, RoundEnd::TimedOut);
    assert_eq!(out.at, Instant::from_secs(10));
}
