//! What an endpoint tells its application, and what it refuses.

use core::net::SocketAddr;

use crate::stats::PathStats;

/// Something the application should know about a stream, named by its peer's address.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Both sides hold state: the stream is established.
    Opened {
        /// The peer.
        peer: SocketAddr,
    },
    /// `connect` gave up.
    OpenFailed {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: OpenFailure,
    },
    /// An application datagram arrived.
    Datagram {
        /// The peer.
        peer: SocketAddr,
        /// Its bytes: a view into the endpoint's receive buffer, which is allocated
        /// [`RECV_CHUNK`](crate::RECV_CHUNK) bytes at a time instead of once per datagram.
        /// A datagram kept for long keeps its chunk alive; copy it
        /// (`data.to_vec()`) to keep only itself.
        data: bytes::Bytes,
    },
    /// The stream is gone.
    Closed {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
    /// The path's figures moved noticeably (SRTT or the rate by an eighth or more, or a loss
    /// event began); at most once per max(SRTT, 100 ms).
    PathUpdate {
        /// The peer.
        peer: SocketAddr,
        /// The figures now (boxed: they are rare, and inline they made every event,
        /// `Datagram`s included, three times as large to move).
        stats: alloc::boxed::Box<PathStats>,
    },
}

/// Why an open failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenFailure {
    /// No valid answer to any H1 (or, opened, no sign of the peer) within 63.75 s.
    Timeout,
}

/// Why a stream closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Nothing arrived for the idle timeout.
    Idle,
    /// The peer left a packet that asked for an answer, and the probes after it, unanswered
    /// for [`Config::unreachable_after`](crate::Config::unreachable_after): it vanished, or
    /// the path to it broke.
    Unreachable,
    /// The peer closed it, or restarted with a new stream.
    ByPeer,
    /// The application closed it.
    Local,
}

/// Why `send` refused a datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// There is no stream to that peer (`connect` first).
    #[error("no stream to that peer")]
    NoStream,
    /// An empty datagram (empty packets are P2TP's control packets).
    #[error("empty datagram")]
    Empty,
    /// Larger than the payload budget allows.
    #[error("datagram of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The stream's or the endpoint's queue is full: back-pressure; try after some leave.
    #[error("send queue full")]
    QueueFull,
    /// The stream is closing.
    #[error("the stream is closing")]
    Closing,
}

/// Why `connect` refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint holds its maximum of streams.
    #[error("stream limit reached")]
    StreamLimit,
    /// The peer's address family is not the endpoint's.
    #[error("peer address family differs from the endpoint's")]
    FamilyMismatch,
}
