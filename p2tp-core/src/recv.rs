//! The receiving half of a stream: the receive window, duplicates, declaring losses with a
//! reordering tolerance, and the LSS flag with its floor (docs/p2tp.md §3.1, §6.2, §7.1, §7.2).

use alloc::collections::VecDeque;
use core::time::Duration;

use sansio_core::Instant;

use crate::config::{REO_MULT_RESET, REO_WND_MIN, REORDER_THRESHOLD, RX_AHEAD, RX_BACK};
use crate::serial::{self, MODULUS, add, distance, older};

/// Gaps remembered at once; beyond this the oldest is declared lost at once.
const MAX_GAPS: usize = 256;
const WORDS: usize = (RX_BACK / 64) as usize;

/// What a received sequence number is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Not seen before; `newest` if it is the highest so far.
    New { newest: bool },
    /// Seen before.
    Duplicate,
    /// Outside the receive window.
    OutOfWindow,
}

/// A run of missing sequence numbers, not yet declared lost.
#[derive(Copy, Clone, Debug)]
struct Gap {
    start: u32,
    /// Inclusive.
    end: u32,
    /// When the packet that revealed it arrived.
    seen_at: Instant,
    /// `arrivals` then: packets since are later arrivals.
    arrivals_at: u64,
}

/// Counters of the receiving half.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecvStats {
    /// Sequence numbers declared lost.
    pub lost: u64,
    /// Packets that arrived after being declared lost.
    pub spurious: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets outside the window dropped.
    pub out_of_window: u64,
}

/// One stream's receive state.
#[derive(Clone, Debug)]
pub(crate) struct Receiver {
    started: bool,
    hi: u32,
    received: [u64; WORDS],
    lost: [u64; WORDS],
    gaps: VecDeque<Gap>,
    arrivals: u64,
    /// Gaps below this are part of a loss event already acknowledged by a CLR.
    floor: u32,
    lost_hi: Option<u32>,
    mult: u32,
    clean_events: u32,
    /// The forward timestamp of the highest packet that carried one, and its seq.
    ts_recent: Option<(u32, u32)>,
    echo_owed: bool,
    pub(crate) stats: RecvStats,
}

impl Default for Receiver {
    fn default() -> Self {
        Self {
            started: false,
            hi: 0,
            received: [0; WORDS],
            lost: [0; WORDS],
            gaps: VecDeque::new(),
            arrivals: 0,
            floor: 0,
            lost_hi: None,
            mult: 1,
            clean_events: 0,
            ts_recent: None,
            echo_owed: false,
            stats: RecvStats::default(),
        }
    }
}

fn bit(set: &[u64; WORDS], seq: u32) -> bool {
    let i = (seq % RX_BACK) as usize;
    set[i / 64] & (1 << (i % 64)) != 0
}

fn put(set: &mut [u64; WORDS], seq: u32, on: bool) {
    let i = (seq % RX_BACK) as usize;
    if on {
        set[i / 64] |= 1 << (i % 64);
    } else {
        set[i / 64] &= !(1 << (i % 64));
    }
}

impl Receiver {
    /// Where `seq` falls, without recording it.
    pub(crate) fn classify(&self, seq: u32) -> Arrival {
        if !self.started {
            return Arrival::New { newest: true };
        }
        let d = distance(self.hi, seq);
        if d == 0 {
            Arrival::Duplicate
        } else if d <= RX_AHEAD {
            Arrival::New { newest: true }
        } else if d > MODULUS - RX_BACK {
            if bit(&self.received, seq) { Arrival::Duplicate } else { Arrival::New { newest: false } }
        } else {
            Arrival::OutOfWindow
        }
    }

    /// Records packet `seq` (with CLR as given) arriving at `now`. Returns where it fell.
    pub(crate) fn on_packet(&mut self, now: Instant, seq: u32, clr: bool) -> Arrival {
        let arrival = self.classify(seq);
        match arrival {
            Arrival::Duplicate => self.stats.duplicates += 1,
            Arrival::OutOfWindow => self.stats.out_of_window += 1,
            Arrival::New { newest: true } if !self.started => {
                self.started = true;
                self.hi = seq;
                self.floor = seq;
                put(&mut self.received, seq, true);
            }
            Arrival::New { newest: true } => self.advance(now, seq),
            Arrival::New { newest: false } => self.fill(seq),
        }
        if matches!(arrival, Arrival::New { .. }) {
            self.arrivals += 1;
            if clr && !older(add(seq, 1), self.floor) {
                self.floor = add(seq, 1);
                self.gaps.retain(|g| !older(g.end, self.floor));
                if let Some(g) = self.gaps.front_mut()
                    && older(g.start, self.floor)
                {
                    g.start = self.floor;
                }
            }
        }
        arrival
    }

