//! The std-thread run loop: one OS thread per machine, no async runtime.
//!
//! The thread waits on all of the machine's sockets, its next deadline and a waker for
//! application commands at once, through `mio` (epoll, kqueue or IOCP). That is the portable
//! form of "a blocking read with the timeout set from `poll_timeout`": a plain blocking read
//! can watch only one socket and cannot be woken by a command, and `quinn-udp`'s batched
//! receive needs a non-blocking socket. On Linux the deadline is a timerfd in the same set, so
//! the wait ends at the deadline to the microsecond rather than at epoll's next millisecond.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{self, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token, Waker};
use sansio_core::{Instant, Machine};

use crate::engine::{Command, Engine, RecvBatch};
use crate::route::SocketTable;
use crate::wake::WakeTimer;
use crate::{CallError, DriverConfig, Stopped};

const WAKER: Token = Token(usize::MAX);
const TIMER: Token = Token(usize::MAX - 1);
/// How long a send waits for room in a full kernel buffer before the datagram is dropped.
const SEND_RETRY: Duration = Duration::from_micros(100);
const SEND_ATTEMPTS: u32 = 100;

/// The application's side of a machine running on its own thread.
///
/// Dropping the handle stops the loop (without waiting for it); [`Handle::shutdown`] stops it
/// and returns the machine.
pub struct Handle<M: Machine> {
    commands: mpsc::Sender<Command<M>>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<Stopped<M>>>,
    locals: Vec<SocketAddr>,
}

impl<M: Machine> std::fmt::Debug for Handle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("locals", &self.locals).finish_non_exhaustive()
    }
}

/// Starts `machine` on a new thread over `sockets` (in order: socket 0 is the default source
/// of transmits). `sink` receives every event the machine reports, on the driver's thread.
///
/// # Errors
///
/// When a socket cannot be set up (made non-blocking, registered) or the thread not started.
pub fn spawn<M, E>(
    machine: M,
    sockets: Vec<std::net::UdpSocket>,
    config: DriverConfig,
    sink: E,
) -> io::Result<Handle<M>>
where
    M: Machine + Send + 'static,
    E: FnMut(M::Event) + Send + 'static,
{
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (sockets, locals, states) = crate::engine::prepare(sockets, &config)?;
    let mut registered = Vec::with_capacity(sockets.len());
    for (i, socket) in sockets.into_iter().enumerate() {
        let mut socket = mio::net::UdpSocket::from_std(socket);
        poll.registry().register(&mut socket, Token(i), Interest::READABLE)?;
        registered.push(socket);
    }
    let timer = precise_timer(&poll);
    let (commands, rx) = mpsc::channel();
    let engine = Engine::new(machine, sink, SocketTable::new(locals.clone()), states, config);
    let thread = std::thread::Builder::new()
        .name("ipv8-driver".into())
        .spawn(move || run(engine, poll, registered, rx, timer))?;
    Ok(Handle { commands, waker, thread: Some(thread), locals })
}

impl<M: Machine> Handle<M> {
    /// Runs `f` on the driver's thread with the machine and the current time, drains the
    /// machine's output, and returns what `f` returned.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] when the loop has ended.
    pub fn call<R, F>(&self, f: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: FnOnce(&mut M, Instant) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let call = Box::new(move |m: &mut M, now: Instant| {
            let _ = tx.send(f(m, now));
        });
        self.commands.send(Command::Call(call)).map_err(|_| CallError::Stopped)?;
        self.waker.wake().map_err(|_| CallError::Stopped)?;
        rx.recv().map_err(|_| CallError::Stopped)
    }

    /// The local addresses of the machine's sockets, in order.
    #[must_use]
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Stops the loop and returns the machine with the loop's counters.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] if the loop's thread panicked.
    pub fn shutdown(mut self) -> Result<Stopped<M>, CallError> {
        let _ = self.commands.send(Command::Stop);
        let _ = self.waker.wake();
        self.thread.take().ok_or(CallError::Stopped)?.join().map_err(|_| CallError::Stopped)
    }
}

impl<M: Machine> Drop for Handle<M> {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.commands.send(Command::Stop);
            let _ = self.waker.wake();
        }
    }
}

