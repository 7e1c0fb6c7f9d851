//! Every NAT preset is classified correctly by both the RFC 5780 and the RFC 3489 procedure,
//! over a lossy path (5 % each way, 20 ms each way), against our own server in the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod common;

use std::time::Duration;

use common::{a, check};
use netsim::NatConfig;
use stun_core::{Filtering, Mapping, NatEvent, NatType, Procedure};

fn address_dependent_mapping() -> NatConfig {
    NatConfig { mapping: Mapping::AddressDependent, ..NatConfig::symmetric() }
}

/// (name, NAT, RFC 3489 type)
fn cases() -> Vec<(&'static str, Option<NatConfig>, NatType)> {
    vec![
        ("open", None, NatType::OpenInternet),
        ("full cone", Some(NatConfig::full_cone()), NatType::FullCone),
        ("restricted", Some(NatConfig::restricted_cone()), NatType::RestrictedCone),
        ("port-restricted", Some(NatConfig::port_restricted_cone()), NatType::PortRestrictedCone),
        ("symmetric", Some(NatConfig::symmetric()), NatType::Symmetric),
        ("address-dependent mapping", Some(address_dependent_mapping()), NatType::Symmetric),
    ]
}

#[test]
fn rfc5780_procedure_finds_every_mapping_and_filtering_behaviour() {
    for (seed, (name, nat, nat_type)) in cases().into_iter().enumerate() {
        // What the check must find is what the simulated NAT does (no NAT: nothing dependent).
        let (mapping, filtering) = nat
            .as_ref()
            .map_or((Mapping::EndpointIndependent, Filtering::EndpointIndependent), |n| (n.mapping, n.filtering));
        let (report, events, _) = check(u8::try_from(seed).unwrap(), nat, 0.05, true, |_, _| {});
        assert_eq!(report.nat_type, nat_type, "{name}: {report:?}");
        assert_eq!(report.mapping, Some(mapping), "{name}");
        assert_eq!(report.filtering, Some(filtering), "{name}");
        assert_eq!(report.server_other, Some(a(common::ALTERNATE)), "{name}");
        let public = report.public.unwrap();
        assert!(matches!(events[0].1, NatEvent::PublicAddress(p) if p == public), "{name}: first event is the address");
        if name != "open" {
            assert_eq!(public.ip(), common::PUBLIC_IP.parse::<std::net::IpAddr>().unwrap(), "{name}");
        }
    }
}

#[test]
fn rfc3489_procedure_classifies_every_preset() {
    for (seed, (name, nat, nat_type)) in cases().into_iter().enumerate() {
        let (report, _, _) =
            check(u8::try_from(seed + 50).unwrap(), nat, 0.05, true, |c, _| c.procedure = Procedure::Rfc3489);
        assert_eq!(report.nat_type, nat_type, "{name}: {report:?}");
    }
}

#[test]
fn no_answer_at_all_is_udp_blocked_after_the_full_rfc_schedule() {
    let (report, events, _) = check(7, Some(NatConfig::full_cone()), 1.0, true, |_, _| {});
    assert_eq!(report.nat_type, NatType::UdpBlocked);
    assert_eq!(report.public, None);
    // Test I is not a negative test: it gets RFC 8489's whole 39.5 s.
    assert_eq!(events.last().unwrap().0, sansio_core::Instant::from_millis(39_500));
}

#[test]
fn a_server_without_an_alternate_address_gives_the_address_but_no_type() {
    let (report, _, _) = check(8, Some(NatConfig::port_restricted_cone()), 0.0, false, |_, _| {});
    assert_eq!(report.nat_type, NatType::Unknown);
    assert_eq!(report.server_other, None);
    assert!(report.public.is_some());
}

#[test]
fn hairpinning_is_seen_when_the_nat_loops_back() {
    for hairpin in [true, false] {
        let nat = NatConfig { hairpinning: hairpin, ..NatConfig::port_restricted_cone() };
        let (report, _, _) = check(9, Some(nat), 0.0, true, |c, _| c.hairpin = true);
        assert_eq!(report.hairpinning, Some(hairpin));
    }
}

#[test]
fn negative_tests_wait_only_the_configured_timeout() {
    // Port-restricted: filtering tests II and III both go unanswered.
    let (_, events, _) = check(10, Some(NatConfig::port_restricted_cone()), 0.0, true, |c, _| {
        c.negative_timeout = Duration::from_secs(2);
    });
    let end = events.last().unwrap().0;
    // Test I (~40 ms), two 2 s silences, mapping test II (~40 ms), pacing gaps of 100 ms.
    assert!(end.as_micros() > 4_000_000 && end.as_micros() < 4_500_000, "took {end:?}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let (report, events, sim) = check(seed, Some(NatConfig::symmetric()), 0.05, true, |_, _| {});
        (report, events, sim.trace_hash())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).2, run(12).2);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// Not only the presets: for any behaviour the simulator can give a NAT (mapping,
    /// filtering, port preservation, allocation, hairpinning), the check finds exactly the
    /// mapping and filtering the NAT has.
    #[test]
    fn any_nat_the_simulator_models_is_classified_as_it_behaves(
        nat in netsim::strategies::nat_behaviour(),
        seed in proptest::prelude::any::<u8>(),
    ) {
        let (report, _, _) = check(seed, Some(nat.clone()), 0.0, true, |_, _| {});
        proptest::prop_assert_eq!(report.mapping, Some(nat.mapping), "{:?}", nat);
        proptest::prop_assert_eq!(report.filtering, Some(nat.filtering), "{:?}", nat);
    }
}
