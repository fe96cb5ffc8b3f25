//! What an editor asks of a compilation: where a name is defined and used, what it is, which
//! words fit at the cursor, the outline of a file. Pure queries on byte offsets; the language
//! server (`pipec-lsp`) turns them into the protocol's positions.
//!
//! The [`Index`] is built from the module graph and the resolution while a compilation runs,
//! so the editor sees the same names the compiler checked. Completion reads the tokens before
//! the cursor instead of the AST, so it works in a half-typed file.

use std::collections::BTreeMap;

use pipec_syntax::ast;
use pipec_syntax::lexer::lex;
use pipec_syntax::parser;
use pipec_syntax::token::Token;
use pipec_syntax::{FileId, Span};

use crate::modules::ModuleGraph;
use crate::resolve::{BUILTIN_FUNCTIONS, Resolution};
use crate::schema::{self, Field};
use crate::source::{Origin, SourceDb};

/// A declared name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// `param`, `secret`, `image`, `step`, `service`, `environment`, `analysis`, `pipeline`,
    /// `service definition`, `step definition`, `parameter`.
    pub kind: &'static str,
    pub name_span: Span,
    /// The whole declaration.
    pub span: Span,
    /// The declaration's head as written (up to its body), for hover.
    pub signature: String,
    /// Its `///` comments.
    pub doc: Option<String>,
    /// What it becomes in Argo, in one sentence.
    pub becomes: &'static str,
    /// The declaration containing it (a pipeline's members), by index.
    pub parent: Option<usize>,
}

/// A use of a name: where, and which definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    pub span: Span,
    pub definition: usize,
}

/// Every definition and every resolved use of a compilation.
#[derive(Clone, Debug, Default)]
pub struct Index {
    pub definitions: Vec<Definition>,
    pub uses: Vec<Use>,
    /// Secret names and their declared keys, for completion after `secret.`.
    pub secret_keys: BTreeMap<String, Vec<String>>,
    /// `std` modules imported as a namespace, and their definitions' names.
    pub namespaces: BTreeMap<String, Vec<String>>,
}

impl Index {
    /// The definition named or used at `offset` of `file`.
    pub fn definition_at(&self, file: FileId, offset: u32) -> Option<usize> {
        let inside = |s: &Span| s.file == file && s.start <= offset && offset <= s.end;
        if let Some(u) = self.uses.iter().find(|u| inside(&u.span)) {
            return Some(u.definition);
        }
        self.definitions.iter().position(|d| inside(&d.name_span))
    }

    /// Where definition `index` is used (not its declaration).
    pub fn uses_of(&self, index: usize) -> Vec<Span> {
        self.uses
            .iter()
            .filter(|u| u.definition == index)
            .map(|u| u.span)
            .collect()
    }

    /// Hover text (Markdown) for a definition.
    pub fn describe(&self, index: usize) -> Option<String> {
        let d = self.definitions.get(index)?;
        let mut text = format!("```pipe\n{}\n```\n{} `{}`", d.signature, d.kind, d.name);
        if !d.becomes.is_empty() {
            text.push_str(&format!(": {}", d.becomes));
        }
        if let Some(doc) = &d.doc {
            text.push_str(&format!("\n\n{doc}"));
        }
        Some(text)
    }
}

/// Builds the index of a compilation from its modules and its resolution.
pub(crate) fn index(graph: &ModuleGraph, resolution: &Resolution<'_>, sources: &SourceDb) -> Index {
    let mut builder = Builder {
        sources,
        docs: DocComments::default(),
        out: Index::default(),
        by_span: BTreeMap::new(),
    };
    for module in &graph.modules {
        let text = sources.get(module.file).map_or("", |f| f.text.as_str());
        builder.docs = DocComments::new(&module.ast, text);
        for item in &module.ast.items {
            builder.item(item);
        }
    }
    let Builder {
        mut out, by_span, ..
    } = builder;
    for reference in &resolution.references {
        if let Some(&definition) = by_span.get(&reference.def_span) {
            out.uses.push(Use {
                span: reference.use_span,
                definition,
            });
        }
    }
    for (namespace, names) in &resolution.namespaces {
        out.namespaces
            .insert(namespace.clone(), names.keys().cloned().collect());
    }
    out
}

/// Collects the definitions of one module after another.
struct Builder<'a> {
    sources: &'a SourceDb,
    /// The `///` comments of the module being read.
    docs: DocComments,
    out: Index,
    /// Definitions by the span of their name, to attach the resolver's references.
    by_span: BTreeMap<Span, usize>,
}

