//! Warnings about programs that compile but probably do not do what their authors want.

use std::collections::BTreeSet;

use pipec_syntax::ast::{self, Member};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::hir::{self, StageKind};
use crate::resolve::Resolution;

pub fn lint(
    program: &hir::Program,
    res: &Resolution<'_>,
    used: &BTreeSet<String>,
    diags: &mut Diagnostics,
) {
    irreversible_steps(program, diags);
    unused_declarations(res, used, diags);
}

/// W0001: an irreversible step is not undone by rollback, and is worse before the gates that
/// would have stopped a bad release.
fn irreversible_steps(program: &hir::Program, diags: &mut Diagnostics) {
    let pipeline = &program.pipeline;
    for release in &pipeline.releases {
        let service = pipeline
            .services
            .iter()
            .find(|s| s.id == release.service)
            .map_or("the service", |s| s.name.as_str());
        for (i, stage) in release.stages.iter().enumerate() {
            let StageKind::Exec {
                irreversible: true, ..
            } = stage.kind
            else {
                continue;
            };
            let later_gates: Vec<&hir::Stage> = release.stages[i + 1..]
                .iter()
                .filter(|s| is_gate(&s.kind))
                .collect();
            let mut d = Diagnostic::new(
                Code::W0001,
                stage.span,
                "rollback does not undo this irreversible step",
            );
            if later_gates.is_empty() {
                d = d
                    .label("marked `irreversible`")
                    .help(format!(
                        "if the release of `{service}` fails after this ran, rollback restores the previous pods but not what this step changed: keep the change backward compatible"
                    ));
            } else {
                d = d
                    .label("runs before the gates that guard the release")
                    .help("run the gates first if they can decide without this step; otherwise keep the change backward compatible, because a gate failing after it triggers a rollback that leaves the change in place");
                for gate in later_gates {
                    d = d.with_secondary(
                        gate.span,
                        format!("{} runs after the irreversible step", gate_name(&gate.kind)),
                    );
                }
            }
            diags.push(d.note("the previous version must keep working with the changed state"));
        }
    }
    for node in &pipeline.nodes {
        if node.irreversible {
            diags.push(
                Diagnostic::new(Code::W0001, node.span, format!("rollback does not undo step `{}`", node.name))
                    .label("marked `irreversible`")
                    .help("a failed release rolls back the pods, not what this step changed: keep the change backward compatible"),
            );
        }
    }
}

fn is_gate(kind: &StageKind) -> bool {
    matches!(
        kind,
        StageKind::Exec {
            irreversible: false,
            ..
        } | StageKind::Test { .. }
            | StageKind::Analyze { .. }
            | StageKind::Approve { .. }
            | StageKind::Pause(_)
    )
}

fn gate_name(kind: &StageKind) -> &'static str {
    match kind {
        StageKind::Exec { .. } | StageKind::Test { .. } => "this check",
        StageKind::Analyze { .. } => "this analysis",
        StageKind::Approve { .. } => "this manual approval",
        StageKind::Pause(_) => "this bake time",
        _ => "this stage",
    }
}

/// W0002: secrets and params nobody reads.
fn unused_declarations(res: &Resolution<'_>, used: &BTreeSet<String>, diags: &mut Diagnostics) {
    let Some(pipeline) = res.pipeline else { return };
    for member in &pipeline.members {
        let (name, what): (&ast::Ident, &str) = match member {
            Member::Secret(s) => (&s.name, "secret"),
            Member::Param(p) => (&p.name, "param"),
            Member::Node(n) if matches!(n.value, ast::NodeValue::Expr(_)) => (&n.name, "image"),
            _ => continue,
        };
        if !used.contains(&name.name) && !name.name.starts_with('_') {
            diags.push(
                Diagnostic::new(
                    Code::W0002,
                    name.span,
                    format!("{what} `{}` is never used", name.name),
                )
                .label("declared here, used nowhere")
                .help(
                    "remove it, or use it (a name starting with `_` is exempt from this warning)",
                ),
            );
        }
    }
}
