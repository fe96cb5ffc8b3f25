//! `pipec plan`: what a run will do, before it runs, for one context (parameters, a branch or
//! tag, steps that fail, an approval given or not).
//!
//! It reads only the compiled resources: the Workflow is run by the model of Argo's controller
//! (`pipec-argo-semantics`) for the context, and each Rollout's canary steps become pod counts
//! and traffic shares with Argo Rollouts' own replica math ([`crate::rollout_math`], tested
//! against Argo Rollouts' table). Nothing here knows `.pipe`.

use std::collections::{BTreeMap, BTreeSet};

use pipec_argo_semantics::Phase;
use pipec_argo_semantics::workflow::{self, Outcomes};
use serde::Serialize;
use serde_json::Value;

use crate::names;
use pipec_argo_model::contract::{RolloutAction, labels, script_env};
use pipec_argo_semantics::rollout::controller::{Frame, update_failing};
use pipec_argo_semantics::rollout::{RolloutPhase, Spec};

/// The context a plan is made for.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Workflow parameter values over the defaults (`git-branch`, `git-tag`, params).
    pub parameters: BTreeMap<String, String>,
    /// Steps whose pod fails, by task name.
    pub failing: BTreeSet<String>,
    /// Whether the approvals are given.
    pub approved: bool,
    /// AnalysisTemplates (by name) whose every measurement fails, as a bad version measures.
    pub failing_analyses: BTreeSet<String>,
}

/// What a run does.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub pipeline: String,
    /// `Succeeded`, `Failed`, or `Running` when it waits for an approval that never comes.
    pub outcome: String,
    /// The entrypoint's tasks, in the order Argo creates their nodes; tasks never reached last.
    pub steps: Vec<StepPlan>,
    /// The images built and pushed, in step order.
    pub images: Vec<ImagePlan>,
    /// The exit handler's tasks.
    pub on_exit: Vec<StepPlan>,
    pub releases: Vec<ReleasePlan>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepPlan {
    pub task: String,
    /// `runs`, `fails`, `skipped` (its condition is false), `omitted` (what it waits for did not
    /// happen), `approved`, `waits` (for a person), `not reached`.
    pub outcome: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
}

