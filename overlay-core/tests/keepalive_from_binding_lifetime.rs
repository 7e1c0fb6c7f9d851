//! Keep-alives at the interval the NAT allows (`docs/overlay.md` §9): a node measures its
//! NAT's binding lifetime with STUN from two probe sockets, then keeps its streams alive at
//! 80 % of it. Behind a NAT that forgets idle bindings after 30 s, its keep-alives keep the
//! mapping (a message from its peer after an hour of silence still arrives over the same
//! stream); behind one that keeps them 300 s it sends at most a tenth as many. The walk and
//! sync rounds are slowed to once an hour here, so the stream's keep-alives are the only
//! thing that can keep the mapping.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{HostId, LinkConfig, NatConfig, Sim};
use overlay_core::{Config, Event, NatProbe, Node, PathKind};
use sansio_core::{Instant, Machine, Seed, Transmit};
use stun_core::{NatType, Server, ServerConfig};

mod util;
use util::{COMMUNITY, identity, public};

const HOUR: u64 = 3600;

struct Outcome {
    /// The keep-alive interval the NAT'd node chose.
    keepalive: Duration,
    /// When both checks had finished (to the minute).
    measured_at: Instant,
    nat_type: NatType,
    /// Keep-alives it sent during the idle hour.
    keepalives: u64,
    /// The peer's message after the idle hour arrived over the stream.
    delivered: bool,
    /// Of the peer's messages during the hour (when it wrote every minute), how many arrived.
    minutely_delivered: usize,
    disconnects: usize,
}

fn sockets(main: SocketAddr) -> [SocketAddr; 3] {
    let at = |p: u16| SocketAddr::new(main.ip(), p);
    [main, at(main.port() + 1), at(main.port() + 2)]
}

fn config(main: SocketAddr, bootstrap: Vec<SocketAddr>, stun: SocketAddr) -> Config {
    let [_, x, y] = sockets(main);
    let mut c = Config::new(COMMUNITY, main, bootstrap);
    c.walk_interval = Duration::from_secs(HOUR);
    c.sync_interval = Duration::from_secs(HOUR);
    c.peer_timeout = Duration::from_secs(4 * HOUR);
    c.nat_probe = Some(NatProbe::new(stun, [x, y]));
    c
}

