//! The Traffic-exchange relation from P2TP byte counts (`docs/overlay.md` §5.1): two peers
//! that trade megabytes both ways sign relations to each other, sync spreads them and each
//! then trusts the other; a peer that only pushes bytes at a node earns nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::time::Duration;

use overlay_core::Event;
use sansio_core::Instant;
use sync_core::Kind;

mod util;
use util::network;

#[test]
fn peers_that_trade_bytes_both_ways_relate_and_a_one_way_flood_earns_nothing() {
    let mut net = network(12, 3, &[]);
    net.sim.run_until(Instant::from_secs(5)).unwrap();
    let mids: Vec<_> = (0..3).map(|i| net.node(i).mid()).collect();
    let (m0, m1) = (mids[0], mids[1]);
    // 5 s to 15 s: 0 and 1 each send the other 20 KB every 50 ms (4 MB each way); 2 sends 0
    // as much and gets nothing back but what the stream itself needs.
    let block = vec![0x5a; 1000];
    for k in 0..200u64 {
        let at = Instant::from_secs(5) + Duration::from_millis(50 * k);
        for (from, to) in [(0, m1), (1, m0), (2, m0)] {
            let block = block.clone();
            net.sim.call_at(at, net.nodes[from], move |n, now| {
                for _ in 0..20 {
                    let _ = n.send(now, &to, &block);
                }
            });
        }
    }
    net.sim.run_until(Instant::from_secs(75)).unwrap();

    let received = |net: &util::Net, at: usize, from: usize| {
        net.sim
            .events(net.nodes[at])
            .iter()
            .filter(|(_, e)| matches!(e, Event::Message { mid, .. } if *mid == mids[from]))
            .count()
    };
    assert!(received(&net, 0, 1) > 3500 && received(&net, 1, 0) > 3500, "the bytes flowed both ways");
    assert!(received(&net, 0, 2) > 3500, "and the flood arrived");

    // Over 3 MiB exchanged each way: a relation of strength 3 (MiB), each way.
    let (bytes, strength) = net.node(0).traffic_exchanged(&m1).expect("0 tallies its traffic with 1");
    assert!(bytes >= 3 << 20, "{bytes} bytes exchanged");
    assert_eq!(strength, u32::try_from(bytes >> 20).unwrap());
    assert!(strength >= 3);
    assert_eq!(net.node(1).traffic_exchanged(&m0).map(|(_, s)| s), Some(strength));
    // The flood: 4 MB received, next to nothing sent back.
    let (flooded, none) = net.node(0).traffic_exchanged(&mids[2]).expect("0 tallies 2 too");
    eprintln!("0 and 1 exchanged {bytes} bytes (strength {strength}); 0 and the flooder {flooded}");
    assert!(flooded < 1 << 20, "{flooded}");
    assert_eq!(none, 0, "no relation for one-way traffic");

    // Each trusts the other through its own relation; nobody trusts the flooder for it.
    assert!(net.sim.call(net.nodes[0], |n, _| n.trust(&m1)).unwrap() > 0.0);
    assert!(net.sim.call(net.nodes[1], |n, _| n.trust(&m0)).unwrap() > 0.0);
    assert_eq!(net.sim.call(net.nodes[0], |n, _| n.trust(&mids[2])), Some(0.0));
    // And sync carried 0's relation to 1, now trusted, into 1's store.
    let key0 = net.node(0).key().ed25519();
    let synced = net.sim.events(net.nodes[1]).iter().any(|(_, e)| {
        matches!(e, Event::RecordStored { kind: Kind::Relation, signer, from: Some(_), .. } if *signer == key0)
    });
    assert!(synced, "1 stored 0's traffic-exchange relation by sync");
}
