//! Identified P2TP streams (`docs/overlay.md` §4): which peer key is at the other end of a
//! stream, proved by a signed hello exchange, and the authenticated application datagrams
//! on it.
//!
//! A P2TP stream is bound to an address whose owner proved it can receive there (the cookie
//! handshake); a hello binds it to a key and agrees on keys for the stream. Each side sends,
//! once the stream is open,
//!
//! ```text
//! 0x01 | flags (bit 0: "I have verified you") | key bin (74) | my nonce (8) | your nonce (8)
//!      | your member id (20; zeros until known) | my ephemeral X25519 key (32)
//!      | Ed25519 signature (64) over "ipv8-rs hello 2" ‖ the 144 bytes before it
//! ```
//!
//! A side has verified its peer once it holds a valid hello from it that echoes its own
//! nonce *and names its own member id*: fresh, signed by the key, and made for this side (a
//! hello the peer made for someone else, relayed here, names that someone). Both sides then
//! derive one MAC key per direction from the X25519 exchange of their ephemeral keys and the
//! two nonces; application datagrams are
//!
//! ```text
//! 0x02 | counter (8, per direction, from 0) | bytes | HMAC-SHA-256 (first 16 bytes) over counter ‖ bytes
//! ```
//!
//! and a receiver drops frames whose MAC fails or whose counter it has seen (a 64-frame
//! window). A side sends them only once it has verified its peer, and keeps (a bounded
//! number of) those that arrive before it has, checking them when it has.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use ed25519_compact::x25519;
use hmac::{Hmac, Mac};
use sansio_core::Instant;
use sha2::{Digest, Sha256};
use sync_core::{Identity, Verifier};

use crate::identity::{KEY_BIN_LEN, Mid, PeerKey};

/// First byte of a hello.
pub(crate) const HELLO: u8 = 0x01;
/// First byte of an application datagram.
pub(crate) const DATA: u8 = 0x02;
/// A hello's length.
pub(crate) const HELLO_LEN: usize = 2 + KEY_BIN_LEN + 8 + 8 + 20 + 32 + 64;
const SIGNED_LEN: usize = HELLO_LEN - 64;
const DOMAIN: &[u8] = b"ipv8-rs hello 2";
const KEY_LABEL: &[u8] = b"ipv8-rs stream keys 1";
const VERIFIED_YOU: u8 = 0x01;
const TAG_LEN: usize = 16;
/// Bytes a data frame adds to the application's: type, counter, MAC.
pub(crate) const FRAME_OVERHEAD: usize = 1 + 8 + TAG_LEN;

/// An unverified side repeats its hello this often...
pub(crate) const HELLO_INTERVAL: Duration = Duration::from_millis(500);
/// ...this many times at most, then gives the stream up.
pub(crate) const HELLO_TRIES: u32 = 20;
/// A hello that tells nothing new is answered at most this often.
const HELLO_ANSWER_GAP: Duration = Duration::from_millis(100);
/// Datagrams held per stream, each way, until the peer is verified.
pub(crate) const HELD: usize = 64;
/// Datagrams held in all streams together.
pub(crate) const HELD_TOTAL: usize = 4096;

/// A hello, as sent or as received and verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub key: PeerKey,
    pub verified_you: bool,
    pub mine: u64,
    pub yours: u64,
    /// The member id of the key this hello is for (zeros: not known yet).
    pub recipient: Mid,
    pub ephemeral: [u8; 32],
}

impl Hello {
    pub(crate) fn encode(&self, identity: &Identity) -> Vec<u8> {
        let mut out = Vec::with_capacity(HELLO_LEN);
        out.push(HELLO);
        out.push(if self.verified_you { VERIFIED_YOU } else { 0 });
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(&self.mine.to_be_bytes());
        out.extend_from_slice(&self.yours.to_be_bytes());
        out.extend_from_slice(&self.recipient.0);
        out.extend_from_slice(&self.ephemeral);
        let mut signed = Vec::with_capacity(DOMAIN.len() + SIGNED_LEN);
        signed.extend_from_slice(DOMAIN);
        signed.extend_from_slice(&out);
        out.extend_from_slice(&identity.sign_message(&signed));
        out
    }

