//! Writing `compile -o DIR`: the whole new output appears at once, or nothing changes.
//!
//! The new set is written to a hidden sibling directory (`.DIR.pipec-staging-PID`), each file
//! and then the directory fsynced; the sibling is then swapped with `DIR` in one atomic
//! `renameat2(RENAME_EXCHANGE)` (Linux 3.15+; plain `rename` when `DIR` does not exist yet),
//! the parent fsynced, and the old set, now at the sibling's name, removed. Killed at any
//! moment, `DIR` holds either the old set or the new one, never a mix, and no temporary file
//! inside it; a stale sibling is removed by the next run.
//!
//! Which files pipec wrote is recorded in `DIR/.pipec-files` ([`MANIFEST`]), one name a line.
//! Files of an earlier compile that the new one does not produce go away with the old set;
//! every other entry of `DIR` (a `kustomization.yaml` of one's own, a symlink) is carried over
//! into the new set unchanged (a hard link, so the same file). A subdirectory, or anything else
//! that cannot be carried over, makes the write refuse before anything is written: pipec never
//! deletes what it did not write.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in an output directory listing the files pipec wrote there.
pub const MANIFEST: &str = ".pipec-files";

/// Why an output directory could not be written. Nothing was changed in it.
#[derive(Debug)]
pub enum OutputError {
    /// The output path exists and is not a directory.
    NotADirectory(PathBuf),
    /// The directory holds an entry pipec did not write and cannot carry over.
    Foreign(PathBuf),
    /// Two documents have the same file name.
    Duplicate(String),
    /// A document's file name is not a plain file name.
    BadName(String),
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::NotADirectory(path) => {
                write!(f, "{} exists and is not a directory", path.display())
            }
            OutputError::Foreign(path) => write!(
                f,
                "{} was not written by pipec and cannot be carried over (only files and symlinks can); move it, or write the output to a directory of its own",
                path.display()
            ),
            OutputError::Duplicate(name) => {
                write!(f, "two documents would both be written to {name}")
            }
            OutputError::BadName(name) => write!(f, "{name:?} is not a plain file name"),
            OutputError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for OutputError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |error| OutputError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Replaces pipec's files in `dir` by `files` (name, contents), atomically (see the module
/// documentation). `dir` and its parents are created if missing.
pub fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), OutputError> {
    // A symlink to a directory: the directory it leads to is the one swapped.
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        let target = std::fs::canonicalize(dir).map_err(io(dir))?;
        if target.is_dir() {
            return write_dir(&target, files);
        }
        return Err(OutputError::NotADirectory(dir.to_path_buf()));
    }
    let mut names: Vec<&str> = Vec::with_capacity(files.len());
    for (name, _) in files {
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && name != MANIFEST
            && !name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(OutputError::BadName(name.clone()));
        }
        names.push(name);
    }
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(OutputError::Duplicate(pair[0].to_string()));
    }
    let Some(leaf) = dir.file_name().and_then(|n| n.to_str()) else {
        return Err(OutputError::BadName(dir.display().to_string()));
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    remove_stale_siblings(&parent, leaf);

    let existing = match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => true,
        Ok(_) => return Err(OutputError::NotADirectory(dir.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(dir)(e)),
    };
    let carried = if existing {
        foreign_entries(dir)?
    } else {
        Vec::new()
    };

    let staging = parent.join(format!(".{leaf}.pipec-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(io(&staging))?;
    let result = fill(&staging, files, &names, dir, &carried)
        .and_then(|()| swap(&staging, dir, existing, &parent));
    // The staging name now holds the old set, the unfinished new one after a failure, or
    // nothing at all.
    if staging.exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Writes the new set, the carried-over entries and the manifest into `staging`, all synced.
fn fill(
    staging: &Path,
    files: &[(String, Vec<u8>)],
    names: &[&str],
    dir: &Path,
    carried: &[(std::ffi::OsString, bool)],
) -> Result<(), OutputError> {
    for (name, bytes) in files {
        write_synced(&staging.join(name), bytes)?;
    }
    for (name, is_symlink) in carried {
        let from = dir.join(name);
        let to = staging.join(name);
        if *is_symlink {
            let target = std::fs::read_link(&from).map_err(io(&from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io(&to))?;
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(io(&from))?;
            File::open(&to)
                .and_then(|f| f.sync_all())
                .map_err(io(&to))?;
        }
    }
    let manifest: String = names.iter().map(|n| format!("{n}\n")).collect();
    write_synced(&staging.join(MANIFEST), manifest.as_bytes())?;
    sync_dir(staging)
}

/// Puts `staging` in place of `dir`: an exchange when `dir` exists, so there is no moment
/// without it. Where the file system cannot exchange, `dir` is moved aside first; a run killed
/// in between leaves the old set at the staging name, and `dir` missing, for a moment.
fn swap(staging: &Path, dir: &Path, existing: bool, parent: &Path) -> Result<(), OutputError> {
    if !existing {
        std::fs::rename(staging, dir).map_err(io(dir))?;
        return sync_dir(parent);
    }
    let exchanged = rustix::fs::renameat_with(
        rustix::fs::CWD,
        staging,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    );
    if exchanged.is_err() {
        let aside = parent.join(format!(
            ".{}.pipec-old-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
            std::process::id()
        ));
        std::fs::rename(dir, &aside).map_err(io(dir))?;
        std::fs::rename(staging, dir).map_err(io(dir))?;
        std::fs::rename(&aside, staging).map_err(io(staging))?;
    }
    sync_dir(parent)
}

/// The entries of `dir` pipec did not write (by its manifest): `(name, is a symlink)`. Refuses
/// anything that is neither a regular file nor a symlink. A directory without a manifest was
/// written by a pipec from before it kept one, if at all: there its files are the `.yaml` files
/// carrying pipec's `app.kubernetes.io/managed-by` label.
fn foreign_entries(dir: &Path) -> Result<Vec<(std::ffi::OsString, bool)>, OutputError> {
    let manifest_path = dir.join(MANIFEST);
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some(text.lines().map(str::to_string).collect::<Vec<_>>()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&manifest_path)(e)),
    };
    let ours = |name: &str, path: &Path| match &manifest {
        Some(names) => names.iter().any(|n| n == name),
        None => name.ends_with(".yaml") && labelled_by_pipec(path),
    };
    let mut foreign = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        if name == MANIFEST
            || (kind.is_file() && name.to_str().is_some_and(|n| ours(n, &entry.path())))
        {
            continue;
        }
        if kind.is_file() || kind.is_symlink() {
            foreign.push((name, kind.is_symlink()));
        } else {
            return Err(OutputError::Foreign(entry.path()));
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// Removes `.LEAF.pipec-staging-PID` and `.LEAF.pipec-old-PID` siblings left by runs that were
/// killed (their process is gone). An old set left aside with `LEAF` missing is put back.
fn remove_stale_siblings(parent: &Path, leaf: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(&format!(".{leaf}.pipec-")) else {
            continue;
        };
        let (kind, pid) = rest.split_once('-').unwrap_or((rest, ""));
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
        });
        if alive {
            continue;
        }
        let path = entry.path();
        if kind == "old" && !parent.join(leaf).exists() {
            let _ = std::fs::rename(&path, parent.join(leaf));
        } else if kind == "staging" || kind == "old" {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Whether the first KiB of the file at `path` holds the label pipec puts on every object.
fn labelled_by_pipec(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::with_capacity(1024);
    File::open(path)
        .and_then(|f| f.take(1024).read_to_end(&mut head))
        .is_ok()
        && String::from_utf8_lossy(&head).contains("app.kubernetes.io/managed-by: pipec")
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut file = File::create(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), OutputError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
