//! The initiator's half of a round (`docs/sync.md` §4.5): the probe, the estimate, a table
//! pushed to the responder or pulled from it, retries, and the records each side lacks.

use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;

use super::responder::Assembly;
use super::{Decoded, Sent, StartError, SyncNode};
use crate::FastSet;
use crate::accept::Reputation;
use crate::event::{Event, RoundEnd, RoundReport};
use crate::recon::estimate::Estimator;
use crate::recon::hash::{Salt, ShortIds};
use crate::recon::iblt::{Cell, Iblt};
use crate::recon::{cells_for, prefix, table_seed};
use crate::record::ContentId;
use crate::store::Store;
use crate::wire::{self, CELLS_PER_DATAGRAM, MAX_DATAGRAM, MAX_TABLE_CELLS, Message, PROBE_CELLS};

/// Which way the last datagram of a round went: a change of direction starts a flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Out,
    In,
}

/// What a `Result` says about its table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Verdict {
    pub(crate) complete: bool,
    pub(crate) need_cells: u32,
    pub(crate) cookie: u64,
    pub(crate) deferred: u32,
}

/// A round this node started.
pub(crate) struct Round {
    local: SocketAddr,
    pub(super) session: u64,
    deadline: Instant,
    /// Short ids of the set when the round began (table 1 of a push is built from them).
    shorts: Vec<u64>,
    estimator: Estimator,
    cookie: Option<u64>,
    /// The table whose answer is awaited (0: the probe) and its cells, which bound how many
    /// ids its decoding can name.
    awaiting: u8,
    awaiting_cells: u32,
    /// Only ids whose short-id prefix is at most this take part (the whole set unless the
    /// difference is larger than the largest table).
    range: u32,
    parts: Vec<bool>,
    wants: Vec<u32>,
    verdict: Option<Verdict>,
    flush_at: Option<Instant>,
    report: RoundReport,
    dir: Option<Dir>,
    /// The responder's table being assembled, when this side decodes (pull mode).
    pub(super) pull: Option<Assembly>,
    /// Records still expected for the wants sent in pull mode; the round ends when they are
    /// in, or at `flush_at`.
    expect_records: u64,
    /// The probe was sent again to fetch records the first answer could not carry.
    reprobed: bool,
}

impl Round {
    fn note(&mut self, dir: Dir) {
        if self.dir != Some(dir) {
            self.dir = Some(dir);
            self.report.flights += 1;
        }
    }

    fn received(&mut self, len: usize) {
        self.note(Dir::In);
        self.report.datagrams += 1;
        self.report.reconciliation_bytes += len as u64;
    }

    fn sent_records(&mut self, sent: Sent) {
        if sent.records > 0 {
            self.note(Dir::Out);
            self.report.datagrams += sent.bytes.div_ceil(MAX_DATAGRAM) as u64;
            self.report.records_sent += sent.records as u64;
            self.report.record_bytes += sent.record_bytes as u64;
            self.report.framing_bytes += (sent.bytes - sent.record_bytes) as u64;
        }
    }

    /// Its deadlines and why.
    pub(super) fn deadlines(&self) -> impl Iterator<Item = (Instant, &'static str)> {
        [
            Some((self.deadline, "round timeout")),
            self.flush_at.map(|t| (t, "result flush")),
            self.pull.as_ref().map(|a| (a.deadline, "pulled table assembly")),
        ]
        .into_iter()
        .flatten()
    }
}

