//! Sync messages on the wire (`docs/sync.md` §5). Every message is one datagram of at most
//! [`MAX_DATAGRAM`] bytes; a flight too big for one (a table, a list of wants, records) is
//! split into datagrams that each stand alone.

use alloc::vec::Vec;

use crate::reader::Reader;
use crate::recon::estimate::{ESTIMATOR_LEN, Estimator};
use crate::recon::iblt::{CELL_LEN, Cell};
use crate::record::MAX_RECORD_LEN;

/// First byte of every sync datagram.
pub const MAGIC: u8 = 0xA7;
/// Longest sync datagram: fits a 1280-byte IPv6 path MTU after IP and UDP headers.
pub const MAX_DATAGRAM: usize = 1200;
/// Magic, type and session.
pub const HEADER_LEN: usize = 1 + 1 + 8;
/// Cells in one `Cells` datagram.
pub const CELLS_PER_DATAGRAM: usize = (MAX_DATAGRAM - HEADER_LEN - 8 - 1 - 4 - 4 - 4 - 2) / CELL_LEN;
/// Largest table (a multiple of 3, 2.4 MB on the wire): a difference of about 187,000 ids at
/// the default overhead. Larger differences are reconciled a range of short ids at a time.
pub const MAX_TABLE_CELLS: u32 = 262_143;
/// Cells in a probe: the table every round starts with. 21 cells make the probe (211 bytes)
/// large enough that the 598-byte estimate answering it stays within 3× of it.
pub const PROBE_CELLS: usize = 21;

/// One sync datagram, parsed.
// Messages live for one `handle_datagram` call; boxing the estimator would only add a copy.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message<'a> {
    /// Initiator → responder: the round's first message, a small table and the set's size.
    Probe {
        /// The round's salt and name.
        session: u64,
        /// 0, or the responder's cookie when the initiator probes again to fetch records the
        /// first answer could not carry (a validated probe is answered without the 3× bound).
        cookie: u64,
        /// Ids in the initiator's set.
        set_len: u32,
        /// [`PROBE_CELLS`] cells (table 0).
        cells: Vec<Cell>,
    },
    /// Responder → initiator: the probe did not decode; here is my estimator.
    Estimate {
        /// The round.
        session: u64,
        /// Proof of the initiator's address, to echo in `Cells`, `Pull` and `Want`.
        cookie: u64,
        /// Ids in the responder's set.
        set_len: u32,
        /// The responder's estimator.
        estimator: Estimator,
    },
    /// Initiator → responder: send me your table `table` of `total` cells (the initiator
    /// decodes; chosen when it holds more ids, so that the wants are the smaller side).
    Pull {
        /// The round.
        session: u64,
        /// The echoed cookie.
        cookie: u64,
        /// Which table of the round.
        table: u8,
        /// Cells it should have.
        total: u32,
        /// Only ids whose short-id prefix is at most this go in (`u32::MAX`: all).
        range: u32,
    },
    /// Initiator → responder, after decoding a pulled table: the ids it wants.
    Want {
        /// The round.
        session: u64,
        /// The echoed cookie.
        cookie: u64,
        /// Wanted prefixes, sorted.
        wants: Vec<u32>,
    },
    /// Either way: a slice of table `table` (1, 2, …) of `total` cells.
    Cells {
        /// The round.
        session: u64,
        /// The echoed cookie.
        cookie: u64,
        /// Which table of the round.
        table: u8,
        /// Cells in the whole table.
        total: u32,
        /// Only ids whose short-id prefix is at most this are in the table (`u32::MAX`: all).
        range: u32,
        /// Index of the first cell here.
        first: u32,
        /// The cells.
        cells: Vec<Cell>,
    },
    /// Responder → initiator: what decoding table `table` gave, and some of the ids the
    /// responder wants (Rice-coded 32-bit prefixes of their short ids).
    Result {
        /// The round.
        session: u64,
        /// Which table.
        table: u8,
        /// Whether the whole difference came out.
        complete: bool,
        /// Cells the next table should have, when incomplete.
        need_cells: u32,
        /// The responder's cookie, to echo in `Records` (and in a second probe).
        cookie: u64,
        /// Records the responder holds for the initiator but could not send within the
        /// unvalidated bound; a second probe with the cookie fetches them.
        deferred: u32,
        /// This datagram's index among `parts`.
        part: u16,
        /// Datagrams in this result.
        parts: u16,
        /// Wanted prefixes, sorted.
        wants: Vec<u32>,
    },
    /// Either way: records, each canonical bytes.
    Records {
        /// The round.
        session: u64,
        /// Initiator → responder: the responder's cookie. Responder → initiator: 0 (the
        /// initiator knows its round).
        cookie: u64,
        /// The records' bytes.
        records: Vec<&'a [u8]>,
    },
}

