//! Triggers → a `CronWorkflow` for `on schedule`, and an Argo Events `EventSource` and
//! `Sensor` for `on push`. Both start runs of the pipeline's WorkflowTemplate.
//!
//! The push webhook takes GitHub's push payload (`ref`, `after`), which GitLab, Gitea and
//! Bitbucket can also send. The Sensor keeps only pushes whose ref matches a trigger and
//! passes the commit, branch and tag to the run as its `git-*` parameters.

use std::collections::BTreeMap;

use pipec_argo_model::events::{
    ArgoWorkflowTrigger, ArtifactLocation, DataFilter, EventDependency, EventDependencyFilter,
    EventSource, EventSourcePort, EventSourceService, EventSourceSpec, ExprFilter, PayloadField,
    Sensor, SensorSpec, SensorTemplate, Trigger, TriggerParameter, TriggerParameterSource,
    TriggerTemplate, WebhookEventSource,
};
use pipec_argo_model::k8s::SecretKeySelector;
use pipec_argo_model::workflows::{
    Arguments, CronWorkflow, CronWorkflowSpec, Parameter, Workflow, WorkflowSpec,
    WorkflowTemplateRef,
};
use pipec_argo_model::{ARGO_API_VERSION, Document};

use super::text::{GIT_BRANCH_PARAM, GIT_SHA_PARAM, GIT_TAG_PARAM};
use super::workflow::parameters;
use super::{Ctx, Lowered};

/// The port the push webhook listens on.
const WEBHOOK_PORT: i64 = 12000;
const EVENT_NAME: &str = "push";
const DEPENDENCY: &str = "push";
/// Refs the run may receive: no braces at all.
const NO_BRACES: &str = "^[^{}]*$";
/// The `after` commit of a push that deleted its ref.
const DELETED_SHA: &str = "0000000000000000000000000000000000000000";

fn template_ref(ctx: &Ctx<'_>) -> WorkflowSpec {
    WorkflowSpec {
        workflow_template_ref: Some(WorkflowTemplateRef {
            name: ctx.pipeline_name(),
        }),
        entrypoint: None,
        on_exit: None,
        service_account_name: None,
        arguments: None,
        volumes: Vec::new(),
        templates: Vec::new(),
    }
}

pub fn triggers(ctx: &Ctx<'_>) -> Vec<Lowered> {
    let pipeline = ctx.pipeline();
    let triggers = &pipeline.triggers;
    let mut out = Vec::new();
    if !triggers.schedules.is_empty() {
        let origin = triggers.schedule_span.unwrap_or(pipeline.span);
        let run_metadata = {
            let mut m = ctx.metadata(None, None, origin);
            m.annotations.clear();
            m
        };
        out.push(Lowered {
            document: Document::CronWorkflow(Box::new(CronWorkflow {
                api_version: ARGO_API_VERSION,
                kind: "CronWorkflow",
                metadata: ctx.metadata(Some(ctx.pipeline_name()), None, origin),
                spec: CronWorkflowSpec {
                    schedules: triggers.schedules.clone(),
                    timezone: triggers.timezone.clone(),
                    concurrency_policy: "Forbid".to_string(),
                    workflow_metadata: run_metadata,
                    workflow_spec: template_ref(ctx),
                },
            })),
            origin,
        });
    }
    if !triggers.push.is_empty() {
        let origin = triggers.push_span.unwrap_or(pipeline.span);
        let name = format!("{}-push", ctx.pipeline_name());
        out.push(Lowered {
            document: Document::EventSource(Box::new(EventSource {
                api_version: ARGO_API_VERSION,
                kind: "EventSource",
                metadata: ctx.metadata(Some(name.clone()), None, origin),
                spec: EventSourceSpec {
                    service: EventSourceService {
                        ports: vec![EventSourcePort {
                            port: WEBHOOK_PORT,
                            target_port: WEBHOOK_PORT,
                        }],
                    },
                    webhook: BTreeMap::from([(
                        EVENT_NAME.to_string(),
                        WebhookEventSource {
                            endpoint: format!("/{}", ctx.pipeline_name()),
                            method: "POST".to_string(),
                            port: WEBHOOK_PORT.to_string(),
                            // Argo Events serves it as the Service `<name>-eventsource-svc`.
                            url: format!("http://{name}-eventsource-svc:{WEBHOOK_PORT}"),
                            auth_secret: triggers.webhook_token.as_ref().map(|t| {
                                SecretKeySelector {
                                    name: t.secret_name.clone(),
                                    key: t.key.clone(),
                                }
                            }),
                        },
                    )]),
                },
            })),
            origin,
        });
        out.push(sensor(ctx, &name, origin));
    }
    out
}

