//! Signed records: one canonical, versioned binary encoding each (`docs/sync.md` §2).
//!
//! Every field has a fixed width (the peer metadata carries its own length), so one record has
//! exactly one encoding: [`Record::decode`] refuses trailing bytes, unknown versions, kinds and
//! flags, and IPv4-mapped IPv6 addresses, and re-encoding a decoded record gives back the same
//! bytes (checked by property tests). The content id is the SHA-256 of those bytes.

use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use sha2::{Digest, Sha256};

use crate::reader::Reader;
use crate::verifier::Verifier;

/// The encoding version this crate writes and accepts.
pub const VERSION: u8 = 1;
/// Longest encoded record (bytes): one record always fits one sync datagram.
pub const MAX_RECORD_LEN: usize = 1024;
/// Longest peer metadata (bytes).
pub const MAX_METADATA_LEN: usize = 512;
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes before the body: version, kind, signer, timestamp.
const HEAD_LEN: usize = 1 + 1 + 32 + 8;

/// An ed25519 public key: the identity of a peer (the seeds' PermID).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

/// The SHA-256 of a record's canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContentId(pub [u8; 32]);

impl ContentId {
    /// The content id of canonical record bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId(")?;
        hex(f, &self.0[..8])?;
        write!(f, "…)")
    }
}

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// Relation types are trust-core's [`RelationType`]: one registry for the records and the
/// graph they feed. The registry is open: unknown values are stored and synchronised like
/// known ones; only what a reputation function does with them differs.
pub use trust_core::RelationType;

/// What a record says.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Body {
    /// The signer exists, with optional self-signed metadata (at most [`MAX_METADATA_LEN`]).
    Peer {
        /// Free-form metadata, e.g. a nickname.
        metadata: Vec<u8>,
    },
    /// The signer can be reached at this address (the seeds' certificate).
    Binding {
        /// IPv4 or IPv6 address and port. IPv4 is always encoded as IPv4.
        address: SocketAddr,
    },
    /// The signer's relation to another peer.
    Relation {
        /// The other peer; never the signer.
        subject: PublicKey,
        /// Which relation.
        kind: RelationType,
        /// How strong, in units of the relation kind.
        strength: u32,
        /// Whether a countersignature of the subject follows the signature.
        countersigned: bool,
    },
}

/// The three tables of the seeds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Kind {
    /// [`Body::Peer`].
    Peer = 1,
    /// [`Body::Binding`].
    Binding = 2,
    /// [`Body::Relation`].
    Relation = 3,
}

/// Where a record lives: at most one record per slot is current, the latest (§3).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Slot {
    /// A peer's own record.
    Peer(PublicKey),
    /// A peer's current address.
    Binding(PublicKey),
    /// One relation of one kind from an issuer to a subject.
    Relation {
        /// The signer.
        issuer: PublicKey,
        /// The other peer.
        subject: PublicKey,
        /// Which relation.
        kind: RelationType,
    },
}

/// A record, signed or not yet verified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// Who signed it.
    pub signer: PublicKey,
    /// Milliseconds since the Unix epoch, as the signer says.
    pub timestamp_ms: u64,
    /// What it says.
    pub body: Body,
    /// The signer's signature over the bytes before it.
    pub signature: [u8; SIGNATURE_LEN],
    /// The subject's signature over the same bytes, for countersigned relations.
    pub countersignature: Option<[u8; SIGNATURE_LEN]>,
}

