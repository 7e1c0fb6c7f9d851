//! Two nodes joined by a perfect wire, and a store of synthetic ids for sets of a million.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
use sync_core::{AcceptAll, Config, ContentId, Event, Policy, RoundReport, Store, SyncNode};

pub use sync_core::synthetic::IdStore;

pub const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 7000);
pub const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 7000);

pub fn config(seen: usize) -> Config {
    let policy = Policy { own: sync_core::PublicKey([0; 32]), threshold: 0.0, max_future_ms: 60_000 };
    let mut c = Config::new(policy, 1_700_000_000_000);
    c.seen_capacity = seen;
    c
}

/// Nodes over synthetic sets: `shared` ids in both, `only_a` and `only_b` in one each. The
/// differing ids are drawn from the id numbers `pick` returns.
pub fn synthetic_pair(
    shared: u64,
    only_a: u64,
    only_b: u64,
) -> (SyncNode<IdStore, AcceptAll>, SyncNode<IdStore, AcceptAll>) {
    let (mut sa, mut sb) = (IdStore::default(), IdStore::default());
    for n in 0..shared {
        sa.add(n);
        sb.add(n);
    }
    for n in 0..only_a {
        sa.add(shared + n);
    }
    for n in 0..only_b {
        sb.add(shared + only_a + n);
    }
    let seen = 2 * (only_a + only_b) as usize + 16;
    (
        SyncNode::new(config(seen), Seed::from_u64(1), sa, AcceptAll),
        SyncNode::new(config(seen), Seed::from_u64(2), sb, AcceptAll),
    )
}

/// Ids of a node's reconciled set: the store and the remembered ids.
pub fn reconciled<S: Store, R: sync_core::Reputation>(n: &SyncNode<S, R>) -> std::collections::BTreeSet<ContentId> {
    let mut out = std::collections::BTreeSet::new();
    n.store().for_each_id(&mut |id| {
        out.insert(*id);
    });
    n.seen().for_each(&mut |id| {
        out.insert(*id);
    });
    out
}

/// Carries datagrams both ways (dropping those `lose` says to) and fires timers until `a`
/// reports the round's end; returns the report.
pub fn run_round_lossy<SA: Store, RA: sync_core::Reputation, SB: Store, RB: sync_core::Reputation>(
    a: &mut SyncNode<SA, RA>,
    b: &mut SyncNode<SB, RB>,
    start: Instant,
    mut lose: impl FnMut(usize) -> bool,
) -> (RoundReport, Instant) {
    let mut now = start;
    a.start_round(now, A, B).expect("round starts");
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut sent = 0usize;
    let mut ended = None;
    for _ in 0..100_000 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            moved = true;
            sent += 1;
            if !lose(sent) {
                b.handle_datagram(now, B, A, &buf[..t.len]);
            }
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            moved = true;
            sent += 1;
            if !lose(sent) {
                a.handle_datagram(now, A, B, &buf[..t.len]);
            }
        }
        while let Some(e) = a.poll_event() {
            if let Event::RoundEnded(r) = e {
                ended = Some(r);
            }
        }
        while b.poll_event().is_some() {}
        if !moved {
            // The round is over once its last records have been carried.
            if let Some(r) = ended {
                return (r, now);
            }
            let next = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min().expect("a round is running");
            now = next.max(now + Duration::from_micros(1));
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    panic!("the round never ended");
}

pub fn run_round<SA: Store, RA: sync_core::Reputation, SB: Store, RB: sync_core::Reputation>(
    a: &mut SyncNode<SA, RA>,
    b: &mut SyncNode<SB, RB>,
) -> RoundReport {
    run_round_lossy(a, b, Instant::ZERO, |_| false).0
}
