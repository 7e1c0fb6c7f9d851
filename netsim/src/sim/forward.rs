//! Forwarding: a packet's way from a machine's transmit, over links, through realms' routes
//! and NAT boxes, to a machine's socket (or to a counted drop).

use std::hash::Hasher;
use std::net::SocketAddr;

use sansio_core::Transmit;

use super::{Action, DropCause, Hop, Sim};
use crate::addr::hash_addr;
use crate::ids::{AnyHost, HostIx, LinkId, NatId, RealmId, idx};
use crate::nat::{Inbound, Nat};

/// The TTL of a transmit that does not set one (Linux's default).
pub(crate) const DEFAULT_TTL: u8 = 64;

impl Sim {
    /// One forwarding element (a NAT box, or `routers` routers) passes packet `p` on: its TTL
    /// goes down by one each, and a packet that would leave one with TTL 0 dies there
    /// (dropped, counted, hashed into the trace). Returns whether it lives on.
    fn forward_ttl(&mut self, p: u32, routers: u8) -> bool {
        if routers == 0 {
            return true;
        }
        let packet = self.packets.get_mut(p);
        if packet.ttl <= routers {
            self.stats.dropped_ttl += 1;
            self.trace_drop(DropCause::Ttl, p);
            return false;
        }
        packet.ttl -= routers;
        true
    }

    /// Drops packet `p`, hashing why into the trace.
    pub(super) fn trace_drop(&mut self, why: DropCause, p: u32) {
        let (t, packet) = (&mut self.trace, self.packets.get(p));
        t.write_u64(self.now.as_micros());
        t.write_u8(why as u8);
        hash_addr(&packet.src, t);
        hash_addr(&packet.dst, t);
        t.write_usize(packet.payload.len());
        self.packets.free(p);
    }

    /// A packet reaches the far end of a link.
    pub(super) fn arrive(&mut self, hop: Hop, packet: u32) {
        match hop {
            Hop::Realm(realm) => self.route(realm, packet),
            Hop::Host(host) => self.deliver(host, packet),
            Hop::NatOutside(nat) => self.nat_inbound(nat, packet, false),
        }
    }

    /// A packet reaches a NAT box's external address (from outside, or hairpinned from inside):
    /// translated and routed inside if a mapping lets it in, dropped otherwise.
    /// Conntrack sees the packet first (it leaves an inbound state, or marks a mapping replied,
    /// even if the packet then dies); only a packet let in is forwarded, which costs a TTL. A
    /// hairpinned packet paid its TTL on the way in and is not charged again.
    pub(super) fn nat_inbound(&mut self, nat: NatId, packet: u32, hairpin: bool) {
        let n = idx(nat.0);
        let p = self.packets.get(packet);
        match self.nats[n].nat.inbound(&mut self.nat_rest[n], self.now, p.dst.port(), p.src) {
            Inbound::Deliver(internal) => {
                if !hairpin && !self.forward_ttl(packet, 1) {
                    return;
                }
                self.packets.get_mut(packet).dst = internal;
                self.route(self.nat_inside(nat), packet);
            }
            Inbound::Drop => self.trace_drop(DropCause::NatInbound, packet),
        }
    }

    /// Routes a packet inside `realm`: to a host or NAT box there, or out through the realm's
    /// own NAT box.
    pub(super) fn route(&mut self, realm: RealmId, packet: u32) {
        let (src, dst) = {
            let p = self.packets.get(packet);
            (p.src, p.dst)
        };
        match (self.routes(realm).get(&dst.ip()), Self::realm_nat(realm)) {
            (Some(downlink), _) => self.send_on(downlink, packet),
            (None, Some(nat)) => {
                // A NAT box is a router: a packet it would forward with TTL 0 dies before the
                // translation (Linux checks the TTL before POSTROUTING), so it makes no mapping.
                if !self.forward_ttl(packet, 1) {
                    return;
                }
                let i = idx(nat.0);
                let (n, rest) = (&mut self.nats[i], &mut self.nat_rest[i]);
                let Some(external) = n.nat.outbound(rest, self.now, src, dst, &mut self.rng) else {
                    return self.trace_drop(DropCause::NatPortsExhausted, packet);
                };
                self.packets.get_mut(packet).src = external;
                if dst.ip() != n.nat.external_ip {
                    let link = n.uplink;
                    return self.send_on(link, packet);
                }
                // Addressed to the NAT's own public address from inside: hairpinning.
                if !Nat::hairpin(rest) {
                    return self.trace_drop(DropCause::Hairpin, packet);
                }
                self.nat_inbound(nat, packet, true);
            }
            (None, None) => {
                self.stats.dropped_no_route += 1;
                self.trace_drop(DropCause::NoRoute, packet);
            }
        }
    }

