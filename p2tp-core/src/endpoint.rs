//! The endpoint: one socket, many streams, one cookie secret, one budget for stateless
//! replies and one node-wide send budget (docs/p2tp.md §1, §5, §8.6, §13).

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::SocketAddr;
use core::time::Duration;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use sansio_core::{Instant, Machine, Seed, SeededRng, Transmit, TransmitQueue};

use crate::arena::RecvArena;
use crate::config::Config;
use crate::cookie::CookieJar;
use crate::event::{ConnectError, Event, SendError};
use crate::header::{HEADER_LEN, Header};
use crate::recv::Arrival;
use crate::stats::{EndpointStats, PathStats};
use crate::stream::{Ctx, Outcome, Phase, Stream};

/// A token bucket in bytes (or replies), refilled continuously.
#[derive(Copy, Clone, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(now: Instant, rate: f64, burst: f64) -> Self {
        Self { tokens: burst, at: now, rate, burst }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + self.rate * dt).min(self.burst);
        self.at = now;
    }

    fn has(&mut self, now: Instant, amount: f64) -> bool {
        self.refill(now);
        self.tokens >= amount.min(self.burst)
    }

    fn take(&mut self, now: Instant, amount: f64) -> bool {
        if !self.has(now, amount) {
            return false;
        }
        self.tokens -= amount;
        true
    }

    /// Charges `amount` whatever the tokens: what was sent is paid for, as a debt if need be.
    fn charge(&mut self, now: Instant, amount: f64) {
        self.refill(now);
        self.tokens -= amount;
    }

    /// When `amount` will be there.
    fn ready_at(&self, amount: f64) -> Instant {
        let need = (amount.min(self.burst) - self.tokens).max(0.0);
        self.at + Duration::from_secs_f64(need / self.rate.max(1e-9)) + Duration::from_micros(1)
    }
}

/// Whether the node budget lets `s` send its next data packet now: it was admitted from the
/// node queue, or nobody waits and the budget (less what admitted streams hold) covers it.
fn node_allows(
    node: &mut Option<Bucket>,
    nobody_waits: bool,
    reserved: f64,
    admitted: f64,
    s: &Stream,
    now: Instant,
) -> bool {
    match (node, s.next_data_len()) {
        (Some(node), Some(len)) => admitted > 0.0 || (nobody_waits && node.has(now, reserved + len as f64)),
        _ => true,
    }
}

#[derive(Debug, Default)]
struct Slot {
    stream: Option<Stream>,
    /// Changes whenever the slot is freed, so old heap entries are recognised.
    generation: u64,
    /// The deadline the heap holds for this stream.
    deadline: Option<Instant>,
    in_ready: bool,
    /// Its timers must be recomputed before the next deadline is read.
    dirty: bool,
    waiting_node: bool,
    /// Bytes of the node budget held for this stream's next data packet (it was admitted
    /// from the node queue and may send once without queueing again).
    admitted: f64,
}

