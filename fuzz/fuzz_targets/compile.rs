#![no_main]
//! Fuzz target: see `properties::compile_and_emit`.

#[path = "../properties.rs"]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::compile_and_emit(data));
