//! Targeted introductions and streams that survive address changes (`docs/overlay.md` §6).
//!
//! A node that opens a stream to a peer also asks a few introducers (its most recent walk
//! targets, and its bootstrap peers) to have that peer puncture towards it: the peer's NAT
//! opens towards this node while this node's P2TP handshake opens its own. The peer's signed
//! puncture also says where the peer is now: a stream still opening to an older address moves
//! there. A node whose public address changes (by vote) re-opens its streams from the new one,
//! with the same introductions; each side sees a `PathChanged` event and nothing else.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::Store;

use super::{Event, Node};
use crate::identity::{Mid, PeerKey};
use crate::wire::{AskedPunctureRequest, IntroduceMe, Introduced, Payload, PortWindow, Puncture, PunctureRequest};

/// A peer heard from this recently has its NAT open towards this node.
const HEARD_LATELY: Duration = Duration::from_secs(20);
/// How long a stream waits for the peer's puncture before it asks again...
const OPEN_WAIT: Duration = Duration::from_secs(1);
/// ...and how many times, before it opens anyway (a full-TTL handshake that arrives before
/// the peer's puncture leaves state at a Linux router that moves the peer's own mapping).
const OPEN_TRIES: u32 = 3;
/// ...or, towards an address whose punches failed before, how many times before it gives up.
const PATIENT_TRIES: u32 = 10;
/// Recent introducers asked per stream opened...
const RECENT_ASKED: usize = 3;
/// ...and bootstrap peers, drawn at random when there are more.
const MAX_BOOTSTRAPS_ASKED: usize = 3;
/// Ports a node behind a sequentially allocating NAT asks its target to open towards, from
/// the predicted one up, and the most a target opens for one request (§7.2).
pub(super) const PORT_WINDOW: u8 = 8;
/// Walkers a node behind a sequential NAT asks the introducers for in turn, at most, a
/// second (§7.2).
const ASK_IN_TURN_PER_SEC: u64 = 4;
/// Introductions awaiting their puncture, at most, and for how long.
pub(super) const PENDING: usize = 64;
const PENDING_LIFETIME: Duration = Duration::from_secs(10);

/// An introduction this node asked for ([`IntroduceMe`]), until the target's puncture comes.
#[derive(Debug)]
pub(super) struct PendingIntro {
    /// Drawn at random: an off-path sender cannot learn it from the node's global time.
    identifier: u16,
    target: Mid,
    at: Instant,
    /// The introducers asked and not yet heard from: one [`Introduced`] answer each counts.
    unanswered: Vec<SocketAddr>,
    /// Where this node sent openers on their answers (one each).
    opened: Vec<SocketAddr>,
    /// The first port of the window this node's NAT was predicted to open towards the target
    /// from (§7.2), if it asked with one.
    window: Option<u16>,
    /// The identifier of the target's own request this node met in its window, if any: the
    /// same request through other introducers is not met again (each meeting opens a flow).
    met: Option<u16>,
    /// Whether this asks for the target's puncture in answer to its own request (the
    /// identifier is the target's): never met in a window itself.
    answer: bool,
}

impl<S: Store> Node<S> {
    /// Asks introducers to have `target` puncture towards this node: the one that introduced
    /// the target (it knows it), up to [`MAX_BOOTSTRAPS_ASKED`] bootstrap peers (every node
    /// walks to them, so their paths through the target's NAT are the likeliest to be open)
    /// and the [`RECENT_ASKED`] most recent introducers; none that a sync round showed to be
    /// a py-ipv8 peer (it would log our message as unknown).
    pub(super) fn ask_introducers(&mut self, now: Instant, target: Mid) {
        self.ask_introducers_with(now, target, None);
    }

