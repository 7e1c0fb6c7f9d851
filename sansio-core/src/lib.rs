//! The shared vocabulary of every IPv8 core.
//!
//! Every part of IPv8 that *decides* (STUN, P2TP, record synchronisation, trust) is a
//! deterministic state machine that performs no I/O. This crate holds the few types they all
//! speak, so that one driver, one simulator and one fuzz harness can run any of them:
//!
//! - [`Instant`]: time as an input, in microseconds from an origin the driver picks;
//! - [`Transmit`]: one datagram a machine asks its driver to send, written into a
//!   caller-supplied buffer;
//! - [`TransmitQueue`]: the one bounded queue of outgoing datagrams every machine uses;
//! - [`TimerTable`]: a machine's deadlines keyed by an enum, able to say why one is due;
//! - [`Machine`]: the `handle_* -> poll_*` contract drivers and the simulator rely on, and
//!   [`ContractCheck`], which watches it;
//! - [`Seed`] and [`SeededRng`]: randomness as an input.
//!
//! The crate is `#![no_std]` with `alloc` only, never reads a clock and never touches a socket.
//!
//! ```
//! use core::net::SocketAddr;
//! use core::time::Duration;
//! use sansio_core::{Instant, Machine, Transmit, TransmitQueue};
//!
//! /// Answers every datagram with the same bytes; counts what it could not queue.
//! struct Echo {
//!     out: TransmitQueue,
//!     dropped: u64,
//! }
//!
//! impl Machine for Echo {
//!     type Event = ();
//!     fn handle_datagram(&mut self, _now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
//!         if self.out.push(Some(local), remote, data).is_err() {
//!             self.dropped += 1;
//!         }
//!     }
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
//!         self.out.pop(buf)
//!     }
//!     fn poll_event(&mut self) -> Option<()> { None }
//!     fn poll_timeout(&mut self) -> Option<Instant> { None }
//! }
//!
//! let mut echo = Echo { out: TransmitQueue::new(64, 64 * 1024), dropped: 0 };
//! let (me, you): (SocketAddr, SocketAddr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
//! let now = Instant::ZERO + Duration::from_millis(5);
//! echo.handle_datagram(now, me, you, b"hi");
//! let mut buf = [0u8; sansio_core::MIN_TRANSMIT_BUFFER];
//! let t = echo.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!((t.destination, &buf[..t.len]), (you, &b"hi"[..]));
//! assert!(echo.poll_transmit(now, &mut buf).is_none());
//! ```
#![no_std]
// Every core denies these: a core must stay buildable without std.
#![deny(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

extern crate alloc;

mod check;
mod instant;
mod machine;
mod rng;
mod timer;
mod transmit;

pub use check::{ContractCheck, ContractViolation};
pub use instant::Instant;
pub use machine::{MIN_TRANSMIT_BUFFER, Machine, Transmit};
pub use rng::{Seed, SeededRng};
pub use timer::{TimerKind, TimerTable};
pub use transmit::{PushError, TransmitQueue, TransmitQueueStats};

/// The `rand_core` version our [`SeededRng`] implements, re-exported so users can pass it to
/// any `rand_core`-based API without a version clash.
pub use rand_core;
