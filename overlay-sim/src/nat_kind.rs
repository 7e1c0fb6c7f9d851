//! The kinds of network a simulated node can sit behind, and which pairs RFC 4787 lets meet
//! directly.

use core::fmt;
use core::str::FromStr;

use netsim::{Filtering, Mapping, NatConfig, PortAllocation};
use serde::Serialize;

/// Where a node sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatKind {
    /// A public address, no NAT.
    Open,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    Restricted,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestricted,
    /// Address-and-port-dependent mapping (a new port per destination, at random) and
    /// filtering.
    Symmetric,
    /// The same, with ports given out in sequence: predictable (`docs/overlay.md` §7.2).
    Sequential,
    /// A Linux home router (nftables masquerade): conntrack's per-flow state.
    Linux,
    /// A port-restricted home router behind a carrier-grade NAT (Linux masquerade).
    Nested,
}

impl NatKind {
    /// Every kind, in table order.
    pub const ALL: [NatKind; 8] = [
        NatKind::Open,
        NatKind::FullCone,
        NatKind::Restricted,
        NatKind::PortRestricted,
        NatKind::Symmetric,
        NatKind::Sequential,
        NatKind::Linux,
        NatKind::Nested,
    ];

    /// The name used on the command line and in tables.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            NatKind::Open => "open",
            NatKind::FullCone => "full-cone",
            NatKind::Restricted => "restricted",
            NatKind::PortRestricted => "port-restricted",
            NatKind::Symmetric => "symmetric",
            NatKind::Sequential => "sequential",
            NatKind::Linux => "linux",
            NatKind::Nested => "nested",
        }
    }

    /// The NAT boxes in front of a node, outermost first (none for `Open`).
    #[must_use]
    pub fn boxes(self) -> Vec<NatConfig> {
        match self {
            NatKind::Open => vec![],
            NatKind::FullCone => vec![NatConfig::full_cone()],
            NatKind::Restricted => vec![NatConfig::restricted_cone()],
            NatKind::PortRestricted => vec![NatConfig::port_restricted_cone()],
            NatKind::Symmetric => vec![NatConfig::symmetric()],
            NatKind::Sequential => vec![NatConfig::symmetric().with_ports(PortAllocation::Sequential)],
            NatKind::Linux => vec![NatConfig::linux_masquerade()],
            NatKind::Nested => vec![NatConfig::linux_masquerade(), NatConfig::port_restricted_cone()],
        }
    }

    /// The mapping and filtering the node's traffic meets overall (the strictest of its
    /// boxes). Linux conntrack maps independently of the endpoint while the port is free and
    /// filters by address and port.
    fn behaviour(self) -> Option<(Mapping, Filtering)> {
        let m_rank = |m: Mapping| match m {
            Mapping::EndpointIndependent => 0,
            Mapping::AddressDependent => 1,
            _ => 2,
        };
        let f_rank = |f: Filtering| match f {
            Filtering::EndpointIndependent => 0,
            Filtering::AddressDependent => 1,
            _ => 2,
        };
        self.boxes().iter().fold(None, |acc: Option<(Mapping, Filtering)>, c| {
            Some(match acc {
                None => (c.mapping, c.filtering),
                Some((m, f)) => (
                    if m_rank(c.mapping) > m_rank(m) { c.mapping } else { m },
                    if f_rank(c.filtering) > f_rank(f) { c.filtering } else { f },
                ),
            })
        })
    }

    /// Whether RFC 4787 behaviour lets a node of kind `a` and one of kind `b` exchange
    /// datagrams directly with introducer-coordinated punching: unless one side maps per
    /// destination and the other filters by port (or maps per destination too), the address
    /// each learns of the other through an introducer is the one to use. A side that maps per
    /// destination but gives out ports in sequence ([`NatKind::Sequential`]) meets any side
    /// that maps independently of the destination, and another such side, by port
    /// prediction (`docs/overlay.md` §7.2); two sides that both map per destination, one at
    /// random, never meet.
    #[must_use]
    pub fn direct_possible(a: NatKind, b: NatKind) -> bool {
        let independent = |k: NatKind| k.behaviour().is_none_or(|(m, _)| m == Mapping::EndpointIndependent);
        let sequential = |k: NatKind| k == NatKind::Sequential;
        if (sequential(a) && (independent(b) || sequential(b))) || (sequential(b) && independent(a)) {
            return true;
        }
        let (Some(x), Some(y)) = (a.behaviour(), b.behaviour()) else { return true };
        let dependent = |m: Mapping| m != Mapping::EndpointIndependent;
        let port_filter = |f: Filtering| f == Filtering::AddressAndPortDependent;
        !((dependent(x.0) && (dependent(y.0) || port_filter(y.1))) || (dependent(y.0) && port_filter(x.1)))
    }
}

