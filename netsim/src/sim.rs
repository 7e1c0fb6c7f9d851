//! The simulator: hosts, realms, NAT boxes and links, driven by one event queue in virtual time.

use core::any::Any;
use core::fmt::Debug;
use core::time::Duration;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};

use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed, SeededRng};

use crate::ids::{AnyHost, HostId, HostIx, LinkId, NatId, RealmId, id, idx};
use crate::link::{Link, LinkCold, LinkConfig, LinkStats};
use crate::lookahead::Lookahead;
use crate::nat::{Nat, NatConfig, NatRest, NatStats};
use crate::packets::Packets;
use crate::pcap::Capture;
use crate::routes::Routes;
use crate::runner::{Hosted, Runner, TraceHasher};
use crate::slab::Slab;

mod forward;
mod warm;

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Too many events happened at one instant: something is spinning (a machine whose
    /// deadline does not advance, or packets looping). Virtual time stopped at `at`.
    #[error("livelock: {events} events at {at} without time advancing")]
    Livelock {
        /// The instant the events piled up at.
        at: Instant,
        /// How many were processed there.
        events: u64,
    },
    /// A hosted machine broke the [`Machine`] contract (see
    /// [`ContractCheck`](sansio_core::ContractCheck)); the run stopped at its next step.
    #[error("{host:?} broke the machine contract: {violation:?}")]
    Contract {
        /// The host whose machine did.
        host: AnyHost,
        /// The rule it broke, first time.
        violation: sansio_core::ContractViolation,
    },
}

/// Counters of the whole simulation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Events taken from the event queue.
    pub events: u64,
    /// Datagrams handed to a host's machine.
    pub deliveries: u64,
    /// Datagrams machines asked to send.
    pub transmits: u64,
    /// Packets whose destination no realm knew.
    pub dropped_no_route: u64,
    /// Packets that reached a host's IP on a port with no socket.
    pub dropped_no_socket: u64,
    /// Transmits from a source address the host does not have.
    pub dropped_bad_source: u64,
    /// Application events reported by machines.
    pub app_events: u64,
    /// Packets whose TTL ran out at a router or NAT box.
    pub dropped_ttl: u64,
}

/// Why a packet was dropped, as hashed into the trace.
#[derive(Clone, Copy, Debug)]
enum DropCause {
    /// A NAT's mapping or filter refused an inbound packet.
    NatInbound = 1,
    NatPortsExhausted = 2,
    Hairpin = 3,
    NoRoute = 4,
    /// Lost on a link (loss, queue, MTU, down).
    Link = 5,
    NoSocket = 6,
    /// The TTL ran out at a router or NAT box.
    Ttl = 7,
}

/// Where a link delivers.
#[derive(Clone, Copy, Debug)]
enum Hop {
    /// Into a realm's router.
    Realm(RealmId),
    /// To a host.
    Host(HostIx),
    /// To a NAT box's external side.
    NatOutside(NatId),
}

type EventLog = Vec<(Instant, Box<dyn Any>)>;

/// What every event at a host touches, in two cache lines aligned to be fetched as a pair; the
/// rest is in [`HostRest`].
#[repr(align(128))]
struct Host {
    machine: Box<dyn Runner>,
    /// The first socket: the only one of most hosts, so it is checked without reading
    /// [`HostRest::sockets`].
    socket: SocketAddr,
    /// The host has more sockets than `socket`.
    more_sockets: bool,
    timer: Option<Instant>,
    timer_generation: u64,
    uplink: LinkId,
    downlink: LinkId,
}

/// The parts of a host that events rarely need.
struct HostRest {
    /// Every socket, the first one included.
    sockets: Box<[SocketAddr]>,
    realm: RealmId,
    /// The event log, if kept; touched only when the machine reports an event.
    log: Option<EventLog>,
}

/// A NAT box with the realm behind it: realm `n + 1` is the inside of NAT box `n` (realm 0 is
/// the internet), so routing inside a home network and translating out of it read one record:
/// two cache lines, aligned so they are fetched as a pair. The rest is in [`NatRest`].
#[repr(C, align(128))]
struct NatBox {
    /// Who has which IP inside.
    inside: Routes,
    uplink: LinkId,
    downlink: LinkId,
    nat: Nat,
}

