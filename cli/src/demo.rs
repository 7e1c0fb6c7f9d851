//! `ipv8 demo`: a small IPv8 network on loopback in one process, shown live: a bootstrap
//! node and a handful of peers discover each other, connect by key over P2TP, exchange
//! messages, sign relations in a ring, and sync their records gated by the trust that ring
//! gives them.

use crate::MAX_SECS;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant as StdInstant};

use clap::Args;
use overlay_core::wire::Community;
use overlay_core::{Config, Event, Mid, Node};
use serde_json::{Value, json};
use sync_core::{Kind, RelationType, Store};

use crate::overlay_text::{COMMUNITY, event_json, mid_hex, short};
use crate::peer::unix_ms_now;
use crate::run::{Running, Runtime};
use crate::{Failure, Stop};

const NAMES: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia",
    "peggy", "rupert", "sybil",
];

/// `ipv8 demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Peers besides the bootstrap node.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=16))]
    peers: u16,
    /// Seconds to run before the summary.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=MAX_SECS))]
    seconds: u64,
    /// Run until interrupted (the summary comes on Ctrl-C).
    #[arg(long, conflicts_with = "seconds")]
    forever: bool,
    /// Print events and the summary as JSON lines.
    #[arg(long)]
    json: bool,
    /// Run loop of every node.
    #[arg(long, value_enum, default_value_t = Runtime::Std)]
    runtime: Runtime,
}

/// What the demo tracks of one node.
struct Tracked {
    name: String,
    mid: Mid,
    running: Running<Node>,
    messages_in: u64,
    messages_out: u64,
    first_message: Option<Duration>,
}

/// One node's figures, read on its loop.
struct Snapshot {
    known: usize,
    connected: Vec<Mid>,
    records: usize,
    peer_records: usize,
    relations: usize,
    trust_next: Option<f64>,
    rtt_ms: Option<f64>,
}

fn snapshot(node: &mut Node, next: Option<Mid>) -> Snapshot {
    let connected: Vec<Mid> = node.connected().map(|(m, _)| m).collect();
    let mut rtts: Vec<f64> =
        connected.iter().filter_map(|m| node.path_stats(m)).map(|s| s.srtt.as_secs_f64() * 1000.0).collect();
    rtts.sort_by(f64::total_cmp);
    let (mut peer_records, mut relations) = (0, 0);
    let store = node.records();
    store.for_each_id(&mut |id| {
        if let Some(r) = store.get(id).and_then(|b| sync_core::VerifiedRecord::decode(&b).ok()) {
            match r.record().kind() {
                Kind::Peer => peer_records += 1,
                Kind::Relation => relations += 1,
                Kind::Binding => {}
            }
        }
    });
    Snapshot {
        known: node.peers().count(),
        records: store.len(),
        peer_records,
        relations,
        trust_next: next.and_then(|m| node.trust(&m)),
        rtt_ms: rtts.get(rtts.len() / 2).copied(),
        connected,
    }
}

fn start(
    name: &str,
    index: usize,
    bootstrap: Vec<SocketAddr>,
    runtime: Runtime,
    tx: &mpsc::Sender<(usize, Event)>,
) -> Result<(Tracked, SocketAddr), Failure> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| Failure::from(format!("binding 127.0.0.1:0: {e}")))?;
    let local = socket.local_addr().map_err(|e| Failure::from(e.to_string()))?;
    let mut config = Config::new(Community(COMMUNITY), local, bootstrap);
    config.name = name.as_bytes().to_vec();
    config.unix_ms_at_origin = unix_ms_now();
    // A lively demo: a sync round every second instead of every five.
    config.sync_interval = Duration::from_secs(1);
    let mut secret = [0u8; 32];
    sansio_core::SeededRng::from_seed(drivers::os_seed().map_err(|e| e.to_string())?).fill_bytes(&mut secret);
    let seed = drivers::os_seed().map_err(|e| e.to_string())?;
    let node = Node::new(config, secret, seed).map_err(|e| Failure::from(e.to_string()))?;
    let mid = node.mid();
    let tx = tx.clone();
    let running = Running::start(node, vec![socket], runtime, move |e| {
        let _ = tx.send((index, e));
    })?;
    let tracked = Tracked { name: name.into(), mid, running, messages_in: 0, messages_out: 0, first_message: None };
    Ok((tracked, local))
}

