//! What a [`SyncNode`](crate::SyncNode) tells its application.

use core::net::SocketAddr;

use crate::accept::Rejection;
use crate::record::{ContentId, Kind, PublicKey, Record};

/// An event.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A record entered the store (received from `from`, or local when `None`).
    Stored {
        /// Its content id.
        id: ContentId,
        /// Peer, Binding or Relation.
        kind: Kind,
        /// Its signer.
        signer: PublicKey,
        /// Who sent it.
        from: Option<SocketAddr>,
    },
    /// A received record was refused.
    Refused {
        /// Its content id.
        id: ContentId,
        /// Why.
        why: Rejection,
        /// Who sent it.
        from: SocketAddr,
    },
    /// The store failed to write a record (it was not stored; nothing was half-written).
    StoreFailed {
        /// Its content id.
        id: ContentId,
    },
    /// A round this node started is over.
    RoundEnded(RoundReport),
    /// A stored record was dropped because its signer lost the trust it was admitted with
    /// ([`SyncNode::regate`](crate::SyncNode::regate)).
    Evicted {
        /// Its content id.
        id: ContentId,
        /// The record as it was stored (a Relation's edge may need taking out of a graph).
        record: Record,
    },
}

/// How a round ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RoundEnd {
    /// Still running (never reported).
    #[default]
    Running,
    /// The whole difference was found and the wanted records sent.
    Complete,
    /// [`Config::max_tables`](crate::Config::max_tables) tables did not find all of it; the next round goes on.
    Incomplete,
    /// No answer within [`Config::round_timeout`](crate::Config::round_timeout).
    TimedOut,
}

/// The figures of one round, as its initiator saw them. Bytes count both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RoundReport {
    /// The peer.
    pub peer: Option<SocketAddr>,
    /// The round's session (and salt).
    pub session: u64,
    /// How it ended.
    pub end: RoundEnd,
    /// Bytes of the messages that find the difference: probe, estimate, tables and results
    /// (with the wanted prefixes), headers included.
    pub reconciliation_bytes: u64,
    /// Bytes of the `Records` datagrams that are not record bytes: headers and lengths.
    pub framing_bytes: u64,
    /// The records' own bytes.
    pub record_bytes: u64,
    /// Datagrams both ways.
    pub datagrams: u64,
    /// Flights (a run of datagrams one way); round trips are half of this, rounded up.
    pub flights: u32,
    /// Sized tables sent after the probe.
    pub tables: u8,
    /// Their cells.
    pub table_cells: u64,
    /// The estimated difference, when the probe did not decode.
    pub estimate: Option<u64>,
    /// Share of the id space the round reconciled, in thousandths: 1000 unless the
    /// difference was larger than the largest table (then later rounds cover the rest).
    pub covered_permille: u16,
    /// Prefixes the responder asked for.
    pub wanted: u64,
    /// Records sent to the responder.
    pub records_sent: u64,
    /// Records received from it.
    pub records_received: u64,
    /// Of those, stored.
    pub records_stored: u64,
}

impl RoundReport {
    /// Everything but the records' own bytes.
    pub fn metadata_bytes(&self) -> u64 {
        self.reconciliation_bytes + self.framing_bytes
    }

    /// Round trips: flights / 2, rounded up.
    pub fn round_trips(&self) -> u32 {
        self.flights.div_ceil(2)
    }
}
