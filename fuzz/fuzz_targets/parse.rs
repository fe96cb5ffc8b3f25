#![no_main]
//! Fuzz target: see `properties::parse`.

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::parse(data));
