//! Round-trip time from echoed timestamps: RFC 6298 smoothing and a windowed minimum
//! (docs/p2tp.md §3.3).

use core::time::Duration;

use sansio_core::Instant;

use crate::config::{MIN_RTT_WINDOW, RTO_MIN};

/// SRTT, RTTVAR and min RTT of one path.
#[derive(Copy, Clone, Debug)]
pub struct RttEstimator {
    srtt: Duration,
    rttvar: Duration,
    min: Duration,
    /// When `min` was measured; it is replaced by any sample once older than the window.
    min_at: Instant,
    latest: Duration,
    /// Whether a µs sample (not only the coarse handshake one) has been taken.
    fine: bool,
    samples: u64,
}

impl RttEstimator {
    /// An estimator seeded with the handshake's coarse sample.
    #[must_use]
    pub fn new(now: Instant, first: Duration) -> Self {
        let first = first.max(Duration::from_micros(1));
        Self { srtt: first, rttvar: first / 2, min: first, min_at: now, latest: first, fine: false, samples: 0 }
    }

    /// Takes a µs-precise sample. The first one replaces the coarse handshake estimate.
    pub fn update(&mut self, now: Instant, sample: Duration) {
        let r = sample.max(Duration::from_micros(1));
        self.latest = r;
        self.samples += 1;
        if !self.fine {
            *self = Self { fine: true, samples: self.samples, ..Self::new(now, r) };
            return;
        }
        let diff = self.srtt.abs_diff(r);
        self.rttvar = (self.rttvar * 3 + diff) / 4;
        self.srtt = (self.srtt * 7 + r) / 8;
        if r <= self.min || now.saturating_duration_since(self.min_at) > MIN_RTT_WINDOW {
            self.min = r;
            self.min_at = now;
        }
    }

    /// Smoothed RTT.
    #[must_use]
    pub fn srtt(&self) -> Duration {
        self.srtt
    }

    /// RTT variation.
    #[must_use]
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The least sample of the last 10 s.
    #[must_use]
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The latest sample.
    #[must_use]
    pub fn latest(&self) -> Duration {
        self.latest
    }

    /// µs samples taken.
    #[must_use]
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// `max(SRTT + 4·RTTVAR, 200 ms)`.
    #[must_use]
    pub fn rto(&self) -> Duration {
        (self.srtt + self.rttvar * 4).max(RTO_MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fine_sample_replaces_the_coarse_one_then_rfc6298_smooths() {
        let mut r = RttEstimator::new(Instant::ZERO, Duration::from_millis(48));
        r.update(Instant::from_millis(100), Duration::from_millis(40));
        assert_eq!(
            (r.srtt(), r.rttvar(), r.min()),
            (Duration::from_millis(40), Duration::from_millis(20), Duration::from_millis(40))
        );
        r.update(Instant::from_millis(200), Duration::from_millis(48));
        assert_eq!(r.srtt(), Duration::from_millis(41));
        assert_eq!(r.rttvar(), Duration::from_millis(17));
        assert_eq!(r.min(), Duration::from_millis(40));
        // The minimum follows a route change once the window has passed.
        r.update(Instant::from_secs(11), Duration::from_millis(60));
        assert_eq!(r.min(), Duration::from_millis(60));
    }
}
