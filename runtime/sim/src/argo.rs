//! A scripted stand-in for the Argo Workflows and Argo Rollouts controllers.
//!
//! It advances the Workflows in the simulation one step per tick, the way Argo does: a DAG's
//! tasks start when their `depends` (or `dependencies`) holds, are omitted when it cannot, the
//! DAG ends in the phase the model of Argo gives it (`assessDAGPhase`; the corpus's DAG cases
//! that it steps are a test of it), a suspend node waits
//! until someone marks it succeeded (what `argo resume` does), the exit handler runs after
//! the main DAG with `{{workflow.status}}` known, `spec.shutdown: Stop` fails what runs and
//! still runs the exit handler. The pods' work is not run: the [`Script`] says which steps
//! fail and with what message. Steps that act on a Rollout (their template's `pipec.dev/action`
//! is `deploy`, `promote` or `rollback`, with a `ROLLOUT` variable) do to it what their kubectl
//! script does, and the Rollouts controller is the model of Argo Rollouts
//! (`pipec_argo_semantics::rollout::controller`): one tick is one second of its clock, so steps,
//! pauses, aborts and promotions progress as Argo Rollouts' own tests say they do, and changes
//! people make through the API (`pipec abort`, a promote) are read back each tick; canary and
//! blue-green Rollouts alike.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use pipec_argo_semantics::rollout::Spec;
use pipec_argo_semantics::rollout::controller::{self, Action};

use crate::{Key, RESOURCES, Sim, State, lock, store};

/// What happens in a simulated run.
#[derive(Clone, Debug)]
pub struct Script {
    /// Steps (task names) that fail, with the message Argo would show.
    pub fail: Vec<(String, String)>,
    /// Steps whose `when` is false.
    pub skip: Vec<String>,
    /// Time between two steps.
    pub tick: Duration,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            fail: Vec::new(),
            skip: Vec::new(),
            tick: Duration::from_millis(25),
        }
    }
}

impl Script {
    pub fn failing(mut self, step: &str, message: &str) -> Script {
        self.fail.push((step.to_string(), message.to_string()));
        self
    }

    pub fn skipping(mut self, step: &str) -> Script {
        self.skip.push(step.to_string());
        self
    }
}

impl Sim {
    /// Starts the controllers; they stop with the returned task or the simulation.
    pub fn run_controllers(&self, script: Script) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        let changes = self.changes.clone();
        tokio::spawn(async move {
            let mut clock = 0u64;
            let mut rollouts: BTreeMap<Key, controller::Cluster> = BTreeMap::new();
            let mut seconds = 0u64;
            loop {
                tokio::time::sleep(script.tick).await;
                let mut s = lock(&state);
                // One tick is one second of the Rollouts controller's clock.
                seconds += 1;
                tick_rollouts(&mut s, &changes, &mut rollouts, seconds);
                let keys: Vec<Key> = s
                    .objects
                    .keys()
                    .filter(|k| k.plural == "workflows")
                    .cloned()
                    .collect();
                for key in keys {
                    let Some(mut workflow) = s.objects.get(&key).cloned() else {
                        continue;
                    };
                    clock += 1;
                    let mut effects = Vec::new();
                    let changed = advance(&mut workflow, &s, &script, clock, &mut effects);
                    for effect in &mut effects {
                        effect.image = effect.image.as_ref().map(|i| resolve(i, &workflow));
                    }
                    if changed {
                        let resource = resource("workflows");
                        store(
                            &mut s,
                            &changes,
                            resource,
                            key.clone(),
                            workflow,
                            "MODIFIED",
                        );
                    }
                    for effect in effects {
                        apply_effect(&mut s, &changes, &key.namespace, &effect, &mut rollouts);
                    }
                }
            }
        })
    }
}

fn resource(plural: &str) -> &'static crate::Resource {
    RESOURCES
        .iter()
        .find(|r| r.plural == plural)
        .unwrap_or(&RESOURCES[0])
}

