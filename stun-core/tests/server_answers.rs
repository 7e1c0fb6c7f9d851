//! What the server answers, from where, to where; what it refuses; and that it never
//! amplifies beyond its stated factor, whatever it is sent.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::SocketAddr;

use netsim::addr as a;
use proptest::prelude::*;
use sansio_core::{Instant, Machine, Seed, Transmit};
use stun_core::{Attribute, Class, Message, MessageType, MessageWriter, Server, ServerConfig, TransactionId};

const P: &str = "192.0.2.1:3478";
const CLIENT: &str = "203.0.113.5:40000";

fn server(alternate: Option<&str>) -> Server {
    Server::new(ServerConfig::new(a(P), alternate.map(a)), Seed::from_u64(1)).unwrap()
}

fn request(id: TransactionId, attrs: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, id).unwrap();
    for at in attrs {
        w.add(at).unwrap();
    }
    let len = w.finish();
    buf.truncate(len);
    buf
}

fn ask(s: &mut Server, local: &str, attrs: &[Attribute<'_>]) -> Option<(Transmit, Vec<u8>)> {
    ask_raw(s, local, &request(TransactionId::Rfc8489([4; 12]), attrs))
}

fn ask_raw(s: &mut Server, local: &str, bytes: &[u8]) -> Option<(Transmit, Vec<u8>)> {
    s.handle_datagram(Instant::ZERO, a(local), a(CLIENT), bytes);
    let mut buf = vec![0u8; 2048];
    let t = s.poll_transmit(Instant::ZERO, &mut buf)?;
    buf.truncate(t.len);
    Some((t, buf))
}

#[test]
fn change_request_answers_come_from_the_addresses_of_rfc5780_table_1() {
    let mut s = server(Some("192.0.2.2:3479"));
    assert_eq!(s.config().listen_addresses().len(), 4);
    for (change_ip, change_port, from) in [
        (false, false, P),
        (true, false, "192.0.2.2:3478"),
        (false, true, "192.0.2.1:3479"),
        (true, true, "192.0.2.2:3479"),
    ] {
        let (t, bytes) = ask(&mut s, P, &[Attribute::ChangeRequest { change_ip, change_port }]).unwrap();
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(t.source, Some(a(from)), "change ip {change_ip}, port {change_port}");
        assert_eq!(t.destination, a(CLIENT));
        assert_eq!(m.mapped_address(), Some(a(CLIENT)));
        assert_eq!(m.other_address(), Some(a("192.0.2.2:3479")));
        assert!(m.attributes().any(|x| x == Attribute::ResponseOrigin(a(from))));
    }
    // From the alternate socket, "other" is the primary.
    let (_, bytes) = ask(&mut s, "192.0.2.2:3479", &[]).unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().other_address(), Some(a(P)));
}

fn error_code(bytes: &[u8]) -> Option<u16> {
    let m = Message::parse(bytes).unwrap();
    assert_eq!(m.message_type().class, Class::Error);
    m.error_code().map(|(c, _)| c)
}

#[test]
fn a_change_it_cannot_make_is_answered_420_and_other_address_is_left_out() {
    let mut single = server(None);
    let (_, bytes) = ask(&mut single, P, &[Attribute::ChangeRequest { change_ip: true, change_port: false }]).unwrap();
    assert_eq!(error_code(&bytes), Some(420));
    let (_, bytes) = ask(&mut single, P, &[]).unwrap();
    assert_eq!(Message::parse(&bytes).unwrap().other_address(), None);
    // One IP, two ports: port changes work, IP changes do not.
    let mut ports = server(Some("192.0.2.1:3479"));
    let (t, _) = ask(&mut ports, P, &[Attribute::ChangeRequest { change_ip: false, change_port: true }]).unwrap();
    assert_eq!(t.source, Some(a("192.0.2.1:3479")));
    let (_, bytes) = ask(&mut ports, P, &[Attribute::ChangeRequest { change_ip: true, change_port: true }]).unwrap();
    assert_eq!(error_code(&bytes), Some(420));
}

#[test]
fn response_port_and_response_address_redirect_but_never_to_a_third_party() {
    let mut s = server(Some("192.0.2.2:3479"));
    let (t, _) = ask(&mut s, P, &[Attribute::ResponsePort(5555)]).unwrap();
    assert_eq!(t.destination, a("203.0.113.5:5555"));
    let (t, _) = ask(&mut s, P, &[Attribute::ResponseAddress(a("203.0.113.5:6666"))]).unwrap();
    assert_eq!(t.destination, a("203.0.113.5:6666"), "same IP: the RFC 3489 lifetime test");
    let (t, bytes) = ask(&mut s, P, &[Attribute::ResponseAddress(a("198.51.100.99:53"))]).unwrap();
    assert_eq!((t.destination, error_code(&bytes)), (a(CLIENT), Some(403)), "reflection is off by default");
    let (_, bytes) = ask(&mut s, P, &[Attribute::ResponsePort(5555), Attribute::Padding(&[0; 100])]).unwrap();
    assert_eq!(error_code(&bytes), Some(400), "PADDING with RESPONSE-PORT");
}

