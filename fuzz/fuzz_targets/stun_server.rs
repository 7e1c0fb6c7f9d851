#![no_main]
//! STUN fuzz target: see `stun_core::fuzz::server`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stun_core::fuzz::server(data));
