//! A node behind a symmetric NAT that gives out ports in sequence meets a node behind a
//! port-filtering NAT directly (`docs/overlay.md` §7.2): it predicts the port of its flow
//! towards the peer, its introducers pass the prediction on, and the peer opens its own NAT
//! towards that port and the few above it. The same pair with a NAT that picks ports at
//! random stays relayed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::{NatConfig, PortAllocation};
use overlay_core::wire::{
    self, AskedPunctureRequest, Community, DecodeError, EncodeError, IntroduceMe, IntroductionRequest, Message,
    NextPort, Payload, PortWindow, PunctureRequest, Signer, Style,
};
use overlay_core::{Config, Event, Mid, Node, PathKind, PeerKey};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
use sync_core::Identity;

mod util;
use util::network_with;

fn sequential() -> NatConfig {
    NatConfig::symmetric().with_ports(PortAllocation::Sequential)
}

/// How the first message each way arrived, once both have sent five.
fn paths(nats: &[NatConfig], seed: u64) -> (Vec<PathKind>, Vec<PathKind>) {
    // Neither may have met the other before: each learns the other's key and address from
    // the other's records, with the trust gate open.
    let mut net = network_with(seed, 3, nats, |c| c.trust_threshold = 0.0);
    let (a, b) = (3, 4);
    net.sim.run_until(Instant::from_secs(20)).unwrap();
    let (ma, mb) = (net.node(a).mid(), net.node(b).mid());
    for h in &net.nodes {
        net.sim.take_events(*h);
    }
    for k in 0..5u64 {
        let _ = net.sim.call(net.nodes[a], move |n, now| n.send(now, &mb, format!("a{k}").as_bytes()));
        net.sim.call(net.nodes[b], move |n, now| n.send(now, &ma, format!("b{k}").as_bytes())).unwrap();
        net.sim.run_for(Duration::from_secs(3)).unwrap();
    }
    net.sim.run_for(Duration::from_secs(10)).unwrap();
    let got = |events: Vec<(Instant, Event)>, from: Mid| -> Vec<PathKind> {
        events
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::Message { mid, path, .. } if mid == from => Some(path),
                _ => None,
            })
            .collect()
    };
    let (ea, eb) = (net.sim.take_events(net.nodes[a]), net.sim.take_events(net.nodes[b]));
    (got(eb, ma), got(ea, mb))
}

#[test]
fn a_sequential_symmetric_nat_meets_port_filtering_nats_directly() {
    for (other, seed) in [(NatConfig::port_restricted_cone(), 61), (NatConfig::linux_masquerade(), 62)] {
        for nats in [[sequential(), other.clone()], [other.clone(), sequential()]] {
            let (to_b, to_a) = paths(&nats, seed);
            assert_eq!((to_b.len(), to_a.len()), (5, 5), "every message arrives: {nats:?}");
            // The first may go by relay while the punch is under way; the rest go direct.
            for got in [&to_b, &to_a] {
                assert!(got[1..].iter().all(|p| *p == PathKind::Direct), "{got:?} between {nats:?}");
            }
        }
    }
}

#[test]
fn with_random_ports_the_same_pair_stays_relayed() {
    let (to_b, to_a) = paths(&[NatConfig::symmetric(), NatConfig::linux_masquerade()], 61);
    assert_eq!((to_b.len(), to_a.len()), (5, 5));
    assert!(to_b.iter().chain(&to_a).all(|p| *p == PathKind::Relayed), "{to_b:?} {to_a:?}");
}

const C: Community = Community([3; 20]);

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn signed(seed: u8, payload: Payload) -> Vec<u8> {
    let id = Identity::from_seed([seed; 32]).unwrap();
    let key = PeerKey::from_ed25519(&id.public()).unwrap();
    let msg = Message { community: C, style: Style::New, global_time: 1, sender: None, payload };
    wire::encode(&msg, Some(Signer { identity: &id, key: &key })).unwrap()
}

