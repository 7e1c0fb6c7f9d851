//! NAT boxes with every RFC 4787 mapping and filtering behaviour, port allocation policies,
//! binding timeouts and hairpinning.

use core::hash::{Hash, Hasher};
use core::time::Duration;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};

use sansio_core::{Instant, SeededRng};
use stun_core::{Filtering, Mapping};

use crate::addr::hash_addr;
use crate::contacts::Contacts;
use crate::nat_index::Index;

/// How a NAT picks the external port of a new mapping when it cannot (or does not try to)
/// keep the internal port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// Linux conntrack's inbound state: an unsolicited inbound packet (no mapping lets it in)
    /// leaves an unreplied entry for `unreplied_timeout`, and a later outbound flow that would
    /// need the reversed tuple (the same public port, to that remote) gets another public
    /// port, as masquerade does. This is what breaks naive simultaneous hole punching
    /// between two Linux home routers (docs: `netsim::punch`, reference stun.md §4.5).
    pub linux_conntrack: bool,
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
            linux_conntrack: false,
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
    /// filtering: Linux masquerading's RFC 4787 behaviour, without its conntrack inbound state
    /// (see [`NatConfig::linux_masquerade`]).
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

    /// A Linux home router: `nft … masquerade`. Endpoint-independent mapping by port
    /// preservation, address-and-port-dependent filtering (conntrack admits replies only),
    /// another port when the preserved one is taken, 30 s unreplied and 120 s confirmed
    /// timeouts, and conntrack's inbound state ([`NatConfig::linux_conntrack`]). A router whose
    /// input firewall drops new WAN packets keeps no such state: model it with
    /// [`NatConfig::port_restricted_cone`] (both checked against real routers in
    /// `cli/tests/punch_lab.rs`).
    #[must_use]
    pub fn linux_masquerade() -> Self {
        Self {
            port_allocation: PortAllocation::Random,
            linux_conntrack: true,
            ..Self::base(Mapping::EndpointIndependent, Filtering::AddressAndPortDependent)
        }
    }

    /// A Linux router with `masquerade fully-random`: a random port per flow (symmetric), and
    /// conntrack's inbound state.
    #[must_use]
    pub fn linux_masquerade_fully_random() -> Self {
        Self { linux_conntrack: true, ..Self::symmetric() }
    }

    /// The same behaviour with external ports chosen by `allocation`, never preserving the
    /// internal port: with [`PortAllocation::Sequential`] a symmetric NAT's next port is
    /// predictable, with [`PortAllocation::Random`] it is not.
    #[must_use]
    pub fn with_ports(mut self, allocation: PortAllocation) -> Self {
        self.port_preservation = false;
        self.port_allocation = allocation;
        self
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
    /// Unsolicited inbound flows remembered ([`NatConfig::linux_conntrack`]).
    pub inbound_states: u64,
    /// Outbound flows given another port because an inbound state held the reversed tuple.
    pub ports_moved_by_inbound_state: u64,
}

/// Identifies a mapping: the internal endpoint, plus the parts of the remote that the mapping
/// behaviour keys on (unspecified otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapKey {
    internal: SocketAddr,
    remote: SocketAddr,
}

impl Hash for MapKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_addr(&self.internal, h);
        hash_addr(&self.remote, h);
    }
}

/// One mapping.
#[derive(Debug)]
pub(crate) struct Binding {
    pub key: MapKey,
    pub external_port: u16,
    contacts: Contacts,
    confirmed: bool,
    refreshed: Instant,
    /// The expiry entry this binding has in the heap; refreshes only move the real expiry
    /// later, so one entry per binding suffices (it is re-pushed when popped early).
    scheduled: Instant,
    /// Made for one flow because an inbound state held its preferred port; keyed on the
    /// exact remote whatever the mapping behaviour.
    flow: bool,
}

/// What every packet through a NAT box touches: the binding list, the NAT's address, an
/// integer copy of the behaviour it needs, the next expiry and the translation counters. With
/// its realm's routes and its links (`Sim`'s `NatBox`) it fits two cache lines; the full
/// configuration, the other counters, the expiry heap and the indexes of a large binding list
/// live in [`NatRest`].
#[derive(Debug)]
pub(crate) struct Nat {
    /// The earliest entry of the expiry heap (MAX when empty): checked on every packet
    /// without touching the heap's memory.
    next_expiry: Instant,
    unreplied_us: u64,
    confirmed_us: u64,
    translated_out: u64,
    translated_in: u64,
    /// The live mappings, searched linearly while there are few (most NAT boxes of a large
    /// simulation hold a handful); [`NatRest`] indexes them once there are more.
    bindings: Vec<Binding>,
    pub external_ip: IpAddr,
    mapping: Mapping,
    filtering: Filtering,
    inbound_refresh: bool,
    /// [`NatConfig::linux_conntrack`], so NATs without it never read its state.
    conntrack: bool,
    /// The configuration changed: copy it again before the next packet.
    stale: bool,
}

