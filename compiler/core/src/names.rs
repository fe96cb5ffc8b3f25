//! Every name pipec generates, and the final-names pass over what one invocation emits.
//!
//! The lowering never spells a suffix itself: it asks this module for the name of a canary
//! Service, a release task or the rollback template, and the type checker asks the same
//! functions which names a step must not take. After lowering, [`check`] runs every emitted
//! name through the Kubernetes or Argo rule of its field ([`crate::k8s_rules`]) and makes sure
//! no two objects of one kind share a name in a namespace; [`check_across`] does the same over
//! the files of one `pipec check`/`pipec compile`, so both verbs give the same answer.
//!
//! A name that is too long is **refused** with the `.pipe` span that chose it, never shortened:
//! a person who reads `kubectl get svc` must find the name they wrote, and a hashed suffix
//! would change whenever the rule's input does.

use std::collections::BTreeMap;

use pipec_argo_model::Document;
use pipec_argo_model::workflows::Workflow;
use pipec_syntax::Span;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::k8s_rules::{self, NameRule};
use crate::lower::Lowered;
use crate::source::SourceDb;

/// The Workflow's entry template: the DAG of the whole pipeline.
pub const ENTRYPOINT: &str = "main";
/// The Workflow's exit handler: failure handlers, rollback, teardown.
pub const EXIT_HANDLER: &str = "on-exit";

/// `release_image` → `release-image`: the Kubernetes spelling of a `.pipe` name.
pub fn kebab(name: &str) -> String {
    name.replace('_', "-")
}

/// The Service that reaches only the canary pods (isolated canaries, tests, traffic routers).
pub fn canary_service(service: &str) -> String {
    format!("{service}-canary")
}

/// The Service a traffic router points at the stable pods.
pub fn stable_service(service: &str) -> String {
    format!("{service}-stable")
}

/// The Service of a blue-green release's new version before it is promoted.
pub fn preview_service(service: &str) -> String {
    format!("{service}-preview")
}

/// The WorkflowTemplate a person runs to roll a service back by hand.
pub fn rollback_template(pipeline: &str) -> String {
    format!("{pipeline}-rollback")
}

/// The label the rollback WorkflowTemplate carries, so the runtime finds it by what it is
/// rather than by the shape of its name.
pub const ROLE_LABEL: &str = "pipec.dev/role";
/// [`ROLE_LABEL`] of the rollback WorkflowTemplate.
pub const ROLE_ROLLBACK: &str = "rollback";

/// The AnalysisTemplate of an analysis, scoped by pipeline so two pipelines in one namespace
/// never overwrite each other's templates.
pub fn analysis_template(pipeline: &str, analysis: &str) -> String {
    format!("{pipeline}-{analysis}")
}

/// The `generateName` of a pipeline's runs.
pub fn run_prefix(pipeline: &str) -> String {
    format!("{pipeline}-")
}

/// The EventSource and Sensor of a push trigger.
pub fn push_trigger(pipeline: &str) -> String {
    format!("{pipeline}-push")
}

/// The EventSource and Sensor of a webhook trigger.
pub fn webhook_trigger(pipeline: &str) -> String {
    format!("{pipeline}-webhook")
}

/// The task that creates an ephemeral environment.
pub fn environment_up(environment: &str) -> String {
    format!("{environment}-up")
}

/// The task that deletes an ephemeral environment.
pub fn environment_down(environment: &str) -> String {
    format!("{environment}-down")
}

/// The tasks pipec generates to release a service, named `<service>-<suffix>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseTask {
    /// Applies the new version.
    Deploy,
    /// Waits until the Rollout pauses at the given step (none: at its first pause).
    Wait(Option<usize>),
    /// Releases the pause at the given step.
    Promote(Option<usize>),
    /// Waits until the Rollout is fully promoted and healthy.
    Complete,
    /// The n-th `check` (from 1).
    Check(usize),
    /// The n-th approval (from 1; the first has no number).
    Approve(usize),
    /// Lets an isolated canary join production traffic.
    Join,
    /// Rolls the service back (the exit handler and the rollback template).
    Rollback,
    /// Prints what went wrong with the Rollout.
    Diagnostics,
}

