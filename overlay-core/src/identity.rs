//! A peer's identity as py-ipv8 writes it (reference pyipv8.md §4).
//!
//! One Ed25519 key is the identity. py-ipv8 carries it as a 74-byte "key bin":
//! `LibNaCLPK:` ‖ an X25519 key (32) ‖ the Ed25519 verify key (32). Its X25519 half is only
//! used by py-ipv8's tunnels, never checked by discovery; ours is the Montgomery form of the
//! Ed25519 key, so one secret serves both. A peer's member id (mid) is the SHA-1 of the 74
//! bytes. Keys received from py-ipv8 peers keep their own (random) X25519 half: the 74 bytes
//! are kept as they came and never recomputed.

use core::fmt;

use sha1::{Digest, Sha1};
use sync_core::PublicKey;

/// Length of a key bin.
pub const KEY_BIN_LEN: usize = 74;
const TAG: &[u8; 10] = b"LibNaCLPK:";

/// A peer's public key in py-ipv8's 74-byte form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey([u8; KEY_BIN_LEN]);

/// A member id: SHA-1 of a [`PeerKey`]'s 74 bytes (py-ipv8's `mid`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mid(pub [u8; 20]);

impl PeerKey {
    /// The key bin of an Ed25519 public key, with the Montgomery form as its X25519 half.
    /// `None` for bytes that are no Ed25519 point.
    pub fn from_ed25519(key: &PublicKey) -> Option<Self> {
        let ed = ed25519_compact::PublicKey::new(key.0);
        let x = ed25519_compact::x25519::PublicKey::from_ed25519(&ed).ok()?;
        let mut bin = [0u8; KEY_BIN_LEN];
        bin[..10].copy_from_slice(TAG);
        bin[10..42].copy_from_slice(&x[..]);
        bin[42..].copy_from_slice(&key.0);
        Some(Self(bin))
    }

    /// A key bin as received: exactly 74 bytes starting with `LibNaCLPK:`. (py-ipv8 accepts
    /// longer ones and re-serialises them; a peer of ours sends and accepts exactly 74.)
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bin: [u8; KEY_BIN_LEN] = bytes.try_into().ok()?;
        (bin[..10] == TAG[..]).then_some(Self(bin))
    }

    /// The 74 bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_BIN_LEN] {
        &self.0
    }

    /// The Ed25519 verify key: the peer's identity (the seeds' PermID).
    pub fn ed25519(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.0[42..]);
        PublicKey(k)
    }

    /// The member id.
    pub fn mid(&self) -> Mid {
        Mid(Sha1::digest(self.0).into())
    }

    /// Whether `signature` is this key's plain Ed25519 (RFC 8032) signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let pk = ed25519_compact::PublicKey::new(self.ed25519().0);
        pk.verify(message, &ed25519_compact::Signature::new(*signature)).is_ok()
    }
}

impl fmt::Debug for PeerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerKey({})", self.mid())
    }
}

impl fmt::Display for Mid {
    /// The short printable form for people: the first 8 bytes in hex (py-ipv8 logs mids in
    /// hex too).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0[..8].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::Identity;

    #[test]
    fn our_key_bin_carries_the_montgomery_form_and_round_trips() {
        let id = Identity::from_seed([4; 32]).unwrap();
        let key = PeerKey::from_ed25519(&id.public()).unwrap();
        assert_eq!(&key.as_bytes()[..10], b"LibNaCLPK:");
        assert_eq!(key.ed25519(), id.public());
        assert_eq!(PeerKey::from_bytes(key.as_bytes()), Some(key));
        assert_eq!(key.mid(), PeerKey::from_bytes(key.as_bytes()).unwrap().mid());
        let sig = id.sign_message(b"hello");
        assert!(key.verifies(b"hello", &sig));
        assert!(!key.verifies(b"hellO", &sig));
    }

    #[test]
    fn a_key_bin_of_another_length_or_tag_is_refused() {
        let id = Identity::from_seed([4; 32]).unwrap();
        let key = PeerKey::from_ed25519(&id.public()).unwrap();
        assert!(PeerKey::from_bytes(&key.as_bytes()[..73]).is_none());
        let mut other = *key.as_bytes();
        other[0] = b'X';
        assert!(PeerKey::from_bytes(&other).is_none());
    }
}
