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
use sync_core::{PublicKey, Verifier};

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
        Verifier::default().verify(&self.ed25519(), message, signature)
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

/// Length of py-ipv8's private key file (`LibNaCLSK:` ‖ X25519 secret ‖ Ed25519 seed).
pub const PYIPV8_SECRET_LEN: usize = 74;
const SECRET_TAG: &[u8; 10] = b"LibNaCLSK:";

/// Why a py-ipv8 private key cannot be taken as an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PyKeyError {
    /// Not 74 bytes starting with `LibNaCLSK:`.
    #[error("not a py-ipv8 private key (74 bytes starting with \"LibNaCLSK:\")")]
    Format,
    /// Its X25519 half is not the one derived from its Ed25519 key (stock py-ipv8 keys draw
    /// it at random): this program derives it, so the peer's member id would change.
    #[error(
        "its X25519 half is independent of its Ed25519 key (a stock py-ipv8 key): as an ipv8-rs identity its member id would change"
    )]
    IndependentX25519,
    /// The all-zero seed.
    #[error("the all-zero seed is not a key")]
    ZeroSeed,
}

/// The py-ipv8 private key file of the identity with secret `seed`: `LibNaCLSK:` ‖ the X25519
/// secret derived from the Ed25519 key (clamped SHA-512 of the seed, as libsodium does) ‖
/// the seed. py-ipv8 3.2 loads it unchanged, with the same public key bin and member id.
pub fn pyipv8_secret(seed: &[u8; 32]) -> [u8; PYIPV8_SECRET_LEN] {
    let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(*seed));
    let mut out = [0u8; PYIPV8_SECRET_LEN];
    out[..10].copy_from_slice(SECRET_TAG);
    if let Ok(x) = ed25519_compact::x25519::SecretKey::from_ed25519(&kp.sk) {
        out[10..42].copy_from_slice(&x[..]);
    }
    out[42..].copy_from_slice(seed);
    out
}

/// The Ed25519 seed of a py-ipv8 private key file whose X25519 half is derived from it (as
/// [`pyipv8_secret`] writes them).
///
/// # Errors
///
/// [`PyKeyError`] for other bytes, and for stock py-ipv8 keys with an independent X25519 half.
pub fn seed_from_pyipv8_secret(bytes: &[u8]) -> Result<[u8; 32], PyKeyError> {
    if bytes.len() != PYIPV8_SECRET_LEN || &bytes[..10] != SECRET_TAG {
        return Err(PyKeyError::Format);
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&bytes[42..]);
    if seed == [0; 32] {
        return Err(PyKeyError::ZeroSeed);
    }
    if pyipv8_secret(&seed)[..] != bytes[..] {
        return Err(PyKeyError::IndependentX25519);
    }
    Ok(seed)
}

#[cfg(test)]
mod pyipv8_secret_tests {
    use super::*;

    #[test]
    fn a_pyipv8_secret_round_trips_and_a_random_x25519_half_is_refused() {
        let seed = [7u8; 32];
        let bin = pyipv8_secret(&seed);
        assert_eq!(&bin[..10], b"LibNaCLSK:");
        assert_eq!(seed_from_pyipv8_secret(&bin), Ok(seed));
        // The X25519 secret's public key is the key bin's X25519 half.
        let x = ed25519_compact::x25519::SecretKey::from_slice(&bin[10..42]).unwrap().recover_public_key().unwrap();
        let public = sync_core::Identity::from_seed(seed).unwrap().public();
        assert_eq!(&PeerKey::from_ed25519(&public).unwrap().as_bytes()[10..42], &x[..]);
        let mut stock = bin;
        stock[10] ^= 1;
        assert_eq!(seed_from_pyipv8_secret(&stock), Err(PyKeyError::IndependentX25519));
        assert_eq!(seed_from_pyipv8_secret(&bin[..73]), Err(PyKeyError::Format));
    }
}
