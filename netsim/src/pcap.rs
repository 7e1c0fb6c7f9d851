//! Packet capture of a link, written as a pcap file that Wireshark and tshark decode.

use std::net::{IpAddr, SocketAddr};

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use sansio_core::Instant;

use crate::packets::Packet;

/// Packets seen on one link, with their virtual arrival times.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    packets: Vec<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
}

impl Capture {
    pub(crate) fn record(&mut self, at: Instant, p: &Packet) {
        self.packets.push((at, p.src, p.dst, p.payload.clone()));
    }

    /// Every packet recorded: arrival time, source, destination, payload.
    pub(crate) fn packets(&self) -> impl Iterator<Item = (Instant, SocketAddr, SocketAddr, &[u8])> {
        self.packets.iter().map(|(t, s, d, p)| (*t, *s, *d, p.as_slice()))
    }

    /// Writes every packet framed as raw IP (LINKTYPE_RAW) + UDP; returns how many.
    pub(crate) fn write<W: std::io::Write>(&self, out: W) -> std::io::Result<usize> {
        write_packets(self.packets(), out)
    }
}

/// Writes `packets` (arrival time, source, destination, payload) as a pcap file of raw IP
/// (LINKTYPE_RAW) + UDP frames; returns how many were written.
pub(crate) fn write_packets<'a, W: std::io::Write>(
    packets: impl Iterator<Item = (Instant, SocketAddr, SocketAddr, &'a [u8])>,
    out: W,
) -> std::io::Result<usize> {
    let header = PcapHeader { datalink: DataLink::RAW, ..PcapHeader::default() };
    let mut w = PcapWriter::with_header(out, header).map_err(std::io::Error::other)?;
    let mut n = 0;
    for (at, src, dst, payload) in packets {
        let Some(frame) = ip_udp_frame(src, dst, payload) else { continue };
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        w.write_packet(&PcapPacket::new(at.since_origin(), len, &frame)).map_err(std::io::Error::other)?;
        n += 1;
    }
    Ok(n)
}

/// The one's-complement sum of 16-bit words used by the IP and UDP checksums.
fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // Truncation is the point: the folded sum fits in 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let folded = sum as u16;
    !folded
}

/// Fills in the UDP checksum of `udp` (header with a zero checksum, then payload) over the
/// pseudo-header of `src` and `dst` (4- or 16-byte addresses); 0 is sent as 0xffff.
fn set_udp_checksum(udp: &mut [u8], src: &[u8], dst: &[u8]) {
    let len = u32::try_from(udp.len()).unwrap_or(u32::MAX);
    let pseudo = ones_complement_sum(ones_complement_sum(0, src), dst) + 17 + len;
    let c = fold(ones_complement_sum(pseudo, udp));
    udp[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
}

/// An IPv4 or IPv6 packet carrying `payload` in UDP from `src` to `dst`, with valid checksums;
/// `None` when the families differ or the payload does not fit.
fn ip_udp_frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = u16::try_from(20 + udp.len()).ok()?;
            set_udp_checksum(&mut udp, &s.octets(), &d.octets());
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let c = fold(ones_complement_sum(0, &ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip.extend_from_slice(&udp);
            Some(ip)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            set_udp_checksum(&mut udp, &s.octets(), &d.octets());
            let mut ip = vec![0x60, 0, 0, 0];
            ip.extend_from_slice(&udp_len.to_be_bytes());
            ip.extend_from_slice(&[17, 64]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&udp);
            Some(ip)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies_to_zero() {
        let f = ip_udp_frame("10.0.0.1:1000".parse().unwrap(), "10.0.0.2:2000".parse().unwrap(), b"hello").unwrap();
        assert_eq!(f.len(), 20 + 8 + 5);
        assert_eq!(fold(ones_complement_sum(0, &f[..20])), 0);
        // UDP: pseudo-header + segment sums to all ones.
        let mut pseudo = ones_complement_sum(0, &f[12..20]);
        pseudo += 17 + 13;
        assert_eq!(fold(ones_complement_sum(pseudo, &f[20..])), 0);
    }

    #[test]
    fn mixed_families_are_not_framed() {
        assert!(ip_udp_frame("10.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap(), b"x").is_none());
    }
}
