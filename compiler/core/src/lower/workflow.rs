//! The pipeline → one Argo `Workflow`: a DAG of the pipeline's steps and of each service's
//! release, and an exit handler for `on failure`.

use std::collections::BTreeSet;

use pipec_argo_model::contract::{annotations, generate_name, script_env};
use pipec_argo_model::k8s::{Container, EnvVar};
use pipec_argo_model::workflows::{
    Arguments, Artifact, ArtifactArgument, Backoff, DagTask, DagTemplate, GitArtifact, Inputs,
    Outputs, Parameter, RetryStrategy, ScriptTemplate, Template, Workflow, WorkflowSpec,
};
use pipec_argo_model::{ARGO_API_VERSION, Document, IntOrString};
use pipec_syntax::Span;

use super::condition::{TaskCondition, split};
use super::release::{Task, annotated, check_template, handler_template, release_tasks};
use super::rollout::env_var;
use super::scripts::RolloutScript;
use super::share::Shared;
use super::shell;
use super::text::{
    GIT_BRANCH_PARAM, GIT_REPO_PARAM, GIT_SHA_PARAM, GIT_TAG_PARAM, argo_text, expanded_text,
};
use super::{Ctx, Lowered, environment, tools};
use crate::hir::{
    self, Condition, HandlerAction, ImageRef, NodeKind, Operand, Piece, Var, WORKSPACE,
};
use crate::names::ReleaseTask;
use crate::typeck::format_duration;

pub use crate::names::{ENTRYPOINT, EXIT_HANDLER};

impl Ctx<'_> {
    /// An image reference spelt by `spell`: [`argo_text`] for an `image` field,
    /// [`expanded_text`] for an `env[].value` (which Kubernetes expands). A node's image is
    /// the one it builds or pushes.
    pub fn image_spelt(&self, image: &ImageRef, spell: fn(&hir::Template) -> String) -> String {
        match image {
            ImageRef::External(t) => spell(t),
            ImageRef::Node(id) => match self.node(*id).map(|n| &n.kind) {
                Some(NodeKind::Build { target, .. } | NodeKind::Push { target, .. }) => {
                    spell(&target.reference())
                }
                _ => String::new(),
            },
        }
    }

    fn task_name(&self, id: hir::NodeId) -> String {
        self.node(id)
            .map_or_else(|| format!("step-{}", id.0), |n| n.name.clone())
    }
}

