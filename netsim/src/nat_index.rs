//! Hash indexes over a NAT box's binding list, by mapping key and by external port.
//!
//! The tables hold only positions in the list (4 bytes and a control byte each) and compare
//! through the list, so a symmetric NAT with thousands of mappings adds a few bytes per
//! mapping rather than a copy of its 64-byte key.

use core::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::nat::{Binding, MapKey};

/// Fixed-seeded, so the same run gives the same table layout.
fn hash<T: Hash>(x: &T) -> u64 {
    crate::fixed_state().hash_one(x)
}

fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or_else(|_| unreachable!("a NAT box has at most 65,536 mappings"))
}

/// Positions in a binding list, findable by key and by external port.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_key: HashTable<u32>,
    by_port: HashTable<u32>,
}

impl Index {
    /// Indexes every binding of `list`.
    pub fn build(list: &[Binding]) -> Self {
        let mut ix = Self::default();
        for i in 0..list.len() {
            ix.added(list, i);
        }
        ix
    }

    pub fn by_key(&self, list: &[Binding], key: &MapKey) -> Option<usize> {
        self.by_key.find(hash(key), |&i| list[i as usize].key == *key).map(|&i| i as usize)
    }

    pub fn by_port(&self, list: &[Binding], port: u16) -> Option<usize> {
        self.by_port.find(hash(&port), |&i| list[i as usize].external_port == port).map(|&i| i as usize)
    }

    /// `list[i]` was just added.
    pub fn added(&mut self, list: &[Binding], i: usize) {
        let b = &list[i];
        self.by_key.insert_unique(hash(&b.key), pos(i), |&j| hash(&list[j as usize].key));
        self.by_port.insert_unique(hash(&b.external_port), pos(i), |&j| hash(&list[j as usize].external_port));
    }

    /// `list.swap_remove(i)` is about to happen: forgets `list[i]`, and moves the last
    /// binding's entries to position `i`.
    pub fn removing(&mut self, list: &[Binding], i: usize) {
        let (b, last) = (&list[i], list.len() - 1);
        if let Ok(e) = self.by_key.find_entry(hash(&b.key), |&j| j as usize == i) {
            e.remove();
        }
        if let Ok(e) = self.by_port.find_entry(hash(&b.external_port), |&j| j as usize == i) {
            e.remove();
        }
        if last != i {
            let moved = &list[last];
            if let Some(j) = self.by_key.find_mut(hash(&moved.key), |&j| j as usize == last) {
                *j = pos(i);
            }
            if let Some(j) = self.by_port.find_mut(hash(&moved.external_port), |&j| j as usize == last) {
                *j = pos(i);
            }
        }
    }
}