    /// [`ask_introducers`](Self::ask_introducers), naming `window` (and the identifier of
    /// the target's request it opened towards) as this node's ports towards the target
    /// instead of predicting them.
    fn ask_introducers_with(&mut self, now: Instant, target: Mid, window: Option<(PortWindow, u16)>) {
        let fresh = self.config.peer_timeout;
        let mut recent: Vec<(Instant, SocketAddr)> = self
            .introducers
            .iter()
            .filter(|(_, (t, _))| now.saturating_duration_since(*t) <= fresh)
            .map(|(a, (t, _))| (*t, *a))
            .collect();
        recent.sort_by(|a, b| b.cmp(a));
        let mut boots = self.config.bootstrap.clone();
        self.rng.pick_front(&mut boots, MAX_BOOTSTRAPS_ASKED);
        boots.truncate(MAX_BOOTSTRAPS_ASKED);
        let target_at = self.peers.get(&target).map(|p| p.address);
        let pyipv8 = self.pyipv8_addresses();
        let wanted =
            |a: &SocketAddr, via: &[SocketAddr]| !via.contains(a) && Some(*a) != target_at && !pyipv8.contains(a);
        let mut via: Vec<SocketAddr> = Vec::with_capacity(1 + MAX_BOOTSTRAPS_ASKED + RECENT_ASKED);
        for a in self.via.get(&target).copied().into_iter().chain(boots) {
            if wanted(&a, &via) {
                via.push(a);
            }
        }
        let mut more = RECENT_ASKED;
        for (_, a) in recent {
            if more == 0 {
                break;
            }
            if wanted(&a, &via) {
                via.push(a);
                more -= 1;
            }
        }
        if via.is_empty() {
            return;
        }
        // Behind a NAT that maps per destination, the introducers see other ports than the
        // target will: if the NAT gives them out in sequence, the target is told the port
        // this node's flow towards it is predicted to have (§7.2).
        let ports = if let Some((w, _)) = window {
            Some(w)
        } else if self.wan.looks_symmetric() {
            let at = self.sessions.iter().find(|(_, s)| s.expect == Some(target)).map(|(a, _)| *a).or(target_at);
            // A flow towards the target's address may be open already: a target behind a
            // cone punctures into its port, one behind another sequential NAT opens flows
            // towards this node's next new one (`meet_in_window`), which is elsewhere. The
            // two are asked for in turn.
            let (open, new) = (self.predict_port(now, at, &via), self.predict_port(now, None, &via));
            let last = self.pending_intros.iter().rev().find(|p| p.target == target).and_then(|p| p.window);
            let first = if open != new && last == open { new } else { open };
            first.map(|first| PortWindow { first, count: PORT_WINDOW })
        } else {
            None
        };
        let t = self.tick();
        // The target matches an answer to its own request by that request's identifier.
        let drawn = self.rng.below(1 << 16) as u16;
        let identifier = window.map_or(drawn, |(_, i)| i);
        for to in &via {
            let payload =
                Payload::IntroduceMe(IntroduceMe { target, source_lan: self.config.local, identifier, ports });
            self.send_signed(*to, payload, t);
        }
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        self.pending_intros.retain(|p| p.at >= cutoff);
        if self.pending_intros.len() >= PENDING {
            self.pending_intros.pop_front();
        }
        self.pending_intros.push_back(PendingIntro {
            identifier,
            target,
            at: now,
            unanswered: via,
            opened: Vec::new(),
            window: ports.map(|w| w.first),
            met: None,
            answer: window.is_some(),
        });
    }

    /// The addresses of peers that were sent a sync round and never spoke sync back: py-ipv8
    /// peers, which know none of our own messages.
    fn pyipv8_addresses(&self) -> Vec<SocketAddr> {
        self.peers.iter().filter(|p| self.known_pyipv8(&p.key.mid())).map(|p| p.address).collect()
    }

