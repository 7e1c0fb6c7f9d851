//! py-ipv8's discovery messages, byte for byte (reference pyipv8.md §3, §5).
//!
//! Every message starts with a 22-byte prefix: `00`, version `02`, a 20-byte community id;
//! then a message id. Signed messages follow with the sender's key bin (length-prefixed), a
//! global time (u64) and the payload, and end with a plain Ed25519 signature over everything
//! before it. The two puncture requests are unsigned: a global time and the payload. All
//! integers are big-endian.
//!
//! Two styles exist: the old one (ids 246, 245, 250, 249) writes IPv4 addresses only, as 6
//! bytes; the new one (234, 233, 232, 231) writes a type byte first (`01` IPv4, `03` IPv6).
//! py-ipv8 3.2 speaks both; so do we.

mod address;
mod message;

pub use address::Style;
pub use message::{
    ASKED_PUNCTURE_REQUEST, AskedPunctureRequest, Community, DecodeError, EncodeError, INTRODUCE_ME, INTRODUCED,
    IntroduceMe, Introduced, IntroductionRequest, IntroductionResponse, Message, NextPort, Payload, PortWindow,
    Puncture, PunctureRequest, RELAY, Relay, Signer, decode, decode_with, encode, request_flags, response_flags,
};

/// Bytes before the message id: `00`, version, community id.
pub const PREFIX_LEN: usize = 22;
/// The prefix's version byte (py-ipv8's `Community.version`).
pub const VERSION: u8 = 2;
