//! The control socket of `ipv8 peer`: JSON lines on a Unix socket, one request per line, one
//! answer per request; `subscribe` turns the connection into a stream of events.
//!
//! ```text
//! → {"cmd":"send","peer":"1a2b3c4d","text":"hello"}
//! ← {"ok":true}
//! → {"cmd":"trust","peer":"1a2b"}
//! ← {"ok":true,"peer":"1a2b3c4d…","trust":0.031}
//! ```
//!
//! Commands: `id`, `peers`, `send` (peer, text), `trust` (peer), `paths` (peer), `relate`
//! (peer, type, strength), `stats`, `subscribe`. A peer is named by a unique prefix of its
//! member id (hex, at least 4 digits). Failures answer `{"ok":false,"error":"…"}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use overlay_core::{Delivery, Mid, Node};
use serde_json::{Value, json};
use sync_core::{Slot, Store, VerifiedRecord};

use crate::Failure;
use crate::overlay_text::{key_mid, mid_hex, parse_relation, relation_name};
use crate::run::Running;

/// The running node, shared by the main loop and the control connections.
pub(crate) struct Control<S: Store + Send + 'static> {
    running: Mutex<Option<Running<Node<S>>>>,
}

pub(crate) type Shared<S> = Arc<Control<S>>;

/// Longest request line read.
const MAX_LINE: usize = 64 * 1024;
/// Control connections served at once; more are refused.
const MAX_CONNECTIONS: usize = 32;

impl<S: Store + Send + 'static> Control<S> {
    pub(crate) fn new(running: Running<Node<S>>) -> Self {
        Self { running: Mutex::new(Some(running)) }
    }

    /// Runs `f` on the node's loop.
    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node<S>, sansio_core::Instant) -> R + Send + 'static,
    ) -> Result<R, String> {
        let guard = self.running.lock().map_err(|_| "the control lock is poisoned".to_string())?;
        let running = guard.as_ref().ok_or("the peer is stopping")?;
        running.call(f).map_err(|e| e.message)
    }

    /// Stops the node and returns its counters.
    pub(crate) fn stop(&self) -> Result<Value, Failure> {
        let running = self.running.lock().map_err(|_| "the control lock is poisoned")?.take();
        let running = running.ok_or("the peer was already stopped")?;
        let stopped = running.stop()?;
        Ok(crate::peer::counters(&stopped.machine))
    }
}

/// The member id a prefix names among the peers the node knows or is connected to.
fn resolve<S: Store>(node: &Node<S>, prefix: &str) -> Result<Mid, String> {
    let prefix = prefix.to_ascii_lowercase();
    crate::overlay_text::check_peer_prefix(&prefix)?;
    let mut found: Vec<Mid> = node
        .peers()
        .map(|p| p.key.mid())
        .chain(node.connected().map(|(m, _)| m))
        .chain(node.known_keys().map(|(m, _)| m))
        .filter(|m| mid_hex(m).starts_with(&prefix))
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no known peer has an id starting with {prefix}")),
        _ => Err(format!("{prefix} names {} peers; give more digits", found.len())),
    }
}

/// A peer's nickname from its Peer record, if the store holds one.
fn name_of<S: Store>(node: &Node<S>, mid: &Mid) -> Option<String> {
    let key = node.key_of(mid)?;
    let (_, id) = node.records().current(&Slot::Peer(key))?;
    let record = VerifiedRecord::decode(&node.records().get(&id)?).ok()?;
    match &record.record().body {
        sync_core::Body::Peer { metadata } if !metadata.is_empty() => Some(String::from_utf8_lossy(metadata).into()),
        _ => None,
    }
}

fn field<'a>(request: &'a Value, name: &str) -> Result<&'a str, String> {
    request.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing string field {name:?}"))
}

