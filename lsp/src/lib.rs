//! `pipec lsp`: the language server. It runs the compiler itself (`pipec-core`), so the
//! editor shows exactly what `pipec check` reports, and answers hover, definition, references,
//! symbols, completion, rename, code actions and formatting from the same compilation.
//!
//! Threads: the main loop reads messages and answers requests; a checker thread compiles the
//! open documents after each change and publishes diagnostics, coalescing bursts of edits so
//! typing never queues up checks. Requests queued behind a `$/cancelRequest` are answered with
//! `RequestCanceled` without being computed.

mod features;
mod position;
mod semantic;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, DiagnosticRelatedInformation,
    DiagnosticSeverity, HoverProviderCapability, Location, NumberOrString, OneOf,
    PublishDiagnosticsParams, RenameOptions, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind, Url,
};
use pipec_core::source::Origin;
use pipec_core::{Compilation, FileLoader, LoadError, Mode, Severity};
use pipec_files::Project;
use pipec_syntax::{FileId, Span};

pub use position::LineIndex;

/// Runs the server on standard input and output until the client says `exit`.
pub fn run_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    connection
        .initialize(capabilities)
        .map_err(|e| format!("initialize: {e}"))?;
    let result = main_loop(&connection);
    drop(connection);
    io_threads.join().map_err(|e| format!("stdio: {e}"))?;
    result
}

/// The server over an in-memory connection: `messages` (JSON-RPC messages as JSON) are sent
/// as a client sends them, then `shutdown` and `exit`, and everything the server sent is
/// returned in order. The whole message handling runs, the checker thread included, so the
/// fuzz target (`fuzz/fuzz_targets/lsp.rs`) and the tests hold it to its promises without a
/// process. A value that is no JSON-RPC message is an `Err`, as is a server error.
pub fn serve_in_memory(messages: Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>, String> {
    let messages: Vec<Message> = messages
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a JSON-RPC message: {e}"))?;
    let (server, client) = Connection::memory();
    let running = std::thread::Builder::new()
        .spawn(move || main_loop(&server))
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let Connection { sender, receiver } = client;
    let shutdown = Request::new(
        RequestId::from("pipec-shutdown".to_string()),
        "shutdown".to_string(),
        (),
    );
    let exit = Notification::new("exit".to_string(), ());
    for message in messages
        .into_iter()
        .chain([Message::Request(shutdown), Message::Notification(exit)])
    {
        // A server that stopped early (an `exit` among the messages) takes no more.
        if sender.send(message).is_err() {
            break;
        }
    }
    drop(sender);
    let result = running
        .join()
        .map_err(|_| "the server panicked".to_string())?;
    let sent = receiver
        .try_iter()
        .map(|m| serde_json::to_value(m).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    result.map(|()| sent)
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(false),
            work_done_progress_options: Default::default(),
        })),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(
            lsp_types::SemanticTokensServerCapabilities::SemanticTokensOptions(
                lsp_types::SemanticTokensOptions {
                    legend: semantic::legend(),
                    full: Some(lsp_types::SemanticTokensFullOptions::Bool(true)),
                    range: None,
                    work_done_progress_options: Default::default(),
                },
            ),
        ),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_string()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    }
}

/// An open document.
#[derive(Clone, Debug)]
struct Document {
    version: i32,
    text: Arc<String>,
}

/// One document compiled as an entry file, with what the features need to answer.
pub struct Analysis {
    pub url: Url,
    pub text: Arc<String>,
    pub lines: LineIndex,
    pub compilation: Compilation,
    /// The directory imports are relative to, when the document is a file.
    pub dir: Option<PathBuf>,
    /// The line index of every file of the compilation, by `FileId`.
    file_lines: Vec<LineIndex>,
}

impl Analysis {
    /// The URL of a file of the compilation: the document itself, an imported file beside it,
    /// or a standard library module written out to a cache directory.
    pub fn url_of(&self, file: FileId) -> Option<Url> {
        if file == FileId(0) {
            return Some(self.url.clone());
        }
        let source = self.compilation.sources.get(file)?;
        match &source.origin {
            Origin::User => Url::from_file_path(self.dir.as_ref()?.join(&source.name)).ok(),
            Origin::Std(module) => stdlib_url(module, &source.text),
        }
    }

