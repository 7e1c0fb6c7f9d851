//! `ipv8 p2tp listen` and `ipv8 p2tp send`: P2TP between two hosts, with live path figures
//! once a second (like iperf3) and a summary at the end.

use crate::MAX_SECS;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, Subcommand};
use p2tp_core::congestion::FixedRateConfig;
use p2tp_core::{BulkSender, Config, Endpoint, Event, PathStats};
use sansio_core::{Instant, Machine, Transmit};
use serde::Serialize;

use crate::run::{Running, Runtime};
use crate::{Failure, Stop};

/// P2TP, the rate-controlled UDP transport.
#[derive(Debug, Subcommand)]
pub(crate) enum P2tp {
    /// Accept streams and count what arrives (until interrupted, or `--for-secs`).
    #[command(after_help = crate::EXIT_CODES)]
    Listen(ListenArgs),
    /// Open a stream and send as fast as the path allows (or at `--rate`) for `--duration`.
    #[command(after_help = crate::EXIT_CODES)]
    Send(SendArgs),
}

/// `ipv8 p2tp listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// Local address IP:PORT (port 0: any free port, printed once bound).
    #[arg(long)]
    bind: SocketAddr,
    /// Stop after this many seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    for_secs: Option<u64>,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// `ipv8 p2tp send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The listener, HOST:PORT.
    #[arg(long)]
    to: String,
    /// Local address (default: any port on the unspecified address of the peer's family).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// A fixed rate instead of CUBIC, bits per second with an optional k, M or G suffix
    /// (`50M`).
    #[arg(long, value_parser = parse_rate)]
    rate: Option<u64>,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Application bytes per datagram (at most 1192).
    #[arg(long, default_value_t = 1192, value_parser = clap::value_parser!(u16).range(1..=1192))]
    size: u16,
    /// Print JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// `50M` → 50,000,000 bits per second.
fn parse_rate(s: &str) -> Result<u64, String> {
    let (digits, scale) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| format!("{s:?} is not a rate like 800k, 50M or 1G"))?;
    let bits = value * scale;
    if !(bits.is_finite() && (8.0..=1e12).contains(&bits)) {
        return Err(format!("{s:?} must be between 8 bit/s and 1 Tbit/s"));
    }
    Ok(bits as u64)
}

/// Runs a `p2tp` subcommand.
pub(crate) fn run(command: P2tp, stop: &Stop) -> Result<(), Failure> {
    match command {
        P2tp::Listen(args) => listen(&args, stop),
        P2tp::Send(args) => send(&args, stop),
    }
}

/// What the listener's application counted from one peer.
#[derive(Clone, Copy, Debug, Default, Serialize)]
struct Received {
    bytes: u64,
    datagrams: u64,
}

/// An endpoint whose application counts every datagram it receives (on the loop's thread);
/// its other events go to the main thread.
struct Listener {
    ep: Endpoint,
    received: BTreeMap<SocketAddr, Received>,
}

impl Machine for Listener {
    type Event = Event;
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, d: &[u8]) {
        self.ep.handle_datagram(now, local, remote, d);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.ep.poll_transmit(now, buf)
    }
    fn poll_event(&mut self) -> Option<Event> {
        loop {
            match self.ep.poll_event()? {
                Event::Datagram { peer, data } => {
                    let r = self.received.entry(peer).or_default();
                    r.bytes += data.len() as u64;
                    r.datagrams += 1;
                }
                other => return Some(other),
            }
        }
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.ep.poll_timeout()
    }
    fn timeout_reason(&self) -> Option<&'static str> {
        self.ep.timeout_reason()
    }
}

/// One line of a report: the path as one side sees it.
#[derive(Debug, Serialize)]
struct Report {
    /// Seconds since the start.
    t: f64,
    peer: SocketAddr,
    /// Megabits per second of application data over the last interval.
    mbps: f64,
    /// Application bytes so far.
    bytes: u64,
    srtt_ms: f64,
    min_rtt_ms: f64,
    rate_mbps: f64,
    delivery_mbps: f64,
    loss_events: u64,
    loss_event_rate: f64,
    lost: u64,
    lss: bool,
    clr: bool,
}

