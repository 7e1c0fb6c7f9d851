//! MeritRank-style personalised random walks, kept up to date incrementally.

use alloc::vec::Vec;

use sansio_core::{Seed, SeededRng};

use crate::graph::{Graph, PeerId};
use crate::{FastMap, FastSet, fast_map, fast_set};

/// Parameters of the walks.
#[derive(Clone, Debug, PartialEq)]
pub struct WalkConfig {
    /// Walks per ego (R). The estimate's standard error shrinks as 1/√R.
    pub walks: u32,
    /// Transitivity decay: the chance a walk continues at each step (PageRank's damping).
    pub alpha: f64,
    /// Hard cap on a walk's length, so a walk always ends (at α = 0.85 a walk of 1,000 steps
    /// has probability 10⁻⁷¹).
    pub max_len: usize,
    /// MeritRank's connectivity decay (β), off by default.
    pub connectivity: Option<ConnectivityDecay>,
}

impl Default for WalkConfig {
    fn default() -> Self {
        Self { walks: 10_000, alpha: 0.85, max_len: 1_000, connectivity: None }
    }
}

/// Connectivity decay: a peer that the ego's walks reach almost only through one other peer
/// (a bridge) has its score multiplied by `1 − beta`.
///
/// Precisely: for peer *v*, let *n(v)* be the number of the ego's walks that visit *v*, and
/// *n(v, k)* the number of those that visit *k* (neither the ego nor *v*) before their first
/// visit of *v*. If max over *k* of *n(v, k)* / *n(v)* is at least `threshold`, *v* is
/// *bridged* and its score is decayed. A Sybil region hangs off its attack edges, so every
/// Sybil is bridged by the attacker; honest peers in a well-knit region are reached along
/// many routes and mostly keep their score (`sybil_resistance.rs` measures both).
///
/// The bridged set of an ego is derived from all of its walks, so it costs about as much as
/// the walks themselves; it is refreshed by [`MeritRank::score`], [`MeritRank::ranking`] and
/// [`MeritRank::ensure_ego`] after a change, and [`MeritRank::cached_score`] answers `None`
/// for an ego whose set is out of date rather than a stale number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectivityDecay {
    /// The share of the score a bridged peer loses, in [0, 1].
    pub beta: f64,
    /// The share of a peer's walks that must pass one bridge for it to count as bridged.
    pub threshold: f64,
}

impl Default for ConnectivityDecay {
    /// β = 0.5 at a 90 % bridge share.
    fn default() -> Self {
        Self { beta: 0.5, threshold: 0.9 }
    }
}

