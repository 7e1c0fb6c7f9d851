//! The two ways py-ipv8 writes a socket address.

use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::message::{DecodeError, EncodeError, Reader};

/// Which family of message ids, and so which address encoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Style {
    /// Ids 246/245/250/249: an address is 4 bytes of IPv4 and a port.
    Old,
    /// Ids 234/233/232/231: a type byte (`01` IPv4, `03` IPv6), the address, a port.
    New,
}

/// Writes `a`. The new style writes it as it is (an IPv4-mapped IPv6 address stays type 3, so
/// what was decoded encodes back to the same bytes); the old style can write an IPv4-mapped
/// one as the IPv4 address it is, and no other IPv6 address.
pub(super) fn write(style: Style, a: &SocketAddr, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let ip = match (style, a.ip()) {
        (Style::Old, IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        (_, ip) => ip,
    };
    match (style, ip) {
        (Style::Old, IpAddr::V4(v4)) => out.extend_from_slice(&v4.octets()),
        (Style::Old, IpAddr::V6(_)) => return Err(EncodeError::Ipv6InOldStyle),
        (Style::New, IpAddr::V4(v4)) => {
            out.push(1);
            out.extend_from_slice(&v4.octets());
        }
        (Style::New, IpAddr::V6(v6)) => {
            out.push(3);
            out.extend_from_slice(&v6.octets());
        }
    }
    out.extend_from_slice(&a.port().to_be_bytes());
    Ok(())
}

pub(super) fn read(style: Style, r: &mut Reader<'_>) -> Result<SocketAddr, DecodeError> {
    let ip = match style {
        Style::Old => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
        Style::New => match r.u8()? {
            1 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
            3 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
            // 2 is a domain name, which py-ipv8's `ip_address` refuses too.
            t => return Err(DecodeError::AddressType(t)),
        },
    };
    Ok(SocketAddr::new(ip, u16::from_be_bytes(r.array()?)))
}
