//! Keeping walks up to date edge by edge gives exactly, bit for bit, the walks a fresh
//! computation on the final graph gives with the same seed.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use proptest::prelude::*;
use trust_core::{Applied, EdgeUpdate, Graph, MeritRank, PeerId, RelationType, WalkConfig, synthetic};

fn update() -> impl Strategy<Value = EdgeUpdate> {
    (0u32..40, 0u32..40, 0u8..5, prop_oneof![Just(0.0f32), -2.0f32..3.0], 1u64..50).prop_map(
        |(from, to, kind, strength, timestamp)| EdgeUpdate {
            from: PeerId(from),
            to: PeerId(to),
            kind: RelationType(kind),
            strength,
            timestamp,
        },
    )
}

fn walks_equal(a: &MeritRank, b: &MeritRank, ego: PeerId) -> bool {
    a.walks_of(ego) == b.walks_of(ego)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_walks_equal_recomputed_walks(
        updates in prop::collection::vec((update(), any::<bool>()), 1..80),
        ego in 0u32..40,
    ) {
        let config = WalkConfig { walks: 300, ..WalkConfig::default() };
        let mut g = Graph::new(Default::default());
        for u in synthetic::small_world(40, 3, 0.2, sansio_core::Seed::new([5; 32])) {
            g.apply(u);
        }
        let ego = PeerId(ego);
        let mut live = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(42));
        live.ensure_ego(&g, ego);
        let mut redone = 0;
        for (u, then_remove) in updates {
            if g.apply(u) != Applied::Ignored {
                redone += live.refresh(&g);
            }
            // Some relations are taken out again, as a store drops a record it evicts.
            if then_remove && g.remove(u.from, u.to, u.kind, u.timestamp) {
                redone += live.refresh(&g);
            }
        }
        let mut fresh = MeritRank::new(config, sansio_core::Seed::from_u64(42));
        fresh.ensure_ego(&g, ego);
        prop_assert!(walks_equal(&live, &fresh, ego));
        for p in 0..40 {
            prop_assert_eq!(live.cached_score(&g, ego, PeerId(p)), fresh.cached_score(&g, ego, PeerId(p)));
        }
        // Incremental means partial: far fewer walks redone than a recompute per update.
        prop_assert!(redone <= 300 * 80);
    }
}

#[test]
fn an_update_far_from_the_walks_redoes_none() {
    let mut g = Graph::new(Default::default());
    for u in synthetic::small_world(1_000, 4, 0.0, sansio_core::Seed::new([1; 32])) {
        g.apply(u);
    }
    let mut mr = MeritRank::new(WalkConfig { walks: 2_000, ..WalkConfig::default() }, sansio_core::Seed::from_u64(3));
    mr.ensure_ego(&g, PeerId(0));
    // Peer 500 sits half a ring away: no walk of 2,000 reaches it at alpha 0.85.
    let far =
        EdgeUpdate { from: PeerId(500), to: PeerId(7), kind: RelationType::SOCIAL_FRIEND, strength: 5.0, timestamp: 9 };
    g.apply(far);
    assert_eq!(mr.refresh(&g), 0);
    // A change at the ego redoes every walk.
    let near =
        EdgeUpdate { from: PeerId(0), to: PeerId(9), kind: RelationType::SOCIAL_FRIEND, strength: 5.0, timestamp: 9 };
    g.apply(near);
    assert_eq!(mr.refresh(&g), 2_000);
}

#[test]
fn latest_timestamp_wins_and_zero_strength_is_a_tombstone() {
    let mut g = Graph::new(Default::default());
    let rel = |strength, timestamp| EdgeUpdate {
        from: PeerId(0),
        to: PeerId(1),
        kind: RelationType::MODERATOR_VOTE,
        strength,
        timestamp,
    };
    assert_eq!(g.apply(rel(1.0, 10)), Applied::Inserted);
    assert_eq!(g.apply(rel(0.0, 20)), Applied::Changed, "removal");
    assert_eq!(g.apply(rel(4.0, 15)), Applied::Ignored, "an older record cannot resurrect it");
    assert_eq!(g.walk_weight(PeerId(0), PeerId(1)), 0.0);
    assert_eq!(g.apply(rel(f32::NAN, 30)), Applied::Ignored);
    assert_eq!(g.apply(rel(2.0, 30)), Applied::Changed);
    assert_eq!(g.walk_weight(PeerId(0), PeerId(1)), 2.0);
}

