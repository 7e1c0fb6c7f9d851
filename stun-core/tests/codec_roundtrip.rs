//! Every attribute survives a write and a parse (proptest); truncated, over-long, misaligned
//! and lying input is refused with a typed error, never a panic.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use stun_core::{Attribute, AttributeError, Message, MessageType, MessageWriter, ParseError, TransactionId, attribute};

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port)),
    ]
}

/// Owned inputs for every attribute kind (the borrowed `Attribute` is built from them).
#[derive(Clone, Debug)]
enum Spec {
    Address(u8, SocketAddr),
    Change(bool, bool),
    Port(u16),
    Bytes(u8, Vec<u8>),
    Text(u8, String),
    Error(u16, String),
    Unknown(Vec<u16>),
    Other(u16, Vec<u8>),
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (0u8..7, socket_addr()).prop_map(|(k, a)| Spec::Address(k, a)),
        (any::<bool>(), any::<bool>()).prop_map(|(i, p)| Spec::Change(i, p)),
        any::<u16>().prop_map(Spec::Port),
        (0u8..2, prop::collection::vec(any::<u8>(), 0..70)).prop_map(|(k, b)| Spec::Bytes(k, b)),
        (0u8..3, "\\PC{0,40}").prop_map(|(k, t)| Spec::Text(k, t)),
        (300u16..700, "[a-zA-Z ]{0,30}").prop_map(|(c, r)| Spec::Error(c, r)),
        prop::collection::vec(any::<u16>(), 0..6).prop_map(Spec::Unknown),
        // Types this crate does not decode.
        (prop_oneof![0x0030u16..0x0100, 0x8030u16..0x9000], prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(t, v)| Spec::Other(t, v)),
    ]
}

fn attribute_of<'a>(s: &'a Spec, scratch: &'a mut Vec<u8>) -> Attribute<'a> {
    match s {
        Spec::Address(k, a) => match k {
            0 => Attribute::MappedAddress(*a),
            1 => Attribute::XorMappedAddress(*a),
            2 => Attribute::ResponseAddress(*a),
            3 => Attribute::SourceAddress(*a),
            4 => Attribute::ChangedAddress(*a),
            5 => Attribute::OtherAddress(*a),
            _ => Attribute::ResponseOrigin(*a),
        },
        Spec::Change(i, p) => Attribute::ChangeRequest { change_ip: *i, change_port: *p },
        Spec::Port(p) => Attribute::ResponsePort(*p),
        Spec::Bytes(0, b) => Attribute::Padding(b),
        Spec::Bytes(_, b) => Attribute::Nonce(b),
        Spec::Text(0, t) => Attribute::Software(t),
        Spec::Text(1, t) => Attribute::Username(t),
        Spec::Text(_, t) => Attribute::Realm(t),
        Spec::Error(c, r) => Attribute::ErrorCode { code: *c, reason: r },
        Spec::Unknown(types) => {
            *scratch = types.iter().flat_map(|t| t.to_be_bytes()).collect();
            Attribute::UnknownAttributes(scratch)
        }
        Spec::Other(t, v) => Attribute::Other { typ: *t, value: v },
    }
}

fn transaction_id() -> impl Strategy<Value = TransactionId> {
    prop_oneof![
        any::<[u8; 12]>().prop_map(TransactionId::Rfc8489),
        // A 3489 id must not start with the cookie, or it reads as an 8489 one.
        any::<[u8; 16]>()
            .prop_filter("not the cookie", |b| b[..4] != [0x21, 0x12, 0xa4, 0x42])
            .prop_map(TransactionId::Rfc3489),
    ]
}

