//! MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32), from well-kept RustCrypto and
//! crc32fast crates.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// FINGERPRINT is the CRC-32 of the message XOR this ("STUN").
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Why MESSAGE-INTEGRITY did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The message has no MESSAGE-INTEGRITY.
    #[error("no MESSAGE-INTEGRITY")]
    Missing,
    /// The HMAC does not match: wrong key or altered message.
    #[error("MESSAGE-INTEGRITY does not match")]
    Mismatch,
}

/// CRC-32 of `bytes` XOR [`FINGERPRINT_XOR`]. `bytes` is the message up to the FINGERPRINT
/// attribute, whose header length already counts the FINGERPRINT.
#[must_use]
pub fn fingerprint(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes) ^ FINGERPRINT_XOR
}

/// HMAC-SHA1 over `before` (the message up to MESSAGE-INTEGRITY) with the header's length
/// field replaced by `length` (which counts MESSAGE-INTEGRITY but nothing after it).
#[must_use]
pub fn hmac_sha1(key: &[u8], before: &[u8], length: usize) -> [u8; 20] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else { return [0; 20] };
    mac.update(&before[..2]);
    // A STUN message is at most 65,535 + 20 bytes, so the length fits 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    mac.update(&(length as u16).to_be_bytes());
    mac.update(&before[4..]);
    mac.finalize().into_bytes().into()
}

/// The long-term credential key, MD5(username ":" realm ":" password). The password must
/// already be SASLprep-processed (RFC 5769 §2.4's "The\u{AD}M\u{AA}tr\u{2168}" is passed as
/// "TheMatrIX").
#[must_use]
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}
