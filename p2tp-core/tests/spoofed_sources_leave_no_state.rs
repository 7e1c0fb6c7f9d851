//! An endpoint under a flood from spoofed sources: no per-peer state, replies never larger
//! than what triggered them and within the stateless budget, every drop counted
//! (docs/p2tp.md §5.2, §13).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use netsim::addr;
use p2tp_core::{Config, Endpoint, Header};
use sansio_core::{Instant, Machine, Seed, SeededRng};

fn spoofed(rng: &mut SeededRng) -> SocketAddr {
    let ip = rng.next_u32().to_be_bytes();
    SocketAddr::from((ip, (rng.next_u32() >> 16) as u16))
}

#[test]
fn a_million_spoofed_opens_leave_zero_state_and_bounded_replies() {
    let local = addr("192.0.2.1:4000");
    let mut e = Endpoint::new(Config::new(local), Seed::from_u64(1));
    let mut rng = SeededRng::from_seed(Seed::from_u64(2));
    let mut buf = [0u8; 2048];
    let (mut replies, mut reply_bytes, mut request_bytes) = (0u64, 0u64, 0u64);
    let flood = 1_000_000u64;
    for i in 0..flood {
        // 100,000 SOP=0 packets a second for 10 s, every flag combination (H1s padded or not,
        // made-up H2s and closes). SOP=1 forgeries are the next test's business.
        let now = Instant::from_micros(i * 10);
        let mut datagram = [0u8; 64];
        let flags = rng.next_u32();
        let h = Header {
            sop: false,
            lss: flags & 1 != 0,
            v1: rng.next_u32() >> 2,
            clr: flags & 2 != 0,
            yts: flags & 4 != 0,
            v2: rng.next_u32() >> 2,
        };
        h.encode(&mut datagram);
        let len = 8 + (rng.next_u32() % 57) as usize;
        request_bytes += len as u64;
        e.handle_datagram(now, local, spoofed(&mut rng), &datagram[..len]);
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            assert_eq!(t.len, 8, "a stateless reply is one header, never more than its trigger");
            replies += 1;
            reply_bytes += t.len as u64;
        }
    }
    let stats = e.stats();
    assert_eq!(e.streams(), 0, "no per-peer state from spoofed sources");
    // The budget: a burst of 100, then 1000 a second for 10 s.
    assert!(replies <= 100 + 10_000 + 1, "{replies} replies");
    assert_eq!(replies, stats.stateless_replies);
    // H1s are answered or counted over budget; the rest (H2s and closes for no stream,
    // invalid flags) are counted as such.
    let h1s = stats.stateless_over_budget + replies;
    assert_eq!(h1s + stats.unmatched + stats.bad_close + stats.invalid_flags, flood, "{stats:?}");
    assert!((240_000..260_000).contains(&h1s), "a quarter of the flood is H1s: {h1s}");
    assert!(reply_bytes * 50 < request_bytes, "reflected {reply_bytes} bytes for {request_bytes}");
    assert!(e.poll_timeout().is_none(), "no timers for sources that never proved themselves");
}

#[test]
fn two_to_the_20_forged_cookie_echoes_open_at_most_a_handful_of_streams_that_idle_out() {
    let local = addr("192.0.2.1:4000");
    let mut e =
        Endpoint::new(Config { stateless_rate: 1, stateless_burst: 1, ..Config::new(local) }, Seed::from_u64(3));
    let mut rng = SeededRng::from_seed(Seed::from_u64(4));
    let mut buf = [0u8; 2048];
    let now = Instant::from_secs(100);
    // Give the endpoint a current key, as a busy endpoint has.
    e.connect(now, addr("198.51.100.9:1")).unwrap();
    while e.poll_transmit(now, &mut buf).is_some() {}
    for _ in 0..1u32 << 20 {
        let h =
            Header { sop: true, lss: false, v1: rng.next_u32() >> 2, clr: false, yts: true, v2: rng.next_u32() >> 2 };
        let mut d = [0u8; 8];
        h.encode(&mut d);
        e.handle_datagram(now, local, addr("203.0.113.7:5555"), &d);
        while e.poll_transmit(now, &mut buf).is_some() {}
        while e.poll_event().is_some() {}
    }
    // One source, 2^20 tries at 2^-20 each: about one stream expected, and never more than one
    // per source (a second success lands in the first stream's window or restarts it).
    assert!(e.streams() <= 2, "{} streams", e.streams());
    // A forged stream talks to a victim that never answers: it idles out.
    let mut t = now;
    for _ in 0..200 {
        t += Duration::from_secs(1);
        e.handle_timeout(t);
        while e.poll_transmit(t, &mut buf).is_some() {}
        while e.poll_event().is_some() {}
    }
    assert!(e.streams() <= 1, "only our own unanswered connect may remain, {}", e.streams());
}

/// An H1 (SOP=0, no cookie): what opens a stream.
fn h1() -> [u8; 8] {
    let mut d = [0u8; 8];
    Header { v1: 0, v2: 0, ..Header::default() }.encode(&mut d);
    d
}

#[test]
fn a_preferred_peer_is_answered_when_strangers_have_spent_the_budget() {
    let local = addr("192.0.2.1:4000");
    let friend = addr("198.51.100.7:5000");
    let mut e = Endpoint::new(Config::new(local), Seed::from_u64(1));
    e.prefer(friend);
    let mut rng = SeededRng::from_seed(Seed::from_u64(3));
    let mut buf = [0u8; 2048];
    let now = Instant::from_millis(10);
    // Strangers spend the whole burst...
    for _ in 0..500 {
        e.handle_datagram(now, local, spoofed(&mut rng), &h1());
        while e.poll_transmit(now, &mut buf).is_some() {}
    }
    let spent = e.stats().stateless_over_budget;
    assert!(spent >= 390, "{spent}");
    // ...a stranger now gets nothing, the friend its cookie.
    e.handle_datagram(now, local, spoofed(&mut rng), &h1());
    assert!(e.poll_transmit(now, &mut buf).is_none());
    e.handle_datagram(now, local, friend, &h1());
    let t = e.poll_transmit(now, &mut buf).expect("the friend is answered");
    assert_eq!((t.destination, t.len), (friend, 8));
    // Not preferred any more: like anyone else.
    e.unprefer(friend);
    e.handle_datagram(now, local, friend, &h1());
    assert!(e.poll_transmit(now, &mut buf).is_none());
}
