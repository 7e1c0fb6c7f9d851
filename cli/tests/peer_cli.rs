//! `ipv8 peer`, `ipv8 ctl`, `ipv8 id` and `ipv8 demo` over loopback: two peer processes find
//! each other, exchange a message and a relation record through their control sockets (under
//! both run loops); a peer killed with SIGKILL restarts with its identity and every record;
//! bad files, names and ports give one error line and a non-zero exit; the demo ends with
//! every peer connected.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The tests that run many nodes take turns: on two cores, a debug build of nine nodes and
/// two pairs of peers at once starve each other's timers.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ipv8() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ipv8"))
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipv8-peer-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `ipv8 peer --json`, its stdout lines arriving on a channel.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<Value>,
    dir: PathBuf,
    started: Value,
}

impl Peer {
    fn start(dir: &Path, runtime: &str, extra: &[&str]) -> Self {
        let mut child = ipv8()
            .args(["peer", "--json", "--bind", "127.0.0.1:0", "--runtime", runtime, "--identity"])
            .arg(dir.join("id"))
            .arg("--store")
            .arg(dir.join("store.db"))
            .arg("--control")
            .arg(dir.join("ctl.sock"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = spawn_reader(child.stdout.take().unwrap());
        let started = lines.recv_timeout(Duration::from_secs(20)).expect("a started line");
        assert_eq!(started["event"], "started", "{started}");
        Self { child, lines, dir: dir.to_path_buf(), started }
    }

    fn bound(&self) -> String {
        self.started["bound"].as_str().unwrap().to_string()
    }

    fn id(&self) -> String {
        self.started["peer"].as_str().unwrap().to_string()
    }

    fn ctl(&self, args: &[&str]) -> Value {
        let out = ipv8()
            .arg("ctl")
            .arg("--json")
            .arg("--control")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits for an event line matching `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(v) = self.lines.recv_timeout(Duration::from_millis(200))
                && f(&v)
            {
                return v;
            }
        }
        panic!("no {what} within 30 s");
    }

    /// SIGTERM, then the exit and the stopped line.
    fn terminate(mut self) -> (Option<i32>, Value) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let status = self.child.wait().unwrap();
        let mut last = Value::Null;
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(2)) {
            last = v;
        }
        (status.code(), last)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader(stdout: ChildStdout) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    rx
}

fn relations_in(db: &Path) -> usize {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT COUNT(*) FROM relations", [], |r| r.get::<_, i64>(0)).unwrap() as usize
}

fn two_peers_exchange_a_message_and_a_relation(runtime: &str) {
    let _turn = heavy();
    let (da, db) = (temp(&format!("{runtime}-a")), temp(&format!("{runtime}-b")));
    let a = Peer::start(&da, runtime, &["--name", "alice"]);
    let b = Peer::start(&db, runtime, &["--name", "bob", "--bootstrap", &a.bound()]);
    let (ida, idb) = (a.id(), b.id());
    b.wait_for("connection-free discovery of alice", |v| v["event"] == "discovered" && v["peer"] == ida.as_str());
    a.wait_for("discovery of bob", |v| v["event"] == "discovered" && v["peer"] == idb.as_str());

    // A message by key, through the control socket, named by an 8-digit prefix.
    let sent = b.ctl(&["send", &ida[..8], "hello alice"]);
    assert_eq!(sent["peer"], ida.as_str());
    assert_eq!(sent["delivery"], "held", "no stream yet: the message waits for one");
    let got = a.wait_for("the message", |v| v["event"] == "message");
    assert_eq!((got["peer"].as_str(), got["text"].as_str()), (Some(idb.as_str()), Some("hello alice")));
    let peers = b.ctl(&["peers"]);
    let alice = peers["peers"].as_array().unwrap().iter().find(|p| p["peer"] == ida.as_str()).unwrap().clone();
    assert_eq!(alice["connected"], true);

    // Alice vouches for bob, so bob's records pass her trust gate; bob's relation to alice
    // then reaches her store by sync.
    a.ctl(&["relate", &idb[..8], "social-friend", "2"]);
    b.ctl(&["relate", &ida[..8], "social-friend", "5"]);
    a.wait_for("bob's relation synced", |v| {
        v["event"] == "record" && v["kind"] == "relation" && v["signer"] == idb.as_str() && !v["from"].is_null()
    });
    let trust = a.ctl(&["trust", &idb[..8]]);
    assert!(trust["trust"].as_f64().unwrap() > 0.0, "{trust}");
    let path = a.ctl(&["paths", &idb[..8]]);
    assert_eq!(path["path"][0]["to"], idb.as_str(), "{path}");

    // A line that is not UTF-8 gets an answer, and the connection stays usable.
    {
        use std::io::{BufRead, Write};
        let mut s = std::os::unix::net::UnixStream::connect(da.join("ctl.sock")).unwrap();
        s.write_all(b"\xff\xfe\n{\"cmd\":\"id\"}\n").unwrap();
        let mut lines = BufReader::new(s).lines();
        let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!((first["ok"].as_bool(), first["error"].as_str()), (Some(false), Some("not UTF-8 text")));
        let second: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(second["peer"], ida.as_str(), "{second}");
    }

    let (code, stopped) = a.terminate();
    assert_eq!(code, Some(130), "SIGTERM ends with the interrupted code");
    assert_eq!(stopped["event"], "stopped", "counters are printed on SIGTERM: {stopped}");
    assert!(stopped["counters"]["peers_connected"].as_u64().unwrap() >= 1);
    // The store on disk holds both relations, readable by any SQLite client.
    assert_eq!(relations_in(&da.join("store.db")), 2);
    assert!(!da.join("ctl.sock").exists(), "the control socket is removed on exit");
}

#[test]
fn two_peers_exchange_a_message_and_a_relation_on_the_std_loop() {
    two_peers_exchange_a_message_and_a_relation("std");
}

#[test]
fn two_peers_exchange_a_message_and_a_relation_on_the_tokio_loop() {
    two_peers_exchange_a_message_and_a_relation("tokio");
}

#[test]
fn a_peer_killed_with_sigkill_restarts_with_its_identity_and_records() {
    let (da, db) = (temp("kill-a"), temp("kill-b"));
    let a = Peer::start(&da, "std", &[]);
    let b = Peer::start(&db, "std", &["--bootstrap", &a.bound()]);
    let (ida, idb) = (a.id(), b.id());
    a.wait_for("discovery of bob", |v| v["event"] == "discovered" && v["peer"] == idb.as_str());
    a.ctl(&["relate", &idb[..8], "social-friend", "1"]);
    b.ctl(&["relate", &ida[..8], "social-friend", "1"]);
    a.wait_for("bob's relation", |v| v["event"] == "record" && v["kind"] == "relation" && v["signer"] == idb.as_str());
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    drop(a);
    // Its own Peer record, its relation and bob's Peer record and relation at least.
    let committed = relations_in(&da.join("store.db"));
    assert_eq!(committed, 2);
    let out = ipv8().arg("id").arg("--json").arg("--identity").arg(da.join("id")).output().unwrap();
    let id: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(id["peer"], ida.as_str(), "ipv8 id names the same peer");

    let again = Peer::start(&da, "std", &["--bootstrap", &b.bound()]);
    assert_eq!(again.id(), ida, "same identity after a restart");
    // Its relations are back in its trust graph at once: bob, vouched for, is trusted.
    let trust = again.ctl(&["trust", &idb[..8]]);
    assert!(trust["trust"].as_f64().unwrap() > 0.0, "{trust}");
    assert!(again.started["records"].as_u64().unwrap() >= 4, "{}", again.started);
    assert_eq!(relations_in(&da.join("store.db")), committed);
    again.wait_for("rejoining bob", |v| v["event"] == "discovered" && v["peer"] == idb.as_str());
}

/// A peer whose stdout reader went away stops as a signal would stop it: exit 141 without
/// a word, its control socket removed, its store closed (it opens again at once).
#[test]
fn a_peer_whose_output_is_gone_stops_cleanly_and_quietly() {
    let dir = temp("gone");
    let mut child = ipv8()
        .args(["peer", "--json", "--bind", "127.0.0.1:0", "--identity"])
        .arg(dir.join("id"))
        .arg("--store")
        .arg(dir.join("store.db"))
        .arg("--control")
        .arg(dir.join("ctl.sock"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("\"started\""), "{first}");
    assert!(dir.join("ctl.sock").exists());
    // The reader is dropped: the next line (the stop summary) meets a closed pipe.
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(out.stderr.is_empty(), "quiet: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.join("ctl.sock").exists(), "the control socket is removed");
    assert!(peer_once(&dir, &[]).status.success(), "it starts again on the same files");
}

fn one_error_line(out: &Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("ipv8: ") && stderr.contains(expect), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

fn peer_once(dir: &Path, extra: &[&str]) -> Output {
    peer_once_at(dir, "127.0.0.1:0", extra)
}

/// `ipv8 peer` for one second bound to `bind`, its files in `dir`.
fn peer_once_at(dir: &Path, bind: &str, extra: &[&str]) -> Output {
    ipv8()
        .args(["peer", "--for-secs", "1", "--bind", bind, "--identity"])
        .arg(dir.join("id"))
        .arg("--store")
        .arg(dir.join("store.db"))
        .arg("--control")
        .arg(dir.join("ctl.sock"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_peer_given_a_stun_server_measures_its_binding_lifetime_and_keeps_alive_by_it() {
    let _turn = heavy();
    let (da, db) = (temp("stun-a"), temp("stun-b"));
    // Any peer answers STUN on its one socket (RESPONSE-PORT included), so it is the server.
    let a = Peer::start(&da, "std", &[]);
    let b = Peer::start(&db, "std", &["--bootstrap", &a.bound(), "--stun", &a.bound(), "--stun-max-lifetime", "2"]);
    // Discovery and the check run side by side: watch for both, in either order.
    let (discovered, nat) = (std::cell::Cell::new(false), std::cell::RefCell::new(Value::Null));
    b.wait_for("discovery of a and the NAT check's result", |v| {
        discovered.set(discovered.get() || (v["event"] == "discovered" && v["peer"] == a.id().as_str()));
        if v["event"] == "nat_classified" {
            *nat.borrow_mut() = v.clone();
        }
        discovered.get() && !nat.borrow().is_null()
    });
    let nat = nat.into_inner();
    // Loopback has no NAT: the probe binding survives the longest idle wait looked for (2 s
    // here), and the keep-alive is 80 % of it, but never under the 5 s floor. A one-address
    // server cannot type the NAT.
    assert_eq!(nat["nat_type"], "Unknown", "{nat}");
    assert!(nat["public"].as_str().unwrap().starts_with("127.0.0.1:"), "{nat}");
    assert_eq!((nat["lifetime_secs"].as_u64(), nat["lifetime_at_least"].as_bool()), (Some(2), Some(true)), "{nat}");
    assert_eq!(nat["keepalive_secs"].as_f64(), Some(5.0), "{nat}");
}

#[test]
fn bad_files_names_and_ports_each_give_one_error_line() {
    use std::os::unix::fs::PermissionsExt;
    // An identity file others can read.
    let dir = temp("errors-mode");
    assert!(peer_once(&dir, &[]).status.success(), "a first start creates the identity");
    std::fs::set_permissions(dir.join("id"), std::fs::Permissions::from_mode(0o644)).unwrap();
    one_error_line(&peer_once(&dir, &[]), "readable by others");
    // An identity file that is not one.
    let dir = temp("errors-garbage");
    std::fs::write(dir.join("id"), "hello\n").unwrap();
    std::fs::set_permissions(dir.join("id"), std::fs::Permissions::from_mode(0o600)).unwrap();
    one_error_line(&peer_once(&dir, &[]), "not an ipv8 identity file");
    // An identity path that is a directory.
    let dir = temp("errors-dir");
    std::fs::create_dir_all(dir.join("id")).unwrap();
    one_error_line(&peer_once(&dir, &[]), "not a regular file");
    // A config file with a syntax error: where it is, as file:line:column (bad usage, exit 2).
    let dir = temp("errors-toml");
    std::fs::write(dir.join("peer.toml"), "bind = \"127.0.0.1:0\"\nname\n").unwrap();
    let out = peer_once(&dir, &["--config", dir.join("peer.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("peer.toml:2:5: "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A bad value in the config file is named by its key and file, not by a flag the user
    // never typed.
    let dir = temp("errors-toml-value");
    std::fs::write(dir.join("peer.toml"), "trust_threshold = -1.0\n").unwrap();
    let out = peer_once(&dir, &["--config", dir.join("peer.toml").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trust_threshold in ") && stderr.contains("peer.toml") && !stderr.contains("--"),
        "{stderr}"
    );
    // An empty path in the config file is a mistake, not "no file".
    let dir = temp("errors-toml-empty");
    std::fs::write(dir.join("peer.toml"), "store = \"\"\n").unwrap();
    let out = peer_once(&dir, &["--config", dir.join("peer.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("store in "), "{out:?}");
    // A bootstrap address of the other family is bad usage.
    let dir = temp("errors-family");
    let out = peer_once_at(&dir, "[::1]:0", &["--bootstrap", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // ctl checks a peer id's form and a relation type before it asks the peer.
    let out =
        ipv8().args(["ctl", "--control"]).arg(dir.join("nobody.sock")).args(["send", "8dd", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ipv8()
        .args(["ctl", "--control"])
        .arg(dir.join("nobody.sock"))
        .args(["relate", "8dd0", "bogus", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // Another application's SQLite database is refused and left as it was.
    let dir = temp("errors-foreign-db");
    rusqlite::Connection::open(dir.join("store.db"))
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me');")
        .unwrap();
    let before = std::fs::read(dir.join("store.db")).unwrap();
    one_error_line(&peer_once(&dir, &[]), "not an ipv8 record store");
    assert_eq!(std::fs::read(dir.join("store.db")).unwrap(), before);
    // A bootstrap address with port 0 is bad usage.
    let dir = temp("errors-port0");
    assert_eq!(peer_once(&dir, &["--bootstrap", "127.0.0.1:0"]).status.code(), Some(2));
    // A corrupt database.
    let dir = temp("errors-db");
    std::fs::write(dir.join("store.db"), vec![0x5a; 8192]).unwrap();
    one_error_line(&peer_once(&dir, &[]), "store.db");
    // A name longer than a Peer record's metadata is bad usage (exit 2).
    let dir = temp("errors-name");
    let out = peer_once(&dir, &["--name", &"x".repeat(sync_core::MAX_METADATA_LEN + 1)]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // A control path that is a regular file is refused, and the file left alone.
    let dir = temp("errors-control");
    std::fs::write(dir.join("ctl.sock"), "precious").unwrap();
    one_error_line(&peer_once(&dir, &[]), "not a socket");
    assert_eq!(std::fs::read_to_string(dir.join("ctl.sock")).unwrap(), "precious");
    // A bootstrap name that does not resolve.
    let dir = temp("errors-boot");
    one_error_line(&peer_once(&dir, &["--bootstrap", "no-such-host.invalid:6421"]), "bootstrap address");
    let dir = temp("errors-stun");
    one_error_line(&peer_once(&dir, &["--stun", "no-such-host.invalid:3478"]), "STUN server address");
    // A port in use.
    let dir = temp("errors-port");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    one_error_line(&peer_once_at(&dir, &port, &[]), "in use");
    // ctl with nobody listening.
    let out = ipv8().args(["ctl", "--control"]).arg(dir.join("nobody.sock")).arg("peers").output().unwrap();
    one_error_line(&out, "is `ipv8 peer` running?");
}

#[test]
fn the_demo_ends_with_every_peer_connected() {
    let _turn = heavy();
    let out = ipv8().args(["demo", "--json", "--seconds", "20", "--peers", "6"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["all_connected"], true, "{summary}");
    let peers = summary["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 6);
    for p in peers {
        assert_eq!(p["connected"], 5, "{p}");
        assert!(p["messages_in"].as_u64().unwrap() > 0, "{p}");
    }
}
