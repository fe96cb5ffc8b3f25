//! Hostile input, as an attacker's pull request would bring it to `pipec check` in CI: imports
//! that reach outside the project, devices, FIFOs, symlinks and files too large to read. Each
//! must end in a clean diagnostic, quickly, without showing anything of a file it refused.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A value only this test's environment holds: it must never reach pipec's output.
const ENV_MARKER: &str = "pipec-hostile-env-7f3a";

/// Runs pipec in `dir` with `ENV_MARKER` in its environment; fails the test instead of
/// hanging if pipec does not finish within 20 s.
fn pipec_with_stdin(args: &[&str], dir: &Path, stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(args)
        .current_dir(dir)
        .env("PIPEC_HOSTILE_MARKER", ENV_MARKER)
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipec runs");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            // pipec may stop reading early (the size cap): a broken pipe is the point.
            let _ = pipe.write_all(&bytes);
        });
    }
    // Read both pipes while waiting: a large output must not fill a pipe and stall pipec.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("pipec {args:?} did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn pipec(args: &[&str], dir: &Path) -> Output {
    pipec_with_stdin(args, dir, None)
}

/// A fresh directory with a `pipec.toml`: the project root.
fn project(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipec-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc")).unwrap();
    std::fs::write(dir.join("pipec.toml"), "").unwrap();
    dir
}

const GATE: &str = "analysis up_check(service: string) {
  metric m {
    prometheus = { address = \"http://prometheus:9090\", query = \"up{service=\\\"${service}\\\"}\" }
    success = result >= 1
  }
}
";

fn pipeline_importing(path: &str) -> String {
    format!(
        "use \"{path}\"\n\npipeline p {{\n  service api {{ image = \"nginx:1.27\", port = 80 }}\n}}\n"
    )
}

/// Checks `svc/main.pipe` importing `path`; returns (exit code, stderr).
fn check_import(dir: &Path, path: &str) -> (Option<i32>, String) {
    std::fs::write(dir.join("svc/main.pipe"), pipeline_importing(path)).unwrap();
    let out = pipec(&["check", "svc/main.pipe"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains(ENV_MARKER) && !String::from_utf8_lossy(&out.stdout).contains(ENV_MARKER),
        "{path}: the environment leaked:\n{stderr}"
    );
    assert!(
        !stderr.contains("root:x:"),
        "{path}: /etc/passwd leaked:\n{stderr}"
    );
    (out.status.code(), stderr)
}

#[test]
fn imports_outside_the_project_are_refused_without_being_read() {
    let dir = project("outside");
    for path in [
        "/etc/passwd",
        "../../../../../../../../etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        "/etc/passwd.pipe",
        "../../outside.pipe",
    ] {
        let (code, stderr) = check_import(&dir, path);
        assert_eq!(code, Some(1), "{path}:\n{stderr}");
        assert!(stderr.contains("E0111"), "{path}:\n{stderr}");
        assert!(stderr.contains("outside the project"), "{path}:\n{stderr}");
    }
}

#[test]
fn a_symlink_is_judged_by_where_it_leads() {
    let dir = project("symlinks");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(dir.join("lib/gates.pipe"), GATE).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a pipeline").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("svc/passwd.pipe")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.join("svc/environ.pipe")).unwrap();
    std::os::unix::fs::symlink("../notes.txt", dir.join("svc/notes.pipe")).unwrap();
    std::os::unix::fs::symlink("../lib/gates.pipe", dir.join("svc/gates.pipe")).unwrap();

    for path in ["./passwd.pipe", "./environ.pipe"] {
        let (code, stderr) = check_import(&dir, path);
        assert_eq!(code, Some(1), "{path}:\n{stderr}");
        assert!(stderr.contains("E0111"), "{path}:\n{stderr}");
    }
    let (code, stderr) = check_import(&dir, "./notes.pipe");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("E0107") && stderr.contains("not a `.pipe` file"),
        "{stderr}"
    );
    assert!(!stderr.contains("not a pipeline"), "{stderr}");
    // A link that stays in the project, to a `.pipe` file, is an ordinary import.
    let (code, stderr) = check_import(&dir, "./gates.pipe");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn imports_reach_the_whole_project_not_only_the_entry_directory() {
    let dir = project("root");
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    std::fs::write(dir.join("shared/gates.pipe"), GATE).unwrap();
    let (code, stderr) = check_import(&dir, "../shared/gates.pipe");
    assert_eq!(code, Some(0), "{stderr}");
    // Without a marker the root is the entry file's directory, and `..` leaves it.
    std::fs::remove_file(dir.join("pipec.toml")).unwrap();
    let (code, stderr) = check_import(&dir, "../shared/gates.pipe");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("E0111"), "{stderr}");
}