impl fmt::Display for NatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NatKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NatKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = NatKind::ALL.iter().map(|k| k.name()).collect();
            format!("{s:?} is not a NAT kind ({})", names.join(", "))
        })
    }
}

/// How many nodes of each kind, by weight: `"full-cone=2,symmetric=1"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatMix(pub Vec<(NatKind, u32)>);

impl NatMix {
    /// One of each of the seven classic kinds, without [`NatKind::Sequential`], so the
    /// figures stay comparable across sessions (`.ci/run`'s 1,000 nodes). Add it by name;
    /// `overlay-sim/tests/punch_matrix.rs` runs both mixes (`docs/overlay.md` §7.2).
    #[must_use]
    pub fn even() -> Self {
        Self(NatKind::ALL.iter().filter(|k| **k != NatKind::Sequential).map(|k| (*k, 1)).collect())
    }

    /// The kind of node `i` of `n`: each kind gets its share of the nodes (largest
    /// remainders), interleaved so that any prefix of the nodes is mixed too.
    #[must_use]
    pub fn kind_of(&self, i: usize) -> NatKind {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return NatKind::Open;
        }
        // Weighted round robin over slots of `total`.
        let mut slot = (i as u64) % total;
        for (k, w) in &self.0 {
            if slot < u64::from(*w) {
                return *k;
            }
            slot -= u64::from(*w);
        }
        NatKind::Open
    }
}

impl FromStr for NatMix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut mix = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
            let kind: NatKind = name.trim().parse()?;
            let weight: u32 =
                weight.trim().parse().map_err(|_| format!("{part:?}: the weight is not a whole number"))?;
            mix.push((kind, weight));
        }
        if mix.iter().all(|(_, w)| *w == 0) {
            return Err("the NAT mix has no node kinds with a weight above 0".into());
        }
        Ok(Self(mix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_table_follows_rfc_4787() {
        use NatKind::*;
        for k in NatKind::ALL {
            assert!(NatKind::direct_possible(Open, k) && NatKind::direct_possible(FullCone, k));
        }
        assert!(NatKind::direct_possible(PortRestricted, PortRestricted));
        assert!(NatKind::direct_possible(Symmetric, Restricted));
        assert!(!NatKind::direct_possible(Symmetric, Symmetric));
        assert!(!NatKind::direct_possible(Symmetric, PortRestricted));
        assert!(!NatKind::direct_possible(Linux, Symmetric));
        assert!(!NatKind::direct_possible(Symmetric, Nested));
        assert!(NatKind::direct_possible(Sequential, PortRestricted) && NatKind::direct_possible(Linux, Sequential));
        assert!(NatKind::direct_possible(Sequential, Nested));
        assert!(NatKind::direct_possible(Sequential, Sequential) && !NatKind::direct_possible(Symmetric, Sequential));
        for a in NatKind::ALL {
            for b in NatKind::ALL {
                assert_eq!(NatKind::direct_possible(a, b), NatKind::direct_possible(b, a));
            }
        }
    }

    #[test]
    fn a_mix_parses_and_shares_nodes_by_weight() {
        let mix: NatMix = "open=1, symmetric=3".parse().unwrap();
        let kinds: Vec<NatKind> = (0..8).map(|i| mix.kind_of(i)).collect();
        assert_eq!(kinds.iter().filter(|k| **k == NatKind::Symmetric).count(), 6);
        assert!("moon=1".parse::<NatMix>().is_err());
        assert!("open=x".parse::<NatMix>().is_err());
        assert!("open=0".parse::<NatMix>().is_err());
    }
}
