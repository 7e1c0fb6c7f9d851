//! Collects a machine's transmits into one buffer and groups runs of equal-sized datagrams to
//! the same destination, so a driver can hand each run to the kernel in one GSO send.

use std::net::{IpAddr, SocketAddr};

use sansio_core::{Instant, Machine, Transmit};

use crate::route::SocketTable;

/// Largest UDP payload a single datagram can carry.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// Largest run handed to one GSO send (the kernel caps the whole super-packet at 64 KiB).
const MAX_GSO_BYTES: usize = 64_000;
/// The kernel's limit on segments per GSO send (`UDP_MAX_SEGMENTS`).
const MAX_GSO_SEGMENTS: usize = 64;

/// A contiguous run of datagrams in the outbox that leave one socket for one destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub socket: usize,
    pub destination: SocketAddr,
    pub src_ip: Option<IpAddr>,
    pub start: usize,
    pub len: usize,
    /// Size of every datagram but the last, which may be shorter.
    pub segment: usize,
    pub segments: usize,
    /// A shorter final datagram closed the run.
    pub closed: bool,
    /// The IP TTL every datagram of the run leaves with (`None`: the socket's default).
    pub ttl: Option<u8>,
}

impl Run {
    /// The run as a quinn-udp transmit over `buf`.
    pub(crate) fn transmit<'a>(&self, buf: &'a [u8]) -> quinn_udp::Transmit<'a> {
        quinn_udp::Transmit {
            destination: self.destination,
            ecn: None,
            contents: &buf[self.start..self.start + self.len],
            segment_size: (self.segments > 1).then_some(self.segment),
            src_ip: self.src_ip,
        }
    }
}

/// What [`Outbox::fill`] stopped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// The machine has no more transmits queued.
    Drained,
    /// The outbox is full: flush it, then fill again.
    Full,
}

/// The send side of a driver: one reusable buffer, no allocation per datagram.
#[derive(Debug)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    filled: usize,
    runs: Vec<Run>,
    /// Transmits whose `source` matched no socket.
    pub unroutable: u64,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(MAX_UDP_PAYLOAD + 1);
        Self { buf: vec![0; capacity], filled: 0, runs: Vec::new(), unroutable: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn clear(&mut self) {
        self.filled = 0;
        self.runs.clear();
    }

    /// Pulls transmits from `machine` until it has none or the buffer cannot take a full-sized
    /// datagram. `max_segments(socket)` is how many GSO segments that socket's kernel accepts.
    pub(crate) fn fill<M: Machine>(
        &mut self,
        machine: &mut M,
        now: Instant,
        table: &SocketTable,
        max_segments: impl Fn(usize) -> usize,
    ) -> Fill {
        loop {
            let room = self.buf.len() - self.filled;
            if room < MAX_UDP_PAYLOAD {
                return Fill::Full;
            }
            let window = &mut self.buf[self.filled..self.filled + MAX_UDP_PAYLOAD];
            let Some(Transmit { destination, source, len, ttl }) = machine.poll_transmit(now, window) else {
                return Fill::Drained;
            };
            let len = len.min(MAX_UDP_PAYLOAD);
            let Some((socket, src_ip)) = table.route(source, destination) else {
                self.unroutable += 1;
                continue;
            };
            self.push(socket, destination, src_ip, ttl, len, max_segments(socket).min(MAX_GSO_SEGMENTS));
        }
    }

    fn push(
        &mut self,
        socket: usize,
        destination: SocketAddr,
        src_ip: Option<IpAddr>,
        ttl: Option<u8>,
        len: usize,
        max_segments: usize,
    ) {
        let start = self.filled;
        self.filled += len;
        if let Some(run) = self.runs.last_mut()
            && !run.closed
            && run.socket == socket
            && run.destination == destination
            && run.src_ip == src_ip
            && run.ttl == ttl
            && len <= run.segment
            && len > 0
            && run.segments < max_segments
            && run.len + len <= MAX_GSO_BYTES
        {
            run.len += len;
            run.segments += 1;
            run.closed = len < run.segment;
            return;
        }
        self.runs.push(Run { socket, destination, src_ip, start, len, segment: len, segments: 1, closed: false, ttl });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansio_core::Transmit;

    /// Emits the queued `(destination, len)` transmits, filling each with its index.
    struct Burst(std::collections::VecDeque<(SocketAddr, usize)>, u8);

    impl Machine for Burst {
        type Event = ();
        fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
            let (destination, len) = self.0.pop_front()?;
            buf[..len].fill(self.1);
            self.1 += 1;
            Some(Transmit { destination, source: None, len, ttl: None })
        }
        fn poll_event(&mut self) -> Option<()> {
            None
        }
        fn poll_timeout(&mut self) -> Option<Instant> {
            None
        }
    }

    fn table() -> SocketTable {
        SocketTable::new(vec!["127.0.0.1:1000".parse().unwrap()])
    }

    #[test]
    fn equal_datagrams_to_one_peer_form_one_run_with_a_short_tail() {
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut m = Burst([(a, 100), (a, 100), (a, 100), (a, 40), (a, 100)].into(), 0);
        let mut out = Outbox::new(1 << 18);
        assert_eq!(out.fill(&mut m, Instant::ZERO, &table(), |_| 64), Fill::Drained);
        let runs = out.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].segments, runs[0].len, runs[0].segment), (4, 340, 100));
        assert_eq!((runs[1].start, runs[1].len), (340, 100));
        let t = runs[0].transmit(out.bytes());
        assert_eq!(t.segment_size, Some(100));
        assert_eq!(&t.contents[300..340], &[3u8; 40][..]);
        assert_eq!(runs[1].transmit(out.bytes()).segment_size, None);
    }

    #[test]
    fn a_new_destination_or_a_larger_datagram_starts_a_new_run() {
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:10".parse().unwrap();
        let mut m = Burst([(a, 50), (b, 50), (b, 60), (b, 60)].into(), 0);
        let mut out = Outbox::new(1 << 18);
        out.fill(&mut m, Instant::ZERO, &table(), |_| 64);
        let shape: Vec<_> = out.runs().iter().map(|r| (r.destination, r.segments)).collect();
        assert_eq!(shape, vec![(a, 1), (b, 1), (b, 2)]);
    }

    #[test]
    fn runs_respect_the_socket_segment_limit_and_a_full_outbox_stops_filling() {
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut m = Burst(std::iter::repeat_n((a, 1000), 10).collect(), 0);
        let mut out = Outbox::new(1 << 18);
        out.fill(&mut m, Instant::ZERO, &table(), |_| 3);
        let segs: Vec<_> = out.runs().iter().map(|r| r.segments).collect();
        assert_eq!(segs, vec![3, 3, 3, 1]);

        // The smallest outbox holds one maximum-sized datagram.
        let mut big = Burst(std::iter::repeat_n((a, 60_000), 3).collect(), 0);
        let mut out = Outbox::new(0);
        assert_eq!(out.fill(&mut big, Instant::ZERO, &table(), |_| 64), Fill::Full);
        assert_eq!(out.runs().len(), 1, "one 60 kB datagram fits, the next waits in the machine");
        assert_eq!(big.0.len(), 2);
    }
}
