//! Fuzz bodies for `fuzz/` (feature `fuzzing`).

use crate::wire::{Payload, decode, encode};

/// Discovery message decoding: never panics, and an unsigned message that decodes encodes
/// back to the same bytes (signed ones need the sender's secret to be written again).
pub fn discovery_decode(data: &[u8]) {
    if let Ok(m) = decode(data)
        && matches!(m.payload, Payload::PunctureRequest(_))
    {
        assert_eq!(encode(&m, None).as_deref(), Ok(data));
    }
}

/// A [`Node`](crate::Node) in the community of py-ipv8's captures (`7e57c0de` × 5), with a
/// bootstrap peer, fed arbitrary datagrams (each a u16 little-endian length and its bytes,
/// the prefix forced onto those with an odd first byte so the decoder is reached), 100 ms
/// apart, with walk steps between: no panic, and a deadline always ahead after a timeout.
pub fn node_datagrams(data: &[u8]) {
    use core::net::SocketAddr;
    use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};

    let local = SocketAddr::from(([192, 0, 2, 1], 6421));
    let boot = SocketAddr::from(([203, 0, 113, 1], 6421));
    let community = crate::wire::Community([
        0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57, 0xc0, 0xde, 0x7e, 0x57,
        0xc0, 0xde,
    ]);
    let Ok(mut node) =
        crate::Node::new(crate::Config::new(community, local, alloc::vec![boot]), [3; 32], Seed::from_u64(1))
    else {
        return;
    };
    let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
    let mut now = Instant::ZERO;
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let mut d = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        if d.len() >= 22 && d[0] & 1 == 1 {
            d[0] = 0;
            d[1] = crate::wire::VERSION;
            d[2..22].copy_from_slice(&community.0);
        }
        now += core::time::Duration::from_millis(100);
        node.handle_datagram(now, local, boot, &d);
        node.handle_timeout(now);
        assert!(node.poll_timeout().is_some_and(|t| t > now), "the walk's deadline is ahead");
        while node.poll_transmit(now, &mut buf).is_some() {}
        while node.poll_event().is_some() {}
    }
}
