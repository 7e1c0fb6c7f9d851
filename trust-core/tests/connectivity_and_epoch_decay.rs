//! Connectivity decay (MeritRank's β) and epoch decay (γ).
//!
//! β in numbers: every Sybil hangs off its attack edge, so the attacker bridges all of them
//! and the region loses exactly the share β; honest peers in a well-knit 10,000-peer region
//! are reached along many routes and keep most of their score.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use trust_core::synthetic::{self, SybilShape};
use trust_core::{ConnectivityDecay, EdgeUpdate, Graph, MeritRank, PeerId, WalkConfig};

const HONEST: usize = 10_000;
const DECAY: ConnectivityDecay = ConnectivityDecay { beta: 0.5, threshold: 0.9 };

fn graph_of(updates: impl IntoIterator<Item = EdgeUpdate>) -> Graph {
    let mut g = Graph::new(Default::default());
    for u in updates {
        g.apply(u);
    }
    g
}

/// (honest total, Sybil total) of the ego's ranking.
fn totals(g: &Graph, ego: PeerId, connectivity: Option<ConnectivityDecay>) -> (f64, f64) {
    let mut mr = MeritRank::new(
        WalkConfig { walks: 20_000, connectivity, ..WalkConfig::default() },
        sansio_core::Seed::from_u64(5),
    );
    let ranking = mr.ranking(g, ego);
    let sybil: f64 = ranking.iter().filter(|(p, _)| p.index() >= HONEST).map(|(_, s)| s).sum();
    let honest: f64 = ranking.iter().filter(|(p, _)| p.index() < HONEST && *p != ego).map(|(_, s)| s).sum();
    (honest, sybil)
}

#[test]
fn bridged_sybils_lose_beta_while_honest_peers_keep_most_of_their_score() {
    let ego = PeerId(0);
    let base = synthetic::small_world(HONEST, 5, 0.1, sansio_core::Seed::new([1; 32]));
    let honest_graph = graph_of(base.iter().copied());
    let attacker = honest_graph.trusted_neighbours(ego).next().unwrap().0.index();
    for shape in [SybilShape::Chain, SybilShape::Random] {
        let g = graph_of(base.iter().copied().chain(synthetic::sybil_region(
            HONEST,
            1_000,
            shape,
            &[attacker],
            20.0,
            sansio_core::Seed::new([3; 32]),
        )));
        let (honest_plain, sybil_plain) = totals(&g, ego, None);
        let (honest_decayed, sybil_decayed) = totals(&g, ego, Some(DECAY));
        eprintln!(
            "{shape:?}: Sybil total {sybil_plain:.4} -> {sybil_decayed:.4}, honest total {honest_plain:.4} -> {honest_decayed:.4}"
        );
        assert!(sybil_plain > 0.01, "the attack reaches the region at all");
        assert!((sybil_decayed - (1.0 - DECAY.beta) * sybil_plain).abs() < 1e-9, "every Sybil is bridged");
        assert!(honest_decayed > 0.8 * honest_plain, "honest peers keep most of their score");
        // The attacker's share of the ego's trust shrinks (by about 40 % at β = 0.5 here).
        assert!(sybil_decayed / honest_decayed < 0.7 * sybil_plain / honest_plain);
    }
}

#[test]
fn a_peer_reached_through_one_friend_only_is_bridged_and_a_cached_query_never_goes_stale() {
    let friend = |from: u32, to: u32, timestamp| EdgeUpdate {
        from: PeerId(from),
        to: PeerId(to),
        kind: trust_core::RelationType::SOCIAL_FRIEND,
        strength: 1.0,
        timestamp,
    };
    // 0 -> 1 -> 3 and 0 -> 2; 3 is reached only through 1.
    let mut g = graph_of([friend(0, 1, 1), friend(1, 3, 1), friend(0, 2, 1)]);
    let mut mr = MeritRank::new(
        WalkConfig { connectivity: Some(DECAY), ..WalkConfig::default() },
        sansio_core::Seed::from_u64(1),
    );
    mr.ensure_ego(&g, PeerId(0));
    assert_eq!(mr.is_bridged(PeerId(0), PeerId(3)), Some(true));
    assert_eq!(mr.is_bridged(PeerId(0), PeerId(1)), Some(false), "a direct friend has no bridge but the ego");
    // A second route to 3 through 2: no longer bridged, once refreshed.
    g.apply(friend(2, 3, 2));
    assert!(mr.refresh(&g) > 0, "walks through 2 are redone");
    assert_eq!(mr.cached_score(&g, PeerId(0), PeerId(3)), None, "out of date: no stale answer");
    let fresh = mr.score(&g, PeerId(0), PeerId(3));
    assert_eq!(mr.is_bridged(PeerId(0), PeerId(3)), Some(false));
    assert_eq!(mr.cached_score(&g, PeerId(0), PeerId(3)), Some(fresh));
}

#[test]
fn epoch_decay_lets_a_fresh_relation_outweigh_an_old_one_as_epochs_pass() {
    let rel = |to: u32, timestamp| EdgeUpdate {
        from: PeerId(0),
        to: PeerId(to),
        kind: trust_core::RelationType::SOCIAL_FRIEND,
        strength: 1.0,
        timestamp,
    };
    let day = 86_400_000;
    // Friend 1 stated on day 0, friend 2 on day 10.
    let mut g = graph_of([rel(1, 0), rel(2, 10 * day)]);
    g.set_epoch_decay(Some(trust_core::EpochDecay { gamma: 0.5, epoch: day }), 10 * day);
    assert_eq!(g.walk_weight(PeerId(0), PeerId(2)), 1.0, "a relation of this epoch keeps its weight");
    assert_eq!(g.walk_weight(PeerId(0), PeerId(1)), 0.5f64.powi(10));
    assert!((g.total_weight(PeerId(0)) - (1.0 + 0.5f64.powi(10))).abs() < 1e-12);
    let mut mr = MeritRank::new(WalkConfig::default(), sansio_core::Seed::from_u64(3));
    let before = mr.score(&g, PeerId(0), PeerId(2));
    assert!(!g.advance_to(10 * day + 5), "the same epoch changes nothing");
    assert!(g.advance_to(11 * day), "a new epoch reweighs");
    assert_eq!(g.walk_weight(PeerId(0), PeerId(2)), 0.5);
    mr.clear();
    // Both relations halved: the walk's choice between them is unchanged.
    assert_eq!(mr.score(&g, PeerId(0), PeerId(2)), before);
    assert!(!g.advance_to(5 * day), "time does not move back");
}