fn drain(n: &mut Node, now: Instant) -> Vec<(SocketAddr, Option<u8>, Vec<u8>)> {
    let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
    let mut out = Vec::new();
    while let Some(t) = n.poll_transmit(now, &mut buf) {
        out.push((t.destination, t.ttl, buf[..t.len].to_vec()));
    }
    out
}

#[test]
fn an_introducer_passes_the_prediction_on_at_the_walkers_own_ip_and_at_most_eight_ports() {
    let me = "203.0.113.1:6421";
    let mut n = Node::new(Config::new(C, a(me), vec![]), [1; 32], Seed::from_u64(1)).unwrap();
    for seed in [10u8, 11] {
        let from = format!("198.51.100.{seed}:6421");
        let req = IntroductionRequest {
            destination: a(me),
            source_lan: a(&from),
            source_wan: a(&from),
            flags: 0,
            identifier: 1,
            extra: vec![],
        };
        n.handle_datagram(Instant::ZERO, a(me), a(&from), &signed(seed, Payload::IntroductionRequest(req)));
    }
    drain(&mut n, Instant::ZERO);
    let target = PeerKey::from_ed25519(&Identity::from_seed([11; 32]).unwrap().public()).unwrap().mid();
    let ports = Some(PortWindow { first: 40_123, count: 200 });
    let ask = IntroduceMe { target, source_lan: a("10.0.0.2:6421"), identifier: 5, ports };
    n.handle_datagram(Instant::ZERO, a(me), a("198.51.100.10:6421"), &signed(10, Payload::IntroduceMe(ask)));
    let out = drain(&mut n, Instant::ZERO);
    let Payload::AskedPunctureRequest(AskedPunctureRequest { request, ports, .. }) =
        wire::decode(&out[0].2).unwrap().payload
    else {
        panic!("{out:?}")
    };
    assert_eq!((request.wan_walker, ports), (a("198.51.100.10:40123"), 8));
}

#[test]
fn the_target_opens_the_ports_above_the_predicted_one_with_low_ttl_then_punctures_it() {
    let me = "192.168.1.2:6421";
    let intro = "203.0.113.1:6421";
    let mut n = Node::new(Config::new(C, a(me), vec![a(intro)]), [1; 32], Seed::from_u64(1)).unwrap();
    // The node walks to the introducer and hears back: it takes puncture requests from it.
    n.handle_timeout(Instant::ZERO);
    let out = drain(&mut n, Instant::ZERO);
    let Payload::IntroductionRequest(r) = wire::decode(&out[0].2).unwrap().payload else { panic!() };
    let resp = overlay_core::wire::IntroductionResponse {
        destination: a("198.51.100.7:6421"),
        source_lan: a(intro),
        source_wan: a(intro),
        lan_introduction: a("0.0.0.0:0"),
        wan_introduction: a("0.0.0.0:0"),
        flags: 0,
        identifier: r.identifier,
        extra: vec![],
    };
    n.handle_datagram(Instant::ZERO, a(me), a(intro), &signed(10, Payload::IntroductionResponse(resp)));
    drain(&mut n, Instant::ZERO);
    let request = PunctureRequest { lan_walker: a("10.9.9.9:6421"), wan_walker: a("192.0.2.50:40000"), identifier: 9 };
    let msg = Message {
        community: C,
        style: Style::New,
        global_time: 2,
        sender: None,
        payload: Payload::AskedPunctureRequest(AskedPunctureRequest { request, walker: Mid([9; 20]), ports: 4 }),
    };
    n.handle_datagram(Instant::ZERO, a(me), a(intro), &wire::encode(&msg, None).unwrap());
    let later = Instant::from_millis(100);
    n.handle_timeout(later);
    let out = drain(&mut n, later);
    let sent: Vec<(SocketAddr, Option<u8>, usize)> = out.iter().map(|(d, ttl, b)| (*d, *ttl, b.len())).collect();
    let low = Some(3);
    assert_eq!(
        sent[..3],
        [(a("192.0.2.50:40001"), low, 1), (a("192.0.2.50:40002"), low, 1), (a("192.0.2.50:40003"), low, 1)],
        "openers to the ports above first: {sent:?}"
    );
    assert_eq!(sent[3].0, a("192.0.2.50:40000"));
    assert!(matches!(wire::decode(&out[3].2).unwrap().payload, Payload::Puncture(_)), "then the signed puncture");
    assert_eq!(sent.len(), 4);
}

