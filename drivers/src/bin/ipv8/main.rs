//! `ipv8`: the command-line face of the IPv8 cores.
#![allow(clippy::print_stdout)] // a command-line program prints its results

mod stun;
mod trust;

use clap::{Parser, Subcommand};

/// IPv8: peer-to-peer networking where a peer is a public key, not an IP address.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reputation and friendship paths over a relation file.
    #[command(subcommand)]
    Trust(trust::Trust),
    /// A STUN server (RFC 8489, RFC 5780 behaviour discovery, RFC 3489 classic).
    StunServer(stun::ServerArgs),
    /// What NAT is this host behind, what is its public address, how long do bindings live?
    NatCheck(stun::CheckArgs),
}

fn main() {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Trust(command) => trust::run(command),
        Command::StunServer(args) => stun::server(&args),
        Command::NatCheck(args) => stun::check(&args),
    };
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(1);
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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
