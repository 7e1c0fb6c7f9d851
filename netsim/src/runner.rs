//! Type erasure: hosts of one simulation may run machines of different types.

use core::any::Any;
use core::fmt::{self, Debug};
use std::hash::Hasher;
use std::net::SocketAddr;

use sansio_core::{ContractCheck, ContractViolation, Instant, Machine, Transmit};

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
    /// Tells the contract check an application command runs at `now`.
    fn note_input(&mut self, now: Instant);
    /// The first breach of the [`Machine`] contract seen, if any.
    fn violation(&self) -> Option<ContractViolation>;
    /// The machine itself (not its wrapper), for typed access.
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A hosted machine: every input and output passes through a [`ContractCheck`], so a machine
/// that breaks the contract (a deadline that would spin a driver, an oversized transmit) fails
/// the run that hosts it, naming the host and the rule.
pub(crate) struct Hosted<M>(ContractCheck<M>);

impl<M: Machine> Hosted<M> {
    pub(crate) fn new(machine: M) -> Self {
        Self(ContractCheck::new(machine))
    }
}

/// Feeds `Debug` output straight into a hasher, without allocating a string.
struct HashWriter<'a>(&'a mut TraceHasher);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

impl<M> Runner for Hosted<M>
where
    M: Machine + 'static,
    M::Event: Debug + 'static,
{
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.0.handle_datagram(now, local, remote, data);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.0.poll_transmit(now, buf)
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.0.poll_timeout()
    }

    fn drain_events(
        &mut self,
        now: Instant,
        trace: &mut TraceHasher,
        log: &mut Option<Vec<(Instant, Box<dyn Any>)>>,
    ) -> u64 {
        let mut n = 0;
        while let Some(event) = self.0.poll_event() {
            n += 1;
            let _ = fmt::write(&mut HashWriter(trace), format_args!("{event:?}"));
            if let Some(log) = log {
                log.push((now, Box::new(event)));
            }
        }
        n
    }

    fn note_input(&mut self, now: Instant) {
        self.0.note_input(now);
    }

    fn violation(&self) -> Option<ContractViolation> {
        self.0.violation()
    }

    fn as_any(&self) -> &dyn Any {
        self.0.inner()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self.0.inner_mut()
    }
}
