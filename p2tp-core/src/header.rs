//! The 8-byte P2TP header (docs/p2tp.md §2).

use crate::serial::MASK;

/// The header's length in bytes.
pub const HEADER_LEN: usize = 8;

const TOP: u32 = 1 << 31;
const SECOND: u32 = 1 << 30;

/// The STUN magic cookie: no P2TP word 2 may equal it (docs/p2tp.md §3.2, §11.3).
pub const STUN_MAGIC: u32 = 0x2112_A442;

/// One decoded header: four flags and two 30-bit values.
///
/// ```
/// use p2tp_core::Header;
///
/// let h = Header { sop: true, lss: false, v1: 7, clr: true, yts: true, v2: 123_456 };
/// let mut buf = [0u8; 8];
/// h.encode(&mut buf);
/// assert_eq!(buf[0] & 0x80, 0x80, "SOP is the top bit of byte 0");
/// assert_eq!(Header::decode(&buf), Some(h));
/// assert_eq!(Header::decode(&buf[..7]), None, "shorter than 8 bytes");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Stream open: `v1` is a sequence number.
    pub sop: bool,
    /// Loss seen (SOP=1); close (SOP=0).
    pub lss: bool,
    /// Sequence number (SOP=1) or cookie / next sequence number (SOP=0), 30 bits.
    pub v1: u32,
    /// The peer's loss flag was seen.
    pub clr: bool,
    /// `v2` is a returned value (echoed timestamp, cookie or sequence number).
    pub yts: bool,
    /// Forward timestamp (YTS=0) or echo (YTS=1), 30 bits.
    pub v2: u32,
}

impl Header {
    /// Word 1 as sent.
    #[inline]
    #[must_use]
    pub const fn word1(&self) -> u32 {
        (if self.sop { TOP } else { 0 }) | (if self.lss { SECOND } else { 0 }) | (self.v1 & MASK)
    }

    /// Word 2 as sent.
    #[inline]
    #[must_use]
    pub const fn word2(&self) -> u32 {
        (if self.clr { TOP } else { 0 }) | (if self.yts { SECOND } else { 0 }) | (self.v2 & MASK)
    }

    /// Writes the 8 bytes at the start of `buf` (which must hold them).
    ///
    /// # Panics
    ///
    /// If `buf` is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn encode(&self, buf: &mut [u8]) {
        buf[..4].copy_from_slice(&self.word1().to_be_bytes());
        buf[4..8].copy_from_slice(&self.word2().to_be_bytes());
    }

    /// Reads the first 8 bytes of `datagram`, or `None` if it is shorter.
    #[inline]
    #[must_use]
    pub fn decode(datagram: &[u8]) -> Option<Self> {
        let bytes: &[u8; 8] = datagram.get(..HEADER_LEN)?.try_into().ok()?;
        let w1 = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let w2 = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        Some(Self {
            sop: w1 & TOP != 0,
            lss: w1 & SECOND != 0,
            v1: w1 & MASK,
            clr: w2 & TOP != 0,
            yts: w2 & SECOND != 0,
            v2: w2 & MASK,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_sits_at_its_bit_and_values_keep_30_bits() {
        let mut buf = [0u8; 8];
        Header { sop: true, ..Header::default() }.encode(&mut buf);
        assert_eq!(buf, [0x80, 0, 0, 0, 0, 0, 0, 0]);
        Header { lss: true, ..Header::default() }.encode(&mut buf);
        assert_eq!(buf, [0x40, 0, 0, 0, 0, 0, 0, 0]);
        Header { clr: true, ..Header::default() }.encode(&mut buf);
        assert_eq!(buf, [0, 0, 0, 0, 0x80, 0, 0, 0]);
        Header { yts: true, ..Header::default() }.encode(&mut buf);
        assert_eq!(buf, [0, 0, 0, 0, 0x40, 0, 0, 0]);
        // Bits above 30 in a value never leak into the flags.
        Header { v1: u32::MAX, v2: u32::MAX, ..Header::default() }.encode(&mut buf);
        assert_eq!(buf, [0x3f, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0xff]);
    }
}
