//! `ipv8 sim`: a small overlay in virtual time, its report as JSON and as a table, and bad
//! usage refused.

#![allow(clippy::unwrap_used)] // a panic is a failed test

use std::process::Command;

use serde_json::Value;

fn ipv8() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ipv8"))
}

#[test]
fn a_small_simulated_overlay_reports_its_punch_matrix() {
    let out = ipv8().args(["sim", "--nodes", "70", "--seconds", "60", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["nodes"], 70);
    assert_eq!(report["reachability_pct"], 100.0, "{report}");
    let cells = report["matrix"].as_array().unwrap();
    assert!(cells.len() >= 40, "most of the 49 pairs of kinds are tried");
    for c in cells {
        let (direct, delivered, attempts) =
            (c["direct"].as_u64().unwrap(), c["delivered"].as_u64().unwrap(), c["attempts"].as_u64().unwrap());
        assert!(direct <= delivered && delivered <= attempts, "{c}");
        if c["direct_possible"] == false {
            assert_eq!(direct, 0, "RFC 4787 keeps {} and {} apart: {c}", c["from"], c["to"]);
        }
    }
    // The same seed gives the same report.
    let again = ipv8().args(["sim", "--nodes", "70", "--seconds", "60", "--json"]).output().unwrap();
    let mut a: Value = serde_json::from_slice(&again.stdout).unwrap();
    let mut b = report.clone();
    a.as_object_mut().unwrap().remove("wall_s");
    b.as_object_mut().unwrap().remove("wall_s");
    assert_eq!(a, b);
}

#[test]
fn a_bad_nat_mix_is_bad_usage() {
    let out = ipv8().args(["sim", "--nat-mix", "moon=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a NAT kind"), "{stderr}");
}
