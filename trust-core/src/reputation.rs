//! The one interface every reputation function offers.

use crate::graph::{Graph, PeerId};

/// A reputation function: how much `ego` trusts `peer`, given the relation graph.
///
/// Scores are comparable within one function, not across functions. Implementations may
/// cache per-ego state (hence `&mut self`).
pub trait Reputation {
    /// The score of `peer` as seen by `ego`.
    fn score(&mut self, graph: &Graph, ego: PeerId, peer: PeerId) -> f64;

    /// Whether `ego` trusts `peer` at least `threshold`.
    fn is_trusted(&mut self, graph: &Graph, ego: PeerId, peer: PeerId, threshold: f64) -> bool {
        self.score(graph, ego, peer) >= threshold
    }
}

impl Reputation for crate::MeritRank {
    fn score(&mut self, graph: &Graph, ego: PeerId, peer: PeerId) -> f64 {
        crate::MeritRank::score(self, graph, ego, peer)
    }
}
