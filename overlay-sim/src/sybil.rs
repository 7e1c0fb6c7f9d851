//! A Sybil region in a simulated overlay (`docs/overlay.md` §5): attacker nodes that befriend
//! one another, and a few honest nodes fooled into befriending one of them (the attack
//! edges). Honest nodes befriend honest nodes and store a signer's records only if their
//! trust in it (MeritRank over the relations they hold) reaches a threshold. The report
//! says which honest nodes came to hold Sybil records, whether any holds one its own gate
//! excludes, and whether the gate still lets honest records through.

use std::collections::{BTreeMap, BTreeSet};

use netsim::{HostId, Sim};
use overlay_core::{Mid, Node};
use sansio_core::SeededRng;
use serde::Serialize;
use sync_core::{Body, PublicKey, Record, RelationType, Store};

/// The Sybil region of a [`crate::Scenario`].
#[derive(Clone, Debug)]
pub struct Sybils {
    /// Sybil nodes (public hosts, each with its own key).
    pub count: usize,
    /// Honest nodes that befriend one Sybil each.
    pub attack_edges: usize,
    /// Friendship relations each node signs to nodes of its own side that it knows.
    pub friends: usize,
    /// Least trust an honest node needs in a signer to store the signer's records
    /// (`overlay_core::Config::trust_threshold`). MeritRank's scores sum to about 1 over
    /// everyone a node's walks reach: among 1,000 honest nodes a typical one scores about
    /// 0.001.
    pub threshold: f64,
    /// When the relations are signed (virtual seconds), once nodes know some peers.
    pub relate_at: u64,
}

impl Sybils {
    /// `count` Sybils and `attack_edges` attack edges; three friends each, threshold 10^-4,
    /// relations at 10 s.
    #[must_use]
    pub fn new(count: usize, attack_edges: usize) -> Self {
        Self { count, attack_edges, friends: 3, threshold: 1e-4, relate_at: 10 }
    }
}

/// What the Sybil region achieved.
#[derive(Clone, Debug, Serialize)]
pub struct SybilReport {
    /// Sybil nodes.
    pub sybils: usize,
    /// Attack edges signed (an honest node that knew no Sybil at `relate_at` signs none).
    pub attack_edges: usize,
    /// The honest nodes' threshold.
    pub threshold: f64,
    /// Honest nodes holding at least one record a Sybil signed, per cent.
    pub honest_nodes_holding_sybil_records_pct: f64,
    /// Records signed by Sybils that honest nodes hold, in all.
    pub sybil_records_at_honest_nodes: u64,
    /// Of those, records an honest node holds although, at the end, its own gate excludes
    /// their signer: trust below half the threshold (the level below which a node drops what
    /// it stored, `sync_core::KEEP_FRACTION`), and no relation of its own to it. The issue's
    /// goal, and the test's assertion: none.
    pub held_though_excluded: u64,
    /// Records held whose signer scores below the threshold but at least half of it: kept by
    /// the margin that stops records of a signer at the threshold from being dropped and
    /// fetched again as MeritRank's estimates wobble.
    pub held_within_margin: u64,
    /// Records honest nodes dropped because their signer's trust fell (all signers).
    pub evicted: u64,
    /// Other honest signers whose records an honest node holds, per cent of the other honest
    /// nodes: the median over honest nodes (the gate must let honest records through).
    pub honest_signers_held_pct_p50: f64,
    /// An honest node's trust in the honest signers whose records it holds: the median over
    /// all such pairs.
    pub honest_trust_p50: f64,
    /// The greatest trust any honest node without an attack edge has in any Sybil.
    pub sybil_trust_max: f64,
    /// The trust an honest node without an attack edge gives all Sybils together: median
    /// and largest. MeritRank bounds it by the chance a walk crosses an attack edge,
    /// whatever the size of the region.
    pub sybil_trust_total_p50: f64,
    /// See `sybil_trust_total_p50`.
    pub sybil_trust_total_max: f64,
    /// MeritRank's bound on that total for each such node: the expected share of its walks
    /// that cross an attack edge, worked out from its own trust in the attack edges' honest
    /// ends (itself a random-walk estimate) and the relations of theirs it holds (all of one
    /// type here, so their strengths weigh as the graph's weights do). The median over those
    /// nodes.
    pub sybil_trust_bound_p50: f64,
    /// The largest ratio of a node's Sybil total to its bound (at most 1, give or take the
    /// random walks' sampling error, if the bound holds).
    pub sybil_trust_over_bound_max: f64,
    /// Distinct Sybils whose records an honest node without an attack edge holds: median and
    /// largest.
    pub sybil_signers_held_p50: f64,
    /// See `sybil_signers_held_p50`.
    pub sybil_signers_held_max: f64,
}

