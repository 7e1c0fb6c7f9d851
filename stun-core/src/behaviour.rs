//! The RFC 4787 vocabulary of NAT behaviour. STUN discovers it (RFC 5780), so it lives here;
//! `netsim` builds its simulated NATs from the same types, so a simulated NAT and a discovery
//! result compare directly.

/// Which outbound packets share an external mapping (RFC 4787 section 4.1; discovered by
/// RFC 5780 section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mapping {
    /// One mapping per internal endpoint, whatever the destination.
    EndpointIndependent,
    /// One mapping per internal endpoint and destination IP.
    AddressDependent,
    /// One mapping per internal endpoint and destination IP and port ("symmetric").
    AddressAndPortDependent,
}

/// Which inbound packets a mapping lets through (RFC 4787 section 5; discovered by RFC 5780
/// section 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filtering {
    /// Anyone may send to the mapping.
    EndpointIndependent,
    /// Only IPs the internal endpoint has sent to through this mapping.
    AddressDependent,
    /// Only IP and port pairs the internal endpoint has sent to through this mapping.
    AddressAndPortDependent,
}
