//! The traffic-exchange relation (`docs/overlay.md` §5.1): BarterCast's relation, kept from
//! the node's own P2TP byte counts. Once a minute the node looks at each connected peer's
//! stream; when the traffic *exchanged* with it (the smaller of the bytes sent to it and the
//! bytes received from it, over every stream it had) has grown by a quarter (and at least a
//! whole unit) since the relation was last signed, the node signs a new Traffic-exchange
//! relation of that many units, which sync spreads and the trust graph weighs.
//!
//! Exchanged, not received: a peer that pushes unsolicited bytes at a node does not buy its
//! trust with them; only traffic the node chose to answer in kind counts.

use alloc::collections::BTreeMap;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::{Body, RelationType, Slot, Store};

use super::Node;
use crate::identity::Mid;

/// How often the node looks at its streams' byte counts.
pub(crate) const TRAFFIC_INTERVAL: Duration = Duration::from_secs(60);

/// Peers whose traffic the node tallies, at most (those with the least traffic make way).
const MAX_TALLIES: usize = 4096;

/// One peer's traffic.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    /// Totals over every stream, bytes.
    sent: u64,
    received: u64,
    /// The current stream's counters when last read (a smaller reading is a new stream).
    stream_sent: u64,
    stream_received: u64,
    /// The strength last signed (or found in the store).
    signed: u32,
}

impl Tally {
    fn exchanged(&self) -> u64 {
        self.sent.min(self.received)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Traffic {
    tallies: BTreeMap<Mid, Tally>,
    pub(crate) next: Option<Instant>,
}

impl<S: Store> Node<S> {
    /// The bytes this node has exchanged with `mid` over P2TP as the traffic-exchange
    /// relation counts them (the smaller of sent and received, over every stream since the
    /// node started), and the relation strength last signed for it.
    pub fn traffic_exchanged(&self, mid: &Mid) -> Option<(u64, u32)> {
        self.traffic.tallies.get(mid).map(|t| (t.exchanged(), t.signed))
    }

    pub(super) fn traffic_timeout(&mut self, now: Instant) {
        let Some(unit) = self.config.traffic_unit else { return };
        let due = *self.traffic.next.get_or_insert(now + TRAFFIC_INTERVAL);
        if now < due {
            return;
        }
        self.traffic.next = Some(now + TRAFFIC_INTERVAL);
        let unit = unit.max(1);
        let connected: alloc::vec::Vec<(Mid, core::net::SocketAddr)> =
            self.connected.iter().map(|(m, a)| (*m, *a)).collect();
        for (mid, address) in connected {
            let Some(stats) = self.endpoint.path_stats(address) else { continue };
            if !self.traffic.tallies.contains_key(&mid) {
                let signed = self.stored_traffic_strength(&mid);
                self.make_room_for_tally();
                // Traffic before a restart is not counted again, but what was signed stands.
                let floor = u64::from(signed).saturating_mul(unit);
                // With a relation signed before (a restart, or a tally evicted and made again),
                // the stream's bytes so far may be in it already: only what comes after
                // counts (an undercount of at most a minute, never an inflated strength).
                let (stream_sent, stream_received) =
                    if signed > 0 { (stats.bytes_sent, stats.bytes_received) } else { (0, 0) };
                let t = Tally { sent: floor, received: floor, signed, stream_sent, stream_received };
                self.traffic.tallies.insert(mid, t);
            }
            let Some(t) = self.traffic.tallies.get_mut(&mid) else { continue };
            let fresh = stats.bytes_sent < t.stream_sent || stats.bytes_received < t.stream_received;
            let (base_sent, base_received) = if fresh { (0, 0) } else { (t.stream_sent, t.stream_received) };
            t.sent = t.sent.saturating_add(stats.bytes_sent - base_sent);
            t.received = t.received.saturating_add(stats.bytes_received - base_received);
            t.stream_sent = stats.bytes_sent;
            t.stream_received = stats.bytes_received;
            let strength = u32::try_from(t.exchanged() / unit).unwrap_or(u32::MAX);
            // A new record when the strength grew by a quarter (at least one unit): a long
            // transfer signs a few dozen records, not one a minute.
            if strength >= t.signed.saturating_add((t.signed / 4).max(1))
                && self.relate(now, &mid, RelationType::TRAFFIC_EXCHANGE, strength).is_ok()
                && let Some(t) = self.traffic.tallies.get_mut(&mid)
            {
                t.signed = strength;
            }
        }
    }

    /// The strength of this node's own stored Traffic-exchange relation to `mid`, 0 if none.
    fn stored_traffic_strength(&self, mid: &Mid) -> u32 {
        let Some(subject) = self.key_of(mid) else { return 0 };
        let slot = Slot::Relation { issuer: self.identity.public(), subject, kind: RelationType::TRAFFIC_EXCHANGE };
        match self.current_body(&slot) {
            Some(Body::Relation { strength, .. }) => strength,
            _ => 0,
        }
    }

    fn make_room_for_tally(&mut self) {
        if self.traffic.tallies.len() < MAX_TALLIES {
            return;
        }
        let least = self.traffic.tallies.iter().min_by_key(|(m, t)| (t.exchanged(), **m)).map(|(m, _)| *m);
        if let Some(m) = least {
            self.traffic.tallies.remove(&m);
        }
    }
}
