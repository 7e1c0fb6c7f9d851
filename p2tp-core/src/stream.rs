//! One stream: the handshake states, what each packet carries, pacing, acknowledgement by
//! echo, the loss flags and the stream's timers (docs/p2tp.md §5–§10).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::{Instant, SeededRng, TimerKind, TimerTable, TransmitQueue};

use crate::arena::RecvArena;
use crate::config::{
    Config, FB_BURST, H2R_SPAN, HS_RTO_INITIAL, HS_TRIES, INFLIGHT_WINDOWS, INITIAL_WINDOW, PERSISTENT_EXPIRIES,
};
use crate::congestion::Controller;
use crate::cookie::CookieJar;
use crate::event::{CloseReason, Event, OpenFailure};
use crate::header::{HEADER_LEN, Header, STUN_MAGIC};
use crate::recv::{Arrival, Receiver};
use crate::rtt::RttEstimator;
use crate::serial::{HALF, MASK, add, distance, older};
use crate::stats::PathStats;

/// Where a stream is in its life (docs/p2tp.md §5.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `connect` was called: H1s go out.
    Opening { tries: u32, started: Instant },
    /// The peer proved it is real; our SOP=1 packets echo its cookie until it answers.
    Unconfirmed { peer_cookie: u32, tries: u32, since: Instant, was_open: bool },
    /// Both sides hold state.
    Established,
    /// Closed locally: strays are answered with a close until `until`.
    Draining { until: Instant },
}

/// The stream's timers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum StreamTimer {
    Handshake,
    Pace,
    Feedback,
    Loss,
    NoFeedback,
    KeepAlive,
    Idle,
    Drain,
    Unreachable,
}

impl TimerKind for StreamTimer {
    const ALL: &'static [Self] = &[
        Self::Handshake,
        Self::Pace,
        Self::Feedback,
        Self::Loss,
        Self::NoFeedback,
        Self::KeepAlive,
        Self::Idle,
        Self::Drain,
        Self::Unreachable,
    ];
    fn index(self) -> usize {
        self as usize
    }
    fn reason(self) -> &'static str {
        match self {
            Self::Handshake => "P2TP handshake retransmission or probe",
            Self::Pace => "P2TP pacing",
            Self::Feedback => "P2TP feedback",
            Self::Loss => "P2TP loss detection",
            Self::NoFeedback => "P2TP no-feedback timer",
            Self::KeepAlive => "P2TP keep-alive",
            Self::Idle => "P2TP idle timeout",
            Self::Drain => "P2TP drain",
            Self::Unreachable => "P2TP liveness probe or unreachable peer",
        }
    }
}

/// A data packet sent and not yet covered by an echo.
#[derive(Copy, Clone, Debug)]
struct Sent {
    /// The timestamp clock when it left.
    ts: u32,
    at: Instant,
    /// UDP payload bytes.
    bytes: u32,
    /// Bytes delivered (acknowledged) when it left, for the delivery rate.
    delivered: u64,
    app_limited: bool,
}

/// What a SOP=1 packet did to a stream, for the endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// New; `stale_echo` if its echo was neither new nor one of our cookies.
    Accepted {
        stale_echo: bool,
    },
    Duplicate,
    OutOfWindow,
}

/// What the stream will send next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Next {
    H1,
    Data,
    Control,
    Close,
}

