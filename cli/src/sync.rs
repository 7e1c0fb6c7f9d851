//! `ipv8 keygen`, `ipv8 records`, `ipv8 sync` and `ipv8 sync-listen`: identities, record stores
//! in SQLite, and reconciling two stores over UDP.

use crate::MAX_SECS;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use drivers::sqlite::{SqliteError, SqliteStore};
use ipv8::record_file::{from_json_line, identity_to_text, to_json};
use sansio_core::Machine;
use sync_core::{
    AcceptAll, Body, Config, Event, Identity, Policy, PublicKey, RelationType, RoundEnd, RoundReport, Slot, Store,
    SyncNode, VerifiedRecord,
};

use crate::run::{Running, Runtime};
use crate::{Failure, Stop};

/// `ipv8 keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the identity (created with mode 0600).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
    /// Print the public key as JSON.
    #[arg(long)]
    json: bool,
    /// Take the key from a py-ipv8 private key file (`LibNaCLSK:`) instead of drawing one:
    /// one whose X25519 half derives from its Ed25519 key (as `ipv8 id --export-pyipv8`
    /// writes them), so the peer id stays the same.
    #[arg(long)]
    from_pyipv8: Option<PathBuf>,
}

/// Records in a SQLite store.
#[derive(Debug, Subcommand)]
pub(crate) enum Records {
    /// Print the records of a store, one a line (JSON lines with `--json`).
    List(ListArgs),
    /// Write every record as a JSON line (the format `import` reads).
    Export(DbArg),
    /// Read JSON lines (a file or `-` for stdin), verify every record, store them all or none.
    Import(ImportArgs),
    /// Sign a new record with an identity and store it.
    Add(AddArgs),
}

/// A store.
#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// The SQLite file (created if missing by commands that write; `list` and `export`
    /// need it to exist).
    #[arg(long)]
    db: PathBuf,
}

/// `ipv8 records list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    db: DbArg,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// `ipv8 records import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    db: DbArg,
    /// JSON lines; `-` reads standard input.
    file: PathBuf,
}

/// `ipv8 records add`: exactly one of `--peer`, `--binding`, `--relation`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["peer", "binding", "relation"]))]
pub(crate) struct AddArgs {
    #[command(flatten)]
    db: DbArg,
    /// The signer's identity file (from `ipv8 keygen`).
    #[arg(long)]
    identity: PathBuf,
    /// A Peer record with this metadata.
    #[arg(long)]
    peer: Option<String>,
    /// A Binding record: this address.
    #[arg(long)]
    binding: Option<SocketAddr>,
    /// A Relation record to this public key (hex).
    #[arg(long)]
    relation: Option<String>,
    /// The relation's type: 0 traffic exchange, 1 similar taste, 2 moderator vote, 3 social
    /// friend.
    #[arg(long, default_value_t = 3)]
    r#type: u8,
    /// The relation's strength.
    #[arg(long, default_value_t = 1)]
    strength: u32,
}

/// `ipv8 sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    db: DbArg,
    /// The peer running `ipv8 sync-listen`, HOST:PORT.
    #[arg(long)]
    peer: String,
    /// Local address (default: any port on the unspecified address of the peer's family).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Rounds at most; it stops earlier once a round finds nothing to exchange.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// `ipv8 sync-listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    db: DbArg,
    /// Local address IP:PORT (port 0: any free port, printed once bound).
    #[arg(long)]
    bind: SocketAddr,
    /// Stop after this many seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    for_secs: Option<u64>,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

fn open(db: &Path) -> Result<SqliteStore, Failure> {
    SqliteStore::open(db).map_err(|e| Failure::from(format!("{}: {e}", db.display())))
}

/// A store that must exist already, opened read-only: reading a misspelt path must not
/// create an empty one, nor a listing write to the file.
fn open_existing(db: &Path) -> Result<SqliteStore, Failure> {
    if !db.is_file() {
        return Err(Failure::from(format!("{}: no such store", db.display())));
    }
    SqliteStore::open_read_only(db).map_err(|e| Failure::from(format!("{}: {e}", db.display())))
}

