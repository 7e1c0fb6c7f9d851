//! [`Node`]: one overlay node on one socket (`docs/overlay.md` §3–§4): the discovery walk
//! with introductions and punctures (py-ipv8's semantics), a bounded peer table with
//! liveness, the WAN address by vote, a STUN server, and messages to peers by key over
//! identified P2TP streams, all demultiplexed on the one socket.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use p2tp_core::{Endpoint, Protocol};
use sansio_core::{Instant, Machine, Seed, SeededRng, Transmit, TransmitQueue};
use stun_core::{Server, ServerConfig};
use sync_core::{
    ContentId, Identity, Kind, MemStore, Policy, PublicKey, Store, SyncNode, TrustGraph, Verifier, ZeroSeed,
};

use alloc::collections::BTreeMap;

use crate::identity::{Mid, PeerKey};
use crate::peers::{Heard, Peer, Peers};
use crate::session::Session;
use crate::wan::{Voter, WanVotes};

mod introduce;
mod nat;
mod per_second;
mod quiet;
mod records;
mod relay;
mod streams;
mod traffic;

use crate::wire::{
    self, Community, IntroductionRequest, IntroductionResponse, Message, NextPort, Payload, PunctureRequest, Signer,
    Style, request_flags, response_flags,
};
pub use nat::{MAX_KEEPALIVE, MIN_KEEPALIVE, NatProbe};
pub use records::{PathHop, RecordError, SYNC_MESSAGE};

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
    /// A node that knows at least this many peers, and whose latest introduction response
    /// saw it where its address vote says it is (or whose NAT looks symmetric, where no two
    /// responses agree), is settled: it walks every `settled_walk_interval` instead (never
    /// faster than `walk_interval`). From the next step on it walks fast again once either
    /// fails (peers expired, or a response sees it elsewhere: it moved). 0 (the default)
    /// never slows down: newcomers find fewer peers walking to them, and the slowest takes
    /// longer to know 20 (30 peers at 2 s: a quarter to two fifths less traffic, the last
    /// newcomer 12–16 s later; `docs/overlay.md` §10 has the figures). For a node that pays
    /// for every packet.
    pub settled_peers: usize,
    /// See [`settled_peers`](Self::settled_peers).
    pub settled_walk_interval: Duration,
    /// A peer silent this long is forgotten.
    pub peer_timeout: Duration,
    /// Peers kept at most.
    pub max_peers: usize,
    /// Punctures sent per second at most, per introducer (each answers an unsigned request).
    pub punctures_per_sec: u32,
    /// Streams others opened to this node whose peer has not proved its key yet, at most;
    /// past it the ones ranked lowest by trust close (`docs/overlay.md` §4).
    pub max_unverified: usize,
    /// Bytes a second this node forwards for others as a relay, all senders together (each
    /// sender also has 32 KiB/s of its own). Senders the node has no trust in share half of
    /// it; the rest is kept for senders it trusts (MeritRank above 0), so a crowd of
    /// strangers cannot take a trusted pair's relay away.
    pub relay_bytes_per_sec: u64,
    /// Answer STUN Binding requests on the socket (the seeds: "every peer runs the STUN
    /// protocol"); answers never exceed 3x the request.
    pub serve_stun: bool,
    /// The P2TP endpoint's settings (its `local` is set to [`local`](Self::local)).
    pub transport: p2tp_core::Config,
    /// The metadata of the node's own Peer record (a nickname; at most 512 bytes).
    pub name: Vec<u8>,
    /// Time between reconciliation rounds the node starts (each with a random peer).
    pub sync_interval: Duration,
    /// Least trust a signer needs for its records to be stored (those of peers this node
    /// relates to directly, and its own, always are). The default, the smallest positive
    /// value, stores what some trusted relation path vouches for; 0 stores every valid
    /// record.
    pub trust_threshold: f64,
    /// Unix time (ms) at `Instant::ZERO`: records carry wall-clock timestamps. The driver
    /// sets it; a simulation may leave it 0.
    pub unix_ms_at_origin: u64,
    /// The IP time-to-live of the first packet towards a peer whose NAT may not be open
    /// towards this node: enough to leave this node's own NATs and make their mappings,
    /// too little to reach the peer's NAT and leave state there that would move the peer's
    /// own mapping (Linux conntrack does; see the punch matrix in `docs/architecture.md`).
    pub opener_ttl: u8,
    /// How long a node asked to puncture towards a walker waits before it does: the
    /// introducer told the walker at the same moment, and the walker's opener must leave the
    /// walker's NATs before the puncture reaches them (at a Linux router, a puncture that
    /// comes first moves the walker's mapping; `docs/overlay.md` §7.1). It covers paths that
    /// break the triangle inequality and a slow walker. Default 50 ms; 0 answers at once.
    pub puncture_delay: Duration,
    /// Leave an address alone after punches there failed, so a Linux router that an early
    /// packet poisoned forgets (`docs/overlay.md` §7.1). On by default.
    pub punch_silence: bool,
    /// Classify the NAT and measure its binding lifetime with STUN, from two sockets of
    /// their own, at start and whenever the public address changes; streams are then kept
    /// alive at 80 % of the measured lifetime (`docs/overlay.md` §9). `None`: no check, and
    /// the transport's own keep-alive interval.
    pub nat_probe: Option<NatProbe>,
    /// Bytes of P2TP traffic exchanged with a peer (the smaller of sent and received) per
    /// unit of strength of the Traffic-exchange relation the node signs to it, checked once
    /// a minute (`docs/overlay.md` §5.1). `None`: no automatic relation.
    pub traffic_unit: Option<u64>,
    /// Checks the signatures of arriving messages and records. The default checks each with
    /// the curve; a simulator gives all its nodes one with a shared
    /// [`SignatureMemo`](crate::SignatureMemo), so a signature made or checked by one node is
    /// not checked again by the next (`docs/overlay.md` §7).
    pub verifier: Verifier,
}

