//! Headline figures of record synchronisation, printed as `figure NAME VALUE UNIT`, ours and
//! negentropy's (the `negentropy` crate 0.5, the best-known shipping protocol in Rust) on the
//! same sets in the same run:
//!
//! - `sync_bytes_d1`, `sync_rounds_d1`: two sets of 1,000,000 ids, one id missing on one side
//!   (the worse direction of the two); bytes of reconciliation, both ways, headers included,
//!   records and their framing excluded (goal ≤ 300 B and 2 round trips).
//! - `sync_bytes_d10k_scattered`, `sync_rounds_d10k_scattered`: 5,000 ids only on each side,
//!   at random timestamps (goal ≤ 160 KB in ≤ 4 round trips); `_clustered` the same with the
//!   differences the newest 1 % of timestamps.
//! - `sync_cpu_ms_1m`: the busier side's CPU time for the d = 10,000 round (goal ≤ 50 ms).
//! - `sync_signature_verify_per_sec`: ed25519 record verification on one core.
//! - `negentropy_*`: the same, with negentropy's messages counted whole (32-byte ids,
//!   unlimited frame size so its round trips are its best).
//!
//! Sets: 1,000,000 ids, the shared ones synthetic (SHA-256 of distinct bytes), the differing
//! ones real signed Peer records (about 116 bytes), which the receiving side verifies and
//! stores. Our protocol never looks at timestamps, so only negentropy's figures change between
//! scattered and clustered.
//! `cargo test --benches` runs it on 100,000 ids.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant as Clock};

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
use sync_core::synthetic::IdStore;
use sync_core::{AcceptAll, Body, Config, ContentId, Event, Identity, Policy, RoundReport, SyncNode, VerifiedRecord};

type Node = SyncNode<IdStore, AcceptAll>;

const A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 7000);
const B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 7000);

/// `n` ids: synthetic ones in both sets, and `only_a` / `only_b` real signed records in one.
struct Sets {
    a: IdStore,
    b: IdStore,
}

fn sets(n: u64, only_a: u64, only_b: u64) -> Sets {
    let shared = n - only_a.max(only_b);
    let (mut a, mut b) = (IdStore::default(), IdStore::default());
    for i in 0..shared {
        a.add(i);
        b.add(i);
    }
    (0..only_a).for_each(|i| a.add_record(&IdStore::record(i)));
    (only_a..only_a + only_b).for_each(|i| b.add_record(&IdStore::record(i)));
    Sets { a, b }
}

fn node(store: IdStore, seed: u64, seen: usize) -> Node {
    let policy = Policy { own: sync_core::PublicKey([0; 32]), threshold: 0.0, max_future_ms: 60_000 };
    let mut c = Config::new(policy, 0);
    c.seen_capacity = seen;
    SyncNode::new(c, Seed::from_u64(seed), store, AcceptAll)
}

/// One round from A; returns its report and the CPU time each side spent in its machine,
/// not counting the handling of `Records` datagrams (verifying received records' signatures
/// is reported on its own, as `sync_signature_verify_per_sec`).
fn round(a: &mut Node, b: &mut Node) -> (RoundReport, Duration, Duration) {
    let (mut cpu_a, mut cpu_b) = (Duration::ZERO, Duration::ZERO);
    let mut now = Instant::ZERO;
    let t = Clock::now();
    a.start_round(now, A, B).unwrap();
    cpu_a += t.elapsed();
    let mut buf = vec![0u8; MIN_TRANSMIT_BUFFER];
    let mut report = None;
    let records = |d: &[u8]| d.get(1) == Some(&5);
    loop {
        let mut moved = false;
        while let Some(tx) = a.poll_transmit(now, &mut buf) {
            moved = true;
            let t = Clock::now();
            b.handle_datagram(now, B, A, &buf[..tx.len]);
            if !records(&buf[..tx.len]) {
                cpu_b += t.elapsed();
            }
        }
        while let Some(tx) = b.poll_transmit(now, &mut buf) {
            moved = true;
            let t = Clock::now();
            a.handle_datagram(now, A, B, &buf[..tx.len]);
            if !records(&buf[..tx.len]) {
                cpu_a += t.elapsed();
            }
        }
        while let Some(e) = a.poll_event() {
            if let Event::RoundEnded(r) = e {
                report = Some(r);
            }
        }
        while b.poll_event().is_some() {}
        if !moved {
            if let Some(r) = report {
                return (r, cpu_a, cpu_b);
            }
            now = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min().unwrap();
            let t = Clock::now();
            a.handle_timeout(now);
            cpu_a += t.elapsed();
            let t = Clock::now();
            b.handle_timeout(now);
            cpu_b += t.elapsed();
        }
    }
}

