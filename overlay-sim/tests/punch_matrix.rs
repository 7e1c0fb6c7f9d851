//! Three hundred nodes behind seven kinds of network, for 85 s of virtual time: every
//! node discovers 20 others within 60 s, every message reaches its target (directly, or through a
//! relay where RFC 4787 allows no direct path), pairs that can meet directly do, and a
//! relation one node signs reaches every node.

#![allow(clippy::unwrap_used)] // a panic is a failed test

use overlay_sim::{NatKind, Scenario, run};

#[test]
fn three_hundred_nodes_behind_every_kind_of_nat() {
    // Probes from 25 s; the run goes on until the relation the first node signs then has had
    // the 60 s to spread.
    let mut s = Scenario::new(300);
    s.seconds = 85;
    s.probe_start = 25;
    let report = run(&s, |_| std::ops::ControlFlow::Continue(())).unwrap();
    eprintln!("{}", report.matrix_table());
    let mut summary = serde_json::to_value(&report).unwrap();
    summary.as_object_mut().unwrap().remove("matrix");
    eprintln!("{summary}");
    assert_eq!(report.discovered_20_pct, 100.0, "every node knew 20 peers");
    assert!(report.discovery_s_max.is_some_and(|t| t <= 60.0), "within 60 s: {:?}", report.discovery_s_max);
    assert_eq!(report.reachability_pct, 100.0, "every message arrived, relayed where needed");
    // Every pair RFC 4787 lets meet directly does, Linux conntrack routers included: the
    // walker's opener leaves its NATs before the peer's puncture reaches them, whether it
    // walked there or asked by key (docs/overlay.md §7.1). Seeds 1-6 all measured 100 %.
    for c in report.matrix.iter().filter(|c| c.direct_possible) {
        assert_eq!(c.direct, c.attempts, "{} to {}: direct", c.from, c.to);
    }
    assert_eq!(report.punch_success_pct, 100.0);
    // Sync at this scale: the relation the first node signs at 25 s is held everywhere
    // within 60 s. (Measured 27-32 s over seeds; a bound of 33 s held for one trajectory
    // only: session 14's port prediction moved it, and two nodes took longer.)
    assert_eq!(report.relation_held_pct, 100.0, "the relation reached every node");
    assert!(report.relation_spread_s.is_some_and(|s| s <= 60.0), "{:?}", report.relation_spread_s);
    // Pairs RFC 4787 keeps apart are never counted as direct.
    for c in report.matrix.iter().filter(|c| !c.direct_possible) {
        assert_eq!(c.direct, 0, "{} to {}", c.from, c.to);
    }
}

/// The same network with symmetric NATs that give out ports in sequence as an eighth kind
/// (docs/overlay.md §7.2): they meet every endpoint-independent kind directly, Linux routers
/// included, by port prediction. Seeds 1-6 measured 100 % of the possible pairs on five and
/// 99.8 % on one (an early blind walk puncture, before the node knew its ports were
/// predictable, poisoned one Linux pair until the silence of §7.1 outwaits it).
#[test]
fn sequential_symmetric_nats_meet_by_port_prediction() {
    let mut s = Scenario::new(300);
    s.seconds = 60;
    s.mix = "open,full-cone,restricted,port-restricted,symmetric,sequential,linux,nested".parse().unwrap();
    let report = run(&s, |_| std::ops::ControlFlow::Continue(())).unwrap();
    eprintln!("{}", report.matrix_table());
    assert_eq!(report.discovered_20_pct, 100.0, "sequential nodes discover by predicted punctures too");
    assert_eq!(report.reachability_pct, 100.0);
    assert!(report.punch_success_pct >= 99.5, "{}", report.punch_success_pct);
    let sequential = report.matrix.iter().filter(|c| c.from == NatKind::Sequential || c.to == NatKind::Sequential);
    let (possible, direct) =
        sequential.filter(|c| c.direct_possible).fold((0, 0), |(p, d), c| (p + c.attempts, d + c.direct));
    assert!(possible >= 50 && direct + 1 >= possible, "{direct} of {possible} direct");
    // Two of them meet in each other's windows.
    let both = report.matrix.iter().find(|c| c.from == NatKind::Sequential && c.to == NatKind::Sequential).unwrap();
    assert!(both.direct_possible && both.attempts >= 5 && both.direct == both.attempts, "{both:?}");
    for c in report.matrix.iter().filter(|c| !c.direct_possible) {
        assert_eq!(c.direct, 0, "{} to {}", c.from, c.to);
    }
}
