//! The simulator's event queue: earliest first, ties in the order they were scheduled.

use core::cmp::Reverse;

use radix_heap::RadixHeapMap;
use sansio_core::Instant;

/// A monotone priority queue. Virtual time never goes backwards (every event is scheduled at
/// or after the last one taken), which lets a radix heap replace a binary heap: pushes are
/// O(1) and pops touch only small buckets, instead of sifting through a large heap.
pub(crate) struct EventQueue<V> {
    heap: RadixHeapMap<Reverse<u128>, V>,
    /// The next entry, taken out early by `peek`.
    next: Option<(u128, V)>,
    seq: u64,
}

impl<V> EventQueue<V> {
    pub fn new() -> Self {
        Self { heap: RadixHeapMap::new(), next: None, seq: 0 }
    }

    fn key(at: Instant, seq: u64) -> u128 {
        (u128::from(at.as_micros()) << 64) | u128::from(seq)
    }

    fn at(key: u128) -> Instant {
        // The top 64 bits hold the time.
        #[allow(clippy::cast_possible_truncation)]
        Instant::from_micros((key >> 64) as u64)
    }

    /// Schedules `value` at `at`. `at` must not be earlier than the last entry popped; the
    /// simulator guarantees that by scheduling at `max(at, now)`.
    pub fn push(&mut self, at: Instant, value: V) {
        self.seq += 1;
        let key = Self::key(at, self.seq);
        match self.next.take() {
            // Keep the earlier of the cached entry and the new one in the cache.
            Some((k, v)) if key < k => {
                self.heap.push(Reverse(k), v);
                self.next = Some((key, value));
            }
            cached => {
                self.next = cached;
                self.heap.push(Reverse(key), value);
            }
        }
    }

    /// When the next entry is due.
    pub fn peek(&mut self) -> Option<Instant> {
        if self.next.is_none() {
            self.next = self.heap.pop().map(|(Reverse(k), v)| (k, v));
        }
        self.next.as_ref().map(|(k, _)| Self::at(*k))
    }

    /// Takes the next entry.
    pub fn pop(&mut self) -> Option<(Instant, V)> {
        let (k, v) = match self.next.take() {
            Some(next) => next,
            None => self.heap.pop().map(|(Reverse(k), v)| (k, v))?,
        };
        Some((Self::at(k), v))
    }

    pub fn len(&self) -> usize {
        self.heap.len() + usize::from(self.next.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_and_ties_in_scheduling_order() {
        let mut q = EventQueue::new();
        q.push(Instant::from_micros(5), 'a');
        q.push(Instant::from_micros(3), 'b');
        q.push(Instant::from_micros(5), 'c');
        assert_eq!(q.peek(), Some(Instant::from_micros(3)));
        // Scheduling after a peek, at or after the last pop, still orders correctly.
        q.push(Instant::from_micros(3), 'd');
        q.push(Instant::from_micros(4), 'e');
        let order: Vec<char> = core::iter::from_fn(|| q.pop().map(|(_, v)| v)).collect();
        assert_eq!(order, vec!['b', 'd', 'e', 'a', 'c']);
        assert_eq!(q.len(), 0);
    }
}