/// One stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) peer: SocketAddr,
    pub(crate) phase: Phase,
    /// Freed at the endpoint's next look.
    pub(crate) dead: bool,
    next_seq: u32,
    ts_offset: u32,
    /// Application datagrams waiting, bytes in one buffer (no allocation per datagram).
    queue: TransmitQueue,
    history: VecDeque<Sent>,
    /// The newest valid echo; `None` before the first packet left.
    last_echo: Option<u32>,
    /// The timestamp clock at the last packet sent.
    last_ts_sent: u32,
    last_fwd_at: Option<Instant>,
    echo_seen: bool,
    data_before_echo: u32,
    inflight: u64,
    delivered: u64,
    /// When the last new echo arrived (or the stream last started waiting for one).
    progress_at: Instant,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    /// The controller's rate, bytes per second (cached: asked again when it can change).
    rate: u64,
    /// `max(SRTT/4, 250 µs)`, cached with the rate.
    fb_interval: Duration,
    fb_interval_us: f64,
    pace_tokens: f64,
    /// When both buckets were last refilled.
    pace_at: Instant,
    fb_tokens: f64,
    last_sent_at: Option<Instant>,
    last_echo_sent_at: Option<Instant>,
    sent_flags: (bool, bool),
    h1_due: bool,
    answer_due: bool,
    probe_due: bool,
    keepalive_due: bool,
    /// A close is to be sent (while Draining): the value it echoes.
    close_echo: Option<u32>,
    /// When the last close answered a stray packet while Draining.
    last_drain_close: Option<Instant>,
    last_late_answer: Option<Instant>,
    nofb_expiries: u32,
    last_reduction: Option<Instant>,
    peer_lss: bool,
    peer_newest: Option<u32>,
    recv: Receiver,
    pub(crate) timers: TimerTable<StreamTimer, 9>,
    last_recv_at: Instant,
    loss_intervals: [u64; 8],
    loss_intervals_filled: usize,
    packets_since_loss: u64,
    last_update: Option<(Instant, Duration, u64)>,
    loss_since_update: bool,
    /// The figures may have moved since `path_update` last looked.
    path_changed: bool,
    stats: PathStats,
    delivery_rate: u64,
    app_limited: bool,
    /// The budget in bytes, and its header-less maximum.
    segment: usize,
    /// The keep-alive interval and the idle timeout, in whole microseconds rounded up (what
    /// `Instant + Duration` adds): the timers are set on every update without converting.
    keepalive_us: u64,
    idle_us: u64,
    unreachable_after: Duration,
    /// When the first packet that asked for an answer (a forward timestamp) left since the
    /// last packet arrived, and the liveness probes sent since: what `Unreachable` times.
    unanswered_since: Option<Instant>,
    liveness_probes: u32,
    /// Figures derived from the rate, SRTT and segment, kept by `refresh_rate` (the only
    /// place those change) so the per-packet path does no division: the most bytes in
    /// flight, the bytes one round trip carries at the rate, the pacing bucket's depth, and
    /// the no-feedback timer's base.
    inflight_cap: u64,
    round_trip_bytes: f64,
    pace_depth: f64,
    nofb_base: Duration,
    /// The feedback interval, and the least time between path updates (SRTT, at least
    /// 100 ms), in whole microseconds rounded up: a whole number of microseconds `d`
    /// reaches such a duration exactly when `d >= ceil_us`.
    fb_gap_us: u64,
    update_gap_us: u64,
    /// The first liveness probe's wait, max(1 s, 2·SRTT), and how long after the first
    /// unanswered packet the peer is given up: `unreachable_after`, but never before three
    /// probes had a round trip to be answered in (a path with an SRTT of seconds is slow, not
    /// gone).
    probe_gap: Duration,
    give_up_after: Duration,
}

/// Whole microseconds in `d`, rounded up as `Instant + Duration` rounds (saturating).
fn ceil_us(d: Duration) -> u64 {
    (Instant::ZERO + d).as_micros()
}

/// `t + us` microseconds, saturating: `t + d` for a `d` whose [`ceil_us`] is `us`.
#[inline]
fn after(t: Instant, us: u64) -> Instant {
    Instant::from_micros(t.as_micros().saturating_add(us))
}

/// Whether at least `gap_us` (a [`ceil_us`]) has passed from `since` to `now`.
#[inline]
fn passed(now: Instant, since: Instant, gap_us: u64) -> bool {
    now.as_micros().saturating_sub(since.as_micros()) >= gap_us
}

/// What a stream needs from its endpoint while it works.
pub(crate) struct Ctx<'a> {
    pub(crate) local: SocketAddr,
    pub(crate) jar: &'a mut CookieJar,
}

fn fb_interval(srtt: Duration) -> Duration {
    (srtt / 4).max(Duration::from_micros(250))
}

impl Stream {
    fn new(
        now: Instant,
        peer: SocketAddr,
        phase: Phase,
        rtt: RttEstimator,
        config: &Config,
        rng: &mut SeededRng,
    ) -> Self {
        let segment = config.budget();
        let mut s = Self {
            peer,
            phase,
            dead: false,
            next_seq: rng.next_u32() & MASK,
            ts_offset: rng.next_u32() & MASK,
            queue: TransmitQueue::new(
                config.max_queued_per_stream,
                config.max_queued_per_stream.saturating_mul(segment),
            ),
            history: VecDeque::new(),
            last_echo: None,
            last_ts_sent: 0,
            last_fwd_at: None,
            echo_seen: false,
            data_before_echo: 0,
            inflight: 0,
            delivered: 0,
            progress_at: now,
            rtt,
            cc: config.controller.build(now, segment),
            rate: 1,
            fb_interval: Duration::from_micros(250),
            fb_interval_us: 250.0,
            inflight_cap: 0,
            round_trip_bytes: 0.0,
            pace_depth: 0.0,
            nofb_base: Duration::ZERO,
            fb_gap_us: 250,
            update_gap_us: 100_000,
            probe_gap: Duration::ZERO,
            give_up_after: Duration::ZERO,
            pace_tokens: segment as f64,
            pace_at: now,
            fb_tokens: f64::from(FB_BURST),
            last_sent_at: None,
            last_echo_sent_at: None,
            sent_flags: (false, false),
            h1_due: false,
            answer_due: false,
            probe_due: false,
            keepalive_due: false,
            close_echo: None,
            last_drain_close: None,
            last_late_answer: None,
            nofb_expiries: 0,
            last_reduction: None,
            peer_lss: false,
            peer_newest: None,
            recv: Receiver::default(),
            timers: TimerTable::new(),
            last_recv_at: now,
            loss_intervals: [0; 8],
            loss_intervals_filled: 0,
            packets_since_loss: 0,
            last_update: None,
            loss_since_update: false,
            path_changed: false,
            stats: PathStats::default(),
            delivery_rate: 0,
            app_limited: true,
            segment,
            keepalive_us: ceil_us(config.keepalive),
            idle_us: ceil_us(config.idle_timeout),
            // Zero would give every stream up a microsecond after each forward timestamp.
            unreachable_after: config.unreachable_after.max(Duration::from_secs(1)),
            unanswered_since: None,
            liveness_probes: 0,
        };
        s.refresh_rate();
        s
    }

