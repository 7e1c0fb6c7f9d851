//! The STUN header and a validated, zero-copy view of one message.

use core::net::SocketAddr;

use crate::attribute::{self, Attribute, AttributeError};
use crate::integrity;

/// The RFC 5389/8489 magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;

/// The Binding method, the only one this crate speaks.
pub const BINDING: u16 = 0x001;

/// The class of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request, answered by a success or error response.
    Request,
    /// An indication: no answer.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

/// Class and method, as packed into the header's first 14 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// Request, indication, success or error.
    pub class: Class,
    /// The 12-bit method ([`BINDING`]).
    pub method: u16,
}

impl MessageType {
    /// A Binding request.
    pub const BINDING_REQUEST: Self = Self { class: Class::Request, method: BINDING };
    /// A Binding success response.
    pub const BINDING_SUCCESS: Self = Self { class: Class::Success, method: BINDING };
    /// A Binding error response.
    pub const BINDING_ERROR: Self = Self { class: Class::Error, method: BINDING };

    /// The 16-bit wire form (the method's bits interleaved with the class bits C0 and C1).
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        let m = self.method & 0x0FFF;
        let c: u16 = match self.class {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::Success => 0b10,
            Class::Error => 0b11,
        };
        (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
    }

    /// Decodes the wire form (its top two bits must be zero; checked by the caller).
    #[must_use]
    pub const fn from_u16(v: u16) -> Self {
        let method = (v & 0x000F) | ((v >> 1) & 0x0070) | ((v >> 2) & 0x0F80);
        let class = match ((v >> 4) & 0b01) | ((v >> 7) & 0b10) {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::Success,
            _ => Class::Error,
        };
        Self { class, method }
    }
}

/// A transaction id: 96 bits after the magic cookie (RFC 5389/8489), or the 128 bits of an
/// RFC 3489 message, which has no cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionId {
    /// An RFC 8489 message: the cookie, then these 12 bytes.
    Rfc8489([u8; 12]),
    /// An RFC 3489 message: 16 bytes where the cookie would be.
    Rfc3489([u8; 16]),
}

impl TransactionId {
    /// Header bytes 4..20.
    #[must_use]
    pub fn header_bytes(&self) -> [u8; 16] {
        match self {
            Self::Rfc8489(id) => {
                let mut out = [0; 16];
                out[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                out[4..].copy_from_slice(id);
                out
            }
            Self::Rfc3489(id) => *id,
        }
    }

    /// The 12 bytes XOR-MAPPED-ADDRESS mixes into IPv6 addresses (the last 12 header bytes).
    #[must_use]
    pub fn xor_bytes(&self) -> [u8; 12] {
        let h = self.header_bytes();
        let mut out = [0; 12];
        out.copy_from_slice(&h[4..]);
        out
    }

    /// Whether this is an RFC 3489 (classic) message.
    #[must_use]
    pub const fn is_rfc3489(&self) -> bool {
        matches!(self, Self::Rfc3489(_))
    }
}

/// Why a datagram is not a well-formed STUN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the 20-byte header.
    #[error("{0} bytes: shorter than a STUN header")]
    TooShort(usize),
    /// The two top bits are not zero: not STUN (RTP, DTLS, P2TP…).
    #[error("the first two bits are not zero: not a STUN message")]
    NotStun,
    /// The header's length is not a multiple of 4 or does not match the datagram.
    #[error("header length {declared} does not fit a {actual}-byte datagram")]
    BadLength {
        /// The length the header states (attributes only).
        declared: usize,
        /// The datagram's length.
        actual: usize,
    },
    /// An attribute runs past the end of the message.
    #[error("attribute {typ:#06x} at byte {offset} runs past the end of the message")]
    Truncated {
        /// Its type.
        typ: u16,
        /// Where it starts.
        offset: usize,
    },
    /// A known attribute's value is malformed.
    #[error("attribute {typ:#06x} at byte {offset}: {error}")]
    BadAttribute {
        /// Its type.
        typ: u16,
        /// Where it starts.
        offset: usize,
        /// What is wrong.
        error: AttributeError,
    },
    /// The FINGERPRINT attribute does not match the message.
    #[error("FINGERPRINT does not match")]
    BadFingerprint,
}

/// At most this many unknown comprehension-required attribute types are remembered (what a
/// 420 answer lists); more are still reported as "some".
pub const MAX_UNKNOWN: usize = 8;

