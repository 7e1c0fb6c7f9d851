//! A small test machine and a harness that runs it on either driver, so every behavioural
//! test runs unchanged against both loops.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use drivers::{DriverConfig, Stopped, std_thread};
use sansio_core::{ContractCheck, Instant, Machine, Transmit, TransmitQueue};

/// What the test machine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// A scheduled timer fired: `deadline` was asked for, `now` is when it ran.
    Tick { seq: u32, deadline: Instant, now: Instant },
    /// The answer to ping `seq` came back after `rtt`.
    Pong { seq: u32, rtt: Duration },
    /// A DATA datagram arrived.
    Data { local: SocketAddr, from: SocketAddr, len: usize, tag: u32 },
}

/// Pings a peer, echoes pings, ticks periodically and sends bursts, depending on commands.
#[derive(Debug, Default)]
pub(crate) struct TestMachine {
    outbox: TransmitQueue,
    events: VecDeque<Event>,
    next: Option<Instant>,
    seq: u32,
    count: u32,
    interval: Duration,
    peer: Option<SocketAddr>,
    /// Ticks on a fixed schedule instead of waiting for pongs.
    periodic: bool,
    /// Datagrams of any other kind received (a flood).
    pub other_received: u64,
}

impl TestMachine {
    /// Sends `count` pings to `peer`, the next one `interval` after each pong.
    pub(crate) fn start_pings(&mut self, now: Instant, peer: SocketAddr, interval: Duration, count: u32) {
        *self = Self { peer: Some(peer), interval, count, next: Some(now + interval), ..Self::default() };
    }

    /// Ticks `count` times, every `interval`, whatever arrives.
    pub(crate) fn start_ticks(&mut self, now: Instant, interval: Duration, count: u32) {
        *self = Self { interval, count, periodic: true, next: Some(now + interval), ..Self::default() };
    }

    /// Queues `sizes.len()` DATA datagrams to `peer`, tagged 0.., each filled to its size.
    pub(crate) fn send_burst(&mut self, peer: SocketAddr, sizes: &[usize]) {
        for (tag, &len) in sizes.iter().enumerate() {
            let mut d = vec![0xAB; len.max(8)];
            d[..4].copy_from_slice(b"DATA");
            d[4..8].copy_from_slice(&u32::try_from(tag).unwrap().to_be_bytes());
            self.outbox.push(None, peer, &d).unwrap();
        }
    }
}

impl Machine for TestMachine {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        match datagram.get(..4) {
            Some(b"PING") => {
                let mut reply = datagram.to_vec();
                reply[..4].copy_from_slice(b"PONG");
                // Answer from the address the ping arrived on.
                self.outbox.push(Some(local), remote, &reply).unwrap();
            }
            Some(b"PONG") if datagram.len() == 16 => {
                let seq = u32::from_be_bytes(datagram[4..8].try_into().unwrap());
                let sent = Instant::from_micros(u64::from_be_bytes(datagram[8..16].try_into().unwrap()));
                if seq != self.seq {
                    return;
                }
                self.events.push_back(Event::Pong { seq, rtt: now - sent });
                self.seq += 1;
                if self.seq < self.count {
                    self.next = Some(now + self.interval);
                }
            }
            Some(b"DATA") if datagram.len() >= 8 => {
                let tag = u32::from_be_bytes(datagram[4..8].try_into().unwrap());
                self.events.push_back(Event::Data { local, from: remote, len: datagram.len(), tag });
            }
            _ => self.other_received += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        // Every tick due is reported, so a loop woken late catches up and the next deadline
        // is in the future, as the machine contract asks.
        while let Some(deadline) = self.next.filter(|d| *d <= now) {
            let seq = self.seq;
            self.events.push_back(Event::Tick { seq, deadline, now });
            if self.periodic {
                self.seq += 1;
                self.next = (self.seq < self.count).then(|| deadline + self.interval);
                continue;
            }
            self.next = None;
            if let Some(peer) = self.peer {
                let mut ping = b"PING".to_vec();
                ping.extend_from_slice(&seq.to_be_bytes());
                ping.extend_from_slice(&now.as_micros().to_be_bytes());
                self.outbox.push(None, peer, &ping).unwrap();
            }
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.outbox.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Std,
    Tokio,
}

pub(crate) const BOTH: [Flavor; 2] = [Flavor::Std, Flavor::Tokio];

enum Inner<M: Machine> {
    Std(std_thread::Handle<ContractCheck<M>>),
    Tokio(drivers::tokio::Handle<ContractCheck<M>>, tokio::runtime::Runtime),
}

/// A machine running on one of the drivers, with its events collected on a channel. The
/// machine runs inside a [`ContractCheck`], so a driver that breaks the contract (time going
/// backwards, outputs not drained before the deadline is read) fails the test at shutdown.
pub(crate) struct Running<M: Machine> {
    inner: Inner<M>,
    pub events: mpsc::Receiver<M::Event>,
}

pub(crate) fn start<M>(flavor: Flavor, machine: M, addrs: &[&str]) -> Running<M>
where
    M: Machine + Send + 'static,
    M::Event: Send + 'static,
{
    let addrs: Vec<SocketAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    let sockets = drivers::bind_all(&addrs).unwrap();
    let (tx, events) = mpsc::channel();
    let sink = move |e| {
        let _ = tx.send(e);
    };
    let machine = ContractCheck::new(machine);
    let inner = match flavor {
        Flavor::Std => Inner::Std(std_thread::spawn(machine, sockets, DriverConfig::default(), sink).unwrap()),
        Flavor::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let handle = {
                let _guard = rt.enter();
                drivers::tokio::spawn(machine, sockets, DriverConfig::default(), sink).unwrap()
            };
            Inner::Tokio(handle, rt)
        }
    };
    Running { inner, events }
}

impl<M: Machine + Send + 'static> Running<M> {
    pub(crate) fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut M, Instant) -> R + Send + 'static) -> R {
        let f = move |m: &mut ContractCheck<M>, now| {
            m.note_input(now);
            f(m.inner_mut(), now)
        };
        match &self.inner {
            Inner::Std(h) => h.call(f).unwrap(),
            Inner::Tokio(h, _) => h.blocking_call(f).unwrap(),
        }
    }

    pub(crate) fn local_addrs(&self) -> Vec<SocketAddr> {
        match &self.inner {
            Inner::Std(h) => h.local_addrs().to_vec(),
            Inner::Tokio(h, _) => h.local_addrs().to_vec(),
        }
    }

    /// Stops the loop; panics if the machine or the driver broke the contract.
    pub(crate) fn shutdown(self) -> Stopped<M> {
        let stopped = match self.inner {
            Inner::Std(h) => h.shutdown().unwrap(),
            Inner::Tokio(h, rt) => rt.block_on(h.shutdown()).unwrap(),
        };
        assert_eq!(stopped.machine.violation(), None, "the machine contract was broken");
        Stopped { machine: stopped.machine.into_inner(), stats: stopped.stats }
    }

    /// The next `n` events, or a panic naming how many arrived within `timeout`.
    pub(crate) fn take(&self, n: usize, timeout: Duration) -> Vec<M::Event> {
        let deadline = std::time::Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => out.push(e),
                Err(_) => panic!("only {} of {n} events within {timeout:?}", out.len()),
            }
        }
        out
    }
}
