//! Loading the module graph: the entry file, the files it imports with `use "./x.pipe"`, and
//! the standard library modules it imports with `use std.x`. The compiler does no I/O of its
//! own; files come through the [`FileLoader`] the caller hands in.

use std::collections::BTreeMap;

use pipec_syntax::ast::{self, Item, UseTarget};
use pipec_syntax::{FileId, Span, SyntaxError};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::source::{Origin, SourceDb};
use crate::stdlib;
use crate::syntax_diagnostics;

/// The most bytes of one source file pipec compiles (16 MiB, far above any real pipeline):
/// a larger file is E0011, so a huge or endless input costs bounded memory. Loaders read at
/// most one byte more than this, so the check sees that a file is larger without reading it all.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024 * 1024;

/// Reads imported files. `path` is normalised and relative to the entry file's directory
/// (`lib/common.pipe`); the CLI and the language server read it from disk through
/// `pipec-files`, which confines imports to the project; tests read from memory.
pub trait FileLoader {
    fn load(&self, path: &str) -> Result<Vec<u8>, LoadError>;
}

/// Why an import was not loaded. The loader only classifies; the wording of the diagnostic is
/// here, in [`Loader::load_import`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The path, symlinks resolved, leaves the project root (E0111), which lies `levels_up`
    /// directories above the entry file's (0: the entry file's own directory). A count, not a
    /// path, so diagnostics name no machine path.
    OutsideProject { levels_up: usize },
    /// The file's name, or the name its symlink resolves to, does not end in `.pipe`.
    NotPipeFile,
    /// A directory, device, FIFO or socket: never opened for reading, which could block.
    NotRegularFile,
    /// Any other reason, in the operating system's words (`No such file or directory`).
    Unreadable(String),
}

/// A loader for programs without local imports: every `use "./…"` fails.
#[derive(Debug, Default)]
pub struct NoImports;

impl FileLoader for NoImports {
    fn load(&self, _path: &str) -> Result<Vec<u8>, LoadError> {
        Err(LoadError::Unreadable(
            "imports are not available here".to_string(),
        ))
    }
}

/// One parsed file of the compilation.
#[derive(Debug)]
pub struct LoadedModule {
    pub file: FileId,
    pub ast: ast::Module,
    /// Resolved `use` targets, in source order; `None` where the import failed (reported).
    pub imports: Vec<(ast::Use, Option<usize>)>,
}

/// All files of a compilation; index 0 is the entry file.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    pub modules: Vec<LoadedModule>,
}

struct Loader<'a> {
    sources: &'a mut SourceDb,
    diagnostics: &'a mut Diagnostics,
    file_loader: &'a dyn FileLoader,
    graph: ModuleGraph,
    /// Module key (`file:lib/x.pipe` or `std:analysis`) → index in the graph.
    by_key: BTreeMap<String, usize>,
    /// Keys on the current import path, for cycle detection.
    stack: Vec<String>,
}

/// Loads the entry file and, transitively, everything it imports.
pub fn load(
    entry_name: &str,
    entry_bytes: &[u8],
    file_loader: &dyn FileLoader,
    sources: &mut SourceDb,
    diagnostics: &mut Diagnostics,
) -> ModuleGraph {
    let mut loader = Loader {
        sources,
        diagnostics,
        file_loader,
        graph: ModuleGraph::default(),
        by_key: BTreeMap::new(),
        stack: Vec::new(),
    };
    let key = format!("file:{}", normalize(entry_name));
    loader.load_text(key, entry_name.to_string(), entry_bytes, Origin::User);
    loader.graph
}

