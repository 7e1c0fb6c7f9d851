//! Rate controllers, behind one trait (as quinn-proto's `congestion` module): a stream asks its
//! controller for a sending rate and tells it about deliveries, loss events and silences.

use alloc::boxed::Box;
use core::fmt::Debug;
use core::time::Duration;

use sansio_core::Instant;

use crate::rtt::RttEstimator;

mod cubic;
mod fixed;

pub use cubic::{Cubic, CubicConfig};
pub use fixed::{FixedRate, FixedRateConfig};

/// The least sending rate: one full datagram per 200 ms keeps RTT samples and loss detection
/// alive at the floor (docs/p2tp.md §14, MIN_RATE).
pub const MIN_RATE_INTERVAL: Duration = Duration::from_millis(200);

/// One stream's rate control. Every hook takes `now`; none reads a clock.
pub trait Controller: Debug + Send {
    /// An echo acknowledged `bytes` of data (UDP payload bytes). `app_limited`: the stream did
    /// not use its whole rate while those were sent, so they say nothing about the path's room.
    fn on_ack(&mut self, now: Instant, bytes: u64, rtt: &RttEstimator, app_limited: bool);
    /// A loss event (the peer's LSS rose); the stream calls it at most once per SRTT.
    fn on_loss_event(&mut self, now: Instant, rtt: &RttEstimator);
    /// No echo for the no-feedback timeout; `persistent` after several in a row.
    fn on_no_feedback(&mut self, now: Instant, persistent: bool);
    /// The sending rate in bytes per second, for datagrams of `segment` bytes.
    fn rate(&self, rtt: &RttEstimator, segment: usize) -> u64;
    /// The virtual window in segments (for statistics; a fixed rate reports its equivalent).
    fn window(&self) -> f64;
    /// Whether the controller is still in slow start.
    fn in_slow_start(&self) -> bool;
}

/// Builds a [`Controller`] for each new stream.
pub trait ControllerFactory: Debug + Send + Sync {
    /// A controller for a stream opened at `now` that sends datagrams of up to `segment` bytes.
    fn build(&self, now: Instant, segment: usize) -> Box<dyn Controller>;
}

/// The floor every controller's rate respects.
pub(crate) fn min_rate(segment: usize) -> u64 {
    (segment as u64 * 1_000_000) / MIN_RATE_INTERVAL.as_micros() as u64
}
