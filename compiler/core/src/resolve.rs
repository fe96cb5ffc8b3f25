//! Name resolution: which declaration every name refers to.
//!
//! Builds the scopes (the pipeline's members, the analyses visible through `use`, analysis
//! parameters inside analysis bodies), reports duplicates and unknown names with suggestions,
//! and records every reference so the language server can answer go-to-definition and
//! find-references without a second resolver.

use std::collections::BTreeMap;

use pipec_syntax::ast::{
    self, Expr, ExprKind, HandlerAction, Item, Member, NodeValue, StageKind, StrPart, UseTarget,
};
use pipec_syntax::{FileId, Span};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::modules::ModuleGraph;

/// Names that are always in scope in a pipeline.
pub const BUILTIN_NAMESPACES: &[&str] = &["run", "git"];

/// Built-in functions: probes and exposures.
pub const BUILTIN_FUNCTIONS: &[&str] = &[
    "http_get",
    "tcp",
    "exec",
    "cluster_ip",
    "load_balancer",
    "nginx",
    "istio",
    "smi",
    "node_port",
];

/// What a pipeline-level name refers to.
#[derive(Clone, Copy, Debug)]
pub enum Symbol<'a> {
    Param(&'a ast::Param),
    Secret(&'a ast::SecretDecl),
    Node {
        decl: &'a ast::NodeDecl,
        in_handler: bool,
    },
    Service(&'a ast::ServiceDecl),
    Environment(&'a ast::EnvironmentDecl),
}

impl Symbol<'_> {
    pub fn name_span(&self) -> Span {
        match self {
            Symbol::Param(p) => p.name.span,
            Symbol::Secret(s) => s.name.span,
            Symbol::Node { decl, .. } => decl.name.span,
            Symbol::Service(s) => s.name.span,
            Symbol::Environment(e) => e.name.span,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Symbol::Param(_) => "param",
            Symbol::Secret(_) => "secret",
            Symbol::Node { decl, .. } => match decl.keyword {
                ast::NodeKeyword::Image => "image",
                ast::NodeKeyword::Step => "step",
            },
            Symbol::Service(_) => "service",
            Symbol::Environment(_) => "environment",
        }
    }
}

/// An analysis definition from any loaded module.
#[derive(Clone, Copy, Debug)]
pub struct AnalysisEntry<'a> {
    pub def: &'a ast::AnalysisDef,
    pub file: FileId,
}

/// A `service` or `step` definition from any loaded module.
#[derive(Clone, Copy, Debug)]
pub struct TemplateEntry<'a> {
    pub def: &'a ast::TemplateDef,
    pub file: FileId,
}

/// A module-level definition, by its index in [`Resolution::analyses`] or
/// [`Resolution::templates`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefRef {
    Analysis(usize),
    Template(usize),
}

/// A resolved reference: a use site and the declaration it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reference {
    pub use_span: Span,
    pub def_span: Span,
}

#[derive(Debug, Default)]
pub struct Resolution<'a> {
    /// The entry file's pipeline, if it has exactly one.
    pub pipeline: Option<&'a ast::Pipeline>,
    pub symbols: BTreeMap<String, Symbol<'a>>,
    /// Every analysis of every loaded module.
    pub analyses: Vec<AnalysisEntry<'a>>,
    /// Every `service` and `step` definition of every loaded module.
    pub templates: Vec<TemplateEntry<'a>>,
    /// Definitions usable by a bare name in the entry file.
    pub visible: BTreeMap<String, DefRef>,
    /// `use std.analysis` → `analysis` → its definitions by name.
    pub namespaces: BTreeMap<String, BTreeMap<String, DefRef>>,
    pub references: Vec<Reference>,
}

impl Resolution<'_> {
    /// The definition used as `name(…)` or `namespace.name(…)`.
    pub fn definition(&self, callee: &[ast::Ident]) -> Option<DefRef> {
        match callee {
            [name] => self.visible.get(&name.name).copied(),
            [ns, name] => self.namespaces.get(&ns.name)?.get(&name.name).copied(),
            _ => None,
        }
    }

    /// Looks up an analysis called as `name(…)` or `namespace.name(…)`.
    pub fn analysis(&self, callee: &[ast::Ident]) -> Option<usize> {
        match self.definition(callee)? {
            DefRef::Analysis(i) => Some(i),
            DefRef::Template(_) => None,
        }
    }

    /// Looks up a `service` or `step` definition used as `name(…)` or `namespace.name(…)`.
    pub fn template(&self, callee: &[ast::Ident]) -> Option<usize> {
        match self.definition(callee)? {
            DefRef::Template(i) => Some(i),
            DefRef::Analysis(_) => None,
        }
    }

    fn definition_span(&self, def: DefRef) -> Option<Span> {
        match def {
            DefRef::Analysis(i) => self.analyses.get(i).map(|e| e.def.name.span),
            DefRef::Template(i) => self.templates.get(i).map(|e| e.def.name.span),
        }
    }
}

