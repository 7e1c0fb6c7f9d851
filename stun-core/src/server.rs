//! A STUN server machine: RFC 8489 Binding, RFC 5780 behaviour discovery, RFC 3489 classic.

use alloc::string::String;
use alloc::vec::Vec;
use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};

use sansio_core::{Instant, Machine, PushError, Seed, SeededRng, Transmit, TransmitQueue};

use crate::attribute::Attribute;
use crate::error_code;
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
    /// amplify), or the size of its two essential attributes if that is more. The mapped
    /// address and, on a server that can change address, OTHER-ADDRESS are essential (without
    /// the latter no client can discover the NAT's behaviour): never left out. The others are
    /// left out least useful first (SOFTWARE and PADDING before the origin and the plain
    /// mapped address), each only after every less useful one. 3 lets a bare 20-byte IPv4
    /// request learn its mapped, other and origin addresses; a bare IPv6 request gets its
    /// mapped and other addresses in 68 bytes.
    pub max_amplification: usize,
    /// Requests per second allowed from one source IP, sustained.
    pub rate_per_second: u32,
    /// Requests allowed from one source IP in a burst.
    pub burst: u32,
    /// An IPv6 /64 (usually one site, which can use any of 2^64 addresses) gets this many
    /// times one address's rate and burst, in a bucket of its own that every address in it
    /// also draws from.
    pub prefix_factor: u32,
    /// Rate-limit buckets: sources share buckets by a keyed hash (its key drawn from the
    /// server's seed, so no one can aim collisions at a victim), so memory is fixed.
    pub buckets: usize,
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

