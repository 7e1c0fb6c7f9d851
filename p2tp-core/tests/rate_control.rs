//! Rate control on a simulated bottleneck: utilisation, RTT accuracy, following a rate change,
//! fairness between flows, and the node-wide budget (docs/p2tp.md §8).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::Sink;
use netsim::{HostId, LinkConfig, Sim, addr};
use p2tp_core::BulkSender;
use p2tp_core::{Config, Endpoint};
use sansio_core::{Instant, Seed};

const MBIT: u64 = 1_000_000;

/// A sender and a receiver; the receiver's downlink is the bottleneck (`rate_bps`, a buffer of
/// one BDP), and the path's RTT is `rtt`.
struct Bottleneck {
    sim: Sim,
    rx: HostId<Sink>,
    senders: Vec<HostId<BulkSender>>,
}

const RX: &str = "198.51.100.2:4000";

fn bottleneck(seed: u64, rate_bps: u64, rtt: Duration, senders: usize) -> Bottleneck {
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let rx_addr = addr(RX);
    let rx =
        sim.add_host(net, &[rx_addr], Sink::new(Endpoint::new(Config::new(rx_addr), Seed::from_u64(seed).derive(0))));
    let one_way = rtt / 4;
    let bdp = usize::try_from(rate_bps / 8 * rtt.as_micros() as u64 / 1_000_000).unwrap();
    *sim.link_mut(sim.host_downlink(rx)) =
        LinkConfig { delay: one_way, rate_bps: Some(rate_bps), queue_bytes: bdp, ..LinkConfig::default() };
    *sim.link_mut(sim.host_uplink(rx)) = LinkConfig { delay: one_way, ..LinkConfig::default() };
    let mut hosts = Vec::new();
    for i in 0..senders {
        let a: SocketAddr = format!("192.0.2.{}:4000", i + 1).parse().unwrap();
        let ep = Endpoint::new(Config::new(a), Seed::from_u64(seed).derive(i as u64 + 1));
        let h = sim.add_host(net, &[a], BulkSender::new(ep, 1192));
        for link in [sim.host_uplink(h), sim.host_downlink(h)] {
            *sim.link_mut(link) = LinkConfig { delay: one_way, ..LinkConfig::default() };
        }
        hosts.push(h);
    }
    Bottleneck { sim, rx, senders: hosts }
}

fn start(b: &mut Bottleneck, i: usize) {
    b.sim.call(b.senders[i], |s: &mut BulkSender, now| s.start(now, &[addr(RX)], None).unwrap());
}

