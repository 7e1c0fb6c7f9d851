//! Records as JSON lines (`ipv8 records export` writes them, `import` reads them) and the
//! identity file `ipv8 keygen` writes.
//!
//! A record line holds the canonical bytes in hex under `"record"`, which is all `import`
//! reads; the other fields are there for people and `jq`:
//!
//! ```json
//! {"id":"…","kind":"binding","signer":"…","timestamp_ms":1700000000000,"address":"192.0.2.1:6421","record":"01…"}
//! ```

use std::fmt;

use serde_json::{Value, json};
use sync_core::{Body, Identity, VerifiedRecord};

/// A record as one JSON object.
pub fn to_json(record: &VerifiedRecord) -> Value {
    let r = record.record();
    let mut v = json!({
        "id": hex::encode(record.id().0),
        "signer": hex::encode(r.signer.0),
        "timestamp_ms": r.timestamp_ms,
        "record": hex::encode(record.bytes()),
    });
    let fields = match &r.body {
        Body::Peer { metadata } => json!({ "kind": "peer", "metadata": String::from_utf8_lossy(metadata) }),
        Body::Binding { address } => json!({ "kind": "binding", "address": address }),
        Body::Relation { subject, kind, strength, countersigned } => json!({
            "kind": "relation",
            "subject": hex::encode(subject.0),
            "type": kind.0,
            "strength": strength,
            "countersigned": countersigned,
        }),
        _ => json!({ "kind": "unknown" }),
    };
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), fields) {
        obj.extend(extra);
    }
    v
}

/// Why a line is not a record.
#[derive(Debug)]
pub enum LineError {
    /// Not JSON, or no `"record"` string of hex.
    Format(String),
    /// The bytes are not a canonical, validly signed record.
    Record(sync_core::VerifyError),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(s) => write!(f, "{s}"),
            Self::Record(e) => write!(f, "{e}"),
        }
    }
}

/// Parses one line of an export and verifies the record in it.
pub fn from_json_line(line: &str) -> Result<VerifiedRecord, LineError> {
    let v: Value = serde_json::from_str(line).map_err(|e| LineError::Format(format!("not JSON: {e}")))?;
    let hex_bytes =
        v.get("record").and_then(Value::as_str).ok_or_else(|| LineError::Format("no \"record\" field".into()))?;
    let bytes = hex::decode(hex_bytes).map_err(|e| LineError::Format(format!("\"record\" is not hex: {e}")))?;
    VerifiedRecord::decode(&bytes).map_err(LineError::Record)
}

/// The identity file: three lines, the secret seed (keep the file private) and the public key.
pub fn identity_to_text(id: &Identity) -> String {
    format!("ipv8-identity 1\nsecret {}\npublic {}\n", hex::encode(id.seed()), hex::encode(id.public().0))
}

/// Reads an identity file; checks that its public key matches its secret.
pub fn identity_from_text(text: &str) -> Result<Identity, String> {
    let mut lines = text.lines();
    if lines.next() != Some("ipv8-identity 1") {
        return Err("not an ipv8 identity file (first line is not \"ipv8-identity 1\")".into());
    }
    let field = |line: Option<&str>, name: &str| -> Result<[u8; 32], String> {
        let value = line.and_then(|l| l.strip_prefix(name)).and_then(|l| l.strip_prefix(' '));
        let bytes =
            hex::decode(value.ok_or(format!("missing \"{name}\" line"))?).map_err(|e| format!("{name}: {e}"))?;
        bytes.try_into().map_err(|_| format!("{name}: not 32 bytes"))
    };
    let secret = field(lines.next(), "secret")?;
    let public = field(lines.next(), "public")?;
    let id = Identity::from_seed(secret).map_err(|e| e.to_string())?;
    if id.public().0 != public {
        return Err("the public key does not belong to the secret".into());
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_line_round_trips_and_a_tampered_one_is_refused() {
        let id = Identity::from_seed([3; 32]).unwrap();
        let rec = id.sign(5, Body::Binding { address: "192.0.2.1:6421".parse().unwrap() }).unwrap();
        let line = to_json(&rec).to_string();
        assert_eq!(from_json_line(&line).unwrap(), rec);
        let tampered = line.replace("\"timestamp_ms\":5", "\"timestamp_ms\":6");
        assert!(from_json_line(&tampered).is_ok(), "only the record bytes count");
        let mut v: Value = serde_json::from_str(&line).unwrap();
        let mut bytes = rec.bytes().to_vec();
        bytes[40] ^= 1;
        v["record"] = Value::String(hex::encode(bytes));
        assert!(matches!(from_json_line(&v.to_string()), Err(LineError::Record(_))));
        assert!(matches!(from_json_line("{}"), Err(LineError::Format(_))));
    }

    #[test]
    fn an_identity_file_round_trips_and_a_mismatched_key_is_refused() {
        let id = Identity::from_seed([4; 32]).unwrap();
        let text = identity_to_text(&id);
        assert_eq!(identity_from_text(&text).unwrap().public(), id.public());
        let other = Identity::from_seed([5; 32]).unwrap();
        let forged = text.replace(&hex::encode(id.public().0), &hex::encode(other.public().0));
        assert!(identity_from_text(&forged).is_err());
    }
}
