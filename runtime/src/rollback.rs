//! `pipec rollback`: which image to return a service to, and the run of the pipeline's
//! rollback template that does it.
//!
//! The compiler installs a `<pipeline>-rollback` WorkflowTemplate beside every pipeline with
//! a release. It takes the service and an image (empty: the previous revision), collects
//! diagnostics first and promotes at once. This module only chooses its arguments: from a
//! revision number (the Rollout's ReplicaSets keep each revision's pod template) or from an
//! earlier run (the image its deploy step set, with the run's own values substituted).

use pipec_argo_model::contract::{self, RolloutAction, labels, script_env};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::RuntimeError;
use crate::progress::template_env;

const ARGO: &str = "argoproj.io/v1alpha1";
const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";

/// Where to roll back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The revision before the current one.
    Previous,
    /// A revision number of the Rollout (`kubectl argo rollouts history`).
    Revision(u64),
    /// The image an earlier run deployed, by the run's (Workflow's) name.
    Run(String),
    /// An image reference.
    Image(String),
}

impl Target {
    /// Reads `--to`: digits are a revision, a reference with `:`, `/` or `@` an image,
    /// anything else a run name.
    pub fn parse(to: Option<&str>) -> Target {
        match to.map(str::trim) {
            None | Some("") => Target::Previous,
            Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => t
                .parse()
                .map_or_else(|_| Target::Image(t.to_string()), Target::Revision),
            Some(t) if t.contains([':', '/', '@']) => Target::Image(t.to_string()),
            Some(t) => Target::Run(t.to_string()),
        }
    }
}

/// The Workflow to create for rolling `service` back to `target`: a run of the rollback
/// template that offers the service (its `service` parameter lists it), in the cluster's
/// namespace; the Rollout itself may live in an environment's namespace.
pub async fn rollback_run(
    cluster: &Cluster,
    service: &str,
    target: &Target,
) -> Result<Value, RuntimeError> {
    let templates = cluster
        .list(
            ARGO,
            "WorkflowTemplate",
            None,
            &labels::managed_selector(&[(labels::ROLE, labels::ROLE_ROLLBACK)]),
        )
        .await?;
    let offers = |t: &&Value| {
        t["spec"]["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| {
                p["name"] == "service"
                    && p["enum"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|s| s == service))
            })
    };
    let Some(template) = templates.iter().find(offers) else {
        return Err(RuntimeError::Invalid(format!(
            "no rollback template in namespace {} offers service {service}; `pipec run` of \
             its pipeline installs one",
            cluster.namespace()
        )));
    };
    let template_name = template["metadata"]["name"].as_str().unwrap_or_default();
    let pipeline = template["metadata"]["labels"][labels::PART_OF]
        .as_str()
        .unwrap_or_default();
    let namespace = crate::progress::task_templates(&json!({"spec": template["spec"]}))
        .iter()
        .find(|t| template_env(t, script_env::ROLLOUT) == Some(service))
        .and_then(|t| template_env(t, script_env::NAMESPACE))
        .map(str::to_string);
    let image = match target {
        Target::Previous => String::new(),
        Target::Image(image) => image.clone(),
        Target::Revision(revision) => {
            let rollout = cluster
                .get(ARGO, "Rollout", namespace.as_deref(), service)
                .await?;
            revision_image(cluster, &rollout, namespace.as_deref(), *revision).await?
        }
        Target::Run(run) => {
            let workflow = cluster.get(ARGO, "Workflow", None, run).await?;
            run_image(&workflow, service)?
        }
    };
    Ok(json!({
        "apiVersion": ARGO,
        "kind": "Workflow",
        "metadata": {
            "generateName": contract::generate_name(template_name),
            "labels": {
                labels::MANAGED_BY: labels::MANAGED_BY_PIPEC,
                labels::PART_OF: pipeline,
            },
        },
        "spec": {
            "workflowTemplateRef": {"name": template_name},
            "arguments": {"parameters": [
                {"name": "service", "value": service},
                {"name": "image", "value": image},
            ]},
        },
    }))
}

