//! proptest strategies for the simulator's configurations (feature `proptest`), so every
//! crate can test against any NAT or link the simulator can model, not only the presets.

use core::time::Duration;

use proptest::prelude::*;

use crate::{Filtering, LinkConfig, Loss, Mapping, NatConfig, PortAllocation};

/// Any NAT behaviour: every RFC 4787 mapping and filtering, port preservation on or off,
/// sequential or random allocation, hairpinning on or off, unreplied and confirmed binding
/// timeouts from 0.1 s to 4 s, inbound refresh on or off.
///
/// Timeouts this short stress the simulator; a test of what a NAT *does* over a longer
/// exchange (a classification) lengthens them with [`nat_behaviour`].
pub fn nat_config() -> impl Strategy<Value = NatConfig> {
    let timeouts = (1u64..40, 1u64..40, any::<bool>());
    (nat_behaviour(), timeouts).prop_map(|(nat, (unreplied, confirmed, inbound_refresh))| NatConfig {
        unreplied_timeout: Duration::from_millis(unreplied * 100),
        confirmed_timeout: Duration::from_millis(confirmed * 100),
        inbound_refresh,
        ..nat
    })
}

/// Any NAT behaviour as [`nat_config`], with the default binding timeouts (long enough that no
/// binding expires during a test exchange).
pub fn nat_behaviour() -> impl Strategy<Value = NatConfig> {
    let mapping = prop_oneof![
        Just(Mapping::EndpointIndependent),
        Just(Mapping::AddressDependent),
        Just(Mapping::AddressAndPortDependent)
    ];
    let filtering = prop_oneof![
        Just(Filtering::EndpointIndependent),
        Just(Filtering::AddressDependent),
        Just(Filtering::AddressAndPortDependent)
    ];
    let allocation = prop_oneof![Just(PortAllocation::Sequential), Just(PortAllocation::Random)];
    (mapping, filtering, any::<bool>(), allocation, 60_000u16..65_535, any::<bool>()).prop_map(
        |(mapping, filtering, port_preservation, port_allocation, port_range_start, hairpinning)| NatConfig {
            mapping,
            filtering,
            port_preservation,
            port_allocation,
            port_range_start,
            hairpinning,
            ..NatConfig::full_cone()
        },
    )
}

/// Any link: delay up to 50 ms with jitter up to 20 ms, Bernoulli loss up to 30 %, reordering
/// up to 20 %, an optional rate of 0.1 to 5 Mbit/s with a 1 to 50 kB queue, an MTU of 100 to
/// 1,600 bytes, and 5 % duplication on links without a rate limit (duplicates are copies made
/// on the wire, so they would bypass a bottleneck).
pub fn link_config() -> impl Strategy<Value = LinkConfig> {
    (
        0u64..50,
        0u64..20,
        0.0..0.3f64,
        0.0..0.2f64,
        0u64..10,
        prop::option::of(100_000u64..5_000_000),
        1_000usize..50_000,
        100usize..1600,
        any::<bool>(),
    )
        .prop_map(|(delay, jitter, loss, reorder, reorder_delay, rate_bps, queue_bytes, mtu, dup)| LinkConfig {
            delay: Duration::from_millis(delay),
            jitter: Duration::from_millis(jitter),
            loss: Loss::Bernoulli(loss),
            duplicate: if dup && rate_bps.is_none() { 0.05 } else { 0.0 },
            reorder,
            reorder_delay: Duration::from_millis(reorder_delay),
            rate_bps,
            queue_bytes,
            mtu,
            up: true,
            routers: 0,
        })
}
