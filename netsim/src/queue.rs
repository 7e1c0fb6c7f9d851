//! The simulator's event queue: earliest first, ties in the order they were scheduled.
//!
//! A hierarchical timing wheel. Virtual time never goes backwards (every event is scheduled at
//! or after the last one taken), and nearly every event of a network simulation is due within
//! seconds: a datagram a link delay ahead, a machine's next deadline. So instead of a heap:
//!
//! - **level 0**: one slot per microsecond of the current 4,096 µs block;
//! - **level 1**: one slot per block for the next 4,095 blocks (about 16.8 s);
//! - **overflow**: a binary heap for anything later.
//!
//! Every slot is a FIFO list threaded through one pool of entries. Pushing appends to a slot;
//! taking pops a slot's head; when a block is used up, the next non-empty level-1 slot is
//! spread over level 0 (each entry moves once). An entry is touched a bounded number of times
//! whatever the queue's size, and the slots are found with bitmaps, not scans.
//!
//! Ties keep their scheduling order because every list is appended to in that order: a
//! block's level-1 list is complete before the block is spread over level 0 (nothing can be
//! scheduled into a block's level-0 slots before it is the current block), and overflow
//! entries are moved into level 1, in (time, order) order, as soon as their block comes within
//! reach, before anything else can be scheduled there.
//!
//! One exception to "forwards only": [`EventQueue::peek`] may move the wheel to a later block
//! without taking anything, and the simulator may then schedule an event before that block
//! (its clock stopped short of the peeked event). Such events wait in a small `early` heap,
//! which is always due before the wheel.

use core::cmp::Reverse;
use std::collections::BinaryHeap;

use sansio_core::Instant;

const BITS: u32 = 12;
const SLOTS: usize = 1 << BITS;
const MASK: u64 = (SLOTS as u64) - 1;
const WORDS: usize = SLOTS / 64;
const NIL: u32 = u32::MAX;

struct Entry<V> {
    next: u32,
    at: u64,
    value: Option<V>,
}

/// One wheel level: a FIFO list per slot and a bitmap of the non-empty ones.
struct Level {
    /// (head, tail) entry of each slot's list.
    slots: Vec<(u32, u32)>,
    used: [u64; WORDS],
}

impl Level {
    fn new() -> Self {
        Self { slots: vec![(NIL, NIL); SLOTS], used: [0; WORDS] }
    }

    /// The first non-empty slot at or after `from`, without wrapping.
    fn first_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut bits = self.used.get(w)? & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            bits = *self.used.get(w)?;
        }
    }
}

/// A monotone priority queue of values due at virtual instants.
pub(crate) struct EventQueue<V> {
    pool: Vec<Entry<V>>,
    /// Head of the list of unused pool entries.
    free: u32,
    l0: Level,
    l1: Level,
    /// The current block (time / 4,096 µs); level 0 holds its instants.
    block: u64,
    /// Level-0 slots before this one are used up.
    cursor: usize,
    /// Entries beyond level 1's reach, as (time, order, entry).
    overflow: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Entries scheduled before the current block after a peek moved it on.
    early: BinaryHeap<Reverse<(u64, u64, u32)>>,
    seq: u64,
    len: usize,
}

impl<V> EventQueue<V> {
    pub(crate) fn new() -> Self {
        Self {
            pool: Vec::new(),
            free: NIL,
            l0: Level::new(),
            l1: Level::new(),
            block: 0,
            cursor: 0,
            overflow: BinaryHeap::new(),
            early: BinaryHeap::new(),
            seq: 0,
            len: 0,
        }
    }

    fn alloc(&mut self, at: u64, value: V) -> u32 {
        let entry = Entry { next: NIL, at, value: Some(value) };
        if self.free == NIL {
            self.pool.push(entry);
            u32::try_from(self.pool.len() - 1).unwrap_or_else(|_| unreachable!("more than 2^32 queued events"))
        } else {
            let i = self.free;
            let e = &mut self.pool[i as usize];
            self.free = e.next;
            *e = entry;
            i
        }
    }

    /// Appends entry `i` to the list of `slot` in level 0 (`level1 == false`) or level 1.
    fn append(&mut self, level1: bool, slot: usize, i: u32) {
        let level = if level1 { &mut self.l1 } else { &mut self.l0 };
        let (head, tail) = &mut level.slots[slot];
        if *tail == NIL {
            *head = i;
            level.used[slot / 64] |= 1 << (slot % 64);
        } else {
            self.pool[*tail as usize].next = i;
        }
        *tail = i;
        self.pool[i as usize].next = NIL;
    }

    /// Files entry `i`, due at `at`, where it belongs; `seq` orders it in the heaps.
    fn place(&mut self, at: u64, seq: u64, i: u32) {
        let block = at >> BITS;
        if block == self.block {
            self.append(false, (at & MASK) as usize, i);
        } else if block < self.block {
            self.early.push(Reverse((at, seq, i)));
        } else if block - self.block < SLOTS as u64 {
            self.append(true, (block & MASK) as usize, i);
        } else {
            self.overflow.push(Reverse((at, seq, i)));
        }
    }

    /// Schedules `value` at `at`. `at` must not be earlier than the last entry taken; the
    /// simulator guarantees that by scheduling at `max(at, now)`.
    pub(crate) fn push(&mut self, at: Instant, value: V) {
        self.seq += 1;
        let at = at.as_micros();
        let i = self.alloc(at, value);
        self.place(at, self.seq, i);
        self.len += 1;
    }

