//! Figures of the overlay's discovery walk, printed as `figure NAME VALUE UNIT`, from a
//! simulated network (virtual time, deterministic): 60 nodes behind full-cone, restricted,
//! port-restricted and Linux NATs (two routers and 10–40 ms on each side) and 3 public
//! bootstrap nodes, all started at once.
//!
//! - `overlay_discovery_s_p50`, `_p99`: virtual seconds until a node knows 20 peers;
//! - `overlay_bytes_per_node_per_s`: what one node sends per second, walk and answers, from
//!   60 s to 120 s (when discovery is done: maintenance traffic);
//! - `overlay_memory_per_known_peer_bytes`: heap bytes a node holds per known peer, counted
//!   by the allocator over 1,000 peers introducing themselves.
//!
//! `cargo test --benches` runs it for 30 s of virtual time instead of 120.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]
// A counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to the system one.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes a node holds per peer: 1,000 peers each send it a signed introduction request.
fn memory_per_peer() -> f64 {
    use overlay_core::PeerKey;
    use overlay_core::wire::{self, IntroductionRequest, Message, Payload, Signer, Style};
    use sansio_core::Machine;
    let community = Community([1; 20]);
    let local: SocketAddr = "192.0.2.1:6421".parse().unwrap();
    let mut config = Config::new(community, local, vec![]);
    config.max_peers = 2_000;
    let mut node = Node::new(config, [5; 32], Seed::from_u64(1)).unwrap();
    let requests: Vec<(SocketAddr, Vec<u8>)> = (0..1_000u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let id = sync_core::Identity::from_seed(seed).unwrap();
            let key = PeerKey::from_ed25519(&id.public()).unwrap();
            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 6421);
            let msg = Message {
                community,
                style: Style::New,
                global_time: 1,
                sender: None,
                payload: Payload::IntroductionRequest(IntroductionRequest {
                    destination: local,
                    source_lan: from,
                    source_wan: from,
                    flags: 0,
                    identifier: 1,
                    extra: vec![],
                }),
            };
            (from, wire::encode(&msg, Some(Signer { identity: &id, key: &key })).unwrap())
        })
        .collect();
    let mut buf = vec![0u8; 2048];
    let before = LIVE.load(Ordering::Relaxed);
    for (from, bytes) in &requests {
        node.handle_datagram(Instant::ZERO, local, *from, bytes);
        while node.poll_transmit(Instant::ZERO, &mut buf).is_some() {}
        while node.poll_event().is_some() {}
    }
    assert_eq!(node.peers().count(), 1_000);
    (LIVE.load(Ordering::Relaxed) - before) as f64 / 1_000.0
}

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netsim::{HostId, LinkConfig, NatConfig, Sim};
use overlay_core::wire::Community;
use overlay_core::{Config, Node};
use sansio_core::{Instant, Seed};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let horizon = if full { 120 } else { 30 };
    let mut sim = Sim::new(Seed::from_u64(1));
    let net = sim.internet();
    let community = Community([0x42; 20]);
    let boot: Vec<SocketAddr> =
        (0..3).map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1 + i)), 6421)).collect();
    let seed_of = |i: usize| {
        let mut s = [9u8; 32];
        s[..8].copy_from_slice(&(i as u64).to_le_bytes());
        s
    };
    let mut hosts: Vec<HostId<Node>> = Vec::new();
    for (i, a) in boot.iter().enumerate() {
        let others = boot.iter().copied().filter(|b| b != a).collect();
        hosts.push(sim.add_host(
            net,
            &[*a],
            Node::new(Config::new(community, *a, others), seed_of(i), Seed::from_u64(i as u64)).unwrap(),
        ));
    }
    let presets = [
        NatConfig::full_cone(),
        NatConfig::restricted_cone(),
        NatConfig::port_restricted_cone(),
        NatConfig::linux_masquerade(),
    ];
    let mut uplinks = Vec::new();
    for k in 0..60usize {
        let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 0, 1 + k as u8));
        let (n, home) = sim.add_nat(net, ip, presets[k % 4].clone());
        let link =
            LinkConfig { delay: Duration::from_millis(10 + (k % 7) as u64 * 5), routers: 2, ..LinkConfig::default() };
        *sim.link_mut(sim.nat_uplink(n)) = link.clone();
        *sim.link_mut(sim.nat_downlink(n)) = link;
        let local: SocketAddr = "192.168.1.2:6421".parse().unwrap();
        let h = sim.add_host(
            home,
            &[local],
            Node::new(Config::new(community, local, boot.clone()), seed_of(3 + k), Seed::from_u64(3 + k as u64))
                .unwrap(),
        );
        uplinks.push(sim.host_uplink(h));
        hosts.push(h);
    }
    // Discovery: the first second at which each node knows 20 peers.
    let mut reached: Vec<Option<u64>> = vec![None; hosts.len()];
    let mut sent_at_60 = 0u64;
    for t in 1..=horizon {
        sim.run_until(Instant::from_secs(t)).unwrap();
        for (i, h) in hosts.iter().enumerate() {
            if reached[i].is_none() && sim.machine(*h).peers().count() >= 20 {
                reached[i] = Some(t);
            }
        }
        if t == horizon / 2 {
            sent_at_60 = uplinks.iter().map(|l| sim.link_stats(*l).delivered_bytes).sum();
        }
    }
    let mut times: Vec<u64> = reached.iter().map(|r| r.unwrap_or(u64::MAX)).collect();
    times.sort_unstable();
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!("figure overlay_discovery_s_p50 {} s", q(0.5));
    println!("figure overlay_discovery_s_p99 {} s", q(0.99));
    let sent: u64 = uplinks.iter().map(|l| sim.link_stats(*l).delivered_bytes).sum::<u64>() - sent_at_60;
    let per = sent as f64 / uplinks.len() as f64 / (horizon - horizon / 2) as f64;
    println!("figure overlay_bytes_per_node_per_s {per:.0} B/s");
    let known: usize = hosts.iter().map(|h| sim.machine(*h).peers().count()).sum();
    println!("figure overlay_memory_per_known_peer_bytes {:.0} bytes", memory_per_peer());
    println!("figure overlay_known_peers_mean {:.1} peers", known as f64 / hosts.len() as f64);
}