/// The parts of a NAT box that packets rarely need.
#[derive(Debug)]
pub(crate) struct NatRest {
    config: NatConfig,
    /// Every counter except the two translation counters, which live in [`Nat`].
    stats: NatStats,
    index: Option<Index>,
    /// (expiry, port) candidates; stale entries are skipped when popped.
    expiry: BinaryHeap<Reverse<(Instant, u16)>>,
    next_port: u16,
    /// Unreplied inbound flows (public port, remote) and when they expire
    /// ([`NatConfig::linux_conntrack`]); at most [`MAX_INBOUND_STATES`], the one expiring
    /// first dropped for a new one.
    unsolicited: std::collections::BTreeMap<(u16, SocketAddr), Instant>,
    /// Bindings made for one flow because of an inbound state (keyed on the exact remote).
    flow_bindings: usize,
}

/// Inbound states a Linux-like NAT box remembers at most.
const MAX_INBOUND_STATES: usize = 4096;

/// The outcome of an inbound packet at the NAT's external side.
pub(crate) enum Inbound {
    /// Let in, to this internal endpoint.
    Deliver(SocketAddr),
    /// Dropped (and counted).
    Drop,
}

impl Nat {
    /// Bindings searched linearly before the indexes are built.
    const SMALL: usize = 8;

    pub(crate) fn new(external_ip: IpAddr, config: NatConfig) -> (Self, NatRest) {
        let next_port = config.port_range_start.max(1);
        let mut nat = Self {
            next_expiry: Instant::MAX,
            unreplied_us: 0,
            confirmed_us: 0,
            translated_out: 0,
            translated_in: 0,
            bindings: Vec::new(),
            external_ip,
            mapping: config.mapping,
            filtering: config.filtering,
            inbound_refresh: false,
            conntrack: false,
            stale: true,
        };
        nat.copy_config(&config);
        let rest = NatRest {
            config,
            stats: NatStats::default(),
            index: None,
            expiry: BinaryHeap::new(),
            next_port,
            unsolicited: std::collections::BTreeMap::new(),
            flow_bindings: 0,
        };
        (nat, rest)
    }

    fn copy_config(&mut self, c: &NatConfig) {
        let us = |d: Duration| Instant::ZERO.saturating_add(d).as_micros();
        self.unreplied_us = us(c.unreplied_timeout);
        self.confirmed_us = us(c.confirmed_timeout);
        self.mapping = c.mapping;
        self.filtering = c.filtering;
        self.inbound_refresh = c.inbound_refresh;
        self.conntrack = c.linux_conntrack;
        self.stale = false;
    }

    /// The box restarts with a new public IP (an ISP renumbered it, or the host moved to
    /// another network): every mapping and inbound state is gone; the counters stay.
    pub(crate) fn renumber(&mut self, rest: &mut NatRest, external_ip: IpAddr) {
        let (fresh, mut fresh_rest) = Self::new(external_ip, rest.config.clone());
        fresh_rest.stats = core::mem::take(&mut rest.stats);
        fresh_rest.stats.mappings_expired += self.bindings.len() as u64;
        let (tout, tin) = (self.translated_out, self.translated_in);
        *self = fresh;
        *rest = fresh_rest;
        self.translated_out = tout;
        self.translated_in = tin;
    }