/// An image a step builds or pushes.
#[derive(Clone, Debug, Serialize)]
pub struct ImagePlan {
    pub task: String,
    /// `builds` or `pushes`.
    pub action: String,
    /// The image built, or the one pushed.
    pub image: String,
    /// Where a push copies it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// What happens to the step (as in `steps`).
    pub outcome: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReleasePlan {
    pub rollout: String,
    pub strategy: String,
    pub replicas: u64,
    pub stages: Vec<StagePlan>,
    /// New pods and share of traffic before the first gate (an analysis, or a stage the
    /// Workflow runs: a check or an approval).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_first_gate: Option<Exposure>,
    /// Seconds Argo Rollouts holds the update by itself (pauses, analyses); people and
    /// Workflow checks come on top.
    pub held_seconds: u64,
    /// A canary's background analysis: its AnalysisTemplate, and the step it starts at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_analysis: Option<BackgroundPlan>,
    /// When an analysis of the context's `failing_analyses` aborts the update: seconds after
    /// it starts, and the analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<AbortPlan>,
    /// The longest the update can take and still reach every pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_case: Option<WorstCase>,
}

/// The longest a release can take from its deploy to its full rollout when every gate passes:
/// Argo Rollouts' own holds (pauses, analyses measuring their full count) plus the Workflow's
/// stages in between at their limits (a check or promotion at its timeout, every attempt its
/// retry strategy allows), plus whatever the people who approve take.
#[derive(Clone, Debug, Serialize)]
pub struct WorstCase {
    pub seconds: u64,
    /// Approvals on the way: each waits for a person, for as long as that takes.
    pub approvals: usize,
    /// Stages with no time limit, by task: the worst case does not bound them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unbounded: Vec<String>,
}

/// An update that an analysis aborts: Argo Rollouts puts all traffic back on the stable pods.
#[derive(Clone, Debug, Serialize)]
pub struct AbortPlan {
    pub at_seconds: u64,
    pub analysis: String,
}

/// An analysis that runs beside a canary's steps until the update completes; it aborts the
/// update when it fails.
#[derive(Clone, Debug, Serialize)]
pub struct BackgroundPlan {
    pub analysis: String,
    pub from_step: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StagePlan {
    pub step: usize,
    pub action: String,
    /// Share of traffic to the new version after the step, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_pods: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_pods: Option<u64>,
    /// Seconds after the update starts at which Argo Rollouts has completed the step, when the
    /// Workflow's own stages pass at once and every analysis passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at_seconds: Option<u64>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Exposure {
    pub canary_pods: u64,
    pub stable_pods: u64,
    pub traffic: u32,
}

/// The pipeline's own Workflow (or, for a triggered pipeline, WorkflowTemplate) among the
/// compiled documents: not the rollback WorkflowTemplate that `pipec rollback` starts.
pub fn pipeline_workflow(documents: &[Value]) -> Option<&Value> {
    documents.iter().find(|d| {
        (d["kind"] == "Workflow" || d["kind"] == "WorkflowTemplate")
            && d["metadata"]["labels"][labels::ROLE] != labels::ROLE_ROLLBACK
    })
}

/// The AnalysisTemplates a Rollout (JSON) runs: in its canary steps, in the background, and a
/// blue-green's before and after the switch.
pub fn analyses_of(rollout: &Value) -> BTreeSet<String> {
    let strategy = &rollout["spec"]["strategy"];
    let steps = strategy["canary"]["steps"].as_array().into_iter().flatten();
    let lists = steps.map(|s| &s["analysis"]).chain([
        &strategy["canary"]["analysis"],
        &strategy["blueGreen"]["prePromotionAnalysis"],
        &strategy["blueGreen"]["postPromotionAnalysis"],
    ]);
    lists
        .flat_map(|a| a["templates"].as_array().into_iter().flatten())
        .filter_map(|t| t["templateName"].as_str().map(str::to_string))
        .collect()
}

/// A Workflow's templates by name, and the instance of the template each task runs (its
/// inputs replaced by the task's arguments, `workflow::instance`): what a step acts on is
/// read from the instance.
struct Templates<'w> {
    by_name: BTreeMap<&'w str, &'w Value>,
    /// By DAG, then by task.
    instances: BTreeMap<&'w str, BTreeMap<&'w str, Value>>,
}

impl<'w> Templates<'w> {
    fn of(spec: &'w Value) -> Self {
        let mut instances: BTreeMap<&str, BTreeMap<&str, Value>> = BTreeMap::new();
        for t in workflow::instance::task_templates(spec) {
            if let Some(name) = t.task["name"].as_str() {
                instances.entry(t.dag).or_default().insert(name, t.template);
            }
        }
        Templates {
            by_name: workflow::by_name(&spec["templates"]),
            instances,
        }
    }

    fn get(&self, name: &str) -> Option<&'w Value> {
        self.by_name.get(name).copied()
    }

    /// The instance of the template task `task` of DAG `dag` runs.
    fn run_by(&self, dag: &str, task: &str) -> Option<&Value> {
        self.instances.get(dag)?.get(task)
    }
}

