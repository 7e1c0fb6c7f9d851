//! One simulated overlay: bootstrap nodes and nodes behind a mix of NATs discover each other,
//! then each node messages a few others picked at random (by member id, the way an
//! application would), resending every 5 s until the message arrives, as an application
//! with acknowledgements would.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use netsim::{HostId, LinkConfig, RunError, Sim};
use overlay_core::wire::Community;
use overlay_core::{Config, Event, Mid, Node, PathKind, Verifier};
use sansio_core::{Instant, Seed, SeededRng};
use serde::Serialize;
use sync_core::{ContentId, RelationType};

use crate::memo::SharedMemo;
use crate::nat_kind::{NatKind, NatMix};
use crate::sybil::{self, Sides, SybilReport, Sybils};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Nodes besides the bootstrap nodes.
    pub nodes: usize,
    /// Which networks they sit behind.
    pub mix: NatMix,
    /// Virtual seconds to run.
    pub seconds: u64,
    /// Seeds the network, the nodes and the choice of message targets.
    pub seed: u64,
    /// Peers each node messages.
    pub probes: usize,
    /// Public bootstrap nodes.
    pub bootstraps: usize,
    /// When the messages start (virtual seconds).
    pub probe_start: u64,
    /// Record every packet to and from this node (0: the first node after the bootstrap
    /// nodes), on its own access link, for [`Report::pcap`].
    pub capture: Option<usize>,
    /// Whether the nodes share one signature memo ([`crate::SharedMemo`]): each distinct
    /// signature is then checked once, not by every node that receives it. The run is the
    /// same either way (its [`Report::trace_hash`] too); only the time taken differs.
    pub share_signatures: bool,
    /// Digests per generation of that memo (two generations are kept). A digest forgotten
    /// costs one check on the curve, nothing else.
    pub memo_capacity: usize,
    /// A Sybil region besides the honest nodes; with it, honest nodes befriend each other and
    /// gate records by trust (without it the gate is open: every node's records spread).
    pub sybils: Option<Sybils>,
    /// Nodes (not the bootstrap nodes) settle: a node that knows this many peers walks at
    /// the given interval instead of every 0.5 s (`overlay_core::Config::settled_peers`).
    pub settled: Option<(usize, Duration)>,
}

impl Scenario {
    /// `nodes` nodes, one of each NAT kind in turn, 120 s, seed 1, two messages per node,
    /// one bootstrap node per 300 nodes (at least 3), messages from 30 s.
    #[must_use]
    pub fn new(nodes: usize) -> Self {
        Self {
            nodes,
            mix: NatMix::even(),
            seconds: 120,
            seed: 1,
            probes: 2,
            bootstraps: (nodes / 300).max(3),
            probe_start: 30,
            capture: None,
            share_signatures: true,
            memo_capacity: MEMO_CAPACITY,
            sybils: None,
            settled: None,
        }
    }
}

/// One cell of the punch matrix.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cell {
    /// The sender's network.
    pub from: NatKind,
    /// The receiver's.
    pub to: NatKind,
    /// Messages attempted (distinct sender and receiver pairs).
    pub attempts: u64,
    /// Of which arrived.
    pub delivered: u64,
    /// Of which over a direct stream (the rest through a relay).
    pub direct: u64,
    /// Whether RFC 4787 behaviour lets such a pair meet directly.
    pub direct_possible: bool,
}

