//! Randomness as an input: seeded, reproducible, cryptographically strong.

use rand_chacha::ChaCha12Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

/// 32 bytes that determine every random choice a machine makes.
///
/// Every constructor in every core takes a `Seed`, and nothing else: there is no default (an
/// all-zero seed used by accident would make two "random" machines identical). Drivers draw
/// one from the operating system (`drivers::os_seed`); tests and the simulator spell theirs
/// out, usually with [`Seed::from_u64`]. A parent hands its children seeds with
/// [`Seed::derive`] (by index) or [`SeededRng::child_seed`] (in order).
///
/// ```
/// use sansio_core::{Seed, SeededRng};
///
/// let seed = Seed::from_u64(42);
/// assert_eq!(seed, Seed::new({ let mut b = [0; 32]; b[..8].copy_from_slice(&42u64.to_le_bytes()); b }));
/// let (mut a, mut b) = (SeededRng::from_seed(seed), SeededRng::from_seed(seed));
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert_ne!(seed.derive(0), seed.derive(1));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Seed([u8; 32]);

impl Seed {
    /// The seed made of these 32 bytes.
    #[must_use]
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A seed from a small number (command lines, tests): `n` little-endian in the first 8
    /// bytes, zeros after. Different numbers give unrelated generators.
    #[must_use]
    pub const fn from_u64(n: u64) -> Self {
        let le = n.to_le_bytes();
        let mut bytes = [0; 32];
        let mut i = 0;
        while i < 8 {
            bytes[i] = le[i];
            i += 1;
        }
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The seed of child number `index`.
    ///
    /// Independent of the order in which children are created: each index reads its own
    /// ChaCha stream of this key, and a child never replays its parent's draws. Different
    /// indices give unrelated seeds.
    #[must_use]
    pub fn derive(&self, index: u64) -> Self {
        let mut stream = ChaCha12Rng::from_seed(self.0);
        // Stream 0 is the parent's own generator; children use streams 1.. .
        stream.set_stream(index.wrapping_add(1));
        let mut seed = [0; 32];
        rand_core::Rng::fill_bytes(&mut stream, &mut seed);
        Self(seed)
    }
}

impl core::fmt::Debug for Seed {
    /// Hex, so a failing run's seed can be copied from a log.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Seed(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The random number generator every core uses: ChaCha12 from a [`Seed`].
///
/// Machines take a seed in their constructor and never use a global or thread-local RNG, so
/// the same seed and inputs give the same outputs. Drivers seed from the OS (`getrandom`);
/// tests and the simulator use fixed seeds. It is strong enough for transaction ids, cookie
/// keys and nonces.
///
/// A machine that creates children gives each its own seed, either drawn in order from its own
/// generator with [`SeededRng::child_seed`], or derived by index when the
/// children are created in an order that should not matter (host *i* of a simulation) with
/// [`Seed::derive`].
///
/// ```
/// use sansio_core::SeededRng;
///
/// let mut a = SeededRng::from_seed(sansio_core::Seed::from_u64(7));
/// let mut b = SeededRng::from_seed(sansio_core::Seed::from_u64(7));
/// assert_eq!(a.next_u64(), b.next_u64());
/// let die = a.below(6);
/// assert!(die < 6);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededRng(ChaCha12Rng);

impl SeededRng {
    /// A generator whose whole output is fixed by `seed`.
    #[must_use]
    pub fn from_seed(seed: Seed) -> Self {
        Self(ChaCha12Rng::from_seed(seed.0))
    }

    /// A generator positioned at 32-bit word `word` of stream `stream` of `seed`: random
    /// access, so a draw can be recomputed without replaying everything before it (trust-core
    /// re-extends one walk at one step this way). `stream` 0 is what
    /// [`from_seed`](Self::from_seed) reads; [`Seed::derive`] uses streams 1 and up.
    #[must_use]
    pub fn from_seed_at(seed: Seed, stream: u64, word: u128) -> Self {
        let mut rng = ChaCha12Rng::from_seed(seed.0);
        rng.set_stream(stream);
        rng.set_word_pos(word);
        Self(rng)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        rand_core::Rng::next_u32(&mut self.0)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        rand_core::Rng::next_u64(&mut self.0)
    }

