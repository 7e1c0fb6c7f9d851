//! The remotes a NAT mapping has sent to, as its filtering sees them.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::addr::{AddrKey, from_v4_word, v4_word};

type Set<T> = HashSet<T, crate::FixedState>;

fn set_of<T: core::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> Set<T> {
    let mut s = HashSet::with_hasher(crate::fixed_state());
    s.extend(items);
    s
}

/// A set of remote endpoints. Most mappings have one (always, with endpoint-independent
/// filtering), kept inline; a peer-to-peer node's may have thousands. IPv4 remotes are kept as
/// 8-byte words (a short list, then a hash set), so a large set is a quarter of the size of
/// one of `SocketAddr`s and a short one is scanned in two cache lines; a set that meets an
/// IPv6 remote holds full addresses from then on.
#[derive(Debug)]
pub(crate) enum Contacts {
    One(SocketAddr),
    V4(Vec<u64>),
    V4Set(Set<u64>),
    Any(Set<AddrKey>),
}

impl Contacts {
    /// IPv4 words scanned linearly before a hash set is built.
    const FEW: usize = 16;

    pub(crate) fn contains(&self, a: &SocketAddr) -> bool {
        match (self, a) {
            (Self::One(one), _) => one == a,
            (Self::V4(v), SocketAddr::V4(v4)) => v.contains(&v4_word(v4)),
            (Self::V4Set(s), SocketAddr::V4(v4)) => s.contains(&v4_word(v4)),
            (Self::V4(_) | Self::V4Set(_), SocketAddr::V6(_)) => false,
            (Self::Any(s), _) => s.contains(&AddrKey(*a)),
        }
    }

    pub(crate) fn insert(&mut self, a: SocketAddr) {
        if self.contains(&a) {
            return;
        }
        match (&mut *self, a) {
            (Self::One(SocketAddr::V4(one)), SocketAddr::V4(v4)) => *self = Self::V4(vec![v4_word(one), v4_word(&v4)]),
            (Self::V4(v), SocketAddr::V4(v4)) if v.len() < Self::FEW => v.push(v4_word(&v4)),
            (Self::V4(v), SocketAddr::V4(v4)) => *self = Self::V4Set(set_of(v.iter().copied().chain([v4_word(&v4)]))),
            (Self::V4Set(s), SocketAddr::V4(v4)) => {
                s.insert(v4_word(&v4));
            }
            (Self::Any(s), _) => {
                s.insert(AddrKey(a));
            }
            // An IPv6 remote, or an IPv4 one next to an IPv6 one: full addresses from now on.
            (Self::One(one), _) => *self = Self::Any(set_of([AddrKey(*one), AddrKey(a)])),
            (Self::V4(v), _) => *self = Self::Any(words_and(v.iter().copied(), a)),
            (Self::V4Set(s), _) => *self = Self::Any(words_and(s.iter().copied(), a)),
        }
    }
}

/// IPv4 words as full addresses, and one more address.
fn words_and(words: impl Iterator<Item = u64>, a: SocketAddr) -> Set<AddrKey> {
    set_of(words.map(|w| AddrKey(from_v4_word(w))).chain([AddrKey(a)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Grows through every representation, with an IPv6 remote arriving late, and never forgets
    /// or invents a member.
    #[test]
    fn membership_survives_every_change_of_representation() {
        let mut c = Contacts::One(a("198.51.100.1:1000"));
        let mut members = vec![a("198.51.100.1:1000")];
        for i in 0..40u16 {
            let next = a(&format!("203.0.113.{}:{}", i % 7, 2000 + i));
            c.insert(next);
            c.insert(next); // twice: no effect
            members.push(next);
            match i {
                0 => assert!(matches!(c, Contacts::V4(_))),
                20 => assert!(matches!(c, Contacts::V4Set(_))),
                _ => {}
            }
        }
        let v6 = a("[2001:db8::1]:3478");
        assert!(!c.contains(&v6));
        c.insert(v6);
        members.push(v6);
        assert!(matches!(c, Contacts::Any(_)));
        for m in &members {
            assert!(c.contains(m), "{m} forgotten");
        }
        assert!(!c.contains(&a("203.0.113.1:1")));
        assert!(!c.contains(&a("[2001:db8::2]:3478")));
    }

    #[test]
    fn an_ipv6_first_contact_then_ipv4_ones() {
        let mut c = Contacts::One(a("[2001:db8::1]:1"));
        c.insert(a("192.0.2.1:2"));
        assert!(c.contains(&a("[2001:db8::1]:1")) && c.contains(&a("192.0.2.1:2")));
        assert!(!c.contains(&a("192.0.2.1:3")));
    }
}
