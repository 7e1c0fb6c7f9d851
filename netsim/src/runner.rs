//! Type erasure: hosts of one simulation may run machines of different types.

use core::any::Any;
use core::fmt::{self, Debug};
use std::hash::Hasher;
use std::net::SocketAddr;

use sansio_core::{Instant, Machine, Transmit};

/// The hasher of the simulation trace: fast, and fixed-seeded so traces compare across runs.
pub(crate) type TraceHasher = foldhash::quality::FoldHasher<'static>;

/// A machine as the simulator sees it.
pub(crate) trait Runner {
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// Drains events: each is hashed (its `Debug` text) into `trace` and, if there is a `log`,
    /// kept there with `now`. Returns how many there were. `log` is only read when there is
    /// an event, so a quiet machine costs no access to it.
    fn drain_events(
        &mut self,
        now: Instant,
        trace: &mut TraceHasher,
        log: &mut Option<Vec<(Instant, Box<dyn Any>)>>,
    ) -> u64;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn type_name(&self) -> &'static str;
}

/// Feeds `Debug` output straight into a hasher, without allocating a string.
struct HashWriter<'a>(&'a mut TraceHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl<M> Runner for M
where
    M: Machine + 'static,
    M::Event: Debug + 'static,
{
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        Machine::handle_datagram(self, now, local, remote, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Machine::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Machine::poll_transmit(self, now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        Machine::poll_timeout(self)
    }

    fn drain_events(
        &mut self,
        now: Instant,
        trace: &mut TraceHasher,
        log: &mut Option<Vec<(Instant, Box<dyn Any>)>>,
    ) -> u64 {
        let mut n = 0;
        while let Some(event) = self.poll_event() {
            n += 1;
            let _ = fmt::write(&mut HashWriter(trace), format_args!("{event:?}"));
            if let Some(log) = log {
                log.push((now, Box::new(event)));
            }
        }
        n
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn type_name(&self) -> &'static str {
        core::any::type_name::<M>()
    }
}