/// How long an introduced candidate's puncture may take; after that the walk goes to it
/// only over the LAN or when this node's NAT looks symmetric (`docs/overlay.md` §3).
const CANDIDATE_SETTLE: Duration = Duration::from_secs(1);

/// Requests this node has sent and not yet seen answered, at most.
const OUTSTANDING: usize = 64;
/// How long a request waits for its response.
const REQUEST_LIFETIME: Duration = Duration::from_secs(10);

impl Config {
    /// Defaults for a node bound to `local`, serving `community`.
    pub fn new(community: Community, local: SocketAddr, bootstrap: Vec<SocketAddr>) -> Self {
        Self {
            community,
            local,
            bootstrap,
            walk_interval: Duration::from_millis(500),
            settled_peers: 0,
            settled_walk_interval: Duration::from_secs(2),
            peer_timeout: Duration::from_secs(60),
            max_peers: 256,
            punctures_per_sec: 50,
            max_unverified: 64,
            relay_bytes_per_sec: 1 << 20,
            serve_stun: true,
            transport: p2tp_core::Config::new(local),
            name: Vec::new(),
            sync_interval: Duration::from_secs(5),
            trust_threshold: f64::MIN_POSITIVE,
            unix_ms_at_origin: 0,
            opener_ttl: 3,
            puncture_delay: Duration::from_millis(50),
            punch_silence: true,
            nat_probe: None,
            traffic_unit: Some(1 << 20),
            verifier: Verifier::default(),
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
    /// A P2TP stream's peer proved its key: messages to and from it flow.
    Connected {
        /// The peer.
        mid: Mid,
        /// The address the stream runs to.
        address: SocketAddr,
        /// Whether that address is a LAN or a public one.
        path: PathKind,
    },
    /// A message from a peer, authenticated as its.
    Message {
        /// The peer.
        mid: Mid,
        /// The application's bytes.
        data: Vec<u8>,
        /// How it came: over the peer's stream (`Lan` or `Direct`), or through a relay.
        path: PathKind,
    },
    /// The stream to a connected peer closed (idle, closed by either side, or replaced by a
    /// stream to its new address).
    Disconnected {
        /// The peer.
        mid: Mid,
        /// The address the stream ran to.
        address: SocketAddr,
    },
    /// The stream to a connected peer runs over a new path: the peer's address changed, or
    /// this node's did (its stream was opened again from the new one). Messages flow again.
    PathChanged {
        /// The peer.
        mid: Mid,
        /// The peer's address now.
        address: SocketAddr,
    },
    /// A record entered the store: one of this node's own, or one a peer synced.
    RecordStored {
        /// Its content id.
        id: ContentId,
        /// Peer, Binding or Relation.
        kind: Kind,
        /// Its signer.
        signer: PublicKey,
        /// The peer address it came from (`None`: signed here).
        from: Option<SocketAddr>,
    },
    /// A stored record was dropped: its signer's trust fell below half the threshold since
    /// it was admitted (`docs/overlay.md` §5). A Relation's edge left the trust graph with it.
    RecordEvicted {
        /// Its content id.
        id: ContentId,
        /// Peer, Binding or Relation.
        kind: Kind,
        /// Its signer.
        signer: PublicKey,
    },
    /// The NAT check finished: the NAT's type, the public address STUN saw, and the binding
    /// lifetime, with the keep-alive interval the node's streams now use.
    NatClassified {
        /// What the check found.
        report: stun_core::NatReport,
        /// The keep-alive interval now in force.
        keepalive: Duration,
    },
    /// Messages queued by [`Node::send`] for a peer that never connected (directly or by
    /// relay) were dropped.
    SendFailed {
        /// The peer the application asked for.
        mid: Mid,
        /// Why.
        reason: SendFailure,
        /// How many messages were dropped.
        dropped: usize,
    },
}

/// How a stream reaches its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathKind {
    /// A private (RFC 1918, ULA, loopback or link-local) address: the same LAN or host.
    Lan,
    /// A public address, directly (through a hole punched in any NAT on the way).
    Direct,
    /// Through a relay (the address is the relay's): no direct path could be punched yet.
    Relayed,
}

/// Why queued messages were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendFailure {
    /// No P2TP stream could be opened to the peer's address.
    NoRoute,
    /// The stream opened but no valid hello came back.
    NoHello,
    /// Another key answered at the peer's last known address.
    WrongPeer,
    /// The stream closed before the peer proved its key.
    Closed,
}

