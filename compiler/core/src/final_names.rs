//! The final-names pass over what one invocation emits.
//!
//! After lowering, [`check`] runs every emitted name through the Kubernetes or Argo rule of
//! its field ([`crate::k8s_rules`]) and makes sure no two objects of one kind share a name in a
//! namespace; [`check_across`] does the same over the files of one `pipec check` or
//! `pipec compile`, so both verbs give the same answer.
//!
//! A name that is too long is **refused** with the `.pipe` span that chose it, never shortened:
//! a person who reads `kubectl get svc` must find the name they wrote, and a hashed suffix
//! would change whenever the rule's input does. The names themselves are made in
//! [`crate::names`].

use std::collections::BTreeMap;

use pipec_argo_model::Document;
use pipec_argo_model::contract::annotations;
use pipec_argo_model::workflows::Workflow;
use pipec_syntax::Span;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::k8s_rules::{self, NameRule};
use crate::lower::Lowered;
use crate::source::SourceDb;

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
            .and_then(|m| m.annotations.get(annotations::SOURCE))
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
    pub fn of(document: &Document) -> Self {
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
        // A file's own clashes were reported by [`check`]; here only other files count.
        let mut own: BTreeMap<ObjectKey, String> = BTreeMap::new();
        let mut found = Vec::new();
        for (key, origin) in &compilation.objects {
            if let Some(location) = owners.get(key) {
                found.push(clash(*origin, key, Clash::Elsewhere(location.clone())));
            } else {
                own.entry(key.clone())
                    .or_insert_with(|| compilation.sources.location(*origin));
            }
        }
        owners.extend(own);
        if !found.is_empty() {
            compilation.diagnostics.extend(found);
            crate::diagnostic::sort(&mut compilation.diagnostics);
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
    use crate::modules::NoImports;
    use crate::{Mode, compile};

    const PROGRAM: &str = r#"
pipeline p {
  service api { image = "nginx:1.27", port = 80, replicas = 4 }
  release api canary { weight 50% }
  step unit = run "alpine:3.20" { command = "true" }
  on push branch "main"
}
"#;

    /// What the pass says after a deliberate break of the lowered documents: each rule is
    /// reached, not only the Service names the diagnostics suite covers.
    fn findings(mutate: impl FnOnce(&mut Vec<Lowered>)) -> Vec<String> {
        let c = compile("p.pipe", PROGRAM.as_bytes(), &NoImports, Mode::Check);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        let mut docs = c.lowered;
        mutate(&mut docs);
        let mut diags = Diagnostics::default();
        check(&docs, &c.sources, &mut diags);
        diags
            .into_sorted()
            .into_iter()
            .map(|d| format!("{} {}", d.code, d.message))
            .collect()
    }

    fn workflow(docs: &mut [Lowered]) -> &mut Workflow {
        docs.iter_mut()
            .find_map(|l| match &mut l.document {
                Document::WorkflowTemplate(w) if w.metadata.name.as_deref() == Some("p") => {
                    Some(w.as_mut())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no WorkflowTemplate p"))
    }

    #[test]
    fn the_generated_names_pass() {
        assert_eq!(findings(|_| {}), Vec::<String>::new());
    }

    #[test]
    fn each_rule_is_checked() {
        let long = "x".repeat(64);
        let label = findings(|docs| {
            docs[0]
                .document
                .metadata_mut()
                .labels
                .insert("app.kubernetes.io/part-of".into(), long.clone());
        });
        assert!(
            label[0].starts_with("E0312 label `app.kubernetes.io/part-of`"),
            "{label:?}"
        );
        let namespace = findings(|docs| {
            docs[0].document.metadata_mut().namespace = Some("Prod".into());
        });
        assert!(
            namespace[0].starts_with("E0312 the namespace"),
            "{namespace:?}"
        );
        let template = findings(|docs| {
            let w = workflow(docs);
            let copy = w.spec.templates[0].clone();
            w.spec.templates.push(copy);
        });
        assert!(
            template
                .iter()
                .any(|f| f.starts_with("E0313 the Workflow would have two templates")),
            "{template:?}"
        );
        let task = findings(|docs| {
            workflow(docs).spec.templates[0].name = format!("a_{long}");
        });
        assert!(
            task.iter()
                .any(|f| f.starts_with("E0312 the Workflow template")),
            "{task:?}"
        );
        let twice = findings(|docs| {
            let copy = docs[0].clone();
            docs.push(copy);
        });
        assert!(
            twice[0].starts_with("E0313 Service `api` is generated twice"),
            "{twice:?}"
        );
        let event_source = findings(|docs| {
            for l in docs.iter_mut() {
                if let Document::EventSource(_) = l.document {
                    l.document.metadata_mut().name = Some(format!("p{}", "-x".repeat(24)));
                }
            }
        });
        assert!(
            event_source
                .iter()
                .any(|f| f.contains("the Service Argo Events creates")),
            "{event_source:?}"
        );
    }
}