#[test]
fn one_flow_fills_a_100_mbit_40_ms_path_and_measures_its_rtt() {
    let mut b = bottleneck(1, 100 * MBIT, Duration::from_millis(40), 1);
    start(&mut b, 0);
    b.sim.run_until(Instant::from_secs(20)).unwrap();
    let sink = b.sim.machine(b.rx);
    let bytes = sink.bytes_between(Instant::from_secs(10), Instant::from_secs(20));
    // Application bytes over 10 s against the link's 100 Mbit/s of UDP payload + 28 bytes of
    // IP and UDP header per 1200-byte datagram (netsim counts the UDP payload).
    let utilisation = bytes as f64 * 8.0 / (100.0 * MBIT as f64 * 10.0) * (1200.0 / 1192.0);
    assert!(utilisation >= 0.9, "utilisation {utilisation:.3}");
    let stats = b.sim.machine(b.senders[0]).endpoint().path_stats(addr(RX)).unwrap();
    // The true RTT is 40 ms of propagation plus the bottleneck queue's delay; the minimum sees
    // the propagation alone, SRTT what the flow lives with.
    let min = stats.min_rtt.as_secs_f64() * 1000.0;
    let error_pct = (min - 40.0).abs() / 40.0 * 100.0;
    assert!(error_pct <= 5.0, "min RTT {min:.2} ms");
    assert!(stats.srtt >= stats.min_rtt && stats.srtt <= Duration::from_millis(90), "{stats:?}");
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has everything.
fn jain(x: &[f64]) -> f64 {
    let (sum, squares) = x.iter().fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
    sum * sum / (x.len() as f64 * squares)
}

#[test]
fn a_second_flow_started_later_gets_its_fair_share_within_30_s() {
    let mut b = bottleneck(2, 100 * MBIT, Duration::from_millis(40), 2);
    start(&mut b, 0);
    b.sim.run_until(Instant::from_secs(10)).unwrap();
    start(&mut b, 1);
    b.sim.run_until(Instant::from_secs(40)).unwrap();
    // The share of each over the last 10 s, by what each sender had acknowledged.
    let acked = |b: &Bottleneck, i: usize| {
        b.sim.machine(b.senders[i]).endpoint().path_stats(addr(RX)).unwrap().bytes_acked as f64
    };
    let before = [acked(&b, 0), acked(&b, 1)];
    b.sim.run_until(Instant::from_secs(50)).unwrap();
    let shares = [acked(&b, 0) - before[0], acked(&b, 1) - before[1]];
    let index = jain(&shares);
    assert!(index >= 0.95, "shares {shares:?}, Jain {index:.3}");
    let total = (shares[0] + shares[1]) * 8.0 / (100.0 * MBIT as f64 * 10.0);
    assert!(total >= 0.85, "together they still fill the link: {total:.3}");
}

#[test]
fn a_link_whose_rate_halves_is_followed_within_a_few_round_trips() {
    let mut b = bottleneck(3, 100 * MBIT, Duration::from_millis(40), 1);
    start(&mut b, 0);
    b.sim.run_until(Instant::from_secs(10)).unwrap();
    let down = b.sim.host_downlink(b.rx);
    b.sim.link_mut(down).rate_bps = Some(50 * MBIT);
    // Within 10 RTT the sender's rate is within reach of the new capacity.
    b.sim.run_until(Instant::from_millis(10_400)).unwrap();
    let rate = b.sim.machine(b.senders[0]).endpoint().path_stats(addr(RX)).unwrap().rate as f64 * 8.0;
    assert!(rate <= 75.0 * MBIT as f64, "still sending at {:.1} Mbit/s", rate / 1e6);
    b.sim.run_until(Instant::from_secs(20)).unwrap();
    let sink = b.sim.machine(b.rx);
    // Bits per second over the 8 s from 12 s to 20 s.
    let got = sink.bytes_between(Instant::from_secs(12), Instant::from_secs(20)) as f64 * 8.0 / 8.0;
    assert!(got >= 0.85 * 50.0 * MBIT as f64, "uses the halved link: {:.1} Mbit/s", got / 1e6);
}

#[test]
fn fifty_streams_of_one_node_stay_within_its_budget_and_share_it_fairly() {
    let mut sim = Sim::new(Seed::from_u64(4));
    let net = sim.internet();
    let uplink = 20 * MBIT / 8;
    let tx_addr = addr("192.0.2.1:4000");
    let mut rx = Vec::new();
    let mut peers = Vec::new();
    for i in 0..50u64 {
        let a: SocketAddr = format!("198.51.100.{}:4000", i + 1).parse().unwrap();
        let h = sim.add_host(net, &[a], Sink::new(Endpoint::new(Config::new(a), Seed::from_u64(100 + i))));
        for link in [sim.host_uplink(h), sim.host_downlink(h)] {
            *sim.link_mut(link) = LinkConfig { delay: Duration::from_millis(10 + i), ..LinkConfig::default() };
        }
        rx.push(h);
        peers.push(a);
    }
    let config = Config { uplink: Some(uplink), ..Config::new(tx_addr) };
    let bulk = BulkSender::new(Endpoint::new(config, Seed::from_u64(5)), 1192).with_backlog(16);
    let tx = sim.add_host(net, &[tx_addr], bulk);
    sim.call(tx, move |s: &mut BulkSender, now| s.start(now, &peers, None).unwrap());
    sim.run_until(Instant::from_secs(10)).unwrap();
    let before: Vec<u64> = rx.iter().map(|h| sim.machine(*h).bytes).collect();
    sim.run_until(Instant::from_secs(20)).unwrap();
    let shares: Vec<f64> = rx.iter().zip(&before).map(|(h, b)| (sim.machine(*h).bytes - b) as f64).collect();
    let total: f64 = shares.iter().sum::<f64>() / 10.0;
    let budget = uplink as f64;
    assert!(total <= budget * 1.01, "{total:.0} B/s against a budget of {budget:.0}");
    assert!(total >= budget * 0.9, "the budget is used: {total:.0} B/s");
    let index = jain(&shares);
    assert!(index >= 0.95, "Jain {index:.3} over 50 streams");
}

#[test]
fn on_a_path_faster_than_the_feedback_interval_every_packet_is_acknowledged() {
    // 20 µs of round trip, 400 Mbit/s offered at a fixed rate on an uncongested path: echoes
    // come every 250 µs (the feedback floor), a dozen round trips apart. The no-feedback timer
    // once fired at 4·SRTT = 80 µs and gave up every packet in flight: 0.8 % of the bytes were
    // ever acknowledged, and CUBIC's window was halved over and over.
    let mut sim = Sim::new(Seed::from_u64(7));
    let net = sim.internet();
    let (a, b) = (addr("192.0.2.1:4000"), addr(RX));
    let fixed = std::sync::Arc::new(p2tp_core::congestion::FixedRateConfig { bytes_per_second: 50_000_000 });
    let rx = sim.add_host(
        net,
        &[b],
        Sink::new(Endpoint::new(Config { controller: fixed.clone(), ..Config::new(b) }, Seed::from_u64(1))),
    );
    let tx = sim.add_host(
        net,
        &[a],
        BulkSender::new(Endpoint::new(Config { controller: fixed, ..Config::new(a) }, Seed::from_u64(2)), 1192),
    );
    for link in [sim.host_uplink(tx), sim.host_downlink(tx), sim.host_uplink(rx), sim.host_downlink(rx)] {
        *sim.link_mut(link) = LinkConfig { delay: Duration::from_micros(5), ..LinkConfig::default() };
    }
    sim.call(tx, move |s: &mut BulkSender, now| s.start(now, &[b], None).unwrap());
    sim.run_until(Instant::from_secs(2)).unwrap();
    let stats = sim.machine(tx).endpoint().path_stats(b).unwrap();
    assert!(stats.bytes_acked as f64 >= 0.99 * stats.bytes_sent as f64, "{stats:?}");
    assert!(stats.bytes_acked <= stats.bytes_sent, "{stats:?}");
    assert!(stats.srtt < Duration::from_micros(100), "{stats:?}");
}
