//! Headline figures of trust-core on a deterministic scale-free graph of 1,000,000 peers and
//! about 10,500,000 relations (Barabási–Albert, m = 7, half the relations returned), printed
//! as `figure NAME VALUE UNIT`:
//!
//! - `trust_build_s`: applying every relation to an empty graph;
//! - `trust_bytes_per_edge`: resident memory of the graph per relation (goal ≤ 40);
//! - `trust_cold_ego_ms`: the first full reputation (10,000 walks, α = 0.85) for a new ego,
//!   median over 20 egos (goal ≤ 50);
//! - `trust_cold_ego_connectivity_ms`: the same with connectivity decay on (walks plus the
//!   bridged set);
//! - `trust_edge_update_us`: one relation update plus bringing one resident ego's walks up to
//!   date, mean over 20,000 random updates (goal ≤ 50);
//! - `trust_path_p99_ms`: 99th percentile of shortest-path queries (≤ 6 hops) between random
//!   peers, over 1,000 queries (goal ≤ 1);
//! - `trust_is_trusted_ns`: the cached "is this peer trusted enough" check (goal: well under
//!   a microsecond).
//!
//! `cargo test --benches` runs it at 1/100 scale.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use sansio_core::SeededRng;
use trust_core::{ConnectivityDecay, EdgeUpdate, Graph, MeritRank, PeerId, RelationType, WalkConfig, paths, synthetic};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median time to compute a fresh ego's walks, over 20 random egos.
fn cold_ego_ms(g: &Graph, config: &WalkConfig, random_peer: &mut impl FnMut() -> PeerId) -> f64 {
    let cold: Vec<f64> = (0..20)
        .map(|_| {
            let ego = random_peer();
            let mut mr = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(1));
            let t = Instant::now();
            mr.ensure_ego(g, ego);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(cold)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let peers = if full { 1_000_000 } else { 10_000 };
    let updates = synthetic::scale_free(peers, 7, sansio_core::Seed::new([9; 32]));

    let before = resident_bytes();
    let started = Instant::now();
    let mut g = Graph::new(Default::default());
    for u in &updates {
        g.apply(*u);
    }
    let build = started.elapsed().as_secs_f64();
    let bytes = resident_bytes().saturating_sub(before) as f64;
    drop(updates);
    println!("figure trust_build_s {build:.2} s");
    println!("figure trust_bytes_per_edge {:.1} bytes", bytes / g.relations() as f64);

    let mut rng = SeededRng::from_seed(sansio_core::Seed::new([3; 32]));
    let mut random_peer = || PeerId(u32::try_from(rng.below(peers as u64)).unwrap());
    let config = WalkConfig::default();
    println!("figure trust_cold_ego_ms {:.1} ms", cold_ego_ms(&g, &config, &mut random_peer));
    let with_decay = WalkConfig { connectivity: Some(ConnectivityDecay::default()), ..config.clone() };
    println!("figure trust_cold_ego_connectivity_ms {:.1} ms", cold_ego_ms(&g, &with_decay, &mut random_peer));

    let ego = random_peer();
    let mut mr = MeritRank::new(config, sansio_core::Seed::from_u64(1));
    mr.ensure_ego(&g, ego);
    let n_updates = if full { 20_000 } else { 2_000 };
    let batch: Vec<EdgeUpdate> = (0..n_updates)
        .map(|i| EdgeUpdate {
            from: random_peer(),
            to: random_peer(),
            kind: RelationType::SOCIAL_FRIEND,
            strength: 1.5,
            timestamp: 2 + i,
        })
        .collect();
    let t = Instant::now();
    for u in &batch {
        g.apply(*u);
        mr.refresh(&g);
    }
    println!("figure trust_edge_update_us {:.2} us", t.elapsed().as_secs_f64() * 1e6 / n_updates as f64);

    let mut times: Vec<f64> = (0..1_000)
        .map(|_| {
            let (a, b) = (random_peer(), random_peer());
            let t = Instant::now();
            black_box(paths::shortest(&g, a, b, 6));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("figure trust_path_p99_ms {:.2} ms", times[times.len() * 99 / 100]);

    let probes: Vec<PeerId> = (0..100_000).map(|_| random_peer()).collect();
    let t = Instant::now();
    let mut trusted = 0u32;
    for p in &probes {
        trusted += u32::from(mr.cached_score(&g, ego, *p).is_some_and(|s| s > 1e-4));
    }
    black_box(trusted);
    println!("figure trust_is_trusted_ns {:.1} ns", t.elapsed().as_secs_f64() * 1e9 / probes.len() as f64);
}