#[derive(Clone, Debug, Default)]
struct Walk {
    /// Visited peers, starting with the ego.
    nodes: Vec<PeerId>,
    /// The peer whose distrust edge absorbed the walk, if one did.
    blamed: Option<PeerId>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Hits {
    positive: u32,
    negative: u32,
}

/// The walks of one ego and what they hit.
#[derive(Clone, Debug)]
struct EgoWalks {
    walks: Vec<Walk>,
    hits: FastMap<PeerId, Hits>,
    /// For each peer, the walks that visit it (each walk once).
    visits: FastMap<PeerId, Vec<u32>>,
    /// Peers under connectivity decay, when it is on; `None` when out of date.
    bridged: Option<FastSet<PeerId>>,
}

impl EgoWalks {
    /// The peers that one bridge dominates (see [`ConnectivityDecay`]).
    fn find_bridged(&self, threshold: f64) -> FastSet<PeerId> {
        // n(v, k) for every pair that occurs; walks are short, so the per-walk work is a
        // scan of the prefix.
        let mut pairs: FastMap<(PeerId, PeerId), u32> = fast_map();
        for walk in &self.walks {
            let nodes = &walk.nodes;
            for i in 1..nodes.len() {
                let v = nodes[i];
                if nodes[..i].contains(&v) {
                    continue; // not v's first visit
                }
                for j in 1..i {
                    let k = nodes[j];
                    if k != v && !nodes[1..j].contains(&k) {
                        *pairs.entry((v, k)).or_insert(0) += 1;
                    }
                }
            }
        }
        let mut most: FastMap<PeerId, u32> = fast_map();
        for ((v, _), n) in pairs {
            let m = most.entry(v).or_insert(0);
            *m = (*m).max(n);
        }
        let mut out = fast_set();
        for (v, m) in most {
            let n = self.visits.get(&v).map_or(0, Vec::len);
            #[allow(clippy::cast_precision_loss)]
            if n > 0 && f64::from(m) / n as f64 >= threshold {
                out.insert(v);
            }
        }
        out
    }
}

/// Personalised reputation by Monte Carlo random walks, after MeritRank.
///
/// For each ego, `walks` random walks start at the ego. At each step a walk stops with
/// probability `1 − alpha` (transitivity decay); otherwise it follows an outgoing relation
/// chosen in proportion to |walk weight|. A positive relation moves it on; a negative one
/// (distrust) absorbs it and blames the target; a peer without relations ends it. The score
/// of peer *v* for the ego is `(1 − alpha) · (visits(v) − blames(v)) / walks`: an unbiased
/// estimate of *v*'s personalised PageRank minus the distrust mass sent to it.
///
/// **Sybil bound.** A walk enters a Sybil region only across an attack edge, and once inside
/// it still stops with probability `1 − alpha` per step, so the region's total score is at
/// most the walk mass that crosses the attack edges, whatever the region's size or shape.
///
/// **Incremental, and exact about it.** Every random number a walk uses is fixed by (seed,
/// ego, walk, step): each walk reads its own ChaCha12 stream, step *k* at word 4*k*. When a
/// peer's relations change, only the walks that visit it are redone, from their first visit
/// on; since the prefix before it did not depend on the change and the suffix reads the same
/// numbers, the result is identical, bit for bit, to recomputing every walk from scratch.
/// (A fast hash of (ego, walk, step) was tried first and biased the estimates by 10–15 %:
/// sampling needs a generator of cryptographic quality.)
///
/// ```
/// use trust_core::{EdgeUpdate, Graph, MeritRank, PeerId, RelationType, WalkConfig};
///
/// let mut g = Graph::new(Default::default());
/// let friend = |from, to| EdgeUpdate { from: PeerId(from), to: PeerId(to), kind: RelationType::SOCIAL_FRIEND, strength: 1.0, timestamp: 1 };
/// g.apply(friend(0, 1));
/// g.apply(friend(1, 2));
/// let mut mr = MeritRank::new(WalkConfig::default(), sansio_core::Seed::from_u64(7));
/// let near = mr.score(&g, PeerId(0), PeerId(1));
/// let far = mr.score(&g, PeerId(0), PeerId(2));
/// assert!(near > far && far > 0.0);
///
/// // The walks follow the graph by themselves: only walks through peer 1 are redone.
/// g.apply(friend(1, 3));
/// assert_eq!(mr.cached_score(&g, PeerId(0), PeerId(3)), None, "no stale answers");
/// assert!(mr.score(&g, PeerId(0), PeerId(3)) > 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct MeritRank {
    config: WalkConfig,
    seed: Seed,
    egos: FastMap<PeerId, EgoWalks>,
    /// The graph version the resident walks reflect.
    seen: Option<u64>,
}

impl MeritRank {
    /// No egos yet; walks are computed for an ego the first time it is asked about.
    #[must_use]
    pub fn new(config: WalkConfig, seed: Seed) -> Self {
        Self { config, seed, egos: fast_map(), seen: None }
    }

    /// The walk parameters.
    #[must_use]
    pub fn config(&self) -> &WalkConfig {
        &self.config
    }