/// What a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Nodes besides the bootstrap nodes.
    pub nodes: usize,
    /// Bootstrap nodes.
    pub bootstraps: usize,
    /// Virtual seconds run (fewer than asked if the run was stopped).
    pub seconds: u64,
    /// Virtual seconds asked for: more than `seconds` when the run was stopped early, and
    /// then the figures cover only what ran (messages not yet sent count as undelivered).
    pub seconds_asked: u64,
    /// The seed.
    pub seed: u64,
    /// Virtual seconds until a node knew [`DISCOVERY_TARGET`] peers: median and 99th
    /// percentile over the nodes that got there.
    pub discovery_s_p50: Option<f64>,
    /// See `discovery_s_p50`.
    pub discovery_s_p99: Option<f64>,
    /// The last node to get there, virtual seconds.
    pub discovery_s_max: Option<f64>,
    /// Nodes that knew [`DISCOVERY_TARGET`] peers by the end, per cent.
    pub discovered_20_pct: f64,
    /// Peers the node that knew the fewest knew at the end (what a network smaller than the
    /// discovery target is judged by).
    pub peers_known_min: usize,
    /// See `peers_known_min`: the median node.
    pub peers_known_p50: usize,
    /// Pairs whose NATs allow a direct path that got one (their message arrived over a
    /// direct stream), per cent.
    pub punch_success_pct: f64,
    /// Messages delivered (directly or through a relay) over all pairs, per cent.
    pub reachability_pct: f64,
    /// First deliveries that came through a relay, per cent of those delivered.
    pub relayed_pct: f64,
    /// From the first send to the first arrival, milliseconds: median and 99th percentile.
    pub time_to_first_message_ms_p50: Option<f64>,
    /// See `time_to_first_message_ms_p50`.
    pub time_to_first_message_ms_p99: Option<f64>,
    /// What a node sent, averaged over nodes and the whole run, bytes per second.
    pub bytes_per_node_per_s: f64,
    /// Records a node held at the end against the most any node held: median, per cent.
    pub records_held_pct_p50: f64,
    /// Virtual seconds from the moment the first node signed a relation (when the messages
    /// start) until every node stored it; `None` if some node never did.
    pub relation_spread_s: Option<f64>,
    /// Nodes (bootstrap nodes included) that held that relation at the end, per cent.
    pub relation_held_pct: f64,
    /// The punch matrix.
    pub matrix: Vec<Cell>,
    /// Events the simulator processed.
    pub sim_events: u64,
    /// A hash of everything observable in the run (`netsim::Sim::trace_hash`): the same
    /// scenario gives the same hash.
    pub trace_hash: u64,
    /// Signature checks the shared memo answered, and those it left to the curve (both 0
    /// without [`Scenario::share_signatures`]).
    pub signatures_recalled: u64,
    /// See `signatures_recalled`.
    pub signatures_checked: u64,
    /// With [`Scenario::sybils`]: what the Sybil region achieved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sybil: Option<SybilReport>,
    /// With [`Scenario::capture`]: the captured node's packets, both ways, as a pcap file
    /// (raw IP + UDP, virtual time stamps) that Wireshark and tshark read.
    #[serde(skip)]
    pub pcap: Option<Vec<u8>>,
}

/// One message's fate: first sent, and first arrived with whether over a direct stream.
type Attempt = (Option<Instant>, Option<(Instant, bool)>);

/// The identity seed of node `i`.
fn identity(seed: u64, i: usize) -> [u8; 32] {
    let mut rng = SeededRng::from_seed(Seed::from_u64(seed ^ 0x1d_e471_7e5e).derive(i as u64));
    let mut out = [0u8; 32];
    rng.fill_bytes(&mut out);
    out[0] |= 1; // never the all-zero seed
    out
}

/// Host `k`'s access link: 5–40 ms to the core, through two routers.
fn access_link(k: usize, seed: u64) -> LinkConfig {
    let delay = Duration::from_millis(5 + (k as u64 * 7919 + seed) % 36);
    LinkConfig { delay, routers: 2, ..LinkConfig::default() }
}

/// The `i`th public address (20.0.0.1 on).
fn public_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x1400_0001u32 + i as u32))
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

/// The network, built.
struct Built {
    sim: Sim,
    hosts: Vec<HostId<Node>>,
    kinds: Vec<NatKind>,
    mids: Vec<Mid>,
    memo: Option<Arc<SharedMemo>>,
}

/// Digests the shared memo holds per generation by default: about 70 MB each, a few seconds
/// of virtual time's signatures at 10,000 nodes, which is all a message's signature needs.
const MEMO_CAPACITY: usize = 1 << 20;

/// Peers a node must know to count as discovered (the "at least 20 others").
pub const DISCOVERY_TARGET: usize = 20;

