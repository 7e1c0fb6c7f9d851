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
//! Then, against the MeritRank authors' own Rust crate (`meritrank` 0.4, crates.io), on the
//! same 10,000-peer scale-free graph (the same relations, strength as weight, `from` → `to`)
//! and one ego, in the same run (after the figures above, in a child process; see
//! [`versus_meritrank_crate`] for how the two differ):
//!
//! - `trust_ego_10k_ms` / `trust_meritrank_crate_ego_ms`: one ego's 10,000 walks (α = 0.85);
//! - `trust_vs_meritrank_crate_time_ratio`: ours / theirs (lower is better);
//! - `trust_ego_10k_resident_bytes` / `trust_meritrank_crate_resident_bytes`: resident memory
//!   of each graph plus its walks, and `trust_vs_meritrank_crate_memory_ratio` (ours / theirs);
//! - `trust_vs_meritrank_crate_top20_agreement`: how many of the ego's top 20 (the ego
//!   itself left out) the two rankings share, / 20.
//!
//! `cargo test --benches` runs it at 1/100 scale (the comparison at 1,000 peers and walks).
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use meritrank::{Counter, MyGraph, Node, NodeId};
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

/// The argument that makes this binary run only [`versus_meritrank_crate`].
const VERSUS_CRATE: &str = "--versus-meritrank-crate";

/// The ids of the `k` best-ranked peers other than `ego`.
fn top(ranking: &[(u32, f64)], ego: u32, k: usize) -> Vec<u32> {
    ranking.iter().map(|(p, _)| *p).filter(|p| *p != ego).take(k).collect()
}

/// Our walks for one fresh ego, and how long they took (ms).
fn our_walks(g: &Graph, ego: PeerId, walks: u32) -> (f64, MeritRank) {
    let mut mr = MeritRank::new(WalkConfig { walks, ..WalkConfig::default() }, sansio_core::Seed::from_u64(1));
    let t = Instant::now();
    mr.ensure_ego(g, ego);
    (t.elapsed().as_secs_f64() * 1e3, mr)
}

fn crate_node(p: PeerId) -> NodeId {
    NodeId::UInt(p.0 as usize)
}

/// The same relations as a `meritrank` crate graph.
fn crate_graph(peers: usize, updates: &[EdgeUpdate]) -> MyGraph {
    let mut graph = MyGraph::new();
    for p in 0..peers {
        graph.add_node(Node::new(NodeId::UInt(p)));
    }
    for u in updates {
        graph.add_edge(crate_node(u.from), crate_node(u.to), f64::from(u.strength));
    }
    graph
}

/// The `meritrank` crate's walks for one fresh ego (its `calculate` without the printing),
/// with how long they took (ms) and each peer's count of walks that visited it.
fn crate_walks(graph: MyGraph, ego: PeerId, walks: u32) -> (f64, meritrank::MeritRank, Counter) {
    let mut mr = meritrank::MeritRank::new(graph).unwrap();
    let t = Instant::now();
    let mut hits = Counter::new();
    let mut distrusted = std::collections::HashMap::new();
    for _ in 0..walks {
        let walk = mr.perform_walk(crate_node(ego)).unwrap();
        hits.increment_unique_counts(walk.iter().copied());
        mr.update_negative_hits(&walk, &mut distrusted, false);
        mr.add_walk(walk, 0);
    }
    (t.elapsed().as_secs_f64() * 1e3, mr, hits)
}

