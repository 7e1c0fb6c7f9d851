//! NAT boxes with every RFC 4787 mapping and filtering behaviour, port allocation policies,
//! binding timeouts and hairpinning.

use core::time::Duration;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::{IpAddr, SocketAddr};

use sansio_core::{Filtering, Instant, Mapping, SeededRng};

use crate::{FastMap, fast_map};

/// How a NAT picks the external port of a new mapping when it cannot (or does not try to)
/// keep the internal port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortAllocation {
    /// The next free port after the last one given out.
    Sequential,
    /// A uniformly random free port.
    Random,
}

/// The behaviour of a NAT box. Presets name the classic (RFC 3489) types.
///
/// ```
/// use netsim::{Filtering, Mapping, NatConfig};
///
/// let nat = NatConfig::port_restricted_cone();
/// assert_eq!((nat.mapping, nat.filtering), (Mapping::EndpointIndependent, Filtering::AddressAndPortDependent));
/// assert!(NatConfig::symmetric().mapping == Mapping::AddressAndPortDependent);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// Mapping behaviour.
    pub mapping: Mapping,
    /// Filtering behaviour.
    pub filtering: Filtering,
    /// Keep the internal source port as the external port when it is free.
    pub port_preservation: bool,
    /// How other ports are chosen.
    pub port_allocation: PortAllocation,
    /// Lowest external port handed out (ports below stay unused).
    pub port_range_start: u16,
    /// A packet from inside to the NAT's own external address is looped back inside.
    pub hairpinning: bool,
    /// Lifetime of a mapping that has never let an inbound packet through.
    pub unreplied_timeout: Duration,
    /// Lifetime of a mapping that has (Linux conntrack's "stream" timeout).
    pub confirmed_timeout: Duration,
    /// Inbound packets let through also refresh the mapping (RFC 4787 REQ-6 makes only
    /// outbound refresh mandatory).
    pub inbound_refresh: bool,
}

impl NatConfig {
    fn base(mapping: Mapping, filtering: Filtering) -> Self {
        Self {
            mapping,
            filtering,
            port_preservation: true,
            port_allocation: PortAllocation::Sequential,
            port_range_start: 1024,
            hairpinning: false,
            unreplied_timeout: Duration::from_secs(30),
            confirmed_timeout: Duration::from_secs(120),
            inbound_refresh: false,
        }
    }

    /// Full cone: endpoint-independent mapping and filtering.
    #[must_use]
    pub fn full_cone() -> Self {
        Self::base(Mapping::EndpointIndependent, Filtering::EndpointIndependent)
    }

    /// (Address-)restricted cone: endpoint-independent mapping, address-dependent filtering.
    #[must_use]
    pub fn restricted_cone() -> Self {
        Self::base(Mapping::EndpointIndependent, Filtering::AddressDependent)
    }

    /// Port-restricted cone: endpoint-independent mapping, address-and-port-dependent
    /// filtering. This is what Linux masquerading does.
    #[must_use]
    pub fn port_restricted_cone() -> Self {
        Self::base(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
    }

    /// Symmetric: address-and-port-dependent mapping and filtering, random ports.
    #[must_use]
    pub fn symmetric() -> Self {
        Self {
            port_preservation: false,
            port_allocation: PortAllocation::Random,
            ..Self::base(Mapping::AddressAndPortDependent, Filtering::AddressAndPortDependent)
        }
    }

    /// The same behaviour with both timeouts set to `t`.
    #[must_use]
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.unreplied_timeout = t;
        self.confirmed_timeout = t;
        self
    }
}

/// What a NAT box did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatStats {
    /// Outbound packets translated.
    pub translated_out: u64,
    /// Inbound packets translated and let in.
    pub translated_in: u64,
    /// Inbound packets for a port with no live mapping.
    pub dropped_no_mapping: u64,
    /// Inbound packets the filtering rejected.
    pub dropped_filtered: u64,
    /// Packets to the NAT's own address from inside with hairpinning off.
    pub dropped_hairpin: u64,
    /// Outbound packets dropped because no external port was free.
    pub dropped_ports_exhausted: u64,
    /// Packets looped back inside (hairpinning).
    pub hairpinned: u64,
    /// Mappings created.
    pub mappings_created: u64,
    /// Mappings removed after their timeout.
    pub mappings_expired: u64,
}

/// Identifies a mapping: the internal endpoint, plus the parts of the remote that the mapping
/// behaviour keys on (unspecified otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct MapKey {
    internal: SocketAddr,
    remote: SocketAddr,
}

/// The remotes a mapping has sent to, as its filtering sees them. Most mappings have one
/// (always, with endpoint-independent filtering), kept inline; a peer-to-peer node's may have
/// thousands.
#[derive(Debug)]
enum Contacts {
    One(SocketAddr),
    Few(Vec<SocketAddr>),
    Many(HashSet<SocketAddr, foldhash::fast::FixedState>),
}

impl Contacts {
    const FEW: usize = 16;

