//! A Workflow run the way Argo's controller runs it, for a given outcome of its pods: one
//! operation at a time ([`Machine`], which people can act on between operations), or to its
//! end ([`run`]).
//!
//! Upstream: `workflow/controller/dag.go`. Each operation walks the DAG from its target tasks
//! (those no other task depends on) up through their dependencies (`executeDAGTask`); a task
//! whose dependencies have all ended is decided by its `depends` ([`crate::depends`]): false
//! makes its node Omitted, else a false `when` ([`crate::govaluate`], after the tags are
//! substituted) makes it Skipped, else it runs. The DAG's phase comes from its target tasks
//! only (`assessDAGPhase`): an Omitted or Skipped target takes the phase of the last node that
//! ran on its branch, Failed or Error preferred; with `failFast` (the default) the first failed
//! target fails the DAG. The Workflow's exit handler (`spec.onExit`) then runs with
//! `workflow.status` set to the entrypoint's phase, and a failed exit handler fails the
//! Workflow.
//!
//! A steps template (`workflow/controller/steps.go`) runs its step groups in order, the next
//! in the same operation once one has ended well; a failed or errored step without
//! `continueOn` fails it (`child 'ID' failed`) and starts no later group.
//!
//! A pod ends in the operation after its node was created, Succeeded unless the outcome names their task (a retried task's
//! attempts all end alike, so its node ends as its last attempt), or run on until the run is
//! shut down; a `suspend` template waits for a person, who approves or never does. A run that
//! can go no further may be shut down (`spec.shutdown`): what runs fails, nothing new starts,
//! and under `Stop` the exit handler still runs. Parameters pass between templates as
//! `parameters.rs` says (a pod's written outputs come from the outcome); an artifact passed on
//! cannot be resolved unless its producer succeeded (an optional one is left out). Fan-outs
//! (`fanout.rs`), lifecycle hooks, exit hooks, daemons and `spec.activeDeadlineSeconds` are
//! modelled, and so are template timeouts and deadlines of pods that run on; `templateRef` and
//! output parameters of DAGs are not yet: a
//! Workflow using them is refused (`Err`), never guessed at.

mod fanout;
pub mod instance;
mod parameters;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::Phase;
use crate::depends::{self, ContinueOn, TaskState};
use crate::expr::Env;
use parameters::{Outputs, Reference, Substituted};

/// What happens to the pods and the people.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    /// Tasks (by name, in any DAG) whose pod fails.
    pub failing: BTreeSet<String>,
    /// Whether suspended tasks (approvals) are resumed; if not, the run waits.
    pub approved: bool,
    /// Values of the Workflow's parameters, over its defaults.
    pub parameters: BTreeMap<String, String>,
    /// Tasks whose first N attempts fail and the next succeeds (a flaky step): with a
    /// `retryStrategy` that allows as many retries it ends Succeeded ([`crate::retry`]).
    pub flaky: BTreeMap<String, u32>,
    /// Pods (by task or step name, or `TEMPLATE/NAME` for the one in template TEMPLATE) that
    /// run until the run is stopped or its deadline passes.
    pub running: BTreeSet<String>,
    /// Tasks or steps whose `when` is false in the trigger context assumed (a push that runs
    /// on `main` only, on another branch): they are Skipped whatever the parameters say.
    pub skipped: BTreeSet<String>,
    /// Someone shuts the run down (`spec.shutdown`, what `argo stop` / `argo terminate` and
    /// `pipec abort` set) once it can go no further: it waits for an approval never given, or
    /// for a pod in `running`.
    pub shutdown: Option<Shutdown>,
    /// What pods write, by task or step name: `parameters.NAME` or `result` → the value.
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// The exit code of a failing pod's main container, by task or step name.
    pub exit_codes: BTreeMap<String, i64>,
}

/// `spec.shutdown` (`ShutdownStrategy` in `workflow/v1alpha1/workflow_types.go`): both fail
/// what runs and start nothing new; `Stop` still runs the exit handler, `Terminate` does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Stop,
    Terminate,
}

impl Shutdown {
    pub fn name(self) -> &'static str {
        match self {
            Shutdown::Stop => "Stop",
            Shutdown::Terminate => "Terminate",
        }
    }

    /// `ShouldExecute`: whether a node may still start (only an exit handler's, under Stop).
    fn lets_start(self, in_exit_handler: bool) -> bool {
        self == Shutdown::Stop && in_exit_handler
    }
}

/// One node of the run: a DAG task, in the order the nodes were created.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRecord {
    /// The DAG template the task belongs to.
    pub dag: String,
    /// Its display name: the task or step name.
    pub task: String,
    /// Its node name as Argo forms it (`wf.task`, `wf[0].step`, `wf.onExit`): what
    /// [`node_id`] hashes and node field selectors match.
    pub name: String,
    /// The node name of the DAG or steps node it belongs to (`""` for the Workflow's own).
    pub parent: String,
    /// The template it runs (`templateName`).
    pub template: String,
    /// Argo's node type: `Pod`, `Suspend`, `DAG`, `Steps`, `TaskGroup`, `Skipped`.
    pub node_type: &'static str,
    pub phase: Phase,
    /// Why it did not run, or failed.
    pub message: String,
    /// Its template's input parameters, as resolved from its arguments.
    pub inputs: BTreeMap<String, String>,
    /// Its outputs whose values are known (`parameters.NAME`, `result`), once it ended.
    pub outputs: BTreeMap<String, String>,
    /// A daemon's pod that has started (`daemoned: true`): Running, yet fulfilled.
    pub daemoned: bool,
    /// A pod's `activeDeadlineSeconds` as its pod spec gets it (its template's, the inputs'
    /// values in its tags).
    pub active_deadline_seconds: Option<u64>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The Workflow's phase; Running if it waits for ever (an approval never given).
    pub phase: Phase,
    /// The entrypoint's phase: what `workflow.status` is in the exit handler.
    pub status: Phase,
    /// The tasks of the entrypoint and of the exit handler, in creation order.
    pub nodes: Vec<NodeRecord>,
    /// The Workflow's message when it was shut down (`Stopped with strategy 'Stop'`).
    pub message: String,
    /// (DAG template, task) → its index in `nodes`.
    index: BTreeMap<(String, String), usize>,
}

impl Run {
    fn new(phase: Phase, status: Phase, nodes: Vec<NodeRecord>) -> Run {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.dag.clone(), n.task.clone()), i))
            .collect();
        Run {
            phase,
            status,
            nodes,
            message: String::new(),
            index,
        }
    }

    /// Whether a suspend node waits for a person.
    pub fn waits_for_a_person(&self) -> bool {
        a_suspend_waits(&self.nodes)
    }

    /// The node of `task` in the DAG template `dag`, if one was created.
    pub fn node(&self, dag: &str, task: &str) -> Option<&NodeRecord> {
        self.index
            .get(&(dag.to_string(), task.to_string()))
            .and_then(|i| self.nodes.get(*i))
    }
}

/// A task's node while the DAG runs.
#[derive(Clone, Debug)]
struct TaskNode {
    /// Its node name ([`NodeRecord::name`]).
    name: String,
    phase: Phase,
    kind: Kind,
    /// The template it runs.
    template: String,
    inputs: BTreeMap<String, String>,
    outputs: Outputs,
    /// An exit hook's node (`A.onExit`): it runs under `spec.shutdown: Stop`.
    exit_hook: bool,
    /// A daemon's pod that has started: it runs until its DAG or steps node is fulfilled.
    daemoned: bool,
}

impl TaskNode {
    /// `NodeStatus.Fulfilled`: ended, or a daemon that has started (its dependents and its
    /// step group go on while it runs).
    fn fulfilled(&self) -> bool {
        self.phase.ended() || self.daemoned
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Pod,
    Suspend,
    Dag(Box<Dag>),
    /// A steps template: its step groups run one after the other.
    Steps(Box<Dag>),
    /// Omitted, Skipped, or Error before it ran.
    NotRun,
    /// A fan-out's TaskGroup: its children are nodes of the same DAG ([`Dag::expanded`]).
    Group,
}

/// The nodes of a DAG or steps template's run, by task or step name.
#[derive(Clone, Debug)]
struct Dag {
    template: String,
    /// Its own node's name, the prefix of its children's (`""` for the Workflow-level hooks,
    /// whose names are whole already).
    node: String,
    nodes: BTreeMap<String, TaskNode>,
    /// For a steps template: the step group running now.
    group: usize,
    /// The template's input parameters in this run of it.
    inputs: BTreeMap<String, String>,
    /// Why it failed, when the controller says (`failFast`).
    message: Option<String>,
    /// Task or step name → the nodes of its lifecycle hooks that fired (`A.hooks.running`,
    /// `A.onExit`).
    hooks: BTreeMap<String, Vec<String>>,
    /// A fan-out task or step → its children: name, task, item.
    expanded: BTreeMap<String, Vec<Child>>,
}

/// One child of a fan-out.
#[derive(Clone, Debug)]
struct Child {
    name: String,
    task: Value,
    item: Value,
}

impl Dag {
    fn new(template: &str, inputs: BTreeMap<String, String>) -> Dag {
        Dag {
            template: template.to_string(),
            node: String::new(),
            nodes: BTreeMap::new(),
            group: 0,
            inputs,
            message: None,
            hooks: BTreeMap::new(),
            expanded: BTreeMap::new(),
        }
    }

    /// Whether every hook node of task or step `name` has ended (`CheckAllHooksFullfilled`):
    /// its dependents wait until then.
    fn hooks_ended(&self, name: &str) -> bool {
        self.hooks
            .get(name)
            .into_iter()
            .flatten()
            .all(|hook| self.nodes.get(hook).is_none_or(|n| n.phase.ended()))
    }

    /// Whether every hook node of the template has ended.
    fn all_hooks_ended(&self) -> bool {
        self.hooks.keys().all(|name| self.hooks_ended(name))
    }
}

/// What a DAG template's tasks are, worked out once per template and reused by every
/// operation, so a run costs time linear in the DAG's size per operation.
struct DagInfo<'a> {
    tasks: Vec<&'a Value>,
    /// Task name → its position in `tasks`.
    index: BTreeMap<String, usize>,
    /// Task name → its `depends`, expanded and parsed (`None` without one).
    logic: BTreeMap<String, Option<depends::Depends>>,
    /// The target tasks, in declaration order.
    targets: Vec<String>,
    /// Task name → the tasks that name it in their `depends`, in declaration order; `""` →
    /// the root tasks.
    children: BTreeMap<String, Vec<String>>,
}

impl DagInfo<'_> {
    fn continue_on(&self, name: &str) -> ContinueOn {
        let task = self.index.get(name).map(|i| self.tasks[*i]);
        ContinueOn {
            failed: task.is_some_and(|t| t["continueOn"]["failed"] == true),
            error: task.is_some_and(|t| t["continueOn"]["error"] == true),
        }
    }
}

struct Runner<'a> {
    templates: BTreeMap<&'a str, &'a Value>,
    dags: BTreeMap<String, std::rc::Rc<DagInfo<'a>>>,
    /// (DAG template, task) → the index of its node in `records`.
    record_index: BTreeMap<(String, String), usize>,
    /// `spec.retryStrategy`: the default of every template without one of its own.
    retry_default: &'a Value,
    outcomes: &'a Outcomes,
    env: Env,
    records: Vec<NodeRecord>,
    /// The shutdown under way, once the run could go no further.
    stopping: Option<Shutdown>,
    /// Whether the exit handler is running.
    in_exit_handler: bool,
    /// `spec.arguments`, the outcome's parameters over them: what the entrypoint and the exit
    /// handler get.
    arguments: Value,
    /// Why the run failed, when a node's failure sets the Workflow's message.
    failure: Option<String>,
    /// `spec.hooks` but `exit`, by name.
    hooks: Vec<(String, Value)>,
    /// The Workflow-level hook nodes (`NAME.hooks.HOOK`).
    top: Dag,
    /// Whether the entrypoint runs, so each operation looks at the Workflow-level hooks.
    workflow_hooks: bool,
    workflow_name: String,
    /// The item of the fan-out child being decided, for expression tags (`{{=item.x}}`).
    item: Option<Value>,
    /// `spec.activeDeadlineSeconds`.
    deadline: Option<u64>,
    /// Whether it has passed (at once for 0).
    deadline_passed: bool,
    /// Suspend nodes (by node name) a person resumed.
    resumed: BTreeSet<String>,
    /// Suspend nodes (by node name) a person stopped, with the message given.
    stopped_nodes: BTreeMap<String, String>,
}

