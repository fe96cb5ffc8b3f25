//! Behavioural checks: the compiled Workflow run through the model of Argo's controller
//! (`pipec-argo-semantics`, checked against Argo's own test cases) for each outcome class,
//! and what pipec promises checked against what Argo would do.
//!
//! The promises: the teardown of every ephemeral environment runs whatever happened (it is in
//! the exit handler, "runs on success too"), and after a failure every `on failure` action runs
//! (E0406); a step never starts in an image that the step making it did not make (E0407).
//! The exit handler sees only `workflow.status`, so it is run once per way the entrypoint ends
//! (Succeeded, Failed, Error); the image check fails the producers of consumed images, in
//! groups that answer for each producer as if it failed alone ([`producer_groups`]), runs the
//! entrypoint only, and skips the conditional producers, as a trigger context where their
//! `when` is false would.
//! An analysis gate is run through the model of Argo Rollouts' analysis controller with every
//! measurement failing: one that still passes cannot fail (W0004, the user's mistake). Each
//! canary update is run through the model of Argo Rollouts with everything passing: a wait of
//! the Workflow that would give up before the Rollout gets there is pipec's bug (E0408).
//! The cost does not grow with the square of the pipeline. A broken promise is pipec's bug,
//! reported at the `.pipe` line of the action, environment or stage, before anything is
//! written.

use std::collections::{BTreeMap, BTreeSet};

use pipec_argo_model::Document;
use pipec_argo_model::contract::{RolloutAction, annotations, labels, script_env};
use pipec_argo_semantics::Phase;
use pipec_argo_semantics::rollout::controller::{Timeline, Updates};
use pipec_argo_semantics::rollout::{AnalysisPhase, RolloutPhase, Spec, analysis};
use pipec_argo_semantics::workflow::{self, Outcomes, Run};
use pipec_syntax::Span;
use serde_json::Value;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::hir::{self, HandlerAction};
use crate::lower::Lowered;
use crate::names::{self, ReleaseTask};
use crate::source::SourceDb;

/// When a task of the exit handler must run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Promise {
    /// Whatever the outcome (a teardown).
    Always,
    /// When the run did not succeed (`on failure` actions).
    OnFailure,
}

/// An exit-handler task pipec promises, where it comes from in the `.pipe` file.
#[derive(Clone, Debug)]
struct Promised {
    task: String,
    span: Span,
    promise: Promise,
    what: String,
}

fn promised(program: &hir::Program) -> Vec<Promised> {
    let pipeline = &program.pipeline;
    // Ids are indices: looking one up costs nothing, whatever the pipeline's size.
    let service = |id: hir::ServiceId| pipeline.services.get(id.0).filter(|s| s.id == id);
    let mut out = Vec::new();
    for action in &pipeline.on_failure {
        let (task, span, what) = match action {
            HandlerAction::CollectDiagnostics { service: id, span } => {
                let Some(s) = service(*id) else { continue };
                (
                    ReleaseTask::Diagnostics.name(&s.k8s_name),
                    *span,
                    format!("collecting diagnostics of `{}`", s.name),
                )
            }
            HandlerAction::Rollback { service: id, span } => {
                let Some(s) = service(*id) else { continue };
                (
                    ReleaseTask::Rollback.name(&s.k8s_name),
                    *span,
                    format!("the rollback of `{}`", s.name),
                )
            }
            HandlerAction::Node(id) => {
                let Some(n) = pipeline.nodes.get(id.0).filter(|n| n.id == *id) else {
                    continue;
                };
                (n.name.clone(), n.span, format!("step `{}`", n.name))
            }
        };
        out.push(Promised {
            task,
            span,
            promise: Promise::OnFailure,
            what,
        });
    }
    for env in &pipeline.environments {
        if matches!(env.kind, hir::EnvKind::Ephemeral) {
            out.push(Promised {
                task: names::environment_down(&env.k8s_name),
                span: env.span,
                promise: Promise::Always,
                what: format!("the teardown of `{}`", env.name),
            });
        }
    }
    out
}

