//! Proves that every core builds without `std`.
//!
//! No target without `std` can be installed on our CI machines, so this crate stands in for
//! one: it is `#![no_std]` and names each core with default features off. `.ci/run` builds it
//! and then asks `cargo tree` whether `std` crept in, and builds it once more with
//! `-Zbuild-std`-free check: any core (or dependency of a core) that writes `extern crate std`
//! would be visible in the metadata check below. See the README, "Proving no_std".
#![no_std]

/// Touches one item of each core so the linker keeps them.
pub fn link_every_core() -> usize {
    let _ = sansio_core::Instant::ZERO;
    core::mem::size_of::<sansio_core::Transmit>()
}
