//! Relays for pairs no punch can join (`docs/overlay.md` §7): a peer that knows both ends
//! forwards the sender's signed Relay message unchanged; the target checks the signature
//! and the sender's counter itself, so the relay can drop messages but not forge or replay
//! them.

use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::Store;

use super::{Event, Node, PathKind, SendError};
use crate::identity::{Mid, PeerKey};
use crate::session::ReplayWindow;
use crate::wire::{self, Message, Payload, Relay, Signer, Style};

/// A stream still not verified after this long: its messages go by relay (the direct
/// attempt goes on).
pub(super) const RELAY_AFTER: Duration = Duration::from_secs(3);
/// A peer that relayed to this node, or that this node relayed to, this recently is
/// answered by relay at once.
const RELAYED_LATELY: Duration = Duration::from_secs(60);
/// While relaying, a direct stream is tried this often.
const DIRECT_RETRY: Duration = Duration::from_secs(5);
/// Relays each message is sent through when none is known to work.
const RELAY_COPIES: usize = 2;
/// Bytes a node relays per second for one asking address, and its burst.
const RELAY_BYTES_PER_SEC: u64 = 32 * 1024;

/// A node's relay state.
#[derive(Debug, Default)]
pub(super) struct Relays {
    /// Peers whose messages arrived by relay: through which, when, and their counters.
    pub(super) inbound: alloc::collections::BTreeMap<Mid, (SocketAddr, Instant, ReplayWindow)>,
    /// Peers this node sends to by relay: through which, and when it last tried a direct
    /// stream to each.
    pub(super) outbound: alloc::collections::BTreeMap<Mid, (SocketAddr, Instant)>,
    /// Relay budgets by asking address: (window start, bytes used).
    pub(super) budgets: alloc::collections::BTreeMap<SocketAddr, (Instant, u64)>,
    /// The counter of this node's next relayed message.
    pub(super) counter: u64,
}

impl<S: Store> Node<S> {
    /// The relays to reach `mid` through: the one its relayed messages came from lately;
    /// otherwise the introducer that introduced it and a bootstrap peer, or two bootstrap
    /// peers (a relay that does not know the target drops the message; the target drops
    /// the second copy by its counter).
    fn relays_for(&self, now: Instant, mid: &Mid) -> alloc::vec::Vec<SocketAddr> {
        if let Some((via, at, _)) = self.relays.inbound.get(mid)
            && now.saturating_duration_since(*at) < RELAYED_LATELY
        {
            return alloc::vec![*via];
        }
        let mut out = alloc::vec::Vec::with_capacity(RELAY_COPIES);
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
        self.relays.outbound.contains_key(mid)
            || self
                .relays
                .inbound
                .get(mid)
                .is_some_and(|(_, at, _)| now.saturating_duration_since(*at) < RELAYED_LATELY)
    }

    /// Sends `data` to `mid` through a relay.
    pub(super) fn relay_send(&mut self, now: Instant, mid: Mid, data: &[u8]) -> Result<(), SendError> {
        let relays = self.relays_for(now, &mid);
        let Some(&relay) = relays.first() else { return Err(SendError::UnknownPeer) };
        self.relays.counter += 1;
        let counter = self.relays.counter;
        let t = self.tick();
        let msg = Message {
            community: self.config.community,
            style: Style::New,
            global_time: t,
            sender: None,
            payload: Payload::Relay(Relay { target: mid, counter, data: data.into() }),
        };
        let Ok(bytes) = wire::encode(&msg, Some(Signer { identity: &self.identity, key: &self.key })) else {
            return Err(SendError::UnknownPeer);
        };
        for r in &relays {
            if self.out.push(Some(self.config.local), *r, &bytes).is_err() {
                self.stats.queue_full += 1;
            }
        }
        self.stats.relayed_sent += 1;
        let tried = self.relays.outbound.get(&mid).map_or(now, |(_, t)| *t);
        if self.relays.outbound.insert(mid, (relay, tried)).is_none() && !self.connected.contains_key(&mid) {
            self.events.push_back(Event::Connected { mid, address: relay, path: PathKind::Relayed });
        }
        Ok(())
    }