/// A [`ServerConfig`] that cannot work.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// The alternate is another address family than the primary: OTHER-ADDRESS would name an
    /// address the client cannot reach from the socket it used.
    #[error("primary {primary} and alternate {alternate} are of different address families")]
    MixedFamilies {
        /// The primary address.
        primary: SocketAddr,
        /// The alternate address.
        alternate: SocketAddr,
    },
    /// A rate of zero would refuse every request.
    #[error("the rate limit must allow at least one request per second")]
    ZeroRate,
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
            prefix_factor: 4,
            buckets: 4096,
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
    /// Dropped: the answer would be larger than any datagram a driver must carry (a request
    /// with a huge PADDING).
    pub oversize: u64,
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
/// let config = ServerConfig::new(primary, Some("192.0.2.2:3479".parse()?));
/// let mut server = Server::new(config, sansio_core::Seed::from_u64(1))?;
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
    queue: TransmitQueue,
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
    /// A server with this configuration; `seed` keys its rate-limit hash.
    ///
    /// # Errors
    ///
    /// If the configuration cannot work ([`ServerConfigError`]).
    pub fn new(config: ServerConfig, seed: Seed) -> Result<Self, ServerConfigError> {
        if let Some(alternate) = config.alternate
            && alternate.is_ipv4() != config.primary.is_ipv4()
        {
            return Err(ServerConfigError::MixedFamilies { primary: config.primary, alternate });
        }
        if config.rate_per_second == 0 {
            return Err(ServerConfigError::ZeroRate);
        }
        let buckets = alloc::vec![Bucket::default(); config.buckets.max(1)];
        let hasher = foldhash::fast::FixedState::with_seed(SeededRng::from_seed(seed).next_u64());
        let queue = TransmitQueue::new(config.max_queue, config.max_queue.saturating_mul(512));
        Ok(Self { config, hasher, buckets, queue, stats: ServerStats::default() })
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

    /// Takes one token from `ip`'s bucket, and for IPv6 also from its /64's; `false` (and
    /// nothing taken) if either has none.
    fn admit(&mut self, now: Instant, ip: IpAddr) -> bool {
        let (rate, burst) = (self.config.rate_per_second, self.config.burst);
        let own = self.bucket_slot(RateKey::Address(ip));
        let prefix = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let f = self.config.prefix_factor.max(1);
                let key = RateKey::Prefix64(v6.to_bits() >> 64);
                Some((self.bucket_slot(key), rate.saturating_mul(f), burst.saturating_mul(f)))
            }
            _ => None,
        };
        // The two keys may share a bucket (hash slots collide): then it is asked for one token
        // only, and only once.
        let prefix = prefix.filter(|(slot, ..)| *slot != own);
        let now_us = now.as_micros();
        let own_ok = self.buckets[own].refill(now_us, rate, burst);
        let prefix_ok = prefix.is_none_or(|(slot, r, b)| self.buckets[slot].refill(now_us, r, b));
        if !(own_ok && prefix_ok) {
            return false;
        }
        for slot in core::iter::once(own).chain(prefix.map(|(slot, ..)| slot)) {
            self.buckets[slot].tokens = self.buckets[slot].tokens.saturating_sub(1);
        }
        true
    }

    fn bucket_slot(&self, key: RateKey) -> usize {
        usize::try_from(self.hasher.hash_one(key) % self.buckets.len() as u64).unwrap_or(0)
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

    fn error(&mut self, local: SocketAddr, remote: SocketAddr, id: TransactionId, code: u16, unknown: &[u16]) {
        let reason = error_code::reason(code);
        let mut list = [0u8; 2 * crate::message::MAX_UNKNOWN];
        for (i, t) in unknown.iter().enumerate() {
            list[2 * i..2 * i + 2].copy_from_slice(&t.to_be_bytes());
        }
        let written = enqueue(&mut self.queue, &mut self.stats, local, remote, 128, |buf| {
            let Ok(mut w) = MessageWriter::new(buf, MessageType::BINDING_ERROR, id) else { return 0 };
            let ok = w.add(&Attribute::ErrorCode { code, reason }).is_ok()
                && (unknown.is_empty() || w.add(&Attribute::UnknownAttributes(&list[..2 * unknown.len()])).is_ok());
            if ok { w.finish() } else { 0 }
        });
        if written {
            self.stats.errors += 1;
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
            return self.error(local, remote, id, error_code::BAD_REQUEST, &[]);
        }
        // Where the answer leaves from (RFC 5780 Table 1).
        let ip = if ask.change_ip { self.flip_ip(local.ip()) } else { Some(local.ip()) };
        let port = if ask.change_port { self.flip_port(local.port()) } else { Some(local.port()) };
        let (Some(ip), Some(port)) = (ip, port) else {
            return self.error(local, remote, id, error_code::UNKNOWN_ATTRIBUTE, &[]);
        };
        let source = SocketAddr::new(ip, port);
        let destination = match (ask.response_address, ask.response_port) {
            (_, Some(p)) => SocketAddr::new(remote.ip(), p),
            (Some(a), None) if a.ip() == remote.ip() || self.config.allow_reflection => a,
            (Some(_), None) => return self.error(local, remote, id, error_code::FORBIDDEN, &[]),
            (None, None) => remote,
        };
        let other = self.flipped(local).map(canonical);
        // Addresses in the client's own family: a server on `[::]` sees an IPv4 client as
        // `::ffff:a.b.c.d`, which classic clients cannot parse.
        let (mapped, origin) = (canonical(remote), canonical(source));
        let padding = alloc::vec![0u8; ask.padding.unwrap_or(0)];
        // Most useful first; the first `ESSENTIAL` are always sent.
        let mut wanted: [Option<Attribute<'_>>; 6] = if id.is_rfc3489() {
            [
                Some(Attribute::MappedAddress(mapped)),
                other.map(Attribute::ChangedAddress),
                Some(Attribute::SourceAddress(origin)),
                // RFC 3489 has no padding: every attribute of it is a multiple of 4 bytes, and
                // classic clients (pystun3) misparse anything else, so no SOFTWARE or PADDING.
                None,
                None,
                None,
            ]
        } else {
            [
                Some(Attribute::XorMappedAddress(mapped)),
                other.map(Attribute::OtherAddress),
                Some(Attribute::ResponseOrigin(origin)),
                Some(Attribute::MappedAddress(mapped)),
                self.config.software.as_deref().map(Attribute::Software),
                ask.padding.map(|_| Attribute::Padding(&padding)),
            ]
        };
        // The essential prefix always goes; then attributes in order of usefulness while they
        // fit, and once one does not, none after it (a less useful one never displaces it).
        const ESSENTIAL: usize = 2;
        let mut size = HEADER_LEN + if ask.fingerprint { 8 } else { 0 };
        for a in wanted[..ESSENTIAL].iter().flatten() {
            size += MessageWriter::size_of(a);
        }
        let budget = request_len.saturating_mul(self.config.max_amplification.max(1)).max(size);
        let mut full = false;
        for slot in &mut wanted[ESSENTIAL..] {
            if let Some(a) = slot {
                let need = MessageWriter::size_of(a);
                if full || size + need > budget {
                    full = true;
                    *slot = None;
                    self.stats.trimmed += 1;
                } else {
                    size += need;
                }
            }
        }
        let written = enqueue(&mut self.queue, &mut self.stats, source, destination, size, |buf| {
            let Ok(mut w) = MessageWriter::new(buf, MessageType::BINDING_SUCCESS, id) else { return 0 };
            if wanted.iter().flatten().any(|a| w.add(a).is_err()) || (ask.fingerprint && w.add_fingerprint().is_err()) {
                return 0;
            }
            w.finish()
        });
        if written {
            self.stats.answered += 1;
        }
    }
}

