//! Verification: the lowered documents checked against each other before anything is emitted.
//!
//! Type checking makes each construct right on its own; this pass checks what only exists once
//! the resources do: that every name one object uses for another resolves to an object pipec
//! emits (Rollout → Services and AnalysisTemplates, Sensor and CronWorkflow → WorkflowTemplate,
//! Workflow steps → Rollouts), that AnalysisTemplate arguments are all supplied, that selectors
//! select the pods they are meant to, that every task, `depends`, artifact and `when` of a
//! Workflow resolves and parses as Argo will parse it. Argo reports these only at run time,
//! often after earlier steps have deployed something.
//!
//! A finding here means pipec generated something inconsistent, so each is reported at the
//! `.pipe` span of the object at fault, with a code, and nothing is written.

use std::collections::{BTreeMap, BTreeSet};

use pipec_argo_model::Document;
use pipec_argo_model::contract::script_env;
use pipec_argo_model::rollouts::{CanaryStep, Rollout, RolloutAnalysis, RolloutStrategy};
use pipec_argo_model::workflows::{DagTask, DagTemplate, Template, Workflow};
use pipec_syntax::Span;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lower::Lowered;

pub(crate) const BUG_HELP: &str = "this is a bug in pipec, not in your file: please report it with the .pipe file; `pipec explain` describes the check";

/// An object's namespace (`None`: where the resources are applied) and name.
type Key<'a> = (Option<&'a str>, &'a str);

fn key(document: &Document) -> Key<'_> {
    (document.metadata().namespace.as_deref(), document.name())
}

/// Names of the emitted objects, by kind.
#[derive(Default)]
struct Index<'a> {
    services: BTreeSet<Key<'a>>,
    analysis_templates: BTreeMap<Key<'a>, &'a pipec_argo_model::rollouts::AnalysisTemplate>,
    rollouts: BTreeMap<Key<'a>, &'a Rollout>,
    workflow_templates: BTreeSet<&'a str>,
    event_sources: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// Every label set a Rollout's pods can carry ([`pod_label_sets`]).
    pod_labels: Vec<BTreeMap<String, String>>,
    /// The label sets (indices into `pod_labels`) carrying each namespace, key and value: a
    /// Service's selector is matched against the sets of one of its labels, not every set.
    labelled: BTreeMap<(Option<&'a str>, String, String), Vec<usize>>,
}

/// Checks the documents of one compilation against each other.
pub fn verify(lowered: &[Lowered], diags: &mut Diagnostics) {
    let mut index = Index::default();
    for l in lowered {
        match &l.document {
            Document::Service(_) => {
                index.services.insert(key(&l.document));
            }
            Document::AnalysisTemplate(t) => {
                index.analysis_templates.insert(key(&l.document), t);
            }
            Document::Rollout(r) => {
                index.rollouts.insert(key(&l.document), r);
                let namespace = r.metadata.namespace.as_deref();
                for labels in pod_label_sets(r) {
                    let set = index.pod_labels.len();
                    for (k, v) in &labels {
                        index
                            .labelled
                            .entry((namespace, k.clone(), v.clone()))
                            .or_default()
                            .push(set);
                    }
                    index.pod_labels.push(labels);
                }
            }
            Document::WorkflowTemplate(_) => {
                index.workflow_templates.insert(l.document.name());
            }
            Document::EventSource(e) => {
                index.event_sources.insert(
                    l.document.name(),
                    e.spec.webhook.keys().map(String::as_str).collect(),
                );
            }
            _ => {}
        }
    }
    let mut v = Verifier { index, diags };
    for l in lowered {
        v.size(l);
        match &l.document {
            Document::Service(s) => v.service(s, l.origin),
            Document::Rollout(r) => v.rollout(r, l.origin),
            Document::Workflow(w) | Document::WorkflowTemplate(w) => v.workflow(w, l.origin),
            Document::CronWorkflow(c) => {
                if let Some(r) = &c.spec.workflow_spec.workflow_template_ref {
                    v.template_ref(&r.name, "CronWorkflow", l.origin);
                }
            }
            Document::Sensor(s) => {
                for dep in &s.spec.dependencies {
                    let known = v
                        .index
                        .event_sources
                        .get(dep.event_source_name.as_str())
                        .is_some_and(|events| events.contains(dep.event_name.as_str()));
                    if !known {
                        v.report(
                            Code::E0401,
                            l.origin,
                            format!(
                                "the Sensor waits for event `{}` of EventSource `{}`, which is not generated",
                                dep.event_name, dep.event_source_name
                            ),
                        );
                    }
                }
                for trigger in &s.spec.triggers {
                    let resource = &trigger.template.argo_workflow.source.resource;
                    if let Some(r) = &resource.spec.workflow_template_ref {
                        v.template_ref(&r.name, "Sensor", l.origin);
                    }
                }
            }
            Document::AnalysisTemplate(_) | Document::EventSource(_) | Document::Ingress(_) => {}
        }
    }
}

struct Verifier<'a, 'd> {
    index: Index<'a>,
    diags: &'d mut Diagnostics,
}

