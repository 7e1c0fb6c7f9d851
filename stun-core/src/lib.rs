//! Sans-IO STUN for IPv8: every peer learns its public address, what kind of NAT it is
//! behind, and how long that NAT keeps an idle UDP binding.
//!
//! - [`Message`] / [`MessageWriter`]: a zero-copy codec for RFC 8489 and RFC 3489 messages
//!   (MESSAGE-INTEGRITY, FINGERPRINT, the RFC 5780 and RFC 3489 attributes), checked against
//!   the RFC 5769 vectors.
//! - [`Transactions`]: requests, retransmission (RFC 8489: RTO 500 ms doubling, Rc = 7,
//!   Rm = 16) and pacing, matched by transaction id and source.
//! - [`NatCheck`]: a [`Machine`](sansio_core::Machine) that classifies the NAT (RFC 3489
//!   types, RFC 5780 mapping and filtering), reports the public address, and optionally
//!   measures the binding lifetime and recommends a keep-alive interval.
//! - [`Server`]: a STUN server machine on up to four sockets (two IPs × two ports) that
//!   honours CHANGE-REQUEST, RESPONSE-PORT and RESPONSE-ADDRESS, with rate limits and no
//!   amplification beyond a stated factor.
//!
//! `#![no_std]` + `alloc`; no clock, no sockets, no randomness but what the caller seeds.
#![no_std]
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

pub mod attribute;
mod behaviour;
mod discovery;
pub mod error_code;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod integrity;
mod message;
mod server;
mod transaction;
mod writer;

pub use attribute::{Attribute, AttributeError};
pub use behaviour::{Filtering, Mapping};
pub use discovery::{
    BindingLifetime, CheckFailure, LifetimeConfig, NatCheck, NatCheckConfig, NatEvent, NatReport, NatType, Procedure,
};
pub use integrity::IntegrityError;
pub use message::{
    Attributes, BINDING, Class, HEADER_LEN, MAGIC_COOKIE, MAX_UNKNOWN, Message, MessageType, ParseError, TransactionId,
    UnknownRequired,
};
pub use server::{Server, ServerConfig, ServerConfigError, ServerStats};
pub use transaction::{Finished, Outcome, Request, TransactionConfig, Transactions};
pub use writer::{MessageWriter, WriteError};
