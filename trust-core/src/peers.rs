//! Interning peer keys (public keys, names) to dense ids.

use alloc::vec::Vec;
use core::hash::Hash;

use crate::graph::PeerId;
use crate::{FastMap, fast_map};

/// Maps keys to dense [`PeerId`]s in first-seen order, and back.
///
/// ```
/// use trust_core::{Peers, PeerId};
///
/// let mut peers = Peers::new();
/// assert_eq!(peers.intern("alice"), PeerId(0));
/// assert_eq!(peers.intern("bob"), PeerId(1));
/// assert_eq!(peers.intern("alice"), PeerId(0));
/// assert_eq!(peers.key(PeerId(1)), Some(&"bob"));
/// ```
#[derive(Clone, Debug)]
pub struct Peers<K> {
    ids: FastMap<K, PeerId>,
    keys: Vec<K>,
}

impl<K: Hash + Eq + Clone> Peers<K> {
    /// No peers.
    #[must_use]
    pub fn new() -> Self {
        Self { ids: fast_map(), keys: Vec::new() }
    }

    /// The id of `key`, given a new one if it is new.
    ///
    /// # Panics
    ///
    /// After 2³² distinct keys.
    pub fn intern(&mut self, key: K) -> PeerId {
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = PeerId(u32::try_from(self.keys.len()).unwrap_or_else(|_| panic!("more than 2^32 peers")));
        self.ids.insert(key.clone(), id);
        self.keys.push(key);
        id
    }

    /// The id of a known key.
    pub fn get<Q>(&self, key: &Q) -> Option<PeerId>
    where
        K: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.ids.get(key).copied()
    }

    /// The key of an id.
    #[must_use]
    pub fn key(&self, id: PeerId) -> Option<&K> {
        self.keys.get(id.index())
    }

    /// How many peers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<K: Hash + Eq + Clone> Default for Peers<K> {
    fn default() -> Self {
        Self::new()
    }
}
