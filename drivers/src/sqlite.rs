//! [`SqliteStore`]: sync-core's record store in a SQLite file (feature `sqlite`).
//!
//! The tables mirror the 2008 design's Peers, Bindings and Relations tables, so a user can read
//! them with `sqlite3`; every row also keeps the record's canonical bytes (`record`) and its
//! content id (`id`). One current record per slot is enforced by a `UNIQUE` constraint.
//! The database runs in WAL mode with `synchronous = NORMAL`: a write is atomic (a record is
//! stored whole or not at all, with the record it replaces removed in the same transaction),
//! and a committed write survives the process being killed; only a power cut may lose the last
//! transactions (SQLite's documented trade for WAL + NORMAL). The file carries
//! [`APPLICATION_ID`] in its header; another application's database (a different id, or
//! tables of its own) is refused before anything is written to it, so a mistyped `--store`
//! cannot turn someone's database into a half record store.
//!
//! A row is verified (signature, content id, and the timestamp column against the record's
//! own) the first time this store serves it or compares against it. A row that fails, a file
//! edited by hand or damaged, is neither served nor advertised and counts as the oldest
//! record of its slot, so any valid record for that slot replaces it; nothing else in the file
//! is touched ([`SqliteStore::bad_rows`] lists such rows).
//!
//! ```
//! use drivers::sqlite::SqliteStore;
//! use sync_core::{Body, Identity, Store};
//! let dir = std::env::temp_dir().join(format!("ipv8-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let mut store = SqliteStore::open(dir.join("records.sqlite"))?;
//! let rec = Identity::from_seed([1; 32]).unwrap().sign(1, Body::Peer { metadata: b"alice".to_vec() })?;
//! store.insert(&rec, None)?;
//! assert!(store.contains(&rec.id()));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use sync_core::{Body, ContentId, Kind, Slot, Store, VerifiedRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS peers (
    id           BLOB PRIMARY KEY,
    public_key   BLOB NOT NULL UNIQUE,
    timestamp_ms INTEGER NOT NULL,
    metadata     BLOB NOT NULL,
    record       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bindings (
    id           BLOB PRIMARY KEY,
    public_key   BLOB NOT NULL UNIQUE,
    timestamp_ms INTEGER NOT NULL,
    ip           TEXT NOT NULL,
    port         INTEGER NOT NULL,
    record       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS relations (
    id            BLOB PRIMARY KEY,
    issuer        BLOB NOT NULL,
    subject       BLOB NOT NULL,
    type          INTEGER NOT NULL,
    strength      INTEGER NOT NULL,
    timestamp_ms  INTEGER NOT NULL,
    countersigned INTEGER NOT NULL,
    record        BLOB NOT NULL,
    UNIQUE (issuer, subject, type)
);
";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite said no (I/O, a locked or corrupt file).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A row whose id or bytes are not a verified record (a file edited by hand): its table
    /// and rowid.
    #[error("{0} row {1} does not hold a valid record")]
    Corrupt(&'static str, i64),
    /// A SQLite database of something else: another application's id, or tables of its own.
    #[error("a SQLite database, but not an ipv8 record store ({0})")]
    NotAStore(String),
}

/// `PRAGMA application_id` of a record store ("IPv8" in ASCII), so `file(1)` and this module
/// can tell one from another application's database.
pub const APPLICATION_ID: i32 = 0x4950_7638;

/// The store's tables and their columns, in order, as `SCHEMA` makes them.
const TABLES: [(&str, &[&str]); 3] = [
    ("peers", &["id", "public_key", "timestamp_ms", "metadata", "record"]),
    ("bindings", &["id", "public_key", "timestamp_ms", "ip", "port", "record"]),
    ("relations", &["id", "issuer", "subject", "type", "strength", "timestamp_ms", "countersigned", "record"]),
];

/// Refuses a database that belongs to something else, and marks a new (or older, unmarked)
/// store as ours. An unmarked database may hold only the store's own tables, with the
/// store's own columns (and SQLite's indexes for their constraints).
fn claim(conn: &Connection) -> Result<(), SqliteError> {
    if marked_ours(conn)? {
        return Ok(());
    }
    let foreign: Option<(String, String)> = conn
        .query_row(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' \
             AND NOT (type = 'table' AND name IN ('peers', 'bindings', 'relations')) ORDER BY name LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((kind, name)) = foreign {
        return Err(SqliteError::NotAStore(format!("it has a {kind} {name:?}")));
    }
    for (table, expected) in TABLES {
        let columns = columns(conn, table)?;
        if !columns.is_empty() && columns != expected {
            return Err(SqliteError::NotAStore(format!("its table {table:?} has other columns")));
        }
    }
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    Ok(())
}

/// Whether the file is marked as a record store (`true`) or not marked at all (`false`);
/// one another application marked is refused.
fn marked_ours(conn: &Connection) -> Result<bool, SqliteError> {
    match conn.query_row("PRAGMA application_id", [], |r| r.get::<_, i32>(0))? {
        APPLICATION_ID => Ok(true),
        0 => Ok(false),
        id => Err(SqliteError::NotAStore(format!("its application id is {id:#010x}"))),
    }
}

/// The columns of `table`, in order (none if there is no such table).
fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, SqliteError> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let columns = stmt.query_map([], |r| r.get::<_, String>(1))?.collect::<Result<_, _>>()?;
    Ok(columns)
}

