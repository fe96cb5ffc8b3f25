//! The model against Argo's own behaviour: the cases of `tests/conformance/` (a copy of
//! `../shared/argo/conformance`, taken from Argo Workflows v4.1.2's tests and docs; its README
//! traces every case). Where the model and a case disagree, the model is wrong.
//!
//! Every row of a table file runs. Scenario cases run when the model covers their features;
//! the ones it does not yet cover are listed in [`NOT_MODELLED`] by id, and the test fails if
//! one of them starts to run or if any other case cannot run, so the list only shrinks.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pipec_argo_semantics::Phase;
use pipec_argo_semantics::depends::{self, ContinueOn, TaskState};
use pipec_argo_semantics::govaluate;
use pipec_argo_semantics::workflow::{self, Outcomes, Shutdown};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

fn documents(relative: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(corpus().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// A dependency's node as the table writes it: `Succeeded`, `(no node yet)`,
/// `Running, daemoned: true`, `Succeeded (TaskGroup; children A-1 Running, A-2 no node)`.
fn task_state(description: &str) -> Option<TaskState> {
    if description.starts_with("(no node") {
        return None;
    }
    let (head, rest) = match description.split_once(' ') {
        Some((h, r)) => (h.trim_end_matches(','), r),
        None => (description, ""),
    };
    let mut state = TaskState::of(Phase::parse(head).unwrap_or_else(|| panic!("{description}")));
    state.daemoned = rest.contains("daemoned: true");
    if let Some(children) = rest
        .strip_prefix("(TaskGroup; children ")
        .and_then(|r| r.strip_suffix(')'))
    {
        state.children = Some(
            children
                .split(", ")
                .map(|child| {
                    let (_, phase) = child.split_once(' ').unwrap();
                    Phase::parse(phase)
                })
                .collect(),
        );
    }
    Some(state)
}

#[test]
fn depends_evaluation_table() {
    let case = &documents("workflows/dag/depends-evaluation.yaml")[0];
    let mut rows = 0;
    for group in ["rows_unit", "rows_e2e", "rows_derived_for_reported_bug"] {
        for row in case[group].as_array().unwrap() {
            rows += 1;
            let task = text(&row["task"]);
            let raw = text(&row["depends"]);
            // `dependencies: [F]  (F has continueOn.failed)`
            let (raw, continue_on) = match raw.strip_prefix("dependencies: [") {
                Some(rest) => {
                    let (list, note) = rest.split_once(']').unwrap();
                    let names: Vec<String> = list.split(", ").map(str::to_string).collect();
                    (
                        depends::from_dependencies(&names),
                        note.contains("continueOn.failed"),
                    )
                }
                None => (raw.to_string(), false),
            };
            let expanded = depends::expand(&raw, &|_| ContinueOn {
                failed: continue_on,
                error: false,
            });
            let nodes = row["dependency_nodes"].as_object().unwrap();
            let state = |name: &str| nodes.get(name).and_then(|d| task_state(text(d)));
            let decision = depends::decide_task(task, &expanded, &state).unwrap();
            assert_eq!(
                (decision.proceed, decision.execute),
                (
                    row["expected"]["proceed"] == true,
                    row["expected"]["execute"] == true
                ),
                "{group}: {task} with depends `{raw}` over {nodes:?}"
            );
        }
    }
    for row in case["expansion"].as_array().unwrap() {
        rows += 1;
        let raw = match (row["depends"].as_str(), row["dependencies"].as_array()) {
            (Some(d), _) => d.to_string(),
            (None, Some(list)) => depends::from_dependencies(
                &list.iter().map(|v| text(v).to_string()).collect::<Vec<_>>(),
            ),
            (None, None) => panic!("{row}"),
        };
        if let Some(unchanged) = row["expanded_by_getTaskDependsLogic"].as_str() {
            // getTaskDependsLogic hands `depends` on as written.
            assert_eq!(raw, unchanged);
            continue;
        }
        let on = &row["task-1.continueOn"];
        let continue_on = |name: &str| ContinueOn {
            failed: name == "task-1" && on["failed"] == true,
            error: name == "task-1" && on["error"] == true,
        };
        assert_eq!(
            depends::expand(&raw, &continue_on),
            text(&row["expanded"]),
            "{raw}"
        );
        if let Some(list) = row["dependencies"].as_array()
            && row["depends"].is_string()
        {
            let expected: Vec<String> = list.iter().map(|v| text(v).to_string()).collect();
            assert_eq!(depends::tasks(&raw), expected, "{raw}");
        }
    }
    for row in case["validation"].as_array().unwrap() {
        rows += 1;
        let raw = text(&row["depends"]);
        let result = depends::validate(raw);
        assert_eq!(result.is_ok(), row["valid"] == true, "{raw}: {result:?}");
        if let Some(error) = row["error"].as_str() {
            assert_eq!(result.unwrap_err(), error);
        }
    }
    assert!(rows >= 49, "only {rows} rows");
}

#[test]
fn when_govaluate_table() {
    let case = &documents("expressions/when-govaluate.yaml")[0];
    let rows = case["rows"].as_array().unwrap();
    for row in rows {
        let when = text(&row["when"]);
        let result = govaluate::when(when);
        match &row["expected"] {
            Value::Bool(expected) => {
                assert_eq!(result, Ok(*expected), "`{when}`");
            }
            other => {
                assert_eq!(other, "error", "`{when}`");
                assert!(result.is_err(), "`{when}` gave {result:?}, Argo errs");
            }
        }
    }
    assert!(rows.len() >= 100);
}

#[test]
fn expr_lang_tags_table() {
    let case = &documents("expressions/expr-lang-tags.yaml")[0];
    let rows = case["rows"].as_array().unwrap();
    for row in rows {
        let expression = text(&row["expression"]);
        let scope = if row["env"].is_object() {
            row["env"].clone()
        } else {
            Value::Object(serde_json::Map::new())
        };
        let result = pipec_argo_semantics::expr::eval(expression, &scope);
        match row["substituted_text"].as_str() {
            None => {
                assert_eq!(row["expected"], "error", "`{expression}`");
                assert!(result.is_err(), "`{expression}` gave {result:?}; Argo errs");
            }
            Some(expected) => {
                let value = result.unwrap_or_else(|e| panic!("`{expression}`: {e}"));
                assert_eq!(
                    pipec_argo_semantics::expr::text(&value),
                    expected,
                    "`{expression}`"
                );
            }
        }
    }
    assert!(rows.len() >= 31);
}

#[test]
fn retry_node_table() {
    use pipec_argo_semantics::retry::{self, Attempt};
    let case = &documents("workflows/retry/retry-node-evaluation.yaml")[0];
    let rows = case["rows"].as_array().unwrap();
    for row in rows {
        // `Failed`, `hook node Succeeded (NodeFlag.Hooked)`, `Error (transient)`.
        let children: Vec<Attempt> = row["children_in_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let c = text(c);
                if let Some(rest) = c.strip_prefix("hook node") {
                    let phase = rest.split_whitespace().next().and_then(Phase::parse);
                    return Attempt {
                        phase: phase.unwrap_or(Phase::Succeeded),
                        hook: true,
                        transient: false,
                    };
                }
                let head = c.split_whitespace().next().unwrap();
                Attempt {
                    phase: Phase::parse(head).unwrap_or_else(|| panic!("{c}")),
                    hook: false,
                    transient: c.contains("transient") || c.contains("TRANSIENT"),
                }
            })
            .collect();
        let strategy = &row["retryStrategy"];
        let limit = u32::try_from(strategy["limit"].as_u64().unwrap()).unwrap();
        let policy = strategy["retryPolicy"].as_str().unwrap_or_default();
        assert_eq!(
            Some(retry::phase(policy, limit, &children)),
            Phase::parse(text(&row["expected_retry_node_phase"])),
            "{row}"
        );
    }
    assert!(rows.len() >= 13);
}

/// Scenario cases of these directories the model does not cover yet, by id, with the feature
/// that keeps each out.
const NOT_MODELLED: &[(&str, &str)] = &[];

/// Scenarios that look at a run between two operations, or act on it while it runs (`argo
/// resume`, `argo stop` of one node, a shutdown in the exit handler): each is driven through
/// [`workflow::Machine`] one operation at a time, and its moments (`after_step_1`,
/// `before_deadline`, …) are checked where they fall.
///
/// Argo's unit tests start from a recorded status and call `operate` once. The model has no
/// recorded status: it reaches the same state by operating from the start, and one model
/// operation does what a pod's end plus the controller's reaction to it do (the unit tests set
/// a node's phase and then operate). Each driver says which moment is the asserted one.
fn driver(id: &str) -> Option<Driver> {
    Some(match id {
        "wf-dag-dependency-on-skipped-runs" => dependency_on_skipped_runs,
        "wf-dag-task-onexit-before-dependents" => task_exit_hook_before_dependents,
        "wf-stop-onexit-dag-runs" => stop_runs_the_exit_dag,
        "wf-deadline-fails-suspended-nodes / deadline" => deadline_fails_what_waits,
        "wf-terminate-during-exit-handler" => terminate_in_the_exit_handler,
        "wf-stop-with-daemon" => stop_with_a_daemon,
        "wf-template-active-deadline-parameter" => a_pod_outlives_its_deadline,
        "wf-exit-handler-bad-templateref" => a_reference_to_no_template,
        "wf-workflow-spec-suspend"
        | "wf-node-resume-then-stop"
        | "wf-suspend-step-resume-or-stop / resume"
        | "wf-suspend-step-resume-or-stop / stop-node"
        | "wf-suspend-step-resume-or-stop / resume-selector" => people_act,
        _ => return None,
    })
}

type Driver = fn(&Scenario<'_>) -> Result<Vec<String>, String>;

/// The checks of one scenario's moments, gathered.
struct Checks<'g> {
    given: &'g Given,
    checked: usize,
    wrong: Vec<String>,
}

impl<'g> Checks<'g> {
    fn new(given: &'g Given) -> Checks<'g> {
        Checks {
            given,
            checked: 0,
            wrong: Vec::new(),
        }
    }

    /// Checks `expected` at this moment of `machine`, its disagreements labelled `moment`.
    fn at(
        &mut self,
        moment: &str,
        expected: &Value,
        machine: &workflow::Machine<'_>,
        refused: bool,
    ) {
        let (checked, wrong) = self.given.compare(expected, &Moment::now(machine, refused));
        self.checked += checked;
        self.wrong
            .extend(wrong.into_iter().map(|w| format!("{moment}: {w}")));
    }

    fn done(self) -> Result<Vec<String>, String> {
        if self.checked == 0 {
            return Err("none of its moments was checked".to_string());
        }
        Ok(self.wrong)
    }
}

/// Operates until `until` holds or nothing changes any more (at most 1,000 operations);
/// whether `until` holds.
fn operate_until(
    machine: &mut workflow::Machine<'_>,
    until: impl Fn(&workflow::Machine<'_>) -> bool,
) -> Result<bool, String> {
    for _ in 0..1000 {
        if until(machine) {
            return Ok(true);
        }
        if !machine.operate()? {
            return Ok(until(machine));
        }
    }
    Err("the run does not settle in 1,000 operations".to_string())
}

fn settle(machine: &mut workflow::Machine<'_>) -> Result<(), String> {
    operate_until(machine, |_| false).map(|_| ())
}

fn has_node(machine: &workflow::Machine<'_>, task: &str, phase: Option<Phase>) -> bool {
    machine
        .nodes()
        .iter()
        .any(|n| n.task == task && phase.is_none_or(|p| n.phase == p))
}

/// The outcome a driver starts from: what the pods do, no approval given (the people's acts
/// are the scenario's events).
fn driven(sc: &Scenario<'_>) -> Given {
    let mut given = Given::of(sc);
    given.outcomes.approved = false;
    given
}

/// The recorded status has `condition` Skipped; one operation later `B` is created. The
/// model decides `condition` and then `B` in one walk of the DAG, as `executeDAGTask` does:
/// the moment after its first operation is the asserted one.
fn dependency_on_skipped_runs(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    machine.operate()?;
    let mut checks = Checks::new(&given);
    checks.at("after the first operation", sc.expected, &machine, false);
    checks.done()
}

/// From `step-2` running: the operation in which its pod ends creates its `onExit` node and
/// not `step-3`; the one in which the exit hook's pod ends creates `step-3`.
fn task_exit_hook_before_dependents(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    operate_until(&mut machine, |m| has_node(m, "step-2", None))?;
    let mut checks = Checks::new(&given);
    for step in ["after_step_1", "after_step_2"] {
        machine.operate()?;
        checks.at(step, &sc.expected[step], &machine, false);
    }
    checks.done()
}

/// The recorded status has `main-task` Succeeded when `spec.shutdown: Stop` is set (the
/// manifest carries it; it is applied at that moment). The exit handler's DAG still runs: its
/// node and then its task are created while the Workflow runs on.
fn stop_runs_the_exit_dag(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut manifest = sc.manifest.clone();
    let how = match manifest["spec"]["shutdown"].take().as_str() {
        Some("Terminate") => Shutdown::Terminate,
        _ => Shutdown::Stop,
    };
    let mut machine = workflow::Machine::new(&manifest, &given.outcomes)?;
    operate_until(&mut machine, |m| {
        has_node(m, "main-task", Some(Phase::Succeeded))
    })?;
    machine.shut_down(how);
    operate_until(&mut machine, |m| has_node(m, "on-exit-handler", None))?;
    let mut checks = Checks::new(&given);
    checks.at(
        "once the exit handler's task exists",
        sc.expected,
        &machine,
        false,
    );
    checks.done()
}

/// A suspend nobody resumes: Running until the deadline passes, then all Failed.
fn deadline_fails_what_waits(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    let mut checks = Checks::new(&given);
    settle(&mut machine)?;
    checks.at(
        "before_deadline",
        &sc.expected["before_deadline"],
        &machine,
        false,
    );
    if !machine.pass_deadline() {
        return Err("the Workflow has no activeDeadlineSeconds".to_string());
    }
    settle(&mut machine)?;
    checks.at("after_3s", &sc.expected["after_3s"], &machine, false);
    checks.done()
}

/// The entrypoint has Succeeded and the exit handler's pod sleeps when `spec.shutdown:
/// Terminate` is set: the pod is killed, and every steps node of the exit handler fails.
fn terminate_in_the_exit_handler(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let mut given = driven(sc);
    let sleeping: Vec<String> = exit_handler_steps(sc.manifest);
    given.outcomes.running.extend(sleeping);
    let running = |n: &workflow::NodeRecord| n.name.ends_with(".onExit") && !n.phase.ended();
    let ready = (
        "the exit handler must be running",
        &running as &dyn Fn(&_) -> bool,
    );
    let (machine, mut checks) = shut_down_once(sc, &given, ready, Shutdown::Terminate)?;
    for node in machine.nodes().iter().filter(|n| n.node_type == "Steps") {
        checks.checked += 1;
        if node.phase != Phase::Failed {
            checks
                .wrong
                .push(format!("{}: Failed, model {:?}", node.name, node.phase));
        }
    }
    checks.done()
}

/// A daemon step has started and the next step's pod sleeps when `spec.shutdown: Stop` is
/// set: the sleeping pod is failed, so the steps fail, and the daemon is stopped with them
/// (its node Succeeded).
fn stop_with_a_daemon(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let mut given = driven(sc);
    let templates = sc.manifest["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten();
    let daemons: BTreeSet<&str> = templates
        .clone()
        .filter(|t| t["daemon"] == true)
        .filter_map(|t| t["name"].as_str())
        .collect();
    // "a pod is running": the steps whose template is no daemon sleep on.
    let steps = templates
        .flat_map(|t| t["steps"].as_array().into_iter().flatten())
        .flat_map(|g| g.as_array().into_iter().flatten());
    for step in steps {
        if !daemons.contains(text(&step["template"])) {
            given
                .outcomes
                .running
                .insert(text(&step["name"]).to_string());
        }
    }
    let daemoned = |n: &workflow::NodeRecord| n.daemoned && !n.phase.ended();
    let ready = (
        "the daemon must have started",
        &daemoned as &dyn Fn(&_) -> bool,
    );
    let (_, checks) = shut_down_once(sc, &given, ready, Shutdown::Stop)?;
    checks.done()
}

/// The run settles; a node must then be as `ready` says (the case's precondition, the text
/// why not); the run is shut down `how`, settles again, and the case's `expected` is checked.
fn shut_down_once<'g>(
    sc: &'g Scenario<'_>,
    given: &'g Given,
    ready: (&str, &dyn Fn(&workflow::NodeRecord) -> bool),
    how: Shutdown,
) -> Result<(workflow::Machine<'g>, Checks<'g>), String> {
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    settle(&mut machine)?;
    let mut checks = Checks::new(given);
    if !machine.nodes().iter().any(ready.1) {
        checks.wrong.push(ready.0.to_string());
    }
    machine.shut_down(how);
    settle(&mut machine)?;
    checks.at("after the shutdown", sc.expected, &machine, false);
    Ok((machine, checks))
}

/// The entrypoint's pod sleeps 10 s under an `activeDeadlineSeconds` its input sets to 5: the
/// pod spec gets 5, and the pod, running on past it, is killed (Failed).
fn a_pod_outlives_its_deadline(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let mut given = driven(sc);
    let name = given.workflow_name.clone();
    given.outcomes.running.insert(name);
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    settle(&mut machine)?;
    let mut checks = Checks::new(&given);
    checks.at("at the end", sc.expected, &machine, false);
    let want = sc.expected["pod"]["spec.activeDeadlineSeconds"].as_u64();
    let pod = machine.nodes().iter().find(|n| n.node_type == "Pod");
    checks.checked += 1;
    if pod.and_then(|p| p.active_deadline_seconds) != want {
        checks.wrong.push(format!(
            "pod activeDeadlineSeconds {want:?}, model {:?}",
            pod.map(|p| p.active_deadline_seconds)
        ));
    }
    checks.done()
}

/// The WorkflowTemplate (the first manifest, which the Workflow, the second, refers to) is in
/// the cluster, and its exit handler refers to a WorkflowTemplate that is not: the Workflow
/// fails validation before any node.
fn a_reference_to_no_template(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut stored = sc.manifest.clone();
    stored["kind"] = Value::from("WorkflowTemplate");
    let cluster = [stored];
    let mut machine = workflow::Machine::in_cluster(sc.manifest, &given.outcomes, Some(&cluster))?;
    settle(&mut machine)?;
    let mut checks = Checks::new(&given);
    checks.at("at the end", sc.expected, &machine, false);
    checks.checked += 1;
    if !machine.nodes().is_empty() {
        checks.wrong.push("validation creates no node".to_string());
    }
    checks.done()
}

/// The steps of the Workflow's exit handler (its pods are the ones that sleep).
fn exit_handler_steps(manifest: &Value) -> Vec<String> {
    let handler = text(&manifest["spec"]["onExit"]);
    let templates = manifest["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten();
    templates
        .filter(|t| t["name"] == handler)
        .flat_map(|t| t["steps"].as_array().into_iter().flatten())
        .flat_map(|g| g.as_array().into_iter().flatten())
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

/// Events people cause, in order: `operate`, `resume` (`argo resume`), `argo suspend` (the
/// case's `after_suspend`), a resume or stop with a node selector, `wait for an active
/// suspend node`. A moment `after_operate_N` is checked after the N-th operation; one named
/// after an act (`after_resume`, `after_bad_selector`, `after_suspend`) after the operation
/// that follows it; the case's `expected` once the run has settled.
fn people_act(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let given = driven(sc);
    let mut machine = workflow::Machine::new(sc.manifest, &given.outcomes)?;
    let mut checks = Checks::new(&given);
    let mut events = sc.events.clone();
    // `TestSuspendResume`: the Workflow is suspended, operated on, resumed, operated on.
    if !sc.expected["after_suspend"].is_null() {
        events = ["suspend", "operate", "resume (argo resume)", "operate"]
            .map(str::to_string)
            .to_vec();
    }
    let mut operations = 0;
    let mut pending: Option<&str> = None;
    let mut refused = false;
    for event in &events {
        let event = event.as_str();
        if event == "operate" {
            machine.operate()?;
            operations += 1;
            let key = format!("after_operate_{operations}");
            checks.at(&key, &sc.expected[key.as_str()], &machine, refused);
            if let Some(key) = pending.take() {
                checks.at(key, &sc.expected[key], &machine, refused);
            }
            continue;
        }
        if event == "wait for an active suspend node" {
            let waits = |m: &workflow::Machine<'_>| {
                m.nodes()
                    .iter()
                    .any(workflow::NodeRecord::waits_for_a_person)
            };
            if !operate_until(&mut machine, waits)? {
                return Err("no suspend node waits".to_string());
            }
            continue;
        }
        if event == "suspend" {
            machine.suspend();
            pending = Some("after_suspend");
            continue;
        }
        if event.starts_with("resume") && !event.contains("selector") {
            machine.resume();
            pending = Some("after_resume");
            continue;
        }
        // `argo resume --node-field-selector S`, `argo stop --node-field-selector S
        // --message M`, `resume with selector S (comment)`.
        let Some((verb, rest)) = event
            .split_once(" --node-field-selector ")
            .or_else(|| event.split_once(" with selector "))
        else {
            return Err(format!("event `{event}` is not modelled"));
        };
        let (selector, message) = match rest.split_once(" --message ") {
            Some((s, m)) => (s, m.trim_matches('\'')),
            None => (rest.split(" (").next().unwrap_or(rest), ""),
        };
        let phase = if verb.contains("stop") {
            Phase::Failed
        } else {
            Phase::Succeeded
        };
        refused = machine.set_nodes(selector.trim(), phase, message).is_err();
        pending = Some(if refused {
            "after_bad_selector"
        } else {
            "after_good_selector"
        });
    }
    settle(&mut machine)?;
    checks.at("at the end", sc.expected, &machine, refused);
    checks.done()
}

/// Scenarios whose expectation is *derived* by the corpus's authors (`basis: derived`, not
/// asserted by an upstream test) and contradicts upstream's code, with the one disagreement
/// the model shows and why the model follows the code. The test fails if the model's answer
/// changes in any other way.
const DISPUTED: &[(&str, &str, &str)] = &[(
    "wf-dag-all-skipped-succeeds / dag",
    "sequence-param: [Skipped], model Some(Succeeded)",
    "a withSequence task whose `when` is false expands into children that are each Skipped; \
     `executeDAGTask` (dag.go) then marks the TaskGroup `groupPhase := NodeSucceeded` unless a \
     child failed or erred, in every version at hand; the corpus derives Skipped",
)];

/// A scenario to run: a case, or one variant of it.
struct Scenario<'a> {
    id: String,
    manifest: &'a Value,
    given: &'a Value,
    expected: &'a Value,
    /// External actions, in order (`argo resume`, `set spec.shutdown: Stop`, …).
    events: Vec<String>,
}

fn scenarios<'a>(case: &'a Value, docs: &'a [Value]) -> Vec<Scenario<'a>> {
    let events = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect()
    };
    let id = text(&case["id"]);
    let base = events(&case["given"]["events"]);
    match case["variants"].as_array() {
        None => docs
            .get(1)
            .map(|manifest| Scenario {
                id: id.to_string(),
                manifest,
                given: &case["given"],
                expected: &case["expected"],
                events: base,
            })
            .into_iter()
            .collect(),
        Some(variants) => variants
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                // A variant names its manifest; with one manifest per variant (a Go format
                // string rendered for each), the i-th variant has the i-th.
                let one_each = docs.len() == variants.len() + 1;
                let n = v["manifest"]
                    .as_u64()
                    .unwrap_or(if one_each { i as u64 + 1 } else { 1 });
                let manifest = docs.get(usize::try_from(n).ok()?)?;
                let mut all = base.clone();
                all.extend(events(&v["events"]));
                Some(Scenario {
                    id: format!("{id} / {}", text(&v["name"])),
                    manifest,
                    given: if v["given"].is_null() {
                        &case["given"]
                    } else {
                        &v["given"]
                    },
                    expected: &v["expected"],
                    events: all,
                })
            })
            .collect(),
    }
}

