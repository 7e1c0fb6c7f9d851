//! The eight discovery messages, and our own IntroduceMe: layout, signing and verification.

use alloc::vec::Vec;
use core::net::SocketAddr;

use sync_core::{Identity, Verifier};

use super::address::{self, Style};
use super::{PREFIX_LEN, VERSION};
use crate::identity::{KEY_BIN_LEN, Mid, PeerKey};

/// A community id: 20 bytes chosen by the community (py-ipv8's `community_id`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Community(pub [u8; 20]);

/// Flag bits of an introduction request (the same names in both styles).
pub mod request_flags {
    /// Connection type, first bit ((0,0) unknown, (1,0) public, (1,1) symmetric NAT).
    pub const CONN_TYPE_0: u8 = 0x80;
    /// Connection type, second bit.
    pub const CONN_TYPE_1: u8 = 0x40;
    /// The sender speaks the new style (old-style requests only).
    pub const SUPPORTS_NEW_STYLE: u8 = 0x20;
    /// Ask to be introduced to someone.
    pub const ADVICE: u8 = 0x01;
}

/// Flag bits of an introduction response. The old style and the new one differ.
pub mod response_flags {
    /// Old style: connection type, first bit.
    pub const OLD_CONN_TYPE_0: u8 = 0x80;
    /// Old style: connection type, second bit.
    pub const OLD_CONN_TYPE_1: u8 = 0x40;
    /// Old style: the responder speaks the new style (0x20 in a request, 0x10 here).
    pub const OLD_SUPPORTS_NEW_STYLE: u8 = 0x10;
    /// Old style: the introduced peer speaks the new style.
    pub const OLD_INTRO_SUPPORTS_NEW_STYLE: u8 = 0x08;
    /// Old style: the responder has all the peers it wants.
    pub const OLD_PEER_LIMIT_REACHED: u8 = 0x04;
    /// New style: the introduced peer speaks the new style.
    pub const NEW_INTRO_SUPPORTS_NEW_STYLE: u8 = 0x80;
}

/// "Introduce me to someone": also tells the receiver the address it was reached at.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IntroductionRequest {
    /// The address the sender sent to (the receiver learns its WAN address from it).
    pub destination: SocketAddr,
    /// The sender's LAN address, as it believes.
    pub source_lan: SocketAddr,
    /// The sender's WAN address, as it believes.
    pub source_wan: SocketAddr,
    /// [`request_flags`].
    pub flags: u8,
    /// Echoed in the response.
    pub identifier: u16,
    /// Trailing bytes (py-ipv8's `extra_bytes`).
    pub extra: Vec<u8>,
}

/// The answer, possibly introducing a third peer (whose addresses are 0.0.0.0:0 if none).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IntroductionResponse {
    /// The requester's address as the responder saw it.
    pub destination: SocketAddr,
    /// The responder's LAN address.
    pub source_lan: SocketAddr,
    /// The responder's WAN address.
    pub source_wan: SocketAddr,
    /// The introduced peer's LAN address.
    pub lan_introduction: SocketAddr,
    /// The introduced peer's WAN address.
    pub wan_introduction: SocketAddr,
    /// [`response_flags`].
    pub flags: u8,
    /// The request's identifier.
    pub identifier: u16,
    /// Trailing bytes.
    pub extra: Vec<u8>,
}

/// From an introducer to the introduced peer: "send a puncture to this walker". Unsigned.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PunctureRequest {
    /// The requester's LAN address.
    pub lan_walker: SocketAddr,
    /// The requester's WAN address.
    pub wan_walker: SocketAddr,
    /// The introduction's identifier.
    pub identifier: u16,
}

/// The packet that opens the introduced peer's NAT towards the requester.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Puncture {
    /// The sender's LAN address.
    pub source_lan: SocketAddr,
    /// The sender's WAN address.
    pub source_wan: SocketAddr,
    /// The puncture request's identifier.
    pub identifier: u16,
}

/// Ours, not py-ipv8's (message id 17, new style, signed): "ask `target` to puncture towards
/// me". An introducer that knows both sends `target` a puncture request naming the sender's
/// LAN address and the address the request came from, so `target`'s NAT opens towards the
/// sender while the sender's P2TP handshake opens its own (`docs/overlay.md` §6).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IntroduceMe {
    /// The peer to be asked.
    pub target: Mid,
    /// The sender's LAN address.
    pub source_lan: SocketAddr,
    /// Echoed in the puncture request and the target's puncture.
    pub identifier: u16,
    /// Only from a sender behind a NAT that maps per destination and gives out ports in
    /// sequence: the external port its flow towards the target is predicted to have, and
    /// how many ports up from it the target should open towards (`docs/overlay.md` §7.2).
    /// On the wire: 3 trailing bytes, `port (2) ‖ count (1)`, absent otherwise.
    pub ports: Option<PortWindow>,
}

