//! Each RFC 4787 NAT behaviour, tested from its definition: which inbound packets pass after
//! which outbound ones, what external port a second destination gets, how ports are chosen.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;

use netsim::addr as a;
use netsim::{Filtering, Mapping, NatConfig, NatId, PortAllocation, Probe, Sim};
use sansio_core::Instant;

/// A client behind one NAT and three public servers: S1 and S2 share an IP (two ports),
/// S3 has another IP.
struct Lab {
    sim: Sim,
    nat: NatId,
    client: netsim::HostId<Probe>,
    servers: [netsim::HostId<Probe>; 3],
}

const CLIENT: &str = "192.168.1.10:4000";
const S1: &str = "203.0.113.1:3478";
const S2: &str = "203.0.113.1:3479";
const S3: &str = "203.0.113.2:3478";
const PUBLIC_IP: &str = "198.51.100.1";

fn lab(config: NatConfig) -> Lab {
    let mut sim = Sim::new(sansio_core::Seed::new([9; 32]));
    let net = sim.internet();
    let s12 = sim.add_host(net, &[a(S1), a(S2)], Probe::new());
    let s3 = sim.add_host(net, &[a(S3)], Probe::new());
    let (nat, home) = sim.add_nat(net, PUBLIC_IP.parse().unwrap(), config);
    let client = sim.add_host(home, &[a(CLIENT)], Probe::new());
    Lab { sim, nat, client, servers: [s12, s12, s3] }
}

impl Lab {
    /// The client sends to `to`; returns the public address the server saw, if it arrived.
    fn out(&mut self, to: &str) -> Option<SocketAddr> {
        let to = a(to);
        let server = self.servers[[S1, S2, S3].iter().position(|s| a(s) == to).unwrap()];
        let before = self.sim.events(server).len();
        self.sim.call(self.client, |p: &mut Probe, _| p.send(to, b"out".to_vec()));
        self.sim.run_for(std::time::Duration::from_millis(1)).unwrap();
        let seen = self.sim.events(server);
        seen.get(before).map(|(_, r)| r.remote)
    }

    /// `from` (a server socket) sends to the client's public address `to`; whether the
    /// client received it.
    fn inbound(&mut self, from: &str, to: SocketAddr) -> bool {
        let from = a(from);
        let server = self.servers[[S1, S2, S3].iter().position(|s| a(s) == from).unwrap()];
        let before = self.sim.events(self.client).len();
        self.sim.call(server, |p: &mut Probe, _| p.send_from(from, to, b"in".to_vec()));
        self.sim.run_for(std::time::Duration::from_millis(1)).unwrap();
        self.sim.events(self.client).len() > before
    }
}

#[test]
fn endpoint_independent_mapping_reuses_the_port_for_every_destination() {
    let mut l = lab(NatConfig::full_cone());
    let m1 = l.out(S1).unwrap();
    assert_eq!(m1, a("198.51.100.1:4000"), "port preserved");
    assert_eq!(l.out(S2), Some(m1));
    assert_eq!(l.out(S3), Some(m1));
}

#[test]
fn address_dependent_mapping_changes_port_only_for_a_new_ip() {
    let config = NatConfig { mapping: Mapping::AddressDependent, ..NatConfig::full_cone() };
    let mut l = lab(config);
    let m1 = l.out(S1).unwrap();
    assert_eq!(l.out(S2), Some(m1), "same IP, other port: same mapping");
    let m3 = l.out(S3).unwrap();
    assert_ne!(m3.port(), m1.port(), "other IP: new mapping");
}

#[test]
fn address_and_port_dependent_mapping_changes_port_for_every_destination() {
    let mut l = lab(NatConfig::symmetric());
    let m1 = l.out(S1).unwrap();
    let m2 = l.out(S2).unwrap();
    let m3 = l.out(S3).unwrap();
    assert!(m1.port() != m2.port() && m2.port() != m3.port() && m1.port() != m3.port());
    assert_eq!(l.out(S1), Some(m1), "the same destination keeps its mapping");
}

