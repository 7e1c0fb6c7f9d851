//! `ipv8 peer`: one long-running overlay node on a real UDP socket, with an identity file, a
//! SQLite record store and a control socket; and `ipv8 id`.

use crate::MAX_SECS;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use drivers::sqlite::SqliteStore;
use ipv8::record_file::{identity_from_text, identity_to_text};
use overlay_core::wire::Community;
use overlay_core::{Config, Event, NatProbe, Node};
use serde::Deserialize;
use serde_json::{Value, json};
use sync_core::Identity;

use crate::control::{self, Shared};
use crate::overlay_text::{COMMUNITY, event_json, event_line, mid_hex};
use crate::run::{Running, Runtime};
use crate::{Failure, Stop};

/// `ipv8 peer`.
#[derive(Debug, Args)]
pub(crate) struct PeerArgs {
    /// A TOML file with any of the options below (`bind = "0.0.0.0:6421"`,
    /// `bootstrap = ["203.0.113.1:6421"]`, `identity`, `store`, `control`, `name`,
    /// `serve_stun`, `stun`, `stun_max_lifetime`, `trust_threshold`, `opener_ttl`, `community`); options given on the
    /// command line win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The identity file (created with mode 0600 on first start). Default: ipv8-identity.
    #[arg(long)]
    identity: Option<PathBuf>,
    /// The SQLite record store (created if missing). Default: ipv8.db.
    #[arg(long)]
    store: Option<PathBuf>,
    /// Local address IP:PORT (port 0: any free port, printed once bound). Default:
    /// 0.0.0.0:6421.
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Peers to start from, HOST:PORT (repeat the option for more).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// The control socket `ipv8 ctl` talks to. Default: ipv8.sock.
    #[arg(long)]
    control: Option<PathBuf>,
    /// A nickname, published in this peer's signed Peer record (at most 512 bytes).
    #[arg(long)]
    name: Option<String>,
    /// The community to serve, 40 hex digits (default: this program's own,
    /// `697076382d727320636f6d6d756e697479207631`, "ipv8-rs community v1"). Use a py-ipv8
    /// community's id to join its peers.
    #[arg(long)]
    community: Option<String>,
    /// Do not answer STUN Binding requests (peers answer them by default).
    #[arg(long)]
    no_serve_stun: bool,
    /// A STUN server, HOST:PORT, to classify this peer's NAT and measure how long it keeps
    /// an idle binding (any public `ipv8 peer` is one; an RFC 5780 server with two
    /// addresses also types the NAT). Keep-alives then follow the measured lifetime. Two
    /// more UDP sockets are bound for it, on the --bind IP at free ports.
    #[arg(long)]
    stun: Option<String>,
    /// The longest binding lifetime --stun looks for, in seconds (default 600). Each probe
    /// waits out the idle time it tests, so the search takes a few times this long.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400), requires = "stun")]
    stun_max_lifetime: Option<u64>,
    /// Least trust a signer needs for its records to be stored (0: store every valid one).
    #[arg(long)]
    trust_threshold: Option<f64>,
    /// The TTL of the first packet towards a peer whose NAT may not be open yet: it must
    /// leave your own NATs and die before the peer's (3 suits most homes; a lab with one
    /// router between two NATs needs 2).
    #[arg(long)]
    opener_ttl: Option<u8>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    for_secs: Option<u64>,
    /// Print events as JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// The same options, from a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    identity: Option<PathBuf>,
    store: Option<PathBuf>,
    bind: Option<SocketAddr>,
    #[serde(default)]
    bootstrap: Vec<String>,
    control: Option<PathBuf>,
    name: Option<String>,
    serve_stun: Option<bool>,
    stun: Option<String>,
    stun_max_lifetime: Option<u64>,
    trust_threshold: Option<f64>,
    opener_ttl: Option<u8>,
    community: Option<String>,
}

/// The longest identity file read (one is under 200 bytes).
pub(crate) const MAX_IDENTITY_FILE: usize = 4096;
/// The longest config file read.
const MAX_CONFIG_FILE: usize = 1 << 20;