/// How [`Node::send`] sent a message it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Sealed onto the peer's verified stream: it left now.
    Stream,
    /// Through a relay: it left now (a direct stream is tried meanwhile).
    Relay,
    /// Held while a stream to the peer opens; [`Event::SendFailed`] says if none can be.
    Held,
}

/// Why [`Node::send`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The node has not heard from that peer (or has forgotten it): no address to try.
    #[error("unknown peer")]
    UnknownPeer,
    /// The message is larger than one P2TP datagram can carry.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// Back-pressure: the stream's queue (or the messages waiting for the peer's hello) is
    /// full; send again later.
    #[error("send queue full")]
    QueueFull,
    /// No stream can be opened (the stream limit, or another address family).
    #[error("no route to that peer: {0}")]
    NoRoute(p2tp_core::ConnectError),
    /// The stream to the peer is closing.
    #[error("the stream to that peer is closing")]
    Closing,
    /// No direct path yet, and no relay to try (no bootstrap peer, no introducer).
    #[error("no relay to reach that peer through")]
    NoRelay,
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
    /// Puncture requests from addresses this node did not walk to lately, or over the budget.
    pub punctures_refused: u64,
    /// Responses matching no request of this node (replayed, spoofed or late): introduction
    /// responses, and [`Introduced`](crate::wire::Introduced) answers that are not the first
    /// from an introducer asked, for that target and identifier, within 10 s.
    pub stray_responses: u64,
    /// Requests not newer than the peer's latest (replays).
    pub stale_requests: u64,
    /// New peers not recorded because the table was full.
    pub peers_full: u64,
    /// Punctures received (they open NATs; they add no peer, as in py-ipv8).
    pub punctures_received: u64,
    /// Datagrams the transmit queue refused.
    pub queue_full: u64,
    /// STUN datagrams not handled (requests while not serving STUN, answers to no request).
    pub stun_ignored: u64,
    /// Hellos that did not decode or verify, or named another key than the stream's.
    pub bad_hellos: u64,
    /// P2TP datagrams that were neither a hello nor a message, or came from the node's own key.
    pub bad_stream_data: u64,
    /// Messages dropped because too many arrived before their sender's hello.
    pub held_dropped: u64,
    /// Data frames whose MAC failed (forged, corrupted, or for another stream).
    pub bad_macs: u64,
    /// Data frames whose counter was seen before (replays).
    pub replayed_frames: u64,
    /// Introductions asked of this node (IntroduceMe) and made: a puncture request sent to
    /// the target.
    pub introductions_made: u64,
    /// Introductions refused: from an unknown key, over the budget, or for an unknown target.
    pub introductions_refused: u64,
    /// Opening streams moved to the address a peer's puncture came from.
    pub redirects: u64,
    /// Punctures sent into a peer's window of ports when both NATs give out ports in
    /// sequence (`docs/overlay.md` §7.2).
    pub window_meetings: u64,
    /// Streams whose peer started over with a new hello (its session was reset).
    pub restarts: u64,
    /// Streams closed by admission: unverified beyond `max_unverified`, or untrusted when
    /// the stream table was nearly full.
    pub admission_closed: u64,
    /// Messages this node sent, received and forwarded by relay.
    pub relayed_sent: u64,
    /// See `relayed_sent`.
    pub relayed_received: u64,
    /// See `relayed_sent`.
    pub relayed_forwarded: u64,
    /// Relay messages not forwarded: an unknown sender or target, from another address than
    /// the sender's, back where it came from, or over the sender's budget.
    pub relays_refused: u64,
    /// Relay messages not forwarded because the node-wide relay budget was spent (the half
    /// untrusted senders share, or all of it).
    pub relays_over_budget: u64,
    /// Relayed messages for this node refused: from a new sender while the table of senders
    /// is full.
    pub relay_senders_full: u64,
    /// Addresses whose handshakes or asked-for punctures went unanswered for 20 s: left
    /// alone for 35 s and not punched for 50 s, so their routers forget
    /// (`docs/overlay.md` §7.1).
    pub punches_failed: u64,
    /// Punctures, handshakes and walk steps not sent to an address being left alone.
    pub punches_held_back: u64,
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
pub struct Node<S: Store = MemStore> {
    config: Config,
    identity: Identity,
    key: PeerKey,
    mid: Mid,
    global_time: u64,
    rng: SeededRng,
    peers: Peers,
    wan: WanVotes,
    next_walk: Instant,
    /// Requests sent: (identifier, to, when).
    outstanding: VecDeque<(u16, SocketAddr, Instant)>,
    /// Introducers this node walked to and heard back from, when, and the punctures sent for
    /// each in the current second.
    introducers: BTreeMap<SocketAddr, (Instant, per_second::PerSecond)>,
    /// P2TP on the same socket, and the overlay's view of each stream.
    endpoint: Endpoint,
    sessions: BTreeMap<SocketAddr, Session>,
    /// Datagrams all sessions hold for verification.
    held: usize,
    /// Verified peers' stream addresses.
    connected: BTreeMap<Mid, SocketAddr>,
    stun: Option<Server>,
    nat: nat::NatState,
    traffic: traffic::Traffic,
    /// Punctures due: (when, to, identifier, asked for by key, ports from `to`'s up to open
    /// towards).
    punctures: VecDeque<(Instant, SocketAddr, u16, Option<Mid>, u8)>,
    /// The flows this node opened and the ports its NAT gave them (`ports.rs`).
    ports: crate::ports::Ports,
    /// Addresses punched at and not heard from since, and those left alone.
    quiet: quiet::Quiet,
    /// Introductions this node asked for.
    pending_intros: VecDeque<introduce::PendingIntro>,
    /// Walkers asked in turn for their puncture (§7.2) this second.
    asked_in_turn: per_second::PerSecond,
    /// Who asked this node for introductions, and how many this second.
    asked: BTreeMap<SocketAddr, per_second::PerSecond>,
    /// The introducer that introduced each peer (it knows the peer).
    via: BTreeMap<Mid, SocketAddr>,
    /// Introductions received: the introduced WAN address and who introduced it.
    introduced_by: VecDeque<(SocketAddr, SocketAddr)>,
    /// Peers whose streams are being opened again after this node's address changed.
    resuming: alloc::collections::BTreeSet<Mid>,
    /// Relays used and offered.
    relays: relay::Relays,
    /// The proven address (a verified stream's) of each peer this node relates to directly:
    /// its handshakes are answered even when strangers have spent the stateless budget.
    preferred: BTreeMap<Mid, SocketAddr>,
    /// Counts streams as they open, to close the oldest unverified ones first.
    opened_seq: u64,
    /// Peers that sent sync messages, and peers a round was started with.
    sync_capable: alloc::collections::BTreeSet<Mid>,
    sync_probed: alloc::collections::BTreeSet<Mid>,
    /// The keys of every signer whose records the store holds, by member id.
    keys: BTreeMap<Mid, PublicKey>,
    /// The keys in `keys`.
    named: alloc::collections::BTreeSet<PublicKey>,
    /// Records and trust: sync-core on the same socket, gated by the node's trust graph.
    sync: SyncNode<S, TrustGraph>,
    next_round: Instant,
    /// The trust graph's version when the store was last swept of records whose signer lost
    /// its trust (`None`: never).
    regated: Option<u64>,
    /// Whether the node's Peer record is signed.
    announced: bool,
    last_signed_ms: u64,
    scratch: Vec<u8>,
    out: TransmitQueue,
    events: VecDeque<Event>,
    stats: NodeStats,
}