/// Runs `workflow` (a Workflow or WorkflowTemplate, as JSON) to its end for `outcomes`: the
/// [`Machine`] operates until it can go no further; then, if the outcome shuts the run down
/// or it has an `activeDeadlineSeconds`, that happens (what waits for ever outlasts any
/// deadline) and it operates on.
pub fn run(workflow: &Value, outcomes: &Outcomes) -> Result<Run, String> {
    run_while(workflow, outcomes, |_| true)
}

/// [`run`] up to the end of the entrypoint: what the exit handler would do is left out (the
/// run's phase stays Running), for checks that look only at the entrypoint's nodes.
pub fn run_entrypoint(workflow: &Value, outcomes: &Outcomes) -> Result<Run, String> {
    run_while(workflow, outcomes, |m| matches!(m.stage, Stage::Entry(_)))
}

/// Operates while `go_on` holds and the run can go further (cutting it short where [`run`]
/// says), then hands over its records.
fn run_while(
    workflow: &Value,
    outcomes: &Outcomes,
    go_on: impl Fn(&Machine<'_>) -> bool,
) -> Result<Run, String> {
    let mut machine = Machine::new(workflow, outcomes)?;
    while go_on(&machine) {
        if machine.operate()? {
            continue;
        }
        if machine.ended() || !machine.runner.cut_short() {
            break;
        }
    }
    Ok(machine.into_run())
}

/// A Workflow's run one operation at a time, as Argo's controller reconciles it
/// (`wfOperationCtx.operate` in `workflow/controller/operator.go`): between two operations the
/// run can be looked at ([`Machine::nodes`], [`Machine::phase`]) and acted on as `argo
/// resume`, `argo stop`, `argo suspend` and the passing of time do. What the pods do comes
/// from the [`Outcomes`]; a pod node ends one operation after it was created.
pub struct Machine<'a> {
    runner: Runner<'a>,
    spec: &'a Value,
    stage: Stage,
    /// The entrypoint's phase, once it ended: `workflow.status`.
    status: Phase,
    /// Whether Workflow-level hooks that fired run for ever (the Workflow waits on them).
    hooks_forever: bool,
    /// The exit handler's phase, once it ended.
    handled: Option<Phase>,
    /// The entrypoint's failure, kept while the exit handler runs.
    entry_failure: Option<String>,
    /// `spec.suspend: true` (`argo suspend`).
    suspended: bool,
}

/// Where a run is.
enum Stage {
    /// The entrypoint runs.
    Entry(Body),
    /// The Workflow-level hooks that fired on the entrypoint's outcome run.
    Hooks,
    /// The exit handler runs.
    Exit(Body),
    Ended,
}

/// A template run as a Workflow-level node: the entrypoint, or the exit handler.
struct Body {
    template: String,
    /// Its node's name (`NAME`, `NAME.onExit`).
    node: String,
    /// Its node's index in the records.
    record: usize,
    phase: Phase,
    inputs: BTreeMap<String, String>,
    /// A DAG or steps template's nodes; `None` for a pod or suspend.
    tree: Option<Dag>,
}

impl<'a> Machine<'a> {
    /// The run of `workflow` before its first operation: the entrypoint's node exists, and
    /// the Workflow-level hooks that hold while it runs have fired.
    pub fn new(workflow: &'a Value, outcomes: &'a Outcomes) -> Result<Machine<'a>, String> {
        Machine::in_cluster(workflow, outcomes, None)
    }

    /// [`Machine::new`] in a cluster that holds `workflow_templates` (WorkflowTemplates and
    /// ClusterWorkflowTemplates as JSON) and no others: a `templateRef` to one it lacks fails
    /// the Workflow's validation, as Argo's does. `None`: what the cluster holds is not known,
    /// and a `templateRef` is refused.
    pub fn in_cluster(
        workflow: &'a Value,
        outcomes: &'a Outcomes,
        workflow_templates: Option<&[Value]>,
    ) -> Result<Machine<'a>, String> {
        let (mut runner, workflow_name) = Runner::new(workflow, outcomes)?;
        let spec = &workflow["spec"];
        let entry = spec["entrypoint"].as_str().ok_or("no entrypoint")?;
        if let Err(why) = validate(spec, &runner.templates, workflow_templates) {
            // `operate` fails a new Workflow that does not validate, before any node.
            runner.failure = Some(format!("invalid spec: {why}"));
            return Ok(Machine {
                runner,
                spec,
                stage: Stage::Ended,
                status: Phase::Failed,
                hooks_forever: false,
                handled: None,
                entry_failure: None,
                suspended: false,
            });
        }
        let arguments = runner.arguments.clone();
        let body = runner.begin_body(entry, &workflow_name, &arguments)?;
        // The Workflow is Running once its entry node exists: `running` hooks fire.
        runner.workflow_hooks = true;
        runner.fire_workflow_hooks()?;
        Ok(Machine {
            runner,
            spec,
            stage: Stage::Entry(body),
            status: Phase::Running,
            hooks_forever: false,
            handled: None,
            entry_failure: None,
            suspended: false,
        })
    }

    /// One operation; false if nothing changed (the run waits, or has ended). A suspended
    /// Workflow is not operated on unless it is being shut down (`ShouldSuspend` in
    /// `operate`).
    pub fn operate(&mut self) -> Result<bool, String> {
        if self.suspended && self.runner.stopping.is_none() {
            return Ok(false);
        }
        match std::mem::replace(&mut self.stage, Stage::Ended) {
            Stage::Entry(mut body) => {
                let changed = self.runner.operate_body(&mut body)?;
                if !body.phase.ended() {
                    self.stage = Stage::Entry(body);
                    return Ok(changed);
                }
                self.status = body.phase;
                self.runner.workflow_hooks = false;
                let message = self.runner.failure.clone().unwrap_or_default();
                if let Some(record) = self.runner.records.get_mut(body.record) {
                    record.message = message;
                }
                // The hooks see the Workflow's outcome; the Workflow waits for those that fire.
                self.runner.env.status = Some(self.status.name().to_string());
                self.runner.fire_workflow_hooks()?;
                if self.hooks_ended() {
                    self.end_hooks()?;
                } else {
                    self.stage = Stage::Hooks;
                }
                Ok(true)
            }
            Stage::Hooks => {
                let before = snapshot(&self.runner.top);
                self.runner.fire_workflow_hooks()?;
                if self.hooks_ended() {
                    self.end_hooks()?;
                } else if snapshot(&self.runner.top) == before {
                    // They run for ever: the exit handler still runs, the Workflow waits.
                    self.hooks_forever = true;
                    self.start_exit_handler()?;
                } else {
                    self.stage = Stage::Hooks;
                }
                Ok(true)
            }
            Stage::Exit(mut body) => {
                let changed = self.runner.operate_body(&mut body)?;
                if !body.phase.ended() {
                    self.stage = Stage::Exit(body);
                    return Ok(changed);
                }
                // Why the exit handler failed is its node's message, not the Workflow's.
                let message =
                    std::mem::replace(&mut self.runner.failure, self.entry_failure.take());
                if let Some(record) = self.runner.records.get_mut(body.record) {
                    record.message = message.unwrap_or_default();
                }
                self.handled = Some(body.phase);
                Ok(true)
            }
            Stage::Ended => Ok(false),
        }
    }

    /// The Workflow-level hooks that fired have ended: a failed one is refused (what it does
    /// to the Workflow's phase is not modelled), else the exit handler starts.
    fn end_hooks(&mut self) -> Result<(), String> {
        if self.runner.stopping.is_none()
            && let Some((name, _)) = self
                .runner
                .top
                .nodes
                .iter()
                .find(|(_, n)| n.phase.failed_or_error())
        {
            return Err(format!(
                "the Workflow-level hook `{name}` fails; what that does to the Workflow is not modelled"
            ));
        }
        self.start_exit_handler()
    }

    /// The exit handler's node `NAME.onExit` starts with `workflow.status` known, unless the
    /// run was terminated (`Terminate` runs no exit handler).
    fn start_exit_handler(&mut self) -> Result<(), String> {
        let Some((handler, arguments)) = exit_handler(self.spec) else {
            self.stage = Stage::Ended;
            return Ok(());
        };
        if self.runner.stopping == Some(Shutdown::Terminate) {
            self.stage = Stage::Ended;
            return Ok(());
        }
        self.runner.in_exit_handler = true;
        self.entry_failure = self.runner.failure.take();
        let node = format!("{}.onExit", self.runner.workflow_name);
        let body = self.runner.begin_body(handler, &node, &arguments)?;
        self.stage = Stage::Exit(body);
        Ok(())
    }

    /// Whether the run has ended (it may still be Running: hooks that run for ever).
    pub fn ended(&self) -> bool {
        matches!(self.stage, Stage::Ended)
    }

    /// The Workflow's phase now.
    pub fn phase(&self) -> Phase {
        if !self.ended() || self.hooks_forever {
            return Phase::Running;
        }
        match self.handled {
            Some(handled) if handled.failed_or_error() && !self.status.failed_or_error() => {
                Phase::Failed
            }
            _ => self.status,
        }
    }

    /// The nodes created so far, in creation order (the entrypoint's first).
    pub fn nodes(&self) -> &[NodeRecord] {
        &self.runner.records
    }

    /// `spec.shutdown` set (`argo stop`, `argo terminate`, `pipec abort`): what runs fails,
    /// nothing new starts; under `Stop` the exit handler and exit hooks still run. A second
    /// shutdown changes nothing.
    pub fn shut_down(&mut self, how: Shutdown) {
        self.runner.stopping.get_or_insert(how);
    }

    /// `spec.activeDeadlineSeconds` passes (false if the Workflow has none).
    pub fn pass_deadline(&mut self) -> bool {
        if self.runner.deadline.is_none() {
            return false;
        }
        self.runner.deadline_passed = true;
        true
    }

    /// `argo suspend`: `spec.suspend: true`.
    pub fn suspend(&mut self) {
        self.suspended = true;
    }

    /// Whether `spec.suspend` is set.
    pub fn suspended(&self) -> bool {
        self.suspended
    }

    /// `argo resume` (`util.ApplyResume`): `spec.suspend` is cleared and every suspend node
    /// waiting now is Succeeded (its template and outputs take that in at the next
    /// operation).
    pub fn resume(&mut self) {
        self.suspended = false;
        for record in &mut self.runner.records {
            if record.waits_for_a_person() {
                record.phase = Phase::Succeeded;
                self.runner.resumed.insert(record.name.clone());
            }
        }
    }

    /// `argo resume` or `argo stop` with `--node-field-selector` (`applyNodeSet`,
    /// `updateSuspendedNode` in `workflow/util/util.go`): the waiting suspend nodes the
    /// selector matches ([`NodeSelector`]) are Succeeded (resumed) or Failed with `message`.
    /// `Err` if none matches, as Argo's is (`currently, set only targets suspend nodes`).
    pub fn set_nodes(
        &mut self,
        selector: &str,
        phase: Phase,
        message: &str,
    ) -> Result<usize, String> {
        let selector = NodeSelector::parse(selector)?;
        let workflow_name = self.runner.workflow_name.clone();
        let matched: Vec<String> = self
            .runner
            .records
            .iter()
            .filter(|r| r.waits_for_a_person())
            .filter(|r| selector.matches(r, &workflow_name))
            .map(|r| r.name.clone())
            .collect();
        if matched.is_empty() {
            return Err("currently, set only targets suspend nodes".to_string());
        }
        for record in &mut self.runner.records {
            if matched.contains(&record.name) {
                record.phase = phase;
                record.message = message.to_string();
            }
        }
        for name in &matched {
            if phase == Phase::Succeeded {
                self.runner.resumed.insert(name.clone());
            } else {
                self.runner
                    .stopped_nodes
                    .insert(name.clone(), message.to_string());
            }
        }
        Ok(matched.len())
    }

    /// How the run stands now, as a [`Run`].
    pub fn snapshot(&self) -> Run {
        let mut run = Run::new(self.phase(), self.status, self.runner.records.clone());
        run.message = self.message();
        run
    }

    /// How the run ended (or waits), as a [`Run`]: its records moved, not copied (the
    /// behavioural checks run the model for every outcome class on every compile).
    pub fn into_run(self) -> Run {
        let (phase, message) = (self.phase(), self.message());
        let mut run = Run::new(phase, self.status, self.runner.records);
        run.message = message;
        run
    }

    /// The Workflow's message: the shutdown's, else why it failed.
    fn message(&self) -> String {
        match self.runner.stopping {
            Some(how) => format!("Stopped with strategy '{}'", how.name()),
            None => self
                .runner
                .failure
                .as_ref()
                .or(self.entry_failure.as_ref())
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// `util.IsWorkflowSuspended`: `spec.suspend` is set, or a suspend node waits.
    pub fn workflow_suspended(&self) -> bool {
        self.suspended || a_suspend_waits(&self.runner.records)
    }

    /// Whether every Workflow-level hook that fired has ended.
    fn hooks_ended(&self) -> bool {
        self.runner.top.nodes.values().all(|n| n.phase.ended())
    }
}

/// What Argo's validation refuses in the templates a run reaches from its entrypoint, exit
/// handler and hooks (`validateTemplate` in `workflow/validate/validate.go`, which `operate`
/// runs on a new Workflow): a `timeout` on a template that is not a leaf (`%s template
/// doesn't support timeout field`), a `timeout` that is a whole number, without a unit (`%s
/// has invalid duration format in timeout`), and by the same rule a `pendingTimeout` on a
/// template that is not a leaf (the corpus's `wf-template-timeout` asserts that message). In a
/// cluster whose WorkflowTemplates are known, a `templateRef` to one that is not there
/// (`workflowtemplates.argoproj.io "NAME" not found`, the API server's NotFound) or to a
/// template it does not have (the corpus's `wf-exit-handler-bad-templateref`).
fn validate(
    spec: &Value,
    templates: &BTreeMap<&str, &Value>,
    workflow_templates: Option<&[Value]>,
) -> Result<(), String> {
    let reference = |holder: &Value| -> Result<(), String> {
        let (Some(store), Some(reference)) = (workflow_templates, holder.get("templateRef")) else {
            return Ok(());
        };
        let name = reference["name"].as_str().unwrap_or_default();
        let template = reference["template"].as_str().unwrap_or_default();
        let (kind, plural) = if reference["clusterScope"] == true {
            ("ClusterWorkflowTemplate", "clusterworkflowtemplates")
        } else {
            ("WorkflowTemplate", "workflowtemplates")
        };
        let found = store
            .iter()
            .find(|t| t["kind"] == kind && t["metadata"]["name"] == name)
            .ok_or_else(|| format!("{plural}.argoproj.io \"{name}\" not found"))?;
        let has = found["spec"]["templates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["name"] == template);
        if has {
            Ok(())
        } else {
            Err(format!(
                "template {template} not found in workflow template {name}"
            ))
        }
    };
    let mut queue: Vec<&str> = [&spec["entrypoint"], &spec["onExit"]]
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    let hooks = spec["hooks"].as_object().into_iter().flatten();
    queue.extend(hooks.filter_map(|(_, h)| h["template"].as_str()));
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name) {
            continue;
        }
        let Some(template) = templates.get(name) else {
            continue;
        };
        reference(template).map_err(|e| format!("templates.{name}: {e}"))?;
        let kind = if !template["steps"].is_null() {
            "Steps"
        } else if !template["dag"].is_null() {
            "DAG"
        } else if !template["suspend"].is_null() {
            "Suspend"
        } else {
            ""
        };
        for field in ["timeout", "pendingTimeout"] {
            if !kind.is_empty() && !template[field].is_null() {
                return Err(format!("{kind} template doesn't support {field} field"));
            }
        }
        let timeout = match &template["timeout"] {
            Value::String(s) => s.trim().parse::<i64>().is_ok(),
            Value::Number(_) => true,
            _ => false,
        };
        if timeout {
            return Err(format!("{name} has invalid duration format in timeout"));
        }
        for child in children(template) {
            reference(child).map_err(|e| format!("templates.{name}: {e}"))?;
            queue.extend(child["template"].as_str());
            queue.extend(child["onExit"].as_str());
            let hooks = child["hooks"].as_object().into_iter().flatten();
            queue.extend(hooks.filter_map(|(_, h)| h["template"].as_str()));
        }
    }
    Ok(())
}

