//! 1,000 peers in the simulator, 2 % loss on every link: a record one of them signs reaches
//! all of them within 12 rounds of random pairings (Dispersy's 1,000-peer emulation needed 19
//! sync steps).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic is a failed test

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use netsim::{HostId, LinkConfig, Loss, Sim};
use sansio_core::{Seed, SeededRng};
use sync_core::{AcceptAll, Body, Config, Identity, MemStore, Policy, Store, SyncNode};

type Node = SyncNode<MemStore, AcceptAll>;
const PEERS: usize = 1000;
const NOW_MS: u64 = 1_700_000_000_000;

fn address(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, (i >> 8) as u8, (i & 0xFF) as u8)), 6421)
}

#[test]
fn a_new_record_reaches_1000_peers_within_12_rounds_despite_loss() {
    let mut sim = Sim::new(Seed::from_u64(42));
    let net = sim.internet();
    let author = Identity::from_seed([77; 32]).unwrap();
    // Every peer starts with the same 100 older records.
    let mut base = MemStore::new();
    for i in 0..100u64 {
        let who = Identity::from_seed([(i % 250) as u8 + 1; 32]).unwrap();
        let rec = who.sign(NOW_MS - 100_000 + i, Body::Peer { metadata: i.to_le_bytes().to_vec() }).unwrap();
        Store::insert(&mut base, &rec, None).unwrap();
    }
    let policy = Policy { own: author.public(), threshold: 0.0, max_future_ms: 60_000 };
    let mut config = Config::new(policy, NOW_MS);
    config.round_timeout = Duration::from_millis(900);
    let link = LinkConfig { delay: Duration::from_millis(20), loss: Loss::Bernoulli(0.02), ..LinkConfig::default() };
    let hosts: Vec<HostId<Node>> = (0..PEERS)
        .map(|i| {
            let node = SyncNode::new(config.clone(), Seed::from_u64(1000 + i as u64), base.clone(), AcceptAll);
            let h = sim.add_host(net, &[address(i)], node);
            *sim.link_mut(sim.host_uplink(h)) = link.clone();
            *sim.link_mut(sim.host_downlink(h)) = link.clone();
            h
        })
        .collect();

    let fresh = author.sign(NOW_MS, Body::Binding { address: address(0) }).unwrap();
    let id = fresh.id();
    sim.call(hosts[0], move |n: &mut Node, now| n.insert_local(now, fresh).map(|_| ())).unwrap();

    let mut rng = SeededRng::from_seed(Seed::from_u64(7));
    let have = |sim: &Sim| hosts.iter().filter(|h| sim.machine(**h).store().contains(&id)).count();
    let mut spread = vec![have(&sim)];
    for _round in 0..12 {
        for (i, h) in hosts.iter().enumerate() {
            let mut j = rng.below(PEERS as u64 - 1) as usize;
            if j >= i {
                j += 1;
            }
            let _ = sim.call(*h, |n: &mut Node, now| n.start_round(now, address(i), address(j)));
        }
        sim.run_for(Duration::from_secs(1)).expect("the run keeps the machine contract");
        spread.push(have(&sim));
        if *spread.last().unwrap() == PEERS {
            break;
        }
    }
    eprintln!("peers holding the record after each round: {spread:?}");
    assert_eq!(*spread.last().unwrap(), PEERS, "{spread:?}");
}
