//! A vector of slots with a free list.

use crate::ids::{id, idx};

/// A vector of slots with a free list: stable small indices for values waiting in the queue.
pub(crate) struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[idx(i)] = Some(value);
                i
            }
            None => {
                self.slots.push(Some(value));
                id(self.slots.len() - 1)
            }
        }
    }

    /// Takes the value out of slot `i`; every slot is removed exactly once (by the one queue
    /// entry that names it).
    pub(crate) fn remove(&mut self, i: u32) -> T {
        self.free.push(i);
        match self.slots[idx(i)].take() {
            Some(v) => v,
            None => unreachable!("slab slot {i} removed twice"),
        }
    }
}
