//! Services and releases → `Service`, `Rollout`, and the Workflow tasks that drive a release.
//!
//! The Rollout carries what Argo Rollouts can do on its own: weights, bake times, analyses.
//! What it cannot (a command inside a canary pod, a person's approval) runs in the Workflow
//! while the Rollout holds the new version at an indefinite pause, which only the Workflow
//! releases. A failing check therefore leaves the canary in place for the `on failure`
//! handler to collect diagnostics from before it rolls back.

use std::collections::BTreeMap;

use pipec_argo_model::k8s::{
    Container, ContainerPort, EnvVar, ExecAction, HttpGetAction, LabelSelector, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Service, ServicePort, ServiceSpec,
    TcpSocketAction,
};
use pipec_argo_model::rollouts::{
    AnalysisRunArgument, AnalysisTemplateRef, CanaryStep, CanaryStrategy, RollbackWindow, Rollout,
    RolloutAnalysis, RolloutPause, RolloutSpec, RolloutStrategy,
};
use pipec_argo_model::workflows::{
    DagTask, ScriptTemplate, SuspendTemplate, Template, TemplateMetadata,
};
use pipec_argo_model::{ARGO_API_VERSION, Document, IntOrString, ObjectMeta};
use pipec_syntax::Span;

use super::scripts::{RolloutScript, source};
use super::shell;
use super::text::argo_text;
use super::{Ctx, Lowered, SOURCE_ANNOTATION, tools};
use crate::hir::{self, ExposureKind, ImageRef, ProbeKind, Sizing, StageKind};
use crate::rollout_math::{surge_pods, weight_for_replicas};
use crate::typeck::format_duration;

/// The label every pod of a service carries; Services and Rollouts select on it.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The name of the container port, referenced by Services and probes.
const PORT_NAME: &str = "http";
/// Revisions a rollback may return to without running canary steps again.
const ROLLBACK_WINDOW: i64 = 3;

fn selector(service: &hir::Service) -> BTreeMap<String, String> {
    BTreeMap::from([(NAME_LABEL.to_string(), service.k8s_name.clone())])
}

pub fn service_object(ctx: &Ctx<'_>, service: &hir::Service) -> Lowered {
    let mut metadata = ctx.metadata(Some(service.k8s_name.clone()), None, service.span);
    metadata
        .labels
        .insert(NAME_LABEL.to_string(), service.k8s_name.clone());
    let type_ = match service.expose.kind {
        ExposureKind::ClusterIp => "ClusterIP",
        ExposureKind::LoadBalancer => "LoadBalancer",
        ExposureKind::NodePort => "NodePort",
    };
    Lowered {
        document: Document::Service(Box::new(Service {
            api_version: "v1",
            kind: "Service",
            metadata,
            spec: ServiceSpec {
                type_: type_.to_string(),
                selector: selector(service),
                ports: vec![ServicePort {
                    name: PORT_NAME.to_string(),
                    port: i64::from(service.expose.port),
                    target_port: IntOrString::String(PORT_NAME.to_string()),
                    protocol: "TCP".to_string(),
                }],
            },
        })),
        origin: service.span,
    }
}

/// The Rollout steps of a release and, for each pause the Workflow holds, its index and the
/// stages the Workflow runs there.
pub(super) struct Plan<'r> {
    pub steps: Vec<CanaryStep>,
    pub segments: Vec<Segment<'r>>,
}

pub(super) struct Segment<'r> {
    pub pause_index: usize,
    pub stages: Vec<&'r hir::Stage>,
}