/// A timerfd registered with `poll`, or `None` (not Linux, or refused): the loop then waits
/// with epoll's millisecond timeout.
fn precise_timer(poll: &Poll) -> Option<WakeTimer> {
    let timer = WakeTimer::new().ok()?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let fd = timer.as_raw_fd();
        if let Err(e) = poll.registry().register(&mut mio::unix::SourceFd(&fd), TIMER, Interest::READABLE) {
            tracing::debug!(error = %e, "no timerfd wake-ups; deadlines round up to milliseconds");
            return None;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = poll;
    Some(timer)
}

fn run<M, E>(
    mut engine: Engine<M, E>,
    mut poll: Poll,
    sockets: Vec<mio::net::UdpSocket>,
    commands: mpsc::Receiver<Command<M>>,
    mut timer: Option<WakeTimer>,
) -> Stopped<M>
where
    M: Machine,
    E: FnMut(M::Event),
{
    let mut batches: Vec<RecvBatch> = sockets.iter().map(|_| RecvBatch::new(engine.config.recv_batch)).collect();
    // Readiness is edge-triggered: remember which sockets may still hold datagrams.
    let mut readable = vec![true; sockets.len()];
    let mut events = Events::with_capacity(64);
    let mut first = 0;
    engine.start();
    flush(&mut engine, &sockets);
    'run: loop {
        engine.stats.wakeups += 1;
        loop {
            match commands.try_recv() {
                Ok(Command::Call(f)) => {
                    engine.call(f);
                    flush(&mut engine, &sockets);
                }
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => break 'run,
                Err(TryRecvError::Empty) => break,
            }
        }
        engine.fire_timer();
        flush(&mut engine, &sockets);

        // One bounded round of receiving, starting from a different socket each time.
        let mut budget = engine.config.max_datagrams_per_wakeup;
        for k in 0..sockets.len() {
            let i = (first + k) % sockets.len();
            while readable[i] && budget > 0 {
                match batches[i].recv(&engine.states[i], (&sockets[i]).into()) {
                    Ok(n) => {
                        engine.feed(i, &batches[i], n);
                        flush(&mut engine, &sockets);
                        budget = budget.saturating_sub(n.max(1));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => readable[i] = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        engine.stats.recv_errors += 1;
                        budget = budget.saturating_sub(1);
                        tracing::debug!(socket = i, error = %e, "receive failed");
                    }
                }
            }
        }
        first = first.wrapping_add(1);

        let timeout = if readable.iter().any(|r| *r) || engine.has_output() {
            Some(Duration::ZERO)
        } else {
            match engine.deadline().and_then(|d| engine.clock.to_std(d)) {
                None => None,
                // Due already: look at the sockets and go on (a timer would add its slack).
                Some(at) if at <= std::time::Instant::now() => Some(Duration::ZERO),
                // The timerfd ends the wait; epoll itself waits for anything.
                Some(at) if timer.as_mut().is_some_and(|t| t.arm(at).is_ok()) => None,
                // No timerfd: epoll's timeout, rounded up to a millisecond.
                Some(at) => Some(at.saturating_duration_since(std::time::Instant::now())),
            }
        };
        if let Err(e) = poll.poll(&mut events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            tracing::error!(error = %e, "poll failed; stopping the driver");
            break;
        }
        for event in &events {
            if event.token() == TIMER {
                if let Some(t) = timer.as_mut() {
                    t.fired();
                }
            } else if let Some(r) = readable.get_mut(event.token().0) {
                *r = true;
            }
        }
    }
    let Engine { machine, stats, .. } = engine;
    Stopped { machine, stats }
}

/// Sends everything in the outbox, then whatever the machine still held, until both are empty.
fn flush<M: Machine, E: FnMut(M::Event)>(engine: &mut Engine<M, E>, sockets: &[mio::net::UdpSocket]) {
    while engine.has_output() {
        for i in 0..engine.outbox.runs().len() {
            let run = engine.outbox.runs()[i];
            let transmit = run.transmit(engine.outbox.bytes());
            let state = &engine.states[run.socket];
            let socket = &sockets[run.socket];
            let result = crate::engine::with_ttl(socket, run.destination, run.ttl, || {
                let mut result = state.try_send(socket.into(), &transmit);
                let mut attempts = 1;
                // A full kernel buffer: wait a little for room, then drop the datagram as UDP may.
                while matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) && attempts < SEND_ATTEMPTS {
                    std::thread::sleep(SEND_RETRY);
                    result = state.try_send(socket.into(), &transmit);
                    attempts += 1;
                }
                result
            });
            engine.count_send(i, &result);
        }
        engine.after_flush();
    }
}
