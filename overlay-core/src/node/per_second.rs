//! A one-second allowance: how the node bounds what one input may make it send (punctures
//! per introducer, introductions per asker, relayed bytes per sender, asks in turn).

use core::time::Duration;

use sansio_core::Instant;

/// What was used since `start`; a new second starts afresh. The default is nothing used, the
/// second starting at the origin.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PerSecond {
    start: Instant,
    used: u64,
}

impl PerSecond {
    /// Nothing used, the second starting at `now`.
    pub(super) fn new(now: Instant) -> Self {
        Self { start: now, used: 0 }
    }

    /// When the current second started (the oldest allowance goes first when a table is full).
    pub(super) fn start(&self) -> Instant {
        self.start
    }

    /// Takes `amount` if what this second used stays within `limit`; whether it did.
    pub(super) fn take(&mut self, now: Instant, amount: u64, limit: u64) -> bool {
        if !self.has(now, amount, limit) {
            return false;
        }
        self.spend(amount);
        true
    }

    /// Charges `amount` to the current second: what [`has`](Self::has) just allowed, spent
    /// once the work it paid for was done.
    pub(super) fn spend(&mut self, amount: u64) {
        self.used += amount;
    }

    /// Whether `amount` more stays within `limit` this second (nothing is taken).
    pub(super) fn has(&mut self, now: Instant, amount: u64, limit: u64) -> bool {
        if now.saturating_duration_since(self.start) >= Duration::from_secs(1) {
            *self = Self::new(now);
        }
        self.used + amount <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_is_spent_within_its_second_and_renewed_after_it() {
        let mut a = PerSecond::new(Instant::ZERO);
        assert!(a.take(Instant::ZERO, 2, 3) && !a.take(Instant::from_millis(500), 2, 3));
        assert!(
            a.has(Instant::from_millis(999), 1, 3) && !a.has(Instant::from_millis(999), 2, 3),
            "asking takes nothing"
        );
        assert!(a.take(Instant::from_millis(999), 1, 3), "the last unit of the second");
        assert!(!a.take(Instant::from_millis(999), 1, 3));
        assert!(a.take(Instant::from_secs(1), 3, 3), "a new second");
        assert_eq!(a.start(), Instant::from_secs(1));
    }
}
