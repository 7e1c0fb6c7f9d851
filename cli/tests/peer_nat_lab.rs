//! Two `ipv8 peer` processes in two homes behind real nftables NAT routers, and a bootstrap
//! peer on the "internet" between them, in network namespaces. For each pair of NAT kinds
//! (full cone, restricted, port-restricted, symmetric: the recipes of the reference
//! `stun.md` §4) the home peers learn of each other through the bootstrap peer and one
//! messages the other: the message arrives, directly wherever the pair allows it and through
//! the bootstrap peer as a relay otherwise. Needs root and nftables: `#[ignore]`d, run by
//! `.ci/run`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // a panic is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{delete_namespaces, in_ns, sh};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    FullCone,
    Restricted,
    PortRestricted,
    Symmetric,
}

impl Kind {
    /// The nftables rules of a router whose WAN side is `wan` with address `public`, and
    /// whose one client is `client` (reference stun.md §4).
    fn rules(self, wan: &str, lan: &str, public: &str, client: &str) -> String {
        let masquerade = |extra: &str| {
            format!(
                "table ip nat {{\n chain post {{\n  type nat hook postrouting priority srcnat;\n  oifname \"{wan}\" masquerade{extra}\n }}\n}}\n"
            )
        };
        let full_cone = format!(
            "table ip nat {{\n chain pre {{\n  type nat hook prerouting priority dstnat;\n  iifname \"{wan}\" ip daddr {public} udp dport 1024-65535 dnat to {client}\n }}\n chain post {{\n  type nat hook postrouting priority srcnat;\n  oifname \"{wan}\" masquerade\n }}\n}}\n"
        );
        match self {
            Kind::PortRestricted => masquerade(""),
            Kind::Symmetric => masquerade(" fully-random"),
            Kind::FullCone => full_cone,
            Kind::Restricted => format!(
                "{full_cone}table ip filt {{\n set peers {{ type ipv4_addr; flags dynamic,timeout; timeout 120s; }}\n chain fwdfilter {{\n  type filter hook forward priority filter; policy accept;\n  iifname \"{lan}\" update @peers {{ ip daddr }}\n  iifname \"{wan}\" ct state established,related accept\n  iifname \"{wan}\" ip saddr @peers accept\n  iifname \"{wan}\" drop\n }}\n}}\n"
            ),
        }
    }

    /// Whether RFC 4787 lets a pair meet directly (no port prediction): unless one side maps
    /// per destination and the other filters by port or maps per destination too.
    fn direct_possible(a: Kind, b: Kind) -> bool {
        let bad = |x: Kind, y: Kind| x == Kind::Symmetric && matches!(y, Kind::Symmetric | Kind::PortRestricted);
        !(bad(a, b) || bad(b, a))
    }
}

struct Lab {
    names: Vec<String>,
    dir: PathBuf,
}

