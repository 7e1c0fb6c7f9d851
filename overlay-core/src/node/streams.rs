//! Messages by key over identified P2TP streams (`docs/overlay.md` §4): `send`, the hello
//! exchange that binds a stream to a key, and the stream events.

use alloc::vec::Vec;
use core::net::SocketAddr;

use sansio_core::{Instant, Machine};
use sync_core::Store;

use super::{Event, Node, PathKind, SendError, SendFailure, is_private};
use crate::identity::Mid;
use crate::session::{DATA, HELD, HELLO, HELLO_INTERVAL, HELLO_TRIES, Hello, Session};

/// Node-side errors for a P2TP refusal.
fn transport_error(e: p2tp_core::SendError) -> SendError {
    match e {
        p2tp_core::SendError::TooLarge { len, max } => SendError::TooLarge { len: len - 1, max: max - 1 },
        p2tp_core::SendError::Closing => SendError::Closing,
        p2tp_core::SendError::NoStream => SendError::UnknownPeer,
        _ => SendError::QueueFull,
    }
}

impl<S: Store> Node<S> {
    /// Peers with a verified stream, and where it runs.
    pub fn connected(&self) -> impl Iterator<Item = (Mid, SocketAddr)> + '_ {
        self.connected.iter().map(|(m, a)| (*m, *a))
    }
    /// The path figures of the stream to a connected peer (RTT, rate, loss, counters).
    pub fn path_stats(&self, mid: &Mid) -> Option<p2tp_core::PathStats> {
        self.connected.get(mid).and_then(|a| self.endpoint.path_stats(*a))
    }
    /// The largest message [`send`](Self::send) takes.
    pub fn max_message(&self) -> usize {
        self.endpoint.config().max_datagram() - 1
    }

    /// Sends one message to the peer with member id `mid`: at once over its verified
    /// stream, or, if there is none, over a new P2TP stream to the address the peer was last
    /// heard from, once the peer's hello proves its key ([`Event::Connected`]). Like any
    /// datagram it may be lost; the peer's path figures tell how often that happens.
    ///
    /// # Errors
    ///
    /// [`SendError::UnknownPeer`] if the node knows no address for `mid`;
    /// [`SendError::QueueFull`] is back-pressure; the others are permanent for this message.
    pub fn send(&mut self, now: Instant, mid: &Mid, data: &[u8]) -> Result<(), SendError> {
        let max = self.max_message();
        if data.len() > max {
            return Err(SendError::TooLarge { len: data.len(), max });
        }
        let mut framed = Vec::with_capacity(data.len() + 1);
        framed.push(DATA);
        framed.extend_from_slice(data);
        let result = self.send_framed(now, mid, framed);
        self.pump(now);
        result
    }

    fn send_framed(&mut self, now: Instant, mid: &Mid, framed: Vec<u8>) -> Result<(), SendError> {
        if let Some(&address) = self.connected.get(mid) {
            return self.endpoint.send(now, address, &framed).map_err(transport_error);
        }
        if let Some(s) = self.sessions.values_mut().find(|s| s.expect == Some(*mid) && !s.verified) {
            if s.outbox.len() >= HELD {
                return Err(SendError::QueueFull);
            }
            s.outbox.push_back(framed);
            return Ok(());
        }
        let address = self.peers.get(mid).map(|p| p.address).ok_or(SendError::UnknownPeer)?;
        if self.sessions.get(&address).is_some_and(|s| s.key.is_some_and(|k| k.mid() != *mid)) {
            // Another key holds a stream at that address now: the peer moved.
            return Err(SendError::UnknownPeer);
        }
        self.endpoint.connect(now, address).map_err(SendError::NoRoute)?;
        let mine = self.rng.next_u64();
        let s = self.sessions.entry(address).or_insert_with(|| Session::new(None, mine));
        s.expect = Some(*mid);
        s.outbox.push_back(framed);
        // The peer's NAT may have closed towards us since it was last heard: introducers ask
        // it to puncture, and its puncture says where it is now.
        self.ask_introducers(now, *mid);
        Ok(())
    }

    /// Closes the stream to a connected peer; returns whether there was one.
    pub fn disconnect(&mut self, now: Instant, mid: &Mid) -> bool {
        let Some(&address) = self.connected.get(mid) else { return false };
        let closed = self.endpoint.close(now, address);
        self.pump(now);
        closed
    }

    /// Sends the hellos that are due (giving up on streams whose peer never answered), then
    /// handles what the P2TP endpoint reported.
    pub(super) fn pump(&mut self, now: Instant) {
        let due: Vec<SocketAddr> =
            self.sessions.iter().filter(|(_, s)| s.next_hello.is_some_and(|t| t <= now)).map(|(a, _)| *a).collect();
        for address in due {
            let Some(s) = self.sessions.get(&address) else { continue };
            if s.hellos >= HELLO_TRIES {
                let failure = if s.key.is_some() { SendFailure::Closed } else { SendFailure::NoHello };
                self.end_session(address, failure);
                self.endpoint.close(now, address);
                continue;
            }
            self.send_hello(now, address);
        }
        while let Some(e) = self.endpoint.poll_event() {
            match e {
                p2tp_core::Event::Opened { peer } => self.on_opened(now, peer),
                p2tp_core::Event::Datagram { peer, data } => self.on_stream_data(now, peer, &data),
                p2tp_core::Event::OpenFailed { peer, .. } => self.end_session(peer, SendFailure::NoRoute),
                p2tp_core::Event::Closed { peer, .. } => self.end_session(peer, SendFailure::Closed),
                _ => {}
            }
        }
    }

    fn send_hello(&mut self, now: Instant, address: SocketAddr) {
        let Some(s) = self.sessions.get_mut(&address) else { return };
        let hello = Hello { key: self.key, verified_you: s.verified, mine: s.mine, yours: s.yours };
        s.hellos += 1;
        s.last_hello = Some(now);
        s.next_hello = (!s.verified).then(|| now + HELLO_INTERVAL);
        let bytes = hello.encode(&self.identity);
        // A full stream queue loses this hello; the next one is due in 500 ms.
        let _ = self.endpoint.send(now, address, &bytes);
    }

    fn on_opened(&mut self, now: Instant, address: SocketAddr) {
        let mine = self.rng.next_u64();
        self.sessions.entry(address).or_insert_with(|| Session::new(None, mine)).opened = true;
        self.send_hello(now, address);
    }

    fn on_stream_data(&mut self, now: Instant, address: SocketAddr, data: &[u8]) {
        match data.first() {
            Some(&HELLO) => self.on_hello(now, address, data),
            Some(&DATA) => {
                let Some(s) = self.sessions.get_mut(&address) else {
                    self.stats.bad_stream_data += 1;
                    return;
                };
                if s.verified {
                    if let Some(key) = s.key {
                        self.events.push_back(Event::Message { mid: key.mid(), data: data[1..].to_vec() });
                    }
                    return;
                }
                if s.inbox.len() >= HELD {
                    self.stats.held_dropped += 1;
                } else {
                    s.inbox.push_back(data[1..].to_vec());
                }
                // The peer thinks it is verified: our hello (or its) was lost; say it again.
                if s.opened && s.may_answer(now) {
                    self.send_hello(now, address);
                }
            }
            _ => self.stats.bad_stream_data += 1,
        }
    }

    fn on_hello(&mut self, now: Instant, address: SocketAddr, data: &[u8]) {
        let Some(hello) = Hello::decode(data) else {
            self.stats.bad_hellos += 1;
            return;
        };
        if hello.key == self.key {
            self.stats.bad_stream_data += 1;
            return;
        }
        let mine = self.rng.next_u64();
        let s = self.sessions.entry(address).or_insert_with(|| Session::new(None, mine));
        if s.key.is_some_and(|k| k != hello.key) {
            self.stats.bad_hellos += 1;
            return;
        }
        s.key = Some(hello.key);
        s.yours = hello.mine;
        let fresh = !s.verified && hello.yours == s.mine;
        if fresh {
            s.verified = true;
            s.next_hello = None;
        }
        // A hello that shows the peer lacks this side's nonce, or its verdict, is answered at
        // once (each answer is one hello for one hello, on a validated stream); repeats of an
        // informed one at most every 100 ms.
        let answer = !hello.verified_you && (hello.yours != s.mine || fresh || s.may_answer(now));
        if fresh {
            self.on_verified(now, address, hello.key.mid());
        }
        if answer && self.sessions.contains_key(&address) {
            self.send_hello(now, address);
        }
    }

    fn on_verified(&mut self, now: Instant, address: SocketAddr, mid: Mid) {
        let Some(s) = self.sessions.get_mut(&address) else { return };
        let outbox = core::mem::take(&mut s.outbox);
        let inbox = core::mem::take(&mut s.inbox);
        if let Some(expected) = s.expect.take()
            && expected != mid
        {
            // Another key answered where the peer was: whatever waited for it is dropped.
            if self.resuming.remove(&expected) {
                self.events.push_back(Event::Disconnected { mid: expected, address });
            }
            if !outbox.is_empty() {
                let dropped = outbox.len();
                self.events.push_back(Event::SendFailed { mid: expected, reason: SendFailure::WrongPeer, dropped });
            }
        } else {
            for framed in &outbox {
                if self.endpoint.send(now, address, framed).is_err() {
                    self.stats.queue_full += 1;
                }
            }
        }
        // The newest stream of a peer is where it is now: an older one is closed.
        let previous = self.connected.insert(mid, address);
        if let Some(old) = previous
            && old != address
        {
            self.sessions.remove(&old);
            self.endpoint.close(now, old);
        }
        let resumed = self.resuming.remove(&mid);
        let path = if is_private(address.ip()) { PathKind::Lan } else { PathKind::Direct };
        if let Some(e) = super::introduce::verified_event(mid, address, previous, resumed, path) {
            self.events.push_back(e);
        }
        for data in inbox {
            self.events.push_back(Event::Message { mid, data });
        }
    }

    /// Forgets a stream's session, reporting a disconnect or the messages it could not send.
    fn end_session(&mut self, address: SocketAddr, failure: SendFailure) {
        let Some(s) = self.sessions.remove(&address) else { return };
        if let Some(key) = s.key.filter(|_| s.verified) {
            let mid = key.mid();
            if self.connected.get(&mid) == Some(&address) {
                self.connected.remove(&mid);
                self.events.push_back(Event::Disconnected { mid, address });
            }
        } else if let Some(mid) = s.expect {
            if self.resuming.remove(&mid) {
                self.events.push_back(Event::Disconnected { mid, address });
            }
            if !s.outbox.is_empty() {
                self.events.push_back(Event::SendFailed { mid, reason: failure, dropped: s.outbox.len() });
            }
        }
    }

    pub(super) fn next_hello(&self) -> Option<Instant> {
        self.sessions.values().filter_map(|s| s.next_hello).min()
    }
}
