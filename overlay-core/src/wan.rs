//! The node's public (WAN) address, by vote of distinct peers.
//!
//! Each introduction response to a request this node sent tells it the address its peer saw
//! it at. py-ipv8 takes the last one it heard; one lying or confused peer then moves it. Here
//! each *network* (the responder's /24 for IPv4, /48 for IPv6: keys cost nothing, addresses
//! do) has one vote, its latest, for `VOTE_LIFETIME`; the address with the most votes wins
//! once two networks agree (or while only one has spoken), and a tie keeps the current one.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;

use sansio_core::Instant;

use core::net::IpAddr;
use core::time::Duration;

/// How long a vote counts: after an address change, old votes fade.
pub(crate) const VOTE_LIFETIME: Duration = Duration::from_secs(300);

/// A voter: the network a response came from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Voter([u8; 6]);

impl Voter {
    pub(crate) fn of(ip: IpAddr) -> Self {
        let mut v = [0u8; 6];
        match ip {
            IpAddr::V4(a) => v[..3].copy_from_slice(&a.octets()[..3]),
            IpAddr::V6(a) => v.copy_from_slice(&a.octets()[..6]),
        }
        Self(v)
    }
}

#[derive(Debug)]
pub(crate) struct WanVotes {
    votes: BTreeMap<Voter, (SocketAddr, Instant)>,
    capacity: usize,
    current: Option<SocketAddr>,
    /// The latest responses, by responder (not by network): what each saw this node as.
    recent: alloc::collections::VecDeque<(SocketAddr, SocketAddr)>,
}

/// Responses [`WanVotes::looks_symmetric`] looks at.
const RECENT: usize = 16;

impl WanVotes {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { votes: BTreeMap::new(), capacity: capacity.max(1), current: None, recent: Default::default() }
    }

    /// The current estimate.
    pub(crate) fn current(&self) -> Option<SocketAddr> {
        self.current
    }

    /// Notes that `responder` saw this node as `seen_as` (for
    /// [`looks_symmetric`](Self::looks_symmetric); votes are counted by network, this by peer).
    pub(crate) fn seen(&mut self, responder: SocketAddr, seen_as: SocketAddr) {
        self.recent.retain(|(r, _)| *r != responder);
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((responder, seen_as));
    }

    /// Whether the latest response saw this node where the vote says it is (none: no).
    pub(crate) fn agrees(&self) -> bool {
        self.current.is_some() && self.recent.back().map(|(_, seen)| *seen) == self.current
    }

    /// Whether this node's NAT looks symmetric: at least three of the latest responders saw
    /// it, and no address was seen by half of them (each destination got a mapping of its
    /// own). Responders that lie can make a node look symmetric: it then walks blind, treats
    /// a vote that changes only its port as no move, and (if their reported ports also rise
    /// in step) predicts ports (`docs/overlay.md` §7.2). Its streams still open; the lie
    /// costs it direct punches, not reachability.
    pub(crate) fn looks_symmetric(&self) -> bool {
        if self.recent.len() < 3 {
            return false;
        }
        let tally = tally(self.recent.iter().map(|(_, a)| *a));
        tally.values().copied().max().unwrap_or(0) * 2 < self.recent.len()
    }

    /// Records `voter`'s view; returns the new estimate if it changed.
    pub(crate) fn vote(&mut self, voter: Voter, seen_as: SocketAddr, now: Instant) -> Option<SocketAddr> {
        let cutoff = now.saturating_sub(VOTE_LIFETIME);
        self.votes.retain(|_, (_, t)| *t >= cutoff);
        if !self.votes.contains_key(&voter) && self.votes.len() >= self.capacity {
            let oldest = self.votes.iter().min_by_key(|(m, (_, t))| (*t, **m)).map(|(m, _)| *m);
            if let Some(m) = oldest {
                self.votes.remove(&m);
            }
        }
        self.votes.insert(voter, (seen_as, now));
        let tally = tally(self.votes.values().map(|(a, _)| *a));
        let best = tally.values().copied().max().unwrap_or(0);
        let leaders: alloc::vec::Vec<SocketAddr> = tally.iter().filter(|(_, n)| **n == best).map(|(a, _)| *a).collect();
        let winner = match leaders[..] {
            [only] if best >= 2 || self.votes.len() == 1 => Some(only),
            _ => None,
        };
        // Behind a NAT that maps per destination every peer sees another port: there only a
        // new IP is a move (a lone voter's latest port would otherwise move it every time).
        let port_only = |c: Option<SocketAddr>, w: SocketAddr| c.is_some_and(|c| c.ip() == w.ip());
        match winner {
            Some(w) if port_only(self.current, w) && self.looks_symmetric() => None,
            Some(w) if self.current != Some(w) => {
                self.current = Some(w);
                Some(w)
            }
            _ => None,
        }
    }
}

