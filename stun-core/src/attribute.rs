//! STUN attributes: their numbers, a typed borrowed form, decoding and encoding.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::message::{MAGIC_COOKIE, TransactionId};

/// MAPPED-ADDRESS (RFC 3489, RFC 8489).
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// RESPONSE-ADDRESS (RFC 3489): where the server should send the answer.
pub const RESPONSE_ADDRESS: u16 = 0x0002;
/// CHANGE-REQUEST (RFC 3489, RFC 5780).
pub const CHANGE_REQUEST: u16 = 0x0003;
/// SOURCE-ADDRESS (RFC 3489).
pub const SOURCE_ADDRESS: u16 = 0x0004;
/// CHANGED-ADDRESS (RFC 3489); RFC 5780's text also gives OTHER-ADDRESS this number.
pub const CHANGED_ADDRESS: u16 = 0x0005;
/// USERNAME.
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY (HMAC-SHA1).
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE.
pub const ERROR_CODE: u16 = 0x0009;
/// UNKNOWN-ATTRIBUTES.
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
/// REALM.
pub const REALM: u16 = 0x0014;
/// NONCE.
pub const NONCE: u16 = 0x0015;
/// XOR-MAPPED-ADDRESS.
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// PADDING (RFC 5780).
pub const PADDING: u16 = 0x0026;
/// RESPONSE-PORT (RFC 5780).
pub const RESPONSE_PORT: u16 = 0x0027;
/// SOFTWARE.
pub const SOFTWARE: u16 = 0x8022;
/// FINGERPRINT (CRC-32 XOR 0x5354554e).
pub const FINGERPRINT: u16 = 0x8028;
/// RESPONSE-ORIGIN (RFC 5780).
pub const RESPONSE_ORIGIN: u16 = 0x802B;
/// OTHER-ADDRESS (RFC 5780, as registered).
pub const OTHER_ADDRESS: u16 = 0x802C;

/// CHANGE-REQUEST flag: answer from the other IP.
pub const CHANGE_IP: u32 = 0x4;
/// CHANGE-REQUEST flag: answer from the other port.
pub const CHANGE_PORT: u32 = 0x2;

/// Whether this crate decodes attributes of type `typ`.
#[must_use]
pub const fn is_known(typ: u16) -> bool {
    matches!(
        typ,
        MAPPED_ADDRESS
            | RESPONSE_ADDRESS
            | CHANGE_REQUEST
            | SOURCE_ADDRESS
            | CHANGED_ADDRESS
            | USERNAME
            | MESSAGE_INTEGRITY
            | ERROR_CODE
            | UNKNOWN_ATTRIBUTES
            | REALM
            | NONCE
            | XOR_MAPPED_ADDRESS
            | PADDING
            | RESPONSE_PORT
            | SOFTWARE
            | FINGERPRINT
            | RESPONSE_ORIGIN
            | OTHER_ADDRESS
    )
}

/// Types below 0x8000 must be understood by the receiver (RFC 8489 §14).
#[must_use]
pub const fn is_comprehension_required(typ: u16) -> bool {
    typ < 0x8000
}

