//! Which pairs of NATs a reference hole puncher joins directly, for every ordered pair of six
//! NAT presets (four ideal RFC 4787 types and two Linux routers) and three strategies. The
//! overlay's puncher will be held to at least this table; `docs/architecture.md` prints it.
//!
//! The scenario: A and B register with an introducer, each from behind its NAT; two routers
//! sit on each NAT's uplink and downlink (the internet between two homes), 20 ms one way
//! from NAT to NAT. The introducer tells A about B at once and B about A 200 ms later, as
//! introductions arrive in practice: one peer starts first. A pair is joined when each peer
//! received a datagram straight from the other within 3 s.
//!
//! - **naive**: on learning the peer, send a punch to its public address every 50 ms.
//! - **low TTL**: first send one punch with TTL 2, which leaves one's own NAT (making the
//!   mapping) and dies at the first router; tell the introducer, which says "go" to both once
//!   both did; then punch as naive (Guha and Francis, IMC 2005).
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
    LowTtl,
    LowTtlReflexive,
}

/// The introducer: learns each peer's public address from its registration, introduces them
/// (B `SKEW` after A), and says "go" once both sent their low-TTL punch.
struct Introducer {
    out: TransmitQueue,
    peers: Vec<SocketAddr>,
    ready: Vec<SocketAddr>,
    later: Option<(Instant, SocketAddr, Vec<u8>)>,
}

impl Machine for Introducer {
    type Event = ();
    fn handle_datagram(&mut self, now: Instant, _: SocketAddr, from: SocketAddr, d: &[u8]) {
        match d {
            b"REG" if !self.peers.contains(&from) => {
                self.peers.push(from);
                if let [first, second] = self.peers[..] {
                    let _ = self.out.push(None, first, format!("PEER {second}").as_bytes());
                    self.later = Some((now + SKEW, second, format!("PEER {first}").into_bytes()));
                }
            }
            b"READY" if !self.ready.contains(&from) => {
                self.ready.push(from);
                if self.ready.len() == 2 {
                    for p in self.peers.clone() {
                        let _ = self.out.push(None, p, b"GO");
                    }
                }
            }
            _ => {}
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if let Some((at, to, msg)) = self.later.take_if(|(at, _, _)| *at <= now) {
            let _ = at;
            let _ = self.out.push(None, to, &msg);
        }
    }
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.later.as_ref().map(|(at, _, _)| *at)
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
    let intro = Introducer { out: TransmitQueue::default(), peers: Vec::new(), ready: Vec::new(), later: None };
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

#[test]
fn the_reference_puncher_joins_what_each_nat_pair_allows() {
    let presets = presets();
    let strategies = [Strategy::Naive, Strategy::LowTtl, Strategy::LowTtlReflexive];
    let mut table = Vec::new();
    for (s, strategy) in strategies.iter().enumerate() {
        let mut rows = Vec::new();
        for (i, (_, na)) in presets.iter().enumerate() {
            let row: Vec<bool> = presets
                .iter()
                .enumerate()
                .map(|(j, (_, nb))| joins(na, nb, *strategy, (s * 100 + i * 10 + j) as u64))
                .collect();
            rows.push(row);
        }
        table.push(rows);
    }
    // Print the table as docs/architecture.md shows it.
    for (s, strategy) in strategies.iter().enumerate() {
        println!("\n{strategy:?} (rows: A, introduced first; columns: B)");
        print!("| A \\ B |");
        presets.iter().for_each(|(n, _)| print!(" {n} |"));
        println!();
        for (i, (n, _)) in presets.iter().enumerate() {
            print!("| {n} |");
            table[s][i].iter().for_each(|&ok| print!(" {} |", if ok { "yes" } else { "—" }));
            println!();
        }
    }
    let [naive, low_ttl, reflexive] = [&table[0], &table[1], &table[2]];
    let (prc, sym, linux, linux_rand) = (2, 3, 4, 5);
    // The point of the Linux presets: ideal port-restricted NATs join naively when one peer
    // starts 200 ms after the other, two Linux routers do not (A's early punch leaves state
    // at B's router that moves B's own mapping), and a low-TTL first packet fixes it.
    assert!(naive[prc][prc], "ideal port-restricted pair, naive");
    assert!(!naive[linux][linux], "Linux pair, naive: the port shift breaks it");
    assert!(low_ttl[linux][linux], "Linux pair, low TTL first");
    // Cones always join; two symmetric NATs with random ports never do.
    for (i, row) in naive.iter().take(3).enumerate() {
        for (j, joined) in row.iter().take(3).enumerate() {
            assert!(joined, "cone pair {i},{j}");
        }
    }
    for s in [naive, low_ttl, reflexive] {
        for (i, j) in
            [(sym, sym), (sym, linux_rand), (linux_rand, sym), (linux_rand, linux_rand), (prc, sym), (sym, prc)]
        {
            assert!(!s[i][j], "{i},{j}: a random port towards the peer and a filtering NAT on the other side");
        }
    }
    // Each strategy joins at least what the simpler one does.
    for i in 0..6 {
        for j in 0..6 {
            assert!(!naive[i][j] || low_ttl[i][j], "low TTL loses {i},{j}");
            assert!(!low_ttl[i][j] || reflexive[i][j], "peer-reflexive loses {i},{j}");
        }
    }
}
