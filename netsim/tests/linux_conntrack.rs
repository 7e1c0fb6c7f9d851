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
    let ports = |config: NatConfig| -> Vec<u16> {
        let mut lab = lab(config);
        let mut out = Vec::new();
        for to in [PEER, OTHER, "203.0.113.1:5001", "203.0.113.2:5001"] {
            let at = if to.starts_with("203.0.113.1") { lab.peer } else { lab.other };
            let _ = at;
            // Each destination its own mapping; the hosts only listen on their first port, so
            // read the port from the NAT's view by sending to the listening sockets in turn.
            if let Some(seen) =
                lab.send(lab.client, to, if to.starts_with("203.0.113.1:5000") { lab.peer } else { lab.other })
            {
                out.push(seen.port());
            }
        }
        out
    };
    let seq = ports(NatConfig::symmetric().with_ports(netsim::PortAllocation::Sequential));
    assert_eq!(seq.len(), 2);
    assert_eq!(seq[1], seq[0] + 1, "sequential: the next mapping takes the next port ({seq:?})");
    let random = ports(NatConfig::symmetric().with_ports(netsim::PortAllocation::Random));
    assert_eq!(random.len(), 2);
    assert_ne!(random[1], random[0] + 1, "random: no pattern to predict ({random:?})");
}
