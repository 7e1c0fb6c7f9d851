//! The tokio run loop: one task per machine.
//!
//! The task `select!`s over the command channel, the machine's deadline and the readiness of
//! any of its sockets; after every wake-up it fires the timer if due, reads one bounded batch
//! from each ready socket and flushes what the machine sent. On Linux the deadline is a
//! timerfd the runtime's reactor watches, so it is kept to the microsecond rather than to the
//! timer wheel's millisecond.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use ::tokio::io::Interest;
use ::tokio::net::UdpSocket;
use ::tokio::sync::{mpsc, oneshot};
use ::tokio::task::JoinHandle;
use sansio_core::{Instant, Machine};

use crate::engine::{Command, Engine, RecvBatch};
use crate::route::SocketTable;
use crate::wake::WakeTimer;
use crate::{CallError, DriverConfig, Stopped};

/// The application's side of a machine running as a tokio task.
///
/// Dropping the handle stops the task; [`Handle::shutdown`] stops it and returns the machine.
pub struct Handle<M: Machine> {
    commands: mpsc::UnboundedSender<Command<M>>,
    task: Option<JoinHandle<Stopped<M>>>,
    locals: Vec<SocketAddr>,
}

impl<M: Machine> std::fmt::Debug for Handle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("locals", &self.locals).finish_non_exhaustive()
    }
}

/// Starts `machine` as a task on the current tokio runtime over `sockets` (socket 0 is the
/// default source of transmits). `sink` receives every event, inside the task.
///
/// # Errors
///
/// When a socket cannot be registered with the runtime.
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn<M, E>(
    machine: M,
    sockets: Vec<std::net::UdpSocket>,
    config: DriverConfig,
    sink: E,
) -> io::Result<Handle<M>>
where
    M: Machine + Send + 'static,
    M::Event: Send,
    E: FnMut(M::Event) + Send + 'static,
{
    let (sockets, locals, states) = crate::engine::prepare(sockets, &config)?;
    let registered = sockets.into_iter().map(UdpSocket::from_std).collect::<io::Result<Vec<_>>>()?;
    let (commands, rx) = mpsc::unbounded_channel();
    let engine = Engine::new(machine, sink, SocketTable::new(locals.clone()), states, config);
    let task = ::tokio::spawn(run(engine, registered, rx));
    Ok(Handle { commands, task: Some(task), locals })
}

impl<M: Machine> Handle<M> {
    /// Runs `f` inside the task with the machine and the current time, drains the machine's
    /// output, and returns what `f` returned.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] when the task has ended.
    pub async fn call<R, F>(&self, f: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: FnOnce(&mut M, Instant) -> R + Send + 'static,
    {
        self.send_call(f)?.await.map_err(|_| CallError::Stopped)
    }

    /// [`Handle::call`] from synchronous code outside the runtime.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] when the task has ended.
    ///
    /// # Panics
    ///
    /// When called from inside an async context (as `oneshot::Receiver::blocking_recv`).
    pub fn blocking_call<R, F>(&self, f: F) -> Result<R, CallError>
    where
        R: Send + 'static,
        F: FnOnce(&mut M, Instant) -> R + Send + 'static,
    {
        self.send_call(f)?.blocking_recv().map_err(|_| CallError::Stopped)
    }

    fn send_call<R, F>(&self, f: F) -> Result<oneshot::Receiver<R>, CallError>
    where
        R: Send + 'static,
        F: FnOnce(&mut M, Instant) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let call = Box::new(move |m: &mut M, now: Instant| {
            let _ = tx.send(f(m, now));
        });
        self.commands.send(Command::Call(call)).map_err(|_| CallError::Stopped)?;
        Ok(rx)
    }

    /// The local addresses of the machine's sockets, in order.
    #[must_use]
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Stops the task and returns the machine with the loop's counters.
    ///
    /// # Errors
    ///
    /// [`CallError::Stopped`] if the task panicked or was cancelled.
    pub async fn shutdown(mut self) -> Result<Stopped<M>, CallError> {
        let _ = self.commands.send(Command::Stop);
        self.task.take().ok_or(CallError::Stopped)?.await.map_err(|_| CallError::Stopped)
    }
}

impl<M: Machine> Drop for Handle<M> {
    fn drop(&mut self) {
        if self.task.is_some() {
            let _ = self.commands.send(Command::Stop);
        }
    }
}