    /// A new highest packet: clears the bitmap for the numbers passed, notes the gap.
    fn advance(&mut self, now: Instant, seq: u32) {
        let d = distance(self.hi, seq);
        if d >= RX_BACK {
            self.received = [0; WORDS];
            self.lost = [0; WORDS];
        } else {
            for s in 1..=d {
                let n = add(self.hi, s);
                put(&mut self.received, n, false);
                put(&mut self.lost, n, false);
            }
        }
        if d > 1 {
            self.gaps.push_back(Gap {
                start: add(self.hi, 1),
                end: add(seq, serial::MASK),
                seen_at: now,
                arrivals_at: self.arrivals,
            });
        }
        self.hi = seq;
        put(&mut self.received, seq, true);
        // Without a loss to signal, the floor follows the window, so it never falls half the
        // circle behind (where serial order would flip and new losses go unsignalled).
        let window_start = seq.wrapping_sub(RX_BACK) & serial::MASK;
        if !self.lss() && older(self.floor, window_start) {
            self.floor = window_start;
            self.lost_hi = None;
        }
        // Gaps sliding out of the back window can no longer be filled: lost now.
        while let Some(g) = self.gaps.front().copied() {
            if distance(g.start, self.hi) < RX_BACK && self.gaps.len() <= MAX_GAPS {
                break;
            }
            self.gaps.pop_front();
            self.declare(g.start, g.end);
        }
    }

