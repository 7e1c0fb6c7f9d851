//! The responder's half of a round (`docs/sync.md` §4.5, §6): stateless answers to probes,
//! tables assembled for validated initiators, pulled tables and wanted records.

use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::Instant;

use super::{Decoded, SyncNode};
use crate::FastSet;
use crate::accept::Reputation;
use crate::recon::hash::{Salt, ShortIds};
use crate::recon::iblt::{Cell, Iblt, Peeled};
use crate::recon::{cells_for, prefix, table_seed};
use crate::store::Store;
use crate::wire::{self, CELLS_PER_DATAGRAM, MAX_DATAGRAM, Message};

/// Tables (pulled or assembled) remembered so a replay is not answered twice.
const SERVED_MEMORY: usize = 256;

/// A table being received from one validated initiator.
pub(crate) struct Assembly {
    pub(super) local: SocketAddr,
    pub(super) cells: Vec<Cell>,
    pub(super) known: Vec<bool>,
    pub(super) received: u32,
    pub(super) range: u32,
    /// When it is decoded with what arrived: the assembly timeout after the last new cell,
    /// and never later than `latest`.
    pub(super) deadline: Instant,
    pub(super) latest: Instant,
}

impl Assembly {
    pub(super) fn new(local: SocketAddr, total: u32, range: u32, now: Instant, timeout: core::time::Duration) -> Self {
        let m = total as usize;
        Self {
            local,
            cells: vec![Cell::default(); m],
            known: vec![false; m],
            received: 0,
            range,
            deadline: now + timeout,
            latest: now + timeout * 4,
        }
    }

    /// Stores cells from `first`; returns whether every cell is in.
    pub(super) fn fill(&mut self, first: u32, cells: Vec<Cell>, now: Instant, timeout: core::time::Duration) -> bool {
        let mut new = false;
        for (i, c) in cells.into_iter().enumerate() {
            let at = first as usize + i;
            if !self.known[at] {
                self.known[at] = true;
                self.received += 1;
                new = true;
            }
            self.cells[at] = c;
        }
        if new {
            self.deadline = (now + timeout).min(self.latest);
        }
        self.received as usize == self.cells.len()
    }

    /// The cells and which arrived (empty when all did).
    pub(super) fn take(self) -> (Vec<Cell>, Vec<bool>) {
        let all = self.received as usize == self.cells.len();
        (self.cells, if all { Vec::new() } else { self.known })
    }
}

