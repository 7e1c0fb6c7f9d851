//! `ipv8 p2tp listen` and `ipv8 p2tp send` over loopback, on both run loops: the stream opens,
//! data flows, figures are printed as JSON lines, and the listener's counters after SIGTERM
//! account for everything the sender saw acknowledged.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::io::Lines;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use serde_json::Value;

fn ipv8() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ipv8"))
}

/// A listener on a free loopback port: the process, its remaining JSON lines, its address.
fn listen(runtime: &str) -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut listener = ipv8()
        .args(["p2tp", "listen", "--bind", "127.0.0.1:0", "--json", "--runtime", runtime])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let address = first["listening"].as_str().unwrap().to_owned();
    assert!(!address.ends_with(":0"), "the bound port is printed: {first}");
    (listener, lines, address)
}

/// The summary a `p2tp send --json` ends with.
fn summary(out: &Output) -> Value {
    let last = String::from_utf8_lossy(&out.stdout).lines().last().map(str::to_owned).unwrap_or_default();
    serde_json::from_str::<Value>(&last).unwrap()["summary"].clone()
}

fn transfer(listen_runtime: &str, send_runtime: &str) {
    let (mut listener, lines, address) = listen(listen_runtime);

    let out = ipv8()
        .args(["p2tp", "send", "--to", &address, "--duration", "2", "--json", "--runtime", send_runtime])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(sent.iter().any(|v| v["event"] == "opened"), "{sent:?}");
    let per_second: Vec<&Value> = sent.iter().filter(|v| v["t"].is_number()).collect();
    assert!(per_second.len() >= 2, "a line a second: {sent:?}");
    assert!(per_second.iter().all(|v| v["srtt_ms"].as_f64().unwrap() < 50.0), "{per_second:?}");
    let summary = &sent.last().unwrap()["summary"];
    let acked = summary["bytes_acked"].as_u64().unwrap();
    assert!(acked > 1_000_000, "at least a megabyte in 2 s over loopback: {summary}");

    let killed = Command::new("kill").args(["-TERM", &listener.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<Value> = lines.map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    let status = listener.wait().unwrap();
    assert_eq!(status.code(), Some(130), "SIGTERM ends the listener with its summary");
    assert!(rest.iter().any(|v| v["event"] == "closed"), "the sender closed its stream: {rest:?}");
    let summary = &rest.last().unwrap()["summary"];
    let received = summary["peers"][0]["bytes"].as_u64().unwrap();
    let lost = summary["peers"][0]["lost_datagrams"].as_u64().unwrap();
    // Both count application bytes. P2TP acknowledges cumulatively (an echo covers every
    // datagram sent before it) and signals loss with flags, so everything acknowledged was
    // received or declared lost by the listener (a loaded machine drops at the socket); the
    // last few gaps may not be declared yet when the listener stops.
    let accounted = received as f64 + lost as f64 * 1192.0;
    assert!(accounted >= acked as f64 * 0.999, "received {received} + lost {lost} datagrams, acknowledged {acked}");
}

#[test]
fn a_std_listener_receives_from_a_tokio_sender_over_loopback() {
    transfer("std", "tokio");
}

#[test]
fn a_tokio_listener_receives_from_a_std_sender_over_loopback() {
    transfer("tokio", "std");
}

#[test]
fn send_refuses_values_that_cannot_work_with_exit_2() {
    for args in [
        vec!["p2tp", "send", "--to", "127.0.0.1:0"],
        vec!["p2tp", "send", "--to", "127.0.0.1:9", "--duration", "0"],
        vec!["p2tp", "send", "--to", "127.0.0.1:9", "--rate", "0"],
        vec!["p2tp", "send", "--to", "127.0.0.1:9", "--size", "1193"],
        // Times past a year would overflow the clock: refused, never a panic.
        vec!["p2tp", "send", "--to", "127.0.0.1:9", "--duration", "1e300"],
        vec!["p2tp", "send", "--to", "127.0.0.1:9", "--duration", "1e19"],
        vec!["p2tp", "listen", "--bind", "127.0.0.1:0", "--for-secs", "18446744073709551615"],
        vec!["peer", "--for-secs", "18446744073709551615"],
        vec!["stun-server", "--primary", "127.0.0.1:0", "--for-secs", "18446744073709551615"],
        vec!["sync-listen", "--db", "/nonexistent/x.db", "--for-secs", "0"],
        vec!["demo", "--seconds", "18446744073709551615"],
        vec!["demo", "--seconds", "0"],
    ] {
        let out = ipv8().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_send_nobody_answers_exits_3_and_claims_no_round_trip_time() {
    // A socket that takes the datagrams and never answers (so no ICMP either).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = silent.local_addr().unwrap().to_string();
    let out = ipv8().args(["p2tp", "send", "--to", &to, "--duration", "1", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer from"));
    let summary = summary(&out);
    assert_eq!((summary["bytes_acked"].as_u64(), summary["mbps"].as_f64()), (Some(0), Some(0.0)), "{summary}");
    assert!(summary["srtt_ms"].is_null(), "nothing was measured: {summary}");
}

#[test]
fn a_rate_limited_send_reports_the_rate_it_was_given() {
    // Its output stays open while the sender runs (a closed pipe would end the listener).
    let (mut listener, _lines, address) = listen("std");
    let out = ipv8()
        .args(["p2tp", "send", "--to", &address, "--rate", "2000000", "--duration", "2", "--json"])
        .output()
        .unwrap();
    let _ = listener.kill();
    let _ = listener.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = summary(&out);
    let mbps = summary["mbps"].as_f64().unwrap();
    // Acknowledged by the deadline, over the time it ran: at most the rate (the queue that
    // drains after the deadline is not counted), and most of it over loopback.
    assert!((1.5..=2.05).contains(&mbps), "{summary}");
    assert!(summary["bytes_acked"].as_u64() <= summary["bytes_sent"].as_u64(), "{summary}");
}
