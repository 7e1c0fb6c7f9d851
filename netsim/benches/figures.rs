//! Headline figures of the simulator, printed as `figure NAME VALUE UNIT`.
//!
//! - `netsim_deliveries_per_sec`: packet deliveries per wall-clock second, 10,000 hosts
//!   (100 public echo servers, 9,900 clients: public or behind full-cone, restricted,
//!   port-restricted or symmetric NATs) exchanging 32-byte datagrams; the median of 5 runs of
//!   10 s of virtual time, so one run slowed by a neighbour on a shared machine does not set
//!   it. Goal: >= 2,000,000.
//! - `netsim_bytes_per_host`: resident memory per idle host with its own NAT box and one live
//!   mapping, measured over 100,000 such hosts. Goal: 100,000 hosts in 2 GiB (<= 21,474).
//!
//! Then against turmoil (0.7, tokio's deterministic simulator), on one echo workload run in
//! both, in the same run (see [`EchoLoad`], [`netsim_echo`] and [`turmoil_echo`]): 100 echo
//! servers and 1,000 clients, each client sending a 32-byte datagram to the next server
//! (round robin) every virtual millisecond, every datagram 1 ms one way; deliveries are the
//! datagrams received by servers and clients, per wall-clock second, counted once the
//! echoes flow (after 2 virtual ms):
//!
//! - `netsim_echo_deliveries_per_sec`, `turmoil_deliveries_per_sec`: each simulator's rate;
//! - `netsim_vs_turmoil_deliveries_ratio`: netsim / turmoil (higher is better);
//! - `turmoil_110_hosts_deliveries_per_sec`, `netsim_vs_turmoil_110_hosts_deliveries_ratio`:
//!   the same with 10 servers and 100 clients, where turmoil is far less slowed by its size.
//!
//! Turmoil keeps a link for every pair of hosts, and every tick scans all of them once per
//! host (to deliver that host's datagrams): per virtual millisecond its cost grows with the
//! cube of the host count, about 5.5 s of wall clock at 1,100 hosts on the 2-core machine
//! this was written on. So turmoil's window there is 5 virtual ms (10,000 deliveries, the
//! same per millisecond as netsim's steady state; the run adds about 45 s), netsim's 1 s;
//! both are steady-state rates. At 110 hosts turmoil's window is 500 ms, netsim's 1 s.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
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
        Some(Transmit { destination: self.servers[self.turn % self.servers.len()], source: None, len: 32, ttl: None })
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
        Some(Transmit { destination: remote, source: Some(local), len, ttl: None })
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

