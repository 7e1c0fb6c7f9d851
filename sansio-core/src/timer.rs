//! A machine's deadlines, keyed by an enum of what they are for.

use core::fmt::Debug;
use core::marker::PhantomData;

use crate::Instant;

/// The kinds of timer one machine keeps: a small fieldless enum listing them all.
///
/// ```
/// use sansio_core::TimerKind;
///
/// #[derive(Copy, Clone, Debug, PartialEq, Eq)]
/// enum Timer { Retransmit, Idle }
///
/// impl TimerKind for Timer {
///     const ALL: &'static [Self] = &[Timer::Retransmit, Timer::Idle];
///     fn index(self) -> usize { self as usize }
///     fn reason(self) -> &'static str {
///         match self { Timer::Retransmit => "retransmit", Timer::Idle => "idle timeout" }
///     }
/// }
/// ```
pub trait TimerKind: Copy + Eq + Debug + 'static {
    /// Every kind, in the order that breaks ties between equal deadlines.
    const ALL: &'static [Self];
    /// This kind's slot: distinct for each kind, below `ALL.len()` (need not follow `ALL`'s
    /// order).
    fn index(self) -> usize;
    /// Why a deadline of this kind is due, for logs (`"retransmit"`, `"keep-alive"`).
    fn reason(self) -> &'static str;
}

/// One deadline per [`TimerKind`]: the one place a machine keeps "when do I next want
/// [`handle_timeout`](crate::Machine::handle_timeout), and why".
///
/// `N` is the number of kinds (`K::ALL.len()`, checked when the table is built). "Never" is
/// spelled one way: an unset timer, `None`.
///
/// ```
/// use sansio_core::{Instant, TimerKind, TimerTable};
/// # #[derive(Copy, Clone, Debug, PartialEq, Eq)]
/// # enum Timer { Retransmit, Idle }
/// # impl TimerKind for Timer {
/// #     const ALL: &'static [Self] = &[Timer::Retransmit, Timer::Idle];
/// #     fn index(self) -> usize { self as usize }
/// #     fn reason(self) -> &'static str { "" }
/// # }
///
/// let mut timers = TimerTable::<Timer, 2>::new();
/// timers.set(Timer::Idle, Instant::from_secs(30));
/// timers.set(Timer::Retransmit, Instant::from_millis(500));
/// assert_eq!(timers.next(), Some((Instant::from_millis(500), Timer::Retransmit)));
///
/// // At 1 s the retransmit timer has expired: it is taken (and cleared) once.
/// assert_eq!(timers.take_expired(Instant::from_secs(1)), Some(Timer::Retransmit));
/// assert_eq!(timers.take_expired(Instant::from_secs(1)), None);
/// assert_eq!(timers.next_deadline(), Some(Instant::from_secs(30)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerTable<K: TimerKind, const N: usize> {
    deadlines: [Option<Instant>; N],
    kind: PhantomData<K>,
}

impl<K: TimerKind, const N: usize> TimerTable<K, N> {
    /// A table with no timer set.
    #[must_use]
    pub const fn new() -> Self {
        const { assert!(N == K::ALL.len(), "TimerTable's N must be the number of timer kinds") };
        Self { deadlines: [None; N], kind: PhantomData }
    }

    /// Sets (or moves) `kind`'s deadline to `at`.
    pub fn set(&mut self, kind: K, at: Instant) {
        self.deadlines[kind.index()] = Some(at);
    }

    /// Sets `kind`'s deadline to `at` unless it is already set earlier.
    pub fn set_earliest(&mut self, kind: K, at: Instant) {
        let slot = &mut self.deadlines[kind.index()];
        *slot = Some(slot.map_or(at, |d| d.min(at)));
    }

    /// Clears `kind`.
    pub fn stop(&mut self, kind: K) {
        self.deadlines[kind.index()] = None;
    }