pub fn workflow(ctx: &Ctx<'_>) -> Lowered {
    let pipeline = ctx.pipeline();
    let mut tasks: Vec<Task> = Vec::new();
    for node in pipeline.nodes.iter().filter(|n| !n.in_handler) {
        let mut condition = node.when.as_ref().map_or_else(TaskCondition::default, |c| {
            split(c, &|id| ctx.task_name(id))
        });
        let mut depends: Vec<String> = node
            .needs
            .iter()
            .map(|id| format!("{}.Succeeded", ctx.task_name(*id)))
            .collect();
        depends.extend(
            node.after_releases
                .iter()
                .filter_map(|id| ctx.service(*id))
                .map(|s| format!("{}.Succeeded", ReleaseTask::Complete.name(&s.k8s_name))),
        );
        depends.extend(
            node.after_envs
                .iter()
                .filter_map(|id| ctx.environment(*id))
                .map(|e| format!("{}.Succeeded", environment::up_task_name(e))),
        );
        depends.append(&mut condition.depends);
        tasks.push(Task {
            task: DagTask {
                name: node.name.clone(),
                template: node.name.clone(),
                arguments: input_arguments(ctx, node),
                depends: join_depends(depends),
                when: condition.when,
            },
            template: node_template(ctx, node),
            shared: shared_kind(node),
        });
    }
    tasks.extend(environment::up_tasks(ctx));
    for service in pipeline.services.iter().filter(|s| !ctx.is_ephemeral(s)) {
        let mut first: Vec<String> = Vec::new();
        if let ImageRef::Node(id) = &service.image {
            first.push(format!("{}.Succeeded", ctx.task_name(*id)));
        }
        if let Some(release) = ctx.release_of(service.id) {
            first.extend(
                release
                    .after
                    .iter()
                    .map(|id| format!("{}.Succeeded", ctx.task_name(*id))),
            );
            // The images its `check run` stages run: without them a gate cannot run, so the
            // release does not start (a canary deployed without its gate's image would only
            // be rolled back; E0407 checks that no gate starts without its image).
            first.extend(release.stages.iter().filter_map(|stage| match &stage.kind {
                hir::StageKind::Test {
                    image: ImageRef::Node(id),
                    ..
                } => Some(format!("{}.Succeeded", ctx.task_name(*id))),
                _ => None,
            }));
            first.extend(
                release
                    .after_releases
                    .iter()
                    .filter_map(|id| ctx.service(*id))
                    .map(|s| format!("{}.Succeeded", ReleaseTask::Complete.name(&s.k8s_name))),
            );
        }
        tasks.extend(release_tasks(ctx, service, join_depends(first)));
    }

    let mut shared = Shared::default();
    let mut templates = Vec::new();
    let entry_tasks = shared.share_all(tasks, &mut templates);
    templates.insert(
        0,
        Template {
            name: ENTRYPOINT.to_string(),
            dag: Some(DagTemplate { tasks: entry_tasks }),
            ..Template::default()
        },
    );

    let handler = exit_handler(ctx);
    let on_exit = handler.as_ref().map(|_| EXIT_HANDLER.to_string());
    if let Some(handler_tasks) = handler {
        let at = templates.len();
        let handler_tasks = shared.share_all(handler_tasks, &mut templates);
        templates.insert(
            at,
            Template {
                name: EXIT_HANDLER.to_string(),
                dag: Some(DagTemplate {
                    tasks: handler_tasks,
                }),
                ..Template::default()
            },
        );
    }

    let parameters = parameters(ctx);
    let spec = WorkflowSpec {
        workflow_template_ref: None,
        entrypoint: Some(ENTRYPOINT.to_string()),
        on_exit,
        service_account_name: pipeline.service_account.clone(),
        arguments: (!parameters.is_empty()).then_some(Arguments {
            parameters,
            artifacts: Vec::new(),
        }),
        volumes: Vec::new(),
        templates,
    };
    // A triggered pipeline is installed, not run: its spec becomes a WorkflowTemplate that
    // the triggers (and `pipec run`) start runs of.
    let installed = pipeline.triggers.any();
    let mut metadata = if installed {
        ctx.metadata(Some(ctx.pipeline_name()), None, pipeline.span)
    } else {
        ctx.metadata(
            None,
            Some(generate_name(&ctx.pipeline_name())),
            pipeline.span,
        )
    };
    let typed: Vec<String> = pipeline
        .params
        .iter()
        .filter(|p| p.ty != hir::ParamType::String)
        .map(|p| format!("{}={}", p.name, p.ty.name()))
        .collect();
    if !typed.is_empty() {
        metadata
            .annotations
            .insert(annotations::PARAM_TYPES.to_string(), typed.join(","));
    }
    let workflow = Box::new(Workflow {
        api_version: ARGO_API_VERSION,
        kind: if installed {
            "WorkflowTemplate"
        } else {
            "Workflow"
        },
        metadata,
        spec,
    });
    let document = if installed {
        Document::WorkflowTemplate(workflow)
    } else {
        Document::Workflow(workflow)
    };
    Lowered {
        document,
        origin: pipeline.span,
    }
}

fn join_depends(parts: Vec<String>) -> Option<String> {
    let mut seen = BTreeSet::new();
    let parts: Vec<String> = parts
        .into_iter()
        .filter(|p| !p.is_empty() && seen.insert(p.clone()))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" && "))
}