fn build(s: &Scenario) -> Built {
    let mut sim = Sim::new(Seed::from_u64(s.seed));
    let net = sim.internet();
    let community = Community(*b"ipv8-rs simulation 1");
    let boot: Vec<SocketAddr> = (0..s.bootstraps).map(|i| SocketAddr::new(public_ip(i), 6421)).collect();
    let memo = s.share_signatures.then(|| Arc::new(SharedMemo::new(s.memo_capacity)));
    let verifier = memo.clone().map(|m| Verifier::with_memo(m)).unwrap_or_default();
    let config = |local: SocketAddr, bootstrap: Vec<SocketAddr>| {
        let mut c = Config::new(community, local, bootstrap);
        c.verifier = verifier.clone();
        // The simulation asks "can every node reach every other?": the trust gate is open,
        // so every node's Peer and Binding records spread. (Bootstrap nodes and Sybils
        // keep it open; honest nodes facing Sybils close it, below.)
        c.trust_threshold = 0.0;
        c
    };
    let honest_threshold = s.sybils.as_ref().map_or(0.0, |y| y.threshold);
    let sybils = s.sybils.as_ref().map_or(0, |y| y.count);
    let mut hosts = Vec::new();
    let mut kinds = Vec::new();
    for (i, addr) in boot.iter().enumerate() {
        let others = boot.iter().copied().filter(|a| a != addr).collect();
        let mut c = config(*addr, others);
        // A bootstrap node introduces and relays for everyone: it keeps a table for all.
        c.max_peers = c.max_peers.max(2 * (s.nodes + s.bootstraps + sybils));
        let node = Node::new(c, identity(s.seed, i), Seed::from_u64(s.seed).derive(i as u64));
        let Ok(node) = node else { unreachable!("identity seeds are never zero") };
        hosts.push(sim.add_host(net, &[*addr], node));
        kinds.push(NatKind::Open);
    }
    for k in 0..s.nodes {
        let i = s.bootstraps + k;
        let kind = s.mix.kind_of(k);
        let link = access_link(k, s.seed);
        let mut realm = net;
        let mut outer = true;
        for nat in kind.boxes() {
            let external = if outer { public_ip(i) } else { IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)) };
            let (n, inside) = sim.add_nat(realm, external, nat);
            if outer {
                *sim.link_mut(sim.nat_uplink(n)) = link.clone();
                *sim.link_mut(sim.nat_downlink(n)) = link.clone();
            }
            outer = false;
            realm = inside;
        }
        let local = if realm == net {
            SocketAddr::new(public_ip(i), 6421)
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)), 6421)
        };
        let mut c = config(local, boot.clone());
        c.trust_threshold = honest_threshold;
        if let Some((peers, interval)) = s.settled {
            c.settled_peers = peers;
            c.settled_walk_interval = interval;
        }
        let node = Node::new(c, identity(s.seed, i), Seed::from_u64(s.seed).derive(i as u64));
        let Ok(node) = node else { unreachable!("identity seeds are never zero") };
        let h = sim.add_host(realm, &[local], node);
        if realm == net {
            *sim.link_mut(sim.host_uplink(h)) = link.clone();
            *sim.link_mut(sim.host_downlink(h)) = link;
        }
        hosts.push(h);
        kinds.push(kind);
    }
    // Sybils: public hosts, one key each, all run by the attacker.
    for k in 0..sybils {
        let i = s.bootstraps + s.nodes + k;
        let local = SocketAddr::new(public_ip(i), 6421);
        let node = Node::new(config(local, boot.clone()), identity(s.seed, i), Seed::from_u64(s.seed).derive(i as u64));
        let Ok(node) = node else { unreachable!("identity seeds are never zero") };
        let h = sim.add_host(net, &[local], node);
        let link = access_link(i, s.seed);
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
        *sim.link_mut(sim.host_downlink(h)) = link;
        hosts.push(h);
        kinds.push(NatKind::Open);
    }
    let mids = hosts.iter().map(|h| sim.machine(*h).mid()).collect();
    Built { sim, hosts, kinds, mids, memo }
}