pub(crate) fn run(args: &DemoArgs, stop: &Stop) -> Result<(), Failure> {
    let n = usize::from(args.peers);
    let (tx, events) = mpsc::channel::<(usize, Event)>();
    let (boot, boot_addr) = start("bootstrap", 0, Vec::new(), args.runtime, &tx)?;
    let mut nodes = vec![boot];
    for (i, name) in NAMES.iter().take(n).enumerate() {
        let (t, _) = start(name, i + 1, vec![boot_addr], args.runtime, &tx)?;
        nodes.push(t);
    }
    let began = StdInstant::now();
    let say = |line: String, v: Value| {
        if args.json {
            crate::peer::say(&v);
        } else {
            crate::peer::say(&format!("{:>5.1}s  {line}", began.elapsed().as_secs_f64()));
        }
    };
    say(
        format!("started a bootstrap node on {boot_addr} and {n} peers on loopback; each signs its Peer record"),
        json!({ "event": "demo_started", "bootstrap": boot_addr, "peers": n }),
    );
    let names: Vec<(Mid, String)> = nodes.iter().map(|t| (t.mid, t.name.clone())).collect();
    let name_of = |mid: &Mid| names.iter().find(|(m, _)| m == mid).map_or_else(|| short(mid), |(_, n)| n.clone());
    // The ring of relations: peer i trusts peer i+1 (the bootstrap node is outside it).
    let next_of = |i: usize| if i == 0 { None } else { Some(nodes[1 + i % n].mid) };
    let ring: Vec<Option<Mid>> = (0..nodes.len()).map(next_of).collect();
    let mut related = vec![false; nodes.len()];
    let mut connected_pairs: std::collections::BTreeSet<(usize, Mid)> = Default::default();
    let deadline = (!args.forever).then(|| began + Duration::from_secs(args.seconds));
    let mut next_tick = began;
    let mut next_table = began + Duration::from_secs(5);
    let tty = std::io::stdout().is_terminal();
    loop {
        if stop.requested() || deadline.is_some_and(|d| StdInstant::now() >= d) {
            break;
        }
        // At most a batch per turn, so the deadline, the stop signal and the ticks are never
        // starved by a stream of events.
        for _ in 0..1000 {
            let Ok((i, e)) = events.recv_timeout(Duration::from_millis(50)) else { break };
            let who = nodes[i].name.clone();
            match &e {
                Event::PeerDiscovered { mid, .. } if i > 0 => {
                    say(format!("{who} discovered {}", name_of(mid)), with_node(&e, &who));
                }
                Event::Connected { mid, path, .. } => {
                    connected_pairs.insert((i, *mid));
                    let path = if *path == overlay_core::PathKind::Lan { "lan" } else { "direct" };
                    say(
                        format!("{who} connected to {} over P2TP ({path}): keys proved by signed hellos", name_of(mid)),
                        with_node(&e, &who),
                    );
                }
                Event::Message { mid, data, .. } => {
                    nodes[i].messages_in += 1;
                    if nodes[i].first_message.is_none() {
                        nodes[i].first_message = Some(began.elapsed());
                    }
                    if nodes[i].messages_in <= 2 {
                        say(
                            format!("{who} got a message from {}: {:?}", name_of(mid), String::from_utf8_lossy(data)),
                            with_node(&e, &who),
                        );
                    }
                }
                Event::RecordStored { kind: Kind::Relation, signer, from: Some(_), .. } => {
                    let signer = overlay_core::PeerKey::from_ed25519(signer).map(|k| k.mid());
                    say(
                        format!("{who} synced a relation signed by {}", signer.as_ref().map_or("?".into(), &name_of)),
                        with_node(&e, &who),
                    );
                }
                _ => {}
            }
        }
        let now = StdInstant::now();
        // Messages flow from 2 s on, and stop 2 s before the end so every one sent is counted
        // as delivered or lost by the summary.
        let quiet = deadline.is_some_and(|d| now + Duration::from_secs(2) >= d);
        if now >= next_tick && now.duration_since(began) >= Duration::from_secs(2) && !quiet {
            next_tick = now + Duration::from_secs(1);
            for i in 1..nodes.len() {
                let from = nodes[i].name.clone();
                let targets: Vec<(Mid, String)> =
                    names.iter().skip(1).filter(|(m, _)| *m != nodes[i].mid).cloned().collect();
                let sent = nodes[i].running.call(move |node, now| {
                    let mut sent = 0;
                    for (mid, to) in &targets {
                        if node.peer(mid).is_some()
                            && node.send(now, mid, format!("hi {to}, this is {from}").as_bytes()).is_ok()
                        {
                            sent += 1;
                        }
                    }
                    sent
                })?;
                nodes[i].messages_out += sent;
                if !related[i]
                    && now.duration_since(began) >= Duration::from_secs(4)
                    && let Some(next) = ring[i]
                {
                    let ok = nodes[i]
                        .running
                        .call(move |node, now| node.relate(now, &next, RelationType::SOCIAL_FRIEND, 1).is_ok())?;
                    if ok {
                        related[i] = true;
                        say(
                            format!("{} signed a social-friend relation to {}", nodes[i].name, name_of(&next)),
                            json!({ "event": "related", "node": nodes[i].name, "to": mid_hex(&next) }),
                        );
                    }
                }
            }
        }
        if now >= next_table {
            next_table = now + Duration::from_secs(5);
            let rows = table(&mut nodes, &ring)?;
            if !args.json {
                print_table(&rows, &nodes, n, tty);
            }
        }
    }
    let rows = table(&mut nodes, &ring)?;
    let all_connected =
        rows.iter().skip(1).all(|r| r.connected.iter().filter(|m| **m != nodes[0].mid).count() >= n - 1);
    let full_records = rows.iter().skip(1).filter(|r| r.peer_records >= n).count();
    let stored_relations = rows.iter().skip(1).map(|r| r.relations).min().unwrap_or(0);
    let messages: u64 = nodes.iter().map(|t| t.messages_in).sum();
    if args.json {
        let peers: Vec<Value> = nodes
            .iter()
            .zip(&rows)
            .skip(1)
            .map(|(t, r)| {
                json!({
                    "name": t.name, "peer": mid_hex(&t.mid), "known": r.known,
                    "connected": r.connected.iter().filter(|m| **m != nodes[0].mid).count(),
                    "messages_in": t.messages_in, "messages_out": t.messages_out, "records": r.records,
                    "peer_records": r.peer_records, "relations": r.relations, "trust_in_next": r.trust_next,
                    "rtt_ms": r.rtt_ms, "first_message_s": t.first_message.map(|d| d.as_secs_f64()),
                })
            })
            .collect();
        outln!(
            "{}",
            json!({
                "event": "summary", "seconds": began.elapsed().as_secs_f64(), "all_connected": all_connected,
                "messages": messages, "peers_with_every_peer_record": full_records, "peers": peers,
            })
        );
    } else {
        outln!();
        outln!("summary after {:.1} s:", began.elapsed().as_secs_f64());
        print_table(&rows, &nodes, n, false);
        outln!(
            "every peer connected to every other peer: {}; {messages} messages delivered; {full_records} of {n} peers hold every peer's signed Peer record; each holds at least {stored_relations} of the {n} ring relations",
            if all_connected { "yes" } else { "no" },
        );
    }
    for t in nodes {
        let _ = t.running.stop();
    }
    if stop.requested() {
        return Err(Failure::interrupted());
    }
    if all_connected { Ok(()) } else { Err(Failure::with_code(7, "not every peer connected to every other peer")) }
}