/// The exit handler: `on failure { … }`'s actions in order, each whatever the previous one's
/// outcome, only when the workflow did not succeed; then, always, the teardown of every
/// ephemeral environment. The tasks of one action (`collect diagnostics` of every service)
/// run side by side, and the next action waits for all of them: the handler takes as many
/// steps as there are actions, not as there are services, and its `depends` grow linearly.
fn exit_handler(ctx: &Ctx<'_>) -> Option<Vec<Task>> {
    let pipeline = ctx.pipeline();
    let teardowns = environment::down_templates(ctx);
    if pipeline.on_failure.is_empty() && teardowns.is_empty() {
        return None;
    }
    let mut tasks: Vec<Task> = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    // The tasks of the previous action, and of the one being lowered (with its span).
    let mut previous: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_span: Option<Span> = None;
    for action in &pipeline.on_failure {
        let span = match action {
            HandlerAction::CollectDiagnostics { span, .. }
            | HandlerAction::Rollback { span, .. } => Some(*span),
            HandlerAction::Node(_) => None,
        };
        if span.is_none() || span != current_span {
            if !current.is_empty() {
                previous = std::mem::take(&mut current);
            }
            current_span = span;
        }
        let template = match action {
            HandlerAction::CollectDiagnostics { service, span } => {
                let Some(service) = ctx.service(*service) else {
                    continue;
                };
                handler_template(ctx, service, RolloutScript::Diagnostics, *span)
            }
            HandlerAction::Rollback { service, span } => {
                let Some(service) = ctx.service(*service) else {
                    continue;
                };
                handler_template(ctx, service, RolloutScript::Rollback, *span)
            }
            HandlerAction::Node(id) => {
                let Some(node) = ctx.node(*id) else { continue };
                node_template(ctx, node)
            }
        };
        let name = template.name.clone();
        if !names.insert(name.clone()) {
            continue;
        }
        let arguments = match action {
            HandlerAction::Node(id) => ctx.node(*id).and_then(|n| input_arguments(ctx, n)),
            _ => None,
        };
        tasks.push(Task {
            task: DagTask {
                name: name.clone(),
                template: name.clone(),
                arguments,
                depends: all_ended(&previous),
                when: Some("'{{workflow.status}}' != 'Succeeded'".to_string()),
            },
            template,
            shared: match action {
                HandlerAction::Node(id) => ctx.node(*id).and_then(shared_kind),
                _ => None,
            },
        });
        current.push(name);
    }
    if !current.is_empty() {
        previous = current;
    }
    // After the failure actions have run or been skipped (on success), so diagnostics can
    // still see the environment.
    let after_failure_actions = all_ended(&previous);
    for template in teardowns {
        tasks.push(Task {
            task: DagTask {
                name: template.name.clone(),
                template: template.name.clone(),
                arguments: None,
                depends: after_failure_actions.clone(),
                when: None,
            },
            template,
            shared: None,
        });
    }
    Some(tasks)
}

/// A `depends` that holds once task `p` has ended, whichever way: run, failed, errored, or
/// Skipped by its `when` (the `on failure` actions on a successful run). `.Skipped` is needed:
/// without it the next task's `depends` is false and Argo marks it Omitted, and every task
/// after it too (`evaluateDependsLogic` sets each result from the exact phase; E0406 checks it).
fn ended(p: &str) -> String {
    format!("{p}.Succeeded || {p}.Failed || {p}.Errored || {p}.Skipped")
}

/// A `depends` that holds once every task of `tasks` has [`ended`]; `None` for no tasks.
fn all_ended(tasks: &[String]) -> Option<String> {
    match tasks {
        [] => None,
        [one] => Some(ended(one)),
        many => Some(
            many.iter()
                .map(|t| format!("({})", ended(t)))
                .collect::<Vec<_>>()
                .join(" && "),
        ),
    }
}

