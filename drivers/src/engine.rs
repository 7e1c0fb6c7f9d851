//! What both run loops share: feeding inputs to the machine, draining its outputs, receive
//! buffers, and the bookkeeping that keeps timers alive under load.

use std::io::IoSliceMut;

use quinn_udp::{RecvMeta, UdpSocketState};
use sansio_core::{Instant, Machine};

use crate::outbox::{Fill, Outbox};
use crate::route::SocketTable;
use crate::{DriverConfig, DriverStats, MonoClock};

/// An application command: a closure run on the driver's thread with the machine and `now`.
pub(crate) type Call<M> = Box<dyn FnOnce(&mut M, Instant) + Send>;

/// Messages from a handle to its run loop.
pub(crate) enum Command<M> {
    Call(Call<M>),
    Stop,
}

/// Receive buffers of one socket: `slots` buffers of 64 KiB (room for a GRO super-datagram).
pub(crate) struct RecvBatch {
    storage: Vec<u8>,
    metas: Vec<RecvMeta>,
    slots: usize,
}

const SLOT: usize = 65_536;

impl RecvBatch {
    pub(crate) fn new(slots: usize) -> Self {
        let slots = slots.clamp(1, quinn_udp::BATCH_SIZE);
        Self { storage: vec![0; slots * SLOT], metas: vec![RecvMeta::default(); slots], slots }
    }

    /// One `recvmmsg` (or the platform's equivalent) into the buffers; the number of filled
    /// slots, or the error (`WouldBlock` when nothing is waiting).
    pub(crate) fn recv(&mut self, state: &UdpSocketState, socket: quinn_udp::UdpSockRef<'_>) -> std::io::Result<usize> {
        let mut chunks = self.storage.chunks_mut(SLOT);
        let mut slices: [IoSliceMut<'_>; quinn_udp::BATCH_SIZE] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        state.recv(socket, &mut slices[..self.slots], &mut self.metas)
    }
}

/// The machine and everything the loops do to it, independent of how they wait.
pub(crate) struct Engine<M: Machine, E> {
    pub machine: M,
    pub clock: MonoClock,
    pub table: SocketTable,
    pub outbox: Outbox,
    pub stats: DriverStats,
    pub config: DriverConfig,
    /// quinn-udp's per-socket state (GSO/GRO support), in socket order.
    pub states: Vec<UdpSocketState>,
    sink: E,
    deadline: Option<Instant>,
    /// A fill stopped on a full outbox: the machine still holds transmits.
    pending_transmits: bool,
}

impl<M: Machine, E: FnMut(M::Event)> Engine<M, E> {
    pub(crate) fn new(
        machine: M,
        sink: E,
        table: SocketTable,
        states: Vec<UdpSocketState>,
        config: DriverConfig,
    ) -> Self {
        Self {
            states,
            machine,
            clock: MonoClock::new(),
            table,
            outbox: Outbox::new(config.send_buffer_bytes),
            stats: DriverStats::default(),
            config,
            sink,
            deadline: None,
            pending_transmits: false,
        }
    }

    /// Drains whatever the machine was handed over with (queued transmits and events, a
    /// deadline): the loop must not wait for a first input to learn of them.
    pub(crate) fn start(&mut self) {
        let now = self.clock.now();
        self.drain(now);
    }

    /// The machine's next deadline, as of the last drain.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Whether the outbox holds datagrams or the machine holds more than fitted.
    pub(crate) fn has_output(&self) -> bool {
        !self.outbox.is_empty() || self.pending_transmits
    }

    /// Runs an application command at the current time.
    pub(crate) fn call(&mut self, f: Call<M>) {
        let now = self.clock.now();
        self.stats.calls += 1;
        f(&mut self.machine, now);
        self.drain(now);
    }

    /// Fires the machine's timer if its deadline has passed, with the *current* time (never
    /// the stale deadline). Returns whether it fired.
    pub(crate) fn fire_timer(&mut self) -> bool {
        let now = self.clock.now();
        match self.deadline {
            Some(d) if d <= now => {
                self.stats.timeouts += 1;
                self.machine.handle_timeout(now);
                self.drain(now);
                true
            }
            _ => false,
        }
    }

    /// Hands the datagrams in `batch` (the first `n` slots, received on `socket`) to the
    /// machine, splitting GRO super-datagrams at their stride. Transmits and events are
    /// drained after each datagram (the machine's queues stay short); the deadline is read
    /// once, after the batch: nothing waits on it in between, and reading it makes a machine
    /// bring its timers up to date (for P2TP, a recomputation per touched stream).
    pub(crate) fn feed(&mut self, socket: usize, batch: &RecvBatch, n: usize) {
        let now = self.clock.now();
        for (meta, slot) in batch.metas[..n].iter().zip(batch.storage.chunks(SLOT)) {
            let local = self.table.local_for(socket, meta.dst_ip);
            let stride = meta.stride.max(1);
            let len = meta.len.min(slot.len());
            for datagram in slot[..len].chunks(stride) {
                self.stats.datagrams_received += 1;
                self.stats.bytes_received += datagram.len() as u64;
                self.machine.handle_datagram(now, local, meta.addr, datagram);
                self.drain_output(now);
            }
        }
        self.deadline = self.machine.poll_timeout();
    }

    /// Drains transmits into the outbox (until it is full), every event into the sink, and
    /// reads the next deadline.
    fn drain(&mut self, now: Instant) {
        self.drain_output(now);
        self.deadline = self.machine.poll_timeout();
    }

    /// Drains transmits into the outbox (until it is full) and every event into the sink.
    fn drain_output(&mut self, now: Instant) {
        self.refill(now);
        while let Some(event) = self.machine.poll_event() {
            self.stats.events += 1;
            (self.sink)(event);
        }
    }

