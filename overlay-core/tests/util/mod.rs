//! A simulated internet of overlay nodes for the integration tests: public bootstrap nodes,
//! and nodes each behind its own NAT, two routers and 10–40 ms away.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test uses part; a panic is a failed test

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netsim::{HostId, LinkConfig, NatConfig, NatId, Sim};
use overlay_core::wire::Community;
use overlay_core::{Config, Node};
use sansio_core::{Instant, Seed};

pub(crate) const COMMUNITY: Community = Community([0x42; 20]);

/// The `i`th public bootstrap address.
pub(crate) fn public(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1 + i as u8)), 6421)
}

/// Node `i`'s identity seed.
pub(crate) fn identity(i: usize) -> [u8; 32] {
    let mut seed = [9u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed
}

/// A flood of strangers: `count` bare P2TP endpoints, each at its own address (198.18.0.1 on),
/// each opening a stream to `target` (and never saying hello), `gap` apart from `start`.
pub(crate) fn stranger_flood(sim: &mut Sim, count: u32, start: Instant, gap: Duration, target: SocketAddr) {
    let net = sim.internet();
    for i in 0..count {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0xC612_0001 + i)), 4000);
        let endpoint = p2tp_core::Endpoint::new(p2tp_core::Config::new(addr), Seed::from_u64(1000 + u64::from(i)));
        let h = sim.add_host(net, &[addr], endpoint);
        sim.set_event_log(h, false);
        sim.call_at(start + gap * i, h, move |e, now| {
            let _ = e.connect(now, target);
        });
    }
}

pub(crate) struct Net {
    pub(crate) sim: Sim,
    pub(crate) nodes: Vec<HostId<Node>>,
    /// Each NAT'd node's NAT and its public IP.
    pub(crate) nats: Vec<Option<(NatId, IpAddr)>>,
}

impl Net {
    pub(crate) fn node(&self, i: usize) -> &Node {
        self.sim.machine(self.nodes[i])
    }
}

/// `bootstraps` public nodes, then one node behind its own NAT per entry of `nats`; `tune`
/// adjusts every node's configuration.
pub(crate) fn network_with(seed: u64, bootstraps: usize, nats: &[NatConfig], tune: impl Fn(&mut Config)) -> Net {
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let boot: Vec<SocketAddr> = (0..bootstraps).map(public).collect();
    let mut nodes = Vec::new();
    let mut nat_ids = Vec::new();
    for (i, addr) in boot.iter().enumerate() {
        let others: Vec<SocketAddr> = boot.iter().copied().filter(|a| a != addr).collect();
        let mut config = Config::new(COMMUNITY, *addr, others);
        tune(&mut config);
        let node = Node::new(config, identity(i), Seed::from_u64(seed).derive(i as u64)).unwrap();
        nodes.push(sim.add_host(net, &[*addr], node));
        nat_ids.push(None);
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
        let mut config = Config::new(COMMUNITY, local, boot.clone());
        tune(&mut config);
        let node = Node::new(config, identity(i), Seed::from_u64(seed).derive(i as u64)).unwrap();
        nodes.push(sim.add_host(home, &[local], node));
        nat_ids.push(Some((n, ip)));
    }
    Net { sim, nodes, nats: nat_ids }
}

pub(crate) fn network(seed: u64, bootstraps: usize, nats: &[NatConfig]) -> Net {
    network_with(seed, bootstraps, nats, |_| {})
}

/// Runs until `until` of virtual time.
pub(crate) fn run_until(net: &mut Net, secs: u64) {
    net.sim.run_until(Instant::from_secs(secs)).unwrap();
}