impl Builder<'_> {
    fn add(
        &mut self,
        kind: &'static str,
        name: &ast::Ident,
        span: Span,
        parent: Option<usize>,
        becomes: &'static str,
    ) -> usize {
        let i = self.out.definitions.len();
        self.by_span.insert(name.span, i);
        self.out.definitions.push(Definition {
            name: name.name.clone(),
            kind,
            name_span: name.span,
            span,
            signature: signature(self.sources.slice(span)),
            doc: self.docs.before(
                span.start,
                self.sources.get(span.file).map_or("", |f| f.text.as_str()),
            ),
            becomes,
            parent,
        });
        i
    }

    /// The parameters of an analysis or a definition.
    fn params(&mut self, params: &[ast::Param], parent: usize, becomes: &'static str) {
        for p in params {
            self.add("parameter", &p.name, p.span, Some(parent), becomes);
        }
    }

    fn item(&mut self, item: &ast::Item) {
        match item {
            ast::Item::Pipeline(p) => {
                let parent = self.add(
                    "pipeline",
                    &p.name,
                    p.span,
                    None,
                    "one Workflow (or WorkflowTemplate, when triggered) plus the resources of its services",
                );
                for member in &p.members {
                    self.member(member, parent);
                }
            }
            ast::Item::Analysis(a) => {
                let parent = self.add(
                    "analysis",
                    &a.name,
                    a.span,
                    None,
                    "an AnalysisTemplate whose args are its parameters",
                );
                self.params(&a.params, parent, "an argument of the AnalysisTemplate");
            }
            ast::Item::Template(t) => {
                let (kind, becomes) = match t.body {
                    ast::TemplateBody::Service(_) => (
                        "service definition",
                        "each use becomes a service, its arguments in place of the parameters",
                    ),
                    ast::TemplateBody::Step(_) => (
                        "step definition",
                        "each use becomes a step of the Workflow, its arguments in place of the parameters",
                    ),
                };
                let parent = self.add(kind, &t.name, t.span, None, becomes);
                self.params(&t.params, parent, "replaced by the argument of each use");
            }
            ast::Item::Use(_) | ast::Item::Error(_) => {}
        }
    }

    fn member(&mut self, member: &ast::Member, parent: usize) {
        let p = Some(parent);
        match member {
            ast::Member::Param(x) => {
                self.add(
                    "param",
                    &x.name,
                    x.span,
                    p,
                    "a Workflow parameter, set with `pipec run --param NAME=VALUE`",
                );
            }
            ast::Member::Secret(x) => {
                self.out.secret_keys.insert(
                    x.name.name.clone(),
                    x.keys.iter().flatten().map(|k| k.name.clone()).collect(),
                );
                self.add("secret", &x.name, x.span, p, "a Kubernetes Secret read by key (`secretKeyRef`); its values never appear in the YAML");
            }
            ast::Member::Node(n) => self.node(n, parent),
            ast::Member::Service(x) => {
                self.add("service", &x.name, x.span, p, "a Service and a Rollout (a Deployment in an ephemeral environment), deployed by the Workflow");
            }
            ast::Member::Environment(x) => {
                self.add("environment", &x.name, x.span, p, "a namespace the services in it are applied to; an ephemeral one is made and deleted by each run");
            }
            ast::Member::Handler(h) => {
                for action in &h.actions {
                    if let ast::HandlerAction::Node(n) = action {
                        self.node(n, parent);
                    }
                }
            }
            _ => {}
        }
    }

    fn node(&mut self, n: &ast::NodeDecl, parent: usize) {
        let (kind, becomes) = match (&n.keyword, &n.value) {
            (ast::NodeKeyword::Image, ast::NodeValue::Action(a)) if a.verb.name == "build" => (
                "image",
                "a Workflow step that builds and pushes the image with rootless BuildKit",
            ),
            (ast::NodeKeyword::Image, ast::NodeValue::Action(_)) => (
                "image",
                "a Workflow step that copies the image to another registry with crane, without rebuilding",
            ),
            (ast::NodeKeyword::Image, _) => ("image", "an existing image, used as it is"),
            (ast::NodeKeyword::Step, ast::NodeValue::Action(a)) if a.verb.name == "exec" => (
                "step",
                "a Workflow step running a command inside a pod of the service",
            ),
            (ast::NodeKeyword::Step, _) => (
                "step",
                "a Workflow step (a pod) running a command in an image",
            ),
        };
        self.add(kind, &n.name, n.span, Some(parent), becomes);
    }
}

