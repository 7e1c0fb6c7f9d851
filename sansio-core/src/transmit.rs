//! One outgoing-datagram queue for every machine.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;

use crate::{MIN_TRANSMIT_BUFFER, Transmit};

/// Why [`TransmitQueue::push`] refused a datagram. Either way the datagram is not queued and
/// the refusal is counted in [`TransmitQueueStats`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The datagram is longer than any driver is obliged to accept ([`MIN_TRANSMIT_BUFFER`]).
    #[error("datagram of {len} bytes is larger than the {max}-byte transmit limit")]
    Oversize {
        /// The datagram's length.
        len: usize,
        /// The largest length the queue accepts.
        max: usize,
    },
    /// The queue holds its limit of datagrams or bytes.
    #[error("transmit queue full")]
    Full,
}

/// Counters of a [`TransmitQueue`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransmitQueueStats {
    /// Datagrams accepted.
    pub queued: u64,
    /// Refused: longer than [`MIN_TRANSMIT_BUFFER`].
    pub refused_oversize: u64,
    /// Refused: the queue was full.
    pub refused_full: u64,
    /// Dropped at [`TransmitQueue::pop`] because the driver's buffer was shorter than the
    /// contract allows (a driver bug; counted, never truncated).
    pub dropped_short_buffer: u64,
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    source: Option<SocketAddr>,
    destination: SocketAddr,
    /// Where the datagram's bytes start in the ring.
    at: usize,
    len: usize,
    ttl: Option<u8>,
}

/// A bounded FIFO of datagrams waiting for [`Machine::poll_transmit`](crate::Machine).
///
/// Every core queues its output here instead of keeping its own list: one order (first in,
/// first out), one bound (datagrams and bytes), and one policy for a datagram that can never
/// be sent (longer than [`MIN_TRANSMIT_BUFFER`]): refused at [`push`](Self::push) with a typed
/// [`PushError`] and counted, never truncated or silently lost later. Bytes live in one ring
/// buffer, not a `Vec` per datagram, and are copied twice, in at `push` and out at
/// [`pop`](Self::pop), however long the queue stays full (once more only when the ring
/// doubles while wrapped); [`push_with`](Self::push_with) lets
/// a writer encode straight into it.
///
/// ```
/// use sansio_core::{TransmitQueue, PushError, MIN_TRANSMIT_BUFFER};
///
/// let mut q = TransmitQueue::new(2, 64 * 1024);
/// let to = "192.0.2.1:3478".parse().unwrap();
/// q.push(None, to, b"hello").unwrap();
/// q.push_with(None, to, 16, |buf| { buf[..3].copy_from_slice(b"abc"); 3 }).unwrap();
/// assert_eq!(q.push(None, to, b"x"), Err(PushError::Full));
///
/// let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
/// let t = q.pop(&mut buf).unwrap();
/// assert_eq!((&buf[..t.len], t.destination), (&b"hello"[..], to));
/// let t = q.pop(&mut buf).unwrap();
/// assert_eq!(&buf[..t.len], b"abc");
/// assert!(q.pop(&mut buf).is_none());
/// assert_eq!(q.stats().refused_full, 1);
/// ```
#[derive(Clone, Debug)]
pub struct TransmitQueue {
    entries: VecDeque<Entry>,
    /// The ring: each datagram's bytes are contiguous at its entry's `at`. Live bytes run from
    /// the oldest entry's `at` to the newest's end, wrapping to 0 at most once (a datagram that
    /// does not fit before the end starts at 0 instead).
    ring: Vec<u8>,
    /// Bytes of the queued datagrams.
    queued: usize,
    max_datagrams: usize,
    max_bytes: usize,
    stats: TransmitQueueStats,
}

impl Default for TransmitQueue {
    /// 1024 datagrams or 1 MiB, whichever is reached first.
    fn default() -> Self {
        Self::new(1024, 1 << 20)
    }
}