/// Whether a node name is a fan-out child's, `NAME(I:ITEM)` (`NAME(I)` is a retry attempt).
fn fan_out_child(name: &str) -> bool {
    name.split_once('(').is_some_and(|(_, rest)| {
        let index: String = rest.chars().take_while(char::is_ascii_digit).collect();
        !index.is_empty() && rest[index.len()..].starts_with(':')
    })
}

/// Whether `message` holds what `expected` says it contains: a text, or a list of texts.
fn message_matches(expected: &Value, message: &str) -> bool {
    match expected {
        Value::Null => true,
        Value::String(s) => message.contains(s.as_str()),
        Value::Array(parts) => parts.iter().all(|p| message.contains(text(p))),
        _ => false,
    }
}

/// The phase an expectation allows: `phase`, or any of `phase_one_of`. `Pending` (a node
/// created and scheduled, its pod not started) is any phase of a node that ran: the model runs
/// pods to their end.
fn allowed(expected: &Value) -> Option<Vec<Phase>> {
    if expected["phase"] == "Pending" {
        return Some(vec![Phase::Running, Phase::Succeeded, Phase::Failed]);
    }
    if let Some(p) = expected["phase"].as_str() {
        return Phase::parse(p).map(|p| vec![p]);
    }
    let list: Vec<Phase> = expected["phase_one_of"]
        .as_array()?
        .iter()
        .filter_map(|p| p.as_str().and_then(Phase::parse))
        .collect();
    (!list.is_empty()).then_some(list)
}