/// A parsed STUN message: the datagram, checked once, read in place.
///
/// Parsing validates the header, every attribute's bounds and every known attribute's value,
/// so reading attributes afterwards cannot fail; [`parse_checked`](Self::parse_checked) also
/// checks the FINGERPRINT (a CRC over the whole message, so kept separate for callers that
/// only demultiplex).
/// Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored, as RFC 8489 asks.
///
/// ```
/// use stun_core::{Attribute, Message, MessageType, MessageWriter, TransactionId};
///
/// let id = TransactionId::Rfc8489([7; 12]);
/// let mut buf = [0u8; 64];
/// let mut w = MessageWriter::new(&mut buf, MessageType::BINDING_SUCCESS, id)?;
/// w.add(&Attribute::XorMappedAddress("192.0.2.1:32853".parse().unwrap()))?;
/// let len = w.finish();
///
/// let msg = Message::parse(&buf[..len])?;
/// assert_eq!(msg.transaction_id(), id);
/// assert_eq!(msg.mapped_address(), Some("192.0.2.1:32853".parse().unwrap()));
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    bytes: &'a [u8],
    /// Attributes considered end here (before anything that follows MESSAGE-INTEGRITY).
    end: u32,
    /// Offsets of MESSAGE-INTEGRITY and FINGERPRINT; 0 when absent (no attribute starts
    /// inside the header).
    integrity: u32,
    fingerprint: u32,
}

/// Offsets fit: a message is at most 20 + 65,535 bytes.
#[allow(clippy::cast_possible_truncation)]
const fn offset(at: usize) -> u32 {
    at as u32
}

