//! A STUN lab in the simulator: a four-address server on the internet and a client with two
//! sockets behind a NAT (or none).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

pub(crate) use netsim::addr as a;
use netsim::{LinkConfig, Loss, NatConfig, Sim};
use sansio_core::{Instant, Seed};
use stun_core::{NatCheck, NatCheckConfig, NatEvent, NatReport, Server, ServerConfig};

pub(crate) const PRIMARY: &str = "203.0.113.1:3478";
pub(crate) const ALTERNATE: &str = "203.0.113.2:3479";
pub(crate) const PUBLIC_IP: &str = "198.51.100.7";

/// What `configure` may look at.
pub(crate) struct Lab {
    pub local: SocketAddr,
    pub second: SocketAddr,
}

/// Builds a lab whose client runs a check made by `configure`, runs it to the end, and
/// returns the report and every event.
pub(crate) fn check(
    seed: u8,
    nat: Option<NatConfig>,
    loss: f64,
    alternate: bool,
    configure: impl FnOnce(&mut NatCheckConfig, &Lab),
) -> (NatReport, Vec<(Instant, NatEvent)>, Sim) {
    let mut sim = Sim::new(Seed::from_u64(seed.into()));
    let net = sim.internet();
    let server_config = ServerConfig::new(a(PRIMARY), alternate.then(|| a(ALTERNATE)));
    let addrs = server_config.listen_addresses();
    sim.add_host(net, &addrs, Server::new(server_config, Seed::from_u64(1000 + u64::from(seed))).unwrap());
    let (realm, local, second) = match nat {
        Some(n) => (sim.add_nat(net, PUBLIC_IP.parse().unwrap(), n).1, a("192.168.1.10:4000"), a("192.168.1.10:4001")),
        None => (net, a("198.51.100.20:4000"), a("198.51.100.20:4001")),
    };
    let shell = Lab { local, second };
    let mut config = NatCheckConfig::new(a(PRIMARY), local);
    configure(&mut config, &shell);
    let client = sim.add_host(realm, &[local, second], NatCheck::new(config, Seed::from_u64(u64::from(seed) + 1)));
    let link = LinkConfig { delay: Duration::from_millis(20), loss: Loss::Bernoulli(loss), ..LinkConfig::default() };
    *sim.link_mut(sim.host_uplink(client)) = link.clone();
    *sim.link_mut(sim.host_downlink(client)) = link;
    sim.call(client, |c: &mut NatCheck, now| c.start(now));
    let finished = sim.run_until_condition(Instant::from_secs(20_000), |s| s.machine(client).is_done()).unwrap();
    assert!(finished, "the check ends");
    let events: Vec<(Instant, NatEvent)> = sim.events(client).into_iter().map(|(t, e)| (t, e.clone())).collect();
    let Some((_, NatEvent::Done(report))) = events.last().cloned() else {
        panic!("the last event is Done: {events:?}")
    };
    (report, events, sim)
}