impl ReleaseTask {
    /// The template and task name of this task for a service.
    pub fn name(self, service: &str) -> String {
        format!("{service}-{}", self.suffix())
    }

    fn suffix(self) -> String {
        let numbered = |word: &str, n: Option<usize>| match n {
            Some(n) => format!("{word}-{n}"),
            None => word.to_string(),
        };
        match self {
            ReleaseTask::Deploy => "deploy".to_string(),
            ReleaseTask::Wait(step) => numbered("wait", step),
            ReleaseTask::Promote(step) => numbered("promote", step),
            ReleaseTask::Complete => "complete".to_string(),
            ReleaseTask::Check(n) => format!("check-{n}"),
            ReleaseTask::Approve(1) => "approve".to_string(),
            ReleaseTask::Approve(n) => format!("approve-{n}"),
            ReleaseTask::Join => "join".to_string(),
            ReleaseTask::Rollback => "rollback".to_string(),
            ReleaseTask::Diagnostics => "diagnostics".to_string(),
        }
    }

    /// Whether `suffix` is one [`ReleaseTask::name`] can produce (`check-2`, `wait`).
    pub fn is_suffix(suffix: &str) -> bool {
        let number = |rest: &str| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0')
        };
        let (word, n) = match suffix.split_once('-') {
            Some((word, n)) if number(n) => (word, true),
            Some(_) => return false,
            None => (suffix, false),
        };
        match word {
            "check" => n,
            "wait" | "promote" | "approve" => true,
            "deploy" | "complete" | "join" | "rollback" | "diagnostics" => !n,
            _ => false,
        }
    }
}

/// The rule an object's `metadata.name` must meet, by kind.
fn object_rule(document: &Document) -> NameRule {
    match document {
        // `ValidateServiceName` is `NameIsDNS1035Label`.
        Document::Service(_) => NameRule::Dns1035Label,
        Document::Workflow(_) | Document::WorkflowTemplate(_) => NameRule::ArgoObject,
        Document::CronWorkflow(_) => NameRule::CronWorkflow,
        Document::Ingress(_)
        | Document::AnalysisTemplate(_)
        | Document::Rollout(_)
        | Document::EventSource(_)
        | Document::Sensor(_) => NameRule::Dns1123Subdomain,
    }
}

/// The final-names pass over one compilation's documents: every generated name meets the
/// rule of its field, and no two objects of one kind share a name in a namespace.
pub fn check(lowered: &[Lowered], sources: &SourceDb, diags: &mut Diagnostics) {
    let mut seen: BTreeMap<ObjectKey, Span> = BTreeMap::new();
    for l in lowered {
        let mut report = |what: String, name: &str, rule: NameRule, reason: String| {
            diags.push(too_long_or_invalid(l.origin, &what, name, rule, &reason));
        };
        let document = &l.document;
        let meta = document.metadata();
        let kind = document.kind();
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) => {
                let rule = object_rule(document);
                if let Err(reason) = rule.check(name) {
                    report(format!("the {kind}"), name, rule, reason);
                }
            }
            (None, Some(prefix)) => {
                if !k8s_rules::generate_name_prefix(prefix) {
                    let reason = "has characters the rule does not allow".to_string();
                    report(
                        format!("the {kind}'s generateName"),
                        prefix,
                        NameRule::Dns1123Subdomain,
                        reason,
                    );
                }
            }
            (None, None) => {}
        }
        if let Some(namespace) = &meta.namespace
            && let Err(reason) = NameRule::Dns1123Label.check(namespace)
        {
            report(
                format!("the namespace of the {kind}"),
                namespace,
                NameRule::Dns1123Label,
                reason,
            );
        }
        if let Document::EventSource(_) = document {
            let service = format!(
                "{}{}",
                document.name(),
                k8s_rules::EVENT_SOURCE_SERVICE_SUFFIX
            );
            if let Err(reason) = NameRule::Dns1035Label.check(&service) {
                report(
                    "the Service Argo Events creates for the EventSource".to_string(),
                    &service,
                    NameRule::Dns1035Label,
                    reason,
                );
            }
        }
        for (key, value) in labels(document) {
            if let Err(reason) = NameRule::LabelValue.check(value) {
                report(
                    format!("label `{key}` of the {kind}"),
                    value,
                    NameRule::LabelValue,
                    reason,
                );
            }
        }
        if let Document::Workflow(w) | Document::WorkflowTemplate(w) = document {
            workflow_fields(w, l.origin, sources, diags);
        }
        let key = ObjectKey::of(document);
        if let Some(first) = seen.get(&key) {
            diags.push(clash(l.origin, &key, Clash::Here(*first)));
        } else {
            seen.insert(key, l.origin);
        }
    }
}

