//! Headline figures of the simulator, printed as `figure NAME VALUE UNIT`.
//!
//! - `netsim_deliveries_per_sec`: packet deliveries per wall-clock second, 10,000 hosts
//!   (100 public echo servers, 9,900 clients: public or behind full-cone, restricted,
//!   port-restricted or symmetric NATs) exchanging 32-byte datagrams; the median of 5 runs of
//!   10 s of virtual time, so one run slowed by a neighbour on a shared machine does not set
//!   it. Goal: >= 2,000,000.
//! - `netsim_bytes_per_host`: resident memory per idle host with its own NAT box and one live
//!   mapping, measured over 100,000 such hosts. Goal: 100,000 hosts in 2 GiB (<= 21,474).
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use netsim::{LinkConfig, NatConfig, Sim};
use sansio_core::{Instant, Machine, Transmit};

/// Sends a 32-byte datagram to the next server every `interval`.
struct Chatter {
    servers: Arc<[SocketAddr]>,
    next: Instant,
    interval: Duration,
    turn: usize,
    due: bool,
    received: u64,
}

impl Machine for Chatter {
    type Event = ();
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {
        self.received += 1;
    }
    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next {
            self.due = true;
            self.next += self.interval;
        }
    }
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.due {
            return None;
        }
        self.due = false;
        self.turn += 1;
        buf[..32].fill(7);
        Some(Transmit { destination: self.servers[self.turn % self.servers.len()], source: None, len: 32 })
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(self.next)
    }
}

/// Answers every datagram, from the address it arrived on.
#[derive(Default)]
struct Echo {
    queue: Vec<(SocketAddr, SocketAddr, usize)>,
}

impl Machine for Echo {
    type Event = ();
    fn handle_datagram(&mut self, _: Instant, local: SocketAddr, remote: SocketAddr, d: &[u8]) {
        self.queue.push((local, remote, d.len()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (local, remote, len) = self.queue.pop()?;
        buf[..len].fill(9);
        Some(Transmit { destination: remote, source: Some(local), len })
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn nat_for(i: usize) -> Option<NatConfig> {
    match i % 5 {
        0 => None,
        1 => Some(NatConfig::full_cone()),
        2 => Some(NatConfig::restricted_cone()),
        3 => Some(NatConfig::port_restricted_cone()),
        _ => Some(NatConfig::symmetric()),
    }
}

/// 10,000 hosts; returns deliveries and wall-clock seconds for `virtual_secs` of traffic.
fn deliveries_run(virtual_secs: u64) -> (u64, f64) {
    let mut sim = Sim::new(sansio_core::Seed::new([42; 32]));
    let net = sim.internet();
    let servers: Arc<[SocketAddr]> = (0..100u8).map(|i| SocketAddr::new(ip(203, 0, 113, i + 1), 3478)).collect();
    let link =
        LinkConfig { delay: Duration::from_millis(10), jitter: Duration::from_millis(2), ..LinkConfig::default() };
    for s in servers.iter() {
        let h = sim.add_host(net, &[*s], Echo::default());
        sim.set_event_log(h, false);
    }
    for i in 0..std::env::var("NETSIM_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(9_900usize) {
        let n = u32::try_from(i).unwrap();
        let public = ip(
            100,
            u8::try_from(n >> 16).unwrap() + 1,
            u8::try_from((n >> 8) & 255).unwrap(),
            u8::try_from(n & 255).unwrap(),
        );
        let chatter = Chatter {
            servers: servers.clone(),
            // Spread the first sends over the first interval.
            next: Instant::from_micros(u64::from(n) * 10),
            interval: Duration::from_millis(100),
            turn: i,
            due: false,
            received: 0,
        };
        let h = match nat_for(i) {
            None => sim.add_host(net, &[SocketAddr::new(public, 5000)], chatter),
            Some(config) => {
                let (nat, home) = sim.add_nat(net, public, config);
                *sim.link_mut(sim.nat_uplink(nat)) = link.clone();
                sim.add_host(home, &[SocketAddr::new(ip(192, 168, 0, 2), 5000)], chatter)
            }
        };
        sim.set_event_log(h, false);
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
    }
    let before = sim.stats().deliveries;
    let started = std::time::Instant::now();
    sim.run_until(Instant::from_secs(virtual_secs)).unwrap();
    (sim.stats().deliveries - before, started.elapsed().as_secs_f64())
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Resident bytes per idle host, each behind its own NAT with one live mapping.
fn bytes_per_host(hosts: u32) -> f64 {
    let before = resident_bytes();
    let mut sim = Sim::new(sansio_core::Seed::new([7; 32]));
    let net = sim.internet();
    let server = SocketAddr::new(ip(203, 0, 113, 1), 3478);
    let s = sim.add_host(net, &[server], Echo::default());
    sim.set_event_log(s, false);
    for n in 0..hosts {
        let public = ip(
            100,
            u8::try_from(n >> 16).unwrap() + 1,
            u8::try_from((n >> 8) & 255).unwrap(),
            u8::try_from(n & 255).unwrap(),
        );
        let (_, home) = sim.add_nat(net, public, NatConfig::port_restricted_cone());
        let chatter = Chatter {
            servers: Arc::from([server]),
            next: Instant::from_micros(u64::from(n)),
            interval: Duration::from_secs(1_000_000),
            turn: 0,
            due: false,
            received: 0,
        };
        let h = sim.add_host(home, &[SocketAddr::new(ip(192, 168, 0, 2), 5000)], chatter);
        sim.set_event_log(h, false);
    }
    // Each host sends once (opening its NAT mapping) and is then idle.
    sim.run_until(Instant::from_secs(1)).unwrap();
    let after = resident_bytes();
    let per_host = (after.saturating_sub(before)) as f64 / f64::from(hosts);
    drop(sim);
    per_host
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: then run small.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (runs, secs) = if quick { (1, 1) } else { (5, 10) };
    let rates: Vec<f64> = (0..runs)
        .map(|_| {
            let (deliveries, wall) = deliveries_run(secs);
            deliveries as f64 / wall
        })
        .collect();
    println!("figure netsim_deliveries_per_sec {:.0} per_s", median(rates));
    let hosts = if quick { 10_000 } else { 100_000 };
    println!("figure netsim_bytes_per_host {:.0} bytes", bytes_per_host(hosts));
}
