//! Relays for pairs no punch can join (`docs/overlay.md` §7): a peer that knows both ends
//! forwards the sender's signed Relay message unchanged; the target checks the signature
//! and the sender's counter itself, so the relay can drop messages but not forge or replay
//! them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::Store;

use super::{Event, Node, PathKind, SendError};
use crate::identity::{Mid, PeerKey};
use crate::session::ReplayWindow;
use crate::wire::{self, Message, Payload, Relay, Signer, Style};

/// A stream still not verified this long after it started opening (longer than the opener
/// sequence and a handshake): its messages go by relay, the direct attempt goes on.
pub(super) const RELAY_AFTER: Duration = Duration::from_millis(4500);
/// A peer relayed to or from this recently stays "reached by relay"; after that, it is
/// reported disconnected and no longer retried.
const RELAYED_LATELY: Duration = Duration::from_secs(60);
/// While relaying, a direct stream is tried this often.
const DIRECT_RETRY: Duration = Duration::from_secs(5);
/// Relays each message is sent through when none is known to work.
const RELAY_COPIES: usize = 2;
/// Bytes a node relays per second for one sender, and its burst.
const RELAY_BYTES_PER_SEC: u64 = 32 * 1024;

/// A peer reached by relay.
#[derive(Debug, Clone, Copy)]
pub(super) struct Relayed {
    /// The relay its messages came through lately (answers go back the same way), if any.
    pub(super) via: Option<SocketAddr>,
    /// When it was last used either way.
    pub(super) used: Instant,
    /// When a direct stream was last tried.
    pub(super) tried: Instant,
    /// The relay this node sends through.
    pub(super) out: Option<SocketAddr>,
}

/// A node's relay state.
#[derive(Debug, Default)]
pub(super) struct Relays {
    /// Peers reached by relay.
    pub(super) peers: BTreeMap<Mid, Relayed>,
    /// Counters seen from each sender of relayed messages (kept when a direct stream takes
    /// over, so a replay stays a replay).
    pub(super) seen: BTreeMap<Mid, ReplayWindow>,
    /// The next counter for each target.
    pub(super) counters: BTreeMap<Mid, u64>,
    /// Where counters start: the clock at start, so they rise across restarts.
    pub(super) base: u64,
    /// Relay budgets by sender: bytes this second.
    pub(super) budgets: BTreeMap<Mid, super::per_second::PerSecond>,
    /// Bytes forwarded this second for all senders together (`Config::relay_bytes_per_sec`).
    pub(super) total: super::per_second::PerSecond,
}

impl<S: Store> Node<S> {
    /// The relays to reach `mid` through: the one its relayed messages came from lately;
    /// otherwise the introducer that introduced it and a bootstrap peer, or two bootstrap
    /// peers (a relay that does not know the target drops the message; the target drops
    /// the second copy by its counter).
    pub(super) fn relays_for(&self, mid: &Mid) -> Vec<SocketAddr> {
        if let Some(via) = self.relays.peers.get(mid).and_then(|r| r.via) {
            return alloc::vec![via];
        }
        let mut out = Vec::with_capacity(RELAY_COPIES);
        let boot = &self.config.bootstrap;
        let start = usize::from(mid.0[0]);
        let candidates =
            self.via.get(mid).copied().into_iter().chain((0..boot.len()).map(|i| boot[(start + i) % boot.len()]));
        for a in candidates {
            if out.len() < RELAY_COPIES && !out.contains(&a) && a != self.config.local {
                out.push(a);
            }
        }
        out
    }

    /// Whether messages to `mid` go by relay right now.
    pub(super) fn relaying(&self, now: Instant, mid: &Mid) -> bool {
        self.relays.peers.get(mid).is_some_and(|r| now.saturating_duration_since(r.used) < RELAYED_LATELY)
    }

    /// Notes that `mid` is reached by relay (reporting it the first time).
    fn relayed(&mut self, now: Instant, mid: Mid, via: Option<SocketAddr>, out: Option<SocketAddr>) {
        let fresh = Relayed { via, used: now, tried: now, out };
        let known = self.relays.peers.contains_key(&mid);
        if !known && self.relays.peers.len() >= self.config.max_peers {
            return;
        }
        let r = self.relays.peers.entry(mid).or_insert(fresh);
        r.used = now;
        r.via = via.or(r.via);
        r.out = out.or(r.out);
        if !known && !self.connected.contains_key(&mid) {
            let address = r.via.or(r.out).unwrap_or(self.config.local);
            self.events.push_back(Event::Connected { mid, address, path: PathKind::Relayed });
        }
    }

    /// Sends `data` to `mid` through a relay.
    pub(super) fn relay_send(&mut self, now: Instant, mid: Mid, data: &[u8]) -> Result<(), SendError> {
        let relays = self.relays_for(&mid);
        let Some(&first) = relays.first() else { return Err(SendError::NoRelay) };
        let base = self.relays.base;
        let next = self.relays.counters.entry(mid).or_insert(base);
        let counter = *next;
        *next += 1;
        if self.relays.counters.len() > 2 * self.config.max_peers {
            let peers = &self.relays.peers;
            self.relays.counters.retain(|m, _| peers.contains_key(m));
        }
        let t = self.tick();
        let msg = Message {
            community: self.config.community,
            style: Style::New,
            global_time: t,
            sender: None,
            payload: Payload::Relay(Relay { target: mid, counter, data: data.into() }),
        };
        let Ok(bytes) = wire::encode(&msg, Some(Signer { identity: &self.identity, key: &self.key })) else {
            return Err(SendError::NoRelay);
        };
        for r in &relays {
            if self.out.push(Some(self.config.local), *r, &bytes).is_err() {
                self.stats.queue_full += 1;
            }
        }
        self.stats.relayed_sent += 1;
        self.relayed(now, mid, None, Some(first));
        Ok(())
    }

