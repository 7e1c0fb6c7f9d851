//! The `overlay_node` fuzz body on seeded random operation sequences, in the normal test run
//! (the fuzz target explores further under `.ci/run`'s fuzz stage).

#![allow(clippy::unwrap_used)] // a panic is a failed test

use sansio_core::{Seed, SeededRng};

#[test]
fn random_operation_sequences_never_panic_and_keep_deadlines_ahead() {
    let mut rng = SeededRng::from_seed(Seed::from_u64(77));
    for _ in 0..200 {
        let mut data = vec![0u8; 600];
        rng.fill_bytes(&mut data);
        overlay_core::fuzz::node_ops(&data);
    }
    // The cases that broke before: a relayed counter of u64::MAX, and a send to ourselves.
    let mut edge = vec![4, 0, 0];
    edge.extend_from_slice(&u64::MAX.to_be_bytes());
    edge.extend_from_slice(&[5, 0, 3, b'x', b'y', b'z', 7, 0, 200]);
    overlay_core::fuzz::node_ops(&edge);
}
