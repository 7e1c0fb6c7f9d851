//! Opening a stream: one side or both at once, over links that lose each handshake packet,
//! with the responder keeping no state until its cookie returns (docs/p2tp.md §5).

mod common;

use std::time::Duration;

use common::{A, B, Pair, delay, opened, received};
use netsim::addr;
use p2tp_core::Endpoint;
use sansio_core::Instant;

#[test]
fn one_sided_open_delivers_data_in_the_second_round_trip() {
    let mut p = Pair::new(1, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| {
        e.connect(now, addr(B)).unwrap();
        e.send(now, addr(B), b"first").unwrap();
    });
    p.run_for(Duration::from_millis(200));
    // H1 out, H2 back (one RTT of 40 ms: 10 ms per access link, two links each way), then
    // the first SOP=1 packet carries the data: it arrives 1.5 RTT after connect.
    assert_eq!(received(&p.sim, p.b), vec![b"first".to_vec()]);
    let b_opened = opened(&p.sim, p.b);
    assert_eq!(b_opened, vec![(Instant::from_millis(60), addr(A))]);
    let a_opened = opened(&p.sim, p.a);
    assert_eq!(a_opened, vec![(Instant::from_millis(80), addr(B))], "A opens when B's first packet arrives, 2 RTT in");
    assert!(p.sim.machine(p.a).is_established(addr(B)) && p.sim.machine(p.b).is_established(addr(A)));
    let srtt = p.sim.machine(p.a).path_stats(addr(B)).unwrap().srtt;
    assert!(srtt >= Duration::from_millis(40) && srtt <= Duration::from_millis(48), "{srtt:?}");
}

#[test]
fn simultaneous_open_needs_no_tie_break() {
    let mut p = Pair::new(2, delay(10));
    p.sim.call(p.a, |e: &mut Endpoint, now| e.connect(now, addr(B)).unwrap());
    p.sim.call(p.b, |e: &mut Endpoint, now| e.connect(now, addr(A)).unwrap());
    p.run_for(Duration::from_millis(300));
    assert_eq!(opened(&p.sim, p.a).len(), 1);
    assert_eq!(opened(&p.sim, p.b).len(), 1);
    assert_eq!(p.sim.machine(p.a).streams(), 1, "one stream per pair, not two");
    p.sim.call(p.a, |e: &mut Endpoint, now| e.send(now, addr(B), b"x").unwrap());
    p.sim.call(p.b, |e: &mut Endpoint, now| e.send(now, addr(A), b"y").unwrap());
    p.run_for(Duration::from_millis(100));
    assert_eq!(received(&p.sim, p.b), vec![b"x".to_vec()]);
    assert_eq!(received(&p.sim, p.a), vec![b"y".to_vec()]);
}