/// `2026-11-22T10:00:00Z` plus `tick` seconds: runs read the same on every machine.
fn time(tick: u64) -> String {
    format!("2026-11-22T10:{:02}:{:02}Z", (tick / 60) % 60, tick % 60)
}

/// A step that acted on a Rollout.
struct Effect {
    /// The template's `pipec.dev/action`: what the step does to the Rollout.
    action: String,
    /// The Rollout's namespace, when not the Workflow's.
    namespace: Option<String>,
    rollout: String,
    image: Option<String>,
    run: String,
}

/// Advances a Workflow by at most one step; false if nothing changed.
fn advance(
    workflow: &mut Value,
    state: &State,
    script: &Script,
    clock: u64,
    effects: &mut Vec<Effect>,
) -> bool {
    let status = &workflow["status"];
    if matches!(
        status["phase"].as_str(),
        Some("Succeeded" | "Failed" | "Error")
    ) {
        return false;
    }
    let name = workflow["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = time(clock);
    if status.is_null() || status["phase"].is_null() {
        if let Some(template) = workflow["spec"]["workflowTemplateRef"]["name"].as_str() {
            let stored = state
                .objects
                .iter()
                .find(|(k, _)| k.plural == "workflowtemplates" && k.name == template)
                .map(|(_, v)| v["spec"].clone());
            match stored {
                Some(spec) => workflow["status"]["storedWorkflowTemplateSpec"] = spec,
                None => {
                    workflow["status"] = json!({"phase": "Error", "startedAt": now,
                        "finishedAt": now,
                        "message": format!("workflowtemplates.argoproj.io \"{template}\" not found")});
                    return true;
                }
            }
        }
        let entry = spec(workflow)["entrypoint"]
            .as_str()
            .unwrap_or("main")
            .to_string();
        workflow["status"]["phase"] = json!("Running");
        workflow["status"]["startedAt"] = json!(now);
        workflow["status"]["nodes"] = json!({ name.clone(): {
            "id": name, "name": name, "displayName": name, "type": "DAG",
            "templateName": entry, "phase": "Running", "startedAt": now}});
        return true;
    }
    let spec = spec(workflow).clone();
    let templates: BTreeMap<String, Value> = spec["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?.to_string(), t.clone())))
        .collect();
    let parameters = parameters(workflow);
    let stopping = workflow["spec"]["shutdown"] == "Stop";
    let as_run = json!({"metadata": {"name": name}, "spec": spec});
    let tick = Tick {
        workflow: &name,
        workflow_json: &as_run,
        templates: &templates,
        parameters: &parameters,
        script,
        now: &now,
    };
    let mut nodes = workflow["status"]["nodes"]
        .as_object()
        .cloned()
        .unwrap_or_default();

    let entry = spec["entrypoint"].as_str().unwrap_or("main");
    let main_id = name.clone();
    if nodes[&main_id]["phase"] == "Running" {
        if stopping {
            for node in nodes.values_mut() {
                if node["phase"] == "Running" && node["type"] != "DAG" {
                    node["phase"] = json!("Failed");
                    node["finishedAt"] = json!(now);
                    node["message"] = json!("Stopped with strategy 'Stop'");
                }
            }
            finish_dag(&mut nodes, &main_id, "Failed", &now);
            workflow["status"]["message"] = json!("Stopped with strategy 'Stop'");
        } else {
            let dag = &templates
                .get(entry)
                .map_or(Value::Null, |t| t["dag"].clone());
            match step_dag(&tick, entry, dag, &main_id, &mut nodes, None, effects) {
                Progress::Changed => {}
                Progress::Waiting => return false,
                Progress::Done(phase) => finish_dag(&mut nodes, &main_id, &phase, &now),
            }
        }
        workflow["status"]["nodes"] = Value::Object(nodes);
        return true;
    }
    let main_phase = nodes[&main_id]["phase"]
        .as_str()
        .unwrap_or("Failed")
        .to_string();
    let mut phase = main_phase.clone();
    if let Some(exit) = spec["onExit"].as_str() {
        let exit_id = format!("{name}.onExit");
        if !nodes.contains_key(&exit_id) {
            nodes.insert(
                exit_id.clone(),
                json!({"id": exit_id, "name": exit_id,
                "displayName": exit_id, "type": "DAG", "templateName": exit,
                "phase": "Running", "startedAt": now}),
            );
            workflow["status"]["nodes"] = Value::Object(nodes);
            return true;
        }
        if nodes[&exit_id]["phase"] == "Running" {
            let dag = templates
                .get(exit)
                .map_or(Value::Null, |t| t["dag"].clone());
            match step_dag(
                &tick,
                exit,
                &dag,
                &exit_id,
                &mut nodes,
                Some(&main_phase),
                effects,
            ) {
                Progress::Changed => {}
                Progress::Waiting => return false,
                Progress::Done(p) => finish_dag(&mut nodes, &exit_id, &p, &now),
            }
            workflow["status"]["nodes"] = Value::Object(nodes);
            return true;
        }
        if nodes[&exit_id]["phase"] != "Succeeded" {
            phase = "Failed".to_string();
        }
    }
    workflow["status"]["phase"] = json!(phase);
    workflow["status"]["finishedAt"] = json!(now);
    if phase != "Succeeded" && workflow["status"]["message"].is_null() {
        let failed = nodes
            .values()
            .find(|n| n["type"] == "Pod" && n["phase"] == "Failed")
            .and_then(|n| n["displayName"].as_str())
            .unwrap_or("main");
        workflow["status"]["message"] = json!(format!("child '{failed}' failed"));
    }
    workflow["status"]["nodes"] = Value::Object(nodes);
    true
}

fn spec(workflow: &Value) -> &Value {
    let stored = &workflow["status"]["storedWorkflowTemplateSpec"];
    if stored.is_null() {
        &workflow["spec"]
    } else {
        stored
    }
}

/// The run's parameter values: the template's defaults, then the run's own.
fn parameters(workflow: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for list in [
        &workflow["status"]["storedWorkflowTemplateSpec"]["arguments"]["parameters"],
        &workflow["spec"]["arguments"]["parameters"],
    ] {
        for p in list.as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (p["name"].as_str(), p["value"].as_str()) {
                out.insert(n.to_string(), v.to_string());
            }
        }
    }
    out
}

fn finish_dag(nodes: &mut serde_json::Map<String, Value>, id: &str, phase: &str, now: &str) {
    if let Some(node) = nodes.get_mut(id) {
        node["phase"] = json!(phase);
        node["finishedAt"] = json!(now);
    }
}

enum Progress {
    Changed,
    /// Only approvals are running.
    Waiting,
    /// Every task has ended; the DAG's phase.
    Done(String),
}

/// What one tick of a Workflow knows: its name, templates and parameters, the script, the time.
struct Tick<'a> {
    workflow: &'a str,
    /// The Workflow with the spec it runs (its WorkflowTemplate's, if it references one), as
    /// the model of Argo reads it.
    workflow_json: &'a Value,
    templates: &'a BTreeMap<String, Value>,
    parameters: &'a BTreeMap<String, String>,
    script: &'a Script,
    now: &'a str,
}

