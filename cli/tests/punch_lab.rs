//! A real Linux home router (nftables masquerade) behind a core router, in network namespaces,
//! against netsim's `linux_masquerade` preset behind one router: the same three scenarios give
//! the same outcomes (reference stun.md §4.5). Needs root and nftables: `#[ignore]`d, run by
//! `.ci/run`.
//!
//! - An unsolicited datagram from A to the router's public port moves B's next mapping to A
//!   onto another port; without it the port is preserved.
//! - B's datagram with TTL 2 leaves B's router (making the mapping) and dies at the core router;
//!   A's datagram to that mapping then reaches B.
//! - A router whose input chain drops new packets from the WAN (as OpenWrt's firewall does)
//!   keeps no state for the unsolicited datagram and moves nothing: it behaves as netsim's
//!   ideal port-restricted cone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::{delete_namespaces, in_ns, sh};
use netsim::addr as a;
use netsim::{LinkConfig, NatConfig, Probe, Sim};
use serde_json::Value;

const A: &str = "10.1.0.2";
const ROUTER: &str = "10.2.0.2";
const B: &str = "192.168.2.2";

struct Lab {
    names: [String; 4],
}

impl Lab {
    fn new(firewall: bool) -> Self {
        let t = std::process::id() % 10_000 + if firewall { 10_000 } else { 0 };
        let names = [format!("pa{t}"), format!("core{t}"), format!("rb{t}"), format!("pb{t}")];
        let [pa, core, rb, pb] = &names;
        delete_namespaces(&[pa, core, rb, pb]);
        sh(&format!(
            "ip netns add {pa}; ip netns add {core}; ip netns add {rb}; ip netns add {pb}
             ip link add a0 netns {pa} type veth peer name c_a netns {core}
             ip link add c_b netns {core} type veth peer name rb_wan netns {rb}
             ip link add rb_lan netns {rb} type veth peer name b0 netns {pb}
             ip -n {pa} addr add {A}/24 dev a0
             ip -n {core} addr add 10.1.0.1/24 dev c_a
             ip -n {core} addr add 10.2.0.1/24 dev c_b
             ip -n {rb} addr add {ROUTER}/24 dev rb_wan
             ip -n {rb} addr add 192.168.2.1/24 dev rb_lan
             ip -n {pb} addr add {B}/24 dev b0
             for ns in {pa} {core} {rb} {pb}; do ip -n $ns link set lo up; done
             ip -n {pa} link set a0 up; ip -n {core} link set c_a up; ip -n {core} link set c_b up
             ip -n {rb} link set rb_wan up; ip -n {rb} link set rb_lan up; ip -n {pb} link set b0 up
             ip -n {pa} route add default via 10.1.0.1
             ip -n {rb} route add default via 10.2.0.1
             ip -n {pb} route add default via 192.168.2.1
             ip netns exec {core} sysctl -qw net.ipv4.ip_forward=1
             ip netns exec {rb} sysctl -qw net.ipv4.ip_forward=1
             printf 'table ip nat {{\\n chain post {{\\n  type nat hook postrouting priority srcnat;\\n  oifname \"rb_wan\" masquerade\\n }}\\n}}\\n' | ip netns exec {rb} nft -f -"
        ));
        if firewall {
            sh(&format!(
                "printf 'table inet filter {{\\n chain input {{\\n  type filter hook input priority filter; policy accept;\\n  iifname \"rb_wan\" ct state new drop\\n }}\\n}}\\n' | ip netns exec {rb} nft -f -"
            ));
        }
        Self { names }
    }