    /// The LSP range of a span, in its own file's text.
    pub fn range_of(&self, span: Span) -> Option<lsp_types::Range> {
        let source = self.compilation.sources.get(span.file)?;
        let lines = self.file_lines.get(span.file.0 as usize)?;
        Some(lines.range(&source.text, span.start as usize, span.end as usize))
    }

    /// The user files the compilation read: the document and the files it imports.
    fn user_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.url.to_file_path().ok().into_iter().collect();
        if let Some(dir) = &self.dir {
            for f in self.compilation.sources.files().iter().skip(1) {
                if matches!(f.origin, Origin::User) {
                    out.push(dir.join(&f.name));
                }
            }
        }
        out
    }

    pub fn location_of(&self, span: Span) -> Option<Location> {
        Some(Location::new(self.url_of(span.file)?, self.range_of(span)?))
    }
}

/// Standard library modules have no file on disk; definitions in them open from a copy in
/// the temporary directory, one per pipec version.
fn stdlib_url(module: &str, text: &str) -> Option<Url> {
    let dir = std::env::temp_dir().join(format!("pipec-stdlib-{}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(format!("{module}.pipe"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(&path, text).ok()?;
    }
    Url::from_file_path(path).ok()
}

/// Imports come from open documents first, then from disk, confined to the project as the
/// CLI confines them (`pipec-files`).
struct OverlayLoader<'a> {
    /// The entry document's directory as the client names it.
    dir: Option<PathBuf>,
    /// Its project, found at the first import: most keystrokes are in documents without any,
    /// and finding the root touches the disk.
    project: std::cell::OnceCell<Option<Project>>,
    open: &'a BTreeMap<PathBuf, Arc<String>>,
}

impl FileLoader for OverlayLoader<'_> {
    fn load(&self, path: &str) -> Result<Vec<u8>, LoadError> {
        let project = self
            .project
            .get_or_init(|| Project::of_dir(self.dir.as_ref()?).ok());
        let (Some(dir), Some(project)) = (&self.dir, project) else {
            return Err(LoadError::Unreadable(
                "an unsaved document cannot import files".to_string(),
            ));
        };
        // An open document may not be on disk yet: its path must still lie in the project.
        project.lexical(path)?;
        if let Some(text) = self.open.get(&dir.join(path)) {
            return Ok(text.as_bytes().to_vec());
        }
        project.load(path)
    }
}

/// Compiles a document as an entry file.
fn analyze(url: &Url, text: Arc<String>, open: &BTreeMap<PathBuf, Arc<String>>) -> Analysis {
    let path = url.to_file_path().ok();
    let name = path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            url.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_string))
        })
        .unwrap_or_else(|| "untitled.pipe".to_string());
    let dir = path.as_ref().and_then(|p| p.parent().map(PathBuf::from));
    let loader = OverlayLoader {
        dir: dir.clone(),
        project: std::cell::OnceCell::new(),
        open,
    };
    let compilation = pipec_core::compile(&name, text.as_bytes(), &loader, Mode::Check);
    let file_lines = compilation
        .sources
        .files()
        .iter()
        .map(|f| LineIndex::new(&f.text))
        .collect();
    Analysis {
        url: url.clone(),
        lines: LineIndex::new(&text),
        text,
        compilation,
        dir,
        file_lines,
    }
}

