//! A responder answers unauthenticated probes with at most three times their bytes and within
//! a byte budget, and keeps table state only for sources that echoed its cookie, bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{A, B, synthetic_pair};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine};
use sync_core::recon::iblt::Cell;
use sync_core::wire::{MAX_TABLE_CELLS, Message};

fn drain<M: Machine>(m: &mut M, now: Instant) -> (usize, usize) {
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let (mut n, mut bytes) = (0, 0);
    while let Some(t) = m.poll_transmit(now, &mut buf) {
        n += 1;
        bytes += t.len;
    }
    (n, bytes)
}

#[test]
fn spoofed_probes_draw_at_most_three_times_their_bytes_and_the_budget_caps_the_rate() {
    // The initiator's probe is the request; replay it from 10,000 spoofed sources.
    let (mut a, mut b) = synthetic_pair(10_000, 300, 300);
    a.start_round(Instant::ZERO, A, B).unwrap();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let t = a.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let probe = buf[..t.len].to_vec();

    let mut sent = 0usize;
    let mut received = 0usize;
    let now = Instant::from_secs(1);
    for i in 0..10_000u32 {
        let spoofed = SocketAddr::from(([203, 0, (i >> 8) as u8, i as u8], 9));
        b.handle_datagram(now, B, spoofed, &probe);
        received += probe.len();
        let (_, bytes) = drain(&mut b, now);
        assert!(bytes <= 3 * probe.len(), "one probe drew {bytes} bytes");
        sent += bytes;
    }
    // Within one second, no more than the configured budget (1 MiB) went out.
    assert!(sent <= 1 << 20, "{sent} bytes");
    assert!(sent < received * 3);
    assert!(b.stats().unvalidated_refused > 0);
}

#[test]
fn cells_without_the_cookie_leave_no_state_and_draw_no_reply() {
    let (_, mut b) = synthetic_pair(1_000, 0, 0);
    let mut out = Vec::new();
    for i in 0..1_000u32 {
        let msg = Message::Cells {
            session: 5,
            cookie: u64::from(i),
            table: 1,
            total: MAX_TABLE_CELLS - 1,
            first: 0,
            cells: vec![Cell::default(); 3],
        };
        msg.encode(&mut out);
        b.handle_datagram(Instant::ZERO, B, A, &out);
    }
    assert_eq!(b.stats().bad_cookie, 1_000);
    assert_eq!(drain(&mut b, Instant::ZERO).0, 0);
    assert!(b.poll_timeout().is_none(), "no assembly was started");
}

#[test]
fn a_validated_peer_cannot_make_a_responder_hold_more_than_its_assembly_bound() {
    let (mut a, mut b) = synthetic_pair(1_000, 400, 0);
    // Run the round up to the responder's Estimate to learn a real cookie.
    a.start_round(Instant::ZERO, A, B).unwrap();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let t = a.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    b.handle_datagram(Instant::ZERO, B, A, &buf[..t.len]);
    let t = b.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let Ok(Message::Estimate { session, cookie, .. }) = Message::decode(&buf[..t.len]) else {
        panic!("expected an estimate")
    };
    // Now open 100 tables of the largest size, one cell each, with the valid cookie.
    let mut out = Vec::new();
    for table in 1..=100u8 {
        let total = MAX_TABLE_CELLS / 3 * 3;
        Message::Cells { session, cookie, table, total, first: 0, cells: vec![Cell::default(); 3] }.encode(&mut out);
        b.handle_datagram(Instant::ZERO, B, A, &out);
    }
    assert_eq!(b.stats().assemblies_evicted, 96, "at most 4 assemblies are held");
    // And they all end by their deadline.
    b.handle_timeout(Instant::ZERO + Duration::from_secs(1));
    assert!(b.poll_timeout().is_none());
}
