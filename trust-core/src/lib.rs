//! The IPv8 relation graph, personalised reputation and friendship paths.
//!
//! The seeds want every peer to estimate its trust in any other peer, to see the friendship
//! paths between them, and to accept records only from peers of sufficient reputation. This
//! crate answers those questions from a graph of relations (who uploaded to whom, who is whose
//! friend, who voted for which moderator):
//!
//! - [`Graph`]: directed, typed, weighted relations between dense [`PeerId`]s, updated one
//!   relation at a time, latest timestamp wins; [`Peers`] maps any key (a public key) to ids.
//! - [`MeritRank`]: personalised random walks with transitivity decay, incremental and
//!   reproducible; the reputation function to use. Its cached scores answer "is this peer
//!   trusted enough by this ego?" with one hash lookup.
//! - [`TwoHopFlow`]: BarterCast's bounded max-flow, as a second opinion.
//! - [`ExactPageRank`]: power iteration, the reference the walks are checked against.
//! - [`SampledBetweenness`]: a diagnostic only; a Sybil cluster inflates it (tested).
//! - [`paths`]: shortest and widest friendship paths and edge-disjoint path counts, each with
//!   its edges and relation types, to show *why* a peer is trusted.
//!
//! `#![no_std]` + `alloc`; deterministic for a seed; no clock, no I/O.
#![no_std]
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

mod betweenness;
mod exact;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod graph;
mod maxflow;
pub mod paths;
mod peers;
mod reputation;
pub mod synthetic;
mod walks;

pub use betweenness::SampledBetweenness;
pub use exact::ExactPageRank;
pub use graph::{Applied, CHANGE_LOG, Edge, EdgeUpdate, EpochDecay, Graph, PeerId, RelationType, TypeWeights};
pub use maxflow::TwoHopFlow;
pub use peers::Peers;
pub use reputation::Reputation;
pub use walks::{ConnectivityDecay, MeritRank, WalkConfig};

/// Hash maps of the crate: foldhash with a fixed seed, so nothing depends on a random state.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;

pub(crate) fn fast_map<K, V>() -> FastMap<K, V> {
    FastMap::with_hasher(foldhash::fast::FixedState::with_seed(0))
}

/// Hash sets of the crate, seeded like [`FastMap`].
pub(crate) type FastSet<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;

pub(crate) fn fast_set<K>() -> FastSet<K> {
    FastSet::with_hasher(foldhash::fast::FixedState::with_seed(0))
}