/// The image of `revision`, from the ReplicaSet that Argo Rollouts keeps for it.
async fn revision_image(
    cluster: &Cluster,
    rollout: &Value,
    namespace: Option<&str>,
    revision: u64,
) -> Result<String, RuntimeError> {
    let name = rollout["metadata"]["name"].as_str().unwrap_or_default();
    let selector: Vec<String> = rollout["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some(format!("{k}={}", v.as_str()?)))
        .collect();
    let replica_sets = cluster
        .list("apps/v1", "ReplicaSet", namespace, &selector.join(","))
        .await?;
    let owned: Vec<&Value> = replica_sets
        .iter()
        .filter(|rs| {
            rs["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["kind"] == "Rollout" && o["name"] == name)
        })
        .collect();
    let revision_of = |rs: &Value| {
        rs["metadata"]["annotations"][REVISION_ANNOTATION]
            .as_str()
            .map(str::to_string)
    };
    let found = owned
        .iter()
        .find(|rs| revision_of(rs).as_deref() == Some(revision.to_string().as_str()));
    match found.and_then(|rs| container_image(&rs["spec"]["template"], name)) {
        Some(image) => Ok(image),
        None => {
            let mut known: Vec<u64> = owned
                .iter()
                .filter_map(|rs| revision_of(rs)?.parse().ok())
                .collect();
            known.sort_unstable();
            let known: Vec<String> = known.iter().map(u64::to_string).collect();
            Err(RuntimeError::Invalid(format!(
                "Rollout {name} has no revision {revision}; it keeps revisions: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

/// The image of the container named like the service, else the first one.
fn container_image(pod_template: &Value, service: &str) -> Option<String> {
    let containers = pod_template["spec"]["containers"].as_array()?;
    containers
        .iter()
        .find(|c| c["name"] == service)
        .or_else(|| containers.first())?["image"]
        .as_str()
        .map(str::to_string)
}

/// The image an earlier run deployed to `service`: its deploy step's `IMAGE`, with the run's
/// values in place of the Argo variables pipec writes into image tags.
pub fn run_image(workflow: &Value, service: &str) -> Result<String, RuntimeError> {
    let run = workflow["metadata"]["name"].as_str().unwrap_or_default();
    let instances = crate::progress::task_templates(workflow);
    let deploy = instances.iter().find(|t| {
        RolloutAction::of_template(t) == Some(RolloutAction::Deploy)
            && template_env(t, script_env::ROLLOUT) == Some(service)
    });
    let Some(image) = deploy.and_then(|t| template_env(t, script_env::IMAGE)) else {
        return Err(RuntimeError::Invalid(format!(
            "run {run} did not deploy service {service}"
        )));
    };
    let resolved = substitute(image, workflow);
    if resolved.contains("{{") {
        return Err(RuntimeError::Invalid(format!(
            "cannot tell which image run {run} deployed ({image}); pass it with --to IMAGE"
        )));
    }
    Ok(resolved)
}

/// Replaces the Argo variables of `text` that a finished run determines, as Argo did when
/// the run started (`pipec_argo_model::image_tag::resolve` knows the forms pipec writes).
fn substitute(text: &str, workflow: &Value) -> String {
    use pipec_argo_model::image_tag::{RunValues, resolve};
    resolve(text, &RunValues::of_workflow(workflow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse(None), Target::Previous);
        assert_eq!(Target::parse(Some("3")), Target::Revision(3));
        assert_eq!(
            Target::parse(Some("docker.io/acme/api:v1")),
            Target::Image("docker.io/acme/api:v1".into())
        );
        assert_eq!(
            Target::parse(Some("api-x7k2p")),
            Target::Run("api-x7k2p".into())
        );
    }

    #[test]
    fn a_runs_image_is_its_deploy_steps_with_the_runs_values() {
        let workflow = json!({
            "metadata": {"name": "api-abcde", "uid": "1234-5678",
                         "creationTimestamp": "2026-11-22T10:04:05Z"},
            "spec": {
                "arguments": {"parameters": [{"name": "git-sha", "value": "0123456789abcdef"},
                                              {"name": "git-branch", "value": "feature/x"}]},
                "templates": [
                    {"name": "main", "dag": {"tasks": [
                        {"name": "api-deploy", "template": "rollout-deploy", "arguments": {"parameters": [
                            {"name": "ROLLOUT", "value": "api"},
                            {"name": "IMAGE", "value": "r.io/api:{{workflow.uid}}-{{=sprig.replace('$', '$$', sprig.trunc(7, workflow.parameters['git-sha']))}}-{{workflow.creationTimestamp.Y}}{{workflow.creationTimestamp.S}}-{{=sprig.trunc(30, sprig.regexReplaceAll('[^A-Za-z0-9_.-]', workflow.parameters['git-branch'], '-'))}}"},
                        ]}},
                        {"name": "web-deploy", "template": "rollout-deploy", "arguments": {"parameters": [
                            {"name": "ROLLOUT", "value": "web"},
                            {"name": "IMAGE", "value": "r.io/web:{{tasks.v.outputs.result}}"},
                        ]}},
                    ]}},
                    {"name": "rollout-deploy", "metadata": {"annotations": {"pipec.dev/action": "deploy"}},
                     "inputs": {"parameters": [{"name": "ROLLOUT"}, {"name": "IMAGE"}]},
                     "script": {"env": [
                        {"name": "ROLLOUT", "value": "{{inputs.parameters.ROLLOUT}}"},
                        {"name": "IMAGE", "value": "{{inputs.parameters.IMAGE}}"},
                    ]}},
                ],
            },
        });
        assert_eq!(
            run_image(&workflow, "api").ok().as_deref(),
            Some("r.io/api:1234-5678-0123456-202605-feature-x")
        );
        let unknown = run_image(&workflow, "web");
        assert!(matches!(unknown, Err(RuntimeError::Invalid(m)) if m.contains("--to IMAGE")));
        assert!(run_image(&workflow, "db").is_err());
    }
}
