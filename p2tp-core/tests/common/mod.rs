//! Two or more P2TP endpoints in the simulator, for the scenario tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{HostId, LinkConfig, Sim, addr};
use p2tp_core::{Config, Endpoint, Event};
use sansio_core::{Instant, Seed};

pub const A: &str = "192.0.2.1:4000";
pub const B: &str = "198.51.100.2:4000";

/// A network of two endpoints on the internet, each behind its own access links.
pub struct Pair {
    pub sim: Sim,
    pub a: HostId<Endpoint>,
    pub b: HostId<Endpoint>,
}

impl Pair {
    /// Two endpoints with default configuration; each direction of each access link `link`.
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        Self::with(seed, link, Config::new(addr(A)), Config::new(addr(B)))
    }

    pub fn with(seed: u64, link: LinkConfig, a_config: Config, b_config: Config) -> Self {
        let mut sim = Sim::new(Seed::from_u64(seed));
        let net = sim.internet();
        let a = sim.add_host(net, &[addr(A)], Endpoint::new(a_config, Seed::from_u64(seed).derive(1)));
        let b = sim.add_host(net, &[addr(B)], Endpoint::new(b_config, Seed::from_u64(seed).derive(2)));
        for h in [a.any(), b.any()] {
            *sim.link_mut(sim.host_uplink(h)) = link.clone();
            *sim.link_mut(sim.host_downlink(h)) = link.clone();
        }
        Self { sim, a, b }
    }

    pub fn run_for(&mut self, d: Duration) {
        self.sim.run_for(d).expect("the run keeps the machine contract and does not livelock");
    }

    pub fn now(&self) -> Instant {
        self.sim.now()
    }
}

/// A link of `delay` one way.
pub fn delay(ms: u64) -> LinkConfig {
    LinkConfig { delay: Duration::from_millis(ms), ..LinkConfig::default() }
}

/// `Opened` events a host reported, with their times.
pub fn opened(sim: &Sim, h: HostId<Endpoint>) -> Vec<(Instant, SocketAddr)> {
    sim.events(h)
        .into_iter()
        .filter_map(|(t, e)| if let Event::Opened { peer } = e { Some((t, *peer)) } else { None })
        .collect()
}

/// The payloads a host received, in order.
pub fn received(sim: &Sim, h: HostId<Endpoint>) -> Vec<Vec<u8>> {
    sim.events(h)
        .into_iter()
        .filter_map(|(_, e)| if let Event::Datagram { data, .. } = e { Some(data.to_vec()) } else { None })
        .collect()
}

/// A receiver that counts what arrives instead of logging every datagram.
pub struct Sink {
    pub ep: Endpoint,
    pub bytes: u64,
    pub packets: u64,
    /// (time, cumulative bytes) every 100 ms of arrivals.
    pub timeline: Vec<(Instant, u64)>,
}

impl Sink {
    pub fn new(ep: Endpoint) -> Self {
        Self { ep, bytes: 0, packets: 0, timeline: Vec::new() }
    }

    /// The endpoint, for its figures.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// Bytes received between `from` and `to` (from the timeline).
    pub fn bytes_between(&self, from: Instant, to: Instant) -> u64 {
        let at = |t: Instant| self.timeline.iter().take_while(|(w, _)| *w <= t).last().map_or(0, |(_, b)| *b);
        at(to) - at(from)
    }
}

impl sansio_core::Machine for Sink {
    type Event = Event;
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, d: &[u8]) {
        self.ep.handle_datagram(now, local, remote, d);
        while let Some(e) = self.ep.poll_event() {
            if let Event::Datagram { data, .. } = e {
                self.bytes += data.len() as u64;
                self.packets += 1;
            }
        }
        let slot = Instant::from_millis(now.as_micros() / 100_000 * 100);
        match self.timeline.last_mut() {
            Some((t, b)) if *t == slot => *b = self.bytes,
            _ => self.timeline.push((slot, self.bytes)),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<sansio_core::Transmit> {
        self.ep.poll_transmit(now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.ep.poll_event()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.ep.poll_timeout()
    }
}

/// Opens a stream from `a` (at `a_addr`) to `b` (at `b_addr`) by carrying their datagrams by
/// hand, without a simulator: ten 1 ms rounds of each side's output delivered to the other,
/// events discarded. Returns the time after the handshake. For tests and benches that drive
/// the endpoints' inputs themselves.
pub fn open_by_hand(a: &mut Endpoint, a_addr: SocketAddr, b: &mut Endpoint, b_addr: SocketAddr) -> Instant {
    use sansio_core::Machine;
    let mut buf = vec![0u8; sansio_core::MIN_TRANSMIT_BUFFER];
    let mut now = Instant::ZERO;
    a.connect(now, b_addr).unwrap();
    for _ in 0..10 {
        now += Duration::from_millis(1);
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, b_addr, a_addr, &buf[..t.len]);
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, a_addr, b_addr, &buf[..t.len]);
        }
        while a.poll_event().is_some() || b.poll_event().is_some() {}
    }
    assert!(a.is_established(b_addr) && b.is_established(a_addr), "the handshake completed");
    now
}