impl TransmitQueue {
    /// An empty queue holding at most `max_datagrams` datagrams and `max_bytes` bytes (each at
    /// least one datagram and one full-size datagram).
    #[must_use]
    pub fn new(max_datagrams: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            ring: Vec::new(),
            queued: 0,
            max_datagrams: max_datagrams.max(1),
            max_bytes: max_bytes.max(MIN_TRANSMIT_BUFFER),
            stats: TransmitQueueStats::default(),
        }
    }

    /// Queues a copy of `datagram`, to leave from `source` (`None`: the driver's default
    /// socket) for `destination`.
    ///
    /// # Errors
    ///
    /// [`PushError::Oversize`] if `datagram` is longer than [`MIN_TRANSMIT_BUFFER`],
    /// [`PushError::Full`] if the queue is at its limit. Both are counted.
    pub fn push(
        &mut self,
        source: Option<SocketAddr>,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), PushError> {
        self.push_ttl(source, destination, None, datagram)
    }

    /// As [`push`](Self::push), with the IP time-to-live the datagram leaves with
    /// ([`Transmit::ttl`]).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn push_ttl(
        &mut self,
        source: Option<SocketAddr>,
        destination: SocketAddr,
        ttl: Option<u8>,
        datagram: &[u8],
    ) -> Result<(), PushError> {
        let len = datagram.len();
        let at = self.room(len)?;
        if len > 0 {
            self.ring[at..at + len].copy_from_slice(datagram);
            self.commit(Entry { source, destination, at, len, ttl });
        }
        Ok(())
    }

    /// Checks the bounds for a datagram of up to `max_len` bytes and returns where in the ring
    /// it goes, growing the ring if no free stretch is long enough.
    fn room(&mut self, max_len: usize) -> Result<usize, PushError> {
        if max_len > MIN_TRANSMIT_BUFFER {
            self.stats.refused_oversize += 1;
            return Err(PushError::Oversize { len: max_len, max: MIN_TRANSMIT_BUFFER });
        }
        if self.entries.len() >= self.max_datagrams || self.queued + max_len > self.max_bytes {
            self.stats.refused_full += 1;
            return Err(PushError::Full);
        }
        let (Some(oldest), Some(newest)) = (self.entries.front(), self.entries.back()) else {
            // Empty: start again at the front.
            if self.ring.len() < max_len {
                self.ring.resize(max_len, 0);
            }
            return Ok(0);
        };
        let (head, tail) = (oldest.at, newest.at + newest.len);
        if newest.at >= oldest.at {
            // Live bytes are head..tail: after the tail, else before the head.
            if tail + max_len <= self.ring.len() {
                return Ok(tail);
            }
            if max_len <= head {
                return Ok(0);
            }
            // Neither stretch is long enough: grow past the tail (the live bytes stay put).
            self.ring.resize((2 * self.ring.len()).max(tail + max_len), 0);
            return Ok(tail);
        }
        // Wrapped: live bytes are head..end and 0..tail; the free stretch is tail..head.
        if tail + max_len <= head {
            return Ok(tail);
        }
        // Grow by laying the live bytes out again from 0, in order (rare: the ring doubles).
        let mut ring = alloc::vec![0u8; (2 * self.ring.len()).max(self.queued + max_len)];
        let mut end = 0;
        for e in &mut self.entries {
            ring[end..end + e.len].copy_from_slice(&self.ring[e.at..e.at + e.len]);
            e.at = end;
            end += e.len;
        }
        self.ring = ring;
        Ok(end)
    }

    fn commit(&mut self, entry: Entry) {
        self.queued += entry.len;
        self.entries.push_back(entry);
        self.stats.queued += 1;
    }

    /// Queues a datagram that `write` encodes into a buffer of `max_len` bytes, returning how
    /// many it wrote (clamped to `max_len`; `0` queues nothing and is not an error). The buffer
    /// starts zeroed, so padding a writer skips never carries an earlier datagram's bytes.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push), judged on `max_len` before `write` runs.
    pub fn push_with(
        &mut self,
        source: Option<SocketAddr>,
        destination: SocketAddr,
        max_len: usize,
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), PushError> {
        let at = self.room(max_len)?;
        let room = &mut self.ring[at..at + max_len];
        room.fill(0);
        let len = write(room).min(max_len);
        if len > 0 {
            self.commit(Entry { source, destination, at, len, ttl: None });
        }
        Ok(())
    }

    /// Writes the oldest datagram into `buf` and returns where it goes, or `None` if the queue
    /// is empty. A `buf` shorter than the datagram (a driver breaking the
    /// [`Machine`](crate::Machine) contract) drops it, counted, and moves to the next.
    #[inline]
    pub fn pop(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        // Machines ask an empty queue first on every poll: that answer costs no call.
        if self.entries.is_empty() {
            return None;
        }
        self.pop_queued(buf)
    }

    /// [`pop`](Self::pop) once something waits.
    fn pop_queued(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let e = self.entries.pop_front()?;
            self.queued -= e.len;
            let sent = buf.get_mut(..e.len).map(|out| out.copy_from_slice(&self.ring[e.at..e.at + e.len]));
            if sent.is_some() {
                return Some(Transmit { destination: e.destination, source: e.source, len: e.len, ttl: e.ttl });
            }
            self.stats.dropped_short_buffer += 1;
        }
    }

    /// The length of the oldest datagram, if any (what [`pop`](Self::pop) would write).
    #[must_use]
    pub fn peek_len(&self) -> Option<usize> {
        self.entries.front().map(|e| e.len)
    }

    /// Where the queued datagrams go, oldest first: (source, destination), as
    /// [`Transmit`] will say.
    ///
    /// ```
    /// use sansio_core::TransmitQueue;
    ///
    /// let mut q = TransmitQueue::default();
    /// let to = "192.0.2.1:3478".parse().unwrap();
    /// q.push(None, to, b"hello").unwrap();
    /// assert_eq!(q.destinations().collect::<Vec<_>>(), [(None, to)]);
    /// ```
    pub fn destinations(&self) -> impl Iterator<Item = (Option<SocketAddr>, SocketAddr)> + '_ {
        self.entries.iter().map(|e| (e.source, e.destination))
    }

    /// Drops every queued datagram; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        self.entries.clear();
        self.queued = 0;
        n
    }

    /// Datagrams waiting.
    #[must_use]
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    #[must_use]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes waiting.
    #[must_use]
    #[inline]
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> TransmitQueueStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn oversize_is_refused_at_push_and_counted_never_truncated() {
        let mut q = TransmitQueue::new(8, 1 << 20);
        let big = alloc::vec![1u8; MIN_TRANSMIT_BUFFER + 1];
        assert_eq!(
            q.push(None, addr("192.0.2.1:1"), &big),
            Err(PushError::Oversize { len: MIN_TRANSMIT_BUFFER + 1, max: MIN_TRANSMIT_BUFFER })
        );
        assert!(q.is_empty());
        assert_eq!(q.stats().refused_oversize, 1);
        q.push(None, addr("192.0.2.1:1"), &big[..MIN_TRANSMIT_BUFFER]).unwrap();
        assert_eq!(q.queued_bytes(), MIN_TRANSMIT_BUFFER);
    }

    #[test]
    fn the_byte_bound_holds_as_well_as_the_count() {
        let mut q = TransmitQueue::new(100, MIN_TRANSMIT_BUFFER);
        q.push(None, addr("192.0.2.1:1"), &[0; 1500]).unwrap();
        assert_eq!(q.push(None, addr("192.0.2.1:1"), &[0; 600]), Err(PushError::Full));
        q.push(None, addr("192.0.2.1:1"), &[0; 548]).unwrap();
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_short_driver_buffer_drops_the_datagram_counted() {
        let mut q = TransmitQueue::new(8, 1 << 20);
        q.push(None, addr("192.0.2.1:1"), &[7; 100]).unwrap();
        q.push(Some(addr("192.0.2.9:9")), addr("192.0.2.1:2"), &[8; 10]).unwrap();
        let mut small = [0u8; 50];
        let t = q.pop(&mut small).unwrap();
        assert_eq!((t.len, t.source, small[0]), (10, Some(addr("192.0.2.9:9")), 8));
        assert_eq!(q.stats().dropped_short_buffer, 1);
    }

    #[test]
    fn fifo_order_survives_interleaved_pushes_and_pops_and_memory_is_reclaimed() {
        let mut q = TransmitQueue::new(4, 1 << 20);
        let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
        let mut next_in = 0u8;
        let mut next_out = 0u8;
        for round in 0..1000 {
            for _ in 0..(round % 4) {
                if q.push(None, addr("192.0.2.1:1"), &[next_in; 700]).is_ok() {
                    next_in = next_in.wrapping_add(1);
                }
            }
            for _ in 0..(round % 3) {
                if let Some(t) = q.pop(&mut buf) {
                    assert_eq!((t.len, buf[0]), (700, next_out));
                    next_out = next_out.wrapping_add(1);
                }
            }
            assert!(q.ring.len() <= 2 * 4 * 700 + MIN_TRANSMIT_BUFFER, "buffer grew to {}", q.ring.len());
        }
    }

    #[test]
    fn a_writer_that_writes_nothing_queues_nothing() {
        let mut q = TransmitQueue::new(4, 1 << 20);
        q.push_with(None, addr("192.0.2.1:1"), 100, |_| 0).unwrap();
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    /// Random pushes (plain and written), pops and clears against a plain list of datagrams:
    /// the ring must give back exactly what went in, in order, and stay within twice the byte
    /// bound however the datagrams wrap.
    mod against_a_list {
        use super::*;
        use alloc::collections::VecDeque;
        use alloc::vec::Vec;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Push(u16, u8),
            PushWith(u16, u16, u8),
            Pop,
            Clear,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u16..1600, any::<u8>()).prop_map(|(n, b)| Op::Push(n, b)),
                2 => (0u16..1600, 0u16..1600, any::<u8>()).prop_map(|(n, w, b)| Op::PushWith(n, w, b)),
                5 => Just(Op::Pop),
                1 => Just(Op::Clear),
            ]
        }

        proptest! {
            #[test]
            fn the_ring_returns_what_went_in(ops in proptest::collection::vec(op(), 1..300), max_bytes in 0usize..8000) {
                let to = addr("192.0.2.1:1");
                let mut q = TransmitQueue::new(16, max_bytes);
                let mut model: VecDeque<Vec<u8>> = VecDeque::new();
                let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
                for op in ops {
                    match op {
                        Op::Push(n, b) => {
                            let d = alloc::vec![b; usize::from(n)];
                            if q.push(None, to, &d).is_ok() && n > 0 {
                                model.push_back(d);
                            }
                        }
                        Op::PushWith(n, w, b) => {
                            let w = w.min(n);
                            let mut zeroed = true;
                            let pushed = q.push_with(None, to, usize::from(n), |room| {
                                zeroed = room.iter().all(|&x| x == 0);
                                room[..usize::from(w)].fill(b);
                                usize::from(w)
                            });
                            prop_assert!(zeroed, "push_with's room starts zeroed");
                            if pushed.is_ok() && w > 0 {
                                model.push_back(alloc::vec![b; usize::from(w)]);
                            }
                        }
                        Op::Pop => {
                            let got = q.pop(&mut buf).map(|t| buf[..t.len].to_vec());
                            prop_assert_eq!(got, model.pop_front());
                        }
                        Op::Clear => {
                            prop_assert_eq!(q.clear(), model.len());
                            model.clear();
                        }
                    }
                    prop_assert_eq!(q.len(), model.len());
                    prop_assert_eq!(q.queued_bytes(), model.iter().map(Vec::len).sum::<usize>());
                    prop_assert!(q.queued_bytes() <= q.max_bytes);
                    prop_assert!(q.ring.len() <= 2 * (q.max_bytes + MIN_TRANSMIT_BUFFER), "ring of {}", q.ring.len());
                }
            }
        }
    }
}
