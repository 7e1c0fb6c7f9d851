//! Relation graphs in CSV files: `from,to,type,strength,timestamp`, one relation per row.
//!
//! Peer ids are opaque strings (hex public keys, names); they are interned in first-seen order.
//! `type` is a number 0–255 or one of the seeds' names (`traffic_exchange`, `similar_taste`,
//! `moderator_vote`, `social_friend`). A header row is required. Any malformed row is
//! reported with its line number and nothing is loaded.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::rc::Rc;

use trust_core::{EdgeUpdate, Graph, PeerId, Peers, RelationType};

/// The columns, in order.
pub const HEADER: [&str; 5] = ["from", "to", "type", "strength", "timestamp"];

/// The longest line read, in bytes: a row is five short fields, so anything longer is not an
/// edge file (`/dev/zero` would otherwise be read into memory until it runs out).
pub const MAX_LINE: usize = 64 * 1024;

/// Why an edge file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EdgeFileError {
    /// A row (or the header) does not fit the format.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A loaded graph with the keys of its peers.
#[derive(Debug, Default)]
pub struct EdgeFile {
    /// The relations, latest timestamp winning where a row repeats a relation.
    pub graph: Graph,
    /// Peer keys as written in the file.
    pub peers: Peers<String>,
    /// Rows read (after the header).
    pub rows: u64,
}

/// Line numbers by byte offset. The csv reader does not count blank lines, so the offsets of
/// the newlines in the buffer it is reading are noted here, and folded into a count as records
/// are returned or the next buffer is read: the memory held is one read buffer's newlines at
/// most, however many blank lines the file has.
#[derive(Default)]
struct Newlines {
    ahead: VecDeque<u64>,
    before: u64,
    read: u64,
    /// Bytes since the last newline.
    line_len: usize,
}

impl Newlines {
    /// The 1-based line of the byte at `offset` (offsets only grow).
    fn line_of(&mut self, offset: u64) -> u64 {
        while self.ahead.front().is_some_and(|&n| n < offset) {
            self.ahead.pop_front();
            self.before += 1;
        }
        self.before + 1
    }
}

struct Counting<R> {
    inner: R,
    newlines: Rc<RefCell<Newlines>>,
}

/// Marks the I/O error [`Counting`] returns for a line over [`MAX_LINE`].
#[derive(Debug, thiserror::Error)]
#[error("a line is longer than {MAX_LINE} bytes")]
struct LineTooLong;

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.newlines.borrow_mut();
        // The csv reader asks for more only once it has consumed every byte it had, so every
        // newline noted so far lies before any record still to come: fold them into the count.
        state.before += state.ahead.len() as u64;
        state.ahead.clear();
        let start = state.read;
        for (i, b) in buf[..n].iter().enumerate() {
            if *b == b'\n' {
                state.ahead.push_back(start + i as u64);
                state.line_len = 0;
            } else {
                state.line_len += 1;
                if state.line_len > MAX_LINE {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, LineTooLong));
                }
            }
        }
        state.read += n as u64;
        Ok(n)
    }
}

/// Parses a relation type: a number or a name of the seeds.
///
/// ```
/// use ipv8::edge_file::parse_type;
/// use trust_core::RelationType;
///
/// assert_eq!(parse_type("social_friend"), Some(RelationType::SOCIAL_FRIEND));
/// assert_eq!(parse_type("social-friend"), Some(RelationType::SOCIAL_FRIEND));
/// assert_eq!(parse_type("7"), Some(RelationType(7)));
/// assert_eq!(parse_type("enemy"), None);
/// ```
#[must_use]
pub fn parse_type(s: &str) -> Option<RelationType> {
    // `social-friend` (the control socket's spelling) is taken too.
    match s.replace('-', "_").as_str() {
        "traffic_exchange" => Some(RelationType::TRAFFIC_EXCHANGE),
        "similar_taste" => Some(RelationType::SIMILAR_TASTE),
        "moderator_vote" => Some(RelationType::MODERATOR_VOTE),
        "social_friend" => Some(RelationType::SOCIAL_FRIEND),
        _ => s.parse::<u8>().ok().map(RelationType),
    }
}

