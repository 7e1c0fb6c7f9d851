//! Rounds over a lossy wire end (complete, incomplete or timed out, never hanging), and a few
//! rounds make the sets equal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use common::{reconciled, run_round_lossy, synthetic_pair};
use sansio_core::{Instant, Seed, SeededRng};
use sync_core::RoundEnd;

#[test]
fn ten_percent_loss_still_converges_within_five_rounds() {
    let (mut a, mut b) = synthetic_pair(20_000, 300, 300);
    let mut rng = SeededRng::from_seed(Seed::from_u64(3));
    let mut now = Instant::ZERO;
    let mut ends = Vec::new();
    for _ in 0..5 {
        let (report, t) = run_round_lossy(&mut a, &mut b, now, |_| rng.chance(0.10));
        ends.push(report.end);
        now = t + std::time::Duration::from_secs(1);
        if reconciled(&a) == reconciled(&b) {
            break;
        }
    }
    assert!(reconciled(&a) == reconciled(&b), "not equal after {ends:?}");
}

#[test]
fn a_round_whose_every_datagram_is_lost_times_out() {
    let (mut a, mut b) = synthetic_pair(100, 5, 5);
    let (report, at) = run_round_lossy(&mut a, &mut b, Instant::ZERO, |_| true);
    assert_eq!(report.end, RoundEnd::TimedOut);
    assert_eq!(at, Instant::from_secs(10));
}
