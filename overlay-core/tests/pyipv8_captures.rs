//! py-ipv8 3.2's own datagrams, captured from three peers on loopback (reference pyipv8.md
//! §5): each decodes to what the capture annotates, its signature verifies, and our encoder
//! writes the same bytes (for signed messages, all but the sender's key and signature, which
//! only its secret can make).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;

use overlay_core::PeerKey;
use overlay_core::wire::{self, DecodeError, Message, Payload, Signer, Style, request_flags, response_flags};
use sync_core::Identity;

fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex).unwrap()
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const COMMUNITY: [u8; 20] = [
    0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0,
    0xde,
];

const MSG_246: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0def6004a4c69624e61434c504b3af76cb730277e7c6e8b6cd2d93123aca5857090d0e66a3307a4f71076efd37d4aa84110c8efc6d2ac617f425843135e92f9cf3cc0c55d01c2a0eb94c1788ea99f00000000000000017f00000146517f00000146527f00000146520100017b8434fbbd8a64d28506abecedeafc650f8f4140047c4ea496db2c8302a7c95ea15639f5f05b4b9f8bc47c200e21d8c88ae917769258179706929b998beabb01";
const MSG_245: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0def5004a4c69624e61434c504b3a59ae61c5507ebe58ef352d927a6512ed2c6685e148369f12ff6868e619b7453b65cd51efbc451c2c4c0bc0266134dc7f2e93995fa3ef9c6a23c5cbd4d94af33200000000000000057f00000146537f00000146517f00000146517f00000146527f000001465218000179cfd2fa0e902debd5a7573faf757783930f6df9b492a3525ac34853686dcb61c2f3dc76c5c08263bd1bd4ab16b017a728f51bcb466edfa7a7d7cb1b045ca708";
const MSG_250: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0defa00000000000000067f00000146517f00000146530001";
const MSG_249: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0def9004a4c69624e61434c504b3af76cb730277e7c6e8b6cd2d93123aca5857090d0e66a3307a4f71076efd37d4aa84110c8efc6d2ac617f425843135e92f9cf3cc0c55d01c2a0eb94c1788ea99f00000000000000067f00000146527f000001465300013541b28f0ec26baec855c91663f7b99252ef184d93869fbb1211590ac5a1978541e74a6a7a0e0b67a12d3ec45d3d513154cb46a51f80ef278ae39867a65af006";
const MSG_234: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0deea004a4c69624e61434c504b3af76cb730277e7c6e8b6cd2d93123aca5857090d0e66a3307a4f71076efd37d4aa84110c8efc6d2ac617f425843135e92f9cf3cc0c55d01c2a0eb94c1788ea99f0000000000000002017f0000014651017f0000014652017f000001465200020004b309244cdf5f9042d53aa829d7101f4a49a652c3b1bb7b9cae5cb93745c16df2647b1caffc07dc6148bbe6bf3a785624f1d372420447a6151f1705c428890b";
const MSG_233: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0dee9004a4c69624e61434c504b3a59ae61c5507ebe58ef352d927a6512ed2c6685e148369f12ff6868e619b7453b65cd51efbc451c2c4c0bc0266134dc7f2e93995fa3ef9c6a23c5cbd4d94af3320000000000000007017f0000014652017f0000014651017f0000014651017f0000014653017f000001465300040010f1177cc7e2b8235a0ac1a5253432a4bdd2a6ae06d265bb75326c968e520a704e7cab2af8a4def5488eaf2aa93d82f76b664d7df3b81eea212fc4366dd71f0c";
const MSG_232: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0dee80000000000000008017f0000014651017f00000146520004";
const MSG_231: &str = "00027e57c0de7e57c0de7e57c0de7e57c0de7e57c0dee7004a4c69624e61434c504b3a62c6794c21d7853ab0f6fc1eae95e33e431d9937d2b84f9eb3612efa67c285197fa1c1ac19008b82a5bc111c8445d7d13782ce4e65e9d4010610dea0708d411b0000000000000003017f0000014653017f0000014652000414debfec3494a9c0f9359451afa4612432e66b677aca2d804999156353a96d67eac463f26c82882b5cdf0489a5cf443b9f3f73a82934a42084d72db1827ebe0f";