#[test]
fn fifos_directories_and_devices_are_never_opened_for_reading() {
    let dir = project("special");
    let fifo = dir.join("svc/fifo.pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::create_dir_all(dir.join("svc/dir.pipe")).unwrap();
    for path in ["./fifo.pipe", "./dir.pipe"] {
        let (code, stderr) = check_import(&dir, path);
        assert_eq!(code, Some(1), "{path}:\n{stderr}");
        assert!(
            stderr.contains("E0107") && stderr.contains("not a regular file"),
            "{path}:\n{stderr}"
        );
    }
    // As the file to check, too: a usage error, not a wait for a writer or endless zeros.
    for entry in ["svc/fifo.pipe", "/dev/zero"] {
        let out = pipec(&["check", entry], &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{entry}:\n{stderr}");
        assert!(stderr.contains("not a regular file"), "{entry}:\n{stderr}");
        let out = pipec(&["fmt", "--check", entry], &dir);
        assert_eq!(out.status.code(), Some(2), "fmt {entry}");
    }
}

#[test]
fn files_over_the_size_limit_are_refused_after_reading_no_more_than_the_limit() {
    let dir = project("large");
    let mut big = pipeline_importing("./gates.pipe").into_bytes();
    big.extend(std::iter::repeat_n(b' ', pipec_core::MAX_SOURCE_BYTES));
    std::fs::write(dir.join("svc/big.pipe"), &big).unwrap();
    let out = pipec(&["check", "svc/big.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("E0011"), "{stderr}");
    // Nothing of the file is compiled, so its import is not followed either.
    assert!(!stderr.contains("E0107"), "{stderr}");

    // An import over the limit is E0011 at that file.
    std::fs::rename(dir.join("svc/big.pipe"), dir.join("svc/gates.pipe")).unwrap();
    let (code, stderr) = check_import(&dir, "./gates.pipe");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("E0011"), "{stderr}");

    // `fmt` from standard input stops at the limit too.
    let out = pipec_with_stdin(&["fmt"], &dir, Some(big));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("E0011"), "{stderr}");
}

/// `compile`'s stdout for `name` holding `text`, in a fresh directory.
fn compiled(dir: &Path, name: &str, text: &[u8]) -> (Option<i32>, Vec<u8>, String) {
    std::fs::write(dir.join(name), text).unwrap();
    let out = pipec(&["compile", name], dir);
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The examples' imported files, `convert`ed, into `dir/lib`.
fn copy_lib(examples: &Path, dir: &Path, convert: impl Fn(&str) -> String) {
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    for entry in std::fs::read_dir(examples.join("lib")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            dir.join("lib").join(path.file_name().unwrap()),
            convert(&text),
        )
        .unwrap();
    }
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_change_nothing_in_the_output() {
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pipe") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let lf = project(&format!("lf-{name}"));
        copy_lib(&examples, &lf, |t| t.to_string());
        let (code, expected, stderr) = compiled(&lf, &name, text.as_bytes());
        assert_eq!(code, Some(0), "{name}:\n{stderr}");
        let to_windows = |t: &str| format!("\u{feff}{}", t.replace('\n', "\r\n"));
        let windows = to_windows(&text);
        let crlf = project(&format!("crlf-{name}"));
        copy_lib(&examples, &crlf, to_windows);
        let (code, got, stderr) = compiled(&crlf, &name, windows.as_bytes());
        assert_eq!(code, Some(0), "{name} with CRLF and a BOM:\n{stderr}");
        assert!(
            !got.contains(&b'\r'),
            "{name}: a carriage return reached the YAML"
        );
        assert!(got == expected, "{name}: CRLF and a BOM changed the output");
        seen += 1;
    }
    assert!(seen >= 4, "the examples were not found");
}

#[test]
fn a_byte_order_mark_is_accepted_only_at_the_start_and_kept_by_fmt() {
    let dir = project("bom");
    let source = "pipeline p {\n  service api { image = \"nginx:1.27\", port = 80 }\n}\n";
    let (code, _, stderr) = compiled(&dir, "start.pipe", format!("\u{feff}{source}").as_bytes());
    assert_eq!(code, Some(0), "{stderr}");
    // A diagnostic on the first line points at the column an editor shows (the mark is no
    // column), in JSON and in the human report; the offset still counts its three bytes.
    std::fs::write(dir.join("typo.pipe"), "\u{feff}pipeline p { bogus = 1 }\n").unwrap();
    let out = pipec(&["check", "--format", "json", "typo.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("\"line\":1,\"column\":14,\"offset\":16"),
        "{stderr}"
    );
    let out = pipec(&["check", "typo.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.pipe:1:14 ]"), "{stderr}");
    // Elsewhere it is an invisible character, refused.
    let (code, _, stderr) = compiled(&dir, "inside.pipe", "pipeline p \u{feff}{}\n".as_bytes());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("E0007"), "{stderr}");
    // `fmt` keeps the mark where it was.
    std::fs::write(dir.join("fmt.pipe"), "\u{feff}pipeline   p {\n}\n").unwrap();
    let out = pipec(&["fmt", "fmt.pipe"], &dir);
    assert_eq!(out.status.code(), Some(0));
    let formatted = std::fs::read_to_string(dir.join("fmt.pipe")).unwrap();
    assert!(
        formatted.starts_with("\u{feff}pipeline p {"),
        "{formatted:?}"
    );
}

/// `examples/addressbook.pipe` with its push condition replaced by `condition`.
fn addressbook_when(condition: &str) -> String {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(examples.join("addressbook.pipe")).unwrap();
    let original = "when = unit.passed and (git.branch == \"master\" or git.tag ~ /^hotfix/)";
    assert!(text.contains(original), "addressbook.pipe changed");
    text.replace(original, &format!("when = {condition}"))
}

/// Expressions as deep as the parser allows go through every later phase (resolve, type check,
/// lowering, YAML, the formatter) on pipec's own 2 MiB worker threads, in a debug build.
#[test]
fn expressions_at_the_depth_limits_pass_every_phase() {
    let dir = project("deep-ok");
    // A step result may not sit under `not` or `or` (E0305): these test the branch.
    let branch = "git.branch == \"master\"";
    let nots = format!("unit.passed and {}{branch}", "not not ".repeat(60));
    let chain = format!("unit.passed{}", format!(" and {branch}").repeat(120));
    let parens = format!("{}unit.passed{}", "(".repeat(60), ")".repeat(60));
    let mixed = format!(
        "unit.passed and {}{branch}{}",
        "(git.tag ~ /^v/ or not (".repeat(20),
        "))".repeat(20)
    );
    // `and` inside `or` inside `and`…: every level needs its parentheses in the emitted
    // expression too, so Argo's expression evaluator (as modelled) nests as deep.
    let mut alternating = branch.to_string();
    for level in 0..60 {
        let op = if level % 2 == 0 { "or" } else { "and" };
        alternating = format!("(git.tag ~ /^v/ {op} {alternating})");
    }
    let alternating = format!("unit.passed and {alternating}");
    let strings = format!(
        "git.branch == {}\"main\"{}",
        "\"\"\"${".repeat(30),
        "}\"\"\"".repeat(30)
    );
    for (name, condition) in [
        ("nots", nots),
        ("chain", chain),
        ("parens", parens),
        ("mixed", mixed),
        ("alternating", alternating),
        ("strings", strings),
    ] {
        let file = format!("{name}.pipe");
        let (code, yaml, stderr) = compiled(&dir, &file, addressbook_when(&condition).as_bytes());
        assert_eq!(code, Some(0), "{name}:\n{stderr}");
        assert!(!yaml.is_empty(), "{name}: no output");
        let out = pipec(&["fmt", &file], &dir);
        assert_eq!(out.status.code(), Some(0), "{name}: fmt failed");
        let out = pipec(&["check", &file], &dir);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: the formatted file no longer checks"
        );
    }
}