/// The largest object the cluster stores: etcd's default request limit (`--max-request-bytes`,
/// 1.5 MiB), which every write of an object to the API server must fit in.
pub const MAX_OBJECT_BYTES: usize = 1_572_864;
/// The largest Workflow or WorkflowTemplate pipec emits. Argo refuses to run a Workflow whose
/// JSON, status included, exceeds `MAX_WORKFLOW_SIZE` (default 1 MiB, `workflow/packer`:
/// "workflow is longer than maximum allowed size"), and a run of a WorkflowTemplate carries
/// the template's spec in `status.storedWorkflowTemplateSpec`; a quarter of the limit is left
/// for the run's status (its nodes, compressed by Argo when large).
pub const MAX_WORKFLOW_BYTES: usize = 786_432;

/// Counts the bytes written to it.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Verifier<'_, '_> {
    /// E0409: an object larger than the cluster accepts, measured as the JSON the API server
    /// receives.
    fn size(&mut self, lowered: &Lowered) {
        let mut count = ByteCount(0);
        if serde_json::to_writer(&mut count, &lowered.document).is_err() {
            return;
        }
        let document = &lowered.document;
        let (limit, why) = match document {
            Document::Workflow(_) | Document::WorkflowTemplate(_) | Document::CronWorkflow(_) => (
                MAX_WORKFLOW_BYTES,
                "Argo runs (1 MiB, with room for the run's status)",
            ),
            _ => (MAX_OBJECT_BYTES, "Kubernetes stores (etcd's 1.5 MiB)"),
        };
        if count.0 <= limit {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::E0409,
                lowered.origin,
                format!(
                    "the {} `{}` would be {} KiB, more than {why}",
                    document.kind(),
                    document.base_name(),
                    count.0 / 1024
                ),
            )
            .label("generated from here")
            .help(format!(
                "split the pipeline into pipelines of fewer services, each its own `.pipe` file: the limit is {} KiB; pipec does not split one pipeline's objects yet",
                limit / 1024
            )),
        );
    }

    fn report(&mut self, code: Code, span: Span, message: String) {
        self.diags.push(
            Diagnostic::new(code, span, message)
                .label("generated from here")
                .help(BUG_HELP),
        );
    }

    fn template_ref(&mut self, name: &str, from: &str, span: Span) {
        if !self.index.workflow_templates.contains(name) {
            self.report(
                Code::E0401,
                span,
                format!("the {from} starts WorkflowTemplate `{name}`, which is not generated"),
            );
        }
    }

    /// A Service must select the pods of some Rollout.
    fn service(&mut self, service: &pipec_argo_model::k8s::Service, span: Span) {
        let selector = &service.spec.selector;
        let namespace = service.metadata.namespace.as_deref();
        // The sets carrying the selector's first label are the only candidates.
        let selects = selector.iter().next().is_some_and(|(k, v)| {
            self.index
                .labelled
                .get(&(namespace, k.clone(), v.clone()))
                .into_iter()
                .flatten()
                .filter_map(|i| self.index.pod_labels.get(*i))
                .any(|labels| subset(selector, labels))
        });
        if !selects {
            self.report(
                Code::E0403,
                span,
                format!(
                    "Service `{}` selects {} but no Rollout's pods carry those labels",
                    service.metadata.name.as_deref().unwrap_or(""),
                    show_labels(selector)
                ),
            );
        }
    }

    fn rollout(&mut self, rollout: &Rollout, span: Span) {
        let name = rollout.metadata.name.as_deref().unwrap_or("");
        let namespace = rollout.metadata.namespace.as_deref();
        let template_labels = &rollout.spec.template.metadata.labels;
        if !subset(&rollout.spec.selector.match_labels, template_labels) {
            self.report(
                Code::E0403,
                span,
                format!(
                    "Rollout `{name}` selects {} but its pod template is labelled {}",
                    show_labels(&rollout.spec.selector.match_labels),
                    show_labels(template_labels)
                ),
            );
        }
        // Argo Rollouts' `ValidateRolloutSpec`, as the model of its controller holds it
        // (`Spec::invalid`): a Rollout it refuses is InvalidSpec and never rolled out. The
        // type checker's errors (E0310, E0314, E0212) keep users from these.
        if let Ok(json) = serde_json::to_value(rollout)
            && let Ok(spec) = pipec_argo_semantics::rollout::Spec::from_json(&json)
            && let Some(error) = spec.invalid()
        {
            self.report(
                Code::E0410,
                span,
                format!("Argo Rollouts would refuse Rollout `{name}`: {error}"),
            );
        }
        let mut services: Vec<&str> = Vec::new();
        let mut analyses: Vec<RolloutAnalysis> = Vec::new();
        match &rollout.spec.strategy {
            RolloutStrategy::Canary(c) => {
                services.extend(c.canary_service.as_deref());
                services.extend(c.stable_service.as_deref());
                for step in &c.steps {
                    if let CanaryStep::Analysis(a) = step {
                        analyses.push(a.clone());
                    }
                }
                if let Some(b) = &c.analysis {
                    analyses.push(RolloutAnalysis {
                        templates: b.templates.clone(),
                        args: b.args.clone(),
                    });
                }
            }
            RolloutStrategy::BlueGreen(b) => {
                services.push(&b.active_service);
                services.push(&b.preview_service);
                analyses.extend(b.pre_promotion_analysis.clone());
                analyses.extend(b.post_promotion_analysis.clone());
            }
        }
        for service in services {
            if !self.index.services.contains(&(namespace, service)) {
                self.report(
                    Code::E0401,
                    span,
                    format!("Rollout `{name}` routes through Service `{service}`, which is not generated"),
                );
            }
        }
        for analysis in &analyses {
            self.analysis((namespace, name), analysis, span);
        }
    }

    /// Every template exists; every argument without a default is given, and none unknown.
    fn analysis(&mut self, (namespace, rollout): Key<'_>, analysis: &RolloutAnalysis, span: Span) {
        let given: BTreeSet<&str> = analysis.args.iter().map(|a| a.name.as_str()).collect();
        let mut declared: BTreeSet<&str> = BTreeSet::new();
        for template in &analysis.templates {
            let Some(t) = self
                .index
                .analysis_templates
                .get(&(namespace, template.template_name.as_str()))
                .copied()
            else {
                self.report(
                    Code::E0401,
                    span,
                    format!(
                        "Rollout `{rollout}` runs AnalysisTemplate `{}`, which is not generated",
                        template.template_name
                    ),
                );
                continue;
            };
            for arg in &t.spec.args {
                declared.insert(arg.name.as_str());
                if arg.value.is_none() && !given.contains(arg.name.as_str()) {
                    self.report(
                        Code::E0402,
                        span,
                        format!(
                            "Rollout `{rollout}` runs AnalysisTemplate `{}` without its argument `{}`",
                            template.template_name, arg.name
                        ),
                    );
                }
            }
        }
        for arg in &analysis.args {
            if !declared.contains(arg.name.as_str()) {
                self.report(
                    Code::E0402,
                    span,
                    format!(
                        "Rollout `{rollout}` passes `{}`, which its AnalysisTemplates do not declare",
                        arg.name
                    ),
                );
            }
            if arg.value.is_empty() {
                self.report(
                    Code::E0402,
                    span,
                    format!("Rollout `{rollout}` passes an empty `{}`", arg.name),
                );
            }
        }
    }

    fn workflow(&mut self, workflow: &Workflow, span: Span) {
        let spec = &workflow.spec;
        let templates: BTreeMap<&str, &Template> = spec
            .templates
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        if templates.len() != spec.templates.len() {
            self.report(
                Code::E0404,
                span,
                "two templates of the Workflow share a name".to_string(),
            );
        }
        for (what, name) in [
            ("entrypoint", spec.entrypoint.as_deref()),
            ("onExit", spec.on_exit.as_deref()),
        ] {
            if let Some(name) = name
                && !templates.contains_key(name)
            {
                self.report(
                    Code::E0404,
                    span,
                    format!("the Workflow's {what} `{name}` is not one of its templates"),
                );
            }
        }
        for template in &spec.templates {
            if let Some(dag) = &template.dag {
                self.dag(&template.name, dag, &templates, span);
            }
            self.input_tags(template, span);
        }
    }

    /// Argo refuses a Workflow whose template reads an input it does not declare (validation
    /// resolves every `{{inputs.parameters.NAME}}` against the template's `inputs`: "failed to
    /// resolve {{inputs.parameters.NAME}}").
    fn input_tags(&mut self, template: &Template, span: Span) {
        let mut declared: BTreeSet<&str> = BTreeSet::new();
        for input in template.inputs.iter().flat_map(|i| &i.parameters) {
            // `validateWorkflowFieldNames`: the names of a template's inputs are unique.
            if !declared.insert(input.name.as_str()) {
                self.report(
                    Code::E0404,
                    span,
                    format!(
                        "template `{}` declares the input `{}` twice",
                        template.name, input.name
                    ),
                );
            }
        }
        let text = serde_json::to_string(template).unwrap_or_default();
        let undeclared: BTreeSet<&str> =
            pipec_argo_semantics::workflow::instance::input_tags(&text)
                .into_iter()
                .filter(|name| !declared.contains(name))
                .collect();
        for name in undeclared {
            self.report(
                Code::E0404,
                span,
                format!(
                    "template `{}` reads `{{{{inputs.parameters.{name}}}}}`, an input it does not declare",
                    template.name
                ),
            );
        }
    }

    /// A task's parameters: every input its template declares without a default is passed,
    /// and nothing else (Argo: "inputs.parameters.NAME was not supplied"). Then a task that
    /// acts on a Rollout — its template's `ROLLOUT`, with the task's values — names one that
    /// is generated, and a container of it.
    fn task_parameters(&mut self, task: &DagTask, template: &Template, span: Span) {
        let declared = template.inputs.iter().flat_map(|i| &i.parameters);
        let passed: BTreeMap<&str, &str> = task
            .arguments
            .iter()
            .flat_map(|a| &a.parameters)
            .map(|p| (p.name.as_str(), p.value.as_deref().unwrap_or_default()))
            .collect();
        let mut inputs = BTreeMap::new();
        for input in declared {
            match passed
                .get(input.name.as_str())
                .copied()
                .or(input.value.as_deref())
            {
                Some(value) => {
                    inputs.insert(input.name.as_str(), value);
                }
                None => self.report(
                    Code::E0404,
                    span,
                    format!(
                        "task `{}` does not pass `{}`, an input of template `{}`",
                        task.name, input.name, template.name
                    ),
                ),
            }
        }
        for name in passed.keys() {
            if !inputs.contains_key(name) {
                self.report(
                    Code::E0404,
                    span,
                    format!(
                        "task `{}` passes `{name}`, which template `{}` does not take",
                        task.name, template.name
                    ),
                );
            }
        }
        let env = template
            .script
            .as_ref()
            .map(|s| &s.env)
            .or(template.container.as_ref().map(|c| &c.env));
        let value = |name: &str| {
            let text = env
                .into_iter()
                .flatten()
                .find(|e| e.name == name)
                .and_then(|e| e.value.as_deref())?;
            let input = |n: &str| inputs.get(n).map(|v| v.to_string());
            Some(
                pipec_argo_semantics::workflow::instance::substitute_inputs(text, &input)
                    .into_owned(),
            )
        };
        let Some(rollout) = value(script_env::ROLLOUT) else {
            return;
        };
        let namespace = value(script_env::NAMESPACE);
        match self
            .index
            .rollouts
            .get(&(namespace.as_deref(), rollout.as_str()))
        {
            None => self.report(
                Code::E0401,
                span,
                format!(
                    "step `{}` acts on Rollout `{rollout}`, which is not generated",
                    task.name
                ),
            ),
            Some(r) => {
                if let Some(container) = value("CONTAINER")
                    && !r
                        .spec
                        .template
                        .spec
                        .containers
                        .iter()
                        .any(|c| c.name.as_deref() == Some(container.as_str()))
                {
                    self.report(
                        Code::E0401,
                        span,
                        format!(
                            "step `{}` runs in container `{container}`, which Rollout `{rollout}` does not have",
                            task.name
                        ),
                    );
                }
            }
        }
    }

    fn dag(
        &mut self,
        owner: &str,
        dag: &DagTemplate,
        templates: &BTreeMap<&str, &Template>,
        span: Span,
    ) {
        let tasks: BTreeMap<&str, &str> = dag
            .tasks
            .iter()
            .map(|t| (t.name.as_str(), t.template.as_str()))
            .collect();
        if tasks.len() != dag.tasks.len() {
            self.report(
                Code::E0404,
                span,
                format!("two tasks of `{owner}` share a name"),
            );
        }
        for task in &dag.tasks {
            let Some(template) = templates.get(task.template.as_str()) else {
                self.report(
                    Code::E0404,
                    span,
                    format!(
                        "task `{}` runs template `{}`, which the Workflow does not define",
                        task.name, task.template
                    ),
                );
                continue;
            };
            // Parsed and its results checked as Argo does (`pipec_argo_semantics::depends`,
            // tested against Argo's `TestValidateTaskResults`).
            if let Some(depends) = &task.depends {
                match pipec_argo_semantics::depends::validate(depends) {
                    Err(problem) => self.report(
                        Code::E0405,
                        span,
                        format!(
                            "task `{}` has `depends: {depends}`, which Argo cannot parse: {problem}",
                            task.name
                        ),
                    ),
                    Ok(()) => {
                        for name in pipec_argo_semantics::depends::tasks(depends) {
                            if !tasks.contains_key(name.as_str()) || name == task.name {
                                self.report(
                                    Code::E0404,
                                    span,
                                    format!(
                                        "task `{}` depends on `{name}`, which is not another task of `{owner}`",
                                        task.name
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            if let Some(when) = &task.when
                && let Err(problem) = check_when(when)
            {
                self.report(
                    Code::E0405,
                    span,
                    format!("task `{}` has `when: {when}`: {problem}", task.name),
                );
            }
            self.task_parameters(task, template, span);
            // Artifacts: every input the template waits for is passed, from an output that
            // the producing task's template declares.
            let wanted: BTreeSet<&str> = template
                .inputs
                .iter()
                .flat_map(|i| &i.artifacts)
                .filter(|a| a.git.is_none())
                .map(|a| a.name.as_str())
                .collect();
            let passed: Vec<_> = task.arguments.iter().flat_map(|a| &a.artifacts).collect();
            for name in &wanted {
                if !passed.iter().any(|a| a.name == *name) {
                    self.report(
                        Code::E0404,
                        span,
                        format!("task `{}` is not given its input `{name}`", task.name),
                    );
                }
            }
            for argument in passed {
                if !wanted.contains(argument.name.as_str()) {
                    self.report(
                        Code::E0404,
                        span,
                        format!(
                            "task `{}` is given `{}`, which its template does not take",
                            task.name, argument.name
                        ),
                    );
                }
                let source = argument
                    .from
                    .strip_prefix("{{tasks.")
                    .and_then(|r| r.strip_suffix("}}"))
                    .and_then(|r| r.split_once(".outputs.artifacts."));
                let resolved = source.is_some_and(|(producer, output)| {
                    tasks
                        .get(producer)
                        .and_then(|t| templates.get(t))
                        .is_some_and(|t| {
                            t.outputs
                                .iter()
                                .flat_map(|o| &o.artifacts)
                                .any(|a| a.name == output)
                        })
                });
                if !resolved {
                    self.report(
                        Code::E0404,
                        span,
                        format!(
                            "task `{}` takes `{}` from `{}`, which no task of `{owner}` produces",
                            task.name, argument.name, argument.from
                        ),
                    );
                }
            }
        }
    }
}

/// The label sets a Rollout's pods can carry: the template's, and for a canary the
/// template's plus the canary's or the stable's ephemeral labels.
fn pod_label_sets(rollout: &Rollout) -> Vec<BTreeMap<String, String>> {
    let base = rollout.spec.template.metadata.labels.clone();
    let mut sets = vec![base.clone()];
    if let RolloutStrategy::Canary(c) = &rollout.spec.strategy {
        for meta in [&c.canary_metadata, &c.stable_metadata]
            .into_iter()
            .flatten()
        {
            let mut labels = base.clone();
            labels.extend(meta.labels.clone());
            sets.push(labels);
        }
    }
    sets
}

/// Whether a non-empty selector matches every one of its `k=v` in `labels`.
fn subset(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn show_labels(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("`{}`", parts.join(","))
}

/// Checks a `when` the way Argo reads it. Either the whole is one expression tag
/// `{{=…}}`, evaluated by expr-lang, or `{{…}}` tags are replaced by raw text first and
/// govaluate parses the result.
pub fn check_when(when: &str) -> Result<(), String> {
    match when
        .strip_prefix("{{=")
        .and_then(|rest| rest.strip_suffix("}}"))
    {
        Some(expr) => check_expr(expr),
        None => check_govaluate(when),
    }
}

/// The expr-lang subset pipec writes: string and number literals, `true`/`false`, variables
/// with `.field` and `['key']`, calls, `!`/`not`, and binary operators. Argo finds the tag's
/// end at the first `}}`, so none may appear inside, not even in a string.
fn check_expr(expr: &str) -> Result<(), String> {
    if expr.contains("}}") {
        return Err("`}}` inside the expression would end Argo's tag early".to_string());
    }
    if expr.contains("{{") {
        return Err("`{{` inside an expression tag".to_string());
    }
    #[derive(Debug, PartialEq)]
    enum Tok<'a> {
        Str,
        Num,
        Ident(&'a str),
        Op,
        Not,
        Punct(char),
    }
    let bytes = expr.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' => i += 1,
            b'\'' | b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err("a string is not closed".to_string()),
                        Some(b'\\') => i += 2,
                        Some(q) if *q == c => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                toks.push(Tok::Str);
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                toks.push(Tok::Num);
            }
            b'(' | b')' | b'[' | b']' | b',' | b'.' => {
                toks.push(Tok::Punct(c as char));
                i += 1;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match &expr[start..i] {
                    "matches" | "and" | "or" | "in" | "contains" | "startsWith" | "endsWith" => {
                        toks.push(Tok::Op)
                    }
                    "not" => toks.push(Tok::Not),
                    word => toks.push(Tok::Ident(word)),
                }
            }
            _ => {
                let two = expr.get(i..i + 2).unwrap_or("");
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two) {
                    toks.push(Tok::Op);
                    i += 2;
                } else if c == b'!' {
                    toks.push(Tok::Not);
                    i += 1;
                } else if b"<>+-*/%".contains(&c) {
                    toks.push(Tok::Op);
                    i += 1;
                } else {
                    return Err(format!("unexpected `{}`", c as char));
                }
            }
        }
    }
    // expr := unary (Op unary)*; unary := Not* postfix;
    // postfix := primary ('.' Ident | '[' expr ']' | '(' args ')')*
    fn expr_at(t: &[Tok<'_>], at: usize) -> Result<usize, String> {
        let mut at = unary(t, at)?;
        while t.get(at) == Some(&Tok::Op) {
            at = unary(t, at + 1)?;
        }
        Ok(at)
    }
    fn unary(t: &[Tok<'_>], mut at: usize) -> Result<usize, String> {
        while t.get(at) == Some(&Tok::Not) {
            at += 1;
        }
        at = match t.get(at) {
            Some(Tok::Str | Tok::Num | Tok::Ident(_)) => at + 1,
            Some(Tok::Punct('(')) => close(t, expr_at(t, at + 1)?, ')')?,
            _ => return Err("an operand is missing".to_string()),
        };
        loop {
            at = match (t.get(at), t.get(at + 1)) {
                (Some(Tok::Punct('.')), Some(Tok::Ident(_))) => at + 2,
                (Some(Tok::Punct('[')), _) => close(t, expr_at(t, at + 1)?, ']')?,
                (Some(Tok::Punct('(')), Some(Tok::Punct(')'))) => at + 2,
                (Some(Tok::Punct('(')), _) => {
                    let mut at = expr_at(t, at + 1)?;
                    while t.get(at) == Some(&Tok::Punct(',')) {
                        at = expr_at(t, at + 1)?;
                    }
                    close(t, at, ')')?
                }
                _ => return Ok(at),
            };
        }
    }
    fn close(t: &[Tok<'_>], at: usize, c: char) -> Result<usize, String> {
        if t.get(at) == Some(&Tok::Punct(c)) {
            Ok(at + 1)
        } else {
            Err(format!("`{c}` is missing"))
        }
    }
    let end = expr_at(&toks, 0)?;
    if end != toks.len() {
        return Err("unexpected text after the expression".to_string());
    }
    Ok(())
}

/// govaluate over substituted text: every tag must sit inside single quotes (an unquoted
/// value would be parsed as an expression), and the whole must be a well-formed comparison of
/// quoted strings, numbers and booleans joined by `&&`, `||`, `!` and parentheses.
fn check_govaluate(when: &str) -> Result<(), String> {
    #[derive(Debug, PartialEq)]
    enum Tok {
        Operand,
        Compare,
        Logic,
        Not,
        Open,
        Close,
    }
    let bytes = when.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'\'' => {
                let end = when[i + 1..]
                    .find('\'')
                    .ok_or("a quoted string is not closed")?;
                i += end + 2;
                toks.push(Tok::Operand);
            }
            b'{' if when[i..].starts_with("{{") => {
                return Err("a `{{…}}` tag is not inside quotes".to_string());
            }
            b'(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            b')' => {
                toks.push(Tok::Close);
                i += 1;
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&c) {
                    return Err(format!("`{}` is not an operator", c as char));
                }
                toks.push(Tok::Logic);
                i += 2;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = when.get(i..i + 2).unwrap_or("");
                if ["==", "!=", "=~", "!~", "<=", ">="].contains(&two) {
                    toks.push(Tok::Compare);
                    i += 2;
                } else if c == b'!' {
                    toks.push(Tok::Not);
                    i += 1;
                } else if c == b'<' || c == b'>' {
                    toks.push(Tok::Compare);
                    i += 1;
                } else {
                    return Err("`=` is not an operator; compare with `==`".to_string());
                }
            }
            b'0'..=b'9' | b'-' | b'.' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit() || bytes[i] == b'.' || bytes[i] == b'-')
                {
                    i += 1;
                }
                toks.push(Tok::Operand);
            }
            _ => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match &when[start..i] {
                    "true" | "false" => toks.push(Tok::Operand),
                    "" => return Err(format!("unexpected `{}`", c as char)),
                    word => return Err(format!("`{word}` is not quoted")),
                }
            }
        }
    }
    // expr := term (Logic term)*; term := Not* (Open expr Close | Operand (Compare Operand)?)
    fn expr(toks: &[Tok], mut at: usize) -> Result<usize, String> {
        at = term(toks, at)?;
        while toks.get(at) == Some(&Tok::Logic) {
            at = term(toks, at + 1)?;
        }
        Ok(at)
    }
    fn term(toks: &[Tok], mut at: usize) -> Result<usize, String> {
        while toks.get(at) == Some(&Tok::Not) {
            at += 1;
        }
        match toks.get(at) {
            Some(Tok::Open) => {
                let end = expr(toks, at + 1)?;
                if toks.get(end) != Some(&Tok::Close) {
                    return Err("a parenthesis is not closed".to_string());
                }
                Ok(end + 1)
            }
            Some(Tok::Operand) => {
                if toks.get(at + 1) == Some(&Tok::Compare) {
                    if toks.get(at + 2) != Some(&Tok::Operand) {
                        return Err("a comparison lacks its right side".to_string());
                    }
                    return Ok(at + 3);
                }
                Ok(at + 1)
            }
            _ => Err("an operand is missing".to_string()),
        }
    }
    let end = expr(&toks, 0)?;
    if end != toks.len() {
        return Err("unexpected text after the expression".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pipec_argo_model::workflows::Parameter;

    use super::*;
    use crate::modules::NoImports;
    use crate::{Mode, compile};

    /// A canary with an analysis, a build, a test consuming an artifact, and `on failure`:
    /// every cross-reference the verifier checks.
    const PROGRAM: &str = r#"
use std.analysis.success_rate
pipeline p {
  repo = "https://example.com/p.git"
  step compile = run "golang:1.23" { checkout = true, command = "go build -o app .", outputs = { app = "app" } }
  image img = build "." { repo = "registry.example.com/p", inputs = [compile.app] }
  step unit = run img { command = "true", when = git.branch == "main" }
  service api { image = img, port = 8080, replicas = 4 }
  release api canary {
    isolated = true
    weight 25%
    check exec "./smoke"
    analyze success_rate(service = "api", min = 99%)
    join
  }
  on failure { collect diagnostics of api }
  on schedule "@daily"
  on push branch "main"
}
"#;

    /// A deliberate break in the lowered documents.
    type Mutation = Box<dyn FnOnce(&mut Vec<Lowered>)>;

    fn lowered() -> Vec<Lowered> {
        lowered_from(PROGRAM)
    }

    fn lowered_from(program: &str) -> Vec<Lowered> {
        let c = compile("p.pipe", program.as_bytes(), &NoImports, Mode::Check);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        assert!(!c.lowered.is_empty());
        c.lowered
    }

    fn codes_after(mutate: impl FnOnce(&mut Vec<Lowered>)) -> Vec<Code> {
        verified(lowered(), mutate)
            .into_iter()
            .map(|d| d.code)
            .collect()
    }

    fn verified(mut docs: Vec<Lowered>, mutate: impl FnOnce(&mut Vec<Lowered>)) -> Vec<Diagnostic> {
        mutate(&mut docs);
        let mut diags = Diagnostics::default();
        verify(&docs, &mut diags);
        diags.into_sorted()
    }

    fn find<'a>(docs: &'a mut [Lowered], kind: &str) -> &'a mut Document {
        docs.iter_mut()
            .map(|l| &mut l.document)
            .find(|d| d.kind() == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    fn rollout(docs: &mut [Lowered]) -> &mut Rollout {
        match find(docs, "Rollout") {
            Document::Rollout(r) => r,
            _ => unreachable!(),
        }
    }

    fn workflow(docs: &mut [Lowered]) -> &mut Workflow {
        match find(docs, "WorkflowTemplate") {
            Document::WorkflowTemplate(w) => w,
            _ => unreachable!(),
        }
    }

    fn main_dag(docs: &mut [Lowered]) -> &mut DagTemplate {
        workflow(docs)
            .spec
            .templates
            .iter_mut()
            .find_map(|t| t.dag.as_mut().filter(|_| t.name == "main"))
            .unwrap()
    }

    fn template_named<'a>(docs: &'a mut [Lowered], name: &str) -> &'a mut Template {
        workflow(docs)
            .spec
            .templates
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no template {name}"))
    }

    /// The parameters task `task` of `main` passes.
    fn parameters_of<'a>(docs: &'a mut [Lowered], task: &str) -> &'a mut Vec<Parameter> {
        let task = main_dag(docs)
            .tasks
            .iter_mut()
            .find(|t| t.name == task)
            .unwrap_or_else(|| panic!("no task {task}"));
        &mut task.arguments.as_mut().unwrap().parameters
    }

    fn canary_steps(docs: &mut [Lowered]) -> &mut Vec<CanaryStep> {
        match &mut rollout(docs).spec.strategy {
            RolloutStrategy::Canary(c) => &mut c.steps,
            RolloutStrategy::BlueGreen(_) => unreachable!(),
        }
    }

    fn analysis(docs: &mut [Lowered]) -> &mut RolloutAnalysis {
        canary_steps(docs)
            .iter_mut()
            .find_map(|s| match s {
                CanaryStep::Analysis(a) => Some(a),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn the_generated_resources_are_consistent() {
        assert_eq!(codes_after(|_| {}), vec![]);
    }

    #[test]
    fn missing_objects_are_e0401() {
        let cases: Vec<Mutation> = vec![
            Box::new(|d| d.retain(|l| l.document.kind() != "AnalysisTemplate")),
            Box::new(|d| {
                d.retain(|l| {
                    !(l.document.kind() == "Service" && l.document.name().ends_with("-canary"))
                })
            }),
            Box::new(|d| d.retain(|l| l.document.kind() != "WorkflowTemplate")),
            Box::new(|d| d.retain(|l| l.document.kind() != "EventSource")),
            Box::new(|d| rollout(d).metadata.name = Some("other".to_string())),
            Box::new(|d| rollout(d).spec.template.spec.containers[0].name = Some("x".into())),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0401), "case {i}");
        }
    }

    #[test]
    fn analysis_arguments_are_e0402() {
        let cases: Vec<Mutation> = vec![
            Box::new(|d| analysis(d).args.clear()),
            Box::new(|d| analysis(d).args[0].name = "sevrice".to_string()),
            Box::new(|d| analysis(d).args[0].value.clear()),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0402), "case {i}");
        }
    }

    #[test]
    fn selectors_that_miss_their_pods_are_e0403() {
        let cases: Vec<Mutation> = vec![
            Box::new(|d| {
                rollout(d)
                    .spec
                    .selector
                    .match_labels
                    .insert("tier".into(), "web".into());
            }),
            Box::new(|d| {
                if let Document::Service(s) = find(d, "Service") {
                    s.spec.selector.insert("tier".into(), "web".into());
                }
            }),
            // A label no pod carries, first in the selector's order: the index finds nothing.
            Box::new(|d| {
                if let Document::Service(s) = find(d, "Service") {
                    s.spec.selector.insert("aaa".into(), "x".into());
                }
            }),
            // The right labels, in a namespace without the Rollout.
            Box::new(|d| {
                if let Document::Service(s) = find(d, "Service") {
                    s.metadata.namespace = Some("elsewhere".into());
                }
            }),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0403), "case {i}");
        }
    }

    /// `ValidateRolloutSpec`: the deadline must be greater than `minReadySeconds`, so equal
    /// is refused and one second more is not; a canary's scale-down delay needs a router.
    #[test]
    fn a_rollout_argo_rollouts_would_refuse_is_e0410() {
        let codes = codes_after(|d| {
            if let RolloutStrategy::Canary(c) = &mut rollout(d).spec.strategy {
                c.traffic_routing = None;
                c.scale_down_delay_seconds = Some(60);
            }
        });
        assert!(codes.contains(&Code::E0410), "{codes:?}");
        for (min_ready, refused) in [(1800, true), (1799, false), (4000, true)] {
            let codes = codes_after(|d| {
                let spec = &mut rollout(d).spec;
                spec.progress_deadline_seconds = 1800;
                spec.min_ready_seconds = Some(min_ready);
            });
            assert_eq!(
                codes.contains(&Code::E0410),
                refused,
                "{min_ready}: {codes:?}"
            );
        }
    }

    #[test]
    fn unresolved_workflow_references_are_e0404() {
        let cases: Vec<Mutation> = vec![
            Box::new(|d| main_dag(d).tasks[0].template = "nope".to_string()),
            Box::new(|d| main_dag(d).tasks[1].depends = Some("nope.Succeeded".to_string())),
            Box::new(|d| workflow(d).spec.on_exit = Some("nope".to_string())),
            Box::new(|d| workflow(d).spec.entrypoint = Some("nope".to_string())),
            Box::new(|d| {
                let task = main_dag(d)
                    .tasks
                    .iter_mut()
                    .find(|t| t.name == "img")
                    .unwrap();
                task.arguments = None;
            }),
            Box::new(|d| {
                let task = main_dag(d)
                    .tasks
                    .iter_mut()
                    .find(|t| t.name == "img")
                    .unwrap();
                task.arguments.as_mut().unwrap().artifacts[0].from =
                    "{{tasks.compile.outputs.artifacts.other}}".to_string();
            }),
            Box::new(|d| {
                let t = main_dag(d).tasks[0].clone();
                main_dag(d).tasks.push(t);
            }),
            // A shared template's inputs: one not passed, one passed that it does not take,
            // one read that it does not declare, one declared twice.
            Box::new(|d| {
                parameters_of(d, "api-deploy").retain(|p| p.name != "IMAGE");
            }),
            Box::new(|d| {
                parameters_of(d, "api-deploy").push(Parameter::argument("EXTRA", "x"));
            }),
            Box::new(|d| {
                let inputs = template_named(d, "rollout-deploy").inputs.as_mut().unwrap();
                inputs.parameters.retain(|p| p.name != "IMAGE");
            }),
            Box::new(|d| {
                let inputs = template_named(d, "rollout-deploy").inputs.as_mut().unwrap();
                let first = inputs.parameters[0].clone();
                inputs.parameters.push(first);
            }),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0404), "case {i}");
        }
    }

    #[test]
    fn objects_larger_than_the_cluster_accepts_are_e0409() {
        let big = |bytes: usize| "x".repeat(bytes);
        let under: Mutation = Box::new(move |d| {
            let template = template_named(d, "rollout-deploy");
            template.script.as_mut().unwrap().source = big(MAX_WORKFLOW_BYTES - 64 * 1024);
        });
        assert_eq!(codes_after(under), vec![]);
        let cases: Vec<Mutation> = vec![
            Box::new(move |d| {
                let template = template_named(d, "rollout-deploy");
                template.script.as_mut().unwrap().source = big(MAX_WORKFLOW_BYTES);
            }),
            Box::new(move |d| {
                rollout(d)
                    .metadata
                    .annotations
                    .insert("big".to_string(), big(MAX_OBJECT_BYTES));
            }),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert_eq!(codes_after(mutate), vec![Code::E0409], "case {i}");
        }
        // Without triggers the run itself is emitted, named by its `generateName`; the
        // message names it without the dash.
        let untriggered: String = PROGRAM
            .lines()
            .filter(|line| !line.trim_start().starts_with("on schedule"))
            .filter(|line| !line.trim_start().starts_with("on push"))
            .map(|line| format!("{line}\n"))
            .collect();
        let [too_big] = &verified(lowered_from(&untriggered), move |d| {
            let run = find(d, "Workflow").metadata_mut();
            assert_eq!(run.generate_name.as_deref(), Some("p-"));
            run.annotations
                .insert("big".to_string(), big(MAX_WORKFLOW_BYTES));
        })[..] else {
            panic!("one diagnostic expected")
        };
        assert!(
            too_big.message.starts_with("the Workflow `p` would be "),
            "{}",
            too_big.message
        );
        // A Rollout may be larger than a Workflow: etcd's limit, not Argo's.
        let rollout_under: Mutation = Box::new(move |d| {
            rollout(d)
                .metadata
                .annotations
                .insert("big".to_string(), big(MAX_WORKFLOW_BYTES));
        });
        assert_eq!(codes_after(rollout_under), vec![]);
    }

    #[test]
    fn a_task_acts_on_the_rollout_its_arguments_name() {
        // Another Rollout, another container than the Rollout's.
        let cases = [
            ("api-deploy", "ROLLOUT", "other"),
            ("api-check-1", "CONTAINER", "sidecar"),
        ]
        .map(|(task, name, value)| -> Mutation {
            Box::new(move |d| {
                let passed = parameters_of(d, task);
                let parameter = passed.iter_mut().find(|p| p.name == name).unwrap();
                parameter.value = Some(value.to_string());
            })
        });
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0401), "case {i}");
        }
    }

    #[test]
    fn malformed_expressions_are_e0405() {
        let cases: Vec<Mutation> = vec![
            Box::new(|d| {
                let task = main_dag(d)
                    .tasks
                    .iter_mut()
                    .find(|t| t.name == "unit")
                    .unwrap();
                task.when = Some("{{workflow.parameters.git-branch}} == main".to_string());
            }),
            Box::new(|d| {
                main_dag(d).tasks[1].depends = Some("compile.Passed".to_string());
            }),
        ];
        for (i, mutate) in cases.into_iter().enumerate() {
            assert!(codes_after(mutate).contains(&Code::E0405), "case {i}");
        }
    }

    #[test]
    fn when_expressions_as_argo_reads_them() {
        for ok in [
            "'{{workflow.parameters.git-branch}}' == 'master'",
            "('{{workflow.parameters.git-branch}}' == 'master' || '{{workflow.parameters.git-tag}}' =~ '^hotfix') && !('a' != 'b')",
            "'{{workflow.status}}' != 'Succeeded'",
            "'{{workflow.parameters.replicas}}' >= 3",
            "true",
            "{{=workflow.parameters['git-branch'] == 'master' || workflow.parameters['git-tag'] matches '^hotfix'}}",
            "{{=!(sprig.trunc(7, workflow.parameters['git-sha']) == 'abc' + 'd') && workflow.parameters['n'] >= 3}}",
            "{{='a{' + '{b' != 'x'}}",
        ] {
            assert_eq!(check_when(ok), Ok(()), "{ok}");
        }
        for bad in [
            "{{workflow.parameters.git-branch}} == 'master'",
            "'a' == ",
            "('a' == 'b'",
            "'a' = 'b'",
            "'a' == 'b' 'c'",
            "'unterminated == 'x",
            "master == 'master'",
            "'a' & 'b'",
            "{{=workflow.parameters['git-branch'] == 'a}}b'}}",
            "{{=workflow.parameters['git-branch'] == }}",
            "{{=(workflow.parameters['x'] == 'a'}}",
            "{{=workflow.parameters['x'] 'a'}}",
            "{{='unclosed}}",
        ] {
            assert!(check_when(bad).is_err(), "{bad} should be rejected");
        }
    }
}
