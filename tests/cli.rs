//! The command line: outputs, atomic writes, exit codes, colour.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pipec(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("pipec runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipec-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn compile_prints_a_multi_document_stream_in_apply_order() {
    let out = pipec(&["compile", "examples/addressbook.pipe"], &common::root());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["Service", "Rollout", "Workflow", "WorkflowTemplate"]
    );
    // The warning about the migration goes to stderr, the YAML stays clean for kubectl.
    assert!(String::from_utf8_lossy(&out.stderr).contains("W0001"));
    assert!(!yaml.contains("W0001"));
}

#[test]
fn output_directory_gets_one_file_per_resource_and_no_leftovers() {
    let dir = temp_dir("out");
    let out = pipec(
        &[
            "compile",
            "examples/addressbook.pipe",
            "-o",
            dir.to_str().unwrap(),
        ],
        &common::root(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ".pipec-files",
            "rollout-addressbook.yaml",
            "service-addressbook.yaml",
            "workflow-addressbook.yaml",
            "workflowtemplate-addressbook-rollback.yaml",
        ]
    );
    let rollout = std::fs::read_to_string(dir.join("rollout-addressbook.yaml")).unwrap();
    assert!(rollout.starts_with("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_bad_file_means_nothing_is_written_for_any_file() {
    let dir = temp_dir("mixed");
    let bad = common::root().join("tests/cases/errors/unknown_name.pipe");
    let out = pipec(
        &[
            "compile",
            "examples/addressbook.pipe",
            bad.to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ],
        &common::root(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0) == 0,
        "files were written"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("E0101"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_passes_with_warnings_and_fails_with_errors() {
    let good = pipec(&["check", "examples/addressbook.pipe"], &common::root());
    assert_eq!(good.status.code(), Some(0));
    assert!(good.stdout.is_empty(), "check writes nothing to stdout");
    let bad = pipec(
        &["check", "tests/cases/errors/unknown_property.pipe"],
        &common::root(),
    );
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn unreadable_input_and_bad_arguments_are_usage_errors() {
    let missing = pipec(&["check", "no/such/file.pipe"], &common::root());
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/file.pipe"));
    let unknown = pipec(&["frobnicate"], &common::root());
    assert_eq!(unknown.status.code(), Some(2));
    let no_files = pipec(&["compile"], &common::root());
    assert_eq!(no_files.status.code(), Some(2));
    let help = pipec(&["--help"], &common::root());
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["check", "compile", "explain"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn no_colour_when_not_a_terminal() {
    let out = pipec(
        &["check", "tests/cases/errors/unknown_name.pipe"],
        &common::root(),
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains('\u{1b}'),
        "ANSI escapes in piped output"
    );
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let out = pipec(
        &[
            "check",
            "--format",
            "json",
            "tests/cases/errors/warning_unused.pipe",
        ],
        &common::root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let objects: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 3);
    let error = objects.iter().find(|o| o["severity"] == "error").unwrap();
    assert_eq!(error["code"], "E0206");
    assert_eq!(error["primary"]["file"], "warning_unused.pipe");
    assert_eq!(error["primary"]["start"]["line"], 5);
    assert!(!error["help"].as_str().unwrap().is_empty());
}

#[test]
fn imports_are_read_relative_to_the_importing_file() {
    let out = pipec(
        &["compile", "tests/cases/compile/every_stage.pipe"],
        &common::root(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        yaml.contains("pipec.dev/source: lib/gates.pipe:"),
        "imported definitions keep their file"
    );
}

/// `--format sarif` is a valid SARIF 2.1.0 log (the OASIS schema kept beside the project in
/// `../shared/schemas`, or `PIPEC_SARIF_SCHEMA`), for every bad input of the suite at once.
#[test]
fn sarif_output_validates_against_the_sarif_schema() {
    let schema_path = std::env::var_os("PIPEC_SARIF_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join("../shared/schemas/sarif-schema-2.1.0.json"));
    let Ok(text) = std::fs::read_to_string(&schema_path) else {
        let required = std::env::var("PIPEC_REQUIRE_SARIF_SCHEMA").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "PIPEC_REQUIRE_SARIF_SCHEMA=1 but {} is missing",
            schema_path.display()
        );
        eprintln!(
            "SKIPPED: no SARIF schema at {} (set PIPEC_SARIF_SCHEMA)",
            schema_path.display()
        );
        return;
    };
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let cases = common::pipe_files("tests/cases/errors");
    let mut args = vec![
        "check".to_string(),
        "--format".to_string(),
        "sarif".to_string(),
    ];
    args.extend(cases.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = pipec(&args, &common::root());
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(
        results.len() >= cases.len(),
        "every case reports at least one result"
    );
    // And the validation can fail: a result without a message is rejected.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!validator.is_valid(&broken));

    // More results than GitHub accepts in a run: the errors and the first warnings, up to the
    // limit, and a notification saying how many were left out; still a valid log.
    let dir = temp_dir("sarif-flood");
    std::fs::create_dir_all(&dir).unwrap();
    let params: String = (0..pipec_core::render::MAX_SARIF_RESULTS + 10)
        .map(|i| format!("  param p{i}: string = \"x\"\n"))
        .collect();
    std::fs::write(
        dir.join("flood.pipe"),
        format!("pipeline p {{\n{params}  bogus = 1\n}}\n"),
    )
    .unwrap();
    let out = pipec(&["check", "--format", "sarif", "flood.pipe"], &dir);
    let log: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert!(validator.is_valid(&log));
    let run = &log["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), pipec_core::render::MAX_SARIF_RESULTS);
    assert!(
        results.iter().any(|r| r["ruleId"] == "E0205"),
        "the error is kept"
    );
    let note = run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(note.starts_with("11 more results not included"), "{note}");
}

/// Two files compiled together that would both emit an object: `check` and `compile` give
/// the same coded, located error, and nothing is written.
#[test]
fn files_compiled_together_never_emit_one_object_twice() {
    let dir = temp_dir("together");
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = |name: &str| {
        format!(
            "pipeline {name} {{\n  service api {{ image = \"nginx:1.27\", port = 80, replicas = 2 }}\n}}\n"
        )
    };
    std::fs::write(dir.join("a.pipe"), pipeline("shop")).unwrap();
    std::fs::write(dir.join("b.pipe"), pipeline("shop")).unwrap();
    std::fs::write(dir.join("c.pipe"), pipeline("store")).unwrap();
    let out_dir = dir.join("out");
    let out_arg = out_dir.to_str().unwrap();
    for args in [
        vec!["check", "a.pipe", "b.pipe"],
        vec!["compile", "a.pipe", "b.pipe", "-o", out_arg],
        vec!["compile", "a.pipe", "b.pipe"],
    ] {
        let out = pipec(&args, &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed YAML");
        assert!(stderr.contains("[E0313]"), "{args:?}: {stderr}");
        // The second file is at fault; the first file's location is named.
        assert!(stderr.contains("b.pipe:1:10"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("a.pipe:1:10 also generates it"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("Service `api` is generated twice"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("error: a.pipe"),
            "a.pipe is not at fault: {stderr}"
        );
    }
    assert!(!out_dir.exists(), "files were written");
    // Each file alone is fine.
    for file in ["a.pipe", "b.pipe"] {
        assert_eq!(pipec(&["check", file], &dir).status.code(), Some(0));
    }
    // Different pipelines with one service name: the Services (and Rollouts) clash, the
    // Workflows do not.
    let out = pipec(&["check", "a.pipe", "c.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Service `api` is generated twice"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Rollout `api` is generated twice"),
        "{stderr}"
    );
    assert!(!stderr.contains("WorkflowTemplate"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_compiles_in_parallel_to_the_bytes_of_its_files_one_by_one() {
    let dir = temp_dir("monorepo");
    std::fs::create_dir_all(dir.join("services/nested")).unwrap();
    std::fs::create_dir_all(dir.join(".hidden")).unwrap();
    let pipeline = |name: &str, port: u16| {
        format!(
            "pipeline {name} {{\n  service {name}_api {{ image = \"nginx:1.27\", port = {port}, replicas = 2 }}\n}}\n"
        )
    };
    // Enough files that every worker gets several, in an order the directory walk sorts.
    let mut files = Vec::new();
    for i in 0..12 {
        let path = if i % 3 == 0 {
            format!("services/nested/p{i:02}.pipe")
        } else {
            format!("services/p{i:02}.pipe")
        };
        std::fs::write(dir.join(&path), pipeline(&format!("p{i:02}"), 8000 + i)).unwrap();
        files.push(path);
    }
    std::fs::write(dir.join(".hidden/skipped.pipe"), "not a pipeline {").unwrap();
    std::fs::write(dir.join("services/notes.txt"), "not a pipe file").unwrap();
    files.sort();
    let together = pipec(&["compile", "services"], &dir);
    assert_eq!(
        together.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&together.stderr)
    );
    // One stream: each file's documents in turn, `---` between them.
    let mut one_by_one = Vec::new();
    for file in &files {
        let out = pipec(&["compile", file], &dir);
        assert_eq!(out.status.code(), Some(0), "{file}");
        one_by_one.push(String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(
        String::from_utf8(together.stdout).unwrap(),
        one_by_one.join("---\n")
    );
    // A directory without pipelines is a usage error, not a silent success.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    let out = pipec(&["check", "empty"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `.pipe` files in empty"));
    // A directory with a broken file: one report, exit 1, nothing printed.
    std::fs::write(
        dir.join("services/p05.pipe"),
        "pipeline p05 {\n  service {\n}\n",
    )
    .unwrap();
    let out = pipec(&["compile", "services"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("p05.pipe"));
}
