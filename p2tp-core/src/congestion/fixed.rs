//! A fixed sending rate: for tests, and for `ipv8 p2tp send --rate`.

use alloc::boxed::Box;

use sansio_core::Instant;

use super::{Controller, ControllerFactory};
use crate::rtt::RttEstimator;

/// Sends at a fixed number of bytes per second, whatever happens on the path.
#[derive(Copy, Clone, Debug)]
pub struct FixedRate {
    bytes_per_second: u64,
}

/// Builds [`FixedRate`] controllers.
#[derive(Copy, Clone, Debug)]
pub struct FixedRateConfig {
    /// The rate, bytes per second (at least one).
    pub bytes_per_second: u64,
}

impl ControllerFactory for FixedRateConfig {
    fn build(&self, _now: Instant, _segment: usize) -> Box<dyn Controller> {
        Box::new(FixedRate { bytes_per_second: self.bytes_per_second.max(1) })
    }
}

impl Controller for FixedRate {
    fn on_ack(&mut self, _: Instant, _: u64, _: &RttEstimator, _: bool) {}
    fn on_loss_event(&mut self, _: Instant, _: &RttEstimator) {}
    fn on_no_feedback(&mut self, _: Instant, _: bool) {}
    fn rate(&self, _: &RttEstimator, _: usize) -> u64 {
        self.bytes_per_second
    }
    fn window(&self) -> f64 {
        0.0
    }
    fn in_slow_start(&self) -> bool {
        false
    }
}
