//! NAT awareness (`docs/overlay.md` §9): the node classifies its NAT with stun-core at start
//! and whenever its public address changes, and keeps its streams alive at the interval the
//! measured binding lifetime allows, instead of one hard-coded interval for everyone.
//!
//! The check runs on two sockets of its own. The node's main socket is never idle (the walk,
//! sync and streams use it), so it cannot show how long an idle binding lives; the first
//! probe socket holds a binding and stays silent, the second asks the STUN server to answer
//! to the first one's public port after each idle wait (RFC 5780 §4.6).

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use sansio_core::{Instant, Machine, Transmit};
use stun_core::{LifetimeConfig, NatCheck, NatCheckConfig, NatEvent, NatReport};
use sync_core::Store;

use super::{Event, Node};

/// Where and how a node checks its NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatProbe {
    /// A STUN server that answers RESPONSE-PORT (RFC 5780): any public IPv8 node serving
    /// STUN does; one with an alternate address also lets the check classify filtering and
    /// mapping.
    pub server: SocketAddr,
    /// Two local sockets of the node's own host, behind the same NAT as its main socket:
    /// the first holds the binding under test and stays idle, the second sends the probes.
    pub sockets: [SocketAddr; 2],
    /// The longest binding lifetime looked for; an open host finds this much (and keeps
    /// alive at 80 % of it, at most [`MAX_KEEPALIVE`]).
    pub max_lifetime: Duration,
}

impl NatProbe {
    /// A probe against `server` from `sockets`, looking for lifetimes up to 10 minutes
    /// (Linux conntrack keeps an answered UDP flow 2–3 minutes; some carrier NATs longer).
    #[must_use]
    pub fn new(server: SocketAddr, sockets: [SocketAddr; 2]) -> Self {
        Self { server, sockets, max_lifetime: Duration::from_secs(600) }
    }
}

/// The shortest keep-alive a measurement may set: a lifetime found shorter than this (a
/// server that ignores RESPONSE-PORT, or lost probes, make every wait look fatal) would
/// have every stream chatter; RFC 4787 REQ-5 asks NATs for 2 minutes, and real ones give
/// 30 s or more.
pub const MIN_KEEPALIVE: Duration = Duration::from_secs(5);
/// The longest: the idle timeout is four keep-alives, and it is how long a quiet stream to
/// a peer that vanished is kept before `Disconnected`.
pub const MAX_KEEPALIVE: Duration = Duration::from_secs(300);

/// The node's NAT check and what it found.
#[derive(Debug, Default)]
pub(crate) struct NatState {
    check: Option<NatCheck>,
    /// The public IP the running check saw, once it saw one.
    check_public: Option<IpAddr>,
    /// A check should start at the next timeout (at start, and after the address changed).
    due: bool,
    report: Option<NatReport>,
}

impl NatState {
    pub(crate) fn new(configured: bool) -> Self {
        Self { due: configured, ..Self::default() }
    }
}

impl<S: Store> Node<S> {
    /// What the last NAT check found (`None` before one finished or without
    /// [`Config::nat_probe`](super::Config::nat_probe)).
    pub fn nat_report(&self) -> Option<&NatReport> {
        self.nat.report.as_ref()
    }

    /// The keep-alive interval the node's streams use now: the transport's default until a
    /// NAT check measured the binding lifetime, then 80 % of that lifetime.
    pub fn keepalive(&self) -> Duration {
        self.endpoint.config().keepalive
    }

    /// Whether `local` is one of the NAT check's sockets.
    pub(super) fn is_probe_socket(&self, local: SocketAddr) -> bool {
        self.config.nat_probe.as_ref().is_some_and(|p| p.sockets.contains(&local))
    }

    /// Asks for a new check at the next timeout: the public address changed to `wan`. A
    /// check still running from that same public IP goes on (the lifetime search takes
    /// many minutes; restarting it at every flip of the vote would never let it end).
    pub(super) fn recheck_nat(&mut self, wan: SocketAddr) {
        if self.config.nat_probe.is_none() {
            return;
        }
        if self.nat.check.is_some() && self.nat.check_public.is_none_or(|ip| ip == wan.ip()) {
            return;
        }
        self.nat.due = true;
    }

    pub(super) fn nat_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        match self.nat.check.as_mut() {
            Some(check) => check.handle_datagram(now, local, remote, datagram),
            None => self.stats.not_ours += 1,
        }
        self.nat_events(now);
    }

    pub(super) fn nat_timeout(&mut self, now: Instant) {
        if self.nat.due
            && let Some(probe) = self.config.nat_probe.clone()
        {
            self.nat.due = false;
            let [x, y] = probe.sockets;
            let mut lifetime = LifetimeConfig::new(y);
            lifetime.max = probe.max_lifetime;
            let config = NatCheckConfig { lifetime: Some(lifetime), ..NatCheckConfig::new(probe.server, x) };
            let mut check = NatCheck::new(config, self.rng.child_seed());
            check.start(now);
            self.nat.check = Some(check);
            self.nat.check_public = None;
        }
        if let Some(check) = self.nat.check.as_mut()
            && check.poll_timeout().is_some_and(|t| t <= now)
        {
            check.handle_timeout(now);
        }
        self.nat_events(now);
    }

    pub(super) fn nat_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.nat.check.as_mut()?.poll_transmit(now, buf)
    }

    pub(super) fn nat_deadline(&mut self) -> Option<Instant> {
        if self.nat.due {
            return Some(Instant::ZERO);
        }
        self.nat.check.as_mut()?.poll_timeout()
    }

    /// Acts on what the check found: the keep-alive interval as soon as the lifetime is
    /// known, and the whole report at the end.
    fn nat_events(&mut self, now: Instant) {
        let Some(check) = self.nat.check.as_mut() else { return };
        while let Some(e) = check.poll_event() {
            match e {
                NatEvent::PublicAddress(a) => self.nat.check_public = Some(a.ip()),
                NatEvent::PublicAddressChanged { new, .. } => self.nat.check_public = Some(new.ip()),
                // No wait survived at all: the server did not answer the probe socket's
                // binding (it ignores RESPONSE-PORT), or the probes were lost; nothing was
                // learnt about the NAT.
                NatEvent::BindingLifetime(l) if l.alive.is_zero() => {}
                NatEvent::BindingLifetime(l) => {
                    self.endpoint.set_keepalive(now, l.keepalive.clamp(MIN_KEEPALIVE, MAX_KEEPALIVE));
                }
                NatEvent::Done(report) => {
                    let keepalive = self.endpoint.config().keepalive;
                    self.nat.report = Some(report.clone());
                    self.events.push_back(Event::NatClassified { report, keepalive });
                }
                _ => {}
            }
        }
        if check.is_done() {
            self.nat.check = None;
        }
    }
}
