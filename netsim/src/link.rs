//! One direction of a link: delay, jitter, loss, duplication, reordering, a rate limit with a
//! drop-tail queue, and an MTU.

use core::time::Duration;

use sansio_core::{Instant, SeededRng};

/// How a link loses packets.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[non_exhaustive]
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
    /// Routers on the way (the internet is several hops between two homes): each decrements
    /// a packet's TTL, and a packet whose TTL would reach 0 dies there (`SimStats::dropped_ttl`).
    pub routers: u8,
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
            routers: 0,
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

/// Which parts of the configuration the next packet needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// The configuration changed: rebuild the hot copy first.
    Stale,
    /// Up, no rate limit, no random loss, duplication or reordering: delay, jitter and MTU
    /// only, all in the hot line.
    Plain,
    /// Anything else: the cold part is read too.
    Full,
}

/// What every packet on a link touches, in one cache line: the counters every packet bumps,
/// the in-order arrival clock, and an integer copy of delay, jitter and MTU. A large
/// simulation has tens of thousands of links, so keeping this small is what keeps a run in
/// cache; everything else lives in [`LinkCold`], read only by links with a rate limit, loss,
/// duplication or reordering, or that are down.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Link {
    offered: u64,
    delivered: u64,
    delivered_bytes: u64,
    /// Latest in-order arrival so far (jitter never reorders).
    last_arrival: Instant,
    delay_us: u64,
    jitter_us: u64,
    mtu: usize,
    routers: u8,
    path: Path,
}

/// The rest of a link: its full configuration, the bottleneck and loss-model state, and the
/// counters of rarer outcomes.
#[derive(Debug, Default)]
pub(crate) struct LinkCold {
    config: LinkConfig,
    /// When the bottleneck finishes sending what is queued.
    busy_until: Instant,
    /// Gilbert-Elliott state.
    in_bad_state: bool,
    dropped_loss: u64,
    dropped_queue: u64,
    dropped_mtu: u64,
    dropped_down: u64,
    duplicated: u64,
    reordered: u64,
}

/// Where an offered packet goes: its arrival times (0, 1 or 2 of them).
pub(crate) type Arrivals = ([Instant; 2], usize);

impl Link {
    /// A link whose hot copy is built from `cold`'s configuration on its first packet.
    pub(crate) fn new() -> Self {
        Self {
            offered: 0,
            delivered: 0,
            delivered_bytes: 0,
            last_arrival: Instant::ZERO,
            delay_us: 0,
            jitter_us: 0,
            mtu: 0,
            routers: 0,
            path: Path::Stale,
        }
    }