/// Analysis gates of the releases that cannot fail (W0004): the AnalysisRun of the gate, run
/// through the model of Argo Rollouts' analysis controller with every measurement Failed (as
/// a bad version measures), would still end Successful, because the metric tolerates as many
/// failed measurements (`failure_limit`) as it takes (`times`).
fn gates_that_cannot_fail(program: &hir::Program, lowered: &[Lowered], diags: &mut Diagnostics) {
    // The first AnalysisTemplate lowered from each analysis, and each gate's verdict, once.
    let mut lowered_from: BTreeMap<Span, &Lowered> = BTreeMap::new();
    for l in lowered {
        if matches!(l.document, Document::AnalysisTemplate(_)) {
            lowered_from.entry(l.origin).or_insert(l);
        }
    }
    let mut judged: BTreeMap<(usize, Vec<(String, String)>), bool> = BTreeMap::new();
    let mut cannot_fail = |id: hir::AnalysisId, args: &[(String, String)]| -> Option<bool> {
        let analysis = program.analyses.get(id.0)?;
        let key = (id.0, args.to_vec());
        if let Some(verdict) = judged.get(&key) {
            return Some(*verdict);
        }
        let Document::AnalysisTemplate(t) = &lowered_from.get(&analysis.span)?.document else {
            return None;
        };
        let json = serde_json::to_value(t).ok()?;
        let verdict =
            analysis::when_every_measurement_fails(&json, args) == Ok(AnalysisPhase::Successful);
        judged.insert(key, verdict);
        Some(verdict)
    };
    for release in &program.pipeline.releases {
        let gates = release
            .stages
            .iter()
            .filter_map(|s| match &s.kind {
                hir::StageKind::Analyze { analysis, args } => Some((*analysis, args, s.span)),
                _ => None,
            })
            .chain(
                release
                    .background
                    .iter()
                    .map(|b| (b.analysis, &b.args, release.span)),
            );
        for (id, args, span) in gates {
            if cannot_fail(id, args) != Some(true) {
                continue;
            }
            let Some(analysis) = program.analyses.get(id.0) else {
                continue;
            };
            diags.push(
                Diagnostic::new(
                    Code::W0004,
                    span,
                    format!("the gate `{}` can never fail", analysis.name),
                )
                .label("Argo Rollouts passes it even when every measurement fails")
                .help("let `failure_limit` be lower than `times` (it counts the failed measurements tolerated)"),
            );
        }
    }
}

/// A wait of the Workflow (a task whose template's `pipec.dev/action` is `wait` or `complete`)
/// whose `TIMEOUT` is shorter than the time Argo Rollouts, by its model, takes to bring the Rollout
/// there when nothing goes wrong: the pauses and analyses it holds since the Workflow last
/// promoted it. Such a wait fails a healthy update (issue 10's third bug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortWait {
    /// The wait's task.
    pub task: String,
    pub rollout: String,
    pub timeout: u64,
    /// Seconds Argo Rollouts takes.
    pub needed: u64,
}

/// The waits of `workflow` that [`ShortWait`] describes, for the Rollouts and the
/// AnalysisTemplates among `documents` (JSON). A Rollout the model does not cover is not
/// judged.
pub fn short_waits(workflow: &Value, documents: &[Value]) -> Vec<ShortWait> {
    short_waits_of(
        &workflow::instance::task_summaries(&workflow["spec"]),
        documents,
    )
}