/// Labels of an object and of the pods it makes.
fn labels(document: &Document) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = document
        .metadata()
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Document::Rollout(r) = document {
        out.extend(
            r.spec
                .template
                .metadata
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    out
}

/// Template, task and parameter names of a Workflow, and their uniqueness
/// (`validateWorkflowFieldNames`, `validateNonLeaf` in Argo's `validate.go`).
fn workflow_fields(workflow: &Workflow, origin: Span, sources: &SourceDb, diags: &mut Diagnostics) {
    // A template's own source annotation points at the step that asked for it.
    let span_of = |metadata: Option<&pipec_argo_model::workflows::TemplateMetadata>| {
        metadata
            .and_then(|m| m.annotations.get(crate::lower::SOURCE_ANNOTATION))
            .and_then(|location| sources.resolve_location(location))
            .unwrap_or(origin)
    };
    let mut templates: BTreeMap<&str, Span> = BTreeMap::new();
    for template in &workflow.spec.templates {
        let span = span_of(template.metadata.as_ref());
        if let Err(reason) = NameRule::ArgoField.check(&template.name) {
            diags.push(too_long_or_invalid(
                span,
                "the Workflow template",
                &template.name,
                NameRule::ArgoField,
                &reason,
            ));
        }
        if let Some(first) = templates.insert(&template.name, span) {
            diags.push(duplicate_in_workflow(
                span,
                "template",
                &template.name,
                first,
            ));
        }
        if let Some(dag) = &template.dag {
            let mut tasks: BTreeMap<&str, ()> = BTreeMap::new();
            for task in &dag.tasks {
                if let Err(reason) = NameRule::ArgoField.check(&task.name) {
                    diags.push(too_long_or_invalid(
                        span,
                        "the Workflow task",
                        &task.name,
                        NameRule::ArgoField,
                        &reason,
                    ));
                }
                if tasks.insert(&task.name, ()).is_some() {
                    diags.push(duplicate_in_workflow(span, "task", &task.name, span));
                }
            }
        }
    }
    let parameters = workflow
        .spec
        .arguments
        .iter()
        .flat_map(|a| &a.parameters)
        .map(|p| p.name.as_str());
    for name in parameters {
        if let Err(reason) = NameRule::ArgoParameter.check(name) {
            diags.push(too_long_or_invalid(
                origin,
                "the Workflow parameter",
                name,
                NameRule::ArgoParameter,
                &reason,
            ));
        }
    }
}

/// Objects are the same object to the API server when these agree.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// `None`: the namespace the objects are applied to.
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    fn of(document: &Document) -> Self {
        ObjectKey {
            api_version: document.api_version(),
            kind: document.kind(),
            namespace: document.metadata().namespace.clone(),
            // Two generateName prefixes never collide in the API server; they are still
            // compared, since `-o DIR` names files after them.
            name: document.name().to_string(),
        }
    }

    fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} `{}` in namespace `{ns}`", self.kind, self.name),
            None => format!("{} `{}`", self.kind, self.name),
        }
    }
}