fn sensor(ctx: &Ctx<'_>, name: &str, origin: pipec_syntax::Span) -> Lowered {
    let pipeline = ctx.pipeline();
    // Which git parameters the pipeline has, in the order the Sensor sets them.
    let known: Vec<String> = parameters(ctx).into_iter().map(|p| p.name).collect();
    let from_ref = |prefix: &str| {
        format!(
            "{{{{ if hasPrefix \"{prefix}\" .Input.body.ref }}}}{{{{ trimPrefix \"{prefix}\" .Input.body.ref }}}}{{{{ end }}}}"
        )
    };
    let sources: Vec<(&str, TriggerParameterSource)> = vec![
        (
            GIT_SHA_PARAM,
            TriggerParameterSource {
                dependency_name: DEPENDENCY.to_string(),
                data_key: Some("body.after".to_string()),
                data_template: None,
            },
        ),
        (
            GIT_BRANCH_PARAM,
            TriggerParameterSource {
                dependency_name: DEPENDENCY.to_string(),
                data_key: None,
                data_template: Some(from_ref("refs/heads/")),
            },
        ),
        (
            GIT_TAG_PARAM,
            TriggerParameterSource {
                dependency_name: DEPENDENCY.to_string(),
                data_key: None,
                data_template: Some(from_ref("refs/tags/")),
            },
        ),
    ];
    let mut arguments = Vec::new();
    let mut parameters = Vec::new();
    for (param, src) in sources {
        if !known.iter().any(|k| k == param) {
            continue;
        }
        parameters.push(TriggerParameter {
            src,
            dest: format!("spec.arguments.parameters.{}.value", arguments.len()),
        });
        arguments.push(Parameter {
            name: param.to_string(),
            value: Some(String::new()),
            description: None,
            enum_values: Vec::new(),
        });
    }
    let mut run_metadata = ctx.metadata(None, Some(format!("{}-", ctx.pipeline_name())), origin);
    run_metadata.annotations.clear();
    let run = Workflow {
        api_version: ARGO_API_VERSION,
        kind: "Workflow",
        metadata: run_metadata,
        spec: WorkflowSpec {
            arguments: (!arguments.is_empty()).then_some(Arguments {
                artifacts: Vec::new(),
                parameters: arguments,
            }),
            ..template_ref(ctx)
        },
    };
    Lowered {
        document: Document::Sensor(Box::new(Sensor {
            api_version: ARGO_API_VERSION,
            kind: "Sensor",
            metadata: ctx.metadata(Some(name.to_string()), None, origin),
            spec: SensorSpec {
                template: pipeline.service_account.as_ref().map(|sa| SensorTemplate {
                    service_account_name: sa.clone(),
                }),
                dependencies: vec![EventDependency {
                    name: DEPENDENCY.to_string(),
                    event_source_name: name.to_string(),
                    event_name: EVENT_NAME.to_string(),
                    filters: EventDependencyFilter {
                        // Deleting a branch or tag is a push too, with an all-zero `after`:
                        // there is nothing to build.
                        exprs: vec![ExprFilter {
                            expr: format!("after != \"{DELETED_SHA}\""),
                            fields: vec![PayloadField {
                                name: "after".to_string(),
                                path: "body.after".to_string(),
                            }],
                        }],
                        data: vec![
                            DataFilter {
                                path: "body.ref".to_string(),
                                type_: "string".to_string(),
                                value: pipeline.triggers.push.clone(),
                            },
                            // Git allows `{` in ref names; a `{{` reaching the run's
                            // parameters would be read by Argo as a template tag.
                            DataFilter {
                                path: "body.ref".to_string(),
                                type_: "string".to_string(),
                                value: vec![NO_BRACES.to_string()],
                            },
                        ],
                    },
                }],
                triggers: vec![Trigger {
                    template: TriggerTemplate {
                        name: ctx.pipeline_name(),
                        argo_workflow: ArgoWorkflowTrigger {
                            operation: "submit".to_string(),
                            source: ArtifactLocation {
                                resource: Box::new(run),
                            },
                            parameters,
                        },
                    },
                }],
            },
        })),
        origin,
    }
}
