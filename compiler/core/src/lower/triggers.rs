//! Triggers → a `CronWorkflow` for `on schedule`, and an Argo Events `EventSource` and
//! `Sensor` each for `on push` and `on webhook`. All start runs of the pipeline's
//! WorkflowTemplate.
//!
//! The push webhook takes GitHub's push payload (`ref`, `after`), which GitLab, Gitea and
//! Bitbucket can also send. The Sensor keeps only pushes whose ref matches a trigger and
//! passes the commit, branch and tag to the run as its `git-*` parameters.

use std::collections::BTreeMap;

use pipec_argo_model::contract::generate_name;
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
use pipec_syntax::Span;

use super::{Ctx, Lowered};

/// The port the push webhook listens on.
const WEBHOOK_PORT: i64 = 12000;
/// The event (and Sensor dependency) of `on push`, and of `on webhook`.
const PUSH: &str = "push";
const RUN: &str = "run";
/// The commit of a push: a full hex object name, SHA-1 (40) or SHA-256 (64), as git writes it;
/// anything else never becomes the run's revision.
const COMMIT_SHA: &str = "^([0-9a-f]{40}|[0-9a-f]{64})$";
/// Refs the run may receive: no braces at all.
const NO_BRACES: &str = "^[^{}]*$";
/// Text without `{{` (RE2 has no lookahead: every `{` is followed by another character, or
/// ends the text).
const NO_DOUBLE_BRACES: &str = "^([^{]|\\{[^{])*\\{?$";
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
        let name = crate::names::push_trigger(&ctx.pipeline_name());
        out.push(event_source(ctx, &name, PUSH, origin));
        out.push(push_sensor(ctx, &name, origin));
    }
    if triggers.webhook {
        let origin = triggers.webhook_span.unwrap_or(pipeline.span);
        let name = crate::names::webhook_trigger(&ctx.pipeline_name());
        out.push(event_source(ctx, &name, RUN, origin));
        out.push(webhook_sensor(ctx, &name, origin));
    }
    out
}

/// The webhook an EventSource serves at `POST /<pipeline>` on port 12000, with the bearer
/// token of `webhook_token` when set.
fn event_source(ctx: &Ctx<'_>, name: &str, event: &str, origin: Span) -> Lowered {
    let triggers = &ctx.pipeline().triggers;
    Lowered {
        document: Document::EventSource(Box::new(EventSource {
            api_version: ARGO_API_VERSION,
            kind: "EventSource",
            metadata: ctx.metadata(Some(name.to_string()), None, origin),
            spec: EventSourceSpec {
                service: EventSourceService {
                    ports: vec![EventSourcePort {
                        port: WEBHOOK_PORT,
                        target_port: WEBHOOK_PORT,
                    }],
                },
                webhook: BTreeMap::from([(
                    event.to_string(),
                    WebhookEventSource {
                        endpoint: format!("/{}", ctx.pipeline_name()),
                        method: "POST".to_string(),
                        port: WEBHOOK_PORT.to_string(),
                        // Argo Events serves it as the Service `<name>-eventsource-svc`.
                        url: format!("http://{name}-eventsource-svc:{WEBHOOK_PORT}"),
                        auth_secret: triggers.webhook_token.as_ref().map(|t| SecretKeySelector {
                            name: t.secret_name.clone(),
                            key: t.key.clone(),
                        }),
                    },
                )]),
            },
        })),
        origin,
    }
}

/// A Sensor that submits a run of the pipeline's WorkflowTemplate for each `event` of
/// `name`'s EventSource that passes `filters`, setting the run's `(parameter, source)`s.
fn sensor(
    ctx: &Ctx<'_>,
    name: &str,
    event: &str,
    origin: Span,
    filters: EventDependencyFilter,
    sources: Vec<(String, TriggerParameterSource)>,
) -> Lowered {
    let pipeline = ctx.pipeline();
    let mut arguments = Vec::new();
    let mut parameters = Vec::new();
    for (param, src) in sources {
        parameters.push(TriggerParameter {
            src,
            dest: format!("spec.arguments.parameters.{}.value", arguments.len()),
        });
        arguments.push(Parameter {
            name: param,
            value: Some(String::new()),
            description: None,
            enum_values: Vec::new(),
        });
    }
    let mut run_metadata = ctx.metadata(None, Some(generate_name(&ctx.pipeline_name())), origin);
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
                    name: event.to_string(),
                    event_source_name: name.to_string(),
                    event_name: event.to_string(),
                    filters,
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

/// `on push`: pushes of a listed ref start a run with the commit, branch and tag.
fn push_sensor(ctx: &Ctx<'_>, name: &str, origin: Span) -> Lowered {
    let pipeline = ctx.pipeline();
    // Which git parameters the pipeline has, in the order the Sensor sets them.
    let known: Vec<String> = parameters(ctx).into_iter().map(|p| p.name).collect();
    let from_ref = |prefix: &str| {
        format!(
            "{{{{ if hasPrefix \"{prefix}\" .Input.body.ref }}}}{{{{ trimPrefix \"{prefix}\" .Input.body.ref }}}}{{{{ end }}}}"
        )
    };
    let source = |data_key: Option<&str>, data_template: Option<String>| TriggerParameterSource {
        dependency_name: PUSH.to_string(),
        data_key: data_key.map(str::to_string),
        data_template,
        value: None,
    };
    let sources: Vec<(String, TriggerParameterSource)> = [
        (GIT_SHA_PARAM, source(Some("body.after"), None)),
        (
            GIT_BRANCH_PARAM,
            source(None, Some(from_ref("refs/heads/"))),
        ),
        (GIT_TAG_PARAM, source(None, Some(from_ref("refs/tags/")))),
    ]
    .into_iter()
    .filter(|(param, _)| known.iter().any(|k| k == param))
    .map(|(param, src)| (param.to_string(), src))
    .collect();
    let filters = EventDependencyFilter {
        // Deleting a branch or tag is a push too, with an all-zero `after`: there is nothing
        // to build.
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
            // Git allows `{` in ref names; a `{{` reaching the run's parameters would be read
            // by Argo as a template tag.
            DataFilter {
                path: "body.ref".to_string(),
                type_: "string".to_string(),
                value: vec![NO_BRACES.to_string()],
            },
            DataFilter {
                path: "body.after".to_string(),
                type_: "string".to_string(),
                value: vec![COMMIT_SHA.to_string()],
            },
        ],
    };
    sensor(ctx, name, PUSH, origin, filters, sources)
}

/// `on webhook`: each POST starts a run; every parameter of the run is read from the JSON
/// body's field of the same name, its default when the field is absent.
fn webhook_sensor(ctx: &Ctx<'_>, name: &str, origin: Span) -> Lowered {
    let sources = parameters(ctx)
        .into_iter()
        .map(|p| {
            let src = TriggerParameterSource {
                dependency_name: RUN.to_string(),
                data_key: Some(format!("body.{}", p.name)),
                data_template: None,
                value: Some(p.value.unwrap_or_default()),
            };
            (p.name, src)
        })
        .collect();
    let filters = EventDependencyFilter {
        exprs: Vec::new(),
        // A value with `{{` would be read by Argo as a template tag.
        data: vec![DataFilter {
            path: "body".to_string(),
            type_: "string".to_string(),
            value: vec![NO_DOUBLE_BRACES.to_string()],
        }],
    };
    sensor(ctx, name, RUN, origin, filters, sources)
}