/// Who is who: host indices of the honest nodes and of the Sybils.
pub(crate) struct Sides {
    pub honest: std::ops::Range<usize>,
    pub sybil: std::ops::Range<usize>,
}

/// Each node befriends up to `friends` known peers of its own side, chosen by `rng`; the first
/// `attack_edges` honest nodes each befriend the first Sybil they know (by host index, so
/// often the same one). Returns the attack edges signed, honest index to Sybil index.
pub(crate) fn relate(
    sim: &mut Sim,
    hosts: &[HostId<Node>],
    by_mid: &BTreeMap<Mid, usize>,
    sides: &Sides,
    config: &Sybils,
    rng: &mut SeededRng,
) -> BTreeMap<usize, usize> {
    let mut attack = BTreeMap::new();
    for i in sides.honest.clone().chain(sides.sybil.clone()) {
        let own_side = if sides.honest.contains(&i) { &sides.honest } else { &sides.sybil };
        let known: Vec<(usize, Mid)> = {
            let mut v: Vec<(usize, Mid)> = sim
                .machine(hosts[i])
                .peers()
                .filter_map(|p| by_mid.get(&p.key.mid()).map(|&j| (j, p.key.mid())))
                .collect();
            v.sort_unstable();
            v
        };
        let mut mine: Vec<Mid> = known.iter().filter(|(j, _)| own_side.contains(j)).map(|(_, m)| *m).collect();
        rng.pick_front(&mut mine, config.friends);
        mine.truncate(config.friends);
        let mut to: Vec<Mid> = mine;
        if sides.honest.contains(&i)
            && i - sides.honest.start < config.attack_edges
            && let Some((j, m)) = known.iter().find(|(j, _)| sides.sybil.contains(j))
        {
            attack.insert(i, *j);
            to.push(*m);
        }
        sim.call(hosts[i], |node: &mut Node, now| {
            for m in &to {
                // A peer the node heard from has a key: relate cannot fail for want of one.
                let _ = node.relate(now, m, RelationType::SOCIAL_FRIEND, 5);
            }
        });
    }
    attack
}

