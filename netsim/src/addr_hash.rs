//! Hashing socket addresses in whole words.
//!
//! The derived `Hash` of `SocketAddr` feeds its parts one small write at a time (variant, each
//! address byte group, port), and the simulator hashes addresses on every packet: in the trace
//! and in NAT tables. Two or three word writes carry the same information.

use core::hash::{Hash, Hasher};
use std::net::SocketAddr;

/// Feeds every part of `a` that `==` compares (for IPv6 also flow info and scope) to `h`.
pub(crate) fn hash_addr<H: Hasher>(a: &SocketAddr, h: &mut H) {
    match a {
        SocketAddr::V4(v4) => h.write_u64((u64::from(v4.ip().to_bits()) << 16) | u64::from(v4.port())),
        SocketAddr::V6(v6) => {
            h.write_u128(v6.ip().to_bits());
            h.write_u64((u64::from(v6.flowinfo()) << 32) | u64::from(v6.scope_id()));
            h.write_u16(v6.port());
        }
    }
}

/// A socket address as a hash-map key, hashed by [`hash_addr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddrKey(pub SocketAddr);

impl Hash for AddrKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_addr(&self.0, h);
    }
}