    /// A hello whose layout and signature (checked by `verifier`) are valid; `None` otherwise.
    pub(crate) fn decode(bytes: &[u8], verifier: &Verifier) -> Option<Self> {
        if bytes.len() != HELLO_LEN || bytes[0] != HELLO || bytes[1] & !VERIFIED_YOU != 0 {
            return None;
        }
        let key = PeerKey::from_bytes(&bytes[2..2 + KEY_BIN_LEN])?;
        let mut at = 2 + KEY_BIN_LEN;
        let mut take = |n: usize| {
            let field = &bytes[at..at + n];
            at += n;
            field
        };
        let mine = u64::from_be_bytes(take(8).try_into().ok()?);
        let yours = u64::from_be_bytes(take(8).try_into().ok()?);
        let recipient = Mid(take(20).try_into().ok()?);
        let ephemeral: [u8; 32] = take(32).try_into().ok()?;
        let signature: [u8; 64] = bytes[SIGNED_LEN..].try_into().ok()?;
        let mut signed = Vec::with_capacity(DOMAIN.len() + SIGNED_LEN);
        signed.extend_from_slice(DOMAIN);
        signed.extend_from_slice(&bytes[..SIGNED_LEN]);
        verifier.verify(&key.ed25519(), &signed, &signature).then_some(Self {
            key,
            verified_you: bytes[1] & VERIFIED_YOU != 0,
            mine,
            yours,
            recipient,
            ephemeral,
        })
    }
}

/// The MAC keys of a verified stream, one per direction.
#[derive(Clone, Debug)]
pub(crate) struct StreamKeys {
    send: [u8; 32],
    recv: [u8; 32],
}

fn derive(dh: &[u8], first: u64, second: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(KEY_LABEL);
    h.update(dh);
    h.update(first.to_be_bytes());
    h.update(second.to_be_bytes());
    h.finalize().into()
}

type HmacSha256 = Hmac<Sha256>;

impl StreamKeys {
    /// The keys from this side's ephemeral secret, the peer's ephemeral public key and the
    /// two nonces; `None` if the peer's key is a low-order point (the exchange would be void).
    pub(crate) fn derive(secret: &[u8; 32], peer: &[u8; 32], mine: u64, yours: u64) -> Option<Self> {
        let dh = x25519::PublicKey::new(*peer).dh(&x25519::SecretKey::new(*secret)).ok()?;
        Some(Self { send: derive(&dh[..], mine, yours), recv: derive(&dh[..], yours, mine) })
    }

    fn mac(key: &[u8; 32], counter: u64, payload: &[u8]) -> HmacSha256 {
        let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
            unreachable!("HMAC takes a key of any length")
        };
        mac.update(&counter.to_be_bytes());
        mac.update(payload);
        mac
    }

    /// A data frame carrying `payload` as number `counter` of this direction.
    pub(crate) fn seal(&self, counter: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload.len() + FRAME_OVERHEAD);
        out.push(DATA);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(payload);
        let tag = Self::mac(&self.send, counter, payload).finalize().into_bytes();
        out.extend_from_slice(&tag[..TAG_LEN]);
        out
    }

    /// The counter and payload of a frame whose MAC verifies (in constant time).
    pub(crate) fn open<'a>(&self, frame: &'a [u8]) -> Option<(u64, &'a [u8])> {
        if frame.len() < FRAME_OVERHEAD || frame[0] != DATA {
            return None;
        }
        let counter = u64::from_be_bytes(frame[1..9].try_into().ok()?);
        let (payload, tag) = frame[9..].split_at(frame.len() - 9 - TAG_LEN);
        Self::mac(&self.recv, counter, payload).verify_truncated_left(tag).ok()?;
        Some((counter, payload))
    }
}