#[test]
fn port_windows_have_one_encoding_and_never_zero_ports() {
    let request = PunctureRequest { lan_walker: a("10.0.0.2:1"), wan_walker: a("192.0.2.1:2"), identifier: 3 };
    let encode = |ports| {
        let payload = Payload::AskedPunctureRequest(AskedPunctureRequest {
            request: request.clone(),
            walker: Mid([9; 20]),
            ports,
        });
        wire::encode(&Message { community: C, style: Style::New, global_time: 1, sender: None, payload }, None).unwrap()
    };
    let (one, five) = (encode(1), encode(5));
    assert_eq!(five.len(), one.len() + 1, "a count byte only above 1");
    for bytes in [&one, &five] {
        assert_eq!(wire::encode(&wire::decode(bytes).unwrap(), None).unwrap(), *bytes);
    }
    for bad in [0u8, 1] {
        let mut b = one.clone();
        b.push(bad);
        assert_eq!(wire::decode(&b), Err(DecodeError::BadPortWindow));
    }
    let target = Mid([4; 20]);
    let ask = |ports| {
        signed(7, Payload::IntroduceMe(IntroduceMe { target, source_lan: a("10.0.0.2:1"), identifier: 1, ports }))
    };
    let with = ask(Some(PortWindow { first: 5000, count: 8 }));
    assert_eq!(with.len(), ask(None).len() + 3);
    let Payload::IntroduceMe(m) = wire::decode(&with).unwrap().payload else { panic!() };
    assert_eq!(m.ports, Some(PortWindow { first: 5000, count: 8 }));
    // Neither written nor read: no ports, or from port 0.
    let id = Identity::from_seed([7; 32]).unwrap();
    let key = PeerKey::from_ed25519(&id.public()).unwrap();
    for bad in [PortWindow { first: 5000, count: 0 }, PortWindow { first: 0, count: 8 }] {
        let p = IntroduceMe { target, source_lan: a("10.0.0.2:1"), identifier: 1, ports: Some(bad) };
        let msg =
            Message { community: C, style: Style::New, global_time: 1, sender: None, payload: Payload::IntroduceMe(p) };
        assert_eq!(wire::encode(&msg, Some(Signer { identity: &id, key: &key })), Err(EncodeError::BadPortWindow));
        // The same bytes written by hand, and signed.
        let mut b = with.clone();
        b.truncate(b.len() - 64);
        let n = b.len();
        b[n - 3..].copy_from_slice(&[(bad.first >> 8) as u8, bad.first as u8, bad.count]);
        let sig = id.sign_message(&b);
        b.extend_from_slice(&sig);
        assert_eq!(wire::decode(&b), Err(DecodeError::BadPortWindow), "{bad:?}");
    }
    let payload = Payload::AskedPunctureRequest(AskedPunctureRequest { request, walker: Mid([9; 20]), ports: 0 });
    let msg = Message { community: C, style: Style::New, global_time: 1, sender: None, payload };
    assert_eq!(wire::encode(&msg, None), Err(EncodeError::BadPortWindow), "an asked puncture of no ports");
}