impl Loader<'_> {
    /// Parses one file and its imports; returns its index in the graph.
    fn load_text(&mut self, key: String, name: String, bytes: &[u8], origin: Origin) -> usize {
        if bytes.len() > MAX_SOURCE_BYTES {
            let file = self.sources.add(name, String::new(), origin);
            let index = self.graph.modules.len();
            self.by_key.insert(key, index);
            self.diagnostics.push(
                Diagnostic::new(
                    Code::E0011,
                    Span::new(file, 0..0),
                    format!(
                        "this file is larger than {} MiB",
                        MAX_SOURCE_BYTES / (1024 * 1024)
                    ),
                )
                .label("not read further")
                .help("pass a `.pipe` source file; split a pipeline this large into several files"),
            );
            self.graph.modules.push(empty_module(file));
            return index;
        }
        let (text, utf8_error) = match std::str::from_utf8(bytes) {
            Ok(t) => (t.to_string(), None),
            Err(e) => (
                String::from_utf8_lossy(bytes).into_owned(),
                Some(e.valid_up_to()),
            ),
        };
        let file = self.sources.add(name, text, origin);
        let index = self.graph.modules.len();
        self.by_key.insert(key.clone(), index);
        if let Some(offset) = utf8_error {
            // The text holds U+FFFD where the bad byte was; point at the whole replacement.
            let span = Span::new(
                file,
                offset..offset + char::REPLACEMENT_CHARACTER.len_utf8(),
            );
            self.diagnostics.push(
                Diagnostic::new(Code::E0008, span, "this file is not UTF-8 text")
                    .label("this byte is not valid UTF-8")
                    .help("pass a `.pipe` source file; if this is one, save it as UTF-8"),
            );
            self.graph.modules.push(empty_module(file));
            return index;
        }
        let text = self
            .sources
            .get(file)
            .map(|f| f.text.clone())
            .unwrap_or_default();
        let parsed = pipec_syntax::parse(&text, file);
        report_syntax_errors(&parsed.errors, self.diagnostics);
        let uses: Vec<ast::Use> = parsed
            .module
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(u) => Some(u.clone()),
                _ => None,
            })
            .collect();
        self.graph.modules.push(LoadedModule {
            file,
            ast: parsed.module,
            imports: Vec::new(),
        });
        self.stack.push(key);
        let mut imports = Vec::new();
        for u in uses {
            let target = self.load_import(&u, file);
            imports.push((u, target));
        }
        self.stack.pop();
        if let Some(module) = self.graph.modules.get_mut(index) {
            module.imports = imports;
        }
        index
    }

    fn load_import(&mut self, u: &ast::Use, from: FileId) -> Option<usize> {
        match &u.target {
            UseTarget::Std { path, .. } => {
                let module = path.first()?;
                let Some(text) = stdlib::module(&module.name) else {
                    let suggestion =
                        did_you_mean(&module.name, stdlib::MODULES.iter().map(|(n, _)| *n));
                    let names: Vec<String> = stdlib::MODULES
                        .iter()
                        .map(|(n, _)| format!("std.{n}"))
                        .collect();
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E0105,
                            module.span,
                            format!("the standard library has no module `{}`", module.name),
                        )
                        .label("unknown module")
                        .help(match suggestion {
                            Some(s) => format!("did you mean `std.{s}`?"),
                            None => format!("the modules are: {}", names.join(", ")),
                        }),
                    );
                    return None;
                };
                let key = format!("std:{}", module.name);
                if let Some(&index) = self.by_key.get(&key) {
                    return Some(index);
                }
                Some(self.load_text(
                    key,
                    format!("<std>/{}.pipe", module.name),
                    text.as_bytes(),
                    Origin::Std(module.name.clone()),
                ))
            }
            UseTarget::File(lit) => {
                let Some(raw) = lit.as_plain() else {
                    self.diagnostics.push(
                        Diagnostic::new(Code::E0107, lit.span, "an import path cannot use `${…}`")
                            .label("interpolation in an import path")
                            .help("write the path literally, relative to this file"),
                    );
                    return None;
                };
                let importer = self
                    .sources
                    .get(from)
                    .map(|f| (f.name.clone(), f.origin.clone()));
                let Some((importer_name, Origin::User)) = importer else {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E0107,
                            lit.span,
                            "standard library modules cannot import files",
                        )
                        .label("file import in a std module")
                        .help("standard library modules only import other `std` modules"),
                    );
                    return None;
                };
                let path = join(&importer_name, &raw);
                let key = format!("file:{path}");
                if self.stack.contains(&key) {
                    let cycle: Vec<String> = self
                        .stack
                        .iter()
                        .skip_while(|k| **k != key)
                        .chain(std::iter::once(&key))
                        .map(|k| k.trim_start_matches("file:").to_string())
                        .collect();
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::E0108,
                            lit.span,
                            "files import each other in a cycle",
                        )
                        .label("this import closes the cycle")
                        .help("move the shared definitions into a file that both import")
                        .note(format!("cycle: {}", cycle.join(" → "))),
                    );
                    return None;
                }
                if let Some(&index) = self.by_key.get(&key) {
                    return Some(index);
                }
                match self.file_loader.load(&path) {
                    Ok(bytes) => Some(self.load_text(key, path, &bytes, Origin::User)),
                    Err(error) => {
                        self.diagnostics
                            .push(refused_import(&path, lit.span, error));
                        None
                    }
                }
            }
        }
    }
}

