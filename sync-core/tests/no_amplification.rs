//! A responder answers unauthenticated probes with at most three times their bytes and within
//! a byte budget, and keeps table state only for sources that echoed its cookie, bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::net::SocketAddr;

use common::{A, B, synthetic_pair};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine};
use sync_core::recon::iblt::Cell;
use sync_core::wire::{MAX_TABLE_CELLS, Message};
use sync_core::{AcceptAll, Body, Identity, MemStore, SyncNode};

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
    // The pass budget (40 a second) refuses most before any work is done.
    assert!(b.stats().busy + b.stats().unvalidated_refused >= 9_900, "{:?}", b.stats());
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
            total: MAX_TABLE_CELLS,
            range: u32::MAX,
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
fn a_validated_peer_holds_one_table_at_a_time_and_never_past_its_deadline() {
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
    // Now open tables 1..=3 of the largest size, one cell each, then more numbers, and keep
    // feeding one table cells: each new table replaces the source's older one, numbers past
    // `max_tables` are refused, the fed table is decoded at 4 × the assembly timeout, and a
    // decoded table is not assembled again.
    let mut out = Vec::new();
    for table in 1..=10u8 {
        Message::Cells {
            session,
            cookie,
            table,
            total: MAX_TABLE_CELLS,
            range: u32::MAX,
            first: 0,
            cells: vec![Cell::default(); 3],
        }
        .encode(&mut out);
        b.handle_datagram(Instant::ZERO, B, A, &out);
    }
    assert_eq!(b.stats().assemblies_evicted, 2, "tables 2 and 3 replaced their predecessor");
    assert_eq!(b.stats().stray, 7, "tables 4..=10 are past max_tables");
    for i in 1..100u32 {
        let now = Instant::from_millis(u64::from(i) * 100);
        Message::Cells {
            session,
            cookie,
            table: 3,
            total: MAX_TABLE_CELLS,
            range: u32::MAX,
            first: 3 * i,
            cells: vec![Cell::default(); 3],
        }
        .encode(&mut out);
        b.handle_datagram(now, B, A, &out);
        b.handle_timeout(now);
    }
    assert!(b.poll_timeout().is_none(), "decoded after 2 s however long cells trickle in");
}

#[test]
fn a_record_too_big_for_the_unvalidated_answer_is_fetched_with_the_cookie() {
    // One 900-byte record is the whole difference: the probe decodes, but the answer to an
    // unvalidated probe may carry only 3 × 211 bytes. The initiator probes again with the
    // cookie and gets it.
    let mut a = SyncNode::new(common::config(64), sansio_core::Seed::from_u64(1), MemStore::new(), AcceptAll);
    let mut b = SyncNode::new(common::config(64), sansio_core::Seed::from_u64(2), MemStore::new(), AcceptAll);
    let big = Identity::from_seed([3; 32]).unwrap().sign(1, Body::Peer { metadata: vec![b'x'; 512] }).unwrap();
    b.insert_local(Instant::ZERO, big.clone()).unwrap();
    let out = common::run_round(&mut a, &mut b);
    assert_eq!(b.stats().records_deferred, 1, "the first answer could not carry it");
    assert_eq!(out.report.end, sync_core::RoundEnd::Complete);
    assert!(sync_core::Store::contains(a.store(), &big.id()), "{:?}", out.report);
    assert_eq!(out.report.round_trips(), 2, "{:?}", out.report);
}
