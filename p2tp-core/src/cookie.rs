//! Handshake cookies: 30 bits that only their issuer can validate (docs/p2tp.md §4).
//!
//! `cookie = t (9 bits of an 8 ms clock) ‖ MAC (21 bits)`, the MAC a truncated SipHash-2-4
//! under a secret that rotates every 64 s, over both addresses and the full coarse time. The
//! time bits name the issue time, so they name its key too: one key is tried per cookie, and a
//! blind forgery succeeds with probability 2^-21. The 9 time bits give a 4.096 s validity
//! window and a handshake RTT sample.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use sansio_core::{Instant, SeededRng};
use siphasher::sip::SipHasher24;

/// The cookie clock's tick.
pub const COOKIE_TICK: Duration = Duration::from_millis(8);
/// How long a key is issued with; the previous one is still accepted.
pub const KEY_ROTATION: Duration = Duration::from_secs(64);
const TICK_US: u64 = 8_000;
const TIME_BITS: u32 = 9;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const MAC_BITS: u32 = 21;
const MAC_MASK: u32 = (1 << MAC_BITS) - 1;
const TICKS_PER_EPOCH: u64 = 64_000_000 / TICK_US;

/// The endpoint's cookie keys: two slots, each the key of one rotation epoch (slot = epoch
/// mod 2: the current key and the previous one).
#[derive(Clone, Debug)]
pub(crate) struct CookieJar {
    slots: [Option<(u64, [u64; 2])>; 2],
    rng: SeededRng,
}

impl CookieJar {
    pub(crate) fn new(rng: SeededRng) -> Self {
        Self { slots: [None, None], rng }
    }

    /// A fresh cookie for the pair at `now`.
    pub(crate) fn issue(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr) -> u32 {
        let ticks = now.as_micros() / TICK_US;
        let epoch = ticks / TICKS_PER_EPOCH;
        let phase = usize::from(epoch % 2 == 1);
        let key = match self.slots[phase] {
            Some((e, key)) if e == epoch => key,
            _ => {
                let key = [self.rng.next_u64(), self.rng.next_u64()];
                self.slots[phase] = Some((epoch, key));
                key
            }
        };
        let mac = mac(key, local, peer, ticks);
        (((ticks & TIME_MASK) as u32) << MAC_BITS) | mac
    }

    /// If `cookie` is one this jar issued for the pair within the last 4.096 s, how long ago
    /// (rounded up to the 8 ms tick, so never less than the true age).
    pub(crate) fn check(&self, now: Instant, local: SocketAddr, peer: SocketAddr, cookie: u32) -> Option<Duration> {
        let t = u64::from(cookie >> MAC_BITS) & TIME_MASK;
        let now_ticks = now.as_micros() / TICK_US;
        let back = now_ticks.wrapping_sub(t) & TIME_MASK;
        let issued = now_ticks.checked_sub(back)?;
        let epoch = issued / TICKS_PER_EPOCH;
        let (slot_epoch, key) = self.slots[usize::from(epoch % 2 == 1)]?;
        if slot_epoch != epoch || mac(key, local, peer, issued) != cookie & MAC_MASK {
            return None;
        }
        Some(now.saturating_duration_since(Instant::from_micros(issued * TICK_US)))
    }
}

fn mac(key: [u64; 2], local: SocketAddr, peer: SocketAddr, ticks: u64) -> u32 {
    let mut h = SipHasher24::new_with_keys(key[0], key[1]);
    let mut feed = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => {
            core::hash::Hasher::write(&mut h, &[4]);
            core::hash::Hasher::write(&mut h, &ip.octets());
            core::hash::Hasher::write(&mut h, &a.port().to_be_bytes());
        }
        IpAddr::V6(ip) => {
            core::hash::Hasher::write(&mut h, &[6]);
            core::hash::Hasher::write(&mut h, &ip.octets());
            core::hash::Hasher::write(&mut h, &a.port().to_be_bytes());
        }
    };
    feed(local);
    feed(peer);
    core::hash::Hasher::write(&mut h, &ticks.to_be_bytes());
    (core::hash::Hasher::finish(&h) as u32) & MAC_MASK
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansio_core::Seed;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_cookie_is_valid_for_its_pair_within_its_window_and_measures_its_age() {
        let mut jar = CookieJar::new(SeededRng::from_seed(Seed::from_u64(1)));
        let (me, you, other) = (a("192.0.2.1:1000"), a("198.51.100.2:2000"), a("198.51.100.2:2001"));
        let issued = Instant::from_millis(100_003);
        let c = jar.issue(issued, me, you);
        assert!(c < 1 << 30);
        let age = jar.check(issued + Duration::from_millis(45), me, you, c).unwrap_or(Duration::MAX);
        assert!(age >= Duration::from_millis(45) && age <= Duration::from_millis(53), "{age:?}");
        assert_eq!(jar.check(issued + Duration::from_millis(45), me, other, c), None, "another port");
        assert_eq!(jar.check(issued + Duration::from_millis(45), you, me, c), None, "reversed");
        assert_eq!(jar.check(issued + Duration::from_millis(4_200), me, you, c), None, "stale");
    }

    #[test]
    fn two_to_the_24_blind_guesses_are_accepted_no_more_often_than_2_to_the_minus_21() {
        let mut jar = CookieJar::new(SeededRng::from_seed(Seed::from_u64(3)));
        let (me, you) = (a("192.0.2.1:1000"), a("198.51.100.2:2000"));
        let now = Instant::from_secs(1_000);
        let _ = jar.issue(now, me, you);
        let mut guesses = SeededRng::from_seed(Seed::from_u64(4));
        let accepted = (0..1u32 << 24).filter(|_| jar.check(now, me, you, guesses.next_u32() >> 2).is_some()).count();
        // 2^24 · 2^-21 = 8 expected; 20 is over four standard deviations above it.
        assert!(accepted <= 20, "{accepted} of 2^24 blind guesses accepted");
    }

    #[test]
    fn cookies_survive_one_key_rotation_and_not_two() {
        let mut jar = CookieJar::new(SeededRng::from_seed(Seed::from_u64(2)));
        let (me, you) = (a("192.0.2.1:1000"), a("[2001:db8::2]:2000"));
        // Issued 1 ms before a rotation, checked 1 s after it.
        let issued = Instant::from_secs(128) - Duration::from_millis(1);
        let c = jar.issue(issued, me, you);
        let _ = jar.issue(Instant::from_secs(128) + Duration::from_millis(500), me, you);
        assert!(jar.check(Instant::from_secs(129), me, you, c).is_some());
        // Two rotations later the slot holds another epoch's key.
        let _ = jar.issue(Instant::from_secs(192), me, you);
        let again = jar.issue(Instant::from_secs(191), me, you);
        assert!(jar.check(Instant::from_secs(191), me, you, again).is_some());
        assert_eq!(jar.check(Instant::from_secs(129), me, you, c), None);
    }
}
