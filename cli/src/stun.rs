//! `ipv8 stun-server` and `ipv8 nat-check`.

use crate::MAX_SECS;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use sansio_core::{Instant, Machine};
use serde::Serialize;
use stun_core::{
    BindingLifetime, CheckFailure, Filtering, LifetimeConfig, Mapping, MessageType, NatCheck, NatCheckConfig, NatEvent,
    NatReport, NatType, Procedure, Server, ServerConfig, TransactionId,
};

use crate::run::{Running, Runtime};
use crate::{Failure, Stop};

/// The STUN port (RFC 8489), used when `--server` names none.
const STUN_PORT: u16 = 3478;

/// `ipv8 stun-server`.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Primary address IP:PORT (port 0: any free port, printed once bound).
    #[arg(long)]
    primary: SocketAddr,
    /// Alternate address IP:PORT (another IP and port: full RFC 5780 / RFC 3489 support), of
    /// the primary's address family.
    #[arg(long)]
    alternate: Option<SocketAddr>,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
    /// Stop after this many seconds and print the counters (default: run until killed).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    for_secs: Option<u64>,
    /// Requests per second allowed per source IP (an IPv6 /64 gets four times as many).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    rate: u32,
    /// Send answers to a RESPONSE-ADDRESS on a third party's IP (a reflection risk).
    #[arg(long)]
    allow_reflection: bool,
}

/// `ipv8 nat-check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The STUN server, HOST or HOST:PORT (port 3478 if none is given).
    #[arg(long)]
    server: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also measure the NAT's binding lifetime (takes minutes against a real NAT).
    #[arg(long)]
    lifetime: bool,
    /// Longest idle time tried by the lifetime search, seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..), requires = "lifetime")]
    lifetime_max: u64,
    /// First idle time tried by the lifetime search, seconds (at most --lifetime-max).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), requires = "lifetime")]
    lifetime_first: u64,
    /// Test procedure.
    #[arg(long, value_enum, default_value_t = ProcedureArg::Rfc5780)]
    procedure: ProcedureArg,
    /// How long a test that may get no answer waits, milliseconds.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..))]
    negative_timeout_ms: u64,
    /// Test hairpinning too.
    #[arg(long)]
    hairpin: bool,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// The test procedures.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ProcedureArg {
    /// RFC 5780 behaviour discovery (needs OTHER-ADDRESS: coturn, ours).
    Rfc5780,
    /// RFC 3489 classic tests (CHANGED-ADDRESS: Vovida stund, coturn, ours).
    Rfc3489,
}

