//! `pipec fmt`: files (or standard input) in the canonical layout of `pipec_syntax::format`.
//!
//! Exit codes: 0 done (or, with `--check`, everything is formatted), 1 a file has syntax
//! errors or `--check` found unformatted files, 2 a file or directory cannot be read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{IntoDiagnostic, WrapErr, miette};
use pipec_syntax::format::{FormatError, format};

pub fn run(paths: &[PathBuf], check: bool) -> miette::Result<ExitCode> {
    if paths.is_empty() {
        return stdin_to_stdout();
    }
    let files = pipe_files(paths)?;
    let mut failed = false;
    let mut stdout = std::io::stdout().lock();
    for file in &files {
        let text = read_text(file)?;
        let formatted = match format(&text) {
            Ok(f) => f,
            Err(e) => {
                report_syntax(&file.display().to_string(), &e);
                failed = true;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if check {
            let _ = writeln!(stdout, "{}", file.display());
            failed = true;
        } else {
            write_atomically(file, &formatted)?;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A file's text: a regular file of at most `MAX_SOURCE_BYTES`, in UTF-8 (`pipec-files`).
fn read_text(file: &Path) -> miette::Result<String> {
    let cannot_read = |reason: String| miette!("cannot read {}: {reason}", file.display());
    let bytes =
        pipec_files::read_source(file).map_err(|e| cannot_read(pipec_files::describe(&e)))?;
    pipec_files::source_text(bytes).map_err(cannot_read)
}

fn stdin_to_stdout() -> miette::Result<ExitCode> {
    let bytes = pipec_files::read_stdin()
        .into_diagnostic()
        .wrap_err("cannot read standard input")?;
    let text = pipec_files::source_text(bytes)
        .map_err(|reason| miette!("cannot read standard input: {reason}"))?;
    match format(&text) {
        Ok(formatted) => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(formatted.as_bytes())
                .into_diagnostic()
                .wrap_err("cannot write to standard output")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            report_syntax("<stdin>", &e);
            Ok(ExitCode::from(1))
        }
    }
}

fn report_syntax(name: &str, error: &FormatError) {
    eprintln!(
        "error: {name} has {} syntax error{} and was not formatted; `pipec check` shows them",
        error.syntax_errors,
        if error.syntax_errors == 1 { "" } else { "s" }
    );
}

/// The files as given, and for each directory the `.pipe` files under it, sorted (hidden
/// directories and `target` left out, symbolic links to directories not followed).
pub(crate) fn pipe_files(paths: &[PathBuf]) -> miette::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    Ok(files)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> miette::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot read directory {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "target");
        if hidden {
            continue;
        }
        // Not followed through a link: a link to a parent would never end.
        let directory = std::fs::symlink_metadata(&entry).is_ok_and(|m| m.is_dir());
        if directory {
            collect(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "pipe") {
            out.push(entry);
        }
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves half a
/// file.
fn write_atomically(file: &Path, text: &str) -> miette::Result<()> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = file.with_file_name(format!(".{name}.{}.fmt", std::process::id()));
    std::fs::write(&temp, text)
        .and_then(|()| std::fs::rename(&temp, file))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", file.display()))
}