    /// A stream opened by `connect`: H1 goes out at once.
    pub(crate) fn opening(now: Instant, peer: SocketAddr, config: &Config, rng: &mut SeededRng) -> Self {
        let rtt = RttEstimator::new(now, HS_RTO_INITIAL);
        let mut s = Self::new(now, peer, Phase::Opening { tries: 0, started: now }, rtt, config, rng);
        s.h1_due = true;
        s
    }

    /// A stream created by a SOP=1 packet that echoed our cookie `sample` ago.
    pub(crate) fn established(
        now: Instant,
        peer: SocketAddr,
        sample: Duration,
        config: &Config,
        rng: &mut SeededRng,
    ) -> Self {
        let mut s = Self::new(now, peer, Phase::Established, RttEstimator::new(now, sample), config, rng);
        s.answer_due = true;
        s
    }

    fn ts(&self, now: Instant) -> u32 {
        ((now.as_micros() as u32).wrapping_add(self.ts_offset)) & MASK
    }

    /// Whether `v` names one of our recent sequence numbers (an H2R's echo).
    pub(crate) fn is_recent_seq(&self, v: u32) -> bool {
        (1..=H2R_SPAN).contains(&distance(v, self.next_seq))
    }

    /// Where a SOP=1 packet with sequence `seq` falls in the receive window.
    pub(crate) fn classify(&self, seq: u32) -> Arrival {
        self.recv.classify(seq)
    }

    /// Whether `v2`, as the echo of a close, proves knowledge of the stream: on the arc of
    /// timestamps we sent since the newest echo.
    pub(crate) fn close_echo_plausible(&self, v2: u32) -> bool {
        self.last_echo.is_some_and(|last| distance(last, v2) <= distance(last, self.last_ts_sent))
    }

    /// Queues an application datagram (the endpoint checked its size and the limits).
    pub(crate) fn queue(&mut self, data: &[u8]) -> bool {
        self.queue.push(None, self.peer, data).is_ok()
    }

    /// Datagrams waiting.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Opening + a valid H2 (or Open-unconfirmed + a fresh cookie): the peer is real.
    pub(crate) fn confirm_peer(&mut self, now: Instant, peer_cookie: u32, sample: Option<Duration>) {
        match self.phase {
            Phase::Opening { .. } => {
                if let Some(sample) = sample {
                    self.rtt = RttEstimator::new(now, sample);
                    self.refresh_rate();
                }
                self.phase = Phase::Unconfirmed { peer_cookie, tries: 0, since: now, was_open: false };
            }
            Phase::Unconfirmed { tries, since, was_open, .. } => {
                self.phase = Phase::Unconfirmed { peer_cookie, tries, since, was_open };
            }
            Phase::Established => {
                // The peer lost its state: our packets must win it back (docs/p2tp.md §5.6).
                self.phase = Phase::Unconfirmed { peer_cookie, tries: 0, since: now, was_open: true };
                self.recv = Receiver::default();
                self.peer_newest = None;
                self.peer_lss = false;
            }
            Phase::Draining { .. } => return,
        }
        self.answer_due = true;
    }

    /// Enters Established from Opening or Open-unconfirmed (a SOP=1 packet from the peer, or
    /// one that echoed our cookie). Emits `Opened` unless the stream had been open before.
    pub(crate) fn establish(&mut self, now: Instant, sample: Option<Duration>, events: &mut VecDeque<Event>) {
        let was_open = match self.phase {
            Phase::Opening { .. } => {
                if let Some(sample) = sample {
                    self.rtt = RttEstimator::new(now, sample);
                    self.refresh_rate();
                }
                self.answer_due = true;
                false
            }
            Phase::Unconfirmed { was_open, .. } => was_open,
            Phase::Established | Phase::Draining { .. } => return,
        };
        self.phase = Phase::Established;
        self.progress_at = now;
        tracing::debug!(peer = %self.peer, srtt = ?self.rtt.srtt(), "P2TP stream established");
        if !was_open {
            events.push_back(Event::Opened { peer: self.peer });
        }
    }

