//! Property tests of `Instant` arithmetic at its edges: zero, never, and every attempt to wrap.

use core::time::Duration;

use proptest::prelude::*;
use sansio_core::Instant;

fn any_instant() -> impl Strategy<Value = Instant> {
    prop_oneof![
        Just(Instant::ZERO),
        Just(Instant::MAX),
        Just(Instant::from_micros(u64::MAX - 1)),
        (0..=u64::MAX).prop_map(Instant::from_micros),
        (0..1_000_000u64).prop_map(Instant::from_micros),
    ]
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0..=u64::MAX, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (0..=u64::MAX).prop_map(Duration::from_micros),
        (0..10_000u64).prop_map(Duration::from_nanos),
    ]
}

proptest! {
    #[test]
    fn adding_never_goes_backwards_or_past_never(t in any_instant(), d in any_duration()) {
        let sum = t + d;
        prop_assert!(sum >= t);
        prop_assert!(sum <= Instant::MAX);
        if t == Instant::MAX {
            prop_assert_eq!(sum, Instant::MAX);
        }
    }

    #[test]
    fn checked_add_agrees_with_saturating_add_when_it_fits(t in any_instant(), d in any_duration()) {
        match t.checked_add(d) {
            Some(sum) => prop_assert_eq!(sum, t.saturating_add(d)),
            None => prop_assert_eq!(t.saturating_add(d), Instant::MAX),
        }
    }

    #[test]
    fn subtracting_never_goes_forwards_or_below_zero(t in any_instant(), d in any_duration()) {
        let diff = t - d;
        prop_assert!(diff <= t);
        match t.checked_sub(d) {
            Some(x) => prop_assert_eq!(x, diff),
            None => prop_assert_eq!(diff, Instant::ZERO),
        }
    }

    #[test]
    fn duration_since_is_exact_or_zero(a in any_instant(), b in any_instant()) {
        let d = a.saturating_duration_since(b);
        if a >= b {
            prop_assert_eq!(d, Duration::from_micros(a.as_micros() - b.as_micros()));
            prop_assert_eq!(b + d, a);
            prop_assert_eq!(a.checked_duration_since(b), Some(d));
        } else {
            prop_assert_eq!(d, Duration::ZERO);
            prop_assert_eq!(a.checked_duration_since(b), None);
        }
        prop_assert_eq!(a - b, d);
    }

    #[test]
    fn a_deadline_is_never_earlier_than_asked(t in (0..u64::MAX / 2).prop_map(Instant::from_micros), d in (0..u64::MAX / 4).prop_map(Duration::from_nanos)) {
        let deadline = t + d;
        prop_assert!(deadline.saturating_duration_since(t) >= d);
        prop_assert!(deadline.saturating_duration_since(t) < d + Duration::from_micros(1));
    }
}