/// [`short_waits`] over the Workflow's task instances, computed once by the caller.
fn short_waits_of(
    instances: &[workflow::instance::TaskTemplate<'_>],
    documents: &[Value],
) -> Vec<ShortWait> {
    fn of_kind<'d>(
        documents: &'d [Value],
        kind: &'static str,
    ) -> impl Iterator<Item = (String, &'d Value)> {
        documents
            .iter()
            .filter(move |d| d["kind"] == kind)
            .filter_map(|d| Some((d["metadata"]["name"].as_str()?.to_string(), d)))
    }
    let templates: BTreeMap<String, Value> = of_kind(documents, "AnalysisTemplate")
        .map(|(name, t)| (name, t.clone()))
        .collect();
    let rollouts: BTreeMap<String, &Value> = of_kind(documents, "Rollout").collect();
    let mut progress: BTreeMap<String, Option<(Spec, Timeline)>> = BTreeMap::new();
    let mut updates = Updates::default();
    let mut out = Vec::new();
    for task in instances {
        let template = &task.template;
        let action = RolloutAction::of_template(template);
        if !matches!(action, Some(RolloutAction::Wait | RolloutAction::Complete)) {
            continue;
        }
        let env = |name: &str| workflow::template_env(template, name);
        let (Some(rollout), Some(timeout)) = (
            env(script_env::ROLLOUT),
            env(script_env::TIMEOUT).and_then(|t| t.parse::<u64>().ok()),
        ) else {
            continue;
        };
        let entry = progress.entry(rollout.to_string()).or_insert_with(|| {
            let doc = rollouts.get(rollout)?;
            let spec = Spec::from_json(doc).ok()?;
            Some((spec, updates.passing(doc, &templates).ok()?))
        });
        let Some((spec, timeline)) = entry else {
            continue;
        };
        let steps = &spec.canary.steps;
        let healthy_at = timeline
            .frames
            .iter()
            .find(|f| f.phase == RolloutPhase::Healthy)
            .map(|f| f.time);
        let done = |i: usize| {
            timeline
                .cluster
                .completed_steps
                .iter()
                .find(|d| usize::try_from(d.step) == Ok(i))
                .map(|d| d.time)
        };
        // Where the Workflow last promoted the Rollout: the held pause before `upto`.
        let since = |upto: usize| {
            (0..upto)
                .rev()
                .find(|i| steps[*i].pause == Some(None))
                .map_or(Some(0), done)
        };
        let step = env(script_env::STEP).and_then(|s| s.parse::<usize>().ok());
        let (reached, start) = match (action, step, spec.blue_green.is_some()) {
            // Blue-green: the pause before the switch, then healthy after it.
            (Some(RolloutAction::Wait), None, true) => {
                (timeline.promoted_at.first().copied(), Some(0))
            }
            (Some(RolloutAction::Complete), _, true) => (
                healthy_at,
                Some(timeline.promoted_at.last().copied().unwrap_or(0)),
            ),
            (Some(RolloutAction::Wait), Some(k), false) => {
                (if k == 0 { Some(0) } else { done(k - 1) }, since(k))
            }
            (Some(RolloutAction::Complete), _, false) => (healthy_at, since(steps.len())),
            _ => continue,
        };
        let (Some(reached), Some(start)) = (reached, start) else {
            continue;
        };
        let needed = reached.saturating_sub(start);
        if needed > timeout {
            out.push(ShortWait {
                task: task.name().to_string(),
                rollout: rollout.to_string(),
                timeout,
                needed,
            });
        }
    }
    out
}

