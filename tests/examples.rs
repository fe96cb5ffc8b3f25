//! The examples compile, their YAML matches the reviewed snapshots, and compiling is
//! deterministic: the same bytes on every run and from any working directory.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::process::Command;

#[test]
fn examples_and_compile_cases_match_their_snapshots() {
    for path in common::all_valid_programs() {
        let compilation = common::compile_file(&path);
        common::expect_clean(&path, &compilation);
        let dir = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let snapshot_dir = if dir == "examples" {
            "snapshots/examples"
        } else {
            "snapshots/compile"
        };
        let warnings = common::rendered(&compilation);
        insta::with_settings!({
            snapshot_path => snapshot_dir,
            prepend_module_to_snapshot => false,
            description => format!("pipec compile {}", path.strip_prefix(common::root()).unwrap_or(&path).display()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(stem.clone(), compilation.yaml());
            insta::assert_snapshot!(format!("{stem}.warnings"), warnings);
        });
    }
}

#[test]
fn compiling_twice_gives_identical_bytes() {
    for path in common::all_valid_programs() {
        let first = common::compile_file(&path).yaml();
        let second = common::compile_file(&path).yaml();
        assert_eq!(first, second, "{} is not deterministic", path.display());
    }
}

#[test]
fn the_working_directory_does_not_change_the_output() {
    let example = common::root().join("examples/addressbook.pipe");
    let run = |dir: &std::path::Path, arg: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .arg("compile")
            .arg(arg)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run pipec: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let from_root = run(
        &common::root(),
        std::path::Path::new("examples/addressbook.pipe"),
    );
    let from_examples = run(
        &common::root().join("examples"),
        std::path::Path::new("addressbook.pipe"),
    );
    let from_tmp = run(&std::env::temp_dir(), &example);
    assert_eq!(from_root, from_examples);
    assert_eq!(from_root, from_tmp);
    assert!(!from_root.is_empty());
}