/// The plan of the compiled `documents` (as JSON) for `context`.
pub fn plan(documents: &[Value], context: &Context) -> Result<Plan, String> {
    let workflow = pipeline_workflow(documents).ok_or("the pipeline has no Workflow")?;
    let pipeline = workflow["metadata"]["labels"]["app.kubernetes.io/part-of"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let templates = Templates::of(&workflow["spec"]);
    let analyses: BTreeMap<&str, &Value> = documents
        .iter()
        .filter(|d| d["kind"] == "AnalysisTemplate")
        .filter_map(|d| Some((d["metadata"]["name"].as_str()?, d)))
        .collect();
    // A failing analysis aborts its Rollout's update, and the Workflow's step waiting on the
    // Rollout then fails.
    let mut failing = context.failing.clone();
    let mut aborted_by: BTreeMap<String, String> = BTreeMap::new();
    for rollout in documents.iter().filter(|d| d["kind"] == "Rollout") {
        if let Some(update) = simulated_update(rollout, &analyses, &context.failing_analyses)
            && let Some(abort) = &update.aborted
            && let Some(task) = first_failed_wait(&templates, rollout, &update, abort)
        {
            let why = format!("its Rollout aborted: analysis {} failed", abort.analysis);
            aborted_by.insert(task.clone(), why);
            failing.insert(task);
        }
    }
    let run = workflow::run(
        workflow,
        &Outcomes {
            failing,
            approved: context.approved,
            parameters: context.parameters.clone(),
            ..Outcomes::default()
        },
    )?;
    let step = |dag: &str, task: &str| -> StepPlan {
        let node = run.node(dag, task);
        let suspend = templates
            .run_by(dag, task)
            .is_some_and(|t| !t["suspend"].is_null());
        let (outcome, why) = match node.map(|n| (n.phase, n.message.clone())) {
            None => ("not reached", String::new()),
            Some((Phase::Succeeded, _)) if suspend => ("approved", String::new()),
            Some((Phase::Succeeded, _)) => ("runs", String::new()),
            Some((Phase::Failed | Phase::Error, m)) if m.is_empty() => {
                ("fails", aborted_by.get(task).cloned().unwrap_or_default())
            }
            Some((Phase::Failed | Phase::Error, m)) => ("fails", m),
            // The model says what Argo writes: `when '<the when, substituted>' evaluated false`.
            Some((Phase::Skipped, m)) => {
                // A bare `false` (an expression tag's value) says nothing more.
                let condition = m
                    .strip_prefix("when '")
                    .and_then(|c| c.strip_suffix("' evaluated false"))
                    .filter(|c| c.trim() != "false");
                let why = match condition {
                    Some(c) => format!("its condition is false: {c}"),
                    None => "its condition is false".to_string(),
                };
                ("skipped", why)
            }
            Some((Phase::Omitted, _)) => {
                ("omitted", "what it waits for did not succeed".to_string())
            }
            Some((Phase::Running | Phase::Pending, _)) if suspend => {
                ("waits", "for a person to approve".to_string())
            }
            Some((Phase::Running | Phase::Pending, _)) => ("runs", String::new()),
        };
        StepPlan {
            task: task.to_string(),
            outcome: outcome.to_string(),
            why,
        }
    };
    let tasks_of = |dag: &str| -> Vec<String> {
        templates
            .get(dag)
            .and_then(|t| t["dag"]["tasks"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect()
    };
    let ordered = |dag: &str| -> Vec<StepPlan> {
        let mut names: Vec<String> = run
            .nodes
            .iter()
            .filter(|n| n.dag == dag)
            .map(|n| n.task.clone())
            .collect();
        names.extend(
            tasks_of(dag)
                .into_iter()
                .filter(|t| run.node(dag, t).is_none()),
        );
        names.iter().map(|t| step(dag, t)).collect()
    };
    let steps = ordered(names::ENTRYPOINT);
    let on_exit = ordered(names::EXIT_HANDLER);
    let images = images(workflow, &templates, &steps, context);
    let releases = documents
        .iter()
        .filter(|d| d["kind"] == "Rollout")
        .map(|r| {
            let mut release = release(r, &analyses, &context.failing_analyses);
            if release.aborted.is_none() {
                let name = r["metadata"]["name"].as_str().unwrap_or_default();
                // Nothing to wait for (pods starting is not modelled): no worst case to tell.
                release.worst_case = worst_case(&templates, name, release.held_seconds)
                    .filter(|w| w.seconds > 0 || w.approvals > 0 || !w.unbounded.is_empty());
            }
            release
        })
        .collect();
    Ok(Plan {
        pipeline,
        outcome: run.phase.name().to_string(),
        steps,
        images,
        on_exit,
        releases,
    })
}

/// The worst case of the release of Rollout `rollout` ([`WorstCase`]): on the longest chain of
/// the entrypoint's tasks from its deploy step to its `complete` step, each stage between that
/// is not Argo Rollouts' own progress (the `wait`s, which `held` already counts) at its limit:
/// the smaller of its template's `timeout` and its script's `TIMEOUT`, times the attempts its
/// `retryStrategy.limit` allows (backoff not counted); a suspend at its duration, or an
/// approval. `None` without both steps.
fn worst_case(templates: &Templates<'_>, rollout: &str, held: u64) -> Option<WorstCase> {
    let entry = templates.get(names::ENTRYPOINT)?;
    let tasks = workflow::by_name(&entry["dag"]["tasks"]);
    let template_of = |task: &Value| templates.run_by(names::ENTRYPOINT, task["name"].as_str()?);
    let action = |task: &Value| release_action(templates, task, rollout).map(|(a, _)| a);
    let find = |wanted: RolloutAction| {
        tasks
            .iter()
            .find(|(_, t)| action(t) == Some(wanted))
            .map(|(name, _)| *name)
    };
    let (deploy, complete) = (find(RolloutAction::Deploy)?, find(RolloutAction::Complete)?);
    let dependencies = |task: &Value| -> Vec<String> {
        match task["depends"].as_str() {
            Some(depends) => pipec_argo_semantics::depends::tasks(depends),
            None => task["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect(),
        }
    };
    // The tasks after `deploy` (its dependents, transitively), then the longest chain to each
    // in a topological order of them (Kahn's), so each task is looked at once.
    let mut dependents: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, task) in &tasks {
        for dep in dependencies(task) {
            dependents.entry(dep).or_default().push(name);
        }
    }
    let mut after: BTreeSet<&str> = BTreeSet::from([deploy]);
    let mut queue = vec![deploy];
    while let Some(name) = queue.pop() {
        for next in dependents.get(name).into_iter().flatten() {
            if after.insert(next) {
                queue.push(next);
            }
        }
    }
    let inside = |task: &Value| -> Vec<String> {
        dependencies(task)
            .into_iter()
            .filter(|d| after.contains(d.as_str()))
            .collect()
    };
    let mut waiting: BTreeMap<&str, usize> = after
        .iter()
        .map(|name| (*name, tasks.get(name).map_or(0, |t| inside(t).len())))
        .collect();
    let mut ready: Vec<&str> = vec![deploy];
    let mut longest: BTreeMap<&str, (u64, usize, Vec<String>)> = BTreeMap::new();
    while let Some(name) = ready.pop() {
        let task = tasks.get(name)?;
        let before = inside(task)
            .iter()
            .filter_map(|d| longest.get(d.as_str()))
            .max_by_key(|k| (k.0, k.1))
            .cloned();
        let (mut seconds, mut approvals, mut unbounded) = before.unwrap_or_default();
        if name != deploy
            && !matches!(
                action(task),
                Some(RolloutAction::Wait | RolloutAction::Complete)
            )
        {
            match stage_limit(task, template_of(task)) {
                Limit::Seconds(s) => seconds += s,
                Limit::Approval => approvals += 1,
                Limit::None => unbounded.push(name.to_string()),
            }
        }
        longest.insert(name, (seconds, approvals, unbounded));
        for next in dependents.get(name).into_iter().flatten() {
            if let Some(count) = waiting.get_mut(next) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    ready.push(next);
                }
            }
        }
    }
    let (seconds, approvals, unbounded) = longest.remove(complete)?;
    Some(WorstCase {
        seconds: held + seconds,
        approvals,
        unbounded,
    })
}

/// How long one stage may take.
enum Limit {
    Seconds(u64),
    /// A suspend without a duration: a person's approval.
    Approval,
    None,
}

fn stage_limit(task: &Value, template: Option<&Value>) -> Limit {
    let Some(template) = template else {
        return Limit::None;
    };
    if !template["suspend"].is_null() {
        return match pipec_argo_semantics::rollout::duration_seconds(
            &template["suspend"]["duration"],
        ) {
            Some(seconds) => Limit::Seconds(seconds),
            None => Limit::Approval,
        };
    }
    let timeout = template["timeout"]
        .as_str()
        .and_then(pipec_argo_semantics::go_duration::nanos)
        .and_then(|n| u64::try_from(n / 1_000_000_000).ok());
    let script =
        workflow::template_env(template, script_env::TIMEOUT).and_then(|t| t.parse::<u64>().ok());
    let once = match (timeout, script) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => return Limit::None,
    };
    let strategy = if template["retryStrategy"].is_null() {
        &task["retryStrategy"]
    } else {
        &template["retryStrategy"]
    };
    let retries = match &strategy["limit"] {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    Limit::Seconds(once * (retries + 1))
}

/// What a task of the entrypoint does to Rollout `rollout`, when it acts on it (its template's
/// `ROLLOUT`): its template's `pipec.dev/action`, and the template.
fn release_action<'a>(
    templates: &'a Templates<'_>,
    task: &Value,
    rollout: &str,
) -> Option<(RolloutAction, &'a Value)> {
    let template = templates.run_by(names::ENTRYPOINT, task["name"].as_str()?)?;
    if workflow::template_env(template, script_env::ROLLOUT) != Some(rollout) {
        return None;
    }
    Some((RolloutAction::of_template(template)?, template))
}