/// Retries with exponential backoff: 10s, 20s, 40s… capped at 10 minutes between attempts.
pub fn retry_strategy(retries: u32) -> RetryStrategy {
    RetryStrategy {
        limit: IntOrString::String(retries.to_string()),
        retry_policy: "Always".to_string(),
        backoff: Some(Backoff {
            duration: "10s".to_string(),
            factor: IntOrString::String("2".to_string()),
            max_duration: Some("10m".to_string()),
        }),
    }
}

/// The shared template a step runs: builds and copies are the same script for every image.
fn shared_kind(node: &hir::Node) -> Option<&'static str> {
    match node.kind {
        NodeKind::Build { .. } => Some(crate::names::BUILD_IMAGE),
        NodeKind::Push { .. } => Some(crate::names::COPY_IMAGE),
        _ => None,
    }
}

fn node_template(ctx: &Ctx<'_>, node: &hir::Node) -> Template {
    let mut template = match &node.kind {
        NodeKind::Build {
            context,
            dockerfile,
            target,
            cache,
            args,
            auth,
            inputs,
        } => {
            let mut template = build_template(
                ctx,
                node,
                context,
                dockerfile,
                target,
                cache.as_ref(),
                args,
                auth.as_ref(),
            );
            if let Some(i) = template.inputs.as_mut() {
                i.artifacts.extend(input_artifacts(ctx, inputs));
            }
            template
        }
        NodeKind::Push {
            source,
            target,
            auth,
            source_auth,
        } => {
            let mut env = vec![
                EnvVar::value("SOURCE", ctx.image_spelt(source, expanded_text)),
                EnvVar::value("TARGET", expanded_text(&target.reference())),
            ];
            if let Some(a) = source_auth {
                env.push(EnvVar::secret(
                    "SOURCE_USERNAME",
                    &a.username.secret_name,
                    &a.username.key,
                ));
                env.push(EnvVar::secret(
                    "SOURCE_PASSWORD",
                    &a.password.secret_name,
                    &a.password.key,
                ));
            }
            if let Some(a) = auth {
                env.push(EnvVar::secret(
                    "TARGET_USERNAME",
                    &a.username.secret_name,
                    &a.username.key,
                ));
                env.push(EnvVar::secret(
                    "TARGET_PASSWORD",
                    &a.password.secret_name,
                    &a.password.key,
                ));
            }
            Template {
                name: node.name.clone(),
                script: Some(ScriptTemplate {
                    image: tools::CRANE.to_string(),
                    command: vec!["sh".to_string()],
                    env,
                    source: format!("set -eu\n{}{PUSH_SCRIPT}", shell::CHECK_IMAGE),
                    ..ScriptTemplate::default()
                }),
                ..Template::default()
            }
        }
        NodeKind::Run {
            image,
            command,
            env,
            workdir,
            checkout,
            outputs,
            inputs,
        } => {
            let (script, values) = shell::script(command, "PIPEC_VALUE_").for_sh();
            let mut container_env: Vec<EnvVar> =
                values.iter().map(|(k, v)| EnvVar::value(k, v)).collect();
            container_env.extend(env.iter().map(env_var));
            let mut artifacts: Vec<Artifact> = Vec::new();
            if *checkout {
                artifacts.push(source_artifact(ctx));
            }
            artifacts.extend(input_artifacts(ctx, inputs));
            Template {
                name: node.name.clone(),
                inputs: (!artifacts.is_empty()).then_some(Inputs {
                    artifacts,
                    ..Inputs::default()
                }),
                outputs: (!outputs.is_empty()).then(|| Outputs {
                    artifacts: outputs
                        .iter()
                        .map(|o| Artifact {
                            name: o.name.clone(),
                            path: o.path.clone(),
                            git: None,
                        })
                        .collect(),
                }),
                container: Some(Container {
                    image: Some(ctx.image_spelt(image, argo_text)),
                    command: vec!["sh".to_string(), "-c".to_string()],
                    args: vec![script],
                    working_dir: workdir.as_ref().map(argo_text),
                    env: container_env,
                    ..Container::default()
                }),
                ..Template::default()
            }
        }
        NodeKind::Exec { service, command } => match ctx.service(*service) {
            Some(s) => {
                let timeout = ctx.release_of(s.id).map_or(30 * 60, |r| r.timeout);
                check_template(ctx, s, timeout, node.name.clone(), command, node.span)
            }
            None => Template {
                name: node.name.clone(),
                ..Template::default()
            },
        },
    };
    template.metadata = annotated(ctx, node.span);
    template.retry_strategy = node.retries.map(retry_strategy);
    template.timeout = node.timeout.map(format_duration);
    template
}