pub(super) fn plan<'r>(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    release: &'r hir::Release,
) -> Plan<'r> {
    let mut steps = Vec::new();
    let mut segments: Vec<Segment<'r>> = Vec::new();
    let mut open: Option<Segment<'r>> = None;
    let surge = sizing_pods(release.max_surge, service.replicas);
    for stage in &release.stages {
        if stage.kind.runs_in_workflow() {
            let segment = open.get_or_insert_with(|| {
                steps.push(CanaryStep::Pause(RolloutPause::default()));
                Segment {
                    pause_index: steps.len() - 1,
                    stages: Vec::new(),
                }
            });
            segment.stages.push(stage);
            continue;
        }
        if let Some(segment) = open.take() {
            segments.push(segment);
        }
        steps.push(match &stage.kind {
            StageKind::Weight(w) => CanaryStep::SetWeight(i64::from(*w)),
            // Checked by the type checker: a weight exists for every accepted split.
            StageKind::Replicas(k) => CanaryStep::SetWeight(i64::from(
                weight_for_replicas(*k, service.replicas, surge).unwrap_or(0),
            )),
            StageKind::Pause(secs) => CanaryStep::Pause(RolloutPause {
                duration: Some(IntOrString::String(format_duration(*secs))),
            }),
            StageKind::Analyze { analysis, args } => CanaryStep::Analysis(RolloutAnalysis {
                templates: vec![AnalysisTemplateRef {
                    template_name: ctx.analysis_template_name(*analysis),
                }],
                args: args
                    .iter()
                    .map(|(name, value)| AnalysisRunArgument {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            }),
            StageKind::Approve { .. } | StageKind::Exec { .. } => continue,
        });
    }
    if let Some(segment) = open.take() {
        segments.push(segment);
    }
    Plan { steps, segments }
}

fn sizing_pods(sizing: Sizing, replicas: u32) -> u32 {
    match sizing {
        Sizing::Count(c) => c,
        Sizing::Percent(p) => surge_pods(p, replicas),
    }
}

fn sizing_value(sizing: Sizing) -> IntOrString {
    match sizing {
        Sizing::Count(c) => IntOrString::Int(i64::from(c)),
        Sizing::Percent(p) => IntOrString::String(format!("{p}%")),
    }
}

pub fn rollout(ctx: &Ctx<'_>, service: &hir::Service) -> Lowered {
    let release = ctx.release_of(service.id);
    let mut metadata = ctx.metadata(Some(service.k8s_name.clone()), None, service.span);
    metadata
        .labels
        .insert(NAME_LABEL.to_string(), service.k8s_name.clone());
    let mut pod_labels = metadata.labels.clone();
    pod_labels.retain(|k, _| k != "app.kubernetes.io/managed-by");
    pod_labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        "pipec".to_string(),
    );

    let (max_surge, max_unavailable, steps) = match release {
        Some(r) => (r.max_surge, r.max_unavailable, plan(ctx, service, r).steps),
        None => (Sizing::Count(1), Sizing::Count(0), Vec::new()),
    };
    let image = match &service.image {
        ImageRef::External(t) => t.as_static(),
        // Set by the Workflow's deploy step once the pipeline has made the image.
        ImageRef::Node(_) => None,
    };
    let container = Container {
        name: Some(service.k8s_name.clone()),
        image,
        ports: vec![ContainerPort {
            name: PORT_NAME.to_string(),
            container_port: i64::from(service.port),
            protocol: "TCP".to_string(),
        }],
        env: service.env.iter().map(env_var).collect(),
        resources: resources(&service.resources),
        readiness_probe: service.ready.as_ref().map(probe),
        liveness_probe: service.live.as_ref().map(probe),
        ..Container::default()
    };
    Lowered {
        document: Document::Rollout(Box::new(Rollout {
            api_version: ARGO_API_VERSION,
            kind: "Rollout",
            metadata,
            spec: RolloutSpec {
                replicas: i64::from(service.replicas),
                revision_history_limit: 10,
                min_ready_seconds: None,
                rollback_window: Some(RollbackWindow {
                    revisions: ROLLBACK_WINDOW,
                }),
                selector: LabelSelector {
                    match_labels: selector(service),
                },
                template: PodTemplateSpec {
                    metadata: ObjectMeta {
                        labels: pod_labels,
                        ..ObjectMeta::default()
                    },
                    spec: PodSpec {
                        containers: vec![container],
                    },
                },
                strategy: RolloutStrategy {
                    canary: CanaryStrategy {
                        max_surge: sizing_value(max_surge),
                        max_unavailable: sizing_value(max_unavailable),
                        steps,
                    },
                },
            },
        })),
        origin: release.map_or(service.span, |r| r.span),
    }
}

pub(super) fn env_var(var: &hir::EnvVar) -> EnvVar {
    match &var.value {
        hir::EnvValue::Text(t) => EnvVar::value(&var.name, argo_text(t)),
        hir::EnvValue::Secret(key) => EnvVar::secret(&var.name, &key.secret_name, &key.key),
    }
}