/// A public peer `b` and a peer `a` behind `nat`; both check their NATs against a STUN
/// server; `a` opens a stream to `b` at 5 s; once the checks are done, both stay silent for an hour (or `b` writes once a
/// minute: `minutely`), then `b` writes. After the measurement, `then` may change the NAT (to
/// show the keep-alives are what holds it).
fn idle_hour(nat: NatConfig, minutely: bool, then: impl FnOnce(&mut NatConfig)) -> Outcome {
    let mut sim = Sim::new(Seed::from_u64(77));
    let net = sim.internet();
    let stun: SocketAddr = "203.0.113.100:3478".parse().unwrap();
    sim.add_host(net, &[stun], Server::new(ServerConfig::new(stun, None), Seed::from_u64(5)).unwrap());
    let b_addr = public(0);
    let b = Node::new(config(b_addr, vec![], stun), identity(0), Seed::from_u64(1)).unwrap();
    let b = sim.add_host(net, &sockets(b_addr), b);
    let (nat_id, home) = sim.add_nat(net, "198.51.100.7".parse().unwrap(), nat);
    let link = LinkConfig { delay: Duration::from_millis(15), routers: 2, ..LinkConfig::default() };
    *sim.link_mut(sim.nat_uplink(nat_id)) = link.clone();
    *sim.link_mut(sim.nat_downlink(nat_id)) = link;
    let a_addr: SocketAddr = "192.168.1.2:6421".parse().unwrap();
    let a = Node::new(config(a_addr, vec![b_addr], stun), identity(1), Seed::from_u64(2)).unwrap();
    let a: HostId<Node> = sim.add_host(home, &sockets(a_addr), a);

    // a's stream to b opens before the measurement ends: it must take up the new interval.
    let (ma, mb) = (sim.machine(a).mid(), sim.machine(b).mid());
    sim.call_at(Instant::from_secs(5), a, move |n, now| {
        n.send(now, &mb, b"hello").unwrap();
    });
    // The lifetime search takes a while: each probe waits out the idle time it tests.
    let measured = |sim: &Sim| sim.machine(a).nat_report().is_some() && sim.machine(b).nat_report().is_some();
    while !measured(&sim) {
        assert!(sim.now() < Instant::from_secs(3 * HOUR), "both NAT checks finish within three hours");
        let next = sim.now() + Duration::from_secs(60);
        sim.run_until(next).unwrap();
    }
    let measured_at = sim.now();
    let report = sim.machine(a).nat_report().unwrap().clone();
    assert_eq!(report.public.map(|p| p.ip()), Some("198.51.100.7".parse().unwrap()), "a's public address");
    // No NAT in front of b: its mapped address is its own, and no idle wait up to the
    // search's maximum loses its binding.
    let open = sim.machine(b).nat_report().unwrap();
    assert_eq!(open.public, Some(sockets(b_addr)[1]), "{open:?}");
    assert_eq!(open.lifetime.map(|l| l.expired), Some(None), "{open:?}");
    assert_eq!(sim.machine(b).keepalive(), overlay_core::MAX_KEEPALIVE);
    then(sim.nat_config_mut(nat_id));

    let start = sim.now() + Duration::from_secs(10);
    sim.run_until(start).unwrap();
    let sent_before = sim.machine(a).path_stats(&mb).expect("a's stream to b is up").keepalives_sent;
    sim.take_events(a);
    sim.take_events(b);

    let quiet_until = start + Duration::from_secs(HOUR);
    if minutely {
        for k in 1..60u64 {
            let text = format!("minute {k}").into_bytes();
            // Refused sends are fine here: a peer whose NAT forgot it may be found unreachable.
            sim.call_at(start + Duration::from_secs(60 * k), b, move |n, now| {
                let _ = n.send(now, &ma, &text);
            });
        }
    }
    sim.run_until(quiet_until).unwrap();
    let keepalives = sim.machine(a).path_stats(&mb).map_or(0, |p| p.keepalives_sent.saturating_sub(sent_before));
    sim.call(b, |n, now| {
        // Checked through `delivered`: the tests that need it to arrive assert that.
        let _ = n.send(now, &ma, b"after an hour");
    });
    sim.run_until(quiet_until + Duration::from_secs(5)).unwrap();
    let events = sim.take_events(a);
    let minutely_delivered =
        events.iter().filter(|(_, e)| matches!(e, Event::Message { data, .. } if data.starts_with(b"minute"))).count();
    let delivered = events.iter().any(|(_, e)| {
        matches!(e, Event::Message { mid, data, path: PathKind::Direct } if *mid == mb && data == b"after an hour")
    });
    let b_events = sim.take_events(b);
    let disconnects = events.iter().filter(|(_, e)| matches!(e, Event::Disconnected { .. })).count()
        + b_events.iter().filter(|(_, e)| matches!(e, Event::Disconnected { .. })).count();
    let keepalive = sim.machine(a).keepalive();
    Outcome {
        keepalive,
        measured_at,
        nat_type: report.nat_type,
        keepalives,
        delivered,
        minutely_delivered,
        disconnects,
    }
}