    /// Extends `walk` (number `id` of `ego`) from its last node until it stops. Step *k*
    /// reads words 4*k*..4*k*+4 of the walk's stream: a stop draw, then a choice draw.
    fn extend(&self, graph: &Graph, ego: PeerId, id: u32, walk: &mut Walk) {
        let stop = 1.0 - self.config.alpha;
        let stream_id = (u64::from(ego.0) << 32) | u64::from(id);
        let mut stream = SeededRng::from_seed_at(self.seed, stream_id, 4 * (walk.nodes.len() as u128 - 1));
        while walk.nodes.len() < self.config.max_len {
            let Some(&at) = walk.nodes.last() else { return };
            let (stop_draw, choice_draw) = (stream.unit_f64(), stream.unit_f64());
            if stop_draw < stop {
                return;
            }
            let total = graph.total_weight(at);
            if total <= 0.0 {
                return;
            }
            let mut pick = choice_draw * total;
            let edges = graph.out_edges(at);
            let chosen = edges
                .iter()
                .map(|e| (e, graph.weight_of(e)))
                .filter(|(_, w)| *w != 0.0)
                .find(|(_, w)| {
                    pick -= w.abs();
                    pick < 0.0
                })
                // Rounding can leave `pick` a hair above 0 after the last edge: take the last.
                .or_else(|| edges.iter().map(|e| (e, graph.weight_of(e))).rfind(|(_, w)| *w != 0.0));
            let Some((edge, w)) = chosen else { return };
            if w < 0.0 {
                walk.blamed = Some(edge.to);
                return;
            }
            walk.nodes.push(edge.to);
        }
    }

    fn count(ego: &mut EgoWalks, id: u32, walk: &Walk, sign: i32) {
        for (i, &v) in walk.nodes.iter().enumerate() {
            let h = ego.hits.entry(v).or_default();
            h.positive = h.positive.saturating_add_signed(sign);
            // Index each walk once per peer: at its first visit.
            if !walk.nodes[..i].contains(&v) {
                let list = ego.visits.entry(v).or_default();
                if sign > 0 {
                    list.push(id);
                } else if let Some(p) = list.iter().position(|w| *w == id) {
                    list.swap_remove(p);
                }
            }
        }
        if let Some(b) = walk.blamed {
            let h = ego.hits.entry(b).or_default();
            h.negative = h.negative.saturating_add_signed(sign);
        }
    }

    /// Brings every resident ego's walks up to date with `graph`, redoing only the walks that
    /// pass through a peer whose relations changed since they were last brought up to date
    /// ([`Graph::changed_since`]); when the graph no longer knows which peers changed (a new
    /// epoch, or more than [`CHANGE_LOG`](crate::CHANGE_LOG) changes), every ego is forgotten
    /// and recomputed when next asked about. Returns how many walks were redone or dropped.
    ///
    /// Every query that takes `&mut self` calls it first; call it yourself to pay the cost at
    /// a time of your choosing, before [`cached_score`](Self::cached_score).
    pub fn refresh(&mut self, graph: &Graph) -> usize {
        let version = graph.version();
        let Some(seen) = self.seen.replace(version) else { return 0 };
        if seen == version {
            return 0;
        }
        match graph.changed_since(seen) {
            Some(changed) => {
                // Each changed peer once: redoing at a peer already uses the final graph.
                let mut once: Vec<PeerId> = changed.collect();
                once.sort_unstable();
                once.dedup();
                once.into_iter().map(|p| self.redo_through(graph, p)).sum()
            }
            None => {
                let dropped = self.egos.len() * self.config.walks as usize;
                self.egos.clear();
                dropped
            }
        }
    }

    /// Computes the ego's walks if it has none yet, after bringing the others up to date.
    /// (With connectivity decay on, it also brings the ego's bridged set up to date.)
    pub fn ensure_ego(&mut self, graph: &Graph, ego: PeerId) {
        self.refresh(graph);
        if !self.egos.contains_key(&ego) {
            let mut state = EgoWalks {
                walks: Vec::with_capacity(self.config.walks as usize),
                hits: fast_map(),
                visits: fast_map(),
                bridged: None,
            };
            for id in 0..self.config.walks {
                let mut walk = Walk { nodes: alloc::vec![ego], blamed: None };
                self.extend(graph, ego, id, &mut walk);
                Self::count(&mut state, id, &walk, 1);
                state.walks.push(walk);
            }
            self.egos.insert(ego, state);
        }
        if let (Some(decay), Some(state)) = (self.config.connectivity, self.egos.get_mut(&ego))
            && state.bridged.is_none()
        {
            state.bridged = Some(state.find_bridged(decay.threshold));
        }
    }

    /// Forgets every ego's walks: what to do when all weights change at once (a new epoch,
    /// see [`Graph::advance_to`]). They are recomputed when next asked for.
    pub fn clear(&mut self) {
        self.egos.clear();
    }