/// Advances one DAG (the entrypoint's, or the exit handler's, the template `dag_template`) by
/// at most one task.
fn step_dag(
    tick: &Tick<'_>,
    dag_template: &str,
    dag: &Value,
    parent: &str,
    nodes: &mut serde_json::Map<String, Value>,
    workflow_status: Option<&str>,
    effects: &mut Vec<Effect>,
) -> Progress {
    let Tick {
        workflow,
        templates,
        parameters,
        script,
        now,
        ..
    } = *tick;
    let tasks: Vec<&Value> = dag["tasks"].as_array().into_iter().flatten().collect();
    let id_of = |task: &str| format!("{parent}.{task}");
    let phases: BTreeMap<String, String> = tasks
        .iter()
        .filter_map(|t| {
            let task = t["name"].as_str()?;
            let node = nodes.get(&id_of(task))?;
            Some((task.to_string(), node["phase"].as_str()?.to_string()))
        })
        .collect();
    let mut waiting = false;
    for task in &tasks {
        let Some(task_name) = task["name"].as_str() else {
            continue;
        };
        let id = id_of(task_name);
        let template_name = task["template"].as_str().unwrap_or(task_name);
        let template = templates.get(template_name).cloned().unwrap_or(Value::Null);
        if let Some(node) = nodes.get_mut(&id) {
            if node["phase"] != "Running" {
                continue;
            }
            if node["type"] == "Suspend" {
                waiting = true;
                continue;
            }
            let failure = script.fail.iter().find(|(s, _)| s == task_name);
            node["finishedAt"] = json!(now);
            match failure {
                Some((_, message)) => {
                    node["phase"] = json!("Failed");
                    node["message"] = json!(message);
                }
                None => {
                    node["phase"] = json!("Succeeded");
                    if let Some(rollout) = env(&template, "ROLLOUT") {
                        effects.push(Effect {
                            action: template["metadata"]["annotations"]
                                [pipec_argo_model::annotations::ACTION]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            namespace: env(&template, "NAMESPACE").map(str::to_string),
                            rollout: rollout.to_string(),
                            image: env(&template, "IMAGE").map(str::to_string),
                            run: workflow.to_string(),
                        });
                    }
                }
            }
            return Progress::Changed;
        }
        // `dependencies: [a, b]` is `depends: a && b` (`depends::from_dependencies`).
        let listed = task["dependencies"].as_array().map(|list| {
            let names: Vec<String> = list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            pipec_argo_semantics::depends::from_dependencies(&names)
        });
        let depends = task["depends"].as_str().or(listed.as_deref());
        let Some(should_run) = depends_hold(depends, &phases) else {
            continue;
        };
        let when = task["when"]
            .as_str()
            .is_none_or(|w| when_holds(w, workflow_status, parameters))
            && !script.skip.iter().any(|s| s == task_name);
        let (kind, phase, message) = if !should_run {
            ("Skipped", "Omitted", "omitted: depends condition not met")
        } else if !when {
            ("Skipped", "Skipped", "when evaluated false")
        } else if template["suspend"].is_object() {
            ("Suspend", "Running", "")
        } else {
            ("Pod", "Running", "")
        };
        let mut node = json!({"id": id, "name": format!("{workflow}.{task_name}"),
            "displayName": task_name, "type": kind, "templateName": template_name,
            "phase": phase, "startedAt": now, "boundaryID": parent});
        if !message.is_empty() {
            node["message"] = json!(message);
            node["finishedAt"] = json!(now);
        }
        nodes.insert(id, node);
        return Progress::Changed;
    }
    if waiting {
        return Progress::Waiting;
    }
    let all_done = tasks.iter().all(|t| {
        t["name"]
            .as_str()
            .and_then(|n| nodes.get(&id_of(n)))
            .is_some_and(|n| n["phase"] != "Running")
    });
    if !all_done {
        // A task whose dependencies never end cannot start: Argo reports the DAG as failed.
        return Progress::Done("Failed".to_string());
    }
    // The DAG's phase is Argo's (`assessDAGPhase`, from its target tasks), by the model: a
    // failed task whose dependents ran on (`depends: x.Failed`) does not fail the DAG. A DAG
    // the model does not cover (pipec emits none) counts as failed.
    let ended: BTreeMap<String, pipec_argo_semantics::Phase> = tasks
        .iter()
        .filter_map(|t| {
            let task = t["name"].as_str()?;
            let phase = nodes.get(&id_of(task))?["phase"].as_str()?;
            Some((task.to_string(), pipec_argo_semantics::Phase::parse(phase)?))
        })
        .collect();
    let phase = pipec_argo_semantics::workflow::dag_phase(tick.workflow_json, dag_template, &ended)
        .unwrap_or(pipec_argo_semantics::Phase::Failed);
    Progress::Done(phase.name().to_string())
}

