//! Which records a node stores (`docs/sync.md` §3): signatures that verify, a signer of
//! sufficient reputation, not from the far future, and the latest per slot.

use alloc::collections::{BTreeMap, VecDeque};

use sansio_core::Seed;
use trust_core::{Applied, EdgeUpdate, Graph, MeritRank, PeerId, Peers, TypeWeights, WalkConfig};

use crate::record::{Body, ContentId, PublicKey, Record, VerifiedRecord, VerifyError};
use crate::{FastSet, fast_set};

/// How much a node trusts signers; asked once per incoming record.
pub trait Reputation {
    /// The signer's reputation, compared with [`Policy::threshold`].
    fn reputation(&mut self, signer: &PublicKey) -> f64;
    /// Whether the node trusts this signer directly (always accepted).
    fn trusts_directly(&mut self, _signer: &PublicKey) -> bool {
        false
    }
}

/// A fixed table of scores; signers not in it score 0. For tests and static deployments.
#[derive(Clone, Debug, Default)]
pub struct FixedReputation {
    /// Scores by signer.
    pub scores: BTreeMap<PublicKey, f64>,
}

impl Reputation for FixedReputation {
    fn reputation(&mut self, signer: &PublicKey) -> f64 {
        self.scores.get(signer).copied().unwrap_or(0.0)
    }
}

/// Accepts every signer: for a node that stores whatever verifies (a bootstrap seed).
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl Reputation for AcceptAll {
    fn reputation(&mut self, _signer: &PublicKey) -> f64 {
        f64::INFINITY
    }
}

/// The trust a node computes itself: MeritRank over its relation graph, seen from `ego`.
/// Signers with a relation from the ego are trusted directly.
#[derive(Debug)]
pub struct TrustGraph {
    /// The relation graph (fed from stored Relation records by the caller).
    pub graph: Graph,
    /// Public keys to graph ids.
    pub peers: Peers<PublicKey>,
    /// The reputation function.
    pub rank: MeritRank,
    /// The node itself.
    pub ego: PeerId,
}

impl TrustGraph {
    /// An empty graph around `ego`.
    pub fn new(ego: PublicKey, weights: TypeWeights, walks: WalkConfig, seed: Seed) -> Self {
        let mut peers = Peers::new();
        let ego = peers.intern(ego);
        let mut graph = Graph::new(weights);
        graph.ensure_peer(ego);
        Self { graph, peers, rank: MeritRank::new(walks, seed), ego }
    }

    /// Feeds a Relation record into the graph (its strength as the edge's; 0 removes it).
    /// Returns whether the graph changed; other kinds of record leave it as it is.
    pub fn apply_record(&mut self, record: &Record) -> bool {
        let Body::Relation { subject, kind, strength, .. } = &record.body else { return false };
        let from = self.peers.intern(record.signer);
        let to = self.peers.intern(*subject);
        let update = EdgeUpdate { from, to, kind: *kind, strength: *strength as f32, timestamp: record.timestamp_ms };
        !matches!(self.graph.apply(update), Applied::Ignored)
    }

    /// Takes a Relation record's edge out of the graph again (the record was dropped from the
    /// store), unless a later record of the same relation replaced it. Returns whether the
    /// graph changed.
    pub fn forget_record(&mut self, record: &Record) -> bool {
        let Body::Relation { subject, kind, .. } = &record.body else { return false };
        let (Some(from), Some(to)) = (self.peers.get(&record.signer), self.peers.get(subject)) else { return false };
        self.graph.remove(from, to, *kind, record.timestamp_ms)
    }
}

impl Reputation for TrustGraph {
    fn reputation(&mut self, signer: &PublicKey) -> f64 {
        match self.peers.get(signer) {
            Some(id) => {
                self.rank.refresh(&self.graph);
                self.rank.score(&self.graph, self.ego, id)
            }
            None => 0.0,
        }
    }
    /// Signers the ego relates to with a positive total weight (a relation type that
    /// weighs nothing, or distrust, vouches for nobody).
    fn trusts_directly(&mut self, signer: &PublicKey) -> bool {
        self.peers.get(signer).is_some_and(|id| self.graph.capacity(self.ego, id) > 0.0)
    }
}