const PROBE: u8 = 1;
const ESTIMATE: u8 = 2;
const CELLS: u8 = 3;
const RESULT: u8 = 4;
const RECORDS: u8 = 5;
const PULL: u8 = 6;
const WANT: u8 = 7;

/// Why a datagram is not a sync message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a sync datagram (magic), or an unknown type.
    #[error("not a sync message")]
    NotSync,
    /// Shorter than its fields, longer than [`MAX_DATAGRAM`], or bytes left over.
    #[error("malformed sync message")]
    Malformed,
    /// A field out of range (a table too big, a cell range past its end, an unsorted list).
    #[error("sync message field out of range")]
    OutOfRange,
}

type R<'a> = Reader<'a, WireError>;

fn u16(r: &mut R<'_>) -> Result<u16, WireError> {
    Ok(u16::from_le_bytes(r.array()?))
}
fn u32(r: &mut R<'_>) -> Result<u32, WireError> {
    Ok(u32::from_le_bytes(r.array()?))
}
fn u64(r: &mut R<'_>) -> Result<u64, WireError> {
    Ok(u64::from_le_bytes(r.array()?))
}

fn cells(r: &mut R<'_>, n: usize) -> Result<Vec<Cell>, WireError> {
    let bytes = r.take(n.checked_mul(CELL_LEN).ok_or(WireError::Malformed)?)?;
    Ok(bytes
        .chunks_exact(CELL_LEN)
        .map(|c| {
            let mut a = [0u8; CELL_LEN];
            a.copy_from_slice(c);
            Cell::read(&a)
        })
        .collect())
}

/// `n` Rice-coded wants with parameter `k`: all the bytes that are left, and exactly them.
fn wants(r: &mut R<'_>, n: usize, k: u8) -> Result<Vec<u32>, WireError> {
    let wants = crate::recon::rice::decode(r.rest, n, k).ok_or(WireError::Malformed)?;
    // The coder writes whole bytes; anything after them is malformed.
    if crate::recon::rice::encoded_len(&wants, k) != r.rest.len() {
        return Err(WireError::Malformed);
    }
    r.rest = &[];
    Ok(wants)
}

