//! `ipv8 trust`: reputation and friendship paths over a relation file.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use ipv8::edge_file::{self, EdgeFile};

use crate::Failure;
use serde::Serialize;
use trust_core::synthetic::{self, SybilShape};
use trust_core::{ConnectivityDecay, MeritRank, PeerId, WalkConfig, paths};

/// Reputation and friendship paths from a CSV of relations.
#[derive(Debug, Subcommand)]
pub(crate) enum Trust {
    /// The peers an ego trusts most (MeritRank personalised random walks).
    Rank(RankArgs),
    /// Why an ego trusts a peer: shortest and widest friendship paths, edge-disjoint paths.
    Path(PathArgs),
    /// Writes a seeded synthetic relation file (honest region, optional Sybil region).
    Generate(GenerateArgs),
}

/// Where the relations come from and who asks.
#[derive(Debug, Args)]
pub(crate) struct Source {
    /// CSV file `from,to,type,strength,timestamp` with a header line; `-` reads standard
    /// input. Where rows repeat a relation the latest timestamp wins, and between equal
    /// timestamps the first row read. A peer's relation to itself is ignored.
    #[arg(long)]
    edges: PathBuf,
    /// The peer whose view is computed (an id as written in the file).
    #[arg(long)]
    ego: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `ipv8 trust rank`.
#[derive(Debug, Args)]
pub(crate) struct RankArgs {
    #[command(flatten)]
    source: Source,
    /// How many peers to list.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    top: u32,
    /// Random walks from the ego (the error shrinks as 1/√walks; each holds its path, about
    /// 70 bytes, so at most ten million).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    walks: u32,
    /// Transitivity decay: the chance a walk goes on at each step.
    #[arg(long, default_value_t = 0.85)]
    alpha: f64,
    /// Connectivity decay: the share of the score lost by a peer reached through one bridge.
    #[arg(long)]
    beta: Option<f64>,
    /// Seed of the walks (same seed, same ranking).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `ipv8 trust path`.
#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    #[command(flatten)]
    source: Source,
    /// The peer to explain.
    #[arg(long)]
    to: String,
    /// Longest shortest path searched for, in hops.
    #[arg(long, default_value_t = 8)]
    max_hops: usize,
    /// Count edge-disjoint paths up to this many.
    #[arg(long, default_value_t = 4)]
    disjoint: usize,
}

/// Honest graph models.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Model {
    /// Watts–Strogatz ring with rewiring (degree = successors trusted, 10 % rewired).
    SmallWorld,
    /// Barabási–Albert preferential attachment (degree = relations per new peer).
    ScaleFree,
}

/// Sybil region shapes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Shape {
    /// A long cycle.
    Chain,
    /// A hub Sybil and its spokes, trusting each other.
    Star,
    /// Each Sybil trusts 8 random Sybils.
    Random,
}

/// `ipv8 trust generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Honest graph model.
    #[arg(long, value_enum, default_value_t = Model::SmallWorld)]
    model: Model,
    /// Honest peers, named h0, h1, … (2 to ten million).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    peers: u32,
    /// Relations per peer (see the model).
    #[arg(long, default_value_t = 5)]
    degree: usize,
    /// Seed byte (the generators take 32 bytes: this one repeated). The benchmark graph is
    /// `--model scale-free --peers 1000000 --degree 7 --seed 9`.
    #[arg(long, default_value_t = 1)]
    seed: u8,
    /// Sybils to add, named s0, s1, … (0: none).
    #[arg(long, default_value_t = 0)]
    sybils: usize,
    /// Attack edges: the first this many peers h0 trusts become attackers, each trusting one
    /// Sybil strongly (so `--ego h0` shows the attack).
    #[arg(long, default_value_t = 1)]
    attack_edges: usize,
    /// Strength of an attack edge (honest relations weigh 0.5–2): a finite number above 0.
    #[arg(long, default_value_t = 20.0, value_parser = attack_strength)]
    attack_strength: f32,
    /// Shape of the Sybil region.
    #[arg(long, value_enum, default_value_t = Shape::Random)]
    shape: Shape,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs a `trust` subcommand; `Err` is the message to print.
