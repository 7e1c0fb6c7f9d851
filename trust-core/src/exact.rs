//! Exact personalised PageRank by power iteration: the reference for the walks.

use alloc::vec;
use alloc::vec::Vec;

use crate::graph::{Graph, PeerId};
use crate::reputation::Reputation;

/// The exact value of what [`crate::MeritRank`] estimates, by power iteration: for small
/// graphs and tests (it touches every relation per iteration and stores a vector per ego).
///
/// With the walks' semantics: mass continues with probability `alpha`, spread over relations
/// in proportion to |walk weight|; mass sent along distrust relations is absorbed and counted
/// against their target; peers without relations absorb what reaches them.
#[derive(Clone, Debug)]
pub struct ExactPageRank {
    alpha: f64,
    tolerance: f64,
}

impl ExactPageRank {
    /// Iterates until no score moves by more than `tolerance`.
    #[must_use]
    pub fn new(alpha: f64, tolerance: f64) -> Self {
        Self { alpha, tolerance }
    }

    /// Every peer's score as seen by `ego` (index = peer id).
    #[must_use]
    pub fn scores(&self, graph: &Graph, ego: PeerId) -> Vec<f64> {
        let n = graph.peers();
        let mut score = vec![0.0; n];
        if ego.index() >= n {
            return score;
        }
        let mut mass = vec![0.0; n];
        mass[ego.index()] = 1.0;
        let mut next = vec![0.0; n];
        // Each round moves the walk mass one step; the mass left shrinks by alpha per round.
        for _ in 0..100_000 {
            let mut moved = 0.0f64;
            next.iter_mut().for_each(|x| *x = 0.0);
            for (u, m) in mass.iter().enumerate() {
                if *m == 0.0 {
                    continue;
                }
                let u = PeerId(u32::try_from(u).unwrap_or(u32::MAX));
                score[u.index()] += (1.0 - self.alpha) * m;
                let total = graph.total_weight(u);
                if total <= 0.0 {
                    continue;
                }
                for e in graph.out_edges(u) {
                    let w = graph.weight_of(e);
                    let share = self.alpha * m * w.abs() / total;
                    if w > 0.0 {
                        next[e.to.index()] += share;
                        moved += share;
                    } else if w < 0.0 {
                        // An absorbed walk counts one blame, scaled like a visit.
                        score[e.to.index()] -= (1.0 - self.alpha) * share;
                    }
                }
            }
            core::mem::swap(&mut mass, &mut next);
            // All future contributions together are at most the mass still walking.
            if moved < self.tolerance {
                break;
            }
        }
        score
    }
}

impl Reputation for ExactPageRank {
    fn score(&mut self, graph: &Graph, ego: PeerId, peer: PeerId) -> f64 {
        self.scores(graph, ego).get(peer.index()).copied().unwrap_or(0.0)
    }
}
