//! The typed, weighted relation graph.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// A peer, interned to a dense index (see [`crate::Peers`] for the mapping from keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

impl PeerId {
    /// The index as a `usize`.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The kind of a relation. The seeds name four; applications add their own (any `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationType(pub u8);

impl RelationType {
    /// One peer uploaded to the other (BarterCast's relation).
    pub const TRAFFIC_EXCHANGE: Self = Self(0);
    /// The two like the same content.
    pub const SIMILAR_TASTE: Self = Self(1);
    /// One endorsed the other as a moderator.
    pub const MODERATOR_VOTE: Self = Self(2);
    /// A friend in a social network.
    pub const SOCIAL_FRIEND: Self = Self(3);
}

/// A relation record as the graph takes it: no signature, no encoding, so the graph depends on
/// no record format. `strength` 0 removes the relation; a negative strength is distrust.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeUpdate {
    /// Who states the relation.
    pub from: PeerId,
    /// About whom.
    pub to: PeerId,
    /// Its kind.
    pub kind: RelationType,
    /// How strong (any finite value; 0 removes, negative distrusts).
    pub strength: f32,
    /// When it was stated; a relation is only replaced by a later one.
    pub timestamp: u64,
}

/// One directed relation stored in the graph, in 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// Its target.
    pub to: PeerId,
    /// Its strength as stated (0 for a removed relation kept as a tombstone).
    pub strength: f32,
    timestamp_low: u32,
    timestamp_high: u16,
    /// Its kind.
    pub kind: RelationType,
}

/// Timestamps are kept to 48 bits: milliseconds since 1970 last until the year 10889. Larger
/// values saturate (and then compare equal).
const TIMESTAMP_MAX: u64 = (1 << 48) - 1;

impl Edge {
    fn new(to: PeerId, kind: RelationType, strength: f32, timestamp: u64) -> Self {
        let t = timestamp.min(TIMESTAMP_MAX);
        // Both parts are in range by construction.
        #[allow(clippy::cast_possible_truncation)]
        let (timestamp_low, timestamp_high) = (t as u32, (t >> 32) as u16);
        Self { to, strength, timestamp_low, timestamp_high, kind }
    }

    /// When it was stated (to 48 bits).
    #[must_use]
    pub fn timestamp(&self) -> u64 {
        (u64::from(self.timestamp_high) << 32) | u64::from(self.timestamp_low)
    }
}

/// What an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// A new relation.
    Inserted,
    /// An existing relation got a new strength or timestamp.
    Changed,
    /// The update was not newer than what the graph holds (latest timestamp wins; on equal
    /// timestamps the relation already held stays), was not a finite strength, or was a peer's
    /// relation to itself (which would lift its own score up to 1/(1-α) times); nothing
    /// changed.
    Ignored,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// Sorted by (target, type): lookups are binary searches and a target's relations sit
    /// together.
    out: Vec<Edge>,
    /// Peers that trust this one (positive capacity towards it), each once, in the order
    /// they came to: what searches running backwards from a target follow.
    incoming: Vec<PeerId>,
    /// Sum of |walk weight| over `out`: what a walk step draws from.
    total: f64,
}

/// How much each relation type counts in walks and paths: walk weight = strength × weight of
/// its type. Types weighted 0 are not walked (not trust-bearing).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeWeights(pub [f32; 256]);

impl TypeWeights {
    /// The walk weight of `e`: its strength times its type's weight.
    #[must_use]
    pub fn of(&self, e: &Edge) -> f64 {
        f64::from(e.strength) * f64::from(self.0[usize::from(e.kind.0)])
    }
}

impl Default for TypeWeights {
    /// Traffic exchange, moderator votes and social friendship count fully, similar taste a
    /// quarter; every other type 0 until configured.
    fn default() -> Self {
        let mut w = [0.0; 256];
        w[usize::from(RelationType::TRAFFIC_EXCHANGE.0)] = 1.0;
        w[usize::from(RelationType::SIMILAR_TASTE.0)] = 0.25;
        w[usize::from(RelationType::MODERATOR_VOTE.0)] = 1.0;
        w[usize::from(RelationType::SOCIAL_FRIEND.0)] = 1.0;
        Self(w)
    }
}

