//! LSS and CLR on lossy, reordering links: one rate reduction per loss burst, reordering
//! within the window is not loss, the flags converge when the packets carrying them are lost,
//! and timestamps wrap without harm (docs/p2tp.md §3, §7).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{B, Sink};
use netsim::{HostId, LinkConfig, Loss, Sim, addr};
use p2tp_core::BulkSender;
use p2tp_core::congestion::FixedRateConfig;
use p2tp_core::{Config, Endpoint, PathStats};
use sansio_core::{Instant, Seed};

/// A fixed-rate sender (no congestion losses of its own) to a receiver, 40 ms RTT.
struct Path {
    sim: Sim,
    tx: HostId<BulkSender>,
    rx: HostId<Sink>,
}

fn path(seed: u64, bytes_per_second: u64, link: LinkConfig) -> Path {
    let mut sim = Sim::new(Seed::from_u64(seed));
    let net = sim.internet();
    let (a, b) = (addr("192.0.2.1:4000"), addr(B));
    let fixed = Arc::new(FixedRateConfig { bytes_per_second });
    let rx = sim.add_host(
        net,
        &[b],
        Sink::new(Endpoint::new(
            Config { controller: fixed.clone(), ..Config::new(b) },
            Seed::from_u64(seed).derive(1),
        )),
    );
    let tx = sim.add_host(
        net,
        &[a],
        BulkSender::new(
            Endpoint::new(Config { controller: fixed, ..Config::new(a) }, Seed::from_u64(seed).derive(2)),
            1192,
        ),
    );
    for link_id in [sim.host_uplink(tx), sim.host_downlink(tx), sim.host_uplink(rx), sim.host_downlink(rx)] {
        *sim.link_mut(link_id) = LinkConfig { delay: Duration::from_millis(10), ..link.clone() };
    }
    sim.call(tx, |s: &mut BulkSender, now| s.start(now, &[addr(B)], None).unwrap());
    Path { sim, tx, rx }
}

fn sender(p: &Path) -> PathStats {
    p.sim.machine(p.tx).endpoint().path_stats(addr(B)).unwrap()
}

fn receiver(p: &Path) -> PathStats {
    p.sim.machine(p.rx).endpoint().path_stats(addr("192.0.2.1:4000")).unwrap()
}

#[test]
fn a_burst_of_losses_is_one_loss_event_and_one_reduction() {
    let mut p = path(1, 1_000_000, LinkConfig::default());
    p.sim.run_until(Instant::from_secs(5)).unwrap();
    assert_eq!(sender(&p).loss_events, 0, "a clean path has no loss events");
    for (burst, at) in [(1, 5_000), (2, 8_000)] {
        // The receiver's downlink goes down for 5 ms: about four datagrams in a row are lost.
        let down = p.sim.host_downlink(p.rx);
        p.sim.run_until(Instant::from_millis(at)).unwrap();
        p.sim.link_mut(down).up = false;
        p.sim.run_until(Instant::from_millis(at + 5)).unwrap();
        p.sim.link_mut(down).up = true;
        p.sim.run_until(Instant::from_millis(at + 2_000)).unwrap();
        let (tx, rx) = (sender(&p), receiver(&p));
        assert!(rx.packets_lost >= 3, "{rx:?}");
        assert_eq!(tx.loss_events, burst, "burst {burst}: one event per burst, {tx:?}");
        assert!(!rx.lss && !tx.clr, "the flags are down again: {rx:?} {tx:?}");
    }
}

#[test]
fn reordering_within_the_window_is_not_loss() {
    // 10 % of datagrams overtaken by up to 2 ms (the window is min RTT / 4 = 10 ms).
    let link = LinkConfig { reorder: 0.1, reorder_delay: Duration::from_millis(2), ..LinkConfig::default() };
    let mut p = path(2, 1_000_000, link);
    p.sim.run_until(Instant::from_secs(20)).unwrap();
    let (tx, rx) = (sender(&p), receiver(&p));
    assert!(rx.packets_received > 15_000, "{rx:?}");
    assert_eq!((rx.packets_lost, tx.loss_events), (0, 0), "{rx:?}");
}

#[test]
fn lss_and_clr_converge_when_the_packets_carrying_them_are_lost() {
    let lossy = LinkConfig { loss: Loss::Bernoulli(0.3), ..LinkConfig::default() };
    let mut p = path(3, 200_000, lossy);
    p.sim.run_until(Instant::from_secs(10)).unwrap();
    let events = sender(&p).loss_events;
    assert!(events >= 5, "30 % loss both ways is signalled: {events}");
    // The losses stop: within a few round trips both flags are down and stay down.
    for h in [p.tx.any(), p.rx.any()] {
        for link in [p.sim.host_uplink(h), p.sim.host_downlink(h)] {
            p.sim.link_mut(link).loss = Loss::Bernoulli(0.0);
        }
    }
    p.sim.run_until(Instant::from_secs(11)).unwrap();
    let (tx, rx) = (sender(&p), receiver(&p));
    assert!(!rx.lss && !tx.clr, "{rx:?} {tx:?}");
    p.sim.run_until(Instant::from_secs(15)).unwrap();
    assert_eq!(sender(&p).loss_events, tx.loss_events, "no loss event without loss");
}

#[test]
fn timestamps_wrap_without_disturbing_rtt_or_loss_detection() {
    // 20 minutes at 20 datagrams a second: every stream's 30-bit µs clock wraps once.
    let mut p = path(4, 24_000, LinkConfig::default());
    p.sim.run_until(Instant::from_secs(1_200)).unwrap();
    let (tx, rx) = (sender(&p), receiver(&p));
    assert_eq!((rx.packets_lost, tx.loss_events), (0, 0));
    assert!(tx.srtt >= Duration::from_millis(40) && tx.srtt < Duration::from_millis(42), "{tx:?}");
    assert!(rx.packets_received > 20 * 1_100, "{rx:?}");
    assert!(tx.bytes_acked > 20_000_000, "echoes keep acknowledging across the wrap: {tx:?}");
}
