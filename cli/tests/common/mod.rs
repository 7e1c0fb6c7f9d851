//! What the root tests share: shell set-up and commands run inside network namespaces.

use std::process::Command;

/// Runs `script` in bash, stopping at its first failing line; a failure fails the test with
/// the script and its stderr.
pub(crate) fn sh(script: &str) {
    let out = Command::new("bash").args(["-ec", script]).output().unwrap();
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// `program args…`, to be run inside namespace `ns`.
pub(crate) fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]).args(args);
    c
}

/// Deletes namespaces, best effort (for `Drop`: the veths inside go with them).
pub(crate) fn delete_namespaces(names: &[&str]) {
    for ns in names {
        let _ = Command::new("ip").args(["netns", "del", ns]).stderr(std::process::Stdio::null()).status();
    }
}
