//! A machine that asks to be woken `gap` after each wake-up (never catching up, so every wait
//! is a real one) and reports, as its events, how late each wake-up came. Shared by
//! `tests/sub_millisecond_deadlines.rs` and the bench's `driver_wake_late_us_*` figures.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use sansio_core::{Instant, Machine, Transmit};

pub(crate) struct Ticker {
    gap: Duration,
    left: u32,
    next: Option<Instant>,
    late: VecDeque<Duration>,
}

impl Ticker {
    /// `ticks` wake-ups `gap` apart, from [`start`](Self::start) on.
    pub(crate) fn new(gap: Duration, ticks: u32) -> Self {
        Self { gap, left: ticks, next: None, late: VecDeque::new() }
    }

    /// Asks for the first wake-up, `gap` after `now`.
    pub(crate) fn start(&mut self, now: Instant) {
        self.next = (self.left > 0).then(|| now + self.gap);
    }
}

impl Machine for Ticker {
    type Event = Duration;
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        let Some(due) = self.next.filter(|d| now >= *d) else { return };
        self.late.push_back(now - due);
        self.left -= 1;
        self.next = (self.left > 0).then(|| now + self.gap);
    }
    fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<Duration> {
        self.late.pop_front()
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }
}
