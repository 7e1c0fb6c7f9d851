//! Which pairs of NATs a reference hole puncher joins directly, for every ordered pair of six
//! NAT presets (four ideal RFC 4787 types and two Linux routers) and three strategies. The
//! overlay's puncher will be held to at least this table; `docs/architecture.md` prints it.
//!
//! The scenario: A and B register with an introducer, each from behind its NAT; two routers
//! sit on each NAT's uplink and downlink (the internet between two homes), 20 ms one way
//! from NAT to NAT. Everything the introducer says reaches B 200 ms after it reaches A, as
//! happens in practice: one peer always acts first. A pair is joined when each peer received
//! a datagram straight from the other within 3 s.
//!
//! - **naive**: on learning the peer, send a punch to its public address every 50 ms.
//! - **go**: on learning the peer, tell the introducer; once both did, it says "go" to both
//!   (still 200 ms apart), and each punches as naive. A control: the barrier alone.
//! - **go, full TTL first**: as "go", sending one full-TTL punch before telling the
//!   introducer. A control: a first packet that is not low.
//! - **low TTL**: as "go", with the first punch at TTL 2: it leaves one's own NAT (making the
//!   mapping) and dies at the first router (Guha and Francis, IMC 2005).
//! - **low TTL + peer-reflexive**: also answer, and from then on punch, whatever address the
//!   peer's packets actually come from (as ICE does).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a test prints its table

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use netsim::addr as a;
use netsim::{HostId, LinkConfig, NatConfig, Sim};
use sansio_core::{Instant, Machine, Seed, Transmit, TransmitQueue};

const INTRODUCER: &str = "203.0.113.10:7000";
const PUNCH_EVERY: Duration = Duration::from_millis(50);
const PUNCH_FOR: Duration = Duration::from_secs(3);
const SKEW: Duration = Duration::from_millis(200);
const LOW_TTL: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    Naive,
    Go,
    GoFullTtlFirst,
    LowTtl,
    LowTtlReflexive,
}

/// The introducer: learns each peer's public address from its registration, introduces them,
/// and says "go" once both are ready. What it says to the second peer leaves `SKEW` later.
struct Introducer {
    out: TransmitQueue,
    peers: Vec<SocketAddr>,
    ready: Vec<SocketAddr>,
    later: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
}

impl Introducer {
    fn say(&mut self, now: Instant, to: SocketAddr, msg: Vec<u8>) {
        if self.peers.first() == Some(&to) {
            let _ = self.out.push(None, to, &msg);
        } else {
            self.later.push_back((now + SKEW, to, msg));
        }
    }
}

impl Machine for Introducer {
    type Event = ();
    fn handle_datagram(&mut self, now: Instant, _: SocketAddr, from: SocketAddr, d: &[u8]) {
        match d {
            b"REG" if !self.peers.contains(&from) => {
                self.peers.push(from);
                if let [first, second] = self.peers[..] {
                    self.say(now, first, format!("PEER {second}").into_bytes());
                    self.say(now, second, format!("PEER {first}").into_bytes());
                }
            }
            b"READY" if !self.ready.contains(&from) => {
                self.ready.push(from);
                if self.ready.len() == 2 {
                    for p in self.peers.clone() {
                        self.say(now, p, b"GO".to_vec());
                    }
                }
            }
            _ => {}
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        while self.later.front().is_some_and(|(at, _, _)| *at <= now) {
            if let Some((_, to, msg)) = self.later.pop_front() {
                let _ = self.out.push(None, to, &msg);
            }
        }
    }
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.later.front().map(|(at, _, _)| *at)
    }
}

/// A peer: registers, punches by its strategy, answers punches.
struct Puncher {
    strategy: Strategy,
    out: TransmitQueue,
    target: Option<SocketAddr>,
    next_punch: Option<Instant>,
    until: Instant,
    /// Where the peer's datagrams came from, if any arrived.
    heard_from: Option<SocketAddr>,
    events: VecDeque<()>,
}

impl Puncher {
    fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            out: TransmitQueue::default(),
            target: None,
            next_punch: None,
            until: Instant::MAX,
            heard_from: None,
            events: VecDeque::new(),
        }
    }
    fn start_punching(&mut self, now: Instant) {
        self.next_punch = Some(now);
        self.until = now + PUNCH_FOR;
    }
}

