//! A real NAT lab in network namespaces (recipe: reference/stun.md §4.3): client, router and
//! server namespaces, the router running nftables rulesets for open routing, full cone,
//! restricted, port-restricted and symmetric NAT. Our `nat-check` (client namespace) against
//! our `stun-server` (server namespace, two IPs) must name each correctly, and the binding
//! lifetime must match the conntrack UDP timeout set in the router namespace. Needs root,
//! nftables and conntrack: `#[ignore]`d, run by `.ci/run`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::{delete_namespaces, in_ns, sh};
use serde_json::Value;

/// Three namespaces wired as client — router — server; removed on drop.
struct Lab {
    cli: String,
    rt: String,
    srv: String,
}

impl Lab {
    /// `tag` tells labs of one test binary apart (tests run in parallel).
    fn new(tag: char) -> Self {
        let id = std::process::id() % 100_000;
        let lab = Self { cli: format!("v8c{tag}{id}"), rt: format!("v8r{tag}{id}"), srv: format!("v8s{tag}{id}") };
        let (cli, rt, srv) = (&lab.cli, &lab.rt, &lab.srv);
        sh(&format!(
            "ip netns add {srv}; ip netns add {rt}; ip netns add {cli}
             ip link add s0 netns {srv} type veth peer r_wan netns {rt}
             ip link add c0 netns {cli} type veth peer r_lan netns {rt}
             ip -n {srv} addr add 10.0.0.1/24 dev s0; ip -n {srv} addr add 10.0.0.2/24 dev s0
             ip -n {rt} addr add 10.0.0.10/24 dev r_wan; ip -n {rt} addr add 192.168.1.1/24 dev r_lan
             ip -n {cli} addr add 192.168.1.2/24 dev c0
             for ns in {srv} {rt} {cli}; do ip -n $ns link set lo up; done
             ip -n {srv} link set s0 up; ip -n {rt} link set r_wan up; ip -n {rt} link set r_lan up
             ip -n {cli} link set c0 up
             ip -n {cli} route add default via 192.168.1.1
             ip -n {srv} route add 192.168.1.0/24 via 10.0.0.10
             ip netns exec {rt} sysctl -qw net.ipv4.ip_forward=1"
        ));
        lab
    }

    /// Loads one nftables ruleset in the router and forgets old connections.
    fn nat(&self, rules: &str) {
        let rt = &self.rt;
        let file = std::env::temp_dir().join(format!("{rt}.nft"));
        std::fs::write(&file, format!("flush ruleset\n{rules}\n")).unwrap();
        sh(&format!(
            "ip netns exec {rt} nft -f {}; ip netns exec {rt} conntrack -F 2>/dev/null || true",
            file.display()
        ));
    }

    fn server(&self) -> Running {
        let child = in_ns(&self.srv, env!("CARGO_BIN_EXE_ipv8"), &["stun-server"])
            .args(["--primary", "10.0.0.1:3478", "--alternate", "10.0.0.2:3479"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Running(child)
    }

    fn check(&self, extra: &[&str]) -> Value {
        let out = in_ns(&self.cli, env!("CARGO_BIN_EXE_ipv8"), &["nat-check"])
            .args(["--server", "10.0.0.1:3478", "--json", "--negative-timeout-ms", "1500"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        delete_namespaces(&[&self.cli, &self.rt, &self.srv]);
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MASQUERADE: &str = "table ip nat {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname \"r_wan\" masquerade
  }
}";

const SYMMETRIC: &str = "table ip nat {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname \"r_wan\" masquerade fully-random
  }
}";

const FULL_CONE: &str = "table ip nat {
  chain pre {
    type nat hook prerouting priority dstnat;
    iifname \"r_wan\" ip daddr 10.0.0.10 udp dport 1024-65535 dnat to 192.168.1.2
  }
  chain post {
    type nat hook postrouting priority srcnat;
    oifname \"r_wan\" masquerade
  }
}";

const RESTRICTED_FILTER: &str = "table ip filt {
  set peers { type ipv4_addr; flags dynamic,timeout; timeout 120s; }
  chain fwdfilter {
    type filter hook forward priority filter; policy accept;
    iifname \"r_lan\" update @peers { ip daddr }
    iifname \"r_wan\" ct state established,related accept
    iifname \"r_wan\" ip saddr @peers accept
    iifname \"r_wan\" drop
  }
}";

#[test]
#[ignore = "needs root, nftables and conntrack; run by .ci/run"]
fn every_classic_nat_type_is_named_behind_a_real_linux_nat() {
    let lab = Lab::new('a');
    let _server = lab.server();
    let restricted = format!("{FULL_CONE}\n{RESTRICTED_FILTER}");
    for (name, rules, nat_type, mapping, filtering) in [
        ("open", "", "open-internet", "endpoint-independent", "endpoint-independent"),
        ("full cone", FULL_CONE, "full-cone", "endpoint-independent", "endpoint-independent"),
        ("restricted", restricted.as_str(), "restricted-cone", "endpoint-independent", "address-dependent"),
        ("port-restricted", MASQUERADE, "port-restricted-cone", "endpoint-independent", "address-and-port-dependent"),
        ("symmetric", SYMMETRIC, "symmetric", "address-and-port-dependent", "address-and-port-dependent"),
    ] {
        for procedure in ["rfc5780", "rfc3489"] {
            // A fresh ruleset each run: the restricted filter remembers contacted IPs for
            // 120 s whatever the client port, and the mapping tests contact the alternate IP
            // (filtering tests are sensitive to prior NAT state, RFC 5780 §4.4).
            lab.nat(rules);
            let report = lab.check(&["--procedure", procedure]);
            eprintln!("{name}, {procedure}: {report}");
            assert_eq!(report["nat_type"], nat_type, "{name}, {procedure}: {report}");
            if procedure == "rfc5780" {
                assert_eq!(report["mapping"], mapping, "{name}");
                assert_eq!(report["filtering"], filtering, "{name}");
            }
            let public = report["public"].as_str().unwrap();
            let expected_ip = if name == "open" { "192.168.1.2:" } else { "10.0.0.10:" };
            assert!(public.starts_with(expected_ip), "{name}: public {public}");
        }
    }
}

#[test]
#[ignore = "needs root, nftables and conntrack; run by .ci/run"]
fn the_binding_lifetime_matches_the_routers_conntrack_timeout() {
    let lab = Lab::new('b');
    let _server = lab.server();
    lab.nat(MASQUERADE);
    let rt = &lab.rt;
    sh(&format!(
        "ip netns exec {rt} sysctl -qw net.netfilter.nf_conntrack_udp_timeout=5 net.netfilter.nf_conntrack_udp_timeout_stream=5"
    ));
    let report = lab.check(&["--lifetime", "--lifetime-first", "2", "--lifetime-max", "20"]);
    eprintln!("{report}");
    let alive = report["lifetime_alive_s"].as_f64().unwrap();
    let expired = report["lifetime_expired_s"].as_f64().unwrap();
    // One probe step is 1 s; the kernel's timer ticks add a little slack.
    assert!((4.0..=5.5).contains(&alive) && (5.0..=6.5).contains(&expired), "alive {alive} s, expired {expired} s");
    assert!(expired - alive <= 1.0 + 1e-9);
}