/// Records in a SQLite file. Ids are also kept in memory, so reconciliation passes over them
/// without a query per round; when another connection (another `ipv8 records add` while a
/// node runs) commits to the file, the ids are read again before they are next used
/// (`PRAGMA data_version`).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    /// Every stored id and the table it is in.
    ids: RefCell<BTreeMap<ContentId, Kind>>,
    /// `PRAGMA data_version` when `ids` was read: it changes when another connection commits.
    version: Cell<i64>,
    /// Ids whose rows this store has verified or written itself.
    checked: RefCell<BTreeSet<ContentId>>,
    /// Rows that do not hold the record their id names (table, rowid): kept out of `ids`.
    bad: RefCell<BTreeMap<ContentId, (&'static str, i64)>>,
}

fn table(kind: Kind) -> &'static str {
    match kind {
        Kind::Peer => "peers",
        Kind::Binding => "bindings",
        Kind::Relation => "relations",
    }
}

fn id_of(blob: &[u8]) -> Option<ContentId> {
    Some(ContentId(blob.try_into().ok()?))
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`SqliteError::NotAStore`] for another application's database (nothing in it is
    /// touched), [`SqliteError::Sqlite`] for a file that is not a database or cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        let conn = Connection::open(path)?;
        // Before anything that writes: another process may hold the file.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        claim(&conn)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Self::with(conn)
    }

    /// Opens an existing store at `path` only to read it: no table is created and no row
    /// written (a listing must not turn an empty or foreign file into a store; SQLite may
    /// still make its `-wal` and `-shm` side files to read a store in WAL mode).
    ///
    /// # Errors
    ///
    /// [`SqliteError::NotAStore`] for a database without the store's tables or marked by
    /// another application; [`SqliteError::Sqlite`] for a file that is not a database.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        marked_ours(&conn)?;
        for (table, expected) in TABLES {
            if columns(&conn, table)? != expected {
                return Err(SqliteError::NotAStore(format!("it has no table {table:?} of the store's")));
            }
        }
        Self::with(conn)
    }

    fn with(conn: Connection) -> Result<Self, SqliteError> {
        let (ids, version) = read_ids(&conn)?;
        Ok(Self {
            conn,
            ids: RefCell::new(ids),
            version: Cell::new(version),
            checked: RefCell::default(),
            bad: RefCell::default(),
        })
    }

    /// Reads the ids again if another connection changed the file since they were read.
    fn refresh(&self) {
        let version = self.conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        match version {
            Ok(v) if v == self.version.get() => {}
            Ok(_) => match read_ids(&self.conn) {
                Ok((mut ids, v)) => {
                    for id in self.bad.borrow().keys() {
                        ids.remove(id);
                    }
                    *self.ids.borrow_mut() = ids;
                    self.version.set(v);
                }
                Err(e) => tracing::warn!(error = %e, "sqlite: could not reread the ids"),
            },
            Err(e) => tracing::warn!(error = %e, "sqlite: data_version failed"),
        }
    }

    /// The stored record `id`, verified.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Corrupt`] if its row does not hold the record its id names (from then
    /// on the row is neither served nor advertised), [`SqliteError::Sqlite`] if the read failed.
    pub fn record(&self, id: &ContentId) -> Result<Option<VerifiedRecord>, SqliteError> {
        let Some(row) = self.row(id)? else { return Ok(None) };
        self.check(id, &row).map(Some)
    }

    /// Rows found not to hold the record their id names, as (table, rowid), in id order.
    pub fn bad_rows(&self) -> Vec<(&'static str, i64)> {
        self.bad.borrow().values().copied().collect()
    }

    /// The row of a stored id: its table, rowid, timestamp column and record bytes.
    fn row(&self, id: &ContentId) -> Result<Option<Row>, SqliteError> {
        self.refresh();
        let Some(kind) = self.ids.borrow().get(id).copied() else { return Ok(None) };
        let table = table(kind);
        let sql = format!("SELECT rowid, timestamp_ms, record FROM {table} WHERE id = ?1");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![&id.0[..]], |r| {
                // Read whatever a hand edit left (text, a real); `check` judges it.
                let timestamp_ms = match r.get::<_, Value>(1)? {
                    Value::Integer(ts) => Some(ts),
                    _ => None,
                };
                let bytes = match r.get::<_, Value>(2)? {
                    Value::Blob(b) => b,
                    Value::Text(t) => t.into_bytes(),
                    _ => Vec::new(),
                };
                Ok(Row { table, rowid: r.get(0)?, timestamp_ms, bytes })
            })
            .optional()?;
        Ok(row)
    }

    /// Verifies a row: the bytes are a signed record, hash to `id`, and the timestamp column
    /// is the record's. A row that fails is set aside (out of `ids`, into `bad`).
    fn check(&self, id: &ContentId, row: &Row) -> Result<VerifiedRecord, SqliteError> {
        match VerifiedRecord::decode(&row.bytes) {
            Ok(r) if r.id() == *id && i64::try_from(r.record().timestamp_ms).ok() == row.timestamp_ms => {
                self.checked.borrow_mut().insert(*id);
                Ok(r)
            }
            _ => {
                tracing::warn!(
                    table = row.table,
                    rowid = row.rowid,
                    "sqlite: a row does not hold a valid record; it is neither served nor advertised"
                );
                self.ids.borrow_mut().remove(id);
                self.checked.borrow_mut().remove(id);
                self.bad.borrow_mut().insert(*id, (row.table, row.rowid));
                Err(SqliteError::Corrupt(row.table, row.rowid))
            }
        }
    }

    /// Whether the row of `id` holds its record, verifying it if this store has not yet.
    fn sound(&self, id: &ContentId) -> bool {
        if self.bad.borrow().contains_key(id) {
            return false;
        }
        if self.checked.borrow().contains(id) {
            return true;
        }
        match self.row(id) {
            Ok(Some(row)) => self.check(id, &row).is_ok(),
            // Not among the ids (read before another connection wrote it): judged when served.
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite: record lookup failed");
                true
            }
        }
    }

    /// Notes records this store wrote (verified) and the ones they replaced.
    fn wrote(&self, record: &VerifiedRecord, replaces: Option<ContentId>) {
        let mut ids = self.ids.borrow_mut();
        let (mut checked, mut bad) = (self.checked.borrow_mut(), self.bad.borrow_mut());
        if let Some(old) = replaces {
            ids.remove(&old);
            checked.remove(&old);
            bad.remove(&old);
        }
        ids.insert(record.id(), record.record().kind());
        checked.insert(record.id());
        bad.remove(&record.id());
    }

    /// Checks every row: its bytes verify and hash to its id. Returns the number of rows.
    pub fn verify_all(&self) -> Result<usize, SqliteError> {
        let mut n = 0;
        for t in ["peers", "bindings", "relations"] {
            let mut stmt = self.conn.prepare(&format!("SELECT rowid, id, record FROM {t}"))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let (rowid, id, bytes): (i64, Vec<u8>, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
                match (id_of(&id), VerifiedRecord::decode(&bytes)) {
                    (Some(id), Ok(r)) if r.id() == id => n += 1,
                    _ => return Err(SqliteError::Corrupt(t, rowid)),
                }
            }
        }
        Ok(n)
    }

    /// Stores many records in one transaction (all or none): what an import or a burst of
    /// received records should use. Each pair is a record and the one it replaces.
    pub fn insert_batch(&mut self, records: &[(VerifiedRecord, Option<ContentId>)]) -> Result<(), SqliteError> {
        let tx = self.conn.transaction()?;
        for (record, replaces) in records {
            write(&tx, record, *replaces)?;
        }
        tx.commit()?;
        self.version.set(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?);
        for (record, replaces) in records {
            self.wrote(record, *replaces);
        }
        Ok(())
    }
}