/// Checks the Workflow of one compilation against its promises.
pub fn check(
    program: &hir::Program,
    lowered: &[Lowered],
    sources: &SourceDb,
    diags: &mut Diagnostics,
) {
    gates_that_cannot_fail(program, lowered, diags);
    // The pipeline's run (not the rollback template a person runs), as JSON.
    let is_run = |d: &Document| match d {
        Document::Workflow(w) | Document::WorkflowTemplate(w) => {
            w.metadata.labels.get(labels::ROLE).map(String::as_str) != Some(labels::ROLE_ROLLBACK)
        }
        _ => false,
    };
    // The documents the model reads, each as JSON once, in the order lowered: the run, the
    // Rollouts and the AnalysisTemplates (Null for the others, and for one that does not
    // convert). Services, Ingresses and the rollback template would only take memory.
    let documents: Vec<Value> = lowered
        .iter()
        .map(|l| match &l.document {
            d @ (Document::Rollout(_) | Document::AnalysisTemplate(_)) => {
                serde_json::to_value(d).unwrap_or(Value::Null)
            }
            d if is_run(d) => serde_json::to_value(d).unwrap_or(Value::Null),
            _ => Value::Null,
        })
        .collect();
    let Some(workflow) = lowered
        .iter()
        .position(|l| is_run(&l.document))
        .and_then(|i| documents.get(i))
        .filter(|w| !w.is_null())
    else {
        return;
    };
    // The `.pipe` line a Workflow task was generated from.
    let instances = workflow::instance::task_summaries(&workflow["spec"]);
    let locations: BTreeMap<&str, &str> = instances
        .iter()
        .filter_map(|t| {
            let location = t.template["metadata"]["annotations"][annotations::SOURCE].as_str()?;
            Some((t.name(), location))
        })
        .collect();
    let line_of = |task: &str| {
        locations
            .get(task)
            .and_then(|l| sources.resolve_location(l))
            .unwrap_or(program.pipeline.span)
    };
    for short in short_waits_of(&instances, &documents) {
        let span = line_of(&short.task);
        diags.push(
            Diagnostic::new(
                Code::E0408,
                span,
                format!(
                    "the Workflow would stop waiting for `{}` before Argo Rollouts gets there",
                    short.rollout
                ),
            )
            .label(format!(
                "`{}` waits {}, Argo Rollouts holds the update {} (pauses and analyses)",
                short.task,
                crate::typeck::format_duration(short.timeout),
                crate::typeck::format_duration(short.needed)
            ))
            .help(crate::verify::BUG_HELP),
        );
    }
    let promised = promised(program);
    let images = produced_images(program);
    if promised.is_empty() && images.is_empty() {
        return;
    }
    for unguarded in images_used_unbuilt(workflow, &images) {
        let span = line_of(&unguarded.consumer);
        diags.push(
            Diagnostic::new(
                Code::E0407,
                span,
                format!(
                    "`{}` would run without the image `{}` makes",
                    unguarded.consumer, unguarded.producer
                ),
            )
            .label(format!(
                "Argo would start it {} (`{}` {})",
                unguarded.when, unguarded.producer, unguarded.phase
            ))
            .help(crate::verify::BUG_HELP),
        );
    }
    for broken in broken_promises(&handler_runs(workflow), &promised) {
        let p = &promised[broken.promise];
        diags.push(
            Diagnostic::new(
                Code::E0406,
                p.span,
                format!("{} would not run {}", p.what, broken.when),
            )
            .label(format!(
                "Argo would leave its task `{}` {}",
                p.task, broken.phase
            ))
            .help(crate::verify::BUG_HELP),
        );
    }
}

/// A promise the model says Argo would break, with the first outcome that breaks it.
#[derive(Clone, Debug, PartialEq)]
struct Broken {
    promise: usize,
    when: String,
    phase: &'static str,
}

/// The tasks of the entrypoint's DAG.
fn entry_tasks(workflow: &Value) -> impl Iterator<Item = &Value> {
    template_of(workflow, names::ENTRYPOINT)
        .and_then(|t| t["dag"]["tasks"].as_array())
        .into_iter()
        .flatten()
}

fn template_of<'w>(workflow: &'w Value, name: &str) -> Option<&'w Value> {
    workflow["spec"]["templates"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == name)
}

/// The exit handler as it runs for each way the entrypoint can end: it sees only
/// `workflow.status`, so three runs answer for every outcome, whatever the pipeline's size.
/// Empty when the Workflow uses what the model does not cover yet: that is not judged (tests
/// keep every example inside what it covers).
fn handler_runs(workflow: &Value) -> Vec<(String, Run)> {
    let outcome = Outcomes {
        approved: true,
        ..Outcomes::default()
    };
    let mut out = Vec::new();
    for status in [Phase::Succeeded, Phase::Failed, Phase::Error] {
        match workflow::run_exit_handler(workflow, status, &outcome) {
            Ok(Some(run)) => out.push((format!("when the run ends {}", status.name()), run)),
            Ok(None) => {}
            Err(_) => return Vec::new(),
        }
    }
    out
}

/// At most this many runs of the model fail image producers: when the producers cannot be
/// put in that many [`producer_groups`], the first ones are failed one at a time and one run
/// fails the rest at once.
const PRODUCER_RUNS: usize = 8;

/// How many dependency edges [`producer_groups`] may walk before it gives up (a pipeline of
/// long chains, each step consuming an image, would otherwise cost its size squared).
const ANCESTOR_WALK_BUDGET: usize = 200_000;

