//! A machine that keeps asking to be woken "now" is reported, not spun on forever.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;

use netsim::{RunError, Sim};
use sansio_core::{Instant, Machine, Transmit};

/// Breaks the machine contract: its deadline never moves past the current time.
struct Spinner;

impl Machine for Spinner {
    type Event = ();
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(Instant::from_secs(2))
    }
}

#[test]
fn a_deadline_that_never_advances_is_reported_as_a_livelock() {
    let mut sim = Sim::new(sansio_core::Seed::new([0; 32]));
    sim.set_livelock_limit(10_000);
    let net = sim.internet();
    sim.add_host(net, &["10.0.0.1:1".parse().unwrap()], Spinner);
    let err = sim.run_until(Instant::from_secs(5)).unwrap_err();
    assert_eq!(err, RunError::Livelock { at: Instant::from_secs(2), events: 10_001 });
    assert_eq!(sim.now(), Instant::from_secs(2));
}

#[test]
fn run_until_condition_stops_at_the_condition_or_the_limit() {
    let mut sim = Sim::new(sansio_core::Seed::new([0; 32]));
    let net = sim.internet();
    let h = sim.add_host(net, &["10.0.0.1:1".parse().unwrap()], netsim::Probe::new());
    sim.call_at(Instant::from_secs(3), h, |p: &mut netsim::Probe, _| p.send("10.0.0.1:1".parse().unwrap(), vec![1]));
    let met = sim.run_until_condition(Instant::from_secs(10), |s| s.stats().deliveries == 1).unwrap();
    assert!(met);
    assert_eq!(sim.now(), Instant::from_secs(3));
    let met = sim.run_until_condition(Instant::from_secs(10), |s| s.stats().deliveries == 2).unwrap();
    assert!(!met);
    assert_eq!(sim.now(), Instant::from_secs(10));
}
