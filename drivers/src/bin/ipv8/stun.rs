//! `ipv8 stun-server` and `ipv8 nat-check`.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use drivers::{DriverConfig, std_thread, tokio as tokio_driver};
use sansio_core::{Instant, Machine};
use serde::Serialize;
use stun_core::{
    BindingLifetime, Filtering, LifetimeConfig, Mapping, NatCheck, NatCheckConfig, NatEvent, NatReport, NatType,
    Procedure, Server, ServerConfig,
};

/// Which run loop drives the machine.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Runtime {
    /// One OS thread (mio readiness).
    Std,
    /// A tokio task on a current-thread runtime.
    Tokio,
}

/// `ipv8 stun-server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Primary address IP:PORT.
    #[arg(long)]
    primary: SocketAddr,
    /// Alternate address IP:PORT (another IP and port: full RFC 5780 / RFC 3489 support).
    #[arg(long)]
    alternate: Option<SocketAddr>,
    /// Run loop.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
    /// Stop after this many seconds and print the counters (default: run until killed).
    #[arg(long)]
    for_secs: Option<u64>,
    /// Requests per second allowed per source IP.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Send answers to a RESPONSE-ADDRESS on a third party's IP (a reflection risk).
    #[arg(long)]
    allow_reflection: bool,
}

/// `ipv8 nat-check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The STUN server, HOST:PORT.
    #[arg(long)]
    server: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also measure the NAT's binding lifetime (takes minutes against a real NAT).
    #[arg(long)]
    lifetime: bool,
    /// Longest idle time tried by the lifetime search, seconds.
    #[arg(long, default_value_t = 300)]
    lifetime_max: u64,
    /// First idle time tried by the lifetime search, seconds.
    #[arg(long, default_value_t = 30)]
    lifetime_first: u64,
    /// Test procedure.
    #[arg(long, value_enum, default_value_t = ProcedureArg::Rfc5780)]
    procedure: ProcedureArg,
    /// How long a test that may get no answer waits, milliseconds.
    #[arg(long, default_value_t = 3000)]
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
pub enum ProcedureArg {
    /// RFC 5780 behaviour discovery (needs OTHER-ADDRESS: coturn, ours).
    Rfc5780,
    /// RFC 3489 classic tests (CHANGED-ADDRESS: Vovida stund, coturn, ours).
    Rfc3489,
}

/// Runs `machine` on `sockets`, calls `start` in the loop, hands events to `on_event` until
/// it returns `false` or `limit` passes; returns the machine.
fn drive<M>(
    machine: M,
    sockets: Vec<UdpSocket>,
    runtime: Runtime,
    start: impl FnOnce(&mut M, Instant) + Send + 'static,
    limit: Option<Duration>,
    mut on_event: impl FnMut(M::Event) -> bool,
) -> Result<M, String>
where
    M: Machine + Send + 'static,
    M::Event: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let wait = |rx: &mpsc::Receiver<M::Event>, on_event: &mut dyn FnMut(M::Event) -> bool| {
        let deadline = limit.map(|l| std::time::Instant::now() + l);
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            let got = match left {
                Some(l) if l.is_zero() => return,
                Some(l) => rx.recv_timeout(l).ok(),
                None => rx.recv().ok(),
            };
            let Some(e) = got else {
                if left.is_none() {
                    return; // the loop ended
                }
                continue;
            };
            if !on_event(e) {
                return;
            }
        }
    };
    let sink = move |e| {
        let _ = tx.send(e);
    };
    match runtime {
        Runtime::Std => {
            let handle =
                std_thread::spawn(machine, sockets, DriverConfig::default(), sink).map_err(|e| e.to_string())?;
            handle.call(start).map_err(|e| e.to_string())?;
            wait(&rx, &mut on_event);
            Ok(handle.shutdown().map_err(|e| e.to_string())?.machine)
        }
        Runtime::Tokio => {
            // One worker thread runs the loop while this thread waits for events.
            let rt = ::tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let handle = {
                let _inside = rt.enter();
                tokio_driver::spawn(machine, sockets, DriverConfig::default(), sink).map_err(|e| e.to_string())?
            };
            rt.block_on(handle.call(start)).map_err(|e| e.to_string())?;
            wait(&rx, &mut on_event);
            Ok(rt.block_on(handle.shutdown()).map_err(|e| e.to_string())?.machine)
        }
    }
}

