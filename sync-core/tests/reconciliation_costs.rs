//! Two sets of a million ids differing by 0 to 100,000: one round delivers to each side exactly
//! the records it lacks, within the byte and round-trip goals of `docs/sync.md` §7.
//! Deterministic: the bytes are asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use common::{Synthetic, reconciled, run_round, synthetic_pair};
use sync_core::RoundEnd;

const MILLION: u64 = 1_000_000;

fn reconcile(shared: u64, only_a: u64, only_b: u64) -> sync_core::RoundReport {
    let (mut a, mut b) = synthetic_pair(shared, only_a, only_b);
    let sets = Synthetic { shared, only_a, only_b };
    let out = run_round(&mut a, &mut b);
    let report = out.report;
    assert_eq!(report.end, RoundEnd::Complete, "{report:?}");
    // Each side received exactly the records it lacked: no more, no fewer.
    assert!(out.a_received == sets.b_only_ids(), "A got {} of {} ids: {report:?}", out.a_received.len(), only_b);
    assert!(out.b_received == sets.a_only_ids(), "B got {} of {} ids: {report:?}", out.b_received.len(), only_a);
    assert!(reconciled(&a) == reconciled(&b), "the stores are equal afterwards");
    eprintln!(
        "d={}: {} B to reconcile, {} B of record framing, {} round trips, {report:?}",
        only_a + only_b,
        report.reconciliation_bytes,
        report.framing_bytes,
        report.round_trips()
    );
    report
}

#[test]
fn equal_sets_of_a_million_cost_one_round_trip_and_one_probe() {
    let r = reconcile(MILLION, 0, 0);
    assert_eq!(r.round_trips(), 1);
    assert!(r.reconciliation_bytes <= 250, "{} B", r.reconciliation_bytes);
}

#[test]
fn one_missing_record_costs_at_most_300_bytes_and_two_round_trips() {
    for (only_a, only_b) in [(1, 0), (0, 1)] {
        let r = reconcile(MILLION - 1, only_a, only_b);
        assert!(r.round_trips() <= 2, "{r:?}");
        assert!(r.reconciliation_bytes <= 300, "{} B", r.reconciliation_bytes);
    }
}

#[test]
fn a_hundred_differences_cost_under_40_bytes_each() {
    let r = reconcile(MILLION - 50, 50, 50);
    assert!(r.round_trips() <= 3, "{r:?}");
    assert!(r.reconciliation_bytes <= 100 * 40, "{} B", r.reconciliation_bytes);
}

#[test]
fn ten_thousand_scattered_differences_cost_under_160_kb_in_four_round_trips() {
    let r = reconcile(MILLION - 5_000, 5_000, 5_000);
    assert!(r.round_trips() <= 4, "{r:?}");
    assert!(r.reconciliation_bytes <= 160_000, "{} B", r.reconciliation_bytes);
}

#[test]
fn ten_thousand_differences_all_on_one_side_cost_no_wants() {
    // Whichever side holds more decodes, so the ids named as wanted are the smaller share.
    let r = reconcile(MILLION - 10_000, 10_000, 0);
    assert!(r.round_trips() <= 4, "{r:?}");
    assert!(r.reconciliation_bytes <= 160_000, "{} B", r.reconciliation_bytes);
    assert_eq!(r.wanted, 0, "the initiator pulled and decoded: {r:?}");
    let r = reconcile(MILLION - 10_000, 0, 10_000);
    assert!(r.round_trips() <= 2, "{r:?}");
    assert!(r.reconciliation_bytes <= 160_000, "{} B", r.reconciliation_bytes);
    assert_eq!(r.wanted, 0, "the responder decoded and pushed: {r:?}");
}

#[test]
fn a_hundred_thousand_differences_cost_under_1_6_mb() {
    let r = reconcile(MILLION - 50_000, 50_000, 50_000);
    assert!(r.round_trips() <= 4, "{r:?}");
    assert!(r.reconciliation_bytes <= 1_600_000, "{} B", r.reconciliation_bytes);
}