    /// The configuration, for changes; the hot copy is rebuilt on the next packet.
    pub(crate) fn config_mut<'a>(&mut self, cold: &'a mut LinkCold) -> &'a mut LinkConfig {
        self.path = Path::Stale;
        &mut cold.config
    }

    fn rebuild(&mut self, c: &LinkConfig) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.delay_us = us(c.delay);
        self.jitter_us = us(c.jitter);
        self.mtu = c.mtu;
        self.routers = c.routers;
        let plain =
            c.up && c.rate_bps.is_none_or(|r| r == 0) && c.loss == Loss::None && c.duplicate <= 0.0 && c.reorder <= 0.0;
        self.path = if plain { Path::Plain } else { Path::Full };
    }

    /// What this link did so far.
    pub(crate) fn stats(&self, cold: &LinkCold) -> LinkStats {
        LinkStats {
            offered: self.offered,
            delivered: self.delivered,
            delivered_bytes: self.delivered_bytes,
            dropped_loss: cold.dropped_loss,
            dropped_queue: cold.dropped_queue,
            dropped_mtu: cold.dropped_mtu,
            dropped_down: cold.dropped_down,
            duplicated: cold.duplicated,
            reordered: cold.reordered,
        }
    }

    /// Routers on the link (from the current configuration).
    #[inline]
    pub(crate) fn routers(&mut self, cold: &LinkCold) -> u8 {
        if self.path == Path::Stale {
            self.rebuild(&cold.config);
        }
        self.routers
    }

    /// Offers a packet of `len` payload bytes at `now`; returns when its copies arrive.
    /// `cold` is this link's cold part; a plain link does not read it unless the packet is
    /// over its MTU.
    #[inline]
    pub(crate) fn offer(&mut self, cold: &mut LinkCold, now: Instant, len: usize, rng: &mut SeededRng) -> Arrivals {
        if self.path == Path::Plain && len + HEADER_BYTES <= self.mtu {
            self.offered += 1;
            return ([self.arrive_in_order(now, len, rng), Instant::ZERO], 1);
        }
        self.offer_full(cold, now, len, rng)
    }

    /// Delay and jitter from `departure`, never before an earlier packet; counts the packet
    /// as delivered.
    #[inline]
    fn arrive_in_order(&mut self, departure: Instant, len: usize, rng: &mut SeededRng) -> Instant {
        let arrival = self.unordered_arrival(departure, rng).max(self.last_arrival);
        self.last_arrival = arrival;
        self.delivered += 1;
        self.delivered_bytes += len as u64;
        arrival
    }

    /// `departure` plus the delay and a jitter draw.
    #[inline]
    fn unordered_arrival(&self, departure: Instant, rng: &mut SeededRng) -> Instant {
        let jitter = if self.jitter_us == 0 { 0 } else { rng.below(self.jitter_us.saturating_add(1)) };
        Instant::from_micros(departure.as_micros().saturating_add(self.delay_us).saturating_add(jitter))
    }

    /// [`Link::offer`] for every case but a plain link's packet within the MTU.
    #[inline(never)]
    fn offer_full(&mut self, cold: &mut LinkCold, now: Instant, len: usize, rng: &mut SeededRng) -> Arrivals {
        let none = ([Instant::ZERO; 2], 0);
        if self.path == Path::Stale {
            self.rebuild(&cold.config);
        }
        let full = self.path == Path::Full;
        self.offered += 1;
        if full && !cold.config.up {
            cold.dropped_down += 1;
            return none;
        }
        let wire = len + HEADER_BYTES;
        if wire > self.mtu {
            cold.dropped_mtu += 1;
            return none;
        }
        let (mut departure, mut reordered, mut duplicated) = (now, false, false);
        if full {
            // The bottleneck: FIFO at `rate`, drop-tail when the backlog would pass the queue.
            if let Some(rate) = cold.config.rate_bps.filter(|r| *r > 0) {
                let busy_us = cold.busy_until.as_micros().saturating_sub(now.as_micros());
                let backlog = backlog_bytes(busy_us, rate);
                // An idle bottleneck always takes the packet; a busy one only while it fits.
                if backlog > 0 && backlog + wire as u64 > cold.config.queue_bytes as u64 {
                    cold.dropped_queue += 1;
                    return none;
                }
                departure = cold.busy_until.max(now) + serialisation(wire, rate);
                cold.busy_until = departure;
            }
            if cold.lost(rng) {
                cold.dropped_loss += 1;
                return none;
            }
            reordered = cold.config.reorder > 0.0 && rng.chance(cold.config.reorder);
            duplicated = cold.config.duplicate > 0.0 && rng.chance(cold.config.duplicate);
        }
        let arrival = if reordered {
            cold.reordered += 1;
            self.delivered += 1;
            self.delivered_bytes += len as u64;
            self.unordered_arrival(departure, rng) + cold.config.reorder_delay
        } else {
            self.arrive_in_order(departure, len, rng)
        };
        if duplicated {
            cold.duplicated += 1;
            self.delivered += 1;
            self.delivered_bytes += len as u64;
            return ([arrival, arrival], 2);
        }
        ([arrival, Instant::ZERO], 1)
    }
}

impl LinkCold {
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