/// A P2TP endpoint: a [`Machine`] for one UDP socket and any number of peers.
///
/// An unknown source gets at most an 8-byte stateless reply (from a global budget) and no
/// state; a stream exists only after `connect` or after a peer returned one of our cookies.
/// Each stream carries application datagrams (one `send`, one packet; what is lost is lost)
/// paced by its own rate controller, and reports its path through
/// [`path_stats`](Self::path_stats) and [`Event::PathUpdate`].
///
/// ```
/// use core::net::SocketAddr;
/// use p2tp_core::{Config, Endpoint, Event};
/// use sansio_core::{Instant, Machine, Seed};
///
/// let (a, b): (SocketAddr, SocketAddr) = ("192.0.2.1:4000".parse()?, "192.0.2.2:4000".parse()?);
/// let mut alice = Endpoint::new(Config::new(a), Seed::from_u64(1));
/// let mut bob = Endpoint::new(Config::new(b), Seed::from_u64(2));
/// let mut now = Instant::ZERO;
/// alice.connect(now, b)?;
/// alice.send(now, b, b"hello")?;
/// // Carry datagrams back and forth (a 1 ms link) until bob has the message.
/// let mut buf = [0u8; 2048];
/// let mut got = None;
/// for _ in 0..20 {
///     now = now + core::time::Duration::from_millis(1);
///     while let Some(t) = alice.poll_transmit(now, &mut buf) {
///         bob.handle_datagram(now, b, a, &buf[..t.len]);
///     }
///     while let Some(t) = bob.poll_transmit(now, &mut buf) {
///         alice.handle_datagram(now, a, b, &buf[..t.len]);
///     }
///     while let Some(e) = bob.poll_event() {
///         if let Event::Datagram { data, .. } = e { got = Some(data); }
///     }
/// }
/// assert_eq!(got.as_deref(), Some(&b"hello"[..]));
/// assert!(alice.path_stats(b).is_some_and(|p| p.packets_sent >= 2));
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    rng: SeededRng,
    jar: CookieJar,
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_peer: HashMap<SocketAddr, usize, FixedState>,
    ready: VecDeque<usize>,
    /// Streams whose timers are out of date: recomputed once, when the deadline is next read,
    /// however many times an input touched them.
    dirty: Vec<usize>,
    /// The `now` of the latest input.
    now: Instant,
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    replies: TransmitQueue,
    events: VecDeque<Event>,
    /// Where received datagrams are copied for the application.
    arena: RecvArena,
    /// The configured idle timeout, before `set_keepalive` raised it.
    base_idle_timeout: Duration,
    stateless: Bucket,
    /// Sources the application trusts, each with a small budget of its own for when the
    /// general one is spent (a flood of strangers, or one spoofing another preferred
    /// source, cannot lock them out); oldest first, for eviction.
    preferred: HashMap<SocketAddr, Bucket, FixedState>,
    preferred_order: VecDeque<SocketAddr>,
    node: Option<Bucket>,
    /// Streams waiting for the node budget, in turn: a stream that sent goes to the back,
    /// so backlogged streams share the uplink max-min fairly.
    node_waiting: VecDeque<usize>,
    node_wake: Option<Instant>,
    /// Node budget held for admitted streams.
    node_reserved: f64,
    queued: usize,
    stats: EndpointStats,
}

/// Preferred sources held at most.
const MAX_PREFERRED: usize = 1024;
/// Stateless replies a second (and burst) for each preferred source.
const PREFERRED_RATE: f64 = 4.0;