fn resources(r: &hir::Resources) -> Option<ResourceRequirements> {
    let mut out = ResourceRequirements::default();
    if let Some(v) = &r.cpu {
        out.requests.insert("cpu".to_string(), v.clone());
    }
    if let Some(v) = &r.memory {
        out.requests.insert("memory".to_string(), v.clone());
    }
    if let Some(v) = &r.cpu_limit {
        out.limits.insert("cpu".to_string(), v.clone());
    }
    if let Some(v) = &r.memory_limit {
        out.limits.insert("memory".to_string(), v.clone());
    }
    (!out.requests.is_empty() || !out.limits.is_empty()).then_some(out)
}

fn probe(p: &hir::Probe) -> Probe {
    let port = |p: Option<u16>| match p {
        Some(n) => IntOrString::Int(i64::from(n)),
        None => IntOrString::String(PORT_NAME.to_string()),
    };
    let mut out = Probe {
        initial_delay_seconds: p.delay.map(secs),
        period_seconds: p.period.map(secs),
        timeout_seconds: p.timeout.map(secs),
        success_threshold: p.successes.map(i64::from),
        failure_threshold: p.failures.map(i64::from),
        ..Probe::default()
    };
    match &p.kind {
        ProbeKind::HttpGet { path, port: n } => {
            out.http_get = Some(HttpGetAction {
                path: path.clone(),
                port: port(*n),
            });
        }
        ProbeKind::Tcp { port: n } => out.tcp_socket = Some(TcpSocketAction { port: port(*n) }),
        ProbeKind::Exec { command } => {
            out.exec = Some(ExecAction {
                command: vec!["sh".to_string(), "-c".to_string(), command.clone()],
            });
        }
    }
    out
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// A task of a Workflow DAG and the template it runs.
pub(super) struct Task {
    pub task: DagTask,
    pub template: Template,
}

/// Environment every Rollout script reads.
fn rollout_env(service: &hir::Service, timeout: u64) -> Vec<EnvVar> {
    vec![
        EnvVar::value("ROLLOUT", &service.k8s_name),
        EnvVar::value("SELECTOR", format!("{NAME_LABEL}={}", service.k8s_name)),
        EnvVar::value("RUN", "{{workflow.name}}"),
        EnvVar::value("TIMEOUT", timeout.to_string()),
    ]
}

fn annotated(ctx: &Ctx<'_>, origin: Span) -> Option<TemplateMetadata> {
    Some(TemplateMetadata {
        annotations: BTreeMap::from([(SOURCE_ANNOTATION.to_string(), ctx.location(origin))]),
    })
}

/// A template running a Rollout script in the kubectl image.
pub(super) fn script_template(
    ctx: &Ctx<'_>,
    name: String,
    kind: RolloutScript,
    env: Vec<EnvVar>,
    extra: &str,
    origin: Span,
    deadline: Option<u64>,
) -> Template {
    Template {
        name,
        metadata: annotated(ctx, origin),
        // A backstop above the script's own deadline, which fails with a clearer message.
        timeout: deadline.map(|d| format_duration(d + 60)),
        script: Some(ScriptTemplate {
            image: tools::KUBECTL.to_string(),
            command: vec!["bash".to_string()],
            env,
            source: format!("{}{extra}", source(kind)),
            ..ScriptTemplate::default()
        }),
        ..Template::default()
    }
}

/// The chain of Workflow tasks that releases one service, starting after `first_depends`.
pub(super) fn release_tasks(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    first_depends: Option<String>,
) -> Vec<Task> {
    let release = ctx.release_of(service.id);
    let timeout = release.map_or(30 * 60, |r| r.timeout);
    let name = &service.k8s_name;
    let origin = release.map_or(service.span, |r| r.span);
    let mut tasks = Vec::new();
    let mut previous: Option<String> = first_depends;
    let push = |tasks: &mut Vec<Task>, template: Template, previous: &mut Option<String>| {
        let task_name = template.name.clone();
        tasks.push(Task {
            task: DagTask {
                name: task_name.clone(),
                template: task_name.clone(),
                depends: previous.take(),
                when: None,
            },
            template,
        });
        *previous = Some(format!("{task_name}.Succeeded"));
    };

    let mut env = rollout_env(service, timeout);
    let image = match &service.image {
        ImageRef::External(t) => argo_text(t),
        ImageRef::Node(id) => ctx.node_image_text(*id),
    };
    env.push(EnvVar::value("IMAGE", image));
    let deploy = script_template(
        ctx,
        format!("{name}-deploy"),
        RolloutScript::Deploy,
        env,
        "",
        service.image_span,
        Some(timeout),
    );
    push(&mut tasks, deploy, &mut previous);

    if let Some(release) = release {
        let plan = plan(ctx, service, release);
        let mut checks = 0;
        let mut approvals = 0;
        for segment in &plan.segments {
            let step = segment.pause_index.to_string();
            let mut env = rollout_env(service, timeout);
            env.push(EnvVar::value("STEP", &step));
            let wait = script_template(
                ctx,
                format!("{name}-wait-{step}"),
                RolloutScript::WaitPaused,
                env,
                "",
                segment.stages.first().map_or(origin, |s| s.span),
                Some(timeout),
            );
            push(&mut tasks, wait, &mut previous);
            for stage in &segment.stages {
                match &stage.kind {
                    StageKind::Exec {
                        command,
                        retries,
                        timeout: check_timeout,
                        ..
                    } => {
                        checks += 1;
                        let template = check_template(
                            ctx,
                            service,
                            timeout,
                            format!("{name}-check-{checks}"),
                            command,
                            *retries,
                            *check_timeout,
                            stage.span,
                        );
                        push(&mut tasks, template, &mut previous);
                    }
                    StageKind::Approve { .. } => {
                        approvals += 1;
                        let template_name = if approvals == 1 {
                            format!("{name}-approve")
                        } else {
                            format!("{name}-approve-{approvals}")
                        };
                        let template = Template {
                            name: template_name,
                            metadata: annotated(ctx, stage.span),
                            suspend: Some(SuspendTemplate::default()),
                            ..Template::default()
                        };
                        push(&mut tasks, template, &mut previous);
                    }
                    _ => {}
                }
            }
            let mut env = rollout_env(service, timeout);
            env.push(EnvVar::value("STEP", &step));
            let promote = script_template(
                ctx,
                format!("{name}-promote-{step}"),
                RolloutScript::Promote,
                env,
                "",
                segment.stages.last().map_or(origin, |s| s.span),
                None,
            );
            push(&mut tasks, promote, &mut previous);
        }
    }
    let complete = script_template(
        ctx,
        format!("{name}-complete"),
        RolloutScript::Complete,
        rollout_env(service, timeout),
        "",
        origin,
        Some(timeout),
    );
    push(&mut tasks, complete, &mut previous);
    tasks
}

#[allow(clippy::too_many_arguments)]
fn check_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    timeout: u64,
    name: String,
    command: &hir::Template,
    retries: Option<u32>,
    check_timeout: Option<u64>,
    origin: Span,
) -> Template {
    let script = shell::script(command, "PIPEC_VALUE_");
    let mut env = rollout_env(service, timeout);
    env.push(EnvVar::value("CONTAINER", &service.k8s_name));
    let mut assignments = String::new();
    for (var, value) in &script.env {
        env.push(EnvVar::value(var, value));
        assignments.push_str(&format!(" \"{var}=${var}\""));
    }
    // The command text itself; base64 when it contains `{{`, which Argo would rewrite.
    if script.needs_encoding() {
        env.push(EnvVar::value(
            "COMMAND_B64",
            shell::base64(script.script.as_bytes()),
        ));
    } else {
        env.push(EnvVar::value("COMMAND", &script.script));
    }
    let exec_line = if assignments.is_empty() {
        "kubectl exec \"$pod\" -c \"$CONTAINER\" -- sh -c \"$COMMAND\"\n".to_string()
    } else {
        format!("kubectl exec \"$pod\" -c \"$CONTAINER\" -- env{assignments} sh -c \"$COMMAND\"\n")
    };
    let mut template = script_template(
        ctx,
        name,
        RolloutScript::CheckExec,
        env,
        &exec_line,
        origin,
        check_timeout,
    );
    template.retry_strategy = retries.map(super::workflow::retry_strategy);
    template
}

/// The exit-handler tasks for a service: diagnostics and rollback.
pub(super) fn handler_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    kind: RolloutScript,
    origin: Span,
) -> Template {
    let timeout = ctx.release_of(service.id).map_or(30 * 60, |r| r.timeout);
    let suffix = match kind {
        RolloutScript::Rollback => "rollback",
        _ => "diagnostics",
    };
    script_template(
        ctx,
        format!("{}-{suffix}", service.k8s_name),
        kind,
        rollout_env(service, timeout),
        "",
        origin,
        (kind == RolloutScript::Rollback).then_some(timeout),
    )
}