    /// A SOP=1 packet for an Established stream. `own_cookie` says whether its V2, read as a
    /// cookie, is a valid one of ours: asked only when the echo is not a new one (a MAC per
    /// packet would be wasted on the common case).
    pub(crate) fn on_packet(
        &mut self,
        now: Instant,
        h: &Header,
        payload: &[u8],
        own_cookie: impl FnOnce() -> bool,
        events: &mut VecDeque<Event>,
        arena: &mut RecvArena,
    ) -> Outcome {
        match self.recv.on_packet(now, h.v1, h.clr) {
            Arrival::Duplicate => {
                self.stats.packets_dropped += 1;
                return Outcome::Duplicate;
            }
            Arrival::OutOfWindow => {
                self.stats.packets_dropped += 1;
                return Outcome::OutOfWindow;
            }
            Arrival::New { newest } => {
                if newest {
                    self.on_peer_flags(now, h);
                }
            }
        }
        self.last_recv_at = now;
        self.unanswered_since = None;
        self.stats.packets_received += 1;
        let mut stale_echo = false;
        if h.yts {
            if self.is_new_echo(h.v2) {
                self.on_echo(now, h.v2);
            } else if own_cookie() {
                // A late handshake packet: the peer still waits for us (docs/p2tp.md §5.3).
                if self.last_late_answer.is_none_or(|t| now.saturating_duration_since(t) >= self.fb_interval) {
                    self.last_late_answer = Some(now);
                    self.answer_due = true;
                }
            } else {
                stale_echo = true;
            }
        } else {
            self.recv.on_forward_timestamp(h.v1, h.v2);
        }
        if !payload.is_empty() {
            self.stats.bytes_received += payload.len() as u64;
            events.push_back(Event::Datagram { peer: self.peer, data: arena.copy(payload) });
        }
        if self.recv.has_gaps() {
            let reo = self.recv.reo_wnd(self.rtt.min(), self.rtt.srtt());
            self.recv.detect(now, reo);
        }
        Outcome::Accepted { stale_echo }
    }

    /// The flags of the newest packet from the peer: a rising LSS is one loss event.
    fn on_peer_flags(&mut self, now: Instant, h: &Header) {
        if self.peer_newest.is_some_and(|n| !older(n, h.v1)) {
            return;
        }
        self.peer_newest = Some(h.v1);
        let rising = h.lss && !self.peer_lss;
        self.peer_lss = h.lss;
        if rising {
            tracing::debug!(peer = %self.peer, seq = h.v1, "P2TP loss event");
            self.stats.loss_events += 1;
            self.loss_since_update = true;
            self.path_changed = true;
            self.push_loss_interval();
            if self.last_reduction.is_none_or(|t| now.saturating_duration_since(t) >= self.rtt.srtt()) {
                self.last_reduction = Some(now);
                self.cc.on_loss_event(now, &self.rtt);
                self.refresh_rate();
            }
        }
    }

    fn push_loss_interval(&mut self) {
        self.loss_intervals.copy_within(0..7, 1);
        self.loss_intervals[0] = self.packets_since_loss.max(1);
        self.loss_intervals_filled = (self.loss_intervals_filled + 1).min(8);
        self.packets_since_loss = 0;
    }

    /// RFC 5348's weighted average of loss intervals, as a loss-event rate.
    fn loss_event_rate(&self) -> f64 {
        const WEIGHTS: [f64; 8] = [1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2];
        let n = self.loss_intervals_filled;
        if n == 0 {
            return 0.0;
        }
        let mean = |intervals: &[u64]| {
            let (sum, weight) =
                intervals.iter().zip(WEIGHTS).fold((0.0, 0.0), |(s, w), (i, wt)| (s + *i as f64 * wt, w + wt));
            sum / weight
        };
        let closed = mean(&self.loss_intervals[..n]);
        let mut with_open = [0u64; 8];
        with_open[0] = self.packets_since_loss;
        with_open[1..].copy_from_slice(&self.loss_intervals[..7]);
        let open = mean(&with_open[..(n + 1).min(8)]);
        1.0 / closed.max(open).max(1.0)
    }

    fn is_new_echo(&self, e: u32) -> bool {
        self.last_echo.is_some_and(|last| {
            let d = distance(last, e);
            d >= 1 && d <= distance(last, self.last_ts_sent)
        })
    }

    /// A new echo: an RTT sample and an implicit cumulative acknowledgement.
    fn on_echo(&mut self, now: Instant, e: u32) {
        let sample = distance(e, self.ts(now));
        if sample < HALF {
            self.rtt.update(now, Duration::from_micros(u64::from(sample)));
        }
        self.last_echo = Some(e);
        self.echo_seen = true;
        self.nofb_expiries = 0;
        self.progress_at = now;
        let (mut acked, mut datagrams) = (0u64, 0u64);
        let mut newest: Option<Sent> = None;
        while let Some(s) = self.history.front().copied() {
            if distance(s.ts, e) >= HALF {
                break;
            }
            self.history.pop_front();
            acked += u64::from(s.bytes);
            datagrams += 1;
            newest = Some(s);
        }
        if let Some(s) = newest {
            self.inflight = self.inflight.saturating_sub(acked);
            self.delivered += acked;
            // Application bytes, as `bytes_sent` counts them (each datagram had a header).
            self.stats.bytes_acked += acked.saturating_sub(datagrams * HEADER_LEN as u64);
            let elapsed = now.saturating_duration_since(s.at).as_micros().max(1);
            self.delivery_rate =
                u64::try_from(u128::from(self.delivered - s.delivered) * 1_000_000 / elapsed).unwrap_or(u64::MAX);
            self.cc.on_ack(now, acked, &self.rtt, s.app_limited);
        }
        self.refresh_rate();
    }