/// The producers of consumed images in groups that one run of the model can fail together:
/// no consumer of a group's producer has another producer of the group among the tasks it
/// waits for (`depends`, `dependencies`, transitively). A consumer that starts in such a run
/// would start when its own producer alone fails, so the run answers for each producer as if
/// it failed alone, and a pipeline of a thousand services takes one run, not a thousand. This
/// is exact in the model: its DAG ends only once nothing more can start (`assessDAGPhase`
/// waits for every created node), so a failing producer that is not among a consumer's
/// ancestors cannot keep that consumer from starting.
/// `None` when more than [`PRODUCER_RUNS`] groups would be needed, or the walk is too long.
fn producer_groups(
    workflow: &Value,
    consumers: &[(String, String)],
    producers: &[String],
) -> Option<Vec<Vec<String>>> {
    let mut waits_for: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for task in entry_tasks(workflow) {
        let Some(name) = task["name"].as_str() else {
            continue;
        };
        let mut deps = task["depends"]
            .as_str()
            .map(pipec_argo_semantics::depends::tasks)
            .unwrap_or_default();
        deps.extend(
            task["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
        waits_for.insert(name, deps);
    }
    let is_producer: BTreeSet<&str> = producers.iter().map(String::as_str).collect();
    // For each producer, the producers that must not fail in the same run.
    let mut conflicts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut walked = 0usize;
    let mut ancestors_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (consumer, producer) in consumers {
        if !ancestors_of.contains_key(consumer.as_str()) {
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut stack: Vec<&str> = vec![consumer.as_str()];
            while let Some(task) = stack.pop() {
                for dep in waits_for.get(task).into_iter().flatten() {
                    walked += 1;
                    if walked > ANCESTOR_WALK_BUDGET {
                        return None;
                    }
                    if seen.insert(dep.as_str()) {
                        stack.push(dep.as_str());
                    }
                }
            }
            seen.retain(|t| is_producer.contains(t));
            ancestors_of.insert(consumer.as_str(), seen);
        }
        for other in ancestors_of.get(consumer.as_str()).into_iter().flatten() {
            if *other != producer.as_str() {
                conflicts
                    .entry(producer.as_str())
                    .or_default()
                    .insert(other);
                conflicts
                    .entry(other)
                    .or_default()
                    .insert(producer.as_str());
            }
        }
    }
    // Each producer into the first group none of its conflicts is in: the cost is the number
    // of conflicts, not the size of the groups.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    for producer in producers {
        let taken: BTreeSet<usize> = conflicts
            .get(producer.as_str())
            .into_iter()
            .flatten()
            .filter_map(|q| group_of.get(q).copied())
            .collect();
        // Taken groups exist already, so the first free one is at most the next new one.
        let i = (0..PRODUCER_RUNS).find(|i| !taken.contains(i))?;
        if i == groups.len() {
            groups.push(Vec::new());
        }
        groups.get_mut(i)?.push(producer.clone());
        group_of.insert(producer.as_str(), i);
    }
    Some(groups)
}

/// The runs that decide whether a step can start without its image: every step succeeds; the
/// producers of consumed images fail, a [`producer_groups`] group per run (a run whose `when`
/// is empty answers "when its producer fails" for each consumer); the producers that have a
/// condition are skipped (together). Each run is given to `visit` and dropped before the next
/// starts, so one run's nodes are in memory at a time; `false` when the model does not cover
/// the Workflow (what was visited is then not to be judged).
fn producer_runs(
    workflow: &Value,
    consumers: &[(String, String)],
    producers: &[String],
    visit: &mut dyn FnMut(&str, &Run),
) -> bool {
    let none = BTreeSet::new;
    let mut outcomes = vec![("when every step succeeds".to_string(), none(), none())];
    if let Some(groups) = producer_groups(workflow, consumers, producers) {
        outcomes.extend(
            groups
                .into_iter()
                .map(|g| (String::new(), g.into_iter().collect(), none())),
        );
    } else {
        outcomes.extend(producers.iter().take(PRODUCER_RUNS).map(|p| {
            (
                format!("when `{p}` fails"),
                BTreeSet::from([p.clone()]),
                none(),
            )
        }));
        if producers.len() > PRODUCER_RUNS {
            outcomes.push((
                "when the image steps fail".to_string(),
                producers[PRODUCER_RUNS..].iter().cloned().collect(),
                none(),
            ));
        }
    }
    // The trigger contexts in which the producers with a `when` are skipped (a push on
    // another branch), all in one run: a consumer that still runs would miss its image.
    let with_when: BTreeSet<&str> = entry_tasks(workflow)
        .filter(|t| !t["when"].is_null())
        .filter_map(|t| t["name"].as_str())
        .collect();
    let conditional: BTreeSet<String> = producers
        .iter()
        .filter(|p| with_when.contains(p.as_str()))
        .cloned()
        .collect();
    if !conditional.is_empty() {
        outcomes.push((
            "when the conditions of the image steps are false".to_string(),
            none(),
            conditional,
        ));
    }
    for (when, failing, skipped) in outcomes {
        let outcome = Outcomes {
            failing,
            skipped,
            approved: true,
            ..Outcomes::default()
        };
        // Only the entrypoint's nodes are looked at: the exit handler is not run.
        match workflow::run_entrypoint(workflow, &outcome) {
            Ok(run) => visit(&when, &run),
            Err(_) => return false,
        }
    }
    true
}

/// The images the pipeline's steps build or push, as the Workflow spells them in a
/// template's `image`, with the task that makes each.
fn produced_images(program: &hir::Program) -> Vec<(String, String)> {
    program
        .pipeline
        .nodes
        .iter()
        .filter(|n| !n.in_handler)
        .filter_map(|n| match &n.kind {
            hir::NodeKind::Build { target, .. } | hir::NodeKind::Push { target, .. } => Some((
                crate::lower::text::argo_text(&target.reference()),
                n.name.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// A task that runs in an image a producer task did not make.
#[derive(Clone, Debug, PartialEq)]
struct Unguarded {
    consumer: String,
    producer: String,
    when: String,
    phase: &'static str,
}

/// Tasks of the entrypoint whose pod runs an image another task makes, started in some
/// outcome although that task did not succeed.
fn images_used_unbuilt(workflow: &Value, images: &[(String, String)]) -> Vec<Unguarded> {
    let templates = workflow::by_name(&workflow["spec"]["templates"]);
    let mut producers_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (produced, producer) in images {
        producers_of.entry(produced).or_default().push(producer);
    }
    let mut consumers: Vec<(String, String)> = Vec::new();
    for task in entry_tasks(workflow) {
        let (Some(name), Some(template)) = (task["name"].as_str(), task["template"].as_str())
        else {
            continue;
        };
        let Some(t) = templates.get(template) else {
            continue;
        };
        let image = t["container"]["image"]
            .as_str()
            .or(t["script"]["image"].as_str())
            .unwrap_or_default();
        for producer in producers_of.get(image).into_iter().flatten() {
            if *producer != name {
                consumers.push((name.to_string(), producer.to_string()));
            }
        }
    }
    if consumers.is_empty() {
        return Vec::new();
    }
    let mut producers: Vec<String> = consumers.iter().map(|(_, p)| p.clone()).collect();
    producers.sort();
    producers.dedup();
    let mut out: Vec<Unguarded> = Vec::new();
    let mut reported: BTreeSet<&str> = BTreeSet::new();
    let mut judge = |when: &str, run: &Run| {
        for (consumer, producer) in &consumers {
            if reported.contains(consumer.as_str()) {
                continue;
            }
            let ran = run
                .node(names::ENTRYPOINT, consumer)
                .is_some_and(|n| n.phase.completed());
            let made = run.node(names::ENTRYPOINT, producer);
            if ran && made.is_none_or(|n| n.phase != Phase::Succeeded) {
                reported.insert(consumer);
                out.push(Unguarded {
                    consumer: consumer.clone(),
                    producer: producer.clone(),
                    when: if when.is_empty() {
                        format!("when `{producer}` fails")
                    } else {
                        when.to_string()
                    },
                    phase: made.map_or("never created", |n| n.phase.name()),
                });
            }
        }
    };
    if !producer_runs(workflow, &consumers, &producers, &mut judge) {
        return Vec::new();
    }
    out
}

fn broken_promises(runs: &[(String, Run)], promised: &[Promised]) -> Vec<Broken> {
    let mut out: Vec<Broken> = Vec::new();
    let mut broken = BTreeSet::new();
    for (when, run) in runs {
        for (i, p) in promised.iter().enumerate() {
            if broken.contains(&i) || kept(run, p) {
                continue;
            }
            broken.insert(i);
            out.push(Broken {
                promise: i,
                when: when.clone(),
                phase: run
                    .node(names::EXIT_HANDLER, &p.task)
                    .map_or("never created", |n| n.phase.name()),
            });
        }
    }
    out
}

/// Whether the run kept a promise: the task ran, unless it was not owed.
fn kept(run: &Run, p: &Promised) -> bool {
    if !run.status.ended() {
        return true;
    }
    let owed = match p.promise {
        Promise::Always => true,
        Promise::OnFailure => run.status != Phase::Succeeded,
    };
    !owed
        || run
            .node(names::EXIT_HANDLER, &p.task)
            .is_some_and(|n| n.phase.completed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn promise(task: &str, promise: Promise) -> Promised {
        Promised {
            task: task.to_string(),
            span: Span::default(),
            promise,
            what: task.to_string(),
        }
    }

    /// The exit handler as pipec wrote it before issue 10: the second action `depends` on the
    /// first without `.Skipped`, so on success it is Omitted, and so is the teardown.
    fn handler(ended: &str) -> Value {
        let pod = |name: &str| json!({"name": name, "container": {"image": "alpine"}});
        let when = "'{{workflow.status}}' != 'Succeeded'";
        json!({"metadata": {"generateName": "p-"}, "spec": {
        "entrypoint": "main", "onExit": "on-exit",
        "templates": [
            {"name": "main", "dag": {"tasks": [{"name": "build", "template": "build"}]}},
            {"name": "on-exit", "dag": {"tasks": [
                {"name": "diagnose", "template": "diagnose", "when": when},
                {"name": "alert", "template": "alert", "when": when,
                 "depends": ended.replace('X', "diagnose")},
                {"name": "staging-down", "template": "staging-down",
                 "depends": ended.replace('X', "alert")},
            ]}},
            pod("build"), pod("diagnose"), pod("alert"), pod("staging-down"),
        ]}})
    }

    #[test]
    fn a_teardown_omitted_on_success_is_caught() {
        let promised = [
            promise("staging-down", Promise::Always),
            promise("alert", Promise::OnFailure),
        ];
        let old = handler("X.Succeeded || X.Failed || X.Errored");
        assert_eq!(
            broken_promises(&handler_runs(&old), &promised),
            [Broken {
                promise: 0,
                when: "when the run ends Succeeded".to_string(),
                phase: "Omitted",
            }]
        );
        let fixed = handler("X.Succeeded || X.Failed || X.Errored || X.Skipped");
        assert_eq!(broken_promises(&handler_runs(&fixed), &promised), []);
    }

    /// Producers whose consumers wait for no other producer fail in one run; a consumer
    /// waiting for two producers keeps them in different runs, so each is seen failing alone.
    #[test]
    fn producers_fail_together_unless_a_consumer_waits_for_both() {
        let task =
            |name: &str, depends: &str| json!({"name": name, "template": name, "depends": depends});
        let workflow = json!({"spec": {"entrypoint": "main", "templates": [
        {"name": "main", "dag": {"tasks": [
            {"name": "a", "template": "a"}, {"name": "b", "template": "b"},
            {"name": "c", "template": "c"},
            task("ta", "a.Succeeded"), task("tb", "b.Succeeded"),
            // Waits for `a` through `ta`, and for `c`.
            task("tc", "ta.Succeeded || c.Succeeded"),
        ]}}]}});
        let pair = |c: &str, p: &str| (c.to_string(), p.to_string());
        let producers = ["a", "b", "c"].map(String::from);
        let independent = [pair("ta", "a"), pair("tb", "b")];
        assert_eq!(
            producer_groups(&workflow, &independent, &producers[..2]),
            Some(vec![vec!["a".to_string(), "b".to_string()]])
        );
        // Nine producers whose consumers each wait for all nine need more runs than allowed:
        // the check falls back to failing them one at a time.
        let all: Vec<String> = (0..9).map(|i| format!("p{i}")).collect();
        let waits_for_all = all
            .iter()
            .map(|p| format!("{p}.Succeeded"))
            .collect::<Vec<_>>();
        let mut tasks: Vec<Value> = all
            .iter()
            .map(|p| json!({"name": p, "template": p}))
            .collect();
        tasks.extend((0..9).map(|i| task(&format!("t{i}"), &waits_for_all.join(" && "))));
        let clique = json!({"spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": tasks}}]}});
        let consumers: Vec<_> = (0..9).map(|i| pair(&format!("t{i}"), &all[i])).collect();
        assert_eq!(producer_groups(&clique, &consumers, &all), None);
        let tangled = [pair("ta", "a"), pair("tb", "b"), pair("tc", "c")];
        assert_eq!(
            producer_groups(&workflow, &tangled, &producers),
            Some(vec![
                vec!["a".to_string(), "b".to_string()],
                vec!["c".to_string()]
            ])
        );
    }

    /// Issue 10's second bug: a `check run IMAGE` gate waited for the release only, so it
    /// started when the build of its image had failed.
    #[test]
    fn a_gate_started_without_its_image_is_caught() {
        let workflow = |deploy_depends: &str| {
            let pod =
                |name: &str, image: &str| json!({"name": name, "container": {"image": image}});
            json!({"metadata": {"generateName": "p-"}, "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "dag": {"tasks": [
                    {"name": "app", "template": "app"},
                    {"name": "tests", "template": "tests"},
                    {"name": "api-deploy", "template": "api-deploy", "depends": deploy_depends},
                    {"name": "api-check-1", "template": "api-check-1", "depends": "api-deploy.Succeeded"},
                ]}},
                pod("app", "buildkit"), pod("tests", "buildkit"), pod("api-deploy", "kubectl"),
                pod("api-check-1", "r.io/tests:1"),
            ]}})
        };
        let images = [("r.io/tests:1".to_string(), "tests".to_string())];
        let old = workflow("app.Succeeded");
        assert_eq!(
            images_used_unbuilt(&old, &images),
            [Unguarded {
                consumer: "api-check-1".to_string(),
                producer: "tests".to_string(),
                when: "when `tests` fails".to_string(),
                phase: "Failed",
            }]
        );
        let fixed = workflow("app.Succeeded && tests.Succeeded");
        assert_eq!(images_used_unbuilt(&fixed, &images), []);
        // A bare `depends` on a push that runs on `main` only holds when the push is skipped
        // (bare names mean `.Succeeded || .Skipped`): on another branch the gate would start
        // without its image. Failing the push does not show it; skipping it does.
        let mut conditional = workflow("app.Succeeded && tests");
        conditional["spec"]["templates"][0]["dag"]["tasks"][1]["when"] =
            json!("{{workflow.parameters.git-branch}} == main");
        assert_eq!(
            images_used_unbuilt(&conditional, &images),
            [Unguarded {
                consumer: "api-check-1".to_string(),
                producer: "tests".to_string(),
                when: "when the conditions of the image steps are false".to_string(),
                phase: "Skipped",
            }]
        );
    }

    #[test]
    fn a_failure_action_that_never_runs_is_caught() {
        let promised = [promise("alert", Promise::OnFailure)];
        // `alert` waits for `diagnose` to succeed: a failed diagnosis omits the alert.
        let mut workflow = handler("X.Succeeded");
        workflow["spec"]["templates"][1]["dag"]["tasks"][2]["depends"] =
            json!("alert.Succeeded || alert.Failed || alert.Skipped || alert.Omitted");
        let broken = broken_promises(&handler_runs(&workflow), &promised);
        assert!(broken.is_empty(), "{broken:?}");
        let mut failing_diagnosis = workflow.clone();
        failing_diagnosis["spec"]["templates"][0]["dag"]["tasks"] =
            json!([{"name": "diagnose-fails", "template": "build"}]);
        let run = workflow::run(
            &failing_diagnosis,
            &Outcomes {
                failing: BTreeSet::from(["diagnose-fails".to_string(), "diagnose".to_string()]),
                approved: true,
                ..Outcomes::default()
            },
        )
        .unwrap();
        assert_eq!(
            run.node(names::EXIT_HANDLER, "alert").map(|n| n.phase),
            Some(Phase::Omitted)
        );
        assert!(!kept(&run, &promised[0]));
    }
}
