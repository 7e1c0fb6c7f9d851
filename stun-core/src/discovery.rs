//! NAT discovery: what NAT a peer is behind, its public address, and how long the NAT keeps
//! an idle binding.

use alloc::collections::VecDeque;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use crate::{Filtering, Mapping};
use sansio_core::{Instant, Machine, Seed, TimerKind, TimerTable, Transmit, TransmitQueue};

use crate::attribute::Attribute;
use crate::message::{Class, Message, MessageType, TransactionId};
use crate::transaction::{Finished, Outcome, Request, TransactionConfig, Transactions};
use crate::writer::MessageWriter;

/// The RFC 3489 classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NatType {
    /// Nothing answered: UDP is blocked (or the server is down).
    UdpBlocked,
    /// No NAT, no firewall.
    OpenInternet,
    /// No NAT, but only answers from where the peer sent to come in.
    SymmetricUdpFirewall,
    /// Endpoint-independent mapping and filtering.
    FullCone,
    /// Endpoint-independent mapping, address-dependent filtering.
    RestrictedCone,
    /// Endpoint-independent mapping, address-and-port-dependent filtering.
    PortRestrictedCone,
    /// A mapping per destination.
    Symmetric,
    /// The server could not run the tests (no alternate address, an error answer, or an
    /// implausible other address); [`NatReport::failure`] says why when there is a reason.
    Unknown,
}

/// Why a check could not classify the NAT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckFailure {
    /// Test I was never answered: UDP is blocked, or the server is down.
    NoAnswer,
    /// The server answered test I with this STUN error code (see [`crate::error_code`]).
    ErrorAnswer(u16),
    /// The server's success answer held no mapped address.
    NoMappedAddress,
    /// The server has no other address, so behaviour cannot be tested.
    NoOtherAddress,
    /// The server named an other address it cannot have (another family, unspecified,
    /// multicast, port 0, or loopback from a server that is not): it was not contacted.
    ImplausibleOtherAddress(SocketAddr),
    /// The check used up its budget of requests ([`NatCheckConfig::request_budget`]).
    BudgetExhausted,
}

/// Which test sequence to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Procedure {
    /// RFC 5780 §4.3/§4.4: filtering tests first, then mapping tests (which contact the
    /// alternate IP and would otherwise open the filter), strictly one after another; the
    /// RFC 3489 type is derived from the two behaviours.
    Rfc5780,
    /// RFC 3489 §10.1: tests I, II, I′ and III in the order of its decision tree (I′ to the
    /// other IP at the primary port; see the lab note in the source).
    Rfc3489,
}

/// The idle binding lifetime, as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingLifetime {
    /// The longest idle time after which the binding was still alive.
    pub alive: Duration,
    /// The shortest idle time after which it had expired (`None`: alive even at the
    /// search's maximum).
    pub expired: Option<Duration>,
    /// A keep-alive interval that keeps it: 80 % of `alive`.
    pub keepalive: Duration,
    /// Probes it took.
    pub probes: u32,
}

/// Everything one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatReport {
    /// The public (mapped) address towards the server.
    pub public: Option<SocketAddr>,
    /// The RFC 3489 type.
    pub nat_type: NatType,
    /// Mapping behaviour, when tested.
    pub mapping: Option<Mapping>,
    /// Filtering behaviour, when tested.
    pub filtering: Option<Filtering>,
    /// Whether the NAT hairpins, when tested.
    pub hairpinning: Option<bool>,
    /// The server's other address (OTHER-ADDRESS or CHANGED-ADDRESS).
    pub server_other: Option<SocketAddr>,
    /// The binding lifetime, when measured.
    pub lifetime: Option<BindingLifetime>,
    /// What stopped the check short of a full answer, if anything did.
    pub failure: Option<CheckFailure>,
}

/// What a check reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatEvent {
    /// The public address, first seen.
    PublicAddress(SocketAddr),
    /// The public address towards the server changed (a NAT rebooted, a binding expired and
    /// came back elsewhere, the peer moved).
    PublicAddressChanged {
        /// Before.
        old: SocketAddr,
        /// Now.
        new: SocketAddr,
    },
    /// The binding lifetime was measured.
    BindingLifetime(BindingLifetime),
    /// The check is over.
    Done(NatReport),
}

