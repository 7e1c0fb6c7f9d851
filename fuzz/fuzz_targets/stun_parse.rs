#![no_main]
//! STUN fuzz target: see `stun_core::fuzz::parse`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stun_core::fuzz::parse(data));