/// The first of the entrypoint's steps that wait on `rollout` (`pipec.dev/action` `wait`, for
/// the pause at its `STEP`, or `complete`, for Healthy) which the aborted `update` never
/// satisfies: it fails when the Rollout turns Degraded (its script's `Degraded` check). The
/// Workflow's own stages are taken to pass at once, as in the update.
fn first_failed_wait(
    templates: &Templates<'_>,
    rollout: &Value,
    update: &SimulatedUpdate,
    abort: &AbortPlan,
) -> Option<String> {
    let name = rollout["metadata"]["name"].as_str()?;
    let entry = templates.get(names::ENTRYPOINT)?;
    let before = |f: &&Frame| f.time < abort.at_seconds;
    for task in entry["dag"]["tasks"].as_array().into_iter().flatten() {
        let Some((action, template)) = release_action(templates, task, name) else {
            continue;
        };
        let satisfied =
            match action {
                RolloutAction::Wait => {
                    let step = workflow::template_env(template, script_env::STEP)
                        .and_then(|s| s.parse().ok());
                    update.frames.iter().filter(before).any(|f| {
                        f.phase == RolloutPhase::Paused && (step.is_none() || f.step == step)
                    })
                }
                RolloutAction::Complete => update
                    .frames
                    .iter()
                    .filter(before)
                    .any(|f| f.phase == RolloutPhase::Healthy),
                _ => continue,
            };
        if !satisfied {
            return task["name"].as_str().map(str::to_string);
        }
    }
    None
}

