//! `ipv8 sim`: a whole overlay in the network simulator, at scale, in virtual time.

use std::io::IsTerminal;

use clap::Args;
use overlay_sim::{NatMix, Scenario, Sybils};
use serde_json::json;

use crate::peer::say;
use crate::{Failure, Stop};

/// `ipv8 sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Nodes besides the bootstrap nodes.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(2..=200_000))]
    nodes: u32,
    /// Which networks the nodes sit behind, with weights: open, full-cone, restricted,
    /// port-restricted, symmetric, sequential (symmetric with ports given out in sequence),
    /// linux, nested (e.g. `full-cone=2,symmetric=1`).
    #[arg(long, default_value = "open,full-cone,restricted,port-restricted,symmetric,linux,nested")]
    nat_mix: String,
    /// Virtual seconds to run.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    seconds: u64,
    /// Seeds the network, the nodes and the choice of message targets.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Peers each node messages (by member id, from the middle of the run on).
    #[arg(long, default_value_t = 2)]
    probes: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write every packet to and from one node (see --pcap-node) to this pcap file (raw IP
    /// and UDP, virtual time stamps), for Wireshark or tshark.
    #[arg(long)]
    pcap: Option<std::path::PathBuf>,
    /// The node --pcap records: 0 is the first node after the bootstrap nodes.
    #[arg(long, default_value_t = 0, requires = "pcap")]
    pcap_node: u32,
    /// Add a Sybil region of this many attacker nodes (public hosts that befriend each
    /// other). Honest nodes then befriend three honest peers each and store only the
    /// records of signers they trust (see --trust-threshold).
    /// (The report asks every honest node its trust in every Sybil: honest × Sybils queries.)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    sybils: Option<u32>,
    /// Honest nodes fooled into befriending a Sybil (one each; at most --nodes).
    #[arg(long, default_value_t = 5, requires = "sybils")]
    attack_edges: usize,
    /// Nodes that know this many peers walk at --settled-walk-secs instead of every 0.5 s
    /// (less traffic; see docs/overlay.md §10 for what it costs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    settled_peers: Option<u32>,
    /// The walk interval of a settled node, seconds.
    #[arg(long, default_value_t = 2.0, requires = "settled_peers")]
    settled_walk_secs: f64,
    /// With --sybils: the least trust (MeritRank score; about 0.001 for a typical peer
    /// among 1,000) an honest node needs in a signer to store its records.
    #[arg(long, default_value_t = 1e-4, requires = "sybils")]
    trust_threshold: f64,
}

/// Heap a run needs once records have spread, about: with the trust gate open every node
/// stores every node's Peer and Binding records, so it grows with the square of the nodes
/// (Sybils included). Fitted to peak resident sizes of `ipv8 sim --seconds 60`: 232 MB at
/// 300 nodes, 743 MB at 600, 1,888 MB at 1,000.
const PER_PAIR: u64 = 1_900;
const BASE: u64 = 100_000_000;