    /// A packet below the highest that was missing.
    fn fill(&mut self, seq: u32) {
        put(&mut self.received, seq, true);
        if bit(&self.lost, seq) {
            put(&mut self.lost, seq, false);
            self.stats.spurious += 1;
            self.clean_events = 0;
            self.mult = self.mult.saturating_add(1).min(64);
            return;
        }
        let Some(i) = self.gaps.iter().position(|g| !older(seq, g.start) && !older(g.end, seq)) else { return };
        let g = self.gaps[i];
        match (seq == g.start, seq == g.end) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => self.gaps[i].start = add(seq, 1),
            (false, true) => self.gaps[i].end = add(seq, serial::MASK),
            (false, false) => {
                self.gaps[i].end = add(seq, serial::MASK);
                self.gaps.insert(i + 1, Gap { start: add(seq, 1), ..g });
            }
        }
    }

    fn declare(&mut self, start: u32, end: u32) {
        let n = distance(start, end) + 1;
        self.stats.lost += u64::from(n);
        for k in 0..n.min(RX_BACK) {
            let s = add(end, MODULUS - k);
            if distance(s, self.hi) < RX_BACK {
                put(&mut self.lost, s, true);
            }
        }
        if !older(end, self.floor) && self.lost_hi.is_none_or(|h| older(h, end)) {
            self.lost_hi = Some(end);
        }
        self.clean_events += 1;
        if self.clean_events >= REO_MULT_RESET {
            self.mult = 1;
            self.clean_events = 0;
        }
    }

    /// The reordering window: `max(1 ms, min(mult·minRTT/4, SRTT))`.
    pub(crate) fn reo_wnd(&self, min_rtt: Duration, srtt: Duration) -> Duration {
        (min_rtt / 4 * self.mult).min(srtt).max(REO_WND_MIN)
    }

    /// Whether any sequence numbers are missing (so loss detection has work).
    #[inline]
    pub(crate) fn has_gaps(&self) -> bool {
        !self.gaps.is_empty()
    }

    /// Declares every gap that has waited long enough with enough packets after it.
    pub(crate) fn detect(&mut self, now: Instant, reo_wnd: Duration) {
        let mut i = 0;
        while i < self.gaps.len() {
            let g = self.gaps[i];
            if self.arrivals - g.arrivals_at >= REORDER_THRESHOLD && now >= g.seen_at + reo_wnd {
                self.gaps.remove(i);
                self.declare(g.start, g.end);
            } else {
                i += 1;
            }
        }
    }

    /// When the next gap that already has enough later packets becomes a loss.
    pub(crate) fn next_detection(&self, reo_wnd: Duration) -> Option<Instant> {
        self.gaps
            .iter()
            .filter(|g| self.arrivals - g.arrivals_at >= REORDER_THRESHOLD)
            .map(|g| g.seen_at + reo_wnd)
            .min()
    }

    /// LSS: a loss at or above the floor has not been acknowledged by a newer CLR.
    pub(crate) fn lss(&self) -> bool {
        self.lost_hi.is_some_and(|h| !older(h, self.floor))
    }

    /// Notes the forward timestamp of packet `seq`; an echo is owed if it is the newest.
    pub(crate) fn on_forward_timestamp(&mut self, seq: u32, ts: u32) {
        if self.ts_recent.is_none_or(|(s, _)| older(s, seq)) {
            self.ts_recent = Some((seq, ts));
            self.echo_owed = true;
        }
    }

    /// Whether an echo is owed.
    pub(crate) fn echo_owed(&self) -> bool {
        self.echo_owed
    }

    /// The timestamp to echo, marking it sent.
    pub(crate) fn take_echo(&mut self) -> Option<u32> {
        self.echo_owed = false;
        self.ts_recent.map(|(_, ts)| ts)
    }

    /// The latest forward timestamp received, if any (a close echoes it).
    pub(crate) fn ts_recent(&self) -> Option<u32> {
        self.ts_recent.map(|(_, ts)| ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(40);

    fn feed(r: &mut Receiver, seqs: &[u32], at_ms: u64) {
        for &s in seqs {
            r.on_packet(Instant::from_millis(at_ms), s, false);
        }
    }

    #[test]
    fn a_gap_is_a_loss_only_after_three_later_packets_and_the_reorder_window() {
        let mut r = Receiver::default();
        feed(&mut r, &[10, 11, 13, 14], 0);
        r.detect(Instant::from_millis(100), REO_WND_MIN);
        assert!(!r.lss(), "two later packets are not enough");
        feed(&mut r, &[15], 1);
        let wnd = r.reo_wnd(RTT, RTT);
        assert_eq!(wnd, Duration::from_millis(10));
        assert_eq!(r.next_detection(wnd), Some(Instant::from_millis(10)));
        r.detect(Instant::from_millis(9), wnd);
        assert!(!r.lss(), "within the reordering window");
        r.detect(Instant::from_millis(10), wnd);
        assert!(r.lss());
        assert_eq!(r.stats.lost, 1);
    }

    #[test]
    fn reordering_within_the_window_is_not_a_loss_and_a_late_loss_widens_it() {
        let mut r = Receiver::default();
        feed(&mut r, &[0, 2, 3, 4, 1], 0);
        r.detect(Instant::from_secs(1), REO_WND_MIN);
        assert!(!r.lss());
        assert_eq!(r.stats.lost, 0);
        // Declared lost, then it turns up: spurious, and the window grows.
        feed(&mut r, &[6, 7, 8, 9], 1_000);
        r.detect(Instant::from_secs(2), REO_WND_MIN);
        assert_eq!(r.stats.lost, 1);
        feed(&mut r, &[5], 2_000);
        assert_eq!((r.stats.spurious, r.mult), (1, 2));
        assert_eq!(r.classify(5), Arrival::Duplicate);
    }

    #[test]
    fn a_clr_newer_than_the_loss_clears_lss_and_older_gaps_are_never_signalled() {
        let mut r = Receiver::default();
        feed(&mut r, &[100, 102, 103, 104], 0);
        r.detect(Instant::from_secs(1), REO_WND_MIN);
        assert!(r.lss());
        // A CLR on a packet sent before the loss was seen (older than it) does not clear it.
        r.on_packet(Instant::from_secs(1), 99, true);
        assert!(r.lss());
        r.on_packet(Instant::from_secs(1), 105, true);
        assert!(!r.lss(), "the floor passed the loss");
        // A gap below the floor is folded into the acknowledged event.
        let mut r = Receiver::default();
        feed(&mut r, &[0, 2], 0);
        r.on_packet(Instant::ZERO, 3, true);
        feed(&mut r, &[4, 5, 6], 0);
        r.detect(Instant::from_secs(1), REO_WND_MIN);
        assert!(!r.lss());
    }

    #[test]
    fn sequence_numbers_wrap_without_spurious_gaps() {
        let mut r = Receiver::default();
        let start = serial::MODULUS - 1000;
        let mut s = start;
        for i in 0..3000u64 {
            assert_eq!(r.on_packet(Instant::from_micros(i), s, false), Arrival::New { newest: true });
            s = add(s, 1);
        }
        r.detect(Instant::from_secs(10), REO_WND_MIN);
        assert_eq!((r.stats.lost, r.lss()), (0, false));
        assert_eq!(r.on_packet(Instant::from_secs(10), add(s, serial::MASK), false), Arrival::Duplicate);
        assert_eq!(r.on_packet(Instant::from_secs(10), add(s, RX_AHEAD + 5), false), Arrival::OutOfWindow);
    }
}
