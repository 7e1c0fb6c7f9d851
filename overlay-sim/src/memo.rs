//! The signature memo all nodes of one simulation share (`sync_core::SignatureMemo`).
//!
//! Every signature in a simulation is made by one of its nodes, and each is checked by at
//! least one other; a record is checked by every node it reaches. Without a memo a 1,000-node
//! run spends most of its time in Ed25519 verification. With it, each distinct signature
//! is hashed, not checked on the curve: the signer notes it, the receivers find it.
//!
//! The memo holds SHA-256 digests of `key ‖ signature ‖ message`, so a hit means that very
//! triple was noted (a forged message would need a SHA-256 collision to hit). It holds two
//! generations of at most `capacity` digests each: when the current one fills, the previous
//! is dropped and the current becomes previous, and a digest found in the previous one moves
//! back to the current. Memory is bounded; a digest forgotten costs one real verification.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use sync_core::{PublicKey, SIGNATURE_LEN, SignatureMemo};

/// Digests noted, in two generations.
#[derive(Default)]
struct Generations {
    current: HashSet<[u8; 32]>,
    previous: HashSet<[u8; 32]>,
}

/// A bounded memo of signatures made or checked in this process.
pub struct SharedMemo {
    capacity: usize,
    held: Mutex<Generations>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl SharedMemo {
    /// A memo of at most `2 × capacity` digests (a hash set of 2^20 digests takes about
    /// 70 MB).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), held: Mutex::default(), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// Checks answered from the memo, and checks it could not answer.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    fn digest(key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(key.0);
        h.update(signature);
        h.update(message);
        h.finalize().into()
    }

    fn insert(&self, g: &mut Generations, digest: [u8; 32]) {
        if g.current.len() >= self.capacity {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(digest);
    }
}

impl SignatureMemo for SharedMemo {
    fn remember(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) {
        let digest = Self::digest(key, message, signature);
        let mut g = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.current.contains(&digest) {
            return;
        }
        g.previous.remove(&digest);
        self.insert(&mut g, digest);
    }

    fn recalls(&self, key: &PublicKey, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let digest = Self::digest(key, message, signature);
        let mut g = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let hit = g.current.contains(&digest) || {
            let old = g.previous.remove(&digest);
            if old {
                self.insert(&mut g, digest);
            }
            old
        };
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::Identity;

    fn signed(seed: u8, message: &[u8]) -> (PublicKey, [u8; 64]) {
        let id = Identity::from_seed([seed; 32]).unwrap();
        (id.public(), id.sign_message(message))
    }

    #[test]
    fn only_the_noted_triple_is_recalled() {
        let memo = SharedMemo::new(8);
        let (key, sig) = signed(1, b"m");
        memo.remember(&key, b"m", &sig);
        assert!(memo.recalls(&key, b"m", &sig));
        assert!(!memo.recalls(&key, b"n", &sig));
        let (other, _) = signed(2, b"m");
        assert!(!memo.recalls(&other, b"m", &sig));
        assert_eq!(memo.hits_and_misses(), (1, 2));
    }

    #[test]
    fn it_holds_at_most_two_generations_and_keeps_what_is_used() {
        let memo = SharedMemo::new(4);
        let (key, sig) = signed(1, b"kept");
        memo.remember(&key, b"kept", &sig);
        for i in 0..20u8 {
            memo.remember(&key, &[i], &sig);
            // Asked for now and then, the first digest survives every turnover.
            assert!(memo.recalls(&key, b"kept", &sig), "lost after {i}");
        }
        let g = memo.held.lock().unwrap();
        assert!(g.current.len() <= 4 && g.previous.len() <= 4);
        drop(g);
        // One never asked for again is forgotten after two turnovers.
        assert!(!memo.recalls(&key, &[0], &sig));
    }
}