fn a_suspend_waits(records: &[NodeRecord]) -> bool {
    records.iter().any(NodeRecord::waits_for_a_person)
}

impl NodeRecord {
    /// A suspend node that has not ended: it waits for `argo resume` (or its duration).
    pub fn waits_for_a_person(&self) -> bool {
        self.node_type == "Suspend" && !self.phase.ended()
    }
}

/// A node field selector (`--node-field-selector`, Kubernetes field-selector syntax:
/// `key=value`, `key==value`, `key!=value`, joined by commas) over the fields
/// `SelectorMatchesNode` in `workflow/util/util.go` gives a node: `displayName`,
/// `templateName`, `phase`, `name`, `id`, `inputs.parameters.NAME.value`. A key no node has
/// is the empty string, so a misspelt key matches no node with `=`.
pub struct NodeSelector {
    terms: Vec<(String, bool, String)>,
}

impl NodeSelector {
    pub fn parse(text: &str) -> Result<NodeSelector, String> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (key, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                ));
            };
            terms.push((key.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(NodeSelector { terms })
    }

    /// Whether node `record` of the Workflow `workflow_name` has every field the selector asks.
    pub fn matches(&self, record: &NodeRecord, workflow_name: &str) -> bool {
        self.terms.iter().all(|(key, equal, value)| {
            let field = match key.as_str() {
                "displayName" => record.task.clone(),
                "templateName" => record.template.clone(),
                "phase" => record.phase.name().to_string(),
                "name" => record.name.clone(),
                "id" => node_id(workflow_name, &record.name),
                other => other
                    .strip_prefix("inputs.parameters.")
                    .and_then(|p| p.strip_suffix(".value"))
                    .and_then(|p| record.inputs.get(p).cloned())
                    .unwrap_or_default(),
            };
            (field == *value) == *equal
        })
    }
}

/// A node's ID from its name (`Workflow.NodeID` in `pkg/apis/workflow/v1alpha1`): the
/// Workflow's own node is the Workflow's name, every other `NAME-FNV32A(node name)`.
pub fn node_id(workflow_name: &str, node_name: &str) -> String {
    if node_name == workflow_name {
        return workflow_name.to_string();
    }
    let mut hash: u32 = 0x811c_9dc5;
    for byte in node_name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{workflow_name}-{hash}")
}

/// Runs only the exit handler, as it runs when the entrypoint ended with `status`: it sees
/// nothing of the entrypoint but `workflow.status`, so this answers for every run that ends
/// so, in time independent of the entrypoint's size. `None` without an exit handler.
pub fn run_exit_handler(
    workflow: &Value,
    status: Phase,
    outcomes: &Outcomes,
) -> Result<Option<Run>, String> {
    let Some((handler, arguments)) = exit_handler(&workflow["spec"]) else {
        return Ok(None);
    };
    let (mut runner, workflow_name) = Runner::new(workflow, outcomes)?;
    runner.env.status = Some(status.name().to_string());
    runner.in_exit_handler = true;
    let node = format!("{workflow_name}.onExit");
    let mut body = runner.begin_body(handler, &node, &arguments)?;
    while runner.operate_body(&mut body)? {}
    let handled = body.phase;
    let phase = if handled.failed_or_error() {
        Phase::Failed
    } else {
        status
    };
    Ok(Some(Run::new(phase, status, runner.records)))
}

/// The Workflow's exit handler: `spec.onExit`, or the `exit` hook of `spec.hooks` with its
/// arguments (`docs/lifecycle-hook.md`: the two are the same node, `NAME.onExit`).
fn exit_handler(spec: &Value) -> Option<(&str, Value)> {
    if let Some(hook) = spec["hooks"]["exit"].as_object() {
        let template = hook.get("template")?.as_str()?;
        return Some((
            template,
            hook.get("arguments").cloned().unwrap_or(Value::Null),
        ));
    }
    spec["onExit"].as_str().map(|t| (t, Value::Null))
}