/// The head of a declaration: its first line, without an opening body.
fn signature(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default().trim_end();
    first
        .strip_suffix('{')
        .map_or(first, str::trim_end)
        .to_string()
}

/// The `///` comments of a file, by the line they end before.
#[derive(Default)]
struct DocComments {
    /// (start of the comment run, end of the run, text).
    runs: Vec<(u32, u32, String)>,
}

impl DocComments {
    fn new(module: &ast::Module, text: &str) -> DocComments {
        let mut runs: Vec<(u32, u32, String)> = Vec::new();
        let blank = |from: u32, to: u32| {
            text.get(from as usize..to as usize)
                .is_some_and(|t| t.chars().all(char::is_whitespace))
        };
        for c in module.comments.iter().filter(|c| c.doc) {
            match runs.last_mut() {
                // Consecutive lines, nothing but indentation between: one run.
                Some(last) if c.span.start > last.1 && blank(last.1, c.span.start) => {
                    last.1 = c.span.end;
                    last.2.push('\n');
                    last.2.push_str(c.text.trim());
                }
                _ => runs.push((c.span.start, c.span.end, c.text.trim().to_string())),
            }
        }
        DocComments { runs }
    }

    /// The doc comment run that ends right before `offset` in `text`, only whitespace between:
    /// a parameter on the line after its definition's head does not take the definition's
    /// comment.
    fn before(&self, offset: u32, text: &str) -> Option<String> {
        let run = self.runs.iter().rev().find(|(_, end, _)| *end <= offset)?;
        let between = text.get(run.1 as usize..offset as usize)?;
        between
            .chars()
            .all(char::is_whitespace)
            .then(|| run.2.clone())
    }
}

