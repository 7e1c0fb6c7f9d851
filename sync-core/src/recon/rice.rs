//! Golomb-Rice coding of a sorted set of 32-bit values (`docs/sync.md` §4.4): how a decoder
//! names the records it wants in about 2.5 bytes each instead of 8.

use alloc::vec::Vec;

/// The Rice parameter for `n` values spread over 2^32.
pub fn parameter(n: usize) -> u8 {
    let n = n.max(1) as u64;
    let mean_gap = (1u64 << 32) / n;
    (63 - mean_gap.max(1).leading_zeros()) as u8
}

/// The Rice parameter for sorted `values` from their own span: a slice of a dense set (one
/// datagram's share of the wants) is coded with its density, not the whole range's.
pub fn parameter_for(values: &[u32]) -> u8 {
    match (values.first(), values.last()) {
        (Some(&a), Some(&b)) if values.len() > 1 => {
            let mean_gap = (u64::from(b - a) / values.len() as u64).max(1);
            (63 - mean_gap.leading_zeros()) as u8
        }
        _ => parameter(values.len()),
    }
}

/// Encodes sorted, distinct `values` with parameter `k`: the first value in 32 plain bits
/// (a slice of a larger set starts anywhere), then each gap minus one, Rice-coded.
pub fn encode(values: &[u32], k: u8, out: &mut Vec<u8>) {
    let mut w = BitWriter { out, acc: 0, bits: 0 };
    let mut prev = 0u64;
    for (i, &v) in values.iter().enumerate() {
        let v = u64::from(v);
        if i == 0 {
            for b in (0..32).rev() {
                w.bit(((v >> b) & 1) as u8);
            }
            prev = v;
            continue;
        }
        let gap = v - prev - 1;
        prev = v;
        let q = gap >> k;
        for _ in 0..q {
            w.bit(1);
        }
        w.bit(0);
        for b in (0..k).rev() {
            w.bit(((gap >> b) & 1) as u8);
        }
    }
    w.flush();
}

/// Decodes `n` values with parameter `k`; `None` if the bytes run out or a value overflows.
/// Work is bounded by the input length: every unary bit consumed is an input bit.
pub fn decode(bytes: &[u8], n: usize, k: u8) -> Option<Vec<u32>> {
    if k > 32 {
        return None;
    }
    let mut r = BitReader { bytes, pos: 0 };
    let mut out = Vec::with_capacity(n.min(bytes.len() * 8));
    let mut prev: Option<u64> = None;
    for _ in 0..n {
        if prev.is_none() {
            let mut v = 0u64;
            for _ in 0..32 {
                v = (v << 1) | u64::from(r.bit()?);
            }
            prev = Some(v);
            out.push(v as u32);
            continue;
        }
        let mut q = 0u64;
        while r.bit()? == 1 {
            q += 1;
        }
        let mut rem = 0u64;
        for _ in 0..k {
            rem = (rem << 1) | u64::from(r.bit()?);
        }
        let gap = q.checked_shl(u32::from(k))? | rem;
        let v = prev?.checked_add(gap)?.checked_add(1)?;
        if v > u64::from(u32::MAX) {
            return None;
        }
        prev = Some(v);
        out.push(v as u32);
    }
    Some(out)
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u8,
    bits: u8,
}

impl BitWriter<'_> {
    fn bit(&mut self, b: u8) {
        self.acc = (self.acc << 1) | b;
        self.bits += 1;
        if self.bits == 8 {
            self.out.push(self.acc);
            (self.acc, self.bits) = (0, 0);
        }
    }
    fn flush(&mut self) {
        if self.bits > 0 {
            self.out.push(self.acc << (8 - self.bits));
            (self.acc, self.bits) = (0, 0);
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(b)
    }
}

/// Bytes [`encode`] will write for these values (to pack a datagram before writing it).
pub fn encoded_len(values: &[u32], k: u8) -> usize {
    let mut bits = 0u64;
    let mut prev = 0u64;
    for (i, &v) in values.iter().enumerate() {
        let v = u64::from(v);
        if i == 0 {
            bits += 32;
        } else {
            bits += ((v - prev - 1) >> k) + 1 + u64::from(k);
        }
        prev = v;
    }
    bits.div_ceil(8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_sorted_set_round_trips(mut v in proptest::collection::vec(any::<u32>(), 0..300)) {
            v.sort_unstable();
            v.dedup();
            let k = parameter(v.len());
            let mut out = Vec::new();
            encode(&v, k, &mut out);
            prop_assert_eq!(out.len(), encoded_len(&v, k));
            prop_assert_eq!(decode(&out, v.len(), k), Some(v));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), n in 0usize..100, k in 0u8..40) {
            let _ = decode(&bytes, n, k);
        }
    }

    #[test]
    fn a_slice_from_the_middle_of_a_dense_set_costs_what_the_whole_does() {
        let mut rng = sansio_core::SeededRng::from_seed(sansio_core::Seed::from_u64(2));
        let mut v: Vec<u32> = (0..10_000).map(|_| rng.next_u32()).collect();
        v.sort_unstable();
        v.dedup();
        let slice = &v[5_000..5_400];
        let mut out = Vec::new();
        encode(slice, parameter_for(slice), &mut out);
        assert!(out.len() < 3 * slice.len(), "{} bytes for {}", out.len(), slice.len());
        assert_eq!(decode(&out, slice.len(), parameter_for(slice)).as_deref(), Some(slice));
    }

    #[test]
    fn ten_thousand_random_values_cost_under_three_bytes_each() {
        let mut rng = sansio_core::SeededRng::from_seed(sansio_core::Seed::from_u64(1));
        let mut v: Vec<u32> = (0..10_000).map(|_| rng.next_u32()).collect();
        v.sort_unstable();
        v.dedup();
        let mut out = Vec::new();
        encode(&v, parameter(v.len()), &mut out);
        assert!(out.len() < 3 * v.len(), "{} bytes for {}", out.len(), v.len());
    }
}