/// The lifecycle hooks of a DAG task or a step (`hooks`, and `onExit` as the `exit` hook), by
/// name, in name order as Argo's map gives them.
fn task_hooks(task: &Value) -> Vec<(String, Value)> {
    let mut hooks: Vec<(String, Value)> = task["hooks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, hook)| (name.clone(), hook.clone()))
        .collect();
    if let Some(template) = task["onExit"].as_str()
        && !hooks.iter().any(|(name, _)| name == "exit")
    {
        hooks.push((
            "exit".to_string(),
            serde_json::json!({ "template": template }),
        ));
    }
    hooks.sort_by(|a, b| a.0.cmp(&b.0));
    hooks
}

impl<'a> Runner<'a> {
    /// A runner over `workflow`'s templates and parameters, and the Workflow's name (pods that
    /// are the entrypoint or the exit handler themselves are nodes named after it: `NAME`,
    /// `NAME.onExit`, and the outcome names them so).
    fn new(workflow: &'a Value, outcomes: &'a Outcomes) -> Result<(Runner<'a>, String), String> {
        let spec = &workflow["spec"];
        let deadline = match &spec["activeDeadlineSeconds"] {
            Value::Null => None,
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if deadline.is_none() && !spec["activeDeadlineSeconds"].is_null() {
            return Err(format!(
                "spec.activeDeadlineSeconds {} is not modelled",
                spec["activeDeadlineSeconds"]
            ));
        }
        let templates = by_name(&spec["templates"]);
        // The Workflow's parameters in declaration order, the outcome's values over theirs.
        let mut declared: Vec<(String, String)> = spec["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some((
                    p["name"].as_str()?.to_string(),
                    p["value"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect();
        for (name, value) in &outcomes.parameters {
            match declared.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => declared.push((name.clone(), value.clone())),
            }
        }
        let list: Vec<Value> = declared
            .iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let parameters: BTreeMap<String, String> = declared.into_iter().collect();
        // A `generateName` stands for the name it generates (`hello-` for `hello-x7k2p`).
        let workflow_name = workflow["metadata"]["name"]
            .as_str()
            .or(workflow["metadata"]["generateName"].as_str())
            .unwrap_or_default()
            .trim_end_matches('-')
            .to_string();
        let runner = Runner {
            templates,
            dags: BTreeMap::new(),
            record_index: BTreeMap::new(),
            retry_default: &spec["retryStrategy"],
            outcomes,
            env: Env {
                parameters,
                status: None,
                parameters_json: Some(Value::Array(list.clone()).to_string()),
                run: crate::expr::RUN_VARIABLES
                    .iter()
                    .filter_map(|(variable, field)| {
                        let value = workflow["metadata"][field].as_str()?;
                        Some((variable.to_string(), value.to_string()))
                    })
                    .collect(),
            },
            records: Vec::new(),
            // A Workflow submitted with `spec.shutdown` starts shut down.
            stopping: match spec["shutdown"].as_str() {
                Some("Stop") => Some(Shutdown::Stop),
                Some("Terminate") => Some(Shutdown::Terminate),
                _ => None,
            },
            in_exit_handler: false,
            arguments: serde_json::json!({ "parameters": list }),
            failure: None,
            hooks: spec["hooks"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(name, _)| name.as_str() != "exit")
                .map(|(name, hook)| (name.clone(), hook.clone()))
                .collect(),
            top: Dag::new("", BTreeMap::new()),
            workflow_hooks: false,
            workflow_name: workflow_name.clone(),
            item: None,
            deadline,
            deadline_passed: deadline == Some(0),
            resumed: BTreeSet::new(),
            stopped_nodes: BTreeMap::new(),
        };
        Ok((runner, workflow_name))
    }
}

impl<'a> Runner<'a> {
    fn template(&self, name: &str) -> Result<&'a Value, String> {
        self.templates
            .get(name)
            .copied()
            .ok_or_else(|| format!("no template `{name}`"))
    }

    /// Starts a template as the Workflow-level node `node` (the entrypoint or the exit
    /// handler): its node is created, Error if its inputs cannot be resolved.
    fn begin_body(&mut self, name: &str, node: &str, arguments: &Value) -> Result<Body, String> {
        let template = self.template(name)?;
        check_modelled(name, template)?;
        let root = Dag::new(name, BTreeMap::new());
        let own = |t: &str, so_far: &BTreeMap<String, String>| {
            self.substitute(t, &Dag::new(name, so_far.clone()))
        };
        let resolved =
            parameters::inputs(template, arguments, &|t| self.substitute(t, &root), &own)?;
        let (phase, inputs) = match resolved {
            Ok(inputs) => (Phase::Running, inputs),
            Err(why) => {
                self.failure = Some(why);
                (Phase::Error, BTreeMap::new())
            }
        };
        let steps = !template["steps"].is_null();
        let tree = (steps || !template["dag"].is_null()).then(|| {
            let mut dag = Dag::new(name, inputs.clone());
            dag.node = node.to_string();
            dag
        });
        let node_type = match &tree {
            Some(_) if steps => "Steps",
            Some(_) => "DAG",
            None if template["suspend"].is_null() => "Pod",
            None => "Suspend",
        };
        let record = self.records.len();
        self.record_index
            .insert((String::new(), node.to_string()), record);
        self.records.push(NodeRecord {
            dag: String::new(),
            task: node.to_string(),
            name: node.to_string(),
            parent: String::new(),
            template: name.to_string(),
            node_type,
            phase,
            message: String::new(),
            inputs: inputs.clone(),
            outputs: BTreeMap::new(),
            daemoned: false,
            active_deadline_seconds: tree
                .is_none()
                .then(|| active_deadline(template, &inputs))
                .flatten(),
        });
        Ok(Body {
            template: name.to_string(),
            node: node.to_string(),
            record,
            phase,
            inputs,
            tree,
        })
    }

    /// One operation of a Workflow-level node; false if nothing changed. A pod or suspend
    /// takes its outcome (failed if the run is shut down or past its deadline); a DAG or
    /// steps template operates once, and once it has ended its pods still running run to
    /// their end.
    fn operate_body(&mut self, body: &mut Body) -> Result<bool, String> {
        if body.phase.ended() {
            return Ok(false);
        }
        let phase = match body.tree.as_mut() {
            None => {
                let template = self.template(&body.template)?;
                let pod = template["suspend"].is_null();
                if let Some(why) = self.refusal(pod) {
                    self.failure = Some(why);
                    Phase::Failed
                } else {
                    let node = &body.node;
                    let phase = self.leaf_phase("", node, node, template, &body.inputs);
                    if let Some(why) = self.leaf_message(node, node, template, phase) {
                        self.failure = Some(why);
                    }
                    phase
                }
            }
            Some(dag) => {
                let before = self.records.len();
                let phases = snapshot(dag);
                let steps = self.node_prefix(dag) == "steps.";
                let phase = if steps {
                    self.operate_steps(dag)?
                } else {
                    self.operate(dag)?
                };
                if self.workflow_hooks {
                    self.fire_workflow_hooks()?;
                }
                if phase.ended() {
                    self.kill_daemons(dag);
                    self.finish_pods(dag)?;
                    if let Some(why) = dag.message.take() {
                        self.failure.get_or_insert(why);
                    }
                } else if self.records.len() == before && snapshot(dag) == phases {
                    return Ok(false);
                }
                if !phase.ended() {
                    return Ok(true);
                }
                phase
            }
        };
        if phase == Phase::Running {
            return Ok(false);
        }
        body.phase = phase;
        if let Some(record) = self.records.get_mut(body.record) {
            record.phase = phase;
        }
        Ok(true)
    }

    /// The phase a pod or suspend of this template ends in, for a task named `task`.
    fn leaf_phase(
        &self,
        dag: &str,
        task: &str,
        node: &str,
        template: &Value,
        inputs: &BTreeMap<String, String>,
    ) -> Phase {
        if !template["suspend"].is_null() {
            if self.stopped_nodes.contains_key(node) {
                return Phase::Failed;
            }
            let timed = !template["suspend"]["duration"].is_null();
            return if timed || self.outcomes.approved || self.resumed.contains(node) {
                Phase::Succeeded
            } else {
                Phase::Running
            };
        }
        if self.outcomes.running.contains(task)
            || self.outcomes.running.contains(&format!("{dag}/{task}"))
        {
            // A pod that runs on is failed by its template's `timeout`, `pendingTimeout` or
            // `activeDeadlineSeconds` when that passes (the corpus's `template-timeout`,
            // `template-active-deadline-parameter`); otherwise it runs.
            let limited = !template["timeout"].is_null()
                || !template["pendingTimeout"].is_null()
                || active_deadline(template, inputs).is_some();
            return if limited {
                Phase::Failed
            } else {
                Phase::Running
            };
        }
        let failures = if self.outcomes.failing.contains(task) {
            u32::MAX
        } else {
            self.outcomes.flaky.get(task).copied().unwrap_or(0)
        };
        let strategy = if template["retryStrategy"].is_null() {
            self.retry_default
        } else {
            &template["retryStrategy"]
        };
        // A limit from a parameter (`limit: "{{inputs.parameters.limit}}"`) is the input's value.
        let mut strategy = strategy.clone();
        if strategy["limit"].is_string() {
            strategy["limit"] =
                input_value(&strategy["limit"], inputs).map_or(Value::Null, Value::String);
        }
        attempts_phase(&strategy, failures)
    }

    /// The message of a pod node of `template` for task `task` that ended in `phase`, where
    /// the controller sets one: `No more retries left` when a retry node used up its
    /// attempts (`processNodeRetries`; the corpus's `wf-retry-limit-zero`).
    fn leaf_message(
        &self,
        task: &str,
        node: &str,
        template: &Value,
        phase: Phase,
    ) -> Option<String> {
        if let Some(message) = self.stopped_nodes.get(node) {
            return Some(message.clone());
        }
        // A pod that outlives its own `activeDeadlineSeconds` is killed by the kubelet.
        let runs_on = self.outcomes.running.contains(task);
        if phase == Phase::Failed && runs_on && !template["activeDeadlineSeconds"].is_null() {
            return Some(
                "Pod was active on the node longer than the specified deadline".to_string(),
            );
        }
        let strategy = if template["retryStrategy"].is_null() {
            self.retry_default
        } else {
            &template["retryStrategy"]
        };
        let policy = strategy["retryPolicy"].as_str().unwrap_or_default();
        let retried = strategy.is_object()
            && crate::retry::retries(policy, &crate::retry::Attempt::of(Phase::Failed));
        if phase == Phase::Failed && retried && self.outcomes.failing.contains(task) {
            return Some("No more retries left".to_string());
        }
        // A container that exits non-zero: the pod's message (`inferFailedReason`).
        let code = self.outcomes.exit_codes.get(task).filter(|c| **c != 0)?;
        (phase == Phase::Failed).then(|| format!("Error (exit code {code})"))
    }

    /// A template's own `failFast: true` (`checkParallelism` in `workflow/controller/
    /// operator.go`, the corpus's `wf-dag-parallelism-failfast` and
    /// `wf-steps-parallelism-failfast`): once a child failed or erred nothing new starts; the
    /// children still running run to their end, and then the node fails with `template has
    /// failed or errored children and failFast enabled`. `None` while it does not apply.
    fn template_fail_fast(&mut self, dag: &mut Dag) -> Result<Option<Phase>, String> {
        let template = self.template(&dag.template)?;
        if template["failFast"] != true {
            return Ok(None);
        }
        // The pods' phases are taken in before the template is looked at.
        let running: Vec<String> = dag
            .nodes
            .iter()
            .filter(|(_, n)| !n.phase.ended() && matches!(n.kind, Kind::Pod))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &running {
            let template_name = self.child_template(dag, name)?;
            self.advance(dag, name, &template_name)?;
        }
        if !dag.nodes.values().any(|n| n.phase.failed_or_error()) {
            return Ok(None);
        }
        // A fan-out whose remaining children will not start is not waited for.
        let waiting = |n: &TaskNode| !n.fulfilled() && !matches!(n.kind, Kind::Group);
        if dag.nodes.values().any(waiting) {
            return Ok(Some(Phase::Running));
        }
        let unfinished: Vec<String> = dag
            .nodes
            .iter()
            .filter(|(_, n)| !n.phase.ended())
            .map(|(name, _)| name.clone())
            .collect();
        for name in unfinished {
            self.set_phase(dag, &name, Phase::Failed, "");
        }
        dag.message =
            Some("template has failed or errored children and failFast enabled".to_string());
        Ok(Some(Phase::Failed))
    }

    /// The template a task or step of `dag` named `name` runs.
    fn child_template(&self, dag: &Dag, name: &str) -> Result<String, String> {
        if let Some(node) = dag.nodes.get(name)
            && !node.template.is_empty()
        {
            return Ok(node.template.clone());
        }
        let template = self.template(&dag.template)?;
        Ok(children(template)
            .find(|t| t["name"] == name)
            .and_then(|t| t["template"].as_str())
            .unwrap_or(name)
            .to_string())
    }

    /// The tasks of DAG template `name`, worked out on first use.
    fn dag_info(&mut self, name: &str) -> Result<std::rc::Rc<DagInfo<'a>>, String> {
        if let Some(info) = self.dags.get(name) {
            return Ok(info.clone());
        }
        let template = self.template(name)?;
        let tasks: Vec<&'a Value> = template["dag"]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let mut index = BTreeMap::new();
        for (i, task) in tasks.iter().enumerate() {
            let task_name = task["name"].as_str().ok_or("a task without a name")?;
            index.insert(task_name.to_string(), i);
        }
        let mut info = DagInfo {
            tasks,
            index,
            logic: BTreeMap::new(),
            targets: Vec::new(),
            children: BTreeMap::new(),
        };
        let mut logic = BTreeMap::new();
        for task in &info.tasks {
            let task_name = task["name"].as_str().unwrap_or_default();
            for unsupported in UNMODELLED_TASK_FIELDS {
                if !task[unsupported].is_null() {
                    return Err(format!(
                        "task `{task_name}`: `{unsupported}` is not modelled"
                    ));
                }
            }
            let raw = match (task["depends"].as_str(), task["dependencies"].as_array()) {
                (Some(d), _) => d.to_string(),
                (None, Some(list)) => depends::from_dependencies(
                    &list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect::<Vec<_>>(),
                ),
                (None, None) => String::new(),
            };
            if let Some(t) = task["template"].as_str() {
                check_modelled(t, self.template(t)?)?;
            }
            if !raw.is_empty() {
                depends::validate(&raw)?;
            }
            let parsed = if raw.is_empty() {
                None
            } else {
                Some(depends::Depends::parse(&depends::expand(&raw, &|n| {
                    info.continue_on(n)
                }))?)
            };
            logic.insert(task_name.to_string(), parsed);
        }
        info.logic = logic;
        let depended: BTreeSet<&str> = info
            .logic
            .values()
            .flatten()
            .flat_map(|d| d.tasks().iter().map(String::as_str))
            .collect();
        let explicit: Option<Vec<&str>> = template["dag"]["target"]
            .as_str()
            .map(|t| t.split(' ').collect());
        // Declaration order, as Argo lists targets in the order of the tasks.
        let mut targets = Vec::new();
        let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for task in &info.tasks {
            let task_name = task["name"].as_str().unwrap_or_default().to_string();
            let is_target = match &explicit {
                Some(list) => list.contains(&task_name.as_str()),
                None => !depended.contains(task_name.as_str()),
            };
            if is_target {
                targets.push(task_name.clone());
            }
            let deps: Vec<String> = info
                .logic
                .get(&task_name)
                .and_then(Option::as_ref)
                .map(|d| d.tasks().to_vec())
                .unwrap_or_default();
            if deps.is_empty() {
                children
                    .entry(String::new())
                    .or_default()
                    .push(task_name.clone());
            }
            for dep in deps {
                children.entry(dep).or_default().push(task_name.clone());
            }
        }
        info.targets = targets;
        info.children = children;
        let info = std::rc::Rc::new(info);
        self.dags.insert(name.to_string(), info.clone());
        Ok(info)
    }

    /// One operation of a DAG (`executeDAG`): returns its phase.
    fn operate(&mut self, dag: &mut Dag) -> Result<Phase, String> {
        if let Some(phase) = self.template_fail_fast(dag)? {
            return Ok(phase);
        }
        let info = self.dag_info(&dag.template)?;
        let template = self.template(&dag.template)?;
        // By task index: one operation looks at every task once, without allocating.
        let mut visited = vec![false; info.tasks.len()];
        for target in &info.targets {
            self.execute_task(dag, &info, target, &mut visited)?;
        }
        Ok(assess(dag, template, &info))
    }

    /// `executeDAGTask`: decides or advances `name`, after its dependencies.
    fn execute_task(
        &mut self,
        dag: &mut Dag,
        info: &DagInfo<'a>,
        name: &str,
        visited: &mut [bool],
    ) -> Result<(), String> {
        let index = *info
            .index
            .get(name)
            .ok_or_else(|| format!("no task `{name}`"))?;
        if std::mem::replace(&mut visited[index], true) {
            return Ok(());
        }
        let task = info.tasks[index];
        let template_name = task["template"].as_str().unwrap_or(name);
        if dag.nodes.contains_key(name) {
            return self.advance_with_hooks(dag, name, template_name, task);
        }
        if let Some(parsed) = info.logic.get(name).and_then(Option::as_ref) {
            for dep in parsed.tasks() {
                self.execute_task(dag, info, dep, visited)?;
            }
            // A task whose hooks still run is not done (`CheckAllHooksFullfilled`); a
            // fan-out shows its children's phases (`.AnySucceeded`, `.AllFailed`).
            let state = |t: &str| {
                let node = dag.nodes.get(t)?;
                let phase = if dag.hooks_ended(t) {
                    node.phase
                } else {
                    Phase::Running
                };
                let mut state = TaskState::of(phase);
                state.daemoned = node.daemoned;
                if let Some(children) = dag.expanded.get(t) {
                    state.children = Some(
                        children
                            .iter()
                            .map(|c| dag.nodes.get(&c.name).map(|n| n.phase))
                            .collect(),
                    );
                }
                Some(state)
            };
            let decision = parsed.decide(&state);
            if !decision.proceed {
                return Ok(());
            }
            if !decision.execute {
                let omitted = "omitted: depends condition not met";
                self.not_run(dag, name, template_name, Phase::Omitted, omitted)?;
                return Ok(());
            }
        }
        self.decide_and_start(dag, name, template_name, task)
    }

    /// A task or step whose turn has come: Skipped by a false `when`, Error if its `when`,
    /// artifacts or arguments cannot be resolved, else started.
    fn decide_and_start(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        task: &Value,
    ) -> Result<(), String> {
        if fanout::expands(task) {
            return self.start_fan_out(dag, name, template_name, task);
        }
        if let Some(when) = task["when"].as_str() {
            match self.when_holds(name, when, dag)? {
                Ok(None) => {}
                Ok(Some(text)) => {
                    // `executeDAGTask`, `executeStepGroup`: the message quotes the `when`
                    // as substituted.
                    let skipped = format!("when '{text}' evaluated false");
                    return self.not_run(dag, name, template_name, Phase::Skipped, &skipped);
                }
                Err(e) => {
                    self.create(dag, name, template_name, Phase::Error, Kind::NotRun, &e);
                    return Ok(());
                }
            }
        }
        // An input artifact from another task's or step's output: Argo cannot resolve it
        // unless that node ran and succeeded, and the node errs (`resolveDependencyReferences`).
        for artifact in task["arguments"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let from = artifact["from"].as_str().unwrap_or_default();
            let producer = from
                .strip_prefix("{{tasks.")
                .or_else(|| from.strip_prefix("{{steps."))
                .and_then(|r| r.split_once(".outputs."))
                .map(|(t, _)| t);
            // An optional one is left out (`resolveDependencyReferences`: `Optional
            // artifact ... was not found; it won't be available as an input`).
            if let Some(producer) = producer
                && dag.nodes.get(producer).map(|n| n.phase) != Some(Phase::Succeeded)
                && artifact["optional"] != true
            {
                let message = format!("unable to resolve {from}");
                self.create(
                    dag,
                    name,
                    template_name,
                    Phase::Error,
                    Kind::NotRun,
                    &message,
                );
                return Ok(());
            }
        }
        self.start(dag, name, template_name, &task["arguments"])
    }

    /// A fan-out task or step whose turn has come ([`fanout`]): its items, then its children,
    /// each decided as a task of its own.
    fn start_fan_out(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        task: &Value,
    ) -> Result<(), String> {
        let items = match fanout::items(task, &|t| self.substitute(t, dag))? {
            Ok(items) => items,
            Err(why) => {
                self.create(dag, name, template_name, Phase::Error, Kind::NotRun, &why);
                return Ok(());
            }
        };
        if items.is_empty() {
            let skipped = "Skipped, empty params";
            return self.not_run(dag, name, template_name, Phase::Skipped, skipped);
        }
        let mut children = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let child = fanout::child_name(name, i, &item)?;
            let task = fanout::child_task(task, &item, &child);
            children.push(Child {
                name: child,
                task,
                item,
            });
        }
        self.create(dag, name, template_name, Phase::Running, Kind::Group, "");
        dag.expanded.insert(name.to_string(), children);
        self.advance_group(dag, name)
    }

    /// One operation of a fan-out: its children not yet created start (as parallelism
    /// allows), the others advance; once all have ended the group takes its phase.
    fn advance_group(&mut self, dag: &mut Dag, name: &str) -> Result<(), String> {
        let Some(template_name) = self.child_template_of_group(dag, name) else {
            return Ok(());
        };
        let children = dag.expanded.get(name).cloned().unwrap_or_default();
        for child in &children {
            if dag.nodes.contains_key(&child.name) {
                self.advance_with_hooks(dag, &child.name, &template_name, &child.task)?;
            } else {
                self.item = Some(child.item.clone());
                let started = self.decide_and_start(dag, &child.name, &template_name, &child.task);
                self.item = None;
                started?;
            }
        }
        let phases: Vec<Option<Phase>> = children
            .iter()
            .map(|c| dag.nodes.get(&c.name).map(|n| n.phase))
            .collect();
        if phases.iter().all(|p| p.is_some_and(Phase::ended)) {
            let phase = phases
                .iter()
                .flatten()
                .rev()
                .find(|p| p.failed_or_error())
                .copied()
                .unwrap_or(Phase::Succeeded);
            self.set_phase(dag, name, phase, "");
        }
        Ok(())
    }

    /// The template a fan-out's children run.
    fn child_template_of_group(&self, dag: &Dag, name: &str) -> Option<String> {
        dag.expanded
            .get(name)
            .and_then(|c| c.first())
            .map(|c| c.task["template"].as_str().unwrap_or(name).to_string())
    }

    /// Whether a new node may start in `dag` now: its template's `parallelism` leaves room,
    /// and under the template's own `failFast` no node has failed (`checkParallelism`).
    fn may_start(&self, dag: &Dag) -> Result<bool, String> {
        let template = self.template(&dag.template)?;
        if template["failFast"] == true && dag.nodes.values().any(|n| n.phase.failed_or_error()) {
            return Ok(false);
        }
        let Some(limit) = template["parallelism"].as_u64() else {
            return Ok(true);
        };
        let running = dag
            .nodes
            .values()
            .filter(|n| !n.phase.ended() && !matches!(n.kind, Kind::Group))
            .count();
        Ok((running as u64) < limit)
    }

    /// Records task or step `name` as not run (Skipped or Omitted): its outputs are only
    /// its template's defaults.
    fn not_run(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        phase: Phase,
        message: &str,
    ) -> Result<(), String> {
        let outputs = parameters::absent_outputs(self.template(template_name)?);
        self.create(dag, name, template_name, phase, Kind::NotRun, message);
        if let Some(node) = dag.nodes.get_mut(name) {
            node.outputs = outputs;
        }
        Ok(())
    }

    /// Creates the node of task or step `name` running `template_name` with `arguments`
    /// (`executeTemplate`): Running, Error if its inputs cannot be resolved, or Failed at once
    /// while the run is shut down.
    fn start(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        arguments: &Value,
    ) -> Result<(), String> {
        self.start_node(dag, name, template_name, arguments, false)
    }

    /// [`Runner::start`]; `hook`: the node of a lifecycle hook, whose arguments keep a tag
    /// Argo cannot resolve as it is (`resolveExitTmplArgument` replaces with unresolved tags
    /// allowed).
    fn start_node(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        arguments: &Value,
        hook: bool,
    ) -> Result<(), String> {
        if !hook && !dag.template.is_empty() && !self.may_start(dag)? {
            return Ok(());
        }
        let template = self.template(template_name)?;
        let substitute = |t: &str| match self.substitute(t, dag)? {
            Substituted::Unresolvable(_) if hook => {
                parameters::keep_unresolved(t, &|tag| self.lookup(tag, dag), &|e| {
                    self.expr_scope(dag, e)
                })
            }
            other => Ok(other),
        };
        let own = |t: &str, so_far: &BTreeMap<String, String>| {
            self.substitute(t, &Dag::new(template_name, so_far.clone()))
        };
        let inputs = match parameters::inputs(template, arguments, &substitute, &own)? {
            Ok(inputs) => inputs,
            Err(why) => {
                self.create(dag, name, template_name, Phase::Error, Kind::NotRun, &why);
                return Ok(());
            }
        };
        let node_name = self.node_name(dag, name);
        let body = || {
            let mut body = Dag::new(template_name, inputs.clone());
            body.node = node_name.clone();
            Box::new(body)
        };
        let kind = if !template["dag"].is_null() {
            Kind::Dag(body())
        } else if !template["steps"].is_null() {
            Kind::Steps(body())
        } else if !template["suspend"].is_null() {
            Kind::Suspend
        } else {
            Kind::Pod
        };
        if let Some(message) = self.refusal(false) {
            self.create(
                dag,
                name,
                template_name,
                Phase::Failed,
                Kind::NotRun,
                &message,
            );
            return Ok(());
        }
        self.create(dag, name, template_name, Phase::Running, kind, "");
        if let Some(node) = dag.nodes.get_mut(name) {
            node.inputs = inputs.clone();
            node.template = template_name.to_string();
        }
        if let Some(record) = self.records.last_mut() {
            record.active_deadline_seconds = active_deadline(template, &inputs);
            record.inputs = inputs;
        }
        Ok(())
    }

    /// One step forward for the running node `name`: a pod or suspend takes its outcome (or
    /// fails, if the run is shut down), a DAG or steps template runs one operation.
    fn advance(&mut self, dag: &mut Dag, name: &str, template_name: &str) -> Result<(), String> {
        // A started daemon runs until its DAG or steps node is fulfilled; a shutdown does not
        // fail it (`killDaemonedChildren` stops it then, and it ends Succeeded). Looked at
        // before the node is copied: most nodes an operation visits have ended.
        match dag.nodes.get(name) {
            Some(node) if !node.phase.ended() && !node.daemoned => {}
            _ => return Ok(()),
        }
        let Some(node) = dag.nodes.get(name).cloned() else {
            return Ok(());
        };
        if node.exit_hook && !self.in_exit_handler {
            // An exit hook's node runs as an exit handler does (`onExitTemplate`).
            self.in_exit_handler = true;
            let advanced = self.advance(dag, name, template_name);
            self.in_exit_handler = false;
            return advanced;
        }
        let refused = self.refusal(matches!(node.kind, Kind::Pod));
        let steps = matches!(node.kind, Kind::Steps(_));
        let (phase, message) = match node.kind {
            Kind::Pod | Kind::Suspend => match refused {
                Some(why) => (Phase::Failed, why),
                None => {
                    let template = self.template(template_name)?;
                    let phase =
                        self.leaf_phase(&dag.template, name, &node.name, template, &node.inputs);
                    return self.end_leaf(dag, name, template, phase);
                }
            },
            Kind::Dag(mut inner) | Kind::Steps(mut inner) => {
                let phase = if steps {
                    self.operate_steps(&mut inner)?
                } else {
                    self.operate(&mut inner)?
                };
                if phase.ended() {
                    self.kill_daemons(&mut inner);
                }
                let message = inner.message.clone().unwrap_or_default();
                if let Some(n) = dag.nodes.get_mut(name) {
                    n.kind = if steps {
                        Kind::Steps(inner)
                    } else {
                        Kind::Dag(inner)
                    };
                }
                (phase, message)
            }
            Kind::NotRun => (node.phase, String::new()),
            Kind::Group => return self.advance_group(dag, name),
        };
        self.set_phase(dag, name, phase, &message);
        Ok(())
    }

    /// A pod or suspend of `template` reaching `phase`: on success its outputs are worked
    /// out, and a `supplied` output without a value fails it.
    fn end_leaf(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template: &Value,
        phase: Phase,
    ) -> Result<(), String> {
        // A daemon's pod that runs is daemoned: Running, and fulfilled (`daemon: true`).
        if phase == Phase::Succeeded && template["daemon"] == true {
            if let Some(node) = dag.nodes.get_mut(name) {
                node.daemoned = true;
            }
            if let Some(record) = self.record_mut(dag, name) {
                record.daemoned = true;
            }
            return Ok(());
        }
        if phase != Phase::Succeeded {
            let node = dag
                .nodes
                .get(name)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let message = self
                .leaf_message(name, &node, template, phase)
                .unwrap_or_default();
            self.set_phase(dag, name, phase, &message);
            return Ok(());
        }
        let inputs = dag
            .nodes
            .get(name)
            .map(|n| n.inputs.clone())
            .unwrap_or_default();
        match parameters::succeeded_outputs(template, &inputs, self.outcomes.outputs.get(name)) {
            Ok(outputs) => {
                let known: BTreeMap<String, String> = outputs
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                    .collect();
                if let Some(node) = dag.nodes.get_mut(name) {
                    node.outputs = outputs;
                }
                if let Some(record) = self.record_mut(dag, name) {
                    record.outputs = known;
                }
                self.set_phase(dag, name, phase, "");
            }
            Err(why) => {
                self.set_phase(dag, name, Phase::Failed, &why);
                self.failure.get_or_insert(why);
            }
        }
        Ok(())
    }

    /// `text` with its tags replaced in the scope of `dag`: the Workflow's variables, the
    /// template's inputs, and the nodes of its tasks or steps.
    fn substitute(&self, text: &str, dag: &Dag) -> Result<Substituted, String> {
        parameters::substitute(text, &|tag| self.lookup(tag, dag), &|e| {
            self.expr_scope(dag, e)
        })
    }

    /// `tasks.` in a DAG template, `steps.` in a steps template.
    fn node_prefix(&self, dag: &Dag) -> &'static str {
        let steps = self
            .templates
            .get(dag.template.as_str())
            .is_some_and(|t| !t["steps"].is_null());
        if steps { "steps." } else { "tasks." }
    }

    /// A variable only a run has (upstream `docs/variables.md`: `workflow.name`, `.uid`,
    /// `.namespace`, `.creationTimestamp`, and `.creationTimestamp.<STRFTIMECHAR>` for the
    /// fields `Y m d H M S`): its value when the Workflow's metadata has it (a stored run),
    /// else a value the model does not know ([`parameters::unknown`]). `None`: not one.
    fn run_variable(&self, tag: &str) -> Option<String> {
        let name = tag.strip_prefix("workflow.")?;
        let (variable, field) = match name.split_once('.') {
            Some(("creationTimestamp", field)) => ("creationTimestamp", Some(field)),
            Some(_) => return None,
            None => (name, None),
        };
        if !crate::expr::RUN_VARIABLES
            .iter()
            .any(|(v, _)| *v == variable)
        {
            return None;
        }
        let known = self.env.run.get(variable);
        let value = match field {
            None => known.cloned(),
            Some(field) => {
                let index = ["Y", "m", "d", "H", "M", "S"]
                    .iter()
                    .position(|f| *f == field)?;
                known.and_then(|time| {
                    time.split(|c: char| !c.is_ascii_digit())
                        .filter(|p| !p.is_empty())
                        .nth(index)
                        .map(str::to_string)
                })
            }
        };
        Some(value.unwrap_or_else(|| parameters::unknown(tag)))
    }

    /// What a plain tag stands for in the scope of `dag`; `None`: a tag the model does not
    /// know.
    fn lookup(&self, tag: &str, dag: &Dag) -> Option<Reference> {
        let prefix = self.node_prefix(dag);
        if tag == "workflow.status" {
            return self.env.status.clone().map(Reference::Value);
        }
        if let Some(value) = self.run_variable(tag) {
            return Some(Reference::Value(value));
        }
        if let Some(name) = tag.strip_prefix("workflow.parameters.") {
            return Some(match self.env.parameters.get(name) {
                Some(v) => Reference::Value(v.clone()),
                None => Reference::Unresolvable,
            });
        }
        if let Some(name) = tag.strip_prefix("inputs.parameters.") {
            return Some(match dag.inputs.get(name) {
                Some(v) => Reference::Value(v.clone()),
                None => Reference::Unresolvable,
            });
        }
        // Task and step names have no `.` (`workflowFieldNameFmt`, `[a-zA-Z0-9][-a-zA-Z0-9]*`).
        let (task, field) = tag.strip_prefix(prefix)?.split_once('.')?;
        let node = dag.nodes.get(task)?;
        if field == "status" {
            return Some(Reference::Value(node.phase.name().to_string()));
        }
        let key = field.strip_prefix("outputs.")?;
        Some(parameters::output_reference(node.phase, &node.outputs, key))
    }

    /// The scope `expression` reads in `dag`. The nodes go in only when it names them, so a
    /// `{{=workflow.parameters…}}` tag costs the same in a DAG of any size.
    fn expr_scope(&self, dag: &Dag, expression: &str) -> Value {
        let prefix = self.node_prefix(dag).trim_end_matches('.');
        // Only an expression that names the nodes gets them: building them for every
        // expression would cost the size of the DAG per task.
        let names_nodes = expression.contains(prefix);
        let nodes = names_nodes
            .then_some(&dag.nodes)
            .into_iter()
            .flatten()
            .map(|(n, node)| (n.as_str(), node.phase, &node.outputs));
        let mut scope = parameters::scope(self.env.scope(), &dag.inputs, prefix, nodes);
        if let Some(item) = &self.item {
            scope["item"] = item.clone();
        }
        scope
    }

    /// One operation's look at the lifecycle hooks of task or step `name` of `dag`
    /// (`executeTmplLifeCycleHook`, `runOnExitNode` in `workflow/controller/hooks.go` and
    /// `exit_handler.go`): a hook whose `expression` holds over the node's status fires once,
    /// as node `NAME.hooks.HOOK`; once the node has completed (Succeeded, Failed or Error: a
    /// Skipped or Omitted node has no exit hook) and its other hooks have ended, its `exit`
    /// hook (or `onExit`) runs as `NAME.onExit`, under `Stop` too. Its dependents wait for
    /// all of them ([`Dag::hooks_ended`]).
    fn fire_task_hooks(&mut self, dag: &mut Dag, name: &str, task: &Value) -> Result<(), String> {
        let hooks = task_hooks(task);
        let Some(phase) = dag.nodes.get(name).map(|n| n.phase) else {
            return Ok(());
        };
        for (hook_name, hook) in hooks {
            let exit = hook_name == "exit";
            let node_name = if exit {
                format!("{name}.onExit")
            } else {
                format!("{name}.hooks.{hook_name}")
            };
            if dag.nodes.contains_key(&node_name) {
                continue;
            }
            let template = hook["template"]
                .as_str()
                .ok_or_else(|| format!("hook `{node_name}` has no template"))?;
            if exit {
                let others_ended = dag.hooks_ended(name);
                if !phase.completed() || !others_ended || self.stopping == Some(Shutdown::Terminate)
                {
                    continue;
                }
                let saved = self.in_exit_handler;
                self.in_exit_handler = true;
                let started = self.start_node(dag, &node_name, template, &hook["arguments"], true);
                self.in_exit_handler = saved;
                started?;
            } else {
                let expression = hook["expression"].as_str().unwrap_or_default();
                if !self.expression_holds(expression, &self.expr_scope(dag, expression))? {
                    continue;
                }
                self.start_node(dag, &node_name, template, &hook["arguments"], true)?;
            }
            if let Some(node) = dag.nodes.get_mut(&node_name) {
                node.exit_hook = exit;
            }
            dag.hooks
                .entry(name.to_string())
                .or_default()
                .push(node_name);
        }
        Ok(())
    }

    /// Advances the hook nodes of task or step `name` that run.
    fn advance_task_hooks(&mut self, dag: &mut Dag, name: &str) -> Result<(), String> {
        for hook in dag.hooks.get(name).cloned().unwrap_or_default() {
            let template = dag.nodes.get(&hook).map(|n| n.template.clone());
            if let Some(template) = template {
                self.advance(dag, &hook, &template)?;
            }
        }
        Ok(())
    }

    /// A task or step that has a node: its running hooks go on, its hooks look at its status,
    /// it advances, and its hooks look again.
    fn advance_with_hooks(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template_name: &str,
        task: &Value,
    ) -> Result<(), String> {
        let hooked = task["hooks"].is_object() || task["onExit"].is_string();
        if hooked {
            self.advance_task_hooks(dag, name)?;
            self.fire_task_hooks(dag, name, task)?;
        }
        self.advance(dag, name, template_name)?;
        if hooked {
            self.fire_task_hooks(dag, name, task)?;
        }
        Ok(())
    }

    /// A hook's `expression` (expr-lang, after its tags are replaced) over `scope`.
    fn expression_holds(&self, expression: &str, scope: &Value) -> Result<bool, String> {
        if expression.trim().is_empty() {
            return Ok(false);
        }
        match crate::expr::eval(expression, scope)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!(
                "hook expression `{expression}` gave {other}, not a bool"
            )),
        }
    }

    /// One operation's look at the Workflow-level hooks (`executeWfLifeCycleHook`): running
    /// ones go on; one whose `expression` holds over `workflow.status` (Running while the
    /// entrypoint runs, then its outcome) fires once, as node `NAME.hooks.HOOK`.
    fn fire_workflow_hooks(&mut self) -> Result<(), String> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let mut top = std::mem::replace(&mut self.top, Dag::new("", BTreeMap::new()));
        let result = self.fire_workflow_hooks_in(&mut top);
        self.top = top;
        result
    }

    fn fire_workflow_hooks_in(&mut self, top: &mut Dag) -> Result<(), String> {
        let running: Vec<(String, String)> = top
            .nodes
            .iter()
            .filter(|(_, n)| !n.phase.ended())
            .map(|(name, n)| (name.clone(), n.template.clone()))
            .collect();
        for (name, template) in running {
            self.advance(top, &name, &template)?;
        }
        let mut scope = self.env.scope();
        if self.env.status.is_none() {
            scope["workflow"]["status"] = Value::String("Running".to_string());
        }
        for (hook_name, hook) in self.hooks.clone() {
            let node_name = format!("{}.hooks.{hook_name}", self.workflow_name);
            if top.nodes.contains_key(&node_name) {
                continue;
            }
            let expression = hook["expression"].as_str().unwrap_or_default();
            if !self.expression_holds(expression, &scope)? {
                continue;
            }
            let template = hook["template"]
                .as_str()
                .ok_or_else(|| format!("hook `{node_name}` has no template"))?;
            self.start_node(top, &node_name, template, &hook["arguments"], true)?;
        }
        Ok(())
    }

    /// Whether the `when` of task or step `name` holds in `dag`: `None` if it does, else the
    /// text that evaluated false (the `when` as written if the outcome skips it, else with
    /// its tags substituted, evaluated as Argo does). The inner `Err` is
    /// the node's error (a `when` Argo cannot evaluate, an absent output); the outer one a
    /// `when` the model cannot decide.
    fn when_holds(
        &self,
        name: &str,
        when: &str,
        dag: &Dag,
    ) -> Result<Result<Option<String>, String>, String> {
        if self.outcomes.skipped.contains(name) {
            return Ok(Ok(Some(when.to_string())));
        }
        let text = match self.substitute(when, dag).and_then(|s| s.into_text("when")) {
            Ok(text) => text,
            Err(why) => return Ok(Err(why)),
        };
        if parameters::holds_unknown(&text) {
            return Err(format!(
                "the `when` of `{name}` reads an output the outcome does not give"
            ));
        }
        Ok(crate::govaluate::when(&text).map(|holds| (!holds).then_some(text)))
    }

    /// The run can go no further: if the outcome shuts it down, the shutdown starts; else if
    /// it has an `activeDeadlineSeconds`, the deadline passes (what waits for ever outlasts
    /// any deadline). True if either happened (the caller operates again).
    fn cut_short(&mut self) -> bool {
        if self.in_exit_handler {
            return false;
        }
        if self.stopping.is_none() && self.outcomes.shutdown.is_some() {
            self.stopping = self.outcomes.shutdown;
            return true;
        }
        if self.deadline.is_some() && !self.deadline_passed {
            self.deadline_passed = true;
            return true;
        }
        false
    }

    /// Why no node may start or go on running now, outside the exit handler: the shutdown
    /// (`workflow shutdown with strategy: Stop`), or the Workflow's `activeDeadlineSeconds`
    /// having passed (`failSuspendedAndPendingNodesAfterDeadlineOrShutdown` in
    /// `workflow/controller/operator.go`: `Step exceeded its deadline`; a running pod is
    /// killed by its own `activeDeadlineSeconds`, `Pod was active on the node longer than the
    /// specified deadline`). Exit handlers and exit hooks still run (the corpus's
    /// `wf-deadline-zero-onexit-still-runs`, `wf-exit-hook-after-workflow-deadline`).
    fn refusal(&self, running_pod: bool) -> Option<String> {
        if let Some(how) = self.stopping
            && !how.lets_start(self.in_exit_handler)
        {
            return Some(format!("workflow shutdown with strategy: {}", how.name()));
        }
        if self.deadline_passed && !self.in_exit_handler {
            return Some(if running_pod {
                "Pod was active on the node longer than the specified deadline".to_string()
            } else {
                "Step exceeded its deadline".to_string()
            });
        }
        None
    }

    /// One operation of a steps template (`executeSteps` in `workflow/controller/steps.go`):
    /// the current step group's steps start together (a false `when` skips one); once all
    /// have ended, a Failed or Errored step without `continueOn` fails the template and no
    /// later group starts; else the next group starts; after the last, it has Succeeded.
    fn operate_steps(&mut self, body: &mut Dag) -> Result<Phase, String> {
        if let Some(phase) = self.template_fail_fast(body)? {
            return Ok(phase);
        }
        let template = self.template(&body.template)?;
        let groups = template["steps"]
            .as_array()
            .ok_or_else(|| format!("template `{}`: steps is not a list", body.template))?;
        // Each group that has ended well lets the next start in the same operation.
        loop {
            let Some(group) = groups.get(body.group) else {
                return Ok(Phase::Succeeded);
            };
            if let Some(phase) = self.operate_step_group(body, group)? {
                return Ok(phase);
            }
            body.group += 1;
        }
    }

    /// One operation of the step group running now (`executeStepGroup`): `None` once all its
    /// steps have ended well (or failed with `continueOn`); else Running, or Failed with
    /// `child 'ID' failed` as the steps node's message.
    fn operate_step_group(
        &mut self,
        body: &mut Dag,
        group: &'a Value,
    ) -> Result<Option<Phase>, String> {
        let steps: Vec<&Value> = group.as_array().into_iter().flatten().collect();
        let mut waiting = false;
        for step in &steps {
            let name = step["name"].as_str().ok_or("a step without a name")?;
            let template_name = step["template"].as_str().unwrap_or(name);
            if body.nodes.contains_key(name) {
                self.advance_with_hooks(body, name, template_name, step)?;
                waiting |= body.nodes.get(name).is_some_and(|n| !n.fulfilled());
                waiting |= !body.hooks_ended(name);
                continue;
            }
            for unsupported in UNMODELLED_TASK_FIELDS {
                if !step[unsupported].is_null() {
                    return Err(format!("step `{name}`: `{unsupported}` is not modelled"));
                }
            }
            check_modelled(template_name, self.template(template_name)?)?;
            self.decide_and_start(body, name, template_name, step)?;
            // A step that could not start yet (parallelism) waits too.
            waiting |= body.nodes.get(name).is_none_or(|n| !n.fulfilled());
        }
        if waiting {
            return Ok(Some(Phase::Running));
        }
        for step in &steps {
            let name = step["name"].as_str().unwrap_or_default();
            let Some(node) = body.nodes.get(name) else {
                continue;
            };
            let phase = node.phase;
            let excused = (phase == Phase::Failed && step["continueOn"]["failed"] == true)
                || (phase == Phase::Error && step["continueOn"]["error"] == true);
            if phase.failed_or_error() && !excused {
                // An expanded step names its first failed item (a step group's children are
                // the items' nodes).
                let failed_item = body.expanded.get(name).and_then(|children| {
                    children
                        .iter()
                        .filter_map(|c| body.nodes.get(&c.name))
                        .find(|n| n.phase.failed_or_error())
                });
                let node = failed_item.unwrap_or(node);
                let id = node_id(&self.workflow_name, &node.name);
                body.message.get_or_insert(format!("child '{id}' failed"));
                return Ok(Some(Phase::Failed));
            }
        }
        Ok(None)
    }

    /// `killDaemonedChildren`: once a DAG or steps node is fulfilled, its daemons are stopped,
    /// and their nodes end Succeeded (the corpus's `wf-stop-with-daemon`).
    fn kill_daemons(&mut self, dag: &mut Dag) {
        let daemons: Vec<String> = dag
            .nodes
            .iter()
            .filter(|(_, n)| n.daemoned && !n.phase.ended())
            .map(|(name, _)| name.clone())
            .collect();
        for name in daemons {
            self.set_phase(dag, &name, Phase::Succeeded, "");
        }
    }

    /// Pods still running when their DAG's phase is decided (a failed target under
    /// `failFast`) run on to their own end; nothing new starts.
    fn finish_pods(&mut self, dag: &mut Dag) -> Result<(), String> {
        let running: Vec<String> = dag
            .nodes
            .iter()
            .filter(|(_, n)| n.phase == Phase::Running && matches!(n.kind, Kind::Pod))
            .map(|(name, _)| name.clone())
            .collect();
        for name in running {
            let task_template = self.child_template(dag, &name)?;
            let template = self.template(&task_template)?;
            let (node, inputs) = dag
                .nodes
                .get(&name)
                .map(|n| (n.name.clone(), n.inputs.clone()))
                .unwrap_or_default();
            let phase = self.leaf_phase(&dag.template, &name, &node, template, &inputs);
            self.end_leaf(dag, &name, template, phase)?;
        }
        Ok(())
    }

    /// Creates the node of task or step `name` of `dag`, running `template`.
    fn create(
        &mut self,
        dag: &mut Dag,
        name: &str,
        template: &str,
        phase: Phase,
        kind: Kind,
        message: &str,
    ) {
        let node_type = match &kind {
            Kind::Pod => "Pod",
            Kind::Suspend => "Suspend",
            Kind::Dag(_) => "DAG",
            Kind::Steps(_) => "Steps",
            Kind::NotRun => "Skipped",
            Kind::Group => "TaskGroup",
        };
        let node_name = self.node_name(dag, name);
        let node = TaskNode {
            name: node_name.clone(),
            phase,
            kind,
            template: String::new(),
            inputs: BTreeMap::new(),
            outputs: Outputs::new(),
            exit_hook: false,
            daemoned: false,
        };
        dag.nodes.insert(name.to_string(), node);
        self.record_index
            .insert((dag.template.clone(), name.to_string()), self.records.len());
        self.records.push(NodeRecord {
            dag: dag.template.clone(),
            task: name.to_string(),
            name: node_name,
            parent: dag.node.clone(),
            template: template.to_string(),
            node_type,
            phase,
            message: message.to_string(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            daemoned: false,
            active_deadline_seconds: None,
        });
    }

    /// The node name of task or step `name` of `dag`, as Argo forms it: `PARENT.TASK` in a
    /// DAG, `PARENT[GROUP].STEP` in a steps template (`executeDAGTask`, `executeStepGroup`).
    fn node_name(&self, dag: &Dag, name: &str) -> String {
        if dag.node.is_empty() {
            name.to_string()
        } else if self.node_prefix(dag) == "steps." {
            format!("{}[{}].{name}", dag.node, dag.group)
        } else {
            format!("{}.{name}", dag.node)
        }
    }

    fn record_mut(&mut self, dag: &Dag, name: &str) -> Option<&mut NodeRecord> {
        self.record_index
            .get(&(dag.template.clone(), name.to_string()))
            .and_then(|i| self.records.get_mut(*i))
    }

    fn set_phase(&mut self, dag: &mut Dag, name: &str, phase: Phase, message: &str) {
        if let Some(node) = dag.nodes.get_mut(name) {
            node.phase = phase;
        }
        if let Some(record) = self.record_mut(dag, name) {
            record.phase = phase;
            if !message.is_empty() {
                record.message = message.to_string();
            }
        }
    }
}