/// Hover for the word at the cursor when it is not a name: a keyword, or a property.
pub fn hover_word(src: &str, offset: usize, index: &Index) -> Option<String> {
    let (word, start) = word_at(src, offset)?;
    // A field: `git.branch`, `run.id`, `db.password`, `api.url`.
    if let Some(owner) = src[..start]
        .strip_suffix('.')
        .and_then(|before| word_at(before, before.len()))
    {
        let field = |fields: &[(&str, &'static str)]| {
            fields
                .iter()
                .find(|(f, _)| *f == word)
                .map(|(f, d)| format!("`{}.{f}`: {d}", owner.0))
        };
        return match owner.0 {
            "git" => field(schema::GIT_FIELDS),
            "run" => field(schema::RUN_FIELDS),
            name => match index.secret_keys.get(name) {
                Some(keys) if keys.iter().any(|k| k == word) => Some(format!(
                    "key `{word}` of secret `{name}`: passed as a `secretKeyRef`, never copied into the YAML"
                )),
                _ => None,
            },
        };
    }
    if let Some(doc) = keyword_doc(word) {
        return Some(format!("`{word}`: {doc}"));
    }
    // A property name: `word =` inside a block whose fields we know.
    let after = src[start + word.len()..].trim_start();
    if after.starts_with('=') && !after.starts_with("==") {
        let context = context_at(src, start);
        if let Some(field) = fields_of(&context).iter().find(|f| f.name == word) {
            return Some(format!(
                "`{}`: {}{}\n\n{}",
                field.name,
                field.ty,
                if field.required { ", required" } else { "" },
                field.doc
            ));
        }
    }
    None
}

/// The identifier around `offset`, and where it starts.
pub fn word_at(src: &str, offset: usize) -> Option<(&str, usize)> {
    let offset = offset.min(src.len());
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = src[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = src[offset..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(src.len(), |(i, _)| offset + i);
    (start < end).then(|| (&src[start..end], start))
}

/// What the keywords mean, and what they become.
fn keyword_doc(word: &str) -> Option<&'static str> {
    Some(match word {
        "pipeline" => {
            "a delivery pipeline; compiles to one Argo Workflow (a WorkflowTemplate when it has triggers) plus its services' Services, Rollouts and AnalysisTemplates"
        }
        "use" => {
            "imports a local file (`use ./x.pipe`) or a standard library module (`use std.analysis`)"
        }
        "param" => "a typed run parameter: a Workflow parameter, set with `pipec run --param`",
        "secret" => {
            "a Kubernetes Secret and the keys it holds; values are referenced, never copied"
        }
        "image" => "an image: built (`build`), copied (`push`) or an existing reference",
        "step" => {
            "a step of the Workflow's DAG: a pod running a command (`run`) or a command in a service's pod (`exec`)"
        }
        "service" => {
            "a service: its Service and Rollout (or a Deployment in an ephemeral environment)"
        }
        "environment" => {
            "where services run: a namespace (optionally in another cluster), or one made per run (`ephemeral = true`)"
        }
        "release" => "how a new version of a service goes out: `canary`, `rolling` or `bluegreen`",
        "canary" => {
            "an Argo Rollouts canary strategy: new pods get traffic step by step while gates run"
        }
        "rolling" => {
            "a rolling update (Argo Rollouts canary with surge/unavailable limits and no traffic steps)"
        }
        "bluegreen" => {
            "an Argo Rollouts blue-green strategy: the new version runs beside the old behind a preview Service, then the switch"
        }
        "weight" => "a canary stage: send this share of traffic to the new version (`setWeight`)",
        "replicas" => {
            "a canary stage: run exactly this many new pods (`setCanaryScale` / pod-count weight)"
        }
        "pause" => "a stage that waits (bake time): a Rollout `pause` with a duration",
        "approve" => {
            "a manual approval: a suspend step of the Workflow, resumed with `pipec approve`"
        }
        "check" => {
            "a functional gate: a command in a canary pod (`check exec`) or a one-shot test pod (`check run`), run by the Workflow"
        }
        "analyze" => "a metric gate: an AnalysisRun of the analysis' AnalysisTemplate",
        "join" => "an isolated canary joins the production Service",
        "switch" => "blue-green: all traffic moves to the new version here",
        "analysis" => {
            "a reusable metric gate with typed parameters; compiles to an AnalysisTemplate"
        }
        "metric" => {
            "one measurement of an analysis (Prometheus, web or job provider) with its success condition"
        }
        "on" => {
            "`on failure { … }` handles a failed run (exit handler); `on push`, `on schedule`, `on webhook` start runs"
        }
        "collect" => {
            "`collect diagnostics`: print a release's resources, events, descriptions and logs before rolling back"
        }
        "rollback" => {
            "returns a service to its stable version (abort the Rollout, restore the previous revision)"
        }
        "irreversible" => {
            "marks a check that rollback cannot undo (a migration); pipec warns where it runs before its gates"
        }
        "build" => {
            "builds an image from a directory of the repository (rootless BuildKit), with cache and per-run tags"
        }
        "push" => {
            "copies an image to another registry with its own credentials, without rebuilding (crane)"
        }
        "run" => "runs a command in an image as a pod of the Workflow",
        "exec" => "runs a command inside a running pod of a service",
        _ => return None,
    })
}

/// Where the cursor is, as far as completion cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    TopLevel,
    Pipeline,
    /// A block, named by the words of its header: `service`, `build`, `release canary`, …
    Block(String),
    Handler,
}

/// The context at `offset`: the innermost `{ … }` the cursor is in, by the words before it.
pub fn context_at(src: &str, offset: usize) -> Context {
    let lexed = lex(src, FileId(0));
    // Each open brace with the words of its header.
    let mut stack: Vec<Context> = Vec::new();
    let mut header: Vec<&str> = Vec::new();
    let mut interpolation = 0usize;
    for (token, span) in &lexed.tokens {
        if span.start as usize >= offset {
            break;
        }
        match token {
            Token::InterpStart => interpolation += 1,
            Token::InterpEnd => interpolation = interpolation.saturating_sub(1),
            _ if interpolation > 0 => {}
            Token::Ctrl('{') => {
                stack.push(block_context(&header, stack.last()));
                header.clear();
            }
            Token::Ctrl('}') => {
                stack.pop();
                header.clear();
            }
            Token::Ident(word) => header.push(word),
            Token::Ctrl('=') => header.push("="),
            _ => {}
        }
    }
    stack.pop().unwrap_or(Context::TopLevel)
}

fn block_context(header: &[&str], outer: Option<&Context>) -> Context {
    let has = |w: &str| header.contains(&w);
    match header.first().copied() {
        Some("pipeline") => Context::Pipeline,
        Some("on") if has("failure") => Context::Handler,
        Some("release") => {
            let strategy = header.get(2).copied().unwrap_or("canary");
            Context::Block(format!("release {strategy}"))
        }
        Some("secret") => Context::Block("secret".to_string()),
        Some("environment") => Context::Block("environment".to_string()),
        Some("metric") => Context::Block("metric".to_string()),
        Some("service") if !has("=") => Context::Block("service".to_string()),
        Some("analysis") => Context::Block("analysis".to_string()),
        _ => {
            // `image x = build "." {`, `step t = run app {`, `check run tests {`, `prometheus = {`.
            for verb in ["build", "push", "run", "exec"] {
                if has(verb) {
                    return Context::Block(verb.to_string());
                }
            }
            if has("service") {
                return Context::Block("service".to_string());
            }
            match (header.first().copied(), outer) {
                (Some(field), Some(Context::Block(b))) if b == "metric" => {
                    Context::Block(field.to_string())
                }
                _ => Context::Block(String::new()),
            }
        }
    }
}

/// The properties a block accepts.
pub fn fields_of(context: &Context) -> Vec<&'static Field> {
    let lists: Vec<&'static [Field]> = match context {
        Context::Pipeline => vec![schema::PIPELINE],
        Context::Block(b) => match b.as_str() {
            "service" => vec![schema::SERVICE],
            "environment" => vec![schema::ENVIRONMENT],
            "build" => vec![schema::BUILD, schema::NODE_COMMON],
            "push" => vec![schema::PUSH, schema::NODE_COMMON],
            "run" => vec![schema::RUN, schema::NODE_COMMON],
            "exec" => vec![schema::EXEC, schema::NODE_COMMON],
            "release canary" => vec![schema::RELEASE_COMMON, schema::SIZING, schema::CANARY],
            "release rolling" => vec![schema::RELEASE_COMMON, schema::SIZING, schema::ROLLING],
            "release bluegreen" => vec![schema::RELEASE_COMMON, schema::BLUEGREEN],
            "metric" => vec![schema::METRIC],
            "web" => vec![schema::WEB],
            "job" => vec![schema::JOB],
            "prometheus" => vec![schema::PROMETHEUS],
            "resources" => vec![schema::RESOURCES],
            _ => vec![],
        },
        Context::TopLevel | Context::Handler => vec![],
    };
    lists.into_iter().flatten().collect()
}

