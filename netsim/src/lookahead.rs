//! The event queue as the simulator reads it: the next few events are taken out ahead of
//! time, so the memory each will touch can be fetched while earlier ones run.
//!
//! Order is exactly that of the bare queue. Every event taken ahead is due no later than
//! anything still queued; an event scheduled before the last one taken ahead joins them in
//! order, after those due at the same instant (which were scheduled first); anything else goes
//! to the queue, which so only ever sees times at or after the last one it handed out.

use std::collections::VecDeque;

use sansio_core::Instant;

use crate::queue::EventQueue;

/// How many events are kept taken ahead of the one running.
pub(crate) const DEPTH: usize = 8;

/// A monotone priority queue with its next events taken out, in order.
pub(crate) struct Lookahead<V> {
    queue: EventQueue<V>,
    /// Events taken ahead, earliest first; all due no later than anything in `queue`.
    taken: VecDeque<(Instant, V)>,
}

impl<V: Copy> Lookahead<V> {
    pub(crate) fn new() -> Self {
        Self { queue: EventQueue::new(), taken: VecDeque::with_capacity(4 * DEPTH) }
    }

    /// Schedules `value` at `at`, which must not be earlier than the last event taken.
    #[inline]
    pub(crate) fn push(&mut self, at: Instant, value: V) {
        match self.taken.back() {
            Some((last, _)) if at < *last => {
                // Nearly always due now, so before every event taken ahead: scan from the front.
                match self.taken.iter().position(|(t, _)| *t > at) {
                    Some(0) => self.taken.push_front((at, value)),
                    Some(i) => self.taken.insert(i, (at, value)),
                    None => self.taken.push_back((at, value)),
                }
            }
            _ => self.queue.push(at, value),
        }
    }

    /// When the next event is due.
    pub(crate) fn peek(&mut self) -> Option<Instant> {
        match self.taken.front() {
            Some((at, _)) => Some(*at),
            None => self.queue.peek(),
        }
    }

    /// Takes the next event, first topping up the events taken ahead to [`DEPTH`]; `taken`
    /// sees each event as it comes out of the queue.
    #[inline]
    pub(crate) fn pop(&mut self, mut taken: impl FnMut(&V)) -> Option<(Instant, V)> {
        while self.taken.len() <= DEPTH {
            let Some(e) = self.queue.pop() else { break };
            taken(&e.1);
            self.taken.push_back(e);
        }
        self.taken.pop_front()
    }

    /// The event that will run `i` events after the next one, if taken yet.
    #[inline]
    pub(crate) fn ahead(&self, i: usize) -> Option<&V> {
        self.taken.get(i).map(|(_, v)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.taken.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a sorted reference: events scheduled at the time of the last one taken, between
    /// it and the events taken ahead, among them, and beyond them come out earliest first,
    /// ties in scheduling order; and every event is shown as taken before its turn.
    #[test]
    fn same_order_as_a_sorted_reference() {
        let mut rng = sansio_core::SeededRng::from_seed(sansio_core::Seed::new([3; 32]));
        let mut q = Lookahead::new();
        let mut reference = std::collections::BTreeSet::new(); // (time, order)
        let mut shown = std::collections::HashSet::new();
        let (mut now, mut order) = (0u64, 0u64);
        for _ in 0..50_000 {
            if rng.below(2) == 0 {
                let at = now + [0, 0, 1, 3, 20, 5_000][rng.below(6) as usize] * rng.below(3);
                order += 1;
                q.push(Instant::from_micros(at), (at, order));
                reference.insert((at, order));
            } else {
                assert_eq!(q.peek().map(Instant::as_micros), reference.first().map(|e| e.0));
                let expected = reference.pop_first();
                assert_eq!(q.pop(|v| assert!(shown.insert(*v))).map(|(_, v)| v), expected);
                if let Some((t, _)) = expected {
                    now = t;
                }
            }
            assert_eq!(q.len(), reference.len());
        }
    }
}