impl PeerFile {
    /// An empty path or address in the file is a mistake, not a default: `store = ""` would
    /// otherwise open a temporary database that vanishes with the process.
    fn check_not_empty(&self, path: &Path) -> Result<(), Failure> {
        let paths = [("identity", &self.identity), ("store", &self.store), ("control", &self.control)];
        let empty_path = paths.iter().find(|(_, p)| p.as_ref().is_some_and(|p| p.as_os_str().is_empty()));
        let empty_address = (self.bootstrap.iter().any(String::is_empty).then_some("bootstrap"))
            .or_else(|| self.stun.as_ref().is_some_and(String::is_empty).then_some("stun"));
        match (empty_path.map(|(key, _)| *key), empty_address) {
            (Some(key), _) | (None, Some(key)) => Err(Failure::usage(format!("{key} in {} is empty", path.display()))),
            (None, None) => Ok(()),
        }
    }
}

/// `ipv8 id`.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// The identity file.
    #[arg(long, default_value = "ipv8-identity")]
    identity: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also write the identity as a py-ipv8 private key file (`LibNaCLSK:`, 74 bytes, mode
    /// 0600) that py-ipv8 3.2 loads with the same peer id.
    #[arg(long)]
    export_pyipv8: Option<PathBuf>,
}

/// Reads an identity file, refusing one that others can read.
pub(crate) fn read_private_identity(path: &Path) -> Result<Identity, Failure> {
    let meta = std::fs::metadata(path).map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Failure::from(format!("{}: not a regular file (an identity file is expected)", path.display())));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Failure::from(format!(
            "{}: the identity file is readable by others (mode {mode:o}); run chmod 600 on it",
            path.display()
        )));
    }
    let text = crate::bounded::read_text(path, MAX_IDENTITY_FILE, "an ipv8 identity file")?;
    identity_from_text(&text).map_err(|e| Failure::from(format!("{}: {e}", path.display())))
}

/// The identity in `path`, made (mode 0600) if the file does not exist.
fn load_or_create_identity(path: &Path) -> Result<(Identity, bool), Failure> {
    if path.exists() {
        return Ok((read_private_identity(path)?, false));
    }
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let mut secret = [0u8; 32];
    sansio_core::SeededRng::from_seed(seed).fill_bytes(&mut secret);
    let id = Identity::from_seed(secret).map_err(|e| Failure::from(e.to_string()))?;
    write_secret_file(path, identity_to_text(&id).as_bytes(), false)
        .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    Ok((id, true))
}

