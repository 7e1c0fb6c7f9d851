//! Which of a driver's sockets a transmit leaves from, and the local address a datagram
//! arrived on.

use std::net::{IpAddr, SocketAddr};

/// The local addresses of a driver's sockets, in the order they were given.
#[derive(Clone, Debug)]
pub(crate) struct SocketTable {
    locals: Vec<SocketAddr>,
}

impl SocketTable {
    pub(crate) fn new(locals: Vec<SocketAddr>) -> Self {
        Self { locals }
    }

    /// The socket for a transmit from `source` (the first socket of the destination's family
    /// when `None`), with the source IP to set when that socket is bound to a wildcard address.
    pub(crate) fn route(&self, source: Option<SocketAddr>, destination: SocketAddr) -> Option<(usize, Option<IpAddr>)> {
        let Some(source) = source else {
            let same_family = self.locals.iter().position(|l| l.is_ipv4() == destination.is_ipv4());
            return Some((same_family.unwrap_or(0), None)).filter(|_| !self.locals.is_empty());
        };
        if let Some(i) = self.locals.iter().position(|l| *l == source) {
            return Some((i, None));
        }
        self.locals
            .iter()
            .position(|l| l.ip().is_unspecified() && l.port() == source.port() && l.is_ipv4() == source.is_ipv4())
            .map(|i| (i, Some(source.ip())))
    }

    /// The address a datagram arrived on: the socket's own, with the packet's destination IP
    /// filled in when the socket is bound to a wildcard address.
    pub(crate) fn local_for(&self, socket: usize, dst_ip: Option<IpAddr>) -> SocketAddr {
        let mut local = self.locals[socket];
        if local.ip().is_unspecified()
            && let Some(ip) = dst_ip
        {
            local.set_ip(ip);
        }
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmits_leave_from_the_socket_they_name() {
        let t = SocketTable::new(vec!["127.0.0.1:3478".parse().unwrap(), "127.0.0.2:3479".parse().unwrap()]);
        let peer: SocketAddr = "127.0.0.9:5000".parse().unwrap();
        assert_eq!(t.route(None, peer), Some((0, None)));
        assert_eq!(t.route(Some("127.0.0.2:3479".parse().unwrap()), peer), Some((1, None)));
        assert_eq!(t.route(Some("127.0.0.3:3479".parse().unwrap()), peer), None);
    }

    #[test]
    fn a_wildcard_socket_sends_from_the_named_ip() {
        let t = SocketTable::new(vec!["0.0.0.0:4000".parse().unwrap()]);
        let src: SocketAddr = "127.0.0.5:4000".parse().unwrap();
        assert_eq!(t.route(Some(src), "127.0.0.1:1".parse().unwrap()), Some((0, Some(src.ip()))));
        assert_eq!(t.local_for(0, Some(src.ip())), src);
    }
}
