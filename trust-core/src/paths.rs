//! Friendship paths: why a peer is trusted.
//!
//! Paths follow trusted relations (positive walk weight). Each hop reports the relation that
//! carries it (the strongest between the two peers), so an application can show "you → Alice
//! (social friend) → Bob (uploaded 3 GB to Alice)".

use alloc::collections::{BinaryHeap, VecDeque};
use alloc::vec::Vec;
use core::cmp::Ordering;

use hashbrown::HashSet;

use crate::graph::{Graph, PeerId, RelationType};
use crate::{FastMap, fast_map};

/// One step of a path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hop {
    /// From this peer.
    pub from: PeerId,
    /// To this peer.
    pub to: PeerId,
    /// The strongest relation between them.
    pub kind: RelationType,
    /// Its stated strength.
    pub strength: f32,
    /// The total positive walk weight from `from` to `to` over all relation types.
    pub weight: f64,
}

/// A path from one peer to another.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Path {
    /// The hops, in order.
    pub hops: Vec<Hop>,
}

impl Path {
    /// Its weakest hop's weight (infinite for an empty path).
    #[must_use]
    pub fn bottleneck(&self) -> f64 {
        self.hops.iter().map(|h| h.weight).fold(f64::INFINITY, f64::min)
    }

    /// The peers along it, both ends included.
    #[must_use]
    pub fn peers(&self) -> Vec<PeerId> {
        let mut v: Vec<PeerId> = self.hops.first().map(|h| h.from).into_iter().collect();
        v.extend(self.hops.iter().map(|h| h.to));
        v
    }
}

fn hop(graph: &Graph, from: PeerId, to: PeerId) -> Option<Hop> {
    graph.trusted_neighbours(from).find(|(v, _, _)| *v == to).map(|(_, weight, e)| Hop {
        from,
        to,
        kind: e.kind,
        strength: e.strength,
        weight,
    })
}

fn build(graph: &Graph, from: PeerId, to: PeerId, parent: &FastMap<PeerId, PeerId>) -> Option<Path> {
    let mut nodes = follow(parent, to, from)?;
    nodes.reverse();
    along(graph, &nodes)
}

/// The peers from `start` to `end`, each the one `links` maps the previous to.
fn follow(links: &FastMap<PeerId, PeerId>, start: PeerId, end: PeerId) -> Option<Vec<PeerId>> {
    let mut nodes = alloc::vec![start];
    let mut at = start;
    while at != end {
        at = *links.get(&at)?;
        nodes.push(at);
    }
    Some(nodes)
}

/// The path through `nodes`, one hop per consecutive pair.
fn along(graph: &Graph, nodes: &[PeerId]) -> Option<Path> {
    let hops = nodes.windows(2).map(|w| hop(graph, w[0], w[1])).collect::<Option<Vec<_>>>()?;
    Some(Path { hops })
}

/// Grows one side of the search by a level: each peer first reached from `level` (through
/// `neighbours`) records in `own` the peer it was reached from. Returns the new level, and
/// the lowest-id new peer the `other` side has already reached.
fn grow<I: IntoIterator<Item = PeerId>>(
    level: &[PeerId],
    own: &mut FastMap<PeerId, PeerId>,
    other: &FastMap<PeerId, PeerId>,
    neighbours: impl Fn(PeerId) -> I,
) -> (Vec<PeerId>, Option<PeerId>) {
    let (mut next, mut meet) = (Vec::new(), None::<PeerId>);
    for &u in level {
        for v in neighbours(u) {
            if own.contains_key(&v) {
                continue;
            }
            own.insert(v, u);
            if other.contains_key(&v) {
                meet = Some(meet.map_or(v, |m| m.min(v)));
            }
            next.push(v);
        }
    }
    (next, meet)
}

/// A path with the fewest hops from `from` to `to`, of at most `max_hops`, or `None`.
///
/// Breadth-first from both ends at once (forwards over relations, backwards over the graph's
/// incoming index), always growing the side whose next level costs less: on a social graph
/// the two searches meet after touching roughly the square root of what one search would.
/// Levels are expanded whole, so the first meeting is a shortest path; among meeting peers the
/// lowest id is taken, which makes the answer deterministic.
#[must_use]
pub fn shortest(graph: &Graph, from: PeerId, to: PeerId, max_hops: usize) -> Option<Path> {
    if from == to {
        return Some(Path::default());
    }
    // Forward: peer -> the peer it was reached from. Backward: peer -> the next peer towards `to`.
    let mut forward: FastMap<PeerId, PeerId> = fast_map();
    let mut backward: FastMap<PeerId, PeerId> = fast_map();
    forward.insert(from, from);
    backward.insert(to, to);
    let (mut front, mut back) = (alloc::vec![from], alloc::vec![to]);
    let mut hops = 0;
    while hops < max_hops && !front.is_empty() && !back.is_empty() {
        let forward_cost: usize = front.iter().map(|u| graph.out_edges(*u).len()).sum();
        let backward_cost: usize = back.iter().map(|v| graph.incoming(*v).len()).sum();
        let meet = if forward_cost <= backward_cost {
            let (next, meet) =
                grow(&front, &mut forward, &backward, |u| graph.trusted_neighbours(u).map(|(v, _, _)| v));
            front = next;
            meet
        } else {
            let (next, meet) = grow(&back, &mut backward, &forward, |v| graph.incoming(v).iter().copied());
            back = next;
            meet
        };
        hops += 1;
        if let Some(m) = meet {
            return join(graph, from, to, m, &forward, &backward);
        }
    }
    None
}

