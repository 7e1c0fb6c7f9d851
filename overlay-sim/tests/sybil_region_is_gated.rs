//! A Sybil region behind a few attack edges: honest nodes that gate records by trust keep
//! most of its records out, hold none whose signer has fallen below half their threshold
//! (where they drop what they stored), give the whole region no more trust than MeritRank's
//! bound lets in, and still store each other's records. Checked on three seeds: which honest
//! nodes the attacker fools, and which relations each node has learned by the end, move the
//! figures a lot from seed to seed (the median node's trust in the whole region ranged from
//! 0.006 to 0.044 over six seeds), so every check is one that must hold on any of them.

#![allow(clippy::unwrap_used)] // a panic is a failed test

use overlay_sim::{Scenario, SybilReport, Sybils, run};

const SYBILS: usize = 60;

fn scenario(seed: u64, threshold: f64) -> Scenario {
    let mut s = Scenario::new(60);
    s.seed = seed;
    s.seconds = 50;
    s.probe_start = 30;
    let mut y = Sybils::new(SYBILS, 3);
    y.threshold = threshold;
    s.sybils = Some(y);
    s
}

fn sybil_report(seed: u64, threshold: f64) -> SybilReport {
    let report = run(&scenario(seed, threshold), |_| std::ops::ControlFlow::Continue(())).unwrap();
    let y = report.sybil.unwrap();
    eprintln!("seed {seed}, threshold {threshold}: {y:?}");
    y
}

/// The gated run on `seed`, against the same network with the honest nodes' gate open.
fn the_gate_holds(seed: u64) {
    let g = sybil_report(seed, 1e-3);
    let o = sybil_report(seed, 0.0);
    assert_eq!(g.attack_edges, 3, "every attack edge was signed");
    // With the gate open every honest node stores nearly every Sybil's records.
    assert!(o.sybil_signers_held_p50 >= 50.0, "{}", o.sybil_signers_held_p50);
    assert_eq!(o.evicted, 0, "an open gate drops nothing");
    // Gated, a typical honest node stores those of a minority of the Sybils: the ones the
    // trust the attack edges bring in pushes over the threshold (2 to 13 of 60 measured).
    assert!(g.sybil_signers_held_p50 <= SYBILS as f64 / 4.0, "{}", g.sybil_signers_held_p50);
    assert!(g.sybil_records_at_honest_nodes * 4 < o.sybil_records_at_honest_nodes, "{g:?}\n{o:?}");
    // MeritRank's guarantee, node by node: all Sybils together score no more than the share
    // of the node's walks that cross an attack edge (measured: at most 0.71 of it). A little
    // over 1 would be sampling error; well over it, trust leaking into the region.
    assert!(g.sybil_trust_over_bound_max <= 1.05, "{}", g.sybil_trust_over_bound_max);
    // And that bound is small: each attack edge lets in about alpha/(1-alpha) x its share of
    // the fooled node's walk weight x that node's score, so three of them bring the whole
    // region of 60 about as much trust as four typical honest peers get (0.65 to 4.6 of the
    // median honest signer's score, measured), however large it is.
    assert!(
        g.sybil_trust_total_p50 < 6.0 * g.honest_trust_p50,
        "{} vs {}",
        g.sybil_trust_total_p50,
        g.honest_trust_p50
    );
    // None is held by a node whose gate now excludes its signer: records let in while a
    // Sybil briefly scored enough were dropped as soon as its trust fell (some were).
    assert_eq!(g.held_though_excluded, 0, "{g:?}");
    assert!(g.evicted > 0, "{g:?}");
    // The margin between T/2 and T holds a few, not most.
    assert!(g.held_within_margin * 4 < g.sybil_records_at_honest_nodes, "{g:?}");
    // And honest records still flow: a typical honest node stores most honest signers'.
    assert!(g.honest_signers_held_pct_p50 >= 50.0, "{}", g.honest_signers_held_pct_p50);
}

#[test]
fn the_gate_holds_on_seed_1() {
    the_gate_holds(1);
}

#[test]
fn the_gate_holds_on_seed_2() {
    the_gate_holds(2);
}

#[test]
fn the_gate_holds_on_seed_3() {
    the_gate_holds(3);
}