impl Machine for Puncher {
    type Event = ();
    fn handle_datagram(&mut self, now: Instant, _: SocketAddr, from: SocketAddr, d: &[u8]) {
        if from == a(INTRODUCER) {
            if let Some(peer) = d.strip_prefix(b"PEER ") {
                let peer: SocketAddr = std::str::from_utf8(peer).unwrap().parse().unwrap();
                self.target = Some(peer);
                match self.strategy {
                    Strategy::Naive => self.start_punching(now),
                    Strategy::Go => {
                        let _ = self.out.push(None, from, b"READY");
                    }
                    Strategy::GoFullTtlFirst => {
                        let _ = self.out.push(None, peer, b"PUNCH");
                        let _ = self.out.push(None, from, b"READY");
                    }
                    Strategy::LowTtl | Strategy::LowTtlReflexive => {
                        let _ = self.out.push_ttl(None, peer, Some(LOW_TTL), b"PUNCH");
                        let _ = self.out.push(None, from, b"READY");
                    }
                }
            } else if d == b"GO" {
                self.start_punching(now);
            }
            return;
        }
        // From the peer (whatever port its NAT gave it).
        self.heard_from = Some(from);
        if d == b"PUNCH" {
            let _ = self.out.push(None, from, b"ACK");
        }
        if self.strategy == Strategy::LowTtlReflexive && self.target != Some(from) {
            self.target = Some(from);
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let (Some(at), Some(to)) = (self.next_punch, self.target)
            && at <= now
        {
            let _ = self.out.push(None, to, b"PUNCH");
            let next = at + PUNCH_EVERY;
            self.next_punch = (next < self.until).then_some(next.max(now + Duration::from_micros(1)));
        }
    }
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }
    fn poll_event(&mut self) -> Option<()> {
        self.events.pop_front()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_punch
    }
}

