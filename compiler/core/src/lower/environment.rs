//! Ephemeral environments → two Workflow tasks each: `<env>-up` in the main DAG and
//! `<env>-down` in the exit handler, which Argo runs whatever the outcome.
//!
//! Up makes the namespace `<run name>-<env>`, labelled with the run that owns it, copies in the
//! Secrets its services read, applies a Deployment and a Service per service, and waits until
//! every Deployment is ready. Down deletes the namespace, only if it belongs to this run; after
//! a failed run it first prints what was running there, with logs.
//!
//! The manifest is fixed JSON. Run-time values in it (the image tag, `${git.branch}` in an
//! env var) are placeholders that the script fills in with `jq` from environment variables,
//! which Argo substitutes: a value is always data, never JSON or shell.

use pipec_argo_model::Document;
use pipec_argo_model::contract::{labels, script_env};
use pipec_argo_model::k8s::{Deployment, DeploymentSpec, EnvVar, LabelSelector};
use pipec_argo_model::workflows::{DagTask, ScriptTemplate, Template};
use serde_json::json;

use super::release::{Task, annotated};
use super::rollout::{pod_template_with_image, selector, service_object};
use super::text::{expanded_tag, tag};
use super::workflow::retry_strategy;
use super::{Ctx, tools};
use crate::hir::{self, EnvKind, EnvValue, ImageRef, NodeKind, Piece, Template as Text};
use crate::names;

/// How long `up` waits for the environment's Deployments, in seconds.
const READY_TIMEOUT: u64 = 10 * 60;

pub fn up_task_name(env: &hir::Environment) -> String {
    names::environment_up(&env.k8s_name)
}

fn down_task_name(env: &hir::Environment) -> String {
    names::environment_down(&env.k8s_name)
}

/// `{{workflow.name}}-staging`.
fn namespace(env: &hir::Environment) -> String {
    format!("{}-{}", tag(&hir::Var::RunName), env.k8s_name)
}

/// The ephemeral environments that have services, with those services.
fn ephemeral<'c>(ctx: &'c Ctx<'_>) -> Vec<(&'c hir::Environment, Vec<&'c hir::Service>)> {
    let pipeline = ctx.pipeline();
    pipeline
        .environments
        .iter()
        .filter(|e| e.kind == EnvKind::Ephemeral)
        .map(|e| {
            let services = pipeline
                .services
                .iter()
                .filter(|s| s.environment == Some(e.id))
                .collect::<Vec<_>>();
            (e, services)
        })
        .filter(|(_, services)| !services.is_empty())
        .collect()
}

/// The environment's Deployments, for the scripts' `$DEPLOYMENTS`.
fn deployments(services: &[&hir::Service]) -> String {
    services
        .iter()
        .map(|s| s.k8s_name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run-time values of the manifest, replaced by `\u{1}N\u{1}` placeholders.
#[derive(Default)]
struct Values(Vec<String>);

impl Values {
    /// `expanded`: the placeholder is in an env value of the manifest, which Kubernetes expands
    /// once more after the `VALUE_N` variable itself.
    fn text(&mut self, template: &Text, expanded: bool) -> String {
        template
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Lit(text) => text.clone(),
                Piece::Var(var) => {
                    self.0.push(expanded_tag(var, 1 + u32::from(expanded)));
                    format!("\u{1}{}\u{1}", self.0.len() - 1)
                }
            })
            .collect()
    }
}