/// Consecutive external ports of a walker's NAT, from `first`: where its mapping towards a
/// target is predicted to be (`docs/overlay.md` §7.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PortWindow {
    /// The predicted port.
    pub first: u16,
    /// Ports from `first` up, at least 1.
    pub count: u8,
}

/// Ours, in an introduction request's extra bytes: the walker's NAT gives out ports in
/// sequence, and its next flow (its opener towards whoever it is introduced to) is predicted
/// to leave from this port (`docs/overlay.md` §7.2). On the wire: `'p' ‖ port (2)`, never 0.
/// py-ipv8 hands extra bytes to its community's callback, which ignores them by default.
///
/// ```
/// use overlay_core::wire::NextPort;
/// assert_eq!(NextPort::from_extra(&NextPort(40_000).to_extra()), Some(NextPort(40_000)));
/// assert_eq!(NextPort::from_extra(&NextPort(0).to_extra()), None);
/// assert_eq!(NextPort::from_extra(b""), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NextPort(pub u16);

impl NextPort {
    /// Its tag in the extra bytes (`'p'`).
    pub const EXTRA_TAG: u8 = b'p';

    /// As an introduction request's extra bytes.
    #[must_use]
    pub fn to_extra(self) -> [u8; 3] {
        let [hi, lo] = self.0.to_be_bytes();
        [Self::EXTRA_TAG, hi, lo]
    }

    /// The port in an introduction request's extra bytes, if they hold exactly one (not 0).
    #[must_use]
    pub fn from_extra(extra: &[u8]) -> Option<Self> {
        match *extra {
            [Self::EXTRA_TAG, hi, lo] => Some(u16::from_be_bytes([hi, lo])).filter(|p| *p != 0).map(Self),
            _ => None,
        }
    }
}

/// Ours (message id 19, new style, unsigned): a puncture request an introducer sends for an
/// [`IntroduceMe`]. The walker asked for this peer by key and opens a stream the moment the
/// puncture arrives, so a puncture it never answers did not get through (`docs/overlay.md`
/// §7.1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AskedPunctureRequest {
    /// The body of py-ipv8's puncture request; `wan_walker`'s port is the predicted one when
    /// the walker sent a [`PortWindow`].
    pub request: PunctureRequest,
    /// Who the walker is (the introducer checked its signature): a target whose own NAT
    /// gives out ports in sequence asks for the walker in turn (§7.2).
    pub walker: Mid,
    /// How many ports from `wan_walker`'s up to open towards (1: that one only). On the wire
    /// a trailing count byte when above 1.
    pub ports: u8,
}

/// Ours (message id 20, new style, unsigned): an introducer's answer to an [`IntroduceMe`],
/// sent with the puncture request: where the target is, so the walker's opener leaves its
/// own NATs towards it before the target's puncture arrives. A walker that asked by key
/// may not have known the target's address; a puncture that reached its Linux router first
/// would move its mapping (`docs/overlay.md` §7.1). Smaller than the request it answers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Introduced {
    /// The peer asked for.
    pub target: Mid,
    /// The target's LAN address, as the introducer knows it.
    pub target_lan: SocketAddr,
    /// The address the introducer sent the puncture request to.
    pub target_wan: SocketAddr,
    /// The [`IntroduceMe`]'s identifier.
    pub identifier: u16,
}

/// Ours (message id 18, new style, signed): application bytes for `target`, carried by a relay
/// when no direct path joins the two. The relay forwards the signed datagram unchanged, so the
/// target verifies the sender's signature itself; `counter` (rising, per sender) lets it drop
/// replays (`docs/overlay.md` §7).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Relay {
    /// The peer the bytes are for.
    pub target: Mid,
    /// Rises with every relayed message of the sender.
    pub counter: u64,
    /// The application's bytes.
    pub data: Vec<u8>,
}

/// What a message says.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Payload {
    /// 246 (old) / 234 (new), signed.
    IntroductionRequest(IntroductionRequest),
    /// 245 / 233, signed.
    IntroductionResponse(IntroductionResponse),
    /// 250 / 232, unsigned.
    PunctureRequest(PunctureRequest),
    /// 249 / 231, signed.
    Puncture(Puncture),
    /// 17 (ours; new style only), signed.
    IntroduceMe(IntroduceMe),
    /// 18 (ours; new style only), signed.
    Relay(Relay),
    /// 19 (ours; new style only), unsigned: see [`AskedPunctureRequest`].
    AskedPunctureRequest(AskedPunctureRequest),
    /// 20 (ours; new style only), unsigned: see [`Introduced`].
    Introduced(Introduced),
}

