//! Both drivers deliver the same event sequence for the same exchange over loopback.

mod common;

use std::time::Duration;

use common::{BOTH, Event, Flavor, TestMachine, start};

const PINGS: u32 = 10;

/// The kinds and sequence numbers of the pinger's events, without their timings.
fn shape(events: &[Event]) -> Vec<(&'static str, u32)> {
    events
        .iter()
        .map(|e| match e {
            Event::Tick { seq, .. } => ("tick", *seq),
            Event::Pong { seq, .. } => ("pong", *seq),
            Event::Data { tag, .. } => ("data", *tag),
        })
        .collect()
}

fn exchange(flavor: Flavor) -> Vec<Event> {
    let echo = start(flavor, TestMachine::default(), &["127.0.0.1:0"]);
    let pinger = start(flavor, TestMachine::default(), &["127.0.0.1:0"]);
    let peer = echo.local_addrs()[0];
    pinger.call(move |m, now| m.start_pings(now, peer, Duration::from_millis(5), PINGS));
    let events = pinger.take(2 * PINGS as usize, Duration::from_secs(10));
    let stats = pinger.shutdown().stats;
    assert_eq!(stats.datagrams_sent, u64::from(PINGS), "{flavor:?}: one ping per tick");
    assert_eq!(stats.datagrams_received, u64::from(PINGS), "{flavor:?}: one pong per ping");
    assert_eq!(echo.shutdown().stats.datagrams_sent, u64::from(PINGS));
    events
}

#[test]
fn std_and_tokio_drivers_report_the_same_ping_pong_sequence() {
    let expected: Vec<_> = (0..PINGS).flat_map(|s| [("tick", s), ("pong", s)]).collect();
    let runs: Vec<_> = BOTH.iter().map(|f| exchange(*f)).collect();
    for (flavor, events) in BOTH.iter().zip(&runs) {
        assert_eq!(shape(events), expected, "{flavor:?}");
        for e in events {
            if let Event::Pong { rtt, .. } = e {
                assert!(*rtt < Duration::from_secs(1), "{flavor:?}: loopback rtt {rtt:?}");
            }
        }
    }
    assert_eq!(shape(&runs[0]), shape(&runs[1]));
}

#[test]
fn a_machine_on_one_driver_talks_to_a_machine_on_the_other() {
    let echo = start(Flavor::Tokio, TestMachine::default(), &["127.0.0.1:0"]);
    let pinger = start(Flavor::Std, TestMachine::default(), &["127.0.0.1:0"]);
    let peer = echo.local_addrs()[0];
    pinger.call(move |m, now| m.start_pings(now, peer, Duration::from_millis(1), 3));
    let events = pinger.take(6, Duration::from_secs(10));
    assert_eq!(shape(&events), vec![("tick", 0), ("pong", 0), ("tick", 1), ("pong", 1), ("tick", 2), ("pong", 2)]);
}