const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Node {
    /// A node with the identity of secret seed `identity_seed`, its records in memory;
    /// `seed` drives its choices.
    pub fn new(config: Config, identity_seed: [u8; 32], seed: Seed) -> Result<Self, ZeroSeed> {
        Self::with_store(config, identity_seed, seed, MemStore::new())
    }
}

impl<S: Store> Node<S> {
    /// A node whose records live in `store` (SQLite in `drivers`, say).
    pub fn with_store(mut config: Config, identity_seed: [u8; 32], seed: Seed, store: S) -> Result<Self, ZeroSeed> {
        // A zero interval would make the next walk (or round) due at the very instant of the
        // last one.
        config.walk_interval = config.walk_interval.max(Duration::from_millis(1));
        config.sync_interval = config.sync_interval.max(Duration::from_millis(1));
        let identity = Identity::from_seed(identity_seed)?.with_verifier(config.verifier.clone());
        let Some(key) = PeerKey::from_ed25519(&identity.public()) else {
            unreachable!("an Ed25519 key made from a seed is a valid point")
        };
        let mut rng = SeededRng::from_seed(seed);
        config.transport.local = config.local;
        let endpoint = Endpoint::new(config.transport.clone(), rng.child_seed());
        let stun = config.serve_stun.then(|| {
            let Ok(server) = Server::new(ServerConfig::new(config.local, None), rng.child_seed()) else {
                unreachable!("a server without an alternate address has a valid configuration")
            };
            server
        });
        let policy = Policy { own: identity.public(), threshold: config.trust_threshold, max_future_ms: 60_000 };
        let trust = TrustGraph::new(
            identity.public(),
            trust_core::TypeWeights::default(),
            trust_core::WalkConfig::default(),
            rng.child_seed(),
        );
        let mut sync_config = sync_core::Config::new(policy, config.unix_ms_at_origin);
        sync_config.verifier = config.verifier.clone();
        let sync = SyncNode::new(sync_config, rng.child_seed(), store, trust);
        let config_has_probe = config.nat_probe.is_some();
        let max_peers = config.max_peers;
        let mut node = Self {
            peers: Peers::new(config.max_peers, 64),
            config,
            mid: key.mid(),
            key,
            identity,
            global_time: 0,
            rng,
            wan: WanVotes::new(32),
            next_walk: Instant::ZERO,
            outstanding: VecDeque::new(),
            introducers: BTreeMap::new(),
            endpoint,
            sessions: BTreeMap::new(),
            held: 0,
            connected: BTreeMap::new(),
            stun,
            nat: nat::NatState::new(config_has_probe),
            traffic: traffic::Traffic::default(),
            punctures: VecDeque::new(),
            ports: crate::ports::Ports::new(max_peers),
            quiet: quiet::Quiet::default(),
            pending_intros: VecDeque::new(),
            asked_in_turn: per_second::PerSecond::default(),
            asked: BTreeMap::new(),
            resuming: alloc::collections::BTreeSet::new(),
            via: BTreeMap::new(),
            introduced_by: VecDeque::new(),
            keys: BTreeMap::new(),
            named: alloc::collections::BTreeSet::new(),
            relays: relay::Relays::default(),
            preferred: BTreeMap::new(),
            opened_seq: 0,
            sync_capable: alloc::collections::BTreeSet::new(),
            sync_probed: alloc::collections::BTreeSet::new(),
            sync,
            next_round: Instant::ZERO,
            regated: None,
            announced: false,
            last_signed_ms: 0,
            scratch: alloc::vec![0; sansio_core::MIN_TRANSMIT_BUFFER],
            out: TransmitQueue::new(1024, 1 << 20),
            events: VecDeque::new(),
            stats: NodeStats::default(),
        };
        node.load_from_store();
        // Relay counters rise across restarts with the clock.
        node.relays.base = node.config.unix_ms_at_origin.saturating_mul(1 << 20);
        Ok(node)
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
    /// The P2TP endpoint's counters.
    pub fn transport_stats(&self) -> p2tp_core::EndpointStats {
        self.endpoint.stats()
    }
    /// The STUN server's counters, if the node serves STUN.
    pub fn stun_stats(&self) -> Option<stun_core::ServerStats> {
        self.stun.as_ref().map(Server::stats)
    }
    fn on_overlay(&mut self, now: Instant, remote: SocketAddr, datagram: &[u8]) {
        let Ok(msg) = wire::decode_with(datagram, &self.config.verifier) else {
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
            (Payload::PunctureRequest(p), _) => self.on_puncture_request(now, remote, p, None, 1),
            (Payload::AskedPunctureRequest(p), _) => {
                self.on_puncture_request(now, remote, p.request, Some(p.walker), p.ports);
            }
            (Payload::Puncture(p), Some(key)) => self.on_puncture(now, remote, key, &p),
            (Payload::IntroduceMe(p), Some(key)) => self.on_introduce_me(now, remote, key, p),
            (Payload::Introduced(p), _) => self.on_introduced(now, remote, &p),
            (Payload::Relay(r), Some(key)) => self.on_relay(now, remote, key, r, datagram),
            _ => self.stats.malformed += 1,
        }
    }

    fn tick(&mut self) -> u64 {
        self.global_time += 1;
        self.global_time
    }

    fn send_signed(&mut self, to: SocketAddr, payload: Payload, global_time: u64) {
        self.send_signed_ttl(to, payload, global_time, None);
    }

    pub(super) fn send_signed_ttl(&mut self, to: SocketAddr, payload: Payload, global_time: u64, ttl: Option<u8>) {
        let msg = Message { community: self.config.community, style: Style::New, global_time, sender: None, payload };
        let signer = Signer { identity: &self.identity, key: &self.key };
        // Encoding fails only for an IPv6 address in an old-style message; a node writes the
        // new style only.
        let Ok(bytes) = wire::encode(&msg, Some(signer)) else { return };
        if self.out.push_ttl(Some(self.config.local), to, ttl, &bytes).is_err() {
            self.stats.queue_full += 1;
        }
    }

    fn my_wan(&self) -> SocketAddr {
        self.wan.current().unwrap_or(self.config.local)
    }

    /// Where to reach a peer with these addresses: its LAN address when it shares this node's
    /// public IP (both behind one NAT) and the LAN address is a private one, its WAN address
    /// otherwise.
    fn reach(&self, lan: SocketAddr, wan: SocketAddr) -> SocketAddr {
        match self.wan.current() {
            Some(mine) if mine.ip() == wan.ip() && is_private(lan.ip()) => lan,
            _ => wan,
        }
    }

    /// The time to the next walk step: `walk_interval`, or `settled_walk_interval` once the
    /// node is settled (`Config::settled_peers`).
    fn walk_interval(&self) -> Duration {
        let settled = self.config.settled_peers > 0
            && self.peers.len() >= self.config.settled_peers
            && (self.wan.agrees() || self.wan.looks_symmetric());
        if settled {
            self.config.settled_walk_interval.max(self.config.walk_interval)
        } else {
            self.config.walk_interval
        }
    }

    /// One walk step: an introduction request to an introduced candidate (half the time, when
    /// there is one), a known peer, or a bootstrap address.
    fn walk(&mut self, now: Instant) {
        // A candidate whose puncture came was walked to at once (`on_puncture`). One whose
        // puncture has not come within CANDIDATE_SETTLE is walked to only over the LAN, or
        // by a node whose NAT looks symmetric (punctures cannot find it): a request reaching
        // the candidate's NAT before its own packet left would, at a Linux router, move the
        // candidate's mapping towards this node elsewhere (docs/overlay.md §3).
        let by = now.saturating_sub(CANDIDATE_SETTLE);
        let candidate = if self.peers.has_candidates(by) && self.rng.chance(0.5) {
            // One whose NAT gives out ports in sequence does not either: it told the introducer
            // its next port, so the candidate's puncture finds it, and a blind request would
            // reach a Linux candidate's router from the port its stream there would take,
            // spoiling the predicted punch (§7.2).
            let symmetric = self.wan.looks_symmetric() && !self.predicts_ports(now);
            self.peers.next_candidate(by).filter(|&(lan, wan)| symmetric || self.reach(lan, wan) == lan)
        } else {
            None
        };
        let target = if let Some((lan, wan)) = candidate {
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
        // Nothing full-TTL goes to an address being left alone (a peer still in the table
        // may sit there), and a step to a candidate is a punch.
        if self.quiet.holds(now, &to) || (candidate.is_some() && !self.may_punch(now, to, quiet::Punch::Puncture)) {
            return;
        }
        self.request_introduction(now, to);
    }

    /// A walk step to `to`: a signed introduction request.
    fn request_introduction(&mut self, now: Instant, to: SocketAddr) {
        let t = self.tick();
        let identifier = (t % 65_536) as u16;
        // Behind a NAT that gives out ports in sequence, the port of the next flow (the
        // opener towards whoever is introduced): the introducer names it in its puncture
        // request (§7.2).
        // The request itself may open a flow first (to an introducer not heard from in a
        // while): the opener towards the candidate comes after it.
        let next = if self.wan.looks_symmetric() { self.predict_port(now, None, &[to]) } else { None };
        let extra = next.map(|port| NextPort(port).to_extra().to_vec()).unwrap_or_default();
        let payload = Payload::IntroductionRequest(IntroductionRequest {
            destination: to,
            source_lan: self.config.local,
            source_wan: self.my_wan(),
            flags: request_flags::ADVICE,
            identifier,
            extra,
        });
        self.send_signed(to, payload, u64::from(identifier));
        if self.outstanding.len() >= OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back((identifier, to, now));
    }

    /// Records a peer's signed message; returns false for a replay.
    fn heard(
        &mut self,
        now: Instant,
        key: PeerKey,
        from: SocketAddr,
        lan: SocketAddr,
        wan: SocketAddr,
        request: Option<u16>,
    ) -> bool {
        match self.peers.heard(key, from, lan, wan, now, request) {
            Heard::New => {
                // Introduced by someone? Then that introducer knows it.
                if let Some(&(_, by)) = self.introduced_by.iter().find(|(w, _)| *w == from || *w == wan) {
                    if self.via.len() >= self.config.max_peers {
                        self.via.pop_first();
                    }
                    self.via.insert(key.mid(), by);
                }
                self.events.push_back(Event::PeerDiscovered { mid: key.mid(), address: from });
            }
            Heard::Known => {}
            Heard::Stale => {
                self.stats.stale_requests += 1;
                return false;
            }
            Heard::Full => self.stats.peers_full += 1,
        }
        true
    }

    fn on_request(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: IntroductionRequest) {
        let mid = key.mid();
        // A request says where its sender dialled, not where it saw us: no vote. A replayed
        // one (not newer than the peer's latest) gets no answer.
        if !self.heard(now, key, from, r.source_lan, r.source_wan, Some(r.identifier)) {
            return;
        }
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
        let t = self.tick();
        self.send_signed(from, response, t);
        if let Some((_, _, address)) = pick {
            // A walker that predicted its next port (§7.2) is punctured there, at its own IP.
            let wan_walker = NextPort::from_extra(&r.extra).map_or(from, |p| SocketAddr::new(from.ip(), p.0));
            let request = PunctureRequest { lan_walker: r.source_lan, wan_walker, identifier: r.identifier };
            self.send_unsigned(address, Payload::PunctureRequest(request));
        }
    }

    /// Sends an unsigned message (a puncture request).
    fn send_unsigned(&mut self, to: SocketAddr, payload: Payload) {
        let t = self.tick();
        let msg =
            Message { community: self.config.community, style: Style::New, global_time: t, sender: None, payload };
        if let Ok(bytes) = wire::encode(&msg, None)
            && self.out.push(Some(self.config.local), to, &bytes).is_err()
        {
            self.stats.queue_full += 1;
        }
    }

    /// A response counts only if it answers a request this node sent to that address and has
    /// not seen answered: a captured response replayed elsewhere, or one invented, is a
    /// stray. Only then does it vote for this node's public address (if that is a global one)
    /// and introduce someone.
    fn on_response(&mut self, now: Instant, from: SocketAddr, key: PeerKey, r: IntroductionResponse) {
        let cutoff = now.saturating_sub(REQUEST_LIFETIME);
        self.outstanding.retain(|(_, _, at)| *at >= cutoff);
        let Some(pos) = self.outstanding.iter().position(|(id, to, _)| *id == r.identifier && *to == from) else {
            self.stats.stray_responses += 1;
            return;
        };
        self.outstanding.remove(pos);
        self.heard(now, key, from, r.source_lan, r.source_wan, None);
        self.introducers.insert(from, (now, per_second::PerSecond::new(now)));
        if self.introducers.len() > self.config.max_peers {
            let oldest = self.introducers.iter().min_by_key(|(a, (t, _))| (*t, **a)).map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.introducers.remove(&a);
            }
        }
        let before = self.wan.current();
        self.wan.seen(from, r.destination);
        if is_global(r.destination.ip()) {
            self.ports.observed(self.config.local, from, r.destination.port());
        }
        if is_global(r.destination.ip())
            && let Some(address) = self.wan.vote(Voter::of(from.ip()), r.destination, now)
        {
            self.events.push_back(Event::WanChanged { address });
            // Peers learn the new address from a signed Binding record (sync spreads it).
            let _ = self.sign_own(now, sync_core::Body::Binding { address });
            if before.is_some() {
                // The address moved (the first one learnt is no move: streams opened before
                // it ran over the same socket and mapping). Streams are opened again from the
                // new address, their peers see a path change, and the NAT is checked again.
                self.resume_streams(now);
                self.recheck_nat(address);
            }
        }
        if r.wan_introduction != UNSPECIFIED && r.wan_introduction != self.my_wan() {
            self.peers.introduced(r.lan_introduction, r.wan_introduction, now);
            if self.introduced_by.len() >= 64 {
                self.introduced_by.pop_front();
            }
            self.introduced_by.push_back((r.wan_introduction, from));
            // The introducer asked the candidate to puncture towards us: open our NATs towards
            // it first, with a packet that dies before its NAT, so the puncture gets in and
            // leaves no state at a Linux router of ours.
            self.send_opener(now, r.wan_introduction);
        }
    }

    /// An unsigned request from an introducer to puncture towards a walker. Answered only when
    /// it comes from an address this node walked to and heard back from within `peer_timeout`,
    /// and at most `punctures_per_sec` a second per such introducer: the puncture goes to a
    /// third party and is bigger than the request. (A source address can be spoofed, so this
    /// bounds the reflection, it does not exclude it.)
    /// `walker`: a walker that asked for this node by key (IntroduceMe), whose silence
    /// after the puncture therefore means it did not get through (`quiet.rs`).
    /// `ports`: how many ports from the walker's up to open towards (§7.2).
    fn on_puncture_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        p: PunctureRequest,
        walker: Option<Mid>,
        ports: u8,
    ) {
        let (timeout, budget) = (self.config.peer_timeout, self.config.punctures_per_sec);
        let Some((answered, allowance)) = self.introducers.get_mut(&from) else {
            self.stats.punctures_refused += 1;
            return;
        };
        if now.saturating_duration_since(*answered) > timeout || !allowance.take(now, 1, u64::from(budget)) {
            self.stats.punctures_refused += 1;
            return;
        }
        let to = self.reach(p.lan_walker, p.wan_walker);
        let ports = if to == p.wan_walker { ports } else { 1 };
        if let Some(walker) = walker
            && to == p.wan_walker
            && (self.meet_in_window(now, to, p.identifier, walker, ports) || self.yields_window(now, walker, ports))
        {
            return;
        }
        self.puncture_later(now, to, p.identifier, walker, ports);
    }
}