    /// Moves the wheel to the block of the next entry if the current one is used up; returns
    /// the level-0 slot of the next wheel entry, if any.
    fn advance(&mut self) -> Option<usize> {
        if let Some(slot) = self.l0.first_from(self.cursor) {
            return Some(slot);
        }
        // The next non-empty level-1 slot, in block order from the one after the current.
        let start = ((self.block + 1) & MASK) as usize;
        let next_l1 = self.l1.first_from(start).or_else(|| self.l1.first_from(0).filter(|s| *s < start));
        let next_block = match next_l1 {
            Some(slot) => self.block + 1 + ((slot as u64).wrapping_sub(self.block + 1) & MASK),
            None => {
                let Reverse((at, _, _)) = self.overflow.peek()?;
                *at >> BITS
            }
        };
        self.block = next_block;
        self.cursor = 0;
        // Overflow entries now within level 1's reach move there, in order; level-1 slots of
        // the blocks skipped over are empty, so nothing can precede them.
        while let Some(&Reverse((at, _, i))) = self.overflow.peek() {
            if (at >> BITS) - self.block >= SLOTS as u64 {
                break;
            }
            self.overflow.pop();
            let slot = ((at >> BITS) & MASK) as usize;
            self.append(true, slot, i);
        }
        // Spread the new block's level-1 list over level 0.
        let slot = (self.block & MASK) as usize;
        let (mut i, _) = core::mem::replace(&mut self.l1.slots[slot], (NIL, NIL));
        self.l1.used[slot / 64] &= !(1 << (slot % 64));
        while i != NIL {
            let next = self.pool[i as usize].next;
            let at = self.pool[i as usize].at;
            self.append(false, (at & MASK) as usize, i);
            i = next;
        }
        self.l0.first_from(0)
    }

    /// When the next entry is due.
    pub(crate) fn peek(&mut self) -> Option<Instant> {
        if let Some(Reverse((at, _, _))) = self.early.peek() {
            return Some(Instant::from_micros(*at));
        }
        let slot = self.advance()?;
        Some(Instant::from_micros((self.block << BITS) | slot as u64))
    }

    /// Takes the next entry.
    pub(crate) fn pop(&mut self) -> Option<(Instant, V)> {
        let i = if let Some(Reverse((_, _, i))) = self.early.pop() {
            i
        } else {
            let slot = self.advance()?;
            self.cursor = slot;
            let (head, tail) = &mut self.l0.slots[slot];
            let i = *head;
            if *head == *tail {
                *head = NIL;
                *tail = NIL;
                self.l0.used[slot / 64] &= !(1 << (slot % 64));
            } else {
                *head = self.pool[i as usize].next;
            }
            i
        };
        let e = &mut self.pool[i as usize];
        let value = e.value.take()?;
        let at = Instant::from_micros(e.at);
        e.next = self.free;
        self.free = i;
        self.len -= 1;
        Some((at, value))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
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

    /// The wheel against a sorted reference, over every level: the same block, later blocks,
    /// beyond level 1's reach, exact ties across levels, pushes after a peek that moved the
    /// wheel on, and interleaved pops.
    #[test]
    fn matches_a_sorted_reference_across_levels() {
        let mut rng = sansio_core::SeededRng::from_seed(sansio_core::Seed::new([9; 32]));
        let mut q = EventQueue::new();
        let mut reference = std::collections::BTreeSet::new(); // (time, order)
        let (mut now, mut order) = (0u64, 0u64);
        for round in 0..20_000u64 {
            let horizon = match rng.below(6) {
                0 => 0,
                1 => 4_000,
                2 => 100_000,
                3 => 20_000_000,
                4 => 200_000_000,
                _ => 1 << 40,
            };
            match rng.below(3) {
                0 | 1 => {
                    // Half the time, exactly on a block or level boundary.
                    let at = if rng.below(2) == 0 {
                        now + rng.below(horizon + 1)
                    } else {
                        let block = now >> BITS;
                        (block + [1, 4_095, 4_096, 4_097][rng.below(4) as usize]) << BITS
                    };
                    order += 1;
                    q.push(Instant::from_micros(at), (at, order));
                    reference.insert((at, order));
                }
                _ => {
                    if round % 7 == 0 {
                        // Peek, then schedule just after `now` (before the peeked entry).
                        assert_eq!(q.peek().map(Instant::as_micros), reference.first().map(|e| e.0));
                        order += 1;
                        q.push(Instant::from_micros(now), (now, order));
                        reference.insert((now, order));
                    }
                    assert_eq!(q.peek().map(Instant::as_micros), reference.first().map(|e| e.0));
                    let expected = reference.pop_first();
                    let got = q.pop().map(|(t, v)| {
                        assert_eq!(t.as_micros(), v.0);
                        v
                    });
                    assert_eq!(got, expected);
                    if let Some((t, _)) = got {
                        now = t;
                    }
                }
            }
            assert_eq!(q.len(), reference.len());
        }
        for expected in reference {
            assert_eq!(q.pop().map(|(_, v)| v), Some(expected));
        }
        assert_eq!(q.pop().map(|(_, v)| v), None);
    }
}
