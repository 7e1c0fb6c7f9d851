//! A wrapper that watches a machine and its driver for breaches of the [`Machine`] contract.

use core::net::SocketAddr;

use crate::{Instant, Machine, Transmit};

/// A breach of the [`Machine`] contract, by the driver or by the machine.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContractViolation {
    /// The driver handed in an input with a `now` earlier than a previous one.
    TimeWentBackwards {
        /// The latest `now` seen before.
        previous: Instant,
        /// The earlier `now` that followed it.
        now: Instant,
    },
    /// With all output drained after `handle_timeout(now)`, the machine asked to be woken at
    /// or before that `now` again: a driver would spin.
    StaleDeadline {
        /// The latest `now` handled.
        now: Instant,
        /// The deadline returned.
        deadline: Instant,
    },
    /// The machine reported a transmit longer than the buffer it was given.
    OversizedTransmit {
        /// The reported length.
        len: usize,
        /// The buffer's length.
        capacity: usize,
    },
}

/// Runs any [`Machine`] unchanged and records the first contract violation it sees.
///
/// It never panics: tests (and debug builds of drivers) read [`ContractCheck::violation`]. An
/// oversized transmit is clamped to the buffer so the driver stays safe.
///
/// ```
/// use sansio_core::{ContractCheck, ContractViolation, Instant, Machine, Transmit};
/// # use core::net::SocketAddr;
///
/// /// A broken machine: it always wants to be woken at time zero.
/// struct Spinner;
/// impl Machine for Spinner {
///     type Event = ();
///     fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
///     fn handle_timeout(&mut self, _: Instant) {}
///     fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<Transmit> { None }
///     fn poll_event(&mut self) -> Option<()> { None }
///     fn poll_timeout(&mut self) -> Option<Instant> { Some(Instant::ZERO) }
/// }
///
/// let mut m = ContractCheck::new(Spinner);
/// m.handle_timeout(Instant::from_secs(1));
/// let _ = m.poll_transmit(Instant::from_secs(1), &mut [0; 2048]);
/// let _ = m.poll_event();
/// let _ = m.poll_timeout();
/// assert!(matches!(m.violation(), Some(ContractViolation::StaleDeadline { .. })));
/// ```
#[derive(Debug)]
pub struct ContractCheck<M> {
    inner: M,
    last_now: Option<Instant>,
    /// Whether `poll_transmit` and `poll_event` have each returned `None` since the last input.
    transmits_drained: bool,
    events_drained: bool,
    /// Whether the last input was `handle_timeout` (only then must the deadline move on).
    after_timeout: bool,
    violation: Option<ContractViolation>,
}

impl<M: Machine> ContractCheck<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self {
            inner,
            last_now: None,
            transmits_drained: false,
            events_drained: false,
            after_timeout: false,
            violation: None,
        }
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<ContractViolation> {
        self.violation
    }

    /// The wrapped machine.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The wrapped machine, for application commands. Call [`ContractCheck::note_input`] with
    /// the command's `now` so the time rule is checked for commands too.
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }

    /// Unwraps the machine.
    pub fn into_inner(self) -> M {
        self.inner
    }

    /// Records an input at `now` (done by every `handle_*`; call it for application commands).
    pub fn note_input(&mut self, now: Instant) {
        if let Some(previous) = self.last_now
            && now < previous
        {
            self.record(ContractViolation::TimeWentBackwards { previous, now });
        }
        self.last_now = Some(self.last_now.map_or(now, |p| p.max(now)));
        self.transmits_drained = false;
        self.events_drained = false;
        self.after_timeout = false;
    }

    fn record(&mut self, v: ContractViolation) {
        self.violation.get_or_insert(v);
    }
}

impl<M: Machine> Machine for ContractCheck<M> {
    type Event = M::Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.note_input(now);
        self.inner.handle_datagram(now, local, remote, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.note_input(now);
        self.after_timeout = true;
        self.inner.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let mut t = self.inner.poll_transmit(now, buf);
        match &mut t {
            None => self.transmits_drained = true,
            Some(t) if t.len > buf.len() => {
                self.record(ContractViolation::OversizedTransmit { len: t.len, capacity: buf.len() });
                t.len = buf.len();
            }
            Some(_) => {}
        }
        t
    }

    fn poll_event(&mut self) -> Option<M::Event> {
        let e = self.inner.poll_event();
        if e.is_none() {
            self.events_drained = true;
        }
        e
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let deadline = self.inner.poll_timeout();
        if let (Some(deadline), Some(now)) = (deadline, self.last_now)
            && deadline <= now
            && self.after_timeout
            && self.transmits_drained
            && self.events_drained
        {
            self.record(ContractViolation::StaleDeadline { now, deadline });
        }
        deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wants to be woken at a fixed instant until a timeout at or after it is handled.
    struct Alarm(Option<Instant>);

    impl Machine for Alarm {
        type Event = ();
        fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
        fn handle_timeout(&mut self, now: Instant) {
            self.0 = self.0.filter(|at| *at > now);
        }
        fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<Transmit> {
            None
        }
        fn poll_event(&mut self) -> Option<()> {
            None
        }
        fn poll_timeout(&mut self) -> Option<Instant> {
            self.0
        }
    }

    fn drain<M: Machine>(m: &mut ContractCheck<M>, now: Instant) -> Option<Instant> {
        while m.poll_transmit(now, &mut [0; 2048]).is_some() {}
        while m.poll_event().is_some() {}
        m.poll_timeout()
    }

    #[test]
    fn a_deadline_passed_while_datagrams_arrived_is_fine_until_a_timeout_fails_to_move_it() {
        let mut m = ContractCheck::new(Alarm(Some(Instant::from_millis(10))));
        let addr: SocketAddr = "192.0.2.1:1".parse().unwrap_or_else(|_| unreachable!());
        // A flood kept the driver busy past the deadline: it is due, not a breach.
        m.handle_datagram(Instant::from_millis(12), addr, addr, b"x");
        assert_eq!(drain(&mut m, Instant::from_millis(12)), Some(Instant::from_millis(10)));
        assert_eq!(m.violation(), None);
        // The driver handles it at once; the machine moves on.
        m.handle_timeout(Instant::from_millis(12));
        assert_eq!(drain(&mut m, Instant::from_millis(12)), None);
        assert_eq!(m.violation(), None);
        // Time going backwards is the driver's breach.
        m.handle_timeout(Instant::from_millis(11));
        assert!(matches!(m.violation(), Some(ContractViolation::TimeWentBackwards { .. })));
    }
}
