//! `ipv8 punch`: a hole-punching probe for real networks. It sends small datagrams to a peer
//! (optionally a first one with a low TTL that only opens this side's NAT), answers what
//! arrives, and reports every source it hears from: what a NAT-traversal engine does, bare,
//! so a user can see what their NATs allow. Run it on both sides at about the same time.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use clap::Args;

use crate::{Failure, Stop};

const PUNCH: &[u8] = b"ipv8-punch";
const ACK: &[u8] = b"ipv8-punch-ack";

/// `ipv8 punch`.
#[derive(Debug, Args)]
pub(crate) struct PunchArgs {
    /// Local address IP:PORT (port 0: any free port, printed once bound).
    #[arg(long)]
    bind: SocketAddr,
    /// The peer's public address (as its STUN check or an introducer reported it).
    #[arg(long)]
    to: SocketAddr,
    /// First send one datagram with this TTL: enough to leave your own NAT (making its
    /// mapping) but not to reach the peer's (so it leaves no state there).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
    first_ttl: Option<u8>,
    /// Milliseconds to wait after the low-TTL datagram before the others: long enough for the
    /// peer to send its own low-TTL one, so no full-TTL datagram reaches its NAT first.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    delay_ms: u64,
    /// Datagrams to send after the first (default: one every --every-ms until the end).
    #[arg(long)]
    count: Option<u32>,
    /// Milliseconds between datagrams.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    every_ms: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 3.0)]
    for_secs: f64,
    /// Keep sending to the address given, even after the peer is heard from another one
    /// (default: switch to where the peer's datagrams come from, as ICE's peer-reflexive
    /// candidates do).
    #[arg(long)]
    fixed: bool,
    /// JSON lines instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the probe. Exit 0 when something arrived from the peer's IP, 3 when nothing did.
pub(crate) fn run(args: &PunchArgs, stop: &Stop) -> Result<(), Failure> {
    if !(args.for_secs.is_finite() && args.for_secs > 0.0 && args.for_secs <= 86_400.0) {
        return Err(Failure::usage(format!("--for-secs {} must be above 0 and at most 86400", args.for_secs)));
    }
    if args.to.port() == 0 {
        return Err(Failure::usage(format!("--to {}: port 0 cannot be sent to", args.to)));
    }
    let socket = UdpSocket::bind(args.bind).map_err(|e| Failure::from(format!("binding {}: {e}", args.bind)))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    if args.json {
        outln!("{}", serde_json::json!({ "bound": local, "to": args.to }));
    } else {
        outln!("punching {} from {local}", args.to);
    }
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(args.for_secs);
    let mut target = args.to;
    let mut sent = 0u32;
    if let Some(ttl) = args.first_ttl {
        send_with_ttl(&socket, target, ttl)?;
    }
    let every = Duration::from_millis(args.every_ms);
    let mut next = Instant::now() + Duration::from_millis(args.delay_ms);
    let (mut received, mut heard) = (0u64, BTreeSet::new());
    let mut buf = [0u8; 2048];
    while Instant::now() < end && !stop.requested() {
        if Instant::now() >= next && args.count.is_none_or(|c| sent < c) {
            match socket.send_to(PUNCH, target) {
                Ok(_) => sent += 1,
                // A full socket buffer (the socket does not block): this one is skipped.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::from(format!("sending to {target}: {e}"))),
            }
            // After a stall (a stopped process, a loaded machine) the schedule starts again
            // from now instead of sending every missed datagram at once.
            next = (next + every).max(Instant::now());
        }
        // Everything that arrived, then a sleep until the next send is due (at most 10 ms, to
        // notice a stop). A nanosleep keeps a 1 ms --every-ms; a socket timeout would round
        // it up to the kernel's tick.
        // At most 64 a pass, so a flood cannot keep the loop from sending and stopping.
        for _ in 0..64 {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    received += 1;
                    if heard.insert(from) {
                        let t = started.elapsed().as_secs_f64();
                        if args.json {
                            outln!("{}", serde_json::json!({ "t": t, "from": from, "bytes": n }));
                        } else {
                            outln!("{t:.3} s: heard from {from}");
                        }
                    }
                    if &buf[..n] == PUNCH {
                        let _ = socket.send_to(ACK, from);
                    }
                    if !args.fixed && from.ip() == args.to.ip() {
                        target = from;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    break;
                }
                // An ICMP error from an earlier send (port unreachable): the peer is not there yet.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(Failure::from(format!("receiving: {e}"))),
            }
        }
        let more = args.count.is_none_or(|c| sent < c);
        let wait = if more { next.saturating_duration_since(Instant::now()) } else { Duration::MAX };
        std::thread::sleep(wait.min(Duration::from_millis(10)));
    }
    let from_peer = heard.iter().any(|a| a.ip() == args.to.ip());
    let sources: Vec<String> = heard.iter().map(ToString::to_string).collect();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({ "summary": { "sent": sent + u32::from(args.first_ttl.is_some()), "received": received, "sources": sources, "joined": from_peer } })
        );
    } else {
        outln!(
            "sent {sent}, received {received} from {}",
            if sources.is_empty() { "nobody".into() } else { sources.join(", ") }
        );
    }
    if stop.requested() {
        Err(Failure::interrupted())
    } else if from_peer {
        Ok(())
    } else {
        Err(Failure::with_code(3, format!("nothing arrived from {}", args.to.ip())))
    }
}

fn send_with_ttl(socket: &UdpSocket, to: SocketAddr, ttl: u8) -> Result<(), Failure> {
    drivers::with_ttl(socket, to, Some(ttl), || socket.send_to(PUNCH, to))
        .map(|_| ())
        .map_err(|e| Failure::from(format!("sending to {to} with TTL {ttl}: {e}")))
}
