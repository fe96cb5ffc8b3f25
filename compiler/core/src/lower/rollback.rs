//! The manual rollback: a WorkflowTemplate `<pipeline>-rollback` a person (or `pipec
//! rollback`) submits with the service to roll back and, optionally, an earlier image.
//!
//! Without an image it does what the automatic rollback does, whoever changed the Rollout
//! last: an update in progress is aborted, a finished one returns to the previous revision.
//! With an image (an earlier run's tag: images are tagged per run) that image is redeployed
//! and promoted at once. Either way the service's diagnostics are collected first.

use pipec_argo_model::contract::{labels, script_env};
use pipec_argo_model::k8s::EnvVar;
use pipec_argo_model::workflows::{
    Arguments, DagTask, DagTemplate, Parameter, Template, Workflow, WorkflowSpec,
};
use pipec_argo_model::{ARGO_API_VERSION, Document};

use super::release::{Task, handler_template};
use super::scripts::RolloutScript;
use super::share::Shared;
use super::{Ctx, Lowered};

pub const SERVICE_PARAM: &str = "service";
pub const IMAGE_PARAM: &str = "image";

/// The rollback WorkflowTemplate's name.
pub fn template_name(pipeline: &str) -> String {
    crate::names::rollback_template(pipeline)
}

pub(super) fn rollback_template(ctx: &Ctx<'_>) -> Option<Lowered> {
    let pipeline = ctx.pipeline();
    let services: Vec<_> = pipeline
        .services
        .iter()
        .filter(|s| !ctx.is_ephemeral(s))
        .collect();
    if services.is_empty() {
        return None;
    }
    let mut tasks = Vec::new();
    for service in &services {
        let chosen = Some(format!(
            "'{{{{workflow.parameters.{SERVICE_PARAM}}}}}' == '{}'",
            service.k8s_name
        ));
        let diagnostics = handler_template(ctx, service, RolloutScript::Diagnostics, service.span);
        let mut rollback = handler_template(ctx, service, RolloutScript::Rollback, service.span);
        if let Some(script) = rollback.script.as_mut() {
            script.env.push(EnvVar::value("MANUAL", "1"));
            script.env.push(EnvVar::value(
                script_env::TO_IMAGE,
                // The person running the rollback types it: it may hold a `$`.
                super::text::expanded_tag(&crate::hir::Var::Param(IMAGE_PARAM.to_string()), 1),
            ));
        }
        let first = diagnostics.name.clone();
        tasks.push(Task {
            task: DagTask {
                name: first.clone(),
                template: first.clone(),
                arguments: None,
                depends: None,
                when: chosen.clone(),
            },
            template: diagnostics,
            shared: None,
        });
        tasks.push(Task {
            task: DagTask {
                name: rollback.name.clone(),
                template: rollback.name.clone(),
                arguments: None,
                depends: Some(format!(
                    "{first}.Succeeded || {first}.Failed || {first}.Errored"
                )),
                when: chosen,
            },
            template: rollback,
            shared: None,
        });
    }
    let mut templates = Vec::new();
    let tasks = Shared::default().share_all(tasks, &mut templates);
    templates.insert(
        0,
        Template {
            name: super::ENTRYPOINT.to_string(),
            dag: Some(DagTemplate { tasks }),
            ..Template::default()
        },
    );
    let name = template_name(&ctx.pipeline_name());
    let mut metadata = ctx.metadata(Some(name), None, pipeline.span);
    metadata
        .labels
        .insert(labels::ROLE.to_string(), labels::ROLE_ROLLBACK.to_string());
    Some(Lowered {
        document: Document::WorkflowTemplate(Box::new(Workflow {
            api_version: ARGO_API_VERSION,
            kind: "WorkflowTemplate",
            metadata,
            spec: WorkflowSpec {
                workflow_template_ref: None,
                entrypoint: Some(super::ENTRYPOINT.to_string()),
                on_exit: None,
                service_account_name: pipeline.service_account.clone(),
                arguments: Some(Arguments {
                    parameters: vec![
                        Parameter {
                            name: SERVICE_PARAM.to_string(),
                            // With one service there is nothing to choose.
                            value: (services.len() == 1).then(|| services[0].k8s_name.clone()),
                            enum_values: services.iter().map(|s| s.k8s_name.clone()).collect(),
                            description: Some("the service to roll back".to_string()),
                        },
                        Parameter {
                            name: IMAGE_PARAM.to_string(),
                            value: Some(String::new()),
                            enum_values: Vec::new(),
                            description: Some(
                                "an earlier image to redeploy (images are tagged per run); empty: the previous revision"
                                    .to_string(),
                            ),
                        },
                    ],
                    artifacts: Vec::new(),
                }),
                volumes: Vec::new(),
                templates,
            },
        })),
        origin: pipeline.span,
    })
}
