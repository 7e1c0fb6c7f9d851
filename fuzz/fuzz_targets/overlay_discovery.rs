#![no_main]
//! overlay-core fuzz target: see `overlay_core::fuzz::discovery_decode` and
//! `overlay_core::fuzz::node_datagrams`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    overlay_core::fuzz::discovery_decode(data);
    overlay_core::fuzz::node_datagrams(data);
});
