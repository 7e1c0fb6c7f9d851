//! [`SyncNode`]: the machine that reconciles a record store with peers (`docs/sync.md` §5–6).
//!
//! A node is an initiator of its own rounds (at most one per peer) and a responder to anyone's.
//! The responder keeps no state between rounds: the only thing it holds is a table being
//! assembled from `Cells` datagrams, and only for sources that echoed its cookie.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::{Instant, Machine, Seed, SeededRng, Transmit, TransmitQueue};
use siphasher::sip::SipHasher13;

use crate::accept::{Accepted, Policy, Rejection, Reputation, SeenIds, decide};
use crate::event::{Event, RoundEnd, RoundReport};
use crate::recon::estimate::Estimator;
use crate::recon::hash::{Salt, ShortIds};
use crate::recon::iblt::{Cell, Iblt, Peeled};
use crate::recon::{cells_for, prefix, table_seed};
use crate::record::{ContentId, VerifiedRecord};
use crate::store::Store;
use crate::wire::{self, CELLS_PER_DATAGRAM, MAX_DATAGRAM, Message, PROBE_CELLS};
use crate::{FastSet, fast_set};

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
    /// How long a responder waits for the rest of a table after its last cell arrived.
    pub assembly_timeout: Duration,
    /// Tables a responder assembles at once; the oldest is dropped for a new one.
    pub max_assemblies: usize,
    /// Rounds this node runs at once.
    pub max_rounds: usize,
    /// Tables per round after the probe (each a retry with a fresh seed).
    pub max_tables: u8,
    /// Cells per estimated differing id in the first sized table.
    pub table_overhead: f64,
    /// Bytes a responder may send to unvalidated sources per second (token bucket, 1 s deep).
    pub unvalidated_bytes_per_sec: u64,
    /// Outgoing datagrams queued at most, and their bytes.
    pub queue_datagrams: usize,
    /// See `queue_datagrams`.
    pub queue_bytes: usize,
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
            max_assemblies: 4,
            max_rounds: 64,
            max_tables: 3,
            table_overhead: 1.4,
            unvalidated_bytes_per_sec: 1 << 20,
            queue_datagrams: 8192,
            queue_bytes: 8 << 20,
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
    /// Messages for no running round, or a stale table.
    pub stray: u64,
    /// `Cells` whose cookie did not verify.
    pub bad_cookie: u64,
    /// Replies not sent to unvalidated sources (budget spent).
    pub unvalidated_refused: u64,
    /// Records the reply budget or the queue could not carry this round.
    pub records_deferred: u64,
    /// Records received and stored.
    pub records_stored: u64,
    /// Records received and refused, by any reason.
    pub records_refused: u64,
    /// Tables dropped for a newer one ([`Config::max_assemblies`]).
    pub assemblies_evicted: u64,
    /// Datagrams the transmit queue refused.
    pub queue_full: u64,
}

struct Round {
    local: SocketAddr,
    session: u64,
    deadline: Instant,
    /// Short ids of the set when the round began (the probe and table 1 are built from them).
    shorts: Vec<u64>,
    estimator: Estimator,
    cookie: Option<u64>,
    /// The table whose result is awaited (0 = the probe).
    awaiting: u8,
    parts: Vec<bool>,
    wants: Vec<u32>,
    verdict: Option<(bool, u32)>,
    flush_at: Option<Instant>,
    report: RoundReport,
    /// Whether the last datagram counted belonged to a reply flight.
    in_reply: bool,
    /// The responder's table being assembled, when this side decodes (pull mode).
    pull: Option<Assembly>,
    /// Records still expected for the wants sent in pull mode; the round ends when they are
    /// in or at `flush_at`.
    expect_records: u64,
}

struct Assembly {
    local: SocketAddr,
    cells: Vec<Cell>,
    known: Vec<bool>,
    received: u32,
    deadline: Instant,
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
    rng: SeededRng,
    cookie_key: (u64, u64),
    rounds: BTreeMap<SocketAddr, Round>,
    assemblies: BTreeMap<(SocketAddr, u64, u8), Assembly>,
    out: TransmitQueue,
    events: VecDeque<Event>,
    stats: NodeStats,
    budget: u64,
    budget_at: Instant,
    scratch: Vec<u8>,
}

