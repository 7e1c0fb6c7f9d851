//! A machine that keeps asking to be woken "now" is reported as a contract breach, and
//! machines that bounce packets forever at one instant as a livelock: neither spins a test.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;

use netsim::{AnyHost, RunError, Sim};
use sansio_core::{ContractViolation, Instant, Machine, Transmit, TransmitQueue};

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

/// Keeps the contract but echoes every datagram back: two of them on ideal links bounce one
/// packet forever without time advancing.
struct Echo(TransmitQueue);

impl Machine for Echo {
    type Event = ();
    fn handle_datagram(&mut self, _: Instant, local: SocketAddr, remote: SocketAddr, d: &[u8]) {
        let _ = self.0.push(Some(local), remote, d);
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.0.pop(buf)
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

#[test]
fn a_deadline_that_never_advances_fails_the_run_naming_the_host_and_the_rule() {
    let mut sim = Sim::new(sansio_core::Seed::new([0; 32]));
    let net = sim.internet();
    let spinner = sim.add_host(net, &["10.0.0.1:1".parse().unwrap()], Spinner);
    let err = sim.run_until(Instant::from_secs(5)).unwrap_err();
    let violation = ContractViolation::StaleDeadline { now: Instant::from_secs(2), deadline: Instant::from_secs(2) };
    assert_eq!(err, RunError::Contract { host: AnyHost::from(spinner), violation });
    assert_eq!(sim.now(), Instant::from_secs(2), "caught at its first stale deadline, not after a spin");
}

#[test]
fn packets_bouncing_forever_at_one_instant_are_reported_as_a_livelock() {
    let mut sim = Sim::new(sansio_core::Seed::new([0; 32]));
    sim.set_livelock_limit(10_000);
    let net = sim.internet();
    let (a, b): (SocketAddr, SocketAddr) = ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
    let first = sim.add_host(net, &[a], Echo(TransmitQueue::new(4, 4096)));
    sim.add_host(net, &[b], Echo(TransmitQueue::new(4, 4096)));
    sim.call_at(Instant::from_secs(1), first, move |e: &mut Echo, _| e.0.push(Some(a), b, b"ping").unwrap());
    let err = sim.run_until(Instant::from_secs(5)).unwrap_err();
    assert_eq!(err, RunError::Livelock { at: Instant::from_secs(1), events: 10_001 });
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
