//! A STUN server machine: RFC 8489 Binding, RFC 5780 behaviour discovery, RFC 3489 classic.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};

use sansio_core::{Instant, Machine, Transmit};

use crate::attribute::Attribute;
use crate::message::{Class, HEADER_LEN, Message, MessageType, TransactionId};
use crate::writer::MessageWriter;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The primary address (A1:P1): where clients send first.
    pub primary: SocketAddr,
    /// The alternate address (A2:P2). With a different IP and port the server listens on all
    /// four combinations and supports every CHANGE-REQUEST; with the same IP, only "change
    /// port"; without one, none (answered 420, as RFC 5780 §6 asks).
    pub alternate: Option<SocketAddr>,
    /// A reply is at most this many times the request's size (RFC 5780 asks servers not to
    /// amplify). Attributes are left out, least useful first, until the reply fits; the
    /// mapped address is never left out. 3 lets a bare 20-byte request learn its mapped, other
    /// and origin addresses; 1 is strict (a bare request then gets only its mapped address).
    pub max_amplification: usize,
    /// Requests per second allowed from one source IP, sustained.
    pub rate_per_second: u32,
    /// Requests allowed from one source IP in a burst.
    pub burst: u32,
    /// Rate-limit buckets: sources share buckets by a keyed hash, so memory is fixed.
    pub buckets: usize,
    /// Key of that hash (pick it at random, so no one can aim collisions at a victim).
    pub bucket_key: u64,
    /// Send answers to a RESPONSE-ADDRESS on another IP than the request's source. Off by
    /// default: it turns the server into a reflector aimed at third parties. A
    /// RESPONSE-ADDRESS on the source's own IP (RFC 3489 binding-lifetime discovery) is
    /// always honoured.
    pub allow_reflection: bool,
    /// SOFTWARE sent in answers (when the budget allows).
    pub software: Option<String>,
    /// Answers waiting to be polled; more are dropped (and counted).
    pub max_queue: usize,
}

impl ServerConfig {
    /// A server on `primary` and `alternate` with the default limits.
    #[must_use]
    pub fn new(primary: SocketAddr, alternate: Option<SocketAddr>) -> Self {
        Self {
            primary,
            alternate,
            max_amplification: 3,
            rate_per_second: 20,
            burst: 40,
            buckets: 4096,
            bucket_key: 0,
            allow_reflection: false,
            software: None,
            max_queue: 1024,
        }
    }

    /// The addresses the server must listen on: primary first, at most four.
    #[must_use]
    pub fn listen_addresses(&self) -> Vec<SocketAddr> {
        let p = self.primary;
        let mut out = alloc::vec![p];
        if let Some(a) = self.alternate {
            for addr in [
                SocketAddr::new(p.ip(), a.port()),
                SocketAddr::new(a.ip(), p.port()),
                SocketAddr::new(a.ip(), a.port()),
            ] {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
        out
    }
}

/// What the server did, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Datagrams handed to the server.
    pub received: u64,
    /// Success answers sent.
    pub answered: u64,
    /// Error answers sent (400, 403, 420).
    pub errors: u64,
    /// Dropped: not STUN, malformed, or a bad FINGERPRINT.
    pub malformed: u64,
    /// Dropped: not a request.
    pub not_requests: u64,
    /// Dropped: over the source's rate.
    pub rate_limited: u64,
    /// Dropped: the answer queue was full.
    pub queue_full: u64,
    /// Attributes left out of answers to stay within the amplification limit.
    pub trimmed: u64,
}

/// A token bucket per hash slot.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    tokens: u32,
    /// Last refill, µs.
    at: u64,
    used: bool,
}

/// A STUN server: a [`Machine`] on the sockets [`ServerConfig::listen_addresses`] names.
///
/// Every Binding request is answered from the socket CHANGE-REQUEST selects (RFC 5780's
/// Table 1) with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, OTHER-ADDRESS and RESPONSE-ORIGIN (RFC 3489
/// clients, whose requests lack the magic cookie, get MAPPED-ADDRESS, SOURCE-ADDRESS and
/// CHANGED-ADDRESS only: classic clients cannot skip padded attributes), to the source or to RESPONSE-PORT / RESPONSE-ADDRESS. Errors: 420 for
/// unknown comprehension-required attributes and for a change it cannot make, 400 for
/// PADDING with RESPONSE-PORT or a method other than Binding, 403 for reflection to a third
/// party. Malformed datagrams, responses and over-rate sources are dropped and counted.
///
/// ```
/// use sansio_core::{Instant, Machine};
/// use stun_core::{Message, MessageType, MessageWriter, Server, ServerConfig, TransactionId};
///
/// let primary = "192.0.2.1:3478".parse()?;
/// let mut server = Server::new(ServerConfig::new(primary, Some("192.0.2.2:3479".parse()?)));
/// let mut request = [0u8; 20];
/// let len = MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([1; 12]))?.finish();
/// let client = "203.0.113.9:50000".parse()?;
/// server.handle_datagram(Instant::ZERO, primary, client, &request[..len]);
///
/// let mut buf = [0u8; 2048];
/// let t = server.poll_transmit(Instant::ZERO, &mut buf).expect("an answer");
/// let answer = Message::parse(&buf[..t.len])?;
/// assert_eq!((t.destination, t.source), (client, Some(primary)));
/// assert_eq!(answer.mapped_address(), Some(client));
/// assert_eq!(answer.other_address(), Some("192.0.2.2:3479".parse()?));
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    hasher: foldhash::fast::FixedState,
    buckets: Vec<Bucket>,
    queue: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    stats: ServerStats,
}

