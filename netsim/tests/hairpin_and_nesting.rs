//! Hairpinning on and off, and NATs nested behind a carrier-grade NAT.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use netsim::addr as a;
use netsim::{NatConfig, Probe, Sim};
use sansio_core::Instant;

#[test]
fn hairpinning_loops_a_packet_to_a_neighbour_through_its_public_address() {
    for hairpinning in [true, false] {
        let mut sim = Sim::new(sansio_core::Seed::new([3; 32]));
        let net = sim.internet();
        let (nat, home) =
            sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig { hairpinning, ..NatConfig::full_cone() });
        let alice = sim.add_host(home, &[a("10.0.0.2:6000")], Probe::new());
        let bob = sim.add_host(home, &[a("10.0.0.3:7000")], Probe::new());
        let server = sim.add_host(net, &[a("203.0.113.9:9")], Probe::new());
        // Bob opens his mapping (198.51.100.1:7000), then Alice writes to it from inside.
        sim.call(bob, |p: &mut Probe, _| p.send(a("203.0.113.9:9"), vec![0]));
        sim.run_for(Duration::from_millis(1)).unwrap();
        sim.call(alice, |p: &mut Probe, _| p.send(a("198.51.100.1:7000"), b"hi bob".to_vec()));
        sim.run_for(Duration::from_millis(1)).unwrap();
        let got = sim.events(bob);
        if hairpinning {
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].1.remote, a("198.51.100.1:6000"), "Bob sees Alice's public address");
            assert_eq!(sim.nat_stats(nat).hairpinned, 1);
        } else {
            assert!(got.is_empty());
            assert_eq!(sim.nat_stats(nat).dropped_hairpin, 1);
        }
        assert_eq!(sim.events(server).len(), 1);
    }
}

#[test]
fn a_home_nat_behind_a_carrier_nat_is_translated_twice_and_replies_find_their_way() {
    let mut sim = Sim::new(sansio_core::Seed::new([4; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a("203.0.113.1:3478")], Probe::echo());
    let (cgn, isp) = sim.add_nat(net, "198.51.100.50".parse().unwrap(), NatConfig::symmetric());
    let (_home_nat, home) = sim.add_nat(isp, "100.64.0.7".parse().unwrap(), NatConfig::port_restricted_cone());
    let client = sim.add_host(home, &[a("192.168.0.2:4444")], Probe::new());
    sim.call(client, |p: &mut Probe, _| p.send(a("203.0.113.1:3478"), b"where am I".to_vec()));
    sim.run_until(Instant::from_secs(1)).unwrap();
    let seen = sim.events(server);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1.remote.ip(), "198.51.100.50".parse::<std::net::IpAddr>().unwrap());
    let back = sim.events(client);
    assert_eq!(back.len(), 1, "the echo crossed both NATs back");
    assert_eq!(back[0].1.remote, a("203.0.113.1:3478"));
    assert_eq!(sim.nat_stats(cgn).translated_in, 1);
}

#[test]
fn a_private_address_of_another_realm_is_unreachable() {
    let mut sim = Sim::new(sansio_core::Seed::new([5; 32]));
    let net = sim.internet();
    let (_, home_a) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig::full_cone());
    let (_, home_b) = sim.add_nat(net, "198.51.100.2".parse().unwrap(), NatConfig::full_cone());
    let alice = sim.add_host(home_a, &[a("10.0.0.2:1")], Probe::new());
    let bob = sim.add_host(home_b, &[a("10.0.0.3:1")], Probe::new());
    sim.call(alice, |p: &mut Probe, _| p.send(a("10.0.0.3:1"), vec![1]));
    sim.run_for(Duration::from_millis(1)).unwrap();
    assert!(sim.events(bob).is_empty());
    assert_eq!(sim.stats().dropped_no_route, 1);
}