fn estimated_bytes(nodes: u64) -> u64 {
    nodes.saturating_mul(nodes).saturating_mul(PER_PAIR).saturating_add(BASE)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (`None` where there is no such file).
fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a run that cannot fit in memory, before it starts, rather than be killed by the
/// kernel's out-of-memory killer after minutes of work.
fn check_memory(nodes: u64, available: Option<u64>) -> Result<(), Failure> {
    let (need, Some(have)) = (estimated_bytes(nodes), available) else { return Ok(()) };
    if need <= have {
        return Ok(());
    }
    let most = (have.saturating_sub(BASE) / PER_PAIR).isqrt();
    let gb = |b: u64| b as f64 / 1e9;
    Err(Failure::from(format!(
        "{nodes} nodes need about {:.0} GB (every node stores every node's records, so memory grows with \
         the square of the nodes); {:.1} GB is available: at most about {most} nodes here",
        gb(need),
        gb(have)
    )))
}

pub(crate) fn run(args: &SimArgs, stop: &Stop) -> Result<(), Failure> {
    let mix: NatMix = args.nat_mix.parse().map_err(Failure::usage)?;
    check_memory(u64::from(args.nodes) + u64::from(args.sybils.unwrap_or(0)), available_bytes())?;
    let mut s = Scenario::new(args.nodes as usize);
    s.mix = mix;
    s.seconds = args.seconds;
    s.seed = args.seed;
    s.probes = args.probes;
    s.probe_start = (args.seconds * 2 / 5).max(5);
    if let Some(peers) = args.settled_peers {
        if !(args.settled_walk_secs.is_finite() && (0.5..=3600.0).contains(&args.settled_walk_secs)) {
            return Err(Failure::usage(format!("--settled-walk-secs {} must be 0.5 to 3600", args.settled_walk_secs)));
        }
        s.settled = Some((peers as usize, std::time::Duration::from_secs_f64(args.settled_walk_secs)));
    }
    if let Some(count) = args.sybils {
        if !(args.trust_threshold.is_finite() && args.trust_threshold >= 0.0) {
            return Err(Failure::usage(format!("--trust-threshold {} is not a trust", args.trust_threshold)));
        }
        // Each attack edge is one honest node befriending a Sybil.
        if args.attack_edges > args.nodes as usize {
            return Err(Failure::usage(format!(
                "--attack-edges {} (5 unless given) but only {} honest nodes to make them",
                args.attack_edges, args.nodes
            )));
        }
        let mut y = Sybils::new(count as usize, args.attack_edges);
        y.threshold = args.trust_threshold;
        s.sybils = Some(y);
    }
    // The file is opened before the run, so a bad path fails at once, not after it.
    let pcap = match &args.pcap {
        Some(path) => {
            if args.pcap_node >= args.nodes {
                return Err(Failure::usage(format!("--pcap-node {} but only {} nodes", args.pcap_node, args.nodes)));
            }
            s.capture = Some(args.pcap_node as usize);
            let file = std::fs::File::create(path).map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
            Some((path, file))
        }
        None => None,
    };
    let bar = if args.json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(args.seconds);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} virtual {pos}/{len} s [{bar:40}] {elapsed_precise} elapsed, {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    let started = std::time::Instant::now();
    let mut interrupted = false;
    let report = overlay_sim::run(&s, |sec| {
        bar.set_position(sec);
        // Ctrl-C cannot stop a second half-way; the run ends after this one, and the report
        // covers the seconds run.
        interrupted |= stop.requested();
        if interrupted { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
    })
    .map_err(|e| Failure::from(format!("the simulation failed: {e}")))?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let written = match (pcap, &report.pcap) {
        (Some((path, mut file)), Some(bytes)) => {
            std::io::Write::write_all(&mut file, bytes)
                .map_err(|e| Failure::from(format!("{}: {e}", path.display())))?;
            Some((path, bytes.len()))
        }
        _ => None,
    };
    if args.json {
        let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        v["wall_s"] = json!(wall);
        if let Some((path, bytes)) = &written {
            v["pcap"] = json!({ "file": path, "node": args.pcap_node, "bytes": bytes });
        }
        say(&v);
    } else {
        say(&format!(
            "{} nodes and {} bootstrap nodes, {} s of virtual time in {wall:.1} s (seed {}), {} simulator events",
            report.nodes, report.bootstraps, report.seconds, report.seed, report.sim_events
        ));
        if report.seconds < report.seconds_asked {
            say(&format!(
                "stopped after {} of {} s: the figures cover what ran (messages not yet sent count as undelivered)",
                report.seconds, report.seconds_asked
            ));
        }
        say(&"\npunch matrix (direct/delivered/attempts; * = RFC 4787 allows no direct path):");
        say(&report.matrix_table());
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.0} {unit}"));
        // With no pair whose NATs allow a direct path, there is no rate to show.
        let possible = report.matrix.iter().any(|c| c.direct_possible && c.attempts > 0);
        let direct =
            if possible { format!("{:.1} %", report.punch_success_pct) } else { "- (no pair allows it)".into() };
        say(&format!(
            "reachability {:.1} % ({:.1} % of deliveries relayed); direct where possible {direct}",
            report.reachability_pct, report.relayed_pct
        ));
        let others = report.nodes + report.bootstraps + report.sybil.as_ref().map_or(0, |y| y.sybils) - 1;
        if others < overlay_sim::DISCOVERY_TARGET {
            say(&format!(
                "discovery: each node has only {others} others to know (fewer than {}); at the end the median \
                 node knew {} of them, the one that knew the fewest {}",
                overlay_sim::DISCOVERY_TARGET,
                report.peers_known_p50,
                report.peers_known_min
            ));
        } else {
            say(&format!(
                "discovery of {} peers: median {}, 99th percentile {} ({:.1} % of nodes got there)",
                overlay_sim::DISCOVERY_TARGET,
                opt(report.discovery_s_p50, "s"),
                opt(report.discovery_s_p99, "s"),
                report.discovered_20_pct
            ));
        }
        say(&format!(
            "first message: median {}, 99th percentile {}; traffic {:.0} B/s per node; records held (median) {:.0} %",
            opt(report.time_to_first_message_ms_p50, "ms"),
            opt(report.time_to_first_message_ms_p99, "ms"),
            report.bytes_per_node_per_s,
            report.records_held_pct_p50
        ));
        say(&format!(
            "a relation signed at {} s was held by every node after {} ({:.1} % held it at the end)",
            s.probe_start,
            opt(report.relation_spread_s, "s"),
            report.relation_held_pct
        ));
        if let Some(y) = &report.sybil {
            say(&format!(
                "sybil region: {} Sybils, {} attack edges, threshold {}: {:.1} % of honest nodes hold Sybil records \
                 ({} records, {} of them excluded by the holder's own gate now); an honest node without an attack \
                 edge stores the records of {:.0} Sybils (median; at most {:.0}) and gives the region {:.2e} of its \
                 trust (median; at most {:.2e}; one Sybil at most {:.2e}); it stores the records of {:.1} % of the \
                 other honest signers (median), trusting them {:.2e} (median)",
                y.sybils,
                y.attack_edges,
                y.threshold,
                y.honest_nodes_holding_sybil_records_pct,
                y.sybil_records_at_honest_nodes,
                y.held_though_excluded,
                y.sybil_signers_held_p50,
                y.sybil_signers_held_max,
                y.sybil_trust_total_p50,
                y.sybil_trust_total_max,
                y.sybil_trust_max,
                y.honest_signers_held_pct_p50,
                y.honest_trust_p50
            ));
        }
        if let Some((path, bytes)) = &written {
            say(&format!("node {}'s packets: {} ({bytes} bytes of pcap)", args.pcap_node, path.display()));
        }
    }
    if interrupted { Err(Failure::interrupted()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_too_large_for_memory_is_refused_with_the_size_that_fits() {
        let gib = 1u64 << 30;
        // The measured points sit close to the estimate.
        assert!((1_700_000_000..2_100_000_000).contains(&estimated_bytes(1_000)));
        assert!(check_memory(1_000, Some(8 * gib)).is_ok());
        assert!(check_memory(100_000, None).is_ok(), "unknown memory: no guess");
        let refused = check_memory(10_000, Some(8 * gib)).err().map(|f| f.message).unwrap_or_default();
        assert!(refused.contains("10000 nodes need about 190 GB"), "{refused}");
        assert!(refused.contains("at most about 2113 nodes here"), "{refused}");
        assert!(check_memory(2_113, Some(8 * gib)).is_ok() && check_memory(2_114, Some(8 * gib)).is_err());
    }
}