/// Resolves the entry module (index 0 of the graph) and every analysis of every module.
pub fn resolve<'a>(
    graph: &'a ModuleGraph,
    diagnostics: &mut Diagnostics,
    for_compile: bool,
) -> Resolution<'a> {
    let mut res = Resolution::default();
    let Some(entry) = graph.modules.first() else {
        return res;
    };

    // Every module's definitions, and per module the name → definition map for imports.
    let mut per_module: Vec<BTreeMap<String, DefRef>> = Vec::new();
    for module in &graph.modules {
        let mut names: BTreeMap<String, DefRef> = BTreeMap::new();
        for item in &module.ast.items {
            let (name, def, what) = match item {
                Item::Analysis(def) => {
                    res.analyses.push(AnalysisEntry {
                        def,
                        file: module.file,
                    });
                    (
                        &def.name,
                        DefRef::Analysis(res.analyses.len() - 1),
                        "analysis",
                    )
                }
                Item::Template(def) => {
                    res.templates.push(TemplateEntry {
                        def,
                        file: module.file,
                    });
                    (
                        &def.name,
                        DefRef::Template(res.templates.len() - 1),
                        def.kind(),
                    )
                }
                _ => continue,
            };
            match names
                .get(&name.name)
                .and_then(|prev| res.definition_span(*prev))
            {
                Some(prev_span) => duplicate(diagnostics, name, prev_span, what),
                None => {
                    names.insert(name.name.clone(), def);
                }
            }
        }
        per_module.push(names);
    }

    // What the entry file sees: its own definitions, then its imports.
    let mut origin: BTreeMap<String, Span> = BTreeMap::new();
    if let Some(own) = per_module.first() {
        for (name, &def) in own {
            res.visible.insert(name.clone(), def);
            if let Some(span) = res.definition_span(def) {
                origin.insert(name.clone(), span);
            }
        }
    }
    for (u, target) in &entry.imports {
        let Some(target) = *target else { continue };
        let Some(exports) = per_module.get(target) else {
            continue;
        };
        match &u.target {
            UseTarget::Std { path, group, .. } => {
                let module_name = path.first().map(|i| i.name.clone()).unwrap_or_default();
                let mut wanted: Vec<&ast::Ident> = path.iter().skip(1).collect();
                if let Some(group) = group {
                    if path.len() > 1 {
                        // `use std.a.b.{c}`: only one level of modules exists.
                        if let Some(extra) = path.get(1) {
                            diagnostics.push(
                                Diagnostic::new(
                                    Code::E0106,
                                    extra.span,
                                    format!(
                                        "`std.{module_name}` has no submodule `{}`",
                                        extra.name
                                    ),
                                )
                                .label("not a module")
                                .help(format!("write `use std.{module_name}.{{…}}`")),
                            );
                        }
                        continue;
                    }
                    wanted = group.iter().collect();
                }
                if wanted.is_empty() {
                    // Namespace import: `analysis.success_rate(…)`.
                    res.namespaces.insert(module_name.clone(), exports.clone());
                    continue;
                }
                if wanted.len() > 1 && group.is_none() {
                    if let Some(extra) = wanted.get(1) {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::E0106,
                                extra.span,
                                "a `use` names one definition or a `{…}` group",
                            )
                            .label("unexpected path segment")
                            .help(format!("write `use std.{module_name}.{}`", wanted[0].name)),
                        );
                    }
                    continue;
                }
                for item in wanted {
                    match exports.get(&item.name) {
                        Some(&def) => {
                            import_name(&mut res, &mut origin, diagnostics, item, def);
                        }
                        None => {
                            let suggestion =
                                did_you_mean(&item.name, exports.keys().map(String::as_str));
                            diagnostics.push(
                                Diagnostic::new(
                                    Code::E0106,
                                    item.span,
                                    format!(
                                        "`std.{module_name}` has no definition `{}`",
                                        item.name
                                    ),
                                )
                                .label("not defined there")
                                .help(match suggestion {
                                    Some(s) => format!("did you mean `{s}`?"),
                                    None => format!(
                                        "`std.{module_name}` defines: {}",
                                        exports.keys().cloned().collect::<Vec<_>>().join(", ")
                                    ),
                                }),
                            );
                        }
                    }
                }
            }
            UseTarget::File(_) => {
                for (name, &def) in exports {
                    let ident = ast::Ident {
                        name: name.clone(),
                        span: u.span,
                    };
                    import_name(&mut res, &mut origin, diagnostics, &ident, def);
                }
            }
        }
    }

    // The pipeline.
    let pipelines: Vec<&ast::Pipeline> = entry
        .ast
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Pipeline(p) => Some(p),
            _ => None,
        })
        .collect();
    let declares_anything = entry.ast.items.iter().any(|i| !matches!(i, Item::Error(_)));
    match pipelines.as_slice() {
        // A file that failed to parse already has its syntax errors; "empty" would be noise.
        [] if !declares_anything && !diagnostics.has_errors() => {
            let (message, label) = if entry.ast.comments.is_empty() {
                ("this file is empty", "nothing is declared")
            } else {
                ("this file declares nothing", "only comments")
            };
            diagnostics.push(
                Diagnostic::new(Code::E0009, Span::new(entry.file, 0..0), message)
                    .label(label)
                    .help("declare a `pipeline NAME { … }`; `pipec explain E0009` shows a small example"),
            );
        }
        [] if !declares_anything => {}
        [] if for_compile => {
            diagnostics.push(
                Diagnostic::new(Code::E0110, Span::new(entry.file, 0..0), "this file declares no pipeline")
                    .label("no `pipeline` in this file")
                    .help("compile the file that declares the `pipeline`; files of shared analyses are imported with `use`"),
            );
        }
        [] => {}
        [one] => res.pipeline = Some(one),
        [first, rest @ ..] => {
            res.pipeline = Some(first);
            for extra in rest {
                diagnostics.push(
                    Diagnostic::new(
                        Code::E0110,
                        extra.name.span,
                        "a file declares at most one pipeline",
                    )
                    .label("a second pipeline")
                    .with_secondary(first.name.span, "the first pipeline")
                    .help("move this pipeline into a file of its own"),
                );
            }
        }
    }

    if let Some(pipeline) = res.pipeline {
        collect_symbols(pipeline, &mut res.symbols, diagnostics);
        let scope = PipelineScope { res: &res };
        let mut refs = Vec::new();
        walk_pipeline(pipeline, &scope, diagnostics, &mut refs);
        res.references.extend(refs);
    }

    // Analysis bodies: their parameters are their whole scope.
    let mut refs = Vec::new();
    for entry in &res.analyses {
        let params = parameter_scope(&entry.def.params, diagnostics);
        let scope = AnalysisScope { params: &params };
        for metric in &entry.def.metrics {
            for prop in &metric.body.properties {
                walk_expr(&prop.value, &scope, diagnostics, &mut refs);
            }
        }
    }
    res.references.extend(refs);

    // Definition bodies: their parameters, `run` and `git` are their whole scope.
    let mut refs = Vec::new();
    for entry in &res.templates {
        let params = parameter_scope(&entry.def.params, diagnostics);
        for p in &entry.def.params {
            if let Some(default) = &p.default {
                walk_expr(
                    default,
                    &TemplateScope {
                        params: &BTreeMap::new(),
                    },
                    diagnostics,
                    &mut refs,
                );
            }
        }
        let scope = TemplateScope { params: &params };
        match &entry.def.body {
            ast::TemplateBody::Service(block) => {
                for prop in &block.properties {
                    walk_expr(&prop.value, &scope, diagnostics, &mut refs);
                }
            }
            ast::TemplateBody::Step(action) => walk_action(action, &scope, diagnostics, &mut refs),
        }
    }
    res.references.extend(refs);
    res
}

