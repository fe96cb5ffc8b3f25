//! The Workflow tasks that drive a release: deploy, wait for the Rollout to hold the new
//! version, run the stages Argo Rollouts cannot (checks, test pods, approvals, `join`), release
//! the hold, wait for completion. A failing check leaves the new version in place for the
//! `on failure` handler to collect diagnostics from before it rolls back.

use std::collections::BTreeMap;

use pipec_argo_model::contract::{annotations, labels, script_env};
use pipec_argo_model::k8s::{Container, EnvVar};
use pipec_argo_model::workflows::{
    DagTask, ScriptTemplate, SuspendTemplate, Template, TemplateMetadata,
};
use pipec_syntax::Span;

use super::rollout::{self, env_var, plan, release_origin};
use super::scripts::{RolloutScript, Target, source};
use super::shell;
use super::text::{argo_text, expanded_text};
use super::{Ctx, tools};
use crate::hir::{self, ImageRef, StageKind, Strategy};
use crate::names::ReleaseTask;
use crate::typeck::format_duration;

/// A task of a Workflow DAG and the template it runs.
pub(super) struct Task {
    pub task: DagTask,
    pub template: Template,
    /// The kind of shared template it runs ([`crate::names::shared_kinds`]) when that is not
    /// its template's `pipec.dev/action`'s (`super::share`).
    pub shared: Option<&'static str>,
}

/// Environment every Rollout script reads.
fn rollout_env(ctx: &Ctx<'_>, service: &hir::Service, timeout: u64) -> Vec<EnvVar> {
    let mut env = vec![
        EnvVar::value(script_env::ROLLOUT, &service.k8s_name),
        EnvVar::value("SELECTOR", format!("{}={}", labels::NAME, service.k8s_name)),
        EnvVar::value("RUN", "{{workflow.name}}"),
        EnvVar::value(script_env::TIMEOUT, timeout.to_string()),
    ];
    // The scripts' `kubectl` then acts in the service's namespace, and cluster.
    if let Some(namespace) = ctx.namespace_of(service) {
        env.push(EnvVar::value(script_env::NAMESPACE, namespace));
    }
    if let Some(kubeconfig) = ctx.kubeconfig_of(service) {
        env.push(EnvVar::secret(
            "KUBECONFIG_DATA",
            &kubeconfig.secret_name,
            &kubeconfig.key,
        ));
    }
    env
}

pub(super) fn annotated(ctx: &Ctx<'_>, origin: Span) -> Option<TemplateMetadata> {
    Some(TemplateMetadata {
        annotations: BTreeMap::from([(annotations::SOURCE.to_string(), ctx.location(origin))]),
    })
}

/// A template running a Rollout script in the kubectl image.
fn script_template(
    ctx: &Ctx<'_>,
    name: String,
    kind: RolloutScript,
    env: Vec<EnvVar>,
    extra: &str,
    origin: Span,
    deadline: Option<u64>,
) -> Template {
    let has = |name: &str| env.iter().any(|e| e.name == name);
    let target = match (has("KUBECONFIG_DATA"), has(script_env::NAMESPACE)) {
        (true, _) => Target::Cluster,
        (false, true) => Target::Namespace,
        (false, false) => Target::Here,
    };
    let mut metadata = annotated(ctx, origin);
    if let Some(m) = metadata.as_mut() {
        m.annotations.insert(
            annotations::ACTION.to_string(),
            kind.action().as_str().to_string(),
        );
    }
    Template {
        name,
        metadata,
        // A backstop above the script's own deadline, which fails with a clearer message.
        timeout: deadline.map(|d| format_duration(d + 60)),
        script: Some(ScriptTemplate {
            image: tools::KUBECTL.to_string(),
            command: vec!["bash".to_string()],
            env,
            source: format!("{}{extra}", source(kind, target)),
            ..ScriptTemplate::default()
        }),
        ..Template::default()
    }
}

/// Builds a chain of tasks, each depending on the previous one's success.
struct Chain {
    tasks: Vec<Task>,
    previous: Option<String>,
}