impl Endpoint {
    /// An endpoint with no streams; `seed` draws its cookie keys, sequence numbers and
    /// timestamp offsets (a real node seeds it from the OS: predictable keys are forgeable).
    #[must_use]
    pub fn new(config: Config, seed: Seed) -> Self {
        let mut rng = SeededRng::from_seed(seed);
        let jar = CookieJar::new(SeededRng::from_seed(rng.child_seed()));
        let hasher = FixedState::with_seed(rng.next_u64());
        let stateless =
            Bucket::new(Instant::ZERO, f64::from(config.stateless_rate), f64::from(config.stateless_burst.max(1)));
        let node = config.uplink.map(|u| {
            let burst = (u as f64 / 1000.0).max(config.payload_budget as f64 * 2.0);
            Bucket::new(Instant::ZERO, u as f64, burst)
        });
        Self {
            rng,
            jar,
            slots: Vec::new(),
            free: Vec::new(),
            by_peer: HashMap::with_hasher(hasher.clone()),
            ready: VecDeque::new(),
            dirty: Vec::new(),
            now: Instant::ZERO,
            heap: BinaryHeap::new(),
            replies: TransmitQueue::new(256, 256 * HEADER_LEN),
            events: VecDeque::new(),
            arena: RecvArena::default(),
            base_idle_timeout: config.idle_timeout,
            stateless,
            preferred: HashMap::with_hasher(hasher),
            preferred_order: VecDeque::new(),
            node,
            node_waiting: VecDeque::new(),
            node_wake: None,
            node_reserved: 0.0,
            queued: 0,
            stats: EndpointStats::default(),
            config,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Streams held (in any state).
    #[must_use]
    pub fn streams(&self) -> usize {
        self.by_peer.len()
    }

    /// The path to `peer`, if there is a stream.
    #[must_use]
    pub fn path_stats(&self, peer: SocketAddr) -> Option<PathStats> {
        self.stream(peer).map(Stream::path_stats)
    }

    /// Datagrams waiting to be sent to `peer` (what [`PathStats::queued`] says, without building
    /// the rest), or `None` without a stream: the question a sender asks before each
    /// [`send`](Self::send) to keep a backlog.
    #[must_use]
    pub fn queued(&self, peer: SocketAddr) -> Option<usize> {
        self.stream(peer).map(Stream::queued)
    }

    /// Whether the stream to `peer` is established (both sides hold state).
    #[must_use]
    pub fn is_established(&self, peer: SocketAddr) -> bool {
        self.stream(peer).is_some_and(|s| s.phase == Phase::Established)
    }

    fn stream(&self, peer: SocketAddr) -> Option<&Stream> {
        self.by_peer.get(&peer).and_then(|&i| self.slots[i].stream.as_ref())
    }

    /// Opens a stream to `peer` (a no-op if one exists): H1s go out until the peer answers
    /// or 63.75 s pass ([`Event::OpenFailed`]). Datagrams may be sent at once; they wait.
    ///
    /// # Errors
    ///
    /// [`ConnectError::StreamLimit`] at the stream limit, [`ConnectError::FamilyMismatch`] if
    /// `peer` is not of the endpoint's address family.
    pub fn connect(&mut self, now: Instant, peer: SocketAddr) -> Result<(), ConnectError> {
        self.now = self.now.max(now);
        if let Some(&i) = self.by_peer.get(&peer) {
            let Some(s) = self.slots[i].stream.as_mut() else { return Ok(()) };
            if !matches!(s.phase, Phase::Draining { .. }) {
                return Ok(());
            }
            // Reconnecting to a peer just closed: the draining stream makes way.
            s.dead = true;
            self.touch(i, now);
        }
        if peer.is_ipv4() != self.config.local.is_ipv4() {
            return Err(ConnectError::FamilyMismatch);
        }
        if self.by_peer.len() >= self.config.max_streams {
            return Err(ConnectError::StreamLimit);
        }
        let stream = Stream::opening(now, peer, &self.config, &mut self.rng);
        let i = self.insert(stream);
        self.touch(i, now);
        Ok(())
    }

    /// Queues one application datagram for `peer` (at most
    /// [`Config::max_datagram`] bytes). It leaves when the stream's rate allows.
    ///
    /// # Errors
    ///
    /// [`SendError::QueueFull`] is back-pressure: send again after datagrams have left.
    pub fn send(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) -> Result<(), SendError> {
        self.now = self.now.max(now);
        let &i = self.by_peer.get(&peer).ok_or(SendError::NoStream)?;
        if data.is_empty() {
            return Err(SendError::Empty);
        }
        let max = self.config.max_datagram();
        if data.len() > max {
            return Err(SendError::TooLarge { len: data.len(), max });
        }
        let Some(s) = self.slots[i].stream.as_mut() else { return Err(SendError::NoStream) };
        if matches!(s.phase, Phase::Draining { .. }) {
            return Err(SendError::Closing);
        }
        if s.queued() >= self.config.max_queued_per_stream || self.queued >= self.config.max_queued {
            return Err(SendError::QueueFull);
        }
        if !s.queue(data) {
            return Err(SendError::QueueFull);
        }
        self.queued += 1;
        // A stream already waiting its turn to send is looked at again when it gets it.
        if !self.slots[i].in_ready {
            self.touch(i, now);
        }
        Ok(())
    }

    /// Closes the stream to `peer` ([`Event::Closed`] with `Local`); returns whether there
    /// was one. Queued datagrams are dropped.
    pub fn close(&mut self, now: Instant, peer: SocketAddr) -> bool {
        self.now = self.now.max(now);
        let Some(&i) = self.by_peer.get(&peer) else { return false };
        let Some(s) = self.slots[i].stream.as_mut() else { return false };
        if matches!(s.phase, Phase::Draining { .. }) {
            return true;
        }
        self.queued -= s.drop_queue();
        s.close(now, &mut self.events);
        self.touch(i, now);
        true
    }

    fn insert(&mut self, stream: Stream) -> usize {
        let peer = stream.peer;
        let i = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        self.slots[i].stream = Some(stream);
        self.by_peer.insert(peer, i);
        i
    }

    /// At the stream limit, a stream that is only draining (closed, waiting out stray
    /// packets) makes way for a new validated one; returns whether one did.
    fn reap_draining(&mut self, now: Instant) -> bool {
        let Some(i) = self
            .slots
            .iter()
            .position(|slot| slot.stream.as_ref().is_some_and(|s| matches!(s.phase, Phase::Draining { .. })))
        else {
            return false;
        };
        if let Some(s) = self.slots[i].stream.as_mut() {
            s.dead = true;
        }
        self.touch(i, now);
        self.stats.drained_early += 1;
        true
    }

    /// Queues slot `i`'s timers for recomputation at the next `flush_timers` (once).
    fn mark_dirty(flag: &mut bool, i: usize, dirty: &mut Vec<usize>) {
        if !*flag {
            *flag = true;
            dirty.push(i);
        }
    }

    /// Recomputes a stream's timers and readiness after anything touched it; frees it if dead.
    fn touch(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        let Some(s) = slot.stream.as_mut() else { return };
        if s.dead {
            tracing::debug!(peer = %s.peer, phase = ?s.phase, "P2TP stream freed");
            self.queued -= s.drop_queue();
            self.by_peer.remove(&s.peer);
            self.stats.closed += 1;
            self.node_reserved -= slot.admitted;
            *slot = Slot { generation: slot.generation + 1, ..Slot::default() };
            self.free.push(i);
            self.node_waiting.retain(|w| *w != i);
            return;
        }
        s.path_update(now, &mut self.events);
        Self::mark_dirty(&mut slot.dirty, i, &mut self.dirty);
        let node_ok =
            node_allows(&mut self.node, self.node_waiting.is_empty(), self.node_reserved, slot.admitted, s, now);
        if !slot.in_ready && s.has_output(now, node_ok) {
            slot.in_ready = true;
            self.ready.push_back(i);
        } else if !node_ok && !slot.waiting_node && s.wants_node_budget(now) {
            slot.waiting_node = true;
            self.node_waiting.push_back(i);
            self.schedule_node_wake();
        }
        self.compact_heap();
    }

    /// When the node budget can take the first waiting stream's next packet.
    fn schedule_node_wake(&mut self) {
        let (Some(node), Some(&first)) = (&self.node, self.node_waiting.front()) else { return };
        let len = self.slots[first].stream.as_ref().and_then(Stream::next_data_len).unwrap_or(0);
        let at = node.ready_at(self.node_reserved + len as f64);
        self.node_wake = Some(self.node_wake.map_or(at, |w| w.min(at)));
    }

    /// Admits waiting streams, in turn, while the node budget covers their next packets.
    fn admit_waiting(&mut self, now: Instant) {
        while let Some(&i) = self.node_waiting.front() {
            let len = self.slots[i].stream.as_ref().and_then(Stream::next_data_len);
            let Some(node) = self.node.as_mut() else { return };
            match len {
                Some(len) if node.has(now, self.node_reserved + len as f64) => {
                    self.node_reserved += len as f64;
                    self.slots[i].admitted = len as f64;
                }
                Some(_) => break,
                None => {}
            }
            self.node_waiting.pop_front();
            self.slots[i].waiting_node = false;
            self.touch(i, now);
        }
        self.schedule_node_wake();
    }

    /// Recomputes the timers of every stream an input touched, at the latest input's time.
    fn flush_timers(&mut self) {
        let now = self.now;
        // Popped, not taken: the vector keeps its capacity from one input to the next.
        while let Some(i) = self.dirty.pop() {
            let slot = &mut self.slots[i];
            slot.dirty = false;
            let Some(s) = slot.stream.as_mut() else { continue };
            s.update_timers(now);
            // Only an earlier deadline needs a heap entry: a later one is reached by waking at
            // the entry already there (a spurious wake-up, which reschedules).
            if let Some(d) = s.timers.next_deadline()
                && slot.deadline.is_none_or(|current| d < current)
            {
                slot.deadline = Some(d);
                self.heap.push(Reverse((d, i, slot.generation)));
            }
        }
    }

    /// Rebuilds the timer heap when stale entries outnumber live ones.
    fn compact_heap(&mut self) {
        if self.heap.len() <= 2 * self.slots.len() + 1024 {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|Reverse((d, i, g))| slots[*i].generation == *g && slots[*i].deadline == Some(*d));
    }

    /// Answers handshakes from `peer` from a small budget of its own (4 a second, burst 4)
    /// when the general stateless budget is spent, so a flood of strangers cannot keep it
    /// out (an application marks the proven addresses of peers it trusts). At most 1024
    /// addresses; the oldest makes way for a new one.
    pub fn prefer(&mut self, peer: SocketAddr) {
        if self.preferred.contains_key(&peer) {
            return;
        }
        if self.preferred.len() >= MAX_PREFERRED
            && let Some(old) = self.preferred_order.pop_front()
        {
            self.preferred.remove(&old);
        }
        self.preferred.insert(peer, Bucket::new(self.now, PREFERRED_RATE, PREFERRED_RATE));
        self.preferred_order.push_back(peer);
    }

    /// Sets the keep-alive interval of every stream, present and future: the overlay sets it
    /// from the NAT binding lifetime it measured (docs/p2tp.md §10.1). The idle timeout
    /// becomes the configured one or four intervals, whichever is longer (recomputed on every
    /// call, so a shorter interval brings it back down): each side's keep-alive draws an
    /// answer, so a stream's packets flow at the shorter of the two sides' intervals, below
    /// both idle timeouts. Intervals under a second are taken as one second.
    ///
    /// ```
    /// use core::time::Duration;
    /// use p2tp_core::{Config, Endpoint};
    /// use sansio_core::{Instant, Seed};
    ///
    /// let mut endpoint = Endpoint::new(Config::new("192.0.2.1:6421".parse().unwrap()), Seed::from_u64(1));
    /// endpoint.set_keepalive(Instant::ZERO, Duration::from_secs(240));
    /// assert_eq!(endpoint.config().keepalive, Duration::from_secs(240));
    /// assert_eq!(endpoint.config().idle_timeout, Duration::from_secs(960));
    /// ```
    pub fn set_keepalive(&mut self, now: Instant, keepalive: Duration) {
        let keepalive = keepalive.max(Duration::from_secs(1));
        self.config.keepalive = keepalive;
        self.config.idle_timeout = self.base_idle_timeout.max(keepalive.saturating_mul(4));
        self.now = self.now.max(now);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(s) = slot.stream.as_mut() else { continue };
            s.set_keepalive(keepalive, self.config.idle_timeout);
            Self::mark_dirty(&mut slot.dirty, i, &mut self.dirty);
        }
        self.flush_timers();
    }

    /// Stops preferring `peer`.
    pub fn unprefer(&mut self, peer: SocketAddr) {
        if self.preferred.remove(&peer).is_some() {
            self.preferred_order.retain(|a| *a != peer);
        }
    }

    /// Streams that are closed and only waiting out stray packets (they give their slot to
    /// a new validated stream at the limit). Linear in the streams held.
    #[must_use]
    pub fn draining(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.stream.as_ref().is_some_and(|s| matches!(s.phase, Phase::Draining { .. })))
            .count()
    }

