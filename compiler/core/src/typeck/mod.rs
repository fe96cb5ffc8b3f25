//! Type checking: from the resolved AST to the checked program ([`crate::hir`]).
//!
//! Every block is validated against its table in [`crate::schema`] (unknown, duplicate and
//! missing properties), every value against the type its place expects, and defaults are
//! filled in. Errors are collected; checking goes on past them so one run reports them all.

mod analysis;
mod environment;
mod nodes;
mod release;
mod service;
mod template;
mod triggers;
mod value;

use std::collections::{BTreeMap, BTreeSet};

use pipec_syntax::Span;
use pipec_syntax::ast::{self, Member};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::hir::{self, AnalysisId, ImageName, ImageRef, NodeId, ServiceId, Template, Var};
use crate::k8s_rules;
use crate::names;
pub use crate::names::kebab;
use crate::resolve::{Resolution, Symbol};
use crate::schema::{self, Field};

pub use value::{Ty, format_duration, format_float, validate_regex};

/// What names mean where an expression is evaluated.
pub(crate) enum Scope {
    /// Inside a pipeline: its declarations, `run`, `git`.
    Pipeline,
    /// Inside an analysis definition: its parameters (type, declaration span).
    Analysis {
        params: BTreeMap<String, (Ty, Span)>,
    },
}