/// A list of named things (`spec.templates`, a DAG's `tasks`) by name.
pub fn by_name(list: &Value) -> BTreeMap<&str, &Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["name"].as_str()?, t)))
        .collect()
}

/// A DAG template's tasks, or a steps template's steps, in order.
fn children(template: &Value) -> impl Iterator<Item = &Value> {
    let tasks = template["dag"]["tasks"].as_array().into_iter().flatten();
    let groups = template["steps"].as_array().into_iter().flatten();
    tasks.chain(groups.flat_map(|g| g.as_array().into_iter().flatten()))
}

/// A template field that may be an input's tag (`"{{inputs.parameters.ads}}"`): its value as
/// the pod gets it, the input's value in place of the tag.
fn input_value(field: &Value, inputs: &BTreeMap<String, String>) -> Option<String> {
    match field {
        Value::Number(n) => Some(n.to_string()),
        Value::String(text) => match text
            .trim()
            .strip_prefix("{{inputs.parameters.")
            .and_then(|t| t.strip_suffix("}}"))
        {
            Some(name) => inputs.get(name.trim()).cloned(),
            None => Some(text.clone()),
        },
        _ => None,
    }
}

/// A pod template's `activeDeadlineSeconds`, as its pod spec gets it.
fn active_deadline(template: &Value, inputs: &BTreeMap<String, String>) -> Option<u64> {
    input_value(&template["activeDeadlineSeconds"], inputs)?
        .trim()
        .parse()
        .ok()
}