    /// Takes one stateless reply from the budget `to` draws on.
    fn take_stateless(&mut self, now: Instant, to: SocketAddr) -> bool {
        self.stateless.take(now, 1.0) || self.preferred.get_mut(&to).is_some_and(|b| b.take(now, 1.0))
    }

    fn has_stateless(&mut self, now: Instant, to: SocketAddr) -> bool {
        self.stateless.has(now, 1.0) || self.preferred.get_mut(&to).is_some_and(|b| b.has(now, 1.0))
    }

    /// Queues an 8-byte stateless reply if the budget allows.
    fn reply(&mut self, now: Instant, to: SocketAddr, h: Header) {
        if !self.take_stateless(now, to) {
            tracing::trace!(%to, "P2TP stateless reply over budget: dropped");
            self.stats.stateless_over_budget += 1;
            return;
        }
        let mut bytes = [0u8; HEADER_LEN];
        h.encode(&mut bytes);
        if self.replies.push(None, to, &bytes).is_ok() {
            self.stats.stateless_replies += 1;
        } else {
            self.stats.stateless_over_budget += 1;
        }
    }

    /// H2 (to an H1) or H2R (to an unaccepted SOP=1 packet): our cookie, and `echo`. The
    /// budget is asked first, so a flood past it costs no MAC computation.
    fn cookie_reply(&mut self, now: Instant, to: SocketAddr, echo: u32) {
        if !self.has_stateless(now, to) {
            self.stats.stateless_over_budget += 1;
            return;
        }
        let cookie = self.jar.issue(now, self.config.local, to);
        self.reply(now, to, Header { sop: false, lss: false, v1: cookie, clr: false, yts: true, v2: echo });
    }

