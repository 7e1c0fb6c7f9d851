//! The I/O side of IPv8: run any [`sansio_core::Machine`] on real UDP sockets.
//!
//! This is the only crate of the workspace that touches the operating system. It offers two
//! run loops with the same behaviour:
//!
//! - [`std_thread`]: one OS thread per machine, waiting on its sockets, its next deadline and
//!   an application waker at once (`mio` readiness, the portable form of a blocking read with
//!   a timeout);
//! - [`tokio`](mod@tokio): one tokio task per machine, `select!` over socket readiness,
//!   `sleep_until(deadline)` and the command channel.
//!
//! Both batch receives (`recvmmsg`, GRO) and sends (GSO) through `quinn-udp`, handle any number
//! of sockets per machine (a STUN server needs four), always pass the *current* clock reading
//! to the machine (never a stale deadline), and cap the datagrams handled per wake-up so a
//! flood cannot stop timers from firing.
//!
//! ```
//! use std::net::{SocketAddr, UdpSocket};
//! use drivers::{DriverConfig, std_thread};
//! use sansio_core::{Instant, Machine, Transmit};
//!
//! /// Reports the length of every datagram it receives.
//! struct Lengths(Option<usize>);
//! impl Machine for Lengths {
//!     type Event = usize;
//!     fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, d: &[u8]) { self.0 = Some(d.len()); }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<Transmit> { None }
//!     fn poll_event(&mut self) -> Option<usize> { self.0.take() }
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//! }
//!
//! let socket = UdpSocket::bind("127.0.0.1:0")?;
//! let (tx, events) = std::sync::mpsc::channel();
//! let handle = std_thread::spawn(Lengths(None), vec![socket], DriverConfig::default(), move |e| {
//!     let _ = tx.send(e);
//! })?;
//! UdpSocket::bind("127.0.0.1:0")?.send_to(b"hello", handle.local_addrs()[0])?;
//! assert_eq!(events.recv(), Ok(5));
//! let stopped = handle.shutdown().expect("the loop ran");
//! assert_eq!(stopped.stats.datagrams_received, 1);
//! # Ok::<(), std::io::Error>(())
//! ```
// One `unsafe` call, justified where it is: registering the run loop's own timerfd with
// tokio's reactor (`tokio::register`).
#![deny(unsafe_code)]

mod clock;
mod engine;
mod outbox;
mod route;
mod seed;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod std_thread;
pub mod tokio;
mod wake;

pub use clock::MonoClock;
pub use engine::with_ttl;
pub use seed::os_seed;

/// Tuning of a run loop. The defaults suit a peer-to-peer node on a desktop or server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// Receive buffers per socket, each 64 KiB; one wake-up reads at most this many datagrams
    /// (or GRO super-datagrams) per socket before timers are checked again.
    pub recv_batch: usize,
    /// Bytes of the send buffer that collects a machine's transmits before they are sent.
    pub send_buffer_bytes: usize,
    /// Upper bound on datagrams per GSO send; 1 disables GSO.
    pub gso_segments: usize,
    /// Datagrams handled per wake-up, over all sockets, before timers and commands get their
    /// turn again.
    pub max_datagrams_per_wakeup: usize,
    /// Kernel receive and send buffer asked for each socket (`None`: the system default,
    /// about 208 KiB on Linux, which a burst of a few hundred datagrams overflows).
    pub socket_buffer_bytes: Option<usize>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            recv_batch: 8,
            send_buffer_bytes: 256 * 1024,
            gso_segments: 64,
            max_datagrams_per_wakeup: 256,
            socket_buffer_bytes: Some(4 << 20),
        }
    }
}

/// What a run loop counted, returned when it stops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DriverStats {
    /// Datagrams handed to the machine.
    pub datagrams_received: u64,
    /// Their bytes.
    pub bytes_received: u64,
    /// Datagrams the kernel accepted for sending.
    pub datagrams_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Sends that failed (the datagrams are dropped, as UDP would).
    pub send_errors: u64,
    /// Receives that failed with an error other than "nothing waiting".
    pub recv_errors: u64,
    /// Transmits whose source address matched none of the driver's sockets.
    pub unroutable: u64,
    /// Times the machine's timer fired.
    pub timeouts: u64,
    /// Application commands run.
    pub calls: u64,
    /// Events delivered to the application.
    pub events: u64,
    /// Times the loop woke up.
    pub wakeups: u64,
}

/// A machine whose run loop has ended, with what the loop counted.
#[derive(Debug)]
pub struct Stopped<M> {
    /// The machine, as the loop left it.
    pub machine: M,
    /// The loop's counters.
    pub stats: DriverStats,
}

/// Why a command could not be run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The run loop has stopped (shut down, or its thread or task ended).
    #[error("the driver has stopped")]
    Stopped,
}

/// Binds one UDP socket per address, in order.
///
/// # Errors
///
/// The first bind that fails.
pub fn bind_all(addrs: &[std::net::SocketAddr]) -> std::io::Result<Vec<std::net::UdpSocket>> {
    addrs.iter().map(std::net::UdpSocket::bind).collect()
}