/// Runs `s`, calling `progress` with each virtual second done; when it breaks, the run ends
/// there and the report covers the seconds run ([`Report::seconds`]).
///
/// # Errors
///
/// When the simulator finds a machine breaking its contract or a livelock.
pub fn run(s: &Scenario, mut progress: impl FnMut(u64) -> ControlFlow<()>) -> Result<Report, RunError> {
    let Built { mut sim, hosts, kinds, mids, memo } = build(s);
    let first = s.bootstraps;
    // Bootstrap and honest nodes; Sybils come after them.
    let n = first + s.nodes;
    let sides = Sides { honest: first..n, sybil: n..hosts.len() };
    let mut attack = BTreeMap::new();
    let mut sybil_rng = SeededRng::from_seed(Seed::from_u64(s.seed ^ 0x5b11));
    let captured = s
        .capture
        .filter(|k| *k < s.nodes)
        .map(|k| hosts[first + k])
        .map(|h| [sim.host_uplink(h), sim.host_downlink(h)]);
    for link in captured.iter().flatten() {
        sim.capture(*link);
    }
    let by_mid: BTreeMap<Mid, usize> = mids.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut discovered: Vec<Option<u64>> = vec![None; n];
    // The message pairs, fixed by the seed.
    let mut rng = SeededRng::from_seed(Seed::from_u64(s.seed ^ 0x9a1e_5eed));
    // Per pair: first sent, first arrived and whether over a direct stream.
    let mut attempts: BTreeMap<(usize, usize), Attempt> = BTreeMap::new();
    if s.nodes > 1 {
        for a in first..n {
            let mut picked = 0;
            let mut tries = 0;
            while picked < s.probes.min(s.nodes - 1) && tries < 100 * s.probes {
                tries += 1;
                let b = first + rng.below(s.nodes as u64) as usize;
                if b != a && !attempts.contains_key(&(a, b)) {
                    attempts.insert((a, b), (None, None));
                    picked += 1;
                }
            }
        }
    }
    // The relation the first node signs, when, and when every node held it.
    let mut relation: Option<(ContentId, Instant)> = None;
    let mut relation_everywhere: Option<f64> = None;
    let mut ran = s.seconds;
    for sec in 1..=s.seconds {
        sim.run_until(Instant::from_secs(sec))?;
        for (i, h) in hosts.iter().enumerate() {
            if i < n && discovered[i].is_none() && sim.machine(*h).peers().count() >= DISCOVERY_TARGET {
                discovered[i] = Some(sec);
            }
            for (t, e) in sim.take_events(*h) {
                if let Event::Message { mid, data, path } = e
                    && let Some(&from) = by_mid.get(&mid)
                    && data == format!("p{from}").as_bytes()
                    && let Some((_, got)) = attempts.get_mut(&(from, i))
                    && got.is_none()
                {
                    *got = Some((t, path != PathKind::Relayed));
                }
            }
        }
        if let Some(y) = &s.sybils
            && sec == y.relate_at
        {
            attack = sybil::relate(&mut sim, &hosts, &by_mid, &sides, y, &mut sybil_rng);
        }
        if sec == s.probe_start.max(1) && relation.is_none() {
            // The first node befriends an honest peer it knows: a record every honest node
            // should come to hold.
            relation = sim
                .call(hosts[first], |node: &mut Node, now| {
                    let honest = |m: &Mid| by_mid.get(m).is_some_and(|j| *j < n);
                    let friend = node.peers().map(|p| p.key.mid()).filter(honest).min()?;
                    node.relate(now, &friend, RelationType::SOCIAL_FRIEND, 5).ok()
                })
                .map(|id| (id, sim.now()));
        }
        if let Some((id, made)) = relation
            && relation_everywhere.is_none()
            && hosts[..n].iter().all(|h| sync_core::Store::contains(sim.machine(*h).records(), &id))
        {
            relation_everywhere = Some(sim.now().saturating_duration_since(made).as_secs_f64());
        }
        if sec >= s.probe_start && (sec - s.probe_start).is_multiple_of(5) {
            for (&(a, b), (sent, got)) in &mut attempts {
                if got.is_some() {
                    continue;
                }
                let to = mids[b];
                let payload = format!("p{a}").into_bytes();
                // An unknown peer (no address yet) is tried again at the next turn.
                let ok = sim.call(hosts[a], move |node: &mut Node, now| node.send(now, &to, &payload).is_ok());
                if ok && sent.is_none() {
                    *sent = Some(sim.now());
                }
            }
        }
        if progress(sec).is_break() {
            ran = sec;
            break;
        }
    }

    let mut disc: Vec<f64> = discovered[first..n].iter().flatten().map(|s| *s as f64).collect();
    disc.sort_by(f64::total_cmp);
    let mut cells: BTreeMap<(NatKind, NatKind), Cell> = BTreeMap::new();
    let mut ttfm = Vec::new();
    let (mut possible, mut possible_ok, mut all_ok, mut relayed) = (0u64, 0u64, 0u64, 0u64);
    for (&(a, b), (sent, got)) in &attempts {
        let (ka, kb) = (kinds[a], kinds[b]);
        let direct_possible = NatKind::direct_possible(ka, kb);
        let cell = cells.entry((ka, kb)).or_insert(Cell {
            from: ka,
            to: kb,
            attempts: 0,
            delivered: 0,
            direct: 0,
            direct_possible,
        });
        cell.attempts += 1;
        // A pair is punched if its first message came over a direct stream, or a direct
        // stream joined the two by the end (the first may have gone by relay meanwhile).
        let joined = |x: usize, y: usize| sim.machine(hosts[x]).connected().any(|(m, _)| m == mids[y]);
        let first_direct = got.is_some_and(|(_, d)| d);
        let direct = got.is_some() && (first_direct || joined(a, b) || joined(b, a));
        if got.is_some() {
            cell.delivered += 1;
            all_ok += 1;
            relayed += u64::from(!first_direct);
        }
        cell.direct += u64::from(direct);
        if direct_possible {
            possible += 1;
            possible_ok += u64::from(direct);
        }
        if let (Some(s), Some((g, _))) = (sent, got) {
            ttfm.push(g.saturating_duration_since(*s).as_secs_f64() * 1000.0);
        }
    }
    ttfm.sort_by(f64::total_cmp);
    let bytes: u64 = hosts[first..n].iter().map(|h| sim.link_stats(sim.host_uplink(*h)).delivered_bytes).sum();
    let held: Vec<usize> = hosts[first..n].iter().map(|h| sync_core::Store::len(sim.machine(*h).records())).collect();
    let mut known: Vec<usize> = hosts[first..n].iter().map(|h| sim.machine(*h).peers().count()).collect();
    known.sort_unstable();
    let most = held.iter().copied().max().unwrap_or(0).max(1);
    let mut held_pct: Vec<f64> = held.iter().map(|h| 100.0 * *h as f64 / most as f64).collect();
    held_pct.sort_by(f64::total_cmp);
    let pct = |x: u64, of: u64| if of == 0 { 100.0 } else { 100.0 * x as f64 / of as f64 };
    let (signatures_recalled, signatures_checked) = memo.map_or((0, 0), |m| m.hits_and_misses());
    let trace_hash = sim.trace_hash();
    let sybil = s.sybils.as_ref().map(|y| sybil::measure(&mut sim, &hosts, &mids, &sides, y, &attack));
    Ok(Report {
        nodes: s.nodes,
        bootstraps: s.bootstraps,
        seconds: ran,
        seconds_asked: s.seconds,
        seed: s.seed,
        discovery_s_p50: percentile(&disc, 0.5),
        discovery_s_p99: percentile(&disc, 0.99),
        discovery_s_max: disc.last().copied(),
        peers_known_min: known.first().copied().unwrap_or(0),
        peers_known_p50: known.get(known.len() / 2).copied().unwrap_or(0),
        discovered_20_pct: pct(disc.len() as u64, s.nodes as u64),
        punch_success_pct: pct(possible_ok, possible),
        reachability_pct: pct(all_ok, attempts.len() as u64),
        relayed_pct: if all_ok == 0 { 0.0 } else { pct(relayed, all_ok) },
        time_to_first_message_ms_p50: percentile(&ttfm, 0.5),
        time_to_first_message_ms_p99: percentile(&ttfm, 0.99),
        bytes_per_node_per_s: bytes as f64 / s.nodes.max(1) as f64 / ran.max(1) as f64,
        records_held_pct_p50: percentile(&held_pct, 0.5).unwrap_or(0.0),
        relation_spread_s: relation_everywhere,
        relation_held_pct: relation.map_or(0.0, |(id, _)| {
            let holding =
                hosts[..n].iter().filter(|h| sync_core::Store::contains(sim.machine(**h).records(), &id)).count();
            pct(holding as u64, n as u64)
        }),
        matrix: cells.into_values().collect(),
        sim_events: sim.stats().events,
        trace_hash,
        signatures_recalled,
        signatures_checked,
        sybil,
        pcap: captured.map(|links| {
            let mut out = Vec::new();
            // Writing to memory cannot fail.
            let _ = sim.write_pcap_merged(&links, &mut out);
            out
        }),
    })
}

impl Report {
    /// The punch matrix as a text table: direct/delivered/attempts per sender (rows) and
    /// receiver (columns) kind (the difference between the first two went through a relay);
    /// `*` marks pairs RFC 4787 does not let meet directly.
    #[must_use]
    pub fn matrix_table(&self) -> String {
        let kinds: Vec<NatKind> =
            NatKind::ALL.into_iter().filter(|k| self.matrix.iter().any(|c| c.from == *k || c.to == *k)).collect();
        let mut out = format!("{:<16}", "from \\ to");
        for k in &kinds {
            out.push_str(&format!("{:>16}", k.name()));
        }
        out.push('\n');
        for a in &kinds {
            out.push_str(&format!("{:<16}", a.name()));
            for b in &kinds {
                let text = match self.matrix.iter().find(|c| c.from == *a && c.to == *b) {
                    Some(c) => {
                        format!(
                            "{}/{}/{}{}",
                            c.direct,
                            c.delivered,
                            c.attempts,
                            if c.direct_possible { "" } else { "*" }
                        )
                    }
                    None => "-".into(),
                };
                out.push_str(&format!("{text:>16}"));
            }
            out.push('\n');
        }
        out
    }
}
