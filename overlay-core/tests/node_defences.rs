//! What a node refuses: responses it did not ask for (replayed or invented), replayed
//! requests, puncture requests from anyone it did not walk to, and new keys once its table is
//! full; and what it never does: take a vote from a private address.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;

use overlay_core::wire::{
    self, AskedPunctureRequest, Community, IntroduceMe, Introduced, IntroductionRequest, IntroductionResponse, Message,
    Payload, PunctureRequest, Signer, Style,
};
use overlay_core::{Config, Event, Mid, Node, PeerKey};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
use sync_core::Identity;

const C: Community = Community([3; 20]);

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn node(local: &str, boot: &[&str], max_peers: usize) -> Node {
    let mut c = Config::new(C, a(local), boot.iter().map(|b| a(b)).collect());
    c.max_peers = max_peers;
    Node::new(c, [1; 32], Seed::from_u64(1)).unwrap()
}

fn signed(seed: u8, payload: Payload, gt: u64) -> Vec<u8> {
    let id = Identity::from_seed([seed; 32]).unwrap();
    let key = PeerKey::from_ed25519(&id.public()).unwrap();
    let msg = Message { community: C, style: Style::New, global_time: gt, sender: None, payload };
    wire::encode(&msg, Some(Signer { identity: &id, key: &key })).unwrap()
}

fn request(to: &str, from: &str, identifier: u16) -> Payload {
    Payload::IntroductionRequest(IntroductionRequest {
        destination: a(to),
        source_lan: a(from),
        source_wan: a(from),
        flags: 0,
        identifier,
        extra: vec![],
    })
}

fn response(dest: &str, from: &str, identifier: u16) -> Payload {
    Payload::IntroductionResponse(IntroductionResponse {
        destination: a(dest),
        source_lan: a(from),
        source_wan: a(from),
        lan_introduction: a("0.0.0.0:0"),
        wan_introduction: a("0.0.0.0:0"),
        flags: 0,
        identifier,
        extra: vec![],
    })
}

/// Drains what the node sends: (destination, bytes).
fn sent(n: &mut Node) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut out = Vec::new();
    while let Some(t) = n.poll_transmit(Instant::ZERO, &mut buf) {
        out.push((t.destination, buf[..t.len].to_vec()));
    }
    out
}

#[test]
fn a_response_to_no_request_of_ours_is_a_stray_and_votes_nothing() {
    let mut n = node("198.51.100.5:6421", &["203.0.113.1:6421"], 256);
    // Responses from two networks claiming where they saw us, but we never asked them.
    for (seed, from) in [(10, "203.0.113.7:6421"), (11, "192.0.2.9:6421")] {
        n.handle_datagram(
            Instant::ZERO,
            a("198.51.100.5:6421"),
            a(from),
            &signed(seed, response("203.0.113.66:1", from, 7), 9),
        );
    }
    assert_eq!(n.stats().stray_responses, 2);
    assert_eq!(n.wan(), None);
    assert_eq!(n.peers().count(), 0);
}

#[test]
fn the_answer_to_our_own_request_counts_once_and_a_replay_of_it_not_at_all() {
    let boot = "203.0.113.1:6421";
    let mut n = node("198.51.100.5:6421", &[boot], 256);
    n.handle_timeout(Instant::ZERO); // walks to the bootstrap peer
    let out = sent(&mut n);
    let Payload::IntroductionRequest(r) = wire::decode(&out[0].1).unwrap().payload else { panic!() };
    let answer = signed(10, response("198.51.100.5:6421", boot, r.identifier), 2);
    n.handle_datagram(Instant::ZERO, a("198.51.100.5:6421"), a(boot), &answer);
    assert_eq!(n.wan(), Some(a("198.51.100.5:6421")), "the only voice counts");
    assert_eq!(n.peers().count(), 1);
    n.handle_datagram(Instant::ZERO, a("198.51.100.5:6421"), a(boot), &answer);
    assert_eq!(n.stats().stray_responses, 1, "the same answer again matches nothing");
}

#[test]
fn a_private_address_is_never_voted_in_as_the_public_one() {
    let boot = "192.168.1.9:6421";
    let mut n = node("192.168.1.5:6421", &[boot], 256);
    n.handle_timeout(Instant::ZERO);
    let out = sent(&mut n);
    let Payload::IntroductionRequest(r) = wire::decode(&out[0].1).unwrap().payload else { panic!() };
    n.handle_datagram(
        Instant::ZERO,
        a("192.168.1.5:6421"),
        a(boot),
        &signed(10, response("192.168.1.5:6421", boot, r.identifier), 2),
    );
    assert_eq!(n.peers().count(), 1, "a LAN peer is a peer");
    assert_eq!(n.wan(), None, "but not a witness of our public address");
}