/// Binding-lifetime search parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifetimeConfig {
    /// The second local socket (Y): probes leave from it and ask the server to answer to the
    /// first socket's public port.
    pub second_local: SocketAddr,
    /// The first idle time tried; it doubles while the binding survives (30 s: the common
    /// unreplied timeout).
    pub first_guess: Duration,
    /// Longest idle time tried.
    pub max: Duration,
    /// Stop when the alive/expired interval is this narrow.
    pub resolution: Duration,
    /// How long a probe waits for its answer before calling the binding expired.
    pub probe_timeout: Duration,
}

impl LifetimeConfig {
    /// Defaults: 30 s first guess, 300 s at most, 1 s resolution, 3 s per probe answer.
    #[must_use]
    pub fn new(second_local: SocketAddr) -> Self {
        Self {
            second_local,
            first_guess: Duration::from_secs(30),
            max: Duration::from_secs(300),
            resolution: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(3),
        }
    }
}

/// How a check runs.
#[derive(Clone, Debug)]
pub struct NatCheckConfig {
    /// The STUN server's primary address.
    pub server: SocketAddr,
    /// The local socket the tests leave from (X), as bound: a concrete IP, so "no NAT" can
    /// be told by comparing it with the mapped address.
    pub local: SocketAddr,
    /// Which tests.
    pub procedure: Procedure,
    /// Retransmission timers.
    pub transactions: TransactionConfig,
    /// How long a test whose answer may legitimately never come waits (RFC 8489's schedule
    /// would take 39.5 s per such test; coturn and Vovida wait a few seconds).
    pub negative_timeout: Duration,
    /// Test hairpinning: send to our own public address and see if it comes back.
    pub hairpin: bool,
    /// Measure the binding lifetime afterwards.
    pub lifetime: Option<LifetimeConfig>,
    /// At most this many requests in the whole check (each counts once, however often it is
    /// retransmitted); a check that would need more ends with
    /// [`CheckFailure::BudgetExhausted`]. A full RFC 5780 check with hairpin and a lifetime
    /// search needs about 30.
    pub request_budget: u32,
}

impl NatCheckConfig {
    /// RFC 5780 tests from `local` against `server`, 4 s negative timeout, no hairpin or
    /// lifetime test.
    #[must_use]
    pub fn new(server: SocketAddr, local: SocketAddr) -> Self {
        Self {
            server,
            local,
            procedure: Procedure::Rfc5780,
            transactions: TransactionConfig::default(),
            negative_timeout: Duration::from_secs(4),
            hairpin: false,
            lifetime: None,
            request_budget: 64,
        }
    }
}

/// Where a check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    TestI,
    FilteringII,
    FilteringIII,
    MappingII,
    MappingIII {
        second: SocketAddr,
    },
    Classic {
        test: Classic,
    },
    /// Waiting (until [`Wait::Step`]) for our own request to come back through the NAT.
    Hairpin {
        id: TransactionId,
    },
    /// Refreshing X's binding before an idle wait of `idle`.
    LifetimeRefresh {
        idle: Duration,
    },
    /// Idle (until [`Wait::Step`]), then probe.
    LifetimeIdle {
        idle: Duration,
        port: SocketAddr,
    },
    LifetimeProbe {
        idle: Duration,
    },
    Done,
}

/// RFC 3489's tests II, I′ and III.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Classic {
    ChangeBoth,
    OtherAddress,
    ChangePort,
}

/// A NAT check: a [`Machine`] on one local socket (two for the lifetime search).
///
/// It runs the tests strictly one after another (answers to a test still retransmitting
/// would otherwise open the NAT's filter for the next one: Vovida's client misclassifies a
/// restricted cone that way), trusts only the real source address of answers, and reports
/// [`NatEvent`]s ending with [`NatEvent::Done`]. Start it with [`NatCheck::start`].
#[derive(Debug)]
pub struct NatCheck {
    config: NatCheckConfig,
    transactions: Transactions,
    step: Step,
    report: NatReport,
    /// Mapped addresses of the tests (I, then the mapping tests).
    first_mapped: Option<SocketAddr>,
    events: VecDeque<NatEvent>,
    /// Datagrams sent outside a transaction (the hairpin request).
    raw: TransmitQueue,
    timers: TimerTable<Wait, 2>,
    /// Requests started so far.
    requests: u32,
    /// Lifetime search state.
    alive: Duration,
    expired: Option<Duration>,
    probes: u32,
    /// RESPONSE-PORT is RFC 5780; classic servers know RESPONSE-ADDRESS only.
    use_response_address: bool,
    started: bool,
}

