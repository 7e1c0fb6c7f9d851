//! A datagram's TTL goes down at every NAT box and router on its way; one that would leave a
//! hop with TTL 0 dies there. A NAT checks it before translating, so a packet dying at the
//! NAT makes no mapping, and one dying just past it does: the hole puncher's low-TTL trick.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use netsim::addr as a;
use netsim::{LinkConfig, NatConfig, Probe, Sim};
use sansio_core::Seed;

struct Lab {
    sim: Sim,
    nat: netsim::NatId,
    client: netsim::HostId<Probe>,
    server: netsim::HostId<Probe>,
}

/// A client behind a NAT whose uplink crosses three routers to a public server.
fn lab() -> Lab {
    let mut sim = Sim::new(Seed::from_u64(5));
    let net = sim.internet();
    let server = sim.add_host(net, &[a("203.0.113.1:3478")], Probe::new());
    let (nat, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig::port_restricted_cone());
    let client = sim.add_host(home, &[a("192.168.1.2:4000")], Probe::new());
    *sim.link_mut(sim.nat_uplink(nat)) = LinkConfig { routers: 3, ..LinkConfig::default() };
    Lab { sim, nat, client, server }
}

impl Lab {
    fn send(&mut self, ttl: Option<u8>) -> bool {
        let before = self.sim.events(self.server).len();
        self.sim.call(self.client, move |p: &mut Probe, _| match ttl {
            Some(t) => p.send_ttl(a("203.0.113.1:3478"), t, b"hi".to_vec()),
            None => p.send(a("203.0.113.1:3478"), b"hi".to_vec()),
        });
        self.sim.run_for(Duration::from_millis(10)).unwrap();
        self.sim.events(self.server).len() > before
    }
}

#[test]
fn ttl_one_dies_at_the_nat_and_makes_no_mapping() {
    let mut lab = lab();
    assert!(!lab.send(Some(1)));
    assert_eq!(lab.sim.nat_mappings(lab.nat), 0);
    assert_eq!(lab.sim.stats().dropped_ttl, 1);
}

#[test]
fn a_ttl_that_leaves_the_nat_but_not_the_isp_makes_a_mapping_and_arrives_nowhere() {
    for ttl in [2, 3, 4] {
        let mut lab = lab();
        assert!(!lab.send(Some(ttl)), "TTL {ttl}: NAT −1, three routers need three more");
        assert_eq!(lab.sim.nat_mappings(lab.nat), 1, "TTL {ttl} passed the NAT");
    }
}

#[test]
fn enough_ttl_and_the_default_arrive() {
    let mut lab = lab();
    assert!(lab.send(Some(5)), "NAT −1 and three routers −3 leave 1");
    assert!(lab.send(None));
    assert_eq!(lab.sim.stats().dropped_ttl, 0);
}