/// Decodes `hex`, checks the community, and that our encoder writes the same layout.
fn check(hex: &str) -> Message {
    let raw = bytes(hex);
    let m = wire::decode(&raw).unwrap();
    assert_eq!(m.community.0, COMMUNITY);
    let id = Identity::from_seed([1; 32]).unwrap();
    let key = PeerKey::from_ed25519(&id.public()).unwrap();
    let ours = wire::encode(&m, Some(Signer { identity: &id, key: &key })).unwrap();
    assert_eq!(ours.len(), raw.len());
    if m.sender.is_some() {
        // Same bytes but the key bin (25..99) and the signature (last 64).
        assert_eq!(ours[..25], raw[..25]);
        assert_eq!(ours[99..ours.len() - 64], raw[99..raw.len() - 64]);
        assert!(wire::decode(&ours).is_ok(), "ours verifies too");
    } else {
        assert_eq!(ours, raw);
    }
    m
}

#[test]
fn old_introduction_request_246() {
    let m = check(MSG_246);
    assert_eq!((m.style, m.global_time), (Style::Old, 1));
    assert_eq!(hex::encode(m.sender.unwrap().mid().0), "0eb5977f0de337d8754400d754c8468d2406ae0a");
    let Payload::IntroductionRequest(r) = m.payload else { panic!("{:?}", m.payload) };
    assert_eq!(
        (r.destination, r.source_lan, r.source_wan),
        (a("127.0.0.1:18001"), a("127.0.0.1:18002"), a("127.0.0.1:18002"))
    );
    assert_eq!((r.flags, r.identifier, r.extra.len()), (request_flags::ADVICE, 1, 0));
}

#[test]
fn old_introduction_response_245() {
    let m = check(MSG_245);
    assert_eq!(hex::encode(m.sender.unwrap().mid().0), "929c6e0a4e018e21eb51578f11953f483535320a");
    let Payload::IntroductionResponse(r) = m.payload else { panic!() };
    assert_eq!(r.destination, a("127.0.0.1:18003"));
    assert_eq!((r.lan_introduction, r.wan_introduction), (a("127.0.0.1:18002"), a("127.0.0.1:18002")));
    assert_eq!(r.flags, response_flags::OLD_SUPPORTS_NEW_STYLE | response_flags::OLD_INTRO_SUPPORTS_NEW_STYLE);
    assert_eq!(r.identifier, 1);
}

#[test]
fn old_puncture_request_250_is_unsigned() {
    let m = check(MSG_250);
    assert_eq!((m.sender, m.global_time), (None, 6));
    let Payload::PunctureRequest(p) = m.payload else { panic!() };
    assert_eq!((p.lan_walker, p.wan_walker, p.identifier), (a("127.0.0.1:18001"), a("127.0.0.1:18003"), 1));
}

#[test]
fn old_puncture_249() {
    let m = check(MSG_249);
    let Payload::Puncture(p) = m.payload else { panic!() };
    assert_eq!((p.source_lan, p.source_wan, p.identifier), (a("127.0.0.1:18002"), a("127.0.0.1:18003"), 1));
}

#[test]
fn new_introduction_request_234_writes_the_identifier_before_the_flags() {
    let m = check(MSG_234);
    assert_eq!((m.style, m.global_time), (Style::New, 2));
    let Payload::IntroductionRequest(r) = m.payload else { panic!() };
    assert_eq!((r.destination, r.identifier, r.flags), (a("127.0.0.1:18001"), 2, 0));
}

#[test]
fn new_introduction_response_233() {
    let m = check(MSG_233);
    let Payload::IntroductionResponse(r) = m.payload else { panic!() };
    assert_eq!(
        (r.destination, r.wan_introduction, r.identifier, r.flags),
        (a("127.0.0.1:18002"), a("127.0.0.1:18003"), 4, 0)
    );
}