/// The figures at the end of the run.
pub(crate) fn measure(
    sim: &mut Sim,
    hosts: &[HostId<Node>],
    mids: &[Mid],
    sides: &Sides,
    config: &Sybils,
    attack: &BTreeMap<usize, usize>,
) -> SybilReport {
    let index_of: BTreeMap<PublicKey, usize> =
        hosts.iter().enumerate().map(|(i, h)| (sim.machine(*h).key().ed25519(), i)).collect();
    let (mut holding, mut at_honest, mut excluded, mut margin, mut evicted) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut honest_held = Vec::new();
    let mut honest_trust = Vec::new();
    let mut sybil_trust_max = 0.0f64;
    let mut sybil_totals = Vec::new();
    let mut sybil_signers_held = Vec::new();
    let (mut bounds, mut over_bound) = (Vec::new(), 0.0f64);
    for i in sides.honest.clone() {
        evicted += sim.machine(hosts[i]).sync_stats().records_evicted;
        // Signers of the records node i holds, and how many records each.
        let mut signers: BTreeMap<usize, u64> = BTreeMap::new();
        // For each attack edge's honest end, the strength of the relations of its that node i
        // holds: in all, and those to Sybils (every relation here is a friendship).
        let mut holder_out: BTreeMap<usize, (u64, u64)> = BTreeMap::new();
        let store = sim.machine(hosts[i]).records();
        store.for_each_id(&mut |id| {
            if let Some(bytes) = store.get(id)
                && let Ok(record) = Record::decode(&bytes)
                && let Some(&j) = index_of.get(&record.signer)
            {
                *signers.entry(j).or_default() += 1;
                if let Body::Relation { subject, strength, .. } = record.body
                    && attack.contains_key(&j)
                {
                    let out = holder_out.entry(j).or_default();
                    out.0 += u64::from(strength);
                    if index_of.get(&subject).is_some_and(|s| sides.sybil.contains(s)) {
                        out.1 += u64::from(strength);
                    }
                }
            }
        });
        let sybil_signers: BTreeSet<usize> = signers.keys().copied().filter(|j| sides.sybil.contains(j)).collect();
        holding += u64::from(!sybil_signers.is_empty());
        if !attack.contains_key(&i) {
            sybil_signers_held.push(sybil_signers.len() as f64);
        }
        let honest_signers = signers.keys().filter(|j| sides.honest.contains(j) && **j != i).count();
        honest_held.push(100.0 * honest_signers as f64 / sides.honest.len().saturating_sub(1).max(1) as f64);
        // Node i's trust in every signer it holds records of, and (unless it befriended one)
        // in every Sybil, asked in one call.
        let befriended = attack.contains_key(&i);
        let holders: Vec<usize> = holder_out.keys().copied().filter(|h| *h != i).collect();
        let asked: Vec<usize> = signers
            .keys()
            .copied()
            .filter(|j| *j != i)
            .chain(sides.sybil.clone().filter(|j| !befriended && !signers.contains_key(j)))
            .chain(holders.iter().copied())
            .collect();
        let asked_mids: Vec<Mid> = asked.iter().map(|j| mids[*j]).collect();
        let trust: Vec<f64> = sim.call(hosts[i], move |node: &mut Node, _| {
            asked_mids.iter().map(|m| node.trust(m).unwrap_or(0.0)).collect()
        });
        let mut total = 0.0;
        let (counted, holder_trust) = trust.split_at(trust.len() - holders.len());
        // A walk that reaches holder h goes on with chance alpha, across the attack edge with
        // chance (its strength over h's total); it reaches h (1 - alpha)^-1 times per unit of
        // h's score. Summed over the holders: the walks that cross, per walk.
        // The walks every overlay node runs (`overlay_core::Node` uses the default configuration).
        let alpha = trust_core::WalkConfig::default().alpha;
        let bound: f64 = holders
            .iter()
            .zip(holder_trust)
            .map(|(h, t)| {
                let (all, to_sybils) = holder_out[h];
                t / (1.0 - alpha) * alpha * to_sybils as f64 / all.max(1) as f64
            })
            .sum();
        for (&j, &t) in asked.iter().zip(counted) {
            if sides.sybil.contains(&j) {
                if !befriended {
                    sybil_trust_max = sybil_trust_max.max(t);
                    total += t;
                }
                let n = signers.get(&j).copied().unwrap_or(0);
                at_honest += n;
                // Its own attack edge's Sybil is trusted directly, whatever it scores.
                if attack.get(&i) != Some(&j) {
                    if t < config.threshold * sync_core::KEEP_FRACTION {
                        excluded += n;
                    } else if t < config.threshold {
                        margin += n;
                    }
                }
            } else if sides.honest.contains(&j) {
                honest_trust.push(t);
            }
        }
        if !befriended {
            sybil_totals.push(total);
            bounds.push(bound);
            if total > 0.0 {
                // Trust in the region with no attack edge in view: as far over as a float goes
                // (finite, so the JSON report keeps a number).
                over_bound = over_bound.max(total / bound.max(f64::MIN_POSITIVE));
            }
        }
    }
    sybil_totals.sort_by(f64::total_cmp);
    bounds.sort_by(f64::total_cmp);
    sybil_signers_held.sort_by(f64::total_cmp);
    honest_held.sort_by(f64::total_cmp);
    honest_trust.sort_by(f64::total_cmp);
    let median = |v: &[f64]| if v.is_empty() { 0.0 } else { v[v.len() / 2] };
    SybilReport {
        sybils: config.count,
        attack_edges: attack.len(),
        threshold: config.threshold,
        honest_nodes_holding_sybil_records_pct: 100.0 * holding as f64 / sides.honest.len().max(1) as f64,
        sybil_records_at_honest_nodes: at_honest,
        held_though_excluded: excluded,
        held_within_margin: margin,
        evicted,
        honest_signers_held_pct_p50: median(&honest_held),
        honest_trust_p50: median(&honest_trust),
        sybil_trust_max,
        sybil_trust_total_p50: median(&sybil_totals),
        sybil_trust_total_max: sybil_totals.last().copied().unwrap_or(0.0),
        sybil_trust_bound_p50: median(&bounds),
        sybil_trust_over_bound_max: over_bound,
        sybil_signers_held_p50: median(&sybil_signers_held),
        sybil_signers_held_max: sybil_signers_held.last().copied().unwrap_or(0.0),
    }
}
