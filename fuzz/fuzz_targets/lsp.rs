#![no_main]
//! Fuzz target: see `properties::lsp`.

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::lsp(data));
