//! Checking Ed25519 signatures, optionally through a memo that many nodes of one process
//! share.
//!
//! A node checks every signature it receives: a record's, and (in `overlay-core`) every
//! overlay message's. On its own machine that costs a node well under a millisecond a second.
//! A simulator that runs ten thousand nodes in one process pays it ten thousand times over,
//! and mostly for nothing: every signature in such a run was made in the same process, and
//! every record is checked again by every node it reaches. A [`SignatureMemo`] lets the
//! nodes share what is already known: [`Identity`](crate::Identity) remembers each signature
//! it makes, and [`Verifier::verify`] remembers each one it has checked. A signature the memo
//! recalls is valid (Ed25519 signing is correct), so a node with a memo accepts and refuses
//! exactly what it would without one; only the time spent differs.
//!
//! A memo must only ever recall a `(key, message, signature)` triple that was given to its
//! `remember`: one that recalls anything else lets forged messages in.
//!
//! The memo is shared through `alloc::sync::Arc`, so this module (and the cores that use
//! it) needs a target with pointer-sized atomics, which every target of this workspace's
//! drivers and simulator has; a `thumbv6m`-class target has not.
//!
//! ```
//! use sync_core::{Identity, Verifier};
//!
//! let alice = Identity::from_seed([7; 32]).unwrap();
//! let sig = alice.sign_message(b"hello");
//! // Without a memo, a verifier checks with the curve every time.
//! let plain = Verifier::default();
//! assert!(plain.verify(&alice.public(), b"hello", &sig));
//! assert!(!plain.verify(&alice.public(), b"hellO", &sig));
//! ```

use alloc::sync::Arc;
use core::fmt;

use crate::{PublicKey, SIGNATURE_LEN};

/// Signatures known to verify, shared by the nodes of one process (see the module docs).
pub trait SignatureMemo: Send + Sync {
    /// Notes that `signature` is `key`'s valid signature of `message`.
    fn remember(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]);
    /// Whether exactly this triple was noted (and is still held: a memo may forget).
    fn recalls(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool;
}

/// Checks signatures; with a [`SignatureMemo`], checks each distinct one once per process.
/// The default has no memo.
#[derive(Clone, Default)]
pub struct Verifier {
    memo: Option<Arc<dyn SignatureMemo>>,
}

impl Verifier {
    /// A verifier that consults and feeds `memo`.
    pub fn with_memo(memo: Arc<dyn SignatureMemo>) -> Self {
        Self { memo: Some(memo) }
    }

    /// Whether `signature` is `key`'s plain Ed25519 (RFC 8032) signature of `message`.
    pub fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        if let Some(memo) = &self.memo
            && memo.recalls(key, message, signature)
        {
            return true;
        }
        let pk = ed25519_compact::PublicKey::new(key.0);
        let valid = pk.verify(message, &ed25519_compact::Signature::new(*signature)).is_ok();
        if valid {
            self.remember(key, message, signature);
        }
        valid
    }

    /// Notes a signature this process made or checked.
    pub(crate) fn remember(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) {
        if let Some(memo) = &self.memo {
            memo.remember(key, message, signature);
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("memo", &self.memo.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::{Body, Identity, VerifiedRecord};
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// A memo that holds whole triples and counts how often it answered yes.
    #[derive(Default)]
    struct Exact {
        held: std::sync::Mutex<Vec<Vec<u8>>>,
        hits: AtomicUsize,
    }

    fn triple(key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
        [&key.0[..], &signature[..], message].concat()
    }

    impl SignatureMemo for Exact {
        fn remember(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) {
            self.held.lock().unwrap().push(triple(key, message, signature));
        }
        fn recalls(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
            let hit = self.held.lock().unwrap().contains(&triple(key, message, signature));
            if hit {
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
            hit
        }
    }

    #[test]
    fn a_signature_made_in_the_process_is_recalled_and_a_forgery_is_still_checked() {
        let memo = Arc::new(Exact::default());
        let verifier = Verifier::with_memo(memo.clone());
        let alice = Identity::from_seed([1; 32]).unwrap().with_verifier(verifier.clone());
        let sig = alice.sign_message(b"walk to me");
        assert!(verifier.verify(&alice.public(), b"walk to me", &sig));
        assert_eq!(memo.hits.load(Ordering::Relaxed), 1, "recalled, not recomputed");
        // The same signature on other bytes, or under another key: no recall, and the curve says no.
        assert!(!verifier.verify(&alice.public(), b"walk to you", &sig));
        let mallory = Identity::from_seed([2; 32]).unwrap();
        assert!(!verifier.verify(&mallory.public(), b"walk to me", &sig));
        assert_eq!(memo.hits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_record_checked_by_one_node_is_recalled_by_the_next() {
        let memo = Arc::new(Exact::default());
        let verifier = Verifier::with_memo(memo.clone());
        // Signed outside the memo's process, as a record from the network is.
        let record = Identity::from_seed([3; 32]).unwrap().sign(5, Body::Peer { metadata: b"x".to_vec() }).unwrap();
        let first = VerifiedRecord::decode_with(record.bytes(), &verifier).unwrap();
        assert_eq!(memo.hits.load(Ordering::Relaxed), 0);
        let second = VerifiedRecord::decode_with(record.bytes(), &verifier).unwrap();
        assert_eq!(memo.hits.load(Ordering::Relaxed), 1);
        assert_eq!(first, second);
        let mut tampered = record.bytes().to_vec();
        tampered[40] ^= 1;
        assert!(VerifiedRecord::decode_with(&tampered, &verifier).is_err());
    }
}
