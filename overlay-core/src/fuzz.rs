//! Fuzz bodies for `fuzz/` (feature `fuzzing`).

use crate::wire::{Payload, decode, encode};

/// Discovery message decoding: never panics, and an unsigned message that decodes encodes
/// back to the same bytes (signed ones need the sender's secret to be written again).
pub fn discovery_decode(data: &[u8]) {
    if let Ok(m) = decode(data)
        && matches!(m.payload, Payload::PunctureRequest(_) | Payload::AskedPunctureRequest(_) | Payload::Introduced(_))
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

/// A [`Node`](crate::Node) and two other identities (at their own addresses), driven by
/// operations the input chooses: raw datagrams; introduction requests and responses,
/// IntroduceMe and Relay messages built from the input and validly signed by one of the
/// identities (so the fuzzer reaches what lies behind the signature checks, counters up to
/// `u64::MAX` included); application sends and relations; and time steps. No panic, and after
/// every timeout the deadline is ahead.
pub fn node_ops(data: &[u8]) {
    use core::net::SocketAddr;
    use core::time::Duration;

    use sansio_core::{Instant, MIN_TRANSMIT_BUFFER, Machine, Seed};
    use sync_core::{Identity, RelationType};

    use crate::wire::{
        Community, IntroduceMe, IntroductionRequest, IntroductionResponse, Message, Relay, Signer, Style,
    };
    use crate::{Mid, PeerKey};

    let community = Community([0x42; 20]);
    let local = SocketAddr::from(([192, 0, 2, 1], 6421));
    let addrs = [SocketAddr::from(([203, 0, 113, 1], 6421)), SocketAddr::from(([198, 51, 100, 2], 7000))];
    let Ok(mut node) =
        crate::Node::new(crate::Config::new(community, local, alloc::vec![addrs[0]]), [3; 32], Seed::from_u64(1))
    else {
        return;
    };
    let ids: alloc::vec::Vec<(Identity, PeerKey)> = (0..2u8)
        .filter_map(|k| {
            let id = Identity::from_seed([k + 10; 32]).ok()?;
            let key = PeerKey::from_ed25519(&id.public())?;
            Some((id, key))
        })
        .collect();
    let mids = [node.mid(), ids[0].1.mid(), ids[1].1.mid(), Mid([9; 20])];
    let mut buf = [0u8; MIN_TRANSMIT_BUFFER];
    let mut now = Instant::ZERO;
    let mut r = data;
    let mut take = |n: usize| -> alloc::vec::Vec<u8> {
        let n = n.min(r.len());
        let (a, b) = r.split_at(n);
        r = b;
        a.to_vec()
    };
    loop {
        let head = take(3);
        let [op, who, arg] = head[..] else { break };
        let k = usize::from(who % 2);
        let from = addrs[k];
        let (id, key) = (&ids[k].0, &ids[k].1);
        let signed = |payload: crate::wire::Payload, gt: u64| {
            let msg = Message { community, style: Style::New, global_time: gt, sender: None, payload };
            crate::wire::encode(&msg, Some(Signer { identity: id, key })).unwrap_or_default()
        };
        let number = |b: &[u8]| b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x));
        match op % 8 {
            0 => {
                let d = take(usize::from(arg));
                node.handle_datagram(now, local, from, &d);
            }
            1 => {
                let n = number(&take(2));
                let req = IntroductionRequest {
                    destination: local,
                    source_lan: from,
                    source_wan: from,
                    flags: 0,
                    identifier: n as u16,
                    extra: alloc::vec::Vec::new(),
                };
                node.handle_datagram(now, local, from, &signed(crate::wire::Payload::IntroductionRequest(req), n));
            }
            2 => {
                let n = number(&take(2));
                let resp = IntroductionResponse {
                    destination: local,
                    source_lan: from,
                    source_wan: from,
                    lan_introduction: addrs[1 - k],
                    wan_introduction: addrs[1 - k],
                    flags: 0,
                    identifier: n as u16,
                    extra: alloc::vec::Vec::new(),
                };
                node.handle_datagram(now, local, from, &signed(crate::wire::Payload::IntroductionResponse(resp), n));
            }
            3 => {
                let ports = (arg & 1 == 1)
                    .then(|| crate::wire::PortWindow { first: u16::from(arg).wrapping_mul(257), count: arg % 9 + 1 });
                let p = IntroduceMe {
                    target: mids[usize::from(arg % 4)],
                    source_lan: from,
                    identifier: u16::from(arg),
                    ports,
                };
                node.handle_datagram(now, local, from, &signed(crate::wire::Payload::IntroduceMe(p), 1));
            }
            4 => {
                let counter = number(&take(8));
                let d = take(usize::from(arg % 64));
                let p = Relay { target: mids[usize::from(arg % 4)], counter, data: d };
                node.handle_datagram(now, local, from, &signed(crate::wire::Payload::Relay(p), 1));
            }
            5 => {
                let d = take(usize::from(arg));
                let _ = node.send(now, &mids[usize::from(who % 4)], &d);
            }
            6 => {
                let _ = node.relate(now, &mids[usize::from(who % 4)], RelationType(arg % 5), u32::from(arg));
            }
            _ => {
                now += Duration::from_millis(u64::from(arg) * 20 + 1);
                node.handle_timeout(now);
                assert!(node.poll_timeout().is_some_and(|t| t > now), "a deadline ahead after a timeout");
            }
        }
        while node.poll_transmit(now, &mut buf).is_some() {}
        while node.poll_event().is_some() {}
    }
}
