//! The fuzz bodies run on seeded random inputs and on mutated datagrams of a real round in the
//! ordinary test suite, so their invariants are checked on every `cargo test` (the `fuzz/`
//! targets explore further).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use common::{A, B, synthetic_pair};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed, SeededRng};
use sync_core::fuzz;

/// Every datagram of one round (probe, estimate, cells, result, records), in order.
fn a_round() -> Vec<Vec<u8>> {
    let (mut a, mut b) = synthetic_pair(500, 40, 40);
    a.start_round(Instant::ZERO, A, B).unwrap();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut all = Vec::new();
    for _ in 0..10 {
        while let Some(t) = a.poll_transmit(Instant::ZERO, &mut buf) {
            all.push(buf[..t.len].to_vec());
            b.handle_datagram(Instant::ZERO, B, A, &buf[..t.len]);
        }
        while let Some(t) = b.poll_transmit(Instant::ZERO, &mut buf) {
            all.push(buf[..t.len].to_vec());
            a.handle_datagram(Instant::ZERO, A, B, &buf[..t.len]);
        }
    }
    all
}

#[test]
fn random_and_mutated_inputs_keep_every_invariant() {
    let mut rng = SeededRng::from_seed(Seed::from_u64(23));
    for len in [0, 1, 2, 10, 100, 1_000, 5_000] {
        for _ in 0..50 {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            fuzz::record_decode(&data);
            fuzz::node_datagrams(&data);
        }
    }
    let round = a_round();
    assert!(round.len() >= 5, "a round has at least five datagrams");
    for _ in 0..300 {
        let mut input = Vec::new();
        for d in &round {
            let mut d = d.clone();
            for _ in 0..rng.below(4) {
                let i = rng.below(d.len() as u64) as usize;
                d[i] ^= 1 << rng.below(8);
            }
            input.extend_from_slice(&(d.len() as u16).to_le_bytes());
            input.extend_from_slice(&d);
        }
        fuzz::node_datagrams(&input);
    }
}
