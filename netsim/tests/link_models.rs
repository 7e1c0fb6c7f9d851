//! Link models measured over many packets: loss rates, delay distribution, reordering,
//! duplication, the rate limit and its drop-tail queue, the MTU and a link going down.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use netsim::addr as a;
use netsim::{LinkConfig, Loss, Probe, Sim};
use sansio_core::Instant;

const N: usize = 20_000;

/// Sends `count` datagrams of `len` bytes, one every `gap`, over a link configured as `link`.
struct Measured {
    sim: Sim,
    /// The sender's uplink, the link under test.
    link: netsim::LinkId,
    /// (send time, arrival time, sequence number) of each arrival.
    got: Vec<(Instant, Instant, u32)>,
}

fn measure(link: LinkConfig, count: usize, len: usize, gap: Duration, seed: u8) -> Measured {
    let mut sim = Sim::new(sansio_core::Seed::new([seed; 32]));
    let net = sim.internet();
    let tx = sim.add_host(net, &[a("10.0.0.1:1")], Probe::new());
    let rx = sim.add_host(net, &[a("10.0.0.2:2")], Probe::new());
    let uplink = sim.host_uplink(tx);
    *sim.link_mut(uplink) = link;
    for i in 0..count {
        let at = Instant::ZERO + gap * u32::try_from(i).unwrap();
        sim.call_at(at, tx, move |p: &mut Probe, now| {
            let mut d = vec![0u8; len.max(12)];
            d[..4].copy_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
            d[4..12].copy_from_slice(&now.as_micros().to_be_bytes());
            p.send(a("10.0.0.2:2"), d);
        });
    }
    sim.run_until(Instant::from_secs(3_600)).unwrap();
    let got = sim
        .events(rx)
        .iter()
        .map(|(t, r)| {
            let seq = u32::from_be_bytes(r.payload[..4].try_into().unwrap());
            let sent = Instant::from_micros(u64::from_be_bytes(r.payload[4..12].try_into().unwrap()));
            (sent, *t, seq)
        })
        .collect();
    Measured { sim, link: uplink, got }
}

/// Within `k` standard deviations of a binomial(n, p) mean.
fn assert_binomial(observed: usize, n: usize, p: f64, what: &str) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!((observed as f64 - mean).abs() <= 5.0 * sd + 1.0, "{what}: {observed} vs expected {mean:.0} ± {sd:.0}");
}

#[test]
fn bernoulli_loss_matches_its_rate() {
    let Measured { got, .. } = measure(
        LinkConfig { loss: Loss::Bernoulli(0.05), ..LinkConfig::default() },
        N,
        100,
        Duration::from_millis(1),
        1,
    );
    assert_binomial(N - got.len(), N, 0.05, "lost");
}

#[test]
fn gilbert_elliott_loss_matches_its_mean_and_comes_in_bursts() {
    let loss = Loss::GilbertElliott { p_enter_bad: 0.01, p_leave_bad: 0.2, loss_good: 0.0, loss_bad: 0.5 };
    let Measured { got, .. } =
        measure(LinkConfig { loss, ..LinkConfig::default() }, N, 100, Duration::from_millis(1), 2);
    let lost = N - got.len();
    let mean = loss.mean_rate();
    assert!((lost as f64 / N as f64 - mean).abs() < 0.01, "loss {} vs model {mean}", lost as f64 / N as f64);
    // Burstiness: losses cluster, so consecutive losses are far likelier than under Bernoulli.
    let received: std::collections::HashSet<u32> = got.iter().map(|g| g.2).collect();
    let lost_seq: Vec<bool> = (0..u32::try_from(N).unwrap()).map(|s| !received.contains(&s)).collect();
    let pairs = lost_seq.windows(2).filter(|w| w[0] && w[1]).count() as f64;
    let independent = (N as f64) * mean * mean;
    assert!(pairs > 3.0 * independent, "back-to-back losses {pairs} vs {independent} if independent");
}

#[test]
fn delay_with_jitter_stays_in_its_window_and_never_reorders() {
    let link =
        LinkConfig { delay: Duration::from_millis(20), jitter: Duration::from_millis(5), ..LinkConfig::default() };
    let Measured { got, .. } = measure(link, N, 100, Duration::from_millis(10), 3);
    assert_eq!(got.len(), N);
    let delays: Vec<u64> = got.iter().map(|(s, r, _)| (*r - *s).as_micros() as u64).collect();
    assert!(delays.iter().all(|d| (20_000..=25_000).contains(d)), "every delay in 20..=25 ms");
    let mean = delays.iter().sum::<u64>() as f64 / N as f64;
    assert!((mean - 22_500.0).abs() < 100.0, "uniform jitter: mean {mean} µs");
    assert!(got.windows(2).all(|w| w[0].2 < w[1].2), "jitter alone keeps order");
}

