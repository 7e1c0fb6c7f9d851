#![no_main]
//! P2TP fuzz target: see `p2tp_core::fuzz::endpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| p2tp_core::fuzz::endpoint(data));