/// Which frame counters were seen: the highest, and a window of 64 below it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplayWindow {
    next: u64,
    seen: u64,
}

impl ReplayWindow {
    /// Whether `counter` is new (and marks it seen).
    pub(crate) fn accept(&mut self, counter: u64) -> bool {
        // The last counter would leave no next one: refused (no honest sender gets there).
        if counter == u64::MAX {
            return false;
        }
        if counter >= self.next {
            let shift = counter - self.next + 1;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.next = counter + 1;
            return true;
        }
        let age = self.next - 1 - counter;
        if age >= 64 || self.seen & (1 << age) != 0 {
            return false;
        }
        self.seen |= 1 << age;
        true
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
    /// This side's ephemeral X25519 key pair for this stream.
    pub secret: [u8; 32],
    pub public: [u8; 32],
    /// The peer's ephemeral key (its first valid hello fixes it).
    pub peer_ephemeral: Option<[u8; 32]>,
    /// Whether this side has verified the peer, and the stream's keys once it has.
    pub verified: bool,
    pub keys: Option<StreamKeys>,
    /// The next counter this side sends, and the counters it has received.
    pub sent: u64,
    pub window: ReplayWindow,
    /// Whether the P2TP stream is established.
    pub opened: bool,
    /// When the P2TP stream is to be opened (`None`: it is, or the peer opened it), and how
    /// many openers were sent for it.
    pub connect_at: Option<Instant>,
    pub opens: u32,
    /// Application payloads waiting for verification.
    pub outbox: VecDeque<Vec<u8>>,
    /// Frames received before verification, checked once the peer is verified.
    pub inbox: VecDeque<Vec<u8>>,
    /// When the next hello is due while unverified, and how many were sent.
    pub next_hello: Option<Instant>,
    pub hellos: u32,
    /// When this side last sent a hello.
    pub last_hello: Option<Instant>,
    /// What the last immediate answer answered: (the nonce the peer echoed, whether it named us).
    pub answered: Option<(u64, bool)>,
    /// The last hello received that verified, to skip verifying the same bytes again.
    pub last_in: Option<(Vec<u8>, Hello)>,
    /// The encoded hello last sent, and what it said (verified, yours, recipient).
    pub cached: Option<((bool, u64, Mid), Vec<u8>)>,
    /// When this side last asked introducers for this stream's peer.
    pub asked_at: Option<Instant>,
    /// When this side started opening the stream (`None`: the peer opened it).
    pub since: Option<Instant>,
    /// How many times the peer started over on this stream.
    pub restarts: u32,
    /// When the P2TP stream was established, and in which order among the node's streams.
    pub opened_at: Option<Instant>,
    pub opened_seq: u64,
}

impl Session {
    /// A session with nonce `mine` and the ephemeral key from `secret` (both drawn by the
    /// node from its seeded generator).
    pub(crate) fn new(expect: Option<Mid>, mine: u64, secret: [u8; 32]) -> Self {
        let public = x25519::SecretKey::new(secret).recover_public_key().map_or([0; 32], |p| *p);
        Self {
            expect,
            key: None,
            mine: mine.max(1),
            yours: 0,
            secret,
            public,
            peer_ephemeral: None,
            verified: false,
            keys: None,
            sent: 0,
            window: ReplayWindow::default(),
            opened: false,
            connect_at: None,
            opens: 0,
            outbox: VecDeque::new(),
            inbox: VecDeque::new(),
            next_hello: None,
            hellos: 0,
            last_hello: None,
            answered: None,
            last_in: None,
            cached: None,
            asked_at: None,
            since: None,
            restarts: 0,
            opened_at: None,
            opened_seq: 0,
        }
    }