    /// Fills `dst` with random bytes.
    pub fn fill_bytes(&mut self, dst: &mut [u8]) {
        rand_core::Rng::fill_bytes(&mut self.0, dst);
    }

    /// Moves `k` of `items`, chosen uniformly at random, to the front, in random order (the
    /// first `k` steps of a Fisher-Yates shuffle; all of them when `k >= items.len()`).
    ///
    /// ```
    /// use sansio_core::{Seed, SeededRng};
    ///
    /// let mut v = [1, 2, 3, 4, 5];
    /// SeededRng::from_seed(Seed::from_u64(7)).pick_front(&mut v, 2);
    /// let mut all = v;
    /// all.sort_unstable();
    /// assert_eq!(all, [1, 2, 3, 4, 5]);
    /// ```
    pub fn pick_front<T>(&mut self, items: &mut [T], k: usize) {
        for i in 0..k.min(items.len()) {
            let pick = i + self.below((items.len() - i) as u64) as usize;
            items.swap(i, pick);
        }
    }

    /// A uniformly random integer in `0..n` (no modulo bias); `0` when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's nearly-divisionless method: multiply, and reject the few low products that
        // would favour small results. The threshold costs a division, so it is computed only
        // when the low half is small enough to possibly be rejected (rarely, for small `n`).
        // Truncations keep the low 64 bits on purpose.
        let product = u128::from(self.next_u64()) * u128::from(n);
        #[allow(clippy::cast_possible_truncation)]
        let (mut high, mut low) = ((product >> 64) as u64, product as u64);
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                let product = u128::from(self.next_u64()) * u128::from(n);
                #[allow(clippy::cast_possible_truncation)]
                {
                    (high, low) = ((product >> 64) as u64, product as u64);
                }
            }
        }
        high
    }

    /// A uniformly random `f64` in `[0, 1)` with 53 bits of precision.
    pub fn unit_f64(&mut self) -> f64 {
        // 53 random bits scaled by 2^-53.
        #[allow(clippy::cast_precision_loss)]
        let mantissa = (self.next_u64() >> 11) as f64;
        mantissa * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit_f64() < p
    }

    /// A fresh seed for a child machine, drawn from this generator.
    pub fn child_seed(&mut self) -> Seed {
        let mut seed = [0; 32];
        self.fill_bytes(&mut seed);
        Seed(seed)
    }
}

impl TryRng for SeededRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill_bytes(dst);
        Ok(())
    }
}

impl TryCryptoRng for SeededRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_unbiased_over_a_small_range() {
        let mut rng = SeededRng::from_seed(Seed::from_u64(3));
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[usize::try_from(rng.below(3)).unwrap()] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn unit_f64_stays_in_the_half_open_interval() {
        let mut rng = SeededRng::from_seed(Seed::from_u64(4));
        for _ in 0..10_000 {
            let x = rng.unit_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn child_seeds_differ_from_each_other_and_from_derived_ones() {
        let mut rng = SeededRng::from_seed(Seed::from_u64(5));
        let a = rng.child_seed();
        let b = rng.child_seed();
        assert_ne!(a, b);
        assert_ne!(a, Seed::from_u64(5).derive(0));
    }

    #[test]
    fn a_derived_seed_is_fixed_by_parent_and_index() {
        let root = Seed::from_u64(1);
        assert_eq!(root.derive(5), root.derive(5));
        assert_ne!(root.derive(5), root.derive(6));
        assert_ne!(root.derive(0), root);
        assert_ne!(Seed::from_u64(1), Seed::from_u64(2));
    }

    #[test]
    fn generator_works_through_the_rand_core_traits() {
        fn draw<R: rand_core::Rng>(r: &mut R) -> u64 {
            r.next_u64()
        }
        let mut a = SeededRng::from_seed(Seed::from_u64(6));
        let mut b = SeededRng::from_seed(Seed::from_u64(6));
        assert_eq!(draw(&mut a), b.next_u64());
    }
}
