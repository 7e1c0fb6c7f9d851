//! A machine handed to a driver with work already scheduled (a deadline, queued datagrams)
//! gets it done without waiting for a first input.

mod common;

use std::time::Duration;

use common::{BOTH, Event, TestMachine, start};
use sansio_core::Instant;

#[test]
fn a_deadline_set_before_spawn_fires() {
    for flavor in BOTH {
        let mut m = TestMachine::default();
        m.start_ticks(Instant::ZERO, Duration::from_millis(5), 3);
        let running = start(flavor, m, &["127.0.0.1:0"]);
        let ticks = running.take(3, Duration::from_secs(5));
        assert!(ticks.iter().all(|e| matches!(e, Event::Tick { .. })), "{flavor:?}: {ticks:?}");
        running.shutdown();
    }
}

#[test]
fn datagrams_queued_before_spawn_are_sent() {
    for flavor in BOTH {
        let receiver = start(flavor, TestMachine::default(), &["127.0.0.1:0"]);
        let mut sender = TestMachine::default();
        sender.send_burst(receiver.local_addrs()[0], &[100, 100, 50]);
        let sender = start(flavor, sender, &["127.0.0.1:0"]);
        let got = receiver.take(3, Duration::from_secs(5));
        assert_eq!(got.len(), 3, "{flavor:?}");
        assert_eq!(sender.shutdown().stats.datagrams_sent, 3);
    }
}