fn report(t: f64, peer: SocketAddr, bytes: u64, interval_bytes: u64, interval: f64, p: &PathStats) -> Report {
    Report {
        t,
        peer,
        mbps: interval_bytes as f64 * 8.0 / interval.max(1e-9) / 1e6,
        bytes,
        srtt_ms: p.srtt.as_secs_f64() * 1e3,
        min_rtt_ms: p.min_rtt.as_secs_f64() * 1e3,
        rate_mbps: p.rate as f64 * 8.0 / 1e6,
        delivery_mbps: p.delivery_rate as f64 * 8.0 / 1e6,
        loss_events: p.loss_events,
        loss_event_rate: p.loss_event_rate,
        lost: p.packets_lost,
        lss: p.lss,
        clr: p.clr,
    }
}

fn print_report(r: &Report, json: bool) -> Result<(), Failure> {
    if json {
        outln!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
    } else {
        outln!(
            "{:>6.1}s  {}  {:>8.2} Mbit/s  srtt {:>7.2} ms  min {:>7.2} ms  rate {:>8.2} Mbit/s  loss events {:>4}  lost {:>5}",
            r.t,
            r.peer,
            r.mbps,
            r.srtt_ms,
            r.min_rtt_ms,
            r.rate_mbps,
            r.loss_events,
            r.lost
        );
    }
    Ok(())
}