/// The `<env>-up` task of each ephemeral environment; it waits for the images it deploys.
pub(super) fn up_tasks(ctx: &Ctx<'_>) -> Vec<Task> {
    let mut out = Vec::new();
    for (env, services) in ephemeral(ctx) {
        let mut values = Values::default();
        let mut items = Vec::new();
        let mut secrets: Vec<&str> = Vec::new();
        let mut depends: Vec<String> = Vec::new();
        for service in &services {
            let image = match &service.image {
                ImageRef::External(t) => values.text(t, false),
                ImageRef::Node(id) => {
                    let node = ctx.node(*id);
                    depends.push(format!(
                        "{}.Succeeded",
                        node.map_or_else(String::new, |n| n.name.clone())
                    ));
                    match node.map(|n| &n.kind) {
                        Some(NodeKind::Build { target, .. } | NodeKind::Push { target, .. }) => {
                            values.text(&target.reference(), false)
                        }
                        _ => String::new(),
                    }
                }
            };
            let mut metadata = ctx.metadata(Some(service.k8s_name.clone()), None, service.span);
            metadata
                .labels
                .insert(labels::NAME.to_string(), service.k8s_name.clone());
            let mut template = pod_template_with_image(&metadata, service, Some(image));
            // The namespace is new: the pull secrets are copied into it like the env's.
            secrets.extend(service.pull_secrets.iter().map(String::as_str));
            for container in &mut template.spec.containers {
                container.env = service
                    .env
                    .iter()
                    .map(|var| match &var.value {
                        EnvValue::Text(t) => EnvVar::value(&var.name, values.text(t, true)),
                        EnvValue::Secret(key) => {
                            secrets.push(&key.secret_name);
                            EnvVar::secret(&var.name, &key.secret_name, &key.key)
                        }
                    })
                    .collect();
            }
            let deployment = Deployment {
                api_version: "apps/v1",
                kind: "Deployment",
                metadata,
                spec: DeploymentSpec {
                    replicas: i64::from(service.replicas),
                    selector: LabelSelector {
                        match_labels: selector(service),
                    },
                    template,
                },
            };
            items.push(serde_json::to_value(&deployment).unwrap_or_default());
            let kind = match service.expose.kind {
                hir::ExposureKind::ClusterIp => "ClusterIP",
                hir::ExposureKind::LoadBalancer => "LoadBalancer",
                hir::ExposureKind::NodePort => "NodePort",
            };
            if let Document::Service(s) =
                service_object(ctx, service, &service.k8s_name, kind, selector(service)).document
            {
                items.push(serde_json::to_value(&s).unwrap_or_default());
            }
        }
        secrets.sort_unstable();
        secrets.dedup();
        let manifest = json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut env_vars = vec![
            EnvVar::value(script_env::NAMESPACE, namespace(env)),
            EnvVar::value("RUN", tag(&hir::Var::RunName)),
            EnvVar::value("SECRETS", secrets.join(" ")),
            EnvVar::value("DEPLOYMENTS", deployments(&services)),
            EnvVar::value(script_env::TIMEOUT, READY_TIMEOUT.to_string()),
            // Pretty, so it reads as a block in the YAML.
            EnvVar::value(
                "MANIFEST",
                serde_json::to_string_pretty(&manifest).unwrap_or_default(),
            ),
        ];
        env_vars.extend(
            values
                .0
                .iter()
                .enumerate()
                .map(|(i, v)| EnvVar::value(format!("VALUE_{i}"), v)),
        );
        depends.sort();
        depends.dedup();
        let name = up_task_name(env);
        out.push(Task {
            task: DagTask {
                name: name.clone(),
                template: name.clone(),
                arguments: None,
                depends: (!depends.is_empty()).then(|| depends.join(" && ")),
                when: None,
            },
            shared: None,
            template: Template {
                name,
                metadata: annotated(ctx, env.span),
                script: Some(ScriptTemplate {
                    image: tools::KUBECTL.to_string(),
                    command: vec!["bash".to_string()],
                    env: env_vars,
                    source: UP.to_string(),
                    ..ScriptTemplate::default()
                }),
                ..Template::default()
            },
        });
    }
    out
}

