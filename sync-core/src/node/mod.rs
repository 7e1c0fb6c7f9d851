//! [`SyncNode`]: the machine that reconciles a record store with peers (`docs/sync.md` §5–6).
//!
//! A node is an initiator of its own rounds (at most one per peer, `initiator.rs`) and a
//! responder to anyone's (`responder.rs`). The responder keeps no state between rounds: it
//! holds only tables being assembled, for sources that echoed its cookie, one per source.

mod initiator;
mod responder;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::{Instant, Machine, Seed, SeededRng, Transmit, TransmitQueue};
use siphasher::sip::SipHasher13;

use self::initiator::Round;
use self::responder::Assembly;
use crate::accept::{Accepted, Policy, Rejection, Reputation, SeenIds, decide, excluded};
use crate::event::Event;
use crate::recon::estimate::Estimator;
use crate::recon::hash::{Salt, ShortIds};
use crate::recon::iblt::{Cell, Iblt, Peeled};
use crate::recon::prefix;
use crate::record::{ContentId, PublicKey, Record, VerifiedRecord};
use crate::store::Store;
use crate::wire::{self, MAX_DATAGRAM, Message};
use crate::{FastSet, Verifier, fast_set};

/// The share of the admission threshold a stored record's signer must keep for the record to
/// stay ([`SyncNode::regate`]): records get in at the threshold and go below half of it.
pub const KEEP_FRACTION: f64 = 0.5;

/// A node's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Acceptance rules.
    pub policy: Policy,
    /// Unix time (ms) at [`Instant::ZERO`]: records carry wall-clock timestamps.
    pub unix_ms_at_origin: u64,
    /// Refused and superseded ids remembered.
    pub seen_capacity: usize,
    /// A round that has not finished by then fails.
    pub round_timeout: Duration,
    /// How long a table being assembled waits for its next cell; four times this is the
    /// longest any table is held.
    pub assembly_timeout: Duration,
    /// Tables a node assembles for others at once (one per source); the oldest goes first.
    pub max_assemblies: usize,
    /// Rounds this node runs at once.
    pub max_rounds: usize,
    /// Tables per round after the probe (each a retry with a fresh seed).
    pub max_tables: u8,
    /// Cells per estimated differing id in the first sized table.
    pub table_overhead: f64,
    /// Bytes a node may send to unvalidated sources per second (token bucket, 1 s deep).
    pub unvalidated_bytes_per_sec: u64,
    /// Passes over the whole set a node makes for others per second (token bucket, 1 s
    /// deep): each probe, decode, pulled table and list of wants costs one.
    pub passes_per_sec: u64,
    /// Outgoing datagrams queued at most, and their bytes.
    pub queue_datagrams: usize,
    /// See `queue_datagrams`.
    pub queue_bytes: usize,
    /// Checks the signatures of arriving records (give nodes of one process a shared memo).
    pub verifier: Verifier,
}

impl Config {
    /// Defaults for a node with this acceptance policy.
    pub fn new(policy: Policy, unix_ms_at_origin: u64) -> Self {
        Self {
            policy,
            unix_ms_at_origin,
            seen_capacity: 1 << 16,
            round_timeout: Duration::from_secs(10),
            assembly_timeout: Duration::from_millis(500),
            max_assemblies: 8,
            max_rounds: 64,
            max_tables: 3,
            table_overhead: 1.4,
            unvalidated_bytes_per_sec: 1 << 20,
            passes_per_sec: 40,
            queue_datagrams: 8192,
            queue_bytes: 8 << 20,
            verifier: Verifier::default(),
        }
    }
}

/// Why a round could not start.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A round with this peer is running.
    #[error("a round with this peer is already running")]
    Busy,
    /// [`Config::max_rounds`] rounds are running.
    #[error("too many rounds running")]
    TooMany,
}

