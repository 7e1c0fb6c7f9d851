//! Client transactions: send, retransmit (RFC 8489 §6.2.1), pace, match, time out.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::{Instant, Seed, SeededRng, Transmit};

use crate::attribute::Attribute;
use crate::message::{Class, Message, MessageType, TransactionId};
use crate::writer::MessageWriter;

/// Timers of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionConfig {
    /// First retransmission timeout; it doubles after every retransmission (RFC 8489: 500 ms).
    pub rto: Duration,
    /// Requests sent in all, the first included (Rc = 7).
    pub max_requests: u32,
    /// After the last request, wait this many RTOs for an answer (Rm = 16).
    pub last_wait: u32,
    /// New transactions start at least this far apart (RFC 5780 §5: at most 10 per second).
    pub pacing: Duration,
}

impl Default for TransactionConfig {
    /// RFC 8489: requests at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, given up at 39.5 s.
    fn default() -> Self {
        Self { rto: Duration::from_millis(500), max_requests: 7, last_wait: 16, pacing: Duration::from_millis(100) }
    }
}

impl TransactionConfig {
    /// How long a transaction lasts when nothing answers.
    #[must_use]
    pub fn give_up_after(&self) -> Duration {
        let n = self.max_requests.max(1);
        // Retransmissions at RTO·(2^k − 1), then Rm·RTO of waiting.
        let last_send = self.rto.saturating_mul((1u32 << (n - 1).min(31)) - 1);
        last_send.saturating_add(self.rto.saturating_mul(self.last_wait))
    }
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A response (success or error) came back.
    Response {
        /// The response's bytes (parse them with [`Message::parse`]).
        bytes: Vec<u8>,
        /// Where it came from (the real source, never an attribute's claim).
        from: SocketAddr,
        /// The local socket it arrived on.
        at: SocketAddr,
    },
    /// Nothing answered in time.
    Timeout,
}

/// A finished transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The caller's tag, given to [`Transactions::start`].
    pub tag: u32,
    /// Its id.
    pub id: TransactionId,
    /// How it ended.
    pub outcome: Outcome,
}

/// One request to send.
#[derive(Clone, Debug)]
pub struct Request<'r> {
    /// The local socket to send from.
    pub local: SocketAddr,
    /// The server.
    pub server: SocketAddr,
    /// Attributes of the request.
    pub attributes: &'r [Attribute<'r>],
    /// Accept a response only from this address (`None`: from any; a CHANGE-REQUEST's answer
    /// comes from another address than the request went to).
    pub expect_from: Option<SocketAddr>,
    /// Give up sooner than the RFC schedule (negative tests: "did anything answer?").
    pub give_up_after: Option<Duration>,
    /// The caller's tag, returned in [`Finished`].
    pub tag: u32,
}

#[derive(Debug)]
struct Pending {
    id: TransactionId,
    tag: u32,
    local: SocketAddr,
    server: SocketAddr,
    expect_from: Option<SocketAddr>,
    bytes: Vec<u8>,
    sent: u32,
    /// The next (re)transmission, `None` once all are sent.
    next_send: Option<Instant>,
    /// When the transaction gives up; `None` until its first send.
    deadline: Option<Instant>,
    give_up_after: Duration,
}

/// The client side of STUN: the transactions in flight.
///
/// Not a machine by itself: the NAT-discovery machines own one and forward their inputs.
/// Ids come from a seeded generator, so runs are reproducible.
///
/// ```
/// use core::time::Duration;
/// use sansio_core::Instant;
/// use stun_core::{Outcome, Request, TransactionConfig, Transactions};
///
/// let mut t = Transactions::new(TransactionConfig::default(), sansio_core::Seed::from_u64(1));
/// let local = "10.0.0.2:5000".parse()?;
/// let server = "192.0.2.1:3478".parse()?;
/// t.start(Instant::ZERO, Request { local, server, attributes: &[], expect_from: Some(server), give_up_after: None, tag: 0 })?;
/// let mut buf = [0u8; 2048];
/// let mut sends = Vec::new();
/// let mut now = Instant::ZERO;
/// loop {
///     while let Some(tx) = t.poll_transmit(now, &mut buf) { sends.push(now.as_micros() / 1000); let _ = tx; }
///     if let Some(done) = t.poll_finished() { assert_eq!(done.outcome, Outcome::Timeout); break; }
///     now = t.poll_timeout().expect("a timer while in flight");
///     t.handle_timeout(now);
/// }
/// assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
/// assert_eq!(now.as_micros() / 1000, 39_500);
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Transactions {
    config: TransactionConfig,
    rng: SeededRng,
    pending: Vec<Pending>,
    finished: VecDeque<Finished>,
    /// When the last transaction started (for pacing).
    last_start: Option<Instant>,
}