    /// Forgets an ego's walks (memory); they are recomputed when next asked for.
    pub fn drop_ego(&mut self, ego: PeerId) {
        self.egos.remove(&ego);
    }

    /// Egos whose walks are kept.
    #[must_use]
    pub fn resident_egos(&self) -> usize {
        self.egos.len()
    }

    /// Redoes every resident walk from its first visit of `changed` on. Returns how many.
    fn redo_through(&mut self, graph: &Graph, changed: PeerId) -> usize {
        let mut egos = core::mem::take(&mut self.egos);
        let mut redone = 0;
        for (&ego, state) in &mut egos {
            let affected: Vec<u32> = state.visits.get(&changed).cloned().unwrap_or_default();
            if !affected.is_empty() {
                state.bridged = None;
            }
            for id in affected {
                let mut walk = core::mem::take(&mut state.walks[id as usize]);
                Self::count(state, id, &walk, -1);
                if let Some(first) = walk.nodes.iter().position(|v| *v == changed) {
                    walk.nodes.truncate(first + 1);
                }
                walk.blamed = None;
                self.extend(graph, ego, id, &mut walk);
                Self::count(state, id, &walk, 1);
                state.walks[id as usize] = walk;
                redone += 1;
            }
        }
        self.egos = egos;
        redone
    }

    /// The ego's score for `peer` from its cached walks, or `None` if the ego has none yet or
    /// the walks are older than `graph` (call [`refresh`](Self::refresh) or a `&mut` query),
    /// or, with connectivity decay on, its bridged set is out of date. One or two hash lookups:
    /// cheap enough for every packet or record.
    #[must_use]
    pub fn cached_score(&self, graph: &Graph, ego: PeerId, peer: PeerId) -> Option<f64> {
        if self.seen != Some(graph.version()) {
            return None;
        }
        let state = self.egos.get(&ego)?;
        let h = state.hits.get(&peer).copied().unwrap_or_default();
        let raw = self.scale(f64::from(h.positive) - f64::from(h.negative));
        self.decayed(state, peer, raw)
    }

    fn scale(&self, hits: f64) -> f64 {
        (1.0 - self.config.alpha) * hits / f64::from(self.config.walks.max(1))
    }

    /// `raw` after connectivity decay; `None` if the bridged set is out of date.
    fn decayed(&self, state: &EgoWalks, peer: PeerId, raw: f64) -> Option<f64> {
        let Some(decay) = self.config.connectivity else { return Some(raw) };
        let bridged = state.bridged.as_ref()?;
        Some(if bridged.contains(&peer) { raw * (1.0 - decay.beta) } else { raw })
    }

    /// Whether connectivity decay applies to `peer` for `ego` (`None` when the decay is off
    /// or the ego's set is not up to date).
    #[must_use]
    pub fn is_bridged(&self, ego: PeerId, peer: PeerId) -> Option<bool> {
        self.config.connectivity?;
        Some(self.egos.get(&ego)?.bridged.as_ref()?.contains(&peer))
    }

    /// The ego's score for `peer`, computing the ego's walks first if needed.
    pub fn score(&mut self, graph: &Graph, ego: PeerId, peer: PeerId) -> f64 {
        self.ensure_ego(graph, ego);
        self.cached_score(graph, ego, peer).unwrap_or(0.0)
    }

    /// Every peer the ego's walks reached, with its score, highest first (ties by id).
    pub fn ranking(&mut self, graph: &Graph, ego: PeerId) -> Vec<(PeerId, f64)> {
        self.ensure_ego(graph, ego);
        let Some(state) = self.egos.get(&ego) else { return Vec::new() };
        let mut out: Vec<(PeerId, f64)> = state
            .hits
            .iter()
            .map(|(p, h)| {
                let raw = self.scale(f64::from(h.positive) - f64::from(h.negative));
                (*p, self.decayed(state, *p, raw).unwrap_or(raw))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// The walks of an ego as peer sequences (for tests and diagnostics).
    #[must_use]
    pub fn walks_of(&self, ego: PeerId) -> Option<Vec<(&[PeerId], Option<PeerId>)>> {
        self.egos.get(&ego).map(|s| s.walks.iter().map(|w| (w.nodes.as_slice(), w.blamed)).collect())
    }
}