#[test]
fn a_replayed_request_is_not_answered_and_moves_no_peer() {
    let mut n = node("203.0.113.1:6421", &[], 256);
    let req = signed(10, request("203.0.113.1:6421", "198.51.100.7:6421", 5), 5);
    n.handle_datagram(Instant::ZERO, a("203.0.113.1:6421"), a("198.51.100.7:6421"), &req);
    assert_eq!(sent(&mut n).len(), 1, "answered");
    // The same signed bytes, replayed from the attacker's address.
    n.handle_datagram(Instant::ZERO, a("203.0.113.1:6421"), a("203.0.113.66:9"), &req);
    assert!(sent(&mut n).is_empty(), "not answered");
    assert_eq!(n.stats().stale_requests, 1);
    assert_eq!(n.peers().next().unwrap().address, a("198.51.100.7:6421"), "the peer stays where it was");
}

#[test]
fn a_puncture_request_from_anyone_we_did_not_walk_to_is_refused() {
    let mut n = node("198.51.100.5:6421", &["203.0.113.1:6421"], 256);
    let pr = Message {
        community: C,
        style: Style::New,
        global_time: 1,
        sender: None,
        payload: Payload::PunctureRequest(PunctureRequest {
            lan_walker: a("192.0.2.50:80"),
            wan_walker: a("192.0.2.50:80"),
            identifier: 1,
        }),
    };
    let bytes = wire::encode(&pr, None).unwrap();
    // Even from the bootstrap address (spoofable, and public): we never heard back from it.
    n.handle_datagram(Instant::ZERO, a("198.51.100.5:6421"), a("203.0.113.1:6421"), &bytes);
    assert!(sent(&mut n).is_empty());
    assert_eq!(n.stats().punctures_refused, 1);
}

#[test]
fn a_full_table_refuses_new_keys_instead_of_evicting_known_peers() {
    let mut n = node("203.0.113.1:6421", &[], 3);
    for seed in 10..20u8 {
        let from = format!("198.51.100.{seed}:6421");
        n.handle_datagram(
            Instant::ZERO,
            a("203.0.113.1:6421"),
            a(&from),
            &signed(seed, request("203.0.113.1:6421", &from, 1), 1),
        );
    }
    let events: Vec<Event> = std::iter::from_fn(|| n.poll_event()).collect();
    assert_eq!(events.len(), 3, "the first three were discovered");
    assert_eq!(n.peers().count(), 3);
    assert_eq!(n.stats().peers_full, 7);
}

#[test]
fn an_introducer_forwards_introductions_only_between_known_peers_within_its_budget() {
    let me = "203.0.113.1:6421";
    let mut c = Config::new(C, a(me), vec![]);
    c.punctures_per_sec = 3;
    let mut n = Node::new(c, [1; 32], Seed::from_u64(1)).unwrap();
    // Peers 10 (at .10) and 11 (at .11) make themselves known with a request each.
    for seed in [10u8, 11] {
        let from = format!("198.51.100.{seed}:6421");
        n.handle_datagram(Instant::ZERO, a(me), a(&from), &signed(seed, request(me, &from, 1), 1));
    }
    sent(&mut n);
    let target = PeerKey::from_ed25519(&Identity::from_seed([11; 32]).unwrap().public()).unwrap().mid();
    let ask = |seed: u8, target| {
        let payload =
            Payload::IntroduceMe(IntroduceMe { target, source_lan: a("10.0.0.2:6421"), identifier: 77, ports: None });
        signed(seed, payload, 2)
    };
    // A stranger's request is refused, even for a known target.
    n.handle_datagram(Instant::ZERO, a(me), a("192.0.2.66:1"), &ask(99, target));
    assert!(sent(&mut n).is_empty());
    // A known peer's request for a known target: a puncture request to the target, naming
    // where the request came from, and the answer to the walker, naming where the target
    // is; each smaller than the request.
    let request_bytes = ask(10, target);
    n.handle_datagram(Instant::ZERO, a(me), a("198.51.100.10:6421"), &request_bytes);
    let out = sent(&mut n);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, bytes)| bytes.len() < request_bytes.len()));
    assert_eq!(out[0].0, a("198.51.100.11:6421"));
    let Payload::AskedPunctureRequest(AskedPunctureRequest { request: p, ports: 1, .. }) =
        wire::decode(&out[0].1).unwrap().payload
    else {
        panic!()
    };
    assert_eq!((p.lan_walker, p.wan_walker, p.identifier), (a("10.0.0.2:6421"), a("198.51.100.10:6421"), 77));
    assert_eq!(out[1].0, a("198.51.100.10:6421"));
    let Payload::Introduced(i) = wire::decode(&out[1].1).unwrap().payload else { panic!() };
    assert_eq!((i.target, i.target_wan, i.identifier), (target, a("198.51.100.11:6421"), 77));
    // An unknown target, and then the budget of 3 a second, refuse the rest.
    n.handle_datagram(Instant::ZERO, a(me), a("198.51.100.10:6421"), &ask(10, overlay_core::Mid([5; 20])));
    for _ in 0..5 {
        n.handle_datagram(Instant::ZERO, a(me), a("198.51.100.10:6421"), &request_bytes);
    }
    // 3 a second from that address: one was used above and one by the unknown target (asking
    // costs the budget whether or not the target is known), so one more pair goes out.
    assert_eq!(sent(&mut n).len(), 2);
    assert_eq!(n.stats().introductions_made, 2);
    assert_eq!(n.stats().introductions_refused, 1 + 1 + 4);
}

