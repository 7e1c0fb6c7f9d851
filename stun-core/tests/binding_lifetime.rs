//! The binding-lifetime search finds NAT timeouts of 5, 30 and 120 s within one probe step
//! (RFC 5780 §4.6 with RESPONSE-PORT, and the RFC 3489 §10.2 RESPONSE-ADDRESS variant), and
//! recommends a keep-alive that keeps the binding.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod common;

use std::time::Duration;

use common::check;
use netsim::NatConfig;
use stun_core::{LifetimeConfig, NatEvent, Procedure};

fn measure(seed: u8, nat: NatConfig, procedure: Procedure, loss: f64) -> (stun_core::BindingLifetime, u32) {
    let (report, events, _) = check(seed, Some(nat), loss, true, |c, lab| {
        c.procedure = procedure;
        c.lifetime = Some(LifetimeConfig::new(lab.second));
    });
    let found = report.lifetime.expect("a lifetime");
    assert!(events.iter().any(|(_, e)| *e == NatEvent::BindingLifetime(found)));
    (found, found.probes)
}

#[test]
fn timeouts_of_5_30_and_120_s_are_found_within_one_probe_step() {
    let step = LifetimeConfig::new(common::a("0.0.0.0:0")).resolution;
    for (i, timeout) in [5u64, 30, 120].into_iter().enumerate() {
        for (j, nat) in [NatConfig::port_restricted_cone(), NatConfig::symmetric()].into_iter().enumerate() {
            for procedure in [Procedure::Rfc5780, Procedure::Rfc3489] {
                let t = Duration::from_secs(timeout);
                let seed = u8::try_from(10 * i + 2 * j).unwrap() + u8::from(procedure == Procedure::Rfc3489);
                let (found, probes) = measure(seed, nat.clone().with_timeout(t), procedure, 0.0);
                let expired = found.expired.expect("the search brackets the timeout");
                eprintln!(
                    "{timeout} s, {j}, {procedure:?}: alive {:?}, expired {expired:?}, {probes} probes",
                    found.alive
                );
                assert!(found.alive < t && t <= expired + Duration::from_millis(100), "{timeout} s: {found:?}");
                assert!(expired - found.alive <= step, "{timeout} s: one step wide: {found:?}");
                assert!(t - found.alive <= step, "{timeout} s: within one step: {found:?}");
                assert_eq!(found.keepalive, found.alive * 4 / 5);
            }
        }
    }
}

#[test]
fn loss_on_the_path_does_not_move_the_estimate_beyond_a_step() {
    let t = Duration::from_secs(30);
    let (found, _) = measure(40, NatConfig::port_restricted_cone().with_timeout(t), Procedure::Rfc5780, 0.05);
    assert!(
        t - found.alive <= Duration::from_secs(1) && found.expired.unwrap() >= t - Duration::from_millis(100),
        "{found:?}"
    );
}

#[test]
fn a_binding_that_outlives_the_search_is_reported_as_at_least_the_maximum() {
    let (report, _, _) =
        check(41, Some(NatConfig::full_cone().with_timeout(Duration::from_secs(600))), 0.0, true, |c, lab| {
            c.lifetime = Some(LifetimeConfig { max: Duration::from_secs(100), ..LifetimeConfig::new(lab.second) });
        });
    let found = report.lifetime.unwrap();
    assert_eq!((found.alive, found.expired), (Duration::from_secs(100), None));
}