    /// While a peer is reached by relay, a direct stream is tried again every
    /// [`DIRECT_RETRY`]: it takes over as soon as it verifies.
    pub(super) fn retry_direct(&mut self, now: Instant) {
        let due: alloc::vec::Vec<Mid> = self
            .relays
            .outbound
            .iter()
            .filter(|(_, (_, tried))| now.saturating_duration_since(*tried) >= DIRECT_RETRY)
            .map(|(m, _)| *m)
            .collect();
        for mid in due {
            if let Some((_, tried)) = self.relays.outbound.get_mut(&mid) {
                *tried = now;
            }
            // A stream still opening: its peer is asked again to puncture (the introductions
            // or punctures may have been lost, or its NAT state has since expired).
            if let Some(address) = self.sessions.iter().find(|(_, s)| s.expect == Some(mid)).map(|(a, _)| *a) {
                self.send_opener(address);
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

    /// When the next direct retry is due.
    pub(super) fn next_direct_retry(&self) -> Option<Instant> {
        self.relays.outbound.values().map(|(_, tried)| *tried + DIRECT_RETRY).min()
    }

    /// A direct stream to `mid` verified: relaying to it stops.
    pub(super) fn relay_done(&mut self, mid: &Mid) {
        self.relays.outbound.remove(mid);
        self.relays.inbound.remove(mid);
    }

    /// A Relay message: for this node (deliver it, once), or to forward (for a sender and
    /// to a target this node knows, within the sender address's byte budget).
    pub(super) fn on_relay(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: Relay, datagram: &[u8]) {
        let sender = key.mid();
        if r.target == self.mid {
            let new = !self.relays.inbound.contains_key(&sender);
            if new && self.relays.inbound.len() >= self.config.max_peers {
                let oldest = self.relays.inbound.iter().min_by_key(|(m, (_, at, _))| (*at, **m)).map(|(m, _)| *m);
                if let Some(m) = oldest {
                    self.relays.inbound.remove(&m);
                }
            }
            let entry = self.relays.inbound.entry(sender).or_insert((from, now, ReplayWindow::default()));
            if !entry.2.accept(r.counter) {
                self.stats.replayed_frames += 1;
                return;
            }
            (entry.0, entry.1) = (from, now);
            if new && !self.relays.outbound.contains_key(&sender) && !self.connected.contains_key(&sender) {
                self.events.push_back(Event::Connected { mid: sender, address: from, path: PathKind::Relayed });
            }
            self.stats.relayed_received += 1;
            self.events.push_back(Event::Message { mid: sender, data: r.data });
            return;
        }
        let Some(to) = self.peers.get(&r.target).map(|p| p.address).filter(|_| self.peers.get(&sender).is_some())
        else {
            self.stats.relays_refused += 1;
            return;
        };
        if !self.relays.budgets.contains_key(&from) && self.relays.budgets.len() >= self.config.max_peers {
            let oldest = self.relays.budgets.iter().min_by_key(|(a, (t, _))| (*t, **a)).map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.relays.budgets.remove(&a);
            }
        }
        let (window, used) = self.relays.budgets.entry(from).or_insert((now, 0));
        if now.saturating_duration_since(*window) >= Duration::from_secs(1) {
            (*window, *used) = (now, 0);
        }
        if *used + datagram.len() as u64 > RELAY_BYTES_PER_SEC {
            self.stats.relays_refused += 1;
            return;
        }
        *used += datagram.len() as u64;
        if self.out.push(Some(self.config.local), to, datagram).is_err() {
            self.stats.queue_full += 1;
            return;
        }
        self.stats.relayed_forwarded += 1;
    }
}