/// Epoch decay (MeritRank's γ): a relation loses weight with the age of its timestamp.
///
/// Time is cut into epochs of `epoch` timestamp units; a relation stated in epoch *e* weighs
/// `gamma^(now − e)` times its undecayed weight once the graph is at epoch *now* (see
/// [`Graph::advance_to`]); relations from the future are not boosted. Off by default: the
/// MeritRank evaluation found it can help attackers who simply make fresh relations, so turn
/// it on only where old relations really mean less.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochDecay {
    /// Weight kept per epoch of age, in (0, 1].
    pub gamma: f64,
    /// Epoch length in timestamp units (for millisecond timestamps, 86,400,000 is a day).
    pub epoch: u64,
}

impl EpochDecay {
    fn factor(&self, now_epoch: u64, timestamp: u64) -> f64 {
        let age = now_epoch.saturating_sub(timestamp / self.epoch.max(1));
        // An age beyond i32 has decayed to nothing at any gamma below 1 anyway.
        libm::pow(self.gamma, f64::from(i32::try_from(age).unwrap_or(i32::MAX)))
    }
}

/// The relation graph: directed, typed, weighted edges between dense peer ids, updated
/// incrementally with latest-timestamp-wins semantics.
///
/// Memory: per peer two vectors and a weight sum (56 bytes); per relation 16 bytes, plus 4
/// for each pair of peers where the first trusts the second (the backward index).
///
/// ```
/// use trust_core::{EdgeUpdate, Graph, PeerId, RelationType};
///
/// let mut g = Graph::new(Default::default());
/// let (a, b) = (PeerId(0), PeerId(1));
/// g.apply(EdgeUpdate { from: a, to: b, kind: RelationType::SOCIAL_FRIEND, strength: 2.0, timestamp: 10 });
/// // An older record does not overwrite a newer one.
/// g.apply(EdgeUpdate { from: a, to: b, kind: RelationType::SOCIAL_FRIEND, strength: 9.0, timestamp: 5 });
/// assert_eq!(g.walk_weight(a, b), 2.0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    weights: TypeWeights,
    edges: usize,
    version: u64,
    /// The peers whose relations changed, with the version each change made; the most recent
    /// [`CHANGE_LOG`] only.
    changes: VecDeque<(u64, PeerId)>,
    /// Every change after this version is in `changes` (a whole-graph reweighing, or the log
    /// dropping its oldest entry, moves it forward).
    changes_from: u64,
    decay: Option<EpochDecay>,
    /// The current epoch, when `decay` is on.
    now_epoch: u64,
}

/// How many relation changes a [`Graph`] remembers for [`Graph::changed_since`]: a cache that
/// falls further behind than this rebuilds from scratch.
pub const CHANGE_LOG: usize = 4096;

impl Graph {
    /// An empty graph with these type weights.
    #[must_use]
    pub fn new(weights: TypeWeights) -> Self {
        Self {
            nodes: Vec::new(),
            weights,
            edges: 0,
            version: 0,
            changes: VecDeque::new(),
            changes_from: 0,
            decay: None,
            now_epoch: 0,
        }
    }

    /// Turns epoch decay on (or off with `None`) at time `now`; every weight is recomputed.
    pub fn set_epoch_decay(&mut self, decay: Option<EpochDecay>, now: u64) {
        self.decay = decay;
        self.now_epoch = decay.map_or(0, |d| now / d.epoch.max(1));
        self.reweigh();
    }

    /// Moves the graph's clock to `now`. Returns `true` when that starts a new epoch and so
    /// changed the weights (the version moves, and [`changed_since`](Self::changed_since)
    /// answers `None`, so caches rebuild). Time never moves back.
    pub fn advance_to(&mut self, now: u64) -> bool {
        let Some(d) = self.decay else { return false };
        let epoch = now / d.epoch.max(1);
        if epoch <= self.now_epoch {
            return false;
        }
        self.now_epoch = epoch;
        self.reweigh();
        true
    }

