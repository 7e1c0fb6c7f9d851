//! Interop on loopback (127.0.0.1 and 127.0.0.2) with real STUN peers, run by `.ci/run`
//! after it installs them (`cargo test -- --ignored`): our `nat-check` against coturn and
//! Vovida `stund`; coturn's `turnutils_natdiscovery`, Vovida's `stun` and `pystun3` against
//! our `stun-server`. On loopback there is no NAT, so every tool must say "open" /
//! endpoint-independent; what is exercised is each side's CHANGE-REQUEST, OTHER-ADDRESS /
//! CHANGED-ADDRESS and message handling.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use stun_core::{Message, MessageType, MessageWriter, TransactionId};

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Running {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (.ci/run installs it): {e}"));
    Running(child)
}

/// Waits until a Binding request to `server` is answered (the server is up).
fn wait_for(server: &str) {
    let server: SocketAddr = server.parse().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut request = [0u8; 20];
    let len = MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, TransactionId::Rfc8489([7; 12]))
        .unwrap()
        .finish();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        socket.send_to(&request[..len], server).unwrap();
        let mut buf = [0u8; 1500];
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && Message::parse(&buf[..n]).is_ok()
        {
            return;
        }
    }
    panic!("{server} never answered");
}

fn ipv8(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipv8")).args(args).output().unwrap()
}

fn nat_check(server: &str, extra: &[&str]) -> Value {
    let mut args = vec!["nat-check", "--server", server, "--json", "--negative-timeout-ms", "1500"];
    args.extend_from_slice(extra);
    let out = ipv8(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_open(report: &Value, other: &str, what: &str) {
    assert_eq!(report["nat_type"], "open-internet", "{what}: {report}");
    assert_eq!(report["mapping"], "endpoint-independent", "{what}");
    assert_eq!(report["filtering"], "endpoint-independent", "{what}");
    assert_eq!(report["public"], report["local"], "{what}");
    assert_eq!(report["server_other"], other, "{what}");
}

#[test]
#[ignore = "needs coturn (Debian package); run by .ci/run"]
fn our_nat_check_against_coturn() {
    let _coturn = spawn(
        "turnserver",
        &[
            "-n",
            "--no-auth",
            "--stun-only",
            "-L",
            "127.0.0.1",
            "-L",
            "127.0.0.2",
            "--listening-port",
            "3580",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--log-file",
            "stdout",
        ],
    );
    wait_for("127.0.0.1:3580");
    for runtime in ["std", "tokio"] {
        for procedure in ["rfc5780", "rfc3489"] {
            let report = nat_check("127.0.0.1:3580", &["--runtime", runtime, "--procedure", procedure]);
            assert_open(&report, "127.0.0.2:3581", &format!("coturn, {runtime}, {procedure}"));
        }
    }
}

#[test]
#[ignore = "needs Vovida stund (Debian stun-server); run by .ci/run"]
fn our_nat_check_against_vovida_stund() {
    let _stund = spawn("stund", &["-h", "127.0.0.1", "-a", "127.0.0.2", "-p", "3590", "-o", "3591"]);
    wait_for("127.0.0.1:3590");
    for procedure in ["rfc3489", "rfc5780"] {
        let report = nat_check("127.0.0.1:3590", &["--procedure", procedure]);
        assert_open(&report, "127.0.0.2:3591", &format!("stund, {procedure}"));
    }
}

fn our_server(primary: &str, alternate: &str, runtime: &str) -> Running {
    let r = spawn(
        env!("CARGO_BIN_EXE_ipv8"),
        &["stun-server", "--primary", primary, "--alternate", alternate, "--runtime", runtime],
    );
    wait_for(primary);
    r
}

#[test]
#[ignore = "needs coturn's turnutils_natdiscovery; run by .ci/run"]
fn coturn_natdiscovery_against_our_server() {
    for (runtime, port) in [("std", "3600"), ("tokio", "3602")] {
        let alternate = format!("127.0.0.2:{}", port.parse::<u16>().unwrap() + 1);
        let _server = our_server(&format!("127.0.0.1:{port}"), &alternate, runtime);
        // Mapping and filtering in separate runs: one run mixes the tests (see stun.md §2.4).
        for flag in ["-m", "-f"] {
            let out = Command::new("turnutils_natdiscovery").args([flag, "-p", port, "127.0.0.1"]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let expected = if flag == "-m" { "Endpoint Independent Mapping" } else { "Endpoint Independent Filtering" };
            assert!(text.contains(expected), "{runtime} {flag}: {text}");
            assert!(text.contains(&alternate), "{runtime}: it saw our OTHER-ADDRESS: {text}");
        }
    }
}

#[test]
#[ignore = "needs Vovida stun (Debian stun-client); run by .ci/run"]
fn vovida_stun_client_against_our_server() {
    // The Vovida client only talks to port 3478.
    let _server = our_server("127.0.0.1:3478", "127.0.0.2:3479", "std");
    let out = Command::new("stun").args(["127.0.0.1", "-v"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Primary: Open"), "{text}");
    assert!(text.contains("test I = 1") && text.contains("test II = 1") && text.contains("test III = 1"), "{text}");
}

#[test]
#[ignore = "needs pystun3 (PyPI); run by .ci/run"]
fn pystun3_against_our_server() {
    let _server = our_server("127.0.0.1:3610", "127.0.0.2:3611", "std");
    // Bound to 127.0.0.1 (not 0.0.0.0), so it can tell "no NAT" from "NAT".
    let out = Command::new("python3")
        .args(["-c", "import stun; print(stun.get_ip_info('127.0.0.1', 54610, '127.0.0.1', 3610))"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("'Open Internet', '127.0.0.1', 54610"), "{text}{}", String::from_utf8_lossy(&out.stderr));
}
