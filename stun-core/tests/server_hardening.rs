//! Defects found by attacking the STUN server from outside, each pinned by a test: an IPv6
//! client that could not discover the NAT's behaviour, IPv4 clients of a `[::]` server
//! answered in a form they cannot parse, one IPv6 site with 2^64 rate-limit allowances, and
//! answers dropped without a counter moving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;

use netsim::addr as a;
use sansio_core::{Instant, Machine, Seed};
use stun_core::{
    Attribute, Class, Message, MessageType, MessageWriter, Server, ServerConfig, ServerConfigError, TransactionId,
};

fn bare_request() -> Vec<u8> {
    let mut buf = [0u8; 20];
    let len =
        MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([9; 12])).unwrap().finish();
    buf[..len].to_vec()
}

/// Sends `request` from `client` to `local` at `now`; the answer, if any.
fn exchange(s: &mut Server, now: Instant, local: &str, client: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    s.handle_datagram(now, a(local), client, request);
    let mut buf = [0u8; 2048];
    let t = s.poll_transmit(now, &mut buf)?;
    Some(buf[..t.len].to_vec())
}

#[test]
fn a_bare_ipv6_request_still_learns_the_other_address() {
    let config = ServerConfig {
        software: Some("ipv8 test build with a long software name".into()),
        ..ServerConfig::new(a("[2001:db8::1]:3478"), Some(a("[2001:db8::2]:3479")))
    };
    let mut s = Server::new(config, Seed::from_u64(1)).unwrap();
    let client = a("[2001:db8:ffff::5]:40000");
    let answer = exchange(&mut s, Instant::ZERO, "[2001:db8::1]:3478", client, &bare_request()).unwrap();
    let m = Message::parse_checked(&answer).unwrap();
    assert_eq!(m.mapped_address(), Some(client));
    assert_eq!(m.other_address(), Some(a("[2001:db8::2]:3479")), "without it nat-check says unknown");
    let attrs: Vec<Attribute<'_>> = m.attributes().collect();
    assert!(
        !attrs.iter().any(|x| matches!(x, Attribute::Software(_))),
        "SOFTWARE (least useful) must not take the room of OTHER-ADDRESS: {attrs:?}"
    );
    assert_eq!(answer.len(), 68, "header and the two essential IPv6 addresses, nothing more");
}

#[test]
fn an_ipv4_client_of_a_dual_stack_server_is_answered_in_ipv4() {
    let config = ServerConfig::new(a("[::ffff:192.0.2.1]:3478"), Some(a("[::ffff:192.0.2.2]:3479")));
    let mut s = Server::new(config, Seed::from_u64(2)).unwrap();
    // How a socket bound to [::] sees an IPv4 client.
    let client = a("[::ffff:203.0.113.5]:40000");
    let answer = exchange(&mut s, Instant::ZERO, "[::ffff:192.0.2.1]:3478", client, &bare_request()).unwrap();
    let m = Message::parse_checked(&answer).unwrap();
    assert_eq!(m.mapped_address(), Some(a("203.0.113.5:40000")), "IPv4, which Vovida's stun can parse");
    assert_eq!(m.other_address(), Some(a("192.0.2.2:3479")));
}

#[test]
fn primary_and_alternate_of_different_families_are_refused_at_start() {
    let mixed = ServerConfig::new(a("192.0.2.1:3478"), Some(a("[2001:db8::2]:3479")));
    assert!(matches!(Server::new(mixed, Seed::from_u64(3)), Err(ServerConfigError::MixedFamilies { .. })));
    let zero = ServerConfig { rate_per_second: 0, ..ServerConfig::new(a("192.0.2.1:3478"), None) };
    assert_eq!(Server::new(zero, Seed::from_u64(3)).err(), Some(ServerConfigError::ZeroRate));
}

#[test]
fn one_ipv6_slash_64_cannot_multiply_its_allowance_by_changing_address() {
    let config = ServerConfig::new(a("[2001:db8::1]:3478"), None);
    let (rate, burst, factor) = (config.rate_per_second, config.burst, config.prefix_factor);
    let mut s = Server::new(config, Seed::from_u64(4)).unwrap();
    let request = bare_request();
    let mut answered = 0u32;
    // 2,000 requests within one second, each from a new address of the same /64.
    for i in 0..2_000u64 {
        let client = SocketAddr::new(format!("2001:db8:aaaa:bbbb::{:x}", i + 1).parse().unwrap(), 5000);
        if exchange(&mut s, Instant::from_micros(i * 500), "[2001:db8::1]:3478", client, &request).is_some() {
            answered += 1;
        }
    }
    let allowance = factor * (burst + rate);
    assert!(answered <= allowance, "{answered} answers, the /64 may have {allowance}");
    assert!(answered >= factor * burst, "{answered}: the /64's own burst must be served");
    // Another /64 is not affected.
    let other = a("[2001:db8:cccc::1]:5000");
    assert!(exchange(&mut s, Instant::from_secs(1), "[2001:db8::1]:3478", other, &request).is_some());
}

#[test]
fn a_request_with_a_huge_padding_is_dropped_and_counted() {
    let mut s = Server::new(ServerConfig::new(a("192.0.2.1:3478"), None), Seed::from_u64(5)).unwrap();
    let padding = vec![0u8; 65_000];
    let mut buf = vec![0u8; 66_000];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([1; 12])).unwrap();
    w.add(&Attribute::Padding(&padding)).unwrap();
    let len = w.finish();
    let before = s.stats();
    assert!(exchange(&mut s, Instant::ZERO, "192.0.2.1:3478", a("203.0.113.5:1"), &buf[..len]).is_none());
    let after = s.stats();
    assert_eq!(after.oversize, before.oversize + 1, "{after:?}");
    assert_eq!(after.answered, before.answered);
}

#[test]
fn error_answers_carry_the_named_codes_and_reasons() {
    let mut s = Server::new(ServerConfig::new(a("192.0.2.1:3478"), None), Seed::from_u64(6)).unwrap();
    // A change request to a server with no alternate: 420.
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([2; 12])).unwrap();
    w.add(&Attribute::ChangeRequest { change_ip: true, change_port: false }).unwrap();
    let len = w.finish();
    let answer = exchange(&mut s, Instant::ZERO, "192.0.2.1:3478", a("203.0.113.5:1"), &buf[..len]).unwrap();
    let m = Message::parse_checked(&answer).unwrap();
    assert_eq!(m.message_type().class, Class::Error);
    assert_eq!(m.error_code(), Some((stun_core::error_code::UNKNOWN_ATTRIBUTE, "Unknown Attribute")));
}

#[test]
fn an_address_whose_prefix_shares_its_rate_bucket_is_limited_without_underflow() {
    // One bucket for everything: every IPv6 source's address and /64 keys collide.
    let config = ServerConfig { buckets: 1, ..ServerConfig::new(a("[2001:db8::1]:3478"), None) };
    let burst = config.burst;
    let mut s = Server::new(config, Seed::from_u64(7)).unwrap();
    let request = bare_request();
    let client = a("[2001:db8:1::5]:5000");
    let answered = (0..u64::from(burst) * 3)
        .filter(|_| exchange(&mut s, Instant::ZERO, "[2001:db8::1]:3478", client, &request).is_some())
        .count();
    assert_eq!(answered, burst as usize, "the burst, then nothing until time passes");
    assert!(exchange(&mut s, Instant::from_secs(1), "[2001:db8::1]:3478", client, &request).is_some());
}
