//! Fuzz bodies, shared by `fuzz/` and this crate's own tests (feature `fuzzing`).

use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, Machine};

use crate::attribute::Attribute;
use crate::discovery::{LifetimeConfig, NatCheck, NatCheckConfig};
use crate::message::{Class, Message, MessageType};
use crate::server::{Server, ServerConfig};
use crate::writer::MessageWriter;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// Parses arbitrary bytes; whatever parses re-encodes to a message with the same attributes.
///
/// # Panics
///
/// When an invariant breaks (that is the point).
pub fn parse(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else { return };
    let _ = msg.verify_fingerprint();
    let _ = msg.verify_integrity(b"key");
    let _ = (msg.mapped_address(), msg.other_address(), msg.error_code(), msg.unknown_required());
    let attrs: Vec<Attribute<'_>> =
        msg.attributes().filter(|a| !matches!(a, Attribute::MessageIntegrity(_) | Attribute::Fingerprint(_))).collect();
    let mut buf = alloc::vec![0u8; data.len() + 64];
    let Ok(mut w) = MessageWriter::new(&mut buf, msg.message_type(), msg.transaction_id()) else {
        panic!("a header always fits")
    };
    for a in &attrs {
        // Values that came off the wire fit back onto it.
        assert!(w.add(a).is_ok(), "re-encoding {a:?}");
    }
    let len = w.finish();
    let again = Message::parse(&buf[..len]);
    assert!(again.is_ok_and(|m| m.attributes().eq(attrs.iter().copied())), "round trip");
}

/// Feeds arbitrary datagrams (2-byte length prefixes) to a server, from arbitrary sources, and
/// checks it never answers more than 3× a request's size, never answers a non-request, and
/// keeps its queue bounded.
///
/// # Panics
///
/// When an invariant breaks.
pub fn server(data: &[u8]) {
    let mut config = ServerConfig::new(addr("192.0.2.1:3478"), Some(addr("192.0.2.2:3479")));
    config.max_queue = 8;
    let Ok(mut s) = Server::new(config, sansio_core::Seed::from_u64(1)) else { unreachable!("a valid configuration") };
    let locals = s.config().listen_addresses();
    let mut rest = data;
    let mut now = 0u64;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])) % 600;
        let pick = rest[2];
        rest = &rest[3..];
        let datagram = &rest[..len.min(rest.len())];
        rest = &rest[datagram.len()..];
        let remote = SocketAddr::from(([203, 0, 113, pick % 4], 40_000 + u16::from(pick)));
        let local = locals[usize::from(pick) % locals.len()];
        now += u64::from(pick) * 1_000;
        s.handle_datagram(Instant::from_micros(now), local, remote, datagram);
        let mut buf = [0u8; 2048];
        while let Some(t) = s.poll_transmit(Instant::from_micros(now), &mut buf) {
            assert!(t.len <= 3 * datagram.len(), "{} answered to {}", t.len, datagram.len());
            let request = Message::parse(datagram);
            assert!(request.is_ok_and(|m| m.message_type().class == Class::Request), "answered a non-request");
            assert!(t.source.is_some_and(|src| locals.contains(&src)), "answered from a socket it does not have");
        }
    }
}

/// Runs a NAT check whose server answers are arbitrary: every datagram the check sends is
/// answered with the next fuzz chunk (its transaction id patched in half the time, so parsing
/// gets past the id check), on either local socket. The check must never panic, keep its
/// timers moving forward, and never sit without a timer before it is done.
///
/// # Panics
///
/// When an invariant breaks.
pub fn client(data: &[u8]) {
    let local = addr("10.0.0.2:4000");
    let second = addr("10.0.0.2:4001");
    let server = addr("192.0.2.1:3478");
    let mut config = NatCheckConfig::new(server, local);
    config.hairpin = data.first().is_some_and(|b| b & 1 == 1);
    config.lifetime = Some(LifetimeConfig::new(second));
    let mut check = NatCheck::new(config, sansio_core::Seed::from_u64(2));
    let mut now = Instant::ZERO;
    check.start(now);
    let mut chunks = data.chunks(48);
    let mut buf = [0u8; 2048];
    for _ in 0..10_000 {
        let mut sent = Vec::new();
        while let Some(t) = check.poll_transmit(now, &mut buf) {
            sent.push((t, buf[..t.len].to_vec()));
        }
        for (t, request) in sent {
            let Some(chunk) = chunks.next() else { break };
            let mut answer = chunk.to_vec();
            if chunk.first().is_some_and(|b| b & 1 == 0) && answer.len() >= 20 && request.len() >= 20 {
                answer[4..20].copy_from_slice(&request[4..20]);
            }
            let at = if chunk.len() % 2 == 0 { local } else { second };
            check.handle_datagram(now, at, t.destination, &answer);
        }
        while check.poll_event().is_some() {}
        if check.is_done() {
            return;
        }
        let Some(next) = check.poll_timeout() else { panic!("stuck: not done and no timer") };
        assert!(next >= now, "a timer in the past");
        now = next;
        check.handle_timeout(now);
    }
}

/// A well-formed Binding success with a mapped address: a seed for the corpus.
#[must_use]
pub fn sample_success() -> Vec<u8> {
    let mut buf = alloc::vec![0u8; 64];
    let Ok(mut w) = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, crate::TransactionId::Rfc8489([1; 12]))
    else {
        return Vec::new();
    };
    let _ = w.add(&Attribute::XorMappedAddress(addr("198.51.100.1:5000")));
    let _ = w.add(&Attribute::OtherAddress(addr("192.0.2.2:3479")));
    let len = w.finish();
    buf.truncate(len);
    buf
}