    /// The rate the controller allows, before the node budget.
    pub(crate) fn rate(&self) -> u64 {
        self.rate
    }

    /// Asks the controller again: after anything that changes its state or the RTT.
    fn refresh_rate(&mut self) {
        self.rate = self.cc.rate(&self.rtt, self.segment).max(1);
        let srtt = self.rtt.srtt();
        self.fb_interval = fb_interval(srtt);
        self.fb_interval_us = self.fb_interval.as_micros() as f64;
        let rate = self.rate as f64;
        let segment = self.segment as f64;
        let srtt_floor = srtt.max(Duration::from_millis(1)).as_secs_f64();
        self.inflight_cap = ((INFLIGHT_WINDOWS * rate * srtt_floor) as u64).max(2 * self.segment as u64);
        self.round_trip_bytes = rate * srtt.as_secs_f64();
        self.pace_depth = (rate / 1000.0).clamp(segment, 64.0 * segment);
        let two_segments = Duration::from_micros(2 * self.segment as u64 * 1_000_000 / self.rate);
        // Never shorter than four feedback intervals: on a path faster than the feedback
        // floor (250 µs), 4·SRTT alone expired between every two echoes and gave up packets
        // that were about to be acknowledged.
        self.nofb_base = (srtt * 4).max(two_segments).max(self.fb_interval * 4);
        self.fb_gap_us = ceil_us(self.fb_interval);
        self.update_gap_us = ceil_us(srtt.max(Duration::from_millis(100)));
        self.probe_gap = (srtt * 2).max(Duration::from_secs(1));
        self.give_up_after = self.unreachable_after.max(self.probe_gap * 8);
        self.path_changed = true;
    }

    /// Refills the pacing and feedback buckets up to `now` (once per instant).
    #[inline]
    fn refill(&mut self, now: Instant) {
        if now <= self.pace_at {
            return;
        }
        let us = (now.as_micros() - self.pace_at.as_micros()) as f64;
        let rate = self.rate as f64;
        self.pace_tokens = (self.pace_tokens + rate * us * 1e-6).min(self.pace_depth);
        let interval_us = self.fb_interval_us;
        self.fb_tokens = (self.fb_tokens + 2.0 * us / interval_us).min(f64::from(FB_BURST));
        self.pace_at = now;
    }

    /// Whether the next queued datagram may leave now, by everything but the node budget.
    #[inline]
    fn data_ready(&self) -> bool {
        let Some(next) = self.queue.peek_len() else { return false };
        let len = (next + HEADER_LEN) as f64;
        matches!(self.phase, Phase::Established | Phase::Unconfirmed { .. })
            && self.pace_tokens >= len.min(self.segment as f64)
            && self.inflight + len as u64 <= self.inflight_cap
            && (self.echo_seen || self.data_before_echo < INITIAL_WINDOW)
    }

    /// The bytes the next data packet needs from the node budget.
    pub(crate) fn next_data_len(&self) -> Option<usize> {
        self.queue.peek_len().map(|d| d + HEADER_LEN)
    }

    fn flags(&self) -> (bool, bool) {
        (self.recv.lss(), self.peer_lss)
    }

    fn control_due(&self, now: Instant) -> bool {
        if self.answer_due || self.probe_due || self.keepalive_due {
            return true;
        }
        if !matches!(self.phase, Phase::Established) {
            return false;
        }
        let gap = self.fb_gap_us;
        let since = |t: Option<Instant>| t.is_none_or(|t| passed(now, t, gap));
        let (lss, clr) = self.flags();
        (self.recv.echo_owed() && since(self.last_echo_sent_at))
            || (lss, clr) != self.sent_flags
            || ((lss || clr) && since(self.last_sent_at))
    }

    #[inline]
    fn next(&self, now: Instant, node_allows: bool) -> Option<Next> {
        match self.phase {
            Phase::Opening { .. } => self.h1_due.then_some(Next::H1),
            Phase::Draining { .. } => self.close_echo.map(|_| Next::Close),
            Phase::Unconfirmed { .. } | Phase::Established => {
                if self.data_ready() && node_allows {
                    Some(Next::Data)
                } else if self.control_due(now) && self.fb_tokens >= 1.0 {
                    Some(Next::Control)
                } else {
                    None
                }
            }
        }
    }

    /// Whether the stream has a packet to send now (with `node_allows` for data).
    #[inline]
    pub(crate) fn has_output(&mut self, now: Instant, node_allows: bool) -> bool {
        self.refill(now);
        self.next(now, node_allows).is_some()
    }

    /// Whether data waits only for the node budget.
    pub(crate) fn wants_node_budget(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.data_ready()
    }

