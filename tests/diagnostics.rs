//! The diagnostics suite: every file in `tests/cases/errors/` is compiled by the real `pipec`
//! binary. Each must exit 1, write nothing, never panic, report the codes its first line
//! (`// expect: E0101, W0002`) or its `.expect` file names, and render exactly as its reviewed
//! snapshot shows.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use pipec_core::Code;

fn expected_codes(case: &Path) -> Vec<String> {
    let sidecar = case.with_extension("expect");
    let text = std::fs::read_to_string(&sidecar)
        .or_else(|_| std::fs::read_to_string(case))
        .unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    line.trim_start_matches("// expect:")
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

fn json_codes(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["code"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_bad_input_is_reported_and_nothing_is_written() {
    let cases = common::pipe_files("tests/cases/errors");
    assert!(
        cases.len() >= 40,
        "the suite needs at least 40 cases, has {}",
        cases.len()
    );
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for case in &cases {
        let name = case
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expected = expected_codes(case);
        assert!(
            !expected.is_empty(),
            "{name}: say which codes it must produce"
        );
        let out_dir =
            std::env::temp_dir().join(format!("pipec-diag-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out_dir);

        // Run from the case's directory with a relative path, so the output names no machine path.
        let dir = case.parent().unwrap_or(Path::new("."));
        let file = case.file_name().unwrap_or_default();
        let human = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(["compile", "-o"])
            .arg(&out_dir)
            .arg(file)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("{name}: cannot run pipec: {e}"));
        let stderr = String::from_utf8_lossy(&human.stderr).into_owned();
        assert!(
            !stderr.contains("panicked"),
            "{name}: pipec panicked:\n{stderr}"
        );
        assert_eq!(
            human.status.code(),
            Some(1),
            "{name}: exit code, stderr:\n{stderr}"
        );
        assert!(human.stdout.is_empty(), "{name}: wrote to stdout");
        let written = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(written, 0, "{name}: wrote {written} files despite errors");
        let _ = std::fs::remove_dir_all(&out_dir);

        let json = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(["compile", "--format", "json"])
            .arg(case)
            .output()
            .unwrap_or_else(|e| panic!("{name}: cannot run pipec: {e}"));
        assert_eq!(
            json.status.code(),
            Some(1),
            "{name}: exit code with --format json"
        );
        assert!(
            json.stdout.is_empty(),
            "{name}: printed YAML despite errors"
        );
        let codes = json_codes(&String::from_utf8_lossy(&json.stderr));
        for code in &expected {
            assert!(
                codes.contains(code),
                "{name}: expected {code}, got {codes:?}\n{stderr}"
            );
        }
        seen.extend(codes);

        insta::with_settings!({
            snapshot_path => "snapshots/diagnostics",
            prepend_module_to_snapshot => false,
            description => format!("pipec compile tests/cases/errors/{name}.pipe"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.clone(), stderr);
        });
    }
    // A file over the size limit is too large to commit: made here, one byte over.
    let too_large =
        std::env::temp_dir().join(format!("pipec-diag-{}-large.pipe", std::process::id()));
    std::fs::write(&too_large, vec![b'\n'; pipec_core::MAX_SOURCE_BYTES + 1]).unwrap();
    let json = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["check", "--format", "json"])
        .arg(&too_large)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pipec: {e}"));
    let _ = std::fs::remove_file(&too_large);
    assert_eq!(json.status.code(), Some(1), "a file over the size limit");
    let codes = json_codes(&String::from_utf8_lossy(&json.stderr));
    assert_eq!(
        codes,
        BTreeSet::from(["E0011".to_string()]),
        "a file over the size limit"
    );
    seen.extend(codes);
    // E04xx report inconsistencies pipec itself generated: no valid file reaches them, so
    // the unit tests of `verify.rs` produce each one from deliberately broken resources.
    let unused: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !c.as_str().starts_with("E04"))
        .filter(|c| !seen.contains(c.as_str()))
        .map(|c| c.as_str())
        .collect();
    assert!(
        unused.is_empty(),
        "codes no case produces (every code must be reachable and tested): {unused:?}"
    );
}

#[test]
fn every_code_is_explained() {
    for code in Code::ALL {
        let text = code.explanation();
        assert!(!code.title().is_empty(), "{code} has no title");
        assert!(text.len() > 60, "{code}: explanation too short");
        let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(["explain", code.as_str()])
            .output()
            .unwrap_or_else(|e| panic!("cannot run pipec: {e}"));
        assert!(out.status.success(), "pipec explain {code} failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("{code}: {}", code.title())),
            "{stdout}"
        );
        assert!(
            stdout.contains(text),
            "explain {code} must print the whole explanation"
        );
    }
}

#[test]
fn explaining_an_unknown_code_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["explain", "E9999"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run pipec: {e}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E9999"));
}