/// Counters of everything a node dropped or refused, for `--json` summaries and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Datagrams that were not sync messages or did not parse.
    pub malformed: u64,
    /// Messages for no running round, a stale or out-of-range table, or a replayed pull.
    pub stray: u64,
    /// `Cells`, `Pull`, `Want` or `Records` whose cookie did not verify.
    pub bad_cookie: u64,
    /// Requests from unvalidated sources not answered (the byte budget was spent).
    pub unvalidated_refused: u64,
    /// Requests not served because the pass budget was spent.
    pub busy: u64,
    /// Records the reply bound or the queue could not carry this round.
    pub records_deferred: u64,
    /// Records received and stored.
    pub records_stored: u64,
    /// Records received and refused, by any reason.
    pub records_refused: u64,
    /// Wanted prefixes beyond what the table could have decoded (dropped).
    pub wants_truncated: u64,
    /// Tables dropped for a newer one ([`Config::max_assemblies`], or the same source's).
    pub assemblies_evicted: u64,
    /// Datagrams the transmit queue refused.
    pub queue_full: u64,
    /// Stored records dropped by [`SyncNode::regate`]: their signer's reputation fell below
    /// the keep level.
    pub records_evicted: u64,
}

/// A token bucket over virtual time, one second deep.
#[derive(Debug)]
struct Bucket {
    rate: u64,
    tokens: u64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Self { rate, tokens: rate, at: Instant::ZERO }
    }
    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_micros() as u64;
        self.tokens = self.tokens.saturating_add(elapsed.saturating_mul(self.rate) / 1_000_000).min(self.rate);
        self.at = self.at.max(now);
    }
    /// Whether `n` tokens are there (without taking them).
    fn has(&mut self, now: Instant, n: u64) -> bool {
        self.refill(now);
        self.tokens >= n
    }
    /// Takes `n` tokens if they are there.
    fn take(&mut self, now: Instant, n: u64) -> bool {
        let ok = self.has(now, n);
        if ok {
            self.tokens -= n;
        }
        ok
    }
    /// Takes up to `n` tokens (what was sent anyway).
    fn spend(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_sub(n);
    }
}

/// What one pass of decoding against a received table found.
pub(crate) struct Decoded {
    peeled: Peeled,
    /// Ids only this side holds a record for (sorted).
    mine_only: Vec<ContentId>,
    /// Prefixes of the ids only the other side holds (sorted, distinct).
    wants: Vec<u32>,
    estimator: Estimator,
}

/// What [`SyncNode::queue_records`] queued.
#[derive(Clone, Copy, Default)]
pub(crate) struct Sent {
    /// Datagram bytes.
    bytes: usize,
    /// Of which the records' own bytes.
    record_bytes: usize,
    records: usize,
}

/// The reconciliation machine for one socket: rounds it starts, rounds it answers, and the
/// acceptance of every record it receives into its [`Store`].
///
/// ```
/// use sansio_core::{Instant, Machine, Seed};
/// use sync_core::{AcceptAll, Body, Config, Identity, MemStore, Policy, SyncNode};
///
/// let me = Identity::from_seed([1; 32]).unwrap();
/// let policy = Policy { own: me.public(), threshold: 0.0, max_future_ms: 60_000 };
/// let mut a = SyncNode::new(Config::new(policy.clone(), 0), Seed::from_u64(1), MemStore::new(), AcceptAll);
/// let mut b = SyncNode::new(Config::new(policy, 0), Seed::from_u64(2), MemStore::new(), AcceptAll);
/// a.insert_local(Instant::ZERO, me.sign(0, Body::Peer { metadata: b"alice".to_vec() }).unwrap()).unwrap();
///
/// let (la, lb) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
/// a.start_round(Instant::ZERO, la, lb).unwrap();
/// let mut buf = [0u8; sansio_core::MIN_TRANSMIT_BUFFER];
/// for _ in 0..10 {
///     while let Some(t) = a.poll_transmit(Instant::ZERO, &mut buf) { b.handle_datagram(Instant::ZERO, lb, la, &buf[..t.len]); }
///     while let Some(t) = b.poll_transmit(Instant::ZERO, &mut buf) { a.handle_datagram(Instant::ZERO, la, lb, &buf[..t.len]); }
/// }
/// assert_eq!(sync_core::Store::len(b.store()), 1);
/// ```
pub struct SyncNode<S, R> {
    config: Config,
    store: S,
    reputation: R,
    seen: SeenIds,
    /// Of the remembered ids, those refused for their signer's reputation: fetched again
    /// after [`reputation_changed`](Self::reputation_changed).
    untrusted: SeenIds,
    /// Records stored from peers during this run, by signer: the only ones
    /// [`regate`](Self::regate) may drop (never the node's own, nor what was in the store
    /// before it started, nor what an application inserted itself). Keyed by signer so a
    /// sweep asks one score per signer and reads only the records it drops.
    received: BTreeMap<PublicKey, BTreeSet<ContentId>>,
    rng: SeededRng,
    cookie_key: (u64, u64),
    rounds: BTreeMap<SocketAddr, Round>,
    assemblies: BTreeMap<(SocketAddr, u64, u8), Assembly>,
    /// Pulls answered lately, so a replayed one is not answered twice.
    served: VecDeque<(SocketAddr, u64, u8)>,
    out: TransmitQueue,
    events: VecDeque<Event>,
    stats: NodeStats,
    unvalidated: Bucket,
    passes: Bucket,
    scratch: Vec<u8>,
}

