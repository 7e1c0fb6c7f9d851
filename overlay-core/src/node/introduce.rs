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
use crate::wire::{IntroduceMe, Payload, Puncture, PunctureRequest};

/// Introducers asked per stream opened.
const ASKED: usize = 3;
/// Introductions awaiting their puncture, at most, and for how long.
pub(super) const PENDING: usize = 64;
const PENDING_LIFETIME: Duration = Duration::from_secs(10);

impl<S: Store> Node<S> {
    /// Asks up to three introducers to have `target` puncture towards this node.
    pub(super) fn ask_introducers(&mut self, now: Instant, target: Mid) {
        let fresh = self.config.peer_timeout;
        let mut recent: Vec<(Instant, SocketAddr)> = self
            .introducers
            .iter()
            .filter(|(_, (t, _, _))| now.saturating_duration_since(*t) <= fresh)
            .map(|(a, (t, _, _))| (*t, *a))
            .collect();
        recent.sort_by(|a, b| b.cmp(a));
        let target_at = self.peers.get(&target).map(|p| p.address);
        let mut via: Vec<SocketAddr> = Vec::with_capacity(ASKED);
        for a in recent.into_iter().map(|(_, a)| a).chain(self.config.bootstrap.iter().copied()) {
            if via.len() < ASKED && !via.contains(&a) && Some(a) != target_at {
                via.push(a);
            }
        }
        if via.is_empty() {
            return;
        }
        let t = self.tick();
        let identifier = (t % 65_536) as u16;
        for to in via {
            let payload = Payload::IntroduceMe(IntroduceMe { target, source_lan: self.config.local, identifier });
            self.send_signed(to, payload, t);
        }
        let cutoff = now.saturating_sub(PENDING_LIFETIME);
        self.pending_intros.retain(|(_, _, at)| *at >= cutoff);
        if self.pending_intros.len() >= PENDING {
            self.pending_intros.pop_front();
        }
        self.pending_intros.push_back((identifier, target, now));
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
            let oldest = self.asked.iter().min_by_key(|(a, (t, _))| (*t, **a)).map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.asked.remove(&a);
            }
        }
        let (window, count) = self.asked.entry(from).or_insert((now, 0));
        if now.saturating_duration_since(*window) >= Duration::from_secs(1) {
            (*window, *count) = (now, 0);
        }
        if *count >= budget {
            self.stats.introductions_refused += 1;
            return;
        }
        *count += 1;
        let Some(to) = self.peers.get(&p.target).map(|t| t.address) else {
            self.stats.introductions_refused += 1;
            return;
        };
        let request = PunctureRequest { lan_walker: p.source_lan, wan_walker: from, identifier: p.identifier };
        self.send_unsigned(to, Payload::PunctureRequest(request));
        self.stats.introductions_made += 1;
    }

    /// A signed puncture: if it answers an introduction this node asked for, its sender is at
    /// `from` now, and a stream still opening elsewhere moves there.
    pub(super) fn on_puncture(&mut self, now: Instant, from: SocketAddr, key: PeerKey, p: &Puncture) {
        self.stats.punctures_received += 1;
        let mid = key.mid();
        let Some(pos) = self.pending_intros.iter().position(|(id, m, _)| *id == p.identifier && *m == mid) else {
            return;
        };
        self.pending_intros.remove(pos);
        self.redirect(now, mid, from);
    }

    /// Moves the opening stream to `mid` to `address`, keeping the messages it holds.
    fn redirect(&mut self, now: Instant, mid: Mid, address: SocketAddr) {
        if self.connected.get(&mid) == Some(&address) || self.sessions.contains_key(&address) {
            return;
        }
        let old = self.sessions.iter().find(|(_, s)| s.expect == Some(mid) && !s.verified).map(|(a, _)| *a);
        if self.endpoint.connect(now, address).is_err() {
            return;
        }
        let mut session = self.new_session(Some(mid));
        if let Some(old) = old
            && let Some(mut previous) = self.remove_session(&old)
        {
            session.outbox = core::mem::take(&mut previous.outbox);
            self.held += session.held();
            self.endpoint.close(now, old);
        }
        self.sessions.insert(address, session);
        self.stats.redirects += 1;
    }

    /// This node's public address changed: every verified stream is opened again from it, and
    /// each peer is asked, through introducers, to puncture towards it.
    pub(super) fn resume_streams(&mut self, now: Instant) {
        let streams: Vec<(Mid, SocketAddr)> = self.connected.iter().map(|(m, a)| (*m, *a)).collect();
        for (mid, address) in &streams {
            self.connected.remove(mid);
            self.resuming.insert(*mid);
            self.remove_session(address);
            self.endpoint.close(now, *address);
        }
        // The closes are reported now, before the new streams take the same addresses.
        self.pump(now);
        for (mid, address) in streams {
            if self.endpoint.connect(now, address).is_ok() {
                let session = self.new_session(Some(mid));
                self.sessions.insert(address, session);
            }
            self.ask_introducers(now, mid);
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