    /// Pulls transmits into the outbox, grouping runs up to each socket's GSO limit.
    fn refill(&mut self, now: Instant) {
        let Self { machine, outbox, table, config, states, .. } = self;
        let limit = |socket: usize| states[socket].max_gso_segments().min(config.gso_segments).max(1);
        self.pending_transmits = outbox.fill(machine, now, table, limit) == Fill::Full;
        self.stats.unroutable = outbox.unroutable;
    }

    /// After a flush: pull what the machine still holds.
    pub(crate) fn after_flush(&mut self) {
        self.outbox.clear();
        if self.pending_transmits {
            let now = self.clock.now();
            self.refill(now);
            self.deadline = self.machine.poll_timeout();
        }
    }

    /// Counts the outcome of one send of `run_index`.
    pub(crate) fn count_send(&mut self, run_index: usize, result: &std::io::Result<()>) {
        let run = self.outbox.runs()[run_index];
        match result {
            Ok(()) => {
                self.stats.datagrams_sent += run.segments as u64;
                self.stats.bytes_sent += run.len as u64;
            }
            Err(e) => {
                self.stats.send_errors += 1;
                tracing::debug!(destination = %run.destination, error = %e, "send failed; datagrams dropped");
            }
        }
    }
}

/// Runs `send` with the socket's TTL set to `ttl` for a datagram to `to`, and puts the value
/// it had back afterwards; with `None`, just runs `send`. An IPv4 destination, or an
/// IPv4-mapped one on a dual-stack socket, takes `IP_TTL`; an IPv6 one `IPV6_UNICAST_HOPS`.
/// A TTL the kernel refuses fails the send instead of sending with the default: a low-TTL
/// packet sent with the full TTL is exactly the packet a hole puncher must not send.
pub fn with_ttl<S: std::os::fd::AsFd, T>(
    socket: &S,
    to: std::net::SocketAddr,
    ttl: Option<u8>,
    send: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let Some(ttl) = ttl else { return send() };
    let s = socket2::SockRef::from(socket);
    let v6 = match to {
        std::net::SocketAddr::V6(a) => a.ip().to_ipv4_mapped().is_none(),
        std::net::SocketAddr::V4(_) => false,
    };
    let get = |s: &socket2::SockRef<'_>| if v6 { s.unicast_hops_v6() } else { s.ttl_v4() };
    let set = |s: &socket2::SockRef<'_>, t: u32| if v6 { s.set_unicast_hops_v6(t) } else { s.set_ttl_v4(t) };
    let before = get(&s)?;
    set(&s, u32::from(ttl))?;
    let r = send();
    if let Err(e) = set(&s, before) {
        tracing::warn!(error = %e, "could not put the TTL back");
    }
    r
}

/// Readies sockets for a run loop: non-blocking, kernel buffers of
/// [`DriverConfig::socket_buffer_bytes`] (best effort: the kernel caps them at its maximum,
/// `net.core.rmem_max` on Linux), and quinn-udp's state for batched I/O. Returns the sockets,
/// their bound addresses and states, in order.
pub(crate) fn prepare(
    sockets: Vec<std::net::UdpSocket>,
    config: &DriverConfig,
) -> std::io::Result<(Vec<std::net::UdpSocket>, Vec<std::net::SocketAddr>, Vec<UdpSocketState>)> {
    let mut locals = Vec::with_capacity(sockets.len());
    let mut states = Vec::with_capacity(sockets.len());
    for socket in &sockets {
        socket.set_nonblocking(true)?;
        if let Some(bytes) = config.socket_buffer_bytes {
            let s = socket2::SockRef::from(socket);
            // A bigger buffer is an optimisation: a kernel that refuses keeps its default.
            if let Err(e) = s.set_recv_buffer_size(bytes).and_then(|()| s.set_send_buffer_size(bytes)) {
                tracing::debug!(error = %e, "could not enlarge the socket buffers");
            }
        }
        locals.push(socket.local_addr()?);
        states.push(UdpSocketState::new(socket.into())?);
    }
    Ok((sockets, locals, states))
}

#[cfg(test)]
mod tests {
    use super::with_ttl;

    #[test]
    fn a_transmit_ttl_applies_to_its_send_only() {
        let to: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let v4 = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = v4.ttl().unwrap();
        assert_eq!(with_ttl(&v4, to, Some(3), || v4.ttl()).unwrap(), 3);
        assert_eq!(v4.ttl().unwrap(), default, "the default is back for the next datagram");
        assert_eq!(with_ttl(&v4, to, None, || v4.ttl()).unwrap(), default);
    }

    #[test]
    fn a_v4_mapped_destination_on_a_dual_stack_socket_sets_the_ipv4_ttl() {
        // Hosts without IPv6 have nothing to check here.
        let Ok(v6) = std::net::UdpSocket::bind("[::]:0") else { return };
        let s = socket2::SockRef::from(&v6);
        let (ttl, hops) = (s.ttl_v4().unwrap_or(64), s.unicast_hops_v6().unwrap());
        let mapped: std::net::SocketAddr = "[::ffff:127.0.0.1]:9".parse().unwrap();
        let during = with_ttl(&v6, mapped, Some(2), || s.ttl_v4()).unwrap();
        assert_eq!(during, 2, "IP_TTL governs what leaves for an IPv4 peer");
        assert_eq!(s.unicast_hops_v6().unwrap(), hops);
        let native: std::net::SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        assert_eq!(with_ttl(&v6, native, Some(5), || s.unicast_hops_v6()).unwrap(), 5);
        assert_eq!(s.ttl_v4().unwrap_or(64), ttl);
    }
}