    /// Writes the stream's next packet into `buf`; its length, or `None`.
    pub(crate) fn poll(&mut self, now: Instant, ctx: &mut Ctx<'_>, buf: &mut [u8], node_allows: bool) -> Option<usize> {
        self.refill(now);
        let next = self.next(now, node_allows)?;
        if next == Next::H1 {
            self.h1_due = false;
            let cookie = ctx.jar.issue(now, ctx.local, self.peer);
            Header { sop: false, lss: false, v1: cookie, clr: false, yts: false, v2: 0 }.encode(buf);
            self.stats.packets_sent += 1;
            return Some(HEADER_LEN);
        }
        if next == Next::Close {
            let echo = self.close_echo.take()?;
            Header { sop: false, lss: true, v1: self.next_seq, clr: false, yts: true, v2: echo }.encode(buf);
            return Some(HEADER_LEN);
        }
        let data = next == Next::Data;
        let (lss, clr) = self.flags();
        let ts = self.ts(now);
        let mut h = Header { sop: true, lss, v1: self.next_seq, clr, yts: false, v2: ts };
        if let Phase::Unconfirmed { peer_cookie, .. } = self.phase {
            h.yts = true;
            h.v2 = peer_cookie;
        } else {
            let fwd_gap = if self.inflight > 0 || data { self.rtt.srtt() / 4 } else { self.rtt.srtt() };
            let fwd_gap = fwd_gap.max(Duration::from_micros(250));
            let overdue = self.last_fwd_at.is_none_or(|t| now.saturating_duration_since(t) >= fwd_gap);
            // A packet sent only because an echo is owed carries the echo: were it to carry a
            // forward timestamp instead, the peer would owe one back, and two idle sides would
            // keep each other sending forever.
            let for_echo = !data && !self.answer_due && !self.probe_due && !self.keepalive_due;
            if (!overdue || for_echo) && self.recv.echo_owed() {
                h.yts = true;
                h.v2 = self.recv.take_echo().unwrap_or(ts);
                self.last_echo_sent_at = Some(now);
            }
        }
        // The timestamp clock as recorded for this packet: the forward timestamp it carries if
        // it carries one (after the word-2 rule), so echoes of it match what was recorded.
        let mut ts = ts;
        if !h.yts {
            if h.word2() == STUN_MAGIC {
                // Never let bytes 4..8 read as the STUN magic cookie (docs/p2tp.md §3.2).
                h.v2 = add(h.v2, 1);
                ts = h.v2;
            }
            self.last_fwd_at = Some(now);
            if self.unanswered_since.is_none() && matches!(self.phase, Phase::Established) {
                self.unanswered_since = Some(now);
                self.liveness_probes = 0;
            }
            // The arc of echoes that are new (§6.3) runs from the first forward timestamp
            // sent to the last one: only forward timestamps move it.
            if self.last_echo.is_none() {
                self.last_echo = Some(add(ts, MASK));
            }
            self.last_ts_sent = ts;
        }
        h.encode(buf);
        let mut len = HEADER_LEN;
        self.next_seq = add(self.next_seq, 1);
        self.sent_flags = (lss, clr);
        self.last_sent_at = Some(now);
        self.stats.packets_sent += 1;
        if self.keepalive_due && !data && !self.answer_due && !self.probe_due {
            self.stats.keepalives_sent += 1;
        }
        self.answer_due = false;
        self.probe_due = false;
        self.keepalive_due = false;
        match data.then(|| self.queue.pop(&mut buf[HEADER_LEN..])).flatten() {
            Some(d) => {
                len += d.len;
                self.pace_tokens -= len as f64;
                self.inflight += len as u64;
                if !self.echo_seen {
                    self.data_before_echo += 1;
                }
                self.packets_since_loss += 1;
                self.stats.bytes_sent += d.len as u64;
                // App-limited: nothing else waits and less than half of what the rate allows in
                // one round trip is in flight, so an echo of this packet says nothing about
                // the path's room (a bulk sender topping its queue up between wake-ups keeps
                // its flight full and is not app-limited).
                self.app_limited = self.queue.is_empty() && (self.inflight as f64) < self.round_trip_bytes / 2.0;
                self.history.push_back(Sent {
                    ts,
                    at: now,
                    bytes: len as u32,
                    delivered: self.delivered,
                    app_limited: self.app_limited,
                });
                if self.history.len() == 1 {
                    self.progress_at = now;
                }
            }
            None => self.fb_tokens -= 1.0,
        }
        Some(len)
    }

    /// `close()`: the stream drains at once (nothing more reaches the application), and a
    /// close goes out if the stream has something the peer can check it by: the peer's cookie
    /// while Open-unconfirmed, its latest forward timestamp once Established (docs/p2tp.md
    /// §10.4).
    pub(crate) fn close(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        events.push_back(Event::Closed { peer: self.peer, reason: CloseReason::Local });
        match self.phase {
            Phase::Opening { .. } => self.dead = true,
            Phase::Unconfirmed { peer_cookie, .. } => self.drain(now, Some(peer_cookie)),
            Phase::Established => self.drain(now, self.recv.ts_recent()),
            Phase::Draining { .. } => {}
        }
    }

    fn drain(&mut self, now: Instant, echo: Option<u32>) {
        self.close_echo = echo;
        self.phase = Phase::Draining { until: now + self.rtt.rto() * 3 };
    }