    /// `ipv8 punch` in namespace `ns` with `args`, its stdout piped.
    fn punch(&self, ns: usize, args: &[&str]) -> Child {
        in_ns(&self.names[ns], env!("CARGO_BIN_EXE_ipv8"), &[&["punch", "--json", "--fixed"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        delete_namespaces(&names);
    }
}

/// Every source a punch process heard from, and whether it exited 0.
fn heard(child: Child) -> (Vec<SocketAddr>, bool) {
    let out = child.wait_with_output().unwrap();
    let sources = BufReader::new(&out.stdout[..])
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(&l.unwrap()).ok())
        .filter_map(|v| v["from"].as_str().map(|s| s.parse().unwrap()))
        .collect();
    (sources, out.status.success())
}

/// What the real lab showed.
#[derive(Debug, PartialEq, Eq)]
struct Outcomes {
    /// B's port as A saw it after A's unsolicited datagram moved (≠ 5000).
    moved_after_unsolicited: bool,
    /// B's port was preserved without one.
    preserved_without: bool,
    /// B's TTL-2 datagram reached A.
    low_ttl_arrived: bool,
    /// A then reached B through the mapping the TTL-2 datagram made.
    mapping_made_by_low_ttl: bool,
}

/// Whether B's port to A moved after A's unsolicited datagram, on a real router.
fn real_port_moved(lab: &Lab, port: u16) -> bool {
    let a1 = lab.punch(
        0,
        &["--bind", &format!("{A}:{port}"), "--to", &format!("{ROUTER}:{port}"), "--count", "1", "--for-secs", "1.5"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let b1 = lab.punch(
        3,
        &["--bind", &format!("{B}:{port}"), "--to", &format!("{A}:{port}"), "--count", "1", "--for-secs", "0.8"],
    );
    let (seen, _) = heard(a1);
    let _ = heard(b1);
    seen.iter().any(|s| s.ip().to_string() == ROUTER && s.port() != port)
}

fn real() -> Outcomes {
    let lab = Lab::new(false);
    let (pa, pb) = (0, 3);
    let pause = || std::thread::sleep(Duration::from_millis(300));
    // 1. A sends one unsolicited datagram to the router's port 5000, then B sends to A from 5000.
    let a1 = lab.punch(
        pa,
        &["--bind", &format!("{A}:5000"), "--to", &format!("{ROUTER}:5000"), "--count", "1", "--for-secs", "1.5"],
    );
    pause();
    let b1 = lab.punch(
        pb,
        &["--bind", &format!("{B}:5000"), "--to", &format!("{A}:5000"), "--count", "1", "--for-secs", "0.8"],
    );
    let (seen, _) = heard(a1);
    let _ = heard(b1);
    let moved = seen.iter().any(|s| s.ip().to_string() == ROUTER && s.port() != 5000);
    // 2. The control: no unsolicited datagram first.
    let a2 = lab.punch(
        pa,
        &["--bind", &format!("{A}:6000"), "--to", &format!("{ROUTER}:6000"), "--count", "0", "--for-secs", "1.2"],
    );
    pause();
    let b2 = lab.punch(
        pb,
        &["--bind", &format!("{B}:6000"), "--to", &format!("{A}:6000"), "--count", "1", "--for-secs", "0.5"],
    );
    let (seen, _) = heard(a2);
    let _ = heard(b2);
    let preserved = seen.iter().any(|s| *s == format!("{ROUTER}:6000").parse().unwrap());
    // 3. B sends only a TTL-2 datagram and listens; A listens, then sends to the mapping.
    let b3 = lab.punch(
        pb,
        &[
            "--bind",
            &format!("{B}:7000"),
            "--to",
            &format!("{A}:7000"),
            "--first-ttl",
            "2",
            "--count",
            "0",
            "--for-secs",
            "2.5",
        ],
    );
    let a3 = lab.punch(
        pa,
        &["--bind", &format!("{A}:7000"), "--to", &format!("{ROUTER}:7000"), "--count", "0", "--for-secs", "0.8"],
    );
    let (seen_by_a, _) = heard(a3);
    let a4 = lab.punch(
        pa,
        &["--bind", &format!("{A}:7000"), "--to", &format!("{ROUTER}:7000"), "--count", "3", "--for-secs", "0.8"],
    );
    let _ = heard(a4);
    let (seen_by_b, _) = heard(b3);
    Outcomes {
        moved_after_unsolicited: moved,
        preserved_without: preserved,
        low_ttl_arrived: !seen_by_a.is_empty(),
        mapping_made_by_low_ttl: seen_by_b.iter().any(|s| s.ip().to_string() == A),
    }
}

fn simulated(config: NatConfig) -> Outcomes {
    let mut sim = Sim::new(sansio_core::Seed::from_u64(8));
    let net = sim.internet();
    let pa = sim.add_host(net, &[a("10.1.0.2:5000"), a("10.1.0.2:6000"), a("10.1.0.2:7000")], Probe::new());
    let (nat, home) = sim.add_nat(net, ROUTER.parse().unwrap(), config);
    // The core router between the home router and A.
    *sim.link_mut(sim.nat_uplink(nat)) = LinkConfig { routers: 1, ..LinkConfig::default() };
    *sim.link_mut(sim.nat_downlink(nat)) = LinkConfig { routers: 1, ..LinkConfig::default() };
    let pb = sim.add_host(home, &[a("192.168.2.2:5000"), a("192.168.2.2:6000"), a("192.168.2.2:7000")], Probe::new());
    let step = |sim: &mut Sim| sim.run_for(Duration::from_millis(10)).unwrap();
    let seen = |sim: &Sim, host| -> Vec<(SocketAddr, SocketAddr)> {
        sim.events(host).into_iter().map(|(_, r): (_, &netsim::Received)| (r.local, r.remote)).collect()
    };
    sim.call(pa, |p: &mut Probe, _| p.send_from(a("10.1.0.2:5000"), a("10.2.0.2:5000"), b"x".to_vec()));
    step(&mut sim);
    sim.call(pb, |p: &mut Probe, _| p.send_from(a("192.168.2.2:5000"), a("10.1.0.2:5000"), b"x".to_vec()));
    sim.call(pb, |p: &mut Probe, _| p.send_from(a("192.168.2.2:6000"), a("10.1.0.2:6000"), b"x".to_vec()));
    step(&mut sim);
    let at_a = seen(&sim, pa);
    let moved = at_a.iter().any(|(l, r)| l.port() == 5000 && r.port() != 5000);
    let preserved = at_a.iter().any(|(l, r)| l.port() == 6000 && r.port() == 6000);
    let before = at_a.len();
    sim.call(pb, |p: &mut Probe, _| p.send_from_ttl(a("192.168.2.2:7000"), a("10.1.0.2:7000"), 2, b"x".to_vec()));
    step(&mut sim);
    let low_ttl_arrived = seen(&sim, pa).len() > before;
    sim.call(pa, |p: &mut Probe, _| p.send_from(a("10.1.0.2:7000"), a("10.2.0.2:7000"), b"x".to_vec()));
    step(&mut sim);
    let mapping_made_by_low_ttl = seen(&sim, pb).iter().any(|(l, r)| l.port() == 7000 && *r == a("10.1.0.2:7000"));
    Outcomes { moved_after_unsolicited: moved, preserved_without: preserved, low_ttl_arrived, mapping_made_by_low_ttl }
}

#[test]
#[ignore = "needs root and nftables; run by .ci/run"]
fn a_real_linux_router_moves_the_port_and_keeps_a_low_ttl_mapping_as_netsim_does() {
    let real = real();
    let sim = simulated(NatConfig::linux_masquerade());
    assert_eq!(
        real,
        Outcomes {
            moved_after_unsolicited: true,
            preserved_without: true,
            low_ttl_arrived: false,
            mapping_made_by_low_ttl: true
        },
        "the real router"
    );
    assert_eq!(sim, real, "netsim's linux_masquerade behind one router");
}

#[test]
#[ignore = "needs root and nftables; run by .ci/run"]
fn a_router_with_an_input_firewall_moves_nothing_like_the_ideal_port_restricted_cone() {
    let lab = Lab::new(true);
    let moved = real_port_moved(&lab, 5000);
    assert!(!moved, "the firewall dropped the unsolicited datagram before conntrack kept it");
    let sim = simulated(NatConfig::port_restricted_cone());
    assert_eq!(sim.moved_after_unsolicited, moved);
}