/// How many times each address occurs.
fn tally(addresses: impl Iterator<Item = SocketAddr>) -> BTreeMap<SocketAddr, usize> {
    let mut tally = BTreeMap::new();
    for a in addresses {
        *tally.entry(a).or_default() += 1;
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mid(n: u8) -> Voter {
        Voter::of(IpAddr::V4(core::net::Ipv4Addr::new(10, n, 0, 1)))
    }

    #[test]
    fn keys_in_one_network_have_one_vote_and_old_votes_fade() {
        let mut v = WanVotes::new(16);
        let (real, fake): (SocketAddr, SocketAddr) =
            ("198.51.100.1:4000".parse().unwrap(), "203.0.113.9:1".parse().unwrap());
        let net = |a: [u8; 4]| Voter::of(IpAddr::V4(a.into()));
        v.vote(net([10, 1, 0, 1]), real, Instant::ZERO);
        v.vote(net([10, 2, 0, 1]), real, Instant::ZERO);
        // A hundred identities in one /24 are one voter.
        for i in 0..100u8 {
            v.vote(net([10, 9, 9, i]), fake, Instant::from_secs(1));
        }
        assert_eq!(v.current(), Some(real));
        // Ten minutes on, the old votes are gone: a new report is the only voice.
        let later = Instant::from_secs(600);
        assert_eq!(v.vote(net([10, 3, 0, 1]), fake, later), Some(fake));
    }

    #[test]
    fn a_different_port_for_every_peer_looks_symmetric_and_one_moved_port_does_not() {
        let at = |port: u16| SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::new(198, 51, 100, 1)), port);
        let peer = |n: u16| SocketAddr::new(IpAddr::V4(core::net::Ipv4Addr::new(203, 0, 113, 1)), n);
        let mut v = WanVotes::new(16);
        for n in 1..=4u16 {
            v.seen(peer(n), at(40_000 + n));
        }
        assert!(v.looks_symmetric(), "peers of one network count one by one");
        let mut w = WanVotes::new(16);
        for n in 1..=4u16 {
            w.seen(peer(n), at(if n == 4 { 40_004 } else { 6421 }));
        }
        assert!(!w.looks_symmetric(), "a Linux router that moved one flow is no symmetric NAT");
        assert!(!WanVotes::new(16).looks_symmetric());
    }

    #[test]
    fn behind_a_symmetric_nat_a_lone_voters_new_port_is_no_move_and_a_new_ip_is() {
        let at = |ip: [u8; 4], port: u16| SocketAddr::from((ip, port));
        let mut v = WanVotes::new(16);
        let boot = |n: u8| at([203, 0, 113, n], 6421);
        // Three bootstrap peers in one /24: one voter, each seeing another port.
        for n in 1..=3u8 {
            v.seen(boot(n), at([198, 51, 100, 1], 1024 + u16::from(n)));
            v.vote(Voter::of(boot(n).ip()), at([198, 51, 100, 1], 1024 + u16::from(n)), Instant::ZERO);
        }
        assert!(v.looks_symmetric());
        // The first two moved it (nothing looked symmetric yet); the third, once it did, not.
        assert_eq!(v.current(), Some(at([198, 51, 100, 1], 1026)));
        for port in [1030, 1031] {
            v.seen(boot(2), at([198, 51, 100, 1], port));
            assert_eq!(v.vote(Voter::of(boot(2).ip()), at([198, 51, 100, 1], port), Instant::ZERO), None);
        }
        assert_eq!(v.current(), Some(at([198, 51, 100, 1], 1026)), "a new port is no move");
        v.seen(boot(1), at([192, 0, 2, 7], 1030));
        let moved = v.vote(Voter::of(boot(1).ip()), at([192, 0, 2, 7], 1030), Instant::from_secs(1));
        assert_eq!(moved, Some(at([192, 0, 2, 7], 1030)), "a new IP is a move");
    }

    #[test]
    fn one_liar_cannot_move_the_address_two_honest_peers_agree_on() {
        let mut v = WanVotes::new(16);
        let (real, fake): (SocketAddr, SocketAddr) =
            ("198.51.100.1:4000".parse().unwrap(), "203.0.113.9:1".parse().unwrap());
        assert_eq!(v.vote(mid(1), real, Instant::ZERO), Some(real), "the only voice counts");
        assert_eq!(v.vote(mid(2), real, Instant::ZERO), None);
        assert_eq!(v.vote(mid(3), fake, Instant::ZERO), None);
        assert_eq!(v.vote(mid(3), fake, Instant::from_secs(1)), None, "one peer, one vote");
        assert_eq!(v.current(), Some(real));
    }

    #[test]
    fn a_new_address_wins_once_most_peers_report_it() {
        let mut v = WanVotes::new(16);
        let (old, new): (SocketAddr, SocketAddr) =
            ("198.51.100.1:4000".parse().unwrap(), "198.51.100.7:5000".parse().unwrap());
        for m in 1..=3 {
            v.vote(mid(m), old, Instant::ZERO);
        }
        assert_eq!(v.vote(mid(1), new, Instant::from_secs(5)), None);
        assert_eq!(v.vote(mid(2), new, Instant::from_secs(5)), Some(new));
    }
}
