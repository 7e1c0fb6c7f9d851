//! One direction of a link: delay, jitter, loss, duplication, reordering, a rate limit with a
//! drop-tail queue, and an MTU.

use core::time::Duration;

use sansio_core::{Instant, SeededRng};

/// How a link loses packets.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Loss {
    /// No random loss.
    #[default]
    None,
    /// Each packet is lost independently with probability `p`.
    Bernoulli(f64),
    /// The two-state Gilbert-Elliott model: bursts of loss. Before each packet the state may
    /// change (good to bad with `p_enter_bad`, bad to good with `p_leave_bad`); the packet is
    /// then lost with the state's probability. Mean loss rate:
    /// `(π_good · loss_good + π_bad · loss_bad)` with `π_bad = p_enter_bad / (p_enter_bad + p_leave_bad)`.
    GilbertElliott {
        /// Chance per packet of moving from the good to the bad state.
        p_enter_bad: f64,
        /// Chance per packet of moving from the bad to the good state.
        p_leave_bad: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

impl Loss {
    /// The long-run fraction of packets this model loses.
    #[must_use]
    pub fn mean_rate(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::Bernoulli(p) => p.clamp(0.0, 1.0),
            Self::GilbertElliott { p_enter_bad, p_leave_bad, loss_good, loss_bad } => {
                let total = p_enter_bad + p_leave_bad;
                if total <= 0.0 {
                    return loss_good;
                }
                let bad = p_enter_bad / total;
                (1.0 - bad) * loss_good + bad * loss_bad
            }
        }
    }
}

/// The behaviour of one direction of a link. Every field may be changed during a run
/// ([`crate::Sim::link_mut`]); the change applies to packets offered from then on.
///
/// ```
/// use core::time::Duration;
/// use netsim::{LinkConfig, Loss};
///
/// // A 10 Mbit/s DSL uplink with 20 ms delay, 2 ms jitter, 1 % loss and a 64 kB buffer.
/// let dsl = LinkConfig {
///     delay: Duration::from_millis(20),
///     jitter: Duration::from_millis(2),
///     loss: Loss::Bernoulli(0.01),
///     rate_bps: Some(10_000_000),
///     queue_bytes: 64_000,
///     ..LinkConfig::default()
/// };
/// assert_eq!(dsl.mtu, 1500);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Whether the link carries anything; a link that is down drops every packet.
    pub up: bool,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet. Jitter alone never reorders:
    /// a packet never arrives before one offered earlier (use `reorder` for that).
    pub jitter: Duration,
    /// Random loss.
    pub loss: Loss,
    /// Chance that a packet is delivered twice (the copy right behind the original).
    pub duplicate: f64,
    /// Chance that a packet is held back by `reorder_delay`, letting later ones overtake it.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Bottleneck rate in bits per second (`None`: unlimited). Packets are serialised one
    /// after another at this rate.
    pub rate_bps: Option<u64>,
    /// Drop-tail queue in front of the bottleneck, in bytes: a packet that would make the
    /// backlog exceed it is dropped. Only used with a rate.
    pub queue_bytes: usize,
    /// Largest IP payload (here: UDP payload + 28 bytes of IPv4/UDP header) the link carries;
    /// larger packets are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// An ideal link: up, no delay, no loss, unlimited rate, 1500-byte MTU.
    fn default() -> Self {
        Self {
            up: true,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: Loss::None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            rate_bps: None,
            queue_bytes: 64 * 1024,
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// An ideal link with a fixed one-way delay.
    #[must_use]
    pub fn with_delay(delay: Duration) -> Self {
        Self { delay, ..Self::default() }
    }
}

/// What happened to the packets offered to a link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Packets offered to the link.
    pub offered: u64,
    /// Packets (including duplicates) that reached the far end.
    pub delivered: u64,
    /// Bytes of those packets (UDP payload).
    pub delivered_bytes: u64,
    /// Lost to the random loss model.
    pub dropped_loss: u64,
    /// Dropped by a full queue.
    pub dropped_queue: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Dropped because the link was down.
    pub dropped_down: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets held back to be reordered.
    pub reordered: u64,
}

