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
    /// The identifier of its latest introduction request: a request whose identifier is not
    /// after it (on the 16-bit clock py-ipv8 uses for them) is a replay.
    pub last_request: Option<u16>,
}

/// What [`Peers::heard`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Heard {
    /// A new peer.
    New,
    /// A known peer, updated.
    Known,
    /// A message not newer than the peer's latest: a replay, ignored.
    Stale,
    /// A new peer, but the table is full: ignored (as py-ipv8 does; evicting would let free
    /// keys push out every honest peer).
    Full,
}

/// Whether identifier `t` is after `last` on a 16-bit clock (up to half the range ahead).
fn after(t: u16, last: u16) -> bool {
    let d = t.wrapping_sub(last);
    d != 0 && d < 0x8000
}

/// Verified peers by member id (at most `capacity`; a new one waits until a peer expires)
/// and introduced candidates (a bounded queue).
#[derive(Debug)]
pub(crate) struct Peers {
    by_mid: BTreeMap<Mid, Peer>,
    capacity: usize,
    /// Introduced (LAN, WAN) addresses and when.
    candidates: VecDeque<(SocketAddr, SocketAddr, Instant)>,
    max_candidates: usize,
}

impl Peers {
    pub(crate) fn new(capacity: usize, max_candidates: usize) -> Self {
        Self { by_mid: BTreeMap::new(), capacity: capacity.max(1), candidates: VecDeque::new(), max_candidates }
    }

    /// Records a signed message of a peer: an introduction request with its identifier, or a
    /// response to a request of this node (`None`: matched, so fresh).
    pub(crate) fn heard(
        &mut self,
        key: PeerKey,
        address: SocketAddr,
        lan: SocketAddr,
        wan: SocketAddr,
        now: Instant,
        request: Option<u16>,
    ) -> Heard {
        let mid = key.mid();
        if let Some(p) = self.by_mid.get_mut(&mid) {
            let last_request = match (request, p.last_request) {
                (Some(id), Some(last)) if !after(id, last) => return Heard::Stale,
                (Some(id), _) => Some(id),
                (None, last) => last,
            };
            *p = Peer { key, address, lan, wan, last_seen: now, last_request };
            return Heard::Known;
        }
        if self.by_mid.len() >= self.capacity {
            return Heard::Full;
        }
        self.by_mid.insert(mid, Peer { key, address, lan, wan, last_seen: now, last_request: request });
        // A peer heard from is no candidate any more.
        self.candidates.retain(|(l, w, _)| *w != address && *l != address);
        Heard::New
    }

    /// Forgets peers silent since before `cutoff`; returns how many.
    pub(crate) fn expire(&mut self, cutoff: Instant) -> usize {
        let before = self.by_mid.len();
        self.by_mid.retain(|_, p| p.last_seen >= cutoff);
        before - self.by_mid.len()
    }

    /// Queues an introduced peer's (LAN, WAN) addresses to walk to.
    pub(crate) fn introduced(&mut self, lan: SocketAddr, wan: SocketAddr, now: Instant) {
        if self.by_mid.values().any(|p| p.address == wan || p.address == lan)
            || self.candidates.iter().any(|(l, w, _)| (*l, *w) == (lan, wan))
        {
            return;
        }
        if self.candidates.len() >= self.max_candidates {
            self.candidates.pop_front();
        }
        self.candidates.push_back((lan, wan, now));
    }

    /// Whether a candidate introduced at or before `by` waits.
    pub(crate) fn has_candidates(&self, by: Instant) -> bool {
        self.candidates.front().is_some_and(|(_, _, at)| *at <= by)
    }

    /// The oldest candidate introduced at or before `by`.
    pub(crate) fn next_candidate(&mut self, by: Instant) -> Option<(SocketAddr, SocketAddr)> {
        if !self.has_candidates(by) {
            return None;
        }
        self.candidates.pop_front().map(|(l, w, _)| (l, w))
    }

    /// Takes the candidate whose puncture came from `from`, naming `lan` and `wan`, if it
    /// waits: the puncture must come from the candidate's own address (public, or LAN behind
    /// this node's NAT), or from its public IP naming one of its addresses (a symmetric NAT
    /// gives the puncture a port of its own). The addresses a puncture names alone take
    /// nothing: anyone could name a candidate and have the walk go elsewhere.
    pub(crate) fn take_candidate(&mut self, lan: SocketAddr, wan: SocketAddr, from: SocketAddr) -> bool {
        let before = self.candidates.len();
        self.candidates.retain(|(l, w, _)| {
            let ours = *w == from || *l == from || (w.ip() == from.ip() && (*l == lan || *w == wan));
            !ours
        });
        self.candidates.len() < before
    }

    pub(crate) fn get(&self, mid: &Mid) -> Option<&Peer> {
        self.by_mid.get(mid)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!("test addresses parse"))
    }

    #[test]
    fn a_candidate_waits_its_settle_time_and_a_puncture_takes_it_however_it_comes() {
        let (lan, wan) = (addr("192.168.1.2:6421"), addr("198.51.100.7:6421"));
        let mut p = Peers::new(8, 8);
        p.introduced(lan, wan, Instant::from_secs(10));
        assert!(!p.has_candidates(Instant::from_secs(9)), "not before it settled");
        assert!(p.has_candidates(Instant::from_secs(10)));
        // Its puncture comes from its address.
        assert!(p.take_candidate(lan, wan, wan));
        assert!(!p.has_candidates(Instant::MAX), "taken once");
        // A symmetric NAT's puncture comes from another port and names an address of its
        // own: matched by LAN address and public IP.
        p.introduced(lan, wan, Instant::ZERO);
        assert!(p.take_candidate(lan, addr("198.51.100.7:40001"), addr("198.51.100.7:40002")));
        // Behind our own NAT it comes from its LAN address.
        p.introduced(lan, wan, Instant::ZERO);
        assert!(p.take_candidate(addr("10.0.0.9:1"), addr("203.0.113.9:1"), lan));
        // Someone else's puncture takes nothing, even one naming the candidate's addresses.
        p.introduced(lan, wan, Instant::ZERO);
        assert!(!p.take_candidate(addr("192.168.1.3:6421"), addr("198.51.100.8:6421"), addr("198.51.100.8:6421")));
        assert!(!p.take_candidate(lan, wan, addr("203.0.113.66:6421")), "named, but from elsewhere");
        assert_eq!(p.next_candidate(Instant::ZERO), Some((lan, wan)));
    }
}
