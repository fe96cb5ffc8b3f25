//! The fuzz targets' properties (`fuzz/properties.rs`) on every input saved in
//! `fuzz/regressions/TARGET/` — what the fuzzer once broke pipec with — and on the project's own
//! `.pipe` files, the fuzzers' seeds. `cargo fuzz run` explores; this keeps what it found fixed.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

#[path = "../fuzz/properties.rs"]
mod properties;

use std::path::Path;

/// The files of `dir` (none if it does not exist), in a stable order.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Each property on a thread of the compiler's own stack size, as the CLI runs it.
fn holds(name: &'static str, property: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = inputs(&root.join("fuzz/regressions").join(name));
    for seeds in [
        "examples",
        "stdlib",
        "tests/cases/errors",
        "tests/cases/compile",
    ] {
        files.extend(
            inputs(&root.join(seeds))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "pipe")),
        );
    }
    assert!(files.len() > 100, "the seeds were not found");
    std::thread::Builder::new()
        .stack_size(pipec_core::COMPILER_STACK)
        .spawn(move || {
            for file in files {
                let data = std::fs::read(&file).unwrap();
                if std::panic::catch_unwind(|| property(&data)).is_err() {
                    panic!("{name} fails on {}", file.display());
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn check_never_panics_on_saved_inputs() {
    holds("check", properties::check);
}

#[test]
fn compiled_yaml_parses_and_round_trips_on_saved_inputs() {
    holds("compile", properties::compile_and_emit);
}

#[test]
fn formatting_is_idempotent_and_keeps_tokens_on_saved_inputs() {
    holds("format", properties::format);
}