fn env<'a>(template: &'a Value, name: &str) -> Option<&'a str> {
    pipec_argo_semantics::workflow::template_env(template, name)
}

/// The image a deploy step sets: Argo's variables replaced by the run's values (the forms
/// pipec writes into image references, `pipec_argo_model::image_tag::resolve`).
fn resolve(text: &str, workflow: &Value) -> String {
    use pipec_argo_model::image_tag::{RunValues, resolve};
    resolve(text, &RunValues::of_workflow(workflow))
}

/// Whether a task's `depends` holds, by the model of Argo (`pipec_argo_semantics::depends`,
/// checked against Argo's own cases): `None` while a task it names has no ended node. Bare
/// names mean `.Succeeded || .Skipped || .Daemoned`, so an Omitted task satisfies none of them.
fn depends_hold(depends: Option<&str>, phases: &BTreeMap<String, String>) -> Option<bool> {
    use pipec_argo_semantics::depends::{self, ContinueOn, TaskState};
    let Some(depends) = depends else {
        return Some(true);
    };
    let expanded = depends::expand(depends, &|_| ContinueOn::default());
    let state = |task: &str| {
        phases
            .get(task)
            .and_then(|p| pipec_argo_semantics::Phase::parse(p))
            .map(TaskState::of)
    };
    let decision = depends::decide(&expanded, &state).ok()?;
    decision.proceed.then_some(decision.execute)
}

