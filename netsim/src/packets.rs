//! Datagrams in flight, in a pool: a packet is written once when a machine sends it, stays in
//! its slot through every link, router and NAT it crosses (which only change its addresses),
//! and is freed when it is delivered or dropped. Events name packets by slot, so nothing is
//! copied on the way, and freed slots keep their payload buffers for the next packet.

use std::net::SocketAddr;

/// A datagram in flight.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// IP time-to-live left.
    pub ttl: u8,
    pub payload: Vec<u8>,
}

/// Payload buffers larger than this are not kept for reuse when their packet is freed.
const KEEP_CAPACITY: usize = 2048;

/// The packets in flight, by slot.
#[derive(Default)]
pub(crate) struct Packets {
    slots: Vec<Packet>,
    free: Vec<u32>,
}

impl Packets {
    /// A new packet from `src` to `dst` carrying `payload`; returns its slot.
    pub(crate) fn alloc(&mut self, src: SocketAddr, dst: SocketAddr, ttl: u8, payload: &[u8]) -> u32 {
        match self.free.pop() {
            Some(i) => {
                let p = &mut self.slots[i as usize];
                p.src = src;
                p.dst = dst;
                p.ttl = ttl;
                p.payload.clear();
                p.payload.extend_from_slice(payload);
                i
            }
            None => {
                self.slots.push(Packet { src, dst, ttl, payload: payload.to_vec() });
                u32::try_from(self.slots.len() - 1).unwrap_or_else(|_| unreachable!("2^32 packets in flight"))
            }
        }
    }

    /// A copy of packet `i` in a new slot (a duplicating link).
    pub(crate) fn copy(&mut self, i: u32) -> u32 {
        let p = self.slots[i as usize].clone();
        self.alloc(p.src, p.dst, p.ttl, &p.payload)
    }

    /// Frees slot `i`, keeping its buffer unless it is large.
    pub(crate) fn free(&mut self, i: u32) {
        let p = &mut self.slots[i as usize];
        if p.payload.capacity() > KEEP_CAPACITY {
            p.payload = Vec::new();
        }
        self.free.push(i);
    }

    pub(crate) fn get(&self, i: u32) -> &Packet {
        &self.slots[i as usize]
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> &mut Packet {
        &mut self.slots[i as usize]
    }

    /// Every slot, live or free (for prefetching by slot).
    pub(crate) fn slots(&self) -> &[Packet] {
        &self.slots
    }
}
