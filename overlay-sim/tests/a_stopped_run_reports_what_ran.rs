//! A run whose progress callback breaks ends after that second, and its report says how much
//! of the run it covers (what `ipv8 sim` does on Ctrl-C).

#![allow(clippy::unwrap_used)] // a panic is a failed test

use std::ops::ControlFlow;

use overlay_sim::{Scenario, run};

#[test]
fn a_run_stopped_at_second_3_reports_3_of_the_seconds_asked() {
    let mut s = Scenario::new(20);
    s.seconds = 60;
    let mut seen = Vec::new();
    let report = run(&s, |sec| {
        seen.push(sec);
        if sec == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })
    .unwrap();
    assert_eq!(seen, [1, 2, 3], "no second runs after the break");
    assert_eq!((report.seconds, report.seconds_asked), (3, 60));
    // Traffic is per second run, not per second asked.
    let whole = run(&Scenario { seconds: 3, ..s.clone() }, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(report.bytes_per_node_per_s, whole.bytes_per_node_per_s);
    assert_eq!(report.trace_hash, whole.trace_hash, "the same three seconds");
}