/// The names of a definition's parameters, each reported if declared twice.
fn parameter_scope<'p>(
    params: &'p [ast::Param],
    diagnostics: &mut Diagnostics,
) -> BTreeMap<&'p str, Span> {
    let mut scope: BTreeMap<&str, Span> = BTreeMap::new();
    for p in params {
        if let Some(prev) = scope.insert(p.name.name.as_str(), p.name.span) {
            duplicate(diagnostics, &p.name, prev, "parameter");
        }
    }
    scope
}

fn import_name(
    res: &mut Resolution<'_>,
    origin: &mut BTreeMap<String, Span>,
    diagnostics: &mut Diagnostics,
    item: &ast::Ident,
    def: DefRef,
) {
    if let Some(&prev) = res.visible.get(&item.name) {
        if prev == def {
            return;
        }
        if let Some(prev_span) = origin.get(&item.name) {
            duplicate(diagnostics, item, *prev_span, "definition");
        }
        return;
    }
    res.visible.insert(item.name.clone(), def);
    origin.insert(item.name.clone(), item.span);
}

fn duplicate(diagnostics: &mut Diagnostics, name: &ast::Ident, first: Span, what: &str) {
    diagnostics.push(
        Diagnostic::new(
            Code::E0102,
            name.span,
            format!("`{}` is declared twice", name.name),
        )
        .label(format!("second {what} named `{}`", name.name))
        .with_secondary(first, "first declared here")
        .help("rename one of them; every name in a scope must be unique"),
    );
}