/// The phase a pod template ends in when its first `failures` attempts fail (`u32::MAX`: all
/// of them), each failed attempt retried as its `retryStrategy` allows: by
/// [`crate::retry::phase`], a failure is retried while its policy retries Failed attempts and
/// attempts remain (`limit + 1`; no `limit` retries for ever, so a step that always fails then
/// never ends).
fn attempts_phase(strategy: &Value, failures: u32) -> Phase {
    if failures == 0 {
        return Phase::Succeeded;
    }
    let limit = match &strategy["limit"] {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ if strategy.is_object() => None,
        _ => Some(0),
    };
    let policy = strategy["retryPolicy"].as_str().unwrap_or_default();
    if !crate::retry::retries(policy, &crate::retry::Attempt::of(Phase::Failed)) {
        return Phase::Failed;
    }
    match limit {
        None if failures == u32::MAX => Phase::Running,
        None => Phase::Succeeded,
        Some(limit) if limit >= failures => Phase::Succeeded,
        Some(_) => Phase::Failed,
    }
}

/// The value of the environment variable `name` of a script or container template, as
/// pipec's templates pass what they act on (`ROLLOUT`, `TIMEOUT`, `IMAGE`).
pub fn template_env<'t>(template: &'t Value, name: &str) -> Option<&'t str> {
    template["script"]["env"]
        .as_array()
        .into_iter()
        .chain(template["container"]["env"].as_array())
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
}

