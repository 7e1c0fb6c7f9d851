//! The discovery walk in the simulator: nodes behind NATs find one another through a few
//! public bootstrap nodes, learn their public address by vote, and talk over the LAN when they
//! share a NAT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;

use netsim::{HostId, NatConfig, Sim};
use overlay_core::{Config, Node};
use sansio_core::{Instant, Seed};

mod util;
use util::{COMMUNITY, identity, network, public};

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
    for (h, nat) in net.nodes.iter().zip(&net.nats) {
        if let Some((_, ip)) = nat {
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