impl<S: Store, R: Reputation> SyncNode<S, R> {
    /// A node over `store`, gating records with `reputation`.
    pub fn new(config: Config, seed: Seed, store: S, reputation: R) -> Self {
        let mut rng = SeededRng::from_seed(seed);
        let cookie_key = (rng.next_u64(), rng.next_u64());
        Self {
            seen: SeenIds::new(config.seen_capacity),
            untrusted: SeenIds::new(config.seen_capacity),
            received: BTreeMap::new(),
            out: TransmitQueue::new(config.queue_datagrams, config.queue_bytes),
            unvalidated: Bucket::new(config.unvalidated_bytes_per_sec),
            passes: Bucket::new(config.passes_per_sec),
            config,
            store,
            reputation,
            rng,
            cookie_key,
            rounds: BTreeMap::new(),
            assemblies: BTreeMap::new(),
            served: VecDeque::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            scratch: Vec::with_capacity(MAX_DATAGRAM),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The store, to change it outside the node (its changes are reconciled in later rounds).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
    /// Forgets which records were refused for their signer's low reputation, so later rounds
    /// fetch them again and judge them anew. Call it when reputations rose (a trust graph
    /// took a new relation); records refused as superseded stay remembered.
    pub fn reputation_changed(&mut self) {
        let untrusted = core::mem::replace(&mut self.untrusted, SeenIds::new(self.config.seen_capacity));
        self.seen.remove_all(&untrusted);
    }

    /// Drops every record this node stored from a peer during this run whose signer the trust
    /// gate now excludes: not this node, not trusted directly, and scoring below
    /// [`KEEP_FRACTION`] of the threshold. Call it when reputations moved (a relation added,
    /// changed or dropped); with a threshold of 0 it does nothing. The gate only undoes what
    /// it let in: records the application inserted ([`insert_local`](Self::insert_local)),
    /// imported into the store, or found there at start are never touched.
    ///
    /// The admission threshold decides what gets in; this keeps the store to what the gate
    /// would still admit, give or take the margin, as trust shifts later: a Sybil region whose
    /// signers briefly scored enough does not stay stored by nodes whose trust it lost. The
    /// margin is there because MeritRank's scores are estimates from random walks that move a
    /// little with every new relation: a signer hovering at the threshold must not have its
    /// records dropped and fetched again round after round.
    ///
    /// Each dropped record is reported ([`Event::Evicted`], with the record, so a caller that
    /// fed a Relation to a trust graph can take it out again) and remembered as refused for
    /// its signer's standing: no peer sends it again until
    /// [`reputation_changed`](Self::reputation_changed), when it is judged anew like any
    /// refused record. Signers are examined in key order and their records in id order; each
    /// signer's score is asked once and only the records dropped are read from the store, so
    /// a sweep that drops nothing costs one score per signer. Returns how many were dropped;
    /// one the store fails to remove stays (logged).
    pub fn regate(&mut self) -> usize {
        let policy = &self.config.policy;
        if policy.threshold <= 0.0 {
            return 0;
        }
        let keep = policy.threshold * KEEP_FRACTION;
        let reputation = &mut self.reputation;
        let shut_out: Vec<PublicKey> =
            self.received.keys().copied().filter(|signer| excluded(policy, reputation, signer, keep)).collect();
        let mut evicted = 0;
        for signer in shut_out {
            let Some(ids) = self.received.remove(&signer) else { continue };
            let mut still_stored = BTreeSet::new();
            for id in ids {
                let Some(record) = self.store.get(&id).and_then(|b| Record::decode(&b).ok()) else {
                    // Gone (another process shares the store), or a row that no longer
                    // decodes: there is no record to drop or report.
                    continue;
                };
                match self.store.remove(&id) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "store could not drop an evicted record");
                        still_stored.insert(id);
                        continue;
                    }
                }
                self.seen.insert(id);
                self.untrusted.insert(id);
                self.stats.records_evicted += 1;
                self.events.push_back(Event::Evicted { id, record });
                evicted += 1;
            }
            if !still_stored.is_empty() {
                self.received.insert(signer, still_stored);
            }
        }
        evicted
    }

    /// The reputation function.
    pub fn reputation(&self) -> &R {
        &self.reputation
    }

    /// The reputation function, to change it (feed a trust graph its relations).
    pub fn reputation_mut(&mut self) -> &mut R {
        &mut self.reputation
    }
    /// Drop and refusal counters.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }
    /// Ids refused or superseded and remembered.
    pub fn seen(&self) -> &SeenIds {
        &self.seen
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        self.config.unix_ms_at_origin.saturating_add(now.as_micros() / 1000)
    }

    /// Offers a record by the same rules as one received (the node's own records always pass
    /// the reputation gate).
    pub fn insert_local(&mut self, now: Instant, record: VerifiedRecord) -> Result<Accepted, Rejection> {
        self.accept(now, record, None)
    }

    fn accept(
        &mut self,
        now: Instant,
        record: VerifiedRecord,
        from: Option<SocketAddr>,
    ) -> Result<Accepted, Rejection> {
        let id = record.id();
        if self.seen.contains(&id) {
            return Err(Rejection::Known);
        }
        let now_ms = self.unix_ms(now);
        match decide(&self.config.policy, &mut self.reputation, &self.store, &record, now_ms) {
            Ok(how) => {
                let replaces = match how {
                    Accepted::Replaced(old) => Some(old),
                    Accepted::New => None,
                };
                if let Err(e) = self.store.insert(&record, replaces) {
                    tracing::warn!(error = %e, "store refused a record");
                    self.events.push_back(Event::StoreFailed { id });
                    return Err(Rejection::Store);
                }
                let (kind, signer) = (record.record().kind(), record.record().signer);
                if let Some(old) = replaces {
                    self.seen.insert(old);
                    // A slot is one signer's: the record replaced was signed by the same key.
                    if let Some(ids) = self.received.get_mut(&signer) {
                        ids.remove(&old);
                        if ids.is_empty() {
                            self.received.remove(&signer);
                        }
                    }
                }
                if from.is_some() {
                    self.received.entry(signer).or_default().insert(id);
                }
                self.events.push_back(Event::Stored { id, kind, signer, from });
                Ok(how)
            }
            Err(why) => {
                // A record refused for what it is (its signer's standing, an older timestamp)
                // stays in the reconciled set, so no peer sends it again. FarFuture is not
                // remembered: the same record becomes valid with time.
                if matches!(why, Rejection::LowReputation | Rejection::Superseded) {
                    self.seen.insert(id);
                }
                if why == Rejection::LowReputation {
                    self.untrusted.insert(id);
                }
                Err(why)
            }
        }
    }

    fn cookie(&self, peer: SocketAddr, session: u64, epoch: u64) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = SipHasher13::new_with_keys(self.cookie_key.0, self.cookie_key.1);
        peer.hash(&mut h);
        session.hash(&mut h);
        epoch.hash(&mut h);
        // Never 0: 0 means "no cookie" on the wire.
        h.finish() | 1
    }

    fn epoch(now: Instant) -> u64 {
        now.as_micros() / 30_000_000
    }

    fn cookie_now(&self, now: Instant, peer: SocketAddr, session: u64) -> u64 {
        self.cookie(peer, session, Self::epoch(now))
    }

    fn cookie_ok(&self, now: Instant, peer: SocketAddr, session: u64, cookie: u64) -> bool {
        let e = Self::epoch(now);
        cookie != 0
            && (cookie == self.cookie(peer, session, e) || (e > 0 && cookie == self.cookie(peer, session, e - 1)))
    }

    /// One pass over the reconciled set: the store, then the remembered ids, each with
    /// whether it is in the store.
    fn each_id(&self, f: &mut dyn FnMut(&ContentId, bool)) {
        self.store.for_each_id(&mut |id| f(id, true));
        self.seen.for_each(&mut |id| f(id, false));
    }

    /// [`each_id`](Self::each_id) with each id's short id under `hasher`, only those within
    /// `range`.
    fn scan(&self, hasher: &ShortIds, range: u32, f: &mut dyn FnMut(&ContentId, u64, bool)) {
        self.each_id(&mut |id, in_store| {
            let s = hasher.of(id);
            if prefix(s) <= range {
                f(id, s, in_store);
            }
        });
    }

    /// Builds this side's table like `theirs` (same seed, size and range), subtracts, peels,
    /// and sorts what came out into records to give and prefixes to ask for.
    fn decode_against(
        &self,
        with_estimator: bool,
        salt: Salt,
        seed: u64,
        range: u32,
        theirs: Vec<Cell>,
        known: &[bool],
    ) -> Decoded {
        let hasher = ShortIds::new(salt);
        let mut estimator = Estimator::default();
        let mut mine = Iblt::new(seed, theirs.len());
        // Every short id, in pass order, so the second pass need not hash again (the store
        // does not change between the two).
        let mut shorts = Vec::with_capacity(self.store.len() + self.seen.len());
        self.each_id(&mut |id, _| {
            let s = hasher.of(id);
            shorts.push(s);
            if prefix(s) <= range {
                if with_estimator {
                    estimator.add(s);
                }
                mine.toggle(s);
            }
        });
        let mut diff = Iblt::from_cells(seed, theirs);
        diff.subtract(&mine);
        let peeled = diff.peel(known);
        let mut mine_only = Vec::new();
        let mut wants = Vec::new();
        if !peeled.keys.is_empty() {
            let recovered: FastSet<u64> = peeled.keys.iter().copied().collect();
            let mut held: FastSet<u64> = fast_set();
            // A second pass: which recovered keys are this side's. Ids only in the seen set
            // are this side's too, but there is no record to give for them.
            let mut i = 0;
            self.each_id(&mut |id, in_store| {
                let s = shorts.get(i).copied().unwrap_or_default();
                i += 1;
                if recovered.contains(&s) {
                    held.insert(s);
                    if in_store {
                        mine_only.push(*id);
                    }
                }
            });
            wants = peeled.keys.iter().filter(|k| !held.contains(*k)).map(|&k| prefix(k)).collect();
            wants.sort_unstable();
            wants.dedup();
            mine_only.sort_unstable();
        }
        Decoded { peeled, mine_only, wants, estimator }
    }

    /// Queues records as `Records` datagrams carrying `cookie`, at most `budget` datagram
    /// bytes in all; records that do not fit are counted as deferred.
    fn queue_records(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        cookie: u64,
        ids: &[ContentId],
        budget: usize,
    ) -> Sent {
        let mut sent = Sent::default();
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut batch_len = wire::RECORDS_FIXED_LEN;
        let mut deferred = 0u64;
        for id in ids {
            let Some(bytes) = self.store.get(id) else { continue };
            let need = 2 + bytes.len();
            if batch_len + need > MAX_DATAGRAM || batch.len() == usize::from(u8::MAX) {
                self.flush_records(local, peer, session, cookie, &mut batch, &mut sent);
                batch_len = wire::RECORDS_FIXED_LEN;
            }
            // On the wire if it goes: what is queued, plus the open datagram with it.
            if sent.bytes + batch_len + need > budget {
                deferred += 1;
                continue;
            }
            batch_len += need;
            batch.push(bytes);
        }
        self.flush_records(local, peer, session, cookie, &mut batch, &mut sent);
        self.stats.records_deferred += deferred;
        sent
    }

    fn flush_records(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        cookie: u64,
        batch: &mut Vec<Vec<u8>>,
        sent: &mut Sent,
    ) {
        if batch.is_empty() {
            return;
        }
        let records: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        Message::Records { session, cookie, records }.encode(&mut self.scratch);
        if self.out.push(Some(local), peer, &self.scratch).is_ok() {
            sent.bytes += self.scratch.len();
            sent.record_bytes += batch.iter().map(Vec::len).sum::<usize>();
            sent.records += batch.len();
        } else {
            self.stats.queue_full += 1;
            self.stats.records_deferred += batch.len() as u64;
        }
        batch.clear();
    }

    fn push(&mut self, local: Option<SocketAddr>, peer: SocketAddr, msg: &Message<'_>) -> usize {
        msg.encode(&mut self.scratch);
        if self.out.push(local, peer, &self.scratch).is_err() {
            self.stats.queue_full += 1;
            return 0;
        }
        self.scratch.len()
    }

    /// Records arrived: from the peer of a round this node runs, or from an initiator that
    /// echoes this node's cookie. Anything else is dropped unread.
    fn on_records(&mut self, now: Instant, peer: SocketAddr, session: u64, cookie: u64, records: &[&[u8]], len: usize) {
        let ours = self.rounds.get(&peer).is_some_and(|r| r.session == session);
        if !ours && !self.cookie_ok(now, peer, session, cookie) {
            self.stats.bad_cookie += 1;
            return;
        }
        let mut stored = 0u64;
        for bytes in records {
            let id = ContentId::of(bytes);
            if self.store.contains(&id) || self.seen.contains(&id) {
                self.stats.records_refused += 1;
                continue;
            }
            // Bytes that are no valid record are not remembered: no honest peer holds them,
            // and remembering them would let anyone fill the reconciled set with junk.
            let why = match VerifiedRecord::decode_with(bytes, &self.config.verifier) {
                Ok(record) => match self.accept(now, record, Some(peer)) {
                    Ok(_) => {
                        stored += 1;
                        self.stats.records_stored += 1;
                        continue;
                    }
                    Err(why) => why,
                },
                Err(e) => Rejection::Invalid(e),
            };
            self.stats.records_refused += 1;
            self.events.push_back(Event::Refused { id, why, from: peer });
        }
        if ours {
            let record_bytes: usize = records.iter().map(|r| r.len()).sum();
            self.round_received_records(now, peer, records.len() as u64, stored, record_bytes, len);
        }
    }
}

