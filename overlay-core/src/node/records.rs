//! Records and trust at work (`docs/overlay.md` §5): the node's sync-core machine on the same
//! socket, its own signed records, and the trust its relation graph gives every peer.

use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, Machine, Transmit};
use sync_core::{Body, ContentId, Kind, PublicKey, Record, Rejection, RelationType, Slot, Store, VerifiedRecord};
use trust_core::paths;

use super::{Event, Node};
use crate::identity::Mid;
use crate::wire;

/// The message type byte of a sync-core datagram carried in the overlay's framing
/// (`00 02 ‖ community ‖ 0x10 ‖ sync message`): our own message, outside py-ipv8's range
/// (its discovery uses 245–250).
pub const SYNC_MESSAGE: u8 = 0x10;
/// The overlay framing in front of a sync message.
pub(super) const SYNC_PREFIX: usize = wire::PREFIX_LEN + 1;

/// Why [`Node::relate`] did not store a relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The node knows no key for that member id.
    #[error("unknown peer")]
    UnknownPeer,
    /// The record could not be made (a relation to oneself).
    #[error("the record cannot be signed: {0}")]
    Invalid(sync_core::DecodeError),
    /// The store refused it (a newer relation to that peer exists, or the store failed).
    #[error("the record was not stored: {0}")]
    Refused(Rejection),
}

/// One step of a friendship path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathHop {
    /// From this peer.
    pub from: PublicKey,
    /// To this peer.
    pub to: PublicKey,
    /// The strongest relation between them.
    pub kind: RelationType,
    /// Its strength as signed in the relation record (the trust graph computes with a
    /// rounded copy: above 2^24 an `f32` no longer holds every whole number).
    pub strength: u32,
}

impl<S: Store> Node<S> {
    /// The record store.
    pub fn records(&self) -> &S {
        self.sync.store()
    }

    /// Reconciliation counters.
    pub fn sync_stats(&self) -> sync_core::NodeStats {
        self.sync.stats()
    }

    /// The Ed25519 key of a peer the node has heard from (signed discovery or a hello).
    pub fn key_of(&self, mid: &Mid) -> Option<PublicKey> {
        if let Some(p) = self.peers.get(mid) {
            return Some(p.key.ed25519());
        }
        if let Some(key) = self.keys.get(mid) {
            return Some(*key);
        }
        let address = self.connected.get(mid)?;
        self.sessions.get(address)?.key.map(|k| k.ed25519())
    }