    fn contains(&self, a: &SocketAddr) -> bool {
        match self {
            Self::One(one) => one == a,
            Self::Few(v) => v.contains(a),
            Self::Many(s) => s.contains(a),
        }
    }

    fn insert(&mut self, a: SocketAddr) {
        match self {
            Self::One(one) if *one == a => {}
            Self::One(one) => *self = Self::Few(vec![*one, a]),
            Self::Few(v) if v.contains(&a) => {}
            Self::Few(v) if v.len() < Self::FEW => v.push(a),
            Self::Few(v) => {
                let mut set = HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0));
                set.extend(v.drain(..));
                set.insert(a);
                *self = Self::Many(set);
            }
            Self::Many(s) => {
                s.insert(a);
            }
        }
    }
}

#[derive(Debug)]
struct Binding {
    key: MapKey,
    external_port: u16,
    contacts: Contacts,
    confirmed: bool,
    refreshed: Instant,
    /// The expiry entry this binding has in the heap; refreshes only move the real expiry
    /// later, so one entry per binding suffices (it is re-pushed when popped early).
    scheduled: Instant,
}

/// A NAT's mappings: a plain vector searched linearly while small (most NAT boxes in a large
/// simulation hold a handful), with hash indexes added once it grows.
#[derive(Debug, Default)]
struct Bindings {
    list: Vec<Binding>,
    index: Option<Box<Index>>,
}

#[derive(Debug)]
struct Index {
    by_key: FastMap<MapKey, usize>,
    by_port: FastMap<u16, usize>,
}

impl Bindings {
    /// Bindings searched linearly before the indexes are built.
    const SMALL: usize = 8;

    fn len(&self) -> usize {
        self.list.len()
    }

    fn by_key(&self, key: &MapKey) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.by_key.get(key).copied(),
            None => self.list.iter().position(|b| b.key == *key),
        }
    }

    fn by_port(&self, port: u16) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.by_port.get(&port).copied(),
            None => self.list.iter().position(|b| b.external_port == port),
        }
    }

    fn insert(&mut self, b: Binding) -> usize {
        let i = self.list.len();
        if let Some(ix) = &mut self.index {
            ix.by_key.insert(b.key, i);
            ix.by_port.insert(b.external_port, i);
        }
        self.list.push(b);
        if self.index.is_none() && self.list.len() > Self::SMALL {
            let mut ix = Index { by_key: fast_map(), by_port: fast_map() };
            for (i, b) in self.list.iter().enumerate() {
                ix.by_key.insert(b.key, i);
                ix.by_port.insert(b.external_port, i);
            }
            self.index = Some(Box::new(ix));
        }
        i
    }

    fn remove(&mut self, i: usize) {
        let b = self.list.swap_remove(i);
        if let Some(ix) = &mut self.index {
            ix.by_key.remove(&b.key);
            ix.by_port.remove(&b.external_port);
            if let Some(moved) = self.list.get(i) {
                ix.by_key.insert(moved.key, i);
                ix.by_port.insert(moved.external_port, i);
            }
        }
    }
}

/// A NAT box's translation state.
#[derive(Debug)]
pub(crate) struct Nat {
    pub config: NatConfig,
    pub external_ip: IpAddr,
    pub stats: NatStats,
    bindings: Bindings,
    /// (expiry, port) candidates; stale entries are skipped when popped.
    expiry: BinaryHeap<Reverse<(Instant, u16)>>,
    /// The earliest entry of `expiry` (MAX when empty): checked on every packet without
    /// touching the heap's memory.
    next_expiry: Instant,
    next_port: u16,
}

/// The outcome of an inbound packet at the NAT's external side.
pub(crate) enum Inbound {
    /// Let in, to this internal endpoint.
    Deliver(SocketAddr),
    /// Dropped (and counted).
    Drop,
}

impl Nat {
    pub fn new(external_ip: IpAddr, config: NatConfig) -> Self {
        let next_port = config.port_range_start.max(1);
        Self {
            config,
            external_ip,
            stats: NatStats::default(),
            bindings: Bindings::default(),
            expiry: BinaryHeap::new(),
            next_expiry: Instant::MAX,
            next_port,
        }
    }

    /// Live mappings.
    pub fn mappings(&self) -> usize {
        self.bindings.len()
    }

    fn key(&self, internal: SocketAddr, remote: SocketAddr) -> MapKey {
        let unspecified = SocketAddr::new(unspecified_like(remote.ip()), 0);
        let remote = match self.config.mapping {
            Mapping::EndpointIndependent => unspecified,
            Mapping::AddressDependent => SocketAddr::new(remote.ip(), 0),
            Mapping::AddressAndPortDependent => remote,
        };
        MapKey { internal, remote }
    }

    fn contact(&self, remote: SocketAddr) -> SocketAddr {
        match self.config.filtering {
            Filtering::EndpointIndependent => SocketAddr::new(unspecified_like(remote.ip()), 0),
            Filtering::AddressDependent => SocketAddr::new(remote.ip(), 0),
            Filtering::AddressAndPortDependent => remote,
        }
    }

