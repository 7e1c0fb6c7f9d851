//! Messages by key over identified P2TP streams (`docs/overlay.md` §4): `send`, the hello
//! exchange that binds a stream to a key, and the stream events.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, Machine};
use sync_core::Store;

use super::relay::RELAY_AFTER;
use super::{Delivery, Event, Node, PathKind, SendError, SendFailure, is_private};
use crate::identity::Mid;
use crate::session::{
    DATA, FRAME_OVERHEAD, HELD, HELD_TOTAL, HELLO, HELLO_INTERVAL, HELLO_TRIES, Hello, Session, StreamKeys,
};

/// An unverified stream starts over at most this many times.
const MAX_RESTARTS: u32 = 3;

/// A stream still opening asks introducers again at most this often.
const ASK_AGAIN: core::time::Duration = core::time::Duration::from_secs(2);

/// Node-side errors for a P2TP refusal.
fn transport_error(e: p2tp_core::SendError) -> SendError {
    match e {
        p2tp_core::SendError::TooLarge { len, max } => {
            SendError::TooLarge { len: len.saturating_sub(FRAME_OVERHEAD), max: max.saturating_sub(FRAME_OVERHEAD) }
        }
        p2tp_core::SendError::Closing => SendError::Closing,
        p2tp_core::SendError::NoStream => SendError::UnknownPeer,
        _ => SendError::QueueFull,
    }
}