    /// Records a packet arriving over `link` if that link captures.
    pub(super) fn record(&mut self, link: LinkId, packet: u32) {
        if self.capturing
            && let Some(c) = &mut self.link_rest[idx(link.0)].capture
        {
            c.record(self.now, self.packets.get(packet));
        }
    }

    pub(super) fn send_on(&mut self, link: LinkId, packet: u32) {
        let l = idx(link.0);
        let routers = self.links[l].routers(&self.link_rest[l].cold);
        if !self.forward_ttl(packet, routers) {
            return;
        }
        let len = self.packets.get(packet).payload.len();
        let (arrivals, n) = self.links[l].offer(&mut self.link_rest[l].cold, self.now, len, &mut self.rng);
        if n == 0 {
            return self.trace_drop(DropCause::Link, packet);
        }
        // A packet that arrives at once (an ideal link) goes on routing without a trip through
        // the queue. Only routing and NAT hops are taken this way, never a host's machine, so
        // the depth is bounded by the NAT nesting and machines never re-enter each other.
        let to = self.link_ends[l];
        if n == 1 && arrivals[0] == self.now && !matches!(to, Hop::Host(_)) {
            self.record(link, packet);
            return self.arrive(to, packet);
        }
        if n == 2 {
            let copy = self.packets.copy(packet);
            self.schedule(arrivals[1], Action::Arrive { link, packet: copy });
        }
        self.schedule(arrivals[0], Action::Arrive { link, packet });
    }

    /// Whether `host` has a socket bound to `addr`.
    pub(super) fn has_socket(&self, host: HostIx, addr: SocketAddr) -> bool {
        let h = &self.hosts[idx(host.0)];
        h.socket == addr || (h.more_sockets && self.host_rest[idx(host.0)].sockets.contains(&addr))
    }

    /// The socket a transmit leaves from: its source, if the host has that socket (`None`
    /// otherwise); without one, the first socket of the destination's family (or the first).
    pub(super) fn source_for(&self, host: HostIx, t: &Transmit) -> Option<SocketAddr> {
        let h = &self.hosts[idx(host.0)];
        let family = |s: &SocketAddr| s.is_ipv4() == t.destination.is_ipv4();
        match t.source {
            Some(s) => self.has_socket(host, s).then_some(s),
            None if family(&h.socket) || !h.more_sockets => Some(h.socket),
            None => Some(self.host_rest[idx(host.0)].sockets.iter().copied().find(family).unwrap_or(h.socket)),
        }
    }

    pub(super) fn deliver(&mut self, host: HostIx, packet: u32) {
        let p = self.packets.get(packet);
        if !self.has_socket(host, p.dst) {
            self.stats.dropped_no_socket += 1;
            return self.trace_drop(DropCause::NoSocket, packet);
        }
        self.stats.deliveries += 1;
        let t = &mut self.trace;
        t.write_u64(self.now.as_micros());
        t.write_u32(host.0);
        hash_addr(&p.src, t);
        hash_addr(&p.dst, t);
        t.write_usize(p.payload.len());
        t.write(&p.payload);
        self.hosts[idx(host.0)].machine.handle_datagram(self.now, p.dst, p.src, &p.payload);
        self.packets.free(packet);
        self.after_input(host);
    }

    /// Drains a host's machine after an input: transmits into its uplink, events into its
    /// log, and re-arms its timer.
    pub(super) fn after_input(&mut self, host: HostIx) {
        let now = self.now;
        while let Some(t) = self.hosts[idx(host.0)].machine.poll_transmit(now, &mut self.buf) {
            self.stats.transmits += 1;
            let Some(src) = self.source_for(host, &t) else {
                self.stats.dropped_bad_source += 1;
                continue;
            };
            let len = t.len.min(self.buf.len());
            let packet = self.packets.alloc(src, t.destination, t.ttl.unwrap_or(DEFAULT_TTL), &self.buf[..len]);
            self.send_on(self.hosts[idx(host.0)].uplink, packet);
        }
        let h = &mut self.hosts[idx(host.0)];
        self.stats.app_events += h.machine.drain_events(now, &mut self.trace, &mut self.host_rest[idx(host.0)].log);
        let deadline = h.machine.poll_timeout();
        if self.broken.is_none()
            && let Some(violation) = h.machine.violation()
        {
            self.broken = Some((AnyHost(host), violation));
        }
        if deadline != h.timer {
            h.timer = deadline;
            h.timer_generation += 1;
            let generation = h.timer_generation;
            if let Some(d) = deadline {
                self.schedule(d.max(now), Action::Timer { host, generation });
            }
        }
    }
}
