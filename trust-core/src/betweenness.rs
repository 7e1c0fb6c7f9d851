//! Sampled betweenness centrality: a diagnostic, never a reputation.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use sansio_core::{Seed, SeededRng};

use crate::graph::{Graph, PeerId};
use crate::reputation::Reputation;
use crate::{FastMap, fast_map};

/// Betweenness centrality estimated from sampled shortest paths (Riondato–Kornaropoulos): for
/// each of `samples` random (source, target) pairs, one shortest path is drawn uniformly among
/// all shortest paths, and each peer inside it gets a point. A peer's estimate is its share of
/// the samples.
///
/// The seeds suggested betweenness as the reputation function. It is kept here as a
/// **diagnostic only**: it is global and symmetric, so no Sybil defence applies, and an
/// attacker who hangs *k* Sybils behind itself becomes the cut vertex of every path into them,
/// gaining betweenness in proportion to *k* (`tests/sybil_resistance.rs` shows it while the
/// walks' score for the same attacker does not move). Its `Reputation` impl ignores the ego.
#[derive(Clone, Debug)]
pub struct SampledBetweenness {
    samples: u32,
    seed: Seed,
    /// The last estimate, with the graph version it was made for.
    cache: Option<(u64, FastMap<PeerId, f64>)>,
}

impl SampledBetweenness {
    /// `samples` pairs, chosen by `seed`.
    #[must_use]
    pub fn new(samples: u32, seed: Seed) -> Self {
        Self { samples, seed, cache: None }
    }

    /// Estimated betweenness of every peer that lies inside a sampled path.
    pub fn estimate(&self, graph: &Graph) -> FastMap<PeerId, f64> {
        let n = graph.peers();
        let mut points: FastMap<PeerId, f64> = fast_map();
        if n < 3 || self.samples == 0 {
            return points;
        }
        let id = |i: u64| PeerId(u32::try_from(i).unwrap_or(u32::MAX));
        let mut rng = SeededRng::from_seed(self.seed);
        for _ in 0..self.samples {
            let (s, t) = (id(rng.below(n as u64)), id(rng.below(n as u64)));
            if s == t {
                continue;
            }
            // BFS from s, counting shortest paths (sigma) and remembering predecessors.
            let mut dist: FastMap<PeerId, (u32, f64, Vec<PeerId>)> = fast_map();
            dist.insert(s, (0, 1.0, Vec::new()));
            let mut queue = VecDeque::from([s]);
            while let Some(u) = queue.pop_front() {
                let (du, su) = match dist.get(&u) {
                    Some((d, sigma, _)) => (*d, *sigma),
                    None => continue,
                };
                if dist.get(&t).is_some_and(|(dt, _, _)| *dt <= du) {
                    break;
                }
                for (v, _, _) in graph.trusted_neighbours(u) {
                    match dist.get_mut(&v) {
                        None => {
                            dist.insert(v, (du + 1, su, alloc::vec![u]));
                            queue.push_back(v);
                        }
                        Some((dv, sv, preds)) if *dv == du + 1 => {
                            *sv += su;
                            preds.push(u);
                        }
                        Some(_) => {}
                    }
                }
            }
            // Walk back from t, choosing each predecessor in proportion to its path count.
            let mut at = t;
            while let Some((_, sigma, preds)) = dist.get(&at) {
                if preds.is_empty() {
                    break;
                }
                let mut pick = rng.unit_f64() * sigma;
                let mut chosen = preds[preds.len() - 1];
                for p in preds {
                    pick -= dist.get(p).map_or(0.0, |(_, sp, _)| *sp);
                    if pick < 0.0 {
                        chosen = *p;
                        break;
                    }
                }
                if chosen == s {
                    break;
                }
                *points.entry(chosen).or_insert(0.0) += 1.0;
                at = chosen;
            }
        }
        let r = f64::from(self.samples);
        points.values_mut().for_each(|v| *v /= r);
        points
    }
}

impl Reputation for SampledBetweenness {
    fn score(&mut self, graph: &Graph, _ego: PeerId, peer: PeerId) -> f64 {
        let version = graph.version();
        if self.cache.as_ref().is_none_or(|(v, _)| *v != version) {
            self.cache = Some((version, self.estimate(graph)));
        }
        self.cache.as_ref().and_then(|(_, c)| c.get(&peer).copied()).unwrap_or(0.0)
    }
}
