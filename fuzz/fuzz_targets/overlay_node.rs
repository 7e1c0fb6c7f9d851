#![no_main]
//! overlay-core fuzz target: see `overlay_core::fuzz::node_ops`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    overlay_core::fuzz::node_ops(data);
});
