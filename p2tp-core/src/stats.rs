//! What an application can read about each path and about the endpoint (the seeds'
//! "network awareness" interface; docs/p2tp.md §12).

use core::time::Duration;

/// One stream's path, as measured.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PathStats {
    /// Smoothed round-trip time.
    pub srtt: Duration,
    /// Round-trip time variation.
    pub rttvar: Duration,
    /// Least round-trip time of the last 10 s.
    pub min_rtt: Duration,
    /// The sending rate the controller allows, bytes per second.
    pub rate: u64,
    /// Bytes per second the peer acknowledged, latest sample.
    pub delivery_rate: u64,
    /// Loss events per data packet sent (RFC 5348 weighted average of intervals).
    pub loss_event_rate: f64,
    /// The controller's window, datagrams.
    pub window: f64,
    /// Whether the controller is in slow start.
    pub slow_start: bool,
    /// LSS as this side sends it (it has seen loss).
    pub lss: bool,
    /// CLR as this side sends it (the peer has seen loss).
    pub clr: bool,
    /// Packets sent (data and control).
    pub packets_sent: u64,
    /// Application bytes sent.
    pub bytes_sent: u64,
    /// Packets received and accepted.
    pub packets_received: u64,
    /// Application bytes received.
    pub bytes_received: u64,
    /// Application bytes the peer acknowledged by echo (as `bytes_sent` counts them).
    pub bytes_acked: u64,
    /// Received packets dropped (duplicates, out of window).
    pub packets_dropped: u64,
    /// Sequence numbers the receiving side declared lost.
    pub packets_lost: u64,
    /// Packets that arrived after being declared lost.
    pub spurious_losses: u64,
    /// Loss events the peer signalled (rate reductions at most once per SRTT).
    pub loss_events: u64,
    /// Keep-alives sent: packets that left only because the stream had been silent for the
    /// keep-alive interval (docs/p2tp.md §10.1).
    pub keepalives_sent: u64,
    /// Datagrams waiting to be sent.
    pub queued: usize,
}

/// The endpoint's counters: everything dropped is counted here by reason.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to the endpoint.
    pub received: u64,
    /// Dropped: shorter than the header.
    pub short: u64,
    /// Dropped: a flag combination no packet type has.
    pub invalid_flags: u64,
    /// Dropped: outside a stream's receive window.
    pub out_of_window: u64,
    /// Dropped: duplicates.
    pub duplicate: u64,
    /// Dropped: an echoed cookie that is not ours, stale, or for another pair.
    pub bad_cookie: u64,
    /// Ignored: an echo that is neither new nor a cookie.
    pub stale_echo: u64,
    /// Dropped: a valid open the stream limit had no room for.
    pub stream_limit: u64,
    /// Dropped: a stateless reply was due but the budget was empty.
    pub stateless_over_budget: u64,
    /// Dropped: a close that does not prove knowledge of the stream.
    pub bad_close: u64,
    /// Dropped: H2/H2R or SOP=1 from a pair with nothing to match it.
    pub unmatched: u64,
    /// Stateless replies sent (H2 and H2R).
    pub stateless_replies: u64,
    /// Closes sent while draining.
    pub drain_closes: u64,
    /// Streams opened (entered Established).
    pub opened: u64,
    /// Streams closed, by any reason.
    pub closed: u64,
    /// Opens that failed.
    pub open_failed: u64,
    /// Draining streams freed early to make room for a new one at the stream limit.
    pub drained_early: u64,
}
