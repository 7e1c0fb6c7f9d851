#![no_main]
//! Arbitrary edge updates and queries against the trust graph, walks and paths.

libfuzzer_sys::fuzz_target!(|data: &[u8]| trust_core::fuzz::graph_ops(data));
