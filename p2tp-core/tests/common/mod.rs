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
        .filter_map(|(_, e)| if let Event::Datagram { data, .. } = e { Some(data.clone()) } else { None })
        .collect()
}