/// The parts of a link that packets rarely need.
#[derive(Default)]
struct LinkRest {
    cold: LinkCold,
    capture: Option<Box<Capture>>,
}

type Call = Box<dyn FnOnce(&mut dyn Any, Instant)>;

/// What a queue entry stands for. Kept small: packets wait in their pool and calls in a slab,
/// so queue entries stay 32 bytes.
#[derive(Clone, Copy)]
enum Action {
    Arrive { link: LinkId, packet: u32 },
    Timer { host: HostIx, generation: u64 },
    Call { host: HostIx, call: u32 },
}

/// A deterministic network in virtual time.
///
/// Hosts run unchanged [`Machine`]s. They live in **realms**: the internet, or the inside of a
/// NAT box (which itself lives in a realm, so NATs nest). Every host and NAT box has an access
/// link per direction (ideal by default; see [`Sim::link_mut`]). A packet goes up the sender's
/// link, is routed in its realm (out through the realm's NAT if the destination is elsewhere),
/// and down the receiver's link.
///
/// Every random choice (loss, jitter, random NAT ports) comes from the one seed, and events at
/// the same instant run in the order they were scheduled, so the same scenario and seed give
/// the same run.
///
/// ```
/// use core::time::Duration;
/// use netsim::{LinkConfig, NatConfig, Probe, Sim};
/// use sansio_core::Instant;
///
/// let mut sim = Sim::new(sansio_core::Seed::new([1; 32]));
/// let internet = sim.internet();
/// let server = sim.add_host(internet, &["203.0.113.1:3478".parse().unwrap()], Probe::echo());
/// let (_nat, home) = sim.add_nat(internet, "198.51.100.7".parse().unwrap(), NatConfig::port_restricted_cone());
/// let client = sim.add_host(home, &["192.168.1.2:5000".parse().unwrap()], Probe::new());
/// *sim.link_mut(sim.host_uplink(client)) = LinkConfig::with_delay(Duration::from_millis(10));
///
/// sim.call(client, |p: &mut Probe, _| p.send("203.0.113.1:3478".parse().unwrap(), b"hi".to_vec()));
/// sim.run_until(Instant::from_secs(1)).unwrap();
/// let seen_by_server = sim.events(server); // typed by the host: Probe reports Received
/// assert_eq!(seen_by_server[0].1.remote, "198.51.100.7:5000".parse().unwrap()); // port preserved
/// assert_eq!(sim.events(client)[0].0, Instant::from_millis(10)); // the echo, after 10 ms
/// ```
pub struct Sim {
    now: Instant,
    queue: Lookahead<Action>,
    rng: SeededRng,
    hosts: Vec<Host>,
    host_rest: Vec<HostRest>,
    nats: Vec<NatBox>,
    nat_rest: Vec<NatRest>,
    /// Who has which IP on the internet (realm 0); other realms' routes are in their NAT box.
    internet: Routes,
    /// Links, split by how often a packet needs each part: `links` (one cache line per link:
    /// counters, delay, jitter) on every offer, `link_ends` (8 bytes) on every arrival,
    /// `link_rest` (configuration, rare counters, captures) only when a link needs more.
    links: Vec<Link>,
    link_ends: Vec<Hop>,
    link_rest: Vec<LinkRest>,
    /// Whether any link captures (so arrivals skip the capture lookup otherwise).
    capturing: bool,
    stats: SimStats,
    trace: TraceHasher,
    buf: Vec<u8>,
    /// Packets in flight, named by slot in `Action::Arrive` and along their way.
    packets: Packets,
    calls: Slab<Call>,
    /// Events allowed at one instant before a run reports a livelock.
    max_events_per_instant: u64,
    events_this_instant: u64,
    /// The first host whose machine broke the contract, and how: every later step fails.
    broken: Option<(AnyHost, sansio_core::ContractViolation)>,
}

