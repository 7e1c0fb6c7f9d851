//! Seeded synthetic relation graphs: honest regions and Sybil attacks, for tests, benchmarks
//! and users who want to reproduce our figures (`ipv8 trust generate`).

use alloc::vec::Vec;

use sansio_core::{Seed, SeededRng};

use crate::graph::{EdgeUpdate, PeerId, RelationType};
use crate::{FastSet, fast_set};

fn id(i: usize) -> PeerId {
    PeerId(u32::try_from(i).unwrap_or(u32::MAX))
}

fn friend(from: usize, to: usize, strength: f32) -> EdgeUpdate {
    EdgeUpdate { from: id(from), to: id(to), kind: RelationType::SOCIAL_FRIEND, strength, timestamp: 1 }
}

/// Drops relations of a peer to itself and every repeat of a (from, to, type) relation
/// after its first: a graph ignores both, so what the generators return is exactly the graph
/// they build, and a written edge file has no line that does nothing.
fn distinct(mut out: Vec<EdgeUpdate>) -> Vec<EdgeUpdate> {
    let mut seen: FastSet<(PeerId, PeerId, RelationType)> = fast_set();
    out.retain(|u| u.from != u.to && seen.insert((u.from, u.to, u.kind)));
    out
}

/// Strengths between 0.5 and 2.0, so weights matter.
fn strength(rng: &mut SeededRng) -> f32 {
    #[allow(clippy::cast_possible_truncation)]
    let s = (0.5 + 1.5 * rng.unit_f64()) as f32;
    s
}

/// Watts–Strogatz small world on peers `0..n`: a ring where each peer trusts its `k` nearest
/// successors, each relation rewired to a random peer with probability `p`.
#[must_use]
pub fn small_world(n: usize, k: usize, p: f64, seed: Seed) -> Vec<EdgeUpdate> {
    let mut rng = SeededRng::from_seed(seed);
    let mut out = Vec::with_capacity(n * k);
    for i in 0..n {
        for j in 1..=k {
            let mut to = (i + j) % n;
            if rng.chance(p) {
                to = usize::try_from(rng.below(n as u64)).unwrap_or(0);
            }
            if to != i {
                out.push(friend(i, to, strength(&mut rng)));
            }
        }
    }
    distinct(out)
}

/// Barabási–Albert scale-free graph on peers `0..n`: each new peer trusts `m` earlier peers
/// chosen in proportion to their degree, and each of those trusts it back with probability
/// one half (relations are directed).
#[must_use]
pub fn scale_free(n: usize, m: usize, seed: Seed) -> Vec<EdgeUpdate> {
    let mut rng = SeededRng::from_seed(seed);
    let mut out = Vec::with_capacity(n * m * 3 / 2);
    // Every endpoint of every relation so far: sampling from it is sampling by degree.
    let mut ends: Vec<usize> = Vec::with_capacity(2 * n * m);
    let core = m.max(1) + 1;
    for i in 0..core.min(n) {
        for j in 0..core.min(n) {
            if i != j {
                out.push(friend(i, j, strength(&mut rng)));
                ends.extend([i, j]);
            }
        }
    }
    for i in core..n {
        let mut chosen: Vec<usize> = Vec::with_capacity(m);
        while chosen.len() < m.min(i) {
            let t = ends[usize::try_from(rng.below(ends.len() as u64)).unwrap_or(0)];
            if !chosen.contains(&t) {
                chosen.push(t);
            }
        }
        for t in chosen {
            out.push(friend(i, t, strength(&mut rng)));
            if rng.chance(0.5) {
                out.push(friend(t, i, strength(&mut rng)));
            }
            ends.extend([i, t]);
        }
    }
    distinct(out)
}

/// How Sybils arrange themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SybilShape {
    /// Each Sybil trusts the next (and the last the first): a long cycle.
    Chain,
    /// Every Sybil trusts one hub Sybil, which trusts them all.
    Star,
    /// Each Sybil trusts 8 random Sybils: a dense, fast-mixing region.
    Random,
}

/// A Sybil region of `s` peers numbered from `first`, in `shape`, reached from the peers
/// `attack_from` by one relation each (the attack edges) of `attack_strength`: an attacker
/// that controls its own relations puts its weight there. Sybils also vouch for the peers
/// that gave them an attack edge, trying to pull walks back and forth.
#[must_use]
pub fn sybil_region(
    first: usize,
    s: usize,
    shape: SybilShape,
    attack_from: &[usize],
    attack_strength: f32,
    seed: Seed,
) -> Vec<EdgeUpdate> {
    let mut rng = SeededRng::from_seed(seed);
    let mut out = Vec::new();
    if s == 0 {
        return out;
    }
    let sybil = |i: usize| first + i % s;
    match shape {
        SybilShape::Chain => (0..s).for_each(|i| out.push(friend(sybil(i), sybil(i + 1), 1.0))),
        SybilShape::Star => {
            for i in 1..s {
                out.push(friend(sybil(i), sybil(0), 1.0));
                out.push(friend(sybil(0), sybil(i), 1.0));
            }
        }
        SybilShape::Random => {
            for i in 0..s {
                for _ in 0..8 {
                    let j = usize::try_from(rng.below(s as u64)).unwrap_or(0);
                    if j != i {
                        out.push(friend(sybil(i), sybil(j), 1.0));
                    }
                }
            }
        }
    }
    for (k, &a) in attack_from.iter().enumerate() {
        out.push(friend(a, sybil(k), attack_strength));
        out.push(friend(sybil(k), a, 1.0));
    }
    distinct(out)
}