/// One attribute, borrowing its variable parts from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute<'a> {
    /// The reflexive address, in the clear.
    MappedAddress(SocketAddr),
    /// The reflexive address, XORed with the cookie (and transaction id) on the wire.
    XorMappedAddress(SocketAddr),
    /// RFC 3489: send the answer here.
    ResponseAddress(SocketAddr),
    /// Answer from the other IP and/or port.
    ChangeRequest {
        /// From the other IP.
        change_ip: bool,
        /// From the other port.
        change_port: bool,
    },
    /// RFC 3489: the address the answer was sent from.
    SourceAddress(SocketAddr),
    /// RFC 3489: the server's other address (IP and port both changed).
    ChangedAddress(SocketAddr),
    /// RFC 5780: the server's other address (IP and port both changed).
    OtherAddress(SocketAddr),
    /// RFC 5780: the address the answer was sent from.
    ResponseOrigin(SocketAddr),
    /// RFC 5780: send the answer to the source IP and this port.
    ResponsePort(u16),
    /// RFC 5780: filler, to make a message (and its answer) larger.
    Padding(&'a [u8]),
    /// The agent's name and version.
    Software(&'a str),
    /// An error response's code (300–699) and reason.
    ErrorCode {
        /// The code, e.g. 420.
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// The unknown attribute types a 420 answer lists (pairs of big-endian bytes).
    UnknownAttributes(&'a [u8]),
    /// The user name of credentials.
    Username(&'a str),
    /// The realm of long-term credentials.
    Realm(&'a str),
    /// The server's nonce.
    Nonce(&'a [u8]),
    /// HMAC-SHA1 of the message up to here.
    MessageIntegrity(&'a [u8; 20]),
    /// CRC-32 of the message up to here, XOR 0x5354554e.
    Fingerprint(u32),
    /// Any other attribute, undecoded.
    Other {
        /// Its type.
        typ: u16,
        /// Its value.
        value: &'a [u8],
    },
}

/// What is wrong with an attribute's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    /// The value has the wrong length for its type.
    #[error("wrong length {0}")]
    Length(usize),
    /// An address family other than IPv4 (1) or IPv6 (2).
    #[error("unknown address family {0}")]
    Family(u8),
    /// Text that is not UTF-8.
    #[error("text is not UTF-8")]
    Utf8,
    /// An error code outside 300–699.
    #[error("error code {0} out of range")]
    ErrorCode(u16),
    /// Something after FINGERPRINT.
    #[error("attribute after FINGERPRINT")]
    AfterFingerprint,
}

impl Attribute<'_> {
    /// Its type number.
    #[must_use]
    pub const fn typ(&self) -> u16 {
        match self {
            Self::MappedAddress(_) => MAPPED_ADDRESS,
            Self::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Self::ResponseAddress(_) => RESPONSE_ADDRESS,
            Self::ChangeRequest { .. } => CHANGE_REQUEST,
            Self::SourceAddress(_) => SOURCE_ADDRESS,
            Self::ChangedAddress(_) => CHANGED_ADDRESS,
            Self::OtherAddress(_) => OTHER_ADDRESS,
            Self::ResponseOrigin(_) => RESPONSE_ORIGIN,
            Self::ResponsePort(_) => RESPONSE_PORT,
            Self::Padding(_) => PADDING,
            Self::Software(_) => SOFTWARE,
            Self::ErrorCode { .. } => ERROR_CODE,
            Self::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Self::Username(_) => USERNAME,
            Self::Realm(_) => REALM,
            Self::Nonce(_) => NONCE,
            Self::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Self::Fingerprint(_) => FINGERPRINT,
            Self::Other { typ, .. } => *typ,
        }
    }

    /// Length of its value on the wire (before padding).
    #[must_use]
    pub fn value_len(&self) -> usize {
        match self {
            Self::MappedAddress(a)
            | Self::XorMappedAddress(a)
            | Self::ResponseAddress(a)
            | Self::SourceAddress(a)
            | Self::ChangedAddress(a)
            | Self::OtherAddress(a)
            | Self::ResponseOrigin(a) => address_len(a),
            Self::ChangeRequest { .. } | Self::ResponsePort(_) | Self::Fingerprint(_) => 4,
            Self::Padding(b) | Self::UnknownAttributes(b) | Self::Nonce(b) | Self::Other { value: b, .. } => b.len(),
            Self::Software(s) | Self::Username(s) | Self::Realm(s) => s.len(),
            Self::ErrorCode { reason, .. } => 4 + reason.len(),
            Self::MessageIntegrity(_) => 20,
        }
    }

    /// Writes its value into `out`, which is exactly [`value_len`](Self::value_len) long.
    pub(crate) fn write_value(&self, out: &mut [u8], id: &TransactionId) {
        match self {
            Self::MappedAddress(a)
            | Self::ResponseAddress(a)
            | Self::SourceAddress(a)
            | Self::ChangedAddress(a)
            | Self::OtherAddress(a)
            | Self::ResponseOrigin(a) => write_address(out, *a),
            Self::XorMappedAddress(a) => write_address(out, xor(*a, id)),
            Self::ChangeRequest { change_ip, change_port } => {
                let flags = if *change_ip { CHANGE_IP } else { 0 } | if *change_port { CHANGE_PORT } else { 0 };
                out.copy_from_slice(&flags.to_be_bytes());
            }
            Self::ResponsePort(p) => {
                out[..2].copy_from_slice(&p.to_be_bytes());
                out[2..].fill(0);
            }
            Self::Fingerprint(c) => out.copy_from_slice(&c.to_be_bytes()),
            Self::Padding(b) | Self::UnknownAttributes(b) | Self::Nonce(b) | Self::Other { value: b, .. } => {
                out.copy_from_slice(b);
            }
            Self::Software(s) | Self::Username(s) | Self::Realm(s) => out.copy_from_slice(s.as_bytes()),
            Self::ErrorCode { code, reason } => {
                // Validated by the writer: a code is 300–699, so the cast is exact.
                #[allow(clippy::cast_possible_truncation)]
                let (class, number) = ((code / 100) as u8, (code % 100) as u8);
                out[..4].copy_from_slice(&[0, 0, class, number]);
                out[4..].copy_from_slice(reason.as_bytes());
            }
            Self::MessageIntegrity(h) => out.copy_from_slice(&h[..]),
        }
    }
}

const fn address_len(a: &SocketAddr) -> usize {
    match a {
        SocketAddr::V4(_) => 8,
        SocketAddr::V6(_) => 20,
    }
}

fn write_address(out: &mut [u8], a: SocketAddr) {
    out[0] = 0;
    out[2..4].copy_from_slice(&a.port().to_be_bytes());
    match a.ip() {
        IpAddr::V4(ip) => {
            out[1] = 1;
            out[4..8].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[1] = 2;
            out[4..20].copy_from_slice(&ip.octets());
        }
    }
}

/// XORs an address with the cookie (and for IPv6 the transaction id): its own inverse.
#[must_use]
#[inline]
pub fn xor(a: SocketAddr, id: &TransactionId) -> SocketAddr {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    // The top 16 bits of the cookie.
    #[allow(clippy::cast_possible_truncation)]
    let port = a.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match a.ip() {
        IpAddr::V4(ip) => {
            let o = ip.octets();
            IpAddr::V4(Ipv4Addr::new(o[0] ^ cookie[0], o[1] ^ cookie[1], o[2] ^ cookie[2], o[3] ^ cookie[3]))
        }
        IpAddr::V6(ip) => {
            let mut o = ip.octets();
            let tid = id.xor_bytes();
            for (i, b) in o.iter_mut().enumerate() {
                *b ^= if i < 4 { cookie[i] } else { tid[i - 4] };
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
    };
    SocketAddr::new(ip, port)
}

#[inline]
pub(crate) fn read_address(v: &[u8]) -> Result<SocketAddr, AttributeError> {
    if v.len() < 4 {
        return Err(AttributeError::Length(v.len()));
    }
    let port = u16::from_be_bytes([v[2], v[3]]);
    match (v[1], v.len()) {
        (1, 8) => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(v[4], v[5], v[6], v[7])), port)),
        (2, 20) => {
            let mut o = [0; 16];
            o.copy_from_slice(&v[4..20]);
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
        }
        (1 | 2, n) => Err(AttributeError::Length(n)),
        (f, _) => Err(AttributeError::Family(f)),
    }
}

/// Checks a value without building the attribute: what [`Message::parse`](crate::Message::parse)
/// runs over every attribute, so reading them later cannot fail.
///
/// # Errors
///
/// [`AttributeError`] if a known attribute's value is malformed.
#[inline]
pub fn validate(typ: u16, v: &[u8]) -> Result<(), AttributeError> {
    let len_is = |n: usize| if v.len() == n { Ok(()) } else { Err(AttributeError::Length(v.len())) };
    match typ {
        MAPPED_ADDRESS | XOR_MAPPED_ADDRESS | RESPONSE_ADDRESS | SOURCE_ADDRESS | CHANGED_ADDRESS | OTHER_ADDRESS
        | RESPONSE_ORIGIN => match (v.get(1), v.len()) {
            (Some(1), 8) | (Some(2), 20) => Ok(()),
            (Some(1 | 2), n) | (None, n) => Err(AttributeError::Length(n)),
            (Some(f), _) => Err(AttributeError::Family(*f)),
        },
        CHANGE_REQUEST | RESPONSE_PORT | FINGERPRINT => len_is(4),
        MESSAGE_INTEGRITY => len_is(20),
        SOFTWARE | USERNAME | REALM => text(v).map(|_| ()),
        ERROR_CODE | UNKNOWN_ATTRIBUTES => decode(typ, v, &TransactionId::Rfc8489([0; 12])).map(|_| ()),
        _ => Ok(()),
    }
}

#[inline]
fn text(v: &[u8]) -> Result<&str, AttributeError> {
    core::str::from_utf8(v).map_err(|_| AttributeError::Utf8)
}

fn exact(v: &[u8], n: usize) -> Result<&[u8], AttributeError> {
    if v.len() == n { Ok(v) } else { Err(AttributeError::Length(v.len())) }
}

/// Decodes one attribute value. Unknown types come back as [`Attribute::Other`].
///
/// # Errors
///
/// [`AttributeError`] if a known attribute's value is malformed.
pub fn decode<'a>(typ: u16, v: &'a [u8], id: &TransactionId) -> Result<Attribute<'a>, AttributeError> {
    Ok(match typ {
        MAPPED_ADDRESS => Attribute::MappedAddress(read_address(v)?),
        XOR_MAPPED_ADDRESS => Attribute::XorMappedAddress(xor(read_address(v)?, id)),
        RESPONSE_ADDRESS => Attribute::ResponseAddress(read_address(v)?),
        SOURCE_ADDRESS => Attribute::SourceAddress(read_address(v)?),
        CHANGED_ADDRESS => Attribute::ChangedAddress(read_address(v)?),
        OTHER_ADDRESS => Attribute::OtherAddress(read_address(v)?),
        RESPONSE_ORIGIN => Attribute::ResponseOrigin(read_address(v)?),
        CHANGE_REQUEST => {
            let v = exact(v, 4)?;
            let flags = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            Attribute::ChangeRequest { change_ip: flags & CHANGE_IP != 0, change_port: flags & CHANGE_PORT != 0 }
        }
        RESPONSE_PORT => {
            let v = exact(v, 4)?;
            Attribute::ResponsePort(u16::from_be_bytes([v[0], v[1]]))
        }
        PADDING => Attribute::Padding(v),
        SOFTWARE => Attribute::Software(text(v)?),
        USERNAME => Attribute::Username(text(v)?),
        REALM => Attribute::Realm(text(v)?),
        NONCE => Attribute::Nonce(v),
        ERROR_CODE => {
            if v.len() < 4 {
                return Err(AttributeError::Length(v.len()));
            }
            let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
            if !(300..700).contains(&code) || v[3] >= 100 {
                return Err(AttributeError::ErrorCode(code));
            }
            Attribute::ErrorCode { code, reason: text(&v[4..])? }
        }
        UNKNOWN_ATTRIBUTES => {
            if !v.len().is_multiple_of(2) {
                return Err(AttributeError::Length(v.len()));
            }
            Attribute::UnknownAttributes(v)
        }
        MESSAGE_INTEGRITY => {
            Attribute::MessageIntegrity(exact(v, 20)?.first_chunk::<20>().ok_or(AttributeError::Length(v.len()))?)
        }
        FINGERPRINT => {
            let v = exact(v, 4)?;
            Attribute::Fingerprint(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
        }
        _ => Attribute::Other { typ, value: v },
    })
}