fn presets() -> [(&'static str, NatConfig); 6] {
    [
        ("full cone", NatConfig::full_cone()),
        ("restricted", NatConfig::restricted_cone()),
        ("port-restr.", NatConfig::port_restricted_cone()),
        ("symmetric", NatConfig::symmetric()),
        ("linux", NatConfig::linux_masquerade()),
        ("linux rand.", NatConfig::linux_masquerade_fully_random()),
    ]
}

/// Whether the puncher joins A (behind `nat_a`, introduced first) and B (behind `nat_b`).
fn joins(nat_a: &NatConfig, nat_b: &NatConfig, strategy: Strategy, seed: u64) -> bool {
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let intro =
        Introducer { out: TransmitQueue::default(), peers: Vec::new(), ready: Vec::new(), later: VecDeque::new() };
    let intro = sim.add_host(net, &[a(INTRODUCER)], intro);
    let edge = LinkConfig { delay: Duration::from_millis(5), ..LinkConfig::default() };
    *sim.link_mut(sim.host_uplink(intro)) = edge.clone();
    *sim.link_mut(sim.host_downlink(intro)) = edge;
    let isp = LinkConfig { delay: Duration::from_millis(10), routers: 2, ..LinkConfig::default() };
    let mut peer = |public: &str, private: &str, nat: &NatConfig| -> HostId<Puncher> {
        let (n, home) = sim.add_nat(net, public.parse().unwrap(), nat.clone());
        *sim.link_mut(sim.nat_uplink(n)) = isp.clone();
        *sim.link_mut(sim.nat_downlink(n)) = isp.clone();
        sim.add_host(home, &[a(private)], Puncher::new(strategy))
    };
    let pa = peer("198.51.100.1", "192.168.1.2:5000", nat_a);
    let pb = peer("198.51.100.2", "192.168.2.2:5000", nat_b);
    // A registers first, so the introducer introduces A first.
    sim.call(pa, |p: &mut Puncher, _| {
        let _ = p.out.push(None, a(INTRODUCER), b"REG");
    });
    sim.run_for(Duration::from_millis(100)).unwrap();
    sim.call(pb, |p: &mut Puncher, _| {
        let _ = p.out.push(None, a(INTRODUCER), b"REG");
    });
    sim.run_for(PUNCH_FOR + Duration::from_secs(1)).unwrap();
    sim.machine(pa).heard_from.is_some() && sim.machine(pb).heard_from.is_some()
}

const STRATEGIES: [Strategy; 5] =
    [Strategy::Naive, Strategy::Go, Strategy::GoFullTtlFirst, Strategy::LowTtl, Strategy::LowTtlReflexive];

/// `table[strategy][a][b]`: whether the pair joins.
fn matrix() -> Vec<Vec<Vec<bool>>> {
    let presets = presets();
    STRATEGIES
        .iter()
        .enumerate()
        .map(|(s, strategy)| {
            presets
                .iter()
                .enumerate()
                .map(|(i, (_, na))| {
                    presets
                        .iter()
                        .enumerate()
                        .map(|(j, (_, nb))| joins(na, nb, *strategy, (s * 100 + i * 10 + j) as u64))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// One strategy's table as docs/architecture.md prints it.
fn markdown(rows: &[Vec<bool>]) -> String {
    let presets = presets();
    let mut out = String::from("| A \\ B |");
    presets.iter().for_each(|(n, _)| out.push_str(&format!(" {n} |")));
    out.push_str("\n|---|---|---|---|---|---|---|\n");
    for (i, (n, _)) in presets.iter().enumerate() {
        out.push_str(&format!("| {n} |"));
        rows[i].iter().for_each(|&ok| out.push_str(if ok { " yes |" } else { " — |" }));
        out.push('\n');
    }
    out
}

#[test]
fn the_reference_puncher_joins_what_each_nat_pair_allows() {
    let table = matrix();
    for (s, strategy) in STRATEGIES.iter().enumerate() {
        println!("\n{strategy:?} (rows: A, introduced first; columns: B)\n{}", markdown(&table[s]));
    }
    let [naive, go, go_full, low_ttl, reflexive] = [&table[0], &table[1], &table[2], &table[3], &table[4]];
    let (prc, sym, linux, linux_rand) = (2, 3, 4, 5);
    // The point of the Linux presets: ideal port-restricted NATs join naively when one peer
    // acts 200 ms after the other; two Linux routers do not (A's early punch leaves state at
    // B's router that moves B's own mapping), neither with the introducer's barrier alone nor
    // with a full-TTL first packet; a low-TTL first packet restores it.
    assert!(naive[prc][prc], "ideal port-restricted pair, naive");
    assert!(!naive[linux][linux], "Linux pair, naive: the port shift breaks it");
    assert!(!go[linux][linux], "Linux pair, barrier only");
    assert!(!go_full[linux][linux], "Linux pair, full-TTL first packet: it is the state-leaving packet");
    assert!(low_ttl[linux][linux], "Linux pair, low TTL first");
    // Cones always join; two symmetric NATs with random ports never do.
    for (i, row) in naive.iter().take(3).enumerate() {
        for (j, joined) in row.iter().take(3).enumerate() {
            assert!(joined, "cone pair {i},{j}");
        }
    }
    for s in [naive, go, go_full, low_ttl, reflexive] {
        for (i, j) in
            [(sym, sym), (sym, linux_rand), (linux_rand, sym), (linux_rand, linux_rand), (prc, sym), (sym, prc)]
        {
            assert!(!s[i][j], "{i},{j}: a random port towards the peer and a filtering NAT on the other side");
        }
    }
    // Low TTL joins at least what the simpler strategies do, and peer-reflexive learning at
    // least what low TTL does.
    for i in 0..6 {
        for j in 0..6 {
            assert!(!naive[i][j] || low_ttl[i][j], "low TTL loses {i},{j} to naive");
            assert!(!go[i][j] || low_ttl[i][j], "low TTL loses {i},{j} to the barrier");
            assert!(!low_ttl[i][j] || reflexive[i][j], "peer-reflexive loses {i},{j}");
        }
    }
    // The docs print exactly these tables.
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/architecture.md")).unwrap();
    for (name, t) in [("naive", naive), ("low TTL", low_ttl)] {
        assert!(docs.contains(&markdown(t)), "docs/architecture.md's {name} table is stale; it is:\n{}", markdown(t));
    }
}