impl Chain {
    fn push(&mut self, template: Template) {
        let name = template.name.clone();
        self.tasks.push(Task {
            task: DagTask {
                name: name.clone(),
                template: name.clone(),
                arguments: None,
                depends: self.previous.take(),
                when: None,
            },
            template,
            shared: None,
        });
        self.previous = Some(format!("{name}.Succeeded"));
    }
}

/// Numbers the tasks of repeated stage kinds: `api-check-1`, `api-check-2`, `api-approve-2`.
#[derive(Default)]
struct Counters {
    checks: usize,
    approvals: usize,
    joins: usize,
}

/// The chain of Workflow tasks that releases one service, starting after `first_depends`.
pub(super) fn release_tasks(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    first_depends: Option<String>,
) -> Vec<Task> {
    let release = ctx.release_of(service.id);
    let timeout = release.map_or(hir::DEFAULT_RELEASE_TIMEOUT, |r| r.timeout);
    let name = &service.k8s_name;
    let origin = release_origin(ctx, service);
    let mut chain = Chain {
        tasks: Vec::new(),
        previous: first_depends,
    };

    let mut env = rollout_env(ctx, service, timeout);
    env.push(EnvVar::value(
        script_env::IMAGE,
        ctx.image_spelt(&service.image, expanded_text),
    ));
    if release.is_some_and(|r| r.strategy == Strategy::Canary { isolated: true }) {
        // A canary that joined production in an earlier run must start isolated again.
        let reset = format!(
            r#"[{{"op":"add","path":"/spec/strategy/canary/canaryMetadata/labels/{}","value":"false"}}]"#,
            labels::SERVING.replace('/', "~1")
        );
        env.push(EnvVar::value("EXTRA_PATCH", reset));
    }
    chain.push(script_template(
        ctx,
        ReleaseTask::Deploy.name(name),
        RolloutScript::Deploy,
        env,
        "",
        service.image_span,
        Some(timeout),
    ));

    let mut counters = Counters::default();
    let mut after_switch: Vec<&hir::Stage> = Vec::new();
    let (holds, tail_hold) = release.map_or((Vec::new(), 0), |r| holds(ctx, r));
    if let Some(release) = release {
        let plan = plan(ctx, service, release);
        for (i, segment) in plan.segments.iter().enumerate() {
            let step = segment
                .pause_index
                .map(|i| i.to_string())
                .unwrap_or_default();
            // The wait spans the pauses and analyses Argo holds before this stage.
            let wait = timeout.saturating_add(holds.get(i).copied().unwrap_or(0));
            let mut env = rollout_env(ctx, service, wait);
            env.push(EnvVar::value(script_env::STEP, &step));
            chain.push(script_template(
                ctx,
                ReleaseTask::Wait(segment.pause_index).name(name),
                RolloutScript::WaitPaused,
                env,
                "",
                segment.stages.first().map_or(origin, |s| s.span),
                Some(wait),
            ));
            for stage in &segment.stages {
                if let Some(template) = stage_template(ctx, service, stage, timeout, &mut counters)
                {
                    chain.push(template);
                }
            }
            let mut env = rollout_env(ctx, service, timeout);
            env.push(EnvVar::value(script_env::STEP, &step));
            chain.push(script_template(
                ctx,
                ReleaseTask::Promote(segment.pause_index).name(name),
                RolloutScript::Promote,
                env,
                "",
                segment.stages.last().map_or(origin, |s| s.span),
                None,
            ));
        }
        after_switch = plan.after_switch;
    }
    let complete = timeout.saturating_add(tail_hold);
    chain.push(script_template(
        ctx,
        ReleaseTask::Complete.name(name),
        RolloutScript::Complete,
        rollout_env(ctx, service, complete),
        "",
        origin,
        Some(complete),
    ));
    for stage in after_switch {
        if let Some(template) = stage_template(ctx, service, stage, timeout, &mut counters) {
            chain.push(template);
        }
    }
    chain.tasks
}