fn with_node(e: &Event, who: &str) -> Value {
    let mut v = event_json(e).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("node".into(), Value::String(who.into()));
    }
    v
}

fn table(nodes: &mut [Tracked], ring: &[Option<Mid>]) -> Result<Vec<Snapshot>, Failure> {
    let mut rows = Vec::with_capacity(nodes.len());
    for (t, next) in nodes.iter().zip(ring) {
        let next = *next;
        rows.push(t.running.call(move |node, _| snapshot(node, next))?);
    }
    Ok(rows)
}

fn print_table(rows: &[Snapshot], nodes: &[Tracked], n: usize, clear: bool) {
    if clear {
        outln!();
    }
    outln!(
        "{:<10} {:<9} {:>5} {:>9} {:>7} {:>7} {:>12} {:>10} {:>12} {:>7}",
        "NODE",
        "ID",
        "KNOWN",
        "CONNECTED",
        "MSG IN",
        "MSG OUT",
        "PEER RECORDS",
        "RELATIONS",
        "TRUST(NEXT)",
        "RTT ms"
    );
    for (t, r) in nodes.iter().zip(rows) {
        let connected = r.connected.iter().filter(|m| **m != nodes[0].mid).count();
        outln!(
            "{:<10} {:<9} {:>5} {:>9} {:>7} {:>7} {:>12} {:>10} {:>12} {:>7}",
            t.name,
            short(&t.mid),
            r.known,
            format!("{connected}/{}", if t.mid == nodes[0].mid { n } else { n - 1 }),
            t.messages_in,
            t.messages_out,
            format!("{}/{}", r.peer_records, n),
            r.relations,
            r.trust_next.map_or("-".into(), |x| format!("{x:.4}")),
            r.rtt_ms.map_or("-".into(), |x| format!("{x:.2}")),
        );
    }
    let _ = std::io::stdout().flush();
}