#[test]
fn endpoint_independent_filtering_lets_anyone_reach_an_open_mapping() {
    let mut l = lab(NatConfig::full_cone());
    assert!(!l.inbound(S3, a("198.51.100.1:4000")), "no mapping yet: dropped");
    let m = l.out(S1).unwrap();
    assert!(l.inbound(S2, m));
    assert!(l.inbound(S3, m));
    assert_eq!(l.sim.nat_stats(l.nat).dropped_no_mapping, 1);
}

#[test]
fn address_dependent_filtering_admits_any_port_of_a_contacted_ip_only() {
    let mut l = lab(NatConfig::restricted_cone());
    let m = l.out(S1).unwrap();
    assert!(l.inbound(S1, m));
    assert!(l.inbound(S2, m), "same IP as S1, another port");
    assert!(!l.inbound(S3, m), "never contacted");
    assert_eq!(l.sim.nat_stats(l.nat).dropped_filtered, 1);
    l.out(S3).unwrap();
    assert!(l.inbound(S3, m), "contacted now");
}

#[test]
fn address_and_port_dependent_filtering_admits_only_contacted_endpoints() {
    let mut l = lab(NatConfig::port_restricted_cone());
    let m = l.out(S1).unwrap();
    assert!(l.inbound(S1, m));
    assert!(!l.inbound(S2, m), "same IP, port never contacted");
    assert!(!l.inbound(S3, m));
}

#[test]
fn a_taken_port_is_not_preserved_and_sequential_allocation_counts_up() {
    let mut sim = Sim::new(sansio_core::Seed::new([1; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a(S1)], Probe::new());
    let config =
        NatConfig { port_allocation: PortAllocation::Sequential, port_range_start: 20_000, ..NatConfig::full_cone() };
    let (_, home) = sim.add_nat(net, PUBLIC_IP.parse().unwrap(), config);
    // Two hosts using the same internal port: the second cannot keep it.
    let h1 = sim.add_host(home, &[a("192.168.1.2:30000")], Probe::new());
    let h2 = sim.add_host(home, &[a("192.168.1.3:30000")], Probe::new());
    let h3 = sim.add_host(home, &[a("192.168.1.4:30000")], Probe::new());
    for h in [h1, h2, h3] {
        sim.call(h, |p: &mut Probe, _| p.send(a(S1), vec![1]));
    }
    sim.run_until(Instant::from_millis(1)).unwrap();
    let ports: Vec<u16> = sim.events(server).iter().map(|(_, r)| r.remote.port()).collect();
    assert_eq!(ports, vec![30000, 20000, 20001]);
}

#[test]
fn random_allocation_spreads_ports_and_stays_in_range() {
    let mut l = lab(NatConfig { port_range_start: 40_000, ..NatConfig::symmetric() });
    let ports: Vec<u16> = [S1, S2, S3].iter().map(|s| l.out(s).unwrap().port()).collect();
    assert!(ports.iter().all(|p| *p >= 40_000));
    assert!(ports.windows(2).all(|w| w[0].abs_diff(w[1]) != 1), "not sequential: {ports:?}");
}

#[test]
fn filtering_presets_name_the_classic_types() {
    let cases = [
        (NatConfig::full_cone(), Mapping::EndpointIndependent, Filtering::EndpointIndependent),
        (NatConfig::restricted_cone(), Mapping::EndpointIndependent, Filtering::AddressDependent),
        (NatConfig::port_restricted_cone(), Mapping::EndpointIndependent, Filtering::AddressAndPortDependent),
        (NatConfig::symmetric(), Mapping::AddressAndPortDependent, Filtering::AddressAndPortDependent),
    ];
    for (c, m, f) in cases {
        assert_eq!((c.mapping, c.filtering), (m, f));
    }
}
