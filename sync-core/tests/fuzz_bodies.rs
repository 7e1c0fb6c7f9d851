//! The fuzz bodies run on seeded random inputs and on mutated datagrams of real rounds in the
//! ordinary test suite, so their invariants are checked on every `cargo test` (the `fuzz/`
//! targets explore further). The rounds are run against the very node the fuzz body builds,
//! from the address it listens to, so their cookies are valid and the mutations reach the
//! validated paths (tables, pulls, wants, records).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use common::config;
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed, SeededRng};
use sync_core::fuzz::{self, FUZZ_LOCAL, FUZZ_PEER};
use sync_core::{AcceptAll, Body, Identity, MemStore, SyncNode};

/// The datagrams a partner holding `n` records of its own sends to the fuzz node in a round.
fn a_round(n: u8) -> Vec<Vec<u8>> {
    let mut partner = SyncNode::new(config(64), Seed::from_u64(77), MemStore::new(), AcceptAll);
    for i in 0..n {
        let who = Identity::from_seed([i + 1; 32]).unwrap();
        partner.insert_local(Instant::ZERO, who.sign(5, Body::Peer { metadata: vec![i, i] }).unwrap()).unwrap();
    }
    let mut node = fuzz::node();
    partner.start_round(Instant::ZERO, FUZZ_PEER, FUZZ_LOCAL).unwrap();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut to_node = Vec::new();
    for _ in 0..10 {
        while let Some(t) = partner.poll_transmit(Instant::ZERO, &mut buf) {
            to_node.push(buf[..t.len].to_vec());
            node.handle_datagram(Instant::ZERO, FUZZ_LOCAL, FUZZ_PEER, &buf[..t.len]);
        }
        while let Some(t) = node.poll_transmit(Instant::ZERO, &mut buf) {
            partner.handle_datagram(Instant::ZERO, FUZZ_PEER, FUZZ_LOCAL, &buf[..t.len]);
        }
    }
    to_node
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
    // Push (the partner holds fewer ids: it sends cells) and pull (it holds more: it pulls
    // and names wants), each carrying the fuzz node's own cookie.
    for n in [18, 45] {
        let round = a_round(n);
        let kinds: std::collections::BTreeSet<u8> = round.iter().map(|d| d[1]).collect();
        let table_or_pull = if n == 18 { 3 } else { 6 };
        assert!(kinds.contains(&1) && kinds.contains(&table_or_pull), "probe, then cells (3) or a pull (6): {kinds:?}");
        for _ in 0..150 {
            let mut input = Vec::new();
            for d in &round {
                let mut d = d.clone();
                for _ in 0..rng.below(3) {
                    let i = rng.below(d.len() as u64) as usize;
                    d[i] ^= 1 << rng.below(8);
                }
                input.extend_from_slice(&(d.len() as u16).to_le_bytes());
                input.extend_from_slice(&d);
            }
            fuzz::node_datagrams(&input);
        }
    }
}
