//! An endpoint's settings and the protocol's constants (docs/p2tp.md §14).

use alloc::sync::Arc;
use core::net::SocketAddr;
use core::time::Duration;

use crate::congestion::{ControllerFactory, CubicConfig};

/// The default UDP payload budget: fits the IPv6 minimum MTU (1280 − 40 − 8 = 1232).
pub const DEFAULT_PAYLOAD_BUDGET: usize = 1200;
/// The first H1 retransmission interval; it doubles.
pub(crate) const HS_RTO_INITIAL: Duration = Duration::from_millis(250);
/// H1s (and Open-unconfirmed probes) before giving up: the last at 31.75 s, failure at 63.75 s.
pub(crate) const HS_TRIES: u32 = 8;
/// Packets newer than a gap before it can be a loss (RFC 9002 kPacketThreshold).
pub(crate) const REORDER_THRESHOLD: u64 = 3;
/// The smallest reordering window (RFC 9002 kGranularity).
pub(crate) const REO_WND_MIN: Duration = Duration::from_millis(1);
/// Loss events without a spurious loss before the reordering multiplier resets (RFC 8985).
pub(crate) const REO_MULT_RESET: u32 = 16;
/// Sequence numbers behind the newest that the receive bitmap covers.
pub(crate) const RX_BACK: u32 = 4096;
/// Sequence numbers ahead of the newest that are accepted.
pub(crate) const RX_AHEAD: u32 = 1 << 20;
/// How far back an H2R's echo may name one of our sequence numbers.
pub(crate) const H2R_SPAN: u32 = 1 << 18;
/// Control-packet tokens per stream.
pub(crate) const FB_BURST: u32 = 4;
/// No-feedback expiries in a row that count as persistent congestion.
pub(crate) const PERSISTENT_EXPIRIES: u32 = 3;
/// INFLIGHT_CAP in windows: at most `INFLIGHT_WINDOWS·R·max(SRTT, 1 ms)` bytes in flight
/// (docs/p2tp.md §8.4).
pub(crate) const INFLIGHT_WINDOWS: f64 = 1.25;
/// Data packets a stream may send before its first echo (RFC 6928's initial window).
pub(crate) const INITIAL_WINDOW: u32 = 10;
/// The least RTO, which only times the drain after a close.
pub(crate) const RTO_MIN: Duration = Duration::from_millis(200);
/// How long the min-RTT filter remembers.
pub(crate) const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);

/// How an [`Endpoint`](crate::Endpoint) behaves. [`Config::new`] gives the protocol's
/// defaults for an endpoint on `local`.
///
/// Build it with struct update syntax: `Config { uplink: Some(2_500_000), ..Config::new(local) }`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The endpoint's own socket address: what cookies are bound to, and where its datagrams
    /// leave from.
    pub local: SocketAddr,
    /// The largest UDP payload sent (header included); application datagrams are at most
    /// this minus 8. Taken as at least 64 and at most `sansio_core::MIN_TRANSMIT_BUFFER`.
    pub payload_budget: usize,
    /// An idle established stream sends a keep-alive after this long (the overlay sets it
    /// below the NAT binding lifetime STUN measured).
    pub keepalive: Duration,
    /// A stream that receives nothing for this long is closed (`Closed { Idle }`).
    pub idle_timeout: Duration,
    /// A stream whose peer leaves a packet that asks for an answer (data, a keep-alive, a
    /// probe) unanswered this long, probed again meanwhile, is closed (`Closed {
    /// Unreachable }`): a vanished peer is noticed this long after the first packet it
    /// missed, not after the idle timeout. At least 1 s, and at least eight first-probe
    /// gaps (max(1 s, 2·SRTT)) so a slow path gets three probes answered first.
    pub unreachable_after: Duration,
    /// Streams at most (validated state only: unvalidated sources get none).
    pub max_streams: usize,
    /// Datagrams queued per stream before `send` refuses.
    pub max_queued_per_stream: usize,
    /// Datagrams queued in the whole endpoint before `send` refuses.
    pub max_queued: usize,
    /// Stateless replies (H2, H2R, closes while draining) per second, and their burst.
    pub stateless_rate: u32,
    /// See [`stateless_rate`](Self::stateless_rate).
    pub stateless_burst: u32,
    /// The node's uplink, bytes per second: all streams together send at most this much
    /// data, shared max-min fairly. `None`: no node-wide limit.
    pub uplink: Option<u64>,
    /// The rate controller of each stream.
    pub controller: Arc<dyn ControllerFactory>,
}

impl Config {
    /// The defaults for an endpoint on `local`: 1200-byte datagrams, keep-alive 15 s, idle
    /// timeout 60 s, a peer unreachable after 15 s without an answer, 4096 streams, 1024 datagrams queued per stream and 16384 in all, 1000
    /// stateless replies a second (burst 100), no uplink limit, CUBIC.
    #[must_use]
    pub fn new(local: SocketAddr) -> Self {
        Self {
            local,
            payload_budget: DEFAULT_PAYLOAD_BUDGET,
            keepalive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            unreachable_after: Duration::from_secs(15),
            max_streams: 4096,
            max_queued_per_stream: 1024,
            max_queued: 16_384,
            stateless_rate: 1000,
            stateless_burst: 100,
            uplink: None,
            controller: Arc::new(CubicConfig::default()),
        }
    }

    /// The largest application datagram `send` accepts.
    #[must_use]
    pub fn max_datagram(&self) -> usize {
        self.budget() - crate::header::HEADER_LEN
    }

    /// The payload budget as used: at least 64 bytes, at most what a driver must carry.
    pub(crate) fn budget(&self) -> usize {
        self.payload_budget.clamp(64, sansio_core::MIN_TRANSMIT_BUFFER)
    }
}