fn event_line(e: &Event, json: bool) {
    let (what, peer, why) = match e {
        Event::Opened { peer } => ("opened", *peer, String::new()),
        Event::OpenFailed { peer, reason } => ("open-failed", *peer, format!("{reason:?}")),
        Event::Closed { peer, reason } => ("closed", *peer, format!("{reason:?}")),
        _ => return,
    };
    if json {
        outln!("{}", serde_json::json!({ "event": what, "peer": peer, "reason": why }));
    } else {
        eprintln!("{what} {peer} {why}");
    }
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, Failure> {
    UdpSocket::bind(addr).map_err(|e| Failure::from(format!("binding {addr}: {e}")))
}

/// Runs the listener.
pub(crate) fn listen(args: &ListenArgs, stop: &Stop) -> Result<(), Failure> {
    let socket = bind(args.bind)?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let listener = Listener { ep: Endpoint::new(Config::new(local), seed), received: BTreeMap::new() };
    let (tx, events) = mpsc::channel();
    let running = Running::start(listener, vec![socket], args.runtime, move |e| {
        let _ = tx.send(e);
    })?;
    if args.json {
        outln!("{}", serde_json::json!({ "listening": local }));
    } else {
        outln!("p2tp listening on {local}");
    }
    std::io::Write::flush(&mut std::io::stdout()).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let limit = args.for_secs.map(Duration::from_secs);
    let mut last: BTreeMap<SocketAddr, u64> = BTreeMap::new();
    let mut next_tick = started + Duration::from_secs(1);
    let interrupted = loop {
        if stop.requested() {
            break true;
        }
        if limit.is_some_and(|l| started.elapsed() >= l) {
            break false;
        }
        let wait = next_tick.saturating_duration_since(std::time::Instant::now()).min(Duration::from_millis(100));
        if let Ok(e) = events.recv_timeout(wait) {
            event_line(&e, args.json);
            continue;
        }
        if std::time::Instant::now() < next_tick {
            continue;
        }
        next_tick += Duration::from_secs(1);
        let snapshot = running.call(|l: &mut Listener, _| {
            l.received.iter().map(|(p, r)| (*p, r.bytes, l.ep.path_stats(*p))).collect::<Vec<_>>()
        })?;
        let t = started.elapsed().as_secs_f64();
        for (peer, bytes, stats) in snapshot {
            let before = last.insert(peer, bytes).unwrap_or(0);
            if let Some(p) = stats {
                print_report(&report(t, peer, bytes, bytes - before, 1.0, &p), args.json)?;
            }
        }
    };
    let mut stopped = running.stop()?;
    // Datagrams the endpoint took in (and may have acknowledged) just before the loop stopped
    // can still wait as events: count them too, so the totals cover everything acknowledged.
    while stopped.machine.poll_event().is_some() {}
    let t = started.elapsed().as_secs_f64();
    let e = stopped.machine.ep.stats();
    // Datagrams this side declared lost, per peer (the sender's echo covers them too: P2TP
    // acknowledges cumulatively and signals loss with flags).
    let lost: BTreeMap<SocketAddr, u64> = stopped
        .machine
        .received
        .keys()
        .map(|p| (*p, stopped.machine.ep.path_stats(*p).map_or(0, |s| s.packets_lost)))
        .collect();
    let totals: Vec<(SocketAddr, Received)> = stopped.machine.received.into_iter().collect();
    if args.json {
        let peers: Vec<_> = totals
            .iter()
            .map(|(p, r)| serde_json::json!({ "peer": p, "bytes": r.bytes, "datagrams": r.datagrams, "lost_datagrams": lost.get(p).copied().unwrap_or(0), "mbps": r.bytes as f64 * 8.0 / t / 1e6 }))
            .collect();
        outln!(
            "{}",
            serde_json::json!({ "summary": { "seconds": t, "peers": peers, "dropped_short": e.short, "stateless_replies": e.stateless_replies, "streams_opened": e.opened } })
        );
    } else {
        for (p, r) in &totals {
            eprintln!("{p}: {} bytes in {} datagrams", r.bytes, r.datagrams);
        }
        eprintln!(
            "streams opened {}, stateless replies {}, dropped: short {}, bad cookie {}, over budget {}",
            e.opened, e.stateless_replies, e.short, e.bad_cookie, e.stateless_over_budget
        );
    }
    if interrupted { Err(Failure::interrupted()) } else { Ok(()) }
}

/// The JSON summary of `send`.
#[derive(Debug, Serialize)]
struct SendSummary {
    peer: SocketAddr,
    seconds: f64,
    bytes_sent: u64,
    bytes_acked: u64,
    /// Application throughput, Mbit/s: what was acknowledged by the end of `seconds`, over
    /// `seconds` (the queue still drains after that; its bytes count in `bytes_acked` only).
    mbps: f64,
    /// `None` when no echo ever came back (nothing was measured).
    srtt_ms: Option<f64>,
    min_rtt_ms: Option<f64>,
    loss_events: u64,
    packets_sent: u64,
}

/// Runs the sender.
pub(crate) fn send(args: &SendArgs, stop: &Stop) -> Result<(), Failure> {
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= MAX_SECS as f64) {
        return Err(Failure::usage(format!("--duration {} is not between 0 and {MAX_SECS} seconds", args.duration)));
    }
    let peer = args
        .to
        .to_socket_addrs()
        .map_err(|e| Failure::usage(format!("--to {}: {e}", args.to)))?
        .next()
        .ok_or_else(|| Failure::usage(format!("--to {}: no address", args.to)))?;
    if peer.port() == 0 {
        return Err(Failure::usage(format!("--to {}: port 0 cannot be sent to", args.to)));
    }
    let any: SocketAddr = if peer.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "address")?;
    let socket = bind(args.bind.unwrap_or(any))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut config = Config::new(local);
    if let Some(bits) = args.rate {
        config.controller = Arc::new(FixedRateConfig { bytes_per_second: (bits / 8).max(1) });
    }
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let sender = BulkSender::new(Endpoint::new(config, seed), usize::from(args.size));
    let (tx, events) = mpsc::channel();
    let running = Running::start(sender, vec![socket], args.runtime, move |e| {
        let _ = tx.send(e);
    })?;
    let duration = Duration::from_secs_f64(args.duration);
    running.call(move |s: &mut BulkSender, now| {
        s.start(now, &[peer], Some(now + duration)).map_err(|e| e.to_string())
    })??;
    let started = std::time::Instant::now();
    let mut next_tick = started + Duration::from_secs(1);
    let mut last_acked = 0u64;
    let mut failed: Option<String> = None;
    let mut opened = false;
    let deadline = started + duration;
    // Acknowledged bytes when sending stopped (at the deadline, or at the interruption).
    let mut acked_at_deadline: Option<(u64, f64)> = None;
    // Data stops after `duration`; a little longer lets the last echoes come back.
    let end = started + duration + Duration::from_millis(500);
    let interrupted = loop {
        if stop.requested() {
            break true;
        }
        let now = std::time::Instant::now();
        if now >= deadline && acked_at_deadline.is_none() {
            let acked = running.call(move |s: &mut BulkSender, _| s.endpoint().path_stats(peer))?;
            acked_at_deadline = Some((acked.map_or(0, |p| p.bytes_acked), args.duration));
        }
        if now >= end {
            break false;
        }
        let wait = next_tick.min(end).saturating_duration_since(now).min(Duration::from_millis(100));
        if let Ok(e) = events.recv_timeout(wait) {
            event_line(&e, args.json);
            opened |= matches!(e, Event::Opened { .. });
            if let Event::OpenFailed { reason, .. } = e {
                failed = Some(format!("no answer from {peer} ({reason:?})"));
                break false;
            }
            continue;
        }
        if std::time::Instant::now() < next_tick {
            continue;
        }
        next_tick += Duration::from_secs(1);
        if let Some(p) = running.call(move |s: &mut BulkSender, _| s.endpoint().path_stats(peer))? {
            let t = started.elapsed().as_secs_f64();
            print_report(&report(t, peer, p.bytes_acked, p.bytes_acked - last_acked, 1.0, &p), args.json)?;
            last_acked = p.bytes_acked;
        }
    };
    // Closed, so the listener frees the stream now rather than after its idle timeout; the
    // stats are read first (closing frees them here too).
    let p = running.call(move |s: &mut BulkSender, _| s.endpoint().path_stats(peer))?.unwrap_or_default();
    running.call(move |s: &mut BulkSender, now| s.endpoint_mut().close(now, peer))?;
    std::thread::sleep(Duration::from_millis(50));
    let _stopped = running.stop()?;
    let (acked, seconds) =
        acked_at_deadline.unwrap_or((p.bytes_acked, started.elapsed().as_secs_f64().min(args.duration)));
    let seconds = seconds.max(1e-3);
    let measured = p.bytes_acked > 0;
    let summary = SendSummary {
        peer,
        seconds,
        bytes_sent: p.bytes_sent,
        bytes_acked: p.bytes_acked,
        mbps: acked as f64 * 8.0 / seconds / 1e6,
        srtt_ms: measured.then_some(p.srtt.as_secs_f64() * 1e3),
        min_rtt_ms: measured.then_some(p.min_rtt.as_secs_f64() * 1e3),
        loss_events: p.loss_events,
        packets_sent: p.packets_sent,
    };
    if !opened && failed.is_none() && !interrupted {
        failed = Some(format!("no answer from {peer} in {:.1} s", args.duration));
    }
    if args.json {
        outln!("{}", serde_json::json!({ "summary": summary }));
    } else {
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        eprintln!(
            "sent {} bytes, {} acknowledged; {:.2} Mbit/s over {:.1} s, srtt {} ms (min {}), {} loss events",
            summary.bytes_sent,
            summary.bytes_acked,
            summary.mbps,
            summary.seconds,
            ms(summary.srtt_ms),
            ms(summary.min_rtt_ms),
            summary.loss_events
        );
    }
    if let Some(message) = failed {
        return Err(Failure::with_code(3, message));
    }
    if interrupted { Err(Failure::interrupted()) } else { Ok(()) }
}
