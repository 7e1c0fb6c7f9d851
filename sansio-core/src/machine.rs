//! The contract every sans-IO machine offers to its driver.

use core::net::SocketAddr;

use crate::Instant;

/// The smallest buffer a driver passes to [`Machine::poll_transmit`].
///
/// It covers a full Ethernet-MTU datagram with room to spare; a machine may always rely on
/// `buf.len() >= MIN_TRANSMIT_BUFFER` and must never report a [`Transmit::len`] larger than
/// `buf.len()`.
pub const MIN_TRANSMIT_BUFFER: usize = 2048;

/// One datagram a machine wants sent. Its bytes are `buf[..len]` of the buffer that was passed
/// to [`Machine::poll_transmit`]: no allocation per datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transmit {
    /// Where the datagram goes.
    pub destination: SocketAddr,
    /// Which of the machine's local addresses it must leave from, or `None` for the driver's
    /// default (its first socket). A STUN server answering from its alternate address sets it.
    pub source: Option<SocketAddr>,
    /// Number of bytes written at the start of the buffer.
    pub len: usize,
    /// The IP time-to-live (hop limit) to send with, or `None` for the socket's default (64 on
    /// most systems). A hole puncher sends a first packet that dies between the two NATs;
    /// drivers honour it with `IP_TTL` / `IPV6_UNICAST_HOPS`, and `netsim` decrements it at
    /// every router and NAT on the way.
    pub ttl: Option<u8>,
}

/// A deterministic protocol state machine that drivers and the simulator can run.
///
/// # The contract
///
/// **Inputs.** The driver calls [`handle_datagram`](Machine::handle_datagram) for each datagram
/// received, [`handle_timeout`](Machine::handle_timeout) when the deadline last returned by
/// [`poll_timeout`](Machine::poll_timeout) has passed, and the machine's own typed methods for
/// application commands. Every input carries `now`, the driver's *current* clock reading
/// (never the stale deadline that woke it), and `now` never decreases from one input to the
/// next. Spurious timeouts are allowed and must be harmless.
///
/// **Outputs.** After every input the driver drains, in this order, until each returns `None`:
/// [`poll_transmit`](Machine::poll_transmit), then [`poll_event`](Machine::poll_event), then
/// reads [`poll_timeout`](Machine::poll_timeout). A machine buffers its own output until it is
/// polled; one input produces a finite amount of output.
///
/// **Deadlines.** `poll_timeout` returns the next instant the machine wants
/// `handle_timeout`, or `None` when it is idle. After `handle_timeout(now)` and the outputs
/// drained, it never returns a deadline at or before that `now`: a driver would spin on it.
/// After any other input a deadline may have passed (a flood of datagrams kept the driver busy
/// past it); the driver then calls `handle_timeout` at once, which must move it on.
///
/// **Hostile input.** A malformed or hostile datagram is not an error: the machine drops it
/// and counts it in its statistics. Nothing received may make a machine panic, loop or grow
/// its memory without bound.
///
/// **Determinism.** Given the same seed and the same inputs at the same instants, a machine
/// produces the same outputs byte for byte. It never reads a clock or a global RNG.
///
/// [`ContractCheck`](crate::ContractCheck) wraps any machine and records violations of the
/// time and deadline rules; drivers and the simulator use it in their tests.
pub trait Machine {
    /// What the machine reports to the application.
    type Event;

    /// A datagram arrived on the local address `local` from `remote`.
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]);

    /// The deadline from [`poll_timeout`](Machine::poll_timeout) has passed (or the driver woke
    /// for another reason); `now` is the current time.
    fn handle_timeout(&mut self, now: Instant);

    /// Writes the next queued datagram into `buf` (at least [`MIN_TRANSMIT_BUFFER`] bytes) and
    /// says where it goes, or returns `None` when nothing is queued. `now` lets rate-controlled
    /// machines pace: they may hold back a datagram until later and report that through
    /// [`poll_timeout`](Machine::poll_timeout).
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;

    /// The next event for the application, or `None`.
    fn poll_event(&mut self) -> Option<Self::Event>;

    /// When the machine next wants [`handle_timeout`](Machine::handle_timeout), or `None` when it
    /// has nothing scheduled (the one spelling of "never"). Takes `&mut self` so machines with
    /// many timers can cache the earliest one.
    fn poll_timeout(&mut self) -> Option<Instant>;

    /// Why the deadline last returned by [`poll_timeout`](Machine::poll_timeout) is due
    /// (`"retransmit"`, `"keep-alive"`), for the drivers' trace logs; `None` when there is none
    /// or the machine does not say. A [`TimerTable`](crate::TimerTable) answers it with
    /// [`next_reason`](crate::TimerTable::next_reason).
    fn timeout_reason(&self) -> Option<&'static str> {
        None
    }
}