impl Payload {
    fn id(&self, style: Style) -> u8 {
        match (self, style) {
            (Payload::IntroductionRequest(_), Style::Old) => 246,
            (Payload::IntroductionResponse(_), Style::Old) => 245,
            (Payload::PunctureRequest(_), Style::Old) => 250,
            (Payload::Puncture(_), Style::Old) => 249,
            (Payload::IntroductionRequest(_), Style::New) => 234,
            (Payload::IntroductionResponse(_), Style::New) => 233,
            (Payload::PunctureRequest(_), Style::New) => 232,
            (Payload::Puncture(_), Style::New) => 231,
            (Payload::IntroduceMe(_), _) => INTRODUCE_ME,
            (Payload::Relay(_), _) => RELAY,
            (Payload::AskedPunctureRequest(_), _) => ASKED_PUNCTURE_REQUEST,
            (Payload::Introduced(_), _) => INTRODUCED,
        }
    }

    fn signed(&self) -> bool {
        signed_id(self.id(Style::New))
    }
}

/// A discovery message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// The community it belongs to.
    pub community: Community,
    /// Old (IPv4-only) or new style.
    pub style: Style,
    /// The sender's Lamport clock (an introduction request carries it mod 2^16, equal to its
    /// identifier, as py-ipv8 does).
    pub global_time: u64,
    /// Who signed it (`None` for the unsigned puncture request).
    pub sender: Option<PeerKey>,
    /// What it says.
    pub payload: Payload,
}

/// Why bytes are not a discovery message.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its fields.
    #[error("truncated")]
    Truncated,
    /// Not `00 02`: not a community message.
    #[error("not a community message")]
    NotCommunity,
    /// A message id this crate does not know.
    #[error("unknown message id {0}")]
    UnknownId(u8),
    /// The sender's key is not a 74-byte `LibNaCLPK:` key.
    #[error("unsupported key")]
    Key,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// An address type other than IPv4 (1) or IPv6 (3).
    #[error("address type {0}")]
    AddressType(u8),
    /// Bytes after the last field of a payload that does not end in extra bytes.
    #[error("trailing bytes")]
    Trailing,
    /// A port window (ours, `docs/overlay.md` §7.2) of no ports or from port 0, or an
    /// asked-for puncture request's count byte of 1 (which only the byte's absence may say).
    #[error("a port window of no ports, or from port 0")]
    BadPortWindow,
}

/// Why a message cannot be written.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The old style has no way to write an IPv6 address.
    #[error("an IPv6 address in an old-style message")]
    Ipv6InOldStyle,
    /// A signed message needs the sender's identity.
    #[error("a signed message needs an identity")]
    NoSigner,
    /// A port window of no ports or from port 0, which no decoder would take back.
    #[error("a port window of no ports, or from port 0")]
    BadPortWindow,
}

/// Who signs: the identity and its key bin (which carries the X25519 half it advertises).
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    /// The secret.
    pub identity: &'a Identity,
    /// Its key bin, as it goes on the wire.
    pub key: &'a PeerKey,
}

/// Whether messages with this id carry a key and signature: all but the puncture requests
/// (py-ipv8's, old and new style, and ours) and [`Introduced`].
fn signed_id(id: u8) -> bool {
    !matches!(id, 250 | 232 | ASKED_PUNCTURE_REQUEST | INTRODUCED)
}

/// The message id of [`IntroduceMe`].
pub const INTRODUCE_ME: u8 = 17;
/// The message id of [`Relay`].
pub const RELAY: u8 = 18;
/// The message id of [`Payload::AskedPunctureRequest`].
pub const ASKED_PUNCTURE_REQUEST: u8 = 19;
/// The message id of [`Introduced`].
pub const INTRODUCED: u8 = 20;

pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut o = [0u8; N];
        o.copy_from_slice(self.take(N)?);
        Ok(o)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
}

/// The old style writes an introduction's flags before its identifier, the new one after.
fn write_flags_and_identifier(style: Style, flags: u8, identifier: u16, out: &mut Vec<u8>) {
    match style {
        Style::Old => {
            out.push(flags);
            out.extend_from_slice(&identifier.to_be_bytes());
        }
        Style::New => {
            out.extend_from_slice(&identifier.to_be_bytes());
            out.push(flags);
        }
    }
}