    /// The configuration, for changes; the copy packets use is refreshed on the next one.
    pub(crate) fn config_mut<'a>(&mut self, rest: &'a mut NatRest) -> &'a mut NatConfig {
        self.stale = true;
        &mut rest.config
    }

    /// What this NAT box did so far.
    pub(crate) fn stats(&self, rest: &NatRest) -> NatStats {
        NatStats { translated_out: self.translated_out, translated_in: self.translated_in, ..rest.stats.clone() }
    }

    /// Counts a packet from inside to the NAT's own address; returns whether it is looped
    /// back inside (hairpinning on) rather than dropped.
    pub(crate) fn hairpin(rest: &mut NatRest) -> bool {
        if rest.config.hairpinning {
            rest.stats.hairpinned += 1;
        } else {
            rest.stats.dropped_hairpin += 1;
        }
        rest.config.hairpinning
    }

    /// Where the binding list starts (for a prefetch).
    pub(crate) fn bindings_ptr(&self) -> *const Binding {
        self.bindings.as_ptr()
    }

    /// Live mappings.
    pub(crate) fn mappings(&self) -> usize {
        self.bindings.len()
    }

    /// The indexes (built once the list holds more than [`Nat::SMALL`]), when the list is
    /// long enough to read them (a short list is searched without touching [`NatRest`]).
    fn index<'a>(&self, rest: &'a NatRest) -> Option<&'a Index> {
        if self.bindings.len() > Self::SMALL { rest.index.as_ref() } else { None }
    }

    fn by_key(&self, rest: &NatRest, key: &MapKey) -> Option<usize> {
        match self.index(rest) {
            Some(ix) => ix.by_key(&self.bindings, key),
            None => self.bindings.iter().position(|b| b.key == *key),
        }
    }

    fn by_port(&self, rest: &NatRest, port: u16) -> Option<usize> {
        match self.index(rest) {
            Some(ix) => ix.by_port(&self.bindings, port),
            None => self.bindings.iter().position(|b| b.external_port == port),
        }
    }

    fn insert(&mut self, rest: &mut NatRest, b: Binding) -> usize {
        let i = self.bindings.len();
        self.bindings.push(b);
        match &mut rest.index {
            Some(ix) => ix.added(&self.bindings, i),
            // Built the first time the list outgrows a linear search, kept exact from then on.
            None if self.bindings.len() > Self::SMALL => rest.index = Some(Index::build(&self.bindings)),
            None => {}
        }
        i
    }

    fn remove(&mut self, rest: &mut NatRest, i: usize) {
        if self.bindings[i].flow {
            rest.flow_bindings -= 1;
        }
        if let Some(ix) = &mut rest.index {
            ix.removing(&self.bindings, i);
        }
        self.bindings.swap_remove(i);
        rest.stats.mappings_expired += 1;
    }

    fn key(&self, internal: SocketAddr, remote: SocketAddr) -> MapKey {
        let unspecified = SocketAddr::new(unspecified_like(remote.ip()), 0);
        let remote = match self.mapping {
            Mapping::EndpointIndependent => unspecified,
            Mapping::AddressDependent => SocketAddr::new(remote.ip(), 0),
            Mapping::AddressAndPortDependent => remote,
        };
        MapKey { internal, remote }
    }

    fn contact(&self, remote: SocketAddr) -> SocketAddr {
        match self.filtering {
            Filtering::EndpointIndependent => SocketAddr::new(unspecified_like(remote.ip()), 0),
            Filtering::AddressDependent => SocketAddr::new(remote.ip(), 0),
            Filtering::AddressAndPortDependent => remote,
        }
    }

    fn expires_at(&self, b: &Binding) -> Instant {
        let timeout = if b.confirmed { self.confirmed_us } else { self.unreplied_us };
        Instant::from_micros(b.refreshed.as_micros().saturating_add(timeout))
    }

    /// Removes every mapping whose lifetime has run out by `now` (and takes up a changed
    /// configuration).
    pub(crate) fn expire(&mut self, rest: &mut NatRest, now: Instant) {
        if self.stale {
            self.copy_config(&rest.config);
        }
        if now < self.next_expiry {
            return;
        }
        while let Some(&Reverse((at, port))) = rest.expiry.peek() {
            if at > now {
                break;
            }
            rest.expiry.pop();
            let Some(i) = self.by_port(rest, port) else { continue };
            if self.bindings[i].scheduled != at {
                continue; // a stale entry of an earlier binding on this port
            }
            let real = self.expires_at(&self.bindings[i]);
            if real <= now {
                self.remove(rest, i);
            } else {
                self.bindings[i].scheduled = real;
                rest.expiry.push(Reverse((real, port)));
            }
        }
        self.next_expiry = rest.expiry.peek().map_or(Instant::MAX, |Reverse((at, _))| *at);
    }

    /// The index of the live binding `i`, removing it first if its lifetime ran out (the
    /// expiry heap may not have reached it yet, e.g. after the timeouts were shortened).
    fn live(&mut self, rest: &mut NatRest, now: Instant, i: Option<usize>) -> Option<usize> {
        let i = i?;
        if self.expires_at(&self.bindings[i]) <= now {
            self.remove(rest, i);
            return None;
        }
        Some(i)
    }

    /// Translates an outbound packet from `internal` to `remote`: the external source address
    /// it leaves with, or `None` if no port was free.
    pub(crate) fn outbound(
        &mut self,
        rest: &mut NatRest,
        now: Instant,
        internal: SocketAddr,
        remote: SocketAddr,
        rng: &mut SeededRng,
    ) -> Option<SocketAddr> {
        self.expire(rest, now);
        let contact = self.contact(remote);
        // A flow already moved by an inbound state keeps its own binding.
        let flow_key = MapKey { internal, remote };
        let flow = if self.conntrack && rest.flow_bindings > 0 { self.by_key(rest, &flow_key) } else { None };
        let i = match self.live(rest, now, flow) {
            Some(i) => i,
            None => {
                let key = self.key(internal, remote);
                let existing = self.by_key(rest, &key);
                // The port this flow would leave from; if an inbound state holds its reversed
                // tuple, Linux gives the flow another port and leaves the preferred one for
                // flows to other remotes.
                let (existing, port) = match self.live(rest, now, existing) {
                    Some(i) => (Some(i), self.bindings[i].external_port),
                    None => (None, self.allocate(rest, now, internal.port(), None, rng)?),
                };
                if self.blocked(rest, now, port, remote) {
                    // Every port whose reversed tuple is held is skipped, not only this one.
                    let moved = self.allocate(rest, now, internal.port(), Some(remote), rng)?;
                    self.bind(rest, now, flow_key, contact, moved, true)
                } else if let Some(i) = existing {
                    i
                } else {
                    self.bind(rest, now, key, contact, port, false)
                }
            }
        };
        let b = &mut self.bindings[i];
        b.contacts.insert(contact);
        b.refreshed = now;
        self.translated_out += 1;
        Some(SocketAddr::new(self.external_ip, b.external_port))
    }

    /// Whether an unreplied inbound state holds (`port`, `remote`) at `now`.
    fn blocked(&self, rest: &NatRest, now: Instant, port: u16, remote: SocketAddr) -> bool {
        self.conntrack && rest.unsolicited.get(&(port, remote)).is_some_and(|until| *until > now)
    }

    /// A new binding for `key` on the free `port`.
    fn bind(
        &mut self,
        rest: &mut NatRest,
        now: Instant,
        key: MapKey,
        contact: SocketAddr,
        port: u16,
        flow: bool,
    ) -> usize {
        let at = Instant::from_micros(now.as_micros().saturating_add(self.unreplied_us));
        let contacts = Contacts::One(contact);
        let b = Binding { key, external_port: port, contacts, confirmed: false, refreshed: now, scheduled: at, flow };
        rest.expiry.push(Reverse((at, port)));
        self.next_expiry = self.next_expiry.min(at);
        rest.stats.mappings_created += 1;
        if flow {
            rest.flow_bindings += 1;
            rest.stats.ports_moved_by_inbound_state += 1;
        }
        self.insert(rest, b)
    }

    /// Translates an inbound packet from `remote` to the external `port`.
    pub(crate) fn inbound(&mut self, rest: &mut NatRest, now: Instant, port: u16, remote: SocketAddr) -> Inbound {
        self.expire(rest, now);
        let contact = self.contact(remote);
        let found = self.by_port(rest, port);
        let Some(i) = self.live(rest, now, found) else {
            rest.stats.dropped_no_mapping += 1;
            Self::remember_inbound(rest, now, port, remote);
            return Inbound::Drop;
        };
        let inbound_refresh = self.inbound_refresh;
        let b = &mut self.bindings[i];
        if !b.contacts.contains(&contact) {
            rest.stats.dropped_filtered += 1;
            Self::remember_inbound(rest, now, port, remote);
            return Inbound::Drop;
        }
        b.confirmed = true;
        if inbound_refresh {
            b.refreshed = now;
        }
        self.translated_in += 1;
        Inbound::Deliver(b.key.internal)
    }

    /// A refused inbound packet, under [`NatConfig::linux_conntrack`]: conntrack tracks its
    /// flow (unreplied) for the unreplied timeout, each packet refreshing it.
    fn remember_inbound(rest: &mut NatRest, now: Instant, port: u16, remote: SocketAddr) {
        if !rest.config.linux_conntrack {
            return;
        }
        let until = now.saturating_add(rest.config.unreplied_timeout);
        if let Some(e) = rest.unsolicited.get_mut(&(port, remote)) {
            *e = until;
            return;
        }
        if rest.unsolicited.len() >= MAX_INBOUND_STATES {
            rest.unsolicited.retain(|_, t| *t > now);
        }
        if rest.unsolicited.len() >= MAX_INBOUND_STATES {
            // Full of live states: the one that would expire first goes (deterministic: ties
            // broken by the key's order).
            let first = rest.unsolicited.iter().min_by_key(|(k, t)| (**t, **k)).map(|(k, _)| *k);
            if let Some(k) = first {
                rest.unsolicited.remove(&k);
            }
        }
        rest.unsolicited.insert((port, remote), until);
        rest.stats.inbound_states += 1;
    }

    /// A free external port (the internal one if preserving and free); for a flow to `to`,
    /// none whose reversed tuple an inbound state holds. `None`, counted, when the range is
    /// exhausted.
    fn allocate(
        &self,
        rest: &mut NatRest,
        now: Instant,
        internal_port: u16,
        to: Option<SocketAddr>,
        rng: &mut SeededRng,
    ) -> Option<u16> {
        let port = self.pick_port(rest, now, internal_port, to, rng);
        if port.is_none() {
            rest.stats.dropped_ports_exhausted += 1;
        }
        port
    }

    fn pick_port(
        &self,
        rest: &mut NatRest,
        now: Instant,
        internal_port: u16,
        to: Option<SocketAddr>,
        rng: &mut SeededRng,
    ) -> Option<u16> {
        let start = rest.config.port_range_start.max(1);
        let free = |p: u16, rest: &NatRest| {
            p >= start && self.by_port(rest, p).is_none() && to.is_none_or(|r| !self.blocked(rest, now, p, r))
        };
        if rest.config.port_preservation && free(internal_port, rest) {
            return Some(internal_port);
        }
        let span = u32::from(u16::MAX - start) + 1;
        let first = match rest.config.port_allocation {
            PortAllocation::Sequential => rest.next_port,
            PortAllocation::Random => offset_port(start, rng.below(u64::from(span))),
        };
        // Walk from the first candidate; at most one full lap, so an exhausted range ends.
        let mut p = first.max(start);
        for _ in 0..span {
            if free(p, rest) {
                rest.next_port = if p == u16::MAX { start } else { p + 1 };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric NAT holding many more mappings than a linear search covers, while they
    /// expire at staggered times: every live mapping is still found by its key (same external
    /// port on the next packet) and by its port (an answer gets in), and no expired one is.
    #[test]
    fn many_mappings_stay_findable_while_they_expire() {
        let mut rng = SeededRng::from_seed(sansio_core::Seed::new([5; 32]));
        let config = NatConfig::symmetric().with_timeout(Duration::from_secs(10));
        let (mut nat, mut rest) = Nat::new("198.51.100.1".parse().unwrap(), config);
        let internal: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let remote = |i: u16| SocketAddr::new("203.0.113.9".parse().unwrap(), 1000 + i);
        let mut ports = Vec::new();
        for i in 0..100u16 {
            // One new mapping per 100 ms: mapping i expires at 10 s + i × 100 ms.
            let now = Instant::from_millis(u64::from(i) * 100);
            let external = nat.outbound(&mut rest, now, internal, remote(i), &mut rng).unwrap();
            ports.push(external.port());
        }
        assert_eq!(nat.mappings(), 100);
        // At 15.05 s, mappings 0..=50 have expired and 51..100 live.
        let now = Instant::from_millis(15_050);
        for i in (0..100u16).rev() {
            let port = ports[usize::from(i)];
            let answer = nat.inbound(&mut rest, now, port, remote(i));
            if i <= 50 {
                assert!(matches!(answer, Inbound::Drop), "mapping {i} outlived its timeout");
            } else {
                assert!(matches!(answer, Inbound::Deliver(a) if a == internal), "mapping {i} lost");
                let again = nat.outbound(&mut rest, now, internal, remote(i), &mut rng).unwrap();
                assert_eq!(again.port(), port, "mapping {i} not found by its key");
            }
        }
        assert_eq!(nat.mappings(), 49);
        assert_eq!(nat.stats(&rest).mappings_expired, 51);
    }
}
