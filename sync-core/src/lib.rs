//! Sans-IO record synchronisation for IPv8 (`docs/sync.md` is the specification).
//!
//! Two peers meet in an untrusted network and exchange only the records the other lacks, and
//! only records signed by peers of sufficient reputation:
//!
//! - [`Record`], [`VerifiedRecord`], [`Identity`]: Peer, Binding and Relation records with one
//!   canonical encoding each, ed25519 signatures and a SHA-256 content id;
//! - [`accept`]: the [`Reputation`] gate and latest-timestamp-wins per [`Slot`];
//! - [`Store`] and [`MemStore`] (a SQLite store lives in `drivers`);
//! - [`recon`]: invertible Bloom lookup tables of salted 64-bit short ids, sized by a 576-byte
//!   difference estimator, with Rice-coded wants;
//! - [`SyncNode`]: the [`Machine`](sansio_core::Machine) that runs rounds and answers them.
//!
//! `#![no_std]` + `alloc`; no clock, no sockets, no randomness but what the caller seeds.
#![no_std]
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

pub mod accept;
mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod node;
mod reader;
pub mod recon;
mod record;
mod store;
#[cfg(feature = "synthetic")]
pub mod synthetic;
mod verifier;
pub mod wire;

pub use accept::{AcceptAll, Accepted, FixedReputation, Policy, Rejection, Reputation, SeenIds, TrustGraph};
pub use event::{Event, RoundEnd, RoundReport};
pub use node::{Config, KEEP_FRACTION, NodeStats, StartError, SyncNode};
pub use record::{
    Body, ContentId, DecodeError, Identity, Kind, MAX_METADATA_LEN, MAX_RECORD_LEN, PublicKey, Record, RelationType,
    SIGNATURE_LEN, SignatureError, Slot, VERSION, VerifiedRecord, VerifyError, ZeroSeed,
};
pub use store::{MemStore, Store};
pub use verifier::{SignatureMemo, Verifier};

/// Hash maps of the crate: foldhash with a fixed seed, so nothing depends on a random state.
pub(crate) type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::FixedState>;
/// Hash sets of the crate, seeded like [`FastMap`].
pub(crate) type FastSet<K> = hashbrown::HashSet<K, foldhash::fast::FixedState>;

pub(crate) fn fast_set<K>() -> FastSet<K> {
    FastSet::with_hasher(foldhash::fast::FixedState::with_seed(0))
}
