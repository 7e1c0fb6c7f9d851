//! Salted short ids and the cheap mixers derived from them (`docs/sync.md` §4.1).

use siphasher::sip::SipHasher13;

use crate::record::ContentId;

/// A round's salt: chosen at random by the initiator, carried in every message of the round.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Salt(pub u64);

/// The 64-bit short id of a content id in one round: SipHash-1-3 keyed by the salt.
///
/// Content ids are SHA-256 outputs, so anyone can grind two whose first 8 bytes agree; the
/// salt is unknown until the round starts, so no one can make two short ids collide on purpose.
#[inline]
pub fn short_id(salt: Salt, id: &ContentId) -> u64 {
    let hasher = SipHasher13::new_with_keys(salt.0, salt.0 ^ 0x6970_7638_7379_6e63);
    let mut words = [0u64; 4];
    for (w, chunk) in words.iter_mut().zip(id.0.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    hash_words(hasher, &words)
}

fn hash_words(h: SipHasher13, words: &[u64; 4]) -> u64 {
    use core::hash::Hasher;
    let mut h = h;
    for w in words {
        h.write_u64(*w);
    }
    h.finish()
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
