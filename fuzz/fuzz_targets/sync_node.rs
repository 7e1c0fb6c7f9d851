#![no_main]
//! sync-core fuzz target: see `sync_core::fuzz::node_datagrams`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sync_core::fuzz::node_datagrams(data));
