//! A store of synthetic ids for reconciliation tests and benches at a million ids, where
//! signing real records would take most of the run (feature `synthetic`).

use alloc::vec::Vec;
use core::convert::Infallible;

use crate::FastMap;
use crate::record::{ContentId, Slot, VerifiedRecord};
use crate::store::Store;

/// Ids without records: `get` returns bytes whose SHA-256 is the id but which are no record,
/// so a receiver refuses them and remembers their ids. Its reconciled set (store ∪ remembered
/// ids) still gains them, which is what reconciliation tests measure.
#[derive(Default, Debug, Clone)]
pub struct IdStore {
    ids: Vec<ContentId>,
    index: FastMap<ContentId, u64>,
}

impl IdStore {
    /// The bytes standing in for record `n`.
    pub fn bytes_of(n: u64) -> Vec<u8> {
        let mut b = b"synthetic".to_vec();
        b.extend_from_slice(&n.to_le_bytes());
        b
    }

    /// The id of record `n`.
    pub fn id_of(n: u64) -> ContentId {
        ContentId::of(&Self::bytes_of(n))
    }

    /// Adds record `n`.
    pub fn add(&mut self, n: u64) {
        let id = Self::id_of(n);
        if self.index.insert(id, n).is_none() {
            self.ids.push(id);
        }
    }

    /// Record numbers held, in insertion order.
    pub fn numbers(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids.iter().filter_map(|id| self.index.get(id).copied())
    }
}

impl Store for IdStore {
    type Error = Infallible;
    fn contains(&self, id: &ContentId) -> bool {
        self.index.contains_key(id)
    }
    fn current(&self, _: &Slot) -> Option<(u64, ContentId)> {
        None
    }
    /// Synthetic bytes never verify, so nothing is ever offered; a real record is kept by id.
    fn insert(&mut self, record: &VerifiedRecord, _: Option<ContentId>) -> Result<(), Infallible> {
        if self.index.insert(record.id(), u64::MAX).is_none() {
            self.ids.push(record.id());
        }
        Ok(())
    }
    fn get(&self, id: &ContentId) -> Option<Vec<u8>> {
        self.index.get(id).filter(|n| **n != u64::MAX).map(|n| Self::bytes_of(*n))
    }
    fn for_each_id(&self, f: &mut dyn FnMut(&ContentId)) {
        self.ids.iter().for_each(f);
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
}