/// `1 record`, `2 records`.
fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn io(e: std::io::Error) -> Failure {
    // Only stdout can break its pipe here (`ipv8 records list | head -1`): quiet, as SIGPIPE.
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    Failure::from(e.to_string())
}

/// Writes a new identity file with mode 0600.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let secret = match &args.from_pyipv8 {
        Some(path) => {
            // A py-ipv8 key file is 68 or 75 bytes.
            let bytes = crate::bounded::read_file(path, 4096)?;
            overlay_core::seed_from_pyipv8_secret(&bytes)
                .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?
        }
        None => {
            let seed = drivers::os_seed().map_err(|e| e.to_string())?;
            let mut secret = [0u8; 32];
            sansio_core::SeededRng::from_seed(seed).fill_bytes(&mut secret);
            secret
        }
    };
    let id = Identity::from_seed(secret).map_err(|e| Failure::from(e.to_string()))?;
    crate::peer::write_secret_file(&args.out, identity_to_text(&id).as_bytes(), args.force).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists { " (use --force to replace it)" } else { "" };
        Failure::from(format!("{}: {e}{hint}", args.out.display()))
    })?;
    let public = hex::encode(id.public().0);
    if args.json {
        outln!("{}", serde_json::json!({ "public": public, "file": args.out }));
    } else {
        outln!("{public}");
    }
    Ok(())
}

/// Calls `f` with every valid record; rows that do not hold one are skipped and, after the
/// rest, named in the error (so an export of a damaged store still saves what it can).
fn each_record(store: &SqliteStore, mut f: impl FnMut(VerifiedRecord) -> Result<(), Failure>) -> Result<(), Failure> {
    let mut ids = Vec::with_capacity(store.len());
    store.for_each_id(&mut |id| ids.push(*id));
    for id in ids {
        match store.record(&id) {
            Ok(Some(record)) => f(record)?,
            // Deleted by another process since the ids were read.
            Ok(None) => {}
            Err(SqliteError::Corrupt(..)) => {}
            Err(e) => return Err(Failure::from(e.to_string())),
        }
    }
    match store.bad_rows().as_slice() {
        [] => Ok(()),
        [(table, rowid)] => {
            Err(Failure::from(format!("{table} row {rowid} does not hold a valid record; the others were read")))
        }
        [(table, rowid), rest @ ..] => Err(Failure::from(format!(
            "{table} row {rowid} and {} more do not hold a valid record; the others were read",
            rest.len()
        ))),
    }
}

