//! Who has which IP in a realm: the routing table of the internet and of the inside of each
//! NAT box.

use std::net::{IpAddr, Ipv6Addr};

use crate::ids::LinkId;
use crate::{FastMap, fast_map};

/// A route's target: the link down to the host or NAT box that has the IP (so routing reads
/// no host or NAT record).
pub(crate) type Target = LinkId;

/// Who has which IP in a realm: inline while there is one (the inside of a home NAT), a short
/// vector while small, a hash map once it grows (the internet of a large simulation).
#[derive(Debug)]
pub(crate) enum Routes {
    One(IpAddr, Target),
    Few(Vec<(IpAddr, Target)>),
    /// Boxed, so the small variants keep a NAT box's routes in 32 bytes.
    Many(Box<RouteMap>),
}

/// A large realm's routes, by family: IPv4 keys as 4-byte integers, so the internet of a
/// 10,000-host run is a third of the size a map keyed by `IpAddr` (17 bytes, padded) would be.
#[derive(Debug)]
pub(crate) struct RouteMap {
    v4: FastMap<u32, Target>,
    v6: FastMap<Ipv6Addr, Target>,
}

impl RouteMap {
    pub(crate) fn get(&self, ip: &IpAddr) -> Option<Target> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&a.to_bits()).copied(),
            IpAddr::V6(a) => self.v6.get(a).copied(),
        }
    }

    pub(crate) fn insert(&mut self, ip: IpAddr, target: Target) -> Option<Target> {
        match ip {
            IpAddr::V4(a) => self.v4.insert(a.to_bits(), target),
            IpAddr::V6(a) => self.v6.insert(a, target),
        }
    }
}

impl Routes {
    const FEW: usize = 8;

    pub(crate) fn get(&self, ip: &IpAddr) -> Option<Target> {
        match self {
            Self::One(a, t) => (a == ip).then_some(*t),
            Self::Few(v) => v.iter().find(|(a, _)| a == ip).map(|(_, t)| *t),
            Self::Many(m) => m.get(ip),
        }
    }

    /// Removes a route; returns its target, if there was one.
    pub(crate) fn remove(&mut self, ip: &IpAddr) -> Option<Target> {
        match self {
            Self::One(a, t) if a == ip => {
                let t = *t;
                *self = Self::Few(Vec::new());
                Some(t)
            }
            Self::One(..) => None,
            Self::Few(v) => v.iter().position(|(a, _)| a == ip).map(|i| v.swap_remove(i).1),
            Self::Many(m) => match ip {
                IpAddr::V4(a) => m.v4.remove(&a.to_bits()),
                IpAddr::V6(a) => m.v6.remove(a),
            },
        }
    }

    /// Adds a route; returns the target that had the IP before, if any.
    pub(crate) fn insert(&mut self, ip: IpAddr, target: Target) -> Option<Target> {
        match self {
            Self::One(a, t) if *a == ip => Some(core::mem::replace(t, target)),
            Self::One(a, t) => {
                *self = Self::Few(vec![(*a, *t), (ip, target)]);
                None
            }
            Self::Few(v) if v.is_empty() => {
                *self = Self::One(ip, target);
                None
            }
            Self::Few(v) => {
                if let Some(slot) = v.iter_mut().find(|(a, _)| *a == ip) {
                    return Some(core::mem::replace(&mut slot.1, target));
                }
                v.push((ip, target));
                if v.len() > Self::FEW {
                    let mut m = RouteMap { v4: fast_map(), v6: fast_map() };
                    for (a, t) in v.drain(..) {
                        m.insert(a, t);
                    }
                    *self = Self::Many(Box::new(m));
                }
                None
            }
            Self::Many(m) => m.insert(ip, target),
        }
    }
}
