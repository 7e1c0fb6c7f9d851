//! Friendship paths agree with textbook references on random graphs: hop counts with a plain
//! BFS, bottlenecks with a max-min closure (Floyd–Warshall style), and the number of
//! edge-disjoint paths with a unit-capacity max-flow on an adjacency matrix.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use proptest::prelude::*;
use trust_core::paths::{self, Path};
use trust_core::{EdgeUpdate, Graph, PeerId, RelationType};

const N: usize = 12;

fn graph() -> impl Strategy<Value = Vec<(usize, usize, u8, f32)>> {
    prop::collection::vec((0..N, 0..N, 0u8..5, prop_oneof![-1.0f32..0.0, 0.1f32..4.0]), 0..60)
}

fn build(edges: &[(usize, usize, u8, f32)]) -> Graph {
    let mut g = Graph::new(Default::default());
    g.ensure_peer(PeerId(u32::try_from(N - 1).unwrap()));
    for &(a, b, kind, strength) in edges {
        let u = EdgeUpdate {
            from: PeerId(u32::try_from(a).unwrap()),
            to: PeerId(u32::try_from(b).unwrap()),
            kind: RelationType(kind),
            strength,
            timestamp: 1,
        };
        g.apply(u);
    }
    g
}

/// Capacity matrix: the positive walk weight between every ordered pair.
fn matrix(g: &Graph) -> Vec<Vec<f64>> {
    (0..N).map(|a| (0..N).map(|b| if a == b { 0.0 } else { g.capacity(pid(a), pid(b)) }).collect()).collect()
}

fn pid(i: usize) -> PeerId {
    PeerId(u32::try_from(i).unwrap())
}

fn bfs_hops(c: &[Vec<f64>], s: usize, t: usize) -> Option<usize> {
    let mut dist = [usize::MAX; N];
    dist[s] = 0;
    let mut queue = std::collections::VecDeque::from([s]);
    while let Some(u) = queue.pop_front() {
        for v in 0..N {
            if c[u][v] > 0.0 && dist[v] == usize::MAX {
                dist[v] = dist[u] + 1;
                queue.push_back(v);
            }
        }
    }
    (dist[t] != usize::MAX).then_some(dist[t])
}

fn max_min(c: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let mut w = c.to_vec();
    for k in 0..N {
        for i in 0..N {
            for j in 0..N {
                w[i][j] = w[i][j].max(w[i][k].min(w[k][j]));
            }
        }
    }
    w
}

/// Max-flow with capacity 1 on every trusted ordered pair (DFS augmenting paths).
fn unit_flow(c: &[Vec<f64>], s: usize, t: usize) -> usize {
    let mut r: Vec<Vec<i32>> = c.iter().map(|row| row.iter().map(|x| i32::from(*x > 0.0)).collect()).collect();
    let mut flow = 0;
    loop {
        let mut parent = [usize::MAX; N];
        parent[s] = s;
        let mut stack = vec![s];
        while let Some(u) = stack.pop() {
            for v in 0..N {
                if r[u][v] > 0 && parent[v] == usize::MAX {
                    parent[v] = u;
                    stack.push(v);
                }
            }
        }
        if parent[t] == usize::MAX {
            return flow;
        }
        let mut v = t;
        while v != s {
            let u = parent[v];
            r[u][v] -= 1;
            r[v][u] += 1;
            v = u;
        }
        flow += 1;
    }
}

fn valid(g: &Graph, p: &Path, s: usize, t: usize) -> bool {
    p.hops.first().map(|h| h.from) == Some(pid(s))
        && p.hops.last().map(|h| h.to) == Some(pid(t))
        && p.hops.windows(2).all(|w| w[0].to == w[1].from)
        && p.hops.iter().all(|h| g.capacity(h.from, h.to) > 0.0 && h.weight == g.capacity(h.from, h.to))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn shortest_widest_and_disjoint_paths_match_the_references(edges in graph(), s in 0..N, t in 0..N) {
        prop_assume!(s != t);
        let g = build(&edges);
        let c = matrix(&g);

        let hops = bfs_hops(&c, s, t);
        let shortest = paths::shortest(&g, pid(s), pid(t), N);
        prop_assert_eq!(shortest.as_ref().map(|p| p.hops.len()), hops);
        if let Some(p) = &shortest {
            prop_assert!(valid(&g, p, s, t));
        }
        if let Some(h) = hops {
            prop_assert!(paths::shortest(&g, pid(s), pid(t), h - 1).is_none() || h == 0, "the hop limit is honoured");
        }

        let best = max_min(&c)[s][t];
        let widest = paths::widest(&g, pid(s), pid(t));
        match &widest {
            Some(p) => {
                prop_assert!(valid(&g, p, s, t));
                prop_assert_eq!(p.bottleneck(), best);
            }
            None => prop_assert_eq!(best, 0.0),
        }

        let flow = unit_flow(&c, s, t);
        let found = paths::disjoint(&g, pid(s), pid(t), N * N);
        prop_assert_eq!(found.len(), flow);
        let mut used = std::collections::HashSet::new();
        for p in &found {
            prop_assert!(valid(&g, p, s, t));
            for h in &p.hops {
                prop_assert!(used.insert((h.from, h.to)), "shared relation {:?}", h);
            }
        }
        prop_assert_eq!(paths::disjoint(&g, pid(s), pid(t), 1).len(), flow.min(1));
    }
}
