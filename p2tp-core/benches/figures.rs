//! Headline figures of P2TP, printed as `figure NAME VALUE UNIT`:
//!
//! - `p2tp_header_encode_ns`, `p2tp_header_decode_ns`: the 8-byte header over 4096 buffers
//!   (goal ≤ 5 ns each; reference/transport.md measured 1.1 and 1.9 ns inlined).
//! - `p2tp_core_ns_per_packet`: one data packet through both machines, no syscalls: `send`,
//!   the sender's `poll_transmit`, the receiver's `handle_datagram` and `poll_event`, and
//!   the feedback back (goal ≤ 100 ns).
//! - `p2tp_sim_utilisation`, `p2tp_sim_jain_index`, `p2tp_sim_srtt_error_pct`: the simulated
//!   scenarios of `tests/rate_control.rs` (100 Mbit/s, 40 ms, one BDP of buffer), which
//!   assert the same goals (≥ 0.9, ≥ 0.95, ≤ 5 %). Deterministic: same numbers every run.
//!
//! `cargo test --benches` runs it with fewer rounds and shorter simulations.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Sink;
use netsim::{LinkConfig, Sim, addr};
use p2tp_core::BulkSender;
use p2tp_core::congestion::FixedRateConfig;
use p2tp_core::{Config, Endpoint, Event, Header};
use sansio_core::{Instant, Machine, Seed};

/// Nanoseconds per call of `f`, best of five rounds of `n` calls.
fn ns_per(n: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(n)
        })
        .fold(f64::INFINITY, f64::min)
}

fn header_figures(n: u32) {
    let headers: Vec<Header> = (0..4096u32)
        .map(|i| Header {
            sop: i % 2 == 0,
            lss: i % 3 == 0,
            v1: i * 7919,
            clr: i % 5 == 0,
            yts: i % 7 == 0,
            v2: i * 104_729,
        })
        .collect();
    let mut bufs = vec![[0u8; 1200]; 4096];
    let mut i = 0usize;
    let encode = ns_per(n, || {
        let k = i & 4095;
        headers[k].encode(&mut bufs[k]);
        i = i.wrapping_add(1);
    });
    black_box(&bufs);
    let mut sum = 0u32;
    let decode = ns_per(n, || {
        let k = i & 4095;
        let h = Header::decode(black_box(&bufs[k])).unwrap();
        sum = sum.wrapping_add(h.v1 ^ h.v2);
        i = i.wrapping_add(1);
    });
    black_box(sum);
    println!("figure p2tp_header_encode_ns {encode:.2} ns");
    println!("figure p2tp_header_decode_ns {decode:.2} ns");
}

/// Two endpoints in memory with an established stream from `tx` (at `a`) to `rx` (at `b`).
struct Pair {
    a: SocketAddr,
    b: SocketAddr,
    tx: Endpoint,
    rx: Endpoint,
    now: Instant,
}

impl Pair {
    fn open() -> Self {
        let (a, b): (SocketAddr, SocketAddr) = (addr("192.0.2.1:4000"), addr("198.51.100.2:4000"));
        // A fixed rate far above what the loop can reach: the figure is the machines' own cost.
        let fast = Arc::new(FixedRateConfig { bytes_per_second: 1 << 40 });
        let config = |at| Config {
            controller: fast.clone(),
            max_queued_per_stream: 1 << 16,
            max_queued: 1 << 16,
            ..Config::new(at)
        };
        let mut tx = Endpoint::new(config(a), Seed::from_u64(1));
        let mut rx = Endpoint::new(config(b), Seed::from_u64(2));
        let now = common::open_by_hand(&mut tx, a, &mut rx, b);
        Self { a, b, tx, rx, now }
    }
}

/// Two established endpoints in memory; returns ns per data packet through both.
fn core_per_packet(packets: u32) -> f64 {
    let Pair { a, b, mut tx, mut rx, mut now } = Pair::open();
    let mut buf = vec![0u8; 2048];
    let payload = vec![0x5a; 1192];
    let mut delivered = 0u64;
    let best = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..packets {
                now += Duration::from_micros(1);
                tx.send(now, b, &payload).unwrap();
                while let Some(t) = tx.poll_transmit(now, &mut buf) {
                    rx.handle_datagram(now, b, a, &buf[..t.len]);
                }
                while let Some(e) = rx.poll_event() {
                    if let Event::Datagram { data, .. } = e {
                        delivered += data.len() as u64;
                    }
                }
                while let Some(t) = rx.poll_transmit(now, &mut buf) {
                    tx.handle_datagram(now, a, b, &buf[..t.len]);
                }
                while tx.poll_event().is_some() {}
                let _ = tx.poll_timeout();
                let _ = rx.poll_timeout();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(packets)
        })
        .fold(f64::INFINITY, f64::min);
    assert!(delivered >= u64::from(packets) * 4 * 1192, "the packets arrived: {delivered}");
    best
}

