//! Binding lifetimes: unreplied and confirmed timeouts, outbound refresh (RFC 4787 REQ-6), and
//! inbound refresh as an option.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use netsim::addr as a;
use netsim::{NatConfig, Probe, Sim};
use sansio_core::Instant;

const SERVER: &str = "203.0.113.1:3478";

/// A client behind `config`; returns the sim, client, server and nat.
fn setup(config: NatConfig) -> (Sim, netsim::HostId<Probe>, netsim::HostId<Probe>, netsim::NatId) {
    let mut sim = Sim::new(sansio_core::Seed::new([2; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a(SERVER)], Probe::new());
    let (nat, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), config);
    let client = sim.add_host(home, &[a("10.0.0.2:5000")], Probe::new());
    (sim, client, server, nat)
}

fn client_out(sim: &mut Sim, client: netsim::HostId<Probe>, at: Instant) {
    sim.run_until(at).unwrap();
    sim.call(client, |p: &mut Probe, _| p.send(a(SERVER), b"keepalive".to_vec()));
    sim.run_for(Duration::from_micros(1)).unwrap();
}

/// The server answers at `at`; whether the client got it.
fn server_in(sim: &mut Sim, client: netsim::HostId<Probe>, server: netsim::HostId<Probe>, at: Instant) -> bool {
    sim.run_until(at).unwrap();
    let before = sim.events(client).len();
    sim.call(server, |p: &mut Probe, _| p.send(a("198.51.100.1:5000"), b"late reply".to_vec()));
    sim.run_for(Duration::from_micros(1)).unwrap();
    sim.events(client).len() > before
}

#[test]
fn an_unreplied_binding_expires_after_its_timeout() {
    let config = NatConfig { unreplied_timeout: Duration::from_secs(30), ..NatConfig::port_restricted_cone() };
    let (mut sim, client, server, nat) = setup(config);
    client_out(&mut sim, client, Instant::ZERO);
    assert!(server_in(&mut sim, client, server, Instant::from_millis(29_999)), "alive just before 30 s");
    // That reply confirmed the binding: it now lives 120 s from the last outbound packet.
    assert!(server_in(&mut sim, client, server, Instant::from_secs(119)));
    assert!(!server_in(&mut sim, client, server, Instant::from_secs(120)), "gone at 120 s");
    assert_eq!(sim.nat_stats(nat).mappings_expired, 1);
    assert_eq!(sim.nat_mappings(nat), 0);
}

#[test]
fn a_binding_never_answered_is_gone_at_the_unreplied_timeout() {
    let (mut sim, client, server, nat) = setup(NatConfig::port_restricted_cone().with_timeout(Duration::from_secs(5)));
    client_out(&mut sim, client, Instant::ZERO);
    assert!(!server_in(&mut sim, client, server, Instant::from_secs(5)));
    assert_eq!(sim.nat_stats(nat).dropped_no_mapping, 1);
}

#[test]
fn outbound_packets_refresh_the_binding() {
    let (mut sim, client, server, _) = setup(NatConfig::port_restricted_cone().with_timeout(Duration::from_secs(30)));
    for t in [0, 20, 40, 60] {
        client_out(&mut sim, client, Instant::from_secs(t));
    }
    assert!(server_in(&mut sim, client, server, Instant::from_secs(89)), "60 s + 29 s");
    assert!(!server_in(&mut sim, client, server, Instant::from_secs(91)));
}

#[test]
fn inbound_packets_refresh_only_when_configured() {
    for inbound_refresh in [false, true] {
        let config = NatConfig { inbound_refresh, ..NatConfig::full_cone().with_timeout(Duration::from_secs(30)) };
        let (mut sim, client, server, _) = setup(config);
        client_out(&mut sim, client, Instant::ZERO);
        assert!(server_in(&mut sim, client, server, Instant::from_secs(20)));
        let alive_at_45 = server_in(&mut sim, client, server, Instant::from_secs(45));
        assert_eq!(alive_at_45, inbound_refresh, "inbound_refresh = {inbound_refresh}");
    }
}

#[test]
fn a_new_mapping_after_expiry_may_get_a_new_port() {
    let config = NatConfig::symmetric().with_timeout(Duration::from_secs(10));
    let (mut sim, client, server, _) = setup(config);
    client_out(&mut sim, client, Instant::ZERO);
    client_out(&mut sim, client, Instant::from_secs(11));
    let ports: Vec<u16> = sim.events(server).iter().map(|(_, r)| r.remote.port()).collect();
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1], "the expired mapping's port is not kept (random allocation)");
}