/// Queues a message of at most `max_len` bytes that `write` encodes (0: nothing); counts a
/// refusal. Returns whether it was queued.
fn enqueue(
    queue: &mut TransmitQueue,
    stats: &mut ServerStats,
    from: SocketAddr,
    to: SocketAddr,
    max_len: usize,
    write: impl FnOnce(&mut [u8]) -> usize,
) -> bool {
    let mut wrote = false;
    let pushed = queue.push_with(Some(from), to, max_len, |buf| {
        let len = write(buf);
        wrote = len > 0;
        len
    });
    match pushed {
        Ok(()) => return wrote,
        Err(PushError::Oversize { .. }) => stats.oversize += 1,
        Err(_) => stats.queue_full += 1,
    }
    false
}

/// What a rate-limit bucket is keyed by.
#[derive(Hash)]
enum RateKey {
    Address(IpAddr),
    Prefix64(u128),
}

impl Bucket {
    /// Refills at `rate` per second up to `burst`; whether a token is there to take.
    fn refill(&mut self, now_us: u64, rate: u32, burst: u32) -> bool {
        if !self.used {
            *self = Bucket { tokens: burst, at: now_us, used: true };
        }
        let rate = u64::from(rate);
        let refill = now_us.saturating_sub(self.at).saturating_mul(rate) / 1_000_000;
        if refill > 0 {
            self.tokens =
                u32::try_from(u64::from(self.tokens).saturating_add(refill).min(u64::from(burst))).unwrap_or(burst);
            // Keep the remainder: advance by the time the whole tokens took.
            self.at = (refill * 1_000_000).checked_div(rate).map_or(now_us, |d| self.at + d);
        }
        self.tokens > 0
    }
}

/// `a` in its own family: an IPv4-mapped IPv6 address becomes IPv4.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

impl Machine for Server {
    type Event = core::convert::Infallible;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.stats.received += 1;
        let Ok(msg) = Message::parse_checked(datagram) else {
            tracing::trace!(%remote, len = datagram.len(), "STUN server: malformed datagram dropped");
            self.stats.malformed += 1;
            return;
        };
        if msg.message_type().class != Class::Request {
            self.stats.not_requests += 1;
            return;
        }
        if !self.admit(now, remote.ip()) {
            tracing::trace!(%remote, "STUN server: over the source's rate, dropped");
            self.stats.rate_limited += 1;
            return;
        }
        let id = msg.transaction_id();
        if msg.message_type().method != crate::message::BINDING {
            return self.error(local, remote, id, error_code::BAD_REQUEST, &[]);
        }
        let unknown = msg.unknown_required();
        if !unknown.is_empty() {
            return self.error(local, remote, id, error_code::UNKNOWN_ATTRIBUTE, unknown.as_slice());
        }
        self.answer(local, remote, &msg, datagram.len());
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.queue.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}