/// The module of a file that is not compiled (not UTF-8, too large): it declares nothing.
fn empty_module(file: FileId) -> LoadedModule {
    LoadedModule {
        file,
        ast: ast::Module {
            items: Vec::new(),
            comments: Vec::new(),
            span: Span::new(file, 0..0),
        },
        imports: Vec::new(),
    }
}

/// The diagnostic for an import the loader did not load. It names the path as written
/// (normalised), never anything read from the file.
fn refused_import(path: &str, span: Span, error: LoadError) -> Diagnostic {
    let cannot_read = format!("cannot read `{path}`");
    match error {
        LoadError::OutsideProject { levels_up } => {
            let root = match levels_up {
                0 => "the entry file's own directory".to_string(),
                n => format!(
                    "`{}`, the nearest directory above the entry file with `pipec.toml` or `.git`",
                    vec![".."; n].join("/")
                ),
            };
            Diagnostic::new(
                Code::E0111,
                span,
                format!("`{path}` is outside the project"),
            )
            .label("imports stay inside the project")
            .help(format!(
                "the project root is {root}; move the file into it, or mark a directory above both with an empty `pipec.toml`"
            ))
        }
        LoadError::NotPipeFile => Diagnostic::new(Code::E0107, span, cannot_read)
            .label("not a `.pipe` file")
            .help("only `.pipe` source files can be imported"),
        LoadError::NotRegularFile => Diagnostic::new(Code::E0107, span, cannot_read)
            .label("not a regular file")
            .help("import a `.pipe` source file, not a directory, device or pipe"),
        LoadError::Unreadable(reason) => Diagnostic::new(Code::E0107, span, cannot_read)
            .label(reason)
            .help("import paths are relative to the importing file"),
    }
}

/// Turns syntax errors into coded diagnostics.
fn report_syntax_errors(errors: &[SyntaxError], diagnostics: &mut Diagnostics) {
    for error in errors {
        diagnostics.push(syntax_diagnostics::to_diagnostic(error));
    }
}

/// `dir/of/importer.pipe` + `../x.pipe` → `dir/of/../x.pipe` normalised to `dir/x.pipe`.
fn join(importer: &str, relative: &str) -> String {
    let dir = match importer.rfind('/') {
        Some(i) => &importer[..i],
        None => "",
    };
    if relative.starts_with('/') {
        return normalize(relative);
    }
    if dir.is_empty() {
        normalize(relative)
    } else {
        normalize(&format!("{dir}/{relative}"))
    }
}

/// Removes `.` and resolves `..` segments; keeps leading `..` that go above the entry's directory.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join("a.pipe", "./b.pipe"), "b.pipe");
        assert_eq!(join("lib/a.pipe", "../b.pipe"), "b.pipe");
        assert_eq!(join("lib/a.pipe", "x/./c.pipe"), "lib/x/c.pipe");
        assert_eq!(join("a.pipe", "../up.pipe"), "../up.pipe");
        assert_eq!(
            normalize("./examples/addressbook.pipe"),
            "examples/addressbook.pipe"
        );
    }
}