#[test]
fn new_puncture_request_232_and_puncture_231() {
    let m = check(MSG_232);
    let Payload::PunctureRequest(p) = m.payload else { panic!() };
    assert_eq!((p.lan_walker, p.wan_walker, p.identifier), (a("127.0.0.1:18001"), a("127.0.0.1:18002"), 4));
    let m = check(MSG_231);
    assert_eq!(hex::encode(m.sender.unwrap().mid().0), "d985cffe155be1faf1d95682e332de55b34162ad");
    let Payload::Puncture(p) = m.payload else { panic!() };
    assert_eq!((p.source_lan, p.source_wan, p.identifier), (a("127.0.0.1:18003"), a("127.0.0.1:18002"), 4));
}

#[test]
fn one_flipped_bit_anywhere_in_a_signed_capture_is_refused() {
    let raw = bytes(MSG_234);
    for i in 0..raw.len() {
        let mut b = raw.clone();
        b[i] ^= 0x04;
        assert!(wire::decode(&b).is_err(), "byte {i}");
    }
}

#[test]
fn ipv6_goes_only_in_the_new_style() {
    let id = Identity::from_seed([2; 32]).unwrap();
    let key = PeerKey::from_ed25519(&id.public()).unwrap();
    let signer = Some(Signer { identity: &id, key: &key });
    let v6 = a("[2001:db8::1]:6421");
    let m = |style| Message {
        community: overlay_core::wire::Community([1; 20]),
        style,
        global_time: 9,
        sender: Some(key),
        payload: Payload::Puncture(overlay_core::wire::Puncture { source_lan: v6, source_wan: v6, identifier: 3 }),
    };
    assert_eq!(wire::encode(&m(Style::Old), signer), Err(wire::EncodeError::Ipv6InOldStyle));
    let bytes = wire::encode(&m(Style::New), signer).unwrap();
    assert_eq!(wire::decode(&bytes).unwrap(), m(Style::New));
    // A domain-name address (type 2), which py-ipv8 refuses as well.
    let mut domain = bytes.clone();
    domain[107] = 2;
    assert!(wire::decode(&domain).is_err());
    // An IPv4-mapped IPv6 address stays what it was on the wire (found by the fuzz target).
    let mapped = Message {
        community: overlay_core::wire::Community([1; 20]),
        style: Style::New,
        global_time: 1,
        sender: None,
        payload: Payload::PunctureRequest(overlay_core::wire::PunctureRequest {
            lan_walker: a("[::ffff:3.3.3.3]:1"),
            wan_walker: a("3.3.3.3:1"),
            identifier: 1,
        }),
    };
    let raw = wire::encode(&mapped, None).unwrap();
    assert_eq!(raw[31], 3, "type 3: IPv6");
    assert_eq!(wire::encode(&wire::decode(&raw).unwrap(), None).unwrap(), raw);
    assert_eq!(wire::decode(&[0, 2]), Err(DecodeError::Truncated));
    assert_eq!(wire::decode(&[0, 3]), Err(DecodeError::NotCommunity));
}

#[test]
fn the_fuzz_bodies_hold_on_the_captures_and_random_bytes() {
    let mut all = Vec::new();
    for hex in [MSG_246, MSG_245, MSG_250, MSG_249, MSG_234, MSG_233, MSG_232, MSG_231] {
        let b = bytes(hex);
        overlay_core::fuzz::discovery_decode(&b);
        all.extend_from_slice(&(b.len() as u16).to_le_bytes());
        all.extend_from_slice(&b);
    }
    overlay_core::fuzz::node_datagrams(&all);
    let mut rng = sansio_core::SeededRng::from_seed(sansio_core::Seed::from_u64(5));
    for len in [0, 30, 200, 2_000] {
        for _ in 0..50 {
            let mut d = vec![0u8; len];
            rng.fill_bytes(&mut d);
            overlay_core::fuzz::discovery_decode(&d);
            overlay_core::fuzz::node_datagrams(&d);
        }
    }
}
