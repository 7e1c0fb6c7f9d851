//! [`Node`]: one overlay node on one socket (`docs/overlay.md` §3). So far: the discovery walk
//! with introductions and punctures, py-ipv8's semantics, a bounded peer table with liveness,
//! and the WAN address by vote.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use sansio_core::{Instant, Machine, Seed, SeededRng, Transmit, TransmitQueue};
use sync_core::{Identity, ZeroSeed};

use crate::identity::{Mid, PeerKey};
use crate::peers::{Peer, Peers};
use crate::wan::WanVotes;
use crate::wire::{
    self, Community, IntroductionRequest, IntroductionResponse, Message, Payload, Puncture, PunctureRequest, Signer,
    Style, request_flags, response_flags,
};

/// A node's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The community this node serves.
    pub community: Community,
    /// The address its socket is bound to (its LAN address).
    pub local: SocketAddr,
    /// Where to start: addresses of well-known peers.
    pub bootstrap: Vec<SocketAddr>,
    /// Time between walk steps (py-ipv8: 0.5 s).
    pub walk_interval: Duration,
    /// A peer silent this long is forgotten.
    pub peer_timeout: Duration,
    /// Peers kept at most.
    pub max_peers: usize,
    /// Punctures sent per second at most (each answers an unsigned request).
    pub punctures_per_sec: u32,
}

impl Config {
    /// Defaults for a node bound to `local`, serving `community`.
    pub fn new(community: Community, local: SocketAddr, bootstrap: Vec<SocketAddr>) -> Self {
        Self {
            community,
            local,
            bootstrap,
            walk_interval: Duration::from_millis(500),
            peer_timeout: Duration::from_secs(60),
            max_peers: 256,
            punctures_per_sec: 50,
        }
    }
}

/// What a node tells its application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer signed a message to this node for the first time (or again after being forgotten).
    PeerDiscovered {
        /// Its member id.
        mid: Mid,
        /// Where it was heard from.
        address: SocketAddr,
    },
    /// The node's public address, by vote of its peers, changed.
    WanChanged {
        /// The new address.
        address: SocketAddr,
    },
}

/// Drop counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeStats {
    /// Datagrams for other communities or protocols.
    pub not_ours: u64,
    /// Community messages that did not decode or verify.
    pub malformed: u64,
    /// Messages from this node's own key (a reflection, or a loop).
    pub from_self: u64,
    /// Puncture requests from addresses of no known peer, or over the budget.
    pub punctures_refused: u64,
    /// Datagrams the transmit queue refused.
    pub queue_full: u64,
}

/// One overlay node.
///
/// ```
/// use core::net::SocketAddr;
/// use overlay_core::{Config, Node, wire::Community};
/// use sansio_core::{Instant, Machine, Seed};
///
/// let local: SocketAddr = "192.0.2.10:6421".parse().unwrap();
/// let boot: SocketAddr = "203.0.113.1:6421".parse().unwrap();
/// let mut node = Node::new(Config::new(Community([7; 20]), local, vec![boot]), [1; 32], Seed::from_u64(1)).unwrap();
/// node.handle_timeout(Instant::ZERO); // the first walk step: an introduction request to the bootstrap peer
/// let mut buf = [0u8; sansio_core::MIN_TRANSMIT_BUFFER];
/// assert_eq!(node.poll_transmit(Instant::ZERO, &mut buf).unwrap().destination, boot);
/// ```
pub struct Node {
    config: Config,
    identity: Identity,
    key: PeerKey,
    mid: Mid,
    global_time: u64,
    rng: SeededRng,
    peers: Peers,
    wan: WanVotes,
    next_walk: Instant,
    punctures: (Instant, u32),
    out: TransmitQueue,
    events: VecDeque<Event>,
    stats: NodeStats,
}

