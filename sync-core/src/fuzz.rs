//! Fuzz bodies for `fuzz/` (feature `fuzzing`).

use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};

use crate::wire::Message;
use crate::{AcceptAll, Config, Identity, MemStore, Policy, Record, SyncNode, VerifiedRecord};

/// Record decoding: never panics, and whatever decodes re-encodes to the same bytes.
pub fn record_decode(data: &[u8]) {
    if let Ok(r) = Record::decode(data) {
        assert_eq!(r.encode().as_deref(), Ok(data));
    }
    let _ = VerifiedRecord::decode(data);
}

/// The node [`node_datagrams`] feeds: 20 records of one signer, seed 1, at [`FUZZ_LOCAL`].
/// A test that runs a round against this node from [`FUZZ_PEER`] records datagrams with
/// cookies the fuzzed node accepts.
pub fn node() -> SyncNode<MemStore, AcceptAll> {
    let Ok(me) = Identity::from_seed([9; 32]) else { unreachable!("a non-zero seed") };
    let policy = Policy { own: me.public(), threshold: 0.0, max_future_ms: 60_000 };
    let mut node = SyncNode::new(Config::new(policy, 0), Seed::from_u64(1), MemStore::new(), AcceptAll);
    for i in 0..20u8 {
        let Ok(who) = Identity::from_seed([i + 100; 32]) else { continue };
        if let Ok(r) = who.sign(u64::from(i), crate::Body::Peer { metadata: alloc::vec![i] }) {
            let _ = node.insert_local(Instant::ZERO, r);
        }
    }
    node
}

/// Where [`node`] listens.
pub const FUZZ_LOCAL: SocketAddr = SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::new(127, 0, 0, 1)), 1);
/// Where the datagrams [`node_datagrams`] feeds come from.
pub const FUZZ_PEER: SocketAddr = SocketAddr::new(core::net::IpAddr::V4(core::net::Ipv4Addr::new(127, 0, 0, 2)), 2);

/// [`node`] fed arbitrary datagrams (each a u16 little-endian length and its bytes), 10 ms
/// apart, from [`FUZZ_PEER`]: no panic, every datagram it sends is a well-formed sync message
/// within one datagram, and every round and table it holds ends by its deadline.
pub fn node_datagrams(data: &[u8]) {
    let mut node = node();
    let _ = node.start_round(Instant::ZERO, FUZZ_LOCAL, FUZZ_PEER);
    let mut rest = data;
    let mut chunks = Vec::new();
    while rest.len() >= 2 && chunks.len() < 256 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        chunks.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
    let mut now = Instant::ZERO;
    for chunk in chunks {
        now += core::time::Duration::from_millis(10);
        node.handle_datagram(now, FUZZ_LOCAL, FUZZ_PEER, chunk);
        node.handle_timeout(now);
        while let Some(t) = node.poll_transmit(now, &mut buf) {
            assert!(t.len <= crate::wire::MAX_DATAGRAM);
            assert!(Message::decode(&buf[..t.len]).is_ok(), "the node sent a malformed message");
        }
        while node.poll_event().is_some() {}
    }
    node.handle_timeout(Instant::from_secs(3600));
    assert!(node.poll_timeout().is_none(), "a round or table outlived every deadline");
}
