//! The peers a node knows (verified by a signed message) and the candidates it was
//! introduced to, both bounded.

use alloc::collections::{BTreeMap, VecDeque};
use core::net::SocketAddr;

use sansio_core::Instant;

use crate::identity::{Mid, PeerKey};

/// A peer that signed a message to this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its key.
    pub key: PeerKey,
    /// Where its last datagram came from: where to send to it.
    pub address: SocketAddr,
    /// Its LAN address, as it says.
    pub lan: SocketAddr,
    /// Its WAN address, as it says.
    pub wan: SocketAddr,
    /// When it was last heard from.
    pub last_seen: Instant,
}

/// Verified peers by member id (at most `capacity`; the longest silent makes room) and
/// introduced candidates (a bounded queue).
#[derive(Debug)]
pub(crate) struct Peers {
    by_mid: BTreeMap<Mid, Peer>,
    capacity: usize,
    candidates: VecDeque<(SocketAddr, SocketAddr)>,
    max_candidates: usize,
}

impl Peers {
    pub(crate) fn new(capacity: usize, max_candidates: usize) -> Self {
        Self { by_mid: BTreeMap::new(), capacity: capacity.max(1), candidates: VecDeque::new(), max_candidates }
    }

    /// Records a verified peer; returns whether it is new.
    pub(crate) fn heard(
        &mut self,
        key: PeerKey,
        address: SocketAddr,
        lan: SocketAddr,
        wan: SocketAddr,
        now: Instant,
    ) -> bool {
        let mid = key.mid();
        if let Some(p) = self.by_mid.get_mut(&mid) {
            p.address = address;
            p.lan = lan;
            p.wan = wan;
            p.last_seen = now;
            return false;
        }
        if self.by_mid.len() >= self.capacity {
            let quietest = self.by_mid.iter().min_by_key(|(m, p)| (p.last_seen, **m)).map(|(m, _)| *m);
            if let Some(m) = quietest {
                self.by_mid.remove(&m);
            }
        }
        self.by_mid.insert(mid, Peer { key, address, lan, wan, last_seen: now });
        // A peer heard from is no candidate any more.
        self.candidates.retain(|(l, w)| *w != address && *l != address);
        true
    }

    /// Forgets peers silent since before `cutoff`; returns how many.
    pub(crate) fn expire(&mut self, cutoff: Instant) -> usize {
        let before = self.by_mid.len();
        self.by_mid.retain(|_, p| p.last_seen >= cutoff);
        before - self.by_mid.len()
    }

    /// Queues an introduced peer's (LAN, WAN) addresses to walk to.
    pub(crate) fn introduced(&mut self, lan: SocketAddr, wan: SocketAddr) {
        if self.by_mid.values().any(|p| p.address == wan || p.address == lan) || self.candidates.contains(&(lan, wan)) {
            return;
        }
        if self.candidates.len() >= self.max_candidates {
            self.candidates.pop_front();
        }
        self.candidates.push_back((lan, wan));
    }

    pub(crate) fn next_candidate(&mut self) -> Option<(SocketAddr, SocketAddr)> {
        self.candidates.pop_front()
    }

    pub(crate) fn get(&self, mid: &Mid) -> Option<&Peer> {
        self.by_mid.get(mid)
    }

    pub(crate) fn by_address(&self, address: SocketAddr) -> Option<&Peer> {
        self.by_mid.values().find(|p| p.address == address)
    }

    /// The `n`th peer in member-id order (a random pick is `nth(rng.below(len))`).
    pub(crate) fn nth(&self, n: usize) -> Option<&Peer> {
        self.by_mid.values().nth(n)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_mid.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.by_mid.values()
    }
}