/// The path `from` → … → `meet` (by forward parents) → … → `to` (by backward successors).
fn join(
    graph: &Graph,
    from: PeerId,
    to: PeerId,
    meet: PeerId,
    forward: &FastMap<PeerId, PeerId>,
    backward: &FastMap<PeerId, PeerId>,
) -> Option<Path> {
    let mut nodes = follow(forward, meet, from)?;
    nodes.reverse();
    nodes.extend(follow(backward, meet, to)?.into_iter().skip(1));
    along(graph, &nodes)
}

/// A candidate of the widest-path search: larger bottleneck first, then fewer hops, then the
/// smaller peer id (a total order, so results are deterministic).
#[derive(Clone, Copy, Debug)]
struct Widest {
    bottleneck: f64,
    hops: usize,
    peer: PeerId,
}

impl PartialEq for Widest {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Widest {}
impl PartialOrd for Widest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Widest {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bottleneck.total_cmp(&other.bottleneck).then(other.hops.cmp(&self.hops)).then(other.peer.cmp(&self.peer))
    }
}

/// The path from `from` to `to` whose weakest hop is strongest (maximum bottleneck), with
/// the fewest hops among those, or `None`.
#[must_use]
pub fn widest(graph: &Graph, from: PeerId, to: PeerId) -> Option<Path> {
    if from == to {
        return Some(Path::default());
    }
    let mut best: FastMap<PeerId, (f64, usize)> = fast_map();
    let mut parent: FastMap<PeerId, PeerId> = fast_map();
    let mut heap = BinaryHeap::from([Widest { bottleneck: f64::INFINITY, hops: 0, peer: from }]);
    best.insert(from, (f64::INFINITY, 0));
    let mut done: HashSet<PeerId, foldhash::fast::FixedState> =
        HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0));
    while let Some(Widest { bottleneck, hops, peer }) = heap.pop() {
        if !done.insert(peer) {
            continue;
        }
        if peer == to {
            return build(graph, from, to, &parent);
        }
        for (v, w, _) in graph.trusted_neighbours(peer) {
            if done.contains(&v) {
                continue;
            }
            let candidate = Widest { bottleneck: bottleneck.min(w), hops: hops + 1, peer: v };
            let better = best.get(&v).is_none_or(|&(b, h)| candidate > Widest { bottleneck: b, hops: h, peer: v });
            if better {
                best.insert(v, (candidate.bottleneck, candidate.hops));
                parent.insert(v, peer);
                heap.push(candidate);
            }
        }
    }
    None
}

/// Up to `k` paths from `from` to `to` that share no relation (edge-disjoint), found by
/// augmenting paths with unit capacities (Edmonds–Karp). Their number is how many independent
/// chains of trust lead to `to`; a Sybil region is reached by no more than its attack edges.
#[must_use]
pub fn disjoint(graph: &Graph, from: PeerId, to: PeerId, k: usize) -> Vec<Path> {
    if from == to || k == 0 {
        return Vec::new();
    }
    // Relations carrying flow, and for each peer the peers whose flow enters it.
    let mut flow: HashSet<(PeerId, PeerId), foldhash::fast::FixedState> =
        HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0));
    let mut flow_in: FastMap<PeerId, Vec<PeerId>> = fast_map();
    for _ in 0..k {
        // BFS in the residual graph: unused relations forwards, used ones backwards.
        let mut parent: FastMap<PeerId, (PeerId, bool)> = fast_map();
        let mut queue = VecDeque::from([from]);
        let mut seen: HashSet<PeerId, foldhash::fast::FixedState> =
            HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0));
        seen.insert(from);
        let mut reached = false;
        'bfs: while let Some(u) = queue.pop_front() {
            let forward =
                graph.trusted_neighbours(u).map(|(v, _, _)| (v, true)).filter(|(v, _)| !flow.contains(&(u, *v)));
            let backward = flow_in.get(&u).into_iter().flatten().map(|y| (*y, false));
            for (v, fwd) in forward.chain(backward) {
                if !seen.insert(v) {
                    continue;
                }
                parent.insert(v, (u, fwd));
                if v == to {
                    reached = true;
                    break 'bfs;
                }
                queue.push_back(v);
            }
        }
        if !reached {
            break;
        }
        let mut at = to;
        while at != from {
            let Some(&(p, fwd)) = parent.get(&at) else { break };
            if fwd {
                flow.insert((p, at));
                flow_in.entry(at).or_default().push(p);
            } else {
                // Cancel the flow at -> p that this path pushes back.
                flow.remove(&(at, p));
                if let Some(list) = flow_in.get_mut(&p) {
                    list.retain(|y| *y != at);
                }
            }
            at = p;
        }
    }
    decompose(graph, from, to, &mut flow)
}

/// Splits a unit flow into paths, dropping any cycles.
fn decompose(
    graph: &Graph,
    from: PeerId,
    to: PeerId,
    flow: &mut HashSet<(PeerId, PeerId), foldhash::fast::FixedState>,
) -> Vec<Path> {
    let mut paths = Vec::new();
    loop {
        let mut nodes = alloc::vec![from];
        let mut at = from;
        while at != to {
            // The first flow-carrying relation in adjacency order, for determinism.
            let next = graph.trusted_neighbours(at).map(|(v, _, _)| v).find(|v| flow.contains(&(at, *v)));
            let Some(v) = next else { break };
            flow.remove(&(at, v));
            if let Some(i) = nodes.iter().position(|x| *x == v) {
                nodes.truncate(i + 1); // a cycle: cut it out
            } else {
                nodes.push(v);
            }
            at = v;
        }
        if at != to {
            return paths;
        }
        match nodes.windows(2).map(|w| hop(graph, w[0], w[1])).collect::<Option<Vec<_>>>() {
            Some(hops) => paths.push(Path { hops }),
            None => return paths,
        }
    }
}
