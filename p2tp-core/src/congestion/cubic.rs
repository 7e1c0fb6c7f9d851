//! Rate-based CUBIC (RFC 9438 on a virtual window; docs/p2tp.md §8 and
//! `reference/transport.md` §1.4): the window grows on echoes and shrinks on loss events, and
//! the stream paces at `W·s/SRTT`.

use alloc::boxed::Box;
use core::time::Duration;

use sansio_core::Instant;

use super::{Controller, ControllerFactory, min_rate};
use crate::rtt::RttEstimator;

/// RFC 9438's C.
const C: f64 = 0.4;
/// RFC 9438's β (multiplicative decrease).
const BETA: f64 = 0.7;
/// The Reno-friendly additive increase, 3(1−β)/(1+β), kept for the whole epoch.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// CUBIC's settings.
#[derive(Copy, Clone, Debug)]
pub struct CubicConfig {
    /// The initial window, in datagrams (RFC 6928: 10).
    pub initial_window: f64,
    /// The least window, in datagrams (RFC 9002: 2).
    pub min_window: f64,
    /// The largest window, in datagrams: it bounds the sender's history (65,536 ≈ 6.3 Gbit/s
    /// at 100 ms).
    pub max_window: f64,
}

impl Default for CubicConfig {
    fn default() -> Self {
        Self { initial_window: 10.0, min_window: 2.0, max_window: 65_536.0 }
    }
}

impl ControllerFactory for CubicConfig {
    fn build(&self, _now: Instant, segment: usize) -> Box<dyn Controller> {
        Box::new(Cubic::new(*self, segment))
    }
}

/// One stream's CUBIC state.
#[derive(Clone, Debug)]
pub struct Cubic {
    config: CubicConfig,
    /// Bytes per datagram: acknowledged bytes count in these units.
    segment: f64,
    /// The virtual window, in datagrams.
    w: f64,
    ssthresh: f64,
    /// The window before the last reduction (fast convergence target).
    w_max: f64,
    /// The Reno-friendly estimate.
    w_est: f64,
    /// When the current congestion-avoidance epoch began, and its K.
    epoch: Option<(Instant, f64)>,
    /// The last acknowledgement, to slide the epoch over app-limited time.
    last_ack: Option<Instant>,
    hystart: HyStart,
}

/// Slow-start exit on RTT rise (RFC 9406, simplified: no conservative phase).
#[derive(Clone, Debug, Default)]
struct HyStart {
    round_end: Option<Instant>,
    round_min: Option<Duration>,
    round_samples: u32,
    last_round_min: Option<Duration>,
}

const HYSTART_SAMPLES: u32 = 4;

impl HyStart {
    /// Takes one RTT sample; `true` if slow start should end.
    fn sample(&mut self, now: Instant, rtt: &RttEstimator) -> bool {
        let latest = rtt.latest();
        if self.round_end.is_none_or(|end| now >= end) {
            self.last_round_min =
                self.round_min.filter(|_| self.round_samples >= HYSTART_SAMPLES).or(self.last_round_min);
            self.round_end = Some(now + rtt.srtt());
            self.round_min = None;
            self.round_samples = 0;
        }
        self.round_samples += 1;
        self.round_min = Some(self.round_min.map_or(latest, |m| m.min(latest)));
        match (self.last_round_min, self.round_min) {
            (Some(last), Some(current)) if self.round_samples >= HYSTART_SAMPLES => {
                let eta = (last / 8).clamp(Duration::from_millis(4), Duration::from_millis(16));
                current >= last + eta
            }
            _ => false,
        }
    }
}

impl Cubic {
    /// A controller in slow start at the initial window, for datagrams of `segment` bytes.
    #[must_use]
    pub fn new(config: CubicConfig, segment: usize) -> Self {
        Self {
            config,
            segment: segment.max(1) as f64,
            w: config.initial_window,
            ssthresh: f64::INFINITY,
            w_max: 0.0,
            w_est: 0.0,
            epoch: None,
            last_ack: None,
            hystart: HyStart::default(),
        }
    }

    fn w_cubic(&self, t: f64, k: f64) -> f64 {
        let d = t - k;
        C * d * d * d + self.w_max
    }

    fn start_epoch(&mut self, now: Instant) -> f64 {
        // Leaving slow start without a loss: the curve starts flat at the current window
        // (RFC 9438 §4.10), instead of climbing from zero.
        self.w_max = self.w_max.max(self.w);
        let k = if self.w_max > self.w { libm::cbrt((self.w_max - self.w) / C) } else { 0.0 };
        self.epoch = Some((now, k));
        self.w_est = self.w;
        k
    }
}

