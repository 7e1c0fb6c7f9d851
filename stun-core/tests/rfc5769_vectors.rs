//! The four RFC 5769 test vectors decode, verify (integrity and fingerprint) and re-encode
//! byte for byte. Their padding bytes are spaces, not zeros: the writer is told so.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use stun_core::{Attribute, Class, IntegrityError, Message, MessageType, MessageWriter, TransactionId, integrity};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf";
const IPV4_RESPONSE: &str = "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96";
const IPV6_RESPONSE: &str = "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c";
const LONG_TERM_REQUEST: &str = "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f72670000080014f67024656dd64a3e02b8e0712e85c9a28ca89666";

const PASSWORD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";
const TRANSACTION: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

/// Re-encodes `msg` from its decoded attributes with the given padding byte and key.
fn reencode(msg: &Message<'_>, pad: u8, key: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let mut w = MessageWriter::new(&mut buf, msg.message_type(), msg.transaction_id()).unwrap().padding_byte(pad);
    for a in msg.attributes().filter(|a| !matches!(a, Attribute::MessageIntegrity(_))) {
        w.add(&a).unwrap();
    }
    w.add_integrity(key).unwrap();
    if msg.has_fingerprint() {
        w.add_fingerprint().unwrap();
    }
    let len = w.finish();
    buf.truncate(len);
    buf
}

#[test]
fn sample_request_decodes_verifies_and_reencodes() {
    let bytes = hex(REQUEST);
    let msg = Message::parse_checked(&bytes).unwrap();
    assert_eq!(msg.message_type(), MessageType::BINDING_REQUEST);
    assert_eq!(msg.transaction_id(), TransactionId::Rfc8489(TRANSACTION));
    let attrs: Vec<Attribute<'_>> = msg.attributes().collect();
    assert_eq!(attrs[0], Attribute::Software("STUN test client"));
    assert_eq!(attrs[1], Attribute::Other { typ: 0x0024, value: &[0x6e, 0x00, 0x01, 0xff] });
    assert_eq!(attrs[2], Attribute::Other { typ: 0x8029, value: &[0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36] });
    assert_eq!(attrs[3], Attribute::Username("evtj:h6vY"));
    assert!(msg.has_fingerprint());
    msg.verify_integrity(PASSWORD).unwrap();
    assert_eq!(msg.verify_integrity(b"wrong"), Err(IntegrityError::Mismatch));
    // PRIORITY (0x0024) is comprehension-required and unknown to a plain STUN agent.
    assert_eq!(msg.unknown_required().as_slice(), &[0x0024]);
    assert_eq!(reencode(&msg, b' ', PASSWORD), bytes);
}

#[test]
fn sample_ipv4_response_decodes_verifies_and_reencodes() {
    let bytes = hex(IPV4_RESPONSE);
    let msg = Message::parse_checked(&bytes).unwrap();
    assert_eq!(msg.message_type().class, Class::Success);
    assert_eq!(msg.mapped_address(), Some("192.0.2.1:32853".parse().unwrap()));
    assert_eq!(msg.find(|a| if let Attribute::Software(s) = a { Some(s) } else { None }), Some("test vector"));
    msg.verify_integrity(PASSWORD).unwrap();
    assert_eq!(reencode(&msg, b' ', PASSWORD), bytes);
}

#[test]
fn sample_ipv6_response_decodes_verifies_and_reencodes() {
    let bytes = hex(IPV6_RESPONSE);
    let msg = Message::parse_checked(&bytes).unwrap();
    assert_eq!(msg.mapped_address(), Some("[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap()));
    msg.verify_integrity(PASSWORD).unwrap();
    assert_eq!(reencode(&msg, b' ', PASSWORD), bytes);
}

#[test]
fn long_term_request_decodes_verifies_and_reencodes() {
    let bytes = hex(LONG_TERM_REQUEST);
    let msg = Message::parse_checked(&bytes).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    let attrs: Vec<Attribute<'_>> = msg.attributes().collect();
    assert_eq!(attrs[0], Attribute::Username(username));
    assert_eq!(attrs[1], Attribute::Nonce(b"f//499k954d6OL34oL9FSTvy64sA"));
    assert_eq!(attrs[2], Attribute::Realm("example.org"));
    assert!(!msg.has_fingerprint());
    let key = integrity::long_term_key(username, "example.org", "TheMatrIX");
    msg.verify_integrity(&key).unwrap();
    assert_eq!(reencode(&msg, 0, &key), bytes);
}

#[test]
fn a_flipped_bit_fails_the_fingerprint_or_the_integrity() {
    let bytes = hex(IPV4_RESPONSE);
    let original = Message::parse(&bytes).unwrap();
    for i in 2..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        let Ok(msg) = Message::parse_checked(&bad) else { continue };
        if msg.verify_integrity(PASSWORD).is_err() {
            continue;
        }
        // Only the FINGERPRINT's own type can change unnoticed: it then becomes an unknown
        // optional attribute after MESSAGE-INTEGRITY, which is ignored, and what the HMAC
        // covers is intact.
        assert!(!msg.has_fingerprint(), "byte {i} flipped and nothing noticed");
        assert!(msg.attributes().eq(original.attributes()), "byte {i}: authenticated attributes changed");
    }
}