#[test]
fn keepalives_hold_a_30_s_binding_and_a_300_s_one_needs_a_tenth_as_many() {
    let short = idle_hour(NatConfig::port_restricted_cone().with_timeout(Duration::from_secs(30)), false, |_| {});
    let long = idle_hour(NatConfig::port_restricted_cone().with_timeout(Duration::from_secs(300)), false, |_| {});
    eprintln!(
        "30 s NAT: measured by {:?}, keep-alive {:?}, {} keep-alives in the idle hour; \
         300 s NAT: measured by {:?}, keep-alive {:?}, {}",
        short.measured_at, short.keepalive, short.keepalives, long.measured_at, long.keepalive, long.keepalives
    );
    for (name, o) in [("30 s", &short), ("300 s", &long)] {
        assert!(matches!(o.nat_type, NatType::Unknown), "{name}: a one-address server cannot type the NAT");
        assert!(o.delivered, "{name}: the peer's message after an idle hour arrived over the kept stream");
        assert_eq!(o.disconnects, 0, "{name}: nobody saw the stream go");
    }
    // 80 % of a lifetime measured to within the search's 1 s resolution.
    assert!((Duration::from_secs(22)..Duration::from_secs(24)).contains(&short.keepalive), "{:?}", short.keepalive);
    assert!((Duration::from_secs(238)..Duration::from_secs(240)).contains(&long.keepalive), "{:?}", long.keepalive);
    assert!(short.keepalives >= HOUR / 24, "the 30 s NAT needs a keep-alive every ~23 s");
    assert!(long.keepalives * 10 <= short.keepalives, "{} vs {}", long.keepalives, short.keepalives);
}

#[test]
fn a_binding_that_shrinks_after_the_measurement_is_lost_between_keepalives() {
    // Measured at 300 s, the keep-alives come every ~240 s. If the NAT then starts forgetting
    // after 30 s, they no longer hold the mapping: most of the peer's once-a-minute messages
    // find it gone. (This is what the test above guards against; it shows that it can fail.)
    // The loss is not silent: the sender finds its unanswered peer unreachable and says so.
    let nat = || NatConfig::port_restricted_cone().with_timeout(Duration::from_secs(300));
    let kept = idle_hour(nat(), true, |_| {});
    let shrunk = idle_hour(nat(), true, |nat| *nat = nat.clone().with_timeout(Duration::from_secs(30)));
    eprintln!(
        "messages that arrived: {}/59 kept, {}/59 after the NAT shrank",
        kept.minutely_delivered, shrunk.minutely_delivered
    );
    assert_eq!(kept.minutely_delivered, 59, "a held binding lets every message in");
    assert_eq!(kept.disconnects, 0);
    assert!(shrunk.disconnects >= 1, "the peer's loss was reported");
    assert!(
        shrunk.minutely_delivered < 30,
        "{} of 59 got in with no keep-alive to hold the binding",
        shrunk.minutely_delivered
    );
}

/// A STUN server that ignores RESPONSE-PORT: every answer goes back where the request came
/// from, so each lifetime probe's answer reaches the probing socket, never the idle one.
struct IgnoresResponsePort {
    server: Server,
    last_from: Option<SocketAddr>,
}

impl Machine for IgnoresResponsePort {
    type Event = core::convert::Infallible;
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.last_from = Some(remote);
        self.server.handle_datagram(now, local, remote, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.server.poll_transmit(now, buf)?;
        Some(Transmit { destination: self.last_from.unwrap_or(t.destination), ..t })
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        None
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

#[test]
fn a_server_that_ignores_response_port_cannot_make_the_node_chatter() {
    // Every probe looks like an expired binding, so the search ends with nothing alive: that
    // teaches nothing about the NAT, and the node keeps its transport's keep-alive instead of
    // keeping every stream alive many times a second.
    let mut sim = Sim::new(Seed::from_u64(78));
    let net = sim.internet();
    let stun: SocketAddr = "203.0.113.100:3478".parse().unwrap();
    let server = Server::new(ServerConfig::new(stun, None), Seed::from_u64(5)).unwrap();
    sim.add_host(net, &[stun], IgnoresResponsePort { server, last_from: None });
    let a_addr = public(0);
    let a = Node::new(config(a_addr, vec![], stun), identity(0), Seed::from_u64(1)).unwrap();
    let default = a.keepalive();
    let a = sim.add_host(net, &sockets(a_addr), a);
    sim.run_until(Instant::from_secs(600)).unwrap();
    let report = sim.machine(a).nat_report().expect("the check ended").clone();
    assert_eq!(report.lifetime.map(|l| l.alive), Some(Duration::ZERO), "{report:?}");
    assert_eq!(sim.machine(a).keepalive(), default, "nothing measured, nothing changed");
}
