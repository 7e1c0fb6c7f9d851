//! The fuzz body run on seeded random inputs in the ordinary test suite, so its invariants are
//! checked on every `cargo test` (the `fuzz/` target explores further under libFuzzer).

use sansio_core::SeededRng;

#[test]
fn random_operation_sequences_keep_every_invariant() {
    let mut rng = SeededRng::from_seed(sansio_core::Seed::new([11; 32]));
    for len in [0, 7, 8, 64, 400, 2_000] {
        for _ in 0..20 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            trust_core::fuzz::graph_ops(&data);
        }
    }
}