impl NatCheck {
    /// A check, not started; `seed` draws its transaction ids.
    #[must_use]
    pub fn new(config: NatCheckConfig, seed: Seed) -> Self {
        let transactions = Transactions::new(config.transactions, seed);
        Self {
            use_response_address: config.procedure == Procedure::Rfc3489,
            config,
            transactions,
            step: Step::TestI,
            report: NatReport {
                public: None,
                nat_type: NatType::Unknown,
                mapping: None,
                filtering: None,
                hairpinning: None,
                server_other: None,
                lifetime: None,
                failure: None,
            },
            first_mapped: None,
            events: VecDeque::new(),
            raw: TransmitQueue::new(1, 64),
            timers: TimerTable::new(),
            requests: 0,
            alive: Duration::ZERO,
            expired: None,
            probes: 0,
            started: false,
        }
    }

    /// Sends test I.
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        let server = self.config.server;
        self.request(now, server, &[], Some(server), None);
    }

    /// Whether the check is over.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    fn request(
        &mut self,
        now: Instant,
        to: SocketAddr,
        attributes: &[Attribute<'_>],
        expect_from: Option<SocketAddr>,
        give_up_after: Option<Duration>,
    ) {
        self.request_from(now, self.config.local, to, attributes, expect_from, give_up_after);
    }

    fn request_from(
        &mut self,
        now: Instant,
        local: SocketAddr,
        to: SocketAddr,
        attributes: &[Attribute<'_>],
        expect_from: Option<SocketAddr>,
        give_up_after: Option<Duration>,
    ) {
        if self.requests >= self.config.request_budget {
            return self.fail(CheckFailure::BudgetExhausted);
        }
        self.requests += 1;
        let request = Request { local, server: to, attributes, expect_from, give_up_after, tag: 0 };
        // Our attributes always fit a request.
        let _ = self.transactions.start(now, request);
    }

    /// Ends the check because of `why`.
    fn fail(&mut self, why: CheckFailure) {
        tracing::debug!(?why, "NAT check cannot go on");
        self.report.failure = Some(why);
        self.finish();
    }

    /// Whether our public address as the server reports it is one worth sending the hairpin
    /// request to: same family as our socket, unicast, with a port.
    fn plausible_public(&self, public: SocketAddr) -> bool {
        let ip = public.ip();
        ip.is_ipv4() == self.config.local.is_ipv4() && !ip.is_unspecified() && !ip.is_multicast() && public.port() != 0
    }

    /// Whether `other`, claimed by the server as its other address, is one it can have: same
    /// family, a unicast address, a port, and loopback only if the server is.
    fn plausible_other(&self, other: SocketAddr) -> bool {
        let server = self.config.server.ip();
        let ip = other.ip();
        let unicast = match ip {
            IpAddr::V4(v4) => !v4.is_broadcast() && !v4.is_multicast(),
            IpAddr::V6(v6) => !v6.is_multicast(),
        };
        ip.is_ipv4() == server.is_ipv4()
            && unicast
            && !ip.is_unspecified()
            && other.port() != 0
            && (!ip.is_loopback() || server.is_loopback())
    }

    fn negative(&mut self, now: Instant, to: SocketAddr, change_ip: bool, change_port: bool, from: SocketAddr) {
        let change = [Attribute::ChangeRequest { change_ip, change_port }];
        let timeout = self.config.negative_timeout;
        self.request(now, to, &change, Some(from), Some(timeout));
    }

    fn public_address(&mut self, mapped: SocketAddr) {
        match self.report.public {
            None => self.events.push_back(NatEvent::PublicAddress(mapped)),
            Some(old) if old != mapped => self.events.push_back(NatEvent::PublicAddressChanged { old, new: mapped }),
            Some(_) => {}
        }
        self.report.public = Some(mapped);
    }

    fn natted(&self) -> bool {
        self.first_mapped != Some(self.config.local)
    }

    fn classify(&mut self) {
        let r = &mut self.report;
        r.nat_type = match (self.first_mapped == Some(self.config.local), r.mapping, r.filtering) {
            (true, _, Some(Filtering::EndpointIndependent)) => NatType::OpenInternet,
            (true, _, Some(_)) => NatType::SymmetricUdpFirewall,
            (false, Some(Mapping::AddressDependent | Mapping::AddressAndPortDependent), _) => NatType::Symmetric,
            (false, Some(Mapping::EndpointIndependent), Some(Filtering::EndpointIndependent)) => NatType::FullCone,
            (false, Some(Mapping::EndpointIndependent), Some(Filtering::AddressDependent)) => NatType::RestrictedCone,
            (false, Some(Mapping::EndpointIndependent), Some(Filtering::AddressAndPortDependent)) => {
                NatType::PortRestrictedCone
            }
            _ => NatType::Unknown,
        };
    }

    /// After the behaviour tests: hairpin, lifetime, or done.
    fn after_behaviour(&mut self, now: Instant) {
        if self.config.hairpin
            && let Some(public) = self.report.public
        {
            let id = self.transactions.new_id();
            let write =
                |buf: &mut [u8]| MessageWriter::new(buf, MessageType::BINDING_REQUEST, id).map_or(0, |w| w.finish());
            if self.requests < self.config.request_budget
                && self.plausible_public(public)
                && self.raw.push_with(Some(self.config.local), public, 20, write).is_ok()
            {
                self.requests += 1;
                self.step = Step::Hairpin { id };
                self.timers.set(Wait::Step, now.saturating_add(self.config.negative_timeout));
                return;
            }
        }
        self.after_hairpin(now);
    }

    fn after_hairpin(&mut self, now: Instant) {
        match self.config.lifetime {
            Some(l) if self.report.public.is_some() => self.lifetime_refresh(now, l.first_guess.min(l.max)),
            _ => self.finish(),
        }
    }

    fn finish(&mut self) {
        if self.step == Step::Done {
            return;
        }
        tracing::debug!(nat_type = ?self.report.nat_type, public = ?self.report.public, "NAT check done");
        self.step = Step::Done;
        self.transactions.clear();
        self.timers.stop_all();
        self.events.push_back(NatEvent::Done(self.report.clone()));
    }

    fn lifetime_refresh(&mut self, now: Instant, idle: Duration) {
        self.step = Step::LifetimeRefresh { idle };
        let server = self.config.server;
        self.request(now, server, &[], Some(server), None);
    }

    /// Picks the next idle time, or ends the search.
    fn lifetime_next(&mut self, now: Instant, idle: Duration, alive: bool) {
        let Some(l) = self.config.lifetime else { return self.finish() };
        self.probes += 1;
        if alive {
            self.alive = self.alive.max(idle);
        } else {
            self.expired = Some(self.expired.map_or(idle, |e| e.min(idle)));
        }
        // A resolution of zero could bisect forever; a first guess of zero would double to zero.
        let resolution = l.resolution.max(Duration::from_millis(1));
        let next = match self.expired {
            // Still alive everywhere: double, up to the maximum.
            None if self.alive >= l.max => None,
            None => Some((self.alive * 2).max(self.alive + resolution).min(l.max)),
            Some(e) if e.saturating_sub(self.alive) <= resolution => None,
            Some(e) => Some(self.alive + (e - self.alive) / 2),
        };
        match next {
            Some(t) => self.lifetime_refresh(now, t),
            None => {
                let found = BindingLifetime {
                    alive: self.alive,
                    expired: self.expired,
                    keepalive: self.alive * 4 / 5,
                    probes: self.probes,
                };
                self.report.lifetime = Some(found);
                self.events.push_back(NatEvent::BindingLifetime(found));
                self.finish();
            }
        }
    }

    /// One finished transaction moves the check on.
    fn on_finished(&mut self, now: Instant, done: Finished) {
        let response = match &done.outcome {
            Outcome::Response { bytes, from, at } => Some((bytes.as_slice(), *from, *at)),
            Outcome::Timeout => None,
        };
        let parsed = response.and_then(|(b, from, at)| Message::parse(b).ok().map(|m| (m, from, at)));
        let success = parsed.filter(|(m, _, _)| m.message_type().class == Class::Success);
        let mapped = success.and_then(|(m, _, _)| m.mapped_address());
        let server = self.config.server;
        let other = self.report.server_other;
        match self.step {
            Step::TestI => {
                let Some((m, _, _)) = success else {
                    if let Some((m, _, _)) = parsed {
                        let code = m.error_code().map_or(0, |(code, _)| code);
                        return self.fail(CheckFailure::ErrorAnswer(code));
                    }
                    self.report.nat_type = NatType::UdpBlocked;
                    return self.fail(CheckFailure::NoAnswer);
                };
                let Some(mapped) = mapped else { return self.fail(CheckFailure::NoMappedAddress) };
                self.first_mapped = Some(mapped);
                self.public_address(mapped);
                let Some(o) = m.other_address() else {
                    // No alternate address: nothing more to test but the lifetime.
                    self.report.failure = Some(CheckFailure::NoOtherAddress);
                    return self.after_behaviour(now);
                };
                if !self.plausible_other(o) {
                    self.report.failure = Some(CheckFailure::ImplausibleOtherAddress(o));
                    return self.after_behaviour(now);
                }
                self.report.server_other = Some(o);
                match self.config.procedure {
                    Procedure::Rfc5780 => {
                        self.step = Step::FilteringII;
                        self.negative(now, server, true, true, o);
                    }
                    Procedure::Rfc3489 => {
                        self.step = Step::Classic { test: Classic::ChangeBoth };
                        self.negative(now, server, true, true, o);
                    }
                }
            }
            Step::FilteringII => {
                if success.is_some() {
                    self.report.filtering = Some(Filtering::EndpointIndependent);
                    return self.mapping_tests(now);
                }
                if parsed.is_some() {
                    // An error: the server cannot change address.
                    return self.mapping_tests(now);
                }
                let Some(o) = other else { return self.finish() };
                self.step = Step::FilteringIII;
                self.negative(now, server, false, true, SocketAddr::new(server.ip(), o.port()));
            }
            Step::FilteringIII => {
                self.report.filtering = match (success.is_some(), parsed.is_some()) {
                    (true, _) => Some(Filtering::AddressDependent),
                    (false, false) => Some(Filtering::AddressAndPortDependent),
                    (false, true) => None,
                };
                self.mapping_tests(now);
            }
            Step::MappingII => match mapped {
                Some(m) if Some(m) == self.first_mapped => {
                    self.report.mapping = Some(Mapping::EndpointIndependent);
                    self.classify();
                    self.after_behaviour(now);
                }
                Some(m) => {
                    let Some(o) = other else { return self.finish() };
                    self.step = Step::MappingIII { second: m };
                    self.request(now, o, &[], Some(o), Some(self.config.negative_timeout));
                }
                None => {
                    self.classify();
                    self.after_behaviour(now);
                }
            },
            Step::MappingIII { second } => {
                self.report.mapping = match mapped {
                    Some(m) if m == second => Some(Mapping::AddressDependent),
                    Some(_) => Some(Mapping::AddressAndPortDependent),
                    None => None,
                };
                self.classify();
                self.after_behaviour(now);
            }
            Step::Classic { test } => self.classic(now, test, success.is_some(), mapped),
            Step::LifetimeRefresh { idle } => {
                let Some(mapped) = mapped else {
                    // The server stopped answering: report what we have.
                    return self.finish();
                };
                self.public_address(mapped);
                self.step = Step::LifetimeIdle { idle, port: mapped };
                self.timers.set(Wait::Step, now.saturating_add(idle));
            }
            Step::LifetimeProbe { idle } => {
                match (parsed, success) {
                    // Arrived at X: the binding lived through the idle time.
                    (Some(_), Some((_, _, at))) if at == self.config.local => self.lifetime_next(now, idle, true),
                    // Arrived at Y (the port went to Y's new binding) or never: expired.
                    (Some(_), Some(_)) | (None, _) => self.lifetime_next(now, idle, false),
                    // An error: the server does not take RESPONSE-PORT; try RESPONSE-ADDRESS once.
                    (Some(_), None) if !self.use_response_address => {
                        self.use_response_address = true;
                        self.lifetime_refresh(now, idle);
                    }
                    (Some(_), None) => self.finish(),
                }
            }
            Step::Hairpin { .. } | Step::LifetimeIdle { .. } | Step::Done => {}
        }
    }

    fn mapping_tests(&mut self, now: Instant) {
        let Some(o) = self.report.server_other else { return self.finish() };
        let to = SocketAddr::new(o.ip(), self.config.server.port());
        self.step = Step::MappingII;
        self.request(now, to, &[], Some(to), Some(self.config.negative_timeout));
    }

    fn classic(&mut self, now: Instant, test: Classic, answered: bool, mapped: Option<SocketAddr>) {
        let server = self.config.server;
        let Some(o) = self.report.server_other else { return self.finish() };
        match test {
            Classic::ChangeBoth => {
                if !self.natted() {
                    self.report.nat_type = if answered { NatType::OpenInternet } else { NatType::SymmetricUdpFirewall };
                    self.report.filtering = Some(if answered {
                        Filtering::EndpointIndependent
                    } else {
                        Filtering::AddressAndPortDependent
                    });
                    self.report.mapping = Some(Mapping::EndpointIndependent);
                    return self.after_behaviour(now);
                }
                if answered {
                    self.report.nat_type = NatType::FullCone;
                    self.report.mapping = Some(Mapping::EndpointIndependent);
                    self.report.filtering = Some(Filtering::EndpointIndependent);
                    return self.after_behaviour(now);
                }
                // Test I′ goes to the other IP at the primary port, not to CHANGED-ADDRESS
                // itself: test II's unanswered reply came from CHANGED-ADDRESS and left
                // conntrack state on a Linux NAT, so a request there gets a new port and a
                // port-restricted NAT reads as symmetric (measured in the netns lab). A
                // mapping per destination IP shows either way.
                let to = SocketAddr::new(o.ip(), server.port());
                self.step = Step::Classic { test: Classic::OtherAddress };
                self.request(now, to, &[], Some(to), None);
            }
            Classic::OtherAddress => match mapped {
                None => {
                    self.report.nat_type = NatType::Unknown;
                    self.after_behaviour(now);
                }
                Some(m) if Some(m) != self.first_mapped => {
                    self.report.nat_type = NatType::Symmetric;
                    self.after_behaviour(now);
                }
                Some(_) => {
                    self.report.mapping = Some(Mapping::EndpointIndependent);
                    self.step = Step::Classic { test: Classic::ChangePort };
                    self.negative(now, server, false, true, SocketAddr::new(server.ip(), o.port()));
                }
            },
            Classic::ChangePort => {
                (self.report.nat_type, self.report.filtering) = if answered {
                    (NatType::RestrictedCone, Some(Filtering::AddressDependent))
                } else {
                    (NatType::PortRestrictedCone, Some(Filtering::AddressAndPortDependent))
                };
                self.after_behaviour(now);
            }
        }
    }

    fn lifetime_probe(&mut self, now: Instant, idle: Duration, port: SocketAddr) {
        let Some(l) = self.config.lifetime else { return self.finish() };
        self.step = Step::LifetimeProbe { idle };
        let server = self.config.server;
        let ask = if self.use_response_address {
            Attribute::ResponseAddress(port)
        } else {
            Attribute::ResponsePort(port.port())
        };
        self.request_from(now, l.second_local, server, &[ask], Some(server), Some(l.probe_timeout));
    }

    fn advance(&mut self, now: Instant) {
        while let Some(done) = self.transactions.poll_finished() {
            self.on_finished(now, done);
        }
    }
}