impl Debug for Sim {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("hosts", &self.hosts.len())
            .field("nats", &self.nats.len())
            .field("queued", &self.queue.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// An empty network at [`Instant::ZERO`] whose every random choice derives from `seed`.
    #[must_use]
    pub fn new(seed: Seed) -> Self {
        Self {
            now: Instant::ZERO,
            queue: Lookahead::new(),
            rng: SeededRng::from_seed(seed),
            hosts: Vec::new(),
            host_rest: Vec::new(),
            nats: Vec::new(),
            nat_rest: Vec::new(),
            internet: Routes::Few(Vec::new()),
            links: Vec::new(),
            link_ends: Vec::new(),
            link_rest: Vec::new(),
            capturing: false,
            stats: SimStats::default(),
            trace: crate::fixed_state().build_hasher(),
            packets: Packets::default(),
            calls: Slab::default(),
            buf: vec![0; 65_536.max(MIN_TRANSMIT_BUFFER)],
            max_events_per_instant: 1_000_000,
            events_this_instant: 0,
            broken: None,
        }
    }

    /// The top realm, where public addresses live.
    #[must_use]
    pub fn internet(&self) -> RealmId {
        RealmId(0)
    }

    /// Virtual time now.
    #[must_use]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets how many events may happen at one instant before a run reports
    /// [`RunError::Livelock`] (default one million).
    pub fn set_livelock_limit(&mut self, events: u64) {
        self.max_events_per_instant = events.max(1);
    }

    /// The two access links of a host or NAT box in `realm`: up into the realm, and down to
    /// `down_to`.
    fn new_link_pair(&mut self, realm: RealmId, down_to: Hop) -> (LinkId, LinkId) {
        let mut new_link = |to: Hop| {
            self.links.push(Link::new());
            self.link_ends.push(to);
            self.link_rest.push(LinkRest::default());
            LinkId(id(self.links.len() - 1))
        };
        (new_link(Hop::Realm(realm)), new_link(down_to))
    }

    /// Adds a host in `realm` with one socket per address in `sockets` (the first is where
    /// transmits without a source leave from) running `machine`. Its access links are ideal
    /// until changed.
    ///
    /// # Panics
    ///
    /// If `sockets` is empty, or an address is already taken in that realm by a host or NAT.
    pub fn add_host<M>(&mut self, realm: RealmId, sockets: &[SocketAddr], machine: M) -> HostId<M>
    where
        M: Machine + 'static,
        M::Event: Debug + 'static,
    {
        assert!(!sockets.is_empty(), "a host needs at least one socket");
        let host = HostIx(id(self.hosts.len()));
        let (uplink, downlink) = self.new_link_pair(realm, Hop::Host(host));
        for s in sockets {
            let previous = self.routes_mut(realm).insert(s.ip(), downlink);
            assert!(previous.is_none() || previous == Some(downlink), "{} is already taken in realm {realm:?}", s.ip());
        }
        self.hosts.push(Host {
            machine: Box::new(Hosted::new(machine)),
            socket: sockets[0],
            more_sockets: sockets.len() > 1,
            timer: None,
            timer_generation: 0,
            uplink,
            downlink,
        });
        self.host_rest.push(HostRest { sockets: sockets.into(), realm, log: Some(Vec::new()) });
        self.after_input(host);
        HostId::new(host)
    }

    /// Adds a NAT box in `parent` with the public address `external`; returns it and the new
    /// realm behind it, where hosts (and further NATs) can be added.
    ///
    /// # Panics
    ///
    /// If `external` is already taken in `parent`.
    pub fn add_nat(&mut self, parent: RealmId, external: IpAddr, config: NatConfig) -> (NatId, RealmId) {
        let nat = NatId(id(self.nats.len()));
        let (uplink, downlink) = self.new_link_pair(parent, Hop::NatOutside(nat));
        let previous = self.routes_mut(parent).insert(external, downlink);
        assert!(previous.is_none(), "{external} is already taken in realm {parent:?}");
        let (hot, rest) = Nat::new(external, config);
        self.nats.push(NatBox { inside: Routes::Few(Vec::new()), uplink, downlink, nat: hot });
        self.nat_rest.push(rest);
        (nat, self.nat_inside(nat))
    }

    /// The NAT box a realm is the inside of (`None` for the internet).
    fn realm_nat(realm: RealmId) -> Option<NatId> {
        realm.0.checked_sub(1).map(NatId)
    }

    fn routes(&self, realm: RealmId) -> &Routes {
        match Self::realm_nat(realm) {
            None => &self.internet,
            Some(nat) => &self.nats[idx(nat.0)].inside,
        }
    }

    fn routes_mut(&mut self, realm: RealmId) -> &mut Routes {
        match Self::realm_nat(realm) {
            None => &mut self.internet,
            Some(nat) => &mut self.nats[idx(nat.0)].inside,
        }
    }

    /// The link from a host into its realm.
    #[must_use]
    pub fn host_uplink(&self, host: impl Into<AnyHost>) -> LinkId {
        self.hosts[idx(host.into().0.0)].uplink
    }

    /// The link from a host's realm to the host.
    #[must_use]
    pub fn host_downlink(&self, host: impl Into<AnyHost>) -> LinkId {
        self.hosts[idx(host.into().0.0)].downlink
    }

    /// The link from a NAT box into its parent realm.
    #[must_use]
    pub fn nat_uplink(&self, nat: NatId) -> LinkId {
        self.nats[idx(nat.0)].uplink
    }

    /// The link from a NAT box's parent realm to the NAT box.
    #[must_use]
    pub fn nat_downlink(&self, nat: NatId) -> LinkId {
        self.nats[idx(nat.0)].downlink
    }

    /// A link's behaviour, to change at any time; packets offered from now on see the change.
    pub fn link_mut(&mut self, link: LinkId) -> &mut LinkConfig {
        let l = idx(link.0);
        self.links[l].config_mut(&mut self.link_rest[l].cold)
    }

    /// What a link did so far.
    #[must_use]
    pub fn link_stats(&self, link: LinkId) -> LinkStats {
        let l = idx(link.0);
        self.links[l].stats(&self.link_rest[l].cold)
    }

    /// Gives a NAT box a new public IP, as when an ISP renumbers a home or a laptop joins
    /// another network behind the same kind of router: every mapping is lost, the hosts
    /// inside keep their addresses, and their next packets leave from new public addresses.
    ///
    /// # Panics
    ///
    /// If `external` is already taken in the NAT's parent realm.
    pub fn renumber_nat(&mut self, nat: NatId, external: IpAddr) {
        let n = idx(nat.0);
        let Hop::Realm(parent) = self.link_ends[idx(self.nats[n].uplink.0)] else {
            unreachable!("a NAT box's uplink leads into its parent realm")
        };
        let downlink = self.nats[n].downlink;
        let old = self.nats[n].nat.external_ip;
        assert!(self.routes(parent).get(&external).is_none(), "{external} is already taken in realm {parent:?}");
        self.routes_mut(parent).remove(&old);
        self.routes_mut(parent).insert(external, downlink);
        self.nats[n].nat.renumber(&mut self.nat_rest[n], external);
    }

    /// A NAT box's behaviour, to change at any time.
    pub fn nat_config_mut(&mut self, nat: NatId) -> &mut NatConfig {
        let n = idx(nat.0);
        self.nats[n].nat.config_mut(&mut self.nat_rest[n])
    }

    /// What a NAT box did so far.
    #[must_use]
    pub fn nat_stats(&self, nat: NatId) -> NatStats {
        let n = idx(nat.0);
        self.nats[n].nat.stats(&self.nat_rest[n])
    }

    /// Live mappings of a NAT box at the current time.
    pub fn nat_mappings(&mut self, nat: NatId) -> usize {
        let n = idx(nat.0);
        self.nats[n].nat.expire(&mut self.nat_rest[n], self.now);
        self.nats[n].nat.mappings()
    }

    /// Counters of the whole simulation.
    #[must_use]
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// A hash of everything observable that happened so far: every delivery (time, addresses,
    /// bytes), every drop, every application event (its `Debug` text). Equal hashes mean equal
    /// runs.
    #[must_use]
    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    /// Starts recording every packet that arrives over `link`, for [`Sim::write_pcap`].
    pub fn capture(&mut self, link: LinkId) {
        self.link_rest[idx(link.0)].capture.get_or_insert_with(Box::default);
        self.capturing = true;
    }

    /// The packets captured on `link` so far (see [`Sim::capture`]): arrival time at the far
    /// end, source, destination and payload.
    pub fn captured(&self, link: LinkId) -> impl Iterator<Item = (Instant, SocketAddr, SocketAddr, &[u8])> {
        self.link_rest[idx(link.0)].capture.iter().flat_map(|c| c.packets())
    }

    /// Writes the packets captured on `link` as a pcap file (raw IPv4/IPv6 + UDP).
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn write_pcap<W: std::io::Write>(&self, link: LinkId, out: W) -> std::io::Result<usize> {
        match &self.link_rest[idx(link.0)].capture {
            Some(c) => c.write(out),
            None => Capture::default().write(out),
        }
    }

    /// Writes the packets captured on several links as one pcap file, in order of arrival
    /// (ties in the order of `links`): both directions of a host's access link, say.
    ///
    /// # Errors
    ///
    /// When writing fails.
    pub fn write_pcap_merged<W: std::io::Write>(&self, links: &[LinkId], out: W) -> std::io::Result<usize> {
        let mut all: Vec<(Instant, usize, SocketAddr, SocketAddr, &[u8])> = Vec::new();
        for (k, link) in links.iter().enumerate() {
            all.extend(self.captured(*link).map(|(t, s, d, p)| (t, k, s, d, p)));
        }
        // Stable: each link's own packets stay in their order.
        all.sort_by_key(|(t, k, ..)| (*t, *k));
        crate::pcap::write_packets(all.into_iter().map(|(t, _, s, d, p)| (t, s, d, p)), out)
    }

    /// Keeps (`true`, the default) or stops keeping a host's event log. Events are hashed into
    /// [`Sim::trace_hash`] either way; large simulations turn logs off to save memory.
    pub fn set_event_log(&mut self, host: impl Into<AnyHost>, keep: bool) {
        let log = &mut self.host_rest[idx(host.into().0.0)].log;
        match (keep, log.is_some()) {
            (true, false) => *log = Some(Vec::new()),
            (false, true) => *log = None,
            _ => {}
        }
    }

    /// The events a host's machine reported so far, with the virtual time of each.
    #[must_use]
    pub fn events<M>(&self, host: HostId<M>) -> Vec<(Instant, &M::Event)>
    where
        M: Machine,
        M::Event: 'static,
    {
        let Some(log) = &self.host_rest[idx(host.ix.0)].log else { return Vec::new() };
        log.iter().filter_map(|(t, e)| Some((*t, e.downcast_ref::<M::Event>()?))).collect()
    }

    /// Removes and returns a host's logged events.
    pub fn take_events<M>(&mut self, host: HostId<M>) -> Vec<(Instant, M::Event)>
    where
        M: Machine,
        M::Event: 'static,
    {
        let Some(log) = &mut self.host_rest[idx(host.ix.0)].log else { return Vec::new() };
        core::mem::take(log).into_iter().filter_map(|(t, e)| Some((t, *e.downcast::<M::Event>().ok()?))).collect()
    }

    /// A host's machine.
    ///
    /// # Panics
    ///
    /// If `host` comes from another simulation (where that index runs another machine).
    #[must_use]
    pub fn machine<M: 'static>(&self, host: HostId<M>) -> &M {
        let m = &self.hosts[idx(host.ix.0)].machine;
        m.as_any().downcast_ref::<M>().unwrap_or_else(|| panic!("{host:?} is from another simulation"))
    }

