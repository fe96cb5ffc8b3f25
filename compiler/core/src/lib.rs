//! The pipec compiler: `.pipe` source → diagnostics and Argo YAML.
//!
//! Phases, one module each, data flowing one way:
//! [`modules`] (load files and imports) → [`resolve`] (names) → [`expand`] (uses of
//! definitions, inside [`typeck`]) → [`typeck`] (types, into
//! [`hir`]) → [`lint`] (warnings) → [`lower`] (into the Argo model) → [`verify`] (the
//! resources against each other) → [`final_names`] (the cluster's naming rules) → [`emit`]
//! (YAML).
//! Diagnostics are collected along the way ([`diagnostic`], codes in [`codes`]) and rendered
//! at the edge ([`render`]).
//!
//! This crate does no I/O: source bytes come in, imported files come through a
//! [`FileLoader`], diagnostics and documents go out. The CLI, the language server and the
//! tests all drive it the same way.

pub mod behaviour;
pub mod codes;
pub mod diagnostic;
pub mod emit;
pub mod expand;
pub mod final_names;
pub mod hir;
pub mod ide;
pub mod k8s_rules;
pub mod lint;
pub mod lower;
pub mod modules;
pub mod names;
pub mod plan;
pub mod render;
pub mod resolve;
pub mod rollout_math;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod stdlib;
pub mod stdlib_docs;
mod syntax_diagnostics;
pub mod typeck;
pub mod verify;

pub use codes::Code;
pub use diagnostic::{Diagnostic, Severity};
pub use emit::Emitted;
pub use final_names::check_across;
pub use modules::{FileLoader, LoadError, MAX_SOURCE_BYTES, NoImports};
pub use source::SourceDb;

use diagnostic::Diagnostics;

/// What the caller wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Check only; a file of shared definitions without a pipeline is fine.
    Check,
    /// Check and produce documents; the file must declare a pipeline.
    Compile,
}

/// Everything one compilation produced.
#[derive(Debug)]
pub struct Compilation {
    pub sources: SourceDb,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// The generated objects in apply order; empty when there is any error or in check mode.
    pub lowered: Vec<lower::Lowered>,
    /// `lowered` as YAML, one entry per document.
    pub documents: Vec<Emitted>,
    /// A failure inside the compiler itself, not in the user's program.
    pub internal_error: Option<String>,
    /// Definitions and uses of names, for the editor.
    pub index: ide::Index,
    /// What each object of `lowered` is to the API server, and where it comes from: what
    /// [`check_across`] compares between files, kept when `lowered` is dropped.
    pub objects: Vec<(final_names::ObjectKey, pipec_syntax::Span)>,
}

impl Compilation {
    /// Drops what only the editor and the compiler's own checks read — the typed documents
    /// (their keys stay in `objects`) and the editor's index — so that the many files of one
    /// `pipec compile DIR` hold their output, not their models, until it is written.
    pub fn drop_model(&mut self) {
        self.lowered = Vec::new();
        self.index = ide::Index::default();
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error) || self.internal_error.is_some()
    }

    /// All documents as one YAML stream.
    pub fn yaml(&self) -> String {
        emit::join(&self.documents)
    }
}

/// The stack size for threads that run [`compile`]. The parser's depth limits
/// (`pipec_syntax::lexer::MAX_NESTING`, `pipec_syntax::ast::MAX_EXPR_DEPTH`) keep every phase
/// within a 2 MiB stack; this is wider so that debug builds, whose frames are several times
/// larger, keep the same margin. Only touched pages are ever allocated.
pub const COMPILER_STACK: usize = 16 << 20;

/// Compiles one entry file. `entry_name` is how diagnostics and source annotations name the
/// file; pass a name independent of the working directory (its file name) for reproducible
/// output.
pub fn compile(entry_name: &str, entry: &[u8], loader: &dyn FileLoader, mode: Mode) -> Compilation {
    let mut sources = SourceDb::default();
    let mut diags = Diagnostics::default();
    let graph = modules::load(entry_name, entry, loader, &mut sources, &mut diags);
    let resolution = resolve::resolve(&graph, &mut diags, mode == Mode::Compile);
    let index = ide::index(&graph, &resolution, &sources);
    let checked = typeck::check(&resolution, &mut diags);
    if let Some(program) = &checked.program {
        lint::lint(program, &resolution, &checked.used, &mut diags);
    }
    secrets::lint(&graph, &sources, &mut diags);
    let mut lowered = Vec::new();
    let mut documents = Vec::new();
    let mut internal_error = None;
    // Checking lowers and verifies too: if `check` passes, the resources fit together.
    if !diags.has_errors()
        && let Some(program) = &checked.program
    {
        lowered = lower::lower(program, &sources);
        verify::verify(&lowered, &mut diags);
        if !diags.has_errors() {
            behaviour::check(program, &lowered, &sources, &mut diags);
        }
        final_names::check(&lowered, &sources, &mut diags);
        if mode == Mode::Compile && !diags.has_errors() {
            match emit::emit(lowered.iter().map(|l| &l.document)) {
                Ok(d) => documents = d,
                Err(e) => internal_error = Some(e),
            }
        }
    }
    let objects = lowered
        .iter()
        .map(|l| (final_names::ObjectKey::of(&l.document), l.origin))
        .collect();
    Compilation {
        sources,
        diagnostics: diags.into_sorted(),
        objects,
        lowered,
        documents,
        internal_error,
        index,
    }
}
