//! P2TP against a real Linux TCP (CUBIC) through a real bottleneck: three network namespaces,
//! a sending host, a router and a receiving host, joined by veths, with a `tbf` at 50 Mbit/s on
//! the router's port towards the receiver (the kernel here has no netem: the delay is the
//! bottleneck queue's own). One `ipv8 p2tp send` and one `iperf3 -C cubic` run together for
//! 30 s, three times; P2TP's share of the total must be between 1/3 and 2/3. Needs root,
//! iproute2 and iperf3: `#[ignore]`d, run by `.ci/run`, which prints the share as the figure
//! `p2tp_vs_tcp_share`.
//!
//! Why a router: with the `tbf` on the sending host's own veth, TCP's packets waiting in that
//! queue count against the socket's TCP Small Queues budget and its send buffer, so Linux
//! throttles the TCP flow on its own host while a UDP sender is not throttled the same way.
//! There the TCP flow sat for seconds at a 25-segment window without a single retransmission
//! (not window-limited, so its window did not grow), and the outcome was bimodal: P2TP's share
//! was 0.46–0.48 in some 15-s contests and 0.73–0.83 in others. With the queue on a router, as
//! on a real path, the same binaries gave 0.59–0.63 in four contests out of four.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a test; prints its figure

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{delete_namespaces, in_ns, sh};
use serde_json::Value;

/// Sender `a`, router `r`, receiver `b`; the `tbf` on `r`'s port towards `b`. Removed on drop.
struct Link {
    a: String,
    r: String,
    b: String,
}

impl Link {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let link = Self { a: format!("v8ta{id}"), r: format!("v8tr{id}"), b: format!("v8tb{id}") };
        let (a, r, b) = (&link.a, &link.r, &link.b);
        sh(&format!(
            "for ns in {a} {r} {b}; do ip netns add $ns; ip -n $ns link set lo up; done
             ip link add a2r netns {a} type veth peer r2a netns {r}
             ip link add r2b netns {r} type veth peer b2r netns {b}
             ip -n {a} addr add 10.77.1.1/24 dev a2r; ip -n {r} addr add 10.77.1.2/24 dev r2a
             ip -n {r} addr add 10.77.2.1/24 dev r2b; ip -n {b} addr add 10.77.2.2/24 dev b2r
             ip -n {a} link set a2r up; ip -n {r} link set r2a up
             ip -n {r} link set r2b up; ip -n {b} link set b2r up
             ip -n {a} route add default via 10.77.1.2; ip -n {b} route add default via 10.77.2.1
             ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1
             ip netns exec {r} tc qdisc add dev r2b root tbf rate 50mbit burst 32kb latency 20ms"
        ));
        link
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        delete_namespaces(&[&self.a, &self.r, &self.b]);
    }
}

/// One 30-second contest on a fresh link: (P2TP, TCP) bits per second.
fn contest() -> (f64, f64) {
    let link = Link::new();
    let ipv8 = env!("CARGO_BIN_EXE_ipv8");
    let mut tcp_server = in_ns(&link.b, "iperf3", &["-s", "-1", "-p", "5201"]).stdout(Stdio::null()).spawn().unwrap();
    let mut listener = in_ns(&link.b, ipv8, &["p2tp", "listen", "--bind", "10.77.2.2:5001", "--for-secs", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let tcp = in_ns(&link.a, "iperf3", &["-c", "10.77.2.2", "-p", "5201", "-C", "cubic", "-t", "30", "-J"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let p2tp = in_ns(&link.a, ipv8, &["p2tp", "send", "--to", "10.77.2.2:5001", "--duration", "30", "--json"])
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
    // Three contests, each on a fresh link, and the share over all: one contest between two
    // loss-based controllers on a shared machine varies from run to run; three cut the
    // variance of what is asserted to a third.
    let runs = [contest(), contest(), contest()];
    let (p2tp_bps, tcp_bps) = runs.iter().fold((0.0, 0.0), |(p, t), (a, b)| (p + a, t + b));
    let share = p2tp_bps / (p2tp_bps + tcp_bps);
    println!("figure p2tp_vs_tcp_share {share:.3} ratio");
    assert!((1.0 / 3.0..=2.0 / 3.0).contains(&share), "P2TP's share {share:.3} over {runs:?}");
    for (p, t) in runs {
        assert!(p + t > 40e6, "together they use the link: {p} + {t}");
    }
}