#[test]
fn removing_a_relation_is_as_if_it_was_never_applied() {
    let t = RelationType::SOCIAL_FRIEND;
    let rel = |from, to, kind, strength, timestamp| EdgeUpdate {
        from: PeerId(from),
        to: PeerId(to),
        kind,
        strength,
        timestamp,
    };
    let kept = [
        rel(0, 1, t, 1.0, 1),
        rel(1, 2, t, 2.0, 1),
        rel(2, 0, t, 1.0, 1),
        rel(1, 3, RelationType::MODERATOR_VOTE, -1.0, 1),
    ];
    let mut without = Graph::new(Default::default());
    let mut with = Graph::new(Default::default());
    for u in kept {
        without.apply(u);
        with.apply(u);
    }
    // Peer 4 exists in both (removal keeps peers); 3 was distrusted and becomes trusted.
    without.ensure_peer(PeerId(4));
    let extra = [rel(1, 3, t, 3.0, 5), rel(3, 4, t, 1.0, 2)];
    for u in extra {
        with.apply(u);
    }
    without.apply(rel(3, 4, t, 1.0, 2));
    assert!(with.capacity(PeerId(1), PeerId(3)) > 0.0, "3.0 friendship outweighs the distrust");
    assert!(!with.remove(PeerId(1), PeerId(3), t, 4), "only the record it came from takes it out");
    assert!(with.remove(PeerId(1), PeerId(3), t, 5));
    assert!(!with.remove(PeerId(1), PeerId(3), t, 5), "gone");
    assert_eq!(with.relations(), without.relations());
    for a in 0..5 {
        for b in 0..5 {
            assert_eq!(with.walk_weight(PeerId(a), PeerId(b)), without.walk_weight(PeerId(a), PeerId(b)));
        }
        assert!(with.trusted_neighbours(PeerId(a)).eq(without.trusted_neighbours(PeerId(a))));
    }
    let config = WalkConfig { walks: 2_000, ..WalkConfig::default() };
    for p in 0..5 {
        let x = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(9)).score(&with, PeerId(0), PeerId(p));
        let y = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(9)).score(&without, PeerId(0), PeerId(p));
        assert_eq!(x.to_bits(), y.to_bits(), "peer {p}");
    }
}

#[test]
fn a_relation_of_a_peer_to_itself_is_ignored_and_cannot_lift_its_score() {
    let mut g = Graph::new(Default::default());
    let t = RelationType::TRAFFIC_EXCHANGE;
    g.apply(EdgeUpdate { from: PeerId(0), to: PeerId(1), kind: t, strength: 1.0, timestamp: 1 });
    g.apply(EdgeUpdate { from: PeerId(1), to: PeerId(2), kind: t, strength: 1.0, timestamp: 1 });
    let config = WalkConfig { walks: 20_000, ..WalkConfig::default() };
    let before = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(3)).score(&g, PeerId(0), PeerId(1));
    let self_loop = EdgeUpdate { from: PeerId(1), to: PeerId(1), kind: t, strength: 1_000.0, timestamp: 2 };
    assert_eq!(g.apply(self_loop), Applied::Ignored);
    assert!(g.out_edges(PeerId(1)).iter().all(|e| e.to != PeerId(1)));
    let after = MeritRank::new(config, sansio_core::Seed::from_u64(3)).score(&g, PeerId(0), PeerId(1));
    assert_eq!(before.to_bits(), after.to_bits());
}

#[test]
fn walks_that_fall_further_behind_than_the_change_log_rebuild_and_still_match() {
    let config = WalkConfig { walks: 200, ..WalkConfig::default() };
    let mut g = Graph::new(Default::default());
    for u in synthetic::small_world(200, 3, 0.2, sansio_core::Seed::new([7; 32])) {
        g.apply(u);
    }
    let mut live = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(5));
    live.ensure_ego(&g, PeerId(0));
    let version = g.version();
    for i in 0..trust_core::CHANGE_LOG as u32 + 10 {
        let u = EdgeUpdate {
            from: PeerId(i % 200),
            to: PeerId((i * 7 + 1) % 200),
            kind: RelationType::SOCIAL_FRIEND,
            strength: 1.0,
            timestamp: 100 + u64::from(i),
        };
        g.apply(u);
    }
    assert!(g.changed_since(version).is_none(), "the log no longer reaches back");
    assert_eq!(live.cached_score(&g, PeerId(0), PeerId(1)), None, "stale walks give no answer");
    live.ensure_ego(&g, PeerId(0));
    let mut fresh = MeritRank::new(config, sansio_core::Seed::from_u64(5));
    fresh.ensure_ego(&g, PeerId(0));
    assert!(walks_equal(&live, &fresh, PeerId(0)));
}
