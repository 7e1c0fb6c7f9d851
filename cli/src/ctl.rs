//! `ipv8 ctl`: talk to a running `ipv8 peer` over its control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Failure, Stop};

/// `ipv8 ctl`.
#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The peer's control socket.
    #[arg(long, default_value = "ipv8.sock", global = true)]
    control: PathBuf,
    /// Print the peer's JSON answers as they are.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// The peer's own id.
    Id,
    /// The peers it knows: id, name, address, whether connected, trust, RTT.
    Peers,
    /// Send a text message to a peer (named by a prefix of its id).
    Send {
        /// The peer.
        peer: String,
        /// The message.
        text: String,
    },
    /// This peer's trust in another.
    Trust {
        /// The peer.
        peer: String,
    },
    /// The friendship path that makes a peer trusted.
    Paths {
        /// The peer.
        peer: String,
    },
    /// Sign a relation to a peer (strength 0 withdraws it).
    Relate {
        /// The peer.
        peer: String,
        /// traffic-exchange, similar-taste, moderator-vote, social-friend, or 0–255.
        r#type: String,
        /// How strong.
        strength: u32,
    },
    /// Counters and per-path figures.
    Stats,
    /// Print events as they happen (until interrupted).
    Watch,
}

fn request(reader: &mut BufReader<UnixStream>, v: &Value) -> Result<Value, Failure> {
    writeln!(reader.get_mut(), "{v}").map_err(|e| Failure::from(format!("control socket: {e}")))?;
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| Failure::from(format!("control socket: {e}")))?;
    serde_json::from_str(&line).map_err(|_| Failure::from("the peer closed the control connection"))
}

/// Checks what can be checked without the peer: a peer id's form and a relation type.
fn check_usage(command: &CtlCommand) -> Result<(), Failure> {
    let peer = match command {
        CtlCommand::Send { peer, .. } | CtlCommand::Trust { peer } | CtlCommand::Paths { peer } => peer,
        CtlCommand::Relate { peer, r#type, .. } => {
            crate::overlay_text::parse_relation(r#type).map_err(Failure::usage)?;
            peer
        }
        _ => return Ok(()),
    };
    crate::overlay_text::check_peer_prefix(peer).map_err(Failure::usage)
}

pub(crate) fn run(args: &CtlArgs, stop: &Stop) -> Result<(), Failure> {
    check_usage(&args.command)?;
    let stream = UnixStream::connect(&args.control).map_err(|e| {
        Failure::from(format!("cannot reach a peer at {}: {e} (is `ipv8 peer` running?)", args.control.display()))
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let req = match &args.command {
        CtlCommand::Id => json!({ "cmd": "id" }),
        CtlCommand::Peers => json!({ "cmd": "peers" }),
        CtlCommand::Send { peer, text } => json!({ "cmd": "send", "peer": peer, "text": text }),
        CtlCommand::Trust { peer } => json!({ "cmd": "trust", "peer": peer }),
        CtlCommand::Paths { peer } => json!({ "cmd": "paths", "peer": peer }),
        CtlCommand::Relate { peer, r#type, strength } => {
            json!({ "cmd": "relate", "peer": peer, "type": r#type, "strength": strength })
        }
        CtlCommand::Stats => json!({ "cmd": "stats" }),
        CtlCommand::Watch => json!({ "cmd": "subscribe" }),
    };
    // One reader for the answer and, for `watch`, the events after it (a second buffer would
    // lose what the first had read ahead).
    let mut reader = BufReader::new(stream);
    let answer = request(&mut reader, &req)?;
    if answer.get("ok") != Some(&Value::Bool(true)) {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("the peer refused the request");
        return Err(Failure::from(error.to_string()));
    }
    if let CtlCommand::Watch = args.command {
        reader.get_ref().set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
        // Bytes, not a String: a read that times out inside a UTF-8 character keeps its half.
        let mut line = Vec::new();
        while !stop.requested() {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Err("the peer closed the control connection".into()),
                Ok(_) if line.ends_with(b"\n") => {
                    crate::peer::say(&String::from_utf8_lossy(&line[..line.len() - 1]));
                    line.clear();
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(Failure::from(format!("control socket: {e}"))),
            }
        }
        return Err(Failure::interrupted());
    }
    if args.json {
        outln!("{answer}");
        return Ok(());
    }
    print_human(&args.command, &answer);
    Ok(())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("-")
}

fn print_human(command: &CtlCommand, a: &Value) {
    match command {
        CtlCommand::Id => outln!("{}", s(a, "peer")),
        CtlCommand::Peers => {
            outln!("{:<42} {:<12} {:<22} {:<9} {:>8} {:>8}", "PEER", "NAME", "ADDRESS", "CONNECTED", "TRUST", "RTT ms");
            for p in a.get("peers").and_then(Value::as_array).into_iter().flatten() {
                outln!(
                    "{:<42} {:<12} {:<22} {:<9} {:>8} {:>8}",
                    s(p, "peer"),
                    crate::overlay_text::printable(p.get("name").and_then(Value::as_str).unwrap_or("")),
                    s(p, "address"),
                    if p.get("connected") == Some(&Value::Bool(true)) { "yes" } else { "no" },
                    p.get("trust").and_then(Value::as_f64).map_or("-".into(), |t| format!("{t:.4}")),
                    p.get("srtt_ms").and_then(Value::as_f64).map_or("-".into(), |t| format!("{t:.1}")),
                );
            }
        }
        CtlCommand::Send { .. } => match a.get("delivery").and_then(Value::as_str) {
            Some("held") => outln!(
                "queued for {}: no stream to it yet; it leaves once one opens (`ipv8 ctl watch` shows send-failed if none can)",
                s(a, "peer")
            ),
            Some("relay") => outln!("sent to {} through a relay", s(a, "peer")),
            _ => outln!("sent to {}", s(a, "peer")),
        },
        CtlCommand::Trust { .. } => {
            outln!("{}", a.get("trust").and_then(Value::as_f64).map_or("-".into(), |t| format!("{t:.6}")));
        }
        CtlCommand::Paths { .. } => {
            let hops = a.get("path").and_then(Value::as_array).cloned().unwrap_or_default();
            if hops.is_empty() {
                outln!("no trusted path");
            }
            for h in hops {
                outln!(
                    "{} -> {} ({} {})",
                    &s(&h, "from")[..8.min(s(&h, "from").len())],
                    &s(&h, "to")[..8.min(s(&h, "to").len())],
                    s(&h, "type"),
                    h["strength"]
                );
            }
        }
        CtlCommand::Relate { .. } => outln!("signed relation record {}", s(a, "record")),
        CtlCommand::Stats | CtlCommand::Watch => outln!("{a:#}"),
    }
}