/// The `<env>-down` templates, for the exit handler.
pub(super) fn down_templates(ctx: &Ctx<'_>) -> Vec<Template> {
    ephemeral(ctx)
        .into_iter()
        .map(|(env, services)| {
            let name = down_task_name(env);
            Template {
                name,
                metadata: annotated(ctx, env.span),
                retry_strategy: Some(retry_strategy(3)),
                script: Some(ScriptTemplate {
                    image: tools::KUBECTL.to_string(),
                    command: vec!["bash".to_string()],
                    env: vec![
                        EnvVar::value(script_env::NAMESPACE, namespace(env)),
                        EnvVar::value("RUN", tag(&hir::Var::RunName)),
                        EnvVar::value("STATUS", "{{workflow.status}}"),
                        EnvVar::value("DEPLOYMENTS", deployments(&services)),
                    ],
                    source: DOWN.to_string(),
                    ..ScriptTemplate::default()
                }),
                ..Template::default()
            }
        })
        .collect()
}

const UP: &str = r#"set -euo pipefail
owner() {
  kubectl get namespace "$NAMESPACE" -o jsonpath='{.metadata.labels.pipec\.dev/run}' 2>/dev/null || true
}
if [ -z "$(owner)" ] && ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
  kubectl create namespace "$NAMESPACE" --dry-run=client -o json \
    | jq --arg run "$RUN" '.metadata.labels += {"app.kubernetes.io/managed-by": "pipec", "pipec.dev/run": $run}' \
    | kubectl create -f -
fi
if [ "$(owner)" != "$RUN" ]; then
  echo "namespace/$NAMESPACE exists but was not made by run $RUN: leaving it alone" >&2
  exit 1
fi
for secret in $SECRETS; do
  kubectl get secret "$secret" -o json \
    | jq '{apiVersion, kind, type, data, metadata: {name: .metadata.name}}' \
    | kubectl apply --namespace "$NAMESPACE" -f -
done
printf '%s' "$MANIFEST" \
  | jq 'walk(if type == "string" then gsub("\u0001(?<n>[0-9]+)\u0001"; $ENV["VALUE_" + .n]) else . end)' \
  | kubectl apply --namespace "$NAMESPACE" -f -
deadline=$((SECONDS + TIMEOUT))
for deployment in $DEPLOYMENTS; do
  left=$((deadline - SECONDS))
  if [ "$left" -lt 1 ]; then left=1; fi
  if ! kubectl rollout status "deployment/$deployment" --namespace "$NAMESPACE" --timeout="${left}s"; then
    echo "deployment/$deployment in $NAMESPACE is not ready after ${TIMEOUT}s" >&2
    kubectl get pods --namespace "$NAMESPACE" -o wide >&2 || true
    kubectl get events --namespace "$NAMESPACE" --sort-by=.lastTimestamp >&2 || true
    kubectl logs "deployment/$deployment" --namespace "$NAMESPACE" --all-containers --tail=100 >&2 || true
    exit 1
  fi
done
echo "namespace/$NAMESPACE is up: $DEPLOYMENTS"
"#;

const DOWN: &str = r#"set -uo pipefail
owner=$(kubectl get namespace "$NAMESPACE" -o jsonpath='{.metadata.labels.pipec\.dev/run}' 2>/dev/null || true)
if [ "$owner" != "$RUN" ]; then
  echo "namespace/$NAMESPACE was not made by run $RUN (or is gone): nothing to tear down"
  exit 0
fi
if [ "$STATUS" != "Succeeded" ]; then
  echo "== the run ended $STATUS; what ran in $NAMESPACE =="
  kubectl get all --namespace "$NAMESPACE" -o wide || true
  kubectl get events --namespace "$NAMESPACE" --sort-by=.lastTimestamp || true
  for deployment in $DEPLOYMENTS; do
    echo "== logs of deployment/$deployment =="
    kubectl logs "deployment/$deployment" --namespace "$NAMESPACE" --all-containers --tail=200 || true
  done
fi
kubectl delete namespace "$NAMESPACE" --wait=false
"#;