    fn expires_at(&self, b: &Binding) -> Instant {
        b.refreshed + if b.confirmed { self.config.confirmed_timeout } else { self.config.unreplied_timeout }
    }

    /// Removes every mapping whose lifetime has run out by `now`.
    pub fn expire(&mut self, now: Instant) {
        if now < self.next_expiry {
            return;
        }
        while let Some(&Reverse((at, port))) = self.expiry.peek() {
            if at > now {
                break;
            }
            self.expiry.pop();
            let Some(i) = self.bindings.by_port(port) else { continue };
            if self.bindings.list[i].scheduled != at {
                continue; // a stale entry of an earlier binding on this port
            }
            let real = self.expires_at(&self.bindings.list[i]);
            if real <= now {
                self.remove(i);
            } else {
                self.bindings.list[i].scheduled = real;
                self.expiry.push(Reverse((real, port)));
            }
        }
        self.next_expiry = self.expiry.peek().map_or(Instant::MAX, |Reverse((at, _))| *at);
    }

    fn remove(&mut self, i: usize) {
        self.bindings.remove(i);
        self.stats.mappings_expired += 1;
    }

    /// The index of the live binding on `port`, removing it first if its lifetime ran out (the
    /// expiry heap may not have reached it yet, e.g. after the timeouts were shortened).
    fn live(&mut self, now: Instant, i: Option<usize>) -> Option<usize> {
        let i = i?;
        if self.expires_at(&self.bindings.list[i]) <= now {
            self.remove(i);
            return None;
        }
        Some(i)
    }

    /// Translates an outbound packet from `internal` to `remote`: the external source address
    /// it leaves with, or `None` if no port was free.
    pub fn outbound(
        &mut self,
        now: Instant,
        internal: SocketAddr,
        remote: SocketAddr,
        rng: &mut SeededRng,
    ) -> Option<SocketAddr> {
        self.expire(now);
        let key = self.key(internal, remote);
        let contact = self.contact(remote);
        let existing = self.bindings.by_key(&key);
        let i = match self.live(now, existing) {
            Some(i) => i,
            None => {
                let Some(port) = self.allocate(internal.port(), rng) else {
                    self.stats.dropped_ports_exhausted += 1;
                    return None;
                };
                let at = now + self.config.unreplied_timeout;
                let contacts = Contacts::One(contact);
                let b = Binding { key, external_port: port, contacts, confirmed: false, refreshed: now, scheduled: at };
                self.expiry.push(Reverse((at, port)));
                self.next_expiry = self.next_expiry.min(at);
                self.stats.mappings_created += 1;
                self.bindings.insert(b)
            }
        };
        let b = &mut self.bindings.list[i];
        b.contacts.insert(contact);
        b.refreshed = now;
        self.stats.translated_out += 1;
        Some(SocketAddr::new(self.external_ip, b.external_port))
    }

    /// Translates an inbound packet from `remote` to the external `port`.
    pub fn inbound(&mut self, now: Instant, port: u16, remote: SocketAddr) -> Inbound {
        self.expire(now);
        let contact = self.contact(remote);
        let found = self.bindings.by_port(port);
        let Some(i) = self.live(now, found) else {
            self.stats.dropped_no_mapping += 1;
            return Inbound::Drop;
        };
        let inbound_refresh = self.config.inbound_refresh;
        let b = &mut self.bindings.list[i];
        if !b.contacts.contains(&contact) {
            self.stats.dropped_filtered += 1;
            return Inbound::Drop;
        }
        b.confirmed = true;
        if inbound_refresh {
            b.refreshed = now;
        }
        self.stats.translated_in += 1;
        Inbound::Deliver(b.key.internal)
    }

    fn allocate(&mut self, internal_port: u16, rng: &mut SeededRng) -> Option<u16> {
        let start = self.config.port_range_start.max(1);
        let free = |p: u16, b: &Bindings| p >= start && b.by_port(p).is_none();
        if self.config.port_preservation && free(internal_port, &self.bindings) {
            return Some(internal_port);
        }
        let span = u32::from(u16::MAX - start) + 1;
        let first = match self.config.port_allocation {
            PortAllocation::Sequential => self.next_port,
            PortAllocation::Random => offset_port(start, rng.below(u64::from(span))),
        };
        // Walk from the first candidate; at most one full lap, so an exhausted range ends.
        let mut p = first.max(start);
        for _ in 0..span {
            if free(p, &self.bindings) {
                self.next_port = if p == u16::MAX { start } else { p + 1 };
                return Some(p);
            }
            p = if p == u16::MAX { start } else { p + 1 };
        }
        None
    }
}

fn offset_port(start: u16, offset: u64) -> u16 {
    u16::try_from(u64::from(start) + offset).unwrap_or(u16::MAX)
}

fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    }
}