/// Client `n`'s public address: 100.(n₂+1).n₁.n₀, one per client up to 255 · 2^16.
fn client_ip(n: u32) -> IpAddr {
    let [_, _, mid, lo] = n.to_be_bytes();
    ip(100, u8::try_from(n >> 16).unwrap() + 1, mid, lo)
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
        let public = client_ip(n);
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
        let public = client_ip(n);
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

/// The echo workload of the turmoil comparison: `servers` echo servers and `clients`
/// clients, each client sending a 32-byte datagram to the next server (round robin) every
/// virtual millisecond, every datagram 1 ms one way. Deliveries are counted over `measured`
/// virtual milliseconds after `warmup` (the first echoes are back after 2 ms).
#[derive(Clone, Copy)]
struct EchoLoad {
    servers: u8,
    clients: u32,
    warmup_ms: u64,
    measured_ms: u64,
}

const CLIENT_PORT: u16 = 5000;
const SERVER_PORT: u16 = 3478;

/// The netsim side: public hosts whose uplinks are ideal links of 1 ms (a datagram crosses
/// its sender's uplink, then the receiver's ideal downlink: 1 ms one way). Returns the
/// datagrams handed to servers and clients in the measured window, and its wall-clock
/// seconds.
fn netsim_echo(load: EchoLoad) -> (u64, f64) {
    let mut sim = Sim::new(sansio_core::Seed::new([42; 32]));
    let net = sim.internet();
    let servers: Arc<[SocketAddr]> =
        (0..load.servers).map(|i| SocketAddr::new(ip(203, 0, 113, i + 1), SERVER_PORT)).collect();
    let link = LinkConfig::with_delay(Duration::from_millis(1));
    for s in servers.iter() {
        let h = sim.add_host(net, &[*s], Echo::default());
        sim.set_event_log(h, false);
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
    }
    for n in 0..load.clients {
        let public = client_ip(n);
        let chatter = Chatter {
            servers: servers.clone(),
            // Spread the first sends over the first millisecond.
            next: Instant::from_micros(u64::from(n % 1_000)),
            interval: Duration::from_millis(1),
            turn: n as usize,
            due: false,
            received: 0,
        };
        let h = sim.add_host(net, &[SocketAddr::new(public, CLIENT_PORT)], chatter);
        sim.set_event_log(h, false);
        *sim.link_mut(sim.host_uplink(h)) = link.clone();
    }
    sim.run_until(Instant::from_millis(load.warmup_ms)).unwrap();
    let before = sim.stats().deliveries;
    let started = std::time::Instant::now();
    sim.run_until(Instant::from_millis(load.warmup_ms + load.measured_ms)).unwrap();
    (sim.stats().deliveries - before, started.elapsed().as_secs_f64())
}

/// The turmoil side: one turmoil host per server and per client (turmoil runs each on a
/// paused tokio runtime of its own) with a `turmoil::net::UdpSocket`, and `Sim::step`
/// moving virtual time on by its default tick of 1 ms. Turmoil's default latency is not
/// 1 ms (it draws each datagram's from 0–100 ms, exponentially, mean about 20 ms), so the
/// builder pins it to 1 ms, as netsim's links. Servers answer each datagram as it arrives;
/// clients send on a 1 ms `tokio::time::interval` and count echoes as they arrive. Returns
/// the datagrams received by servers and clients in the measured window, and its wall-clock
/// seconds.
fn turmoil_echo(load: EchoLoad) -> (u64, f64) {
    let delivered = Rc::new(Cell::new(0u64));
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .simulation_duration(Duration::from_millis(load.warmup_ms + load.measured_ms + 1_000))
        .epoch(std::time::UNIX_EPOCH)
        .rng_seed(42)
        .build();
    for i in 0..load.servers {
        let delivered = delivered.clone();
        sim.host(format!("server{i}"), move || {
            let delivered = delivered.clone();
            async move {
                let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, SERVER_PORT)).await?;
                let mut buf = [0u8; 64];
                loop {
                    let (len, from) = socket.recv_from(&mut buf).await?;
                    delivered.set(delivered.get() + 1);
                    buf[..len].fill(9);
                    socket.send_to(&buf[..len], from).await?;
                }
            }
        });
    }
    let servers: Rc<[SocketAddr]> =
        (0..load.servers).map(|i| SocketAddr::new(sim.lookup(format!("server{i}")), SERVER_PORT)).collect();
    for n in 0..load.clients {
        let (delivered, servers) = (delivered.clone(), servers.clone());
        sim.host(format!("client{n}"), move || {
            let (delivered, servers) = (delivered.clone(), servers.clone());
            async move {
                let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).await?;
                let mut every = tokio::time::interval(Duration::from_millis(1));
                let mut turn = n as usize;
                let mut buf = [0u8; 64];
                loop {
                    tokio::select! {
                        _ = every.tick() => {
                            turn += 1;
                            socket.send_to(&[7u8; 32], servers[turn % servers.len()]).await?;
                        }
                        received = socket.recv_from(&mut buf) => {
                            received?;
                            delivered.set(delivered.get() + 1);
                        }
                    }
                }
            }
        });
    }
    for _ in 0..load.warmup_ms {
        sim.step().unwrap();
    }
    let before = delivered.get();
    let started = std::time::Instant::now();
    for _ in 0..load.measured_ms {
        sim.step().unwrap();
    }
    (delivered.get() - before, started.elapsed().as_secs_f64())
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

    // Deliveries per wall-clock second, netsim's and turmoil's, on one load.
    let rates = |ours: EchoLoad, theirs: EchoLoad| {
        let (deliveries, wall) = netsim_echo(ours);
        let ours = deliveries as f64 / wall;
        let (deliveries, wall) = turmoil_echo(theirs);
        (ours, deliveries as f64 / wall)
    };
    let (ours, theirs) = if quick {
        let load = EchoLoad { servers: 10, clients: 50, warmup_ms: 2, measured_ms: 100 };
        rates(load, load)
    } else {
        // 1,100 hosts: turmoil takes seconds per virtual millisecond (see the top of the file).
        let load = EchoLoad { servers: 100, clients: 1_000, warmup_ms: 2, measured_ms: 1_000 };
        rates(load, EchoLoad { measured_ms: 5, ..load })
    };
    println!("figure netsim_echo_deliveries_per_sec {ours:.0} 1/s");
    println!("figure turmoil_deliveries_per_sec {theirs:.0} 1/s");
    println!("figure netsim_vs_turmoil_deliveries_ratio {:.1} ratio", ours / theirs);
    if !quick {
        let load = EchoLoad { servers: 10, clients: 100, warmup_ms: 2, measured_ms: 1_000 };
        let (ours, theirs) = rates(load, EchoLoad { measured_ms: 500, ..load });
        println!("figure turmoil_110_hosts_deliveries_per_sec {theirs:.0} 1/s");
        println!("figure netsim_vs_turmoil_110_hosts_deliveries_ratio {:.1} ratio", ours / theirs);
    }
}
