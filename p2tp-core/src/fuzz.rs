//! Fuzz bodies (feature `fuzzing`), run by `fuzz/` and by the corpus test.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::{Instant, Machine, Seed};

use crate::{Config, Endpoint, Header, Protocol, classify};

/// Decodes arbitrary bytes as a header; what decodes re-encodes to the same 8 bytes, and the
/// demultiplexer never takes a P2TP packet this endpoint could send for STUN.
///
/// # Panics
///
/// When an invariant breaks.
pub fn header(data: &[u8]) {
    if let Some(h) = Header::decode(data) {
        let mut again = [0u8; 8];
        h.encode(&mut again);
        assert_eq!(&again[..], &data[..8], "decode then encode is the identity");
    }
    let _ = classify(data, |_| true, |_| true);
}

/// Feeds an endpoint arbitrary datagrams from a few sources and arbitrary commands, in
/// virtual time, and checks it never panics, never sends more than the budget allows in one
/// datagram, never sends a P2TP packet that reads as STUN, and keeps bounded state. Half the
/// datagrams answer the endpoint's last packet the way a peer would (echoing its cookie or
/// timestamp), with fuzz bytes for the rest, so handshakes complete and streams carry data.
///
/// # Panics
///
/// When an invariant breaks.
pub fn endpoint(data: &[u8]) {
    let local: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 4000));
    let config = Config { max_streams: 4, max_queued_per_stream: 8, max_queued: 16, ..Config::new(local) };
    let mut e = Endpoint::new(config, Seed::from_u64(1));
    let mut now = Instant::ZERO;
    let mut buf = [0u8; 2048];
    let mut rest = data;
    let mut last: Option<(SocketAddr, Header)> = None;
    let mut peer_seq = 0u32;
    while rest.len() >= 3 {
        let (op, len) = (rest[0], usize::from(rest[1]) % 64);
        let peer = SocketAddr::from(([198, 51, 100, rest[2] % 4], 5000));
        rest = &rest[3..];
        let body = &rest[..len.min(rest.len())];
        rest = &rest[body.len()..];
        now += Duration::from_micros(u64::from(op) * 997);
        match op % 8 {
            0 => {
                let _ = e.connect(now, peer);
            }
            1 => {
                let _ = e.send(now, peer, body);
            }
            2 => {
                let _ = e.close(now, peer);
            }
            3 => e.handle_timeout(now),
            4 | 5 => {
                // Answer the last packet as a peer would.
                if let Some((to, h)) = last {
                    peer_seq = peer_seq.wrapping_add(1) & crate::serial::MASK;
                    let answer = match (h.sop, h.yts) {
                        (false, false) => Header { v1: peer_seq, yts: true, v2: h.v1, ..Header::default() },
                        (false, true) => Header { sop: true, v1: peer_seq, yts: true, v2: h.v1, ..Header::default() },
                        (true, _) => Header {
                            sop: true,
                            v1: peer_seq,
                            yts: op % 2 == 0,
                            v2: if op % 2 == 0 { h.v2 } else { u32::from(op) },
                            ..Header::default()
                        },
                    };
                    let mut d = Vec::with_capacity(8 + body.len());
                    d.extend_from_slice(&[0; 8]);
                    answer.encode(&mut d);
                    d.extend_from_slice(body);
                    e.handle_datagram(now, local, to, &d);
                }
            }
            _ => e.handle_datagram(now, local, peer, body),
        }
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            assert!(t.len <= 1200, "a datagram over the budget");
            assert_eq!(classify(&buf[..t.len], |_| false, |_| false), Protocol::P2tp, "{:?}", &buf[..t.len]);
            last = Header::decode(&buf[..t.len]).map(|h| (t.destination, h));
        }
        while e.poll_event().is_some() {}
        if let Some(d) = e.poll_timeout() {
            now = now.max(d.min(now + Duration::from_secs(1)));
        }
        assert!(e.streams() <= 4);
    }
}