/// Writes a secret to `path`, readable by its owner alone (0600), synced to disk. Without
/// `replace` the file must not exist, and a half-written one is removed (worse than none).
/// With it, only a regular file is replaced (never a link or a device: `--force` as root must
/// not rewrite what a link points to), by renaming a new file written beside it, so a crash
/// leaves the old secret or the new one, never half of one.
pub(crate) fn write_secret_file(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    let write_new = |target: &Path| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(target)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if written.is_err() {
            let _ = std::fs::remove_file(target);
        }
        written
    };
    if !replace {
        return write_new(path);
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(Error::new(ErrorKind::InvalidInput, "not a regular file (only a regular file is replaced)"));
        }
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let name = path.file_name().ok_or_else(|| Error::new(ErrorKind::InvalidInput, "not a file name"))?;
    let mut temporary = name.to_os_string();
    temporary.push(format!(".{}.new", std::process::id()));
    let temporary = path.with_file_name(temporary);
    write_new(&temporary).and_then(|()| std::fs::rename(&temporary, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

pub(crate) fn id(args: &IdArgs) -> Result<(), Failure> {
    let id = read_private_identity(&args.identity)?;
    if let Some(path) = &args.export_pyipv8 {
        write_secret_file(path, &overlay_core::pyipv8_secret(&id.seed()), false)
            .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    }
    let key = overlay_core::PeerKey::from_ed25519(&id.public()).ok_or("the identity's key is not a valid point")?;
    let mid = mid_hex(&key.mid());
    if args.json {
        outln!("{}", json!({ "peer": mid, "public_key": hex::encode(id.public().0) }));
    } else {
        outln!("{mid}");
    }
    Ok(())
}

/// Resolves `HOST:PORT` strings to addresses of `family_v4`'s family.
pub(crate) fn resolve(what: &str, addrs: &[String], v4: bool) -> Result<Vec<SocketAddr>, Failure> {
    let mut out = Vec::new();
    for a in addrs {
        let found: Vec<SocketAddr> = a
            .to_socket_addrs()
            .map_err(|e| Failure::from(format!("{what} address {a}: {e}")))?
            .filter(|s| s.is_ipv4() == v4)
            .collect();
        // A name with no address of the socket's family is bad usage (an IPv4 bootstrap for a
        // peer bound to IPv6), not a failure of the moment.
        let first = found.first().ok_or_else(|| {
            let family = if v4 { "IPv4" } else { "IPv6" };
            Failure::usage(format!("{what} address {a}: no {family} address for a socket bound to {family}"))
        })?;
        if first.port() == 0 {
            return Err(Failure::usage(format!("{what} address {a}: port 0 cannot be sent to")));
        }
        out.push(*first);
    }
    Ok(out)
}

/// The address this host's other peers see on its LAN, for a socket bound to a wildcard:
/// the source address the kernel picks towards a public address (no packet is sent).
fn lan_address(bound: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let probe = if bound.is_ipv4() { "192.0.2.1:9" } else { "[2001:db8::1]:9" };
    let any = if bound.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    UdpSocket::bind(any)
        .and_then(|s| s.connect(probe).and_then(|()| s.local_addr()))
        .map(|a| SocketAddr::new(a.ip(), bound.port()))
        .unwrap_or(bound)
}

/// Events waiting for the main thread, at most.
const EVENT_QUEUE: usize = 4096;

/// Prints one line on stdout. If stdout is gone (`ipv8 peer | head -1`), exits quietly with
/// 141, as a program killed by SIGPIPE would; if it cannot be written (a full disk), says so
/// in one line and exits 1. A command with something to clean up first uses [`tell`].
pub(crate) fn say(line: &dyn std::fmt::Display) {
    if let Err(f) = tell(line) {
        if !f.message.is_empty() {
            eprintln!("ipv8: {}", f.message);
        }
        std::process::exit(i32::from(f.code));
    }
}

/// Prints one line on stdout, or returns the failure [`say`] would exit with: 141 and no
/// message if stdout is gone, 1 and why otherwise.
pub(crate) fn tell(line: &dyn std::fmt::Display) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::with_code(141, "")),
        Err(e) => Err(Failure::from(format!("writing the output: {e}"))),
    }
}

pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Removes the control socket when the peer stops.
struct SocketFile(PathBuf);
impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds the control socket, mode 0600; a stale socket (nobody listening) is replaced, but
/// never a file that is not a socket (a mistyped `--control ipv8.db` must not eat the store).
fn bind_control(path: &Path) -> Result<UnixListener, Failure> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(Failure::from(format!(
                "{}: exists and is not a socket; choose another --control",
                path.display()
            )));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(Failure::from(format!("{}: another peer is running on this control socket", path.display())));
        }
        std::fs::remove_file(path).map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
    Ok(listener)
}

