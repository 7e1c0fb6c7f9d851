//! The fuzz bodies run on seeded random inputs and mutated real messages in the ordinary test
//! suite, so their invariants are checked on every `cargo test` (the `fuzz/` targets explore
//! further under libFuzzer).

use sansio_core::SeededRng;
use stun_core::fuzz;

#[test]
fn random_and_mutated_inputs_keep_every_invariant() {
    let mut rng = SeededRng::from_seed(sansio_core::Seed::new([13; 32]));
    let sample = fuzz::sample_success();
    for len in [0, 19, 20, 48, 200, 2_000] {
        for _ in 0..50 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            fuzz::parse(&data);
            fuzz::server(&data);
            fuzz::client(&data);
            // Real messages with a few bytes flipped reach deeper.
            let mut mutated = sample.clone();
            for _ in 0..3 {
                let i = usize::try_from(rng.below(mutated.len() as u64)).unwrap_or(0);
                mutated[i] ^= u8::try_from(rng.below(256)).unwrap_or(1);
            }
            fuzz::parse(&mutated);
            let mut framed = vec![u8::try_from(mutated.len()).unwrap_or(0), 0, 1];
            framed.extend_from_slice(&mutated);
            fuzz::server(&framed);
            fuzz::client(&[mutated.as_slice(), &data].concat());
        }
    }
}