#[test]
fn workflow_scenarios() {
    let mut ran = Vec::new();
    let mut could_not = Vec::new();
    let mut failures = Vec::new();
    for dir in [
        "workflows/dag",
        "workflows/exit",
        "workflows/retry",
        "workflows/steps",
        "workflows/suspend",
        "workflows/shutdown",
        "workflows/timeouts",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let relative = format!("{dir}/{}", file.file_name().unwrap().to_string_lossy());
            let docs = documents(&relative);
            let case = &docs[0];
            if case["kind"] != "ConformanceCase" {
                continue;
            }
            let cases = scenarios(case, &docs);
            if cases.is_empty() {
                could_not.push((text(&case["id"]).to_string(), "no manifest".to_string()));
            }
            for sc in cases {
                let id = sc.id.clone();
                if let Some(drive) = driver(&id) {
                    match drive(&sc) {
                        Err(why) => could_not.push((id, why)),
                        Ok(wrong) if wrong.is_empty() => ran.push(id),
                        Ok(wrong) => failures.push(format!("{id}: {}", wrong.join("; "))),
                    }
                    continue;
                }
                // A unit test that asserts the state one operation after a recorded status.
                if !sc.given["initial_status"].is_null()
                    && sc.expected["workflow"]["phase"] == "Running"
                {
                    could_not.push((id, "a state in the middle of a run".to_string()));
                    continue;
                }
                match run_scenario(&sc) {
                    Err(why) => could_not.push((id, why)),
                    Ok(wrong) if wrong.is_empty() => ran.push(id),
                    Ok(wrong) => match DISPUTED.iter().find(|(d, _, _)| *d == id) {
                        // Exactly the disagreement on record, and nothing else.
                        Some((_, expected, _)) if wrong.join("; ") == *expected => ran.push(id),
                        _ => failures.push(format!("{id}: {}", wrong.join("; "))),
                    },
                }
            }
        }
    }
    let listed: BTreeSet<&str> = NOT_MODELLED.iter().map(|(id, _)| *id).collect();
    let unexpected: Vec<String> = could_not
        .iter()
        .filter(|(id, _)| !listed.contains(id.as_str()))
        .map(|(id, why)| format!("{id}: {why}"))
        .collect();
    let now_running: Vec<&String> = ran
        .iter()
        .filter(|id| listed.contains(id.as_str()))
        .collect();
    // A listed id that is no scenario any more (renamed, or split into variants).
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|id| !could_not.iter().any(|(c, _)| c == **id))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_MODELLED lists what is no scenario: {stale:?}"
    );
    eprintln!(
        "{} scenarios ran, {} not modelled",
        ran.len(),
        could_not.len()
    );
    assert!(
        failures.is_empty() && unexpected.is_empty() && now_running.is_empty(),
        "model and Argo disagree:\n{}\n\nnot modelled (add to NOT_MODELLED with the reason, or model it):\n{}\n\nnow modelled (remove from NOT_MODELLED): {now_running:?}",
        failures.join("\n"),
        unexpected.join("\n")
    );
    assert!(ran.len() >= 5, "only {} scenarios ran", ran.len());
}

