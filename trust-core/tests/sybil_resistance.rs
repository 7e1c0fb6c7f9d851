//! Sybil resistance in numbers. On 10,000-peer honest graphs (small-world and scale-free),
//! g of the ego's own friends turn out to be attackers: each puts most of its weight on one
//! relation (an attack edge) into a Sybil region of s peers, in several shapes. The ego is a
//! typical peer (in the scale-free graph a late joiner, not a hub). The total score the ego gives the Sybil region stays below the
//! escape bound — the chance a walk ever crosses an attack edge, computed exactly on the
//! honest graph with the attack edges leading to a single dead end — and does not grow with
//! s from 10 to 10,000. Sampled betweenness, by contrast, rewards the attacker for every
//! Sybil it adds.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use trust_core::synthetic::{self, SybilShape};
use trust_core::{
    EdgeUpdate, ExactPageRank, Graph, MeritRank, PeerId, RelationType, Reputation, SampledBetweenness, WalkConfig,
    paths,
};

const HONEST: usize = 10_000;
const ALPHA: f64 = 0.85;
const WALKS: u32 = 20_000;
/// The attacker puts most of its weight on its attack edge (honest relations weigh 0.5–2).
const ATTACK: f32 = 20.0;

fn ego(kind: &str) -> PeerId {
    match kind {
        "small-world" => PeerId(0),
        _ => PeerId(u32::try_from(HONEST - 1).unwrap()),
    }
}

fn honest(kind: &str) -> Vec<EdgeUpdate> {
    match kind {
        "small-world" => synthetic::small_world(HONEST, 5, 0.1, sansio_core::Seed::new([1; 32])),
        _ => synthetic::scale_free(HONEST, 5, sansio_core::Seed::new([2; 32])),
    }
}

fn graph_of(updates: impl IntoIterator<Item = EdgeUpdate>) -> Graph {
    let mut g = Graph::new(Default::default());
    for u in updates {
        g.apply(u);
    }
    g
}

/// `count` of the ego's friends: the attack edges sit where they hurt most.
fn attackers(g: &Graph, ego: PeerId, count: usize) -> Vec<usize> {
    let out: Vec<usize> = g.trusted_neighbours(ego).map(|(n, _, _)| n.index()).take(count).collect();
    assert_eq!(out.len(), count, "the ego has enough friends");
    out
}

/// The chance a walk from the ego ever crosses an attack edge: the exact score of a dead end
/// that every attack edge leads to, divided by (1 − α).
fn escape_bound(base: &[EdgeUpdate], ego: PeerId, attack_from: &[usize]) -> f64 {
    let sink = HONEST;
    let edges = attack_from.iter().map(|&a| EdgeUpdate {
        from: PeerId(u32::try_from(a).unwrap()),
        to: PeerId(u32::try_from(sink).unwrap()),
        kind: RelationType::SOCIAL_FRIEND,
        strength: ATTACK,
        timestamp: 1,
    });
    let g = graph_of(base.iter().copied().chain(edges));
    ExactPageRank::new(ALPHA, 1e-12).scores(&g, ego)[sink] / (1.0 - ALPHA)
}

fn sybil_total(base: &[EdgeUpdate], ego: PeerId, attack_from: &[usize], s: usize, shape: SybilShape) -> f64 {
    let g = graph_of(base.iter().copied().chain(synthetic::sybil_region(
        HONEST,
        s,
        shape,
        attack_from,
        ATTACK,
        sansio_core::Seed::new([3; 32]),
    )));
    let mut mr = MeritRank::new(
        WalkConfig { walks: WALKS, alpha: ALPHA, max_len: 1_000, connectivity: None },
        sansio_core::Seed::from_u64(17),
    );
    mr.ranking(&g, ego).iter().filter(|(p, _)| p.index() >= HONEST).map(|(_, score)| score).sum()
}

#[test]
fn the_sybil_region_gets_no_more_than_the_escape_bound_however_large() {
    // Monte Carlo slack: four standard errors of a total score (see the walk docs).
    let slack = 4.0 * (1.0 + ALPHA).sqrt() / f64::from(WALKS).sqrt();
    for kind in ["small-world", "scale-free"] {
        let base = honest(kind);
        let ego = ego(kind);
        let g = graph_of(base.iter().copied());
        for attack_edges in [1, 5] {
            let from = attackers(&g, ego, attack_edges);
            let bound = escape_bound(&base, ego, &from);
            assert!(bound > 0.005 && bound < 0.9, "{kind}, g={attack_edges}: a meaningful bound, got {bound}");
            for shape in [SybilShape::Chain, SybilShape::Star, SybilShape::Random] {
                let mut totals = Vec::new();
                for s in [10, 100, 1_000, 10_000] {
                    let total = sybil_total(&base, ego, &from, s, shape);
                    assert!(
                        total <= bound + slack,
                        "{kind}, g={attack_edges}, {shape:?}, s={s}: {total} > bound {bound}"
                    );
                    totals.push(total);
                }
                eprintln!(
                    "{kind}, g={attack_edges}, {shape:?}: bound {bound:.4}, Sybil totals for s = 10..10,000: {totals:.4?}"
                );
                // Ten times the Sybils buy nothing: the same walks cross the same attack edges.
                assert!(totals[3] <= totals[2] + 0.01, "{kind}, g={attack_edges}, {shape:?}: {totals:?} grow with s");
            }
        }
    }
}

#[test]
fn more_attack_edges_raise_the_bound_but_more_sybils_do_not() {
    let base = honest("small-world");
    let ego = ego("small-world");
    let g = graph_of(base.iter().copied());
    let one = escape_bound(&base, ego, &attackers(&g, ego, 1));
    let five = escape_bound(&base, ego, &attackers(&g, ego, 5));
    eprintln!("escape bound: g=1 {one:.4}, g=5 {five:.4}");
    assert!(five > 2.0 * one, "the bound grows with g: {one} -> {five}");
}

#[test]
fn betweenness_grows_with_the_sybil_cluster_while_disjoint_paths_stay_at_the_attack_edges() {
    let base = honest("small-world");
    let ego = ego("small-world");
    let g = graph_of(base.iter().copied());
    let attacker = attackers(&g, ego, 1)[0];
    let mut centrality = Vec::new();
    for s in [10, 1_000] {
        let attacked = graph_of(base.iter().copied().chain(synthetic::sybil_region(
            HONEST,
            s,
            SybilShape::Star,
            &[attacker],
            ATTACK,
            sansio_core::Seed::new([4; 32]),
        )));
        let mut bc = SampledBetweenness::new(4_000, sansio_core::Seed::from_u64(5));
        centrality.push(bc.score(&attacked, ego, PeerId(u32::try_from(attacker).unwrap())));
        // However many Sybils, one attack edge means at most one independent path in.
        let deep_sybil = PeerId(u32::try_from(HONEST + s / 2).unwrap());
        assert!(paths::disjoint(&attacked, ego, deep_sybil, 8).len() <= 1);
    }
    assert!(centrality[1] > 20.0 * centrality[0].max(1e-4), "a Sybil cluster inflates betweenness: {centrality:?}");
}