#[test]
fn a_walk_that_carries_its_next_port_gets_the_candidates_puncture_sent_there() {
    let me = "203.0.113.1:6421";
    let mut n = Node::new(Config::new(C, a(me), vec![]), [1; 32], Seed::from_u64(1)).unwrap();
    let request = |from: &str, extra: Vec<u8>| IntroductionRequest {
        destination: a(me),
        source_lan: a("10.0.0.2:6421"),
        source_wan: a(from),
        flags: 0,
        identifier: 7,
        extra,
    };
    // Peer 11 is known, so it is the one introduced to the walker, 10.
    n.handle_datagram(
        Instant::ZERO,
        a(me),
        a("198.51.100.11:6421"),
        &signed(11, Payload::IntroductionRequest(request("198.51.100.11:6421", vec![]))),
    );
    drain(&mut n, Instant::ZERO);
    let extra = NextPort(40_123).to_extra().to_vec();
    let walk = request("198.51.100.10:1500", extra);
    n.handle_datagram(Instant::ZERO, a(me), a("198.51.100.10:1500"), &signed(10, Payload::IntroductionRequest(walk)));
    let out = drain(&mut n, Instant::ZERO);
    let to_candidate = out.iter().find(|(d, ..)| *d == a("198.51.100.11:6421")).expect("a puncture request");
    let Payload::PunctureRequest(p) = wire::decode(&to_candidate.2).unwrap().payload else { panic!() };
    assert_eq!(p.wan_walker, a("198.51.100.10:40123"), "the predicted port, at the walker's own IP");
    // Without the extra bytes, the address the request came from.
    let mut plain = request("198.51.100.10:1500", vec![]);
    plain.identifier = 8;
    let bytes = signed(10, Payload::IntroductionRequest(plain));
    n.handle_datagram(Instant::from_secs(1), a(me), a("198.51.100.10:1500"), &bytes);
    let out = drain(&mut n, Instant::from_secs(1));
    let to_candidate = out.iter().find(|(d, ..)| *d == a("198.51.100.11:6421")).expect("a puncture request");
    let Payload::PunctureRequest(p) = wire::decode(&to_candidate.2).unwrap().payload else { panic!() };
    assert_eq!(p.wan_walker, a("198.51.100.10:1500"));
}

/// Six bootstrap peers in six /24s, and a NAT played by the test that gives the node's n-th
/// flow port 20,000 + n (every peer reports the port it saw). Steps the node's walk every
/// 250 ms from `from` for `steps` steps; returns, for each walk that named a port, the port,
/// the port its next flow got, and whether the request opened a flow itself.
struct PlayedSequentialNat {
    node: Node,
    boots: Vec<SocketAddr>,
    flows: Vec<SocketAddr>,
}

const ME: &str = "192.168.1.2:6421";

impl PlayedSequentialNat {
    fn new() -> Self {
        let boots: Vec<SocketAddr> = (1..=6).map(|i| a(&format!("198.51.{i}.1:6421"))).collect();
        let node = Node::new(Config::new(C, a(ME), boots.clone()), [1; 32], Seed::from_u64(3)).unwrap();
        Self { node, boots, flows: Vec::new() }
    }

    /// Everything the node sends at `now` (each new destination a flow), answering walks.
    fn pump(&mut self, now: Instant) -> Vec<(u16, u16, bool)> {
        let mut named = Vec::new();
        for (to, _, bytes) in drain(&mut self.node, now) {
            let new = !self.flows.contains(&to);
            if new {
                self.flows.push(to);
            }
            let Ok(Message { payload: Payload::IntroductionRequest(r), .. }) = wire::decode(&bytes) else { continue };
            if let Some(NextPort(port)) = NextPort::from_extra(&r.extra) {
                named.push((port, 20_000 + self.flows.len() as u16, new));
            }
            let seen = self.flows.iter().position(|f| *f == to).unwrap() as u16;
            let seed = 20 + self.boots.iter().position(|b| *b == to).unwrap() as u8;
            let resp = overlay_core::wire::IntroductionResponse {
                destination: a(&format!("203.0.113.9:{}", 20_000 + seen)),
                source_lan: to,
                source_wan: to,
                lan_introduction: a("0.0.0.0:0"),
                wan_introduction: a("0.0.0.0:0"),
                flags: 0,
                identifier: r.identifier,
                extra: vec![],
            };
            self.node.handle_datagram(now, a(ME), to, &signed(seed, Payload::IntroductionResponse(resp)));
        }
        named
    }

