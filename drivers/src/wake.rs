//! Wake-ups at a machine's deadline to the microsecond.
//!
//! Both run loops used to wait for a deadline with a timeout counted in whole milliseconds:
//! `epoll_wait` takes milliseconds (mio rounds up) and tokio's timer wheel ticks once a
//! millisecond. A machine that asked to be woken in 250 µs (a P2TP echo owed to a sender
//! that has run out of window, a pacing gap on a fast path) slept a millisecond or more,
//! and every such wait went into the peer's RTT samples: over loopback a CUBIC stream's
//! SRTT settled at 1.15 ms instead of 0.3 ms and its rate at 1–10 Gbit/s instead of 21–29.
//!
//! On Linux a `timerfd` armed for the deadline wakes the loop as precisely as the kernel's
//! high-resolution timers allow, while the loop still waits on its sockets and commands in
//! the same `epoll` set. Elsewhere [`WakeTimer::new`] fails and the loops keep their
//! millisecond timeouts.

use std::io;

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

    /// A one-shot `CLOCK_MONOTONIC` timerfd, non-blocking.
    #[derive(Debug)]
    pub(crate) struct Fd(OwnedFd);

    impl Fd {
        pub(crate) fn new() -> io::Result<Self> {
            let fd = rustix::time::timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            Ok(Self(fd))
        }

        /// Fires once, `after` from now (a zero `it_value` would disarm it: at least 1 ns).
        /// Setting a timerfd also resets its count of expiries, so an expiry that was never
        /// read cannot make the next wait return at once.
        pub(crate) fn set(&self, after: Duration) -> io::Result<()> {
            let value = Timespec::try_from(after.max(Duration::from_nanos(1)))
                .unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
            let spec = Itimerspec { it_interval: Timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
            rustix::time::timerfd_settime(&self.0, TimerfdTimerFlags::empty(), &spec)?;
            Ok(())
        }

        /// Reads (and so resets) the count of expiries; whether there was one.
        pub(crate) fn consume(&self) -> bool {
            let mut count = [0u8; 8];
            rustix::io::read(&self.0, &mut count).is_ok_and(|n| n == 8)
        }
    }

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }
    }
}

/// A timer a run loop waits on together with its sockets: armed for the machine's deadline
/// before each wait, it makes that wait end at the deadline rather than at the next whole
/// millisecond. Its descriptor is the same for its whole life (tokio's reactor relies on it).
#[derive(Debug)]
pub(crate) struct WakeTimer {
    #[cfg(target_os = "linux")]
    fd: imp::Fd,
    /// The wait it was last armed for, so an unchanged one costs no system call.
    armed: Option<std::time::Instant>,
}

impl WakeTimer {
    /// A disarmed timer.
    ///
    /// # Errors
    ///
    /// Where the platform has no such timer (anything but Linux), or the kernel refused one.
    pub(crate) fn new() -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        {
            Ok(Self { fd: imp::Fd::new()?, armed: None })
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(io::Error::new(io::ErrorKind::Unsupported, "no timerfd on this platform"))
        }
    }

    /// Makes the timer fire at `at` (once; it replaces any earlier arming).
    ///
    /// # Errors
    ///
    /// When the kernel refuses the setting; the caller then waits with a timeout instead.
    pub(crate) fn arm(&mut self, at: std::time::Instant) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        self.fd.set(at.saturating_duration_since(std::time::Instant::now()))?;
        self.armed = Some(at);
        Ok(())
    }

    /// After the timer's readiness was reported: clears it, so the next expiry is a new
    /// edge, and forgets the arming (the loop arms it again for its next deadline). Returns
    /// whether it had expired.
    pub(crate) fn fired(&mut self) -> bool {
        self.armed = None;
        #[cfg(target_os = "linux")]
        return self.fd.consume();
        #[cfg(not(target_os = "linux"))]
        false
    }
}

#[cfg(target_os = "linux")]
impl std::os::fd::AsRawFd for WakeTimer {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_armed_timer_expires_at_its_deadline_and_not_before() {
        let mut timer = WakeTimer::new().unwrap();
        let at = std::time::Instant::now() + Duration::from_millis(50);
        timer.arm(at).unwrap();
        assert!(!timer.fired(), "not expired before the deadline");
        timer.arm(at).unwrap();
        std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()) + Duration::from_millis(5));
        assert!(timer.fired(), "expired once the deadline passed");
        assert!(!timer.fired(), "reading the expiry clears it");
        timer.arm(std::time::Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        assert!(timer.fired(), "a deadline already reached fires at once");
    }
}
