//! Time as an input: a point on the driver's monotonic clock.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};
use core::time::Duration;

/// A point in time, in whole microseconds since an origin the driver chooses (usually the
/// moment it started).
///
/// Cores never read a clock: every handler takes `now: Instant` from its driver or from the
/// simulator. The type is a plain `u64`, so a core can be run from `Instant::ZERO` in tests
/// and can never hit the underflow panics of `std::time::Instant` (which has no zero and no
/// maximum). All arithmetic saturates; nothing here panics.
///
/// [`Instant::MAX`] is the latest representable instant: arithmetic saturates there. It is not
/// a way to say "never": a deadline that will not come is `None` (in an `Option<Instant>`),
/// the one spelling every core, driver and the simulator use.
///
/// Durations are rounded **up** to the next whole microsecond when added, so a deadline
/// computed as `now + d` is never earlier than `d` after `now`; durations measured between two
/// instants are exact.
///
/// ```
/// use core::time::Duration;
/// use sansio_core::Instant;
///
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
/// assert_eq!(t.saturating_duration_since(Instant::from_secs(2)), Duration::ZERO);
/// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
/// assert_eq!(Instant::ZERO + Duration::from_nanos(1), Instant::from_micros(1));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

/// Whole microseconds in `d`, rounded up, or `None` past `u64::MAX` (in 64-bit arithmetic:
/// every timer deadline goes through here, and a 128-bit multiply is not free).
#[inline]
fn micros_ceil_checked(d: Duration) -> Option<u64> {
    d.as_secs().checked_mul(1_000_000)?.checked_add(u64::from(d.subsec_nanos().div_ceil(1_000)))
}

/// Whole microseconds in `d`, rounded up, saturating at `u64::MAX`.
#[inline]
fn micros_ceil(d: Duration) -> u64 {
    micros_ceil_checked(d).unwrap_or(u64::MAX)
}

/// Whole microseconds in `d`, rounded down, saturating at `u64::MAX`.
fn micros_floor(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Instant {
    /// The origin of the driver's clock. Tests and simulations start here.
    pub const ZERO: Self = Self(0);
    /// Never. Later than every other instant; `MAX + d == MAX` for every `d`.
    pub const MAX: Self = Self(u64::MAX);

    /// The instant `us` microseconds after the origin.
    #[must_use]
    pub const fn from_micros(us: u64) -> Self {
        Self(us)
    }

    /// The instant `ms` milliseconds after the origin (saturating at [`Instant::MAX`]).
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1_000))
    }

    /// The instant `s` seconds after the origin (saturating at [`Instant::MAX`]).
    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1_000_000))
    }

    /// Microseconds since the origin.
    #[must_use]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since the origin, as a [`Duration`].
    #[must_use]
    pub const fn since_origin(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self + d`, or `None` if that would pass [`Instant::MAX`]. `MAX + ZERO` is `Some(MAX)`.
    #[must_use]
    #[inline]
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let us = micros_ceil_checked(d)?;
        self.0.checked_add(us).map(Self)
    }

    /// `self + d`, stopping at [`Instant::MAX`].
    #[must_use]
    #[inline]
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(micros_ceil(d)))
    }

    /// `self - d`, or `None` if that would fall before [`Instant::ZERO`].
    /// Sub-microsecond parts of `d` are ignored (the result is never later than exact).
    #[must_use]
    #[inline]
    pub fn checked_sub(self, d: Duration) -> Option<Self> {
        self.0.checked_sub(micros_ceil(d)).map(Self)
    }

    /// `self - d`, stopping at [`Instant::ZERO`].
    #[must_use]
    #[inline]
    pub fn saturating_sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(micros_ceil(d)))
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later than `self`.
    #[must_use]
    pub const fn checked_duration_since(self, earlier: Self) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(us) => Some(Duration::from_micros(us)),
            None => None,
        }
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later than `self`.
    #[must_use]
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// The instant `d` after the origin, rounded down to the microsecond (saturating at
    /// [`Instant::MAX`]). Drivers use it to turn the elapsed time of their monotonic clock into
    /// an `Instant`.
    #[must_use]
    pub fn from_duration(d: Duration) -> Self {
        Self(micros_floor(d))
    }
}

impl Add<Duration> for Instant {
    type Output = Self;
    /// Saturating: `Instant::MAX + d == Instant::MAX`.
    #[inline]
    fn add(self, d: Duration) -> Self {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Instant {
    #[inline]
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

impl Sub<Duration> for Instant {
    type Output = Self;
    /// Saturating: never earlier than [`Instant::ZERO`].
    #[inline]
    fn sub(self, d: Duration) -> Self {
        self.saturating_sub(d)
    }
}

impl Sub for Instant {
    type Output = Duration;
    /// Saturating: `a - b` is zero when `b` is later than `a`.
    fn sub(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Instant {
    /// `12.000345s`: seconds since the origin, to the microsecond.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn display_shows_seconds_to_the_microsecond() {
        assert_eq!(format!("{}", Instant::from_micros(12_000_345)), "12.000345s");
        assert_eq!(format!("{:?}", Instant::from_micros(7)), "0.000007s");
    }

    #[test]
    fn sub_microsecond_durations_round_up_when_added() {
        let t = Instant::from_micros(10);
        assert_eq!(t + Duration::from_nanos(1), Instant::from_micros(11));
        assert_eq!(t + Duration::from_nanos(1_000), Instant::from_micros(11));
        assert_eq!(t + Duration::from_nanos(1_001), Instant::from_micros(12));
        assert_eq!(t.checked_add(Duration::from_nanos(999)), Some(Instant::from_micros(11)));
    }

    #[test]
    fn microseconds_round_up_in_64_bits_as_they_would_in_128() {
        let reference = |d: Duration| {
            let wide = d.as_micros() + u128::from(!d.subsec_nanos().is_multiple_of(1_000));
            u64::try_from(wide).ok()
        };
        let edge = u64::MAX / 1_000_000;
        for secs in [0, 1, 59, edge - 1, edge, edge + 1, u64::MAX] {
            for nanos in [0, 1, 999, 1_000, 1_001, 551_615_999, 551_616_000, 551_616_001, 999_999_999] {
                let d = Duration::new(secs, nanos);
                assert_eq!(micros_ceil_checked(d), reference(d), "{d:?}");
            }
        }
    }

    #[test]
    fn max_duration_saturates_instead_of_panicking() {
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
        assert_eq!(Instant::MAX - Duration::MAX, Instant::ZERO);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    }
}