/// A relation strength as the trust graph holds it (an `f32`), or why `s` is not one:
/// not a number, not finite, or beyond what an `f32` holds (about ±3.4e38).
///
/// ```
/// use ipv8::edge_file::strength;
/// assert_eq!(strength("2.5"), Ok(2.5));
/// assert_eq!(strength("1e308"), Err("is beyond ±3.4e38, the largest strength"));
/// assert_eq!(strength("inf"), Err("is not a finite number"));
/// ```
///
/// # Errors
///
/// Why `s` is not a strength, as the end of a sentence that starts with it.
pub fn strength(s: &str) -> Result<f32, &'static str> {
    let wide = s.trim().parse::<f64>().map_err(|_| "is not a number")?;
    if !wide.is_finite() {
        return Err("is not a finite number");
    }
    if wide.abs() > f64::from(f32::MAX) {
        return Err("is beyond ±3.4e38, the largest strength");
    }
    #[allow(clippy::cast_possible_truncation)] // in range, checked above: rounds to nearest
    Ok(wide as f32)
}

/// The name of a relation type, or its number.
#[must_use]
pub fn type_name(kind: RelationType) -> String {
    match kind {
        RelationType::TRAFFIC_EXCHANGE => "traffic_exchange".into(),
        RelationType::SIMILAR_TASTE => "similar_taste".into(),
        RelationType::MODERATOR_VOTE => "moderator_vote".into(),
        RelationType::SOCIAL_FRIEND => "social_friend".into(),
        RelationType(n) => n.to_string(),
    }
}

/// Reads an edge file.
///
/// ```
/// use ipv8::edge_file;
///
/// let csv = "from,to,type,strength,timestamp\nalice,bob,social_friend,1.0,10\nbob,carol,0,2.5,11\n";
/// let loaded = edge_file::read(csv.as_bytes())?;
/// assert_eq!((loaded.peers.len(), loaded.graph.relations()), (3, 2));
///
/// let bad = "from,to,type,strength,timestamp\nalice,bob,social_friend,strong,10\n";
/// let error = edge_file::read(bad.as_bytes()).unwrap_err();
/// assert_eq!(error.to_string(), "line 2: strength \"strong\" is not a number");
/// # Ok::<(), edge_file::EdgeFileError>(())
/// ```
///
/// # Errors
///
/// [`EdgeFileError::Malformed`] for the first bad row (or header), naming its line;
/// [`EdgeFileError::Io`] if reading fails.
pub fn read(input: impl Read) -> Result<EdgeFile, EdgeFileError> {
    let newlines = Rc::new(RefCell::new(Newlines::default()));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(Counting { inner: input, newlines: Rc::clone(&newlines) });
    // A record's position is where parsing began, blank lines before it included; where the
    // reader stands after it is unambiguous: just past the record's own line end.
    let line_after =
        |reader: &csv::Reader<_>| newlines.borrow_mut().line_of(reader.position().byte().saturating_sub(1));
    let mut out = EdgeFile::default();
    let mut record = csv::StringRecord::new();
    let mut header_seen = false;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = line_after(&reader);
                let reason = e.to_string();
                return match e.into_kind() {
                    csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<LineTooLong>()) => {
                        let state = newlines.borrow();
                        let line = state.before + state.ahead.len() as u64 + 1;
                        Err(EdgeFileError::Malformed { line, reason: LineTooLong.to_string() })
                    }
                    csv::ErrorKind::Io(io) => Err(io.into()),
                    _ => Err(EdgeFileError::Malformed { line, reason }),
                };
            }
        }
        let line = line_after(&reader);
        let malformed = |reason: String| EdgeFileError::Malformed { line, reason };
        if !header_seen {
            if record.iter().ne(HEADER) {
                return Err(malformed(format!("the header must be `{}`", HEADER.join(","))));
            }
            header_seen = true;
            continue;
        }
        if record.len() != HEADER.len() {
            return Err(malformed(format!("{} fields, expected {}", record.len(), HEADER.len())));
        }
        let (from, to) = (&record[0], &record[1]);
        if from.is_empty() || to.is_empty() {
            return Err(malformed("a peer id is empty".into()));
        }
        let kind =
            parse_type(&record[2]).ok_or_else(|| malformed(format!("unknown relation type {:?}", &record[2])))?;
        let strength = strength(&record[3]).map_err(|why| malformed(format!("strength {:?} {why}", &record[3])))?;
        let timestamp = record[4].parse::<u64>().map_err(|e| {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow => "is above 18446744073709551615",
                _ => "is not a whole number from 0",
            };
            malformed(format!("timestamp {:?} {why}", &record[4]))
        })?;
        let update = EdgeUpdate {
            from: out.peers.intern(from.to_owned()),
            to: out.peers.intern(to.to_owned()),
            kind,
            strength,
            timestamp,
        };
        out.graph.apply(update);
        out.rows += 1;
    }
    if !header_seen {
        return Err(EdgeFileError::Malformed { line: 1, reason: "empty file: no header".into() });
    }
    Ok(out)
}