    fn check_cookie(&self, now: Instant, peer: SocketAddr, h: &Header) -> Option<Duration> {
        if !h.yts {
            return None;
        }
        self.jar.check(now, self.config.local, peer, h.v2)
    }

    fn on_sop0(&mut self, now: Instant, peer: SocketAddr, h: &Header) {
        let index = self.by_peer.get(&peer).copied();
        let phase = index.and_then(|i| self.slots[i].stream.as_ref()).map(|s| s.phase);
        match (h.lss, h.yts) {
            (true, false) => self.stats.invalid_flags += 1,
            (true, true) => {
                // A close: it must prove knowledge of the stream (docs/p2tp.md §10.4).
                let own_cookie = || self.jar.check(now, self.config.local, peer, h.v2).is_some();
                let valid = index.and_then(|i| self.slots[i].stream.as_ref()).is_some_and(|s| match s.phase {
                    // Its sequence number in our window, and an echo of a timestamp we sent
                    // recently (or our cookie, if we sent none since).
                    Phase::Established => {
                        s.classify(h.v1.wrapping_sub(1) & crate::serial::MASK) != Arrival::OutOfWindow
                            && (s.close_echo_plausible(h.v2) || own_cookie())
                    }
                    // Nothing received yet to check a sequence number by: our cookie only.
                    Phase::Unconfirmed { .. } => own_cookie(),
                    Phase::Opening { .. } | Phase::Draining { .. } => false,
                });
                match index {
                    Some(i) if valid => {
                        if let Some(s) = self.slots[i].stream.as_mut() {
                            s.closed_by_peer(&mut self.events);
                        }
                        self.touch(i, now);
                    }
                    // A close for a stream already gone (a duplicate, or a drain answer
                    // crossing our own close) proves nothing and harms nothing.
                    None => self.stats.unmatched += 1,
                    Some(_) => self.stats.bad_close += 1,
                }
            }
            (false, false) => {
                // H1: answered statelessly, whatever state we hold (simultaneous open).
                if matches!(phase, Some(Phase::Draining { .. })) {
                    self.stats.unmatched += 1;
                } else {
                    self.cookie_reply(now, peer, h.v1);
                }
            }
            (false, true) => {
                let (Some(i), Some(phase)) = (index, phase) else {
                    self.stats.unmatched += 1;
                    return;
                };
                let sample = self.check_cookie(now, peer, h);
                let Some(s) = self.slots[i].stream.as_mut() else { return };
                let accept = match phase {
                    Phase::Opening { .. } => sample.is_some(),
                    Phase::Unconfirmed { .. } => sample.is_some() || s.is_recent_seq(h.v2),
                    Phase::Established => s.is_recent_seq(h.v2),
                    Phase::Draining { .. } => false,
                };
                if accept {
                    s.confirm_peer(now, h.v1, sample);
                    self.touch(i, now);
                } else if matches!(phase, Phase::Opening { .. }) {
                    self.stats.bad_cookie += 1;
                } else {
                    self.stats.unmatched += 1;
                }
            }
        }
    }