impl<S: Store, R: Reputation> SyncNode<S, R> {
    /// Starts a round with `peer`: sends the probe.
    pub fn start_round(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr) -> Result<u64, StartError> {
        if self.rounds.contains_key(&peer) {
            return Err(StartError::Busy);
        }
        if self.rounds.len() >= self.config.max_rounds {
            return Err(StartError::TooMany);
        }
        let session = self.rng.next_u64();
        let hasher = ShortIds::new(Salt(session));
        let mut shorts = Vec::with_capacity(self.store.len() + self.seen.len());
        let mut estimator = Estimator::default();
        let mut probe = Iblt::new(table_seed(session, 0), PROBE_CELLS);
        self.scan(&hasher, u32::MAX, &mut |_, s, _| {
            shorts.push(s);
            estimator.add(s);
            probe.toggle(s);
        });
        let msg = Message::Probe { session, cookie: 0, set_len: shorts.len() as u32, cells: probe.cells().to_vec() };
        let report = RoundReport { peer: Some(peer), session, covered_permille: 1000, ..RoundReport::default() };
        let round = Round {
            local,
            session,
            deadline: now + self.config.round_timeout,
            shorts,
            estimator,
            cookie: None,
            awaiting: 0,
            awaiting_cells: PROBE_CELLS as u32,
            range: u32::MAX,
            parts: Vec::new(),
            wants: Vec::new(),
            verdict: None,
            flush_at: None,
            report,
            dir: None,
            pull: None,
            expect_records: 0,
            reprobed: false,
        };
        self.rounds.insert(peer, round);
        self.send_round(peer, &msg);
        Ok(session)
    }

    /// Queues a message of `peer`'s round, counting it in the round's report.
    fn send_round(&mut self, peer: SocketAddr, msg: &Message<'_>) {
        let Some(local) = self.rounds.get(&peer).map(|r| r.local) else { return };
        let len = self.push(Some(local), peer, msg);
        if let Some(round) = self.rounds.get_mut(&peer) {
            round.note(Dir::Out);
            round.report.reconciliation_bytes += len as u64;
            round.report.datagrams += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_estimate(
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
        let Some(round) = self
            .rounds
            .get_mut(&peer)
            .filter(|r| r.session == session && r.awaiting == 0 && r.report.estimate.is_none())
        else {
            self.stats.stray += 1;
            return;
        };
        round.received(len);
        round.cookie = Some(cookie);
        let estimate = round.estimator.difference(theirs);
        round.report.estimate = Some(estimate);
        // A difference larger than the largest table is reconciled one range of short ids at a
        // time: this round takes the share that fits, the next round (another salt) another.
        let most = ((f64::from(MAX_TABLE_CELLS) - 24.0) / overhead) as u64;
        let in_range = estimate.min(most);
        if estimate > most {
            round.range = (f64::from(u32::MAX) * most as f64 / estimate as f64) as u32;
            round.report.covered_permille = (1000 * most / estimate) as u16;
        }
        let cells = cells_for(in_range, overhead);
        let shorts = core::mem::take(&mut round.shorts);
        if shorts.len() > their_len as usize {
            // This side holds more: let it decode, so the ids it must name (the wants) are the
            // smaller share of the difference.
            self.send_pull(now, peer, 1, cells);
            return;
        }
        let range = round.range;
        let mut table = Iblt::new(table_seed(session, 1), cells as usize);
        shorts.iter().filter(|s| prefix(**s) <= range).for_each(|s| table.toggle(*s));
        self.send_table(peer, 1, &table);
    }

    fn send_table(&mut self, peer: SocketAddr, number: u8, table: &Iblt) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let (session, cookie, range) = (round.session, round.cookie.unwrap_or(0), round.range);
        round.awaiting = number;
        round.awaiting_cells = table.len() as u32;
        round.parts.clear();
        round.wants.clear();
        round.verdict = None;
        round.flush_at = None;
        round.report.tables = number;
        round.report.table_cells += table.len() as u64;
        let total = table.len() as u32;
        for (i, chunk) in table.cells().chunks(CELLS_PER_DATAGRAM).enumerate() {
            let first = (i * CELLS_PER_DATAGRAM) as u32;
            let msg = Message::Cells { session, cookie, table: number, total, range, first, cells: chunk.to_vec() };
            self.send_round(peer, &msg);
        }
    }

    fn send_pull(&mut self, now: Instant, peer: SocketAddr, number: u8, cells: u32) {
        let timeout = self.config.assembly_timeout;
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let (session, cookie, range) = (round.session, round.cookie.unwrap_or(0), round.range);
        let total = (cells.max(3).div_ceil(3) * 3).min(MAX_TABLE_CELLS);
        round.awaiting = number;
        round.awaiting_cells = total;
        round.report.tables = number;
        round.report.table_cells += u64::from(total);
        round.pull = Some(Assembly::new(round.local, total, range, now, timeout));
        self.send_round(peer, &Message::Pull { session, cookie, table: number, total, range });
    }

    /// Cells of a table this side pulled.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_pulled_cells(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        table: u8,
        total: u32,
        range: u32,
        first: u32,
        cells: Vec<Cell>,
        len: usize,
    ) {
        let timeout = self.config.assembly_timeout;
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let awaiting = round.awaiting;
        let Some(a) =
            round.pull.as_mut().filter(|a| awaiting == table && a.cells.len() == total as usize && a.range == range)
        else {
            self.stats.stray += 1;
            return;
        };
        let done = a.fill(first, cells, now, timeout);
        round.received(len);
        if done {
            self.finish_pull(now, peer);
        }
    }