impl<S: Store, R: Reputation> SyncNode<S, R> {
    /// A probe: decode it against this side's probe table. Decoded: the records the initiator
    /// lacks and what this side wants. Not: the estimator. An unvalidated probe (no cookie)
    /// gets at most 3× its bytes back, and is refused before any work when the budget for
    /// such replies cannot pay for that.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_probe(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        cookie: u64,
        cells: Vec<Cell>,
        request_len: usize,
    ) {
        let validated = self.cookie_ok(now, peer, session, cookie);
        let allowance = if validated { usize::MAX } else { 3 * request_len };
        if !validated && !self.unvalidated.has(now, allowance as u64) {
            self.stats.unvalidated_refused += 1;
            return;
        }
        if !self.take_pass(now) {
            return;
        }
        let d = self.decode_against(true, Salt(session), table_seed(session, 0), u32::MAX, cells, &[]);
        let cookie = self.cookie_now(now, peer, session);
        let spent = if d.peeled.complete {
            let result_len = wire::RESULT_FIXED_LEN
                + crate::recon::rice::encoded_len(&d.wants, crate::recon::rice::parameter_for(&d.wants));
            let sent = self.queue_records(local, peer, session, 0, &d.mine_only, allowance.saturating_sub(result_len));
            let deferred = (d.mine_only.len() - sent.records) as u32;
            sent.bytes + self.queue_result(local, peer, session, 0, cookie, deferred, &d.peeled, &d.wants)
        } else {
            let set_len = (self.store.len() + self.seen.len()) as u32;
            self.push(Some(local), peer, &Message::Estimate { session, cookie, set_len, estimator: d.estimator })
        };
        if !validated {
            self.unvalidated.spend(spent as u64);
        }
    }

    /// `Result` datagrams for a decoded table: the verdict, the cookie, and the wants split
    /// over as many datagrams as they need. Returns the bytes queued.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn queue_result(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        table: u8,
        cookie: u64,
        deferred: u32,
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
                cookie,
                deferred,
                part: i as u16,
                parts: n as u16,
                wants: chunk.to_vec(),
            };
            spent += self.push(Some(local), peer, &msg);
        }
        spent
    }

    /// Cells of a table from a validated initiator. One assembly per source (a new table
    /// replaces its older one), at most [`Config::max_assemblies`](super::Config) in all.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_cells(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        table: u8,
        total: u32,
        range: u32,
        first: u32,
        cells: Vec<Cell>,
    ) {
        let key = (peer, session, table);
        if table > self.config.max_tables || self.served.contains(&key) {
            self.stats.stray += 1;
            return;
        }
        let timeout = self.config.assembly_timeout;
        if !self.assemblies.contains_key(&key) {
            // One table per source: a newer one replaces it. Then the oldest goes if full.
            let before = self.assemblies.len();
            self.assemblies.retain(|k, _| k.0 != peer);
            while self.assemblies.len() >= self.config.max_assemblies.max(1) {
                let oldest = self.assemblies.iter().min_by_key(|(k, a)| (a.latest, **k)).map(|(k, _)| *k);
                let Some(k) = oldest else { break };
                self.assemblies.remove(&k);
            }
            self.stats.assemblies_evicted += (before - self.assemblies.len()) as u64;
            self.assemblies.insert(key, Assembly::new(local, total, range, now, timeout));
        }
        let Some(a) = self.assemblies.get_mut(&key) else { return };
        if a.cells.len() != total as usize || a.range != range {
            self.stats.malformed += 1;
            return;
        }
        if a.fill(first, cells, now, timeout) {
            self.finish_assembly(now, key);
        }
    }

    /// Decodes an assembled (or timed-out) table and answers: records, then the result.
    pub(super) fn finish_assembly(&mut self, now: Instant, key: (SocketAddr, u64, u8)) {
        let Some(a) = self.assemblies.remove(&key) else { return };
        self.remember_served(key);
        let (peer, session, table) = key;
        if !self.take_pass(now) {
            return;
        }
        let (local, range) = (a.local, a.range);
        let (cells, known) = a.take();
        let Decoded { peeled, mine_only, wants, .. } =
            self.decode_against(false, Salt(session), table_seed(session, table), range, cells, &known);
        self.queue_records(local, peer, session, 0, &mine_only, usize::MAX);
        let cookie = self.cookie_now(now, peer, session);
        self.queue_result(local, peer, session, table, cookie, 0, &peeled, &wants);
    }

    /// A validated initiator that holds more ids decodes itself: send this side's table.
    /// Each (source, session, table) is answered once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_pull(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        session: u64,
        cookie: u64,
        table: u8,
        total: u32,
        range: u32,
    ) {
        let key = (peer, session, table);
        if table > self.config.max_tables || self.served.contains(&key) {
            self.stats.stray += 1;
            return;
        }
        if !self.take_pass(now) {
            return;
        }
        self.remember_served(key);
        let hasher = ShortIds::new(Salt(session));
        let mut t = Iblt::new(table_seed(session, table), total as usize);
        self.scan(&hasher, range, &mut |_, s, _| t.toggle(s));
        for (i, chunk) in t.cells().chunks(CELLS_PER_DATAGRAM).enumerate() {
            let first = (i * CELLS_PER_DATAGRAM) as u32;
            let msg = Message::Cells { session, cookie, table, total, range, first, cells: chunk.to_vec() };
            self.push(Some(local), peer, &msg);
        }
    }

    /// A validated initiator names the ids it wants: send their records.
    pub(super) fn on_want(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, session: u64, wants: Vec<u32>) {
        if !self.take_pass(now) {
            return;
        }
        let hasher = ShortIds::new(Salt(session));
        let wants: FastSet<u32> = wants.into_iter().collect();
        let mut ids = Vec::new();
        self.scan(&hasher, u32::MAX, &mut |id, s, in_store| {
            if in_store && wants.contains(&prefix(s)) {
                ids.push(*id);
            }
        });
        ids.sort_unstable();
        self.queue_records(local, peer, session, 0, &ids, usize::MAX);
    }

    /// Takes one whole-set pass from the budget for work done for others (counted if spent).
    fn take_pass(&mut self, now: Instant) -> bool {
        let ok = self.passes.take(now, 1);
        if !ok {
            self.stats.busy += 1;
        }
        ok
    }

    /// A table answered: later datagrams for it are strays, not a second pass.
    fn remember_served(&mut self, key: (SocketAddr, u64, u8)) {
        if self.served.len() >= SERVED_MEMORY {
            self.served.pop_front();
        }
        self.served.push_back(key);
    }

    pub(super) fn responder_timeouts(&mut self, now: Instant) {
        let due: Vec<(SocketAddr, u64, u8)> =
            self.assemblies.iter().filter(|(_, a)| a.deadline <= now).map(|(k, _)| *k).collect();
        for key in due {
            self.finish_assembly(now, key);
        }
    }
}