/// What the server was asked to do with one request, once parsed.
struct Ask {
    change_ip: bool,
    change_port: bool,
    response_port: Option<u16>,
    response_address: Option<SocketAddr>,
    padding: Option<usize>,
    fingerprint: bool,
}

impl Server {
    /// A server with this configuration.
    #[must_use]
    pub fn new(config: ServerConfig) -> Self {
        let buckets = alloc::vec![Bucket::default(); config.buckets.max(1)];
        let hasher = foldhash::fast::FixedState::with_seed(config.bucket_key);
        Self { config, hasher, buckets, queue: VecDeque::new(), stats: ServerStats::default() }
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Takes one token from `ip`'s bucket; `false` if it has none.
    fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        let slot = usize::try_from(self.hasher.hash_one(ip) % self.buckets.len() as u64).unwrap_or(0);
        let (rate, burst) = (u64::from(self.config.rate_per_second), self.config.burst);
        let b = &mut self.buckets[slot];
        let now_us = now.as_micros();
        if !b.used {
            *b = Bucket { tokens: burst, at: now_us, used: true };
        }
        let elapsed = now_us.saturating_sub(b.at);
        let refill = elapsed.saturating_mul(rate) / 1_000_000;
        if refill > 0 {
            b.tokens = u32::try_from(u64::from(b.tokens).saturating_add(refill).min(u64::from(burst))).unwrap_or(burst);
            // Keep the remainder: advance by the time the whole tokens took.
            b.at = (refill * 1_000_000).checked_div(rate).map_or(now_us, |d| b.at + d);
        }
        if b.tokens == 0 {
            return false;
        }
        b.tokens -= 1;
        true
    }

    /// The server's other IP and port, if it has them.
    fn other_ip(&self) -> Option<IpAddr> {
        self.config.alternate.map(|a| a.ip()).filter(|ip| *ip != self.config.primary.ip())
    }

    fn other_port(&self) -> Option<u16> {
        self.config.alternate.map(|a| a.port()).filter(|p| *p != self.config.primary.port())
    }

    /// The address IP and port both changed from `local` (OTHER-ADDRESS), if there is one.
    fn flipped(&self, local: SocketAddr) -> Option<SocketAddr> {
        let ip = self.flip_ip(local.ip())?;
        let port = self.flip_port(local.port())?;
        Some(SocketAddr::new(ip, port))
    }

    fn flip_ip(&self, ip: IpAddr) -> Option<IpAddr> {
        let other = self.other_ip()?;
        Some(if ip == other { self.config.primary.ip() } else { other })
    }

    fn flip_port(&self, port: u16) -> Option<u16> {
        let other = self.other_port()?;
        Some(if port == other { self.config.primary.port() } else { other })
    }

    fn enqueue(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if self.queue.len() >= self.config.max_queue {
            self.stats.queue_full += 1;
            return;
        }
        self.queue.push_back((from, to, bytes));
    }

    fn error(&mut self, local: SocketAddr, remote: SocketAddr, id: TransactionId, code: u16, unknown: &[u16]) {
        let reason = match code {
            400 => "Bad Request",
            403 => "Forbidden",
            _ => "Unknown Attribute",
        };
        let mut buf = [0u8; 128];
        let Ok(mut w) = MessageWriter::new(&mut buf, MessageType::BINDING_ERROR, id) else { return };
        let mut list = [0u8; 2 * crate::message::MAX_UNKNOWN];
        for (i, t) in unknown.iter().enumerate() {
            list[2 * i..2 * i + 2].copy_from_slice(&t.to_be_bytes());
        }
        let ok = w.add(&Attribute::ErrorCode { code, reason }).is_ok()
            && (unknown.is_empty() || w.add(&Attribute::UnknownAttributes(&list[..2 * unknown.len()])).is_ok());
        if ok {
            let len = w.finish();
            self.stats.errors += 1;
            self.enqueue(local, remote, buf[..len].to_vec());
        }
    }