fn read_flags_and_identifier(style: Style, r: &mut Reader<'_>) -> Result<(u8, u16), DecodeError> {
    Ok(match style {
        Style::Old => (r.u8()?, r.u16()?),
        Style::New => {
            let identifier = r.u16()?;
            (r.u8()?, identifier)
        }
    })
}

/// Writes `msg`, signing it with `signer` if it is a signed kind. The sender field of `msg`
/// is ignored: the signer's key is what goes on the wire.
pub fn encode(msg: &Message, signer: Option<Signer<'_>>) -> Result<Vec<u8>, EncodeError> {
    let style = msg.style;
    let mut out = Vec::with_capacity(256);
    out.push(0);
    out.push(VERSION);
    out.extend_from_slice(&msg.community.0);
    out.push(msg.payload.id(style));
    let signer = if msg.payload.signed() {
        let s = signer.ok_or(EncodeError::NoSigner)?;
        out.extend_from_slice(&(KEY_BIN_LEN as u16).to_be_bytes());
        out.extend_from_slice(s.key.as_bytes());
        Some(s)
    } else {
        None
    };
    out.extend_from_slice(&msg.global_time.to_be_bytes());
    let addr = |a: &SocketAddr, out: &mut Vec<u8>| address::write(style, a, out);
    match &msg.payload {
        Payload::IntroductionRequest(r) => {
            addr(&r.destination, &mut out)?;
            addr(&r.source_lan, &mut out)?;
            addr(&r.source_wan, &mut out)?;
            write_flags_and_identifier(style, r.flags, r.identifier, &mut out);
            out.extend_from_slice(&r.extra);
        }
        Payload::IntroductionResponse(r) => {
            for a in [&r.destination, &r.source_lan, &r.source_wan, &r.lan_introduction, &r.wan_introduction] {
                addr(a, &mut out)?;
            }
            write_flags_and_identifier(style, r.flags, r.identifier, &mut out);
            out.extend_from_slice(&r.extra);
        }
        Payload::PunctureRequest(p) => {
            addr(&p.lan_walker, &mut out)?;
            addr(&p.wan_walker, &mut out)?;
            out.extend_from_slice(&p.identifier.to_be_bytes());
        }
        Payload::AskedPunctureRequest(AskedPunctureRequest { request: p, walker, ports }) => {
            addr(&p.lan_walker, &mut out)?;
            addr(&p.wan_walker, &mut out)?;
            out.extend_from_slice(&p.identifier.to_be_bytes());
            out.extend_from_slice(&walker.0);
            match *ports {
                0 => return Err(EncodeError::BadPortWindow),
                1 => {}
                n => out.push(n),
            }
        }
        Payload::Introduced(p) => {
            out.extend_from_slice(&p.target.0);
            addr(&p.target_lan, &mut out)?;
            addr(&p.target_wan, &mut out)?;
            out.extend_from_slice(&p.identifier.to_be_bytes());
        }
        Payload::Puncture(p) => {
            addr(&p.source_lan, &mut out)?;
            addr(&p.source_wan, &mut out)?;
            out.extend_from_slice(&p.identifier.to_be_bytes());
        }
        Payload::IntroduceMe(p) => {
            address::write(Style::New, &p.source_lan, &mut out)?;
            out.extend_from_slice(&p.target.0);
            out.extend_from_slice(&p.identifier.to_be_bytes());
            if let Some(w) = p.ports {
                if w.first == 0 || w.count == 0 {
                    return Err(EncodeError::BadPortWindow);
                }
                out.extend_from_slice(&w.first.to_be_bytes());
                out.push(w.count);
            }
        }
        Payload::Relay(p) => {
            out.extend_from_slice(&p.target.0);
            out.extend_from_slice(&p.counter.to_be_bytes());
            out.extend_from_slice(&p.data);
        }
    }
    if let Some(s) = signer {
        let sig = s.identity.sign_message(&out);
        out.extend_from_slice(&sig);
    }
    Ok(out)
}

/// Parses and, for signed kinds, verifies a datagram. Never panics; allocates at most the
/// datagram's length.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode_with(bytes, &Verifier::default())
}

