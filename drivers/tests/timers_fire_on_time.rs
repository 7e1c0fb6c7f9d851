//! Timers fire no earlier than asked and close to their deadline, on both drivers, whether the
//! machine is idle or flooded with datagrams.

mod common;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{BOTH, Event, TestMachine, start};

const TICKS: u32 = 30;
const INTERVAL: Duration = Duration::from_millis(10);
/// Generous: CI machines are shared; the point is "milliseconds, not stalls".
const MAX_LATENESS: Duration = Duration::from_millis(100);

fn lateness(events: &[Event]) -> Vec<Duration> {
    events
        .iter()
        .map(|e| match e {
            Event::Tick { deadline, now, .. } => {
                assert!(now >= deadline, "fired early: {now} < {deadline}");
                *now - *deadline
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn an_idle_machine_gets_every_tick_on_time() {
    for flavor in BOTH {
        let ticker = start(flavor, TestMachine::default(), &["127.0.0.1:0"]);
        ticker.call(|m, now| m.start_ticks(now, INTERVAL, TICKS));
        let events = ticker.take(TICKS as usize, Duration::from_secs(10));
        let mut late = lateness(&events);
        late.sort();
        assert!(late[late.len() - 1] < MAX_LATENESS, "{flavor:?}: worst {:?}", late[late.len() - 1]);
        // Every wake-up that served ticks is counted. A loop woken late (a loaded machine)
        // serves every tick already due in one wake-up, so there are at most TICKS of them and
        // at least as many as the distinct times ticks were served at.
        let served: std::collections::BTreeSet<sansio_core::Instant> = events
            .iter()
            .map(|e| match e {
                Event::Tick { now, .. } => *now,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let stats = ticker.shutdown().stats;
        assert!((served.len() as u64..=u64::from(TICKS)).contains(&stats.timeouts), "{flavor:?}: {stats:?}");
    }
}

#[test]
fn a_flood_of_datagrams_cannot_stop_timers_firing() {
    for flavor in BOTH {
        let ticker = start(flavor, TestMachine::default(), &["127.0.0.1:0"]);
        let target = ticker.local_addrs()[0];
        let done = Arc::new(AtomicBool::new(false));
        // Two flooders send small datagrams as fast as they can, bounded in count and time.
        let flooders: Vec<_> = (0..2)
            .map(|_| {
                let done = done.clone();
                std::thread::spawn(move || {
                    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                    let started = std::time::Instant::now();
                    let mut sent = 0u64;
                    while !done.load(Ordering::Relaxed)
                        && sent < 5_000_000
                        && started.elapsed() < Duration::from_secs(10)
                    {
                        if s.send_to(b"flood flood flood flood", target).is_ok() {
                            sent += 1;
                        }
                    }
                    sent
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        ticker.call(|m, now| m.start_ticks(now, INTERVAL, TICKS));
        let late = lateness(&ticker.take(TICKS as usize, Duration::from_secs(10)));
        done.store(true, Ordering::Relaxed);
        let sent: u64 = flooders.into_iter().map(|f| f.join().unwrap()).sum();
        let stopped = ticker.shutdown();
        let worst = late.iter().max().unwrap();
        eprintln!(
            "{flavor:?}: {sent} flood datagrams sent, {} handled, worst tick {worst:?} late",
            stopped.machine.other_received
        );
        assert!(*worst < MAX_LATENESS, "{flavor:?}: worst tick {worst:?} late under flood");
        assert!(
            stopped.machine.other_received > 10_000,
            "{flavor:?}: the flood must really reach the machine (got {} of {sent})",
            stopped.machine.other_received
        );
    }
}