fn read_ids(conn: &Connection) -> Result<(BTreeMap<ContentId, Kind>, i64), SqliteError> {
    let mut ids = BTreeMap::new();
    for kind in [Kind::Peer, Kind::Binding, Kind::Relation] {
        let t = table(kind);
        let mut stmt = conn.prepare(&format!("SELECT rowid, id FROM {t}"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (rowid, blob): (i64, Vec<u8>) = (row.get(0)?, row.get(1)?);
            ids.insert(id_of(&blob).ok_or(SqliteError::Corrupt(t, rowid))?, kind);
        }
    }
    let version = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    Ok((ids, version))
}

fn write(conn: &Connection, record: &VerifiedRecord, replaces: Option<ContentId>) -> Result<(), SqliteError> {
    let r = record.record();
    let t = table(r.kind());
    if let Some(old) = replaces {
        conn.execute(&format!("DELETE FROM {t} WHERE id = ?1"), params![&old.0[..]])?;
    }
    let id = &record.id().0[..];
    let ts = r.timestamp_ms as i64;
    let bytes = record.bytes();
    match &r.body {
        Body::Peer { metadata } => conn.execute(
            "INSERT INTO peers (id, public_key, timestamp_ms, metadata, record) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, &r.signer.0[..], ts, metadata, bytes],
        )?,
        Body::Binding { address } => conn.execute(
            "INSERT INTO bindings (id, public_key, timestamp_ms, ip, port, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, &r.signer.0[..], ts, address.ip().to_string(), address.port(), bytes],
        )?,
        Body::Relation { subject, kind, strength, countersigned } => conn.execute(
            "INSERT INTO relations (id, issuer, subject, type, strength, timestamp_ms, countersigned, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![id, &r.signer.0[..], &subject.0[..], kind.0, strength, ts, countersigned, bytes],
        )?,
        // Body is non-exhaustive; a kind this store has no table for is refused, not dropped.
        _ => return Err(SqliteError::Sqlite(rusqlite::Error::InvalidQuery)),
    };
    Ok(())
}

impl Store for SqliteStore {
    type Error = SqliteError;

    fn contains(&self, id: &ContentId) -> bool {
        self.refresh();
        self.ids.borrow().contains_key(id)
    }

    fn current(&self, slot: &Slot) -> Option<(u64, ContentId)> {
        let row = match slot {
            Slot::Peer(k) => self
                .conn
                .query_row("SELECT timestamp_ms, id FROM peers WHERE public_key = ?1", params![&k.0[..]], row_pair)
                .optional(),
            Slot::Binding(k) => self
                .conn
                .query_row("SELECT timestamp_ms, id FROM bindings WHERE public_key = ?1", params![&k.0[..]], row_pair)
                .optional(),
            Slot::Relation { issuer, subject, kind } => self
                .conn
                .query_row(
                    "SELECT timestamp_ms, id FROM relations WHERE issuer = ?1 AND subject = ?2 AND type = ?3",
                    params![&issuer.0[..], &subject.0[..], kind.0],
                    row_pair,
                )
                .optional(),
        };
        match row {
            // A row that does not hold its record is the oldest in its slot: anything valid
            // replaces it.
            Ok(Some((ts, id))) => {
                let id = id_of(&id)?;
                Some((if self.sound(&id) { ts as u64 } else { 0 }, id))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite: slot lookup failed");
                None
            }
        }
    }

    fn insert(&mut self, record: &VerifiedRecord, replaces: Option<ContentId>) -> Result<(), SqliteError> {
        let tx = self.conn.transaction()?;
        write(&tx, record, replaces)?;
        tx.commit()?;
        self.version.set(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?);
        self.wrote(record, replaces);
        Ok(())
    }

    fn remove(&mut self, id: &ContentId) -> Result<bool, SqliteError> {
        self.refresh();
        let Some(kind) = self.ids.get_mut().get(id).copied() else { return Ok(false) };
        let n = self.conn.execute(&format!("DELETE FROM {} WHERE id = ?1", table(kind)), params![&id.0[..]])?;
        self.version.set(self.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?);
        self.ids.get_mut().remove(id);
        self.checked.get_mut().remove(id);
        self.bad.get_mut().remove(id);
        Ok(n > 0)
    }

    fn get(&self, id: &ContentId) -> Option<Vec<u8>> {
        let row = match self.row(id) {
            Ok(row) => row?,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite: record lookup failed");
                return None;
            }
        };
        let sound = self.checked.borrow().contains(id) || self.check(id, &row).is_ok();
        sound.then_some(row.bytes)
    }

    fn for_each_id(&self, f: &mut dyn FnMut(&ContentId)) {
        self.refresh();
        self.ids.borrow().keys().for_each(f);
    }

    fn len(&self) -> usize {
        self.refresh();
        self.ids.borrow().len()
    }
}

/// One stored row, as [`SqliteStore::row`] reads it.
struct Row {
    table: &'static str,
    rowid: i64,
    timestamp_ms: Option<i64>,
    bytes: Vec<u8>,
}

/// A slot's timestamp and id; a timestamp a hand edit made something else reads as 0 (the
/// row then fails its check as well).
fn row_pair(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Vec<u8>)> {
    let ts = match r.get::<_, Value>(0)? {
        Value::Integer(ts) => ts,
        _ => 0,
    };
    Ok((ts, r.get(1)?))
}