    /// As an introducer: a known peer asks that `target` puncture towards it. At most
    /// `punctures_per_sec` a second per asking address; the puncture request is smaller than
    /// the signed request, so nothing is amplified.
    pub(super) fn on_introduce_me(&mut self, now: Instant, from: SocketAddr, key: PeerKey, p: IntroduceMe) {
        if self.peers.get(&key.mid()).is_none() {
            self.stats.introductions_refused += 1;
            return;
        }
        let budget = self.config.punctures_per_sec;
        if !self.asked.contains_key(&from) && self.asked.len() >= self.config.max_peers {
            let oldest = self.asked.iter().min_by_key(|(a, p)| (p.start(), **a)).map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.asked.remove(&a);
            }
        }
        let allowance = self.asked.entry(from).or_insert_with(|| super::per_second::PerSecond::new(now));
        if !allowance.take(now, 1, u64::from(budget)) {
            self.stats.introductions_refused += 1;
            return;
        }
        let Some((to, target_lan)) = self.peers.get(&p.target).map(|t| (t.address, t.lan)) else {
            self.stats.introductions_refused += 1;
            return;
        };
        // A walker that predicted its port towards the target (§7.2) is punched at there, and
        // at the ports just above; only at its own IP.
        let (wan_walker, ports) = match p.ports {
            Some(w) => (SocketAddr::new(from.ip(), w.first), w.count.clamp(1, PORT_WINDOW)),
            None => (from, 1),
        };
        let request = PunctureRequest { lan_walker: p.source_lan, wan_walker, identifier: p.identifier };
        let asked = AskedPunctureRequest { request, walker: key.mid(), ports };
        self.send_unsigned(to, Payload::AskedPunctureRequest(asked));
        // And the walker learns where the target is, so its opener goes out before the
        // target's puncture (delayed by `puncture_delay`) arrives.
        let answer = Introduced { target: p.target, target_lan, target_wan: to, identifier: p.identifier };
        self.send_unsigned(from, Payload::Introduced(answer));
        self.stats.introductions_made += 1;
    }

    /// An introducer this node asked says where the target is: this node's opener goes there
    /// now, before the target's puncture comes (which then opens the stream, `on_puncture`).
    /// It counts only from an introducer asked and not yet heard from, for the target and with
    /// the identifier it was asked with, within [`PENDING_LIFETIME`]; one opener per address.
    /// The message is unsigned: a forger must guess a random 16-bit identifier and the
    /// target, and gains a 1-byte low-TTL packet.
    pub(super) fn on_introduced(&mut self, now: Instant, from: SocketAddr, p: &Introduced) {
        let to = self.reach(p.target_lan, p.target_wan);
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        let pending = self.pending_intros.iter_mut().find(|i| {
            i.identifier == p.identifier && i.target == p.target && i.at >= cutoff && i.unanswered.contains(&from)
        });
        let Some(pending) = pending else {
            self.stats.stray_responses += 1;
            return;
        };
        pending.unanswered.retain(|a| *a != from);
        // Behind a NAT that gives out ports in sequence, only the first opener: each
        // introducer may see a target behind such a NAT at a port of its own, and every other
        // address opened would move this node's next port out of the window it asked for.
        if pending.opened.contains(&to) || (pending.window.is_some() && !pending.opened.is_empty()) {
            return;
        }
        pending.opened.push(to);
        self.send_opener(now, to);
    }

    /// A signed puncture: if it answers an introduction this node asked for, its sender is at
    /// `from` now, and a stream still opening elsewhere moves there.
    pub(super) fn on_puncture(&mut self, now: Instant, from: SocketAddr, key: PeerKey, p: &Puncture) {
        self.stats.punctures_received += 1;
        let mid = key.mid();
        let Some(pos) = self.pending_intros.iter().position(|i| i.identifier == p.identifier && i.target == mid) else {
            // The puncture of a candidate the walk was introduced to: both NATs are open now
            // (ours by the opener sent on the introduction, its by this puncture), so the
            // walk's request goes at once, to where the puncture came from.
            if self.peers.take_candidate(p.source_lan, p.source_wan, from) {
                self.request_introduction(now, from);
            }
            return;
        };
        self.pending_intros.remove(pos);
        self.redirect(now, mid, from);
    }

    /// The peer's puncture came from `address`: its NAT is open towards this node there. A
    /// stream waiting to open to it opens now; one opening to another address moves there,
    /// keeping the messages it holds.
    fn redirect(&mut self, now: Instant, mid: Mid, address: SocketAddr) {
        if self.connected.contains_key(&mid) {
            return;
        }
        if let Some(s) = self.sessions.get(&address) {
            if s.expect == Some(mid) && s.connect_at.is_some() {
                self.connect_now(now, address);
            }
            return;
        }
        let old = self.sessions.iter().find(|(_, s)| s.expect == Some(mid) && !s.verified).map(|(a, _)| *a);
        if self.endpoint.streams() >= self.endpoint.config().max_streams {
            return;
        }
        let mut session = self.new_session(Some(mid));
        session.since = Some(now);
        if let Some(old) = old
            && let Some(mut previous) = self.remove_session(&old)
        {
            session.outbox = core::mem::take(&mut previous.outbox);
            session.since = previous.since.or(session.since);
            self.held += session.held();
            self.endpoint.close(now, old);
        }
        session.connect_at = Some(now);
        self.sessions.insert(address, session);
        self.connect_now(now, address);
        self.stats.redirects += 1;
    }

    /// Opens a stream to `mid` at `address`. At once if the peer was heard from there
    /// lately (its NAT is open towards this node); otherwise this node first sends a low-TTL
    /// packet there (its own NATs map it, the peer's never see it), asks introducers to have
    /// the peer puncture towards it, and opens the stream when the puncture arrives, or after
    /// a second at the latest.
    pub(super) fn open_stream(&mut self, now: Instant, mid: Mid, address: SocketAddr) {
        if self.quiet.holds_streams(now, &address) {
            // Punches there failed lately: the relay carries the messages until it is over.
            return;
        }
        let recent = self
            .peers
            .get(&mid)
            .is_some_and(|p| p.address == address && now.saturating_duration_since(p.last_seen) < HEARD_LATELY);
        let session = self.session_at(address);
        session.expect = Some(mid);
        session.since = session.since.or(Some(now));
        if recent {
            session.connect_at = Some(now);
            self.connect_now(now, address);
        } else {
            session.connect_at = Some(now + OPEN_WAIT);
            self.send_opener(now, address);
        }
        self.ask_introducers(now, mid);
    }

    /// A one-byte datagram with a low TTL: it makes this node's NATs map (and open) towards
    /// `address` and dies before the far NAT. Should a short path let it arrive, the far
    /// node counts it as not ours. None goes to an address in its dry spell after failed
    /// punches (`quiet.rs`): it would keep this node's mapping there alive, which may be the
    /// moved one.
    pub(super) fn send_opener(&mut self, now: Instant, address: SocketAddr) {
        if self.quiet.dry(now, &address) {
            return;
        }
        if self.out.push_ttl(Some(self.config.local), address, Some(self.config.opener_ttl), &[0]).is_err() {
            self.stats.queue_full += 1;
        }
    }

    /// Asked to puncture towards a walker at `to`: the puncture goes after
    /// `Config::puncture_delay`, so the walker's opener leaves its NATs first. At most
    /// [`PENDING`] wait; a request beyond that is refused.
    /// `ports` above 1: the walker's NAT gives out ports in sequence, and its flow towards
    /// this node is predicted at `to`'s port; the ports above get low-TTL openers first, so
    /// this node's NATs let in whichever of them the walker's flow turns out to have (§7.2).
    pub(super) fn puncture_later(
        &mut self,
        now: Instant,
        to: SocketAddr,
        identifier: u16,
        walker: Option<Mid>,
        ports: u8,
    ) {
        if self.punctures.iter().any(|(_, t, i, ..)| *t == to && *i == identifier) {
            // The same walker's request through another introducer: one puncture is enough.
            return;
        }
        if self.punctures.len() >= PENDING {
            self.stats.punctures_refused += 1;
            return;
        }
        self.punctures.push_back((
            now + self.config.puncture_delay,
            to,
            identifier,
            walker,
            ports.clamp(1, PORT_WINDOW),
        ));
        if self.config.puncture_delay.is_zero() {
            self.puncture_timeout(now);
        }
    }

    /// Asked, while predicting, to puncture towards a window of `ports` ports from `at`: if
    /// that is the target of an introduction this node asked for with a window of its own
    /// (both NATs give out ports in sequence, §7.2), the target has opened its flows towards
    /// this node's window, the one towards port `first + j` leaving from `at + j − 1` (the
    /// last, `first`'s, from `at + ports − 1`). This node's next flow leaves from
    /// `first + j`: its signed puncture goes there at full TTL, into the target's NAT, and
    /// its stream follows on the same flow. Returns whether it did.
    pub(super) fn meet_in_window(
        &mut self,
        now: Instant,
        at: SocketAddr,
        identifier: u16,
        target: Mid,
        ports: u8,
    ) -> bool {
        if ports < 2 || !self.predicts_ports(now) {
            return false;
        }
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        let fresh = |i: &PendingIntro| i.target == target && i.identifier == identifier && !i.answer && i.at >= cutoff;
        let Some(pos) = self.pending_intros.iter().rposition(fresh) else {
            return false;
        };
        let pending = &self.pending_intros[pos];
        if pending.met == Some(identifier) {
            return true;
        }
        let Some(first) = pending.window else { return false };
        let Some(j) = self.predict_port(now, None, &[]).and_then(|next| next.checked_sub(first)) else { return false };
        if j >= u16::from(ports) {
            return false;
        }
        let offset = if j == 0 { u16::from(ports) - 1 } else { j - 1 };
        let Some(port) = at.port().checked_add(offset) else { return false };
        let to = SocketAddr::new(at.ip(), port);
        let t = self.tick();
        let payload =
            Payload::Puncture(Puncture { source_lan: self.config.local, source_wan: self.my_wan(), identifier });
        self.send_signed(to, payload, t);
        self.pending_intros[pos].met = Some(identifier);
        self.stats.window_meetings += 1;
        self.redirect(now, target, to);
        true
    }

    /// Both NATs give out ports in sequence and both nodes asked for the other at once: each
    /// window the other opens takes 8 of this node's flows, which would move this node's own
    /// next port out of the window the other is opening towards. The node with the smaller
    /// member id opens none and meets the other's window instead (§7.2).
    pub(super) fn yields_window(&self, now: Instant, walker: Mid, ports: u8) -> bool {
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        ports > 1
            && self.mid() < walker
            && self.predicts_ports(now)
            && self.pending_intros.iter().any(|i| i.target == walker && i.window.is_some() && i.at >= cutoff)
    }

    /// Whether this node's NAT maps per destination and gives out ports in sequence (§7.2).
    pub(super) fn predicts_ports(&self, now: Instant) -> bool {
        self.wan.looks_symmetric() && self.ports.predict(now, self.config.local, None, []).is_some()
    }

    /// The predicted external port of this node's flow towards `remote` (with none, of its
    /// next new flow) once what is queued, and then datagrams to `then`, have left: each of
    /// those that opens a flow takes a port first (§7.2).
    pub(super) fn predict_port(&self, now: Instant, remote: Option<SocketAddr>, then: &[SocketAddr]) -> Option<u16> {
        let local = self.config.local;
        let queued = self.out.destinations().filter(|(s, _)| s.is_none_or(|s| s == local)).map(|(_, d)| d);
        self.ports.predict(now, local, remote, queued.chain(then.iter().copied()))
    }

    /// Sends the punctures that are due (not to an address being left alone).
    pub(super) fn puncture_timeout(&mut self, now: Instant) {
        while let Some(&(at, to, identifier, walker, ports)) = self.punctures.front() {
            if at > now {
                break;
            }
            self.punctures.pop_front();
            let punch = if walker.is_some() { super::quiet::Punch::Asked } else { super::quiet::Punch::Puncture };
            if !self.may_punch(now, to, punch) {
                continue;
            }
            for port in (1..u16::from(ports)).filter_map(|k| to.port().checked_add(k)) {
                self.send_opener(now, SocketAddr::new(to.ip(), port));
            }
            // A node behind a sequentially allocating symmetric NAT punctures with a packet
            // that dies before the walker's NAT: the flow it opens is the one its stream
            // towards the walker would take, and a full-TTL packet there would leave state at
            // a Linux router that moves the walker's own mapping towards that port (§7.1),
            // spoiling the predicted punch (§7.2). A walker that asked for it by key is asked
            // in turn to puncture towards the predicted port, through the introducers.
            let predicts = self.predicts_ports(now);
            let ttl = predicts.then_some(self.config.opener_ttl);
            let t = self.tick();
            let payload =
                Payload::Puncture(Puncture { source_lan: self.config.local, source_wan: self.my_wan(), identifier });
            self.send_signed_ttl(to, payload, t, ttl);
            // A walker that asked by key is asked for in turn. If its NAT gives out ports in
            // sequence too (a window above 1), its own puncture must come into one of this
            // node's new flows towards its window: these opened in order (the ports above,
            // then the predicted one), and the walker is told where the first leaves from
            // (`meet_in_window`). Otherwise its puncture goes to this node's predicted port.
            if let Some(walker) = walker.filter(|_| predicts) {
                let first = to.port().checked_add(1).map(|p| SocketAddr::new(to.ip(), p));
                // Only when every flow towards the window is new: a live one keeps its old
                // port, and the ports would not follow each other.
                let local = self.config.local;
                let fresh = (0..u16::from(ports))
                    .filter_map(|k| to.port().checked_add(k))
                    .all(|p| !self.ports.is_live(now, local, SocketAddr::new(to.ip(), p)));
                let window = first
                    .filter(|_| ports > 1 && fresh)
                    .and_then(|first| self.predict_port(now, Some(first), &[]))
                    .map(|port| (PortWindow { first: port, count: ports }, identifier));
                if self.may_ask_in_turn(now, walker, window.is_some()) {
                    self.ask_introducers_with(now, walker, window);
                }
            }
        }
    }

    /// Whether to ask the introducers for `walker`'s puncture in turn: an asked-for puncture
    /// request is unsigned and may be forged, and each turn sends signed requests to several
    /// introducers. So at most [`ASK_IN_TURN_PER_SEC`] a second in all, and, unless it names
    /// a window of new flows (each request opens its own), once per walker while an
    /// introduction to it is pending.
    fn may_ask_in_turn(&mut self, now: Instant, walker: Mid, window: bool) -> bool {
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        if !window && self.pending_intros.iter().any(|p| p.target == walker && p.at >= cutoff) {
            return false;
        }
        if !self.asked_in_turn.take(now, 1, ASK_IN_TURN_PER_SEC) {
            self.stats.punctures_refused += 1;
            return false;
        }
        true
    }

    /// A stream waiting for its peer's puncture: try again (a new opener, introducers asked
    /// again) up to [`OPEN_TRIES`] times, then open it anyway. Not towards an address whose
    /// punches failed before (`quiet.rs`): there a blind handshake would poison the peer's
    /// router again, so the node asks up to [`PATIENT_TRIES`] times and then gives the
    /// attempt up (its messages went by relay meanwhile if a relay was known, and are
    /// reported failed otherwise; the next direct retry starts anew).
    pub(super) fn open_due(&mut self, now: Instant, address: SocketAddr) {
        let failed = self.quiet.failed_before(now, &address) && !self.endpoint.is_established(address);
        let Some(s) = self.sessions.get_mut(&address) else { return };
        if failed && s.opens + 1 >= PATIENT_TRIES {
            self.end_session(address, super::SendFailure::NoRoute);
            return;
        }
        if s.opens + 1 < OPEN_TRIES || failed {
            s.opens += 1;
            s.connect_at = Some(now + OPEN_WAIT);
            let mid = s.expect;
            self.send_opener(now, address);
            if let Some(mid) = mid {
                self.ask_introducers(now, mid);
            }
            return;
        }
        self.connect_now(now, address);
    }

    /// Opens the P2TP stream of the session at `address`, now.
    pub(super) fn connect_now(&mut self, now: Instant, address: SocketAddr) {
        let Some(s) = self.sessions.get_mut(&address) else { return };
        if s.connect_at.take().is_none() {
            return;
        }
        if !self.endpoint.is_established(address) && !self.may_punch(now, address, super::quiet::Punch::Handshake) {
            self.end_session(address, super::SendFailure::NoRoute);
            return;
        }
        let Some(s) = self.sessions.get_mut(&address) else { return };
        // The peer opened a stream here meanwhile: no Opened will come for it, so this
        // side says hello now.
        if self.endpoint.is_established(address) {
            s.opened = true;
            self.send_hello(now, address);
            return;
        }
        if self.endpoint.connect(now, address).is_err() {
            self.end_session(address, super::SendFailure::NoRoute);
        }
    }

    /// This node's public address changed: every verified stream is opened again from it, and
    /// each peer is asked, through introducers, to puncture towards it.
    pub(super) fn resume_streams(&mut self, now: Instant) {
        // LAN streams do not pass the NAT whose address changed: they stay.
        let streams: Vec<(Mid, SocketAddr)> =
            self.connected.iter().filter(|(_, a)| !super::is_private(a.ip())).map(|(m, a)| (*m, *a)).collect();
        for (mid, address) in &streams {
            self.connected.remove(mid);
            self.resuming.insert(*mid);
            self.remove_session(address);
            self.endpoint.close(now, *address);
        }
        // The closes are reported now, before the new streams take the same addresses.
        self.pump(now);
        for (mid, address) in streams {
            self.open_stream(now, mid, address);
        }
    }
}

/// What `on_verified` reports for a peer just verified at `address`.
pub(super) fn verified_event(
    mid: Mid,
    address: SocketAddr,
    previous: Option<SocketAddr>,
    resumed: bool,
    path: super::PathKind,
) -> Option<Event> {
    match previous {
        Some(old) if old == address => None,
        Some(_) => Some(Event::PathChanged { mid, address }),
        None if resumed => Some(Event::PathChanged { mid, address }),
        None => Some(Event::Connected { mid, address, path }),
    }
}
