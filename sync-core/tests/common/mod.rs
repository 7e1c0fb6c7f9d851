//! Two nodes joined by a wire that may lose datagrams, and sets of synthetic ids.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
use sync_core::{AcceptAll, Config, ContentId, Event, Policy, Rejection, RoundReport, Store, SyncNode};

pub use sync_core::synthetic::IdStore;

pub const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 7000);
pub const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 7000);

pub fn config(seen: usize) -> Config {
    let policy = Policy { own: sync_core::PublicKey([0; 32]), threshold: 0.0, max_future_ms: 60_000 };
    let mut c = Config::new(policy, 1_700_000_000_000);
    c.seen_capacity = seen;
    c
}

/// Sets of `shared` synthetic ids in both, `only_a` real records in A only, and `only_b` in
/// B only (records `0..only_a` and `only_a..only_a + only_b`).
pub struct Synthetic {
    pub shared: u64,
    pub only_a: u64,
    pub only_b: u64,
}

impl Synthetic {
    pub fn a_only_ids(&self) -> BTreeSet<ContentId> {
        (0..self.only_a).map(|n| IdStore::record(n).id()).collect()
    }
    pub fn b_only_ids(&self) -> BTreeSet<ContentId> {
        (self.only_a..self.only_a + self.only_b).map(|n| IdStore::record(n).id()).collect()
    }
}

/// Nodes over such sets; each side stores the records it receives (every signer passes).
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
        sa.add_record(&IdStore::record(n));
    }
    for n in only_a..only_a + only_b {
        sb.add_record(&IdStore::record(n));
    }
    (
        SyncNode::new(config(1024), Seed::from_u64(1), sa, AcceptAll),
        SyncNode::new(config(1024), Seed::from_u64(2), sb, AcceptAll),
    )
}

/// Ids of a node's reconciled set: the store and the remembered ids.
pub fn reconciled<S: Store, R: sync_core::Reputation>(n: &SyncNode<S, R>) -> BTreeSet<ContentId> {
    let mut out = BTreeSet::new();
    n.store().for_each_id(&mut |id| {
        out.insert(*id);
    });
    n.seen().for_each(&mut |id| {
        out.insert(*id);
    });
    out
}

/// How a round went: the initiator's report, when it ended, and the ids of the records each
/// side received (stored or refused).
pub struct Outcome {
    pub report: RoundReport,
    pub at: Instant,
    pub a_received: BTreeSet<ContentId>,
    pub b_received: BTreeSet<ContentId>,
}

fn received<S: Store, R: sync_core::Reputation>(
    n: &mut SyncNode<S, R>,
    into: &mut BTreeSet<ContentId>,
    ended: &mut Option<RoundReport>,
) {
    while let Some(e) = n.poll_event() {
        match e {
            Event::Stored { id, from: Some(_), .. } => {
                into.insert(id);
            }
            Event::Refused { id, why, .. } if !matches!(why, Rejection::Known) => {
                into.insert(id);
            }
            Event::RoundEnded(r) => *ended = Some(r),
            _ => {}
        }
    }
}

/// Carries datagrams both ways (dropping those `lose` says to) and fires timers until `a`
/// reports the round's end and the wire is quiet.
pub fn run_round_lossy<SA: Store, RA: sync_core::Reputation, SB: Store, RB: sync_core::Reputation>(
    a: &mut SyncNode<SA, RA>,
    b: &mut SyncNode<SB, RB>,
    start: Instant,
    mut lose: impl FnMut(usize) -> bool,
) -> Outcome {
    let mut now = start;
    a.start_round(now, A, B).expect("round starts");
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut sent = 0usize;
    let (mut ended, mut ignored) = (None, None);
    let (mut a_received, mut b_received) = (BTreeSet::new(), BTreeSet::new());
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
        received(a, &mut a_received, &mut ended);
        received(b, &mut b_received, &mut ignored);
        if !moved {
            if let Some(report) = ended {
                return Outcome { report, at: now, a_received, b_received };
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
) -> Outcome {
    run_round_lossy(a, b, Instant::ZERO, |_| false)
}