    /// While Draining, the close that answers a stray SOP=1 packet (echoing its forward
    /// timestamp, or the peer's latest one), at most one per SRTT.
    pub(crate) fn drain_close(&mut self, now: Instant, stray: &Header) -> Option<Header> {
        if self.last_drain_close.is_some_and(|t| now.saturating_duration_since(t) < self.rtt.srtt()) {
            return None;
        }
        let echo = if stray.yts { self.recv.ts_recent()? } else { stray.v2 };
        self.last_drain_close = Some(now);
        Some(Header { sop: false, lss: true, v1: self.next_seq, clr: false, yts: true, v2: echo })
    }

    /// A valid close from the peer, or a restart that replaces this stream.
    pub(crate) fn closed_by_peer(&mut self, events: &mut VecDeque<Event>) {
        self.dead = true;
        events.push_back(Event::Closed { peer: self.peer, reason: CloseReason::ByPeer });
    }

    /// When a stream whose packets went unanswered since `since` next probes the peer (after
    /// max(1 s, 2·SRTT), then doubling: 1, 3, 7 s after `since` on a short path), or gives it
    /// up ([`unreachable_at`](Self::unreachable_at)), whichever comes first.
    fn liveness_check(&self, since: Instant) -> Instant {
        let probe = since + self.probe_gap * ((1u32 << (self.liveness_probes + 1).min(16)) - 1);
        probe.min(self.unreachable_at(since))
    }

    /// When a peer silent since `since` is given up (`give_up_after` later).
    fn unreachable_at(&self, since: Instant) -> Instant {
        since + self.give_up_after
    }

