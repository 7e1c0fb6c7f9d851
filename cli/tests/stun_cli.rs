//! `ipv8 stun-server` and `ipv8 nat-check` as a script would use them, on loopback: refused
//! values exit 2 with one line on stderr, port 0 prints the port bound, SIGTERM prints the
//! counters and exits 130, and a server that answers with an error makes `nat-check` exit 4.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use stun_core::{Attribute, Message, MessageType, MessageWriter, TransactionId, error_code};

fn ipv8(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipv8")).args(args).output().unwrap()
}

fn assert_usage_error(args: &[&str], mentions: &str) {
    let out = ipv8(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(mentions), "{args:?}: {stderr}");
}

#[test]
fn values_that_cannot_work_are_refused_with_exit_2() {
    assert_usage_error(&["stun-server", "--primary", "127.0.0.1:0", "--rate", "0"], "--rate");
    assert_usage_error(&["nat-check", "--server", "127.0.0.1:0"], "port 0");
    assert_usage_error(&["nat-check", "--server", "127.0.0.1", "--lifetime", "--lifetime-max", "0"], "--lifetime-max");
    assert_usage_error(
        &["nat-check", "--server", "127.0.0.1", "--lifetime", "--lifetime-first", "0"],
        "--lifetime-first",
    );
    assert_usage_error(
        &["nat-check", "--server", "127.0.0.1", "--lifetime", "--lifetime-first", "400", "--lifetime-max", "300"],
        "longer than --lifetime-max",
    );
    // Lifetime options without --lifetime would be ignored: refused instead.
    assert_usage_error(&["nat-check", "--server", "127.0.0.1", "--lifetime-first", "40"], "--lifetime");
    assert_usage_error(&["stun-server", "--primary", "127.0.0.1:0", "--alternate", "[::1]:0"], "same address family");
    assert_usage_error(&["trust", "rank", "--edges", "x.csv", "--ego", "a", "--walks", "0"], "--walks");
}

#[test]
fn nat_check_against_a_closed_port_fails_at_once_with_exit_3() {
    // Nothing listens on a port just freed: the kernel answers with ICMP port unreachable,
    // which the check hears, instead of waiting out 40 s of retransmissions.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let out = ipv8(&["nat-check", "--server", &server, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "fails at once");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"], "port-unreachable", "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("port unreachable"), "{stderr}");
}

#[test]
fn the_help_documents_the_exit_codes_and_the_version_names_the_program() {
    let help = String::from_utf8(ipv8(&["nat-check", "--help"]).stdout).unwrap();
    for code in ["3  nat-check: no answer", "4  nat-check: the server answered with a STUN error", "130  interrupted"] {
        assert!(help.contains(code), "{help}");
    }
    let version = String::from_utf8(ipv8(&["--version"]).stdout).unwrap();
    assert!(version.starts_with("ipv8 "), "{version}");
}

#[test]
fn a_server_on_port_0_prints_the_port_it_bound_and_sigterm_prints_its_counters() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipv8"))
        .args(["stun-server", "--primary", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let bound: SocketAddr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    assert_ne!(bound.port(), 0, "{line}");

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = [0u8; 20];
    let len = MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([3; 12]))
        .unwrap()
        .finish();
    client.send_to(&request[..len], bound).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(from, bound);
    assert_eq!(Message::parse(&buf[..n]).unwrap().mapped_address(), Some(client.local_addr().unwrap()));

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("received 1, answered 1"), "{stderr}");
}

#[test]
fn an_error_answer_makes_nat_check_exit_4_with_the_code_on_stderr() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap().to_string();
    server.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // Every request gets the error (the check's own, and the port probe before it); the
    // server stops a few seconds after the last one.
    let answering = thread::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..8 {
            let Ok((n, from)) = server.recv_from(&mut buf) else { return };
            let id = Message::parse(&buf[..n]).unwrap().transaction_id();
            let mut out = [0u8; 128];
            let mut w = MessageWriter::new(&mut out, MessageType::BINDING_ERROR, id).unwrap();
            w.add(&Attribute::ErrorCode { code: error_code::UNAUTHENTICATED, reason: "Unauthenticated" }).unwrap();
            let len = w.finish();
            server.send_to(&out[..len], from).unwrap();
            server.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        }
    });
    let out = ipv8(&["nat-check", "--server", &address, "--json"]);
    answering.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("STUN error 401"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failure"], "error-answer 401");
    assert_ne!(report["nat_type"], "udp-blocked");
}
