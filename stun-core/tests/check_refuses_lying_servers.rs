//! A NAT check against servers that answer wrongly: an error answer is not "UDP blocked", an
//! other address the server cannot have is never contacted, and a lifetime search that starts
//! at zero still ends. Each was a defect found from outside.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::addr as a;
use sansio_core::{Instant, Machine, Seed};
use stun_core::{
    Attribute, CheckFailure, LifetimeConfig, Message, MessageType, MessageWriter, NatCheck, NatCheckConfig, NatEvent,
    NatType, error_code,
};

const LOCAL: &str = "10.0.0.2:4000";
const SERVER: &str = "192.0.2.1:3478";

/// Runs `check` against a scripted server: `answer` builds the reply to each request (or
/// `None` for silence), which always arrives at the first socket (as RESPONSE-PORT asks, so a
/// lifetime probe sees a binding that never expires). Returns the final report and every
/// destination the check sent to.
fn run(
    mut check: NatCheck,
    mut answer: impl FnMut(&Message<'_>, &mut [u8]) -> Option<usize>,
) -> (stun_core::NatReport, Vec<SocketAddr>) {
    let mut now = Instant::ZERO;
    check.start(now);
    let mut sent_to = Vec::new();
    let mut buf = [0u8; 2048];
    let mut reply = [0u8; 2048];
    for _ in 0..10_000 {
        while let Some(t) = check.poll_transmit(now, &mut buf) {
            sent_to.push(t.destination);
            let request = Message::parse(&buf[..t.len]).unwrap();
            if let Some(len) = answer(&request, &mut reply) {
                check.handle_datagram(now, a(LOCAL), t.destination, &reply[..len]);
            }
        }
        while let Some(e) = check.poll_event() {
            if let NatEvent::Done(report) = e {
                return (report, sent_to);
            }
        }
        now = check.poll_timeout().expect("a check that is not done has a deadline");
        check.handle_timeout(now);
    }
    panic!("the check never ended");
}

fn success(request: &Message<'_>, out: &mut [u8], attrs: &[Attribute<'_>]) -> usize {
    let mut w = MessageWriter::new(out, MessageType::BINDING_SUCCESS, request.transaction_id()).unwrap();
    for at in attrs {
        w.add(at).unwrap();
    }
    w.finish()
}

#[test]
fn an_error_answer_is_reported_as_such_not_as_udp_blocked() {
    let check = NatCheck::new(NatCheckConfig::new(a(SERVER), a(LOCAL)), Seed::from_u64(1));
    let (report, _) = run(check, |request, out| {
        let mut w = MessageWriter::new(out, MessageType::BINDING_ERROR, request.transaction_id()).unwrap();
        w.add(&Attribute::ErrorCode { code: error_code::SERVER_ERROR, reason: "Server Error" }).unwrap();
        Some(w.finish())
    });
    assert_eq!(report.failure, Some(CheckFailure::ErrorAnswer(500)));
    assert_ne!(report.nat_type, NatType::UdpBlocked);
}

#[test]
fn silence_is_udp_blocked_and_says_no_answer() {
    let check = NatCheck::new(NatCheckConfig::new(a(SERVER), a(LOCAL)), Seed::from_u64(2));
    let (report, sent_to) = run(check, |_, _| None);
    assert_eq!((report.nat_type, report.failure), (NatType::UdpBlocked, Some(CheckFailure::NoAnswer)));
    assert_eq!(sent_to.len(), 7, "RFC 8489's Rc = 7 sends of test I, no more");
}

#[test]
fn an_other_address_the_server_cannot_have_is_never_contacted() {
    for claimed in ["127.0.0.1:3479", "[2001:db8::9]:3479", "0.0.0.0:3479", "224.0.0.1:3479", "192.0.2.2:0"] {
        let check = NatCheck::new(NatCheckConfig::new(a(SERVER), a(LOCAL)), Seed::from_u64(3));
        let (report, sent_to) = run(check, |request, out| {
            Some(success(
                request,
                out,
                &[Attribute::XorMappedAddress(a("203.0.113.9:5000")), Attribute::OtherAddress(a(claimed))],
            ))
        });
        assert_eq!(report.failure, Some(CheckFailure::ImplausibleOtherAddress(a(claimed))), "{claimed}");
        assert_eq!(report.server_other, None);
        assert!(sent_to.iter().all(|d| *d == a(SERVER)), "{claimed}: sent to {sent_to:?}");
        assert_eq!(report.public, Some(a("203.0.113.9:5000")), "what was learned is kept");
    }
}

#[test]
fn a_lifetime_search_from_zero_with_zero_resolution_ends_within_its_budget() {
    let mut config = NatCheckConfig::new(a(SERVER), a(LOCAL));
    config.lifetime = Some(LifetimeConfig {
        first_guess: Duration::ZERO,
        resolution: Duration::ZERO,
        max: Duration::from_secs(10),
        ..LifetimeConfig::new(a("10.0.0.2:4001"))
    });
    let check = NatCheck::new(config, Seed::from_u64(4));
    // A server that always answers at the first socket: the binding never expires.
    let (report, sent_to) =
        run(check, |request, out| Some(success(request, out, &[Attribute::XorMappedAddress(a("203.0.113.9:5000"))])));
    let lifetime = report.lifetime.expect("the search finished");
    assert_eq!(lifetime.alive, Duration::from_secs(10));
    assert!(sent_to.len() <= 64, "{} requests", sent_to.len());
}

#[test]
fn a_check_never_sends_more_than_its_budget() {
    let mut config = NatCheckConfig::new(a(SERVER), a(LOCAL));
    config.request_budget = 3;
    config.lifetime =
        Some(LifetimeConfig { max: Duration::from_secs(1_000), ..LifetimeConfig::new(a("10.0.0.2:4001")) });
    let check = NatCheck::new(config, Seed::from_u64(5));
    let (report, sent_to) =
        run(check, |request, out| Some(success(request, out, &[Attribute::XorMappedAddress(a("203.0.113.9:5000"))])));
    assert_eq!(report.failure, Some(CheckFailure::BudgetExhausted));
    assert!(sent_to.len() <= 3, "{sent_to:?}");
}