/// The run's creation time, which only the run has, spelt as a pattern (`YYYYMMDD…`).
fn unknown_time(reference: &str) -> String {
    [
        ("Y", "YYYY"),
        ("m", "MM"),
        ("d", "DD"),
        ("H", "hh"),
        ("M", "mm"),
        ("S", "ss"),
    ]
    .iter()
    .fold(reference.to_string(), |text, (field, pattern)| {
        text.replace(
            &format!("{{{{workflow.creationTimestamp.{field}}}}}"),
            pattern,
        )
    })
}

/// The images the run builds and pushes: the entrypoint's BuildKit steps (their `IMAGE`) and
/// crane copies (`SOURCE` to `TARGET`), the references as the run's parameters make them
/// (`image_tag::resolve`, the rule the runtime uses; values only a run has are shown as
/// `RUN`, `UID`, `YYYYMMDDhhmmss`), each with what happens to its step.
fn images(
    workflow: &Value,
    templates: &Templates<'_>,
    steps: &[StepPlan],
    context: &Context,
) -> Vec<ImagePlan> {
    use pipec_argo_model::image_tag::{RunValues, resolve};
    let mut parameters: Vec<(String, String)> =
        pipec_argo_semantics::rollout::name_values(&workflow["spec"]["arguments"]["parameters"]);
    for (name, value) in &context.parameters {
        parameters.retain(|(n, _)| n != name);
        parameters.push((name.clone(), value.clone()));
    }
    let run = RunValues {
        uid: "UID".to_string(),
        name: "RUN".to_string(),
        namespace: workflow["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        creation_timestamp: String::new(),
        parameters,
    };
    let mut out = Vec::new();
    for step in steps {
        let Some(template) = templates.run_by(names::ENTRYPOINT, &step.task) else {
            continue;
        };
        let env = |name: &str| {
            workflow::template_env(template, name).map(|v| unknown_time(&resolve(v, &run)))
        };
        let (action, image, to) = match (
            env("BUILDKITD_FLAGS"),
            env(script_env::IMAGE),
            env("SOURCE"),
            env("TARGET"),
        ) {
            (Some(_), Some(image), _, _) => ("builds", image, None),
            (_, _, Some(from), Some(to)) => ("pushes", from, Some(to)),
            _ => continue,
        };
        out.push(ImagePlan {
            task: step.task.clone(),
            action: action.to_string(),
            image,
            to,
            outcome: step.outcome.clone(),
        });
    }
    out
}

fn release(
    rollout: &Value,
    analyses: &BTreeMap<&str, &Value>,
    failing: &BTreeSet<String>,
) -> ReleasePlan {
    let name = rollout["metadata"]["name"].as_str().unwrap_or_default();
    let replicas = rollout["spec"]["replicas"].as_u64().unwrap_or(1);
    let strategy = &rollout["spec"]["strategy"];
    let mut stages = Vec::new();
    let mut before_first_gate = None;
    let mut current = Exposure {
        canary_pods: 0,
        stable_pods: replicas,
        traffic: 0,
    };
    if strategy["blueGreen"].is_object() {
        return blue_green(name, replicas, rollout, analyses, failing);
    }
    let canary = &strategy["canary"];
    let progress = simulated_update(rollout, analyses, failing);
    for (i, s) in canary["steps"].as_array().into_iter().flatten().enumerate() {
        let mut stage = StagePlan {
            step: i,
            action: String::new(),
            traffic: None,
            canary_pods: None,
            stable_pods: None,
            done_at_seconds: None,
        };
        let gate = !s["analysis"].is_null()
            || (s["pause"].is_object() && s["pause"]["duration"].is_null());
        if gate && before_first_gate.is_none() {
            before_first_gate = Some(current);
        }
        let reached = progress
            .as_ref()
            .and_then(|p| p.stages.get(i).copied().flatten());
        if let Some((exposure, at)) = reached {
            current = exposure;
            stage.done_at_seconds = Some(at);
        }
        if let Some(weight) = s["setWeight"].as_u64() {
            stage.action = format!("weight {weight}%");
            // A step the update never completes (an abort cut it short) has no counts.
            if reached.is_some() {
                stage.traffic = Some(current.traffic);
                stage.canary_pods = Some(current.canary_pods);
                stage.stable_pods = Some(current.stable_pods);
            }
        } else if s["pause"].is_object() {
            stage.action = match s["pause"]["duration"].as_str() {
                Some(d) => format!("pause {d}"),
                None => "held for the Workflow's stages (checks, approvals)".to_string(),
            };
        } else if !s["analysis"].is_null() {
            let template = s["analysis"]["templates"][0]["templateName"]
                .as_str()
                .unwrap_or_default();
            stage.action = format!("analysis {template}");
        } else {
            stage.action = s.to_string();
        }
        stages.push(stage);
    }
    let aborted = progress.as_ref().and_then(|p| p.aborted.clone());
    let healthy_at = progress.as_ref().and_then(|p| p.healthy_at);
    // Once the steps are done, the update goes to every pod.
    if let Some(at) = healthy_at
        && aborted.is_none()
        && !stages.is_empty()
    {
        stages.push(StagePlan {
            step: stages.len(),
            action: "full rollout".to_string(),
            traffic: Some(100),
            canary_pods: Some(replicas),
            stable_pods: Some(0),
            done_at_seconds: Some(at),
        });
    }
    let held = healthy_at.unwrap_or(0);
    ReleasePlan {
        rollout: name.to_string(),
        // A canary without steps is Argo Rollouts' rolling update.
        strategy: if stages.is_empty() {
            "rolling update"
        } else {
            "canary"
        }
        .to_string(),
        replicas,
        stages,
        before_first_gate,
        held_seconds: held,
        background_analysis: canary["analysis"]["templates"][0]["templateName"]
            .as_str()
            .map(|analysis| BackgroundPlan {
                analysis: analysis.to_string(),
                from_step: canary["analysis"]["startingStep"].as_u64().unwrap_or(0),
            }),
        aborted,
        worst_case: None,
    }
}

/// A blue-green release as the Argo Rollouts model runs it when nothing goes wrong (the
/// Workflow's stages before the switch passed at once): the preview with no traffic, its
/// analysis, the switch, the analysis after it, and when the old stack goes.
fn blue_green(
    name: &str,
    replicas: u64,
    rollout: &Value,
    analyses: &BTreeMap<&str, &Value>,
    failing: &BTreeSet<String>,
) -> ReleasePlan {
    let bg = &rollout["spec"]["strategy"]["blueGreen"];
    let preview = bg["previewReplicaCount"].as_u64().unwrap_or(replicas);
    let templates = analyses
        .iter()
        .map(|(n, t)| ((*n).to_string(), (*t).clone()))
        .collect();
    let timeline = update_failing(rollout, &templates, failing).ok();
    let frames = timeline.as_ref().map_or(&[][..], |t| &t.frames[..]);
    let aborted = aborted(frames, rollout, failing);
    // What an abort cuts short did not happen.
    let by_abort =
        |at: Option<u64>| at.filter(|t| aborted.as_ref().is_none_or(|a| *t < a.at_seconds));
    let switch_at = by_abort(
        frames
            .iter()
            .find(|f| f.traffic_weight == Some(100))
            .map(|f| f.time),
    );
    let healthy_at = by_abort(
        frames
            .iter()
            .find(|f| f.phase == RolloutPhase::Healthy)
            .map(|f| f.time),
    );
    let old_gone_at = by_abort(
        frames
            .iter()
            .find(|f| switch_at.is_some_and(|s| f.time >= s) && f.old_pods == 0)
            .map(|f| f.time),
    );
    let analysis_name = |key: &str| bg[key]["templates"][0]["templateName"].as_str();
    let mut stages = Vec::new();
    let mut stage = |action: String, traffic: u32, canary: u64, stable: u64, at: Option<u64>| {
        stages.push(StagePlan {
            step: stages.len(),
            action,
            traffic: Some(traffic),
            canary_pods: Some(canary),
            stable_pods: Some(stable),
            done_at_seconds: at,
        });
    };
    stage(
        format!(
            "preview of {preview} pod{}",
            if preview == 1 { "" } else { "s" }
        ),
        0,
        preview,
        replicas,
        Some(0),
    );
    if let Some(a) = analysis_name("prePromotionAnalysis") {
        let done = timeline
            .as_ref()
            .and_then(|t| t.promoted_at.first().copied())
            .or(switch_at);
        stage(format!("analysis {a}"), 0, preview, replicas, done);
    }
    stage("switch".to_string(), 100, replicas, replicas, switch_at);
    if let Some(a) = analysis_name("postPromotionAnalysis") {
        stage(format!("analysis {a}"), 100, replicas, replicas, healthy_at);
    }
    stage(
        "old stack scaled down".to_string(),
        100,
        replicas,
        0,
        old_gone_at,
    );
    ReleasePlan {
        rollout: name.to_string(),
        strategy: "blue-green".to_string(),
        replicas,
        stages,
        before_first_gate: Some(Exposure {
            canary_pods: preview,
            stable_pods: replicas,
            traffic: 0,
        }),
        held_seconds: healthy_at.unwrap_or(0),
        background_analysis: None,
        aborted,
        worst_case: None,
    }
}

/// When the update in `frames` aborted (its first Degraded frame), and which of `failing` did
/// it (the first the Rollout runs).
fn aborted(frames: &[Frame], rollout: &Value, failing: &BTreeSet<String>) -> Option<AbortPlan> {
    let at = frames
        .iter()
        .find(|f| f.phase == RolloutPhase::Degraded)?
        .time;
    let analysis = analyses_of(rollout)
        .into_iter()
        .find(|a| failing.contains(a))?;
    Some(AbortPlan {
        at_seconds: at,
        analysis,
    })
}

/// A canary update as the Argo Rollouts model runs it ([`pipec_argo_semantics::rollout`]).
struct SimulatedUpdate {
    /// Per step: the new and old pods and the traffic when the step is complete, and when.
    stages: Vec<Option<(Exposure, u64)>>,
    /// When the Rollout is Healthy at the new revision.
    healthy_at: Option<u64>,
    /// The Rollout over time.
    frames: Vec<Frame>,
    /// When a failing analysis aborted it.
    aborted: Option<AbortPlan>,
}

/// Runs the Rollout's update through the model when nothing goes wrong but the analyses in
/// `failing` ([`update_failing`]). `None` for what the model does not cover.
fn simulated_update(
    rollout: &Value,
    analyses: &BTreeMap<&str, &Value>,
    failing: &BTreeSet<String>,
) -> Option<SimulatedUpdate> {
    let spec = Spec::from_json(rollout).ok()?;
    let templates = analyses
        .iter()
        .map(|(name, t)| ((*name).to_string(), (*t).clone()))
        .collect();
    let timeline = update_failing(rollout, &templates, failing).ok()?;
    let steps = spec.canary.steps.len();
    let routed = spec.canary.traffic_routing;
    let done = &timeline.cluster.completed_steps;
    let stages = (0..steps)
        .map(|i| {
            let d = done.iter().find(|d| usize::try_from(d.step) == Ok(i))?;
            let (new, old) = (
                u64::try_from(d.new_pods).unwrap_or(0),
                u64::try_from(d.old_pods).unwrap_or(0),
            );
            let traffic = match d.traffic_weight {
                Some(w) if routed => u32::try_from(w).unwrap_or(0),
                _ => (new * 100 + (new + old) / 2)
                    .checked_div(new + old)
                    .map_or(0, |t| u32::try_from(t).unwrap_or(100)),
            };
            let exposure = Exposure {
                canary_pods: new,
                stable_pods: old,
                traffic,
            };
            Some((exposure, d.time))
        })
        .collect();
    Some(SimulatedUpdate {
        stages,
        healthy_at: timeline
            .frames
            .iter()
            .find(|f| f.phase == RolloutPhase::Healthy)
            .map(|f| f.time),
        aborted: aborted(&timeline.frames, rollout, failing),
        frames: timeline.frames,
    })
}

impl Plan {
    /// The plan as a person reads it.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Run of {}: {}\n",
            self.pipeline,
            outcome_words(&self.outcome)
        );
        out.push_str("\nSteps\n");
        for s in &self.steps {
            out.push_str(&step_line(s));
        }
        if !self.images.is_empty() {
            out.push_str("\nImages\n");
            for i in &self.images {
                let what = match &i.to {
                    Some(to) => format!("{} to {to}", i.image),
                    None => i.image.clone(),
                };
                let outcome = match i.outcome.as_str() {
                    "runs" => String::new(),
                    other => format!("  (not made: `{}` is {other})", i.task),
                };
                out.push_str(&format!("  {:<7} {what}{outcome}\n", i.action));
            }
        }
        if !self.on_exit.is_empty() {
            out.push_str("\nWhen the run ends\n");
            for s in &self.on_exit {
                out.push_str(&step_line(s));
            }
        }
        for r in &self.releases {
            out.push_str(&format!(
                "\nRelease {} ({}, {} pods)\n",
                r.rollout, r.strategy, r.replicas
            ));
            if !r.stages.is_empty() {
                out.push_str("  step  action                                              traffic  new  stable  done at\n");
            }
            for s in &r.stages {
                let cell = |v: Option<String>| v.unwrap_or_default();
                let line = format!(
                    "  {:<4}  {:<50}  {:>7}  {:>3}  {:>6}  {:>7}",
                    s.step,
                    s.action,
                    cell(s.traffic.map(|t| format!("{t}%"))),
                    cell(s.canary_pods.map(|c| c.to_string())),
                    cell(s.stable_pods.map(|c| c.to_string())),
                    cell(s.done_at_seconds.map(crate::typeck::format_duration)),
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
            if let Some(e) = r.before_first_gate {
                out.push_str(&format!(
                    "  before the first gate: {} new pod{} beside {} stable, {}% of traffic\n",
                    e.canary_pods,
                    if e.canary_pods == 1 { "" } else { "s" },
                    e.stable_pods,
                    e.traffic
                ));
            }
            if let Some(b) = &r.background_analysis {
                out.push_str(&format!(
                    "  analysis {} runs in the background from step {} until the update completes; its failure aborts it\n",
                    b.analysis, b.from_step
                ));
            }
            if let Some(a) = &r.aborted {
                out.push_str(&format!(
                    "  aborted at {} by analysis {}: all traffic back on the {} stable pods\n",
                    crate::typeck::format_duration(a.at_seconds),
                    a.analysis,
                    r.replicas
                ));
            } else if r.held_seconds > 0 {
                out.push_str(&format!(
                    "  Argo Rollouts holds it at least {} (pauses and analyses), plus the Workflow's stages\n",
                    crate::typeck::format_duration(r.held_seconds)
                ));
            }
            if let Some(w) = &r.worst_case {
                let approvals = match w.approvals {
                    0 => String::new(),
                    1 => ", plus however long the approval takes".to_string(),
                    n => format!(", plus however long the {n} approvals take"),
                };
                let unbounded = if w.unbounded.is_empty() {
                    String::new()
                } else {
                    format!("; no limit on {}", w.unbounded.join(", "))
                };
                out.push_str(&format!(
                    "  at most {} to the full rollout when every gate passes (each stage at its timeout){approvals}{unbounded}\n",
                    crate::typeck::format_duration(w.seconds)
                ));
            }
        }
        out
    }
}

fn outcome_words(outcome: &str) -> &str {
    match outcome {
        "Succeeded" => "succeeds",
        "Failed" | "Error" => "fails",
        _ => "waits for an approval",
    }
}

fn step_line(s: &StepPlan) -> String {
    if s.why.is_empty() {
        format!("  {:<12} {}\n", s.outcome, s.task)
    } else {
        format!("  {:<12} {}  ({})\n", s.outcome, s.task, s.why)
    }
}