/// A completion: the word, what kind of thing it is, a line of detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Property,
    Name,
    Function,
    Field,
}

/// What fits at `offset` of the entry file `src`, given the last good index.
pub fn completions(src: &str, offset: usize, index: &Index, file: FileId) -> Vec<Completion> {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let typed_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let head = before[..typed_start].trim_end();
    let mut out = Vec::new();
    let complete = |out: &mut Vec<Completion>, label: &str, kind, detail: &str| {
        out.push(Completion {
            label: label.to_string(),
            kind,
            detail: detail.to_string(),
        });
    };
    // After `NAME.`: the fields of a namespace, secret or service.
    if let Some(qualifier) = head.strip_suffix('.') {
        let owner = qualifier
            .rsplit(|c: char| !is_word(c))
            .next()
            .unwrap_or_default();
        // `use std.analysis.`: what the module defines, imported or not.
        if qualifier[..qualifier.len() - owner.len()].ends_with("std.") {
            for name in crate::stdlib::definitions(owner) {
                complete(
                    &mut out,
                    name,
                    CompletionKind::Function,
                    &format!("std.{owner}"),
                );
            }
            return out;
        }
        match owner {
            "git" => schema::GIT_FIELDS
                .iter()
                .for_each(|(f, d)| complete(&mut out, f, CompletionKind::Field, d)),
            "run" => schema::RUN_FIELDS
                .iter()
                .for_each(|(f, d)| complete(&mut out, f, CompletionKind::Field, d)),
            "std" => ["analysis", "db", "notify"].iter().for_each(|m| {
                complete(&mut out, m, CompletionKind::Name, "standard library module")
            }),
            _ => {
                if let Some(keys) = index.secret_keys.get(owner) {
                    keys.iter()
                        .for_each(|k| complete(&mut out, k, CompletionKind::Field, "secret key"));
                } else if let Some(names) = index.namespaces.get(owner) {
                    names.iter().for_each(|n| {
                        complete(
                            &mut out,
                            n,
                            CompletionKind::Function,
                            "standard library definition",
                        )
                    });
                } else if index
                    .definitions
                    .iter()
                    .any(|d| d.name == owner && d.kind == "service")
                {
                    for (f, d) in [
                        ("url", "http://HOST:PORT of the service"),
                        ("host", "the service's host name"),
                        ("port", "the service's port"),
                    ] {
                        complete(&mut out, f, CompletionKind::Field, d);
                    }
                }
            }
        }
        return out;
    }
    // Inside `name(` … of an analysis or a definition: its parameters.
    if (head.ends_with('(') || head.ends_with(','))
        && let Some(callee) = open_call(head)
        && let Some(def) = index.definitions.iter().position(|d| {
            d.name == callee
                && matches!(
                    d.kind,
                    "analysis" | "service definition" | "step definition"
                )
        })
    {
        for p in index.definitions.iter().filter(|p| p.parent == Some(def)) {
            complete(&mut out, &p.name, CompletionKind::Property, &p.signature);
        }
        return out;
    }
    let context = context_at(src, typed_start);
    let value_position = head.ends_with('=')
        || head.ends_with('(')
        || head.ends_with(',')
        || head.ends_with('[')
        || matches!(
            head.rsplit(|c: char| !is_word(c)).next(),
            Some("and" | "or" | "not")
        );
    let in_record = matches!(&context, Context::Block(b) if b.is_empty());
    if value_position || in_record && head.ends_with('{') {
        for d in &index.definitions {
            let visible =
                d.name_span.file == file || d.kind.ends_with("definition") || d.kind == "analysis";
            if visible && d.kind != "pipeline" && d.kind != "parameter" {
                complete(&mut out, &d.name, CompletionKind::Name, d.kind);
            }
        }
        for f in BUILTIN_FUNCTIONS {
            complete(&mut out, f, CompletionKind::Function, "built-in");
        }
        for w in ["git", "run", "true", "false", "not"] {
            complete(&mut out, w, CompletionKind::Keyword, "");
        }
        return out;
    }
    let keywords: &[&str] = match &context {
        Context::TopLevel => parser::TOP_LEVEL_KEYWORDS,
        Context::Pipeline => parser::MEMBER_KEYWORDS,
        Context::Handler => parser::HANDLER_KEYWORDS,
        Context::Block(b) if b == "release canary" => schema::CANARY_STAGES,
        Context::Block(b) if b == "release rolling" => schema::ROLLING_STAGES,
        Context::Block(b) if b == "release bluegreen" => schema::BLUEGREEN_STAGES,
        Context::Block(b) if b == "analysis" => &["metric"],
        Context::Block(_) => &[],
    };
    for k in keywords {
        complete(
            &mut out,
            k,
            CompletionKind::Keyword,
            keyword_doc(k).unwrap_or(""),
        );
    }
    for field in fields_of(&context) {
        complete(&mut out, field.name, CompletionKind::Property, field.ty);
    }
    out
}