/// How a [`drive`] ended.
enum Ended {
    /// `on_event` said it had seen enough, or the machine's loop ended.
    Done,
    /// The time limit passed.
    TimeUp,
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// Runs `machine` on `sockets`, calls `start` in the loop, hands events to `on_event` until
/// it returns `false`, `limit` passes or `stop` is requested; returns the machine and why it
/// ended.
fn drive<M>(
    machine: M,
    sockets: Vec<UdpSocket>,
    runtime: Runtime,
    start: impl FnOnce(&mut M, Instant) + Send + 'static,
    limit: Option<Duration>,
    stop: &Stop,
    mut on_event: impl FnMut(M::Event) -> bool,
) -> Result<(M, Ended), Failure>
where
    M: Machine + Send + 'static,
    M::Event: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let wait = |rx: &mpsc::Receiver<M::Event>, on_event: &mut dyn FnMut(M::Event) -> bool| {
        let deadline = limit.map(|l| std::time::Instant::now() + l);
        // Wake at least this often to notice a stop signal.
        let tick = Duration::from_millis(100);
        loop {
            if stop.requested() {
                return Ended::Interrupted;
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ended::TimeUp;
            }
            match rx.recv_timeout(left.map_or(tick, |l| l.min(tick))) {
                Ok(e) => {
                    if !on_event(e) {
                        return Ended::Done;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ended::Done,
            }
        }
    };
    let running = Running::start(machine, sockets, runtime, move |e| {
        let _ = tx.send(e);
    })?;
    running.call(start)?;
    let ended = wait(&rx, &mut on_event);
    Ok((running.stop()?.machine, ended))
}

/// Binds the server's sockets. With port 0 in the primary or the alternate, the kernel picks
/// the port, and the configuration is rewritten to the ports actually bound (OTHER-ADDRESS
/// must name real sockets).
fn bind_server(config: &mut ServerConfig) -> Result<Vec<UdpSocket>, Failure> {
    let bind = |a: SocketAddr| UdpSocket::bind(a).map_err(|e| Failure::from(format!("binding {a}: {e}")));
    let primary = bind(config.primary)?;
    config.primary = primary.local_addr().map_err(|e| e.to_string())?;
    let mut sockets = vec![primary];
    if let Some(alternate) = config.alternate {
        let socket = bind(alternate)?;
        config.alternate = Some(socket.local_addr().map_err(|e| e.to_string())?);
        let (first, second) = (config.primary, config.alternate.unwrap_or(alternate));
        sockets.push(socket);
        for cross in config.listen_addresses() {
            if cross != first && cross != second {
                sockets.push(bind(cross)?);
            }
        }
    }
    // Keep the order `listen_addresses` gives (primary first).
    let order = config.listen_addresses();
    sockets.sort_by_key(|s| s.local_addr().ok().and_then(|a| order.iter().position(|o| *o == a)));
    Ok(sockets)
}

/// Runs the STUN server.
pub(crate) fn server(args: &ServerArgs, stop: &Stop) -> Result<(), Failure> {
    if let Some(alternate) = args.alternate
        && alternate.is_ipv4() != args.primary.is_ipv4()
    {
        return Err(Failure::usage(format!(
            "--primary {} and --alternate {alternate} must be of the same address family",
            args.primary
        )));
    }
    let mut config = ServerConfig::new(args.primary, args.alternate);
    config.rate_per_second = args.rate;
    config.burst = args.rate.saturating_mul(2);
    config.allow_reflection = args.allow_reflection;
    config.software = Some(format!("ipv8 {}", env!("CARGO_PKG_VERSION")));
    let sockets = bind_server(&mut config)?;
    let addrs = config.listen_addresses();
    outln!("stun-server listening on {}", addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    // Whoever started us with port 0 reads the port from this line: no buffering.
    std::io::Write::flush(&mut std::io::stdout()).map_err(|e| e.to_string())?;
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let server = Server::new(config, seed).map_err(|e| Failure::usage(e.to_string()))?;
    let (server, ended) =
        drive(server, sockets, args.runtime, |_, _| {}, args.for_secs.map(Duration::from_secs), stop, |e| match e {})?;
    let s = server.stats();
    eprintln!(
        "received {}, answered {}, errors {}, malformed {}, not requests {}, rate-limited {}, queue full {}, oversize {}, attributes trimmed {}",
        s.received,
        s.answered,
        s.errors,
        s.malformed,
        s.not_requests,
        s.rate_limited,
        s.queue_full,
        s.oversize,
        s.trimmed
    );
    match ended {
        Ended::Interrupted => Err(Failure::interrupted()),
        Ended::Done | Ended::TimeUp => Ok(()),
    }
}

/// `HOST:PORT`, `HOST` (port 3478), `[V6]:PORT` or a bare IPv6 address; an IPv4 address is
/// preferred when a name has both.
fn resolve(server: &str) -> Result<SocketAddr, Failure> {
    let with_port = if let Ok(ip) = server.parse::<IpAddr>() {
        // A bare address (an IPv6 one has colons of its own).
        SocketAddr::new(ip, STUN_PORT).to_string()
    } else if server.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()) {
        server.to_owned()
    } else {
        format!("{server}:{STUN_PORT}")
    };
    let all: Vec<SocketAddr> =
        with_port.to_socket_addrs().map_err(|e| Failure::from(format!("--server {server}: {e}")))?.collect();
    let chosen = all.iter().find(|a| a.is_ipv4()).or(all.first()).copied();
    let chosen = chosen.ok_or_else(|| Failure::from(format!("--server {server}: no address")))?;
    if chosen.port() == 0 {
        return Err(Failure::usage(format!("--server {server}: port 0 cannot be sent to")));
    }
    Ok(chosen)
}

/// The local IP the kernel would send to `server` from: a concrete address, so "no NAT" can
/// be told apart from a NAT.
fn local_ip_towards(server: SocketAddr) -> Result<IpAddr, Failure> {
    let any: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "address")?;
    let probe = UdpSocket::bind(any).map_err(|e| e.to_string())?;
    probe.connect(server).map_err(|e| format!("no route to {server}: {e}"))?;
    Ok(probe.local_addr().map_err(|e| e.to_string())?.ip())
}

/// Whether `server` answers a Binding request with ICMP port unreachable, which only a
/// connected socket hears: one request from a socket of its own on `ip`, waited on for at
/// most half a second. An answer, or silence, says nothing either way (the check proper
/// decides), so a server that is merely far or slow costs at most that half second.
fn port_unreachable(ip: IpAddr, server: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, 0)) else { return false };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut id = [0u8; 12];
    id[..4].copy_from_slice(&std::process::id().to_be_bytes());
    id[4..8].copy_from_slice(&nanos.to_be_bytes());
    let mut request = [0u8; stun_core::HEADER_LEN];
    let Ok(writer) =
        stun_core::MessageWriter::new(&mut request, MessageType::BINDING_REQUEST, TransactionId::Rfc8489(id))
    else {
        return false;
    };
    let len = writer.finish();
    if socket.connect(server).is_err()
        || socket.set_read_timeout(Some(Duration::from_millis(500))).is_err()
        || socket.send(&request[..len]).is_err()
    {
        return false;
    }
    let mut answer = [0u8; 1500];
    matches!(socket.recv(&mut answer), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

#[derive(Serialize)]
struct JsonReport {
    server: SocketAddr,
    local: SocketAddr,
    public: Option<SocketAddr>,
    nat_type: String,
    mapping: Option<String>,
    filtering: Option<String>,
    hairpinning: Option<bool>,
    server_other: Option<SocketAddr>,
    lifetime_alive_s: Option<f64>,
    lifetime_expired_s: Option<f64>,
    keepalive_s: Option<f64>,
    /// Why the check fell short, if it did (`no-answer`, `error-answer 401`, …).
    failure: Option<String>,
}

fn nat_type_name(t: NatType) -> &'static str {
    match t {
        NatType::UdpBlocked => "udp-blocked",
        NatType::OpenInternet => "open-internet",
        NatType::SymmetricUdpFirewall => "symmetric-udp-firewall",
        NatType::FullCone => "full-cone",
        NatType::RestrictedCone => "restricted-cone",
        NatType::PortRestrictedCone => "port-restricted-cone",
        NatType::Symmetric => "symmetric",
        _ => "unknown",
    }
}