    fn on_sop1(&mut self, now: Instant, peer: SocketAddr, h: &Header, payload: &[u8]) {
        let Some(&i) = self.by_peer.get(&peer) else {
            match self.check_cookie(now, peer, h) {
                Some(_) if self.by_peer.len() >= self.config.max_streams && !self.reap_draining(now) => {
                    self.stats.stream_limit += 1;
                }
                Some(sample) => {
                    let stream = Stream::established(now, peer, sample, &self.config, &mut self.rng);
                    let i = self.insert(stream);
                    self.stats.opened += 1;
                    if let Some(s) = self.slots[i].stream.as_mut() {
                        self.events.push_back(Event::Opened { peer });
                        s.on_packet(now, h, payload, || true, &mut self.events, &mut self.arena);
                    }
                    self.touch(i, now);
                }
                None => {
                    if h.yts {
                        self.stats.bad_cookie += 1;
                    }
                    self.cookie_reply(now, peer, h.v1);
                }
            }
            return;
        };
        let Some(phase) = self.slots[i].stream.as_ref().map(|s| s.phase) else { return };
        match phase {
            Phase::Draining { .. } => {
                let close = self.slots[i].stream.as_mut().and_then(|s| s.drain_close(now, h));
                if let Some(close) = close {
                    self.reply(now, peer, close);
                    self.stats.drain_closes += 1;
                }
            }
            Phase::Opening { .. } => match self.check_cookie(now, peer, h) {
                Some(sample) => {
                    if let Some(s) = self.slots[i].stream.as_mut() {
                        s.establish(now, Some(sample), &mut self.events);
                        s.on_packet(now, h, payload, || true, &mut self.events, &mut self.arena);
                    }
                    self.stats.opened += 1;
                    self.touch(i, now);
                }
                None => self.cookie_reply(now, peer, h.v1),
            },
            Phase::Unconfirmed { was_open, .. } => {
                let (jar, local) = (&self.jar, self.config.local);
                let own = || h.yts && jar.check(now, local, peer, h.v2).is_some();
                if let Some(s) = self.slots[i].stream.as_mut() {
                    s.establish(now, None, &mut self.events);
                    s.on_packet(now, h, payload, own, &mut self.events, &mut self.arena);
                }
                if !was_open {
                    self.stats.opened += 1;
                }
                self.touch(i, now);
            }
            Phase::Established => self.on_established(now, i, peer, h, payload),
        }
    }

