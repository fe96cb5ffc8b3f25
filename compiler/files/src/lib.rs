//! Reading `.pipe` sources from disk, for the CLI and the language server alike, so that both
//! refuse the same imports; and writing `compile -o DIR` all at once ([`output`]). The compiler itself (`pipec-core`) does no I/O: it sees files only
//! through the [`FileLoader`] this crate provides.
//!
//! pipec runs in CI on untrusted pull requests and in editors on every keystroke, so reading
//! is confined:
//!
//! - **The project root** is the nearest directory, from the entry file's upwards, holding
//!   `pipec.toml` (it may be empty) or `.git`; without either, the entry file's own directory.
//! - **An import** may only name a regular `.pipe` file inside the root, after symlinks are
//!   resolved: never a device, FIFO, socket, `/proc` file or anything outside. A refused file
//!   is never opened, so nothing of it can reach a diagnostic.
//! - **Every read** is opened non-blocking (a FIFO cannot hang it), must be a regular file, and
//!   stops one byte past [`MAX_SOURCE_BYTES`] (the compiler reports E0011 beyond it), so
//!   `/dev/zero` or a huge file costs bounded memory.

pub mod output;

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use pipec_core::{FileLoader, LoadError, MAX_SOURCE_BYTES};

/// Files whose presence marks the project root.
pub const ROOT_MARKERS: &[&str] = &["pipec.toml", ".git"];

/// The project an entry file belongs to: where its imports may come from.
#[derive(Clone, Debug)]
pub struct Project {
    /// Canonical: symlinks resolved.
    root: PathBuf,
    /// The entry file's directory, canonical; import paths are relative to it.
    base: PathBuf,
}

impl Project {
    /// The project of the entry file `entry` (which need not exist: an unsaved editor buffer
    /// has a path but no file).
    pub fn of_entry(entry: &Path) -> std::io::Result<Project> {
        let dir = match entry.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Project::of_dir(dir)
    }

    /// The project whose imports are relative to `dir`.
    pub fn of_dir(dir: &Path) -> std::io::Result<Project> {
        let base = dir.canonicalize()?;
        let root = base
            .ancestors()
            .find(|d| ROOT_MARKERS.iter().any(|m| d.join(m).exists()))
            .unwrap_or(&base)
            .to_path_buf();
        Ok(Project { root, base })
    }

    /// Where the file `path` (relative to the entry's directory, as the compiler asks for it)
    /// is, symlinks resolved, if the project may read it. A missing file inside the root is
    /// `Unreadable` with the operating system's reason.
    pub fn locate(&self, path: &str) -> Result<PathBuf, LoadError> {
        let lexical = self.lexical(path)?;
        let resolved = lexical
            .canonicalize()
            .map_err(|e| LoadError::Unreadable(reason(&e)))?;
        if !resolved.starts_with(&self.root) {
            return Err(self.outside());
        }
        if !is_pipe_name(&resolved) {
            return Err(LoadError::NotPipeFile);
        }
        Ok(resolved)
    }

    /// `path` joined to the entry's directory with `..` resolved lexically, so a path that
    /// leaves the root is refused before anything outside is even looked at; symlinks are not
    /// resolved yet. For an editor's unsaved buffers, which have a path but no file.
    pub fn lexical(&self, path: &str) -> Result<PathBuf, LoadError> {
        let lexical = lexically_normal(&self.base.join(path));
        if !lexical.starts_with(&self.root) {
            return Err(self.outside());
        }
        if !is_pipe_name(&lexical) {
            return Err(LoadError::NotPipeFile);
        }
        Ok(lexical)
    }

    fn outside(&self) -> LoadError {
        let depth = |p: &Path| p.components().count();
        LoadError::OutsideProject {
            levels_up: depth(&self.base).saturating_sub(depth(&self.root)),
        }
    }
}

impl FileLoader for Project {
    fn load(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        read_source(&self.locate(path)?)
    }
}

/// Reads a source file: a regular file only (opened non-blocking, so a FIFO is refused rather
/// than waited on), and at most one byte more than [`MAX_SOURCE_BYTES`], so the compiler can
/// tell an over-long file without this reading all of it.
pub fn read_source(path: &Path) -> Result<Vec<u8>, LoadError> {
    let file = open_nonblocking(path).map_err(|e| LoadError::Unreadable(reason(&e)))?;
    let metadata = file
        .metadata()
        .map_err(|e| LoadError::Unreadable(reason(&e)))?;
    if !metadata.is_file() {
        return Err(LoadError::NotRegularFile);
    }
    read_bounded(file).map_err(|e| LoadError::Unreadable(reason(&e)))
}

/// Reads standard input (for `pipec fmt` without files), at most one byte more than
/// [`MAX_SOURCE_BYTES`].
pub fn read_stdin() -> std::io::Result<Vec<u8>> {
    read_bounded(std::io::stdin().lock())
}

/// The text of a source read with [`read_source`] or [`read_stdin`], for readers outside the
/// compiler (`fmt`, the run reporter): over [`MAX_SOURCE_BYTES`] or not UTF-8 is refused with
/// the reason, naming the code the compiler would report (E0011, E0008).
pub fn source_text(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "larger than {} MiB (E0011)",
            MAX_SOURCE_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text (E0008)".to_string())
}

/// How the reasons of a refused read are worded in diagnostics and errors.
pub fn describe(error: &LoadError) -> String {
    match error {
        LoadError::OutsideProject { .. } => "outside the project".to_string(),
        LoadError::NotPipeFile => "not a `.pipe` file".to_string(),
        LoadError::NotRegularFile => "not a regular file".to_string(),
        LoadError::Unreadable(reason) => reason.clone(),
    }
}

fn read_bounded(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_SOURCE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

fn is_pipe_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "pipe")
}

/// `a/b/../c` → `a/c`, without touching the disk (`..` above `/` stays at `/`). The same rule
/// as `pipec_core::modules::normalize`, on an OS path (which need not be UTF-8) rather than text.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `No such file or directory (os error 2)` → `No such file or directory`.
fn reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