/// trust-core against the `meritrank` crate (0.4), for one ego on the same graph.
///
/// What the crate's API allows, and where it differs from ours:
///
/// - Its graph is a `petgraph` `DiGraph` of `NodeId::UInt` nodes (plus a `NodeId` → index
///   hash map); each relation becomes one edge `from` → `to` with weight `strength` (our
///   `SOCIAL_FRIEND` type weighs 1, so our walk weight is the same number). The generator
///   makes no duplicate pair or self-relation, so both graphs hold the same edges.
/// - α is 0.85 in both: the crate fixes it (its setter is private). Both draw the stop
///   before every step, end a walk at a peer without relations and choose the next peer in
///   proportion to the weight. The crate draws from `thread_rng`, unseeded, so its time and
///   its ranking vary from run to run. It rebuilds a neighbour hash map and a
///   `WeightedIndex` at every step, and its edge-weight lookup scans the node's edges, so a
///   step costs O(d²) at a peer of out-degree d.
/// - One ego's walks are what its `MeritRank::calculate(ego, walks)` does, but that method
///   also prints every walk to stdout (its `VERBOSE` constant is `true`): 10,000 lines per
///   ego. So the timed part is that method's body through the crate's public pieces, minus
///   the print: `perform_walk`, the per-walk count (`Counter::increment_unique_counts`),
///   `update_negative_hits` (a no-op here: no distrust edges) and `add_walk` into its walk
///   storage, which keeps the walks for incremental updates as ours do. (In a one-off check
///   with stdout sent to a file, `calculate` itself took 650–830 ms where these pieces
///   took 650–680 ms.)
/// - Scores: the crate counts a peer once per walk that visits it and divides by the sum of
///   all counts (`get_node_score`); ours count every visit, times (1 − α) / walks. Both rank
///   by count. The crate's `get_ranks` also runs a graph search per ranked peer (its
///   `ASSERT` constant), so its ranking is read from the same counter instead. On this
///   graph the two ways of counting give us the same top 20; what differs is the sampling
///   noise of 10,000 walks among the peers around rank 20.
/// - Times are the median of 3 runs each, for the same ego, each from scratch; the first
///   run also gives the memory: resident-set growth over building the graph and computing the
///   walks, from `/proc/self/statm` (page-grained; ours first, kept alive while theirs is
///   measured so that neither reuses the other's freed memory). It runs in a process of its
///   own (this binary again, with [`VERSUS_CRATE`]), since pages the headline figures'
///   million-peer graph freed would hide any growth.
fn versus_meritrank_crate(full: bool) {
    let (peers, walks) = if full { (10_000, 10_000) } else { (1_000, 1_000) };
    let updates = synthetic::scale_free(peers, 7, sansio_core::Seed::new([9; 32]));
    let ego = PeerId(u32::try_from(peers / 2).unwrap());

    let before = resident_bytes();
    let mut g = Graph::new(Default::default());
    for u in &updates {
        g.apply(*u);
    }
    let (ms, mut ours) = our_walks(&g, ego, walks);
    let ours_bytes = resident_bytes().saturating_sub(before);
    let mut ours_ms = vec![ms];
    let ours_ranking: Vec<(u32, f64)> = ours.ranking(&g, ego).into_iter().map(|(p, s)| (p.0, s)).collect();

    let before = resident_bytes();
    let (ms, theirs, hits) = crate_walks(crate_graph(peers, &updates), ego, walks);
    let theirs_bytes = resident_bytes().saturating_sub(before);
    let mut theirs_ms = vec![ms];
    let mut theirs_ranking: Vec<(u32, f64)> = hits
        .get_tree_map()
        .iter()
        .filter_map(|(n, c)| match n {
            NodeId::UInt(p) => Some((u32::try_from(*p).unwrap(), *c)),
            _ => None,
        })
        .collect();
    theirs_ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    drop(theirs);

    for _ in 0..2 {
        ours_ms.push(our_walks(&g, ego, walks).0);
        theirs_ms.push(crate_walks(crate_graph(peers, &updates), ego, walks).0);
    }
    let (ours_ms, theirs_ms) = (median(ours_ms), median(theirs_ms));
    let (a, b) = (top(&ours_ranking, ego.0, 20), top(&theirs_ranking, ego.0, 20));
    let shared = a.iter().filter(|p| b.contains(p)).count();
    println!("figure trust_ego_10k_ms {ours_ms:.1} ms");
    println!("figure trust_meritrank_crate_ego_ms {theirs_ms:.1} ms");
    println!("figure trust_vs_meritrank_crate_time_ratio {:.4} ratio", ours_ms / theirs_ms);
    println!("figure trust_ego_10k_resident_bytes {ours_bytes} bytes");
    println!("figure trust_meritrank_crate_resident_bytes {theirs_bytes} bytes");
    if theirs_bytes > 0 {
        println!("figure trust_vs_meritrank_crate_memory_ratio {:.4} ratio", ours_bytes as f64 / theirs_bytes as f64);
    }
    println!("figure trust_vs_meritrank_crate_top20_agreement {:.2} ratio", shared as f64 / 20.0);
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if std::env::args().any(|a| a == VERSUS_CRATE) {
        versus_meritrank_crate(full);
        return;
    }

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

    // The comparison with the `meritrank` crate, in a process of its own: a fresh heap, so
    // that its memory figures see no pages freed by the graph above, nor that graph its.
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .arg(VERSUS_CRATE)
        .status()
        .unwrap();
    assert!(status.success(), "the meritrank crate comparison failed: {status}");
}
