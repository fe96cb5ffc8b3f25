//! `pipec fmt`: idempotent, keeps every token and comment, never changes what a file compiles
//! to, and the repository's own `.pipe` files are formatted.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use pipec_core::Mode;
use pipec_syntax::FileId;
use pipec_syntax::format::format;
use pipec_syntax::lexer::lex;
use pipec_syntax::token::Token;

/// Every `.pipe` file of the repository: examples, stdlib, test inputs that compile.
fn corpus() -> Vec<PathBuf> {
    let mut files = common::all_valid_programs();
    files.extend(common::pipe_files("examples/lib"));
    files.extend(common::pipe_files("stdlib"));
    files
}

/// The tokens and comment texts of a file: what formatting must keep.
fn content(src: &str) -> (Vec<Token<'_>>, Vec<String>) {
    let lexed = lex(src, FileId(0));
    assert!(lexed.errors.is_empty(), "lex errors in\n{src}");
    (
        lexed.tokens.into_iter().map(|(t, _)| t).collect(),
        lexed
            .comments
            .into_iter()
            .map(|c| c.text.trim_end().to_string())
            .collect(),
    )
}

/// A file's compiled YAML with source positions masked: formatting moves columns, not meaning.
fn compiled(name: &str, src: &str, dir: &Path) -> String {
    let compilation = pipec_core::compile(
        name,
        src.as_bytes(),
        &common::dir_loader(dir),
        Mode::Compile,
    );
    // In YAML (`pipec.dev/source: f:1:2`), in the JSON manifests inside scripts, and in the
    // `source` argument a task passes its shared template.
    let positions = regex::Regex::new(r#"pipec\.dev/source(\\?"?): (\\?"?)[^"\s\\]+"#).unwrap();
    let argument = regex::Regex::new(r"^(\s*value: ).*$").unwrap();
    let mut after_source = false;
    let masked: Vec<String> = compilation
        .yaml()
        .lines()
        .map(|l| {
            let line = if after_source {
                argument.replace(l, "$1<masked>").into_owned()
            } else {
                positions
                    .replace_all(l, "pipec.dev/source$1: $2<masked>")
                    .into_owned()
            };
            after_source = l.trim_end().ends_with("- name: source");
            line
        })
        .collect();
    let codes: Vec<&str> = compilation
        .diagnostics
        .iter()
        .map(|d| d.code.as_str())
        .collect();
    format!("{codes:?}\n{}", masked.join("\n"))
}

#[test]
fn the_repositorys_pipe_files_are_formatted() {
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args([
            "fmt",
            "--check",
            "examples",
            "stdlib",
            "tests/e2e",
            "tests/cases/compile",
        ])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "not formatted (run `pipec fmt` on them):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn formatting_is_idempotent_and_keeps_every_token_and_comment() {
    for path in corpus() {
        let src = std::fs::read_to_string(&path).unwrap();
        let once = format(&src).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
        assert_eq!(
            format(&once).unwrap(),
            once,
            "{} is not stable",
            path.display()
        );
        assert_eq!(content(&once), content(&src), "{}", path.display());
    }
}

/// The file with the whitespace between its tokens replaced at random: the same program,
/// laid out badly. Strings and comments are untouched; a comment still ends its line.
fn scramble(src: &str, rng: &mut common::Rng) -> String {
    let lexed = lex(src, FileId(0));
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut depth = 0usize;
    for (token, span) in &lexed.tokens {
        let inside = depth > 0;
        match token {
            Token::StrStart(_) => depth += 1,
            Token::StrEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        if !inside {
            spans.push((span.start as usize, span.end as usize, false));
        } else if let Some(last) = spans.last_mut() {
            last.1 = span.end as usize;
        }
    }
    for comment in &lexed.comments {
        spans.push((comment.span.start as usize, comment.span.end as usize, true));
    }
    spans.sort();
    let mut out = String::new();
    let mut at = 0usize;
    let mut after_comment = false;
    for (start, end, is_comment) in spans {
        if start < at {
            continue;
        }
        let mut gap = rng
            .pick(&["", " ", "  ", "\n", "\n\n\n", "\t", " \n   ", "\n\t\t"])
            .to_string();
        // Tokens that would merge without space keep one; a comment keeps its line break.
        if gap.is_empty() && !src[at..start].is_empty() {
            gap.push(' ');
        }
        if after_comment && !gap.contains('\n') {
            gap.push('\n');
        }
        if at == 0 {
            gap.clear();
        }
        out.push_str(&gap);
        out.push_str(&src[start..end]);
        at = end;
        after_comment = is_comment;
    }
    out.push('\n');
    out
}

#[test]
fn scrambled_programs_format_to_the_same_meaning() {
    let mut rng = common::Rng(0x9E37_79B9_7F4A_7C15);
    for path in corpus() {
        let src = std::fs::read_to_string(&path).unwrap();
        let dir = path.parent().unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let meaning = compiled(&name, &src, dir);
        for round in 0..8 {
            let scrambled = scramble(&src, &mut rng);
            assert_eq!(
                content(&scrambled),
                content(&src),
                "the scrambler changed {} (round {round})",
                path.display()
            );
            let formatted = format(&scrambled)
                .unwrap_or_else(|e| panic!("{} round {round}: {e:?}\n{scrambled}", path.display()));
            assert_eq!(format(&formatted).unwrap(), formatted, "not idempotent");
            assert_eq!(content(&formatted), content(&src));
            let after = compiled(&name, &formatted, dir);
            if after != meaning {
                let (line, (want, got)) = meaning
                    .lines()
                    .zip(after.lines())
                    .enumerate()
                    .find(|(_, (a, b))| a != b)
                    .unwrap_or((0, ("", "")));
                panic!(
                    "{} round {round} compiles differently after formatting, first at line {line}:\n  before: {want}\n  after:  {got}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn check_lists_unformatted_files_and_fixes_them_without_check() {
    let dir = std::env::temp_dir().join(format!("pipec-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.pipe");
    std::fs::write(&file, "pipeline p {\n repo=\"x\"\n}\n").unwrap();
    let broken = dir.join("broken.pipe");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["fmt", "--check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("p.pipe"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "pipeline p {\n repo=\"x\"\n}\n",
        "--check changes nothing"
    );
    let out = run(&["fmt", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "pipeline p {\n  repo = \"x\"\n}\n"
    );
    let out = run(&["fmt", "--check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    std::fs::write(&broken, "pipeline p { repo = }\n").unwrap();
    let out = run(&["fmt", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("syntax error"));
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "pipeline p { repo = }\n",
        "a broken file is left alone"
    );
    let out = run(&["fmt", dir.join("missing.pipe").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// Generated well-formed programs (`common::programs`, a fixed seed, shrunk on failure), laid
/// out badly: formatting gives a fixed point that keeps every token and compiles to the same
/// resources as the program did.
#[test]
fn generated_programs_format_stably_and_keep_their_meaning() {
    let dir = std::env::temp_dir();
    common::programs::check_programs(64, |source| {
        let meaning = compiled("gen.pipe", source, &dir);
        let mut rng = common::Rng(0x2545_F491_4F6C_DD1D ^ source.len() as u64);
        let scrambled = scramble(source, &mut rng);
        let formatted = format(&scrambled).map_err(|e| {
            proptest::test_runner::TestCaseError::fail(format!("{e:?}\n{scrambled}"))
        })?;
        proptest::prop_assert_eq!(
            format(&formatted).unwrap(),
            formatted.clone(),
            "not idempotent"
        );
        proptest::prop_assert_eq!(content(&formatted), content(source));
        proptest::prop_assert_eq!(
            compiled("gen.pipe", &formatted, &dir),
            meaning,
            "{}",
            formatted
        );
        Ok(())
    });
}
