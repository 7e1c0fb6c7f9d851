//! Names of the simulation's parts: hosts (typed by the machine they run), NAT boxes, realms
//! and links. Each is a small index into the simulator's tables.

use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

/// A host running a machine of type `M`.
///
/// The type comes from [`Sim::add_host`](crate::Sim::add_host), so [`Sim::call`](crate::Sim::call),
/// [`Sim::machine`](crate::Sim::machine) and [`Sim::events`](crate::Sim::events) are checked
/// by the compiler: asking a host for another machine's type does not compile. Hosts running
/// different machines can be kept together as [`AnyHost`]s.
pub struct HostId<M> {
    pub(crate) ix: HostIx,
    machine: PhantomData<fn() -> M>,
}

impl<M> HostId<M> {
    pub(crate) const fn new(ix: HostIx) -> Self {
        Self { ix, machine: PhantomData }
    }

    /// This host without its machine's type, for tables of mixed hosts.
    #[must_use]
    pub const fn any(self) -> AnyHost {
        AnyHost(self.ix)
    }
}

// By hand: derives would ask `M` for the same traits.
impl<M> Clone for HostId<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for HostId<M> {}
impl<M> PartialEq for HostId<M> {
    fn eq(&self, other: &Self) -> bool {
        self.ix == other.ix
    }
}
impl<M> Eq for HostId<M> {}
impl<M> Hash for HostId<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ix.hash(state);
    }
}
impl<M> fmt::Debug for HostId<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostId({})", self.ix.0)
    }
}

/// A host of any machine type: what the parts of the simulator that do not touch the machine
/// (links, realms, sockets) take. Every [`HostId`] converts into one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnyHost(pub(crate) HostIx);

impl<M> From<HostId<M>> for AnyHost {
    fn from(h: HostId<M>) -> Self {
        h.any()
    }
}

/// A host's index in the simulator's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct HostIx(pub(crate) u32);

/// A NAT box of the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NatId(pub(crate) u32);

/// An address realm: the internet, or the inside of a NAT box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealmId(pub(crate) u32);

/// One direction of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub(crate) u32);

/// A table index from an id.
pub(crate) fn idx(i: u32) -> usize {
    i as usize
}

/// An id from a table index (tables never reach 2^32 entries).
pub(crate) fn id(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}