proptest! {
    #[test]
    fn every_attribute_round_trips(specs in prop::collection::vec(spec(), 0..8), id in transaction_id(), key in prop::option::of(prop::collection::vec(any::<u8>(), 1..40)), fingerprint: bool) {
        let mut scratches: Vec<Vec<u8>> = vec![Vec::new(); specs.len()];
        let attrs: Vec<Attribute<'_>> = specs.iter().zip(scratches.iter_mut()).map(|(s, b)| attribute_of(s, b)).collect();
        let mut buf = vec![0u8; 2048];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, id).unwrap();
        for a in &attrs {
            w.add(a).unwrap();
        }
        if let Some(k) = &key {
            w.add_integrity(k).unwrap();
        }
        if fingerprint {
            w.add_fingerprint().unwrap();
        }
        let len = w.finish();
        let msg = Message::parse(&buf[..len]).unwrap();
        prop_assert_eq!(msg.transaction_id(), id);
        prop_assert_eq!(msg.message_type(), MessageType::BINDING_SUCCESS);
        let back: Vec<Attribute<'_>> = msg.attributes().filter(|a| !matches!(a, Attribute::MessageIntegrity(_))).collect();
        prop_assert_eq!(back, attrs);
        prop_assert_eq!(msg.has_fingerprint(), fingerprint);
        if let Some(k) = &key {
            prop_assert!(msg.verify_integrity(k).is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = Message::parse(&bytes) {
            let _ = msg.attributes().count();
            let _ = msg.mapped_address();
            let _ = msg.verify_integrity(b"key");
        }
    }

    #[test]
    fn every_truncation_of_a_valid_message_is_refused(cut in 0usize..63) {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([3; 12])).unwrap();
        w.add(&Attribute::Software("ipv8")).unwrap();
        w.add(&Attribute::XorMappedAddress("10.0.0.1:5".parse().unwrap())).unwrap();
        w.add_fingerprint().unwrap();
        let len = w.finish();
        prop_assert_eq!(len, 48);
        prop_assume!(cut < len);
        prop_assert!(Message::parse(&buf[..cut]).is_err());
    }
}

fn valid() -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([3; 12])).unwrap();
    w.add(&Attribute::ChangeRequest { change_ip: true, change_port: true }).unwrap();
    let len = w.finish();
    buf[..len].to_vec()
}

#[test]
fn malformed_input_gets_the_error_that_names_it() {
    assert!(matches!(Message::parse(&[0; 19]), Err(ParseError::TooShort(19))));
    let mut not_stun = valid();
    not_stun[0] = 0x80;
    assert!(matches!(Message::parse(&not_stun), Err(ParseError::NotStun)));
    // Over-long: bytes beyond the stated length.
    let mut long = valid();
    long.extend([0; 4]);
    assert!(matches!(Message::parse(&long), Err(ParseError::BadLength { declared: 8, actual: 32 })));
    // Misaligned: a length that is not a multiple of 4.
    let mut odd = valid();
    odd[3] = 7;
    odd.pop();
    assert!(matches!(Message::parse(&odd), Err(ParseError::BadLength { declared: 7, .. })));
    // Lying attribute length: CHANGE-REQUEST claims 12 bytes in an 8-byte body.
    let mut lying = valid();
    lying[23] = 12;
    assert!(matches!(
        Message::parse(&lying),
        Err(ParseError::Truncated { typ: attribute::CHANGE_REQUEST, offset: 20 })
    ));
    // A known attribute with the wrong size: CHANGE-REQUEST of 2 bytes (padded to 4).
    let mut short = valid();
    short[23] = 2;
    assert!(matches!(Message::parse(&short), Err(ParseError::BadAttribute { error: AttributeError::Length(2), .. })));
    // A bad address family.
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, TransactionId::Rfc8489([1; 12])).unwrap();
    w.add(&Attribute::MappedAddress("1.2.3.4:5".parse().unwrap())).unwrap();
    let len = w.finish();
    buf[25] = 3;
    assert!(matches!(
        Message::parse(&buf[..len]),
        Err(ParseError::BadAttribute { error: AttributeError::Family(3), .. })
    ));
}

#[test]
fn a_wrong_fingerprint_is_refused_and_nothing_may_follow_it() {
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([9; 12])).unwrap();
    w.add_fingerprint().unwrap();
    assert!(w.add(&Attribute::Software("late")).is_err(), "the writer refuses too");
    let len = w.finish();
    let mut bad = buf[..len].to_vec();
    bad[len - 1] ^= 1;
    assert_eq!(Message::parse_checked(&bad).unwrap_err(), ParseError::BadFingerprint);
    assert!(Message::parse(&bad).is_ok(), "plain parse leaves the CRC to verify_fingerprint");
}

#[test]
fn the_writer_refuses_what_does_not_fit() {
    let mut small = [0u8; 30];
    let mut w = MessageWriter::new(&mut small, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([0; 12])).unwrap();
    assert!(w.add(&Attribute::XorMappedAddress("[::1]:1".parse().unwrap())).is_err());
    assert!(w.add(&Attribute::ErrorCode { code: 200, reason: "" }).is_err());
    assert!(MessageWriter::new(&mut [0u8; 10], MessageType::BINDING_REQUEST, TransactionId::Rfc8489([0; 12])).is_err());
}
