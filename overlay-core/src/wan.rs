//! The node's public (WAN) address, by vote of distinct peers.
//!
//! Each signed introduction request or response tells the node the address its sender saw it
//! at. py-ipv8 takes the last one it heard; one lying or confused peer then moves it. Here
//! each peer (by member id) has one vote, its latest; the address with the most votes wins
//! once two peers agree (or while only one has spoken), and a tie keeps the current address.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;

use sansio_core::Instant;

use crate::identity::Mid;

#[derive(Debug)]
pub(crate) struct WanVotes {
    votes: BTreeMap<Mid, (SocketAddr, Instant)>,
    capacity: usize,
    current: Option<SocketAddr>,
}

impl WanVotes {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { votes: BTreeMap::new(), capacity: capacity.max(1), current: None }
    }

    /// The current estimate.
    pub(crate) fn current(&self) -> Option<SocketAddr> {
        self.current
    }

    /// Records `voter`'s view; returns the new estimate if it changed.
    pub(crate) fn vote(&mut self, voter: Mid, seen_as: SocketAddr, now: Instant) -> Option<SocketAddr> {
        if !self.votes.contains_key(&voter) && self.votes.len() >= self.capacity {
            let oldest = self.votes.iter().min_by_key(|(m, (_, t))| (*t, **m)).map(|(m, _)| *m);
            if let Some(m) = oldest {
                self.votes.remove(&m);
            }
        }
        self.votes.insert(voter, (seen_as, now));
        let mut tally: BTreeMap<SocketAddr, usize> = BTreeMap::new();
        for (a, _) in self.votes.values() {
            *tally.entry(*a).or_default() += 1;
        }
        let best = tally.values().copied().max().unwrap_or(0);
        let leaders: alloc::vec::Vec<SocketAddr> = tally.iter().filter(|(_, n)| **n == best).map(|(a, _)| *a).collect();
        let winner = match leaders[..] {
            [only] if best >= 2 || self.votes.len() == 1 => Some(only),
            _ => None,
        };
        match winner {
            Some(w) if self.current != Some(w) => {
                self.current = Some(w);
                Some(w)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mid(n: u8) -> Mid {
        Mid([n; 20])
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