/// How long Argo Rollouts holds a canary before each stage the Workflow runs (one entry per
/// run of consecutive Workflow stages, in order) and after the last of them, in seconds:
/// its timed pauses and its inline analyses. The release `timeout` bounds the time to reach a
/// stage beyond these, so a wait that spans `pause 20m` twice is not failed at 30 minutes by a
/// healthy rollout. A blue-green release holds its pre-promotion analysis before the pause
/// the Workflow waits for, and its post-promotion analysis after the switch (the model of
/// Argo Rollouts found the waits shorter than these: E0408).
fn holds(ctx: &Ctx<'_>, release: &hir::Release) -> (Vec<u64>, u64) {
    let mut holds = Vec::new();
    let mut held: u64 = 0;
    let mut in_workflow = false;
    if !matches!(release.strategy, Strategy::Canary { .. }) {
        let switch = release
            .stages
            .iter()
            .position(|s| matches!(s.kind, StageKind::Switch))
            .unwrap_or(release.stages.len());
        let (before, after) = release.stages.split_at(switch);
        let sum = |stages: &[hir::Stage]| {
            stages
                .iter()
                .map(|s| held_seconds(ctx, s))
                .fold(0u64, u64::saturating_add)
        };
        // Without a Workflow stage before the switch there is no wait there: the wait for
        // health spans both analyses.
        if before.iter().any(|s| s.kind.runs_in_workflow()) {
            return (vec![sum(before)], sum(after));
        }
        return (Vec::new(), sum(before).saturating_add(sum(after)));
    }
    for stage in &release.stages {
        if stage.kind.runs_in_workflow() {
            if !in_workflow {
                holds.push(held);
                held = 0;
            }
            in_workflow = true;
            continue;
        }
        in_workflow = false;
        held = held.saturating_add(held_seconds(ctx, stage));
    }
    (holds, held)
}

