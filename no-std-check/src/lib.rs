//! Proves that every core builds without `std`.
//!
//! No target without `std` can be installed on our CI machines, so this crate stands in for
//! one. It is `#![no_std]`, links every core with default features off, and defines the
//! `panic_impl` lang item itself (a `#[panic_handler]`). `std` defines that lang item too, so
//! if any core, or anything a core depends on, brings `std` into the crate graph, rustc
//! refuses to build this crate with "found duplicate lang item `panic_impl`". A clean
//! `cargo build -p no-std-check` therefore means: no core needs `std`.
//!
//! Under `cfg(test)` the test harness links `std` itself, so the handler is left out there.
#![no_std]

/// Touches one item of each core so none is optimised out of the check.
#[must_use]
pub fn link_every_core() -> usize {
    core::mem::size_of::<sansio_core::Transmit>()
        + core::mem::size_of_val(&sansio_core::Instant::ZERO)
        + core::mem::size_of::<trust_core::Graph>()
        + core::mem::size_of::<stun_core::TransactionId>()
        + core::mem::size_of::<p2tp_core::Header>()
        + core::mem::size_of::<sync_core::ContentId>()
        + core::mem::size_of::<overlay_core::Mid>()
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