fn collect_symbols<'a>(
    pipeline: &'a ast::Pipeline,
    symbols: &mut BTreeMap<String, Symbol<'a>>,
    diagnostics: &mut Diagnostics,
) {
    let mut add = |name: &'a ast::Ident, symbol: Symbol<'a>, diagnostics: &mut Diagnostics| {
        if BUILTIN_NAMESPACES.contains(&name.name.as_str()) {
            diagnostics.push(
                Diagnostic::new(
                    Code::E0102,
                    name.span,
                    format!("`{}` is a built-in name", name.name),
                )
                .label("this would hide the built-in")
                .help(format!(
                    "`{}` holds the run's context (e.g. `{}.{}`); choose another name",
                    name.name,
                    name.name,
                    if name.name == "git" { "branch" } else { "id" }
                )),
            );
            return;
        }
        if let Some(prev) = symbols.get(&name.name) {
            duplicate(diagnostics, name, prev.name_span(), symbol.describe());
        } else {
            symbols.insert(name.name.clone(), symbol);
        }
    };
    for member in &pipeline.members {
        match member {
            Member::Param(p) => add(&p.name, Symbol::Param(p), diagnostics),
            Member::Secret(s) => add(&s.name, Symbol::Secret(s), diagnostics),
            Member::Node(n) => add(
                &n.name,
                Symbol::Node {
                    decl: n,
                    in_handler: false,
                },
                diagnostics,
            ),
            Member::Service(s) => add(&s.name, Symbol::Service(s), diagnostics),
            Member::Environment(e) => add(&e.name, Symbol::Environment(e), diagnostics),
            Member::Handler(h) => {
                for action in &h.actions {
                    if let HandlerAction::Node(n) = action {
                        add(
                            &n.name,
                            Symbol::Node {
                                decl: n,
                                in_handler: true,
                            },
                            diagnostics,
                        );
                    }
                }
            }
            Member::Setting(_) | Member::Release(_) | Member::Trigger(_) | Member::Error(_) => {}
        }
    }
}

/// What a scope can answer about a name.
trait Scope {
    /// The declaration span of `name`, or `None` if it is unknown. Built-ins answer with an
    /// empty span (they have no declaration).
    fn lookup(&self, name: &str) -> Option<Option<Span>>;
    fn lookup_call(&self, callee: &[ast::Ident]) -> Option<Option<Span>>;
    fn candidates(&self) -> Vec<String>;
    fn call_candidates(&self) -> Vec<String>;
    /// The `service` or `step` definition a `NAME = CALL` instantiates, with its kind.
    fn lookup_template(&self, _callee: &[ast::Ident]) -> Option<(Span, &'static str)> {
        None
    }
    fn template_candidates(&self) -> Vec<String> {
        Vec::new()
    }
}

struct PipelineScope<'r, 'a> {
    res: &'r Resolution<'a>,
}

impl Scope for PipelineScope<'_, '_> {
    fn lookup(&self, name: &str) -> Option<Option<Span>> {
        if BUILTIN_NAMESPACES.contains(&name) {
            return Some(None);
        }
        self.res.symbols.get(name).map(|s| Some(s.name_span()))
    }

