//! Fuzz bodies, shared by `fuzz/` and this crate's own tests (feature `fuzzing`).

use crate::graph::{EdgeUpdate, Graph, PeerId, RelationType};
use crate::paths;
use crate::reputation::Reputation;
use crate::walks::{ConnectivityDecay, MeritRank, WalkConfig};
use crate::{ExactPageRank, TwoHopFlow};

/// Peers the fuzzer addresses: small, so operations collide and walks meet updates.
const PEERS: u8 = 32;

/// Runs arbitrary edge updates and queries, 8 bytes per operation, and checks the
/// invariants that must hold whatever the input:
/// - incremental walks and scores (connectivity decay on) equal recomputed ones;
/// - the backward index lists exactly the trusting peers, each once;
/// - paths are connected, start and end where asked, and use trusted relations only;
/// - disjoint paths share no relation;
/// - every score is finite.
///
/// # Panics
///
/// When an invariant breaks (that is the point).
pub fn graph_ops(data: &[u8]) {
    let mut graph = Graph::new(Default::default());
    let config = WalkConfig { walks: 64, alpha: 0.85, max_len: 200, connectivity: Some(ConnectivityDecay::default()) };
    let mut walks = MeritRank::new(config.clone(), sansio_core::Seed::from_u64(1));
    walks.ensure_ego(&graph, PeerId(0));
    for op in data.chunks_exact(8) {
        let a = PeerId(u32::from(op[1] % PEERS));
        let b = PeerId(u32::from(op[2] % PEERS));
        match op[0] % 4 {
            0 | 1 => {
                let strength = f32::from(i16::from_le_bytes([op[3], op[4]])) / 1000.0;
                let u =
                    EdgeUpdate { from: a, to: b, kind: RelationType(op[5] % 6), strength, timestamp: u64::from(op[6]) };
                if graph.apply(u) != crate::Applied::Ignored {
                    walks.refresh(&graph);
                }
            }
            2 => {
                let score = walks.score(&graph, a, b);
                assert!(score.is_finite());
                assert!(TwoHopFlow.score(&graph, a, b).abs() <= 1.0);
            }
            _ => {
                for p in [paths::shortest(&graph, a, b, 8), paths::widest(&graph, a, b)].into_iter().flatten() {
                    check_path(&graph, a, b, &p);
                }
                let k = usize::from(op[3] % 4) + 1;
                let found = paths::disjoint(&graph, a, b, k);
                assert!(found.len() <= k);
                let mut used = alloc::vec::Vec::new();
                for p in &found {
                    check_path(&graph, a, b, p);
                    for h in &p.hops {
                        assert!(!used.contains(&(h.from, h.to)), "disjoint paths share {h:?}");
                        used.push((h.from, h.to));
                    }
                }
            }
        }
    }
    for a in 0..u32::from(PEERS) {
        for b in 0..u32::from(PEERS) {
            let (a, b) = (PeerId(a), PeerId(b));
            let indexed = graph.incoming(b).iter().filter(|p| **p == a).count();
            assert_eq!(indexed, usize::from(graph.capacity(a, b) > 0.0), "backward index of {a:?} -> {b:?}");
        }
    }
    let mut fresh = MeritRank::new(config, sansio_core::Seed::from_u64(1));
    fresh.ensure_ego(&graph, PeerId(0));
    assert!(walks.walks_of(PeerId(0)) == fresh.walks_of(PeerId(0)), "incremental walks differ from recomputed");
    for p in 0..u32::from(PEERS) {
        let (a, b) = (walks.score(&graph, PeerId(0), PeerId(p)), fresh.score(&graph, PeerId(0), PeerId(p)));
        assert!(a.to_bits() == b.to_bits(), "incremental score of {p} {a} differs from recomputed {b}");
    }
    for s in ExactPageRank::new(0.85, 1e-9).scores(&graph, PeerId(0)) {
        assert!(s.is_finite());
    }
}

fn check_path(graph: &Graph, from: PeerId, to: PeerId, p: &paths::Path) {
    if from == to {
        return;
    }
    assert_eq!(p.hops.first().map(|h| h.from), Some(from));
    assert_eq!(p.hops.last().map(|h| h.to), Some(to));
    for w in p.hops.windows(2) {
        assert_eq!(w[0].to, w[1].from);
    }
    for h in &p.hops {
        assert!(graph.capacity(h.from, h.to) > 0.0, "a path uses an untrusted relation {h:?}");
    }
}
