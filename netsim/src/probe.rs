//! A small machine for tests and experiments: it sends what it is told and reports what it
//! receives, optionally echoing it back.

use std::collections::VecDeque;
use std::net::SocketAddr;

use sansio_core::{Instant, Machine, Transmit, TransmitQueue};

/// A datagram a [`Probe`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The probe's address it arrived on.
    pub local: SocketAddr,
    /// Who sent it (as translated by any NAT on the way).
    pub remote: SocketAddr,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// Datagrams a probe holds before it refuses more (counted in [`Probe::refused`]).
const OUTBOX: usize = 4096;

/// Sends datagrams on command and reports each one received as a [`Received`] event. An echo
/// probe also sends every datagram straight back, from the address it arrived on (what a
/// STUN-like reflector does), so a client learns its public address.
#[derive(Clone, Debug)]
pub struct Probe {
    echo: bool,
    outbox: TransmitQueue,
    events: VecDeque<Received>,
    /// Datagrams received so far.
    pub received: u64,
}

impl Default for Probe {
    fn default() -> Self {
        Self { echo: false, outbox: TransmitQueue::new(OUTBOX, OUTBOX * 512), events: VecDeque::new(), received: 0 }
    }
}

impl Probe {
    /// A probe that only reports.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A probe that reports and echoes.
    #[must_use]
    pub fn echo() -> Self {
        Self { echo: true, ..Self::default() }
    }

    /// Sends `payload` to `to` from the host's default socket (refused, and counted, if it is
    /// longer than [`sansio_core::MIN_TRANSMIT_BUFFER`] or the outbox is full).
    pub fn send(&mut self, to: SocketAddr, payload: Vec<u8>) {
        let _ = self.outbox.push(None, to, &payload);
    }

    /// Sends `payload` to `to` with IP time-to-live `ttl` (see [`sansio_core::Transmit::ttl`]).
    pub fn send_ttl(&mut self, to: SocketAddr, ttl: u8, payload: Vec<u8>) {
        let _ = self.outbox.push_ttl(None, to, Some(ttl), &payload);
    }

    /// Sends `payload` to `to` from the socket `from` with IP time-to-live `ttl`.
    pub fn send_from_ttl(&mut self, from: SocketAddr, to: SocketAddr, ttl: u8, payload: Vec<u8>) {
        let _ = self.outbox.push_ttl(Some(from), to, Some(ttl), &payload);
    }

    /// Sends `payload` to `to` from the socket `from`.
    pub fn send_from(&mut self, from: SocketAddr, to: SocketAddr, payload: Vec<u8>) {
        let _ = self.outbox.push(Some(from), to, &payload);
    }

    /// Datagrams the outbox refused (too long, or full).
    #[must_use]
    pub fn refused(&self) -> u64 {
        let s = self.outbox.stats();
        s.refused_oversize + s.refused_full
    }
}

impl Machine for Probe {
    type Event = Received;

    fn handle_datagram(&mut self, _now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.received += 1;
        if self.echo {
            let _ = self.outbox.push(Some(local), remote, datagram);
        }
        self.events.push_back(Received { local, remote, payload: datagram.to_vec() });
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.outbox.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Received> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
}