    /// Runs an application command on a host's machine now, then drains its output.
    ///
    /// # Panics
    ///
    /// If `host` comes from another simulation.
    pub fn call<M: 'static, R>(&mut self, host: HostId<M>, f: impl FnOnce(&mut M, Instant) -> R) -> R {
        let now = self.now;
        let m = &mut self.hosts[idx(host.ix.0)].machine;
        m.note_input(now);
        let machine =
            m.as_any_mut().downcast_mut::<M>().unwrap_or_else(|| panic!("{host:?} is from another simulation"));
        let r = f(machine, now);
        self.after_input(host.ix);
        r
    }

    /// Schedules an application command on a host's machine at virtual time `at` (or now, if
    /// `at` has passed).
    pub fn call_at<M: 'static>(&mut self, at: Instant, host: HostId<M>, f: impl FnOnce(&mut M, Instant) + 'static) {
        let call: Call = Box::new(move |m: &mut dyn Any, now| {
            if let Some(machine) = m.downcast_mut::<M>() {
                f(machine, now);
            }
        });
        let at = at.max(self.now);
        let call = self.calls.insert(call);
        self.schedule(at, Action::Call { host: host.ix, call });
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.queue.push(at.max(self.now), action);
    }

    /// When the next event happens, if any.
    pub fn next_event(&mut self) -> Option<Instant> {
        self.queue.peek()
    }

    /// Processes the next event, advancing virtual time to it. Returns its time, or `None`
    /// when nothing is scheduled.
    ///
    /// # Errors
    ///
    /// [`RunError::Livelock`] when too many events happen at one instant.
    pub fn step(&mut self) -> Result<Option<Instant>, RunError> {
        let records = warm::Records {
            hosts: &self.hosts,
            nats: &self.nats,
            links: &self.links,
            link_ends: &self.link_ends,
            packets: self.packets.slots(),
        };
        let next = self.queue.pop(|a| records.warm(*a, false));
        if let Some(a) = self.queue.ahead(crate::lookahead::DEPTH / 2) {
            records.warm(*a, true);
        }
        if let Some((host, violation)) = self.broken {
            return Err(RunError::Contract { host, violation });
        }
        let Some((at, action)) = next else { return Ok(None) };
        if at > self.now {
            self.now = at;
            self.events_this_instant = 0;
        }
        self.events_this_instant += 1;
        if self.events_this_instant > self.max_events_per_instant {
            return Err(RunError::Livelock { at: self.now, events: self.events_this_instant });
        }
        self.stats.events += 1;
        match action {
            Action::Arrive { link, packet } => {
                self.record(link, packet);
                let to = self.link_ends[idx(link.0)];
                self.arrive(to, packet);
            }
            Action::Timer { host, generation } => {
                let h = &mut self.hosts[idx(host.0)];
                if h.timer_generation == generation {
                    h.timer = None;
                    h.machine.handle_timeout(self.now);
                    self.after_input(host);
                }
            }
            Action::Call { host, call } => {
                let call = self.calls.remove(call);
                let machine = &mut self.hosts[idx(host.0)].machine;
                machine.note_input(self.now);
                call(machine.as_any_mut(), self.now);
                self.after_input(host);
            }
        }
        Ok(Some(self.now))
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    ///
    /// # Errors
    ///
    /// [`RunError::Livelock`] when too many events happen at one instant.
    pub fn run_until(&mut self, until: Instant) -> Result<(), RunError> {
        while self.next_event().is_some_and(|t| t <= until) {
            self.step()?;
        }
        if until > self.now {
            self.now = until;
            self.events_this_instant = 0;
        }
        Ok(())
    }

    /// Runs for `d` of virtual time.
    ///
    /// # Errors
    ///
    /// [`RunError::Livelock`] when too many events happen at one instant.
    pub fn run_for(&mut self, d: Duration) -> Result<(), RunError> {
        self.run_until(self.now + d)
    }

    /// Runs until `done` holds (checked after every event) or virtual time passes `limit`.
    /// Returns whether `done` held.
    ///
    /// # Errors
    ///
    /// [`RunError::Livelock`] when too many events happen at one instant.
    pub fn run_until_condition(
        &mut self,
        limit: Instant,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, RunError> {
        if done(self) {
            return Ok(true);
        }
        while self.next_event().is_some_and(|t| t <= limit) {
            self.step()?;
            if done(self) {
                return Ok(true);
            }
        }
        if limit > self.now {
            self.now = limit;
            self.events_this_instant = 0;
        }
        Ok(false)
    }

    /// The realm a host lives in.
    #[must_use]
    pub fn host_realm(&self, host: impl Into<AnyHost>) -> RealmId {
        self.host_rest[idx(host.into().0.0)].realm
    }

    /// The addresses of a host's sockets.
    #[must_use]
    pub fn host_sockets(&self, host: impl Into<AnyHost>) -> &[SocketAddr] {
        &self.host_rest[idx(host.into().0.0)].sockets
    }

    /// The realm behind a NAT box.
    #[must_use]
    pub fn nat_inside(&self, nat: NatId) -> RealmId {
        RealmId(nat.0 + 1)
    }
}