impl<'a> Message<'a> {
    /// Parses one datagram. Never panics; allocation is bounded by the datagram's length.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(WireError::Malformed);
        }
        let mut r = Reader::new(bytes, WireError::Malformed);
        if r.u8()? != MAGIC {
            return Err(WireError::NotSync);
        }
        let ty = r.u8()?;
        let session = u64(&mut r)?;
        let msg = match ty {
            PROBE => {
                let cookie = u64(&mut r)?;
                let set_len = u32(&mut r)?;
                let cells = cells(&mut r, PROBE_CELLS)?;
                Message::Probe { session, cookie, set_len, cells }
            }
            ESTIMATE => {
                let cookie = u64(&mut r)?;
                let set_len = u32(&mut r)?;
                let estimator = Estimator { bytes: r.array::<ESTIMATOR_LEN>()? };
                Message::Estimate { session, cookie, set_len, estimator }
            }
            PULL => {
                let cookie = u64(&mut r)?;
                let table = r.u8()?;
                let total = u32(&mut r)?;
                let range = u32(&mut r)?;
                if table == 0 || total == 0 || !total.is_multiple_of(3) || total > MAX_TABLE_CELLS {
                    return Err(WireError::OutOfRange);
                }
                Message::Pull { session, cookie, table, total, range }
            }
            WANT => {
                let cookie = u64(&mut r)?;
                let n = usize::from(u16(&mut r)?);
                let k = r.u8()?;
                let wants = wants(&mut r, n, k)?;
                Message::Want { session, cookie, wants }
            }
            CELLS => {
                let cookie = u64(&mut r)?;
                let table = r.u8()?;
                let total = u32(&mut r)?;
                let range = u32(&mut r)?;
                let first = u32(&mut r)?;
                let n = usize::from(u16(&mut r)?);
                if table == 0
                    || total == 0
                    || !total.is_multiple_of(3)
                    || total > MAX_TABLE_CELLS
                    || u64::from(first) + n as u64 > u64::from(total)
                {
                    return Err(WireError::OutOfRange);
                }
                let cells = cells(&mut r, n)?;
                Message::Cells { session, cookie, table, total, range, first, cells }
            }
            RESULT => {
                let table = r.u8()?;
                let complete = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::OutOfRange),
                };
                let need_cells = u32(&mut r)?;
                let cookie = u64(&mut r)?;
                let deferred = u32(&mut r)?;
                let part = u16(&mut r)?;
                let parts = u16(&mut r)?;
                let n = usize::from(u16(&mut r)?);
                let k = r.u8()?;
                if parts == 0 || part >= parts || need_cells > MAX_TABLE_CELLS {
                    return Err(WireError::OutOfRange);
                }
                let wants = wants(&mut r, n, k)?;
                Message::Result { session, table, complete, need_cells, cookie, deferred, part, parts, wants }
            }
            RECORDS => {
                let cookie = u64(&mut r)?;
                let n = usize::from(r.u8()?);
                let mut records = Vec::with_capacity(n.min(bytes.len() / 2));
                for _ in 0..n {
                    let len = usize::from(u16(&mut r)?);
                    if len > MAX_RECORD_LEN {
                        return Err(WireError::OutOfRange);
                    }
                    records.push(r.take(len)?);
                }
                Message::Records { session, cookie, records }
            }
            _ => return Err(WireError::NotSync),
        };
        if !r.rest.is_empty() {
            return Err(WireError::Malformed);
        }
        Ok(msg)
    }

    /// Writes the datagram into `out` (cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(MAGIC);
        match self {
            Message::Probe { session, cookie, set_len, cells } => {
                head(out, PROBE, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.extend_from_slice(&set_len.to_le_bytes());
                cells.iter().for_each(|c| c.write(out));
            }
            Message::Estimate { session, cookie, set_len, estimator } => {
                head(out, ESTIMATE, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.extend_from_slice(&set_len.to_le_bytes());
                out.extend_from_slice(&estimator.bytes);
            }
            Message::Pull { session, cookie, table, total, range } => {
                head(out, PULL, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.push(*table);
                out.extend_from_slice(&total.to_le_bytes());
                out.extend_from_slice(&range.to_le_bytes());
            }
            Message::Want { session, cookie, wants } => {
                head(out, WANT, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.extend_from_slice(&(wants.len() as u16).to_le_bytes());
                let k = crate::recon::rice::parameter_for(wants);
                out.push(k);
                crate::recon::rice::encode(wants, k, out);
            }
            Message::Cells { session, cookie, table, total, range, first, cells } => {
                head(out, CELLS, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.push(*table);
                out.extend_from_slice(&total.to_le_bytes());
                out.extend_from_slice(&range.to_le_bytes());
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&(cells.len() as u16).to_le_bytes());
                cells.iter().for_each(|c| c.write(out));
            }
            Message::Result { session, table, complete, need_cells, cookie, deferred, part, parts, wants } => {
                head(out, RESULT, *session);
                out.push(*table);
                out.push(u8::from(*complete));
                out.extend_from_slice(&need_cells.to_le_bytes());
                out.extend_from_slice(&cookie.to_le_bytes());
                out.extend_from_slice(&deferred.to_le_bytes());
                out.extend_from_slice(&part.to_le_bytes());
                out.extend_from_slice(&parts.to_le_bytes());
                out.extend_from_slice(&(wants.len() as u16).to_le_bytes());
                let k = crate::recon::rice::parameter_for(wants);
                out.push(k);
                crate::recon::rice::encode(wants, k, out);
            }
            Message::Records { session, cookie, records } => {
                head(out, RECORDS, *session);
                out.extend_from_slice(&cookie.to_le_bytes());
                out.push(records.len() as u8);
                for r in records {
                    out.extend_from_slice(&(r.len() as u16).to_le_bytes());
                    out.extend_from_slice(r);
                }
            }
        }
        debug_assert!(out.len() <= MAX_DATAGRAM, "{} bytes", out.len());
    }
}

fn head(out: &mut Vec<u8>, ty: u8, session: u64) {
    out.push(ty);
    out.extend_from_slice(&session.to_le_bytes());
}

/// Fixed bytes of a `Result` datagram before its Rice-coded wants.
pub const RESULT_FIXED_LEN: usize = HEADER_LEN + 1 + 1 + 4 + 8 + 4 + 2 + 2 + 2 + 1;
/// Fixed bytes of a `Want` datagram before its Rice-coded wants.
pub const WANT_FIXED_LEN: usize = HEADER_LEN + 8 + 2 + 1;
/// Fixed bytes of a `Records` datagram before its records.
pub const RECORDS_FIXED_LEN: usize = HEADER_LEN + 8 + 1;

/// Splits sorted wants into chunks whose Rice code fits `room` bytes.
pub fn split_wants(wants: &[u32], room: usize) -> Vec<&[u32]> {
    let mut parts = Vec::new();
    let mut rest = wants;
    while !rest.is_empty() {
        // Rice needs at most ~3 bytes a value for dense sets; shrink until it fits.
        let mut n = rest.len().min(room * 8 / 20).max(1);
        while n > 1 && crate::recon::rice::encoded_len(&rest[..n], crate::recon::rice::parameter_for(&rest[..n])) > room
        {
            n = n * 9 / 10;
        }
        parts.push(&rest[..n]);
        rest = &rest[n..];
    }
    if parts.is_empty() {
        parts.push(wants);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn round_trip(m: &Message<'_>) {
        let mut out = Vec::new();
        m.encode(&mut out);
        assert!(out.len() <= MAX_DATAGRAM);
        assert_eq!(&Message::decode(&out).unwrap(), m);
    }

    #[test]
    fn every_message_round_trips_within_one_datagram() {
        let cell = Cell { key: 0x0102_0304_0506_0708, check: 0xAB };
        round_trip(&Message::Probe { session: 7, cookie: 0, set_len: 1_000_000, cells: vec![cell; PROBE_CELLS] });
        round_trip(&Message::Estimate { session: 7, cookie: 9, set_len: 5, estimator: Estimator::default() });
        round_trip(&Message::Pull { session: 7, cookie: 9, table: 1, total: 300, range: u32::MAX / 2 });
        round_trip(&Message::Want { session: 7, cookie: 9, wants: vec![1, 5, 90_000] });
        round_trip(&Message::Cells {
            session: 7,
            cookie: 9,
            table: 1,
            total: 3 * CELLS_PER_DATAGRAM as u32,
            range: u32::MAX,
            first: 0,
            cells: vec![cell; CELLS_PER_DATAGRAM],
        });
        let wants: Vec<u32> = (0..5_000u32)
            .map(|i| i.wrapping_mul(858_993))
            .collect::<alloc::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let parts = split_wants(&wants, MAX_DATAGRAM - RESULT_FIXED_LEN);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), wants.len());
        for (i, p) in parts.iter().enumerate() {
            round_trip(&Message::Result {
                session: 7,
                table: 1,
                complete: true,
                need_cells: 0,
                cookie: 3,
                deferred: 1,
                part: i as u16,
                parts: parts.len() as u16,
                wants: p.to_vec(),
            });
        }
        round_trip(&Message::Records { session: 7, cookie: 5, records: vec![&[1, 2, 3][..], &[4][..]] });
    }

    #[test]
    fn a_cell_range_past_the_table_is_refused() {
        let mut out = Vec::new();
        Message::Cells {
            session: 1,
            cookie: 1,
            table: 1,
            total: 3,
            range: u32::MAX,
            first: 0,
            cells: vec![Cell::default(); 3],
        }
        .encode(&mut out);
        out[27] = 1; // first = 1: cells 1..4 of a 3-cell table
        assert_eq!(Message::decode(&out), Err(WireError::OutOfRange));
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
            let _ = Message::decode(&bytes);
        }
    }
}