    fn on_established(&mut self, now: Instant, i: usize, peer: SocketAddr, h: &Header, payload: &[u8]) {
        let Some(s) = self.slots[i].stream.as_ref() else { return };
        let arrival = s.classify(h.v1);
        if arrival == Arrival::OutOfWindow
            && let Some(sample) = self.check_cookie(now, peer, h)
        {
            // The peer restarted with a new sequence space and proved itself with our cookie:
            // the old stream ends, a new one takes its place (docs/p2tp.md §5.6).
            if let Some(s) = self.slots[i].stream.as_mut() {
                s.closed_by_peer(&mut self.events);
            }
            self.touch(i, now);
            let stream = Stream::established(now, peer, sample, &self.config, &mut self.rng);
            let i = self.insert(stream);
            self.stats.opened += 1;
            self.events.push_back(Event::Opened { peer });
            if let Some(s) = self.slots[i].stream.as_mut() {
                s.on_packet(now, h, payload, || true, &mut self.events, &mut self.arena);
            }
            self.touch(i, now);
            return;
        }
        let (jar, local) = (&self.jar, self.config.local);
        let own = || h.yts && jar.check(now, local, peer, h.v2).is_some();
        let Some(s) = self.slots[i].stream.as_mut() else { return };
        match s.on_packet(now, h, payload, own, &mut self.events, &mut self.arena) {
            Outcome::Accepted { stale_echo } => {
                if stale_echo {
                    self.stats.stale_echo += 1;
                }
            }
            Outcome::Duplicate => self.stats.duplicate += 1,
            Outcome::OutOfWindow => self.stats.out_of_window += 1,
        }
        self.touch(i, now);
    }
}