pub(crate) fn run(command: Trust) -> Result<(), Failure> {
    match command {
        Trust::Rank(args) => rank(&args),
        Trust::Path(args) => path(&args),
        Trust::Generate(args) => generate(&args),
    }
}

fn load(source: &Source) -> Result<(EdgeFile, PeerId), String> {
    let shown = source.edges.display();
    let loaded = if source.edges.as_os_str() == "-" {
        edge_file::read(std::io::stdin().lock())
    } else {
        let file = File::open(&source.edges).map_err(|e| format!("{shown}: {e}"))?;
        edge_file::read(BufReader::new(file))
    };
    let loaded = loaded.map_err(|e| format!("{shown}: {e}"))?;
    let ego = peer(&loaded, &source.ego)?;
    Ok((loaded, ego))
}

fn peer(loaded: &EdgeFile, key: &str) -> Result<PeerId, String> {
    loaded.peers.get(key).ok_or_else(|| format!("peer {key:?} is not in the edge file"))
}

fn name(loaded: &EdgeFile, id: PeerId) -> String {
    loaded.peers.key(id).cloned().unwrap_or_default()
}

fn print_json(value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    outln!("{text}");
    Ok(())
}

#[derive(Serialize)]
struct Ranked {
    peer: String,
    score: f64,
}

#[derive(Serialize)]
struct Ranking {
    ego: String,
    walks: u32,
    alpha: f64,
    beta: Option<f64>,
    seed: u64,
    peers: Vec<Ranked>,
}

fn rank(args: &RankArgs) -> Result<(), Failure> {
    if !(0.0..1.0).contains(&args.alpha) {
        return Err(Failure::usage(format!("--alpha {} must be in [0, 1)", args.alpha)));
    }
    if args.beta.is_some_and(|b| !(0.0..=1.0).contains(&b)) {
        return Err(Failure::usage("--beta must be in [0, 1]"));
    }
    let (loaded, ego) = load(&args.source)?;
    let connectivity = args.beta.map(|beta| ConnectivityDecay { beta, ..ConnectivityDecay::default() });
    let config = WalkConfig { walks: args.walks, alpha: args.alpha, connectivity, ..WalkConfig::default() };
    let mut walks = MeritRank::new(config, sansio_core::Seed::from_u64(args.seed));
    let peers: Vec<Ranked> = walks
        .ranking(&loaded.graph, ego)
        .into_iter()
        .filter(|(p, score)| *p != ego && *score > 0.0)
        .take(args.top as usize)
        .map(|(p, score)| Ranked { peer: name(&loaded, p), score })
        .collect();
    if args.source.json {
        return Ok(print_json(&Ranking {
            ego: args.source.ego.clone(),
            walks: args.walks,
            alpha: args.alpha,
            beta: args.beta,
            seed: args.seed,
            peers,
        })?);
    }
    outln!("{:>5}  {:>10}  peer", "rank", "score");
    for (i, r) in peers.iter().enumerate() {
        outln!("{:>5}  {:>10.6}  {}", i + 1, r.score, r.peer);
    }
    if peers.is_empty() {
        outln!("(the ego trusts nobody: it has no trusted relations)");
    }
    Ok(())
}

#[derive(Serialize)]
struct JsonHop {
    from: String,
    to: String,
    #[serde(rename = "type")]
    kind: String,
    strength: f32,
    weight: f64,
}

#[derive(Serialize)]
struct JsonPath {
    hops: Vec<JsonHop>,
    bottleneck: f64,
}

#[derive(Serialize)]
struct Paths {
    ego: String,
    to: String,
    shortest: Option<JsonPath>,
    widest: Option<JsonPath>,
    disjoint: Vec<JsonPath>,
}

fn json_path(loaded: &EdgeFile, p: &paths::Path) -> JsonPath {
    JsonPath {
        hops: p
            .hops
            .iter()
            .map(|h| JsonHop {
                from: name(loaded, h.from),
                to: name(loaded, h.to),
                kind: edge_file::type_name(h.kind),
                strength: h.strength,
                weight: h.weight,
            })
            .collect(),
        bottleneck: p.bottleneck(),
    }
}

