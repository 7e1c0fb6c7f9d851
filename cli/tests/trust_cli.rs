//! `ipv8 trust` end to end: files in, rankings and paths out, errors naming the bad line.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ipv8(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ipv8")).args(args).output().unwrap()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ipv8-trust-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_generated_graph_ranks_the_same_twice_and_keeps_the_sybils_below_the_ego_s_friends() {
    let file = temp_file("generated.csv", "");
    let generated = ipv8(&["trust", "generate", "--peers", "3000", "--sybils", "1000", "--out", s(&file)]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let rank = || json(&ipv8(&["trust", "rank", "--edges", s(&file), "--ego", "h0", "--top", "4000", "--json"]));
    let (first, second) = (rank(), rank());
    assert_eq!(first, second, "same seed, same ranking");
    let peers = first["peers"].as_array().unwrap();
    let scores: Vec<f64> = peers.iter().map(|p| p["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "highest first");
    assert!(peers.iter().all(|p| p["peer"] != "h0"), "the ego is not ranked");
    let sybil_total: f64 = peers
        .iter()
        .filter(|p| p["peer"].as_str().unwrap().starts_with('s'))
        .map(|p| p["score"].as_f64().unwrap())
        .sum();
    assert!(sybil_total > 0.0 && sybil_total < 0.3, "1,000 Sybils behind one attack edge get {sybil_total}");
    let top = rank_text(&file);
    assert!(top.lines().nth(1).unwrap().trim_start().starts_with("1 "), "text output is a ranked table:\n{top}");
}

fn rank_text(file: &Path) -> String {
    let out = ipv8(&["trust", "rank", "--edges", s(file), "--ego", "h0", "--top", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 4, "a header and three peers:\n{text}");
    text
}

#[test]
fn a_path_shows_each_hop_with_its_relation_and_distrust_is_never_walked() {
    let file = temp_file(
        "paths.csv",
        "from,to,type,strength,timestamp\n\
         alice,bob,social_friend,1,10\n\
         bob,carol,traffic_exchange,3,10\n\
         alice,dave,moderator_vote,2,10\n\
         dave,carol,social_friend,0.5,10\n\
         alice,carol,social_friend,-1,10\n",
    );
    let out = json(&ipv8(&["trust", "path", "--edges", s(&file), "--ego", "alice", "--to", "carol", "--json"]));
    let hops = |p: &Value| -> Vec<(String, String, String)> {
        p["hops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["from"].as_str().unwrap().into(),
                    h["to"].as_str().unwrap().into(),
                    h["type"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    // The direct relation is distrust: no one-hop path.
    assert_eq!(hops(&out["shortest"]).len(), 2);
    assert_eq!(
        hops(&out["widest"]),
        [
            ("alice".into(), "bob".into(), "social_friend".into()),
            ("bob".into(), "carol".into(), "traffic_exchange".into())
        ]
    );
    assert_eq!(out["widest"]["bottleneck"], 1.0);
    assert_eq!(out["disjoint"].as_array().unwrap().len(), 2);
    let none = ipv8(&["trust", "path", "--edges", s(&file), "--ego", "carol", "--to", "alice"]);
    assert!(String::from_utf8(none.stdout).unwrap().starts_with("no trusted path"));
}

#[test]
fn a_malformed_row_is_reported_with_its_line_and_nothing_is_ranked() {
    let header = "from,to,type,strength,timestamp\n";
    let cases = [
        (format!("{header}a,b,social_friend,1,1\na,b,social_friend,1\n"), "line 3: 4 fields, expected 5"),
        (format!("{header}a,b,social_friend,1,1\n\na,b,0,NaN,1\n"), "line 4: strength \"NaN\" is not a finite number"),
        (format!("{header}a,b,3,1,-5\n"), "line 2: timestamp \"-5\" is not a whole number from 0"),
        (
            format!("{header}a,b,3,1,12345678901234567890123\n"),
            "line 2: timestamp \"12345678901234567890123\" is above 18446744073709551615",
        ),
        (format!("{header}a,b,3,1e308,1\n"), "line 2: strength \"1e308\" is beyond ±3.4e38, the largest strength"),
        (format!("{header}a,b,3,strong,1\n"), "line 2: strength \"strong\" is not a number"),
        (format!("{header}a,,3,1,5\n"), "line 2: a peer id is empty"),
        ("to,from,type,strength,timestamp\n".to_owned(), "line 1: the header must be"),
        (String::new(), "line 1: empty file"),
    ];
    for (i, (contents, expected)) in cases.iter().enumerate() {
        let file = temp_file(&format!("bad{i}.csv"), contents);
        let out = ipv8(&["trust", "rank", "--edges", s(&file), "--ego", "a"]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "case {i}");
        assert!(stderr.contains(expected), "case {i}: {stderr:?} should contain {expected:?}");
        assert!(out.stdout.is_empty(), "case {i}: nothing printed on stdout");
    }
    let file = temp_file("good.csv", &format!("{header}a,b,social_friend,1,1\n"));
    let out = ipv8(&["trust", "rank", "--edges", s(&file), "--ego", "zed"]);
    assert!(String::from_utf8(out.stderr).unwrap().contains("peer \"zed\" is not in the edge file"));
}

#[test]
fn a_signal_ends_a_command_that_waits_on_its_input() {
    use std::os::unix::process::ExitStatusExt;
    // `trust rank` reading a pipe that stays open: SIGTERM must end it, not wait for input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipv8"))
        .args(["trust", "rank", "--edges", "-", "--ego", "a"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(5) {
            let _ = child.kill();
            panic!("still running 5 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(15), "{status:?}");
}

#[test]
fn an_attack_strength_out_of_range_is_refused_as_written() {
    for (value, expected) in [
        ("1e39", "1e39 is beyond ±3.4e38, the largest strength"),
        ("inf", "inf is not a finite number"),
        ("0", "0 is not above 0"),
        ("lots", "lots is not a number"),
    ] {
        let out = ipv8(&["trust", "generate", "--peers", "20", "--attack-strength", value]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains(expected), "{value}: {stderr:?} should contain {expected:?}");
        assert!(out.stdout.is_empty());
    }
}