    /// Member ids of every key the store has records of or relations to: peers the node can
    /// name, trust and (with a Binding record) reach, whether or not it heard from them.
    pub fn known_keys(&self) -> impl Iterator<Item = (Mid, PublicKey)> + '_ {
        self.keys.iter().map(|(m, k)| (*m, *k))
    }

    /// The address in the latest Binding record the store holds for `mid`, if any: where a
    /// peer the node never heard from directly said it can be reached.
    pub fn binding_of(&self, mid: &Mid) -> Option<SocketAddr> {
        let key = self.keys.get(mid)?;
        match self.current_body(&sync_core::Slot::Binding(*key))? {
            Body::Binding { address } => Some(address),
            _ => None,
        }
    }

    /// The body of the record the store holds for `slot` now, if any, its signature checked:
    /// a store on disk may hold rows another process wrote.
    pub(super) fn current_body(&self, slot: &sync_core::Slot) -> Option<Body> {
        let (_, id) = self.sync.store().current(slot)?;
        let bytes = self.sync.store().get(&id)?;
        Some(VerifiedRecord::decode_with(&bytes, &self.config.verifier).ok()?.record().body.clone())
    }

    /// Signs a Relation record from this node to the peer `mid` (strength 0 withdraws it),
    /// stores it and feeds it to the trust graph; sync spreads it. A relation from this node
    /// makes the peer trusted directly: its records pass the trust gate.
    ///
    /// # Errors
    ///
    /// [`RecordError`]: an unknown peer, or a relation the store refuses.
    pub fn relate(
        &mut self,
        now: Instant,
        mid: &Mid,
        kind: RelationType,
        strength: u32,
    ) -> Result<ContentId, RecordError> {
        let subject = self.key_of(mid).ok_or(RecordError::UnknownPeer)?;
        let body = Body::Relation { subject, kind, strength, countersigned: false };
        let id = self.sign_own(now, body)?;
        self.update_preference(mid);
        self.pump(now);
        Ok(id)
    }

    /// This node's trust in a peer: MeritRank over its relation graph, 0 for a peer no
    /// trusted relation reaches; `None` for a member id it has no key for.
    pub fn trust(&mut self, mid: &Mid) -> Option<f64> {
        let key = self.key_of(mid)?;
        Some(sync_core::Reputation::reputation(self.sync.reputation_mut(), &key))
    }

    /// The widest friendship path from this node to a peer (why it is trusted), if any.
    pub fn friendship_path(&self, mid: &Mid) -> Option<Vec<PathHop>> {
        let key = self.key_of(mid)?;
        let graph = self.sync.reputation();
        let to = graph.peers.get(&key)?;
        let path = paths::widest(&graph.graph, graph.ego, to)?;
        path.hops
            .iter()
            .map(|h| {
                let (from, to) = (*graph.peers.key(h.from)?, *graph.peers.key(h.to)?);
                let slot = Slot::Relation { issuer: from, subject: to, kind: h.kind };
                let signed = self.sync.store().current(&slot).and_then(|(_, id)| self.sync.store().get(&id));
                let strength = match signed.and_then(|b| Record::decode(&b).ok()).map(|r| r.body) {
                    Some(Body::Relation { strength, .. }) => strength,
                    // Not in the store (a graph edge always has its record there): the
                    // graph's copy, rounded.
                    _ => h.strength as u32,
                };
                Some(PathHop { from, to, kind: h.kind, strength })
            })
            .collect()
    }

    /// Reads what a store already holds (a restart): every signer's key, and every Relation
    /// into the trust graph.
    pub(super) fn load_from_store(&mut self) {
        let mut ids = Vec::with_capacity(self.sync.store().len());
        self.sync.store().for_each_id(&mut |id| ids.push(*id));
        // In id order, so the graph is built the same way whatever order the store keeps.
        ids.sort_unstable();
        for id in ids {
            let Some(record) =
                self.sync.store().get(&id).and_then(|b| VerifiedRecord::decode_with(&b, &self.config.verifier).ok())
            else {
                continue;
            };
            let signer = record.record().signer;
            self.learn_key(signer);
            if let Body::Relation { subject, .. } = record.record().body {
                self.learn_key(subject);
            }
            if signer == self.identity.public() {
                // Its own records' timestamps only move forward, even if the clock went back.
                self.last_signed_ms = self.last_signed_ms.max(record.record().timestamp_ms);
            }
            self.sync.reputation_mut().apply_record(record.record());
        }
    }

    /// A peer this node relates to directly (positive weight) has its address preferred by
    /// the P2TP endpoint; one it no longer does, not.
    pub(super) fn update_preference(&mut self, mid: &Mid) {
        let trusted =
            self.key_of(mid).is_some_and(|k| sync_core::Reputation::trusts_directly(self.sync.reputation_mut(), &k));
        // Its verified stream's address, or else where its latest fresh signed message came
        // from (replays move nothing, §3).
        let proven = self.connected.get(mid).copied().or_else(|| self.peers.get(mid).map(|p| p.address));
        match (trusted, proven) {
            (true, Some(address)) => {
                if let Some(old) = self.preferred.insert(*mid, address)
                    && old != address
                {
                    self.endpoint.unprefer(old);
                }
                self.endpoint.prefer(address);
            }
            (false, _) => {
                if let Some(old) = self.preferred.remove(mid) {
                    self.endpoint.unprefer(old);
                }
            }
            (true, None) => {}
        }
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        self.config.unix_ms_at_origin.saturating_add(now.as_micros() / 1000)
    }

    /// Signs and stores one of this node's own records. A record of the same slot signed in
    /// the same millisecond would not replace the last, so timestamps only move forward.
    pub(super) fn sign_own(&mut self, now: Instant, body: Body) -> Result<ContentId, RecordError> {
        let ts = self.unix_ms(now).max(self.last_signed_ms + 1);
        let record = self.identity.sign(ts, body).map_err(RecordError::Invalid)?;
        self.last_signed_ms = ts;
        let id = record.id();
        self.sync.insert_local(now, record).map_err(RecordError::Refused)?;
        self.pump_records();
        Ok(id)
    }

    pub(super) fn on_sync(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        // Whoever sends sync messages speaks it: rounds may be started with it.
        if let Some(mid) = self.peers.iter().find(|p| p.address == remote).map(|p| p.key.mid()) {
            self.sync_capable.insert(mid);
        }
        self.sync.handle_datagram(now, local, remote, &datagram[SYNC_PREFIX..]);
        self.pump_records();
    }

    /// The sync machine's timers, and a round with a random peer every `sync_interval`.
    pub(super) fn sync_timeout(&mut self, now: Instant) {
        if !self.announced {
            self.announced = true;
            let metadata = self.config.name.clone();
            // Only a name over 512 bytes fails; the node then runs without a Peer record.
            let _ = self.sign_own(now, Body::Peer { metadata });
        }
        self.sync.handle_timeout(now);
        if now >= self.next_round {
            self.next_round = now + self.config.sync_interval;
            // Rounds go to peers known to speak sync, or not tried yet: a py-ipv8 peer gets one
            // round (it logs our message type as unknown) and then no more.
            let mut candidates: alloc::vec::Vec<(Mid, SocketAddr)> =
                self.peers.iter().map(|p| (p.key.mid(), p.address)).filter(|(m, _)| !self.known_pyipv8(m)).collect();
            // With the trust gate on, every other round (by lot) goes to a peer this node
            // trusts, if it knows one: such a peer holds records this node will accept (it
            // trusts much the same signers), where a stranger mostly offers refusals.
            if self.config.trust_threshold > 0.0 && self.rng.below(2) == 0 {
                let trusted: alloc::vec::Vec<(Mid, SocketAddr)> =
                    candidates.iter().copied().filter(|(m, _)| self.passes_gate(m)).collect();
                if !trusted.is_empty() {
                    candidates = trusted;
                }
            }
            if !candidates.is_empty() {
                let (mid, address) = candidates[self.rng.below(candidates.len() as u64) as usize];
                self.sync_probed.insert(mid);
                // A round already running with that peer: this turn is skipped.
                let _ = self.sync.start_round(now, self.config.local, address);
            }
            // Forget peers that are gone, so neither set outgrows the table.
            if self.sync_probed.len() + self.sync_capable.len() > 2 * self.config.max_peers {
                let peers = &self.peers;
                self.sync_probed.retain(|m| peers.get(m).is_some());
                self.sync_capable.retain(|m| peers.get(m).is_some());
            }
        }
        self.pump_records();
    }

    /// Whether `mid` was sent a sync round and never spoke sync back: a py-ipv8 peer, which
    /// knows none of our own messages (sync, IntroduceMe).
    pub(super) fn known_pyipv8(&self, mid: &Mid) -> bool {
        self.sync_probed.contains(mid) && !self.sync_capable.contains(mid)
    }

    /// If trust moved since the last sweep: drops stored records whose signer now scores
    /// below half the threshold (`SyncNode::regate`), and says whether it dropped any. The
    /// version is the one the sweep judged by, so the relations it takes out of the graph
    /// bring another sweep (see `pump_records`).
    fn regate(&mut self) -> bool {
        if self.config.trust_threshold <= 0.0 {
            return false;
        }
        let version = self.sync.reputation().graph.version();
        if self.regated == Some(version) {
            return false;
        }
        self.regated = Some(version);
        self.sync.regate() > 0
    }

    /// Whether the trust gate lets `mid`'s records in: a peer this node relates to, or one
    /// scoring at least the threshold.
    fn passes_gate(&mut self, mid: &Mid) -> bool {
        let Some(key) = self.key_of(mid) else { return false };
        let graph = self.sync.reputation_mut();
        sync_core::Reputation::trusts_directly(graph, &key)
            || sync_core::Reputation::reputation(graph, &key) >= self.config.trust_threshold
    }

    pub(super) fn next_sync(&mut self) -> Instant {
        self.sync.poll_timeout().map_or(self.next_round, |t| t.min(self.next_round))
    }

    /// A sync datagram in the overlay's framing, written into `buf`.
    pub(super) fn poll_sync(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.sync.poll_transmit(now, &mut self.scratch)?;
        let total = SYNC_PREFIX + t.len;
        if total > buf.len() {
            return None;
        }
        buf[..2].copy_from_slice(&[0, wire::VERSION]);
        buf[2..wire::PREFIX_LEN].copy_from_slice(&self.config.community.0);
        buf[wire::PREFIX_LEN] = SYNC_MESSAGE;
        buf[SYNC_PREFIX..total].copy_from_slice(&self.scratch[..t.len]);
        Some(Transmit { len: total, ..t })
    }

    /// Makes `key` nameable by its member id. A key's mid (its py-ipv8 key bin, with the
    /// Montgomery form, hashed) costs a field inversion: worked out once per key, not once
    /// per record.
    fn learn_key(&mut self, key: PublicKey) {
        if self.named.contains(&key) {
            return;
        }
        if let Some(bin) = crate::identity::PeerKey::from_ed25519(&key) {
            self.keys.insert(bin.mid(), key);
            self.named.insert(key);
        }
    }

    /// Feeds stored relations to the trust graph and reports stored records; then, if trust
    /// moved, sweeps out what the gate now excludes, and again for the relations that sweep
    /// took out, until one drops nothing. So after every input the store holds no record
    /// from a peer whose signer scores below half the threshold (`docs/overlay.md` §5). Each
    /// further sweep follows one that dropped a record this run received, so it ends. A
    /// sweep costs a score lookup per signer of received records (the walks are already up
    /// to date), and runs only after an input that changed the trust graph.
    pub(super) fn pump_records(&mut self) {
        loop {
            self.drain_sync_events();
            if !self.regate() {
                break;
            }
        }
    }

    fn drain_sync_events(&mut self) {
        while let Some(e) = self.sync.poll_event() {
            if let sync_core::Event::Stored { id, kind, signer, from } = e {
                // Every signer with a stored record can be named by its member id.
                self.learn_key(signer);
                if kind == Kind::Relation
                    && let Some(bytes) = self.sync.store().get(&id)
                    && let Ok(record) = VerifiedRecord::decode_with(&bytes, &self.config.verifier)
                {
                    let record = record.record();
                    if let Body::Relation { subject, .. } = record.body {
                        self.learn_key(subject);
                    }
                    if self.sync.reputation_mut().apply_record(record) {
                        // Trust moved: records refused for their signer's standing get another look.
                        self.sync.reputation_changed();
                    }
                }
                self.events.push_back(Event::RecordStored { id, kind, signer, from });
            } else if let sync_core::Event::Evicted { id, record } = e {
                // The graph stays what the store's relations make it (a restart rebuilds it
                // from them). Trust elsewhere may rise a little; refused records are looked at
                // again at the next relation stored, not now.
                self.sync.reputation_mut().forget_record(&record);
                self.events.push_back(Event::RecordEvicted { id, kind: record.kind(), signer: record.signer });
            }
        }
    }
}
