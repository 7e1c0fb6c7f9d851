//! Telling STUN, overlay messages and P2TP apart on one UDP socket (docs/p2tp.md §11).

use crate::header::STUN_MAGIC;

/// What a datagram on a shared socket is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// STUN (RFC 8489): magic cookie, length rules, first byte 0–3.
    Stun,
    /// An RFC 3489 STUN response (no magic cookie) to a transaction the node has outstanding.
    ClassicStun,
    /// An overlay message for a community the node serves (py-ipv8 framing: `00 02` and a
    /// 20-byte community id).
    Overlay,
    /// An overlay message for a community the node does not serve.
    UnknownCommunity,
    /// P2TP.
    P2tp,
    /// None of these: drop and count.
    Unknown,
}

/// The STUN header's length.
const STUN_HEADER: usize = 20;
/// `00 02`, a community id, and a message type byte.
const OVERLAY_MIN: usize = 23;

/// Classifies `datagram` by the rules of docs/p2tp.md §11.2, in order. `serves` says whether
/// the node serves a community id; `classic_outstanding` whether an RFC 3489 transaction id
/// (bytes 4..20) is one the node's STUN client is waiting for.
///
/// ```
/// use p2tp_core::{Header, Protocol, classify};
///
/// let mut p2tp = [0u8; 8];
/// Header { sop: true, v1: 1, ..Header::default() }.encode(&mut p2tp);
/// assert_eq!(classify(&p2tp, |_| false, |_| false), Protocol::P2tp);
///
/// let mut stun = [0u8; 20];
/// stun[1] = 1; // Binding request, no attributes
/// stun[4..8].copy_from_slice(&0x2112_A442u32.to_be_bytes());
/// assert_eq!(classify(&stun, |_| false, |_| false), Protocol::Stun);
/// ```
#[must_use]
pub fn classify(
    datagram: &[u8],
    serves: impl FnOnce(&[u8; 20]) -> bool,
    classic_outstanding: impl FnOnce(&[u8; 16]) -> bool,
) -> Protocol {
    let len = datagram.len();
    if len >= STUN_HEADER && datagram[0] <= 3 {
        let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if length % 4 == 0 && length == len - STUN_HEADER {
            if datagram[4..8] == STUN_MAGIC.to_be_bytes() {
                return Protocol::Stun;
            }
            if let Ok(id) = <&[u8; 16]>::try_from(&datagram[4..20])
                && classic_outstanding(id)
            {
                return Protocol::ClassicStun;
            }
        }
    }
    if len >= OVERLAY_MIN && datagram[..2] == [0, 2] {
        return match <&[u8; 20]>::try_from(&datagram[2..22]) {
            Ok(community) if serves(community) => Protocol::Overlay,
            _ => Protocol::UnknownCommunity,
        };
    }
    if len >= crate::header::HEADER_LEN {
        return Protocol::P2tp;
    }
    Protocol::Unknown
}
