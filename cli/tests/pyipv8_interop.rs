//! A mixed network on loopback: three py-ipv8 3.2 peers (`tests/pyipv8/peer.py`, bootstrapped
//! only from one another) and two `ipv8 peer`s (one per run loop) told only the first py-ipv8
//! peer's address. Within 30 s every peer, of either kind, lists every other as a verified
//! peer: py-ipv8 peers that were never told our addresses learned them by introduction.
//!
//! Needs a Python with `pyipv8==3.2.1`, named by `IPV8_PYIPV8_PYTHON`: `#[ignore]`d, run by
//! `.ci/run`, which builds that environment and fails if it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const COMMUNITY: &str = "697076382d727320636f6d6d756e697479207631";

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut cmd: Command) -> Proc {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                return;
            }
        }
    });
    Proc { child, lines }
}

fn py_peer(python: &str, port: u16, walk_to: Option<u16>) -> Proc {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyipv8/peer.py");
    let mut cmd = Command::new(python);
    cmd.args([script, "--port", &port.to_string(), "--community", COMMUNITY, "--seconds", "40"]);
    if let Some(p) = walk_to {
        cmd.args(["--walk-to", &format!("127.0.0.1:{p}")]);
    }
    spawn(cmd)
}

fn our_peer(dir: &PathBuf, runtime: &str, bootstrap: u16) -> (Proc, String, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipv8"));
    cmd.args(["peer", "--json", "--bind", "127.0.0.1:0", "--runtime", runtime, "--for-secs", "40", "--bootstrap"])
        .arg(format!("127.0.0.1:{bootstrap}"))
        .arg("--identity")
        .arg(dir.join("id"))
        .arg("--store")
        .arg(dir.join("store.db"))
        .arg("--control")
        .arg(dir.join("ctl.sock"));
    let p = spawn(cmd);
    let started = p.lines.recv_timeout(Duration::from_secs(20)).expect("started");
    let id = started["peer"].as_str().unwrap().to_string();
    (p, id, dir.join("ctl.sock"))
}

fn our_peers(control: &PathBuf) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ipv8"))
        .args(["ctl", "--json", "--control"])
        .arg(control)
        .arg("peers")
        .output();
    let Ok(out) = out else { return BTreeSet::new() };
    let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) else { return BTreeSet::new() };
    v["peers"].as_array().into_iter().flatten().filter_map(|p| p["peer"].as_str().map(String::from)).collect()
}

#[test]
#[ignore = "needs pyipv8 3.2.1 (IPV8_PYIPV8_PYTHON); run by .ci/run"]
fn py_ipv8_peers_and_ours_all_find_each_other() {
    let python = std::env::var("IPV8_PYIPV8_PYTHON").expect("IPV8_PYIPV8_PYTHON names a Python with pyipv8 3.2.1");
    let base = std::env::temp_dir().join(format!("ipv8-pyipv8-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let a = free_port();
    let pa = py_peer(&python, a, None);
    std::thread::sleep(Duration::from_millis(1500));
    let pb = py_peer(&python, free_port(), Some(a));
    let pc = py_peer(&python, free_port(), Some(a));
    let (r1, id1, c1) = our_peer(&base.join("r1"), "std", a);
    let (r2, id2, c2) = our_peer(&base.join("r2"), "tokio", a);

    let started = Instant::now();
    let mut py_views: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut done = false;
    while started.elapsed() < Duration::from_secs(30) && !done {
        std::thread::sleep(Duration::from_millis(500));
        for p in [&pa, &pb, &pc] {
            while let Ok(v) = p.lines.try_recv() {
                let mid = v["mid"].as_str().unwrap().to_string();
                let peers = v["peers"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
                py_views.insert(mid, peers);
            }
        }
        if py_views.len() < 3 {
            continue;
        }
        let mut everyone: BTreeSet<String> = py_views.keys().cloned().collect();
        everyone.insert(id1.clone());
        everyone.insert(id2.clone());
        let mut views = py_views.clone();
        views.insert(id1.clone(), our_peers(&c1));
        views.insert(id2.clone(), our_peers(&c2));
        done = views.iter().all(|(me, seen)| everyone.iter().filter(|m| *m != me).all(|m| seen.contains(m)));
        if done {
            eprintln!("all five know each other after {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    let views: Vec<(String, usize)> = py_views.iter().map(|(m, s)| (m[..8].to_string(), s.len())).collect();
    assert!(done, "py-ipv8 views {views:?}; ours: {} and {}", our_peers(&c1).len(), our_peers(&c2).len());
    drop((r1, r2, pa, pb, pc));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
#[ignore = "needs pyipv8 3.2.1 (IPV8_PYIPV8_PYTHON); run by .ci/run"]
fn one_identity_in_both_worlds() {
    let python = std::env::var("IPV8_PYIPV8_PYTHON").expect("IPV8_PYIPV8_PYTHON names a Python with pyipv8 3.2.1");
    let dir = std::env::temp_dir().join(format!("ipv8-pykey-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ipv8 = || Command::new(env!("CARGO_BIN_EXE_ipv8"));
    let ok = |c: &mut Command| {
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    ok(ipv8().args(["keygen", "--out"]).arg(dir.join("id")));
    let ours = ok(ipv8().args(["id", "--identity"]).arg(dir.join("id")).arg("--export-pyipv8").arg(dir.join("id.pem")));
    // py-ipv8 loads the exported key, names the same member id, and writes it back.
    let script = "import hashlib, sys\nfrom ipv8.keyvault.crypto import default_eccrypto\n\
                  k = default_eccrypto.key_from_private_bin(open(sys.argv[1], 'rb').read())\n\
                  open(sys.argv[2], 'wb').write(k.key_to_bin())\n\
                  print(hashlib.sha1(k.pub().key_to_bin()).hexdigest())\n\
                  open(sys.argv[3], 'wb').write(default_eccrypto.generate_key('curve25519').key_to_bin())";
    let theirs = ok(Command::new(&python)
        .args(["-c", script])
        .arg(dir.join("id.pem"))
        .arg(dir.join("back.pem"))
        .arg(dir.join("stock.pem")));
    assert_eq!(theirs, ours, "the same member id in py-ipv8");
    ok(ipv8().args(["keygen", "--from-pyipv8"]).arg(dir.join("back.pem")).arg("--out").arg(dir.join("back.id")));
    assert_eq!(ok(ipv8().args(["id", "--identity"]).arg(dir.join("back.id"))), ours, "and back");
    // A stock py-ipv8 key (independent X25519 half) is refused with a reason.
    let out = ipv8()
        .args(["keygen", "--from-pyipv8"])
        .arg(dir.join("stock.pem"))
        .arg("--out")
        .arg(dir.join("stock.id"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("independent"));
    let _ = std::fs::remove_dir_all(&dir);
}