/// Fields of a DAG task or a step the model does not cover: templates from elsewhere.
const UNMODELLED_TASK_FIELDS: [&str; 2] = ["templateRef", "inline"];

/// Refuses a template using what the model does not cover, rather than guess.
fn check_modelled(name: &str, template: &Value) -> Result<(), String> {
    if let Some(limit) = template["retryStrategy"]["limit"].as_str()
        && limit.contains("{{")
        && !(limit.trim().starts_with("{{inputs.parameters.") && limit.trim().ends_with("}}"))
    {
        return Err(format!(
            "template `{name}`: a retry limit `{limit}` is not modelled"
        ));
    }
    // A template's `hooks` and references to other WorkflowTemplates are not modelled yet (a
    // template's `timeout` and `activeDeadlineSeconds` are: see `leaf_phase`).
    for field in ["hooks", "templateRef"] {
        if !template[field].is_null() {
            return Err(format!("template `{name}`: `{field}` is not modelled"));
        }
    }
    // Artifacts passed on from tasks are resolved by their producer's phase (see
    // `decide_and_start`); parameter values taken from tasks are not modelled yet.
    if template["outputs"]["parameters"]
        .to_string()
        .contains("{{tasks.")
    {
        return Err(format!(
            "template `{name}`: output parameters from tasks are not modelled"
        ));
    }
    Ok(())
}

