//! The discovery walk in the simulator: nodes behind NATs find one another through a few
//! public bootstrap nodes, learn their public address by vote, and talk over the LAN when they
//! share a NAT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netsim::{HostId, LinkConfig, NatConfig, Sim};
use overlay_core::wire::Community;
use overlay_core::{Config, Node};
use sansio_core::{Instant, Seed};

const COMMUNITY: Community = Community([0x42; 20]);

fn public(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1 + i as u8)), 6421)
}

fn identity(i: usize) -> [u8; 32] {
    let mut seed = [9u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed
}

struct Net {
    sim: Sim,
    nodes: Vec<HostId<Node>>,
    /// Each NAT'd node's NAT public IP.
    public_ip: Vec<Option<IpAddr>>,
}

/// `bootstraps` public nodes, then one node behind its own NAT per entry of `nats`.
fn network(seed: u64, bootstraps: usize, nats: &[NatConfig]) -> Net {
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let boot: Vec<SocketAddr> = (0..bootstraps).map(public).collect();
    let mut nodes = Vec::new();
    let mut public_ip = Vec::new();
    for (i, addr) in boot.iter().enumerate() {
        let others: Vec<SocketAddr> = boot.iter().copied().filter(|a| a != addr).collect();
        let node = Node::new(Config::new(COMMUNITY, *addr, others), identity(i), Seed::from_u64(seed).derive(i as u64))
            .unwrap();
        nodes.push(sim.add_host(net, &[*addr], node));
        public_ip.push(None);
    }
    for (k, nat) in nats.iter().enumerate() {
        let i = bootstraps + k;
        let ip = IpAddr::V4(Ipv4Addr::new(198, 51, (k / 200) as u8, 1 + (k % 200) as u8));
        let (n, home) = sim.add_nat(net, ip, nat.clone());
        let link =
            LinkConfig { delay: Duration::from_millis(10 + (k % 7) as u64 * 5), routers: 2, ..LinkConfig::default() };
        *sim.link_mut(sim.nat_uplink(n)) = link.clone();
        *sim.link_mut(sim.nat_downlink(n)) = link;
        let local: SocketAddr = "192.168.1.2:6421".parse().unwrap();
        let node =
            Node::new(Config::new(COMMUNITY, local, boot.clone()), identity(i), Seed::from_u64(seed).derive(i as u64))
                .unwrap();
        nodes.push(sim.add_host(home, &[local], node));
        public_ip.push(Some(ip));
    }
    Net { sim, nodes, public_ip }
}

#[test]
fn nodes_behind_cone_and_linux_nats_each_discover_twenty_others_within_a_minute() {
    let presets = [
        NatConfig::full_cone(),
        NatConfig::restricted_cone(),
        NatConfig::port_restricted_cone(),
        NatConfig::linux_masquerade(),
    ];
    let nats: Vec<NatConfig> = (0..60).map(|k| presets[k % presets.len()].clone()).collect();
    let mut net = network(1, 3, &nats);
    net.sim.run_until(Instant::from_secs(60)).unwrap();
    let known: Vec<usize> = net.nodes.iter().map(|h| net.sim.machine(*h).peers().count()).collect();
    let fewest = *known.iter().min().unwrap();
    eprintln!("peers known after 60 s: min {fewest}, per node {known:?}");
    assert!(fewest >= 20, "{known:?}");
    // Each NAT'd node learned its public address: its NAT's IP and (port-preserving NATs) its port.
    for (h, ip) in net.nodes.iter().zip(&net.public_ip) {
        if let Some(ip) = ip {
            assert_eq!(net.sim.machine(*h).wan(), Some(SocketAddr::new(*ip, 6421)));
        }
    }
}

#[test]
fn two_nodes_behind_one_nat_talk_over_their_lan_addresses() {
    let mut sim = Sim::new(Seed::from_u64(4));
    let net = sim.internet();
    let boot = public(0);
    let b = sim.add_host(
        net,
        &[boot],
        Node::new(Config::new(COMMUNITY, boot, vec![]), identity(0), Seed::from_u64(1)).unwrap(),
    );
    let (_, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig::port_restricted_cone());
    let lan: [SocketAddr; 2] = ["192.168.1.2:6421".parse().unwrap(), "192.168.1.3:6421".parse().unwrap()];
    let hosts: Vec<HostId<Node>> = lan
        .iter()
        .enumerate()
        .map(|(i, l)| {
            sim.add_host(
                home,
                &[*l],
                Node::new(Config::new(COMMUNITY, *l, vec![boot]), identity(i + 1), Seed::from_u64(10 + i as u64))
                    .unwrap(),
            )
        })
        .collect();
    sim.run_until(Instant::from_secs(30)).unwrap();
    let (n0, n1) = (sim.machine(hosts[0]), sim.machine(hosts[1]));
    let seen = n0.peer(&n1.mid()).expect("the two found each other");
    assert_eq!(seen.address, lan[1], "over the LAN, not through the NAT (which does not hairpin)");
    assert_eq!(n1.peer(&n0.mid()).unwrap().address, lan[0]);
    assert_eq!(sim.machine(b).peers().count(), 2);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let nats: Vec<NatConfig> = (0..10).map(|_| NatConfig::port_restricted_cone()).collect();
    let hash = |seed| {
        let mut net = network(seed, 2, &nats);
        net.sim.run_until(Instant::from_secs(20)).unwrap();
        net.sim.trace_hash()
    };
    assert_eq!(hash(5), hash(5));
    assert_ne!(hash(5), hash(6));
}