    fn answer(&mut self, local: SocketAddr, remote: SocketAddr, msg: &Message<'_>, request_len: usize) {
        let id = msg.transaction_id();
        let mut ask = Ask {
            change_ip: false,
            change_port: false,
            response_port: None,
            response_address: None,
            padding: None,
            fingerprint: msg.has_fingerprint(),
        };
        for a in msg.attributes() {
            match a {
                Attribute::ChangeRequest { change_ip, change_port } => {
                    ask.change_ip = change_ip;
                    ask.change_port = change_port;
                }
                Attribute::ResponsePort(p) => ask.response_port = Some(p),
                Attribute::ResponseAddress(a) => ask.response_address = Some(a),
                Attribute::Padding(p) => ask.padding = Some(p.len()),
                _ => {}
            }
        }
        if ask.padding.is_some() && ask.response_port.is_some() {
            return self.error(local, remote, id, 400, &[]);
        }
        // Where the answer leaves from (RFC 5780 Table 1).
        let ip = if ask.change_ip { self.flip_ip(local.ip()) } else { Some(local.ip()) };
        let port = if ask.change_port { self.flip_port(local.port()) } else { Some(local.port()) };
        let (Some(ip), Some(port)) = (ip, port) else {
            return self.error(local, remote, id, 420, &[]);
        };
        let source = SocketAddr::new(ip, port);
        let destination = match (ask.response_address, ask.response_port) {
            (_, Some(p)) => SocketAddr::new(remote.ip(), p),
            (Some(a), None) if a.ip() == remote.ip() || self.config.allow_reflection => a,
            (Some(_), None) => return self.error(local, remote, id, 403, &[]),
            (None, None) => remote,
        };
        let other = self.flipped(local);
        let padding = alloc::vec![0u8; ask.padding.unwrap_or(0)];
        // Most useful first; the first is always sent.
        let mut wanted: [Option<Attribute<'_>>; 6] = if id.is_rfc3489() {
            [
                Some(Attribute::MappedAddress(remote)),
                other.map(Attribute::ChangedAddress),
                Some(Attribute::SourceAddress(source)),
                // RFC 3489 has no padding: every attribute of it is a multiple of 4 bytes, and
                // classic clients (pystun3) misparse anything else, so no SOFTWARE or PADDING.
                None,
                None,
                None,
            ]
        } else {
            [
                Some(Attribute::XorMappedAddress(remote)),
                other.map(Attribute::OtherAddress),
                Some(Attribute::ResponseOrigin(source)),
                Some(Attribute::MappedAddress(remote)),
                self.config.software.as_deref().map(Attribute::Software),
                ask.padding.map(|_| Attribute::Padding(&padding)),
            ]
        };
        let budget = request_len.saturating_mul(self.config.max_amplification.max(1));
        let mut size = HEADER_LEN + if ask.fingerprint { 8 } else { 0 };
        for (i, slot) in wanted.iter_mut().enumerate() {
            if let Some(a) = slot {
                let need = MessageWriter::size_of(a);
                if i > 0 && size + need > budget {
                    *slot = None;
                    self.stats.trimmed += 1;
                } else {
                    size += need;
                }
            }
        }
        let mut buf = alloc::vec![0u8; size.max(HEADER_LEN)];
        let Ok(mut w) = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, id) else { return };
        for a in wanted.iter().flatten() {
            if w.add(a).is_err() {
                return;
            }
        }
        if ask.fingerprint && w.add_fingerprint().is_err() {
            return;
        }
        let len = w.finish();
        buf.truncate(len);
        self.stats.answered += 1;
        self.enqueue(source, destination, buf);
    }
}

impl Machine for Server {
    type Event = core::convert::Infallible;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.stats.received += 1;
        let Ok(msg) = Message::parse_checked(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        if msg.message_type().class != Class::Request {
            self.stats.not_requests += 1;
            return;
        }
        if !self.admit(now, remote.ip()) {
            self.stats.rate_limited += 1;
            return;
        }
        let id = msg.transaction_id();
        if msg.message_type().method != crate::message::BINDING {
            return self.error(local, remote, id, 400, &[]);
        }
        let unknown = msg.unknown_required();
        if !unknown.is_empty() {
            return self.error(local, remote, id, 420, unknown.as_slice());
        }
        self.answer(local, remote, &msg, datagram.len());
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let (source, destination, bytes) = self.queue.pop_front()?;
            if let Some(out) = buf.get_mut(..bytes.len()) {
                out.copy_from_slice(&bytes);
                return Some(Transmit { destination, source: Some(source), len: bytes.len() });
            }
        }
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}