/// Why bytes are not a record.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its fields say.
    #[error("record truncated")]
    Truncated,
    /// Longer than [`MAX_RECORD_LEN`], or bytes after the last field.
    #[error("record too long or has trailing bytes")]
    TooLong,
    /// A version this crate does not speak.
    #[error("unknown record version {0}")]
    Version(u8),
    /// Not Peer, Binding or Relation.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// A field holds a value with a shorter or other canonical form (see `docs/sync.md` §2).
    #[error("non-canonical field: {0}")]
    NonCanonical(&'static str),
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Peer { .. } => Kind::Peer,
            Body::Binding { .. } => Kind::Binding,
            Body::Relation { .. } => Kind::Relation,
        }
    }

    /// The slot this record competes for.
    pub fn slot(&self) -> Slot {
        match &self.body {
            Body::Peer { .. } => Slot::Peer(self.signer),
            Body::Binding { .. } => Slot::Binding(self.signer),
            Body::Relation { subject, kind, .. } => {
                Slot::Relation { issuer: self.signer, subject: *subject, kind: *kind }
            }
        }
    }

    /// The bytes both signatures cover: everything before the first signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD_LEN + 48);
        out.push(VERSION);
        out.push(self.kind() as u8);
        out.extend_from_slice(&self.signer.0);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        match &self.body {
            Body::Peer { metadata } => {
                // Lengths above the limit are refused by `encode`, never truncated silently.
                out.extend_from_slice(&(metadata.len() as u16).to_be_bytes());
                out.extend_from_slice(metadata);
            }
            Body::Binding { address } => {
                match canonical_ip(address.ip()) {
                    IpAddr::V4(ip) => {
                        out.push(4);
                        out.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        out.push(6);
                        out.extend_from_slice(&ip.octets());
                    }
                }
                out.extend_from_slice(&address.port().to_be_bytes());
            }
            Body::Relation { subject, kind, strength, countersigned } => {
                out.extend_from_slice(&subject.0);
                out.push(kind.0);
                out.extend_from_slice(&strength.to_be_bytes());
                out.push(u8::from(*countersigned));
            }
        }
        out
    }

    /// The canonical encoding, or why the record cannot have one (too long, a self-relation,
    /// a countersignature flag without a countersignature or the reverse).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        self.check_fields()?;
        let mut out = self.signed_bytes();
        out.extend_from_slice(&self.signature);
        if let Some(cs) = &self.countersignature {
            out.extend_from_slice(cs);
        }
        if out.len() > MAX_RECORD_LEN {
            return Err(DecodeError::TooLong);
        }
        Ok(out)
    }

    fn check_fields(&self) -> Result<(), DecodeError> {
        match &self.body {
            Body::Peer { metadata } if metadata.len() > MAX_METADATA_LEN => Err(DecodeError::TooLong),
            Body::Relation { subject, .. } if *subject == self.signer => {
                Err(DecodeError::NonCanonical("relation to oneself"))
            }
            Body::Relation { countersigned, .. } if *countersigned != self.countersignature.is_some() => {
                Err(DecodeError::NonCanonical("countersignature flag"))
            }
            Body::Peer { .. } | Body::Binding { .. } if self.countersignature.is_some() => {
                Err(DecodeError::NonCanonical("countersignature on a non-relation"))
            }
            _ => Ok(()),
        }
    }

    /// Parses canonical bytes. Signatures are *not* checked here: see
    /// [`VerifiedRecord::decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(DecodeError::TooLong);
        }
        let mut r = Reader::new(bytes, DecodeError::Truncated);
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let kind = r.u8()?;
        let signer = PublicKey(r.array()?);
        let timestamp_ms = u64::from_be_bytes(r.array()?);
        let body = match kind {
            1 => {
                let len = usize::from(u16::from_be_bytes(r.array()?));
                if len > MAX_METADATA_LEN {
                    return Err(DecodeError::TooLong);
                }
                Body::Peer { metadata: r.take(len)?.to_vec() }
            }
            2 => {
                let ip = match r.u8()? {
                    4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
                    6 => {
                        let ip = Ipv6Addr::from(r.array::<16>()?);
                        if ip.to_ipv4_mapped().is_some() {
                            return Err(DecodeError::NonCanonical("IPv4-mapped IPv6 address"));
                        }
                        IpAddr::V6(ip)
                    }
                    _ => return Err(DecodeError::NonCanonical("address family")),
                };
                Body::Binding { address: SocketAddr::new(ip, u16::from_be_bytes(r.array()?)) }
            }
            3 => {
                let subject = PublicKey(r.array()?);
                let kind = RelationType(r.u8()?);
                let strength = u32::from_be_bytes(r.array()?);
                let countersigned = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError::NonCanonical("relation flags")),
                };
                Body::Relation { subject, kind, strength, countersigned }
            }
            k => return Err(DecodeError::Kind(k)),
        };
        let signature = r.array()?;
        let countersignature = match body {
            Body::Relation { countersigned: true, .. } => Some(r.array()?),
            _ => None,
        };
        if !r.rest.is_empty() {
            return Err(DecodeError::TooLong);
        }
        let record = Record { signer, timestamp_ms, body, signature, countersignature };
        record.check_fields()?;
        Ok(record)
    }
}

/// IPv4-mapped IPv6 addresses are written as IPv4, so one address has one encoding.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why a record's signatures do not hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signer's key is not a valid ed25519 point, or the signature does not verify.
    #[error("bad signature")]
    Signer,
    /// The subject's countersignature does not verify.
    #[error("bad countersignature")]
    Countersigner,
}

/// A record whose encoding is canonical and whose signatures verify, with its bytes and id.
/// The only way to make one is [`VerifiedRecord::decode`] or [`Identity::sign`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedRecord {
    record: Record,
    bytes: Vec<u8>,
    id: ContentId,
}

