//! The one place that reads the operating system's clock.

use sansio_core::Instant;

/// A monotonic clock that turns `std::time::Instant` into [`sansio_core::Instant`], counting
/// microseconds from the moment it was created.
///
/// ```
/// use drivers::MonoClock;
///
/// let clock = MonoClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MonoClock {
    origin: std::time::Instant,
}

impl MonoClock {
    /// A clock whose origin ([`Instant::ZERO`]) is now.
    #[must_use]
    pub fn new() -> Self {
        Self { origin: std::time::Instant::now() }
    }

    /// The current time. Never decreases.
    #[must_use]
    pub fn now(&self) -> Instant {
        Instant::from_duration(self.origin.elapsed())
    }

    /// The OS instant of a machine deadline, for timers; `None` for a deadline too far away to
    /// represent (a driver then waits as if there were none).
    #[must_use]
    pub fn to_std(&self, t: Instant) -> Option<std::time::Instant> {
        self.origin.checked_add(t.since_origin())
    }
}

impl Default for MonoClock {
    fn default() -> Self {
        Self::new()
    }
}
