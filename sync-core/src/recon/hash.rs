//! Salted short ids and the cheap mixers derived from them (`docs/sync.md` §4.1).

use crate::record::ContentId;

/// A round's salt: chosen at random by the initiator, carried in every message of the round.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Salt(pub u64);

/// The keyed hash that turns content ids into 64-bit short ids for one round.
///
/// Content ids are SHA-256 outputs, so anyone can grind two whose first 8 bytes agree; the key
/// comes from the round's salt, unknown until the round starts, so no third party can make
/// two short ids collide on purpose. The hash is NH (the universal hash of UMAC: for distinct
/// inputs and a random key, a collision of the 128-bit sum has probability 2^-64) folded to
/// 64 bits by a mixer: about 2 ns an id where SipHash-1-3 took about 20, which is the
/// difference between 25 and 70 ms a side at a million ids.
#[derive(Clone, Copy, Debug)]
pub struct ShortIds {
    keys: [u64; 4],
    salt: u64,
}

impl ShortIds {
    /// The hash of round `salt`.
    pub fn new(salt: Salt) -> Self {
        let k = |i: u64| mix(salt.0, 0x5407_1D00 + i);
        Self { keys: [k(0), k(1), k(2), k(3)], salt: salt.0 }
    }

    /// The short id of `id`.
    #[inline]
    pub fn of(&self, id: &ContentId) -> u64 {
        let w = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&id.0[8 * i..8 * i + 8]);
            u64::from_le_bytes(b).wrapping_add(self.keys[i])
        };
        let sum = (u128::from(w(0)) * u128::from(w(1))).wrapping_add(u128::from(w(2)) * u128::from(w(3)));
        mix((sum >> 64) as u64 ^ mix(sum as u64, self.salt), self.salt)
    }
}

/// The short id of one content id in round `salt` (see [`ShortIds`] to hash many).
pub fn short_id(salt: Salt, id: &ContentId) -> u64 {
    ShortIds::new(salt).of(id)
}

/// A strong 64-bit mixer (the finaliser of SplitMix64); `x` is already a salted hash, so this
/// only has to decorrelate the values derived from it.
#[inline]
pub(crate) fn mix(x: u64, tweak: u64) -> u64 {
    let mut z = x ^ tweak.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `x` scaled into `0..n` without a division (Lemire's multiply-shift).
#[inline]
pub(crate) fn below(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_changes_every_short_id() {
        let id = ContentId([3; 32]);
        assert_ne!(short_id(Salt(1), &id), short_id(Salt(2), &id));
        assert_eq!(short_id(Salt(1), &id), short_id(Salt(1), &id));
    }

    #[test]
    fn ids_equal_in_their_first_eight_bytes_get_different_short_ids() {
        let mut a = ContentId([0; 32]);
        let b = ContentId([0; 32]);
        a.0[31] = 1;
        assert_ne!(short_id(Salt(9), &a), short_id(Salt(9), &b));
    }
}
