//! One record, one encoding: what decodes re-encodes to the same bytes, every non-canonical or
//! badly signed form is refused with its reason, and keys are not interchangeable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;

use proptest::prelude::*;
use sync_core::{
    Body, DecodeError, Identity, MAX_METADATA_LEN, Record, RelationType, SignatureError, VerifiedRecord, VerifyError,
};

fn alice() -> Identity {
    Identity::from_seed([1; 32]).unwrap()
}
fn bob() -> Identity {
    Identity::from_seed([2; 32]).unwrap()
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=MAX_METADATA_LEN).prop_map(|metadata| Body::Peer { metadata }),
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Body::Binding { address: SocketAddr::from((ip, port)) }),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_filter("v4-mapped addresses are written as IPv4", |(ip, _)| {
                std::net::Ipv6Addr::from(*ip).to_ipv4_mapped().is_none()
            })
            .prop_map(|(ip, port)| Body::Binding { address: SocketAddr::from((ip, port)) }),
        (any::<u8>(), any::<u32>()).prop_map(|(kind, strength)| Body::Relation {
            subject: bob().public(),
            kind: RelationType(kind),
            strength,
            countersigned: false
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_signed_record_round_trips_byte_for_byte(ts in any::<u64>(), body in body()) {
        let rec = alice().sign(ts, body).unwrap();
        let again = VerifiedRecord::decode(rec.bytes()).unwrap();
        prop_assert_eq!(&again, &rec);
        prop_assert_eq!(again.record().encode().unwrap(), rec.bytes().to_vec());
    }

    #[test]
    fn any_single_bit_flip_is_refused(ts in any::<u64>(), body in body(), bit in any::<prop::sample::Index>()) {
        let rec = alice().sign(ts, body).unwrap();
        let mut bytes = rec.bytes().to_vec();
        let i = bit.index(bytes.len() * 8);
        bytes[i / 8] ^= 1 << (i % 8);
        prop_assert!(VerifiedRecord::decode(&bytes).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let _ = VerifiedRecord::decode(&bytes);
    }
}

#[test]
fn a_v4_mapped_binding_is_signed_as_ipv4() {
    let mapped: SocketAddr = "[::ffff:192.0.2.7]:9".parse().unwrap();
    let rec = alice().sign(5, Body::Binding { address: mapped }).unwrap();
    let back = VerifiedRecord::decode(rec.bytes()).unwrap();
    assert_eq!(back.record().body, Body::Binding { address: "192.0.2.7:9".parse().unwrap() });
}

#[test]
fn each_non_canonical_form_is_refused_with_its_reason() {
    let rec = alice().sign(5, Body::Binding { address: "192.0.2.7:9".parse().unwrap() }).unwrap();
    let ok = rec.bytes().to_vec();

    let mut trailing = ok.clone();
    trailing.push(0);
    assert_eq!(Record::decode(&trailing), Err(DecodeError::TooLong));
    assert_eq!(Record::decode(&ok[..ok.len() - 1]), Err(DecodeError::Truncated));
    let mut version = ok.clone();
    version[0] = 2;
    assert_eq!(Record::decode(&version), Err(DecodeError::Version(2)));
    let mut kind = ok.clone();
    kind[1] = 9;
    assert_eq!(Record::decode(&kind), Err(DecodeError::Kind(9)));
    let mut family = ok.clone();
    family[42] = 5;
    assert!(matches!(Record::decode(&family), Err(DecodeError::NonCanonical(_))));

    // An IPv4-mapped address written as IPv6.
    let mut mapped = ok[..42].to_vec();
    mapped.push(6);
    mapped.extend_from_slice(&"::ffff:192.0.2.7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    mapped.extend_from_slice(&9u16.to_be_bytes());
    mapped.extend_from_slice(&[0; 64]);
    assert_eq!(Record::decode(&mapped), Err(DecodeError::NonCanonical("IPv4-mapped IPv6 address")));

    let long = alice().sign(5, Body::Peer { metadata: vec![0; MAX_METADATA_LEN + 1] });
    assert_eq!(long, Err(DecodeError::TooLong));
    let me = alice().public();
    let selfish = alice()
        .sign(5, Body::Relation { subject: me, kind: RelationType::SOCIAL_FRIEND, strength: 1, countersigned: false });
    assert_eq!(selfish, Err(DecodeError::NonCanonical("relation to oneself")));

    let rel = alice()
        .sign(
            5,
            Body::Relation {
                subject: bob().public(),
                kind: RelationType::SOCIAL_FRIEND,
                strength: 1,
                countersigned: false,
            },
        )
        .unwrap();
    let mut flags = rel.bytes().to_vec();
    flags[42 + 32 + 1 + 4] = 2;
    assert_eq!(Record::decode(&flags), Err(DecodeError::NonCanonical("relation flags")));
}

#[test]
fn a_signature_from_another_key_does_not_verify() {
    let rec = alice().sign(5, Body::Peer { metadata: b"alice".to_vec() }).unwrap();
    let mut forged = rec.bytes().to_vec();
    forged[2..34].copy_from_slice(&bob().public().0);
    assert_eq!(VerifiedRecord::decode(&forged), Err(VerifyError::Signature(SignatureError::Signer)));
}

#[test]
fn a_countersigned_relation_needs_both_keys() {
    let draft = alice().sign_for_countersigning(9, bob().public(), RelationType::TRAFFIC_EXCHANGE, 4096);
    let both = bob().countersign(&draft).unwrap();
    assert!(both.record().countersignature.is_some());
    // Someone else cannot countersign in Bob's place.
    assert!(alice().countersign(&draft).is_err());
    let mut bad = both.bytes().to_vec();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(VerifiedRecord::decode(&bad), Err(VerifyError::Signature(SignatureError::Countersigner)));
}