    fn walk(&mut self, steps: u64) -> Vec<(u16, u16, bool)> {
        (0..steps)
            .flat_map(|step| {
                let now = Instant::from_millis(250 * step);
                self.node.handle_timeout(now);
                self.pump(now)
            })
            .collect()
    }
}

#[test]
fn a_walker_behind_a_sequential_nat_names_the_port_its_next_flow_will_take() {
    let mut nat = PlayedSequentialNat::new();
    let named = nat.walk(40);
    for (port, next, _) in &named {
        // The flow after this request's own is the opener towards whoever is introduced.
        assert_eq!(port, next, "{named:?}, flows {:?}", nat.flows);
    }
    assert!(named.len() >= 10, "once its ports rose in step, every walk named the next one: {named:?}");
    // A request to a new destination opens a flow itself: the port named is the one after.
    assert!(named.iter().any(|(.., new)| *new), "{:?}", nat.flows);
}

#[test]
fn forged_puncture_requests_make_a_predicting_node_ask_its_introducers_once() {
    let mut nat = PlayedSequentialNat::new();
    nat.walk(40);
    // A walker the node knows.
    let walker = a("198.18.0.7:3000");
    let hello = IntroductionRequest {
        destination: a(ME),
        source_lan: walker,
        source_wan: walker,
        flags: 0,
        identifier: 1,
        extra: vec![],
    };
    let now = Instant::from_secs(10);
    nat.node.handle_datagram(now, a(ME), walker, &signed(40, Payload::IntroductionRequest(hello)));
    nat.pump(now);
    // Fifty asked-for puncture requests naming it, each with a new identifier, as if from
    // an introducer (they are unsigned: anyone can send them).
    for identifier in 0..50u16 {
        let request = PunctureRequest { lan_walker: walker, wan_walker: walker, identifier };
        let payload = Payload::AskedPunctureRequest(AskedPunctureRequest { request, walker: Mid([9; 20]), ports: 1 });
        let msg = Message { community: C, style: Style::New, global_time: 2, sender: None, payload };
        nat.node.handle_datagram(now, a(ME), nat.boots[0], &wire::encode(&msg, None).unwrap());
    }
    let mut asks = 0;
    for ms in (0..2000).step_by(50) {
        let t = now + Duration::from_millis(ms);
        nat.node.handle_timeout(t);
        for (_, _, bytes) in drain(&mut nat.node, t) {
            asks += usize::from(matches!(wire::decode(&bytes), Ok(Message { payload: Payload::IntroduceMe(_), .. })));
        }
    }
    assert!(asks >= 1, "the node behind the sequential NAT does ask in turn");
    assert!(asks <= nat.boots.len(), "one turn, to at most every introducer: {asks}");
}

#[test]
fn two_sequential_nats_meet_in_each_others_windows() {
    // A node behind a sequential NAT messages one behind another. The target opens flows
    // towards the asker's predicted window and tells it, through the introducers, where they
    // leave from; the asker's next flow goes into the one that matches its own port.
    for seed in 61..67 {
        let mut net = network_with(seed, 3, &[sequential(), sequential()], |c| c.trust_threshold = 0.0);
        let (a, b) = (3, 4);
        net.sim.run_until(Instant::from_secs(20)).unwrap();
        let mb = net.node(b).mid();
        net.sim.take_events(net.nodes[b]);
        for k in 0..5u64 {
            net.sim.call(net.nodes[a], move |n, now| n.send(now, &mb, format!("a{k}").as_bytes())).unwrap();
            net.sim.run_for(Duration::from_secs(3)).unwrap();
        }
        let got: Vec<PathKind> = net
            .sim
            .take_events(net.nodes[b])
            .into_iter()
            .filter_map(|(_, e)| match e {
                Event::Message { path, .. } => Some(path),
                _ => None,
            })
            .collect();
        assert_eq!(got, [PathKind::Direct; 5], "seed {seed}");
        assert_eq!(net.node(a).stats().window_meetings + net.node(b).stats().window_meetings, 1, "seed {seed}");
    }
}
