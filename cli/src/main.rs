//! `ipv8`: run a STUN server, check your NAT, rank peers by trust: the IPv8 cores on real
//! sockets and files.
#![allow(clippy::print_stdout)] // a command-line program prints its results

/// `println!` for the program's output: a closed pipe ends the program quietly (141, as
/// SIGPIPE would), any other write error with one error line and exit 1; never a panic.
macro_rules! outln {
    () => {
        $crate::peer::say(&"")
    };
    ($($arg:tt)*) => {
        $crate::peer::say(&format_args!($($arg)*))
    };
}

mod bounded;
mod control;
mod ctl;
mod demo;
mod overlay_text;
mod p2tp;
mod peer;
mod punch;
mod run;
mod sim;
mod stun;
mod sync;
mod trust;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (I/O, a file that cannot be read, a socket that cannot be bound)
  2  bad usage (an unknown option, a value out of range)
  3  nat-check: no answer from the server (UDP blocked, or the server is down);
     p2tp send, sync, punch: the peer never answered
  4  nat-check: the server answered with a STUN error
  5  nat-check: the NAT could not be fully classified (see the message)
  6  sync: still not in sync after --rounds rounds
  7  demo: not every peer connected to every other peer
130  interrupted (SIGINT or SIGTERM); counters are printed first (a second signal ends it at once)";

/// Peer-to-peer networking where a peer is a public key, not an IP address. This program runs
/// its parts on real sockets and files: a STUN server and a NAT check, P2TP transfers, trust
/// rankings and friendship paths over relation files, and signed records reconciled between
/// SQLite stores.
#[derive(Debug, Parser)]
#[command(name = "ipv8", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See it work: a bootstrap node and 8 peers on loopback discover each other, connect by
    /// key, exchange messages, and sync records gated by trust, shown live for 20 s.
    #[command(after_help = EXIT_CODES)]
    Demo(demo::DemoArgs),
    /// Reputation and friendship paths over a relation file.
    #[command(subcommand)]
    Trust(trust::Trust),
    /// A STUN server (RFC 8489, RFC 5780 behaviour discovery, RFC 3489 classic).
    #[command(after_help = EXIT_CODES)]
    StunServer(stun::ServerArgs),
    /// What NAT is this host behind, what is its public address, how long do bindings live?
    #[command(after_help = EXIT_CODES)]
    NatCheck(stun::CheckArgs),
    /// P2TP, the rate-controlled UDP transport: `listen` on one host, `send` from another.
    #[command(subcommand)]
    P2tp(p2tp::P2tp),
    /// Punch a hole to a peer and report what arrives (run it on both sides at once).
    #[command(after_help = EXIT_CODES)]
    Punch(punch::PunchArgs),
    /// Make an identity: an ed25519 key pair in a file only you can read.
    Keygen(sync::KeygenArgs),
    /// List, export, import and add signed records in a SQLite store.
    #[command(subcommand)]
    Records(sync::Records),
    /// Reconcile a store with a peer running `sync-listen`, round after round until in sync.
    #[command(after_help = EXIT_CODES)]
    Sync(sync::SyncArgs),
    /// Answer `sync` rounds for a store (until interrupted, or `--for-secs`).
    #[command(after_help = EXIT_CODES)]
    SyncListen(sync::ListenArgs),
    /// Run a peer: discovery, messages by key over P2TP, records and trust, a control socket.
    #[command(after_help = EXIT_CODES)]
    Peer(peer::PeerArgs),
    /// Simulate a whole overlay at scale in virtual time: the punch matrix per NAT pair,
    /// reachability, discovery and message times.
    Sim(sim::SimArgs),
    /// Print the peer id (member id) of an identity file.
    Id(peer::IdArgs),
    /// Ask a running `ipv8 peer` something, or tell it to do something.
    Ctl(ctl::CtlArgs),
}

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Bad usage (exit 2): a value clap could not check by itself.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into() }
    }

    /// A failure with its own exit code (see `EXIT_CODES`).
    pub fn with_code(code: u8, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// Interrupted by a signal (exit 130); the command already printed its counters.
    pub fn interrupted() -> Self {
        Self { code: 130, message: "interrupted".into() }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self { code: 1, message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self { code: 1, message: message.into() }
    }
}

/// The longest a command may be asked to run (`--for-secs`, `--seconds`, `--duration`): a
/// year, so no deadline overflows the clock.
pub const MAX_SECS: u64 = 365 * 86_400;

/// Set by SIGINT or SIGTERM: long-running commands stop, print their counters and exit 130.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether a stop signal has arrived.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let stop = Stop::default();
    // Only commands that watch the flag catch the signals; the others (reading a file or a
    // pipe) keep the default and die at once. A second signal always ends the program, with
    // 130, even where a command is stuck in a read.
    let watches_stop =
        !matches!(cli.command, Command::Trust(_) | Command::Keygen(_) | Command::Records(_) | Command::Id(_));
    if watches_stop {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let registered = signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop.0))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop.0)));
            if let Err(e) = registered {
                eprintln!("ipv8: cannot handle signal {signal}: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let result = match cli.command {
        Command::Trust(command) => trust::run(command),
        Command::StunServer(args) => stun::server(&args, &stop),
        Command::NatCheck(args) => stun::check(&args, &stop),
        Command::P2tp(command) => p2tp::run(command, &stop),
        Command::Punch(args) => punch::run(&args, &stop),
        Command::Keygen(args) => sync::keygen(&args),
        Command::Records(command) => sync::records(&command),
        Command::Sync(args) => sync::sync(&args, &stop),
        Command::SyncListen(args) => sync::listen(&args, &stop),
        Command::Demo(args) => demo::run(&args, &stop),
        Command::Peer(args) => peer::run(args, &stop),
        Command::Sim(args) => sim::run(&args, &stop),
        Command::Id(args) => peer::id(&args),
        Command::Ctl(args) => ctl::run(&args, &stop),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // An empty message is a quiet exit (stdout gone: 141, as SIGPIPE would).
            if !f.message.is_empty() {
                eprintln!("ipv8: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` or else by the `-v` count.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a terminal: a log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
}