    fn lookup_call(&self, callee: &[ast::Ident]) -> Option<Option<Span>> {
        if let [one] = callee
            && BUILTIN_FUNCTIONS.contains(&one.name.as_str())
        {
            return Some(None);
        }
        self.res
            .analysis(callee)
            .map(|i| Some(self.res.analyses[i].def.name.span))
    }

    fn candidates(&self) -> Vec<String> {
        let mut names: Vec<String> = self.res.symbols.keys().cloned().collect();
        names.extend(BUILTIN_NAMESPACES.iter().map(|s| s.to_string()));
        names
    }

    fn lookup_template(&self, callee: &[ast::Ident]) -> Option<(Span, &'static str)> {
        let entry = self.res.templates.get(self.res.template(callee)?)?;
        Some((entry.def.name.span, entry.def.kind()))
    }

    fn template_candidates(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .res
            .visible
            .iter()
            .filter(|(_, d)| matches!(d, DefRef::Template(_)))
            .map(|(n, _)| n.clone())
            .collect();
        for (ns, items) in &self.res.namespaces {
            names.extend(
                items
                    .iter()
                    .filter(|(_, d)| matches!(d, DefRef::Template(_)))
                    .map(|(i, _)| format!("{ns}.{i}")),
            );
        }
        names
    }

    fn call_candidates(&self) -> Vec<String> {
        let analysis = |def: &DefRef| matches!(def, DefRef::Analysis(_));
        let mut names: Vec<String> = self
            .res
            .visible
            .iter()
            .filter(|(_, d)| analysis(d))
            .map(|(n, _)| n.clone())
            .collect();
        names.extend(BUILTIN_FUNCTIONS.iter().map(|s| s.to_string()));
        for (ns, items) in &self.res.namespaces {
            names.extend(
                items
                    .iter()
                    .filter(|(_, d)| analysis(d))
                    .map(|(i, _)| format!("{ns}.{i}")),
            );
        }
        names
    }
}

/// Inside a `service` or `step` definition: its parameters, the run context and the built-in
/// functions, nothing of the pipeline that uses it.
struct TemplateScope<'p> {
    params: &'p BTreeMap<&'p str, Span>,
}

impl Scope for TemplateScope<'_> {
    fn lookup(&self, name: &str) -> Option<Option<Span>> {
        if BUILTIN_NAMESPACES.contains(&name) {
            return Some(None);
        }
        self.params.get(name).map(|s| Some(*s))
    }

    fn lookup_call(&self, callee: &[ast::Ident]) -> Option<Option<Span>> {
        match callee {
            [one] if BUILTIN_FUNCTIONS.contains(&one.name.as_str()) => Some(None),
            _ => None,
        }
    }

    fn candidates(&self) -> Vec<String> {
        let mut names: Vec<String> = self.params.keys().map(|s| s.to_string()).collect();
        names.extend(BUILTIN_NAMESPACES.iter().map(|s| s.to_string()));
        names
    }

    fn call_candidates(&self) -> Vec<String> {
        BUILTIN_FUNCTIONS.iter().map(|s| s.to_string()).collect()
    }
}

struct AnalysisScope<'p> {
    params: &'p BTreeMap<&'p str, Span>,
}

impl Scope for AnalysisScope<'_> {
    fn lookup(&self, name: &str) -> Option<Option<Span>> {
        if name == "result" {
            return Some(None);
        }
        self.params.get(name).map(|s| Some(*s))
    }

    fn lookup_call(&self, _callee: &[ast::Ident]) -> Option<Option<Span>> {
        None
    }

    fn candidates(&self) -> Vec<String> {
        let mut names: Vec<String> = self.params.keys().map(|s| s.to_string()).collect();
        names.push("result".to_string());
        names
    }

    fn call_candidates(&self) -> Vec<String> {
        Vec::new()
    }
}

