//! Behavioural checks: the compiled Workflow run through the model of Argo's controller
//! (`pipec-argo-semantics`, checked against Argo's own test cases) for each outcome class,
//! and what pipec promises checked against what Argo would do.
//!
//! The promises: the teardown of every ephemeral environment runs whatever happened (it is in
//! the exit handler, "runs on success too"), and after a failure every `on failure` action runs.
//! Outcome classes: every step succeeds (approvals given), and each task of the entrypoint
//! fails in turn. A broken promise is pipec's bug (E0406), reported at the `.pipe` line of the
//! action or environment, before anything is written.

use std::collections::BTreeSet;

use pipec_argo_model::Document;
use pipec_argo_semantics::Phase;
use pipec_argo_semantics::workflow::{self, Outcomes, Run};
use pipec_syntax::Span;
use serde_json::Value;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::hir::{self, HandlerAction};
use crate::lower::Lowered;
use crate::names::{self, ReleaseTask};

/// When a task of the exit handler must run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Promise {
    /// Whatever the outcome (a teardown).
    Always,
    /// When the run did not succeed (`on failure` actions).
    OnFailure,
}

/// An exit-handler task pipec promises, where it comes from in the `.pipe` file.
#[derive(Clone, Debug)]
struct Promised {
    task: String,
    span: Span,
    promise: Promise,
    what: String,
}

fn promised(program: &hir::Program) -> Vec<Promised> {
    let pipeline = &program.pipeline;
    let service = |id: hir::ServiceId| pipeline.services.iter().find(|s| s.id == id);
    let mut out = Vec::new();
    for action in &pipeline.on_failure {
        let (task, span, what) = match action {
            HandlerAction::CollectDiagnostics { service: id, span } => {
                let Some(s) = service(*id) else { continue };
                (
                    ReleaseTask::Diagnostics.name(&s.k8s_name),
                    *span,
                    format!("collecting diagnostics of `{}`", s.name),
                )
            }
            HandlerAction::Rollback { service: id, span } => {
                let Some(s) = service(*id) else { continue };
                (
                    ReleaseTask::Rollback.name(&s.k8s_name),
                    *span,
                    format!("the rollback of `{}`", s.name),
                )
            }
            HandlerAction::Node(id) => {
                let Some(n) = pipeline.nodes.iter().find(|n| n.id == *id) else {
                    continue;
                };
                (n.name.clone(), n.span, format!("step `{}`", n.name))
            }
        };
        out.push(Promised {
            task,
            span,
            promise: Promise::OnFailure,
            what,
        });
    }
    for env in &pipeline.environments {
        if matches!(env.kind, hir::EnvKind::Ephemeral) {
            out.push(Promised {
                task: names::environment_down(&env.k8s_name),
                span: env.span,
                promise: Promise::Always,
                what: format!("the teardown of `{}`", env.name),
            });
        }
    }
    out
}

/// Checks the Workflow of one compilation against its promises.
pub fn check(program: &hir::Program, lowered: &[Lowered], diags: &mut Diagnostics) {
    let promised = promised(program);
    if promised.is_empty() {
        return;
    }
    let Some(workflow) = lowered.iter().find_map(|l| match &l.document {
        Document::Workflow(w) | Document::WorkflowTemplate(w) => serde_json::to_value(w).ok(),
        _ => None,
    }) else {
        return;
    };
    for broken in broken_promises(&workflow, &promised) {
        let p = &promised[broken.promise];
        diags.push(
            Diagnostic::new(
                Code::E0406,
                p.span,
                format!("{} would not run {}", p.what, broken.when),
            )
            .label(format!(
                "Argo would leave its task `{}` {}",
                p.task, broken.phase
            ))
            .help(crate::verify::BUG_HELP),
        );
    }
}

/// A promise the model says Argo would break, with the first outcome that breaks it.
#[derive(Clone, Debug, PartialEq)]
struct Broken {
    promise: usize,
    when: String,
    phase: &'static str,
}