    /// Clears every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; N];
    }

    /// `kind`'s deadline, if set.
    #[must_use]
    pub fn get(&self, kind: K) -> Option<Instant> {
        self.deadlines[kind.index()]
    }

    /// Whether `kind` is set and due at `now`.
    #[must_use]
    pub fn is_expired(&self, kind: K, now: Instant) -> bool {
        self.get(kind).is_some_and(|d| d <= now)
    }

    /// The earliest deadline and its kind (ties go to the kind listed first in
    /// [`TimerKind::ALL`]), or `None` when no timer is set.
    #[must_use]
    pub fn next(&self) -> Option<(Instant, K)> {
        let mut best: Option<(Instant, K)> = None;
        // By `ALL`'s order (the tie-break), each kind's slot found by its own index.
        for &kind in K::ALL {
            if let Some(d) = self.deadlines[kind.index()]
                && best.is_none_or(|(b, _)| d < b)
            {
                best = Some((d, kind));
            }
        }
        best
    }

    /// The earliest deadline, for [`Machine::poll_timeout`](crate::Machine::poll_timeout).
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        // The earliest value alone needs no tie-break: one pass over the slots.
        self.deadlines.iter().flatten().min().copied()
    }

    /// Why the earliest deadline is due, for
    /// [`Machine::timeout_reason`](crate::Machine::timeout_reason).
    #[must_use]
    pub fn next_reason(&self) -> Option<&'static str> {
        self.next().map(|(_, k)| k.reason())
    }

    /// Clears and returns the earliest timer due at `now`, or `None` if none is. Call it in a
    /// loop from `handle_timeout`: each expired timer comes out once, earliest first.
    pub fn take_expired(&mut self, now: Instant) -> Option<K> {
        let (at, kind) = self.next()?;
        if at > now {
            return None;
        }
        self.stop(kind);
        Some(kind)
    }
}

impl<K: TimerKind, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    enum T {
        A,
        B,
        C,
    }

    impl TimerKind for T {
        const ALL: &'static [Self] = &[T::A, T::B, T::C];
        fn index(self) -> usize {
            self as usize
        }
        fn reason(self) -> &'static str {
            match self {
                T::A => "a",
                T::B => "b",
                T::C => "c",
            }
        }
    }

    #[test]
    fn equal_deadlines_come_out_in_the_order_the_kinds_are_listed() {
        let mut t = TimerTable::<T, 3>::new();
        t.set(T::C, Instant::from_millis(5));
        t.set(T::B, Instant::from_millis(5));
        assert_eq!(t.next_reason(), Some("b"));
        assert_eq!(t.take_expired(Instant::from_millis(5)), Some(T::B));
        assert_eq!(t.take_expired(Instant::from_millis(5)), Some(T::C));
        assert_eq!(t.take_expired(Instant::from_millis(5)), None);
        assert_eq!(t.next(), None);
    }

    /// The same kinds with the tie order reversed: slots still follow `index`.
    #[derive(Copy, Clone, Debug, PartialEq, Eq)]
    struct Rev(T);

    impl TimerKind for Rev {
        const ALL: &'static [Self] = &[Rev(T::C), Rev(T::B), Rev(T::A)];
        fn index(self) -> usize {
            self.0.index()
        }
        fn reason(self) -> &'static str {
            self.0.reason()
        }
    }

    #[test]
    fn a_tie_order_unlike_the_slot_order_still_takes_the_right_timer() {
        let mut t = TimerTable::<Rev, 3>::new();
        t.set(Rev(T::A), Instant::from_millis(1));
        t.set(Rev(T::C), Instant::from_millis(2));
        assert_eq!(t.take_expired(Instant::from_millis(5)), Some(Rev(T::A)));
        assert_eq!(t.take_expired(Instant::from_millis(5)), Some(Rev(T::C)));
        assert_eq!(t.take_expired(Instant::from_millis(5)), None);
    }

    #[test]
    fn set_earliest_only_moves_a_deadline_forward_in_time() {
        let mut t = TimerTable::<T, 3>::new();
        t.set_earliest(T::A, Instant::from_millis(9));
        t.set_earliest(T::A, Instant::from_millis(12));
        assert_eq!(t.get(T::A), Some(Instant::from_millis(9)));
        t.set_earliest(T::A, Instant::from_millis(3));
        assert_eq!(t.get(T::A), Some(Instant::from_millis(3)));
        assert!(t.is_expired(T::A, Instant::from_millis(3)));
        assert!(!t.is_expired(T::B, Instant::from_millis(3)));
        t.stop_all();
        assert_eq!(t.next_deadline(), None);
    }
}
