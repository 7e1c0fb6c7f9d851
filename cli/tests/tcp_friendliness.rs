//! P2TP against a real Linux TCP (CUBIC) through a real bottleneck: two network namespaces
//! joined by a veth whose sending side is a `tbf` at 50 Mbit/s (the kernel here has no netem:
//! the delay is the bottleneck queue's own). One `ipv8 p2tp send` and one `iperf3 -C cubic`
//! run together for 30 s, twice; P2TP's share of the total over both must be between 1/3
//! and 2/3. Needs root,
//! iproute2 and iperf3: `#[ignore]`d, run by `.ci/run`, which prints the share as the figure
//! `p2tp_vs_tcp_share`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a test; prints its figure

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{delete_namespaces, in_ns, sh};
use serde_json::Value;

/// Two namespaces, a veth between them, `tbf` on the sender's side; removed on drop.
struct Link {
    a: String,
    b: String,
}

impl Link {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let link = Self { a: format!("v8ta{id}"), b: format!("v8tb{id}") };
        let (a, b) = (&link.a, &link.b);
        sh(&format!(
            "ip netns add {a}; ip netns add {b}
             ip link add ta netns {a} type veth peer tb netns {b}
             ip -n {a} addr add 10.77.0.1/24 dev ta; ip -n {b} addr add 10.77.0.2/24 dev tb
             for ns in {a} {b}; do ip -n $ns link set lo up; done
             ip -n {a} link set ta up; ip -n {b} link set tb up
             ip netns exec {a} tc qdisc add dev ta root tbf rate 50mbit burst 32kb latency 20ms"
        ));
        link
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        delete_namespaces(&[&self.a, &self.b]);
    }
}

/// One 30-second contest on a fresh link: (P2TP, TCP) bits per second.
fn contest() -> (f64, f64) {
    let link = Link::new();
    let ipv8 = env!("CARGO_BIN_EXE_ipv8");
    let mut tcp_server = in_ns(&link.b, "iperf3", &["-s", "-1", "-p", "5201"]).stdout(Stdio::null()).spawn().unwrap();
    let mut listener = in_ns(&link.b, ipv8, &["p2tp", "listen", "--bind", "10.77.0.2:5001", "--for-secs", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let tcp = in_ns(&link.a, "iperf3", &["-c", "10.77.0.2", "-p", "5201", "-C", "cubic", "-t", "30", "-J"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let p2tp = in_ns(&link.a, ipv8, &["p2tp", "send", "--to", "10.77.0.2:5001", "--duration", "30", "--json"])
        .output()
        .unwrap();
    let tcp = tcp.wait_with_output().unwrap();
    let _ = listener.kill();
    let _ = listener.wait();
    let _ = tcp_server.kill();
    let _ = tcp_server.wait();
    assert!(p2tp.status.success(), "{}", String::from_utf8_lossy(&p2tp.stderr));
    assert!(tcp.status.success(), "iperf3 failed");
    let tcp: Value = serde_json::from_slice(&tcp.stdout).unwrap();
    let tcp_bps = tcp["end"]["sum_received"]["bits_per_second"].as_f64().unwrap();
    let last = String::from_utf8(p2tp.stdout).unwrap().lines().last().unwrap().to_owned();
    let p2tp_bps = serde_json::from_str::<Value>(&last).unwrap()["summary"]["mbps"].as_f64().unwrap() * 1e6;
    println!("p2tp {:.1} Mbit/s, tcp {:.1} Mbit/s", p2tp_bps / 1e6, tcp_bps / 1e6);
    (p2tp_bps, tcp_bps)
}

#[test]
#[ignore = "needs root, iproute2 (tc tbf) and iperf3; run by .ci/run"]
fn p2tp_and_linux_tcp_cubic_share_a_50_mbit_bottleneck() {
    // Three contests, each on a fresh link, and the share over all: one 30-s contest between
    // two loss-based controllers on a shared machine spreads from 0.42 to 0.69 (ten runs so
    // far, two of them 0.67 and 0.69 in one CI run); three cut the variance of what is
    // asserted to a third.
    let runs = [contest(), contest(), contest()];
    let (p2tp_bps, tcp_bps) = runs.iter().fold((0.0, 0.0), |(p, t), (a, b)| (p + a, t + b));
    let share = p2tp_bps / (p2tp_bps + tcp_bps);
    println!("figure p2tp_vs_tcp_share {share:.3} ratio");
    assert!((1.0 / 3.0..=2.0 / 3.0).contains(&share), "P2TP's share {share:.3} over {runs:?}");
    for (p, t) in runs {
        assert!(p + t > 40e6, "together they use the link: {p} + {t}");
    }
}
