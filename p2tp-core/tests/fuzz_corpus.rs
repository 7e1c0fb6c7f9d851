//! The fuzz bodies run on seeded random inputs in the ordinary test suite, so their
//! invariants are checked on every `cargo test` (the `fuzz/` targets explore further).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use p2tp_core::fuzz;
use sansio_core::{Seed, SeededRng};

#[test]
fn random_inputs_keep_every_invariant() {
    let mut rng = SeededRng::from_seed(Seed::from_u64(17));
    for len in [0, 3, 7, 8, 9, 64, 600, 4_000] {
        for _ in 0..200 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            fuzz::header(&data);
            fuzz::endpoint(&data);
        }
    }
}