impl<S: Store, R: Reputation> SyncNode<S, R> {
    /// A node over `store`, gating records with `reputation`.
    pub fn new(config: Config, seed: Seed, store: S, reputation: R) -> Self {
        let mut rng = SeededRng::from_seed(seed);
        let cookie_key = (rng.next_u64(), rng.next_u64());
        Self {
            seen: SeenIds::new(config.seen_capacity),
            out: TransmitQueue::new(config.queue_datagrams, config.queue_bytes),
            budget: config.unvalidated_bytes_per_sec,
            config,
            store,
            reputation,
            rng,
            cookie_key,
            rounds: BTreeMap::new(),
            assemblies: BTreeMap::new(),
            events: VecDeque::new(),
            stats: NodeStats::default(),
            budget_at: Instant::ZERO,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The store, to add records the node did not receive (they are checked by
    /// [`insert_local`](Self::insert_local) instead when they should be).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
    /// The reputation function.
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
                    return Err(Rejection::Duplicate);
                }
                if let Some(old) = replaces {
                    self.seen.insert(old);
                }
                self.events.push_back(Event::Stored {
                    id,
                    kind: record.record().kind(),
                    signer: record.record().signer,
                    from,
                });
                Ok(how)
            }
            Err(Rejection::Duplicate) => Err(Rejection::Duplicate),
            Err(why) => {
                // FarFuture is not remembered: the same record becomes valid with time.
                if why != Rejection::FarFuture {
                    self.seen.insert(id);
                }
                Err(why)
            }
        }
    }

    /// Starts a round with `peer`: sends the probe.
    pub fn start_round(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr) -> Result<u64, StartError> {
        if self.rounds.contains_key(&peer) {
            return Err(StartError::Busy);
        }
        if self.rounds.len() >= self.config.max_rounds {
            return Err(StartError::TooMany);
        }
        let session = self.rng.next_u64();
        let salt = Salt(session);
        let hasher = ShortIds::new(salt);
        let mut shorts = Vec::with_capacity(self.store.len() + self.seen.len());
        let mut estimator = Estimator::default();
        let mut probe = Iblt::new(table_seed(session, 0), PROBE_CELLS);
        let mut add = |id: &ContentId| {
            let s = hasher.of(id);
            shorts.push(s);
            estimator.add(s);
            probe.toggle(s);
        };
        self.store.for_each_id(&mut add);
        self.seen.for_each(&mut add);
        let mut report = RoundReport { peer: Some(peer), session, ..RoundReport::default() };
        let msg = Message::Probe { session, set_len: shorts.len() as u32, cells: probe.cells().to_vec() };
        report.flights = 1;
        let round = Round {
            local,
            session,
            deadline: now + self.config.round_timeout,
            shorts,
            estimator,
            cookie: None,
            awaiting: 0,
            parts: Vec::new(),
            wants: Vec::new(),
            verdict: None,
            flush_at: None,
            report,
            in_reply: false,
            pull: None,
            expect_records: 0,
        };
        self.rounds.insert(peer, round);
        self.send_round(peer, &msg, 0);
        Ok(session)
    }

    /// Queues a message of `peer`'s round, counting it in the round's report.
    fn send_round(&mut self, peer: SocketAddr, msg: &Message<'_>, record_bytes: usize) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        msg.encode(&mut self.scratch);
        round.report.reconciliation_bytes += (self.scratch.len() - record_bytes) as u64;
        round.report.record_bytes += record_bytes as u64;
        round.report.datagrams += 1;
        if round.in_reply {
            round.in_reply = false;
            round.report.flights += 1;
        }
        if self.out.push(Some(round.local), peer, &self.scratch).is_err() {
            self.stats.queue_full += 1;
        }
    }

    fn cookie(&self, peer: SocketAddr, session: u64, epoch: u64) -> u64 {
        use core::hash::{Hash, Hasher};
        let mut h = SipHasher13::new_with_keys(self.cookie_key.0, self.cookie_key.1);
        peer.hash(&mut h);
        session.hash(&mut h);
        epoch.hash(&mut h);
        h.finish()
    }

    fn epoch(now: Instant) -> u64 {
        now.as_micros() / 30_000_000
    }

    fn cookie_ok(&self, now: Instant, peer: SocketAddr, session: u64, cookie: u64) -> bool {
        let e = Self::epoch(now);
        cookie == self.cookie(peer, session, e) || (e > 0 && cookie == self.cookie(peer, session, e - 1))
    }

    /// Spends `bytes` of the unvalidated-reply budget, refilled at the configured rate.
    fn spend_unvalidated(&mut self, now: Instant, bytes: usize) -> bool {
        let rate = self.config.unvalidated_bytes_per_sec;
        let elapsed = now.saturating_duration_since(self.budget_at).as_micros() as u64;
        self.budget = (self.budget + elapsed.saturating_mul(rate) / 1_000_000).min(rate);
        self.budget_at = now;
        if self.budget >= bytes as u64 {
            self.budget -= bytes as u64;
            true
        } else {
            self.stats.unvalidated_refused += 1;
            false
        }
    }

    /// The responder's half: its own table under `seed`, subtracted from `theirs` and peeled;
    /// returns the peel, the ids only this side holds, and the prefixes this side wants.
    fn decode_against(
        &self,
        with_estimator: bool,
        salt: Salt,
        seed: u64,
        theirs: Vec<Cell>,
        known: &[bool],
    ) -> (Peeled, Vec<ContentId>, Vec<u32>, Estimator) {
        let hasher = ShortIds::new(salt);
        let mut shorts = Vec::with_capacity(self.store.len() + self.seen.len());
        let mut estimator = Estimator::default();
        let mut mine = Iblt::new(seed, theirs.len());
        let mut add = |id: &ContentId| {
            let s = hasher.of(id);
            shorts.push(s);
            if with_estimator {
                estimator.add(s);
            }
            mine.toggle(s);
        };
        self.store.for_each_id(&mut add);
        self.seen.for_each(&mut add);
        let mut diff = Iblt::from_cells(seed, theirs);
        diff.subtract(&mine);
        let peeled = diff.peel(known);
        let recovered: FastSet<u64> = peeled.keys.iter().copied().collect::<FastSet<u64>>();
        let mut mine_only_keys: FastSet<u64> = fast_set();
        let mut mine_only = Vec::new();
        if !recovered.is_empty() {
            let mut i = 0;
            // Same order as the pass above: the store has not changed in between. Ids only in
            // the seen set are skipped: this side has no record to give for them.
            self.store.for_each_id(&mut |id: &ContentId| {
                if recovered.contains(&shorts[i]) {
                    mine_only_keys.insert(shorts[i]);
                    mine_only.push(*id);
                }
                i += 1;
            });
            for s in &shorts[i..] {
                if recovered.contains(s) {
                    mine_only_keys.insert(*s);
                }
            }
        }
        let mut wants: Vec<u32> =
            peeled.keys.iter().filter(|k| !mine_only_keys.contains(*k)).map(|&k| prefix(k)).collect();
        wants.sort_unstable();
        wants.dedup();
        mine_only.sort_unstable();
        (peeled, mine_only, wants, estimator)
    }

    /// Queues records as `Records` datagrams, at most `budget` bytes in all; returns bytes
    /// queued and counts the records left out.
    fn queue_records(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        ids: &[ContentId],
        budget: usize,
    ) -> usize {
        let mut spent = 0;
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut batch_len = wire::RECORDS_FIXED_LEN;
        let mut left_out = 0u64;
        let flush = |this: &mut Self, batch: &mut Vec<Vec<u8>>, spent: &mut usize| {
            if batch.is_empty() {
                return;
            }
            let records: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            Message::Records { session, records }.encode(&mut this.scratch);
            *spent += this.scratch.len();
            if this.out.push(Some(local), peer, &this.scratch).is_err() {
                this.stats.queue_full += 1;
            }
            batch.clear();
        };
        for id in ids {
            let Some(bytes) = self.store.get(id) else { continue };
            let need = 2 + bytes.len();
            if spent + batch_len + need > budget {
                left_out += 1;
                continue;
            }
            if batch_len + need > MAX_DATAGRAM || batch.len() == usize::from(u8::MAX) {
                flush(self, &mut batch, &mut spent);
                batch_len = wire::RECORDS_FIXED_LEN;
            }
            batch_len += need;
            batch.push(bytes);
        }
        flush(self, &mut batch, &mut spent);
        self.stats.records_deferred += left_out;
        spent
    }

    fn queue_result(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        table: u8,
        peeled: &Peeled,
        wants: &[u32],
    ) -> usize {
        let need_cells = if peeled.complete { 0 } else { cells_for((peeled.stuck_cells as u64).max(8), 1.5) };
        let parts = wire::split_wants(wants, MAX_DATAGRAM - wire::RESULT_FIXED_LEN);
        let n = parts.len().max(1);
        let mut spent = 0;
        for i in 0..n {
            let chunk = parts.get(i).copied().unwrap_or(&[]);
            let msg = Message::Result {
                session,
                table,
                complete: peeled.complete,
                need_cells,
                part: i as u16,
                parts: n as u16,
                wants: chunk.to_vec(),
            };
            msg.encode(&mut self.scratch);
            spent += self.scratch.len();
            if self.out.push(Some(local), peer, &self.scratch).is_err() {
                self.stats.queue_full += 1;
            }
        }
        spent
    }

    fn on_probe(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        cells: Vec<Cell>,
        request_len: usize,
    ) {
        let (peeled, mine_only, wants, estimator) =
            self.decode_against(true, Salt(session), table_seed(session, 0), cells, &[]);
        // Unvalidated: everything we send back stays within 3× the probe (RFC 9000's bound).
        let allowance = 3 * request_len;
        if peeled.complete {
            let result_len = wire::RESULT_FIXED_LEN
                + crate::recon::rice::encoded_len(&wants, crate::recon::rice::parameter(wants.len()));
            if !self.spend_unvalidated(now, allowance) {
                return;
            }
            let budget = allowance.saturating_sub(result_len);
            self.queue_records(local, peer, session, &mine_only, budget);
            self.queue_result(local, peer, session, 0, &peeled, &wants);
        } else {
            let set_len = (self.store.len() + self.seen.len()) as u32;
            let msg =
                Message::Estimate { session, cookie: self.cookie(peer, session, Self::epoch(now)), set_len, estimator };
            msg.encode(&mut self.scratch);
            if self.scratch.len() <= allowance && self.spend_unvalidated(now, self.scratch.len()) {
                if self.out.push(Some(local), peer, &self.scratch).is_err() {
                    self.stats.queue_full += 1;
                }
            } else {
                self.stats.unvalidated_refused += 1;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_cells(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        table: u8,
        total: u32,
        first: u32,
        cells: Vec<Cell>,
    ) {
        let key = (peer, session, table);
        if !self.assemblies.contains_key(&key) {
            if self.assemblies.len() >= self.config.max_assemblies {
                let oldest = self.assemblies.iter().min_by_key(|(k, a)| (a.deadline, **k)).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.assemblies.remove(&k);
                    self.stats.assemblies_evicted += 1;
                }
            }
            let m = total as usize;
            self.assemblies.insert(
                key,
                Assembly { local, cells: vec![Cell::default(); m], known: vec![false; m], received: 0, deadline: now },
            );
        }
        let Some(a) = self.assemblies.get_mut(&key) else { return };
        if a.cells.len() != total as usize {
            self.stats.malformed += 1;
            return;
        }
        for (i, c) in cells.into_iter().enumerate() {
            let at = first as usize + i;
            if !a.known[at] {
                a.known[at] = true;
                a.received += 1;
            }
            a.cells[at] = c;
        }
        a.deadline = now + self.config.assembly_timeout;
        if a.received == total {
            self.finish_assembly(key);
        }
    }

    fn finish_assembly(&mut self, key: (SocketAddr, u64, u8)) {
        let Some(a) = self.assemblies.remove(&key) else { return };
        let (peer, session, table) = key;
        let all_known = a.received as usize == a.cells.len();
        let known = if all_known { Vec::new() } else { a.known };
        let (peeled, mine_only, wants, _) =
            self.decode_against(false, Salt(session), table_seed(session, table), a.cells, &known);
        self.queue_records(a.local, peer, session, &mine_only, usize::MAX);
        self.queue_result(a.local, peer, session, table, &peeled, &wants);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_estimate(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        session: u64,
        cookie: u64,
        their_len: u32,
        theirs: &Estimator,
        len: usize,
    ) {
        let overhead = self.config.table_overhead;
        let Some(round) =
            self.rounds.get_mut(&peer).filter(|r| r.session == session && r.awaiting == 0 && r.cookie.is_none())
        else {
            self.stats.stray += 1;
            return;
        };
        round.report.reconciliation_bytes += len as u64;
        round.report.datagrams += 1;
        round.report.flights += 1;
        round.in_reply = true;
        round.cookie = Some(cookie);
        let estimate = round.estimator.difference(theirs);
        round.report.estimate = Some(estimate);
        let cells = cells_for(estimate, overhead);
        if round.shorts.len() > their_len as usize {
            // This side holds more: let it decode, so the ids it must name (the wants) are the
            // smaller share of the difference.
            round.shorts = Vec::new();
            let local = round.local;
            self.send_pull(now, peer, local, 1, cells);
            return;
        }
        let mut table = Iblt::new(table_seed(session, 1), cells as usize);
        for s in &round.shorts {
            table.toggle(*s);
        }
        round.shorts = Vec::new();
        self.send_table(peer, 1, &table);
    }

    fn send_pull(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr, number: u8, cells: u32) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let (session, cookie) = (round.session, round.cookie.unwrap_or(0));
        let total = cells.max(3).div_ceil(3) * 3;
        round.awaiting = number;
        round.report.tables = number;
        round.report.table_cells += u64::from(total);
        let m = total as usize;
        round.pull = Some(Assembly {
            local,
            cells: vec![Cell::default(); m],
            known: vec![false; m],
            received: 0,
            deadline: now + self.config.assembly_timeout,
        });
        self.send_round(peer, &Message::Pull { session, cookie, table: number, total }, 0);
    }

    /// Cells of a table this side pulled.
    #[allow(clippy::too_many_arguments)]
    fn on_pulled_cells(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        table: u8,
        total: u32,
        first: u32,
        cells: Vec<Cell>,
        len: usize,
    ) {
        let assembly_timeout = self.config.assembly_timeout;
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let Some(a) = round.pull.as_mut().filter(|a| round.awaiting == table && a.cells.len() == total as usize) else {
            self.stats.stray += 1;
            return;
        };
        if !round.in_reply {
            round.in_reply = true;
            round.report.flights += 1;
        }
        round.report.reconciliation_bytes += len as u64;
        round.report.datagrams += 1;
        for (i, c) in cells.into_iter().enumerate() {
            let at = first as usize + i;
            if !a.known[at] {
                a.known[at] = true;
                a.received += 1;
            }
            a.cells[at] = c;
        }
        a.deadline = now + assembly_timeout;
        if a.received == total {
            self.finish_pull(now, peer);
        }
    }

    /// A pulled table is in (or what arrived of it): decode, push what the responder lacks,
    /// ask for what this side lacks, and finish or pull again.
    fn finish_pull(&mut self, now: Instant, peer: SocketAddr) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let Some(a) = round.pull.take() else { return };
        let (session, cookie, table, local) = (round.session, round.cookie.unwrap_or(0), round.awaiting, round.local);
        let known = if a.received as usize == a.cells.len() { Vec::new() } else { a.known };
        let (peeled, mine_only, wants, _) =
            self.decode_against(false, Salt(session), table_seed(session, table), a.cells, &known);
        let bytes: usize = mine_only.iter().filter_map(|id| self.store.get(id)).map(|b| b.len()).sum();
        let spent = self.queue_records(local, peer, session, &mine_only, usize::MAX);
        for chunk in wire::split_wants(&wants, MAX_DATAGRAM - wire::WANT_FIXED_LEN) {
            self.send_round(peer, &Message::Want { session, cookie, wants: chunk.to_vec() }, 0);
        }
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        round.report.records_sent += mine_only.len() as u64;
        round.report.record_bytes += bytes as u64;
        round.report.framing_bytes += (spent - bytes) as u64;
        round.report.wanted += wants.len() as u64;
        if round.in_reply && spent > 0 {
            round.in_reply = false;
            round.report.flights += 1;
        }
        if peeled.complete && wants.is_empty() {
            self.end_round(peer, RoundEnd::Complete);
        } else if peeled.complete {
            round.expect_records = wants.len() as u64;
            round.flush_at = Some(now + self.config.assembly_timeout);
        } else if table < self.config.max_tables {
            let cells = cells_for((peeled.stuck_cells as u64).max(8), 1.5);
            self.send_pull(now, peer, local, table + 1, cells);
        } else {
            self.end_round(peer, RoundEnd::Incomplete);
        }
    }

    /// Responder: build my table for a validated initiator that decodes itself.
    fn on_pull(&mut self, local: SocketAddr, peer: SocketAddr, session: u64, cookie: u64, table: u8, total: u32) {
        let salt = Salt(session);
        let hasher = ShortIds::new(salt);
        let mut t = Iblt::new(table_seed(session, table), total as usize);
        let mut add = |id: &ContentId| t.toggle(hasher.of(id));
        self.store.for_each_id(&mut add);
        self.seen.for_each(&mut add);
        for (i, chunk) in t.cells().chunks(CELLS_PER_DATAGRAM).enumerate() {
            let msg = Message::Cells {
                session,
                cookie,
                table,
                total,
                first: (i * CELLS_PER_DATAGRAM) as u32,
                cells: chunk.to_vec(),
            };
            msg.encode(&mut self.scratch);
            if self.out.push(Some(local), peer, &self.scratch).is_err() {
                self.stats.queue_full += 1;
            }
        }
    }

    /// Responder: a validated initiator names the ids it wants.
    fn on_want(&mut self, local: SocketAddr, peer: SocketAddr, session: u64, wants: Vec<u32>) {
        let salt = Salt(session);
        let hasher = ShortIds::new(salt);
        let wants: FastSet<u32> = wants.into_iter().collect();
        let mut ids = Vec::new();
        self.store.for_each_id(&mut |id: &ContentId| {
            if wants.contains(&prefix(hasher.of(id))) {
                ids.push(*id);
            }
        });
        ids.sort_unstable();
        self.queue_records(local, peer, session, &ids, usize::MAX);
    }

    fn send_table(&mut self, peer: SocketAddr, number: u8, table: &Iblt) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let (session, cookie) = (round.session, round.cookie.unwrap_or(0));
        round.awaiting = number;
        round.parts.clear();
        round.wants.clear();
        round.verdict = None;
        round.flush_at = None;
        round.report.tables = number;
        round.report.table_cells += table.len() as u64;
        let total = table.len() as u32;
        for (i, chunk) in table.cells().chunks(CELLS_PER_DATAGRAM).enumerate() {
            let msg = Message::Cells {
                session,
                cookie,
                table: number,
                total,
                first: (i * CELLS_PER_DATAGRAM) as u32,
                cells: chunk.to_vec(),
            };
            self.send_round(peer, &msg, 0);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_result(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        session: u64,
        table: u8,
        complete: bool,
        need_cells: u32,
        part: u16,
        parts: u16,
        wants: Vec<u32>,
        len: usize,
    ) {
        let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.session == session && r.awaiting == table) else {
            self.stats.stray += 1;
            return;
        };
        if round.parts.is_empty() {
            round.parts = vec![false; usize::from(parts)];
        }
        if round.parts.len() != usize::from(parts) || round.parts[usize::from(part)] {
            self.stats.stray += 1;
            return;
        }
        if !round.in_reply {
            round.in_reply = true;
            round.report.flights += 1;
        }
        round.report.reconciliation_bytes += len as u64;
        round.report.datagrams += 1;
        round.parts[usize::from(part)] = true;
        round.wants.extend(wants);
        round.verdict = Some((complete, need_cells));
        if round.parts.iter().all(|&p| p) {
            self.finish_result(peer);
        } else if round.flush_at.is_none() {
            round.flush_at = Some(now + Duration::from_millis(200));
        }
    }

    /// A whole result (or what arrived of it): send the wanted records, then finish or retry.
    fn finish_result(&mut self, peer: SocketAddr) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        round.flush_at = None;
        if round.expect_records > 0 {
            // Pull mode: the wanted records that were coming have had their time.
            self.end_round(peer, RoundEnd::Complete);
            return;
        }
        let (session, local, awaiting) = (round.session, round.local, round.awaiting);
        let (complete, need) = round.verdict.unwrap_or((false, 0));
        let all_parts = round.parts.iter().all(|&p| p);
        let wants: FastSet<u32> = core::mem::take(&mut round.wants).into_iter().collect();
        round.report.wanted += wants.len() as u64;
        let salt = Salt(session);
        let hasher = ShortIds::new(salt);
        if !wants.is_empty() {
            let mut ids = Vec::new();
            let mut pick = |id: &ContentId| {
                if wants.contains(&prefix(hasher.of(id))) {
                    ids.push(*id);
                }
            };
            self.store.for_each_id(&mut pick);
            ids.sort_unstable();
            let mut bytes = 0usize;
            let mut n = 0u64;
            for id in &ids {
                if let Some(b) = self.store.get(id) {
                    bytes += b.len();
                    n += 1;
                }
            }
            let spent = self.queue_records(local, peer, session, &ids, usize::MAX);
            if let Some(round) = self.rounds.get_mut(&peer) {
                round.report.records_sent += n;
                round.report.record_bytes += bytes as u64;
                round.report.framing_bytes += (spent - bytes) as u64;
                if round.in_reply {
                    round.in_reply = false;
                    round.report.flights += 1;
                }
            }
        }
        if !self.rounds.contains_key(&peer) {
            return;
        }
        if complete && all_parts {
            self.end_round(peer, RoundEnd::Complete);
        } else if awaiting < self.config.max_tables && (!complete || !all_parts) {
            // Retry with a fresh table over the set as it is now (records just exchanged are in
            // it on both sides, so it only has to hold what is still missing).
            let cells = if complete { cells_for(64, 1.5) } else { need.max(3) };
            let mut table = Iblt::new(table_seed(session, awaiting + 1), cells as usize);
            let mut add = |id: &ContentId| table.toggle(hasher.of(id));
            self.store.for_each_id(&mut add);
            self.seen.for_each(&mut add);
            self.send_table(peer, awaiting + 1, &table);
        } else {
            self.end_round(peer, RoundEnd::Incomplete);
        }
    }

    fn end_round(&mut self, peer: SocketAddr, end: RoundEnd) {
        if let Some(round) = self.rounds.remove(&peer) {
            let mut report = round.report;
            report.end = end;
            self.events.push_back(Event::RoundEnded(report));
        }
    }

    fn on_records(&mut self, now: Instant, peer: SocketAddr, session: u64, records: &[&[u8]], len: usize) {
        let mut record_bytes = 0usize;
        let mut stored = 0u64;
        for bytes in records {
            record_bytes += bytes.len();
            let id = ContentId::of(bytes);
            if self.store.contains(&id) || self.seen.contains(&id) {
                self.stats.records_refused += 1;
                continue;
            }
            match VerifiedRecord::decode(bytes) {
                Ok(record) => match self.accept(now, record, Some(peer)) {
                    Ok(_) => {
                        stored += 1;
                        self.stats.records_stored += 1;
                    }
                    Err(why) => {
                        self.stats.records_refused += 1;
                        self.events.push_back(Event::Refused { id, why, from: peer });
                    }
                },
                Err(e) => {
                    self.seen.insert(id);
                    self.stats.records_refused += 1;
                    self.events.push_back(Event::Refused { id, why: Rejection::Invalid(e), from: peer });
                }
            }
        }
        if let Some(round) = self.rounds.get_mut(&peer).filter(|r| r.session == session) {
            if !round.in_reply {
                round.in_reply = true;
                round.report.flights += 1;
            }
            round.report.datagrams += 1;
            round.report.record_bytes += record_bytes as u64;
            round.report.framing_bytes += (len - record_bytes) as u64;
            round.report.records_received += records.len() as u64;
            round.report.records_stored += stored;
            if round.expect_records > 0 {
                round.expect_records = round.expect_records.saturating_sub(records.len() as u64);
                if round.expect_records == 0 {
                    self.end_round(peer, RoundEnd::Complete);
                }
            }
        }
    }
}