pub(crate) struct Checker<'r, 'a> {
    res: &'r Resolution<'a>,
    diags: &'r mut Diagnostics,
    node_ids: BTreeMap<String, NodeId>,
    node_decls: Vec<(&'a ast::NodeDecl, bool)>,
    service_ids: BTreeMap<String, ServiceId>,
    secret_names: BTreeMap<String, String>,
    /// Memo of the image each image node produces (`None` if it failed to check).
    image_names: BTreeMap<NodeId, Option<ImageName>>,
    /// Image declarations that name an existing image instead of making one.
    image_aliases: BTreeMap<NodeId, Option<ImageRef>>,
    /// Image nodes being computed, to stop on `image a = b` / `image b = a`.
    resolving: BTreeSet<NodeId>,
    /// Nodes referenced while checking the current node (its data dependencies).
    referenced: Vec<NodeId>,
    /// Services whose release the current node must wait for.
    released: Vec<ServiceId>,
    /// Names used anywhere, for the unused-declaration warning.
    pub(crate) used: BTreeSet<String>,
    analyses: Vec<hir::Analysis>,
    /// Index in `res.analyses` → checked analysis.
    analysis_ids: BTreeMap<usize, AnalysisId>,
    analyses_used: BTreeSet<AnalysisId>,
    /// Memo of the outputs each `run` step declares.
    outputs_memo: BTreeMap<NodeId, Vec<hir::Output>>,
    env_ids: BTreeMap<String, hir::EnvId>,
    /// By `EnvId`: the checked kind, `None` if the declaration had errors.
    env_kinds: Vec<Option<hir::EnvKind>>,
    /// The environment each service declares.
    service_envs: BTreeMap<ServiceId, hir::EnvId>,
    /// Ephemeral environments the current node uses services of.
    env_up: Vec<hir::EnvId>,
    /// Where each service is reached.
    service_hosts: BTreeMap<ServiceId, ServiceAddress>,
    /// The environment of the service being checked: its references to services in the same
    /// environment use their short names. `None` for steps, which run where the Workflow runs.
    current_env: Option<hir::EnvId>,
    /// Declarations expanded from a definition's use, by name.
    instances: BTreeMap<String, crate::expand::Instance>,
}

/// Where a service is reached: its name, its environment and the port of its Service.
#[derive(Clone, Debug)]
pub(crate) struct ServiceAddress {
    pub name: String,
    pub env: Option<hir::EnvId>,
    /// `.prod`, or `.` + run name + `-staging`: what qualifies the name from elsewhere.
    pub qualifier: Template,
    pub port: u16,
}

/// The address of a service, read from its declaration so that services and steps can use
/// each other's in any order. The port is a literal in every valid program (ports must be
/// known at compile time); `None` when it is not, and `check_service` reports why.
fn service_address(
    decl: &ast::ServiceDecl,
    env: Option<hir::EnvId>,
    envs: &[hir::Environment],
) -> Option<ServiceAddress> {
    let literal = |e: &ast::Expr| match &e.kind {
        ast::ExprKind::Int(digits) => digits.parse::<u16>().ok(),
        _ => None,
    };
    let property = |name: &str| decl.body.properties.iter().find(|p| p.name.name == name);
    let port = match property("expose").map(|p| &p.value.kind) {
        Some(ast::ExprKind::Call { args, .. }) => literal(&args.first()?.value)?,
        Some(_) => return None,
        None => literal(&property("port")?.value)?,
    };
    let mut qualifier = Template::default();
    match env
        .and_then(|id| envs.iter().find(|e| e.id == id))
        .map(|e| (&e.kind, &e.k8s_name))
    {
        Some((hir::EnvKind::Named { namespace, .. }, _)) => {
            qualifier.push_lit(&format!(".{namespace}"))
        }
        Some((hir::EnvKind::Ephemeral, env_name)) => {
            qualifier.push_lit(".");
            qualifier.push_var(Var::RunName);
            qualifier.push_lit(&format!("-{env_name}"));
        }
        None => {}
    }
    Some(ServiceAddress {
        name: kebab(&decl.name.name),
        env,
        qualifier,
        port,
    })
}

/// The checked program, and what the linter needs to know beyond it.
pub struct Checked {
    pub program: Option<hir::Program>,
    pub used: BTreeSet<String>,
}

/// Checks the resolved compilation. The program is `None` when there is no pipeline.
pub fn check(res: &Resolution<'_>, diags: &mut Diagnostics) -> Checked {
    // Uses of `service`/`step` definitions become plain declarations first.
    let expanded = res.pipeline.map(|p| crate::expand::expand(p, res));
    let mut checker = Checker {
        res,
        diags,
        node_ids: BTreeMap::new(),
        node_decls: Vec::new(),
        service_ids: BTreeMap::new(),
        secret_names: BTreeMap::new(),
        image_names: BTreeMap::new(),
        image_aliases: BTreeMap::new(),
        resolving: BTreeSet::new(),
        referenced: Vec::new(),
        released: Vec::new(),
        used: BTreeSet::new(),
        analyses: Vec::new(),
        analysis_ids: BTreeMap::new(),
        analyses_used: BTreeSet::new(),
        outputs_memo: BTreeMap::new(),
        env_ids: BTreeMap::new(),
        env_kinds: Vec::new(),
        service_envs: BTreeMap::new(),
        env_up: Vec::new(),
        service_hosts: BTreeMap::new(),
        current_env: None,
        instances: expanded
            .as_ref()
            .map(|e| e.instances.clone())
            .unwrap_or_default(),
    };
    checker.check_template_defs();
    for index in 0..res.analyses.len() {
        checker.check_analysis_def(index);
    }
    let pipeline = expanded
        .as_ref()
        .map(|e| checker.check_pipeline(&e.pipeline));
    let analyses = std::mem::take(&mut checker.analyses);
    let used_analyses = checker.analyses_used.clone();
    let program = pipeline.map(|mut pipeline| {
        // Keep only the analyses the pipeline uses, renumbered densely.
        let mut renumber = BTreeMap::new();
        let mut kept = Vec::new();
        for (i, analysis) in analyses.into_iter().enumerate() {
            if used_analyses.contains(&AnalysisId(i)) {
                renumber.insert(AnalysisId(i), AnalysisId(kept.len()));
                kept.push(analysis);
            }
        }
        for release in &mut pipeline.releases {
            for stage in &mut release.stages {
                if let hir::StageKind::Analyze { analysis, .. } = &mut stage.kind
                    && let Some(new) = renumber.get(analysis)
                {
                    *analysis = *new;
                }
            }
        }
        hir::Program {
            pipeline,
            analyses: kept,
        }
    });
    Checked {
        program,
        used: checker.used,
    }
}

impl<'a> Checker<'_, 'a> {
    fn check_pipeline(&mut self, p: &'a ast::Pipeline) -> hir::Pipeline {
        // Ids first, so declarations can refer to each other in any order.
        let mut service_decls = Vec::new();
        let mut env_decls = Vec::new();
        for member in &p.members {
            match member {
                Member::Node(n) => self.add_node(n, false),
                Member::Handler(h) => {
                    for action in &h.actions {
                        if let ast::HandlerAction::Node(n) = action {
                            self.add_node(n, true);
                        }
                    }
                }
                Member::Service(s) if !self.service_ids.contains_key(&s.name.name) => {
                    self.service_ids
                        .insert(s.name.name.clone(), ServiceId(service_decls.len()));
                    service_decls.push(s);
                }
                Member::Environment(e) if !self.env_ids.contains_key(&e.name.name) => {
                    self.env_ids
                        .insert(e.name.name.clone(), hir::EnvId(env_decls.len()));
                    env_decls.push(e);
                }
                Member::Secret(s) => {
                    if let Some(name) = self.secret_name(s) {
                        self.secret_names.entry(s.name.name.clone()).or_insert(name);
                    }
                }
                _ => {}
            }
        }

        let mut pipeline = hir::Pipeline {
            name: p.name.name.clone(),
            span: p.name.span,
            repo: None,
            revision: None,
            service_account: None,
            params: Vec::new(),
            secrets: Vec::new(),
            nodes: Vec::new(),
            services: Vec::new(),
            releases: Vec::new(),
            environments: Vec::new(),
            on_failure: Vec::new(),
            triggers: hir::Triggers::default(),
        };
        self.k8s_name(&p.name, "pipeline");

        let settings: Vec<ast::Property> = p
            .members
            .iter()
            .filter_map(|m| match m {
                Member::Setting(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        let fields = self.fields(
            &settings,
            &[schema::PIPELINE],
            p.name.span,
            "a pipeline",
            false,
        );
        if let Some(prop) = fields.get("repo")
            && let Some(t) = self.expect_text(&prop.value, &Scope::Pipeline)
        {
            self.check_no_template_tags(&t, prop.value.span);
            pipeline.repo = Some(t);
        }
        if let Some(prop) = fields.get("revision")
            && let Some(t) = self.expect_text(&prop.value, &Scope::Pipeline)
        {
            self.check_no_template_tags(&t, prop.value.span);
            pipeline.revision = Some(t);
        }
        if let Some(prop) = fields.get("service_account") {
            pipeline.service_account = self.service_account(&prop.value);
        }

        let webhook_token = fields.get("webhook_token");

        for member in &p.members {
            match member {
                Member::Param(param) => {
                    if let Some(p) = self.check_param(param) {
                        pipeline.params.push(p);
                    }
                }
                Member::Secret(s) => {
                    if let Some(secret_name) = self.secret_names.get(&s.name.name) {
                        pipeline.secrets.push(hir::Secret {
                            name: s.name.name.clone(),
                            secret_name: secret_name.clone(),
                            span: s.name.span,
                        });
                    }
                    if let Some(keys) = &s.keys {
                        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
                        for key in keys {
                            if let Some(first) = seen.insert(key.name.as_str(), key.span) {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0102,
                                        key.span,
                                        format!("key `{}` is listed twice", key.name),
                                    )
                                    .label("listed again")
                                    .with_secondary(first, "first listed here")
                                    .help("list each key once"),
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
        }

        for (index, decl) in env_decls.iter().enumerate() {
            let env = self.check_environment(hir::EnvId(index), decl, &p.name.name);
            self.env_kinds.push(env.as_ref().map(|e| e.kind.clone()));
            pipeline.environments.extend(env);
        }
        self.collect_service_envs(&service_decls);

        // Image aliases and image names first: other declarations read them.
        for id in 0..self.node_decls.len() {
            self.image_name(NodeId(id));
        }
        // Addresses first: services and steps read each other's (`db.host`, `api.url`).
        for (index, decl) in service_decls.iter().enumerate() {
            let id = ServiceId(index);
            let env = self.service_envs.get(&id).copied();
            if let Some(address) = service_address(decl, env, &pipeline.environments) {
                self.service_hosts.insert(id, address);
            }
        }
        for decl in &service_decls {
            if let Some(s) = self.check_service(decl) {
                pipeline.services.push(s);
            }
        }
        for id in 0..self.node_decls.len() {
            if let Some(node) = self.check_node(NodeId(id)) {
                pipeline.nodes.push(node);
            }
        }
        self.check_cycles(&pipeline.nodes);

        let mut released: BTreeMap<String, Span> = BTreeMap::new();
        for member in &p.members {
            match member {
                Member::Release(r) => {
                    if let Some(first) = released.get(&r.service.name) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0301,
                                r.service.span,
                                format!("`{}` is released twice", r.service.name),
                            )
                            .label("second release")
                            .with_secondary(*first, "first release")
                            .help("put all stages in one `release` block"),
                        );
                        continue;
                    }
                    released.insert(r.service.name.clone(), r.service.span);
                    if let Some(release) = self.check_release(r, &pipeline.services) {
                        pipeline.releases.push(release);
                    }
                }
                Member::Handler(h) => {
                    let actions = self.check_handler(h, &pipeline.services);
                    pipeline.on_failure.extend(actions);
                }
                Member::Trigger(t) => self.check_trigger(t, &mut pipeline.triggers),
                _ => {}
            }
        }
        self.check_generated_names(&pipeline);
        self.check_release_cycles(&pipeline);
        if let Some(prop) = webhook_token {
            self.check_webhook_token(prop, &mut pipeline.triggers);
        }
        self.check_trigger_names(&p.name, &pipeline);
        pipeline
    }

    /// Releases wait for steps and other releases, steps for releases: a cycle through a
    /// release could never start. (Cycles of steps alone are `check_cycles`'.)
    fn check_release_cycles(&mut self, pipeline: &hir::Pipeline) {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Task {
            Node(NodeId),
            Release(ServiceId),
        }
        let releases: BTreeMap<ServiceId, &hir::Release> =
            pipeline.releases.iter().map(|r| (r.service, r)).collect();
        let nodes: BTreeMap<NodeId, &hir::Node> =
            pipeline.nodes.iter().map(|n| (n.id, n)).collect();
        let edges = |task: Task| -> Vec<Task> {
            match task {
                Task::Node(id) => nodes.get(&id).map_or_else(Vec::new, |n| {
                    let mut out: Vec<Task> =
                        dependencies(Some(n)).into_iter().map(Task::Node).collect();
                    out.extend(
                        n.after_releases
                            .iter()
                            .filter(|s| releases.contains_key(s))
                            .map(|s| Task::Release(*s)),
                    );
                    out
                }),
                Task::Release(service) => releases.get(&service).map_or_else(Vec::new, |r| {
                    let mut out: Vec<Task> = r.after.iter().map(|n| Task::Node(*n)).collect();
                    out.extend(
                        r.after_releases
                            .iter()
                            .filter(|s| releases.contains_key(s))
                            .map(|s| Task::Release(*s)),
                    );
                    out
                }),
            }
        };
        let name = |task: Task| match task {
            Task::Node(id) => nodes
                .get(&id)
                .map_or_else(String::new, |n| format!("`{}`", n.name)),
            Task::Release(s) => pipeline
                .services
                .iter()
                .find(|x| x.id == s)
                .map_or_else(String::new, |x| format!("the release of `{}`", x.name)),
        };
        let span = |task: Task| match task {
            Task::Node(id) => nodes.get(&id).map(|n| n.span),
            Task::Release(s) => releases.get(&s).map(|r| r.span),
        };
        // Iterative DFS from each release: 1 = on the stack, 2 = done.
        let mut state: BTreeMap<Task, u8> = BTreeMap::new();
        for start in releases.keys().map(|s| Task::Release(*s)) {
            if state.contains_key(&start) {
                continue;
            }
            let mut stack: Vec<(Task, usize)> = vec![(start, 0)];
            state.insert(start, 1);
            while let Some((task, next)) = stack.last().copied() {
                let out = edges(task);
                if let Some(&child) = out.get(next) {
                    if let Some(top) = stack.last_mut() {
                        top.1 += 1;
                    }
                    match state.get(&child) {
                        None => {
                            state.insert(child, 1);
                            stack.push((child, 0));
                        }
                        Some(1) => {
                            let from = stack.iter().position(|(t, _)| *t == child).unwrap_or(0);
                            let cycle: Vec<Task> = stack[from..].iter().map(|(t, _)| *t).collect();
                            let Some(primary) = span(child) else { return };
                            let chain: Vec<String> =
                                cycle.iter().chain([&child]).map(|t| name(*t)).collect();
                            let mut d = Diagnostic::new(Code::E0304, primary, format!("{} waits for itself", name(child)))
                                .label("part of a cycle")
                                .help("remove one of the `after` entries or references so everything can run in some order")
                                .note(format!("cycle: {}", chain.join(" → ")));
                            for t in cycle.iter().skip(1) {
                                if let Some(sp) = span(*t) {
                                    d = d.with_secondary(
                                        sp,
                                        format!("{} is part of the cycle", name(*t)),
                                    );
                                }
                            }
                            self.diags.push(d);
                            return;
                        }
                        Some(_) => {}
                    }
                } else {
                    state.insert(task, 2);
                    stack.pop();
                }
            }
        }
    }

    /// Steps become Workflow templates beside the ones pipec generates for releases; a step
    /// must not take one of those names.
    fn check_generated_names(&mut self, pipeline: &hir::Pipeline) {
        let services: BTreeMap<&str, &str> = pipeline
            .services
            .iter()
            .map(|s| (s.k8s_name.as_str(), s.name.as_str()))
            .collect();
        for node in &pipeline.nodes {
            let clash = if node.name == names::ENTRYPOINT || node.name == names::EXIT_HANDLER {
                Some(format!("the workflow's `{}` template", node.name))
            } else if names::is_shared_template(&node.name) {
                Some("a template pipec shares between the tasks of one kind (every deploy, build, copy, …)".to_string())
            } else if let Some(env) = pipeline.environments.iter().find(|e| {
                e.kind == hir::EnvKind::Ephemeral
                    && (node.name == names::environment_up(&e.k8s_name)
                        || node.name == names::environment_down(&e.k8s_name))
            }) {
                Some(format!(
                    "a step pipec generates to set up or tear down environment `{}`",
                    env.name
                ))
            } else {
                // Every `-` could end a service name: `api-deploy`, `my-api-check-2`.
                node.name.match_indices('-').find_map(|(i, _)| {
                    let service = services.get(&node.name[..i])?;
                    names::ReleaseTask::is_suffix(&node.name[i + 1..])
                        .then(|| format!("a step pipec generates to release `{service}`"))
                })
            };
            if !k8s_rules::depends_identifier(&node.name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0109,
                        node.span,
                        format!("`{}` cannot name a step", node.name),
                    )
                    .label("a word of expr-lang, the language of Argo's `depends`")
                    .help(format!(
                        "rename the step, for example `{}_step`; reserved: {}",
                        node.name,
                        k8s_rules::EXPR_RESERVED.join(", ")
                    )),
                );
            }
            if let Some(what) = clash {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0311,
                        node.span,
                        format!("`{}` is also the name of {what}", node.name),
                    )
                    .label("name taken by a generated template")
                    .help("rename this step"),
                );
            }
        }
    }