#[test]
fn reordering_lets_later_packets_overtake_at_the_configured_rate() {
    let link = LinkConfig {
        delay: Duration::from_millis(10),
        reorder: 0.1,
        reorder_delay: Duration::from_millis(5),
        ..LinkConfig::default()
    };
    let Measured { sim, got, .. } = measure(link, N, 100, Duration::from_millis(1), 4);
    assert_eq!(got.len(), N, "reordering loses nothing");
    let late = got.iter().filter(|(s, r, _)| *r - *s > Duration::from_millis(10)).count();
    assert_binomial(late, N, 0.1, "held back");
    let overtaken = got.windows(2).filter(|w| w[0].2 > w[1].2).count();
    assert!(overtaken > N / 20, "packets arrive out of order ({overtaken})");
    assert_eq!(sim.stats().deliveries, N as u64);
}

#[test]
fn duplication_delivers_extra_copies_at_its_rate() {
    let Measured { got, .. } =
        measure(LinkConfig { duplicate: 0.02, ..LinkConfig::default() }, N, 100, Duration::from_millis(1), 5);
    assert_binomial(got.len() - N, N, 0.02, "duplicates");
    let mut seqs: Vec<u32> = got.iter().map(|g| g.2).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), N, "every packet at least once, copies right behind the original");
}

#[test]
fn a_rate_limited_link_delivers_its_rate_and_drops_the_excess_at_the_tail() {
    // 1 Mbit/s, offered 2 Mbit/s of 1000-byte datagrams (1028 bytes on the wire) for 10 s.
    let link = LinkConfig { rate_bps: Some(1_000_000), queue_bytes: 20_000, ..LinkConfig::default() };
    let gap = Duration::from_micros(4_112); // 1028 B * 8 / 2 Mbit/s
    let count = 2_432;
    let Measured { sim, got, link } = measure(link, count, 1000, gap, 6);
    let first = got.first().unwrap().1;
    let last = got.last().unwrap().1;
    let rate = (got.len() - 1) as f64 * 1028.0 * 8.0 / (last - first).as_secs_f64();
    assert!((rate - 1_000_000.0).abs() < 5_000.0, "delivered {rate} bit/s");
    let stats = sim.link_stats(link);
    assert!(stats.dropped_queue > 1_100, "about half is dropped: {stats:?}");
    // The queue bounds the delay: 20 kB at 1 Mbit/s is 160 ms, plus one packet in service.
    let worst = got.iter().map(|(s, r, _)| *r - *s).max().unwrap();
    assert!(worst <= Duration::from_micros(160_000 + 8_224 + 1), "queueing delay {worst:?}");
}

#[test]
fn oversized_packets_are_dropped_at_the_mtu() {
    let Measured { sim, got, link } =
        measure(LinkConfig { mtu: 1200, ..LinkConfig::default() }, 10, 1200, Duration::from_millis(1), 7);
    assert!(got.is_empty(), "1200 + 28 header bytes exceed 1200");
    assert_eq!(sim.link_stats(link).dropped_mtu, 10);
    let Measured { got, .. } =
        measure(LinkConfig { mtu: 1228, ..LinkConfig::default() }, 10, 1200, Duration::from_millis(1), 7);
    assert_eq!(got.len(), 10);
}

#[test]
fn a_link_taken_down_mid_run_drops_until_it_comes_back() {
    let mut sim = Sim::new(sansio_core::Seed::new([8; 32]));
    let net = sim.internet();
    let tx = sim.add_host(net, &[a("10.0.0.1:1")], Probe::new());
    let rx = sim.add_host(net, &[a("10.0.0.2:2")], Probe::new());
    let up = sim.host_uplink(tx);
    for (t, expect) in [(0, true), (1, false), (2, true)] {
        sim.run_until(Instant::from_secs(t)).unwrap();
        sim.link_mut(up).up = t != 1;
        let before = sim.events(rx).len();
        sim.call(tx, |p: &mut Probe, _| p.send(a("10.0.0.2:2"), vec![0]));
        sim.run_for(Duration::from_millis(1)).unwrap();
        assert_eq!(sim.events(rx).len() > before, expect, "at {t} s");
    }
    assert_eq!(sim.link_stats(up).dropped_down, 1);
}
