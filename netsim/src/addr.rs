//! Socket addresses in the forms the simulator's tables want: hashed in whole words, and IPv4
//! ones packed into one word.
//!
//! The derived `Hash` of `SocketAddr` feeds its parts one small write at a time (variant, each
//! address byte group, port), and the simulator hashes addresses on every packet: in the trace
//! and in NAT tables. Two or three word writes carry the same information. A `SocketAddr` takes
//! 32 bytes whatever its family; a NAT remembering thousands of IPv4 remotes keeps 8 each.

use core::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Feeds every part of `a` that `==` compares (for IPv6 also flow info and scope) to `h`.
pub(crate) fn hash_addr<H: Hasher>(a: &SocketAddr, h: &mut H) {
    match a {
        SocketAddr::V4(v4) => h.write_u64(v4_word(v4)),
        SocketAddr::V6(v6) => {
            h.write_u128(v6.ip().to_bits());
            h.write_u64((u64::from(v6.flowinfo()) << 32) | u64::from(v6.scope_id()));
            h.write_u16(v6.port());
        }
    }
}

/// An IPv4 socket address as one word: address in bits 16..48, port in bits 0..16.
pub(crate) fn v4_word(a: &SocketAddrV4) -> u64 {
    (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port())
}

/// The address [`v4_word`] packed.
pub(crate) fn from_v4_word(w: u64) -> SocketAddr {
    #[allow(clippy::cast_possible_truncation)] // the two fields, by construction
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from_bits((w >> 16) as u32), w as u16))
}

/// A socket address as a hash-map key, hashed by [`hash_addr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddrKey(pub SocketAddr);

impl Hash for AddrKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_addr(&self.0, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_word_round_trips() {
        for a in ["0.0.0.0:0", "203.0.113.7:3478", "255.255.255.255:65535"] {
            let a: SocketAddr = a.parse().unwrap();
            let SocketAddr::V4(v4) = a else { unreachable!() };
            assert_eq!(from_v4_word(v4_word(&v4)), a);
        }
    }
}