/// The exit code and one-line message for a check that fell short, or `None` if it did not.
fn failure_outcome(server: SocketAddr, failure: Option<CheckFailure>) -> Option<(u8, String, String)> {
    let (code, short, message) = match failure? {
        CheckFailure::NoAnswer => {
            (3, "no-answer".into(), format!("no answer from {server}: UDP is blocked or the server is down"))
        }
        CheckFailure::ErrorAnswer(code) => (
            4,
            format!("error-answer {code}"),
            format!("{server} answered with STUN error {code} ({})", stun_core::error_code::reason(code)),
        ),
        CheckFailure::NoMappedAddress => {
            (5, "no-mapped-address".into(), format!("{server} answered without a mapped address"))
        }
        CheckFailure::NoOtherAddress => (
            5,
            "no-other-address".into(),
            format!("{server} has no other address: mapping and filtering cannot be tested"),
        ),
        CheckFailure::ImplausibleOtherAddress(a) => (
            5,
            format!("implausible-other-address {a}"),
            format!("{server} claims other address {a}, which it cannot have; not contacted"),
        ),
        CheckFailure::BudgetExhausted => (5, "budget-exhausted".into(), "the check used up its request budget".into()),
        _ => (5, "incomplete".into(), "the check could not finish".into()),
    };
    Some((code, short, message))
}

fn mapping_name(m: Mapping) -> &'static str {
    match m {
        Mapping::EndpointIndependent => "endpoint-independent",
        Mapping::AddressDependent => "address-dependent",
        Mapping::AddressAndPortDependent => "address-and-port-dependent",
    }
}

fn filtering_name(f: Filtering) -> &'static str {
    match f {
        Filtering::EndpointIndependent => "endpoint-independent",
        Filtering::AddressDependent => "address-dependent",
        Filtering::AddressAndPortDependent => "address-and-port-dependent",
    }
}