impl Controller for Cubic {
    fn on_ack(&mut self, now: Instant, bytes: u64, rtt: &RttEstimator, app_limited: bool) {
        let last = self.last_ack.replace(now);
        if app_limited {
            // Time the sender did not use the window does not count towards its growth.
            if let (Some((start, k)), Some(last)) = (self.epoch, last) {
                self.epoch = Some((start + now.saturating_duration_since(last), k));
            }
            return;
        }
        let a = bytes as f64 / self.segment;
        if self.w < self.ssthresh {
            self.w += a;
            if self.hystart.sample(now, rtt) {
                self.ssthresh = self.w;
            }
        } else {
            let (start, k) = match self.epoch {
                Some(e) => e,
                None => (now, self.start_epoch(now)),
            };
            let t = now.saturating_duration_since(start).as_secs_f64();
            let srtt = rtt.srtt().as_secs_f64();
            let target = self.w_cubic(t + srtt, k).clamp(self.w, 1.5 * self.w);
            self.w += (target - self.w) * a / self.w;
            // RFC 9438 lets α grow to 1 once W_est passes the window before the last loss; the
            // CUBIC deployed in Linux (RFC 8312's) keeps 0.529, and with 1 a P2TP flow took
            // 61-74 % of a tbf bottleneck from a Linux TCP flow (0.42-0.64 with 0.529).
            self.w_est += ALPHA * a / self.w;
            if self.w_cubic(t, k) < self.w_est {
                self.w = self.w.max(self.w_est);
            }
        }
        self.w = self.w.min(self.config.max_window);
    }

    fn on_loss_event(&mut self, now: Instant, _rtt: &RttEstimator) {
        // Fast convergence: release room to a newer flow when the window is falling.
        self.w_max = if self.w < self.w_max { self.w * (1.0 + BETA) / 2.0 } else { self.w };
        self.w = (self.w * BETA).max(self.config.min_window);
        self.ssthresh = self.w;
        self.start_epoch(now);
    }

    fn on_no_feedback(&mut self, _now: Instant, persistent: bool) {
        if persistent {
            self.ssthresh = (self.w * BETA).max(self.config.min_window);
            self.w = self.config.min_window;
            self.epoch = None;
        } else {
            self.w = (self.w / 2.0).max(self.config.min_window);
        }
    }

    fn rate(&self, rtt: &RttEstimator, segment: usize) -> u64 {
        let srtt = rtt.srtt().as_secs_f64().max(1e-6);
        ((self.w * segment as f64 / srtt) as u64).max(min_rate(segment))
    }

    fn window(&self) -> f64 {
        self.w
    }

    fn in_slow_start(&self) -> bool {
        self.w < self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_event_cuts_the_window_by_beta_and_growth_resumes_towards_w_max() {
        let rtt = RttEstimator::new(Instant::ZERO, Duration::from_millis(40));
        let mut c = Cubic::new(CubicConfig::default(), 1200);
        for i in 0..90 {
            c.on_ack(Instant::from_millis(i), 1200, &rtt, false);
        }
        assert!((c.window() - 100.0).abs() < 1e-9, "slow start adds one per datagram: {}", c.window());
        c.on_loss_event(Instant::from_millis(100), &rtt);
        assert!((c.window() - 70.0).abs() < 1e-9);
        assert!(!c.in_slow_start());
        let mut t = 100;
        while c.window() < 99.0 && t < 100_000 {
            t += 1;
            c.on_ack(Instant::from_millis(t), 1200, &rtt, false);
        }
        // W_cubic(t) = 0.4 (t − K)³ + 100 with K = ∛(30 / 0.4) ≈ 4.22 s: it passes 99 at
        // t = K − ∛(1 / 0.4) ≈ 2.86 s (the concave region of RFC 9438, one RTT ahead).
        assert!((2_700..3_100).contains(&(t - 100)), "took {} ms", t - 100);
    }

    #[test]
    fn app_limited_acknowledgements_do_not_grow_the_window() {
        let rtt = RttEstimator::new(Instant::ZERO, Duration::from_millis(40));
        let mut c = Cubic::new(CubicConfig::default(), 1200);
        for i in 0..1000 {
            c.on_ack(Instant::from_millis(i), 1200, &rtt, true);
        }
        assert!((c.window() - 10.0).abs() < 1e-9);
    }
}