/// `ipv8 records …`.
pub(crate) fn records(command: &Records) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match command {
        Records::List(args) => {
            let store = open_existing(&args.db.db)?;
            each_record(&store, |r| {
                let line = if args.json { to_json(&r).to_string() } else { text_line(&r) };
                writeln!(out, "{line}").map_err(io)
            })?;
        }
        Records::Export(args) => {
            let store = open_existing(&args.db)?;
            each_record(&store, |r| writeln!(out, "{}", to_json(&r)).map_err(io))?;
        }
        Records::Import(args) => {
            let n = import(&args.db.db, &args.file)?;
            writeln!(
                out,
                "imported {}, {} already stored or older than the stored ones",
                plural(n.0 as u64, "record"),
                n.1
            )
            .map_err(io)?;
        }
        Records::Add(args) => {
            let id = crate::peer::read_private_identity(&args.identity)?;
            let body = if let Some(meta) = &args.peer {
                if meta.len() > sync_core::MAX_METADATA_LEN {
                    return Err(Failure::usage(format!(
                        "--peer is {} bytes; a Peer record holds at most {}",
                        meta.len(),
                        sync_core::MAX_METADATA_LEN
                    )));
                }
                Body::Peer { metadata: meta.as_bytes().to_vec() }
            } else if let Some(address) = args.binding {
                Body::Binding { address }
            } else {
                let hex_key = args.relation.as_deref().unwrap_or_default();
                let key: [u8; 32] = hex::decode(hex_key).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| {
                    Failure::usage(format!("--relation {hex_key:?} is not a 64-digit hex public key"))
                })?;
                Body::Relation {
                    subject: PublicKey(key),
                    kind: RelationType(args.r#type),
                    strength: args.strength,
                    countersigned: false,
                }
            };
            let record = id.sign(now_ms(), body).map_err(|e| Failure::usage(e.to_string()))?;
            let mut store = open(&args.db.db)?;
            let current = store.current(&record.record().slot());
            if let Some((ts, _)) = current.filter(|(ts, old)| (*ts, *old) > (record.record().timestamp_ms, record.id()))
            {
                return Err(Failure::from(format!(
                    "the store holds a newer record for this slot (timestamp {ts}); latest wins, so this one would be undone by the next sync"
                )));
            }
            store.insert(&record, current.map(|(_, old)| old)).map_err(|e| Failure::from(e.to_string()))?;
            writeln!(out, "{}", to_json(&record)).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn text_line(r: &VerifiedRecord) -> String {
    let rec = r.record();
    let what = match &rec.body {
        Body::Peer { metadata } => format!("peer {:?}", String::from_utf8_lossy(metadata)),
        Body::Binding { address } => format!("binding {address}"),
        Body::Relation { subject, kind, strength, .. } => {
            format!("relation type {} strength {} to {}", kind.0, strength, &hex::encode(subject.0)[..16])
        }
        _ => "unknown".into(),
    };
    format!("{} {} {} {what}", &hex::encode(r.id().0)[..16], &hex::encode(rec.signer.0)[..16], rec.timestamp_ms)
}

/// The longest JSON line of a record read (a record is at most a few KiB; hex doubles it).
const MAX_RECORD_LINE: usize = 64 * 1024;

/// Verifies every line first, then stores them in one transaction, latest per slot. Returns
/// (stored, skipped).
fn import(db: &Path, file: &Path) -> Result<(usize, usize), Failure> {
    let name = if file == Path::new("-") { "standard input".to_owned() } else { file.display().to_string() };
    let mut reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(|e| Failure::from(format!("{}: {e}", file.display())))?,
        ))
    };
    let mut records = Vec::new();
    let mut future = 0;
    let horizon = now_ms() + 60_000;
    let mut i = 0;
    while let Some(line) = crate::bounded::next_line(&mut reader, MAX_RECORD_LINE)
        .map_err(|e| Failure::from(format!("{name} line {}: {e}", i + 1)))?
    {
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = from_json_line(&line).map_err(|e| Failure::from(format!("{name} line {i}: {e}")))?;
        // A record from the future is valid but no node accepts it yet (docs/sync.md §3.1).
        if record.record().timestamp_ms > horizon {
            future += 1;
            continue;
        }
        records.push(record);
    }
    let mut store = open(db)?;
    // Latest per slot wins, against the store and within the file.
    let mut current: BTreeMap<Slot, (u64, sync_core::ContentId)> = BTreeMap::new();
    let mut batch: BTreeMap<Slot, (VerifiedRecord, Option<sync_core::ContentId>)> = BTreeMap::new();
    let mut skipped = 0;
    for r in records {
        let slot = r.record().slot();
        // One query per record: what the store holds in the slot.
        let stored = store.current(&slot);
        let held = current.get(&slot).copied().or(stored);
        let key = (r.record().timestamp_ms, r.id());
        if store.contains(&r.id()) || held.is_some_and(|h| h >= key) {
            skipped += 1;
            continue;
        }
        let replaces = stored.map(|(_, id)| id);
        if batch.insert(slot, (r, replaces)).is_some() {
            skipped += 1;
        }
        current.insert(slot, key);
    }
    let batch: Vec<_> = batch.into_values().collect();
    store.insert_batch(&batch).map_err(|e| Failure::from(e.to_string()))?;
    Ok((batch.len(), skipped + future))
}