impl Lab {
    /// The "internet" uses documentation addresses, not private ones: a node takes votes on
    /// its public address only from global ones.
    fn new(n: usize, a: Kind, b: Kind) -> Self {
        let t = std::process::id() % 10_000 * 10 + n as u32;
        let names: Vec<String> = ["core", "boot", "ra", "pa", "rb", "pb"].iter().map(|p| format!("{p}{t}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        delete_namespaces(&refs);
        let [core, boot, ra, pa, rb, pb] = [0, 1, 2, 3, 4, 5].map(|i| names[i].as_str());
        sh(&format!(
            "for ns in {core} {boot} {ra} {pa} {rb} {pb}; do ip netns add $ns; ip -n $ns link set lo up; done
             ip link add c_boot netns {core} type veth peer name b0 netns {boot}
             ip link add c_a netns {core} type veth peer name ra_wan netns {ra}
             ip link add c_b netns {core} type veth peer name rb_wan netns {rb}
             ip link add ra_lan netns {ra} type veth peer name a0 netns {pa}
             ip link add rb_lan netns {rb} type veth peer name b0 netns {pb}
             ip -n {core} addr add 203.0.113.1/24 dev c_boot; ip -n {core} addr add 198.51.100.1/24 dev c_a
             ip -n {core} addr add 192.0.2.1/24 dev c_b
             ip -n {boot} addr add 203.0.113.2/24 dev b0
             ip -n {ra} addr add 198.51.100.2/24 dev ra_wan; ip -n {ra} addr add 192.168.1.1/24 dev ra_lan
             ip -n {rb} addr add 192.0.2.2/24 dev rb_wan; ip -n {rb} addr add 192.168.2.1/24 dev rb_lan
             ip -n {pa} addr add 192.168.1.2/24 dev a0; ip -n {pb} addr add 192.168.2.2/24 dev b0
             for l in c_boot c_a c_b; do ip -n {core} link set $l up; done
             ip -n {boot} link set b0 up; ip -n {pa} link set a0 up; ip -n {pb} link set b0 up
             ip -n {ra} link set ra_wan up; ip -n {ra} link set ra_lan up
             ip -n {rb} link set rb_wan up; ip -n {rb} link set rb_lan up
             ip -n {boot} route add default via 203.0.113.1
             ip -n {ra} route add default via 198.51.100.1; ip -n {rb} route add default via 192.0.2.1
             ip -n {pa} route add default via 192.168.1.1; ip -n {pb} route add default via 192.168.2.1
             for ns in {core} {ra} {rb}; do ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1; done"
        ));
        for (router, kind, public, client, wan, lan) in [
            (ra, a, "198.51.100.2", "192.168.1.2", "ra_wan", "ra_lan"),
            (rb, b, "192.0.2.2", "192.168.2.2", "rb_wan", "rb_lan"),
        ] {
            let rules = kind.rules(wan, lan, public, client);
            let file = std::env::temp_dir().join(format!("ipv8-lab-{t}-{router}.nft"));
            std::fs::write(&file, rules).unwrap();
            sh(&format!("ip netns exec {router} nft -f {}", file.display()));
        }
        let dir = std::env::temp_dir().join(format!("ipv8-peer-lab-{t}"));
        let _ = std::fs::remove_dir_all(&dir);
        for p in ["boot", "a", "b"] {
            std::fs::create_dir_all(dir.join(p)).unwrap();
        }
        Self { names, dir }
    }

    /// `ipv8 peer` in namespace `ns`, files under `name`, events on a channel.
    fn peer(&self, ns: usize, name: &str, bind: &str, bootstrap: Option<&str>) -> Peer {
        let d = self.dir.join(name);
        let mut args = vec![
            "peer".to_string(),
            "--json".into(),
            "--bind".into(),
            bind.into(),
            "--trust-threshold".into(),
            "0".into(),
            // One router between the two homes: the opener must die there.
            "--opener-ttl".into(),
            "2".into(),
        ];
        for (flag, file) in [("--identity", "id"), ("--store", "store.db"), ("--control", "ctl.sock")] {
            args.push(flag.into());
            args.push(d.join(file).display().to_string());
        }
        if let Some(b) = bootstrap {
            args.push("--bootstrap".into());
            args.push(b.into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = in_ns(&self.names[ns], env!("CARGO_BIN_EXE_ipv8"), &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        let started = rx.recv_timeout(Duration::from_secs(20)).expect("started");
        Peer { child, rx, control: d.join("ctl.sock"), id: started["peer"].as_str().unwrap().to_string() }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let refs: Vec<&str> = self.names.iter().map(String::as_str).collect();
        delete_namespaces(&refs);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Peer {
    child: Child,
    rx: mpsc::Receiver<Value>,
    control: PathBuf,
    id: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ctl(control: &Path, args: &[&str]) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ipv8"))
        .arg("ctl")
        .arg("--json")
        .arg("--control")
        .arg(control)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// How A's message to B went: (delivered, over a direct stream).
fn pair(n: usize, a: Kind, b: Kind) -> (bool, bool) {
    let lab = Lab::new(n, a, b);
    let _boot = lab.peer(1, "boot", "203.0.113.2:6421", None);
    let pa = lab.peer(3, "a", "192.168.1.2:6421", Some("203.0.113.2:6421"));
    let pb = lab.peer(5, "b", "192.168.2.2:6421", Some("203.0.113.2:6421"));
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut delivered = false;
    let mut last_send = Instant::now() - Duration::from_secs(10);
    while Instant::now() < deadline && !delivered {
        if last_send.elapsed() >= Duration::from_secs(2) {
            // Unknown until B's records reached A: then a message every two seconds.
            let _ = ctl(&pa.control, &["send", &pb.id[..8], "hello from A"]);
            last_send = Instant::now();
        }
        while let Ok(v) = pb.rx.recv_timeout(Duration::from_millis(100)) {
            if v["event"] == "message" && v["peer"] == pa.id.as_str() && v["text"] == "hello from A" {
                delivered = true;
            }
        }
    }
    // Give a direct stream that is still being punched time to take over: should a handshake
    // have poisoned a Linux router, both peers give up after 20 s, leave each other alone for
    // 50 s and punch again (docs/overlay.md §7.1).
    let wait = if Kind::direct_possible(a, b) { 90 } else { 12 };
    let direct_by = Instant::now() + Duration::from_secs(wait);
    let mut direct = false;
    while delivered && Instant::now() < direct_by && !direct {
        let _ = ctl(&pa.control, &["send", &pb.id[..8], "again"]);
        std::thread::sleep(Duration::from_secs(1));
        direct = ctl(&pa.control, &["peers"]).is_some_and(|v| {
            v["peers"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["peer"] == pb.id.as_str() && p["connected"] == true))
        });
    }
    (delivered, direct)
}

#[test]
#[ignore = "needs root and nftables (run by .ci/run)"]
fn home_peers_behind_real_nat_routers_reach_each_other_directly_or_by_relay() {
    let kinds = [Kind::FullCone, Kind::Restricted, Kind::PortRestricted, Kind::Symmetric];
    let mut table = Vec::new();
    let mut n = 0;
    for (i, a) in kinds.iter().enumerate() {
        for b in &kinds[i..] {
            n += 1;
            let (delivered, direct) = pair(n, *a, *b);
            eprintln!("{a:?} -> {b:?}: delivered {delivered}, direct {direct}");
            table.push((*a, *b, delivered, direct));
        }
    }
    for (a, b, delivered, direct) in &table {
        assert!(delivered, "{a:?} -> {b:?}: the message arrived");
        if Kind::direct_possible(*a, *b) {
            assert!(direct, "{a:?} -> {b:?}: direct");
        } else {
            assert!(!direct, "{a:?} -> {b:?} cannot meet directly");
        }
    }
}