/// Runs a NAT check and prints the report.
pub(crate) fn check(args: &CheckArgs, stop: &Stop) -> Result<(), Failure> {
    if args.lifetime_first > args.lifetime_max {
        return Err(Failure::usage(format!(
            "--lifetime-first {} is longer than --lifetime-max {}",
            args.lifetime_first, args.lifetime_max
        )));
    }
    let server = resolve(&args.server)?;
    let ip = local_ip_towards(server)?;
    let sockets = drivers::bind_all(&[SocketAddr::new(ip, 0), SocketAddr::new(ip, 0)]).map_err(|e| e.to_string())?;
    let local = sockets[0].local_addr().map_err(|e| e.to_string())?;
    let second = sockets[1].local_addr().map_err(|e| e.to_string())?;
    let mut config = NatCheckConfig::new(server, local);
    config.procedure = match args.procedure {
        ProcedureArg::Rfc5780 => Procedure::Rfc5780,
        ProcedureArg::Rfc3489 => Procedure::Rfc3489,
    };
    config.negative_timeout = Duration::from_millis(args.negative_timeout_ms);
    config.hairpin = args.hairpin;
    if args.lifetime {
        config.lifetime = Some(LifetimeConfig {
            first_guess: Duration::from_secs(args.lifetime_first),
            max: Duration::from_secs(args.lifetime_max),
            ..LifetimeConfig::new(second)
        });
    }
    let mut report: Option<NatReport> = None;
    let verbose = !args.json;
    if verbose {
        // The first answer may take a while: a server that stays silent is given up on only
        // after RFC 8489's retransmissions (about 40 s).
        eprintln!("asking {server} from {local} (a silent server is given up on after about 40 s)");
    }
    if port_unreachable(ip, server) {
        let message =
            format!("{server} answered ICMP port unreachable: no STUN server listens there, or a firewall rejects it");
        if args.json {
            let out = JsonReport {
                server,
                local,
                public: None,
                nat_type: "unknown".into(),
                mapping: None,
                filtering: None,
                hairpinning: None,
                server_other: None,
                lifetime_alive_s: None,
                lifetime_expired_s: None,
                keepalive_s: None,
                failure: Some("port-unreachable".into()),
            };
            outln!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
        }
        return Err(Failure::with_code(3, message));
    }
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let (_, ended) = drive(
        NatCheck::new(config, seed),
        sockets,
        args.runtime,
        |c, now| c.start(now),
        None,
        stop,
        |e| {
            match e {
                NatEvent::PublicAddress(a) if verbose => eprintln!("public address {a}"),
                NatEvent::PublicAddressChanged { old, new } if verbose => {
                    eprintln!("public address changed {old} -> {new}")
                }
                NatEvent::Done(r) => {
                    report = Some(r);
                    return false;
                }
                _ => {}
            }
            true
        },
    )?;
    if matches!(ended, Ended::Interrupted) {
        return Err(Failure::interrupted());
    }
    let r = report.ok_or("the check ended without a report")?;
    let lifetime: Option<BindingLifetime> = r.lifetime;
    let outcome = failure_outcome(server, r.failure);
    if args.json {
        let out = JsonReport {
            server,
            local,
            public: r.public,
            nat_type: nat_type_name(r.nat_type).into(),
            mapping: r.mapping.map(|m| mapping_name(m).into()),
            filtering: r.filtering.map(|f| filtering_name(f).into()),
            hairpinning: r.hairpinning,
            server_other: r.server_other,
            lifetime_alive_s: lifetime.map(|l| l.alive.as_secs_f64()),
            lifetime_expired_s: lifetime.and_then(|l| l.expired).map(|e| e.as_secs_f64()),
            keepalive_s: lifetime.map(|l| l.keepalive.as_secs_f64()),
            failure: outcome.as_ref().map(|(_, short, _)| short.clone()),
        };
        outln!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
        return outcome.map_or(Ok(()), |(code, _, message)| Err(Failure::with_code(code, message)));
    }
    outln!("NAT type:      {}", nat_type_name(r.nat_type));
    outln!("mapping:       {}", r.mapping.map_or("not tested", mapping_name));
    outln!("filtering:     {}", r.filtering.map_or("not tested", filtering_name));
    outln!("public:        {}", r.public.map_or("none".into(), |p| p.to_string()));
    outln!("local:         {local}");
    if let Some(h) = r.hairpinning {
        outln!("hairpinning:   {h}");
    }
    if let Some(l) = lifetime {
        let expired =
            l.expired.map_or(format!("> {:.1} s", l.alive.as_secs_f64()), |e| format!("{:.1} s", e.as_secs_f64()));
        outln!("binding lives: {:.1} s (expired by {expired}; {} probes)", l.alive.as_secs_f64(), l.probes);
        outln!("keep-alive:    every {:.1} s", l.keepalive.as_secs_f64());
    }
    outcome.map_or(Ok(()), |(code, _, message)| Err(Failure::with_code(code, message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_named_without_a_port_is_asked_on_3478() {
        let at = |s: &str| resolve(s).map_err(|f| f.message).unwrap_or_else(|m| panic!("{s}: {m}"));
        assert_eq!(at("127.0.0.1"), "127.0.0.1:3478".parse().unwrap());
        assert_eq!(at("127.0.0.1:5000"), "127.0.0.1:5000".parse().unwrap());
        assert_eq!(at("::1"), "[::1]:3478".parse().unwrap());
        assert_eq!(at("[::1]:5000"), "[::1]:5000".parse().unwrap());
        assert_eq!(at("localhost:5000").port(), 5000);
        assert_eq!(at("localhost").port(), STUN_PORT);
        assert_eq!(resolve("127.0.0.1:0").map_err(|f| f.code).err(), Some(2));
    }
}
