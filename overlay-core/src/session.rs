//! Identified P2TP streams (`docs/overlay.md` §4): which peer key is at the other end of a
//! stream, proved by a signed hello exchange, and the application datagrams on it.
//!
//! A P2TP stream is bound to an address whose owner proved it can receive there (the cookie
//! handshake); a hello binds it to a key. Each side sends, once the stream is open,
//!
//! ```text
//! 0x01 | flags (bit 0: "I have verified you") | key bin (74) | my nonce (8) | your nonce (8)
//!      | Ed25519 signature (64) over "ipv8-rs hello 1" ‖ the 92 bytes before it
//! ```
//!
//! A side has verified its peer once it holds a valid hello from it that echoes its own
//! nonce: fresh (not replayed from another stream), and signed by the key. Every valid hello
//! without the "verified you" flag is answered with one's own (at most every 100 ms), and an
//! unverified side repeats its hello every 500 ms, 20 times at most; so both sides converge
//! whatever hellos are lost. Application datagrams are `0x02 ‖ bytes`; a side sends them only
//! once it has verified its peer, and keeps (a bounded number of) those that arrive before it
//! has, until it has.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::Identity;

use crate::identity::{KEY_BIN_LEN, Mid, PeerKey};

/// First byte of a hello.
pub(crate) const HELLO: u8 = 0x01;
/// First byte of an application datagram.
pub(crate) const DATA: u8 = 0x02;
/// A hello's length.
pub(crate) const HELLO_LEN: usize = 2 + KEY_BIN_LEN + 8 + 8 + 64;
const SIGNED_LEN: usize = HELLO_LEN - 64;
const DOMAIN: &[u8] = b"ipv8-rs hello 1";
const VERIFIED_YOU: u8 = 0x01;

/// An unverified side repeats its hello this often...
pub(crate) const HELLO_INTERVAL: Duration = Duration::from_millis(500);
/// ...this many times at most, then gives the stream up.
pub(crate) const HELLO_TRIES: u32 = 20;
/// A hello is answered at most this often.
const HELLO_ANSWER_GAP: Duration = Duration::from_millis(100);
/// Datagrams held per stream, each way, until the peer is verified.
pub(crate) const HELD: usize = 64;

/// A hello as received and verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub key: PeerKey,
    pub verified_you: bool,
    pub mine: u64,
    pub yours: u64,
}

impl Hello {
    pub(crate) fn encode(&self, identity: &Identity) -> Vec<u8> {
        let mut out = Vec::with_capacity(HELLO_LEN);
        out.push(HELLO);
        out.push(if self.verified_you { VERIFIED_YOU } else { 0 });
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.mine.to_be_bytes());
        out.extend_from_slice(&self.yours.to_be_bytes());
        let mut signed = Vec::with_capacity(DOMAIN.len() + SIGNED_LEN);
        signed.extend_from_slice(DOMAIN);
        signed.extend_from_slice(&out);
        out.extend_from_slice(&identity.sign_message(&signed));
        out
    }

    /// A hello whose layout and signature are valid; `None` otherwise.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != HELLO_LEN || bytes[0] != HELLO || bytes[1] & !VERIFIED_YOU != 0 {
            return None;
        }
        let key = PeerKey::from_bytes(&bytes[2..2 + KEY_BIN_LEN])?;
        let at = 2 + KEY_BIN_LEN;
        let mine = u64::from_be_bytes(bytes[at..at + 8].try_into().ok()?);
        let yours = u64::from_be_bytes(bytes[at + 8..at + 16].try_into().ok()?);
        let signature: [u8; 64] = bytes[SIGNED_LEN..].try_into().ok()?;
        let mut signed = Vec::with_capacity(DOMAIN.len() + SIGNED_LEN);
        signed.extend_from_slice(DOMAIN);
        signed.extend_from_slice(&bytes[..SIGNED_LEN]);
        key.verifies(&signed, &signature).then_some(Self {
            key,
            verified_you: bytes[1] & VERIFIED_YOU != 0,
            mine,
            yours,
        })
    }
}

/// One P2TP stream as the overlay sees it.
#[derive(Debug)]
pub(crate) struct Session {
    /// The peer the application asked for (`Node::send`), if it asked.
    pub expect: Option<Mid>,
    /// The key that signed the peer's hellos (the first valid one fixes it).
    pub key: Option<PeerKey>,
    /// This side's nonce for this stream (never 0).
    pub mine: u64,
    /// The peer's nonce, once heard (0 before).
    pub yours: u64,
    /// Whether this side has verified the peer.
    pub verified: bool,
    /// Whether the P2TP stream is established.
    pub opened: bool,
    /// Application datagrams (tag included) waiting for verification.
    pub outbox: VecDeque<Vec<u8>>,
    /// Datagrams received before verification (tag stripped).
    pub inbox: VecDeque<Vec<u8>>,
    /// When the next hello is due while unverified, and how many were sent.
    pub next_hello: Option<Instant>,
    pub hellos: u32,
    /// When this side last sent a hello.
    pub last_hello: Option<Instant>,
}

impl Session {
    pub(crate) fn new(expect: Option<Mid>, mine: u64) -> Self {
        Self {
            expect,
            key: None,
            mine: mine.max(1),
            yours: 0,
            verified: false,
            opened: false,
            outbox: VecDeque::new(),
            inbox: VecDeque::new(),
            next_hello: None,
            hellos: 0,
            last_hello: None,
        }
    }

    /// Whether a hello may be sent as an answer now.
    pub(crate) fn may_answer(&self, now: Instant) -> bool {
        self.last_hello.is_none_or(|t| now.saturating_duration_since(t) >= HELLO_ANSWER_GAP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(n: u8) -> (Identity, PeerKey) {
        let id = Identity::from_seed([n; 32]).unwrap();
        let key = PeerKey::from_ed25519(&id.public()).unwrap();
        (id, key)
    }

    #[test]
    fn a_hello_round_trips_and_any_changed_byte_fails() {
        let (id, key) = identity(3);
        let hello = Hello { key, verified_you: true, mine: 7, yours: 9 };
        let bytes = hello.encode(&id);
        assert_eq!(bytes.len(), HELLO_LEN);
        assert_eq!(Hello::decode(&bytes), Some(hello));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert_eq!(Hello::decode(&b), None, "byte {i} changed");
        }
        assert_eq!(Hello::decode(&bytes[..HELLO_LEN - 1]), None);
    }

    #[test]
    fn a_hello_signed_by_another_key_fails() {
        let (_, key) = identity(3);
        let (other, _) = identity(4);
        let bytes = Hello { key, verified_you: false, mine: 1, yours: 0 }.encode(&other);
        assert_eq!(Hello::decode(&bytes), None);
    }
}
