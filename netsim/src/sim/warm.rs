//! Fetching what the next events will touch while earlier ones run.
//!
//! With thousands of hosts, nearly every event touches host, link and NAT records that are
//! not in cache, and each is only found by reading the one before. The queue keeps the next
//! [`DEPTH`](crate::lookahead::DEPTH) events taken out ahead of time (`lookahead.rs`), and the
//! simulator walks each one's way twice: when it is taken out (the packet, and the host or NAT
//! box it reaches), and again when it is `DEPTH / 2` events from its turn (what those records
//! point to: the machine, the uplink, the NAT's bindings), by which time the first records
//! have arrived. Prefetches are hints: they change when memory arrives, never what the
//! simulation does.

use super::{Action, Hop, Host, HostIx, LinkId, NatBox, NatId, Sim, idx};
use crate::link::Link;
use crate::packets::Packet;

/// The records events touch, borrowed apart from the queue so they can be warmed while the
/// queue is being taken from.
pub(super) struct Records<'a> {
    pub hosts: &'a [Host],
    pub nats: &'a [NatBox],
    pub links: &'a [Link],
    pub link_ends: &'a [Hop],
    pub packets: &'a [Packet],
}

impl Records<'_> {
    /// Prefetches the first records event `a` touches, or (`deeper`) the ones they point to.
    pub(super) fn warm(&self, a: Action, deeper: bool) {
        match a {
            Action::Timer { host, .. } => self.warm_host(host, deeper),
            Action::Arrive { link, packet } => {
                if !deeper && let Some(p) = self.packets.get(idx(packet)) {
                    prefetch(p);
                }
                match self.link_ends.get(idx(link.0)) {
                    Some(Hop::Host(h)) => self.warm_host(*h, deeper),
                    Some(Hop::NatOutside(n)) => self.warm_nat(*n, deeper),
                    Some(Hop::Realm(r)) => {
                        if let Some(n) = Sim::realm_nat(*r) {
                            self.warm_nat(n, deeper);
                        }
                    }
                    None => {}
                }
            }
            Action::Call { .. } => {}
        }
    }

    fn warm_host(&self, h: HostIx, deeper: bool) {
        let Some(host) = self.hosts.get(idx(h.0)) else { return };
        if deeper {
            prefetch((&raw const *host.machine).cast::<u8>());
            self.warm_link(host.uplink);
        } else {
            prefetch_pair(host);
        }
    }

    fn warm_nat(&self, n: NatId, deeper: bool) {
        let Some(nat) = self.nats.get(idx(n.0)) else { return };
        if deeper {
            prefetch_pair(nat.nat.bindings_ptr());
            self.warm_link(nat.uplink);
        } else {
            prefetch_pair(nat);
        }
    }

    fn warm_link(&self, l: LinkId) {
        if let Some(link) = self.links.get(idx(l.0)) {
            prefetch(link);
        }
    }
}

/// Asks the CPU to fetch the cache line at `p`.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the intrinsic is `unsafe` because it is a `#[target_feature(enable = "sse")]`
    // function, and SSE is part of the x86_64 baseline, so the feature is always there. The
    // instruction itself is a hint: it never faults and never changes memory or registers the
    // program reads, whatever address it is given.
    #[allow(unsafe_code)]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the two cache lines from `p` (the records that span two, aligned to 128 bytes).
#[inline(always)]
fn prefetch_pair<T>(p: *const T) {
    prefetch(p);
    prefetch(p.cast::<u8>().wrapping_add(64));
}
