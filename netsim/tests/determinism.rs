//! The same scenario and seed give an identical trace; another seed gives another.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::addr as a;
use netsim::{LinkConfig, Loss, NatConfig, Probe, Sim};
use sansio_core::Instant;

/// Clients behind assorted NATs talk to an echo server over lossy, jittery, reordering links.
fn scenario(seed: u8) -> (u64, u64) {
    let mut sim = Sim::new(sansio_core::Seed::new([seed; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a("203.0.113.1:3478")], Probe::echo());
    let noisy = LinkConfig {
        delay: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        loss: Loss::Bernoulli(0.1),
        reorder: 0.1,
        reorder_delay: Duration::from_millis(7),
        duplicate: 0.05,
        ..LinkConfig::default()
    };
    *sim.link_mut(sim.host_downlink(server)) = noisy.clone();
    let nats = [
        NatConfig::full_cone(),
        NatConfig::restricted_cone(),
        NatConfig::port_restricted_cone(),
        NatConfig::symmetric(),
    ];
    for (i, config) in nats.into_iter().enumerate() {
        let (nat, home) = sim.add_nat(net, format!("198.51.100.{}", i + 1).parse().unwrap(), config);
        *sim.link_mut(sim.nat_uplink(nat)) = noisy.clone();
        for j in 0..5u16 {
            let c = sim.add_host(
                home,
                &[SocketAddr::new(format!("10.0.0.{}", j + 2).parse().unwrap(), 5000 + j)],
                Probe::new(),
            );
            for k in 0..20u64 {
                sim.call_at(Instant::from_millis(k * 50 + u64::from(j)), c, move |p: &mut Probe, _| {
                    p.send(a("203.0.113.1:3478"), vec![u8::try_from(k).unwrap(); 64]);
                });
            }
        }
    }
    sim.run_until(Instant::from_secs(10)).unwrap();
    (sim.trace_hash(), sim.stats().deliveries)
}

#[test]
fn the_same_seed_gives_an_identical_trace() {
    let first = scenario(1);
    assert!(first.1 > 300, "the scenario exchanges real traffic: {} deliveries", first.1);
    assert_eq!(scenario(1), first);
}

#[test]
fn a_different_seed_gives_a_different_trace() {
    assert_ne!(scenario(1).0, scenario(2).0);
}