impl Transactions {
    /// No transactions; ids drawn from `seed`.
    #[must_use]
    pub fn new(config: TransactionConfig, seed: Seed) -> Self {
        Self {
            config,
            rng: SeededRng::from_seed(seed),
            pending: Vec::new(),
            finished: VecDeque::new(),
            last_start: None,
        }
    }

    /// The timers.
    #[must_use]
    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    /// Transactions in flight.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// A fresh transaction id from the seeded generator.
    pub fn new_id(&mut self) -> TransactionId {
        let mut raw = [0u8; 12];
        self.rng.fill_bytes(&mut raw);
        TransactionId::Rfc8489(raw)
    }

    /// Queues a Binding request; it is sent when pacing allows. Returns its id.
    ///
    /// # Errors
    ///
    /// If the attributes do not make a valid message.
    pub fn start(&mut self, now: Instant, request: Request<'_>) -> Result<TransactionId, crate::WriteError> {
        let id = self.new_id();
        let mut buf = [0u8; 548];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, id)?;
        for a in request.attributes {
            w.add(a)?;
        }
        let len = w.finish();
        let earliest = self.last_start.map_or(now, |t| t.saturating_add(self.config.pacing)).max(now);
        self.last_start = Some(earliest);
        let give_up = self.config.give_up_after().min(request.give_up_after.unwrap_or(Duration::MAX));
        self.pending.push(Pending {
            id,
            tag: request.tag,
            local: request.local,
            server: request.server,
            expect_from: request.expect_from,
            bytes: buf[..len].to_vec(),
            sent: 0,
            next_send: Some(earliest),
            deadline: None,
            give_up_after: give_up,
        });
        Ok(id)
    }

    /// Offers a received datagram. Returns `true` if it answered a transaction in flight
    /// (which then finishes); anything else is left for the caller.
    pub fn handle_datagram(&mut self, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(msg) = Message::parse_checked(datagram) else { return false };
        if !matches!(msg.message_type().class, Class::Success | Class::Error) {
            return false;
        }
        let id = msg.transaction_id();
        let Some(i) = self.pending.iter().position(|p| p.id == id && p.expect_from.is_none_or(|e| e == remote)) else {
            return false;
        };
        let p = self.pending.swap_remove(i);
        self.finished.push_back(Finished {
            tag: p.tag,
            id,
            outcome: Outcome::Response { bytes: datagram.to_vec(), from: remote, at: local },
        });
        true
    }

    /// Times out what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline.is_some_and(|d| d <= now) {
                let p = self.pending.swap_remove(i);
                self.finished.push_back(Finished { tag: p.tag, id: p.id, outcome: Outcome::Timeout });
            } else {
                i += 1;
            }
        }
    }

    /// The next request or retransmission due by `now`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let config = self.config;
        let p =
            self.pending.iter_mut().filter(|p| p.next_send.is_some_and(|t| t <= now)).min_by_key(|p| p.next_send)?;
        let out = buf.get_mut(..p.bytes.len())?;
        out.copy_from_slice(&p.bytes);
        p.deadline.get_or_insert(now.saturating_add(p.give_up_after));
        p.sent += 1;
        // The next send is RTO·2^(sent−1) after this one.
        let wait = config.rto.saturating_mul(1u32 << (p.sent - 1).min(31));
        p.next_send = (p.sent < config.max_requests).then(|| now.saturating_add(wait));
        Some(Transmit { destination: p.server, source: Some(p.local), len: p.bytes.len(), ttl: None })
    }

    /// The next finished transaction.
    pub fn poll_finished(&mut self) -> Option<Finished> {
        self.finished.pop_front()
    }

    /// When something is next due (a send or a deadline).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().flat_map(|p| [p.next_send, p.deadline]).flatten().min()
    }

    /// Abandons every transaction in flight (no outcome is reported for them).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}