impl Machine for Endpoint {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, _local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.now = self.now.max(now);
        self.stats.received += 1;
        let Some(h) = Header::decode(datagram) else {
            self.stats.short += 1;
            return;
        };
        if h.sop {
            self.on_sop1(now, remote, &h, &datagram[HEADER_LEN..]);
        } else {
            self.on_sop0(now, remote, &h);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.flush_timers();
        while let Some(&Reverse((d, i, g))) = self.heap.peek() {
            if d > now {
                break;
            }
            self.heap.pop();
            let slot = &mut self.slots[i];
            if slot.generation != g || slot.deadline != Some(d) {
                continue;
            }
            slot.deadline = None;
            if let Some(s) = slot.stream.as_mut() {
                s.on_timeout(now, &mut self.events);
                if s.dead && matches!(s.phase, Phase::Opening { .. } | Phase::Unconfirmed { was_open: false, .. }) {
                    self.stats.open_failed += 1;
                }
            }
            self.touch(i, now);
        }
        if self.node_wake.is_some_and(|w| w <= now) {
            self.node_wake = None;
            self.admit_waiting(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.replies.pop(buf) {
            return Some(t);
        }
        while let Some(i) = self.ready.pop_front() {
            self.slots[i].in_ready = false;
            let slot = &mut self.slots[i];
            let Some(s) = slot.stream.as_mut() else { continue };
            let node_ok =
                node_allows(&mut self.node, self.node_waiting.is_empty(), self.node_reserved, slot.admitted, s, now);
            let before = s.queued();
            let peer = s.peer;
            let mut ctx = Ctx { local: self.config.local, jar: &mut self.jar };
            let sent = s.poll(now, &mut ctx, buf, node_ok);
            let sent_data = s.queued() < before;
            if sent_data {
                self.queued -= 1;
                if let (Some(node), Some(len)) = (&mut self.node, sent) {
                    node.charge(now, len as f64);
                }
            }
            if sent_data || slot.admitted > 0.0 {
                // An admission is for one packet: used, or lost if the stream could not use it.
                self.node_reserved = (self.node_reserved - slot.admitted).max(0.0);
                slot.admitted = 0.0;
            }
            self.touch(i, now);
            if let Some(len) = sent {
                return Some(Transmit { destination: peer, source: None, len, ttl: None });
            }
        }
        None
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.flush_timers();
        while let Some(&Reverse((d, i, g))) = self.heap.peek() {
            let slot = &self.slots[i];
            if slot.generation == g && slot.deadline == Some(d) {
                break;
            }
            self.heap.pop();
        }
        let stream = self.heap.peek().map(|Reverse((d, _, _))| *d);
        match (stream, self.node_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        // The earliest entry that is still current (stale ones may sit on top; this is for
        // logs, so a scan is fine).
        let (_, i) = self
            .heap
            .iter()
            .filter(|Reverse((d, i, g))| self.slots[*i].generation == *g && self.slots[*i].deadline == Some(*d))
            .map(|Reverse((d, i, _))| (*d, *i))
            .min()?;
        self.slots[i].stream.as_ref()?.timers.next_reason()
    }
}