    /// A direct stream to `mid` verified: relaying to it stops (its counters stay known).
    pub(super) fn relay_done(&mut self, mid: &Mid) -> bool {
        self.relays.peers.remove(mid).is_some()
    }

    /// While a peer is reached by relay, a direct stream is tried again every
    /// [`DIRECT_RETRY`]; a peer not relayed to or from for [`RELAYED_LATELY`] is dropped and
    /// reported disconnected.
    pub(super) fn retry_direct(&mut self, now: Instant) {
        let idle: Vec<(Mid, Relayed)> = self
            .relays
            .peers
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.used) >= RELAYED_LATELY)
            .map(|(m, r)| (*m, *r))
            .collect();
        for (mid, r) in idle {
            self.relays.peers.remove(&mid);
            if !self.connected.contains_key(&mid) {
                let address = r.via.or(r.out).unwrap_or(self.config.local);
                self.events.push_back(Event::Disconnected { mid, address });
            }
        }
        let due: Vec<Mid> = self
            .relays
            .peers
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.tried) >= DIRECT_RETRY)
            .map(|(m, _)| *m)
            .collect();
        for mid in due {
            if let Some(r) = self.relays.peers.get_mut(&mid) {
                r.tried = now;
            }
            // A stream still opening: its peer is asked again to puncture (the introductions
            // or punctures may have been lost, or its NAT state has since expired).
            if let Some(address) = self.sessions.iter().find(|(_, s)| s.expect == Some(mid)).map(|(a, _)| *a) {
                self.send_opener(now, address);
                self.ask_introducers(now, mid);
                continue;
            }
            let Some(address) = self.peers.get(&mid).map(|p| p.address).or_else(|| self.binding_of(&mid)) else {
                continue;
            };
            if !self.sessions.contains_key(&address) && self.endpoint.streams() < self.endpoint.config().max_streams {
                self.open_stream(now, mid, address);
            }
        }
    }

    /// When the next direct retry or relay expiry is due.
    pub(super) fn next_direct_retry(&self) -> Option<Instant> {
        self.relays.peers.values().map(|r| (r.tried + DIRECT_RETRY).min(r.used + RELAYED_LATELY)).min()
    }

    /// A Relay message: for this node (deliver it, once), or to forward (for a sender this
    /// node knows, from the address it knows it at, to a target it knows elsewhere, within
    /// the sender's byte budget).
    pub(super) fn on_relay(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: Relay, datagram: &[u8]) {
        let sender = key.mid();
        if r.target == self.mid {
            if !self.relays.seen.contains_key(&sender) && self.relays.seen.len() >= 4 * self.config.max_peers {
                // Known senders keep their windows (evicting one would let its old messages
                // be replayed); new ones wait.
                self.stats.relay_senders_full += 1;
                return;
            }
            if !self.relays.seen.entry(sender).or_default().accept(r.counter) {
                self.stats.replayed_frames += 1;
                return;
            }
            self.relayed(now, sender, Some(from), None);
            self.stats.relayed_received += 1;
            self.events.push_back(Event::Message { mid: sender, data: r.data, path: PathKind::Relayed });
            return;
        }
        let known_at = self.peers.get(&sender).map(|p| p.address);
        let to = self.peers.get(&r.target).map(|p| p.address);
        let Some(to) = to.filter(|to| known_at == Some(from) && *to != from) else {
            self.stats.relays_refused += 1;
            return;
        };
        if !self.relays.budgets.contains_key(&sender) && self.relays.budgets.len() >= self.config.max_peers {
            let oldest = self.relays.budgets.iter().min_by_key(|(m, p)| (p.start(), **m)).map(|(m, _)| *m);
            if let Some(m) = oldest {
                self.relays.budgets.remove(&m);
            }
        }
        // Both budgets are asked first and charged only for what leaves.
        let len = datagram.len() as u64;
        let allowance = self.relays.budgets.entry(sender).or_insert_with(|| super::per_second::PerSecond::new(now));
        if !allowance.has(now, len, RELAY_BYTES_PER_SEC) {
            self.stats.relays_refused += 1;
            return;
        }
        if !self.relay_budget_allows(now, &key, len) {
            self.stats.relays_over_budget += 1;
            return;
        }
        if self.out.push(Some(self.config.local), to, datagram).is_err() {
            self.stats.queue_full += 1;
            return;
        }
        if let Some(a) = self.relays.budgets.get_mut(&sender) {
            a.spend(len);
        }
        self.relays.total.spend(len);
        self.stats.relayed_forwarded += 1;
    }

    /// Whether the node-wide relay budget has `len` more bytes this second for `sender`: half
    /// of it is shared by every sender; the whole only by senders this node trusts (asked
    /// about only when the shared half is spent, so trust is not computed per datagram in
    /// quiet times).
    fn relay_budget_allows(&mut self, now: Instant, sender: &PeerKey, len: u64) -> bool {
        let budget = self.config.relay_bytes_per_sec;
        if self.relays.total.has(now, len, budget / 2) {
            return true;
        }
        if !self.relays.total.has(now, len, budget) {
            return false;
        }
        let key = sender.ed25519();
        let reputation = self.sync.reputation_mut();
        sync_core::Reputation::trusts_directly(reputation, &key)
            || sync_core::Reputation::reputation(reputation, &key) > 0.0
    }
}