/// The acceptance rules' settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The node's own key: its records always pass the reputation gate.
    pub own: PublicKey,
    /// Least reputation a signer needs.
    pub threshold: f64,
    /// How far past the node's clock a timestamp may be (ms).
    pub max_future_ms: u64,
}

/// Why a record was not stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Not canonical, or a signature fails.
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// Timestamp beyond the node's clock plus the allowed skew.
    #[error("timestamp in the future")]
    FarFuture,
    /// The signer's reputation is below the threshold.
    #[error("signer reputation below threshold")]
    LowReputation,
    /// Its slot holds a later record (or an equal timestamp with a greater id).
    #[error("superseded by a later record")]
    Superseded,
    /// Already stored.
    #[error("already stored")]
    Duplicate,
    /// Seen and refused or superseded before.
    #[error("refused before")]
    Known,
    /// The store failed to write it (nothing was written).
    #[error("the store could not write it")]
    Store,
}

/// What accepting a record did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Accepted {
    /// A new slot.
    New,
    /// It replaced this older record of its slot.
    Replaced(ContentId),
}

/// Ids refused or superseded, remembered (up to a bound, oldest forgotten first) so they are
/// neither fetched again nor lost from the reconciled set (`docs/sync.md` §3.3).
#[derive(Debug)]
pub struct SeenIds {
    order: VecDeque<ContentId>,
    set: FastSet<ContentId>,
    capacity: usize,
}

impl SeenIds {
    /// Remembers at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        Self { order: VecDeque::new(), set: fast_set(), capacity }
    }
    /// Remembers `id`.
    pub fn insert(&mut self, id: ContentId) {
        if self.capacity == 0 || !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
    }
    /// Whether `id` is remembered.
    pub fn contains(&self, id: &ContentId) -> bool {
        self.set.contains(id)
    }
    /// Forgets `id` (it is being stored after all).
    pub fn remove(&mut self, id: &ContentId) {
        if self.set.remove(id) {
            self.order.retain(|x| x != id);
        }
    }
    /// Forgets every id `other` remembers, in one pass over this set.
    pub fn remove_all(&mut self, other: &SeenIds) {
        if other.is_empty() {
            return;
        }
        let before = self.set.len();
        self.set.retain(|id| !other.contains(id));
        if self.set.len() != before {
            self.order.retain(|id| !other.contains(id));
        }
    }
    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }
    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// Calls `f` with each.
    pub fn for_each(&self, f: &mut dyn FnMut(&ContentId)) {
        self.order.iter().for_each(f);
    }
}

/// Whether the gate shuts `signer` out at `level`: not the node itself, not trusted directly,
/// and scoring below `level` (the threshold to get in, a share of it to stay).
pub(crate) fn excluded<R: Reputation + ?Sized>(
    policy: &Policy,
    reputation: &mut R,
    signer: &PublicKey,
    level: f64,
) -> bool {
    *signer != policy.own && !reputation.trusts_directly(signer) && reputation.reputation(signer) < level
}

/// Decides whether `record` enters `store`, and how (the rules of `docs/sync.md` §3.1).
pub fn decide<S: crate::Store + ?Sized, R: Reputation + ?Sized>(
    policy: &Policy,
    reputation: &mut R,
    store: &S,
    record: &VerifiedRecord,
    now_ms: u64,
) -> Result<Accepted, Rejection> {
    let id = record.id();
    if store.contains(&id) {
        return Err(Rejection::Duplicate);
    }
    let r = record.record();
    if r.timestamp_ms > now_ms.saturating_add(policy.max_future_ms) {
        return Err(Rejection::FarFuture);
    }
    // Reputations are never negative: with a threshold of 0 nobody is asked (a MeritRank
    // refresh per record would be wasted).
    if policy.threshold > 0.0 && excluded(policy, reputation, &r.signer, policy.threshold) {
        return Err(Rejection::LowReputation);
    }
    match store.current(&r.slot()) {
        None => Ok(Accepted::New),
        Some((ts, old)) if (r.timestamp_ms, id) > (ts, old) => Ok(Accepted::Replaced(old)),
        Some(_) => Err(Rejection::Superseded),
    }
}