/// Whether a task's `when` holds, by the model of Argo: its tags substituted
/// (`pipec_argo_semantics::expr`), then evaluated as govaluate does. A `when` the model cannot
/// evaluate makes Argo's node Error; here the task does not run.
fn when_holds(when: &str, status: Option<&str>, parameters: &BTreeMap<String, String>) -> bool {
    let env = pipec_argo_semantics::expr::Env {
        parameters: parameters.clone(),
        status: Some(status.unwrap_or("Running").to_string()),
        parameters_json: None,
    };
    pipec_argo_semantics::expr::substitute(when, &env)
        .and_then(|text| pipec_argo_semantics::govaluate::when(&text))
        .unwrap_or(false)
}

/// What a step's script does to a canary Rollout, then the Rollouts controller as the model
/// of Argo Rollouts runs it ([`pipec_argo_semantics::rollout::controller`]): the Rollout as it is
/// stored after each change a watcher would see (a rollback is seen aborted, then healthy).
fn act_on_model(
    rollout: &mut Value,
    spec: Spec,
    effect: &Effect,
    cluster: &mut controller::Cluster,
) -> Vec<Value> {
    let quick = controller::Script::default();
    cluster.rollout.spec = spec;
    let mut stored = Vec::new();
    match effect.action.as_str() {
        "deploy" => {
            // A Rollout that ran before is Healthy at its first revision in the model; its
            // first deploy is the Rollout's initial one, promoted at once.
            let first = rollout["status"]["stableRS"]
                .as_str()
                .is_none_or(str::is_empty);
            if cluster.replica_sets.is_empty() {
                controller::settle(cluster, &quick);
            }
            if !first {
                cluster.act(&Action::UpdateTemplate);
            }
            set_image(rollout, effect);
        }
        "promote" => cluster.act(&Action::Promote),
        "rollback" => {
            // The script aborts an update in progress, waits for the stable pods, then
            // restores the stable template; a fully promoted Rollout it returns to an earlier
            // revision, which the model does not follow yet (the rollback window).
            let status = &cluster.rollout.status;
            if status.current_pod_hash == status.stable_rs {
                return stored;
            }
            cluster.act(&Action::Abort);
            controller::settle(cluster, &quick);
            write_status(rollout, cluster);
            stored.push(rollout.clone());
            cluster.act(&Action::RestoreStable);
        }
        _ => return stored,
    }
    controller::settle(cluster, &quick);
    write_status(rollout, cluster);
    stored.push(rollout.clone());
    stored
}

