//! Hash indexes over a NAT box's binding list, by mapping key and by external port.
//!
//! The tables hold only a position in the list and 32 bits of the entry's hash (8 bytes and a
//! control byte each) and compare through the list, so a symmetric NAT with thousands of
//! mappings adds a few bytes per mapping rather than a copy of its 64-byte key. Keeping the
//! hash lets a table grow, and rule out most candidates, without reading the bindings.

use core::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use crate::nat::{Binding, MapKey};

/// 32 bits of the fixed-seeded hash: the same run gives the same table layout.
fn hash<T: Hash>(x: &T) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // the low half, on purpose
    let h = crate::fixed_state().hash_one(x) as u32;
    h
}

/// The 64-bit hash the table sees: the 32 bits twice, so both the bucket (low bits) and the
/// control tag (top bits) come from them.
fn wide(h: u32) -> u64 {
    u64::from(h) | (u64::from(h) << 32)
}

fn pos(i: usize) -> u32 {
    u32::try_from(i).unwrap_or_else(|_| unreachable!("a NAT box has at most 65,536 mappings"))
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    pos: u32,
    hash: u32,
}

/// Positions in a binding list, findable by key and by external port.
#[derive(Debug, Default)]
pub(crate) struct Index {
    by_key: HashTable<Slot>,
    by_port: HashTable<Slot>,
}

impl Index {
    /// Indexes every binding of `list`.
    pub(crate) fn build(list: &[Binding]) -> Self {
        let mut ix = Self::default();
        for i in 0..list.len() {
            ix.added(list, i);
        }
        ix
    }

    pub(crate) fn by_key(&self, list: &[Binding], key: &MapKey) -> Option<usize> {
        let h = hash(key);
        let found = self.by_key.find(wide(h), |s| s.hash == h && list[s.pos as usize].key == *key);
        found.map(|s| s.pos as usize)
    }

    pub(crate) fn by_port(&self, list: &[Binding], port: u16) -> Option<usize> {
        let h = hash(&port);
        let found = self.by_port.find(wide(h), |s| s.hash == h && list[s.pos as usize].external_port == port);
        found.map(|s| s.pos as usize)
    }

    /// `list[i]` was just added.
    pub(crate) fn added(&mut self, list: &[Binding], i: usize) {
        let b = &list[i];
        let (kh, ph) = (hash(&b.key), hash(&b.external_port));
        self.by_key.insert_unique(wide(kh), Slot { pos: pos(i), hash: kh }, |s| wide(s.hash));
        self.by_port.insert_unique(wide(ph), Slot { pos: pos(i), hash: ph }, |s| wide(s.hash));
    }

    /// `list.swap_remove(i)` is about to happen: forgets `list[i]`, and moves the last
    /// binding's entries to position `i`.
    pub(crate) fn removing(&mut self, list: &[Binding], i: usize) {
        let (b, last) = (&list[i], list.len() - 1);
        for (table, h) in [(&mut self.by_key, hash(&b.key)), (&mut self.by_port, hash(&b.external_port))] {
            if let Ok(e) = table.find_entry(wide(h), |s| s.pos as usize == i) {
                e.remove();
            }
        }
        if last != i {
            let moved = &list[last];
            for (table, h) in [(&mut self.by_key, hash(&moved.key)), (&mut self.by_port, hash(&moved.external_port))] {
                if let Some(s) = table.find_mut(wide(h), |s| s.pos as usize == last) {
                    s.pos = pos(i);
                }
            }
        }
    }
}