/// Runs one scenario through the model; what disagrees with the case, or `Err` if the model
/// cannot run it or nothing it expects is something the model answers.
fn run_scenario(sc: &Scenario<'_>) -> Result<Vec<String>, String> {
    let patched = match sc.given["patch"].as_str() {
        Some(patch) => Some(patched(sc.manifest, patch)?),
        None => None,
    };
    let given = Given::of(sc);
    let run = workflow::run(patched.as_ref().unwrap_or(sc.manifest), &given.outcomes)?;
    let (checked, wrong) = given.compare(sc.expected, &Moment::of(run));
    if checked == 0 {
        return Err("it expects nothing the model answers (pods, timings, outputs)".to_string());
    }
    Ok(wrong)
}

/// `manifest` with a variant's `given.patch` applied: `templates[N]<note>.FIELD = 'VALUE'`
/// sets a field of the N-th template.
fn patched(manifest: &Value, patch: &str) -> Result<Value, String> {
    let unreadable = || format!("patch `{patch}` is not understood");
    let (path, value) = patch.split_once(" = ").ok_or_else(unreadable)?;
    let rest = path.strip_prefix("templates[").ok_or_else(unreadable)?;
    let (index, rest) = rest.split_once(']').ok_or_else(unreadable)?;
    let index: usize = index.parse().map_err(|_| unreadable())?;
    let field = rest.rsplit('.').next().ok_or_else(unreadable)?;
    let mut manifest = manifest.clone();
    let template = manifest["spec"]["templates"]
        .get_mut(index)
        .ok_or_else(unreadable)?;
    template[field] = Value::String(value.trim().trim_matches('\'').to_string());
    Ok(manifest)
}