    /// Recomputes every weight sum and the trusting-peer index (decay can take a weight to 0).
    fn reweigh(&mut self) {
        for node in &mut self.nodes {
            node.incoming.clear();
        }
        for i in 0..self.nodes.len() {
            let a = PeerId(u32::try_from(i).unwrap_or(u32::MAX));
            self.recompute_total(a);
            let trusted: Vec<PeerId> = self.trusted_neighbours(a).map(|(b, _, _)| b).collect();
            for b in trusted {
                self.nodes[b.index()].incoming.push(a);
            }
        }
        self.version += 1;
        // Every weight may have changed: no list of peers describes that.
        self.changes.clear();
        self.changes_from = self.version;
    }

    /// Number of peers (the highest id seen + 1).
    #[must_use]
    pub fn peers(&self) -> usize {
        self.nodes.len()
    }

    /// Number of stored relations (tombstones included).
    #[must_use]
    pub fn relations(&self) -> usize {
        self.edges
    }

    /// Makes room for peers up to `id`.
    pub fn ensure_peer(&mut self, id: PeerId) {
        if id.index() >= self.nodes.len() {
            self.nodes.resize_with(id.index() + 1, Node::default);
            self.version += 1;
        }
    }

    /// A number that changes whenever the graph does (a peer added, a relation inserted or
    /// changed, the weights of a new epoch): what caches of derived results key on, the one
    /// way they learn the graph changed.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The peers whose relations changed after `version` (in order, a peer once per change),
    /// or `None` when that is no longer known (more than [`CHANGE_LOG`] changes ago, or every
    /// weight changed at once): a cache must then rebuild everything.
    pub fn changed_since(&self, version: u64) -> Option<impl Iterator<Item = PeerId> + '_> {
        (version >= self.changes_from).then(|| self.changes.iter().filter(move |(v, _)| *v > version).map(|(_, p)| *p))
    }

    /// The weight of a type.
    #[must_use]
    pub fn type_weight(&self, kind: RelationType) -> f32 {
        self.weights.0[usize::from(kind.0)]
    }

    /// The walk weight of one stored edge: strength × type weight (× epoch decay when on).
    #[must_use]
    pub fn weight_of(&self, e: &Edge) -> f64 {
        Self::weigh(&self.weights, self.decay.as_ref(), self.now_epoch, e)
    }

    fn weigh(weights: &TypeWeights, decay: Option<&EpochDecay>, now_epoch: u64, e: &Edge) -> f64 {
        let w = weights.of(e);
        match decay {
            Some(d) if w != 0.0 => w * d.factor(now_epoch, e.timestamp()),
            _ => w,
        }
    }

    /// Applies a relation record. Ids beyond the current peers grow the graph.
    pub fn apply(&mut self, u: EdgeUpdate) -> Applied {
        if !u.strength.is_finite() || u.from == u.to {
            return Applied::Ignored;
        }
        self.ensure_peer(u.from.max(u.to));
        let edge = Edge::new(u.to, u.kind, u.strength, u.timestamp);
        let trusted_before = self.capacity(u.from, u.to) > 0.0;
        let node = &mut self.nodes[u.from.index()];
        let result = match node.out.binary_search_by_key(&(u.to, u.kind), |e| (e.to, e.kind)) {
            Ok(i) if node.out[i].timestamp() >= edge.timestamp() => return Applied::Ignored,
            Ok(i) => {
                node.out[i] = edge;
                Applied::Changed
            }
            Err(i) => {
                node.out.insert(i, edge);
                self.edges += 1;
                Applied::Inserted
            }
        };
        let trusted_after = self.capacity(u.from, u.to) > 0.0;
        if trusted_before != trusted_after {
            let incoming = &mut self.nodes[u.to.index()].incoming;
            if trusted_after {
                incoming.push(u.from);
            } else if let Some(p) = incoming.iter().position(|p| *p == u.from) {
                incoming.remove(p);
            }
        }
        self.recompute_total(u.from);
        self.version += 1;
        if self.changes.len() == CHANGE_LOG
            && let Some((oldest, _)) = self.changes.pop_front()
        {
            self.changes_from = oldest;
        }
        self.changes.push_back((self.version, u.from));
        result
    }

    /// Takes out the relation `from` → `to` of type `kind` if the graph holds it with exactly
    /// `timestamp` (the record it came from), as if it had never been applied: the owner of
    /// the records dropped that record. Returns whether anything changed; a relation a later
    /// record replaced stays.
    pub fn remove(&mut self, from: PeerId, to: PeerId, kind: RelationType, timestamp: u64) -> bool {
        let Some(node) = self.nodes.get_mut(from.index()) else { return false };
        let Ok(i) = node.out.binary_search_by_key(&(to, kind), |e| (e.to, e.kind)) else { return false };
        if node.out[i].timestamp() != timestamp {
            return false;
        }
        let trusted_before = self.capacity(from, to) > 0.0;
        self.nodes[from.index()].out.remove(i);
        self.edges -= 1;
        // Taking out a distrust relation can make the rest trust; taking out a trust, not.
        let trusted_after = self.capacity(from, to) > 0.0;
        if trusted_before != trusted_after {
            let incoming = &mut self.nodes[to.index()].incoming;
            if trusted_after {
                incoming.push(from);
            } else if let Some(p) = incoming.iter().position(|p| *p == from) {
                incoming.remove(p);
            }
        }
        self.recompute_total(from);
        self.version += 1;
        if self.changes.len() == CHANGE_LOG
            && let Some((oldest, _)) = self.changes.pop_front()
        {
            self.changes_from = oldest;
        }
        self.changes.push_back((self.version, from));
        true
    }

    /// Recomputes a node's weight sum from scratch, so incremental and batch builds agree to
    /// the bit.
    fn recompute_total(&mut self, id: PeerId) {
        let (weights, decay, now) = (&self.weights, self.decay.as_ref(), self.now_epoch);
        let node = &mut self.nodes[id.index()];
        node.total = node.out.iter().map(|e| Self::weigh(weights, decay, now, e).abs()).sum();
    }

    /// A peer's outgoing relations (tombstones included), sorted by target then type.
    #[must_use]
    pub fn out_edges(&self, id: PeerId) -> &[Edge] {
        self.nodes.get(id.index()).map_or(&[], |n| n.out.as_slice())
    }

    /// Sum of |walk weight| of a peer's relations.
    #[must_use]
    pub fn total_weight(&self, id: PeerId) -> f64 {
        self.nodes.get(id.index()).map_or(0.0, |n| n.total)
    }

    /// The peers that trust `b` (positive [`capacity`](Self::capacity) towards it).
    #[must_use]
    pub fn incoming(&self, b: PeerId) -> &[PeerId] {
        self.nodes.get(b.index()).map_or(&[], |n| n.incoming.as_slice())
    }

    /// The relations from `a` to `b`, one per type.
    #[must_use]
    pub fn relations_between(&self, a: PeerId, b: PeerId) -> &[Edge] {
        let out = self.out_edges(a);
        let start = out.partition_point(|e| e.to < b);
        let end = start + out[start..].partition_point(|e| e.to == b);
        &out[start..end]
    }

    /// Sum of the walk weights of all relations from `a` to `b`, over every type.
    #[must_use]
    pub fn walk_weight(&self, a: PeerId, b: PeerId) -> f64 {
        self.relations_between(a, b).iter().map(|e| self.weight_of(e)).sum()
    }

    /// The positive walk weight from `a` to `b` (0 when absent or distrust): the capacity
    /// used by max-flow and paths.
    #[must_use]
    pub fn capacity(&self, a: PeerId, b: PeerId) -> f64 {
        self.walk_weight(a, b).max(0.0)
    }

    /// The neighbours `a` trusts (positive total walk weight), each once, with that weight
    /// and its strongest relation (for showing *why*), in peer-id order. Linear in `a`'s
    /// relations.
    pub fn trusted_neighbours(&self, a: PeerId) -> impl Iterator<Item = (PeerId, f64, Edge)> + '_ {
        self.out_edges(a).chunk_by(|x, y| x.to == y.to).filter_map(move |group| {
            let w: f64 = group.iter().map(|e| self.weight_of(e)).sum();
            let best = group.iter().max_by(|x, y| self.weight_of(x).total_cmp(&self.weight_of(y)))?;
            (w > 0.0).then_some((best.to, w, *best))
        })
    }
}
