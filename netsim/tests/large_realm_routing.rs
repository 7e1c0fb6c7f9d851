//! A realm with more hosts than a short route list holds keeps routing both address families.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;

use netsim::{Probe, Sim};
use sansio_core::Instant;

#[test]
fn a_large_internet_routes_ipv4_and_ipv6_hosts_and_drops_unknown_ones() {
    let mut sim = Sim::new(sansio_core::Seed::new([8; 32]));
    let net = sim.internet();
    let servers: Vec<SocketAddr> = (1..=12)
        .flat_map(|i| [format!("203.0.113.{i}:7").parse().unwrap(), format!("[2001:db8::{i}]:7").parse().unwrap()])
        .collect();
    let hosts: Vec<_> = servers.iter().map(|s| sim.add_host(net, &[*s], Probe::echo())).collect();
    let client = sim.add_host(
        net,
        &["198.51.100.1:5000".parse().unwrap(), "[2001:db8:1::1]:5000".parse().unwrap()],
        Probe::new(),
    );
    let unknown: [SocketAddr; 2] = ["203.0.113.200:7".parse().unwrap(), "[2001:db8::200]:7".parse().unwrap()];
    for to in servers.iter().chain(&unknown) {
        sim.call(client, |p: &mut Probe, _| p.send(*to, b"ping".to_vec()));
    }
    sim.run_until(Instant::from_secs(1)).unwrap();
    for (h, s) in hosts.iter().zip(&servers) {
        assert_eq!(sim.events(*h).len(), 1, "{s} got its packet once");
    }
    let echoes = sim.events(client);
    let mut from: Vec<SocketAddr> = echoes.iter().map(|(_, r)| r.remote).collect();
    from.sort();
    let mut expected = servers.clone();
    expected.sort();
    assert_eq!(from, expected, "every server's echo came back, from the server's own address");
    assert_eq!(sim.stats().dropped_no_route, 2);
}
