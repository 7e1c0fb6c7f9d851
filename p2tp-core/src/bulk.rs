//! A ready-made application that always has data: what `ipv8 p2tp send`, the benchmarks and
//! the scenario tests drive P2TP with.

use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, Machine, Transmit};

use crate::endpoint::Endpoint;
use crate::event::{ConnectError, Event};

/// An [`Endpoint`] whose application keeps every stream's queue topped up with datagrams of
/// one size until a deadline, as fast as each path's rate takes them (a bulk transfer).
///
/// It is itself a [`Machine`]: run it on a driver or in the simulator like the endpoint. It
/// reports the endpoint's events except received datagrams, which it drops (a bulk sender
/// reads nothing).
///
/// ```
/// use p2tp_core::{BulkSender, Config, Endpoint};
/// use sansio_core::{Instant, Machine, Seed};
///
/// let me = "192.0.2.1:4000".parse()?;
/// let mut bulk = BulkSender::new(Endpoint::new(Config::new(me), Seed::from_u64(1)), 1192);
/// bulk.start(Instant::ZERO, &["198.51.100.2:4000".parse()?], Some(Instant::from_secs(10)))?;
/// let mut buf = [0u8; 2048];
/// let h1 = bulk.poll_transmit(Instant::ZERO, &mut buf).expect("the handshake begins");
/// assert_eq!(h1.len, 8);
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BulkSender {
    endpoint: Endpoint,
    peers: Vec<SocketAddr>,
    payload: Vec<u8>,
    backlog: usize,
    sending: Sending,
}

/// Whether a [`BulkSender`] still queues datagrams.
#[derive(Clone, Copy, Debug)]
enum Sending {
    /// Not started, or stopped: what is queued still leaves, nothing more is added.
    Stopped,
    /// Until this instant, or until stopped if `None`.
    Until(Option<Instant>),
}

impl BulkSender {
    /// A sender of `payload_len`-byte datagrams (at most the endpoint's
    /// [`Config::max_datagram`](crate::Config::max_datagram)), keeping 64 queued per stream.
    #[must_use]
    pub fn new(endpoint: Endpoint, payload_len: usize) -> Self {
        let len = payload_len.clamp(1, endpoint.config().max_datagram());
        Self { endpoint, peers: Vec::new(), payload: vec![0x5a; len], backlog: 64, sending: Sending::Stopped }
    }

    /// Keeps `backlog` datagrams queued per stream instead of 64.
    #[must_use]
    pub fn with_backlog(mut self, backlog: usize) -> Self {
        self.backlog = backlog.max(1);
        self
    }

    /// Opens streams to `peers` and sends to them until `until` (`None`: until
    /// [`stop`](Self::stop)).
    ///
    /// # Errors
    ///
    /// As [`Endpoint::connect`], for the first peer refused.
    pub fn start(&mut self, now: Instant, peers: &[SocketAddr], until: Option<Instant>) -> Result<(), ConnectError> {
        for &peer in peers {
            self.endpoint.connect(now, peer)?;
            if !self.peers.contains(&peer) {
                self.peers.push(peer);
            }
        }
        self.sending = Sending::Until(until);
        self.top_up(now);
        Ok(())
    }

    /// Stops queueing (what is queued still leaves).
    pub fn stop(&mut self) {
        self.sending = Sending::Stopped;
    }

    /// The endpoint, for its figures.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, for commands.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    fn top_up(&mut self, now: Instant) {
        match self.sending {
            Sending::Until(until) if until.is_none_or(|u| now < u) => {}
            Sending::Until(_) | Sending::Stopped => return,
        }
        for &peer in &self.peers {
            // Each successful send queues exactly one more: the room is looked up once.
            let queued = self.endpoint.queued(peer).unwrap_or(self.backlog);
            for _ in queued..self.backlog {
                if self.endpoint.send(now, peer, &self.payload).is_err() {
                    break;
                }
            }
        }
    }
}

impl Machine for BulkSender {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, local, remote, datagram);
        self.top_up(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.top_up(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.endpoint.poll_transmit(now, buf) {
            return Some(t);
        }
        // The queues ran dry within this wake-up: fill them and go on.
        self.top_up(now);
        self.endpoint.poll_transmit(now, buf)
    }

    fn poll_event(&mut self) -> Option<Event> {
        loop {
            match self.endpoint.poll_event()? {
                Event::Datagram { .. } => {}
                other => return Some(other),
            }
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.endpoint.poll_timeout()
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        self.endpoint.timeout_reason()
    }
}
