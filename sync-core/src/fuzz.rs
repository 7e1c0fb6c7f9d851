//! Fuzz bodies for `fuzz/` (feature `fuzzing`).

use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};

use crate::{AcceptAll, Config, Identity, MemStore, Policy, Record, SyncNode, VerifiedRecord};

/// Record decoding: never panics, and whatever decodes re-encodes to the same bytes.
pub fn record_decode(data: &[u8]) {
    if let Ok(r) = Record::decode(data) {
        assert_eq!(r.encode().as_deref(), Ok(data));
    }
    let _ = VerifiedRecord::decode(data);
}

/// A node with a few records fed arbitrary datagrams (each a u16 little-endian length and its
/// bytes): no panic, bounded output, and a round it starts ends.
pub fn node_datagrams(data: &[u8]) {
    let Ok(me) = Identity::from_seed([9; 32]) else { return };
    let policy = Policy { own: me.public(), threshold: 0.0, max_future_ms: 60_000 };
    let mut node = SyncNode::new(Config::new(policy, 0), Seed::from_u64(1), MemStore::new(), AcceptAll);
    for i in 0..20u64 {
        if let Ok(r) = me.sign(i, crate::Body::Peer { metadata: alloc::vec![i as u8] }) {
            let _ = node.insert_local(Instant::ZERO, r);
        }
    }
    let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 1));
    let peer: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 2));
    let _ = node.start_round(Instant::ZERO, local, peer);
    let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
    let mut sent = 0usize;
    let mut now = Instant::ZERO;
    let mut rest = data;
    let mut chunks = Vec::new();
    while rest.len() >= 2 && chunks.len() < 256 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        chunks.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    for chunk in chunks {
        now += core::time::Duration::from_millis(10);
        node.handle_datagram(now, local, peer, chunk);
        while let Some(t) = node.poll_transmit(now, &mut buf) {
            assert!(t.len <= crate::wire::MAX_DATAGRAM);
            sent += t.len;
        }
        while node.poll_event().is_some() {}
    }
    // A table of 2^18 cells answers one validated pull: 2.4 MB is the most one datagram draws.
    assert!(sent <= (data.len() + 1) * 2_500_000, "{sent} bytes out for {} in", data.len());
    node.handle_timeout(Instant::from_secs(3600));
    assert!(node.poll_timeout().is_none(), "a round or table outlived every deadline");
}
