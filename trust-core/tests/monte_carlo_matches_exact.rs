//! The walks' scores agree with exact personalised PageRank within the documented error:
//! every score is off by at most 4·√(1+α)/√R (four standard errors; see the walk docs).

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use sansio_core::SeededRng;
use trust_core::{EdgeUpdate, ExactPageRank, Graph, MeritRank, PeerId, RelationType, WalkConfig};

/// A random graph of `n` peers with some distrust relations and dead ends.
fn random_graph(n: u32, seed: u8) -> Graph {
    let mut rng = SeededRng::from_seed(sansio_core::Seed::new([seed; 32]));
    let mut g = Graph::new(Default::default());
    for from in 0..n {
        let degree = rng.below(6);
        for _ in 0..degree {
            let to = u32::try_from(rng.below(u64::from(n))).unwrap();
            #[allow(clippy::cast_possible_truncation)]
            let mut strength = (0.1 + 3.0 * rng.unit_f64()) as f32;
            if rng.chance(0.1) {
                strength = -strength;
            }
            let kind = RelationType(u8::try_from(rng.below(4)).unwrap());
            g.apply(EdgeUpdate { from: PeerId(from), to: PeerId(to), kind, strength, timestamp: 1 });
        }
    }
    g
}

#[test]
fn walk_estimates_are_within_four_standard_errors_of_exact_pagerank() {
    for (seed, alpha) in [(1, 0.85), (2, 0.5), (3, 0.95)] {
        let g = random_graph(60, seed);
        let walks = 100_000;
        let mut mr = MeritRank::new(
            WalkConfig { walks, alpha, max_len: 10_000, connectivity: None },
            sansio_core::Seed::from_u64(u64::from(seed)),
        );
        let exact = ExactPageRank::new(alpha, 1e-12).scores(&g, PeerId(0));
        let bound = 4.0 * (1.0 + alpha).sqrt() / f64::from(walks).sqrt();
        let mut worst = 0.0f64;
        for (v, &x) in exact.iter().enumerate() {
            let estimate = mr.score(&g, PeerId(0), PeerId(u32::try_from(v).unwrap()));
            worst = worst.max((estimate - x).abs());
        }
        assert!(worst <= bound, "alpha {alpha}: worst error {worst} > {bound}");
        // And the estimate is not trivially zero: the ego's own score is at least 1 - alpha.
        assert!(exact[0] >= 1.0 - alpha - 1e-9);
    }
}

#[test]
fn distrust_makes_a_score_negative_in_both_estimates() {
    let mut g = Graph::new(Default::default());
    let rel = |from, to, strength| EdgeUpdate {
        from: PeerId(from),
        to: PeerId(to),
        kind: RelationType::SOCIAL_FRIEND,
        strength,
        timestamp: 1,
    };
    g.apply(rel(0, 1, 1.0));
    g.apply(rel(0, 2, -3.0));
    let exact = ExactPageRank::new(0.85, 1e-12).scores(&g, PeerId(0));
    assert!((exact[2] - (-0.15 * 0.85 * 0.75)).abs() < 1e-9, "blame mass: {}", exact[2]);
    let mut mr = MeritRank::new(WalkConfig { walks: 50_000, ..WalkConfig::default() }, sansio_core::Seed::from_u64(9));
    assert!(mr.score(&g, PeerId(0), PeerId(2)) < -0.08);
}