fn broken_promises(workflow: &Value, promised: &[Promised]) -> Vec<Broken> {
    let entry_tasks: Vec<String> = workflow["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == names::ENTRYPOINT)
        .and_then(|t| t["dag"]["tasks"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    let mut outcomes = vec![(None, BTreeSet::new())];
    outcomes.extend(
        entry_tasks
            .iter()
            .map(|t| (Some(t.clone()), BTreeSet::from([t.clone()]))),
    );
    let mut out: Vec<Broken> = Vec::new();
    for (failing_task, failing) in outcomes {
        let run = match workflow::run(
            workflow,
            &Outcomes {
                failing,
                approved: true,
                ..Outcomes::default()
            },
        ) {
            Ok(run) => run,
            // What the model does not cover yet is not judged (tests keep every example
            // inside what it covers).
            Err(_) => return out,
        };
        for (i, p) in promised.iter().enumerate() {
            if out.iter().any(|b| b.promise == i) || kept(&run, p) {
                continue;
            }
            out.push(Broken {
                promise: i,
                when: match &failing_task {
                    None => "when every step succeeds".to_string(),
                    Some(t) => format!("when `{t}` fails"),
                },
                phase: run
                    .node(names::EXIT_HANDLER, &p.task)
                    .map_or("never created", |n| n.phase.name()),
            });
        }
    }
    out
}

/// Whether the run kept a promise: the task ran, unless it was not owed.
fn kept(run: &Run, p: &Promised) -> bool {
    if !run.status.ended() {
        return true;
    }
    let owed = match p.promise {
        Promise::Always => true,
        Promise::OnFailure => run.status != Phase::Succeeded,
    };
    !owed
        || run
            .node(names::EXIT_HANDLER, &p.task)
            .is_some_and(|n| n.phase.completed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promise(task: &str, promise: Promise) -> Promised {
        Promised {
            task: task.to_string(),
            span: Span::default(),
            promise,
            what: task.to_string(),
        }
    }

    /// The exit handler as pipec wrote it before issue 10: the second action `depends` on the
    /// first without `.Skipped`, so on success it is Omitted, and so is the teardown.
    fn handler(ended: &str) -> Value {
        let pod = |name: &str| json!({"name": name, "container": {"image": "alpine"}});
        let when = "'{{workflow.status}}' != 'Succeeded'";
        json!({"metadata": {"generateName": "p-"}, "spec": {
        "entrypoint": "main", "onExit": "on-exit",
        "templates": [
            {"name": "main", "dag": {"tasks": [{"name": "build", "template": "build"}]}},
            {"name": "on-exit", "dag": {"tasks": [
                {"name": "diagnose", "template": "diagnose", "when": when},
                {"name": "alert", "template": "alert", "when": when,
                 "depends": ended.replace('X', "diagnose")},
                {"name": "staging-down", "template": "staging-down",
                 "depends": ended.replace('X', "alert")},
            ]}},
            pod("build"), pod("diagnose"), pod("alert"), pod("staging-down"),
        ]}})
    }

    #[test]
    fn a_teardown_omitted_on_success_is_caught() {
        let promised = [
            promise("staging-down", Promise::Always),
            promise("alert", Promise::OnFailure),
        ];
        let old = handler("X.Succeeded || X.Failed || X.Errored");
        assert_eq!(
            broken_promises(&old, &promised),
            [Broken {
                promise: 0,
                when: "when every step succeeds".to_string(),
                phase: "Omitted",
            }]
        );
        let fixed = handler("X.Succeeded || X.Failed || X.Errored || X.Skipped");
        assert_eq!(broken_promises(&fixed, &promised), []);
    }

    #[test]
    fn a_failure_action_that_never_runs_is_caught() {
        let promised = [promise("alert", Promise::OnFailure)];
        // `alert` waits for `diagnose` to succeed: a failed diagnosis omits the alert.
        let mut workflow = handler("X.Succeeded");
        workflow["spec"]["templates"][1]["dag"]["tasks"][2]["depends"] =
            json!("alert.Succeeded || alert.Failed || alert.Skipped || alert.Omitted");
        let broken = broken_promises(&workflow, &promised);
        assert!(broken.is_empty(), "{broken:?}");
        let mut failing_diagnosis = workflow.clone();
        failing_diagnosis["spec"]["templates"][0]["dag"]["tasks"] =
            json!([{"name": "diagnose-fails", "template": "build"}]);
        let run = workflow::run(
            &failing_diagnosis,
            &Outcomes {
                failing: BTreeSet::from(["diagnose-fails".to_string(), "diagnose".to_string()]),
                approved: true,
                ..Outcomes::default()
            },
        )
        .unwrap();
        assert_eq!(
            run.node(names::EXIT_HANDLER, "alert").map(|n| n.phase),
            Some(Phase::Omitted)
        );
        assert!(!kept(&run, &promised[0]));
    }
}