const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Node {
    /// A node with the identity of secret seed `identity_seed`; `seed` drives its choices.
    pub fn new(config: Config, identity_seed: [u8; 32], seed: Seed) -> Result<Self, ZeroSeed> {
        let identity = Identity::from_seed(identity_seed)?;
        let Some(key) = PeerKey::from_ed25519(&identity.public()) else {
            unreachable!("an Ed25519 key made from a seed is a valid point")
        };
        Ok(Self {
            peers: Peers::new(config.max_peers, 64),
            config,
            mid: key.mid(),
            key,
            identity,
            global_time: 0,
            rng: SeededRng::from_seed(seed),
            wan: WanVotes::new(32),
            next_walk: Instant::ZERO,
            punctures: (Instant::ZERO, 0),
            out: TransmitQueue::new(1024, 1 << 20),
            events: VecDeque::new(),
            stats: NodeStats::default(),
        })
    }

    /// This node's member id.
    pub fn mid(&self) -> Mid {
        self.mid
    }
    /// Its key.
    pub fn key(&self) -> &PeerKey {
        &self.key
    }
    /// Its public address as its peers report it.
    pub fn wan(&self) -> Option<SocketAddr> {
        self.wan.current()
    }
    /// Peers it knows.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }
    /// A known peer.
    pub fn peer(&self, mid: &Mid) -> Option<&Peer> {
        self.peers.get(mid)
    }
    /// Drop counters.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }

    fn tick(&mut self) -> u64 {
        self.global_time += 1;
        self.global_time
    }

    fn send(&mut self, to: SocketAddr, payload: Payload, global_time: u64) {
        let msg = Message { community: self.config.community, style: Style::New, global_time, sender: None, payload };
        let signer = Signer { identity: &self.identity, key: &self.key };
        // Encoding fails only for an IPv6 address in an old-style message; a node writes the
        // new style only.
        let Ok(bytes) = wire::encode(&msg, Some(signer)) else { return };
        if self.out.push(Some(self.config.local), to, &bytes).is_err() {
            self.stats.queue_full += 1;
        }
    }

    fn my_wan(&self) -> SocketAddr {
        self.wan.current().unwrap_or(self.config.local)
    }

    /// Where to reach a peer with these addresses: its LAN address when it shares this node's
    /// public IP (both behind one NAT), its WAN address otherwise.
    fn reach(&self, lan: SocketAddr, wan: SocketAddr) -> SocketAddr {
        match self.wan.current() {
            Some(mine) if mine.ip() == wan.ip() && lan != UNSPECIFIED => lan,
            _ => wan,
        }
    }

    /// One walk step: an introduction request to an introduced candidate (half the time, when
    /// there is one), a known peer, or a bootstrap address.
    fn walk(&mut self) {
        let target = if let Some((lan, wan)) = self.peers.next_candidate() {
            Some(self.reach(lan, wan))
        } else if self.peers.len() > 0 && (self.config.bootstrap.is_empty() || self.rng.chance(0.8)) {
            let n = self.rng.below(self.peers.len() as u64) as usize;
            self.peers.nth(n).map(|p| p.address)
        } else if !self.config.bootstrap.is_empty() {
            let n = self.rng.below(self.config.bootstrap.len() as u64) as usize;
            Some(self.config.bootstrap[n])
        } else {
            None
        };
        let Some(to) = target else { return };
        let t = self.tick();
        let identifier = (t % 65_536) as u16;
        let payload = Payload::IntroductionRequest(IntroductionRequest {
            destination: to,
            source_lan: self.config.local,
            source_wan: self.my_wan(),
            flags: request_flags::ADVICE,
            identifier,
            extra: Vec::new(),
        });
        self.send(to, payload, u64::from(identifier));
    }

    fn heard(&mut self, now: Instant, key: PeerKey, from: SocketAddr, lan: SocketAddr, wan: SocketAddr) {
        if self.peers.heard(key, from, lan, wan, now) {
            self.events.push_back(Event::PeerDiscovered { mid: key.mid(), address: from });
        }
    }

    fn voted(&mut self, now: Instant, voter: Mid, seen_as: SocketAddr) {
        if let Some(address) = self.wan.vote(voter, seen_as, now) {
            self.events.push_back(Event::WanChanged { address });
        }
    }

    fn on_request(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: IntroductionRequest) {
        let mid = key.mid();
        self.voted(now, mid, r.destination);
        self.heard(now, key, from, r.source_lan, r.source_wan);
        // Introduce a random other peer, and ask it to puncture towards the requester.
        let others: Vec<(SocketAddr, SocketAddr, SocketAddr)> =
            self.peers.iter().filter(|p| p.key.mid() != mid).map(|p| (p.lan, p.wan, p.address)).collect();
        let pick = (!others.is_empty()).then(|| others[self.rng.below(others.len() as u64) as usize]);
        let (lan_intro, wan_intro) = pick.map_or((UNSPECIFIED, UNSPECIFIED), |(lan, _, address)| (lan, address));
        let response = Payload::IntroductionResponse(IntroductionResponse {
            destination: from,
            source_lan: self.config.local,
            source_wan: self.my_wan(),
            lan_introduction: lan_intro,
            wan_introduction: wan_intro,
            flags: if pick.is_some() { response_flags::NEW_INTRO_SUPPORTS_NEW_STYLE } else { 0 },
            identifier: r.identifier,
            extra: Vec::new(),
        });
        self.send(from, response, u64::from(r.identifier));
        if let Some((_, _, address)) = pick {
            let t = self.tick();
            let msg = Message {
                community: self.config.community,
                style: Style::New,
                global_time: t,
                sender: None,
                payload: Payload::PunctureRequest(PunctureRequest {
                    lan_walker: r.source_lan,
                    wan_walker: from,
                    identifier: r.identifier,
                }),
            };
            if let Ok(bytes) = wire::encode(&msg, None)
                && self.out.push(Some(self.config.local), address, &bytes).is_err()
            {
                self.stats.queue_full += 1;
            }
        }
    }

    fn on_response(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: IntroductionResponse) {
        self.voted(now, key.mid(), r.destination);
        self.heard(now, key, from, r.source_lan, r.source_wan);
        if r.wan_introduction != UNSPECIFIED && r.wan_introduction != self.my_wan() {
            self.peers.introduced(r.lan_introduction, r.wan_introduction);
        }
    }

    /// An unsigned request from an introducer to puncture towards a walker. Answered only for
    /// a known peer's address and within a budget: the puncture goes to a third party and is
    /// bigger than the request, so an unknown source could otherwise aim it at anyone.
    fn on_puncture_request(&mut self, now: Instant, from: SocketAddr, p: PunctureRequest) {
        if self.peers.by_address(from).is_none() {
            self.stats.punctures_refused += 1;
            return;
        }
        if now.saturating_duration_since(self.punctures.0) >= Duration::from_secs(1) {
            self.punctures = (now, 0);
        }
        if self.punctures.1 >= self.config.punctures_per_sec {
            self.stats.punctures_refused += 1;
            return;
        }
        self.punctures.1 += 1;
        let to = self.reach(p.lan_walker, p.wan_walker);
        let t = self.tick();
        let payload = Payload::Puncture(Puncture {
            source_lan: self.config.local,
            source_wan: self.my_wan(),
            identifier: p.identifier,
        });
        self.send(to, payload, t);
    }
}

impl Machine for Node {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, _local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        if datagram.len() < wire::PREFIX_LEN + 1
            || datagram[..2] != [0, wire::VERSION]
            || datagram[2..22] != self.config.community.0
        {
            self.stats.not_ours += 1;
            return;
        }
        let Ok(msg) = wire::decode(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        if msg.sender.is_some_and(|k| k.mid() == self.mid) {
            self.stats.from_self += 1;
            return;
        }
        match (msg.payload, msg.sender) {
            (Payload::IntroductionRequest(r), Some(key)) => self.on_request(now, remote, key, r),
            (Payload::IntroductionResponse(r), Some(key)) => self.on_response(now, remote, key, r),
            (Payload::PunctureRequest(p), _) => self.on_puncture_request(now, remote, p),
            (Payload::Puncture(p), Some(key)) => self.heard(now, key, remote, p.source_lan, p.source_wan),
            _ => self.stats.malformed += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_walk {
            let cutoff = now.saturating_sub(self.config.peer_timeout);
            self.peers.expire(cutoff);
            self.walk();
            self.next_walk = now + self.config.walk_interval;
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.out.pop(buf)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        Some(self.next_walk)
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        Some("walk step")
    }
}