pub(crate) fn run(args: PeerArgs, stop: &Stop) -> Result<(), Failure> {
    let file = match &args.config {
        Some(path) => {
            let text = crate::bounded::read_text(path, MAX_CONFIG_FILE, "a config file")?;
            toml::from_str::<PeerFile>(&text).map_err(|e| {
                // `file:line:column: message`, as compilers say it.
                let at = e.span().map_or(String::new(), |span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("{line}:{column}: ")
                });
                Failure::usage(format!("{}:{at}{}", path.display(), e.message().trim_end()))
            })?
        }
        None => PeerFile::default(),
    };
    if let Some(path) = &args.config {
        file.check_not_empty(path)?;
    }
    let identity_path = args.identity.or(file.identity).unwrap_or_else(|| "ipv8-identity".into());
    let store_path = args.store.or(file.store).unwrap_or_else(|| "ipv8.db".into());
    let control_path = args.control.or(file.control).unwrap_or_else(|| "ipv8.sock".into());
    let bind = args
        .bind
        .or(file.bind)
        .unwrap_or_else(|| "0.0.0.0:6421".parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 6421))));
    let bootstrap = if args.bootstrap.is_empty() { file.bootstrap } else { args.bootstrap };
    // An error names the option as the user wrote it: a flag, or a key of the config file.
    let config_path = args.config.as_deref();
    let option = |flag: &str, from_flag: bool| match config_path {
        Some(path) if !from_flag => format!("{} in {}", flag.replace('-', "_"), path.display()),
        _ => format!("--{flag}"),
    };
    let name_option = option("name", args.name.is_some());
    let name = args.name.or(file.name).unwrap_or_default();
    if name.len() > sync_core::MAX_METADATA_LEN {
        return Err(Failure::usage(format!(
            "{name_option} is {} bytes; at most {}",
            name.len(),
            sync_core::MAX_METADATA_LEN
        )));
    }
    let serve_stun = !args.no_serve_stun && file.serve_stun.unwrap_or(true);
    let stun_option = option("stun", args.stun.is_some());
    let stun = args.stun.or(file.stun);
    let lifetime_option = option("stun-max-lifetime", args.stun_max_lifetime.is_some());
    let stun_max_lifetime = args.stun_max_lifetime.or(file.stun_max_lifetime);
    if stun_max_lifetime.is_some_and(|s| !(1..=86_400).contains(&s)) {
        return Err(Failure::usage(format!("{lifetime_option} must be 1 to 86400 seconds")));
    }
    let threshold_option = option("trust-threshold", args.trust_threshold.is_some());
    let threshold = args.trust_threshold.or(file.trust_threshold);
    if threshold.is_some_and(|t| !t.is_finite() || t < 0.0) {
        return Err(Failure::usage(format!("{threshold_option} must be a finite number of at least 0")));
    }
    let ttl_option = option("opener-ttl", args.opener_ttl.is_some());
    let opener_ttl = args.opener_ttl.or(file.opener_ttl);
    let community_option = option("community", args.community.is_some());
    let community = match args.community.or(file.community) {
        Some(h) => {
            let bytes = hex::decode(&h).ok().and_then(|b| <[u8; 20]>::try_from(b).ok());
            bytes.ok_or_else(|| Failure::usage(format!("{community_option} {h:?} is not 40 hex digits")))?
        }
        None => COMMUNITY,
    };
    if opener_ttl == Some(0) {
        return Err(Failure::usage(format!("{ttl_option} must be at least 1")));
    }

    // Addresses, sockets and the control socket first, the identity and the store last: a
    // peer that cannot start creates neither.
    let boot = resolve("bootstrap", &bootstrap, bind.is_ipv4())?;
    let stun = match &stun {
        Some(a) => Some(resolve("STUN server", std::slice::from_ref(a), bind.is_ipv4())?[0]),
        None => None,
    };
    let socket = UdpSocket::bind(bind).map_err(|e| Failure::from(format!("binding {bind}: {e}")))?;
    let bound = socket.local_addr().map_err(|e| Failure::from(e.to_string()))?;
    let mut sockets = vec![socket];
    let mut probe = None;
    if let Some(server) = stun {
        let lan = lan_address(bound).ip();
        if lan.is_unspecified() {
            return Err(Failure::from(format!(
                "{stun_option}: no route to tell this host's address from {bound}; bind a concrete address with --bind"
            )));
        }
        let mut at = [bound; 2];
        for slot in &mut at {
            let any = SocketAddr::new(bound.ip(), 0);
            let s =
                UdpSocket::bind(any).map_err(|e| Failure::from(format!("binding a NAT probe socket on {any}: {e}")))?;
            let port = s.local_addr().map_err(|e| Failure::from(e.to_string()))?.port();
            *slot = SocketAddr::new(lan, port);
            sockets.push(s);
        }
        let mut p = NatProbe::new(server, at);
        if let Some(secs) = stun_max_lifetime {
            p.max_lifetime = std::time::Duration::from_secs(secs);
        }
        probe = Some(p);
    }
    let listener = bind_control(&control_path)?;
    let _socket_file = SocketFile(control_path.clone());
    let (identity, created) = load_or_create_identity(&identity_path)?;
    let store = SqliteStore::open(&store_path).map_err(|e| Failure::from(format!("{}: {e}", store_path.display())))?;

    let mut config = Config::new(Community(community), lan_address(bound), boot);
    config.name = name.into_bytes();
    config.serve_stun = serve_stun;
    config.nat_probe = probe;
    config.unix_ms_at_origin = unix_ms_now();
    if let Some(t) = threshold {
        config.trust_threshold = t;
    }
    if let Some(ttl) = opener_ttl {
        config.opener_ttl = ttl;
    }
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let node = Node::with_store(config, identity.seed(), seed, store).map_err(|e| Failure::from(e.to_string()))?;
    let mid = node.mid();
    let records = sync_core::Store::len(node.records());

    // Bounded: if this thread cannot keep up (stdout blocked), events are dropped and
    // counted, and the node's loop never waits for it.
    let (tx, events) = mpsc::sync_channel::<Event>(EVENT_QUEUE);
    let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dropped_in_sink = Arc::clone(&dropped);
    let running = Running::start(node, sockets, args.runtime, move |e| {
        if tx.try_send(e).is_err() {
            dropped_in_sink.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    })?;
    let shared: Shared<SqliteStore> = Arc::new(control::Control::new(running));
    let subscribers: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
    control::serve(listener, Arc::clone(&shared), Arc::clone(&subscribers));

    // Output that cannot be written stops the peer as a signal would (the node stopped, the
    // store closed, the control socket removed) and then exits as `say` would.
    let mut failed = if args.json {
        tell(&json!({
            "event": "started", "peer": mid_hex(&mid), "bound": bound, "control": control_path,
            "identity_created": created, "records": records,
        }))
    } else {
        tell(&format!("peer {} listening on {bound}", mid_hex(&mid))).and_then(|()| {
            tell(&format!(
                "identity {} ({}), store {} ({records} records), control socket {}",
                identity_path.display(),
                if created { "created" } else { "loaded" },
                store_path.display(),
                control_path.display()
            ))
        })
    }
    .err();

    let deadline = args.for_secs.map(|s| std::time::Instant::now() + Duration::from_secs(s));
    while failed.is_none() {
        if stop.requested() || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            break;
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => {
                let told = if args.json {
                    event_json(&e).map_or(Ok(()), |v| tell(&v))
                } else {
                    event_line(&e).map_or(Ok(()), |line| tell(&line))
                };
                failed = told.err();
                if let Some(v) = event_json(&e) {
                    control::publish(&subscribers, &v);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the node's run loop stopped".into()),
        }
    }
    let mut summary = shared.stop()?;
    summary["events_dropped"] = json!(dropped.load(std::sync::atomic::Ordering::Relaxed));
    if let Some(f) = failed {
        return Err(f);
    }
    if args.json {
        tell(&json!({ "event": "stopped", "counters": summary }))?;
    } else {
        tell(&format!("stopped; counters: {summary}"))?;
    }
    if stop.requested() { Err(Failure::interrupted()) } else { Ok(()) }
}

/// The counters of a node, for the stop summary and `ipv8 ctl stats`.
pub(crate) fn counters<S: sync_core::Store>(node: &Node<S>) -> Value {
    let s = node.stats();
    let t = node.transport_stats();
    let y = node.sync_stats();
    json!({
        "peers_known": node.peers().count(),
        "peers_connected": node.connected().count(),
        "records": node.records().len(),
        "not_ours": s.not_ours,
        "malformed": s.malformed,
        "stray_responses": s.stray_responses,
        "punctures_refused": s.punctures_refused,
        "punches_failed": s.punches_failed,
        "punches_held_back": s.punches_held_back,
        "relayed_sent": s.relayed_sent,
        "relayed_received": s.relayed_received,
        "bad_hellos": s.bad_hellos,
        "bad_stream_data": s.bad_stream_data,
        "streams_opened": t.opened,
        "streams_closed": t.closed,
        "p2tp_bad_cookie": t.bad_cookie,
        "records_stored": y.records_stored,
        "records_refused": y.records_refused,
        "sync_malformed": y.malformed,
        "stun_answered": node.stun_stats().map_or(0, |s| s.answered),
    })
}