/// Runs the STUN server.
pub fn server(args: &ServerArgs) -> Result<(), String> {
    let mut config = ServerConfig::new(args.primary, args.alternate);
    config.rate_per_second = args.rate;
    config.burst = args.rate.saturating_mul(2);
    config.allow_reflection = args.allow_reflection;
    config.software = Some(format!("ipv8 {}", env!("CARGO_PKG_VERSION")));
    // A key nobody can predict, so nobody can aim rate-limit collisions at a victim.
    config.bucket_key = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    let addrs = config.listen_addresses();
    let sockets = drivers::bind_all(&addrs).map_err(|e| format!("binding {addrs:?}: {e}"))?;
    eprintln!("stun-server listening on {}", addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    let limit = Some(args.for_secs.map_or(Duration::from_secs(u64::from(u32::MAX)), Duration::from_secs));
    let server = drive(Server::new(config), sockets, args.runtime, |_, _| {}, limit, |e| match e {})?;
    let s = server.stats();
    eprintln!(
        "received {}, answered {}, errors {}, malformed {}, not requests {}, rate-limited {}",
        s.received, s.answered, s.errors, s.malformed, s.not_requests, s.rate_limited
    );
    Ok(())
}

use std::hash::BuildHasher;

fn resolve(server: &str) -> Result<SocketAddr, String> {
    let all: Vec<SocketAddr> = server.to_socket_addrs().map_err(|e| format!("{server}: {e}"))?.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied().ok_or_else(|| format!("{server}: no address"))
}

/// The local IP the kernel would send to `server` from: a concrete address, so "no NAT" can
/// be told apart from a NAT.
fn local_ip_towards(server: SocketAddr) -> Result<std::net::IpAddr, String> {
    let any: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "address")?;
    let probe = UdpSocket::bind(any).map_err(|e| e.to_string())?;
    probe.connect(server).map_err(|e| format!("no route to {server}: {e}"))?;
    Ok(probe.local_addr().map_err(|e| e.to_string())?.ip())
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
        NatType::Unknown => "unknown",
    }
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
pub fn check(args: &CheckArgs) -> Result<(), String> {
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
    config.seed = std::collections::hash_map::RandomState::new().hash_one(std::process::id()).to_le_bytes().repeat(4)
        [..32]
        .try_into()
        .map_err(|_| "seed")?;
    if args.lifetime {
        config.lifetime = Some(LifetimeConfig {
            first_guess: Duration::from_secs(args.lifetime_first),
            max: Duration::from_secs(args.lifetime_max),
            ..LifetimeConfig::new(second)
        });
    }
    let mut report: Option<NatReport> = None;
    let verbose = !args.json;
    drive(
        NatCheck::new(config),
        sockets,
        args.runtime,
        |c, now| c.start(now),
        None,
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
    let r = report.ok_or("the check ended without a report")?;
    let lifetime: Option<BindingLifetime> = r.lifetime;
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
        };
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("NAT type:      {}", nat_type_name(r.nat_type));
    println!("mapping:       {}", r.mapping.map_or("not tested", mapping_name));
    println!("filtering:     {}", r.filtering.map_or("not tested", filtering_name));
    println!("public:        {}", r.public.map_or("none".into(), |p| p.to_string()));
    println!("local:         {local}");
    if let Some(h) = r.hairpinning {
        println!("hairpinning:   {h}");
    }
    if let Some(l) = lifetime {
        let expired =
            l.expired.map_or(format!("> {:.1} s", l.alive.as_secs_f64()), |e| format!("{:.1} s", e.as_secs_f64()));
        println!("binding lives: {:.1} s (expired by {expired}; {} probes)", l.alive.as_secs_f64(), l.probes);
        println!("keep-alive:    every {:.1} s", l.keepalive.as_secs_f64());
    }
    Ok(())
}
