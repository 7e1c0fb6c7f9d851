//! A store for reconciliation tests and benches at a million ids (feature `synthetic`): most
//! ids are synthetic (an id without a record, cheap to make), the ones a test expects to move
//! are real signed records.

use alloc::vec::Vec;
use core::convert::Infallible;

use crate::FastMap;
use crate::record::{Body, ContentId, Identity, Slot, VerifiedRecord};
use crate::store::Store;

#[derive(Debug, Clone)]
enum Entry {
    /// An id without a record: `get` returns bytes that hash to it but are no record.
    Synthetic(u64),
    /// A real record's bytes.
    Record(Vec<u8>),
}

/// Ids in insertion order, each synthetic or a real record.
#[derive(Default, Debug, Clone)]
pub struct IdStore {
    ids: Vec<ContentId>,
    index: FastMap<ContentId, Entry>,
}

impl IdStore {
    /// The bytes standing in for synthetic id `n`.
    pub fn bytes_of(n: u64) -> Vec<u8> {
        let mut b = b"synthetic".to_vec();
        b.extend_from_slice(&n.to_le_bytes());
        b
    }

    /// Synthetic id `n`.
    pub fn id_of(n: u64) -> ContentId {
        ContentId::of(&Self::bytes_of(n))
    }

    /// A real record numbered `n`: a Peer record of a signer of its own.
    pub fn record(n: u64) -> VerifiedRecord {
        let mut seed = [0x5Au8; 32];
        seed[..8].copy_from_slice(&n.to_le_bytes());
        match Identity::from_seed(seed).and_then(|who| {
            who.sign(1_600_000_000_000 + n, Body::Peer { metadata: n.to_le_bytes().to_vec() })
                .map_err(|_| crate::ZeroSeed)
        }) {
            Ok(r) => r,
            Err(_) => unreachable!("seeds are never all zero and the body is valid"),
        }
    }

    /// Adds synthetic id `n`.
    pub fn add(&mut self, n: u64) {
        let id = Self::id_of(n);
        if self.index.insert(id, Entry::Synthetic(n)).is_none() {
            self.ids.push(id);
        }
    }

    /// Adds a real record.
    pub fn add_record(&mut self, record: &VerifiedRecord) {
        if self.index.insert(record.id(), Entry::Record(record.bytes().to_vec())).is_none() {
            self.ids.push(record.id());
        }
    }
}

impl Store for IdStore {
    type Error = Infallible;
    fn contains(&self, id: &ContentId) -> bool {
        self.index.contains_key(id)
    }
    /// Every record here has a slot of its own (one signer each), so no slot is ever held.
    fn current(&self, _: &Slot) -> Option<(u64, ContentId)> {
        None
    }
    fn insert(&mut self, record: &VerifiedRecord, _: Option<ContentId>) -> Result<(), Infallible> {
        self.add_record(record);
        Ok(())
    }
    /// Linear in the ids: benchmarks fill this store and never evict from it.
    fn remove(&mut self, id: &ContentId) -> Result<bool, Infallible> {
        if self.index.remove(id).is_none() {
            return Ok(false);
        }
        self.ids.retain(|x| x != id);
        Ok(true)
    }
    fn get(&self, id: &ContentId) -> Option<Vec<u8>> {
        match self.index.get(id)? {
            Entry::Synthetic(n) => Some(Self::bytes_of(*n)),
            Entry::Record(bytes) => Some(bytes.clone()),
        }
    }
    fn for_each_id(&self, f: &mut dyn FnMut(&ContentId)) {
        self.ids.iter().for_each(f);
    }
    fn len(&self) -> usize {
        self.ids.len()
    }
}