/// Copies an image between registries with crane, logging in to each side that has
/// credentials. Registry hosts come from the image names; bare names are Docker Hub.
const PUSH_SCRIPT: &str = r#"registry_of() {
  first=${1%%/*}
  case "$first" in
    *.*|*:*|localhost) printf '%s' "$first" ;;
    *) printf 'docker.io' ;;
  esac
}
check_image "$SOURCE" SOURCE
check_image "$TARGET" TARGET
if [ -n "${SOURCE_USERNAME:-}" ]; then
  printf '%s' "$SOURCE_PASSWORD" | crane auth login "$(registry_of "$SOURCE")" -u "$SOURCE_USERNAME" --password-stdin
fi
if [ -n "${TARGET_USERNAME:-}" ]; then
  printf '%s' "$TARGET_PASSWORD" | crane auth login "$(registry_of "$TARGET")" -u "$TARGET_USERNAME" --password-stdin
fi
crane copy "$SOURCE" "$TARGET"
"#;

/// Writes a Docker config for the target registry when credentials are given.
const BUILD_LOGIN: &str = r#"set -eu
if [ -n "${REGISTRY_USERNAME:-}" ]; then
  registry=${IMAGE%%/*}
  case "$registry" in
    *.*|*:*|localhost) ;;
    *) registry=https://index.docker.io/v1/ ;;
  esac
  mkdir -p /tmp/docker-config
  auth=$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64 | tr -d '\n')
  printf '{"auths":{"%s":{"auth":"%s"}}}' "$registry" "$auth" > /tmp/docker-config/config.json
  export DOCKER_CONFIG=/tmp/docker-config
fi
"#;

#[allow(clippy::too_many_arguments)]
fn build_template(
    ctx: &Ctx<'_>,
    node: &hir::Node,
    context: &hir::Template,
    dockerfile: &hir::Template,
    target: &hir::ImageName,
    cache: Option<&hir::Template>,
    args: &[(String, hir::Template)],
    auth: Option<&hir::RegistryAuth>,
) -> Template {
    let context_text = argo_text(context);
    let context_dir = match context_text.trim_start_matches("./").trim_end_matches('/') {
        "" | "." => WORKSPACE.to_string(),
        sub => format!("{WORKSPACE}/{sub}"),
    };
    let mut env = vec![
        EnvVar::value("BUILDKITD_FLAGS", "--oci-worker-no-process-sandbox"),
        EnvVar::value("CONTEXT", context_dir),
        EnvVar::value("DOCKERFILE", expanded_text(dockerfile)),
        EnvVar::value(script_env::IMAGE, expanded_text(&target.reference())),
    ];
    let mut command = String::from(
        "buildctl-daemonless.sh build \\\n  --frontend dockerfile.v0 \\\n  --local \"context=$CONTEXT\" \\\n  --local \"dockerfile=$CONTEXT\" \\\n  --opt \"filename=$DOCKERFILE\" \\\n  --output \"type=image,name=$IMAGE,push=true\" \\\n",
    );
    let mut checks = String::from("check_image \"$IMAGE\" IMAGE\n");
    if let Some(cache) = cache {
        env.push(EnvVar::value("CACHE", expanded_text(cache)));
        checks.push_str("check_image \"$CACHE\" CACHE\n");
        command.push_str("  --import-cache \"type=registry,ref=$CACHE\" \\\n");
    }
    for (i, (name, value)) in args.iter().enumerate() {
        let var = format!("BUILD_ARG_{i}");
        env.push(EnvVar::value(&var, expanded_text(value)));
        command.push_str(&format!("  --opt \"build-arg:{name}=${var}\" \\\n"));
    }
    command.push_str("  --export-cache type=inline\n");
    if let Some(a) = auth {
        env.push(EnvVar::secret(
            "REGISTRY_USERNAME",
            &a.username.secret_name,
            &a.username.key,
        ));
        env.push(EnvVar::secret(
            "REGISTRY_PASSWORD",
            &a.password.secret_name,
            &a.password.key,
        ));
    }
    Template {
        name: node.name.clone(),
        inputs: Some(Inputs {
            artifacts: vec![source_artifact(ctx)],
            ..Inputs::default()
        }),
        script: Some(ScriptTemplate {
            image: tools::BUILDKIT.to_string(),
            command: vec!["sh".to_string()],
            env,
            source: format!("{BUILD_LOGIN}{}{checks}{command}", shell::CHECK_IMAGE),
            ..ScriptTemplate::default()
        }),
        ..Template::default()
    }
}

/// The pipeline's repository at the run's `revision` (by default its commit), checked out
/// into the workspace.
fn source_artifact(ctx: &Ctx<'_>) -> Artifact {
    let revision = match &ctx.pipeline().revision {
        Some(r) => argo_text(r),
        None => format!("{{{{workflow.parameters.{GIT_SHA_PARAM}}}}}"),
    };
    Artifact {
        name: "source".to_string(),
        path: WORKSPACE.to_string(),
        git: Some(GitArtifact {
            repo: format!("{{{{workflow.parameters.{GIT_REPO_PARAM}}}}}"),
            revision,
        }),
    }
}

/// The artifact a step takes from another's output: named after both, so two producers'
/// `binary` outputs stay apart.
fn input_name(ctx: &Ctx<'_>, input: &hir::InputFile) -> String {
    format!("{}-{}", ctx.task_name(input.node), input.output)
}

fn input_artifacts(ctx: &Ctx<'_>, inputs: &[hir::InputFile]) -> Vec<Artifact> {
    inputs
        .iter()
        .map(|i| Artifact {
            name: input_name(ctx, i),
            path: i.path.clone(),
            git: None,
        })
        .collect()
}

/// The task arguments that pass a step its inputs from the producing tasks' outputs.
fn input_arguments(ctx: &Ctx<'_>, node: &hir::Node) -> Option<Arguments> {
    let inputs = match &node.kind {
        NodeKind::Run { inputs, .. } | NodeKind::Build { inputs, .. } => inputs,
        _ => return None,
    };
    (!inputs.is_empty()).then(|| Arguments {
        parameters: Vec::new(),
        artifacts: inputs
            .iter()
            .map(|i| ArtifactArgument {
                name: input_name(ctx, i),
                from: format!(
                    "{{{{tasks.{}.outputs.artifacts.{}}}}}",
                    ctx.task_name(i.node),
                    i.output
                ),
            })
            .collect(),
    })
}

/// Workflow parameters: the pipeline's params, then the git context the program uses.
pub(super) fn parameters(ctx: &Ctx<'_>) -> Vec<Parameter> {
    let pipeline = ctx.pipeline();
    let vars = used_vars(pipeline);
    let mut out: Vec<Parameter> = pipeline
        .params
        .iter()
        .map(|p| Parameter {
            name: p.name.clone(),
            value: p.default.clone(),
            description: match p.ty {
                hir::ParamType::String => None,
                hir::ParamType::Percent => Some("percent, as a fraction: 95% is 0.95".to_string()),
                other => Some(other.name().to_string()),
            },
            enum_values: Vec::new(),
        })
        .collect();
    let checks_out = pipeline.nodes.iter().any(|n| {
        matches!(
            n.kind,
            NodeKind::Build { .. } | NodeKind::Run { checkout: true, .. }
        )
    });
    let mut git = |name: &str, used: bool, value: String, description: &str| {
        if used {
            out.push(Parameter {
                name: name.to_string(),
                value: Some(value),
                description: Some(description.to_string()),
                enum_values: Vec::new(),
            });
        }
    };
    git(
        GIT_REPO_PARAM,
        checks_out || vars.contains(&Var::GitRepo),
        pipeline.repo.as_ref().map(argo_text).unwrap_or_default(),
        "repository the builds check out",
    );
    git(
        GIT_SHA_PARAM,
        (checks_out && pipeline.revision.is_none())
            || vars.contains(&Var::GitSha)
            || vars.contains(&Var::GitShortSha),
        "HEAD".to_string(),
        "commit to build; set it to the commit that triggered the run",
    );
    git(
        GIT_BRANCH_PARAM,
        vars.contains(&Var::GitBranch),
        String::new(),
        "branch that triggered the run, if any",
    );
    git(
        GIT_TAG_PARAM,
        vars.contains(&Var::GitTag),
        String::new(),
        "tag that triggered the run, if any",
    );
    out
}

/// Every run-time variable the pipeline's templates and conditions use.
fn used_vars(pipeline: &hir::Pipeline) -> BTreeSet<Var> {
    let mut vars = BTreeSet::new();
    let mut add = |t: &hir::Template| {
        for piece in &t.pieces {
            if let Piece::Var(v) = piece {
                vars.insert(v.underlying().clone());
            }
        }
    };
    let image = |i: &ImageRef, add: &mut dyn FnMut(&hir::Template)| {
        if let ImageRef::External(t) = i {
            add(t);
        }
    };
    if let Some(repo) = &pipeline.repo {
        add(repo);
    }
    if let Some(revision) = &pipeline.revision {
        add(revision);
    }
    for node in &pipeline.nodes {
        match &node.kind {
            NodeKind::Build {
                context,
                dockerfile,
                target,
                cache,
                args,
                ..
            } => {
                add(context);
                add(dockerfile);
                add(&target.repo);
                add(&target.tag);
                if let Some(c) = cache {
                    add(c);
                }
                for (_, v) in args {
                    add(v);
                }
            }
            NodeKind::Push { source, target, .. } => {
                image(source, &mut add);
                add(&target.repo);
                add(&target.tag);
            }
            NodeKind::Run {
                image: i,
                command,
                env,
                workdir,
                ..
            } => {
                image(i, &mut add);
                add(command);
                for e in env {
                    if let hir::EnvValue::Text(t) = &e.value {
                        add(t);
                    }
                }
                if let Some(w) = workdir {
                    add(w);
                }
            }
            NodeKind::Exec { command, .. } => add(command),
        }
        if let Some(c) = &node.when {
            condition_vars(c, &mut add);
        }
    }
    for service in &pipeline.services {
        image(&service.image, &mut add);
        // Services of ephemeral environments may use run-time values.
        for e in &service.env {
            if let hir::EnvValue::Text(t) = &e.value {
                add(t);
            }
        }
    }
    for release in &pipeline.releases {
        for stage in &release.stages {
            if let hir::StageKind::Exec { command, .. } = &stage.kind {
                add(command);
            }
        }
    }
    vars
}

fn condition_vars(c: &Condition, add: &mut dyn FnMut(&hir::Template)) {
    match c {
        Condition::And(a, b) | Condition::Or(a, b) => {
            condition_vars(a, add);
            condition_vars(b, add);
        }
        Condition::Not(a) => condition_vars(a, add),
        Condition::Compare { lhs, rhs, .. } => {
            let (Operand::Text(l), Operand::Text(r)) = (lhs, rhs);
            add(l);
            add(r);
        }
        Condition::Matches {
            operand: Operand::Text(t),
            ..
        } => add(t),
        Condition::StepResult { .. } | Condition::Const(_) => {}
    }
}
