//! The signature memo the simulation's nodes share saves time and nothing else: with it and
//! without it, the same scenario produces the same packets, events and figures.

#![allow(clippy::unwrap_used)] // a panic is a failed test

use overlay_sim::{Scenario, run};

#[test]
fn a_run_with_the_shared_memo_is_the_run_without_it() {
    let mut s = Scenario::new(40);
    s.seconds = 20;
    s.probe_start = 8;
    let with = run(&s, |_| std::ops::ControlFlow::Continue(())).unwrap();
    s.memo_capacity = 64;
    let forgetful = run(&s, |_| std::ops::ControlFlow::Continue(())).unwrap();
    s.share_signatures = false;
    let without = run(&s, |_| std::ops::ControlFlow::Continue(())).unwrap();

    // A memo too small to hold a second's signatures forgets most and changes nothing either.
    assert_eq!(forgetful.trace_hash, without.trace_hash);
    assert!(forgetful.signatures_checked > 1000, "{}", forgetful.signatures_checked);

    assert_eq!(with.trace_hash, without.trace_hash, "every delivery, drop and event the same");
    assert_eq!(with.matrix, without.matrix);
    assert_eq!(with.sim_events, without.sim_events);
    assert_eq!(with.bytes_per_node_per_s, without.bytes_per_node_per_s);
    assert!(with.reachability_pct > 0.0, "the run did something: {}", with.reachability_pct);
    // Every signature in a simulation is made by one of its nodes, so the memo answers
    // every check; without it, none.
    assert!(with.signatures_recalled > 1000, "{}", with.signatures_recalled);
    assert_eq!(with.signatures_checked, 0);
    assert_eq!((without.signatures_recalled, without.signatures_checked), (0, 0));
}
