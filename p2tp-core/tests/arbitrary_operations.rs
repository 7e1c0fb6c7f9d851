//! Any sequence of application commands over any link the simulator models: the endpoints
//! keep the machine contract (netsim fails the run otherwise), never panic, keep bounded
//! state, every `connect` ends in `Opened` or says why not (`OpenFailed`, `Closed`), and the
//! two sides end up agreeing on whether the stream exists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::time::Duration;

use common::{A, B, Pair};
use netsim::addr;
use netsim::strategies::link_config;
use p2tp_core::{Config, Endpoint, Event};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Connect { from_a: bool },
    Send { from_a: bool, len: usize },
    Close { from_a: bool },
    Wait { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => any::<bool>().prop_map(|from_a| Op::Connect { from_a }),
        4 => (any::<bool>(), 0usize..1300).prop_map(|(from_a, len)| Op::Send { from_a, len }),
        1 => any::<bool>().prop_map(|from_a| Op::Close { from_a }),
        2 => (0u64..3_000).prop_map(|ms| Op::Wait { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_commands_over_any_link_keep_the_contract_and_every_open_resolves(
        seed in any::<u64>(),
        link in link_config(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let config = |a: &str| Config { max_queued_per_stream: 32, max_queued: 64, ..Config::new(addr(a)) };
        let mut p = Pair::with(seed, link, config(A), config(B));
        let mut connects = [0u32; 2];
        for op in &ops {
            match *op {
                Op::Connect { from_a } => {
                    let (h, peer) = if from_a { (p.a, addr(B)) } else { (p.b, addr(A)) };
                    let first = p.sim.call(h, move |e: &mut Endpoint, now| {
                        let new = e.streams() == 0;
                        e.connect(now, peer).map(|()| new)
                    });
                    prop_assert!(first.is_ok());
                    connects[usize::from(!from_a)] += 1;
                }
                Op::Send { from_a, len } => {
                    let (h, peer) = if from_a { (p.a, addr(B)) } else { (p.b, addr(A)) };
                    let r = p.sim.call(h, move |e: &mut Endpoint, now| e.send(now, peer, &vec![7; len]));
                    if let Err(e) = r {
                        // Refusals are typed and say why.
                        prop_assert!(!e.to_string().is_empty());
                    }
                }
                Op::Close { from_a } => {
                    let (h, peer) = if from_a { (p.a, addr(B)) } else { (p.b, addr(A)) };
                    p.sim.call(h, move |e: &mut Endpoint, now| e.close(now, peer));
                }
                Op::Wait { ms } => p.sim.run_for(Duration::from_millis(ms)).map_err(|e| TestCaseError::fail(e.to_string()))?,
            }
            for (h, peer) in [(p.a, addr(B)), (p.b, addr(A))] {
                let e = p.sim.machine(h);
                prop_assert!(e.streams() <= 1);
                let queued = e.path_stats(peer).map_or(0, |s| s.queued);
                prop_assert!(queued <= 32, "{} queued", queued);
            }
        }
        // Long enough for every handshake to finish or give up, and idle streams to time out.
        p.sim.run_until(p.now() + Duration::from_secs(200)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (h, n) in [(p.a, connects[0]), (p.b, connects[1])] {
            let events = p.sim.events(h);
            let resolved = events.iter().filter(|(_, e)| matches!(e, Event::Opened { .. } | Event::OpenFailed { .. } | Event::Closed { .. })).count();
            if n > 0 {
                prop_assert!(resolved >= 1, "a connect with no outcome: {:?}", events);
            }
        }
        // On a lossy path one side may idle a stream out while the other's keep-alives are
        // lost. Once the path heals, within 200 s the two agree: the stream is gone on both
        // sides, or (kept by keep-alives) established on both.
        for h in [p.a.any(), p.b.any()] {
            for link in [p.sim.host_uplink(h), p.sim.host_downlink(h)] {
                *p.sim.link_mut(link) = netsim::LinkConfig::default();
            }
        }
        p.sim.run_until(p.now() + Duration::from_secs(200)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (ea, eb) = (p.sim.machine(p.a), p.sim.machine(p.b));
        prop_assert_eq!(ea.streams(), eb.streams());
        if ea.streams() == 1 {
            prop_assert!(ea.is_established(addr(B)) && eb.is_established(addr(A)));
        }
    }
}