/// Runs `n`'s timers up to `until`, collecting what it sends.
fn run(n: &mut Node, from: Instant, until: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut out = Vec::new();
    let mut now = from;
    loop {
        while let Some(t) = n.poll_transmit(now, &mut buf) {
            out.push((t.destination, buf[..t.len].to_vec()));
        }
        match n.poll_timeout() {
            Some(t) if t <= until => {
                now = t.max(now);
                n.handle_timeout(now);
            }
            _ => return out,
        }
    }
}

#[test]
fn a_forged_asked_for_puncture_request_holds_back_punctures_but_never_the_nodes_own_stream() {
    // The request is unsigned: anyone who spoofs an introducer's address can name a victim
    // address the node then punctures and, unanswered, leaves alone (docs/overlay.md §7.1).
    let (me, boot, victim) = ("198.51.100.5:6421", "203.0.113.1:6421", "192.0.2.50:6421");
    let mut c = Config::new(C, a(me), vec![a(boot)]);
    (c.punch_silence, c.puncture_delay) = (true, std::time::Duration::from_millis(50));
    let mut n = Node::new(c, [1; 32], Seed::from_u64(1)).unwrap();
    n.handle_timeout(Instant::ZERO);
    let Payload::IntroductionRequest(r) = wire::decode(&sent(&mut n)[0].1).unwrap().payload else { panic!() };
    n.handle_datagram(Instant::ZERO, a(me), a(boot), &signed(10, response(me, boot, r.identifier), 2));
    // A peer the node will want to message lives at the victim address.
    n.handle_datagram(Instant::ZERO, a(me), a(victim), &signed(20, request(me, victim, 1), 1));
    let peer = n.peers().find(|p| p.address == a(victim)).unwrap().key.mid();
    sent(&mut n); // the answer to the peer
    let forged = |identifier| {
        let req = PunctureRequest { lan_walker: a(victim), wan_walker: a(victim), identifier };
        let msg = Message {
            community: C,
            style: Style::New,
            global_time: 3,
            sender: None,
            payload: Payload::AskedPunctureRequest(AskedPunctureRequest {
                request: req,
                walker: Mid([9; 20]),
                ports: 1,
            }),
        };
        wire::encode(&msg, None).unwrap()
    };
    let t1 = Instant::from_secs(1);
    n.handle_datagram(t1, a(me), a(boot), &forged(7));
    let out = run(&mut n, t1, Instant::from_millis(1_100));
    let puncture = |(d, b): &(SocketAddr, Vec<u8>)| {
        *d == a(victim) && matches!(wire::decode(b).map(|m| m.payload), Ok(Payload::Puncture(_)))
    };
    assert_eq!(out.iter().filter(|x| puncture(x)).count(), 1, "the puncture, 50 ms later");
    // The victim never answers: after 20 s the node gives up on its address.
    run(&mut n, Instant::from_millis(1_100), Instant::from_secs(23));
    assert_eq!(n.stats().punches_failed, 1);
    let t2 = Instant::from_secs(23);
    n.handle_datagram(t2, a(me), a(boot), &forged(8));
    let out = run(&mut n, t2, Instant::from_millis(23_100));
    assert_eq!(out.iter().filter(|x| puncture(x)).count(), 0, "no puncture while left alone");
    assert!(n.stats().punches_held_back >= 1);
    // The node's own stream to the peer there still opens: a P2TP handshake goes out.
    n.send(t2, &peer, b"hello").unwrap();
    let out = run(&mut n, t2, Instant::from_secs(30));
    let handshakes = out
        .iter()
        .filter(|(d, b)| {
            *d == a(victim) && p2tp_core::classify(b, |c| *c == C.0, |_| false) == p2tp_core::Protocol::P2tp
        })
        .count();
    assert!(handshakes >= 1, "the node's own handshake was held back ({} datagrams sent)", out.len());
}