/// The diagnostics of a compilation, per file URL, as the protocol wants them.
fn diagnostics(analysis: &Analysis) -> BTreeMap<Url, Vec<lsp_types::Diagnostic>> {
    let mut out: BTreeMap<Url, Vec<lsp_types::Diagnostic>> = BTreeMap::new();
    out.insert(analysis.url.clone(), Vec::new());
    for d in &analysis.compilation.diagnostics {
        let file = d.primary.span.file;
        let user = matches!(
            analysis.compilation.sources.get(file).map(|f| &f.origin),
            Some(Origin::User)
        );
        let (Some(url), Some(range), true) = (
            analysis.url_of(file),
            analysis.range_of(d.primary.span),
            user,
        ) else {
            continue;
        };
        let mut message = d.message.clone();
        if !d.primary.message.is_empty() && d.primary.message != d.message {
            message.push_str(&format!("\n{}", d.primary.message));
        }
        message.push_str(&format!("\nhelp: {}", d.help));
        for note in &d.notes {
            message.push_str(&format!("\nnote: {note}"));
        }
        let related: Vec<DiagnosticRelatedInformation> = d
            .secondary
            .iter()
            .filter_map(|l| {
                Some(DiagnosticRelatedInformation {
                    location: analysis.location_of(l.span)?,
                    message: l.message.clone(),
                })
            })
            .collect();
        // An error in an imported file also shows in the importer, on its `use` line.
        if file != FileId(0)
            && let Some(name) = analysis
                .compilation
                .sources
                .get(file)
                .map(|f| f.name.clone())
            && let Some(use_range) = use_line(analysis, &name)
        {
            let location = Location::new(url.clone(), range);
            out.entry(analysis.url.clone())
                .or_default()
                .push(lsp_types::Diagnostic {
                    range: use_range,
                    severity: Some(severity(d.severity())),
                    code: Some(NumberOrString::String(d.code.as_str().to_string())),
                    source: Some("pipec".to_string()),
                    message: format!("in {name}: {}", d.message),
                    related_information: Some(vec![DiagnosticRelatedInformation {
                        location,
                        message: d.primary.message.clone(),
                    }]),
                    ..lsp_types::Diagnostic::default()
                });
        }
        out.entry(url).or_default().push(lsp_types::Diagnostic {
            range,
            severity: Some(severity(d.severity())),
            code: Some(NumberOrString::String(d.code.as_str().to_string())),
            source: Some("pipec".to_string()),
            message,
            related_information: (!related.is_empty()).then_some(related),
            ..lsp_types::Diagnostic::default()
        });
    }
    out
}

fn severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
    }
}

/// The range of the entry file's `use` line that imports the file called `name` (its path
/// relative to the entry file).
fn use_line(analysis: &Analysis, name: &str) -> Option<lsp_types::Range> {
    let text = analysis.text.as_str();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with("use")
            && trimmed
                .trim_start_matches("use")
                .trim()
                .trim_matches('"')
                .trim_start_matches("./")
                == name
        {
            let start = offset + (line.len() - line.trim_start().len());
            return Some(analysis.lines.range(text, start, start + trimmed.len()));
        }
        offset += line.len();
    }
    None
}

/// What the checker does for one document after an edit, without the protocol around it:
/// compile it and convert its diagnostics. Public for the benchmark of edit latency.
pub fn check_document(url: &Url, text: &str) -> BTreeMap<Url, Vec<lsp_types::Diagnostic>> {
    diagnostics(&analyze(url, Arc::new(text.to_string()), &BTreeMap::new()))
}

/// The checker's memory of one document's last compilation.
struct Checked {
    version: i32,
    /// The user files it read (the document itself and its imports).
    reads: Vec<PathBuf>,
    diagnostics: BTreeMap<Url, Vec<lsp_types::Diagnostic>>,
}

/// What the checker is asked to do: check these documents as they are now.
struct CheckJob {
    documents: Vec<(Url, Document)>,
}

/// State shared by the main loop and the checker.
#[derive(Default)]
struct Shared {
    /// The last analysis of each open document, by URL, with the version it was made from.
    analyses: BTreeMap<Url, (i32, Arc<Analysis>)>,
}

fn open_files(documents: &[(Url, Document)]) -> BTreeMap<PathBuf, Arc<String>> {
    documents
        .iter()
        .filter_map(|(url, doc)| Some((url.to_file_path().ok()?, doc.text.clone())))
        .collect()
}

