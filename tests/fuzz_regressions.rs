//! The fuzz targets' properties (`fuzz/properties.rs`) on every input saved in
//! `fuzz/regressions/TARGET/` — what the fuzzer once broke pipec with — and on the project's own
//! `.pipe` files, the fuzzers' seeds. `cargo fuzz run` explores; this keeps what it found fixed.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;
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

#[test]
fn the_parser_keeps_its_spans_and_errors_on_saved_inputs() {
    holds("parse", properties::parse);
}

#[test]
fn the_language_server_answers_every_request_on_saved_inputs() {
    holds("lsp", properties::lsp);
}

/// Token soups — the language's own words, punctuation, strings, numbers and comments in any
/// order, from a fixed seed — hold every fuzz property: no input panics the parser, `check`,
/// `compile` or `fmt`, whatever its shape. A failure is shrunk to a short soup.
#[test]
fn token_soups_hold_every_property() {
    use proptest::prelude::*;
    let token = prop_oneof![
        prop::sample::select(vec![
            "pipeline",
            "service",
            "release",
            "step",
            "image",
            "build",
            "push",
            "run",
            "use",
            "analysis",
            "metric",
            "environment",
            "secret",
            "param",
            "on",
            "failure",
            "canary",
            "bluegreen",
            "rolling",
            "weight",
            "replicas",
            "of",
            "pause",
            "check",
            "exec",
            "analyze",
            "approve",
            "join",
            "switch",
            "when",
            "after",
            "and",
            "or",
            "not",
            "true",
            "false",
            "git",
            "run.id",
            "result",
            "p",
            "api",
            "x",
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            "{", "}", "(", ")", "[", "]", "=", "==", "!=", ",", ".", ":", "~", "<", ">=", "%",
            "/^a+$/", "\"${", "}\"", "\"\"\"", "//c\n", "///d\n", "\n",
        ])
        .prop_map(String::from),
        "\"[a-z${} .]{0,12}\"",
        "[0-9]{1,4}(%|m|s|h)?",
    ];
    let soup = prop::collection::vec(token, 0..120).prop_map(|tokens| tokens.join(" "));
    let mut runner = common::programs::deterministic_runner(256);
    let result = std::thread::Builder::new()
        .stack_size(pipec_core::COMPILER_STACK)
        .spawn(move || {
            runner.run(&soup, |text| {
                let data = text.as_bytes();
                properties::parse(data);
                properties::check(data);
                properties::compile_and_emit(data);
                properties::format(data);
                Ok(())
            })
        })
        .unwrap()
        .join()
        .unwrap();
    if let Err(e) = result {
        panic!("{e}");
    }
}
