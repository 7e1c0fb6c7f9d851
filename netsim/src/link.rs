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

/// The parts of a [`LinkConfig`] every packet needs, in integer microseconds, in one cache
/// line. Rebuilt from the config after every change (see `Link::config_mut`).
#[derive(Clone, Copy, Debug)]
struct Hot {
    delay_us: u64,
    jitter_us: u64,
    /// 0 = unlimited.
    rate_bps: u64,
    queue_bytes: u64,
    mtu: usize,
    up: bool,
    /// Loss, duplication or reordering configured: read the full config for those.
    random: bool,
}

impl Hot {
    fn of(c: &LinkConfig) -> Self {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Self {
            delay_us: us(c.delay),
            jitter_us: us(c.jitter),
            rate_bps: c.rate_bps.unwrap_or(0),
            queue_bytes: c.queue_bytes as u64,
            mtu: c.mtu,
            up: c.up,
            random: c.loss != Loss::None || c.duplicate > 0.0 || c.reorder > 0.0,
        }
    }
}

/// A link direction's configuration with its running state.
#[derive(Debug)]
pub(crate) struct Link {
    hot: Option<Hot>,
    /// When the bottleneck finishes sending what is queued.
    busy_until: Instant,
    /// Latest in-order arrival so far (jitter never reorders).
    last_arrival: Instant,
    /// Gilbert-Elliott state.
    in_bad_state: bool,
    pub stats: LinkStats,
    config: LinkConfig,
}

/// Where an offered packet goes: its arrival times (0, 1 or 2 of them).
pub(crate) type Arrivals = ([Instant; 2], usize);

impl Link {
    pub fn new(config: LinkConfig) -> Self {
        Self {
            hot: None,
            busy_until: Instant::ZERO,
            last_arrival: Instant::ZERO,
            in_bad_state: false,
            stats: LinkStats::default(),
            config,
        }
    }

    /// The configuration, for changes; the hot copy is rebuilt on the next packet.
    pub fn config_mut(&mut self) -> &mut LinkConfig {
        self.hot = None;
        &mut self.config
    }

    /// Offers a packet of `len` payload bytes at `now`; returns when its copies arrive.
    pub fn offer(&mut self, now: Instant, len: usize, rng: &mut SeededRng) -> Arrivals {
        let none = ([Instant::ZERO; 2], 0);
        let hot = *self.hot.get_or_insert_with(|| Hot::of(&self.config));
        self.stats.offered += 1;
        if !hot.up {
            self.stats.dropped_down += 1;
            return none;
        }
        let wire = len + HEADER_BYTES;
        if wire > hot.mtu {
            self.stats.dropped_mtu += 1;
            return none;
        }
        // The bottleneck: FIFO at `rate`, drop-tail when the backlog would pass the queue.
        let departure = if hot.rate_bps > 0 {
            let busy_us = self.busy_until.as_micros().saturating_sub(now.as_micros());
            let backlog = backlog_bytes(busy_us, hot.rate_bps);
            // An idle bottleneck always takes the packet; a busy one only while it fits.
            if backlog > 0 && backlog + wire as u64 > hot.queue_bytes {
                self.stats.dropped_queue += 1;
                return none;
            }
            let done = self.busy_until.max(now) + serialisation(wire, hot.rate_bps);
            self.busy_until = done;
            done
        } else {
            now
        };
        let (mut reordered, mut duplicated) = (false, false);
        if hot.random {
            if self.lost(rng) {
                self.stats.dropped_loss += 1;
                return none;
            }
            reordered = self.config.reorder > 0.0 && rng.chance(self.config.reorder);
            duplicated = self.config.duplicate > 0.0 && rng.chance(self.config.duplicate);
        }
        let jitter = if hot.jitter_us == 0 { 0 } else { rng.below(hot.jitter_us.saturating_add(1)) };
        let mut arrival =
            Instant::from_micros(departure.as_micros().saturating_add(hot.delay_us).saturating_add(jitter));
        if reordered {
            self.stats.reordered += 1;
            arrival += self.config.reorder_delay;
        } else {
            arrival = arrival.max(self.last_arrival);
            self.last_arrival = arrival;
        }
        self.stats.delivered += 1;
        self.stats.delivered_bytes += len as u64;
        if duplicated {
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

/// Time to put `bytes` on a wire of `rate` bits per second, rounded up to the nanosecond.
fn serialisation(bytes: usize, rate: u64) -> Duration {
    let nanos = (bytes as u128 * 8 * 1_000_000_000).div_ceil(u128::from(rate));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Bytes still queued when the bottleneck needs `busy_us` more microseconds at `rate`.
fn backlog_bytes(busy_us: u64, rate: u64) -> u64 {
    let bytes = u128::from(busy_us) * u128::from(rate) / 8 / 1_000_000;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}