/// The checker thread: compiles every open document, publishes each file's diagnostics, and
/// clears the files whose errors are gone.
fn checker(jobs: Receiver<CheckJob>, sender: Sender<Message>, shared: Arc<Mutex<Shared>>) {
    // How many diagnostics each URL showed last time.
    let mut shown: BTreeMap<Url, usize> = BTreeMap::new();
    // Each open document's last check: its version, the files it read, its diagnostics.
    let mut checked: BTreeMap<Url, Checked> = BTreeMap::new();
    while let Ok(mut job) = jobs.recv() {
        // Only the newest state matters.
        while let Ok(newer) = jobs.try_recv() {
            job = newer;
        }
        let open = open_files(&job.documents);
        // Files that changed, opened or closed since the last check: a document is compiled
        // again only if it is one of them or imports one; a keystroke in one file does not
        // recompile every open file.
        let mut changed: HashSet<PathBuf> = checked
            .keys()
            .filter(|u| !job.documents.iter().any(|(d, _)| d == *u))
            .filter_map(|u| u.to_file_path().ok())
            .collect();
        for (url, doc) in &job.documents {
            if checked.get(url).is_none_or(|c| c.version != doc.version) {
                changed.extend(url.to_file_path().ok());
            }
        }
        checked.retain(|u, _| job.documents.iter().any(|(d, _)| d == u));
        let mut per_url: BTreeMap<Url, Vec<lsp_types::Diagnostic>> = BTreeMap::new();
        // An imported file's errors show wherever it is imported from, once.
        let mut seen: HashSet<(Url, String)> = HashSet::new();
        for (url, doc) in &job.documents {
            let current = checked.get(url).is_some_and(|c| {
                c.version == doc.version && !c.reads.iter().any(|p| changed.contains(p))
            });
            if !current {
                let analysis = Arc::new(analyze(url, doc.text.clone(), &open));
                if let Ok(mut s) = shared.lock() {
                    s.analyses
                        .insert(url.clone(), (doc.version, analysis.clone()));
                }
                checked.insert(
                    url.clone(),
                    Checked {
                        version: doc.version,
                        reads: analysis.user_files(),
                        diagnostics: diagnostics(&analysis),
                    },
                );
            }
            let Some(check) = checked.get(url) else {
                continue;
            };
            for (target, diags) in &check.diagnostics {
                let list = per_url.entry(target.clone()).or_default();
                for d in diags {
                    let key = serde_json::to_string(d).unwrap_or_default();
                    if seen.insert((target.clone(), key)) {
                        list.push(d.clone());
                    }
                }
            }
        }
        for url in shown.keys() {
            per_url.entry(url.clone()).or_default();
        }
        for (url, diags) in per_url {
            let before = shown.get(&url).copied();
            let is_open = job.documents.iter().any(|(u, _)| *u == url);
            if diags.is_empty() && before.unwrap_or(0) == 0 && !(is_open && before.is_none()) {
                continue;
            }
            shown.insert(url.clone(), diags.len());
            let version = job
                .documents
                .iter()
                .find(|(u, _)| *u == url)
                .map(|(_, d)| d.version);
            let params = PublishDiagnosticsParams {
                uri: url,
                diagnostics: diags,
                version,
            };
            let note = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
            if sender.send(Message::Notification(note)).is_err() {
                return;
            }
        }
    }
}

struct Server {
    documents: BTreeMap<Url, Document>,
    shared: Arc<Mutex<Shared>>,
    jobs: Sender<CheckJob>,
}

impl Server {
    fn schedule_check(&self) {
        let documents = self
            .documents
            .iter()
            .map(|(u, d)| (u.clone(), d.clone()))
            .collect();
        let _ = self.jobs.send(CheckJob { documents });
    }

    /// The analysis of a document at its current version: the checker's, or made now.
    fn analysis(&self, url: &Url) -> Option<Arc<Analysis>> {
        let doc = self.documents.get(url)?;
        if let Ok(s) = self.shared.lock()
            && let Some((version, analysis)) = s.analyses.get(url)
            && *version == doc.version
        {
            return Some(analysis.clone());
        }
        let documents: Vec<(Url, Document)> = self
            .documents
            .iter()
            .map(|(u, d)| (u.clone(), d.clone()))
            .collect();
        let analysis = Arc::new(analyze(url, doc.text.clone(), &open_files(&documents)));
        if let Ok(mut s) = self.shared.lock() {
            s.analyses
                .insert(url.clone(), (doc.version, analysis.clone()));
        }
        Some(analysis)
    }