/// Writes relations as an edge file, naming peer *i* by `name(i)`.
///
/// # Errors
///
/// If writing fails.
pub fn write(output: impl Write, updates: &[EdgeUpdate], name: impl Fn(PeerId) -> String) -> Result<(), EdgeFileError> {
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(HEADER).map_err(csv_io)?;
    for u in updates {
        writer
            .write_record([
                name(u.from),
                name(u.to),
                type_name(u.kind),
                u.strength.to_string(),
                u.timestamp.to_string(),
            ])
            .map_err(csv_io)?;
    }
    writer.flush()?;
    Ok(())
}

fn csv_io(e: csv::Error) -> EdgeFileError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => EdgeFileError::Io(io),
        _ => EdgeFileError::Io(std::io::Error::other("the CSV writer refused a record")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of `n` bytes of `byte`, produced as read (never held in memory).
    struct Repeat(u8, u64);

    impl Read for Repeat {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(usize::try_from(self.1).unwrap_or(usize::MAX));
            buf[..n].fill(self.0);
            self.1 -= n as u64;
            Ok(n)
        }
    }

    #[test]
    fn a_file_of_one_endless_line_is_refused_after_max_line_bytes() {
        // What `--edges /dev/zero` reads.
        let err = read(Repeat(0, 1 << 40)).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("line 1: a line is longer than 65536 bytes"));
    }

    #[test]
    fn millions_of_blank_lines_hold_no_memory_and_still_number_lines_right() {
        let header = format!("{}\n", HEADER.join(","));
        let blank = Repeat(b'\n', 3_000_000);
        let row = &b"a,b,1,1.0,1\nb,c,1,1.0,1\nc,d,1,oops,1\n"[..];
        let input = header.as_bytes().chain(blank).chain(row);
        let newlines = Rc::new(RefCell::new(Newlines::default()));
        let mut counting = Counting { inner: input, newlines: Rc::clone(&newlines) };
        // Read the blank stretch through the counter the way the csv reader does.
        let mut buf = [0u8; 8192];
        let mut most_held = 0;
        while counting.read(&mut buf).unwrap() > 0 {
            most_held = most_held.max(newlines.borrow().ahead.len());
        }
        assert!(most_held <= buf.len(), "{most_held} newline offsets held at once");
        // And end to end: the bad row is named by its line, 3,000,000 blank lines after the header.
        let input = header.as_bytes().chain(Repeat(b'\n', 3_000_000)).chain(row);
        let err = read(input).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("line 3000004: strength \"oops\" is not a number"));
    }
}