impl<'a> Message<'a> {
    /// Checks a datagram and returns the view.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the first problem; never panics, whatever the input.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        if bytes.len() < HEADER_LEN {
            return Err(ParseError::TooShort(bytes.len()));
        }
        let raw_type = u16::from_be_bytes([bytes[0], bytes[1]]);
        if raw_type & 0xC000 != 0 {
            return Err(ParseError::NotStun);
        }
        let declared = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        if !declared.is_multiple_of(4) || declared + HEADER_LEN != bytes.len() {
            return Err(ParseError::BadLength { declared, actual: bytes.len() });
        }
        let mut msg = Self { bytes, end: offset(bytes.len()), integrity: 0, fingerprint: 0 };
        let mut offset = HEADER_LEN;
        while offset < bytes.len() {
            // The header length is a multiple of 4, so 4 bytes of TLV header are always there.
            let typ = u16::from_be_bytes([bytes[offset], bytes[offset + 1]]);
            let len = usize::from(u16::from_be_bytes([bytes[offset + 2], bytes[offset + 3]]));
            let value_end = offset + 4 + len;
            if value_end > bytes.len() {
                return Err(ParseError::Truncated { typ, offset });
            }
            if msg.fingerprint != 0 {
                // Nothing may follow FINGERPRINT.
                return Err(ParseError::BadAttribute { typ, offset, error: AttributeError::AfterFingerprint });
            }
            let next = (value_end + 3) & !3;
            if typ == attribute::FINGERPRINT || msg.integrity == 0 {
                attribute::validate(typ, &bytes[offset + 4..value_end]).map_err(|error| ParseError::BadAttribute {
                    typ,
                    offset,
                    error,
                })?;
            }
            if typ == attribute::FINGERPRINT {
                msg.fingerprint = self::offset(offset);
                if msg.integrity == 0 {
                    msg.end = self::offset(offset);
                }
            } else if typ == attribute::MESSAGE_INTEGRITY && msg.integrity == 0 {
                msg.integrity = self::offset(offset);
                msg.end = self::offset(next);
            }
            offset = next;
        }
        Ok(msg)
    }

    /// [`parse`](Self::parse), then [`verify_fingerprint`](Self::verify_fingerprint): what an
    /// agent does with a datagram off the wire.
    ///
    /// # Errors
    ///
    /// As `parse`, or [`ParseError::BadFingerprint`].
    pub fn parse_checked(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let msg = Self::parse(bytes)?;
        msg.verify_fingerprint()?;
        Ok(msg)
    }

    /// Checks the FINGERPRINT's CRC-32, if the message has one (`Ok` if it has none).
    ///
    /// # Errors
    ///
    /// [`ParseError::BadFingerprint`] if it does not match.
    pub fn verify_fingerprint(&self) -> Result<(), ParseError> {
        let at = self.fingerprint as usize;
        if at == 0 {
            return Ok(());
        }
        let stated =
            u32::from_be_bytes([self.bytes[at + 4], self.bytes[at + 5], self.bytes[at + 6], self.bytes[at + 7]]);
        if stated == integrity::fingerprint(&self.bytes[..at]) { Ok(()) } else { Err(ParseError::BadFingerprint) }
    }

    /// Class and method.
    #[must_use]
    pub fn message_type(&self) -> MessageType {
        MessageType::from_u16(u16::from_be_bytes([self.bytes[0], self.bytes[1]]))
    }

    /// The transaction id.
    #[must_use]
    #[inline]
    pub fn transaction_id(&self) -> TransactionId {
        transaction_id(self.bytes)
    }

    fn end(&self) -> usize {
        self.end as usize
    }

    /// The whole datagram.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The attributes, in order, up to MESSAGE-INTEGRITY (included) or FINGERPRINT.
    #[must_use]
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes { raw: self.raw(), id: self.transaction_id() }
    }

    /// The first attribute of type `typ` (before MESSAGE-INTEGRITY's end), decoded. Only that
    /// one is decoded: the cheap way to read one attribute.
    #[must_use]
    pub fn get(&self, typ: u16) -> Option<Attribute<'a>> {
        let (_, value) = self.raw().find(|(t, _)| *t == typ)?;
        attribute::decode(typ, value, &self.transaction_id()).ok()
    }

    /// The (type, value) pairs up to where [`attributes`](Self::attributes) ends, undecoded.
    #[inline]
    fn raw(&self) -> RawAttributes<'a> {
        RawAttributes { bytes: &self.bytes[..self.end()], offset: HEADER_LEN }
    }

    /// The first attribute `pick` accepts.
    pub fn find<T>(&self, pick: impl FnMut(Attribute<'a>) -> Option<T>) -> Option<T> {
        self.attributes().find_map(pick)
    }

    /// The reflexive address: XOR-MAPPED-ADDRESS, or else MAPPED-ADDRESS.
    #[must_use]
    #[inline]
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        // One walk for both: this is read from every response, so it skips the generic
        // decoder.
        let mut plain = None;
        for (t, value) in self.raw() {
            if t == attribute::XOR_MAPPED_ADDRESS {
                return attribute::read_address(value).ok().map(|a| attribute::xor(a, &self.transaction_id()));
            }
            if t == attribute::MAPPED_ADDRESS && plain.is_none() {
                plain = attribute::read_address(value).ok();
            }
        }
        plain
    }

    /// The server's other address: OTHER-ADDRESS, or else CHANGED-ADDRESS (RFC 3489).
    #[must_use]
    pub fn other_address(&self) -> Option<SocketAddr> {
        match self.get(attribute::OTHER_ADDRESS).or_else(|| self.get(attribute::CHANGED_ADDRESS))? {
            Attribute::OtherAddress(a) | Attribute::ChangedAddress(a) => Some(a),
            _ => None,
        }
    }

    /// The ERROR-CODE of an error response: (code, reason).
    #[must_use]
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        match self.get(attribute::ERROR_CODE)? {
            Attribute::ErrorCode { code, reason } => Some((code, reason)),
            _ => None,
        }
    }

    /// Whether the message carries MESSAGE-INTEGRITY.
    #[must_use]
    pub fn has_integrity(&self) -> bool {
        self.integrity != 0
    }

    /// Whether the message carries a FINGERPRINT (checked by
    /// [`verify_fingerprint`](Self::verify_fingerprint)).
    #[must_use]
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint != 0
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) with `key`: the password for short-term
    /// credentials, [`integrity::long_term_key`] for long-term ones.
    ///
    /// # Errors
    ///
    /// [`integrity::IntegrityError`] if the attribute is missing or does not match.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), integrity::IntegrityError> {
        let at = self.integrity as usize;
        if at == 0 {
            return Err(integrity::IntegrityError::Missing);
        }
        let expected = integrity::hmac_sha1(key, &self.bytes[..at], at + 24 - HEADER_LEN);
        if self.bytes[at + 4..at + 24] == expected { Ok(()) } else { Err(integrity::IntegrityError::Mismatch) }
    }

    /// Unknown comprehension-required attribute types (what a 420 answer lists), each once,
    /// up to [`MAX_UNKNOWN`].
    #[must_use]
    pub fn unknown_required(&self) -> UnknownRequired {
        let mut out = UnknownRequired::default();
        for a in self.attributes() {
            let t = a.typ();
            if attribute::is_comprehension_required(t) && !attribute::is_known(t) && !out.as_slice().contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

/// Up to [`MAX_UNKNOWN`] attribute types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnknownRequired {
    types: [u16; MAX_UNKNOWN],
    len: u8,
}

impl UnknownRequired {
    fn push(&mut self, t: u16) {
        if usize::from(self.len) < MAX_UNKNOWN {
            self.types[usize::from(self.len)] = t;
            self.len += 1;
        }
    }

    /// The types.
    #[must_use]
    pub fn as_slice(&self) -> &[u16] {
        &self.types[..usize::from(self.len)]
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[inline]
fn transaction_id(bytes: &[u8]) -> TransactionId {
    let mut t = [0; 16];
    t.copy_from_slice(&bytes[4..20]);
    if t[..4] == MAGIC_COOKIE.to_be_bytes() {
        let mut id = [0; 12];
        id.copy_from_slice(&t[4..]);
        TransactionId::Rfc8489(id)
    } else {
        TransactionId::Rfc3489(t)
    }
}

/// Walks the TLVs of a validated message: (type, value), padding skipped.
#[derive(Clone, Debug)]
struct RawAttributes<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = (u16, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let head = self.bytes.get(self.offset..self.offset + 4)?;
        let typ = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let value = self.bytes.get(self.offset + 4..self.offset + 4 + len)?;
        self.offset = (self.offset + 4 + len + 3) & !3;
        Some((typ, value))
    }
}

/// Iterator over a parsed message's attributes.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    raw: RawAttributes<'a>,
    id: TransactionId,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        let (typ, value) = self.raw.next()?;
        // Validated by `parse`; a failure here cannot happen, and would end the iteration.
        attribute::decode(typ, value, &self.id).ok()
    }
}