    fn notification(&mut self, note: Notification) {
        match note.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(note.params)
                {
                    self.documents.insert(
                        p.text_document.uri,
                        Document {
                            version: p.text_document.version,
                            text: Arc::new(p.text_document.text),
                        },
                    );
                    self.schedule_check();
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(note.params)
                {
                    let mut text = self
                        .documents
                        .get(&p.text_document.uri)
                        .map(|d| d.text.as_str().to_string())
                        .unwrap_or_default();
                    for change in p.content_changes {
                        apply_change(&mut text, change);
                    }
                    self.documents.insert(
                        p.text_document.uri,
                        Document {
                            version: p.text_document.version,
                            text: Arc::new(text),
                        },
                    );
                    self.schedule_check();
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(note.params)
                {
                    self.documents.remove(&p.text_document.uri);
                    if let Ok(mut s) = self.shared.lock() {
                        s.analyses.remove(&p.text_document.uri);
                    }
                    self.schedule_check();
                }
            }
            _ => {}
        }
    }
}

/// Applies one change of `didChange`, in order: a range replaced, or the whole text.
fn apply_change(text: &mut String, change: lsp_types::TextDocumentContentChangeEvent) {
    match change.range {
        Some(range) => {
            let lines = LineIndex::new(text);
            let start = lines.offset(text, range.start);
            let end = lines.offset(text, range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
        None => *text = change.text,
    }
}

fn main_loop(connection: &Connection) -> Result<(), String> {
    let (jobs_tx, jobs_rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let checker_thread = {
        let sender = connection.sender.clone();
        let shared = shared.clone();
        std::thread::Builder::new()
            .stack_size(pipec_core::COMPILER_STACK)
            .spawn(move || checker(jobs_rx, sender, shared))
            .map_err(|e| format!("cannot start the checker: {e}"))?
    };
    let mut server = Server {
        documents: BTreeMap::new(),
        shared,
        jobs: jobs_tx,
    };
    let mut queue: VecDeque<Message> = VecDeque::new();
    let mut cancelled: HashSet<RequestId> = HashSet::new();
    // `shutdown` was answered: only `exit` is expected now. (lsp-server's `handle_shutdown`
    // would wait on the connection for `exit`, which this loop may already have queued.)
    let mut shut_down = false;
    loop {
        if queue.is_empty() {
            match connection.receiver.recv() {
                Ok(m) => queue.push_back(m),
                Err(_) => break,
            }
        }
        // Take in everything already waiting, so cancellations are seen before the work.
        while let Ok(m) = connection.receiver.try_recv() {
            queue.push_back(m);
        }
        for m in &queue {
            if let Message::Notification(n) = m
                && n.method == "$/cancelRequest"
                && let Ok(p) = serde_json::from_value::<lsp_types::CancelParams>(n.params.clone())
            {
                cancelled.insert(match p.id {
                    NumberOrString::Number(n) => RequestId::from(n),
                    NumberOrString::String(s) => RequestId::from(s),
                });
            }
        }
        // Cancellations of requests already answered are never matched; do not keep them.
        if cancelled.len() > 1024 {
            cancelled.clear();
        }
        let Some(message) = queue.pop_front() else {
            continue;
        };
        match message {
            Message::Request(request) => {
                let response = if shut_down {
                    // The protocol: after `shutdown`, every request is an error.
                    Response::new_err(
                        request.id,
                        ErrorCode::InvalidRequest as i32,
                        "the server is shutting down".to_string(),
                    )
                } else if request.method == "shutdown" {
                    shut_down = true;
                    Response::new_ok(request.id, ())
                } else if cancelled.remove(&request.id) {
                    Response::new_err(
                        request.id,
                        ErrorCode::RequestCanceled as i32,
                        "canceled".to_string(),
                    )
                } else {
                    answer(&server, request)
                };
                connection
                    .sender
                    .send(Message::Response(response))
                    .map_err(|e| e.to_string())?;
            }
            Message::Notification(note) if note.method == "exit" => {
                drop(server);
                let _ = checker_thread.join();
                // The protocol: exit code 1 when `exit` came without `shutdown` first.
                return if shut_down {
                    Ok(())
                } else {
                    Err("the client sent `exit` before `shutdown`".to_string())
                };
            }
            Message::Notification(note) => server.notification(note),
            Message::Response(_) => {}
        }
    }
    drop(server);
    let _ = checker_thread.join();
    Ok(())
}

/// Answers one request; a request the server does not know, or with parameters it cannot
/// read, gets an error response, never a crash. A bug that panics while answering costs that
/// one answer (an `InternalError`), not the server and every open document with it; the panic
/// is still printed (and aborts a fuzz run, whose hook sees it first).
fn answer(server: &Server, request: Request) -> Response {
    let id = request.id.clone();
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        features::answer(server, request)
    }));
    match answered {
        Ok(Ok(value)) => Response::new_ok(id, value),
        Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
        Err(_) => Response::new_err(
            id,
            ErrorCode::InternalError as i32,
            "pipec failed to answer this request: a bug, please report it with the file"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
    use serde_json::{Value, json};

    fn open(text: &str) -> Value {
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument":
            {"uri": "untitled:a.pipe", "languageId": "pipe", "version": 1, "text": text}}})
    }

    fn response<'a>(sent: &'a [Value], id: &Value) -> &'a Value {
        sent.iter()
            .find(|m| m.get("method").is_none() && m["id"] == *id)
            .unwrap_or_else(|| panic!("no response to {id}: {sent:?}"))
    }

    /// A client may send `shutdown` and `exit` without waiting in between; the server used
    /// to wait for `exit` on the connection after this loop had already queued it.
    #[test]
    fn pipelined_shutdown_and_exit_end_the_server() {
        let hover = json!({"jsonrpc": "2.0", "id": 1, "method": "textDocument/hover", "params":
            {"textDocument": {"uri": "untitled:a.pipe"}, "position": {"line": 0, "character": 1}}});
        let sent = serve_in_memory(vec![open("pipeline p {}\n"), hover]).unwrap();
        assert!(
            response(&sent, &json!(1)).get("error").is_none(),
            "{sent:?}"
        );
        assert_eq!(
            response(&sent, &json!("pipec-shutdown"))["result"],
            Value::Null
        );
        assert!(
            sent.iter()
                .any(|m| m["method"] == "textDocument/publishDiagnostics"),
            "{sent:?}"
        );
    }

    #[test]
    fn requests_after_shutdown_are_refused() {
        let shutdown = json!({"jsonrpc": "2.0", "id": 7, "method": "shutdown"});
        let symbols = json!({"jsonrpc": "2.0", "id": 8, "method": "textDocument/documentSymbol",
            "params": {"textDocument": {"uri": "untitled:a.pipe"}}});
        let sent = serve_in_memory(vec![open("pipeline p {}\n"), shutdown, symbols]).unwrap();
        assert_eq!(response(&sent, &json!(7))["result"], Value::Null);
        for id in [json!(8), json!("pipec-shutdown")] {
            assert_eq!(
                response(&sent, &id)["error"]["code"],
                ErrorCode::InvalidRequest as i32,
                "{sent:?}"
            );
        }
    }

    #[test]
    fn exit_before_shutdown_is_an_error() {
        let exit = json!({"jsonrpc": "2.0", "method": "exit"});
        let ended = serve_in_memory(vec![open("pipeline p {}\n"), exit]);
        assert_eq!(
            ended.unwrap_err(),
            "the client sent `exit` before `shutdown`"
        );
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = "pipeline p {\n  // é𝄞 x\n}\n".to_string();
        let change = |range: Option<Range>, text: &str| TextDocumentContentChangeEvent {
            range,
            range_length: None,
            text: text.to_string(),
        };
        // Replace `x` (after 3 + 1 + 2 + 1 UTF-16 units on line 1) with `yz`, then insert.
        apply_change(
            &mut text,
            change(
                Some(Range::new(Position::new(1, 9), Position::new(1, 10))),
                "yz",
            ),
        );
        apply_change(
            &mut text,
            change(
                Some(Range::new(Position::new(0, 11), Position::new(0, 11))),
                "!",
            ),
        );
        assert_eq!(text, "pipeline p !{\n  // é𝄞 yz\n}\n");
        apply_change(&mut text, change(None, "all new"));
        assert_eq!(text, "all new");
    }
}
