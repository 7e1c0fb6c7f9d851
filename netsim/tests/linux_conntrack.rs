//! Linux conntrack's inbound state: an unsolicited packet to a masquerading router leaves an
//! unreplied entry, and the router then maps the inside host's own packet to that remote from
//! another port (reference stun.md §4.5). Ideal RFC 4787 NATs do not.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::addr as a;
use netsim::{NatConfig, Probe, Sim};
use sansio_core::Seed;

const CLIENT: &str = "192.168.1.10:4000";
const PUBLIC: &str = "198.51.100.1:4000";
const PEER: &str = "203.0.113.1:5000";
const OTHER: &str = "203.0.113.2:5000";

struct Lab {
    sim: Sim,
    nat: netsim::NatId,
    client: netsim::HostId<Probe>,
    peer: netsim::HostId<Probe>,
    other: netsim::HostId<Probe>,
}

fn lab(config: NatConfig) -> Lab {
    let mut sim = Sim::new(Seed::from_u64(3));
    let net = sim.internet();
    let peer = sim.add_host(net, &[a(PEER)], Probe::new());
    let other = sim.add_host(net, &[a(OTHER)], Probe::new());
    let (nat, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), config);
    let client = sim.add_host(home, &[a(CLIENT)], Probe::new());
    Lab { sim, nat, client, peer, other }
}

impl Lab {
    /// `from` sends to `to`; the source address the receiving host saw, if it arrived.
    fn send(&mut self, from: netsim::HostId<Probe>, to: &str, at: netsim::HostId<Probe>) -> Option<SocketAddr> {
        let before = self.sim.events(at).len();
        let to = a(to);
        self.sim.call(from, move |p: &mut Probe, _| p.send(to, b"x".to_vec()));
        self.sim.run_for(Duration::from_millis(5)).unwrap();
        self.sim.events(at).get(before).map(|(_, r)| r.remote)
    }
}

#[test]
fn an_unsolicited_packet_moves_the_next_mapping_to_its_sender() {
    let mut lab = lab(NatConfig::linux_masquerade());
    assert_eq!(lab.send(lab.peer, PUBLIC, lab.client), None, "unsolicited: dropped");
    assert_eq!(lab.sim.nat_stats(lab.nat).inbound_states, 1);
    let seen_by_peer = lab.send(lab.client, PEER, lab.peer).unwrap();
    assert_ne!(seen_by_peer.port(), 4000, "the reversed tuple is taken: another port");
    // Flows to anyone else keep the preserved port.
    assert_eq!(lab.send(lab.client, OTHER, lab.other).unwrap(), a(PUBLIC));
    // The peer reaches the client on the moved port, and still not on the old one.
    assert!(lab.send(lab.peer, &seen_by_peer.to_string(), lab.client).is_some());
    assert_eq!(lab.send(lab.peer, PUBLIC, lab.client), None);
    assert_eq!(lab.sim.nat_stats(lab.nat).ports_moved_by_inbound_state, 1);
}

#[test]
fn the_same_sequence_through_an_ideal_port_restricted_nat_keeps_the_port() {
    let mut lab = lab(NatConfig::port_restricted_cone());
    assert_eq!(lab.send(lab.peer, PUBLIC, lab.client), None);
    assert_eq!(lab.send(lab.client, PEER, lab.peer).unwrap(), a(PUBLIC));
    assert!(lab.send(lab.peer, PUBLIC, lab.client).is_some(), "now a reply");
}

#[test]
fn the_inbound_state_ends_with_the_unreplied_timeout() {
    let mut lab = lab(NatConfig::linux_masquerade().with_timeout(Duration::from_secs(5)));
    assert_eq!(lab.send(lab.peer, PUBLIC, lab.client), None);
    lab.sim.run_for(Duration::from_secs(6)).unwrap();
    assert_eq!(lab.send(lab.client, PEER, lab.peer).unwrap(), a(PUBLIC));
}

#[test]
fn an_established_flow_is_not_moved() {
    let mut lab = lab(NatConfig::linux_masquerade());
    assert_eq!(lab.send(lab.client, PEER, lab.peer).unwrap(), a(PUBLIC));
    assert!(lab.send(lab.peer, PUBLIC, lab.client).is_some(), "a reply, no inbound state");
    assert_eq!(lab.sim.nat_stats(lab.nat).inbound_states, 0);
    assert_eq!(lab.send(lab.client, PEER, lab.peer).unwrap(), a(PUBLIC));
}

#[test]
fn a_symmetric_nat_with_sequential_ports_is_predictable_and_with_random_ports_is_not() {
    // Eight destinations, each a socket of the peer host: a symmetric NAT maps each flow anew.
    let ports = |config: NatConfig| -> Vec<u16> {
        let mut sim = Sim::new(Seed::from_u64(3));
        let net = sim.internet();
        let sockets: Vec<SocketAddr> = (0..8).map(|i| a(&format!("203.0.113.1:{}", 5000 + i))).collect();
        let peer = sim.add_host(net, &sockets, Probe::new());
        let (_, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), config);
        let client = sim.add_host(home, &[a(CLIENT)], Probe::new());
        for to in &sockets {
            let to = *to;
            sim.call(client, move |p: &mut Probe, _| p.send(to, b"x".to_vec()));
            sim.run_for(Duration::from_millis(5)).unwrap();
        }
        sim.events(peer).iter().map(|(_, r)| r.remote.port()).collect()
    };
    let seq = ports(NatConfig::symmetric().with_ports(netsim::PortAllocation::Sequential));
    assert_eq!(seq.len(), 8);
    assert!(seq.windows(2).all(|w| w[1] == w[0] + 1), "sequential: each next port is predictable ({seq:?})");
    let random = ports(NatConfig::symmetric().with_ports(netsim::PortAllocation::Random));
    assert_eq!(random.len(), 8);
    let steps: std::collections::BTreeSet<i32> = random.windows(2).map(|w| i32::from(w[1]) - i32::from(w[0])).collect();
    assert!(steps.len() >= 6, "random: no step repeats enough to predict ({random:?})");
}

#[test]
fn a_moved_flow_skips_every_port_whose_reversed_tuple_is_held() {
    // A port predictor sprays the next ports of a sequential symmetric Linux NAT: conntrack
    // refuses each of them for the flow to the predictor, so the flow lands past them all.
    let mut lab = lab(NatConfig {
        linux_conntrack: true,
        ..NatConfig::symmetric().with_ports(netsim::PortAllocation::Sequential)
    });
    // A first flow to OTHER shows where the allocator stands.
    let first = lab.send(lab.client, OTHER, lab.other).unwrap().port();
    for p in first + 1..=first + 3 {
        assert_eq!(lab.send(lab.peer, &format!("198.51.100.1:{p}"), lab.client), None);
    }
    let seen = lab.send(lab.client, PEER, lab.peer).unwrap().port();
    assert!(seen > first + 3, "the flow to the sprayer skipped {}..={} (got {seen})", first + 1, first + 3);
}