    /// The peer started over on this stream (it lost its session, or its address passed to
    /// another node): everything learnt from it is forgotten, with a new nonce and ephemeral
    /// key; what waits to be sent stays.
    pub(crate) fn restart(&mut self, mine: u64, secret: [u8; 32]) {
        let fresh = Session::new(self.expect, mine, secret);
        let outbox = core::mem::take(&mut self.outbox);
        let (opened, since, opened_at, opened_seq) = (self.opened, self.since, self.opened_at, self.opened_seq);
        *self = Session { outbox, opened, since, opened_at, opened_seq, ..fresh };
    }

    /// Whether a hello may be sent as an answer now.
    pub(crate) fn may_answer(&self, now: Instant) -> bool {
        self.last_hello.is_none_or(|t| now.saturating_duration_since(t) >= HELLO_ANSWER_GAP)
    }

    /// Datagrams this session holds for verification, both ways.
    pub(crate) fn held(&self) -> usize {
        self.outbox.len() + self.inbox.len()
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

    fn hello(key: PeerKey) -> Hello {
        Hello { key, verified_you: true, mine: 7, yours: 9, recipient: Mid([4; 20]), ephemeral: [5; 32] }
    }

    #[test]
    fn a_hello_round_trips_and_any_changed_byte_fails() {
        let (id, key) = identity(3);
        let bytes = hello(key).encode(&id);
        assert_eq!(bytes.len(), HELLO_LEN);
        assert_eq!(Hello::decode(&bytes, &Verifier::default()), Some(hello(key)));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert_eq!(Hello::decode(&b, &Verifier::default()), None, "byte {i} changed");
        }
        assert_eq!(Hello::decode(&bytes[..HELLO_LEN - 1], &Verifier::default()), None);
    }

    #[test]
    fn a_hello_signed_by_another_key_fails() {
        let (_, key) = identity(3);
        let (other, _) = identity(4);
        assert_eq!(Hello::decode(&hello(key).encode(&other), &Verifier::default()), None);
    }

    #[test]
    fn both_sides_derive_mirrored_keys_and_frames_open_only_on_the_other_side() {
        let (sa, sb) = ([1u8; 32], [2u8; 32]);
        let pa = *x25519::SecretKey::new(sa).recover_public_key().unwrap();
        let pb = *x25519::SecretKey::new(sb).recover_public_key().unwrap();
        let a = StreamKeys::derive(&sa, &pb, 10, 20).unwrap();
        let b = StreamKeys::derive(&sb, &pa, 20, 10).unwrap();
        let frame = a.seal(3, b"hi");
        assert_eq!(frame.len(), 2 + FRAME_OVERHEAD);
        assert_eq!(b.open(&frame), Some((3, &b"hi"[..])));
        assert_eq!(a.open(&frame), None, "a frame does not open in the direction it was sent");
        for i in 1..frame.len() {
            let mut f = frame.clone();
            f[i] ^= 1;
            assert_eq!(b.open(&f), None, "byte {i} changed");
        }
        // Other nonces, other keys.
        let c = StreamKeys::derive(&sb, &pa, 21, 10).unwrap();
        assert_eq!(c.open(&frame), None);
        // A low-order peer key gives no keys at all.
        assert!(StreamKeys::derive(&sa, &[0; 32], 1, 2).is_none());
    }

    #[test]
    fn the_replay_window_takes_each_counter_once_and_nothing_older_than_64() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(0) && !w.accept(0));
        assert!(w.accept(5) && w.accept(3) && !w.accept(3) && !w.accept(5));
        assert!(w.accept(100));
        assert!(!w.accept(36), "64 behind the newest");
        assert!(w.accept(37) && !w.accept(37));
        assert!(w.accept(1000) && !w.accept(100));
        // The largest counter cannot overflow the window; it is refused, and the window
        // still works.
        assert!(!w.accept(u64::MAX));
        assert!(w.accept(u64::MAX - 1) && !w.accept(u64::MAX - 1));
        let mut fresh = ReplayWindow::default();
        assert!(!fresh.accept(u64::MAX) && fresh.accept(0));
    }
}