/// The name called by the innermost unclosed `(` at the end of `head`: `success_rate` in
/// `analyze analysis.success_rate(min = 95%, `.
fn open_call(head: &str) -> Option<&str> {
    let mut depth = 0i32;
    for (i, c) in head.char_indices().rev() {
        match c {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' if depth > 0 => depth -= 1,
            '(' => {
                let before = head[..i].trim_end();
                // The name starts after the last character that is not part of one, which may
                // be several bytes long (`é(`).
                let start = before
                    .char_indices()
                    .rev()
                    .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(0, |(j, c)| j + c.len_utf8());
                let name = &before[start..];
                return (!name.is_empty()).then_some(name);
            }
            '[' | '{' => return None,
            _ => {}
        }
    }
    None
}

/// Whether a file is the user's (not a standard library module): only those get diagnostics
/// and edits in the editor.
pub fn is_user_file(sources: &SourceDb, file: FileId) -> bool {
    sources
        .get(file)
        .is_some_and(|f| matches!(f.origin, Origin::User))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mode, NoImports, compile};

    const SRC: &str = "pipeline p {\n  /// The registry login.\n  secret hub = \"hub\" { username, password }\n  image app = build \".\" { repo = \"r/app\", tag = run.id }\n  step unit = run app { command = \"npm test\" }\n  service api {\n    image = app\n    port  = 80\n  }\n}\n";

    /// A `///` comment documents what follows it directly: the parameters on the lines after
    /// a definition's head do not take the definition's comment, and one of their own is theirs.
    #[test]
    fn a_doc_comment_belongs_to_what_follows_it() {
        let src = "/// Checks it.\nanalysis up(\n  service: string,\n  /// How often.\n  every: duration = 1m,\n) {\n  metric m {\n    every = every\n    prometheus = { address = \"http://p:9090\", query = \"up\" }\n    success = result >= 1\n  }\n}\n";
        let c = compile("a.pipe", src.as_bytes(), &NoImports, Mode::Check);
        let doc = |name: &str| {
            c.index
                .definitions
                .iter()
                .find(|d| d.name == name)
                .unwrap_or_else(|| panic!("no {name}"))
                .doc
                .clone()
        };
        assert_eq!(doc("up").as_deref(), Some("Checks it."));
        assert_eq!(doc("service"), None);
        assert_eq!(doc("every").as_deref(), Some("How often."));
    }

    #[test]
    fn definitions_uses_and_docs() {
        let c = compile("p.pipe", SRC.as_bytes(), &NoImports, Mode::Check);
        let index = &c.index;
        let app_use = SRC.find("run app").map(|i| i as u32 + 4).unwrap_or(0);
        let app = index
            .definition_at(FileId(0), app_use)
            .unwrap_or(usize::MAX);
        assert_eq!(index.definitions[app].name, "app");
        assert_eq!(index.definitions[app].kind, "image");
        assert_eq!(index.uses_of(app).len(), 2, "run app, image = app");
        let hub = index
            .definitions
            .iter()
            .position(|d| d.name == "hub")
            .unwrap_or(0);
        let text = index.describe(hub).unwrap_or_default();
        assert!(text.contains("The registry login."), "{text}");
        assert!(text.contains("secret hub = \"hub\""), "{text}");
        assert_eq!(index.secret_keys["hub"], ["username", "password"]);
    }

    #[test]
    fn contexts_and_completions() {
        let at = |needle: &str| SRC.find(needle).unwrap_or(0);
        assert_eq!(
            context_at(SRC, at("port")),
            Context::Block("service".into())
        );
        assert_eq!(context_at(SRC, at("repo")), Context::Block("build".into()));
        assert_eq!(context_at(SRC, at("secret")), Context::Pipeline);
        let c = compile("p.pipe", SRC.as_bytes(), &NoImports, Mode::Check);
        let labels = |offset: usize| -> Vec<String> {
            completions(SRC, offset, &c.index, FileId(0))
                .into_iter()
                .map(|c| c.label)
                .collect()
        };
        let in_service = labels(at("port"));
        assert!(
            in_service.contains(&"replicas".to_string()),
            "{in_service:?}"
        );
        let value = labels(at("app\n    port"));
        assert!(value.contains(&"app".to_string()) && value.contains(&"http_get".to_string()));
        let git = labels(at("id }"));
        assert!(git.contains(&"timestamp".to_string()), "{git:?}");
        let members = labels(at("step unit"));
        assert!(members.contains(&"release".to_string()));
        assert_eq!(
            hover_word(SRC, at("port") + 1, &c.index)
                .map(|h| h.contains("Port the container listens on")),
            Some(true)
        );
        assert!(hover_word(SRC, at("build") + 2, &c.index).is_some_and(|h| h.contains("BuildKit")));
        assert!(hover_word(SRC, at("id }") + 1, &c.index).is_some_and(|h| h.contains("`run.id`")));
        let modules = completions("use std.an", 8, &c.index, FileId(0));
        assert!(modules.iter().any(|c| c.label == "analysis"));
        let after_and = "pipeline p {\n  step s = run \"x\" { when = u.passed and ";
        let names = completions(after_and, after_and.len(), &c.index, FileId(0));
        assert!(names.iter().any(|c| c.label == "git"), "{names:?}");
        let analyses = completions("use std.analysis.", 17, &c.index, FileId(0));
        assert!(
            analyses.iter().any(|c| c.label == "success_rate"),
            "{analyses:?}"
        );
        assert_eq!(open_call("analyze analysis.rate(min = 5%, "), Some("rate"));
        assert_eq!(open_call("x = f(a, [b, "), None);
        assert_eq!(open_call("x = f(g(1), "), Some("f"));
        // A multi-byte character before the name (found by the `lsp` fuzz target: the server
        // panicked slicing inside it).
        assert_eq!(open_call("ser\u{fffd}ice: f("), Some("f"));
        assert_eq!(open_call("é("), None);
        assert_eq!(open_call("éa_1("), Some("a_1"));
    }
}
