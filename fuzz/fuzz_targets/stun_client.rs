#![no_main]
//! STUN fuzz target: see `stun_core::fuzz::client`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stun_core::fuzz::client(data));
