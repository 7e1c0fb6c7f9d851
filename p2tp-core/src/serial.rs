//! 30-bit serial numbers (RFC 1982 with SERIAL_BITS = 30): sequence numbers and timestamps
//! both wrap at 2^30, and order is only defined within half the circle (docs/p2tp.md §3.1).

/// The size of the circle: 2^30.
pub const MODULUS: u32 = 1 << 30;
/// The mask that keeps 30 bits.
pub const MASK: u32 = MODULUS - 1;
/// Half the circle: distances at or beyond it have no defined order.
pub const HALF: u32 = 1 << 29;

/// `(b - a) mod 2^30`: how far `b` is ahead of `a`.
#[inline]
#[must_use]
pub const fn distance(a: u32, b: u32) -> u32 {
    b.wrapping_sub(a) & MASK
}

/// Whether `a` is older than `b` (RFC 1982): `0 < (b - a) mod 2^30 < 2^29`. A distance of
/// exactly 2^29 is "not newer" either way.
#[inline]
#[must_use]
pub const fn older(a: u32, b: u32) -> bool {
    let d = distance(a, b);
    d != 0 && d < HALF
}

/// `a + n` on the circle.
#[inline]
#[must_use]
pub const fn add(a: u32, n: u32) -> u32 {
    a.wrapping_add(n) & MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_holds_across_the_wrap_and_half_the_circle_is_undefined() {
        assert!(older(MASK, 0), "2^30 - 1 is older than 0 after the wrap");
        assert!(!older(0, MASK));
        assert!(older(MASK - 999, add(MASK, 1000)));
        assert!(!older(5, 5));
        assert!(!older(0, HALF) && !older(HALF, 0), "exactly half way is not newer either way");
        assert!(older(0, HALF - 1));
        assert_eq!(distance(MASK, 2), 3);
        assert_eq!(add(MASK, 1), 0);
    }
}