fn walk_pipeline(
    pipeline: &ast::Pipeline,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    for member in &pipeline.members {
        match member {
            Member::Setting(p) => walk_expr(&p.value, scope, diagnostics, refs),
            Member::Param(p) => {
                if let Some(d) = &p.default {
                    walk_expr(d, scope, diagnostics, refs);
                }
            }
            Member::Secret(s) => walk_expr(&s.secret_name, scope, diagnostics, refs),
            Member::Node(n) => walk_node(n, scope, diagnostics, refs),
            Member::Service(s) => {
                if let Some(call) = &s.from {
                    walk_template_call(call, "service", scope, diagnostics, refs);
                }
                for p in &s.body.properties {
                    walk_expr(&p.value, scope, diagnostics, refs);
                }
            }
            Member::Environment(e) => {
                for p in &e.body.properties {
                    walk_expr(&p.value, scope, diagnostics, refs);
                }
            }
            Member::Release(r) => {
                walk_name(&r.service, scope, diagnostics, refs);
                for p in &r.settings {
                    walk_expr(&p.value, scope, diagnostics, refs);
                }
                for stage in &r.stages {
                    match &stage.kind {
                        StageKind::Weight(e) | StageKind::Pause(e) => {
                            walk_expr(e, scope, diagnostics, refs)
                        }
                        StageKind::Replicas { count, of } => {
                            walk_expr(count, scope, diagnostics, refs);
                            if let Some(of) = of {
                                walk_expr(of, scope, diagnostics, refs);
                            }
                        }
                        StageKind::Approve(reason) => {
                            if let Some(r) = reason {
                                walk_expr(r, scope, diagnostics, refs);
                            }
                        }
                        StageKind::Check { action, .. } => {
                            walk_action(action, scope, diagnostics, refs)
                        }
                        StageKind::Analyze(e) => walk_expr(e, scope, diagnostics, refs),
                        StageKind::Join | StageKind::Switch => {}
                    }
                }
            }
            Member::Handler(h) => {
                for action in &h.actions {
                    match action {
                        HandlerAction::CollectDiagnostics { of, .. } => {
                            if let Some(of) = of {
                                walk_name(of, scope, diagnostics, refs);
                            }
                        }
                        HandlerAction::Rollback { service, .. } => {
                            walk_name(service, scope, diagnostics, refs)
                        }
                        HandlerAction::Node(n) => walk_node(n, scope, diagnostics, refs),
                    }
                }
            }
            Member::Trigger(t) => match &t.kind {
                ast::TriggerKind::Push { filter } => {
                    if let Some(f) = filter {
                        walk_expr(&f.value, scope, diagnostics, refs);
                    }
                }
                ast::TriggerKind::Schedule { cron, timezone } => {
                    walk_expr(cron, scope, diagnostics, refs);
                    if let Some(tz) = timezone {
                        walk_expr(tz, scope, diagnostics, refs);
                    }
                }
                ast::TriggerKind::Webhook => {}
            },
            Member::Error(_) => {}
        }
    }
}

fn walk_node(
    node: &ast::NodeDecl,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    match &node.value {
        NodeValue::Action(a) => walk_action(a, scope, diagnostics, refs),
        NodeValue::Expr(e) => walk_expr(e, scope, diagnostics, refs),
        NodeValue::Template { call, body } => {
            walk_template_call(call, "step", scope, diagnostics, refs);
            for p in body.iter().flat_map(|b| &b.properties) {
                walk_expr(&p.value, scope, diagnostics, refs);
            }
        }
    }
}

/// `NAME(args)` as a `service` or `step` (`wanted`): the definition must exist and be of
/// that kind; the arguments are expressions of the using scope.
fn walk_template_call(
    call: &ast::TemplateCall,
    wanted: &str,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    let shown = call
        .callee
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(".");
    let callee_span = match (call.callee.first(), call.callee.last()) {
        (Some(f), Some(l)) => f.span.to(l.span),
        _ => call.span,
    };
    match scope.lookup_template(&call.callee) {
        Some((def_span, kind)) if kind == wanted => {
            if let Some(last) = call.callee.last() {
                refs.push(Reference {
                    use_span: last.span,
                    def_span,
                });
            }
        }
        Some((def_span, kind)) => diagnostics.push(
            Diagnostic::new(
                Code::E0201,
                callee_span,
                format!("`{shown}` defines a {kind}, not a {wanted}"),
            )
            .label(format!("a {kind} definition"))
            .with_secondary(def_span, "defined here")
            .help(format!("write `{kind} NAME = {shown}(…)`")),
        ),
        None => {
            let candidates = scope.template_candidates();
            let suggestion = did_you_mean(&shown, candidates.iter().map(String::as_str));
            let in_std = crate::stdlib::module_defining(&shown);
            diagnostics.push(
                Diagnostic::new(Code::E0101, callee_span, format!("there is no {wanted} definition `{shown}`"))
                    .label("unknown definition")
                    .help(match (suggestion, in_std) {
                        (Some(s), _) => format!("did you mean `{s}`?"),
                        (None, Some(module)) => format!(
                            "`{shown}` is in the standard library: add `use std.{module}.{shown}` at the top of the file"
                        ),
                        (None, None) if candidates.is_empty() => format!(
                            "define `{wanted} {shown}(…)` in a module and `use` it, or use one from the standard library (`use std.db.postgres`)"
                        ),
                        (None, None) => format!("usable here: {}", candidates.join(", ")),
                    }),
            );
        }
    }
    for arg in &call.args {
        walk_expr(&arg.value, scope, diagnostics, refs);
    }
}