/// Answers one request line.
pub(crate) fn handle<S: Store + Send + 'static>(control: &Control<S>, line: &str) -> Value {
    let answer = (|| -> Result<Value, String> {
        let request: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let cmd = field(&request, "cmd")?;
        match cmd {
            "id" => control.call(|n, _| json!({ "peer": mid_hex(&n.mid()) })),
            "peers" => control.call(|n, _| {
                let connected: Vec<(Mid, std::net::SocketAddr)> = n.connected().collect();
                let known: Vec<(Mid, std::net::SocketAddr)> = n.peers().map(|p| (p.key.mid(), p.address)).collect();
                let list: Vec<Value> = known
                    .iter()
                    .map(|(mid, address)| {
                        let stats = n.path_stats(mid);
                        json!({
                            "peer": mid_hex(mid),
                            "name": name_of(n, mid),
                            "address": address,
                            "connected": connected.iter().any(|(m, _)| m == mid),
                            "trust": n.trust(mid),
                            "srtt_ms": stats.map(|s| s.srtt.as_secs_f64() * 1000.0),
                        })
                    })
                    .collect();
                json!({ "peers": list })
            }),
            "send" => {
                let (peer, text) = (field(&request, "peer")?.to_string(), field(&request, "text")?.to_string());
                control.call(move |n, now| {
                    let mid = resolve(n, &peer)?;
                    // Over a stream or a relay the message leaves now; otherwise it waits
                    // while one is opened, and a `SendFailed` event says if none can be.
                    let how = match n.send(now, &mid, text.as_bytes()).map_err(|e| e.to_string())? {
                        Delivery::Stream => "stream",
                        Delivery::Relay => "relay",
                        _ => "held",
                    };
                    Ok::<Value, String>(json!({ "peer": mid_hex(&mid), "delivery": how }))
                })?
            }
            "trust" => {
                let peer = field(&request, "peer")?.to_string();
                control.call(move |n, _| {
                    let mid = resolve(n, &peer)?;
                    Ok::<Value, String>(json!({ "peer": mid_hex(&mid), "trust": n.trust(&mid) }))
                })?
            }
            "paths" => {
                let peer = field(&request, "peer")?.to_string();
                control.call(move |n, _| {
                    let mid = resolve(n, &peer)?;
                    let hops: Vec<Value> = n
                        .friendship_path(&mid)
                        .unwrap_or_default()
                        .iter()
                        .map(|h| {
                            json!({
                                "from": key_mid(&h.from),
                                "to": key_mid(&h.to),
                                "type": relation_name(h.kind),
                                "strength": h.strength,
                            })
                        })
                        .collect();
                    Ok::<Value, String>(json!({ "peer": mid_hex(&mid), "path": hops }))
                })?
            }
            "relate" => {
                let peer = field(&request, "peer")?.to_string();
                let kind = parse_relation(field(&request, "type")?)?;
                let strength = request
                    .get("strength")
                    .and_then(Value::as_u64)
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or("missing or out-of-range \"strength\" (0 to 4294967295)")?;
                control.call(move |n, now| {
                    let mid = resolve(n, &peer)?;
                    let id = n.relate(now, &mid, kind, strength).map_err(|e| e.to_string())?;
                    Ok::<Value, String>(json!({ "peer": mid_hex(&mid), "record": hex::encode(id.0) }))
                })?
            }
            "stats" => control.call(|n, _| {
                let paths: Vec<Value> = n
                    .connected()
                    .collect::<Vec<_>>()
                    .iter()
                    .filter_map(|(mid, address)| {
                        let s = n.path_stats(mid)?;
                        Some(json!({
                            "peer": mid_hex(mid),
                            "address": address,
                            "srtt_ms": s.srtt.as_secs_f64() * 1000.0,
                            "rate_bytes_per_s": s.rate,
                            "loss_event_rate": s.loss_event_rate,
                            "bytes_sent": s.bytes_sent,
                            "bytes_received": s.bytes_received,
                        }))
                    })
                    .collect();
                json!({ "counters": crate::peer::counters(n), "paths": paths })
            }),
            other => {
                Err(format!("unknown command {other:?} (id, peers, send, trust, paths, relate, stats, subscribe)"))
            }
        }
    })();
    match answer {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".into(), Value::Bool(true));
            Value::Object(fields)
        }
        Ok(other) => json!({ "ok": true, "result": other }),
        Err(error) => json!({ "ok": false, "error": error }),
    }
}

/// A connection that sends no request for this long is closed.
const IDLE: Duration = Duration::from_secs(300);

/// Accepts control connections on their own threads. Connections, subscribers included,
/// count towards [`MAX_CONNECTIONS`].
pub(crate) fn serve<S: Store + Send + 'static>(
    listener: UnixListener,
    control: Shared<S>,
    subscribers: Arc<Mutex<Vec<UnixStream>>>,
) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                // Out of descriptors, say: wait instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            let subscribed = subscribers.lock().map_or(0, |l| l.len());
            if open.load(std::sync::atomic::Ordering::Relaxed) + subscribed >= MAX_CONNECTIONS {
                let _ = writeln!(&stream, "{}", json!({ "ok": false, "error": "too many control connections" }));
                continue;
            }
            open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (control, subscribers, open) = (Arc::clone(&control), Arc::clone(&subscribers), Arc::clone(&open));
            std::thread::spawn(move || {
                connection(&control, stream, &subscribers);
                open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            });
        }
    });
}

fn connection<S: Store + Send + 'static>(
    control: &Control<S>,
    stream: UnixStream,
    subscribers: &Mutex<Vec<UnixStream>>,
) {
    let Ok(mut out) = stream.try_clone() else { return };
    if stream.set_read_timeout(Some(IDLE)).is_err() {
        return;
    }
    let mut reader = BufReader::new(stream).take(u64::MAX);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        reader.set_limit(MAX_LINE as u64);
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) | Err(_) => return,
            Ok(_) if bytes.last() != Some(&b'\n') && bytes.len() >= MAX_LINE => {
                let _ = writeln!(out, "{}", json!({ "ok": false, "error": "request line too long" }));
                return;
            }
            Ok(_) => {}
        }
        let Ok(line) = std::str::from_utf8(&bytes) else {
            if writeln!(out, "{}", json!({ "ok": false, "error": "not UTF-8 text" })).is_err() {
                return;
            }
            continue;
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let is_subscribe = serde_json::from_str::<Value>(trimmed)
            .ok()
            .and_then(|v| v.get("cmd").and_then(Value::as_str).map(|c| c == "subscribe"))
            .unwrap_or(false);
        if is_subscribe {
            let _ = writeln!(out, "{}", json!({ "ok": true, "subscribed": true }));
            // Events are written without blocking: a subscriber that does not read is dropped
            // once its socket buffer is full.
            if out.set_nonblocking(true).is_ok()
                && let Ok(mut list) = subscribers.lock()
            {
                list.push(out);
            }
            return;
        }
        let answer = handle(control, trimmed);
        if writeln!(out, "{answer}").is_err() {
            return;
        }
    }
}

/// Sends an event to every subscriber, dropping (and disconnecting) those that cannot take
/// the whole line at once.
pub(crate) fn publish(subscribers: &Mutex<Vec<UnixStream>>, event: &Value) {
    let Ok(mut list) = subscribers.lock() else { return };
    let line = format!("{event}\n");
    list.retain_mut(|s| {
        let whole = matches!(s.write(line.as_bytes()), Ok(n) if n == line.len());
        if !whole {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        whole
    });
}