/// The files of one invocation, in the order given, each with the keys of what it emits.
/// Objects of a later file that an earlier file also emits are errors of the later file;
/// they are reported as [`Diagnostic`]s appended to its list, with the earlier location as a
/// note, and the later file's documents are dropped (errors stop output).
pub fn check_across(files: &mut [crate::Compilation]) {
    let mut owners: BTreeMap<ObjectKey, String> = BTreeMap::new();
    for compilation in files.iter_mut() {
        let mut found = Vec::new();
        for l in &compilation.lowered {
            let key = ObjectKey::of(&l.document);
            match owners.get(&key) {
                Some(location) => {
                    found.push(clash(l.origin, &key, Clash::Elsewhere(location.clone())))
                }
                None => {
                    owners.insert(key, compilation.sources.location(l.origin));
                }
            }
        }
        if !found.is_empty() {
            compilation.diagnostics.extend(found);
            compilation.documents.clear();
        }
    }
}

enum Clash {
    /// The other object comes from this span of the same compilation.
    Here(Span),
    /// The other object comes from another file, at this location.
    Elsewhere(String),
}

fn too_long_or_invalid(
    span: Span,
    what: &str,
    name: &str,
    rule: NameRule,
    reason: &str,
) -> Diagnostic {
    Diagnostic::new(
        Code::E0312,
        span,
        format!("{what} would be named `{name}`, which the cluster would refuse"),
    )
    .label(reason.to_string())
    .help(match name.len().checked_sub(rule.max_len()) {
        Some(excess) if excess > 0 => format!(
            "shorten the name declared here by at least {excess} character{} (`pipec explain E0312` lists what pipec adds to it)",
            if excess == 1 { "" } else { "s" }
        ),
        _ => "rename the declaration this name is made from (`pipec explain E0312` lists what pipec adds to it)".to_string(),
    })
    .note(format!("it must be {}", rule.describe()))
}

fn clash(span: Span, key: &ObjectKey, other: Clash) -> Diagnostic {
    let d = Diagnostic::new(
        Code::E0313,
        span,
        format!("{} is generated twice", key.describe()),
    )
    .label("generates it a second time")
    .help("rename one of the declarations: applying both would make one overwrite the other");
    match other {
        Clash::Here(first) => d.with_secondary(first, "generates it first"),
        Clash::Elsewhere(location) => d.note(format!("{location} also generates it")),
    }
}

fn duplicate_in_workflow(span: Span, what: &str, name: &str, first: Span) -> Diagnostic {
    let d = Diagnostic::new(
        Code::E0313,
        span,
        format!("the Workflow would have two {what}s named `{name}`"),
    )
    .label("generates it a second time")
    .help("rename one of the steps: Argo refuses a Workflow whose names are not unique");
    if first == span {
        d
    } else {
        d.with_secondary(first, "generates it first")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_task_names_and_their_suffixes_agree() {
        let tasks = [
            ReleaseTask::Deploy,
            ReleaseTask::Wait(None),
            ReleaseTask::Wait(Some(3)),
            ReleaseTask::Promote(None),
            ReleaseTask::Promote(Some(12)),
            ReleaseTask::Complete,
            ReleaseTask::Check(1),
            ReleaseTask::Approve(1),
            ReleaseTask::Approve(2),
            ReleaseTask::Join,
            ReleaseTask::Rollback,
            ReleaseTask::Diagnostics,
        ];
        for task in tasks {
            let name = task.name("api");
            let suffix = name.strip_prefix("api-").unwrap_or_default();
            assert!(ReleaseTask::is_suffix(suffix), "{name}");
        }
        for other in [
            "", "deploy-2", "check", "check-x", "tests", "wait-", "wait-01", "api",
        ] {
            assert!(!ReleaseTask::is_suffix(other), "{other}");
        }
    }
}
