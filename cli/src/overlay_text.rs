//! How the overlay's events, peers and relation types look on a terminal and in JSON, for
//! `ipv8 peer`, `ipv8 ctl` and `ipv8 demo`.

use overlay_core::{Event, Mid, PathKind};
use serde_json::{Value, json};
use sync_core::{Kind, RelationType};

/// The community `ipv8 peer` and `ipv8 demo` serve unless told otherwise (20 bytes).
pub(crate) const COMMUNITY: [u8; 20] = *b"ipv8-rs community v1";

/// The member id of an Ed25519 key: how every peer is named on screen.
pub(crate) fn key_mid(key: &sync_core::PublicKey) -> String {
    overlay_core::PeerKey::from_ed25519(key).map_or_else(|| hex::encode(key.0), |k| mid_hex(&k.mid()))
}

/// A member id in full (40 hex digits).
pub(crate) fn mid_hex(mid: &Mid) -> String {
    hex::encode(mid.0)
}

/// A member id for people: its first 8 hex digits.
pub(crate) fn short(mid: &Mid) -> String {
    hex::encode(&mid.0[..4])
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Peer => "peer",
        Kind::Binding => "binding",
        Kind::Relation => "relation",
    }
}

fn path_name(path: PathKind) -> &'static str {
    match path {
        PathKind::Lan => "lan",
        PathKind::Direct => "direct",
        PathKind::Relayed => "relayed",
        _ => "other",
    }
}

/// Checks the form of a peer named by a prefix of its member id: at least 4 hex digits.
pub(crate) fn check_peer_prefix(prefix: &str) -> Result<(), String> {
    if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{prefix:?} is not a peer id (at least 4 hex digits of its member id)"));
    }
    Ok(())
}

/// A relation type by name (`social-friend`) or number (`3`).
pub(crate) fn parse_relation(s: &str) -> Result<RelationType, String> {
    // `social_friend` (the edge files' spelling) is taken too.
    Ok(match s.replace('_', "-").as_str() {
        "traffic-exchange" => RelationType::TRAFFIC_EXCHANGE,
        "similar-taste" => RelationType::SIMILAR_TASTE,
        "moderator-vote" => RelationType::MODERATOR_VOTE,
        "social-friend" => RelationType::SOCIAL_FRIEND,
        n => RelationType(n.parse().map_err(|_| {
            format!("{s:?} is not a relation type (traffic-exchange, similar-taste, moderator-vote, social-friend, or 0-255)")
        })?),
    })
}

/// A relation type's name, or its number.
pub(crate) fn relation_name(t: RelationType) -> String {
    match t {
        RelationType::TRAFFIC_EXCHANGE => "traffic-exchange".into(),
        RelationType::SIMILAR_TASTE => "similar-taste".into(),
        RelationType::MODERATOR_VOTE => "moderator-vote".into(),
        RelationType::SOCIAL_FRIEND => "social-friend".into(),
        RelationType(n) => n.to_string(),
    }
}

/// An event as one JSON object, or `None` for events the program does not show.
pub(crate) fn event_json(e: &Event) -> Option<Value> {
    Some(match e {
        Event::PeerDiscovered { mid, address } => {
            json!({ "event": "discovered", "peer": mid_hex(mid), "address": address })
        }
        Event::WanChanged { address } => json!({ "event": "public_address", "address": address }),
        Event::Connected { mid, address, path } => {
            json!({ "event": "connected", "peer": mid_hex(mid), "address": address, "path": path_name(*path) })
        }
        Event::Disconnected { mid, address } => {
            json!({ "event": "disconnected", "peer": mid_hex(mid), "address": address })
        }
        Event::PathChanged { mid, address } => {
            json!({ "event": "path_changed", "peer": mid_hex(mid), "address": address })
        }
        Event::Message { mid, data, path } => json!({
            "event": "message",
            "peer": mid_hex(mid),
            "text": String::from_utf8_lossy(data),
            "bytes": data.len(),
            "path": path_name(*path),
        }),
        Event::RecordStored { id, kind, signer, from } => json!({
            "event": "record",
            "id": hex::encode(id.0),
            "kind": kind_name(*kind),
            "signer": key_mid(signer),
            "from": from,
        }),
        Event::NatClassified { report, keepalive } => json!({
            "event": "nat_classified",
            "nat_type": format!("{:?}", report.nat_type),
            "public": report.public,
            "lifetime_secs": report.lifetime.map(|l| l.alive.as_secs()),
            "lifetime_at_least": report.lifetime.is_some_and(|l| l.expired.is_none()),
            "keepalive_secs": keepalive.as_secs_f64(),
        }),
        Event::SendFailed { mid, reason, dropped } => json!({
            "event": "send_failed",
            "peer": mid_hex(mid),
            "reason": format!("{reason:?}"),
            "dropped": dropped,
        }),
        _ => return None,
    })
}

/// Text from the network, safe for a terminal: control characters (escape sequences, carriage
/// returns, newlines) are shown escaped, so a peer cannot move the cursor, rewrite lines or
/// forge output.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An event as one line for people.
pub(crate) fn event_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::PeerDiscovered { mid, address } => format!("discovered {} at {address}", short(mid)),
        Event::WanChanged { address } => format!("public address is {address}"),
        Event::Connected { mid, address, path } => {
            format!("connected to {} at {address} ({})", short(mid), path_name(*path))
        }
        Event::Disconnected { mid, address } => format!("disconnected from {} at {address}", short(mid)),
        Event::PathChanged { mid, address } => format!("the stream to {} moved; it is at {address}", short(mid)),
        Event::Message { mid, data, .. } => {
            format!("message from {}: {}", short(mid), printable(&String::from_utf8_lossy(data)))
        }
        Event::RecordStored { kind, signer, from, .. } => match from {
            Some(from) => format!("stored a {} record of {} from {from}", kind_name(*kind), &key_mid(signer)[..8]),
            None => format!("signed a {} record", kind_name(*kind)),
        },
        Event::NatClassified { report, keepalive } => {
            let lifetime = match report.lifetime {
                Some(l) if l.expired.is_none() => format!("idle bindings live at least {} s", l.alive.as_secs()),
                Some(l) => format!("idle bindings live {} s", l.alive.as_secs()),
                None => "binding lifetime not measured".into(),
            };
            format!("NAT: {:?}; {lifetime}; keep-alive every {:.1} s", report.nat_type, keepalive.as_secs_f64())
        }
        Event::SendFailed { mid, reason, dropped } => {
            format!("could not reach {} ({reason:?}): {dropped} message(s) dropped", short(mid))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_types_parse_by_name_and_number_and_print_back() {
        for name in ["traffic-exchange", "similar-taste", "moderator-vote", "social-friend", "42"] {
            assert_eq!(relation_name(parse_relation(name).unwrap()), name);
        }
        assert_eq!(parse_relation("social_friend"), parse_relation("social-friend"));
        assert!(parse_relation("enemy").is_err());
        assert!(parse_relation("256").is_err());
    }

    #[test]
    fn a_peers_message_cannot_drive_the_terminal() {
        let hostile = "hi\x1b]0;pwned\x07\x1b[2J\nfake: connected to evil\r";
        let shown = printable(hostile);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "hi\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\nfake: connected to evil\\r");
        assert_eq!(printable("naïve café ✓"), "naïve café ✓", "printable text is left alone");
    }
}
