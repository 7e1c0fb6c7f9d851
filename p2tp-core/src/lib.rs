//! Sans-IO P2TP: the rate-controlled UDP transport of the 2008 IPv8 design, made concrete.
//!
//! An 8-byte header after UDP (two flags and a 30-bit sequence number or cookie; two flags and
//! a 30-bit timestamp or echo), a handshake in which either or both peers may open and the
//! responder keeps no state until its cookie comes back, loss signalled with two level flags
//! (LSS, CLR) instead of per-packet acknowledgements, and rate-based CUBIC on a virtual window
//! whose figures the application can read at any time. `docs/p2tp.md` is the normative
//! specification; items here cite its sections.
//!
//! - [`Endpoint`]: the [`Machine`](sansio_core::Machine) for one socket and many peers;
//! - [`Header`], [`classify`]: the codec and the shared-socket demultiplexer;
//! - [`congestion`]: the [`Controller`](congestion::Controller) trait, CUBIC and a fixed rate.
//!
//! `#![no_std]` + `alloc`; no clock, no sockets, no randomness but what the caller seeds.
#![no_std]
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

mod arena;
mod bulk;
mod config;
pub mod congestion;
mod cookie;
mod demux;
mod endpoint;
mod event;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod header;
mod recv;
mod rtt;
pub mod serial;
mod stats;
mod stream;

pub use arena::RECV_CHUNK;
pub use bulk::BulkSender;
pub use config::{Config, DEFAULT_PAYLOAD_BUDGET};
pub use cookie::{COOKIE_TICK, KEY_ROTATION};
pub use demux::{Protocol, classify};
pub use endpoint::Endpoint;
pub use event::{CloseReason, ConnectError, Event, OpenFailure, SendError};
pub use header::{HEADER_LEN, Header, STUN_MAGIC};
pub use recv::RecvStats;
pub use rtt::RttEstimator;
pub use stats::{EndpointStats, PathStats};