impl Machine for NatCheck {
    type Event = NatEvent;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        if let Step::Hairpin { id, .. } = self.step
            && let Ok(m) = Message::parse_checked(datagram)
            && m.message_type() == MessageType::BINDING_REQUEST
            && m.transaction_id() == id
        {
            self.report.hairpinning = Some(true);
            self.timers.stop(Wait::Step);
            return self.after_hairpin(now);
        }
        if self.transactions.handle_datagram(local, remote, datagram) {
            self.advance(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.transactions.handle_timeout(now);
        self.advance(now);
        while let Some(timer) = self.timers.take_expired(now) {
            match (timer, self.step) {
                (Wait::Step, Step::Hairpin { .. }) => {
                    self.report.hairpinning = Some(false);
                    self.after_hairpin(now);
                }
                (Wait::Step, Step::LifetimeIdle { idle, port }) => self.lifetime_probe(now, idle, port),
                // The transactions' own deadlines were handled above.
                _ => {}
            }
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.raw.pop(buf).or_else(|| self.transactions.poll_transmit(now, buf))
    }

    fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        match self.transactions.poll_timeout() {
            Some(t) => self.timers.set(Wait::Transaction, t),
            None => self.timers.stop(Wait::Transaction),
        }
        self.timers.next_deadline()
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        self.timers.next_reason()
    }
}

/// What a [`NatCheck`] waits for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Wait {
    /// A retransmission or a transaction's deadline.
    Transaction,
    /// The current step's own wait: a hairpin request coming back, or a lifetime idle period.
    Step,
}

impl TimerKind for Wait {
    const ALL: &'static [Self] = &[Wait::Transaction, Wait::Step];
    fn index(self) -> usize {
        self as usize
    }
    fn reason(self) -> &'static str {
        match self {
            Wait::Transaction => "STUN retransmission or transaction deadline",
            Wait::Step => "hairpin wait or binding-lifetime idle period",
        }
    }
}