/// What a scenario gives: the outcome of its pods and people, and the names of its nodes.
struct Given {
    outcomes: Outcomes,
    /// Task and step names: the nodes the model records.
    tasks: BTreeSet<String>,
    workflow_name: String,
}

/// The run at one moment, as a case's expectations look at it.
struct Moment {
    run: workflow::Run,
    /// `spec.suspend` is set.
    spec_suspended: bool,
    /// `util.IsWorkflowSuspended`.
    workflow_suspended: bool,
    /// The last resume or stop with a node selector was refused.
    selector_refused: bool,
}

impl Moment {
    fn of(run: workflow::Run) -> Moment {
        Moment {
            workflow_suspended: run.waits_for_a_person(),
            run,
            spec_suspended: false,
            selector_refused: false,
        }
    }

    fn now(machine: &workflow::Machine<'_>, selector_refused: bool) -> Moment {
        Moment {
            run: machine.snapshot(),
            spec_suspended: machine.suspended(),
            workflow_suspended: machine.workflow_suspended(),
            selector_refused,
        }
    }

    /// Pods created: the nodes of type Pod.
    fn pods(&self) -> usize {
        self.run
            .nodes
            .iter()
            .filter(|n| n.node_type == "Pod")
            .count()
    }
}

impl Given {
    fn of(sc: &Scenario<'_>) -> Given {
        let manifest = sc.manifest;
        let templates = manifest["spec"]["templates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Task and step names: the nodes the model records.
        let mut tasks: BTreeSet<String> = BTreeSet::new();
        for t in &templates {
            for task in t["dag"]["tasks"].as_array().into_iter().flatten() {
                tasks.extend(task["name"].as_str().map(str::to_string));
            }
            for group in t["steps"].as_array().into_iter().flatten() {
                for step in group.as_array().into_iter().flatten() {
                    tasks.extend(step["name"].as_str().map(str::to_string));
                }
            }
        }
        // Pods by task: `C(1)` is an attempt of task C; `(0)` one of the Workflow's own node. A
        // task with a succeeding attempt is flaky, else failing; a Running pod runs on.
        // A `generateName` stands for the name it generates, as in the model.
        let workflow_name = manifest["metadata"]["name"]
            .as_str()
            .or(manifest["metadata"]["generateName"].as_str())
            .unwrap_or_default()
            .trim_end_matches('-')
            .to_string();
        let mut outcomes = Outcomes {
            approved: true,
            ..Outcomes::default()
        };
        let pods = sc.given["pods"].as_object().cloned().unwrap_or_default();
        for (name, pod) in &pods {
            // `sleep (main)`: the pod of step `sleep` in template `main`; one "killed by" a
            // deadline runs on until the model's deadline kills it.
            if let Some((step, template)) = name.split_once(" (") {
                assert!(text(&pod["note"]).contains("killed by"), "{name}: {pod}");
                let key = format!("{}/{step}", template.trim_end_matches(')'));
                outcomes.running.insert(key);
                continue;
            }
            // `C(1)` is attempt 1 of C; `C(1:b)` is the fan-out child of C for item `b`.
            let task = match name.split('(').next().unwrap_or(name) {
                _ if fan_out_child(name) => name.clone(),
                "" => workflow_name.clone(),
                t => t.to_string(),
            };
            // `outputs.parameters.status: SUCCESS`: what the pod writes.
            for (field, value) in pod.as_object().into_iter().flatten() {
                if let Some(key) = field.strip_prefix("outputs.") {
                    let written = outcomes.outputs.entry(task.clone()).or_default();
                    written.insert(key.to_string(), text(value).to_string());
                }
            }
            if let Some(code) = pod["exitCode"].as_i64() {
                outcomes.exit_codes.insert(task.clone(), code);
            }
            match text(&pod["phase"]) {
                "Running" | "Pending" => {
                    outcomes.running.insert(task);
                }
                "Failed" | "Error" => {
                    let passes = pods.iter().any(|(other, p)| {
                        other.split('(').next() == name.split('(').next()
                            && text(&p["phase"]) == "Succeeded"
                    });
                    if passes {
                        *outcomes.flaky.entry(task).or_insert(0) += 1;
                    } else {
                        outcomes.failing.insert(task);
                    }
                }
                _ => {}
            }
        }
        // What people do: resume the suspended steps, or shut the run down once it waits. A
        // suspend nobody resumes waits (for a deadline, or for ever).
        outcomes.approved = sc.events.iter().any(|e| e.contains("resume"));
        for e in &sc.events {
            if e == "pods Pending" {
                outcomes.running.extend(tasks.iter().cloned());
                outcomes.running.insert(workflow_name.clone());
            }
            if let Some(task) = e.strip_suffix(" has a running pod") {
                outcomes.running.insert(task.to_string());
            }
            if e.contains("spec.shutdown: Stop") {
                outcomes.shutdown = Some(Shutdown::Stop);
            } else if e.contains("spec.shutdown: Terminate") {
                outcomes.shutdown = Some(Shutdown::Terminate);
            }
        }
        if sc.given["spec.shutdown"] == "Stop" {
            outcomes.shutdown = Some(Shutdown::Stop);
        }
        Given {
            outcomes,
            tasks,
            workflow_name,
        }
    }

    /// Checks `expected` (a case's `expected`, or one of its moments such as
    /// `after_step_1`) against the run at `moment`: how many values were checked, and those
    /// that disagree.
    fn compare(&self, expected: &Value, moment: &Moment) -> (usize, Vec<String>) {
        let Given {
            tasks,
            workflow_name,
            ..
        } = self;
        let workflow_name = workflow_name.as_str();
        let run = &moment.run;
        let mut wrong = Vec::new();
        let mut checked = 0;
        if let Some(phases) = allowed(&expected["workflow"]) {
            checked += 1;
            if !phases.contains(&run.phase) {
                wrong.push(format!("workflow {phases:?}, model {:?}", run.phase));
            }
        }
        for key in ["message", "message_contains"] {
            if let Some(message) = expected["workflow"][key].as_str() {
                checked += 1;
                if !run.message.contains(message) {
                    wrong.push(format!(
                        "workflow message {message:?}, model {:?}",
                        run.message
                    ));
                }
            }
        }
        // What every node must be.
        let all = &expected["all_nodes"];
        for n in all.is_object().then_some(&run.nodes).into_iter().flatten() {
            checked += 1;
            if let Some(phases) = allowed(all)
                && !phases.contains(&n.phase)
            {
                wrong.push(format!("{}: {phases:?}, model {:?}", n.task, n.phase));
            }
            if !message_matches(&all["message_contains"], &n.message) {
                wrong.push(format!(
                    "{} message {}, model {:?}",
                    n.task, all["message_contains"], n.message
                ));
            }
        }
        for (name, node) in expected["nodes"].as_object().into_iter().flatten() {
            // `*`, `<wf>` and `<workflow name>` stand for the Workflow's name (the name of its
            // entrypoint's node); a step's node is `WORKFLOW[0].step`; `NODE (type Suspend)`
            // names the node's type.
            let name = name
                .replacen('*', workflow_name, 1)
                .replacen("<wf>", workflow_name, 1)
                .replacen("<workflow name>", workflow_name, 1);
            let name = match name.split_once(" (type ") {
                Some((node, _)) => node.to_string(),
                None => name,
            };
            let name = &name
                .strip_prefix(workflow_name)
                .and_then(|r| r.strip_prefix('['))
                .and_then(|r| r.split_once("]."))
                .map_or(name.clone(), |(_, step)| step.to_string());
            // Nodes of tasks and steps, and of their lifecycle hooks and exit handlers.
            let hook = name.ends_with(".onExit") || name.contains(".hooks.");
            let child =
                fan_out_child(name) && tasks.contains(name.split('(').next().unwrap_or_default());
            if !tasks.contains(name) && !hook && !child && *name != workflow_name {
                continue;
            }
            let got = run.nodes.iter().find(|n| &n.task == name);
            for (field, values) in [("inputs", &node["inputs"]), ("outputs", &node["outputs"])] {
                for (parameter, value) in values.as_object().into_iter().flatten() {
                    checked += 1;
                    let found = got.and_then(|n| {
                        let map = if field == "inputs" {
                            &n.inputs
                        } else {
                            &n.outputs
                        };
                        let key = if field == "inputs" {
                            parameter.clone()
                        } else {
                            format!("parameters.{parameter}")
                        };
                        map.get(&key).cloned()
                    });
                    let matches = match value.as_str() {
                        Some("<non-nil value>") => found.is_some(),
                        v => found.as_deref() == v,
                    };
                    if !matches {
                        wrong.push(format!(
                            "{name} {field}.{parameter}: {value}, model {found:?}"
                        ));
                    }
                }
            }
            if !node["message_contains"].is_null() {
                checked += 1;
                if !got.is_some_and(|n| message_matches(&node["message_contains"], &n.message)) {
                    wrong.push(format!(
                        "{name} message {}, model {:?}",
                        node["message_contains"],
                        got.map(|n| &n.message)
                    ));
                }
            }
            if node["created"] == true {
                checked += 1;
                if got.is_none() {
                    wrong.push(format!("{name} must exist"));
                }
            }
            if node["created"] == false {
                checked += 1;
                if let Some(n) = got {
                    wrong.push(format!("{name} must not exist, model {:?}", n.phase));
                }
            } else if let Some(phases) = allowed(node) {
                checked += 1;
                if !got.is_some_and(|n| phases.contains(&n.phase)) {
                    wrong.push(format!(
                        "{name}: {phases:?}, model {:?}",
                        got.map(|n| n.phase)
                    ));
                }
            }
        }
        // What the moment's counts and flags must be.
        let pods = &expected["pods"];
        if let Some(count) = pods.as_u64().or(pods["value"].as_u64()) {
            checked += 1;
            if moment.pods() as u64 != count {
                wrong.push(format!("pods {count}, model {}", moment.pods()));
            }
        }
        let flags = [
            ("workflow_suspended", moment.workflow_suspended),
            ("resume_error", moment.selector_refused),
        ];
        for (key, model) in flags {
            if let Some(want) = expected[key].as_bool() {
                checked += 1;
                if want != model {
                    wrong.push(format!("{key} {want}, model {model}"));
                }
            }
        }
        if let Some(suspend) = expected.get("spec.suspend") {
            checked += 1;
            if (suspend == true) != moment.spec_suspended {
                wrong.push(format!(
                    "spec.suspend {suspend}, model {}",
                    moment.spec_suspended
                ));
            }
        }
        if let Some(pattern) = expected["workflow"]["message_regexp"].as_str() {
            checked += 1;
            if !wildcard_matches(pattern, &run.message) {
                wrong.push(format!(
                    "workflow message /{pattern}/, model {:?}",
                    run.message
                ));
            }
        }
        (checked, wrong)
    }
}

/// Whether `text` matches `pattern` whose only special form is `.*` (all the corpus's
/// `message_regexp`s use): its other pieces appear in order.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let mut rest = text;
    for (i, piece) in pattern.split(".*").enumerate() {
        match rest.find(piece) {
            Some(0) => rest = &rest[piece.len()..],
            Some(at) if i > 0 => rest = &rest[at + piece.len()..],
            _ => return false,
        }
    }
    pattern.ends_with(".*") || rest.is_empty()
}