fn node(store: SqliteStore) -> Result<SyncNode<SqliteStore, AcceptAll>, Failure> {
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    // No identity of its own and no reputation gate: `ipv8 sync` copies every record that
    // verifies. A peer node gates with `TrustGraph` (see docs/sync.md §3.2).
    let policy = Policy { own: PublicKey([0; 32]), threshold: 0.0, max_future_ms: 60_000 };
    Ok(SyncNode::new(Config::new(policy, now_ms()), seed, store, AcceptAll))
}

fn report_json(r: &RoundReport) -> serde_json::Value {
    serde_json::json!({
        "end": format!("{:?}", r.end),
        "reconciliation_bytes": r.reconciliation_bytes,
        "framing_bytes": r.framing_bytes,
        "record_bytes": r.record_bytes,
        "round_trips": r.round_trips(),
        "records_sent": r.records_sent,
        "records_received": r.records_received,
        "records_stored": r.records_stored,
        "estimate": r.estimate,
    })
}

/// `ipv8 sync`: rounds with one peer until one finds nothing to exchange.
pub(crate) fn sync(args: &SyncArgs, stop: &Stop) -> Result<(), Failure> {
    let peer = args
        .peer
        .to_socket_addrs()
        .map_err(|e| Failure::usage(format!("--peer {}: {e}", args.peer)))?
        .next()
        .ok_or_else(|| Failure::usage(format!("--peer {}: no address", args.peer)))?;
    if peer.port() == 0 {
        return Err(Failure::usage(format!("--peer {}: port 0 cannot be sent to", args.peer)));
    }
    let bind = args.bind.unwrap_or_else(|| {
        if peer.is_ipv4() { SocketAddr::from(([0, 0, 0, 0], 0)) } else { SocketAddr::from(([0u16; 8], 0)) }
    });
    let socket = UdpSocket::bind(bind).map_err(|e| Failure::from(format!("binding {bind}: {e}")))?;
    let local = socket.local_addr().map_err(io)?;
    let store = open(&args.db.db)?;
    let before = store.len();
    let (tx, events) = mpsc::channel();
    let running = Running::start(node(store)?, vec![socket], args.runtime, move |e| {
        if let Event::RoundEnded(r) = e {
            let _ = tx.send(r);
        }
    })?;
    let started = std::time::Instant::now();
    let mut totals = RoundReport::default();
    let mut last_end: Option<RoundEnd> = None;
    let mut rounds = 0;
    let mut converged = false;
    let mut interrupted = false;
    while rounds < args.rounds && !converged {
        running
            .call(move |n: &mut SyncNode<SqliteStore, AcceptAll>, now| n.start_round(now, local, peer))?
            .map_err(|e| Failure::from(e.to_string()))?;
        let report = loop {
            if stop.requested() {
                interrupted = true;
                break None;
            }
            if let Ok(r) = events.recv_timeout(Duration::from_millis(100)) {
                break Some(r);
            }
        };
        let Some(r) = report else { break };
        rounds += 1;
        totals.reconciliation_bytes += r.reconciliation_bytes;
        totals.framing_bytes += r.framing_bytes;
        totals.record_bytes += r.record_bytes;
        totals.flights += r.flights;
        totals.records_sent += r.records_sent;
        totals.records_received += r.records_received;
        totals.records_stored += r.records_stored;
        if args.json {
            outln!("{}", serde_json::json!({ "round": rounds, "report": report_json(&r) }));
        } else {
            eprintln!(
                "round {rounds}: {:?}, {} records out, {} in, {} B to reconcile, {}",
                r.end,
                r.records_sent,
                r.records_received,
                r.reconciliation_bytes,
                plural(u64::from(r.round_trips()), "round trip")
            );
        }
        if r.end == RoundEnd::TimedOut {
            let stopped = running.stop()?;
            drop(stopped);
            return Err(Failure::with_code(3, format!("{peer} did not answer")));
        }
        last_end = Some(r.end);
        converged =
            r.end == RoundEnd::Complete && r.covered_permille == 1000 && r.records_sent == 0 && r.records_received == 0;
    }
    // Let the last records reach the peer before the socket closes.
    std::thread::sleep(Duration::from_millis(200));
    let stopped = running.stop()?;
    let after = stopped.machine.store().len();
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        let mut summary = report_json(&totals);
        // The totals are no round of their own: the last round's end says how it finished.
        summary["end"] = last_end.map(|e| format!("{e:?}")).into();
        summary["rounds"] = rounds.into();
        summary["converged"] = converged.into();
        summary["seconds"] = secs.into();
        summary["records_before"] = before.into();
        summary["records_after"] = after.into();
        outln!("{}", serde_json::json!({ "summary": summary }));
    } else {
        outln!(
            "{} in {secs:.2} s{}: {} records sent, {} received ({} stored), {} B to reconcile, {} B of records, {}; store {before} -> {after} records",
            plural(u64::from(rounds), "round"),
            if converged { ", in sync" } else { "" },
            totals.records_sent,
            totals.records_received,
            totals.records_stored,
            totals.reconciliation_bytes,
            totals.record_bytes,
            plural(u64::from(totals.round_trips()), "round trip"),
        );
    }
    if interrupted {
        Err(Failure::interrupted())
    } else if !converged {
        Err(Failure::with_code(6, format!("not in sync with {peer} after {rounds} rounds (raise --rounds)")))
    } else {
        Ok(())
    }
}