    /// A pulled table is in (or what arrived of it): decode, push what the responder lacks,
    /// ask for what this side lacks, and finish or pull again.
    fn finish_pull(&mut self, now: Instant, peer: SocketAddr) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        let Some(a) = round.pull.take() else { return };
        let (session, cookie, table, local, range) =
            (round.session, round.cookie.unwrap_or(0), round.awaiting, round.local, round.range);
        let (cells, known) = a.take();
        let Decoded { peeled, mine_only, wants, .. } =
            self.decode_against(false, Salt(session), table_seed(session, table), range, cells, &known);
        let sent = self.queue_records(local, peer, session, cookie, &mine_only, usize::MAX);
        if let Some(round) = self.rounds.get_mut(&peer) {
            round.sent_records(sent);
            round.report.wanted += wants.len() as u64;
        }
        for chunk in wire::split_wants(&wants, MAX_DATAGRAM - wire::WANT_FIXED_LEN) {
            self.send_round(peer, &Message::Want { session, cookie, wants: chunk.to_vec() });
        }
        if peeled.complete && wants.is_empty() {
            self.end_round(peer, RoundEnd::Complete);
        } else if peeled.complete {
            let wait = self.config.assembly_timeout * 2;
            if let Some(round) = self.rounds.get_mut(&peer) {
                round.expect_records = wants.len() as u64;
                round.flush_at = Some(now + wait);
            }
        } else if table < self.config.max_tables {
            let cells = cells_for((peeled.stuck_cells as u64).max(8), 1.5);
            self.send_pull(now, peer, table + 1, cells);
        } else {
            self.end_round(peer, RoundEnd::Incomplete);
        }
    }

    /// A `Result` datagram: collect its wants (never more than its table could have
    /// decoded), and act once all its parts are in or after a short wait.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_result(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        session: u64,
        table: u8,
        verdict: Verdict,
        part: u16,
        parts: u16,
        wants: Vec<u32>,
        len: usize,
    ) {
        let Some(round) = self
            .rounds
            .get_mut(&peer)
            .filter(|r| r.session == session && r.awaiting == table && r.pull.is_none() && r.expect_records == 0)
        else {
            self.stats.stray += 1;
            return;
        };
        if round.parts.is_empty() {
            if u32::from(parts) > round.awaiting_cells + 1 {
                self.stats.stray += 1;
                return;
            }
            round.parts = vec![false; usize::from(parts)];
        }
        if round.parts.len() != usize::from(parts) || round.parts[usize::from(part)] {
            self.stats.stray += 1;
            return;
        }
        round.received(len);
        round.parts[usize::from(part)] = true;
        let room = (round.awaiting_cells as usize).saturating_sub(round.wants.len());
        if wants.len() > room {
            self.stats.wants_truncated += (wants.len() - room) as u64;
        }
        round.wants.extend(wants.into_iter().take(room));
        round.verdict = Some(verdict);
        if round.cookie.is_none() {
            round.cookie = Some(verdict.cookie);
        }
        if round.parts.iter().all(|&p| p) {
            self.finish_result(peer);
        } else if round.flush_at.is_none() {
            round.flush_at = Some(now + Duration::from_millis(200));
        }
    }

    /// A whole result (or what arrived of it): send the wanted records, then finish, fetch
    /// deferred records, or retry.
    fn finish_result(&mut self, peer: SocketAddr) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        round.flush_at = None;
        if round.expect_records > 0 {
            // Pull mode: the wanted records that were coming have had their time.
            self.end_round(peer, RoundEnd::Complete);
            return;
        }
        let (session, local, awaiting, range) = (round.session, round.local, round.awaiting, round.range);
        let cookie = round.cookie.unwrap_or(0);
        let Verdict { complete, need_cells, deferred, .. } =
            round.verdict.unwrap_or(Verdict { complete: false, need_cells: 0, cookie: 0, deferred: 0 });
        let all_parts = round.parts.iter().all(|&p| p);
        let reprobed = round.reprobed;
        let wants: FastSet<u32> = core::mem::take(&mut round.wants).into_iter().collect();
        round.report.wanted += wants.len() as u64;
        let hasher = ShortIds::new(Salt(session));
        if !wants.is_empty() {
            let mut ids: Vec<ContentId> = Vec::new();
            self.scan(&hasher, range, &mut |id, s, in_store| {
                if in_store && wants.contains(&prefix(s)) {
                    ids.push(*id);
                }
            });
            ids.sort_unstable();
            let sent = self.queue_records(local, peer, session, cookie, &ids, usize::MAX);
            if let Some(round) = self.rounds.get_mut(&peer) {
                round.sent_records(sent);
            }
        }
        if complete && all_parts && deferred > 0 && awaiting == 0 && !reprobed {
            // The responder holds records for us that did not fit its unvalidated answer:
            // probe again with its cookie, which lifts the bound.
            let mut probe = Iblt::new(table_seed(session, 0), PROBE_CELLS);
            self.scan(&hasher, u32::MAX, &mut |_, s, _| probe.toggle(s));
            if let Some(round) = self.rounds.get_mut(&peer) {
                round.reprobed = true;
                round.parts.clear();
                round.verdict = None;
            }
            let msg = Message::Probe { session, cookie, set_len: 0, cells: probe.cells().to_vec() };
            self.send_round(peer, &msg);
        } else if complete && all_parts {
            self.end_round(peer, RoundEnd::Complete);
        } else if awaiting < self.config.max_tables {
            // Retry with a fresh table over the set as it is now (records just exchanged are in
            // it on both sides, so it only has to hold what is still missing).
            let cells = if complete { cells_for(64, 1.5) } else { need_cells.max(3) };
            let mut table = Iblt::new(table_seed(session, awaiting + 1), cells as usize);
            self.scan(&hasher, range, &mut |_, s, _| table.toggle(s));
            self.send_table(peer, awaiting + 1, &table);
        } else {
            self.end_round(peer, RoundEnd::Incomplete);
        }
    }

    pub(super) fn end_round(&mut self, peer: SocketAddr, end: RoundEnd) {
        if let Some(round) = self.rounds.remove(&peer) {
            let mut report = round.report;
            report.end = end;
            self.events.push_back(Event::RoundEnded(report));
        }
    }

    /// Records of this round arrived (counted) and `stored` of them were stored.
    pub(super) fn round_received_records(
        &mut self,
        _now: Instant,
        peer: SocketAddr,
        records: u64,
        stored: u64,
        record_bytes: usize,
        len: usize,
    ) {
        let Some(round) = self.rounds.get_mut(&peer) else { return };
        round.note(Dir::In);
        round.report.datagrams += 1;
        round.report.record_bytes += record_bytes as u64;
        round.report.framing_bytes += (len - record_bytes) as u64;
        round.report.records_received += records;
        round.report.records_stored += stored;
        if round.expect_records > 0 {
            round.expect_records = round.expect_records.saturating_sub(records);
            if round.expect_records == 0 {
                self.end_round(peer, RoundEnd::Complete);
            }
        }
    }

    pub(super) fn initiator_timeouts(&mut self, now: Instant) {
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
}
