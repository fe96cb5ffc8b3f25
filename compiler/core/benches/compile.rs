//! How compile time grows with the size of a pipeline. Run with
//! `cargo bench -p pipec-core --bench compile`; results are kept in BENCHMARKS.md.
//!
//! The generated pipelines repeat a realistic block (a build, a test, a push, a service with
//! probes and secrets, a canary release with checks and an approval), so the line count grows
//! linearly with the parameter; compile time should too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pipec_core::{Mode, NoImports};

mod support;
use support::{peer_pipeline, pipeline};

fn main() {
    divan::main();
}

#[divan::bench(args = [1, 10, 50, 100])]
fn check(bencher: divan::Bencher, blocks: usize) {
    let src = pipeline(blocks);
    bencher
        .counter(divan::counter::BytesCount::new(src.len()))
        .bench(|| {
            let c = pipec_core::compile("bench.pipe", src.as_bytes(), &NoImports, Mode::Check);
            assert!(!c.has_errors());
            c
        });
}

#[divan::bench(args = [1, 10, 50, 100])]
fn compile_to_yaml(bencher: divan::Bencher, blocks: usize) {
    let src = pipeline(blocks);
    bencher
        .counter(divan::counter::BytesCount::new(src.len()))
        .bench(|| {
            let c = pipec_core::compile("bench.pipe", src.as_bytes(), &NoImports, Mode::Compile);
            assert!(!c.has_errors());
            c.yaml()
        });
}

/// The peer scenario of BENCHMARKS.md (a canary with an analysis per service), compiled.
#[divan::bench(args = [1, 10, 100])]
fn peer_compile(bencher: divan::Bencher, services: usize) {
    let src = peer_pipeline(services);
    bencher
        .counter(divan::counter::BytesCount::new(src.len()))
        .bench(|| {
            let c = pipec_core::compile("peers.pipe", src.as_bytes(), &NoImports, Mode::Compile);
            assert!(!c.has_errors());
            c.yaml()
        });
}
