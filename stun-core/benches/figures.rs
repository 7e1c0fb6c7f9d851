//! Headline figures of the STUN codec, printed as `figure NAME VALUE UNIT`, on the RFC 5769
//! IPv4 response (80 bytes: SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT):
//!
//! - `stun_decode_ns`: parse and validate it (header, every attribute's bounds and value) and
//!   read the mapped address, like pion/stun's decode benchmark (22 ns on an i7-8700K). Goal
//!   ≤ 25.
//! - `stun_decode_checked_ns`: the same plus the FINGERPRINT's CRC-32 (`parse_checked`), what
//!   our machines do with every datagram.
//! - `stun_encode_ns`: write the same response without MESSAGE-INTEGRITY (SOFTWARE,
//!   XOR-MAPPED-ADDRESS, FINGERPRINT), as pion/stun's 28 ns figure does.
//! - `stun_encode_with_integrity_ns`: the whole vector, HMAC-SHA1 included.
//! - `stun_decode_vs_stun_rs_ratio`: our decode time over stun-rs's for the same bytes, in
//!   the same run. Goal < 1.
//!
//! `cargo test --benches` runs it with fewer rounds.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use stun_core::{Attribute, Message, MessageType, MessageWriter, TransactionId};

const IPV4_RESPONSE: [u8; 80] = [
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf,
    0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20,
    0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd,
    0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04,
    0xc0, 0x7d, 0x4c, 0x96,
];
const TRANSACTION: [u8; 12] = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];

/// Nanoseconds per call of `f`, best of five rounds of `n` calls.
fn ns_per(n: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 2_000_000 } else { 10_000 };
    let mapped = "192.0.2.1:32853".parse().unwrap();

    let decode = ns_per(n, || {
        let msg = Message::parse(black_box(&IPV4_RESPONSE)).unwrap();
        assert_eq!(black_box(msg.mapped_address()), Some(mapped));
    });
    println!("figure stun_decode_ns {decode:.1} ns");
    let checked = ns_per(n, || {
        let msg = Message::parse_checked(black_box(&IPV4_RESPONSE)).unwrap();
        assert_eq!(black_box(msg.mapped_address()), Some(mapped));
    });
    println!("figure stun_decode_checked_ns {checked:.1} ns");

    let mut buf = [0u8; 128];
    let id = TransactionId::Rfc8489(TRANSACTION);
    let encode = ns_per(n, || {
        let mut w =
            MessageWriter::new(black_box(&mut buf), MessageType::BINDING_SUCCESS, id).unwrap().padding_byte(b' ');
        w.add(&Attribute::Software("test vector")).unwrap();
        w.add(&Attribute::XorMappedAddress(black_box(mapped))).unwrap();
        w.add_fingerprint().unwrap();
        black_box(w.finish());
    });
    println!("figure stun_encode_ns {encode:.1} ns");

    let key = b"VOkJxbRl1RmTxUk/WvJxBt";
    let with_integrity = ns_per(n / 10, || {
        let mut w =
            MessageWriter::new(black_box(&mut buf), MessageType::BINDING_SUCCESS, id).unwrap().padding_byte(b' ');
        w.add(&Attribute::Software("test vector")).unwrap();
        w.add(&Attribute::XorMappedAddress(mapped)).unwrap();
        w.add_integrity(key).unwrap();
        w.add_fingerprint().unwrap();
        assert_eq!(w.finish(), 80);
    });
    assert_eq!(buf[..80], IPV4_RESPONSE, "the encoder reproduces the vector");
    println!("figure stun_encode_with_integrity_ns {with_integrity:.1} ns");

    let decoder = stun_rs::MessageDecoderBuilder::default().build();
    let theirs = ns_per(n / 4, || {
        let (msg, _) = decoder.decode(black_box(&IPV4_RESPONSE)).unwrap();
        let xor = msg.get::<stun_rs::attributes::stun::XorMappedAddress>().unwrap();
        black_box(xor);
    });
    println!("figure stun_rs_decode_ns {theirs:.1} ns");
    println!("figure stun_decode_vs_stun_rs_ratio {:.3} ratio", decode / theirs);
}
