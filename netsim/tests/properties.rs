//! Random topologies and traffic: the simulator never panics, never delivers a packet before
//! it was sent, and never lets a link exceed its rate.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netsim::strategies::{link_config, nat_config};
use netsim::{LinkConfig, NatConfig, Sim};
use proptest::prelude::*;
use sansio_core::{Instant, Machine, Transmit};

/// Byte 8 of every payload: 0 for an original, 1 for an answer.
const KIND: usize = 8;

/// Sends on command and answers every original once (never an answer, so traffic between
/// two such hosts stays bounded even over duplicating links). Reports (arrival, payload).
#[derive(Default)]
struct EchoOnce {
    out: Vec<(Option<SocketAddr>, SocketAddr, Vec<u8>)>,
    events: Vec<Vec<u8>>,
}

impl Machine for EchoOnce {
    type Event = Vec<u8>;
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, d: &[u8]) {
        if d[KIND] == 0 {
            let mut answer = d.to_vec();
            answer[KIND] = 1;
            answer[..8].copy_from_slice(&now.as_micros().to_be_bytes());
            self.out.push((Some(local), remote, answer));
        }
        self.events.push(d.to_vec());
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (source, destination, d) = self.out.pop()?;
        buf[..d.len()].copy_from_slice(&d);
        Some(Transmit { destination, source, len: d.len(), ttl: None })
    }
    fn poll_event(&mut self) -> Option<Vec<u8>> {
        self.events.pop()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    seed: u8,
    /// NATs: (parent index: 0 = internet, i = inside NAT i), config.
    nats: Vec<(usize, NatConfig)>,
    /// Hosts: (realm index, uplink).
    hosts: Vec<(usize, LinkConfig)>,
    /// Sends: (time ms, from host, to: host index or a public NAT address, payload length).
    sends: Vec<(u64, usize, usize, u16, usize)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        any::<u8>(),
        prop::collection::vec((0usize..4, nat_config()), 0..4),
        prop::collection::vec((0usize..5, link_config()), 1..7),
    )
        .prop_flat_map(|(seed, nats, hosts)| {
            let h = hosts.len();
            let sends = prop::collection::vec((0u64..2_000, 0..h, 0..h + 4, any::<u16>(), 9usize..1500), 0..120);
            (Just(seed), Just(nats), Just(hosts), sends)
        })
        .prop_map(|(seed, nats, hosts, sends)| Scenario { seed, nats, hosts, sends })
}

fn public_nat_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, u8::try_from(i + 1).unwrap()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_networks_deliver_nothing_early_and_respect_every_rate(s in scenario()) {
        let mut sim = Sim::new(sansio_core::Seed::new([s.seed; 32]));
        let mut realms = vec![sim.internet()];
        for (i, (parent, config)) in s.nats.iter().enumerate() {
            let parent = realms[parent % realms.len()];
            // Nested NATs get addresses of their parent realm; unique per NAT.
            let (_, inner) = sim.add_nat(parent, public_nat_ip(i), config.clone());
            realms.push(inner);
        }
        let mut hosts = Vec::new();
        for (i, (realm, link)) in s.hosts.iter().enumerate() {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, u8::try_from(i + 1).unwrap())), 4000 + u16::try_from(i).unwrap());
            let h = sim.add_host(realms[realm % realms.len()], &[addr], EchoOnce::default());
            let up = sim.host_uplink(h);
            *sim.link_mut(up) = link.clone();
            sim.capture(up);
            hosts.push((h, addr, up));
        }
        for (t, from, to, port, len) in &s.sends {
            let dst = match hosts.get(*to) {
                Some((_, addr, _)) => *addr,
                None => SocketAddr::new(public_nat_ip(to - hosts.len()), *port),
            };
            let len = *len;
            sim.call_at(Instant::from_millis(*t), hosts[*from].0, move |p: &mut EchoOnce, now| {
                let mut d = vec![0u8; len];
                d[..8].copy_from_slice(&now.as_micros().to_be_bytes());
                p.out.push((None, dst, d));
            });
        }
        sim.set_livelock_limit(100_000);
        sim.run_until(Instant::from_secs(5)).unwrap();

        for (h, _, up) in &hosts {
            for (at, payload) in sim.events(*h) {
                let sent = u64::from_be_bytes(payload[..8].try_into().unwrap());
                prop_assert!(at.as_micros() >= sent, "delivered at {at} before it was sent at {sent} µs");
            }
            let link = &s.hosts[h_index(&hosts, *h)].1;
            if let Some(rate) = link.rate_bps {
                let arrivals: Vec<(Instant, usize)> = sim.captured(*up).map(|(t, _, _, p)| (t, p.len() + 28)).collect();
                let slack = link.jitter + link.reorder_delay + Duration::from_micros(2);
                let mut sorted = arrivals.clone();
                sorted.sort();
                for i in 0..sorted.len() {
                    let mut bytes = 0usize;
                    for j in i..sorted.len() {
                        bytes += sorted[j].1;
                        let window = (sorted[j].0 - sorted[i].0) + slack;
                        let allowed = rate as f64 * window.as_secs_f64() / 8.0 + link.mtu as f64;
                        prop_assert!(bytes as f64 <= allowed, "{bytes} B within {window:?} on a {rate} bit/s link");
                    }
                }
            }
        }
    }
}

fn h_index(hosts: &[(netsim::HostId<EchoOnce>, SocketAddr, netsim::LinkId)], h: netsim::HostId<EchoOnce>) -> usize {
    hosts.iter().position(|x| x.0 == h).unwrap()
}