fn text_path(loaded: &EdgeFile, p: &paths::Path) -> String {
    let mut out = p.hops.first().map(|h| name(loaded, h.from)).unwrap_or_default();
    for h in &p.hops {
        out += &format!(" -[{} {}]-> {}", edge_file::type_name(h.kind), h.strength, name(loaded, h.to));
    }
    out
}

fn path(args: &PathArgs) -> Result<(), Failure> {
    let (loaded, ego) = load(&args.source)?;
    let to = peer(&loaded, &args.to)?;
    let shortest = paths::shortest(&loaded.graph, ego, to, args.max_hops);
    let widest = paths::widest(&loaded.graph, ego, to);
    let disjoint = paths::disjoint(&loaded.graph, ego, to, args.disjoint);
    if args.source.json {
        return Ok(print_json(&Paths {
            ego: args.source.ego.clone(),
            to: args.to.clone(),
            shortest: shortest.as_ref().map(|p| json_path(&loaded, p)),
            widest: widest.as_ref().map(|p| json_path(&loaded, p)),
            disjoint: disjoint.iter().map(|p| json_path(&loaded, p)).collect(),
        })?);
    }
    // The same three answers as --json: the widest and disjoint paths are not bounded by
    // --max-hops.
    match shortest {
        Some(p) => outln!("shortest ({} hops): {}", p.hops.len(), text_path(&loaded, &p)),
        None => outln!("no trusted path from {} to {} within {} hops", args.source.ego, args.to, args.max_hops),
    }
    if let Some(w) = widest {
        outln!("widest (bottleneck {}, {} hops): {}", w.bottleneck(), w.hops.len(), text_path(&loaded, &w));
    }
    outln!("edge-disjoint paths: {} (counted up to {})", disjoint.len(), args.disjoint);
    for (i, p) in disjoint.iter().enumerate() {
        outln!("  {}: {}", i + 1, text_path(&loaded, p));
    }
    Ok(())
}

/// `--attack-strength`: a strength above 0, refused as the user wrote it (`1e39` is too large,
/// not "inf").
fn attack_strength(s: &str) -> Result<f32, String> {
    match edge_file::strength(s) {
        Ok(v) if v > 0.0 => Ok(v),
        Ok(_) => Err(format!("{s} is not above 0")),
        Err(why) => Err(format!("{s} {why}")),
    }
}

fn generate(args: &GenerateArgs) -> Result<(), Failure> {
    let peers = args.peers as usize;
    if args.degree == 0 || args.degree >= peers {
        return Err(Failure::usage(format!("--degree {} must be 1 to --peers - 1 ({})", args.degree, peers - 1)));
    }
    let seed = sansio_core::Seed::new([args.seed; 32]);
    let mut updates = match args.model {
        Model::SmallWorld => synthetic::small_world(peers, args.degree, 0.1, seed),
        Model::ScaleFree => synthetic::scale_free(peers, args.degree, seed),
    };
    if args.sybils > 0 {
        let mut honest = trust_core::Graph::new(Default::default());
        for u in &updates {
            honest.apply(*u);
        }
        let attackers: Vec<usize> =
            honest.trusted_neighbours(PeerId(0)).map(|(p, _, _)| p.index()).take(args.attack_edges).collect();
        if attackers.len() < args.attack_edges {
            return Err(Failure::usage(format!("h0 trusts only {} peers; fewer --attack-edges", attackers.len())));
        }
        let shape = match args.shape {
            Shape::Chain => SybilShape::Chain,
            Shape::Star => SybilShape::Star,
            Shape::Random => SybilShape::Random,
        };
        updates.extend(synthetic::sybil_region(
            peers,
            args.sybils,
            shape,
            &attackers,
            args.attack_strength,
            sansio_core::Seed::new([args.seed.wrapping_add(1); 32]),
        ));
    }
    let honest = peers;
    let name = |p: PeerId| if p.index() < honest { format!("h{}", p.0) } else { format!("s{}", p.index() - honest) };
    let written = match &args.out {
        Some(path) => {
            let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
            edge_file::write(BufWriter::new(file), &updates, name)
        }
        None => edge_file::write(std::io::stdout().lock(), &updates, name),
    };
    written.map_err(|e| e.to_string())?;
    if args.out.is_some() {
        std::io::stderr().flush().ok();
        eprintln!("wrote {} relations", updates.len());
    }
    Ok(())
}