fn walk_action(
    action: &ast::Action,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    if let Some(subject) = &action.subject {
        walk_expr(subject, scope, diagnostics, refs);
    }
    if let Some(body) = &action.body {
        for p in &body.properties {
            walk_expr(&p.value, scope, diagnostics, refs);
        }
    }
}

fn walk_name(
    name: &ast::Ident,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    match scope.lookup(&name.name) {
        Some(Some(def_span)) => refs.push(Reference {
            use_span: name.span,
            def_span,
        }),
        Some(None) => {}
        None => unknown(name, &scope.candidates(), diagnostics),
    }
}

fn walk_expr(
    expr: &Expr,
    scope: &dyn Scope,
    diagnostics: &mut Diagnostics,
    refs: &mut Vec<Reference>,
) {
    match &expr.kind {
        ExprKind::Path(path) => {
            if let Some(head) = path.first() {
                walk_name(head, scope, diagnostics, refs);
            }
        }
        ExprKind::Call { callee, args } => {
            match scope.lookup_call(callee) {
                Some(Some(def_span)) => {
                    if let Some(last) = callee.last() {
                        refs.push(Reference {
                            use_span: last.span,
                            def_span,
                        });
                    }
                }
                Some(None) => {}
                None => {
                    let shown = callee
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(".");
                    let span = callee.first().map_or(expr.span, |f| {
                        callee.last().map_or(f.span, |l| f.span.to(l.span))
                    });
                    let candidates = scope.call_candidates();
                    let suggestion = did_you_mean(&shown, candidates.iter().map(String::as_str));
                    let in_std = crate::stdlib::module_defining(&shown);
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0101,
                            span,
                            format!("there is no function or analysis `{shown}`"),
                        )
                        .label("unknown name")
                        .help(match (suggestion, in_std) {
                            (Some(s), _) => format!("did you mean `{s}`?"),
                            (None, Some(module)) => format!(
                                "`{shown}` is in the standard library: add `use std.{module}.{shown}` at the top of the file"
                            ),
                            (None, None) if candidates.is_empty() => {
                                "nothing can be called here".to_string()
                            }
                            (None, None) => format!("callable here: {}", candidates.join(", ")),
                        }),
                    );
                }
            }
            for arg in args {
                walk_expr(&arg.value, scope, diagnostics, refs);
            }
        }
        ExprKind::Str(lit) => {
            for part in &lit.parts {
                if let StrPart::Interp(e) = part {
                    walk_expr(e, scope, diagnostics, refs);
                }
            }
        }
        ExprKind::List(items) => {
            for item in items {
                walk_expr(item, scope, diagnostics, refs);
            }
        }
        ExprKind::Record(props) => {
            for p in props {
                walk_expr(&p.value, scope, diagnostics, refs);
            }
        }
        ExprKind::Unary { expr, .. } => walk_expr(expr, scope, diagnostics, refs),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, scope, diagnostics, refs);
            walk_expr(rhs, scope, diagnostics, refs);
        }
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Duration(_)
        | ExprKind::Percent(_)
        | ExprKind::Regex(_)
        | ExprKind::Bool(_)
        | ExprKind::Error => {}
    }
}

fn unknown(name: &ast::Ident, candidates: &[String], diagnostics: &mut Diagnostics) {
    let suggestion = did_you_mean(&name.name, candidates.iter().map(String::as_str));
    let mut d = Diagnostic::new(
        Code::E0101,
        name.span,
        format!("cannot find `{}` in this scope", name.name),
    )
    .label("unknown name");
    d = match suggestion {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("declare it in the pipeline (`param`, `secret`, `image`, `step` or `service`), or import it with `use`"),
    };
    diagnostics.push(d);
}