/// `ipv8 sync-listen`: answers rounds until interrupted.
pub(crate) fn listen(args: &ListenArgs, stop: &Stop) -> Result<(), Failure> {
    let socket = UdpSocket::bind(args.bind).map_err(|e| Failure::from(format!("binding {}: {e}", args.bind)))?;
    let local = socket.local_addr().map_err(io)?;
    let store = open(&args.db.db)?;
    let before = store.len();
    let (tx, events) = mpsc::channel();
    let running = Running::start(node(store)?, vec![socket], args.runtime, move |e| {
        let _ = tx.send(e);
    })?;
    if args.json {
        outln!("{}", serde_json::json!({ "listening": local, "records": before }));
    } else {
        outln!("sync listening on {local} ({before} records)");
    }
    std::io::stdout().flush().map_err(io)?;
    let started = std::time::Instant::now();
    let limit = args.for_secs.map(Duration::from_secs);
    let (mut stored, mut refused) = (0u64, 0u64);
    let mut last_printed = stored;
    let mut next_tick = started + Duration::from_millis(250);
    let interrupted = loop {
        if stop.requested() {
            break true;
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            break false;
        }
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Stored { .. }) => stored += 1,
            Ok(Event::Refused { .. }) => refused += 1,
            _ => {}
        }
        // Progress: the count of records committed so far, a few times a second while it grows.
        if std::time::Instant::now() >= next_tick {
            next_tick += Duration::from_millis(250);
            if stored != last_printed {
                last_printed = stored;
                if args.json {
                    outln!("{}", serde_json::json!({ "stored": stored, "refused": refused }));
                } else {
                    outln!("stored {stored} records, refused {refused}");
                }
                std::io::stdout().flush().map_err(io)?;
            }
        }
    };
    while let Ok(e) = events.try_recv() {
        match e {
            Event::Stored { .. } => stored += 1,
            Event::Refused { .. } => refused += 1,
            _ => {}
        }
    }
    let mut stopped = running.stop()?;
    // Events the node had not handed over when the loop stopped.
    while let Some(e) = stopped.machine.poll_event() {
        match e {
            Event::Stored { .. } => stored += 1,
            Event::Refused { .. } => refused += 1,
            _ => {}
        }
    }
    let s = stopped.machine.stats();
    let after = stopped.machine.store().len();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "summary": { "seconds": started.elapsed().as_secs_f64(), "stored": stored, "refused": refused, "records_before": before, "records_after": after, "malformed": s.malformed, "bad_cookie": s.bad_cookie, "unvalidated_refused": s.unvalidated_refused } })
        );
    } else {
        outln!(
            "{stored} records stored, {refused} refused; store {before} -> {after}; dropped: {} malformed, {} bad cookie, {} over the unvalidated budget",
            s.malformed,
            s.bad_cookie,
            s.unvalidated_refused
        );
    }
    if interrupted { Err(Failure::interrupted()) } else { Ok(()) }
}