impl<S: Store, R: Reputation> Machine for SyncNode<S, R> {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        let Ok(msg) = Message::decode(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let len = datagram.len();
        match msg {
            Message::Probe { session, cookie, cells, .. } => {
                self.on_probe(now, local, remote, session, cookie, cells, len)
            }
            Message::Estimate { session, cookie, set_len, estimator } => {
                self.on_estimate(now, remote, session, cookie, set_len, &estimator, len);
            }
            Message::Cells { session, table, total, range, first, cells, .. }
                if self.rounds.get(&remote).is_some_and(|r| r.session == session && r.pull.is_some()) =>
            {
                self.on_pulled_cells(now, remote, table, total, range, first, cells, len);
            }
            Message::Cells { session, cookie, table, total, range, first, cells } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_cells(now, local, remote, session, table, total, range, first, cells);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Pull { session, cookie, table, total, range } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_pull(now, local, remote, session, cookie, table, total, range);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Want { session, cookie, wants } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_want(now, local, remote, session, wants);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Result { session, table, complete, need_cells, cookie, deferred, part, parts, wants } => {
                let verdict = initiator::Verdict { complete, need_cells, cookie, deferred };
                self.on_result(now, remote, session, table, verdict, part, parts, wants, len);
            }
            Message::Records { session, cookie, records } => {
                self.on_records(now, remote, session, cookie, &records, len)
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.responder_timeouts(now);
        self.initiator_timeouts(now);
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_deadline().map(|(t, _)| t)
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        self.next_deadline().map(|(_, why)| why)
    }
}

impl<S: Store, R: Reputation> SyncNode<S, R> {
    fn next_deadline(&self) -> Option<(Instant, &'static str)> {
        let rounds = self.rounds.values().flat_map(Round::deadlines);
        let assemblies = self.assemblies.values().map(|a| (a.deadline, "table assembly"));
        rounds.chain(assemblies).min_by_key(|(t, _)| *t)
    }
}
