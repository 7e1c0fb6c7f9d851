//! The synthetic graphs (`ipv8 trust generate`) hold no relation of a peer to itself and no
//! repeated relation: every update they return changes the graph, so an edge file written
//! from them has no line that does nothing.

#![allow(clippy::unwrap_used)]

use sansio_core::Seed;
use trust_core::synthetic::{SybilShape, scale_free, small_world, sybil_region};
use trust_core::{Applied, EdgeUpdate, Graph, TypeWeights};

fn every_update_inserts(updates: &[EdgeUpdate], what: &str) {
    assert!(!updates.is_empty(), "{what}: no relations at all");
    let mut g = Graph::new(TypeWeights::default());
    for (i, u) in updates.iter().enumerate() {
        assert_eq!(g.apply(*u), Applied::Inserted, "{what}: update {i} ({u:?}) did nothing");
    }
}

#[test]
fn honest_regions_repeat_no_relation() {
    for seed in 0..8 {
        // Every relation rewired: random targets repeat and hit the peer itself.
        every_update_inserts(&small_world(50, 6, 1.0, Seed::from_u64(seed)), "small world, p = 1");
        every_update_inserts(&small_world(5, 4, 0.3, Seed::from_u64(seed)), "small world, k = n - 1");
        every_update_inserts(&scale_free(40, 3, Seed::from_u64(seed)), "scale free");
    }
}

#[test]
fn sybil_regions_of_every_shape_and_size_repeat_no_relation() {
    for shape in [SybilShape::Chain, SybilShape::Star, SybilShape::Random] {
        for s in [1, 2, 3, 20] {
            // More attack edges than Sybils, and one honest peer giving two.
            let updates = sybil_region(100, s, shape, &[0, 1, 2, 2], 5.0, Seed::from_u64(s as u64));
            every_update_inserts(&updates, &format!("{shape:?} of {s}"));
        }
    }
}