async fn run<M, E>(
    mut engine: Engine<M, E>,
    sockets: Vec<UdpSocket>,
    mut commands: mpsc::UnboundedReceiver<Command<M>>,
) -> Stopped<M>
where
    M: Machine,
    E: FnMut(M::Event),
{
    let mut batches: Vec<RecvBatch> = sockets.iter().map(|_| RecvBatch::new(engine.config.recv_batch)).collect();
    let mut first = 0;
    let mut timer = precise_timer();
    engine.start();
    flush(&mut engine, &sockets).await;
    'run: loop {
        let deadline = engine.deadline().and_then(|d| engine.clock.to_std(d));
        ::tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Call(f)) => engine.call(f),
                Some(Command::Stop) | None => break 'run,
            },
            () = wait_until(&mut timer, deadline) => {}
            () = any_readable(&sockets, first) => {}
        }
        engine.stats.wakeups += 1;
        flush(&mut engine, &sockets).await;
        engine.fire_timer();
        flush(&mut engine, &sockets).await;

        let mut budget = engine.config.max_datagrams_per_wakeup;
        for k in 0..sockets.len() {
            let i = (first + k) % sockets.len();
            while budget > 0 {
                let socket = &sockets[i];
                let (batch, state) = (&mut batches[i], &engine.states[i]);
                match socket.try_io(Interest::READABLE, || batch.recv(state, socket.into())) {
                    Ok(n) => {
                        engine.feed(i, &batches[i], n);
                        flush(&mut engine, &sockets).await;
                        budget = budget.saturating_sub(n.max(1));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
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
    }
    let Engine { machine, stats, .. } = engine;
    Stopped { machine, stats }
}

/// A timerfd the runtime's reactor watches, or `None` (not Linux, or refused): the task then
/// waits with tokio's millisecond timer.
#[cfg(target_os = "linux")]
type Timer = ::tokio::io::unix::AsyncFd<WakeTimer>;
#[cfg(not(target_os = "linux"))]
type Timer = WakeTimer;

fn precise_timer() -> Option<Timer> {
    let timer = WakeTimer::new().ok()?;
    #[cfg(target_os = "linux")]
    let timer = register(timer)
        .inspect_err(|e| tracing::debug!(error = %e, "no timerfd wake-ups; deadlines round up to milliseconds"))
        .ok()?;
    Some(timer)
}

/// Hands the timer's file descriptor to the runtime's reactor.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn register(timer: WakeTimer) -> io::Result<Timer> {
    // SAFETY: tokio needs the descriptor `as_raw_fd` returns to stay open and the same for as
    // long as the `AsyncFd` lives. `WakeTimer` owns it (an `OwnedFd` created with the timer,
    // never replaced, closed only when the timer is dropped, which the `AsyncFd` does after
    // deregistering it), `as_raw_fd` always returns it, and `wait_until` uses `get_mut` and
    // `get_inner_mut` only to arm and read the timer, never to replace it.
    unsafe { ::tokio::io::unix::AsyncFd::register_with_interest(timer, Interest::READABLE) }.map_err(io::Error::from)
}

/// Resolves at `deadline` (never, without one): by the timerfd when there is one, else by
/// tokio's timer.
async fn wait_until(timer: &mut Option<Timer>, deadline: Option<std::time::Instant>) {
    let Some(at) = deadline else { return std::future::pending().await };
    if at <= std::time::Instant::now() {
        return;
    }
    #[cfg(target_os = "linux")]
    if let Some(fd) = timer.as_mut()
        && fd.get_mut().arm(at).is_ok()
    {
        while let Ok(mut ready) = fd.readable_mut().await {
            ready.clear_ready();
            let expired = ready.get_inner_mut().fired();
            if expired || std::time::Instant::now() >= at {
                return;
            }
            // A readiness left from an earlier arming: wait for this one.
            if ready.get_inner_mut().arm(at).is_err() {
                break;
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = timer;
    ::tokio::time::sleep_until(::tokio::time::Instant::from_std(at)).await;
}

/// Resolves when any socket may be readable, checking them from `first` on for fairness.
async fn any_readable(sockets: &[UdpSocket], first: usize) {
    poll_fn(|cx| {
        for k in 0..sockets.len() {
            if sockets[(first + k) % sockets.len()].poll_recv_ready(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// Sends everything in the outbox, waiting for room in the kernel buffer, then whatever the
/// machine still held, until both are empty.
async fn flush<M: Machine, E: FnMut(M::Event)>(engine: &mut Engine<M, E>, sockets: &[UdpSocket]) {
    while engine.has_output() {
        for i in 0..engine.outbox.runs().len() {
            let run = engine.outbox.runs()[i];
            let result = {
                let socket = &sockets[run.socket];
                let state = &engine.states[run.socket];
                let transmit = run.transmit(engine.outbox.bytes());
                socket
                    .async_io(Interest::WRITABLE, || {
                        crate::engine::with_ttl(socket, run.destination, run.ttl, || {
                            state.try_send(socket.into(), &transmit)
                        })
                    })
                    .await
            };
            engine.count_send(i, &result);
        }
        engine.after_flush();
    }
}
