//! Where records live: a trait, so a node can keep them in memory or in SQLite (`drivers`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::convert::Infallible;

use crate::FastMap;
use crate::record::{ContentId, Record, Slot, VerifiedRecord};

/// The record store a [`SyncNode`](crate::SyncNode) reads and writes.
///
/// `insert` is atomic: afterwards either the record is stored and `replaces` (if any) is gone,
/// or nothing changed and an error is returned.
pub trait Store {
    /// Why a write failed (I/O, a full disk).
    type Error: core::fmt::Debug + core::fmt::Display;

    /// Whether a record with this id is stored.
    fn contains(&self, id: &ContentId) -> bool;
    /// The timestamp and id of the record currently in `slot`.
    fn current(&self, slot: &Slot) -> Option<(u64, ContentId)>;
    /// Stores `record`, removing `replaces` in the same transaction.
    fn insert(&mut self, record: &VerifiedRecord, replaces: Option<ContentId>) -> Result<(), Self::Error>;
    /// Removes a stored record; returns whether it was there. Its slot then holds nothing, as
    /// if it had never been stored: what [`SyncNode::regate`](crate::SyncNode::regate) does
    /// to a record whose signer lost the trust it was admitted with.
    fn remove(&mut self, id: &ContentId) -> Result<bool, Self::Error>;
    /// A stored record's canonical bytes.
    fn get(&self, id: &ContentId) -> Option<Vec<u8>>;
    /// Calls `f` with every stored id, in any order.
    fn for_each_id(&self, f: &mut dyn FnMut(&ContentId));
    /// Records stored.
    fn len(&self) -> usize;
    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Records in memory: the store of tests, simulations and short-lived nodes.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    records: FastMap<ContentId, Vec<u8>>,
    slots: BTreeMap<Slot, (u64, ContentId)>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    type Error = Infallible;

    fn contains(&self, id: &ContentId) -> bool {
        self.records.contains_key(id)
    }
    fn current(&self, slot: &Slot) -> Option<(u64, ContentId)> {
        self.slots.get(slot).copied()
    }
    fn insert(&mut self, record: &VerifiedRecord, replaces: Option<ContentId>) -> Result<(), Infallible> {
        if let Some(old) = replaces {
            self.records.remove(&old);
        }
        self.records.insert(record.id(), record.bytes().to_vec());
        self.slots.insert(record.record().slot(), (record.record().timestamp_ms, record.id()));
        Ok(())
    }
    fn remove(&mut self, id: &ContentId) -> Result<bool, Infallible> {
        let Some(bytes) = self.records.remove(id) else { return Ok(false) };
        // Only verified records get in, so they decode; the slot goes if it is this record's.
        if let Ok(record) = Record::decode(&bytes) {
            let slot = record.slot();
            if self.slots.get(&slot).is_some_and(|(_, current)| current == id) {
                self.slots.remove(&slot);
            }
        }
        Ok(true)
    }
    fn get(&self, id: &ContentId) -> Option<Vec<u8>> {
        self.records.get(id).cloned()
    }
    fn for_each_id(&self, f: &mut dyn FnMut(&ContentId)) {
        self.records.keys().for_each(f);
    }
    fn len(&self) -> usize {
        self.records.len()
    }
}
