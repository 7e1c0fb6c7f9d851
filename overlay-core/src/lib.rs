//! Sans-IO IPv8 overlay: where a peer is a public key, not an IP address.
//!
//! This first part holds what every later part speaks (`docs/overlay.md`):
//!
//! - [`PeerKey`] and [`Mid`]: a peer's identity in py-ipv8's form, the 74-byte
//!   `LibNaCLPK:` key built from one Ed25519 key, and its SHA-1 member id;
//! - [`wire`]: the discovery messages (introduction request and response, puncture request
//!   and puncture, in py-ipv8's old IPv4-only and new styles), byte for byte as py-ipv8 3.2
//!   sends them, signed and verified with plain Ed25519;
//! - [`Node`]: the [`Machine`](sansio_core::Machine) for one socket; so far the discovery walk
//!   (introductions and punctures, py-ipv8's semantics), a bounded peer table with liveness,
//!   and the public address by vote of distinct peers.
//!
//! `#![no_std]` + `alloc`; no clock, no sockets.
#![no_std]
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod identity;
mod node;
mod peers;
mod ports;
mod session;
mod wan;
pub mod wire;

pub use identity::{KEY_BIN_LEN, Mid, PYIPV8_SECRET_LEN, PeerKey, PyKeyError, pyipv8_secret, seed_from_pyipv8_secret};
pub use node::{
    Config, Delivery, Event, MAX_KEEPALIVE, MIN_KEEPALIVE, NatProbe, Node, NodeStats, PathHop, PathKind, RecordError,
    SYNC_MESSAGE, SendError, SendFailure,
};
pub use peers::Peer;
pub use sync_core::{SignatureMemo, Verifier};