impl VerifiedRecord {
    /// Decodes canonical bytes and verifies every signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, VerifyError> {
        Self::decode_with(bytes, &Verifier::default())
    }

    /// [`VerifiedRecord::decode`], with signatures checked by `verifier` (which may recall
    /// them from a memo shared by the nodes of one process).
    pub fn decode_with(bytes: &[u8], verifier: &Verifier) -> Result<Self, VerifyError> {
        let record = Record::decode(bytes)?;
        let signed_len = bytes.len() - SIGNATURE_LEN * (1 + usize::from(record.countersignature.is_some()));
        let message = &bytes[..signed_len];
        if !verifier.verify(&record.signer, message, &record.signature) {
            return Err(SignatureError::Signer.into());
        }
        if let (Some(cs), Body::Relation { subject, .. }) = (&record.countersignature, &record.body)
            && !verifier.verify(subject, message, cs)
        {
            return Err(SignatureError::Countersigner.into());
        }
        Ok(Self { id: ContentId::of(bytes), bytes: bytes.to_vec(), record })
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.record
    }
    /// Its canonical bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Its content id.
    pub fn id(&self) -> ContentId {
        self.id
    }
}

/// Why bytes are not a verified record.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a canonical encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// The all-zero secret seed, refused by [`Identity::from_seed`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("the all-zero secret seed is not a key")]
pub struct ZeroSeed;

/// A signing identity: an ed25519 key pair made from a 32-byte secret seed.
///
/// ```
/// use sync_core::{Body, Identity, VerifiedRecord};
/// let alice = Identity::from_seed([7; 32]).unwrap();
/// let rec = alice.sign(1_700_000_000_000, Body::Binding { address: "192.0.2.1:6421".parse().unwrap() }).unwrap();
/// assert_eq!(VerifiedRecord::decode(rec.bytes()).unwrap(), rec);
/// ```
#[derive(Clone)]
pub struct Identity {
    pair: ed25519_compact::KeyPair,
    /// Told of every signature made, so nodes sharing its memo need not check them.
    verifier: Verifier,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl Identity {
    /// The identity whose secret seed is `seed` (keep it secret: it is the private key).
    /// The all-zero seed is refused: it is what an uninitialised buffer holds, not a key.
    pub fn from_seed(seed: [u8; 32]) -> Result<Self, ZeroSeed> {
        let pair = ed25519_compact::KeyPair::try_from_seed(ed25519_compact::Seed::new(seed)).map_err(|_| ZeroSeed)?;
        Ok(Self { pair, verifier: Verifier::default() })
    }

    /// This identity, telling `verifier`'s memo of every signature it makes (see
    /// [`SignatureMemo`](crate::SignatureMemo)).
    #[must_use]
    pub fn with_verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Signs with the key and tells the verifier's memo.
    fn signature(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let signature = *self.pair.sk.sign(message, None);
        self.verifier.remember(&self.public(), message, &signature);
        signature
    }

    /// The secret seed, to store in an identity file.
    pub fn seed(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.pair.sk.seed()[..]);
        out
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.pair.pk)
    }

    /// Signs arbitrary bytes with plain Ed25519 (RFC 8032, deterministic): what overlay
    /// messages carry. Records are signed with [`Identity::sign`] instead.
    pub fn sign_message(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signature(message)
    }

    /// Signs `body` at `timestamp_ms` (without a countersignature).
    pub fn sign(&self, timestamp_ms: u64, body: Body) -> Result<VerifiedRecord, DecodeError> {
        let mut body = body;
        if let Body::Relation { countersigned, .. } = &mut body {
            *countersigned = false;
        }
        let mut record =
            Record { signer: self.public(), timestamp_ms, body, signature: [0; SIGNATURE_LEN], countersignature: None };
        record.check_fields()?;
        let message = record.signed_bytes();
        record.signature = self.signature(&message);
        let bytes = record.encode()?;
        Ok(VerifiedRecord { id: ContentId::of(&bytes), bytes, record })
    }

    /// Signs a relation `issuer` drew up with this identity as its subject, and returns the
    /// issuer's record with the countersignature attached (and `countersigned` set, which
    /// changes the signed bytes: the issuer signs the countersigned form, see
    /// [`Identity::sign_for_countersigning`]).
    pub fn countersign(&self, draft: &Record) -> Result<VerifiedRecord, VerifyError> {
        let mut record = draft.clone();
        match &record.body {
            Body::Relation { subject, countersigned: true, .. } if *subject == self.public() => {}
            _ => return Err(DecodeError::NonCanonical("countersign: not a countersignable relation to me").into()),
        }
        let message = record.signed_bytes();
        record.countersignature = Some(self.signature(&message));
        VerifiedRecord::decode_with(&record.encode()?, &self.verifier)
    }

    /// The issuer's half of a countersigned relation: the record with `countersigned` set and
    /// the issuer's signature, to hand to the subject's [`Identity::countersign`].
    pub fn sign_for_countersigning(
        &self,
        timestamp_ms: u64,
        subject: PublicKey,
        kind: RelationType,
        strength: u32,
    ) -> Record {
        let mut record = Record {
            signer: self.public(),
            timestamp_ms,
            body: Body::Relation { subject, kind, strength, countersigned: true },
            signature: [0; SIGNATURE_LEN],
            countersignature: None,
        };
        record.signature = self.signature(&record.signed_bytes());
        record
    }
}
