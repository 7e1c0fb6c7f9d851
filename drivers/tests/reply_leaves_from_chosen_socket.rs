//! A machine with several sockets sees which one a datagram arrived on and can answer from it,
//! as a STUN server answering from its alternate address must.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{BOTH, TestMachine, start};

#[test]
fn each_answer_leaves_from_the_socket_the_request_reached() {
    for flavor in BOTH {
        let server = start(flavor, TestMachine::default(), &["127.0.0.1:0", "127.0.0.2:0", "127.0.0.1:0"]);
        let locals = server.local_addrs();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for (i, local) in locals.iter().enumerate() {
            let mut ping = b"PING".to_vec();
            ping.extend_from_slice(&[0; 12]);
            ping[4] = u8::try_from(i).unwrap();
            client.send_to(&ping, local).unwrap();
            let mut buf = [0; 64];
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..4], b"PONG", "{flavor:?}");
            assert_eq!(buf[4], u8::try_from(i).unwrap(), "{flavor:?}");
            assert_eq!(n, 16);
            assert_eq!(from, *local, "{flavor:?}: answer to socket {i} came from elsewhere");
        }
        let stats = server.shutdown().stats;
        assert_eq!((stats.datagrams_received, stats.datagrams_sent, stats.unroutable), (3, 3, 0), "{flavor:?}");
    }
}