const WALKER: &str = "198.51.100.5:6421";
const BOOT: &str = "203.0.113.1:6421";
/// Where the target of [`asking_by_key`] moved to, as the introducer's answer says.
const MOVED: &str = "192.0.2.61:7000";

/// A node that walked to its bootstrap peer and heard from a peer at 192.0.2.60, and at 30 s
/// (not heard from lately) sends that peer a message: it sends an opener and asks the
/// bootstrap peer by key. Returns the node, the peer and the identifier asked with.
fn asking_by_key() -> (Node, overlay_core::Mid, u16) {
    let target_at = "192.0.2.60:6421";
    let mut n = node(WALKER, &[BOOT], 256);
    n.handle_timeout(Instant::ZERO);
    let Payload::IntroductionRequest(r) = wire::decode(&sent(&mut n)[0].1).unwrap().payload else { panic!() };
    n.handle_datagram(Instant::ZERO, a(WALKER), a(BOOT), &signed(10, response(WALKER, BOOT, r.identifier), 2));
    n.handle_datagram(Instant::ZERO, a(WALKER), a(target_at), &signed(20, request(WALKER, target_at, 1), 1));
    let peer = n.peers().find(|p| p.address == a(target_at)).unwrap().key.mid();
    sent(&mut n);
    let t = Instant::from_secs(30);
    n.send(t, &peer, b"hello").unwrap();
    let asked = run(&mut n, t, t)
        .into_iter()
        .find_map(|(d, b)| match wire::decode(&b).map(|m| m.payload) {
            Ok(Payload::IntroduceMe(p)) if d == a(BOOT) && p.target == peer => Some(p.identifier),
            _ => None,
        })
        .expect("the bootstrap peer was asked");
    (n, peer, asked)
}

/// The introducer's answer: `target` is at [`MOVED`].
fn introduced(target: overlay_core::Mid, identifier: u16) -> Vec<u8> {
    let p = Introduced { target, target_lan: a(MOVED), target_wan: a(MOVED), identifier };
    let msg =
        Message { community: C, style: Style::New, global_time: 5, sender: None, payload: Payload::Introduced(p) };
    wire::encode(&msg, None).unwrap()
}

/// Openers among `out` that went to [`MOVED`].
fn openers(out: &[(SocketAddr, Vec<u8>)]) -> usize {
    out.iter().filter(|(d, b)| *d == a(MOVED) && b.as_slice() == [0]).count()
}

#[test]
fn a_walker_opens_towards_the_target_where_an_introducer_it_asked_says_it_is() {
    // Asked by key, the target punctures towards this node; this node's own opener must
    // leave its NATs first, so it goes where the introducer's answer says the target is
    // (it has moved there).
    let (mut n, peer, asked) = asking_by_key();
    let t = Instant::from_secs(30);
    // From anyone not asked, with another identifier, or for another target: nothing goes there.
    n.handle_datagram(t, a(WALKER), a("192.0.2.66:1"), &introduced(peer, asked));
    n.handle_datagram(t, a(WALKER), a(BOOT), &introduced(peer, asked.wrapping_add(1)));
    n.handle_datagram(t, a(WALKER), a(BOOT), &introduced(overlay_core::Mid([7; 20]), asked));
    assert_eq!(openers(&sent(&mut n)), 0);
    assert_eq!(n.stats().stray_responses, 3);
    // From the introducer asked: the opener goes to where the target is now; once.
    n.handle_datagram(t, a(WALKER), a(BOOT), &introduced(peer, asked));
    assert_eq!(openers(&sent(&mut n)), 1);
    n.handle_datagram(t, a(WALKER), a(BOOT), &introduced(peer, asked));
    assert_eq!(openers(&sent(&mut n)), 0, "one answer per introducer");
    assert_eq!(n.stats().stray_responses, 4);
}

#[test]
fn an_answer_to_an_introduction_asked_for_too_long_ago_sends_nothing() {
    let (mut n, peer, asked) = asking_by_key();
    n.handle_datagram(Instant::from_secs(41), a(WALKER), a(BOOT), &introduced(peer, asked));
    assert_eq!(openers(&sent(&mut n)), 0);
    assert_eq!(n.stats().stray_responses, 1);
}