/// IPv4 + UDP header bytes counted against the MTU and the rate.
pub(crate) const HEADER_BYTES: usize = 28;

/// A link direction's configuration with its running state.
#[derive(Debug)]
pub(crate) struct Link {
    pub config: LinkConfig,
    pub stats: LinkStats,
    /// When the bottleneck finishes sending what is queued.
    busy_until: Instant,
    /// Latest in-order arrival so far (jitter never reorders).
    last_arrival: Instant,
    /// Gilbert-Elliott state.
    in_bad_state: bool,
}

/// Where an offered packet goes: its arrival times (0, 1 or 2 of them).
pub(crate) type Arrivals = ([Instant; 2], usize);

impl Link {
    pub fn new(config: LinkConfig) -> Self {
        Self {
            config,
            stats: LinkStats::default(),
            busy_until: Instant::ZERO,
            last_arrival: Instant::ZERO,
            in_bad_state: false,
        }
    }

    /// Offers a packet of `len` payload bytes at `now`; returns when its copies arrive.
    pub fn offer(&mut self, now: Instant, len: usize, rng: &mut SeededRng) -> Arrivals {
        let none = ([Instant::ZERO; 2], 0);
        self.stats.offered += 1;
        let c = &self.config;
        if !c.up {
            self.stats.dropped_down += 1;
            return none;
        }
        let wire = len + HEADER_BYTES;
        if wire > c.mtu {
            self.stats.dropped_mtu += 1;
            return none;
        }
        // The bottleneck: FIFO at `rate`, drop-tail when the backlog would pass the queue.
        let departure = match c.rate_bps {
            Some(rate) if rate > 0 => {
                let start = self.busy_until.max(now);
                let backlog = backlog_bytes(self.busy_until.saturating_duration_since(now), rate);
                // An idle bottleneck always takes the packet; a busy one only while it fits.
                if backlog > 0 && backlog + wire as u64 > c.queue_bytes as u64 {
                    self.stats.dropped_queue += 1;
                    return none;
                }
                let done = start + serialisation(wire, rate);
                self.busy_until = done;
                done
            }
            _ => now,
        };
        if self.lost(rng) {
            self.stats.dropped_loss += 1;
            return none;
        }
        let c = &self.config;
        let jitter = if c.jitter.is_zero() { Duration::ZERO } else { random_duration(rng, c.jitter) };
        let mut arrival = departure + c.delay + jitter;
        if c.reorder > 0.0 && rng.chance(c.reorder) {
            self.stats.reordered += 1;
            arrival += c.reorder_delay;
        } else {
            arrival = arrival.max(self.last_arrival);
            self.last_arrival = arrival;
        }
        self.stats.delivered += 1;
        self.stats.delivered_bytes += len as u64;
        if self.config.duplicate > 0.0 && rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            self.stats.delivered += 1;
            self.stats.delivered_bytes += len as u64;
            return ([arrival, arrival], 2);
        }
        ([arrival, Instant::ZERO], 1)
    }

    fn lost(&mut self, rng: &mut SeededRng) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Bernoulli(p) => rng.chance(p),
            Loss::GilbertElliott { p_enter_bad, p_leave_bad, loss_good, loss_bad } => {
                let flip = if self.in_bad_state { p_leave_bad } else { p_enter_bad };
                if rng.chance(flip) {
                    self.in_bad_state = !self.in_bad_state;
                }
                rng.chance(if self.in_bad_state { loss_bad } else { loss_good })
            }
        }
    }
}

/// Time to put `bytes` on a wire of `rate` bits per second.
fn serialisation(bytes: usize, rate: u64) -> Duration {
    let nanos = (bytes as u128 * 8 * 1_000_000_000).div_ceil(u128::from(rate));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Bytes still queued when the bottleneck needs `busy` more time at `rate`.
fn backlog_bytes(busy: Duration, rate: u64) -> u64 {
    let bytes = busy.as_nanos() * u128::from(rate) / 8 / 1_000_000_000;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Uniform in `0..=max`, to the microsecond.
fn random_duration(rng: &mut SeededRng, max: Duration) -> Duration {
    let us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rng.below(us.saturating_add(1)))
}