/// A million levels of nesting is one E0012 at the place it starts, quickly, with exit 1.
#[test]
fn a_million_levels_of_nesting_is_one_clean_error() {
    let dir = project("deep-refused");
    for (name, condition) in [
        ("brackets", format!("{}1", "[".repeat(1_000_000))),
        ("nots", format!("{}unit.passed", "not ".repeat(1_000_000))),
        ("strings", format!("{}\"x\"", "\"\"\"${".repeat(1_000_000))),
    ] {
        let file = format!("{name}.pipe");
        std::fs::write(dir.join(&file), addressbook_when(&condition)).unwrap();
        let out = pipec(&["check", &file], &dir);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(stderr.matches("[E0012]").count(), 1, "{name}");
        assert!(
            stderr.len() < 64 * 1024,
            "{name}: {} bytes of diagnostics",
            stderr.len()
        );
    }
}

/// Many diagnostics: a person sees the first ones, errors before warnings, and a count of the
/// rest; `--format json` still lists every one.
#[test]
fn a_flood_of_diagnostics_is_capped_for_people_and_complete_for_machines() {
    let dir = project("flood");
    // Few enough for the JSON to fit a pipe's buffer: `pipec_with_stdin` reads after the exit.
    let params: String = (0..120)
        .map(|i| format!("  param p{i}: string = \"x\"\n"))
        .collect();
    let source = format!("pipeline p {{\n{params}  bogus = 1\n}}\n");
    std::fs::write(dir.join("flood.pipe"), source).unwrap();
    let out = pipec(&["check", "flood.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("[E0205]").count(), 1, "the error is shown");
    assert_eq!(stderr.matches("[W0002]").count(), 49, "{stderr}");
    assert!(
        stderr.contains("… and 71 more not shown (0 errors, 71 warnings)"),
        "{stderr}"
    );
    let out = pipec(&["check", "--format", "json", "flood.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().count(),
        121,
        "every diagnostic, one per line"
    );
}

/// A diagnostic on a very long line shows the text around the mistake, not the whole line,
/// and still gives the true column.
#[test]
fn a_very_long_line_is_shown_around_the_mistake_with_its_true_column() {
    let dir = project("long-line");
    let padding = "a".repeat(100_000);
    let source = format!("pipeline p {{ repo = \"{padding}\" bogus = 1 }}\n");
    std::fs::write(dir.join("long.pipe"), source).unwrap();
    let out = pipec(&["check", "long.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.len() < 4_000,
        "{} bytes of diagnostics",
        stderr.len()
    );
    let column = "pipeline p { repo = \"".len() + padding.len() + "\" ".len() + 1;
    assert!(
        stderr.contains(&format!("long.pipe:1:{column} ]")),
        "{stderr}"
    );
    assert!(stderr.contains("…aaaa"), "{stderr}");
    assert!(stderr.contains("\" bogus = 1 }"), "{stderr}");
}

/// Control characters in a file never reach the terminal (an ESC sequence could rewrite a CI
/// log), and characters some tools take for line breaks do not shift the line numbers.
#[test]
fn control_characters_are_not_printed_and_do_not_move_line_numbers() {
    let dir = project("controls");
    let source = "pipeline p {\n  // \u{1b}[2J\u{1b}]8;;http://x\u{7} \u{b}\u{c}\r \u{85}\u{2028}\n  bogus = 1\n}\n";
    std::fs::write(dir.join("controls.pipe"), source).unwrap();
    let out = pipec(&["check", "controls.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "{stderr:?}"
    );
    assert!(stderr.contains("controls.pipe:3:3 ]"), "{stderr}");
    let out = pipec(&["check", "--format", "json", "controls.pipe"], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"line\":3,\"column\":3"), "{stderr}");
}

/// `pipeline NAME` with `count` services: a compile of many files.
fn many_services(name: &str, count: usize) -> String {
    let services: String = (0..count)
        .map(|i| format!("  service {name}{i} {{ image = \"nginx:1.27\", port = 80 }}\n"))
        .collect();
    format!("pipeline {name} {{\n{services}}}\n")
}

/// Every file of `dir` but the one a person put there: name and contents.
fn output_set(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "kustomization.yaml")
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// `-o DIR` replaces pipec's earlier output whole: killed at any moment (SIGKILL, spread over a
/// whole run), the directory holds exactly the old set or exactly the new one, never a mix and
/// never a temporary file; a file a person put there is kept, always the same file; files the
/// new compile no longer produces are gone.
#[test]
fn output_directories_change_all_at_once_even_when_killed() {
    let dir = project("atomic");
    std::fs::write(dir.join("a.pipe"), many_services("alpha", 200)).unwrap();
    std::fs::write(dir.join("b.pipe"), many_services("beta", 150)).unwrap();
    let expected = |file: &str| {
        let out = dir.join(format!("expected-{file}"));
        let status = pipec(&["compile", file, "-o", out.to_str().unwrap()], &dir);
        assert_eq!(status.status.code(), Some(0));
        output_set(&out)
    };
    let (a, b) = (expected("a.pipe"), expected("b.pipe"));
    assert!(a.contains_key(".pipec-files") && a.len() > 300 && b.len() > 200);
    assert!(a.keys().all(|k| !b.contains_key(k) || k == ".pipec-files"));

    let out = dir.join("out");
    let out_arg = out.to_str().unwrap().to_string();
    assert_eq!(
        pipec(&["compile", "a.pipe", "-o", &out_arg], &dir)
            .status
            .code(),
        Some(0)
    );
    std::fs::write(out.join("kustomization.yaml"), "resources: []\n").unwrap();
    let own_file = std::fs::metadata(out.join("kustomization.yaml")).unwrap();
    let started = Instant::now();
    assert_eq!(
        pipec(&["compile", "b.pipe", "-o", &out_arg], &dir)
            .status
            .code(),
        Some(0)
    );
    let full_run = started.elapsed();
    assert!(
        output_set(&out) == b,
        "the new set, without the files only the old one had"
    );

    let kills = 40;
    let mut outcomes = [0usize; 2];
    for i in 0..kills {
        let file = if i % 2 == 0 { "a.pipe" } else { "b.pipe" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(["compile", file, "-o", &out_arg])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full_run.mul_f64(1.2 * f64::from(i) / f64::from(kills)));
        let _ = child.kill();
        let _ = child.wait();
        let now = output_set(&out);
        assert!(
            now == a || now == b,
            "killed after {i}/{kills} of a run: a mix of sets"
        );
        outcomes[usize::from(now == b)] += 1;
        let kept = std::fs::metadata(out.join("kustomization.yaml")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(kept.ino(), own_file.ino(), "a person's file was replaced");
    }
    // A run after the kills leaves nothing of theirs behind, beside or inside the directory.
    assert_eq!(
        pipec(&["compile", "a.pipe", "-o", &out_arg], &dir)
            .status
            .code(),
        Some(0)
    );
    assert!(output_set(&out) == a);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("pipec-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // How many kills found each set: on a quiet machine both, as the kills spread over a run.
    eprintln!("kills that left the alpha set, the beta set: {outcomes:?}");
}

/// What pipec did not write is never deleted: a directory inside the output stops the write
/// before anything changes; an older pipec's files (no manifest, but pipec's label) are
/// recognised and replaced, a person's YAML kept.
#[test]
fn output_directories_keep_what_pipec_did_not_write() {
    let dir = project("foreign");
    std::fs::write(dir.join("a.pipe"), many_services("alpha", 2)).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("charts")).unwrap();
    std::fs::write(
        out.join("old.yaml"),
        "metadata:\n  labels:\n    app.kubernetes.io/managed-by: pipec\n",
    )
    .unwrap();
    std::fs::write(out.join("mine.yaml"), "kind: ConfigMap\n").unwrap();
    let compile = || pipec(&["compile", "a.pipe", "-o", out.to_str().unwrap()], &dir);
    let refused = compile();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("charts"));
    assert!(out.join("old.yaml").exists() && !out.join(".pipec-files").exists());
    std::fs::remove_dir(out.join("charts")).unwrap();
    assert_eq!(compile().status.code(), Some(0));
    assert!(
        !out.join("old.yaml").exists(),
        "an older pipec's file is replaced"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("mine.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
    let manifest = std::fs::read_to_string(out.join(".pipec-files")).unwrap();
    assert!(
        !manifest.contains("mine.yaml") && manifest.lines().count() >= 4,
        "{manifest}"
    );
}

/// One broken string is one mistake: twenty thousand `"${` on a line, ten thousand `"$ "`, or a
/// million nested `"""${` give a handful of diagnostics, small in every format.
#[test]
fn one_broken_string_is_a_handful_of_diagnostics_in_every_format() {
    let dir = project("strings");
    let cases = [
        ("opened", format!("\"{}\"", "${".repeat(20_000))),
        ("quotes", "\"${".repeat(20_000)),
        ("dollars", format!("\"{}\"", "$ ".repeat(10_000))),
        ("nested", format!("{}\"x\"", "\"\"\"${".repeat(1_000_000))),
    ];
    for (name, condition) in cases {
        let file = format!("{name}.pipe");
        std::fs::write(dir.join(&file), addressbook_when(&condition)).unwrap();
        for format in ["human", "json", "sarif"] {
            let out = pipec(&["check", "--format", format, &file], &dir);
            assert_eq!(out.status.code(), Some(1), "{name} {format}");
            // SARIF always carries every code's explanation; count its results instead.
            if format == "sarif" {
                let log: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
                let results = log["runs"][0]["results"].as_array().unwrap().len();
                assert!(results < 10, "{name}: {results} results");
            } else {
                assert!(
                    out.stderr.len() < 32 * 1024,
                    "{name} {format}: {} bytes of diagnostics",
                    out.stderr.len()
                );
            }
        }
    }
}