/// How long Argo Rollouts itself holds the update at one stage: a timed pause's duration; an
/// inline analysis's measurements (its initial delay, then `times − 1` intervals, for its
/// longest metric). A count or interval passed as an argument is read from the argument; an
/// analysis with no count measures until it fails and is not counted.
fn held_seconds(ctx: &Ctx<'_>, stage: &hir::Stage) -> u64 {
    match &stage.kind {
        StageKind::Pause(secs) => *secs,
        StageKind::Analyze { analysis, args } => {
            let Some(analysis) = ctx.program.analyses.get(analysis.0) else {
                return 0;
            };
            let arg = |name: &str| {
                args.iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            let seconds = |setting: &Option<hir::Setting<u64>>| match setting {
                Some(hir::Setting::Value(v)) => Some(*v),
                Some(hir::Setting::Arg(a)) => arg(a)
                    .and_then(crate::k8s_rules::go_duration_nanos)
                    .map(|n| u64::try_from(n / 1_000_000_000).unwrap_or(0)),
                None => None,
            };
            analysis
                .metrics
                .iter()
                .map(|m| {
                    let times = match &m.times {
                        Some(hir::Setting::Value(t)) => Some(u64::from(*t)),
                        Some(hir::Setting::Arg(a)) => arg(a).and_then(|v| v.parse().ok()),
                        None => None,
                    };
                    let delay = seconds(&m.initial_delay).unwrap_or(0);
                    match (times, seconds(&m.every)) {
                        (Some(t), Some(every)) => {
                            delay.saturating_add(t.saturating_sub(1).saturating_mul(every))
                        }
                        _ => delay,
                    }
                })
                .max()
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// The template of a stage the Workflow runs. A check without a `timeout` of its own gets the
/// release's: the release's `timeout` is how long the pipeline waits for each stage, and a
/// check that hangs must fail the release rather than hold it forever.
fn stage_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    stage: &hir::Stage,
    timeout: u64,
    counters: &mut Counters,
) -> Option<Template> {
    let name = &service.k8s_name;
    match &stage.kind {
        StageKind::Exec {
            command,
            retries,
            timeout: check_timeout,
            ..
        } => {
            counters.checks += 1;
            let mut template = check_template(
                ctx,
                service,
                timeout,
                ReleaseTask::Check(counters.checks).name(name),
                command,
                stage.span,
            );
            template.timeout = Some(format_duration(check_timeout.unwrap_or(timeout)));
            template.retry_strategy = retries.map(super::workflow::retry_strategy);
            Some(template)
        }
        StageKind::Test {
            image,
            command,
            env,
            retries,
            timeout: check_timeout,
        } => {
            counters.checks += 1;
            let mut template = test_template(
                ctx,
                service,
                ReleaseTask::Check(counters.checks).name(name),
                image,
                command,
                env,
                stage.span,
            );
            template.timeout = Some(format_duration(check_timeout.unwrap_or(timeout)));
            template.retry_strategy = retries.map(super::workflow::retry_strategy);
            Some(template)
        }
        StageKind::Approve { reason } => {
            counters.approvals += 1;
            let template_name = ReleaseTask::Approve(counters.approvals).name(name);
            let mut metadata = annotated(ctx, stage.span);
            if let (Some(reason), Some(m)) = (reason, metadata.as_mut()) {
                m.annotations
                    .insert(annotations::APPROVAL.to_string(), reason.clone());
            }
            Some(Template {
                name: template_name,
                metadata,
                suspend: Some(SuspendTemplate::default()),
                ..Template::default()
            })
        }
        StageKind::Join => {
            counters.joins += 1;
            let mut env = rollout_env(ctx, service, timeout);
            env.push(EnvVar::value("SERVING_LABEL", labels::SERVING));
            Some(script_template(
                ctx,
                ReleaseTask::Join.name(name),
                RolloutScript::Join,
                env,
                "",
                stage.span,
                Some(timeout),
            ))
        }
        StageKind::Weight(_)
        | StageKind::Replicas(_)
        | StageKind::Pause(_)
        | StageKind::Analyze { .. }
        | StageKind::Switch => None,
    }
}

/// `check exec` and `exec` steps: the command runs inside a running pod of the service's
/// current version.
pub(super) fn check_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    timeout: u64,
    name: String,
    command: &hir::Template,
    origin: Span,
) -> Template {
    let script = shell::script(command, "PIPEC_VALUE_");
    let mut env = rollout_env(ctx, service, timeout);
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
    script_template(
        ctx,
        name,
        RolloutScript::CheckExec,
        env,
        &exec_line,
        origin,
        None,
    )
}

/// `check run IMAGE`: a one-shot pod of the image, told where the new version answers.
fn test_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    name: String,
    image: &ImageRef,
    command: &hir::Template,
    env: &[hir::EnvVar],
    origin: Span,
) -> Template {
    let (script, values) = shell::script(command, "PIPEC_VALUE_").for_sh();
    let mut container_env: Vec<EnvVar> = values.iter().map(|(k, v)| EnvVar::value(k, v)).collect();
    container_env.push(EnvVar::value(
        "SERVICE_URL",
        rollout::url(ctx, service, &service.k8s_name),
    ));
    if let Some(canary) = rollout::canary_service_name(ctx, service) {
        container_env.push(EnvVar::value(
            "CANARY_URL",
            rollout::url(ctx, service, &canary),
        ));
    }
    if let Some(preview) = rollout::preview_service_name(ctx, service) {
        container_env.push(EnvVar::value(
            "PREVIEW_URL",
            rollout::url(ctx, service, &preview),
        ));
    }
    container_env.extend(env.iter().map(env_var));
    let image = ctx.image_spelt(image, argo_text);
    Template {
        name,
        metadata: annotated(ctx, origin),
        container: Some(Container {
            image: Some(image),
            command: vec!["sh".to_string(), "-c".to_string()],
            args: vec![script],
            env: container_env,
            ..Container::default()
        }),
        ..Template::default()
    }
}

/// The exit-handler tasks for a service: diagnostics and rollback.
pub(super) fn handler_template(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    kind: RolloutScript,
    origin: Span,
) -> Template {
    let timeout = ctx
        .release_of(service.id)
        .map_or(hir::DEFAULT_RELEASE_TIMEOUT, |r| r.timeout);
    let task = match kind {
        RolloutScript::Rollback => ReleaseTask::Rollback,
        _ => ReleaseTask::Diagnostics,
    };
    script_template(
        ctx,
        task.name(&service.k8s_name),
        kind,
        rollout_env(ctx, service, timeout),
        "",
        origin,
        (kind == RolloutScript::Rollback).then_some(timeout),
    )
}
