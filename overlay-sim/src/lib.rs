//! Whole IPv8 overlays in netsim, the way `ipv8 sim` runs them: public bootstrap nodes and
//! nodes behind a mix of NATs ([`NatKind`]: open, full cone, restricted, port-restricted,
//! symmetric with random or sequential ports, Linux masquerade, and a home router behind a
//! carrier-grade NAT) discover each
//! other, then message peers picked at random by member id. A [`Report`] gives the punch
//! matrix per NAT pair, reachability, discovery and message times, traffic per node and how
//! far records spread.
//!
//! ```no_run
//! use overlay_sim::{Scenario, run};
//!
//! // The closure sees each virtual second done; `Break` would end the run there.
//! let report = run(&Scenario::new(200), |_second| std::ops::ControlFlow::Continue(()))?;
//! println!("{}", report.matrix_table());
//! # Ok::<(), netsim::RunError>(())
//! ```

mod memo;
mod nat_kind;
mod scenario;
mod sybil;

pub use memo::SharedMemo;
pub use nat_kind::{NatKind, NatMix};
pub use scenario::{Cell, DISCOVERY_TARGET, Report, Scenario, run};
pub use sybil::{SybilReport, Sybils};
