//! A burst of datagrams (sent with GSO where the kernel offers it) arrives whole, in order and
//! with the right sizes, between any pair of drivers.

mod common;

use std::time::Duration;

use common::{BOTH, Event, TestMachine, start};

#[test]
fn a_burst_of_equal_datagrams_with_a_short_tail_arrives_intact() {
    let mut sizes = vec![1200; 40];
    sizes.push(300);
    sizes.extend([900; 5]);
    for sender_flavor in BOTH {
        for receiver_flavor in BOTH {
            let receiver = start(receiver_flavor, TestMachine::default(), &["127.0.0.1:0"]);
            let sender = start(sender_flavor, TestMachine::default(), &["127.0.0.1:0"]);
            let to = receiver.local_addrs()[0];
            let from = sender.local_addrs()[0];
            let burst = sizes.clone();
            sender.call(move |m, _| m.send_burst(to, &burst));
            let got = receiver.take(sizes.len(), Duration::from_secs(10));
            let expected: Vec<_> = sizes
                .iter()
                .enumerate()
                .map(|(tag, len)| Event::Data { local: to, from, len: *len, tag: u32::try_from(tag).unwrap() })
                .collect();
            assert_eq!(got, expected, "{sender_flavor:?} -> {receiver_flavor:?}");
            let sent = sender.shutdown().stats;
            assert_eq!(sent.datagrams_sent, sizes.len() as u64);
            assert_eq!(sent.bytes_sent, sizes.iter().sum::<usize>() as u64);
            assert_eq!(receiver.shutdown().stats.datagrams_received, sizes.len() as u64);
        }
    }
}
