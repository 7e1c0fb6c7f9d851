//! A NAT box renumbered mid-run (a home's ISP changes its address, a laptop moves): the hosts
//! inside keep their addresses, every mapping is gone, new packets leave from the new public
//! address, and the old one routes nowhere.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use netsim::addr as a;
use netsim::{NatConfig, Probe, Received, Sim};

#[test]
fn a_renumbered_nat_sends_from_its_new_address_and_the_old_one_routes_nowhere() {
    let mut sim = Sim::new(sansio_core::Seed::new([3; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a("203.0.113.1:3478")], Probe::new());
    let (nat, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig::full_cone());
    let client = sim.add_host(home, &[a("10.0.0.2:5000")], Probe::new());
    sim.call(client, |p: &mut Probe, _| p.send(a("203.0.113.1:3478"), b"before".to_vec()));
    sim.run_for(Duration::from_millis(10)).unwrap();
    sim.renumber_nat(nat, "198.51.100.77".parse().unwrap());
    assert_eq!(sim.nat_mappings(nat), 0, "every mapping is gone");
    sim.call(client, |p: &mut Probe, _| p.send(a("203.0.113.1:3478"), b"after".to_vec()));
    sim.run_for(Duration::from_millis(10)).unwrap();
    let froms: Vec<_> = sim.events(server).iter().map(|(_, r)| (r.remote, r.payload.clone())).collect();
    assert_eq!(froms, vec![(a("198.51.100.1:5000"), b"before".to_vec()), (a("198.51.100.77:5000"), b"after".to_vec())]);
    // The old public address is nobody's now; the new one reaches the client.
    let dropped = sim.stats().dropped_no_route;
    sim.call(server, |p: &mut Probe, _| p.send(a("198.51.100.1:5000"), b"to the old".to_vec()));
    sim.call(server, |p: &mut Probe, _| p.send(a("198.51.100.77:5000"), b"to the new".to_vec()));
    sim.run_for(Duration::from_millis(10)).unwrap();
    assert_eq!(sim.stats().dropped_no_route, dropped + 1);
    let got: Vec<Received> = sim.events(client).into_iter().map(|(_, r)| r.clone()).collect();
    assert_eq!(got.iter().map(|r| r.payload.as_slice()).collect::<Vec<_>>(), vec![&b"to the new"[..]]);
}