/// The phases of a DAG's nodes, to tell whether an operation changed anything.
fn snapshot(dag: &Dag) -> Vec<(String, Phase)> {
    let mut out = vec![(format!("[{}]", dag.group), Phase::Running)];
    for (name, node) in &dag.nodes {
        out.push((name.clone(), node.phase));
        if node.daemoned {
            out.push((format!("{name} daemoned"), node.phase));
        }
        if let Kind::Dag(inner) | Kind::Steps(inner) = &node.kind {
            out.extend(
                snapshot(inner)
                    .into_iter()
                    .map(|(n, p)| (format!("{name}.{n}"), p)),
            );
        }
    }
    out
}

/// `assessDAGPhase`: the DAG's phase from its target tasks; a breadth-first walk from the
/// root tasks carries the phase of the last node that ran down each branch.
fn assess(dag: &Dag, template: &Value, info: &DagInfo<'_>) -> Phase {
    // Hook nodes are children of their task's node: the walk waits for them.
    if !dag.all_hooks_ended() {
        return Phase::Running;
    }
    let created = |names: Option<&Vec<String>>| -> Vec<String> {
        names
            .into_iter()
            .flatten()
            .filter(|t| dag.nodes.contains_key(*t))
            .cloned()
            .collect()
    };
    let mut target_phases: BTreeMap<&str, Option<Phase>> =
        info.targets.iter().map(|t| (t.as_str(), None)).collect();
    let mut queue: VecDeque<(String, Phase)> = created(info.children.get(""))
        .into_iter()
        .map(|c| (c, Phase::Succeeded))
        .collect();
    let mut seen = BTreeSet::new();
    while let Some((name, inherited)) = queue.pop_front() {
        if !seen.insert((name.clone(), inherited)) {
            continue;
        }
        let Some(node) = dag.nodes.get(&name) else {
            continue;
        };
        if !node.fulfilled() {
            return Phase::Running;
        }
        let branch = if node.phase.completed() {
            node.phase
        } else {
            inherited
        };
        if let Some(previous) = target_phases.get_mut(name.as_str())
            && !previous.is_some_and(Phase::failed_or_error)
        {
            *previous = Some(branch);
        }
        queue.extend(
            created(info.children.get(&name))
                .into_iter()
                .map(|c| (c, branch)),
        );
    }
    let fail_fast = template["dag"]["failFast"] != false;
    let mut result = Phase::Succeeded;
    for target in &info.targets {
        match target_phases.get(target.as_str()).copied().flatten() {
            None => {
                result = Phase::Running;
                if !fail_fast {
                    break;
                }
            }
            Some(phase) if phase.failed_or_error() => {
                let on = info.continue_on(target);
                if (phase == Phase::Failed && on.failed) || (phase == Phase::Error && on.error) {
                    continue;
                }
                result = phase;
                if fail_fast {
                    break;
                }
            }
            Some(_) => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `pipec abort` while a run waits for an approval sets `spec.shutdown: Stop`: the waiting
    /// approval fails, nothing after it starts, and the exit handler still runs (with
    /// `workflow.status` Failed), as the corpus's `wf-stop-creates-no-new-pods` and Argo's docs
    /// on `argo stop` say; `Terminate` runs no exit handler.
    #[test]
    fn a_stopped_run_fails_what_waits_and_still_runs_its_exit_handler() {
        let workflow = json!({"metadata": {"name": "w"}, "spec": {
        "entrypoint": "main", "onExit": "exit",
        "templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "approve", "template": "approve"},
                {"name": "promote", "template": "pod", "depends": "approve"}]}},
            {"name": "exit", "dag": {"tasks": [
                {"name": "rollback", "template": "pod",
                 "when": "{{workflow.status}} != Succeeded"}]}},
            {"name": "approve", "suspend": {}},
            {"name": "pod", "container": {"image": "a"}},
        ]}});
        let stop = Outcomes {
            shutdown: Some(Shutdown::Stop),
            ..Outcomes::default()
        };
        let run = super::run(&workflow, &stop).unwrap();
        assert_eq!(run.phase, Phase::Failed);
        assert_eq!(run.message, "Stopped with strategy 'Stop'");
        assert_eq!(run.node("main", "approve").unwrap().phase, Phase::Failed);
        assert_eq!(run.node("main", "promote").unwrap().phase, Phase::Omitted);
        assert_eq!(
            run.node("exit", "rollback").unwrap().phase,
            Phase::Succeeded
        );
        let terminate = Outcomes {
            shutdown: Some(Shutdown::Terminate),
            ..Outcomes::default()
        };
        let run = super::run(&workflow, &terminate).unwrap();
        assert_eq!(run.phase, Phase::Failed);
        assert!(run.node("exit", "rollback").is_none());
        // Nobody stops it: it waits.
        let run = super::run(&workflow, &Outcomes::default()).unwrap();
        assert_eq!(run.phase, Phase::Running);
    }

    /// `retryStrategy.limit` N gives N + 1 attempts (the corpus's `wf-retry-limit-zero` and
    /// `retry-backoff.yaml`): a step flaky for two attempts passes with `limit: 2`, fails with 1.
    #[test]
    fn a_started_daemon_is_daemoned_for_its_dependents_and_stopped_with_its_dag() {
        // `depends: server.Daemoned` (docs/enhanced-depends-logic.md): the client runs while
        // the server does; once the DAG is fulfilled the server is stopped, Succeeded.
        let workflow = json!({"metadata": {"name": "w"}, "spec": {"entrypoint": "main",
        "templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "server", "template": "server"},
                {"name": "client", "template": "client", "depends": "server.Daemoned"},
            ]}},
            {"name": "server", "daemon": true, "container": {"image": "nginx"}},
            {"name": "client", "container": {"image": "curl"}},
        ]}});
        let outcomes = Outcomes::default();
        let mut machine = Machine::new(&workflow, &outcomes).unwrap();
        let node = |m: &Machine<'_>, task: &str| {
            m.nodes()
                .iter()
                .find(|n| n.task == task)
                .map(|n| (n.phase, n.daemoned))
        };
        while machine.operate().unwrap() {
            if node(&machine, "client").is_some() {
                break;
            }
        }
        assert_eq!(node(&machine, "server"), Some((Phase::Running, true)));
        while machine.operate().unwrap() {}
        assert_eq!(node(&machine, "client"), Some((Phase::Succeeded, false)));
        assert_eq!(node(&machine, "server"), Some((Phase::Succeeded, true)));
        assert_eq!(machine.phase(), Phase::Succeeded);
    }

    #[test]
    fn retries_give_flaky_steps_their_attempts() {
        let workflow = |limit: Value| {
            json!({"metadata": {"name": "w"}, "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "dag": {"tasks": [{"name": "flaky", "template": "flaky"}]}},
                {"name": "flaky", "retryStrategy": {"limit": limit}, "container": {"image": "a"}},
            ]}})
        };
        let outcome = Outcomes {
            flaky: BTreeMap::from([("flaky".to_string(), 2)]),
            ..Outcomes::default()
        };
        assert_eq!(
            run(&workflow(json!("2")), &outcome).unwrap().phase,
            Phase::Succeeded
        );
        assert_eq!(
            run(&workflow(json!(1)), &outcome).unwrap().phase,
            Phase::Failed
        );
        let always = Outcomes {
            failing: BTreeSet::from(["flaky".to_string()]),
            ..Outcomes::default()
        };
        assert_eq!(
            run(&workflow(json!(20)), &always).unwrap().phase,
            Phase::Failed
        );
        // No limit: a step that always fails is retried for ever.
        let mut unlimited = workflow(json!(0));
        unlimited["spec"]["templates"][1]["retryStrategy"] = json!({});
        assert_eq!(run(&unlimited, &always).unwrap().phase, Phase::Running);
    }
}
