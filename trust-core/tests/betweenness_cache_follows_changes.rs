//! Sampled betweenness is cached between queries; a change to the graph that keeps its peer
//! and relation counts (a removal is a tombstone, a strength change is in place) must still
//! invalidate the cache.

use trust_core::{EdgeUpdate, Graph, PeerId, RelationType, Reputation, SampledBetweenness};

fn rel(from: u32, to: u32, strength: f32, timestamp: u64) -> EdgeUpdate {
    EdgeUpdate { from: PeerId(from), to: PeerId(to), kind: RelationType::SOCIAL_FRIEND, strength, timestamp }
}

#[test]
fn removing_a_relation_clears_the_betweenness_it_created() {
    let mut g = Graph::new(Default::default());
    g.apply(rel(0, 1, 1.0, 1));
    g.apply(rel(1, 2, 1.0, 1));
    let mut bc = SampledBetweenness::new(2_000, sansio_core::Seed::from_u64(3));
    let before = bc.score(&g, PeerId(0), PeerId(1));
    assert!(before > 0.05, "peer 1 lies on the path 0 -> 2: {before}");
    let relations = g.relations();
    g.apply(rel(1, 2, 0.0, 2));
    assert_eq!(g.relations(), relations, "a removal keeps the relation as a tombstone");
    assert_eq!(bc.score(&g, PeerId(0), PeerId(1)), 0.0);
}