impl<S: Store, R: Reputation> Machine for SyncNode<S, R> {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        let len = datagram.len();
        match msg {
            Message::Probe { session, cells, .. } => self.on_probe(now, local, remote, session, cells, len),
            Message::Estimate { session, cookie, set_len, estimator } => {
                self.on_estimate(now, remote, session, cookie, set_len, &estimator, len);
            }
            Message::Cells { session, table, total, first, cells, .. }
                if self.rounds.get(&remote).is_some_and(|r| r.session == session && r.pull.is_some()) =>
            {
                self.on_pulled_cells(now, remote, table, total, first, cells, len);
            }
            Message::Pull { session, cookie, table, total } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_pull(local, remote, session, cookie, table, total);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Want { session, cookie, wants } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_want(local, remote, session, wants);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Cells { session, cookie, table, total, first, cells } => {
                if self.cookie_ok(now, remote, session, cookie) {
                    self.on_cells(now, local, remote, session, table, total, first, cells);
                } else {
                    self.stats.bad_cookie += 1;
                }
            }
            Message::Result { session, table, complete, need_cells, part, parts, wants } => {
                self.on_result(now, remote, session, table, complete, need_cells, part, parts, wants, len);
            }
            Message::Records { session, records } => self.on_records(now, remote, session, &records, len),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(SocketAddr, u64, u8)> =
            self.assemblies.iter().filter(|(_, a)| a.deadline <= now).map(|(k, _)| *k).collect();
        for key in due {
            self.finish_assembly(key);
        }
        let pulls: Vec<SocketAddr> = self
            .rounds
            .iter()
            .filter(|(_, r)| r.pull.as_ref().is_some_and(|a| a.deadline <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in pulls {
            self.finish_pull(now, peer);
        }
        let flush: Vec<SocketAddr> =
            self.rounds.iter().filter(|(_, r)| r.flush_at.is_some_and(|t| t <= now)).map(|(p, _)| *p).collect();
        for peer in flush {
            self.finish_result(peer);
        }
        let expired: Vec<SocketAddr> = self.rounds.iter().filter(|(_, r)| r.deadline <= now).map(|(p, _)| *p).collect();
        for peer in expired {
            self.end_round(peer, RoundEnd::TimedOut);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let rounds = self
            .rounds
            .values()
            .flat_map(|r| [Some(r.deadline), r.flush_at, r.pull.as_ref().map(|a| a.deadline)])
            .flatten();
        let assemblies = self.assemblies.values().map(|a| a.deadline);
        rounds.chain(assemblies).min()
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        let round = self.rounds.values().flat_map(|r| {
            [
                (r.deadline, "round timeout"),
                (r.flush_at.unwrap_or(Instant::MAX), "result flush"),
                (r.pull.as_ref().map_or(Instant::MAX, |a| a.deadline), "pulled table assembly"),
            ]
        });
        let asm = self.assemblies.values().map(|a| (a.deadline, "table assembly"));
        round.chain(asm).min_by_key(|(t, _)| *t).map(|(_, why)| why)
    }
}