impl<S: Store> Node<S> {
    /// The next datagram of any of the node's parts: its own messages, STUN answers, sync,
    /// NAT checks, then P2TP.
    fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.out.pop(buf) {
            return Some(t);
        }
        if let Some(t) = self.stun.as_mut().and_then(|s| s.poll_transmit(now, buf)) {
            return Some(t);
        }
        if let Some(t) = self.poll_sync(now, buf) {
            return Some(t);
        }
        if let Some(t) = self.nat_transmit(now, buf) {
            return Some(t);
        }
        self.endpoint.poll_transmit(now, buf)
    }
}

impl<S: Store> Machine for Node<S> {
    type Event = Event;

    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        self.ports.heard(now, local, remote);
        if self.is_probe_socket(local) {
            return self.nat_datagram(now, local, remote, datagram);
        }
        self.heard_at(&remote);
        let community = self.config.community.0;
        match p2tp_core::classify(datagram, |c| *c == community, |_| false) {
            Protocol::Overlay if datagram[wire::PREFIX_LEN] == SYNC_MESSAGE => {
                self.on_sync(now, local, remote, datagram)
            }
            Protocol::Overlay => self.on_overlay(now, remote, datagram),
            Protocol::P2tp => {
                self.endpoint.handle_datagram(now, local, remote, datagram);
                self.pump(now);
            }
            Protocol::Stun => match self.stun.as_mut() {
                Some(server) => server.handle_datagram(now, local, remote, datagram),
                None => self.stats.stun_ignored += 1,
            },
            _ => self.stats.not_ours += 1,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_walk {
            let cutoff = now.saturating_sub(self.config.peer_timeout);
            self.peers.expire(cutoff);
            self.walk(now);
            self.next_walk = now + self.walk_interval();
        }
        self.endpoint.handle_timeout(now);
        self.puncture_timeout(now);
        self.quiet_timeout(now);
        self.retry_direct(now);
        self.pump(now);
        self.sync_timeout(now);
        self.nat_timeout(now);
        self.traffic_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.next_transmit(now, buf)?;
        self.ports.sent(now, t.source.unwrap_or(self.config.local), t.destination);
        Some(t)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let mut t = self.next_walk;
        let timers = [
            self.endpoint.poll_timeout(),
            self.next_hello(),
            Some(self.next_sync()),
            self.next_direct_retry(),
            self.punctures.front().map(|(t, ..)| *t),
            self.quiet.next(),
            self.nat_deadline(),
            self.traffic.next,
        ];
        for d in timers.into_iter().flatten() {
            t = t.min(d);
        }
        Some(t)
    }

    fn timeout_reason(&self) -> Option<&'static str> {
        Some("walk step, P2TP timer, hello, puncture, punch give-up, sync or NAT check")
    }
}

/// Whether `ip` is a private (RFC 1918, ULA), loopback or link-local address.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => a.is_loopback() || a.is_unique_local() || a.is_unicast_link_local(),
        },
    }
}

/// Whether `ip` can be a public address: not private, loopback, link-local, unspecified or
/// broadcast.
fn is_global(ip: IpAddr) -> bool {
    !is_private(ip) && !ip.is_unspecified() && !matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}