    /// Fires what is due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        while let Some(timer) = self.timers.take_expired(now) {
            // A stream closed by an earlier timer of this same call (an idle timeout and an
            // unreachable peer both overdue after a long sleep) reports nothing more.
            if self.dead {
                break;
            }
            match timer {
                StreamTimer::Handshake => self.on_handshake_timer(events),
                StreamTimer::Loss => {
                    let reo = self.recv.reo_wnd(self.rtt.min(), self.rtt.srtt());
                    self.recv.detect(now, reo);
                }
                StreamTimer::NoFeedback => {
                    self.nofb_expiries += 1;
                    tracing::debug!(peer = %self.peer, expiries = self.nofb_expiries, "P2TP no feedback: rate halved");
                    self.cc.on_no_feedback(now, self.nofb_expiries >= PERSISTENT_EXPIRIES);
                    self.refresh_rate();
                    self.inflight = 0;
                    self.history.clear();
                    self.progress_at = now;
                    self.probe_due = true;
                }
                StreamTimer::KeepAlive => self.keepalive_due = true,
                StreamTimer::Idle => {
                    self.dead = true;
                    events.push_back(Event::Closed { peer: self.peer, reason: CloseReason::Idle });
                }
                StreamTimer::Drain => self.dead = true,
                StreamTimer::Unreachable => {
                    let Some(since) = self.unanswered_since else { continue };
                    if now >= self.unreachable_at(since) {
                        tracing::debug!(peer = %self.peer, probes = self.liveness_probes, "P2TP peer unreachable");
                        self.dead = true;
                        events.push_back(Event::Closed { peer: self.peer, reason: CloseReason::Unreachable });
                    } else {
                        self.liveness_probes += 1;
                        self.probe_due = true;
                    }
                }
                StreamTimer::Pace | StreamTimer::Feedback => {}
            }
        }
    }

    fn on_handshake_timer(&mut self, events: &mut VecDeque<Event>) {
        match &mut self.phase {
            Phase::Opening { tries, .. } | Phase::Unconfirmed { tries, .. } if *tries + 1 >= HS_TRIES => {
                let was_open = matches!(self.phase, Phase::Unconfirmed { was_open: true, .. });
                self.dead = true;
                events.push_back(if was_open {
                    Event::Closed { peer: self.peer, reason: CloseReason::Idle }
                } else {
                    Event::OpenFailed { peer: self.peer, reason: OpenFailure::Timeout }
                });
            }
            Phase::Opening { tries, .. } => {
                *tries += 1;
                self.h1_due = true;
            }
            Phase::Unconfirmed { tries, .. } => {
                *tries += 1;
                self.probe_due = true;
            }
            _ => {}
        }
    }

    /// Sets every timer from the state at `now`. Deadlines that only re-check a condition
    /// (pacing, feedback) are at least 1 µs ahead, so a stream never asks to be woken now.
    /// Runs after every input that touched the stream: its arithmetic is in whole
    /// microseconds, on figures `refresh_rate` and `set_keepalive` keep.
    pub(crate) fn update_timers(&mut self, now: Instant) {
        let soonest = after(now, 1);
        let ahead = |t: Instant| t.max(soonest);
        self.timers.stop_all();
        match self.phase {
            Phase::Opening { tries, started } | Phase::Unconfirmed { tries, since: started, .. } => {
                // Try i leaves (2^i − 1)·250 ms after the start; after the last, wait as long again.
                let next = HS_RTO_INITIAL * ((1u32 << (tries + 1).min(HS_TRIES)) - 1);
                self.timers.set(StreamTimer::Handshake, ahead(started + next));
            }
            Phase::Draining { until } => {
                self.timers.set(StreamTimer::Drain, until);
                return;
            }
            Phase::Established => {}
        }
        if matches!(self.phase, Phase::Opening { .. }) {
            return;
        }
        if let Some(len) = self.next_data_len() {
            let need = (len as f64).min(self.segment as f64) - self.pace_tokens;
            if need > 0.0 {
                let wait_us = libm::ceil(need * 1e6 / self.rate as f64) as u64;
                self.timers.set(StreamTimer::Pace, ahead(after(now, wait_us)));
            }
        }
        if matches!(self.phase, Phase::Established) {
            let (lss, clr) = self.flags();
            let gap = self.fb_gap_us;
            let mut feedback: Option<Instant> = None;
            if self.recv.echo_owed() {
                feedback = Some(self.last_echo_sent_at.map_or(now, |t| after(t, gap)));
            }
            if lss || clr || (lss, clr) != self.sent_flags {
                let at = self.last_sent_at.map_or(now, |t| after(t, gap));
                feedback = Some(feedback.map_or(at, |f| f.min(at)));
            }
            if self.fb_tokens < 1.0 && (feedback.is_some() || self.answer_due || self.keepalive_due || self.probe_due) {
                let refill = self.fb_refill(now);
                feedback = Some(feedback.map_or(refill, |f| f.max(refill)));
            }
            if let Some(at) = feedback {
                self.timers.set(StreamTimer::Feedback, ahead(at));
            }
            if self.recv.has_gaps() {
                let reo = self.recv.reo_wnd(self.rtt.min(), self.rtt.srtt());
                if let Some(at) = self.recv.next_detection(reo) {
                    self.timers.set(StreamTimer::Loss, ahead(at));
                }
            }
            if self.inflight > 0 {
                let base = self.nofb_base;
                let backoff = 1u32 << self.nofb_expiries.saturating_sub(PERSISTENT_EXPIRIES - 1).min(6);
                self.timers.set(StreamTimer::NoFeedback, ahead(self.progress_at + base * backoff));
            }
            if let Some(since) = self.unanswered_since {
                self.timers.set(StreamTimer::Unreachable, ahead(self.liveness_check(since)));
            }
            let last = self.last_sent_at.unwrap_or(now);
            self.timers.set(StreamTimer::KeepAlive, ahead(after(last, self.keepalive_us)));
            self.timers.set(StreamTimer::Idle, ahead(after(self.last_recv_at, self.idle_us)));
        } else if self.fb_tokens < 1.0 && (self.answer_due || self.probe_due) {
            let refill = self.fb_refill(now);
            self.timers.set(StreamTimer::Feedback, ahead(refill));
        }
    }

    /// When the feedback bucket next holds a whole token (it gains two per interval).
    fn fb_refill(&self, now: Instant) -> Instant {
        now + Duration::from_secs_f64((1.0 - self.fb_tokens) * self.fb_interval.as_secs_f64() / 2.0)
    }

    /// New keep-alive interval and idle timeout; the caller recomputes the timers.
    pub(crate) fn set_keepalive(&mut self, keepalive: Duration, idle_timeout: Duration) {
        self.keepalive_us = ceil_us(keepalive);
        self.idle_us = ceil_us(idle_timeout);
    }

    /// The path's figures now.
    pub(crate) fn path_stats(&self) -> PathStats {
        let r = &self.recv.stats;
        PathStats {
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            min_rtt: self.rtt.min(),
            rate: self.rate(),
            delivery_rate: self.delivery_rate,
            loss_event_rate: self.loss_event_rate(),
            window: self.cc.window(),
            slow_start: self.cc.in_slow_start(),
            lss: self.recv.lss(),
            clr: self.peer_lss,
            packets_lost: r.lost,
            spurious_losses: r.spurious,
            queued: self.queue.len(),
            ..self.stats
        }
    }

    /// A `PathUpdate` if the figures moved enough since the last one.
    pub(crate) fn path_update(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        if !self.path_changed || !matches!(self.phase, Phase::Established) || self.rtt.samples() == 0 {
            return;
        }
        let (srtt, rate) = (self.rtt.srtt(), self.rate());
        if let Some((at, last_srtt, last_rate)) = self.last_update {
            // (`update_gap_us` is SRTT, at least 100 ms: refresh_rate follows every SRTT change.)
            if !passed(now, at, self.update_gap_us) {
                return;
            }
            let moved = |a: u128, b: u128| a.abs_diff(b) * 8 >= b.max(1);
            if !(self.loss_since_update
                || moved(srtt.as_micros(), last_srtt.as_micros())
                || moved(u128::from(rate), u128::from(last_rate)))
            {
                // Nothing moved enough, and nothing can until the rate, the SRTT or a loss
                // changes (each sets `path_changed` again): no need to look before then.
                self.path_changed = false;
                return;
            }
        }
        self.path_changed = false;
        self.last_update = Some((now, srtt, rate));
        self.loss_since_update = false;
        events.push_back(Event::PathUpdate { peer: self.peer, stats: alloc::boxed::Box::new(self.path_stats()) });
    }

    /// Drops the queue (a stream that failed or closed), returning how many datagrams.
    pub(crate) fn drop_queue(&mut self) -> usize {
        self.queue.clear()
    }
}
