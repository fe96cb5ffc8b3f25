//! The Argo Workflows and Argo Rollouts controllers of the simulation, run on the model of
//! Argo (`pipec_argo_semantics`), never on semantics of their own.
//!
//! Each tick operates every Workflow once, as the model's [`Machine`] does it: the run so far
//! is replayed (the model is deterministic) with what people did through the API at the
//! points it was seen — a suspend node marked succeeded (`pipec approve`, `argo resume`),
//! `spec.shutdown` set (`pipec abort`) — then operated once more, and its nodes are written
//! back as Argo writes them (node names, IDs, types, boundaries). The pods' work is not run:
//! the [`Script`] says which steps fail and with what message. Steps that act on a Rollout (their template's `pipec.dev/action`
//! is `deploy`, `promote` or `rollback`, with a `ROLLOUT` variable) do to it what their kubectl
//! script does, and the Rollouts controller is the model of Argo Rollouts
//! (`pipec_argo_semantics::rollout::controller`): one tick is one second of its clock, so steps,
//! pauses, aborts and promotions progress as Argo Rollouts' own tests say they do, and changes
//! people make through the API (`pipec abort`, a promote) are read back each tick; canary and
//! blue-green Rollouts alike.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use pipec_argo_model::contract::{RolloutAction, script_env};
use pipec_argo_semantics::Phase;
use pipec_argo_semantics::rollout::Spec;
use pipec_argo_semantics::rollout::controller::{self, Action};
use pipec_argo_semantics::workflow::{self, Machine, Outcomes, Shutdown};

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
            let mut rollouts: BTreeMap<Key, Release> = BTreeMap::new();
            let mut replays: BTreeMap<Key, Replay> = BTreeMap::new();
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
                    let replay = replays.entry(key.clone()).or_default();
                    let changed = advance(&mut workflow, &s, &script, clock, replay, &mut effects);
                    for effect in &mut effects {
                        effect.image = effect.image.as_ref().map(|i| resolve(i, &workflow));
                    }
                    for effect in effects {
                        apply_effect(&mut s, &changes, &key.namespace, &effect, &mut rollouts);
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

/// A Rollout as the model of Argo Rollouts runs it, and the revision each image it ran was
/// (a rollback to an image returns to that revision's ReplicaSet).
struct Release {
    cluster: controller::Cluster,
    revisions: BTreeMap<String, u32>,
}

/// A step that acted on a Rollout.
struct Effect {
    /// The template's `pipec.dev/action`: what the step does to the Rollout (none: an
    /// action this model does not know, which changes nothing).
    action: Option<RolloutAction>,
    /// The Rollout's namespace, when not the Workflow's.
    namespace: Option<String>,
    rollout: String,
    /// The image it deploys (`IMAGE`), or rolls back to (`TO_IMAGE`).
    image: Option<String>,
    run: String,
}

/// What the controller keeps of one Workflow between ticks: how many operations changed its
/// run, and what people did after which of them. Each tick the run is replayed from its start
/// on the model ([`workflow::Machine`], deterministic) with the same acts at the same points,
/// then operated once more: the stored status is what the model says, never the simulator's
/// own idea of Argo.
#[derive(Default)]
struct Replay {
    changes: u64,
    acts: Vec<(u64, Act)>,
}

/// Something a person did to a run, through the API.
#[derive(Clone)]
enum Act {
    /// A waiting suspend node marked Succeeded (`pipec approve`, `argo resume`), by node ID.
    Resume { id: String, message: String },
    /// `spec.shutdown` set (`pipec abort`, `argo stop`).
    Shutdown(Shutdown),
}

fn perform(machine: &mut Machine<'_>, act: &Act) {
    match act {
        Act::Resume { id, message } => {
            // The node was waiting when the act was recorded, so the selector matches.
            let _ = machine.set_nodes(&format!("id={id}"), Phase::Succeeded, message);
        }
        Act::Shutdown(how) => machine.shut_down(*how),
    }
}

/// Advances a Workflow by one operation of the model; false if nothing changed.
fn advance(
    workflow: &mut Value,
    state: &State,
    script: &Script,
    clock: u64,
    replay: &mut Replay,
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
        workflow["status"]["phase"] = json!("Running");
        workflow["status"]["startedAt"] = json!(now);
        return true;
    }
    let mut spec = spec(workflow).clone();
    // A shutdown is an act at the point it was seen (below), not part of the run from its start.
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("shutdown");
    }
    // The run's own variables (`{{workflow.uid}}`, `{{workflow.creationTimestamp.Y}}`) are
    // its metadata's.
    let meta = &workflow["metadata"];
    let as_run = json!({"metadata": {"name": name, "uid": meta["uid"],
        "namespace": meta["namespace"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": spec});
    let outcomes = Outcomes {
        failing: script.fail.iter().map(|(step, _)| step.clone()).collect(),
        skipped: script.skip.iter().cloned().collect(),
        parameters: parameters(workflow),
        ..Outcomes::default()
    };
    let mut machine = match Machine::new(&as_run, &outcomes) {
        Ok(machine) => machine,
        Err(why) => return refuse(workflow, &why, &now),
    };
    let replayed = replay_to_now(&mut machine, replay);
    if let Err(why) = replayed {
        return refuse(workflow, &why, &now);
    }
    // What people did since the last tick, read from the stored object.
    let old_nodes = workflow["status"]["nodes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut acts = Vec::new();
    let how = match workflow["spec"]["shutdown"].as_str() {
        Some("Stop") => Some(Shutdown::Stop),
        Some("Terminate") => Some(Shutdown::Terminate),
        _ => None,
    };
    if let Some(how) = how
        && !replay
            .acts
            .iter()
            .any(|(_, a)| matches!(a, Act::Shutdown(_)))
    {
        acts.push(Act::Shutdown(how));
    }
    for record in machine.nodes() {
        let id = workflow::node_id(&name, &record.name);
        let stored = &old_nodes.get(&id).cloned().unwrap_or(Value::Null);
        if record.waits_for_a_person() && stored["phase"] == "Succeeded" {
            let message = stored["message"].as_str().unwrap_or_default().to_string();
            acts.push(Act::Resume { id, message });
        }
    }
    for act in acts {
        perform(&mut machine, &act);
        replay.acts.push((replay.changes, act));
    }
    match machine.operate() {
        Ok(true) => replay.changes += 1,
        Ok(false) if old_nodes.is_empty() => {}
        Ok(false) => return false,
        Err(why) => return refuse(workflow, &why, &now),
    }
    let templates = workflow::by_name(&spec["templates"]);
    let mut nodes = serde_json::Map::new();
    for record in machine.nodes() {
        let id = workflow::node_id(&name, &record.name);
        let stored = old_nodes.get(&id).cloned().unwrap_or(Value::Null);
        let mut node = json!({"id": id, "name": record.name, "displayName": record.task,
            "type": record.node_type, "templateName": record.template,
            "phase": record.phase.name(),
            "startedAt": stored["startedAt"].as_str().unwrap_or(&now)});
        if !record.parent.is_empty() {
            node["boundaryID"] = json!(workflow::node_id(&name, &record.parent));
        }
        if record.daemoned {
            node["daemoned"] = json!(true);
        }
        let scripted = script.fail.iter().find(|(step, _)| *step == record.task);
        let message = match scripted {
            Some((_, message)) if record.phase == Phase::Failed && record.node_type == "Pod" => {
                message.as_str()
            }
            _ => record.message.as_str(),
        };
        if !message.is_empty() {
            node["message"] = json!(message);
        }
        if record.phase.ended() {
            node["finishedAt"] = json!(stored["finishedAt"].as_str().unwrap_or(&now));
        }
        if !record.inputs.is_empty() {
            let parameters: Vec<Value> = record
                .inputs
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            node["inputs"] = json!({ "parameters": parameters });
        }
        // A step's pod acts on its Rollout while it runs (its kubectl script), before the
        // step is seen to end; a pod scripted to fail does not get that far.
        if record.node_type == "Pod"
            && record.phase == Phase::Running
            && stored.is_null()
            && scripted.is_none()
            && let Some(shared) = templates.get(record.template.as_str()).copied()
            // What the pod runs: the template with the node's inputs, as Argo gives it.
            && let template = workflow::instance::instantiate(shared, &record.inputs)
            && let Some(rollout) = env(&template, script_env::ROLLOUT)
        {
            effects.push(Effect {
                action: RolloutAction::of_template(&template),
                namespace: env(&template, script_env::NAMESPACE).map(str::to_string),
                rollout: rollout.to_string(),
                image: env(&template, script_env::TO_IMAGE)
                    .or(env(&template, script_env::IMAGE))
                    .map(str::to_string),
                run: name.clone(),
            });
        }
        nodes.insert(id, node);
    }
    workflow["status"]["nodes"] = Value::Object(nodes);
    if machine.ended() && machine.phase().ended() {
        let run = machine.snapshot();
        workflow["status"]["phase"] = json!(run.phase.name());
        workflow["status"]["finishedAt"] = json!(now);
        if !run.message.is_empty() {
            workflow["status"]["message"] = json!(run.message);
        }
    }
    true
}

/// Replays the operations that changed the run so far, each act after the operation it
/// followed.
fn replay_to_now(machine: &mut Machine<'_>, replay: &Replay) -> Result<(), String> {
    let mut done = 0;
    loop {
        for (_, act) in replay.acts.iter().filter(|(at, _)| *at == done) {
            perform(machine, act);
        }
        if done == replay.changes {
            return Ok(());
        }
        if !machine.operate()? {
            return Err("the replayed run stopped short".to_string());
        }
        done += 1;
    }
}

/// A Workflow the model cannot run: Error, with why (what Argo does with what it rejects).
fn refuse(workflow: &mut Value, why: &str, now: &str) -> bool {
    workflow["status"]["phase"] = json!("Error");
    workflow["status"]["finishedAt"] = json!(now);
    workflow["status"]["message"] = json!(why);
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

fn env<'a>(template: &'a Value, name: &str) -> Option<&'a str> {
    workflow::template_env(template, name)
}

/// The image a deploy step sets: Argo's variables replaced by the run's values (the forms
/// pipec writes into image references, `pipec_argo_model::image_tag::resolve`).
fn resolve(text: &str, workflow: &Value) -> String {
    use pipec_argo_model::image_tag::{RunValues, resolve};
    resolve(text, &RunValues::of_workflow(workflow))
}

/// What a step's script does to a canary Rollout, then the Rollouts controller as the model
/// of Argo Rollouts runs it ([`pipec_argo_semantics::rollout::controller`]): the Rollout as it is
/// stored after each change a watcher would see (a rollback is seen aborted, then healthy).
fn act_on_model(
    rollout: &mut Value,
    spec: Spec,
    effect: &Effect,
    release: &mut Release,
) -> Vec<Value> {
    let quick = controller::Script::default();
    let Release { cluster, revisions } = release;
    cluster.rollout.spec = spec;
    let mut stored = Vec::new();
    match effect.action {
        Some(RolloutAction::Deploy) => {
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
            if let Some(image) = &effect.image {
                revisions.insert(image.clone(), cluster.template.1);
            }
        }
        Some(RolloutAction::Promote) => cluster.act(&Action::Promote),
        Some(RolloutAction::Rollback) => {
            // The script aborts an update in progress, waits for the stable pods, then
            // restores the stable template; a fully promoted Rollout it sets back to the
            // image asked for (`TO_IMAGE`: that image's revision again, or a new one) and
            // promotes fully.
            let status = &cluster.rollout.status;
            if status.current_pod_hash == status.stable_rs {
                let Some(image) = &effect.image else {
                    return stored;
                };
                match revisions.get(image) {
                    Some(revision) => cluster.act(&Action::RollBackTo(*revision)),
                    None => cluster.act(&Action::UpdateTemplate),
                }
                revisions.insert(image.clone(), cluster.template.1);
                set_image(rollout, effect);
                controller::settle(cluster, &quick);
                write_status(rollout, cluster);
                stored.push(rollout.clone());
                cluster.act(&Action::PromoteFull);
                controller::settle(cluster, &quick);
                write_status(rollout, cluster);
                stored.push(rollout.clone());
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
    rollouts: &mut BTreeMap<Key, Release>,
    seconds: u64,
) {
    let quick = controller::Script::default();
    for (key, Release { cluster, .. }) in rollouts.iter_mut() {
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
    rollouts: &mut BTreeMap<Key, Release>,
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
        let release = rollouts.entry(key.clone()).or_insert_with(|| Release {
            cluster: controller::Cluster::new(spec.clone()),
            revisions: BTreeMap::new(),
        });
        for changed in act_on_model(&mut rollout, spec, effect, release) {
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
    if effect.action == Some(RolloutAction::Deploy) {
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

    /// Runs `workflow` through the simulated controller until it stops changing.
    fn simulate(mut workflow: Value, script: &Script) -> Value {
        let state = State::default();
        let mut effects = Vec::new();
        let mut replay = Replay::default();
        for clock in 0..10_000 {
            if !advance(
                &mut workflow,
                &state,
                script,
                clock,
                &mut replay,
                &mut effects,
            ) {
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
        for sub in ["dag", "exit", "steps", "retry"] {
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
                // The script says which pods fail; a case whose pods write outputs, run on,
                // or fail some attempts only, or that acts on the run as it goes, needs more.
                let pods = case["given"]["pods"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let scripted = pods.iter().all(|(name, pod)| {
                    !name.contains('(')
                        && !name.contains(' ')
                        && pod.as_object().is_some_and(|p| {
                            p.keys()
                                .all(|k| k == "phase" || k == "note" || k == "basis")
                        })
                        && matches!(
                            pod["phase"].as_str(),
                            Some("Succeeded" | "Failed" | "Error")
                        )
                });
                let spec = manifest["spec"].to_string();
                if case["kind"] != "ConformanceCase"
                    || !scripted
                    || !case["variants"].is_null()
                    || !case["given"]["initial_status"].is_null()
                    || !case["given"]["events"].is_null()
                    || !case["given"]["spec.shutdown"].is_null()
                    || [
                        "templateRef",
                        "daemon",
                        "activeDeadlineSeconds",
                        "\"hooks\"",
                    ]
                    .iter()
                    .any(|f| spec.contains(f))
                {
                    continue;
                }
                let mut script = Script::default();
                for (pod, given) in &pods {
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
        eprintln!("{ran} cases of the corpus ran in the simulator");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(
            ran >= 6,
            "only {ran} cases of the corpus are inside what the simulator steps"
        );
    }
}
