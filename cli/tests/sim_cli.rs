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
fn a_network_smaller_than_twenty_reports_how_many_peers_its_nodes_knew() {
    let out = ipv8().args(["sim", "--nodes", "8", "--seconds", "30", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // 8 nodes and 3 bootstrap nodes: nobody can know 20, but each knows some of its 10 others.
    assert_eq!(report["discovered_20_pct"], 0.0, "{report}");
    let (least, median) = (report["peers_known_min"].as_u64().unwrap(), report["peers_known_p50"].as_u64().unwrap());
    assert!(3 <= least && least <= median && median <= 10, "{report}");
    let out = ipv8().args(["sim", "--nodes", "8", "--seconds", "30"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("the median node knew {median} of them, the one that knew the fewest {least}")),
        "{text}"
    );
}

#[test]
fn more_attack_edges_than_honest_nodes_is_bad_usage() {
    let out = ipv8().args(["sim", "--nodes", "10", "--sybils", "10", "--attack-edges", "11"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--attack-edges 11"), "{stderr}");
}

#[test]
fn settled_walk_options_that_cannot_work_are_bad_usage() {
    for args in [
        &["sim", "--settled-peers", "30", "--settled-walk-secs", "0.1"][..],
        &["sim", "--settled-peers", "30", "--settled-walk-secs", "NaN"][..],
        &["sim", "--settled-walk-secs", "2"][..],
        &["sim", "--settled-peers", "0"][..],
    ] {
        let out = ipv8().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_bad_nat_mix_is_bad_usage() {
    let out = ipv8().args(["sim", "--nat-mix", "moon=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a NAT kind"), "{stderr}");
}

#[test]
fn pcap_records_one_nodes_packets_both_ways_in_time_order() {
    let path = std::env::temp_dir().join(format!("ipv8-sim-{}.pcap", std::process::id()));
    let out = ipv8()
        .args(["sim", "--nodes", "20", "--seconds", "20", "--json", "--pcap-node", "3", "--pcap"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(report["pcap"]["bytes"].as_u64(), Some(bytes.len() as u64));
    // A classic pcap file (µs time stamps, in either byte order), LINKTYPE_RAW (101): IPv4 +
    // UDP frames.
    let big = match bytes[..4] {
        [0xa1, 0xb2, 0xc3, 0xd4] => true,
        [0xd4, 0xc3, 0xb2, 0xa1] => false,
        _ => panic!("not a pcap file: {:02x?}", &bytes[..4]),
    };
    let u32_at = |o: usize| {
        let w: [u8; 4] = bytes[o..o + 4].try_into().unwrap();
        u64::from(if big { u32::from_be_bytes(w) } else { u32::from_le_bytes(w) })
    };
    assert_eq!(u32_at(20), 101);
    let (mut at, mut packets, mut last) = (24, Vec::new(), 0u64);
    while at + 16 <= bytes.len() {
        let (time, len) = (u32_at(at) * 1_000_000 + u32_at(at + 4), u32_at(at + 8) as usize);
        assert!(time >= last, "packets in order of arrival");
        last = time;
        let ip = &bytes[at + 16..at + 16 + len];
        assert_eq!((ip[0] >> 4, ip[9]), (4, 17), "IPv4 carrying UDP");
        packets.push(([ip[12], ip[13], ip[14], ip[15]], [ip[16], ip[17], ip[18], ip[19]]));
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "the file ends on a record boundary");
    assert!(packets.len() > 100, "20 s of a node's walk, sync and punches: {}", packets.len());
    // One address is in every packet, as source or destination: the captured node's.
    let node = packets[0].0;
    assert!(packets.iter().all(|(s, d)| *s == node || *d == node));
    assert!(packets.iter().any(|(_, d)| *d == node) && packets.iter().any(|(s, _)| *s == node), "both ways");
}