/// [`decode`], with the signature checked by `verifier` (which may recall it from a memo
/// shared by the nodes of one process).
pub fn decode_with(bytes: &[u8], verifier: &Verifier) -> Result<Message, DecodeError> {
    let mut r = Reader(bytes);
    if r.array::<2>()? != [0, VERSION] {
        return Err(DecodeError::NotCommunity);
    }
    let community = Community(r.array()?);
    let id = r.u8()?;
    let style = match id {
        245 | 246 | 249 | 250 => Style::Old,
        231..=234 | INTRODUCE_ME | RELAY | ASKED_PUNCTURE_REQUEST | INTRODUCED => Style::New,
        other => return Err(DecodeError::UnknownId(other)),
    };
    let signed = signed_id(id);
    let (sender, body_end) = if signed {
        if bytes.len() < PREFIX_LEN + 1 + 64 {
            return Err(DecodeError::Truncated);
        }
        let key_len = usize::from(r.u16()?);
        if key_len != KEY_BIN_LEN {
            return Err(DecodeError::Key);
        }
        let key = PeerKey::from_bytes(r.take(KEY_BIN_LEN)?).ok_or(DecodeError::Key)?;
        let end = bytes.len().checked_sub(64).ok_or(DecodeError::Truncated)?;
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&bytes[end..]);
        if end < PREFIX_LEN + 1 + 2 + KEY_BIN_LEN || !verifier.verify(&key.ed25519(), &bytes[..end], &sig) {
            return Err(DecodeError::Signature);
        }
        (Some(key), end)
    } else {
        (None, bytes.len())
    };
    // Only the body, before the signature, is read from here on.
    let consumed = bytes.len() - r.0.len();
    let mut r = Reader(bytes.get(consumed..body_end).ok_or(DecodeError::Truncated)?);
    let global_time = u64::from_be_bytes(r.array()?);
    let addr = |r: &mut Reader<'_>| address::read(style, r);
    let payload = match id {
        246 | 234 => {
            let (destination, source_lan, source_wan) = (addr(&mut r)?, addr(&mut r)?, addr(&mut r)?);
            let (flags, identifier) = read_flags_and_identifier(style, &mut r)?;
            let extra = core::mem::take(&mut r.0).to_vec();
            Payload::IntroductionRequest(IntroductionRequest {
                destination,
                source_lan,
                source_wan,
                flags,
                identifier,
                extra,
            })
        }
        245 | 233 => {
            let (destination, source_lan, source_wan) = (addr(&mut r)?, addr(&mut r)?, addr(&mut r)?);
            let (lan_introduction, wan_introduction) = (addr(&mut r)?, addr(&mut r)?);
            let (flags, identifier) = read_flags_and_identifier(style, &mut r)?;
            let extra = core::mem::take(&mut r.0).to_vec();
            Payload::IntroductionResponse(IntroductionResponse {
                destination,
                source_lan,
                source_wan,
                lan_introduction,
                wan_introduction,
                flags,
                identifier,
                extra,
            })
        }
        250 | 232 | ASKED_PUNCTURE_REQUEST => {
            let (lan_walker, wan_walker) = (addr(&mut r)?, addr(&mut r)?);
            let request = PunctureRequest { lan_walker, wan_walker, identifier: r.u16()? };
            if id == ASKED_PUNCTURE_REQUEST {
                let walker = Mid(r.array()?);
                // A count byte is there only above 1, so each request has one encoding.
                let ports = match r.0 {
                    [] => 1,
                    _ => match r.u8()? {
                        0 | 1 => return Err(DecodeError::BadPortWindow),
                        n => n,
                    },
                };
                Payload::AskedPunctureRequest(AskedPunctureRequest { request, walker, ports })
            } else {
                Payload::PunctureRequest(request)
            }
        }
        INTRODUCED => {
            let target = Mid(r.array()?);
            let (target_lan, target_wan) = (addr(&mut r)?, addr(&mut r)?);
            Payload::Introduced(Introduced { target, target_lan, target_wan, identifier: r.u16()? })
        }
        INTRODUCE_ME => {
            let source_lan = addr(&mut r)?;
            let target = Mid(r.array()?);
            let identifier = r.u16()?;
            let ports = if r.0.is_empty() {
                None
            } else {
                let first = r.u16()?;
                let count = r.u8()?;
                if first == 0 || count == 0 {
                    return Err(DecodeError::BadPortWindow);
                }
                Some(PortWindow { first, count })
            };
            Payload::IntroduceMe(IntroduceMe { target, source_lan, identifier, ports })
        }
        RELAY => {
            let target = Mid(r.array()?);
            let counter = u64::from_be_bytes(r.array()?);
            let data = core::mem::take(&mut r.0).to_vec();
            Payload::Relay(Relay { target, counter, data })
        }
        _ => {
            let (source_lan, source_wan) = (addr(&mut r)?, addr(&mut r)?);
            Payload::Puncture(Puncture { source_lan, source_wan, identifier: r.u16()? })
        }
    };
    if !r.0.is_empty() {
        return Err(DecodeError::Trailing);
    }
    Ok(Message { community, style, global_time, sender, payload })
}