/// `rounds` rounds between copies of the same two sets, each with its own seeds (so its own
/// salts and estimator errors); their reports and busier-side CPU times (ms).
fn ours(s: &Sets, rounds: u64) -> Vec<(RoundReport, f64)> {
    (0..rounds)
        .map(|i| {
            let (mut a, mut b) = (node(s.a.clone(), 2 * i + 1, 1024), node(s.b.clone(), 2 * i + 2, 1024));
            let (r, ca, cb) = round(&mut a, &mut b);
            assert_eq!(r.end, sync_core::RoundEnd::Complete, "{r:?}");
            (r, ca.max(cb).as_secs_f64() * 1e3)
        })
        .collect()
}

/// The `q` quantile (0..=1) of `v`, nearest rank.
fn quantile<T: Copy + PartialOrd>(v: &[T], q: f64) -> T {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Negentropy's storage for a set: the same ids, timestamps from `stamp` (given the id and its
/// place in insertion order, the differing records last).
fn neg_storage(ids: &IdStore, stamp: &dyn Fn(&ContentId, u64) -> u64) -> NegentropyStorageVector {
    use sync_core::Store;
    let mut st = NegentropyStorageVector::with_capacity(ids.len());
    let mut i = 0;
    ids.for_each_id(&mut |id| {
        st.insert(stamp(id, i), Id::from_byte_array(id.0)).unwrap();
        i += 1;
    });
    st.seal().unwrap();
    st
}

/// Bytes both ways, round trips, and the busier side's CPU (ms) of a negentropy run.
fn negentropy(s: &Sets, stamp: &dyn Fn(&ContentId, u64) -> u64) -> (u64, u32, f64, usize) {
    let (sa, sb) = (neg_storage(&s.a, stamp), neg_storage(&s.b, stamp));
    let (mut cpu_a, mut cpu_b) = (Duration::ZERO, Duration::ZERO);
    let mut client = Negentropy::borrowed(&sa, 0).unwrap();
    let mut relay = Negentropy::borrowed(&sb, 0).unwrap();
    let t = Clock::now();
    let mut query = client.initiate().unwrap();
    cpu_a += t.elapsed();
    let (mut bytes, mut rounds, mut found) = (0u64, 0u32, 0usize);
    loop {
        bytes += query.len() as u64;
        let t = Clock::now();
        let reply = relay.reconcile(&query).unwrap();
        cpu_b += t.elapsed();
        bytes += reply.len() as u64;
        rounds += 1;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        let t = Clock::now();
        let next = client.reconcile_with_ids(&reply, &mut have, &mut need).unwrap();
        cpu_a += t.elapsed();
        found += have.len() + need.len();
        match next {
            Some(q) => query = q,
            None => break,
        }
    }
    (bytes, rounds, cpu_a.max(cpu_b).as_secs_f64() * 1e3, found)
}

fn verify_rate() -> f64 {
    let who = Identity::from_seed([5; 32]).unwrap();
    let records: Vec<Vec<u8>> = (0..2_000u64)
        .map(|i| who.sign(i, Body::Peer { metadata: i.to_le_bytes().to_vec() }).unwrap().bytes().to_vec())
        .collect();
    let t = Clock::now();
    for r in &records {
        std::hint::black_box(VerifiedRecord::decode(r).unwrap());
    }
    records.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if std::env::var("SYNC_MICRO").is_ok() {
        micro();
        return;
    }
    let n: u64 = if full { 1_000_000 } else { 100_000 };
    let d = n / 100;
    // Scattered: timestamps are a hash of the id; clustered: the differing ids are the newest,
    // as fresh records are.
    let scattered =
        |id: &ContentId, _: u64| sync_core::recon::hash::short_id(sync_core::recon::hash::Salt(99), id) >> 24;
    let clustered = |_: &ContentId, i: u64| i;

    let rounds = if full { 15 } else { 3 };
    let d1: Vec<RoundReport> =
        ours(&sets(n, 1, 0), rounds).into_iter().chain(ours(&sets(n, 0, 1), rounds)).map(|(r, _)| r).collect();
    println!("figure sync_bytes_d1 {} B", d1.iter().map(|r| r.reconciliation_bytes).max().unwrap());
    println!("figure sync_rounds_d1 {} round-trips", d1.iter().map(RoundReport::round_trips).max().unwrap());
    let (neg_b1, neg_r1, _, _) = negentropy(&sets(n, 1, 0), &scattered);
    println!("figure negentropy_bytes_d1 {neg_b1} B");
    println!("figure negentropy_rounds_d1 {neg_r1} round-trips");

    // The table is sized from an estimate with a 7 % standard error, so the bytes vary with the
    // round's salt: the median and the 95th percentile over `rounds` salts.
    let scattered_sets = sets(n, d / 2, d / 2);
    let runs = ours(&scattered_sets, rounds);
    let bytes: Vec<u64> = runs.iter().map(|(r, _)| r.reconciliation_bytes).collect();
    let cpus: Vec<f64> = runs.iter().map(|(_, c)| *c).collect();
    let median = quantile(&bytes, 0.5);
    let cpu = quantile(&cpus, 0.5);
    println!("figure sync_bytes_d10k_scattered {median} B");
    println!("figure sync_bytes_d10k_scattered_p95 {} B", quantile(&bytes, 0.95));
    println!(
        "figure sync_rounds_d10k_scattered {} round-trips",
        runs.iter().map(|(r, _)| r.round_trips()).max().unwrap()
    );
    println!(
        "figure sync_retried_tables_d10k {} of {rounds} rounds",
        runs.iter().filter(|(r, _)| r.tables > 1).count()
    );
    println!("figure sync_record_framing_d10k {} B", runs[0].0.framing_bytes);
    println!("figure sync_cpu_ms_1m {cpu:.1} ms");
    let (neg_b, neg_r, neg_cpu, found) = negentropy(&scattered_sets, &scattered);
    assert_eq!(found as u64, d, "negentropy found the whole difference");
    println!("figure negentropy_bytes_d10k_scattered {neg_b} B");
    println!("figure negentropy_rounds_d10k_scattered {neg_r} round-trips");
    println!("figure negentropy_cpu_ms_1m {neg_cpu:.1} ms");
    let (neg_bc, neg_rc, _, _) = negentropy(&scattered_sets, &clustered);
    println!("figure sync_bytes_d10k_clustered {median} B");
    println!("figure negentropy_bytes_d10k_clustered {neg_bc} B");
    println!("figure negentropy_rounds_d10k_clustered {neg_rc} round-trips");
    println!("figure sync_vs_negentropy_bytes_d10k {:.3} ratio", median as f64 / neg_b as f64);
    println!("figure sync_vs_negentropy_cpu {:.3} ratio", cpu / neg_cpu);
    println!("figure sync_signature_verify_per_sec {:.0} records/s", verify_rate());
}

#[allow(dead_code)]
fn micro() {
    use sync_core::recon::estimate::Estimator;
    use sync_core::recon::hash::{Salt, ShortIds};
    use sync_core::recon::iblt::Iblt;
    let ids: Vec<sync_core::ContentId> = (0..1_000_000u64).map(IdStore::id_of).collect();
    let h = ShortIds::new(Salt(5));
    let t = Clock::now();
    let shorts: Vec<u64> = ids.iter().map(|i| h.of(i)).collect();
    eprintln!("hash {:?}", t.elapsed());
    let mut e = Estimator::default();
    let t = Clock::now();
    shorts.iter().for_each(|s| e.add(*s));
    eprintln!("estimator {:?}", t.elapsed());
    let mut tb = Iblt::new(1, 15_000);
    let t = Clock::now();
    shorts.iter().for_each(|s| tb.toggle(*s));
    eprintln!("iblt {:?}", t.elapsed());
    std::hint::black_box((e, tb));
}