/// What people changed on the stored Rollout since the model last wrote it, through the API
/// (`pipec abort`, `kubectl argo rollouts promote`, a scale): the spec, and the status fields
/// the CLI patches (`abort`, `pauseConditions`, `promoteFull`).
fn read_changes(rollout: &Value, cluster: &mut controller::Cluster) {
    if let Ok(spec) = Spec::from_json(rollout) {
        cluster.rollout.spec = spec;
    }
    let status = &rollout["status"];
    let model = &cluster.rollout.status;
    let abort = status["abort"].as_bool().unwrap_or(false);
    if abort && !model.abort {
        cluster.act(&Action::Abort);
    } else if !abort && model.abort {
        cluster.act(&Action::Retry);
    }
    if status["promoteFull"].as_bool() == Some(true) && !cluster.rollout.status.promote_full {
        cluster.act(&Action::PromoteFull);
    }
    let paused_in_store = status["pauseConditions"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    if !paused_in_store && !cluster.rollout.status.pause_conditions.is_empty() {
        cluster.rollout.status.pause_conditions.clear();
    }
}

/// The model's status of a Rollout as the controller writes it to `status`.
fn write_status(rollout: &mut Value, cluster: &controller::Cluster) {
    let s = &cluster.rollout.status;
    let generation = rollout["metadata"]["generation"].as_i64().unwrap_or(1);
    let mut status = json!({
        "observedGeneration": generation.to_string(),
        "phase": s.phase.map_or("Progressing", |p| p.name()),
        "currentPodHash": s.current_pod_hash,
        "stableRS": s.stable_rs,
        "replicas": s.replicas,
        "updatedReplicas": s.updated_replicas,
        "availableReplicas": s.available_replicas,
    });
    if !s.message.is_empty() {
        status["message"] = json!(s.message);
    }
    if let Some(i) = s.current_step_index {
        status["currentStepIndex"] = json!(i);
    }
    if s.abort {
        status["abort"] = json!(true);
    }
    if s.controller_pause {
        status["controllerPause"] = json!(true);
    }
    if !s.pause_conditions.is_empty() {
        status["pauseConditions"] = s
            .pause_conditions
            .iter()
            .map(|c| json!({"reason": c.reason.name(), "startTime": time(c.start_time)}))
            .collect();
    }
    if cluster.rollout.spec.blue_green.is_some() {
        status["blueGreen"] = json!({"activeSelector": s.active_selector,
                                     "previewSelector": s.preview_selector});
    }
    if let Some((canary, stable)) = s.weights {
        status["canary"] =
            json!({"weights": {"canary": {"weight": canary}, "stable": {"weight": stable}}});
    }
    rollout["status"] = status;
}

/// The Rollouts controller's clock: every modelled Rollout is reconciled at `seconds` (timed
/// pauses end, analyses finish, old pods are scaled down) and stored when its status changed.
fn tick_rollouts(
    state: &mut State,
    changes: &tokio::sync::broadcast::Sender<crate::Change>,
    rollouts: &mut BTreeMap<Key, controller::Cluster>,
    seconds: u64,
) {
    let quick = controller::Script::default();
    for (key, cluster) in rollouts.iter_mut() {
        let Some(mut rollout) = state.objects.get(key).cloned() else {
            continue;
        };
        read_changes(&rollout, cluster);
        let before = cluster.rollout.status.clone();
        cluster.now = seconds;
        controller::settle(cluster, &quick);
        let mut written = rollout.clone();
        write_status(&mut written, cluster);
        if cluster.rollout.status == before && written["status"] == rollout["status"] {
            continue;
        }
        rollout = written;
        store(
            state,
            changes,
            resource("rollouts"),
            key.clone(),
            rollout,
            "MODIFIED",
        );
    }
}

/// What a step's script, and then the Rollouts controller, do to a Rollout.
fn apply_effect(
    state: &mut State,
    changes: &tokio::sync::broadcast::Sender<crate::Change>,
    namespace: &str,
    effect: &Effect,
    rollouts: &mut BTreeMap<Key, controller::Cluster>,
) {
    let key = Key {
        plural: "rollouts",
        namespace: effect
            .namespace
            .clone()
            .unwrap_or_else(|| namespace.to_string()),
        name: effect.rollout.clone(),
    };
    let Some(mut rollout) = state.objects.get(&key).cloned() else {
        return;
    };
    if let Ok(spec) = Spec::from_json(&rollout) {
        let cluster = rollouts
            .entry(key.clone())
            .or_insert_with(|| controller::Cluster::new(spec.clone()));
        for changed in act_on_model(&mut rollout, spec, effect, cluster) {
            store(
                state,
                changes,
                resource("rollouts"),
                key.clone(),
                changed,
                "MODIFIED",
            );
        }
        return;
    }
    // A Rollout the model cannot read gets the step's change to its spec, and no controller.
    if effect.action == "deploy" {
        set_image(&mut rollout, effect);
        store(
            state,
            changes,
            resource("rollouts"),
            key,
            rollout,
            "MODIFIED",
        );
    }
}

/// What the deploy script patches: the image, the run that changed the Rollout, and so a new
/// generation.
fn set_image(rollout: &mut Value, effect: &Effect) {
    let generation = rollout["metadata"]["generation"].as_i64().unwrap_or(1);
    rollout["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!(effect.image.clone().unwrap_or_default());
    rollout["metadata"]["annotations"]["pipec.dev/run"] = json!(effect.run);
    rollout["metadata"]["generation"] = json!(generation + 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_expressions() {
        let phases: BTreeMap<String, String> =
            [("a", "Succeeded"), ("b", "Failed"), ("c", "Running")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(depends_hold(None, &phases), Some(true));
        assert_eq!(
            depends_hold(Some("a.Succeeded && b.Succeeded"), &phases),
            Some(false)
        );
        assert_eq!(
            depends_hold(Some("b.Succeeded || b.Failed"), &phases),
            Some(true)
        );
        assert_eq!(
            depends_hold(Some("!(b.Succeeded) && a"), &phases),
            Some(true)
        );
        assert_eq!(
            depends_hold(Some("c.Succeeded"), &phases),
            None,
            "c still runs"
        );
        assert_eq!(depends_hold(Some("d"), &phases), None, "d has not started");
    }

    /// Runs `workflow` through the simulated controller until it stops changing.
    fn simulate(mut workflow: Value, script: &Script) -> Value {
        let state = State::default();
        let mut effects = Vec::new();
        for clock in 0..10_000 {
            if !advance(&mut workflow, &state, script, clock, &mut effects) {
                break;
            }
        }
        workflow
    }

    /// The simulated controller against Argo's own DAG and exit-handler cases (the corpus the
    /// model is tested with, `compiler/argo-semantics/tests/conformance`), for the cases made of
    /// what it steps itself: DAGs of pods and suspends, `depends`, `when`, exit handlers. Where
    /// it disagrees with a case, the simulator is wrong.
    #[test]
    fn dag_cases_of_the_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../compiler/argo-semantics/tests/conformance/workflows");
        let mut ran = 0;
        let mut wrong = Vec::new();
        for sub in ["dag", "exit"] {
            let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
                let case = &docs[0];
                let Some(manifest) = docs.get(1) else {
                    continue;
                };
                let outside = [
                    "retryStrategy",
                    "continueOn",
                    "artifacts",
                    "steps",
                    "withParam",
                    "withItems",
                    "withSequence",
                    "hooks",
                    "templateRef",
                    "failFast",
                    "{{tasks.",
                    "target",
                    "activeDeadlineSeconds",
                ];
                let spec = manifest["spec"].to_string();
                let tasks_onexit = manifest["spec"]["templates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|t| t["dag"]["tasks"].as_array().cloned().unwrap_or_default())
                    .any(|t| !t["onExit"].is_null());
                // pipec's entrypoints and exit handlers are DAGs, and so are the simulator's.
                let not_a_dag = |key: &str| {
                    manifest["spec"][key].as_str().is_some_and(|name| {
                        manifest["spec"]["templates"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|t| t["name"] == name && t["dag"].is_null())
                    })
                };
                if case["kind"] != "ConformanceCase"
                    || not_a_dag("entrypoint")
                    || not_a_dag("onExit")
                    || !case["variants"].is_null()
                    || !case["given"]["initial_status"].is_null()
                    || !case["given"]["events"].is_null()
                    || tasks_onexit
                    || outside.iter().any(|f| spec.contains(f))
                    || manifest["spec"]["templates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|t| {
                            t["dag"].is_null()
                                && t["container"].is_null()
                                && t["script"].is_null()
                                && t["suspend"].is_null()
                        })
                {
                    continue;
                }
                let mut script = Script::default();
                for (pod, given) in case["given"]["pods"].as_object().into_iter().flatten() {
                    if matches!(given["phase"].as_str(), Some("Failed" | "Error")) {
                        script = script.failing(pod, "failed");
                    }
                }
                let ended = simulate(manifest.clone(), &script);
                let id = case["id"].as_str().unwrap_or_default();
                let expected = &case["expected"];
                if let Some(phase) = expected["workflow"]["phase"].as_str()
                    && ended["status"]["phase"] != phase
                {
                    wrong.push(format!(
                        "{id}: workflow {phase}, simulator {}",
                        ended["status"]["phase"]
                    ));
                }
                let nodes = ended["status"]["nodes"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (name, node) in expected["nodes"].as_object().into_iter().flatten() {
                    let Some(phase) = node["phase"].as_str() else {
                        continue;
                    };
                    let got = nodes
                        .values()
                        .find(|n| n["displayName"] == name.as_str() && n["type"] != "DAG");
                    // `Pending`: created and scheduled; the simulator runs pods to their end.
                    let agrees = |got: &Value| {
                        got["phase"] == phase
                            || (phase == "Pending"
                                && matches!(
                                    got["phase"].as_str(),
                                    Some("Running" | "Succeeded" | "Failed")
                                ))
                    };
                    if let Some(got) = got
                        && !agrees(got)
                    {
                        wrong.push(format!("{id}: {name} {phase}, simulator {}", got["phase"]));
                    }
                    if got.is_none()
                        && node["created"] != false
                        && !name.contains('.')
                        && !name.contains('(')
                    {
                        let tasks = manifest.to_string();
                        if tasks.contains(&format!("\"name\":\"{name}\"")) {
                            wrong.push(format!("{id}: {name} {phase}, simulator has no node"));
                        }
                    }
                }
                ran += 1;
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(
            ran >= 6,
            "only {ran} cases of the corpus are inside what the simulator steps"
        );
    }

    #[test]
    fn whens() {
        let params = BTreeMap::from([("service".to_string(), "api".to_string())]);
        assert!(when_holds(
            "'{{workflow.status}}' != 'Succeeded'",
            Some("Failed"),
            &params
        ));
        assert!(!when_holds(
            "'{{workflow.status}}' != 'Succeeded'",
            Some("Succeeded"),
            &params
        ));
        assert!(when_holds(
            "'{{workflow.parameters.service}}' == 'api'",
            None,
            &params
        ));
        assert!(!when_holds(
            "'{{workflow.parameters.service}}' == 'web'",
            None,
            &params
        ));
    }
}