#[test]
fn unknown_required_attributes_get_420_listing_them_and_garbage_is_dropped_and_counted() {
    let mut s = server(None);
    let (_, bytes) = ask(&mut s, P, &[Attribute::Other { typ: 0x0031, value: b"x" }]).unwrap();
    assert_eq!(error_code(&bytes), Some(420));
    let m = Message::parse(&bytes).unwrap();
    assert!(m.attributes().any(|x| x == Attribute::UnknownAttributes(&[0x00, 0x31])));
    // Optional unknown attributes are ignored.
    assert!(
        ask(&mut s, P, &[Attribute::Other { typ: 0x8031, value: b"x" }])
            .is_some_and(|(_, b)| { Message::parse(&b).unwrap().message_type().class == Class::Success })
    );
    assert!(ask_raw(&mut s, P, b"definitely not stun at all!!").is_none());
    let mut response = request(TransactionId::Rfc8489([1; 12]), &[]);
    response[0] = 0x01; // 0x0101: a success response, not a request
    assert!(ask_raw(&mut s, P, &response).is_none());
    let st = s.stats();
    assert_eq!((st.malformed, st.not_requests, st.errors, st.answered), (1, 1, 1, 1));
}

#[test]
fn a_classic_rfc3489_request_gets_mapped_source_and_changed_address() {
    let mut s = server(Some("192.0.2.2:3479"));
    let (_, bytes) = ask_raw(
        &mut s,
        P,
        &request(TransactionId::Rfc3489([7; 16]), &[Attribute::ChangeRequest { change_ip: false, change_port: false }]),
    )
    .unwrap();
    let attrs: Vec<Attribute<'_>> = Message::parse(&bytes).unwrap().attributes().collect();
    assert_eq!(
        attrs,
        [
            Attribute::MappedAddress(a(CLIENT)),
            Attribute::ChangedAddress(a("192.0.2.2:3479")),
            Attribute::SourceAddress(a(P))
        ]
    );
}

#[test]
fn one_source_is_held_to_its_rate_and_others_are_not() {
    let mut s = server(None);
    let config = s.config().clone();
    let bytes = request(TransactionId::Rfc8489([2; 12]), &[]);
    let mut answered = 0;
    for i in 0..200u64 {
        // 200 requests in one second from one source.
        s.handle_datagram(Instant::from_micros(i * 5_000), a(P), a(CLIENT), &bytes);
        let mut buf = [0u8; 2048];
        while s.poll_transmit(Instant::ZERO, &mut buf).is_some() {
            answered += 1;
        }
    }
    assert!(answered <= config.burst + config.rate_per_second + 1, "{answered} answered");
    assert!(answered >= config.burst, "{answered} answered");
    assert_eq!(s.stats().rate_limited, 200 - u64::from(answered));
    s.handle_datagram(Instant::from_secs(1), a(P), a("203.0.113.77:1"), &bytes);
    let mut buf = [0u8; 2048];
    assert!(s.poll_transmit(Instant::ZERO, &mut buf).is_some(), "another source is served");
}

proptest! {
    #[test]
    fn no_answer_is_larger_than_the_amplification_factor_allows(
        change in prop::option::of((any::<bool>(), any::<bool>())),
        port in prop::option::of(any::<u16>()),
        padding in prop::option::of(0usize..200),
        software in prop::option::of("[a-z]{0,40}"),
        v6 in any::<bool>(),
        fingerprint in any::<bool>(),
    ) {
        let mut s = if v6 {
            Server::new(ServerConfig { software: software.clone(), ..ServerConfig::new(a("[2001:db8::1]:3478"), Some(a("[2001:db8::2]:3479"))) }, Seed::from_u64(2)).unwrap()
        } else {
            Server::new(ServerConfig { software: software.clone(), ..ServerConfig::new(a(P), Some(a("192.0.2.2:3479"))) }, Seed::from_u64(2)).unwrap()
        };
        let local = s.config().primary;
        let remote: SocketAddr = if v6 { a("[2001:db8:ffff::5]:40000") } else { a(CLIENT) };
        let pad = vec![0u8; padding.unwrap_or(0)];
        let mut attrs = Vec::new();
        if let Some((change_ip, change_port)) = change { attrs.push(Attribute::ChangeRequest { change_ip, change_port }); }
        if let Some(p) = port { attrs.push(Attribute::ResponsePort(p)); }
        if padding.is_some() { attrs.push(Attribute::Padding(&pad)); }
        let mut buf = vec![0u8; 1024];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([5; 12])).unwrap();
        for at in &attrs { w.add(at).unwrap(); }
        if fingerprint { w.add_fingerprint().unwrap(); }
        let len = w.finish();
        s.handle_datagram(Instant::ZERO, local, remote, &buf[..len]);
        let mut out = [0u8; 2048];
        let t = s.poll_transmit(Instant::ZERO, &mut out).unwrap();
        // The two essential attributes (mapped and other address) may exceed 3x a bare IPv6
        // request: header, two addresses, and the fingerprint if asked for.
        let essential = 20 + 2 * if v6 { 24 } else { 12 } + if fingerprint { 8 } else { 0 };
        prop_assert!(t.len <= (3 * len).max(essential), "{} bytes answered to {}", t.len, len);
        let m = Message::parse_checked(&out[..t.len]).unwrap();
        if m.message_type().class == Class::Success {
            prop_assert_eq!(m.mapped_address(), Some(remote), "the mapped address is never left out");
            prop_assert!(m.other_address().is_some(), "a change-capable server is always discoverable");
        }
    }
}