/// `core_per_packet` as the drivers run the machines: datagrams handled in batches of
/// `batch` (one `recvmmsg`), transmits and events drained after each, and each machine's
/// deadline read once per batch (`drivers/src/engine.rs`), not once per datagram.
fn core_per_packet_batched(packets: u32, batch: u32) -> f64 {
    let Pair { a, b, mut tx, mut rx, mut now } = Pair::open();
    let payload = vec![0x5a; 1192];
    let mut wire = vec![[0u8; 2048]; batch as usize];
    let mut lens = vec![0usize; batch as usize];
    let mut buf = vec![0u8; 2048];
    let mut delivered = 0u64;
    let best = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..packets / batch {
                now += Duration::from_micros(u64::from(batch));
                for _ in 0..batch {
                    tx.send(now, b, &payload).unwrap();
                }
                let mut n = 0;
                while n < wire.len()
                    && let Some(t) = tx.poll_transmit(now, &mut wire[n])
                {
                    lens[n] = t.len;
                    n += 1;
                }
                let _ = tx.poll_timeout();
                for (d, len) in wire.iter().zip(&lens).take(n) {
                    rx.handle_datagram(now, b, a, &d[..*len]);
                    while let Some(e) = rx.poll_event() {
                        if let Event::Datagram { data, .. } = e {
                            delivered += data.len() as u64;
                        }
                    }
                    while let Some(t) = rx.poll_transmit(now, &mut buf) {
                        tx.handle_datagram(now, a, b, &buf[..t.len]);
                    }
                }
                let _ = rx.poll_timeout();
                while tx.poll_event().is_some() {}
                let _ = tx.poll_timeout();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(packets / batch * batch)
        })
        .fold(f64::INFINITY, f64::min);
    assert!(delivered >= u64::from(packets / batch * batch) * 4 * 1192, "the packets arrived: {delivered}");
    best
}

/// The `tests/rate_control.rs` bottleneck: `senders` bulk flows into one receiver whose
/// downlink runs at 100 Mbit/s with one BDP of buffer, 40 ms RTT.
fn bottleneck(seed: u64, senders: usize) -> (Sim, netsim::HostId<Sink>, Vec<netsim::HostId<BulkSender>>) {
    let rate = 100_000_000u64;
    let rtt = Duration::from_millis(40);
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let rx_addr = addr("198.51.100.2:4000");
    let rx =
        sim.add_host(net, &[rx_addr], Sink::new(Endpoint::new(Config::new(rx_addr), Seed::from_u64(seed).derive(0))));
    let bdp = usize::try_from(rate / 8 * 40 / 1000).unwrap();
    *sim.link_mut(sim.host_downlink(rx)) =
        LinkConfig { delay: rtt / 4, rate_bps: Some(rate), queue_bytes: bdp, ..LinkConfig::default() };
    *sim.link_mut(sim.host_uplink(rx)) = LinkConfig { delay: rtt / 4, ..LinkConfig::default() };
    let mut tx = Vec::new();
    for i in 0..senders {
        let a: SocketAddr = format!("192.0.2.{}:4000", i + 1).parse().unwrap();
        let h = sim.add_host(
            net,
            &[a],
            BulkSender::new(Endpoint::new(Config::new(a), Seed::from_u64(seed).derive(i as u64 + 1)), 1192),
        );
        for link in [sim.host_uplink(h), sim.host_downlink(h)] {
            *sim.link_mut(link) = LinkConfig { delay: rtt / 4, ..LinkConfig::default() };
        }
        tx.push(h);
    }
    (sim, rx, tx)
}

fn start(sim: &mut Sim, h: netsim::HostId<BulkSender>) {
    sim.call(h, |s: &mut BulkSender, now| s.start(now, &[addr("198.51.100.2:4000")], None).unwrap());
}

fn sim_figures(full: bool) {
    let secs = if full { 20 } else { 12 };
    let (mut sim, rx, tx) = bottleneck(1, 1);
    start(&mut sim, tx[0]);
    sim.run_until(Instant::from_secs(secs)).unwrap();
    let bytes = sim.machine(rx).bytes_between(Instant::from_secs(secs - 10), Instant::from_secs(secs));
    let utilisation = bytes as f64 * 8.0 / 1e9 * (1200.0 / 1192.0);
    println!("figure p2tp_sim_utilisation {utilisation:.3} ratio");
    let stats = sim.machine(tx[0]).endpoint().path_stats(addr("198.51.100.2:4000")).unwrap();
    let error = (stats.min_rtt.as_secs_f64() * 1000.0 - 40.0).abs() / 40.0 * 100.0;
    println!("figure p2tp_sim_srtt_error_pct {error:.2} %");

    let (mut sim, _, tx) = bottleneck(2, 2);
    start(&mut sim, tx[0]);
    sim.run_until(Instant::from_secs(10)).unwrap();
    start(&mut sim, tx[1]);
    let until = if full { 40 } else { 25 };
    sim.run_until(Instant::from_secs(until)).unwrap();
    let acked = |sim: &Sim, h: netsim::HostId<BulkSender>| {
        sim.machine(h).endpoint().path_stats(addr("198.51.100.2:4000")).unwrap().bytes_acked as f64
    };
    let before = [acked(&sim, tx[0]), acked(&sim, tx[1])];
    sim.run_until(Instant::from_secs(until + 10)).unwrap();
    let x = [acked(&sim, tx[0]) - before[0], acked(&sim, tx[1]) - before[1]];
    let jain = (x[0] + x[1]).powi(2) / (2.0 * (x[0] * x[0] + x[1] * x[1]));
    println!("figure p2tp_sim_jain_index {jain:.3} ratio");
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // `P2TP_FIGURES=core` (or `batched`) measures only the machines, one datagram at a time
    // (or in batches), for profiling them alone.
    let only = std::env::var("P2TP_FIGURES").ok();
    let only = only.as_deref();
    if only.is_none() {
        header_figures(if full { 20_000_000 } else { 10_000 });
    }
    if only != Some("batched") {
        let per_packet = core_per_packet(if full { 200_000 } else { 2_000 });
        println!("figure p2tp_core_ns_per_packet {per_packet:.1} ns");
    }
    if only != Some("core") {
        let batched = core_per_packet_batched(if full { 200_000 } else { 2_000 }, 32);
        println!("figure p2tp_core_ns_per_packet_batched {batched:.1} ns");
    }
    if only.is_none() {
        sim_figures(full);
    }
}