impl<S: Store> Node<S> {
    /// Peers with a verified stream, and where it runs.
    pub fn connected(&self) -> impl Iterator<Item = (Mid, SocketAddr)> + '_ {
        self.connected.iter().map(|(m, a)| (*m, *a))
    }
    /// The path figures of the stream to a connected peer (RTT, rate, loss, counters).
    pub fn path_stats(&self, mid: &Mid) -> Option<p2tp_core::PathStats> {
        self.connected.get(mid).and_then(|a| self.endpoint.path_stats(*a))
    }
    /// The largest message [`send`](Self::send) takes (a P2TP datagram less the 25 bytes of
    /// framing and MAC).
    pub fn max_message(&self) -> usize {
        self.endpoint.config().max_datagram() - FRAME_OVERHEAD
    }

    /// Sends one message to the peer with member id `mid`: at once over its verified
    /// stream, or, if there is none, over a new P2TP stream to the address the peer was last
    /// heard from (or its latest Binding record names), once the peer's hello proves its key
    /// ([`Event::Connected`]). Like any datagram it may be lost; the peer's path figures tell
    /// how often that happens. Messages are authenticated (a MAC per frame, replays dropped),
    /// not encrypted. Returns how the message went: on the stream, through a relay, or held
    /// while a stream opens ([`Delivery`]).
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownPeer`] if the node knows no address for `mid`;
    /// [`SendError::QueueFull`] is back-pressure; the others are permanent for this message.
    pub fn send(&mut self, now: Instant, mid: &Mid, data: &[u8]) -> Result<Delivery, SendError> {
        let max = self.max_message();
        if data.len() > max {
            return Err(SendError::TooLarge { len: data.len(), max });
        }
        let result = self.send_payload(now, mid, data);
        self.pump(now);
        result
    }

    fn send_payload(&mut self, now: Instant, mid: &Mid, data: &[u8]) -> Result<Delivery, SendError> {
        if let Some(&address) = self.connected.get(mid) {
            return self.send_sealed(now, address, data).map(|()| Delivery::Stream);
        }
        let opening =
            self.sessions.iter().find(|(_, s)| s.expect == Some(*mid) && !s.verified).map(|(a, s)| (*a, s.since));
        // A peer reached by relay lately, or one whose stream has been opening for too long:
        // by relay (a direct stream is tried meanwhile; it takes over once it verifies).
        let stalled =
            opening.is_some_and(|(_, since)| since.is_some_and(|t| now.saturating_duration_since(t) >= RELAY_AFTER));
        // With no stream opening: where the peer was last heard from, or else where its
        // latest Binding record says (looked up once: the record may be a store read).
        let known_at = if opening.is_none() {
            self.peers.get(mid).map(|p| p.address).or_else(|| self.binding_of(mid))
        } else {
            None
        };
        // A peer whose address is being left alone after failed punches (`quiet.rs`): by
        // relay too.
        let quiet = known_at.is_some_and(|a| self.quiet.holds_streams(now, &a));
        if stalled || quiet || self.relaying(now, mid) {
            let sent = self.relay_send(now, *mid, data).map(|()| Delivery::Relay);
            if let Some(address) = known_at
                && !self.sessions.contains_key(&address)
                && self.endpoint.streams() < self.endpoint.config().max_streams
            {
                self.open_stream(now, *mid, address);
            }
            return sent;
        }
        if let Some((address, _)) = opening {
            // Still opening: ask the introducers again now and then (their punctures, or the
            // peer's NAT, may have been lost or closed since).
            let again = |s: &Session| s.asked_at.is_none_or(|t| now.saturating_duration_since(t) >= ASK_AGAIN);
            if self.sessions.get(&address).is_some_and(again) {
                self.ask_introducers(now, *mid);
                if let Some(s) = self.sessions.get_mut(&address) {
                    s.asked_at = Some(now);
                }
            }
            return self.hold(address, data).map(|()| Delivery::Held);
        }
        let Some(address) = known_at else {
            // No address, but a key from its records: a relay can still reach it, and the
            // peer's puncture, asked of the introducers, will say where it is.
            if self.keys.contains_key(mid) {
                self.ask_introducers(now, *mid);
                return self.relay_send(now, *mid, data).map(|()| Delivery::Relay);
            }
            return Err(SendError::UnknownPeer);
        };
        if let Some(s) = self.sessions.get(&address) {
            // Another key holds a stream at that address now (the peer moved), or it is being
            // opened for another peer: this one cannot be reached there.
            if s.key.is_some_and(|k| k.mid() != *mid) || s.expect.is_some_and(|m| m != *mid) || s.verified {
                return Err(SendError::UnknownPeer);
            }
        }
        if self.endpoint.streams() >= self.endpoint.config().max_streams {
            return Err(SendError::NoRoute(p2tp_core::ConnectError::StreamLimit));
        }
        self.open_stream(now, *mid, address);
        self.hold(address, data).map(|()| Delivery::Held)
    }

    /// Sends `data` over the verified stream at `address`.
    fn send_sealed(&mut self, now: Instant, address: SocketAddr, data: &[u8]) -> Result<(), SendError> {
        let Some(s) = self.sessions.get_mut(&address) else { return Err(SendError::UnknownPeer) };
        let Some(keys) = &s.keys else { return Err(SendError::UnknownPeer) };
        let frame = keys.seal(s.sent, data);
        self.endpoint.send(now, address, &frame).map_err(transport_error)?;
        s.sent += 1;
        Ok(())
    }

    /// Holds `data` until the peer at `address` is verified.
    fn hold(&mut self, address: SocketAddr, data: &[u8]) -> Result<(), SendError> {
        if self.held >= HELD_TOTAL {
            return Err(SendError::QueueFull);
        }
        let Some(s) = self.sessions.get_mut(&address) else { return Err(SendError::UnknownPeer) };
        if s.outbox.len() >= HELD {
            return Err(SendError::QueueFull);
        }
        s.outbox.push_back(data.to_vec());
        self.held += 1;
        Ok(())
    }

    /// The session at `address`, made if there is none.
    pub(super) fn session_at(&mut self, address: SocketAddr) -> &mut Session {
        if !self.sessions.contains_key(&address) {
            let session = self.new_session(None);
            self.sessions.insert(address, session);
        }
        let Some(s) = self.sessions.get_mut(&address) else { unreachable!("inserted above") };
        s
    }

    /// A fresh session: its nonce and ephemeral key from the node's generator.
    pub(super) fn new_session(&mut self, expect: Option<Mid>) -> Session {
        let mine = self.rng.next_u64();
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        Session::new(expect, mine, secret)
    }

    /// Forgets the session at `address` (no events), keeping the held count right.
    pub(super) fn remove_session(&mut self, address: &SocketAddr) -> Option<Session> {
        let s = self.sessions.remove(address)?;
        self.held -= s.held();
        Some(s)
    }

    /// Closes the stream to a connected peer; returns whether there was one.
    pub fn disconnect(&mut self, now: Instant, mid: &Mid) -> bool {
        let Some(&address) = self.connected.get(mid) else { return false };
        let closed = self.endpoint.close(now, address);
        self.pump(now);
        closed
    }

    /// Sends the hellos that are due (giving up on streams whose peer never answered), then
    /// handles what the P2TP endpoint reported.
    pub(super) fn pump(&mut self, now: Instant) {
        let opening: Vec<SocketAddr> =
            self.sessions.iter().filter(|(_, s)| s.connect_at.is_some_and(|t| t <= now)).map(|(a, _)| *a).collect();
        for address in opening {
            self.open_due(now, address);
        }
        // Streams opening for too long hand what they hold to a relay.
        let stalled: Vec<SocketAddr> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.verified && !s.outbox.is_empty() && s.since.is_some_and(|t| t + RELAY_AFTER <= now))
            .map(|(a, _)| *a)
            .collect();
        for address in stalled {
            let Some(mid) = self.sessions.get(&address).and_then(|s| s.expect) else { continue };
            if self.relays_for(&mid).is_empty() {
                // No relay to try: the messages wait for the direct stream (or its failure).
                continue;
            }
            let Some(s) = self.sessions.get_mut(&address) else { continue };
            let outbox = core::mem::take(&mut s.outbox);
            self.held -= outbox.len();
            let mut dropped = 0;
            for data in outbox {
                if self.relay_send(now, mid, &data).is_err() {
                    dropped += 1;
                }
            }
            if dropped > 0 {
                self.events.push_back(Event::SendFailed { mid, reason: SendFailure::NoRoute, dropped });
            }
        }
        let due: Vec<SocketAddr> =
            self.sessions.iter().filter(|(_, s)| s.next_hello.is_some_and(|t| t <= now)).map(|(a, _)| *a).collect();
        for address in due {
            let Some(s) = self.sessions.get(&address) else { continue };
            if s.hellos >= HELLO_TRIES {
                let failure = if s.key.is_some() { SendFailure::Closed } else { SendFailure::NoHello };
                self.end_session(address, failure);
                self.endpoint.close(now, address);
                continue;
            }
            self.send_hello(now, address);
        }
        while let Some(e) = self.endpoint.poll_event() {
            match e {
                p2tp_core::Event::Opened { peer } => self.on_opened(now, peer),
                p2tp_core::Event::Datagram { peer, data } => self.on_stream_data(now, peer, &data),
                p2tp_core::Event::OpenFailed { peer, .. } => self.end_session(peer, SendFailure::NoRoute),
                p2tp_core::Event::Closed { peer, .. } => self.end_session(peer, SendFailure::Closed),
                _ => {}
            }
        }
    }

    pub(super) fn send_hello(&mut self, now: Instant, address: SocketAddr) {
        let (key, mid) = (self.key, self.mid);
        let Some(s) = self.sessions.get_mut(&address) else { return };
        let recipient = s.key.map_or(Mid([0; 20]), |k| k.mid());
        debug_assert_ne!(recipient, mid);
        let what = (s.verified, s.yours, recipient);
        if s.cached.as_ref().is_none_or(|(w, _)| *w != what) {
            let hello =
                Hello { key, verified_you: s.verified, mine: s.mine, yours: s.yours, recipient, ephemeral: s.public };
            s.cached = Some((what, hello.encode(&self.identity)));
        }
        s.hellos += 1;
        s.last_hello = Some(now);
        s.next_hello = (!s.verified).then(|| now + HELLO_INTERVAL);
        let Some((_, bytes)) = &s.cached else { return };
        // A full stream queue loses this hello; the next one is due in 500 ms.
        let _ = self.endpoint.send(now, address, bytes);
    }

    fn on_opened(&mut self, now: Instant, address: SocketAddr) {
        self.opened_seq += 1;
        let seq = self.opened_seq;
        let s = self.session_at(address);
        s.opened = true;
        s.connect_at = None;
        s.opened_at = Some(now);
        s.opened_seq = seq;
        let incoming = s.expect.is_none();
        // Admission first: a newcomer it closes costs no signed hello.
        if incoming && !self.admit(now, address) {
            return;
        }
        self.send_hello(now, address);
    }

    /// Trust-aware admission (`docs/overlay.md` §4): streams others open to this node take
    /// room the node's own peers may need. Unverified ones (no key proved yet, but the
    /// handshake proved the address) are held to `max_unverified`: past it, those ranked
    /// lowest close, ranked by the most trust in any key heard from their address (unknown
    /// addresses rank 0), the oldest first among equals, the newcomer included. One from the
    /// address of a peer the node relates to is never closed. And when the live streams
    /// nearly fill the table, a verified stream a peer opened whose key has no trust here
    /// makes way. A stream to a trusted peer, one this node opened, or the one being
    /// admitted, is never closed for a verified newcomer.
    /// Returns whether the newcomer at `address` was admitted.
    fn admit(&mut self, now: Instant, address: SocketAddr) -> bool {
        if self.rank_unverified(now, address) {
            return false;
        }
        let limit = self.endpoint.config().max_streams;
        if self.endpoint.streams() + limit / 16 < limit {
            return true;
        }
        // Draining streams make room by themselves (the endpoint reaps them at the limit).
        let live = self.endpoint.streams() - self.endpoint.draining();
        if live + limit / 16 < limit {
            return true;
        }
        // Nearly full of live streams: the oldest verified stream a peer opened whose key
        // has no trust here goes (directly trusted ones are skipped cheaply; MeritRank is
        // asked about the eight oldest others at most).
        let mut candidates: Vec<(u64, SocketAddr, sync_core::PublicKey)> = self
            .sessions
            .iter()
            .filter(|(a, s)| **a != address && s.verified && s.expect.is_none() && s.outbox.is_empty())
            .filter_map(|(a, s)| s.key.map(|k| (s.opened_seq, *a, k.ed25519())))
            .collect();
        candidates.sort_unstable_by_key(|(seq, a, _)| (*seq, *a));
        let mut asked = 0;
        for (_, a, key) in candidates {
            if sync_core::Reputation::trusts_directly(self.sync.reputation_mut(), &key) {
                continue;
            }
            if asked == 8 {
                break;
            }
            asked += 1;
            if sync_core::Reputation::reputation(self.sync.reputation_mut(), &key) <= 0.0 {
                self.end_session(a, SendFailure::Closed);
                self.endpoint.close(now, a);
                self.stats.admission_closed += 1;
                break;
            }
        }
        true
    }

    /// Closes the unverified streams ranked lowest while there are more than
    /// `max_unverified` (the one at `newcomer` included); returns whether the newcomer was one.
    fn rank_unverified(&mut self, now: Instant, newcomer: SocketAddr) -> bool {
        let unverified: Vec<(u64, SocketAddr)> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.verified && s.expect.is_none() && s.opened)
            .map(|(a, s)| (s.opened_seq, *a))
            .collect();
        let Some(excess) = unverified.len().checked_sub(self.config.max_unverified).filter(|e| *e > 0) else {
            return false;
        };
        // The keys heard from each address (one pass over the table; two keys may share one,
        // a peer that changed its key or one that claims another's address), and the
        // addresses of peers the node relates to, which keep their streams.
        let wanted: BTreeSet<SocketAddr> = unverified.iter().map(|(_, a)| *a).collect();
        let mut heard: BTreeMap<SocketAddr, Vec<sync_core::PublicKey>> = BTreeMap::new();
        for p in self.peers.iter().filter(|p| wanted.contains(&p.address)) {
            heard.entry(p.address).or_default().push(p.key.ed25519());
        }
        let preferred: BTreeSet<SocketAddr> = self.preferred.values().copied().collect();
        let mut ranked: Vec<(f64, u64, SocketAddr)> = Vec::with_capacity(unverified.len());
        'streams: for (seq, a) in unverified {
            if preferred.contains(&a) {
                continue;
            }
            // The most any key heard there is trusted: a key planted at the address can
            // neither protect a stranger (it is not trusted) nor demote a friend.
            let mut trust = 0.0f64;
            for key in heard.get(&a).into_iter().flatten() {
                let reputation = self.sync.reputation_mut();
                if sync_core::Reputation::trusts_directly(reputation, key) {
                    continue 'streams;
                }
                trust = trust.max(sync_core::Reputation::reputation(reputation, key));
            }
            ranked.push((trust, seq, a));
        }
        ranked.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let mut newcomer_closed = false;
        for (_, _, a) in ranked.into_iter().take(excess) {
            self.remove_session(&a);
            self.endpoint.close(now, a);
            self.stats.admission_closed += 1;
            newcomer_closed |= a == newcomer;
        }
        newcomer_closed
    }

    fn on_stream_data(&mut self, now: Instant, address: SocketAddr, data: &[u8]) {
        match data.first() {
            Some(&HELLO) => self.on_hello(now, address, data),
            Some(&DATA) => {
                let Some(s) = self.sessions.get_mut(&address) else {
                    self.stats.bad_stream_data += 1;
                    return;
                };
                if s.verified {
                    let (Some(key), Some(keys)) = (s.key, &s.keys) else { return };
                    match keys.open(data) {
                        Some((counter, payload)) if s.window.accept(counter) => {
                            let path = if is_private(address.ip()) { PathKind::Lan } else { PathKind::Direct };
                            self.events.push_back(Event::Message { mid: key.mid(), data: payload.to_vec(), path });
                        }
                        Some(_) => self.stats.replayed_frames += 1,
                        None => self.stats.bad_macs += 1,
                    }
                    return;
                }
                if s.inbox.len() >= HELD || self.held >= HELD_TOTAL {
                    self.stats.held_dropped += 1;
                } else {
                    s.inbox.push_back(data.to_vec());
                    self.held += 1;
                }
                // The peer thinks it is verified: our hello (or its) was lost; say it again.
                if s.opened && s.may_answer(now) {
                    self.send_hello(now, address);
                }
            }
            _ => self.stats.bad_stream_data += 1,
        }
    }

    fn on_hello(&mut self, now: Instant, address: SocketAddr, data: &[u8]) {
        // The same bytes as the last valid hello need no second verification.
        let known = self.sessions.get(&address).and_then(|s| s.last_in.as_ref()).filter(|(b, _)| b == data);
        let hello = match known {
            Some((_, h)) => *h,
            None => {
                let Some(h) = Hello::decode(data, &self.config.verifier) else {
                    self.stats.bad_hellos += 1;
                    return;
                };
                h
            }
        };
        if hello.key == self.key {
            self.stats.bad_stream_data += 1;
            return;
        }
        let me = self.mid;
        let s = self.session_at(address);
        if s.key.is_some_and(|k| k != hello.key) || s.peer_ephemeral.is_some_and(|e| e != hello.ephemeral) {
            // A stream has one peer key and one ephemeral key: the first valid hello fixes
            // both. A verified stream keeps them (a hello replayed or made by someone else
            // must not tear it down). An unverified one starts over for a peer that starts
            // over (echoing no nonce), or for the key it was opened for.
            let expected = s.expect.is_some_and(|m| m == hello.key.mid());
            if s.verified || (hello.yours != 0 && !expected) || s.restarts >= MAX_RESTARTS {
                self.stats.bad_hellos += 1;
                return;
            }
            self.restart_session(address);
        }
        let s = self.session_at(address);
        if s.last_in.as_ref().is_none_or(|(b, _)| b != data) {
            s.last_in = Some((data.to_vec(), hello));
        }
        s.key = Some(hello.key);
        s.peer_ephemeral = Some(hello.ephemeral);
        s.yours = hello.mine;
        let names_me = hello.recipient == me;
        let mut fresh = false;
        if !s.verified && hello.yours == s.mine && names_me {
            let Some(keys) = StreamKeys::derive(&s.secret, &hello.ephemeral, s.mine, s.yours) else {
                self.stats.bad_hellos += 1;
                return;
            };
            (s.verified, s.keys, s.next_hello, fresh) = (true, Some(keys), None, true);
        }
        // A hello that shows the peer lacks this side's nonce or key gets one immediate answer
        // per thing it lacks; one that makes this side verify the peer is answered at once;
        // any other at most every 100 ms.
        let lacks = (hello.yours, names_me);
        let informative = (hello.yours != s.mine || !names_me) && s.answered != Some(lacks);
        let answer = !hello.verified_you && (informative || fresh || s.may_answer(now));
        if answer && informative {
            s.answered = Some(lacks);
        }
        if fresh {
            self.on_verified(now, address, hello.key.mid());
        }
        if answer && self.sessions.contains_key(&address) {
            self.send_hello(now, address);
        }
    }

    /// The peer at `address` started over: the session is reset (a verified peer is
    /// disconnected until it proves its key again; what waits to be sent stays).
    fn restart_session(&mut self, address: SocketAddr) {
        let mine = self.rng.next_u64();
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        let Some(s) = self.sessions.get_mut(&address) else { return };
        let was = s.key.filter(|_| s.verified).map(|k| k.mid());
        self.held -= s.inbox.len();
        let restarts = s.restarts + 1;
        s.restart(mine, secret);
        s.restarts = restarts;
        if let Some(mid) = was {
            s.expect = s.expect.or(Some(mid));
            if self.connected.get(&mid) == Some(&address) {
                self.connected.remove(&mid);
                self.events.push_back(Event::Disconnected { mid, address });
            }
        }
        self.stats.restarts += 1;
    }

    fn on_verified(&mut self, now: Instant, address: SocketAddr, mid: Mid) {
        // Other streams still opening towards the same peer give their messages to this one.
        let others: Vec<SocketAddr> = self
            .sessions
            .iter()
            .filter(|(a, s)| **a != address && s.expect == Some(mid) && !s.verified)
            .map(|(a, _)| *a)
            .collect();
        let mut moved = Vec::new();
        for other in others {
            if let Some(mut o) = self.remove_session(&other) {
                moved.extend(core::mem::take(&mut o.outbox));
                // Harmless when no stream was opened yet.
                self.endpoint.close(now, other);
            }
        }
        let Some(s) = self.sessions.get_mut(&address) else { return };
        let outbox = core::mem::take(&mut s.outbox);
        let inbox = core::mem::take(&mut s.inbox);
        let expect = s.expect.take();
        // The moved ones left the held count with their sessions; they are for `mid`
        // whatever this session expected.
        self.held -= outbox.len() + inbox.len();
        for data in &moved {
            if self.send_sealed(now, address, data).is_err() {
                self.stats.queue_full += 1;
            }
        }
        if let Some(expected) = expect
            && expected != mid
        {
            // Another key answered where the peer was: whatever waited for it is dropped.
            if self.resuming.remove(&expected) {
                self.events.push_back(Event::Disconnected { mid: expected, address });
            }
            if !outbox.is_empty() {
                let dropped = outbox.len();
                self.events.push_back(Event::SendFailed { mid: expected, reason: SendFailure::WrongPeer, dropped });
            }
        } else {
            for data in &outbox {
                if self.send_sealed(now, address, data).is_err() {
                    self.stats.queue_full += 1;
                }
            }
        }
        // A direct path replaces any relay.
        let relayed = self.relay_done(&mid);
        // The newest stream of a peer is where it is now: an older one is closed.
        let previous = self.connected.insert(mid, address);
        if let Some(old) = previous
            && old != address
        {
            self.remove_session(&old);
            self.endpoint.close(now, old);
        }
        self.update_preference(&mid);
        let resumed = self.resuming.remove(&mid) || relayed;
        let path = if is_private(address.ip()) { PathKind::Lan } else { PathKind::Direct };
        if let Some(e) = super::introduce::verified_event(mid, address, previous, resumed, path) {
            self.events.push_back(e);
        }
        for frame in inbox {
            self.on_stream_data(now, address, &frame);
        }
    }

    /// Forgets a stream's session, reporting a disconnect or the messages it could not send.
    pub(super) fn end_session(&mut self, address: SocketAddr, failure: SendFailure) {
        let Some(s) = self.remove_session(&address) else { return };
        if let Some(key) = s.key.filter(|_| s.verified) {
            let mid = key.mid();
            if self.connected.get(&mid) == Some(&address) {
                self.connected.remove(&mid);
                self.events.push_back(Event::Disconnected { mid, address });
            }
        } else if let Some(mid) = s.expect {
            if self.resuming.remove(&mid) {
                self.events.push_back(Event::Disconnected { mid, address });
            }
            if !s.outbox.is_empty() {
                self.events.push_back(Event::SendFailed { mid, reason: failure, dropped: s.outbox.len() });
            }
        }
    }

    /// The next hello, stream opening or hand-over to a relay due.
    pub(super) fn next_hello(&self) -> Option<Instant> {
        self.sessions
            .values()
            .flat_map(|s| {
                // The hand-over only when there is a relay to hand over to: `pump` leaves the
                // messages where they are otherwise, and a deadline it cannot act on would be
                // handed back stale after every timeout.
                let relay = s
                    .since
                    .filter(|_| !s.verified && !s.outbox.is_empty())
                    .filter(|_| s.expect.is_some_and(|mid| !self.relays_for(&mid).is_empty()))
                    .map(|t| t + RELAY_AFTER);
                [s.next_hello, s.connect_at, relay]
            })
            .flatten()
            .min()
    }
}