    fn add_node(&mut self, n: &'a ast::NodeDecl, in_handler: bool) {
        if self.node_ids.contains_key(&n.name.name) {
            return;
        }
        let id = NodeId(self.node_decls.len());
        self.node_ids.insert(n.name.name.clone(), id);
        self.node_decls.push((n, in_handler));
    }

    fn node_name(&self, id: NodeId) -> String {
        self.node_decls
            .get(id.0)
            .map_or_else(|| "step".to_string(), |(d, _)| d.name.name.clone())
    }

    fn check_param(&mut self, p: &ast::Param) -> Option<hir::Param> {
        let ty = match Ty::from_name(&p.ty.name.name) {
            Some(ty) if p.ty.args.is_empty() => ty,
            _ => {
                let names = ["string", "int", "float", "bool", "duration", "percent"];
                let suggestion = did_you_mean(&p.ty.name.name, names);
                self.diags.push(
                    Diagnostic::new(
                        Code::E0211,
                        p.ty.span,
                        format!("unknown type `{}`", p.ty.name.name),
                    )
                    .label("not a parameter type")
                    .help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("parameter types: {}", names.join(", ")),
                    }),
                );
                return None;
            }
        };
        if let Err(reason) = argo_parameter_name(&p.name.name) {
            self.diags.push(
                Diagnostic::new(
                    Code::E0109,
                    p.name.span,
                    format!("`{}` cannot be a workflow parameter name", p.name.name),
                )
                .label(reason)
                .help("use letters, digits, `_` and `-`"),
            );
        }
        let default = match &p.default {
            Some(expr) => {
                let value = self.eval(expr, &Scope::Pipeline);
                if value.is_error() {
                    return None;
                }
                if value.is_runtime() {
                    self.needs_static(&value, "a param's default");
                    return None;
                }
                let Some(text) = self.value_as_param(&value, ty) else {
                    self.mismatch(
                        &value,
                        &format!(
                            "{} (the param's type)",
                            crate::diagnostic::with_article(ty.name())
                        ),
                    );
                    return None;
                };
                // The default is the Workflow parameter's value, which Argo templates.
                if !self.check_no_template_tags(&Template::lit(text.clone()), value.span) {
                    return None;
                }
                Some(text)
            }
            None => None,
        };
        let param_type = match ty {
            Ty::Int => hir::ParamType::Int,
            Ty::Float => hir::ParamType::Float,
            Ty::Bool => hir::ParamType::Bool,
            Ty::Duration => hir::ParamType::Duration,
            Ty::Percent => hir::ParamType::Percent,
            _ => hir::ParamType::String,
        };
        Some(hir::Param {
            name: p.name.name.clone(),
            ty: param_type,
            default,
            span: p.name.span,
        })
    }

    /// The text of a value passed as a workflow parameter or analysis argument of type `ty`.
    fn value_as_param(&mut self, value: &value::Typed, ty: Ty) -> Option<String> {
        use value::Val;
        Some(match (&value.val, ty) {
            (Val::Str(t), Ty::Str) => t.as_static()?,
            (Val::Int(i), Ty::Int) => i.to_string(),
            (Val::Int(i), Ty::Float) => i.to_string(),
            (Val::Float(f), Ty::Float) => format_float(*f),
            (Val::Bool(b), Ty::Bool) => b.to_string(),
            (Val::Duration(d), Ty::Duration) => format_duration(*d),
            // Percentages travel as fractions: `95%` is `0.95`, ready to compare with a ratio.
            (Val::Percent(p), Ty::Percent) => format_float(*p / 100.0),
            _ => return None,
        })
    }

    fn secret_name(&mut self, s: &ast::SecretDecl) -> Option<String> {
        let name = self.expect_static_text(&s.secret_name, &Scope::Pipeline, "a secret's name")?;
        if !k8s_rules::dns1123_subdomain(&name) {
            self.invalid_name(s.secret_name.span, &name, "a Kubernetes Secret");
            return None;
        }
        Some(name)
    }

    /// Validates a block's properties against its fields; returns them by name.
    fn fields<'p>(
        &mut self,
        props: &'p [ast::Property],
        tables: &[&[Field]],
        owner: Span,
        what: &str,
        recovered: bool,
    ) -> BTreeMap<&'static str, &'p ast::Property> {
        let mut out: BTreeMap<&'static str, &'p ast::Property> = BTreeMap::new();
        let all: Vec<&Field> = tables.iter().flat_map(|t| t.iter()).collect();
        for prop in props {
            let Some(field) = all.iter().find(|f| f.name == prop.name.name) else {
                let names: Vec<&str> = all.iter().map(|f| f.name).collect();
                let suggestion = did_you_mean(&prop.name.name, names.iter().copied());
                self.diags.push(
                    Diagnostic::new(
                        Code::E0205,
                        prop.name.span,
                        format!("{what} has no property `{}`", prop.name.name),
                    )
                    .label("unknown property")
                    .help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("its properties are: {}", names.join(", ")),
                    }),
                );
                continue;
            };
            if let Some(first) = out.get(field.name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0207,
                        prop.name.span,
                        format!("`{}` is set twice", field.name),
                    )
                    .label("set again here")
                    .with_secondary(first.name.span, "first set here")
                    .help("keep one of them"),
                );
                continue;
            }
            out.insert(field.name, prop);
        }
        // A block the parser had to repair may have lost the property to a syntax error.
        for field in all.iter().filter(|f| f.required && !recovered) {
            if !out.contains_key(field.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0206, owner, format!("{what} needs `{}`", field.name))
                        .label(format!("`{}` is missing", field.name))
                        .help(format!("add `{} = …`: {}", field.name, field.doc)),
                );
            }
        }
        out
    }

    /// The Kubernetes / Argo name for a declaration: kebab case, validated.
    fn k8s_name(&mut self, ident: &ast::Ident, what: &str) -> String {
        let name = kebab(&ident.name);
        if !k8s_rules::dns1035_label(&name) {
            self.diags.push(
                Diagnostic::new(Code::E0109, ident.span, format!("`{}` cannot name a {what} in Kubernetes", ident.name))
                    .label(format!("becomes `{name}`, which is not a valid name"))
                    .help("use lowercase letters, digits and `_`, starting with a letter, at most 63 characters"),
            );
        }
        name
    }

    /// A `service_account`, of the pipeline's pods or a service's: known at compile time and a
    /// DNS-1123 subdomain, as the API server requires of a ServiceAccount's name.
    pub(super) fn service_account(&mut self, expr: &ast::Expr) -> Option<String> {
        let name = self.expect_static_text(expr, &Scope::Pipeline, "the service account")?;
        if k8s_rules::dns1123_subdomain(&name) {
            Some(name)
        } else {
            self.invalid_name(expr.span, &name, "a ServiceAccount");
            None
        }
    }

    fn invalid_name(&mut self, span: Span, name: &str, what: &str) {
        self.diags.push(
            Diagnostic::new(Code::E0109, span, format!("`{name}` is not a valid name for {what}"))
                .label("invalid name")
                .help("Kubernetes names are lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"),
        );
    }

    /// Nodes must not depend on each other in a cycle.
    fn check_cycles(&mut self, nodes: &[hir::Node]) {
        let by_id: BTreeMap<NodeId, &hir::Node> = nodes.iter().map(|n| (n.id, n)).collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state: BTreeMap<NodeId, u8> = BTreeMap::new();
        for node in nodes {
            let mut stack: Vec<(NodeId, usize)> = vec![(node.id, 0)];
            if state.get(&node.id).copied().unwrap_or(0) != 0 {
                continue;
            }
            state.insert(node.id, 1);
            while let Some((current, next)) = stack.pop() {
                let deps = dependencies(by_id.get(&current).copied());
                if let Some(&dep) = deps.get(next) {
                    stack.push((current, next + 1));
                    match state.get(&dep).copied().unwrap_or(0) {
                        0 if by_id.contains_key(&dep) => {
                            state.insert(dep, 1);
                            stack.push((dep, 0));
                        }
                        1 => {
                            let mut cycle: Vec<NodeId> = stack
                                .iter()
                                .map(|(n, _)| *n)
                                .skip_while(|n| *n != dep)
                                .collect();
                            cycle.push(dep);
                            self.report_cycle(&cycle, &by_id);
                            // Report each cycle once: mark its members done.
                            for n in &cycle {
                                state.insert(*n, 2);
                            }
                            stack.clear();
                        }
                        _ => {}
                    }
                } else {
                    state.insert(current, 2);
                }
            }
        }
    }

    fn report_cycle(&mut self, cycle: &[NodeId], by_id: &BTreeMap<NodeId, &hir::Node>) {
        let names: Vec<String> = cycle.iter().map(|id| self.node_name(*id)).collect();
        let Some(first) = cycle.first().and_then(|id| by_id.get(id)) else {
            return;
        };
        let mut d = Diagnostic::new(
            Code::E0304,
            first.span,
            "these steps depend on each other in a cycle",
        )
        .label(format!("`{}` is part of the cycle", names[0]))
        .help("remove one of the references or `after` entries so the steps can run in some order")
        .note(format!("cycle: {}", names.join(" → ")));
        for id in cycle.iter().skip(1).take(cycle.len().saturating_sub(2)) {
            if let Some(n) = by_id.get(id) {
                d = d.with_secondary(n.span, format!("`{}` is part of the cycle", n.name));
            }
        }
        self.diags.push(d);
    }

    fn symbol_service(&self, name: &str) -> Option<ServiceId> {
        match self.res.symbols.get(name) {
            Some(Symbol::Service(_)) => self.service_ids.get(name).copied(),
            _ => None,
        }
    }
}

/// What a node waits for: its needs and the steps its condition tests.
fn dependencies(node: Option<&hir::Node>) -> Vec<NodeId> {
    let Some(node) = node else { return Vec::new() };
    let mut deps = node.needs.clone();
    if let Some(c) = &node.when {
        collect_step_results(c, &mut deps);
    }
    deps.sort();
    deps.dedup();
    deps
}

pub(crate) fn collect_step_results(c: &hir::Condition, out: &mut Vec<NodeId>) {
    match c {
        hir::Condition::StepResult { node, .. } => out.push(*node),
        hir::Condition::And(a, b) | hir::Condition::Or(a, b) => {
            collect_step_results(a, out);
            collect_step_results(b, out);
        }
        hir::Condition::Not(a) => collect_step_results(a, out),
        _ => {}
    }
}

/// Argo parameter names: `^[-a-zA-Z0-9_]+$` ([`k8s_rules::argo_parameter_name`]).
fn argo_parameter_name(name: &str) -> Result<(), &'static str> {
    if k8s_rules::argo_parameter_name(name) {
        Ok(())
    } else {
        Err("only letters, digits, `_` and `-` are allowed")
    }
}
