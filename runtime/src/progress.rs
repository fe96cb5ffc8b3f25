//! Reading progress out of Argo objects: the steps of a Workflow run and their states, what
//! changed between two readings, and a Rollout's position. Pure functions over JSON, so the
//! rules are tested without a cluster.

use pipec_argo_model::contract::{annotations, script_env};
use serde_json::{Value, json};

/// One step of a run, as a person reads it: a task of the pipeline, not Argo's bookkeeping
/// (DAG nodes, the pods of a retried step).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Argo's node id.
    pub id: String,
    /// The task name (`app`, `api-check-1`).
    pub name: String,
    /// `Pod`, `Suspend`, `Retry`, `Skipped`.
    pub kind: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Error`, `Skipped`, `Omitted`.
    pub phase: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub message: Option<String>,
    /// Where in the `.pipe` source the step comes from.
    pub source: Option<String>,
    /// For an approval: what the person approving is asked to do.
    pub approval: Option<String>,
}

impl Step {
    pub fn is_done(&self) -> bool {
        matches!(
            self.phase.as_str(),
            "Succeeded" | "Failed" | "Error" | "Skipped" | "Omitted"
        )
    }

    pub fn failed(&self) -> bool {
        matches!(self.phase.as_str(), "Failed" | "Error")
    }

    /// A manual approval waiting for a person.
    pub fn awaits_approval(&self) -> bool {
        self.kind == "Suspend" && self.phase == "Running"
    }

    /// Seconds from start to finish (or to `now` for a running step).
    pub fn duration(&self, now: Option<&str>) -> Option<i64> {
        let start = seconds(self.started_at.as_deref()?)?;
        let end = seconds(self.finished_at.as_deref().or(now)?)?;
        Some((end - start).max(0))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "step": self.name,
            "kind": self.kind,
            "phase": self.phase,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "durationSeconds": self.duration(None),
            "message": self.message,
            "source": self.source,
            "approval": self.approval,
        })
    }
}

/// The annotations of each template, by template name (the Workflow's own first, then the
/// copy of a WorkflowTemplate Argo stores in the status): one pass, so reading the steps of a
/// large run stays linear.
fn annotations(workflow: &Value) -> std::collections::BTreeMap<&str, &Value> {
    let mut out = std::collections::BTreeMap::new();
    for t in templates(workflow) {
        if let Some(name) = t["name"].as_str() {
            out.entry(name).or_insert(&t["metadata"]["annotations"]);
        }
    }
    out
}

/// A node's annotation `key` as its pod got it: its template's, with the node's inputs in
/// place of `{{inputs.parameters.NAME}}` (a shared template takes each step's `.pipe`
/// location as an input; Argo records a node's `inputs` in its status).
fn node_annotation(annotations: &Value, node: &Value, key: &str) -> Option<String> {
    let text = annotations[key].as_str()?;
    let inputs = &node["inputs"]["parameters"];
    let input = |name: &str| {
        inputs.as_array()?.iter().find(|p| p["name"] == name)?["value"]
            .as_str()
            .map(str::to_string)
    };
    let value = pipec_argo_semantics::workflow::instance::substitute_inputs(text, &input);
    // An input the node does not record (not started yet) leaves no location.
    (!value.contains("{{inputs.")).then(|| value.into_owned())
}

/// The instances of the templates a run's tasks run (their inputs replaced by the tasks'
/// arguments): its own spec's, and for a run of a WorkflowTemplate, the stored copy's.
pub fn task_templates(workflow: &Value) -> Vec<Value> {
    [
        &workflow["spec"],
        &workflow["status"]["storedWorkflowTemplateSpec"],
    ]
    .into_iter()
    .flat_map(pipec_argo_semantics::workflow::instance::task_templates)
    .map(|t| t.template)
    .collect()
}

/// The templates of a run: its own, or for a run of a WorkflowTemplate, the copy Argo stores.
pub fn templates(workflow: &Value) -> impl Iterator<Item = &Value> {
    [
        &workflow["spec"]["templates"],
        &workflow["status"]["storedWorkflowTemplateSpec"]["templates"],
    ]
    .into_iter()
    .filter_map(Value::as_array)
    .flatten()
}

/// A template's environment variable, as pipec's generated scripts read it.
pub fn template_env<'a>(template: &'a Value, name: &str) -> Option<&'a str> {
    template["script"]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

/// The Rollouts a run acts on, as `(namespace, name)`: its steps that act on one say which in
/// `ROLLOUT` and, when it lives in an environment's namespace, `NAMESPACE`.
pub fn rollouts_of(workflow: &Value) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    for template in &task_templates(workflow) {
        if let Some(rollout) = template_env(template, script_env::ROLLOUT) {
            let entry = (
                template_env(template, script_env::NAMESPACE).map(str::to_string),
                rollout.to_string(),
            );
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

/// The steps of a run, in the order they started (then by name).
pub fn steps(workflow: &Value) -> Vec<Step> {
    let Some(nodes) = workflow["status"]["nodes"].as_object() else {
        return Vec::new();
    };
    let annotations = annotations(workflow);
    // The pods of a retried step are its attempts; the step is the Retry node.
    let attempts: std::collections::BTreeSet<&str> = nodes
        .values()
        .filter(|n| n["type"] == "Retry")
        .flat_map(|n| n["children"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let mut out: Vec<Step> = nodes
        .iter()
        .filter(|(id, n)| {
            matches!(
                n["type"].as_str(),
                Some("Pod" | "Suspend" | "Retry" | "Skipped")
            ) && !attempts.contains(id.as_str())
        })
        .map(|(id, n)| {
            let template = n["templateName"].as_str().unwrap_or_default();
            Step {
                id: id.clone(),
                name: n["displayName"].as_str().unwrap_or(template).to_string(),
                kind: n["type"].as_str().unwrap_or_default().to_string(),
                phase: n["phase"].as_str().unwrap_or("Pending").to_string(),
                started_at: n["startedAt"].as_str().map(str::to_string),
                finished_at: n["finishedAt"].as_str().map(str::to_string),
                message: n["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
                source: annotations
                    .get(template)
                    .and_then(|a| node_annotation(a, n, annotations::SOURCE)),
                approval: annotations
                    .get(template)
                    .and_then(|a| node_annotation(a, n, annotations::APPROVAL)),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.started_at, &a.name).cmp(&(&b.started_at, &b.name)));
    out
}

/// The phase of a finished run and its message; `None` while it runs.
pub fn finished(workflow: &Value) -> Option<(String, Option<String>)> {
    let status = &workflow["status"];
    let phase = status["phase"].as_str()?;
    let done = matches!(phase, "Succeeded" | "Failed" | "Error") && !status["finishedAt"].is_null();
    done.then(|| {
        (
            phase.to_string(),
            status["message"].as_str().map(str::to_string),
        )
    })
}

/// Something that happened in a run, worth a line of output.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Started(Step),
    /// A manual approval is waiting: `pipec approve` releases it.
    AwaitingApproval(Step),
    Finished(Step),
    /// A Rollout moved: `rollout`, its summary line.
    Rollout {
        name: String,
        summary: String,
    },
}

impl Event {
    pub fn to_json(&self) -> Value {
        match self {
            Event::Started(s) => json!({"event": "step-started", "step": s.to_json()}),
            Event::AwaitingApproval(s) => {
                json!({"event": "awaiting-approval", "step": s.to_json()})
            }
            Event::Finished(s) => json!({"event": "step-finished", "step": s.to_json()}),
            Event::Rollout { name, summary } => {
                json!({"event": "rollout", "rollout": name, "summary": summary})
            }
        }
    }
}

/// What happened between two readings of a run's steps. Each step starts and finishes
/// once, whatever the readings repeat or skip (a reconnect re-reads everything).
pub fn changes(before: &[Step], after: &[Step]) -> Vec<Event> {
    let mut out = Vec::new();
    for step in after {
        let previous = before.iter().find(|s| s.id == step.id);
        let was_started = previous.is_some_and(|p| p.phase != "Pending");
        let was_waiting = previous.is_some_and(Step::awaits_approval);
        let was_done = previous.is_some_and(Step::is_done);
        if step.phase == "Pending" || was_done {
            continue;
        }
        if !was_started && !matches!(step.phase.as_str(), "Skipped" | "Omitted") {
            out.push(Event::Started(step.clone()));
        }
        if step.awaits_approval() && !was_waiting {
            out.push(Event::AwaitingApproval(step.clone()));
        }
        if step.is_done() {
            out.push(Event::Finished(step.clone()));
        }
    }
    out
}

/// One line about a Rollout: phase, step, canary weight, message. The status is trusted
/// only when the controller has seen the latest spec.
pub fn rollout_summary(rollout: &Value) -> String {
    let status = &rollout["status"];
    let observed = status["observedGeneration"]
        .as_str()
        .map(str::to_string)
        .or_else(|| status["observedGeneration"].as_i64().map(|g| g.to_string()));
    let generation = rollout["metadata"]["generation"]
        .as_i64()
        .map(|g| g.to_string());
    if observed.is_none() || observed != generation {
        return "waiting for the controller".to_string();
    }
    let phase = status["phase"].as_str().unwrap_or("Unknown");
    let steps = rollout["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .map_or(0, Vec::len);
    let mut parts = vec![phase.to_string()];
    if let Some(step) = status["currentStepIndex"].as_i64()
        && steps > 0
    {
        parts.push(format!("step {}/{steps}", step.min(steps as i64)));
    }
    if let Some(weight) = status["canary"]["weights"]["canary"]["weight"].as_i64() {
        parts.push(format!("canary weight {weight}%"));
    }
    for (which, field) in [
        ("step analysis", "currentStepAnalysisRunStatus"),
        ("background analysis", "currentBackgroundAnalysisRunStatus"),
    ] {
        let run = &status["canary"][field];
        if let Some(state) = run["status"].as_str() {
            let mut text = format!("{which} {}", state);
            if let Some(m) = run["message"].as_str().filter(|m| !m.is_empty()) {
                text.push_str(&format!(" ({m})"));
            }
            parts.push(text);
        }
    }
    if status["abort"] == true {
        parts.push("aborted".to_string());
    }
    if let Some(message) = status["message"].as_str().filter(|m| !m.is_empty()) {
        parts.push(message.to_string());
    }
    parts.join(", ")
}

/// Whether the next version of this Rollout is its first deploy: it has never run an image, so
/// Argo Rollouts will skip the canary steps and analyses and go straight to full.
pub fn first_deploy(rollout: &Value) -> bool {
    let image = &rollout["spec"]["template"]["spec"]["containers"][0]["image"];
    image.as_str().is_none_or(str::is_empty) || rollout["status"]["stableRS"].is_null()
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-22T10:04:05Z`).
pub fn seconds(time: &str) -> Option<i64> {
    let (date, rest) = time.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let clock = rest.trim_end_matches('Z');
    let clock = clock.split(['+', '.']).next()?;
    let mut t = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(nodes: Value) -> Value {
        json!({
            "spec": {"templates": [
                {"name": "app", "metadata": {"annotations": {"pipec.dev/source": "p.pipe:3:9"}}},
                {"name": "unit", "metadata": {"annotations": {"pipec.dev/source": "p.pipe:9:8"}}}
            ]},
            "status": {"nodes": nodes}
        })
    }

    #[test]
    fn steps_hide_dags_and_retry_attempts() {
        let wf = workflow(json!({
            "r": {"type": "DAG", "displayName": "r", "templateName": "main", "phase": "Running"},
            "a": {"type": "Pod", "displayName": "app", "templateName": "app", "phase": "Succeeded",
                  "startedAt": "2026-11-22T10:00:00Z", "finishedAt": "2026-11-22T10:01:05Z"},
            "u": {"type": "Retry", "displayName": "unit", "templateName": "unit", "phase": "Running",
                  "startedAt": "2026-11-22T10:01:06Z", "children": ["u0"]},
            "u0": {"type": "Pod", "displayName": "unit(0)", "templateName": "unit", "phase": "Failed"}
        }));
        let steps = steps(&wf);
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["app", "unit"]);
        assert_eq!(steps[0].duration(None), Some(65));
        assert_eq!(steps[0].source.as_deref(), Some("p.pipe:3:9"));
    }

    /// A step of a shared template points at its own `.pipe` line: the node's `source` input,
    /// as Argo records a node's inputs in its status.
    #[test]
    fn a_shared_templates_step_has_the_source_of_its_task() {
        let wf = json!({
            "spec": {"templates": [
                {"name": "rollout-wait", "metadata": {"annotations":
                    {"pipec.dev/source": "{{inputs.parameters.source}}"}}}
            ]},
            "status": {"nodes": {
                "a": {"type": "Pod", "displayName": "api-wait", "templateName": "rollout-wait",
                      "phase": "Running",
                      "inputs": {"parameters": [{"name": "source", "value": "p.pipe:12:5"}]}},
                "w": {"type": "Pod", "displayName": "web-wait", "templateName": "rollout-wait",
                      "phase": "Pending"}
            }}
        });
        let steps = steps(&wf);
        let sources: Vec<(&str, Option<&str>)> = steps
            .iter()
            .map(|s| (s.name.as_str(), s.source.as_deref()))
            .collect();
        assert_eq!(
            sources,
            [("api-wait", Some("p.pipe:12:5")), ("web-wait", None)]
        );
    }

    #[test]
    fn each_step_starts_and_finishes_once() {
        let running = workflow(json!({
            "a": {"type": "Pod", "displayName": "app", "templateName": "app", "phase": "Running"}
        }));
        let done = workflow(json!({
            "a": {"type": "Pod", "displayName": "app", "templateName": "app", "phase": "Succeeded"},
            "s": {"type": "Suspend", "displayName": "ok", "templateName": "ok", "phase": "Running"}
        }));
        let first = changes(&[], &steps(&running));
        assert!(matches!(first.as_slice(), [Event::Started(_)]));
        let second = changes(&steps(&running), &steps(&done));
        assert!(matches!(
            second.as_slice(),
            [
                Event::Finished(_),
                Event::Started(_),
                Event::AwaitingApproval(_)
            ] | [
                Event::Started(_),
                Event::AwaitingApproval(_),
                Event::Finished(_)
            ]
        ));
        // A reconnect reads the same state again: nothing new.
        assert!(changes(&steps(&done), &steps(&done)).is_empty());
        // A reading that skipped the running state still reports start and end.
        let skipped = changes(&[], &steps(&done));
        assert_eq!(skipped.len(), 4);
    }

    #[test]
    fn times() {
        assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(seconds("2000-03-01T00:00:01Z"), Some(951_868_801));
        assert_eq!(
            seconds("2026-11-22T10:04:05.123Z"),
            seconds("2026-11-22T10:04:05Z")
        );
    }

    #[test]
    fn rollout_lines_trust_only_observed_status() {
        let mut r = json!({"metadata": {"generation": 3},
            "spec": {"strategy": {"canary": {"steps": [{"setWeight": 33}, {"pause": {}}]}}},
            "status": {"observedGeneration": "2", "phase": "Paused"}});
        assert_eq!(rollout_summary(&r), "waiting for the controller");
        r["status"]["observedGeneration"] = json!("3");
        r["status"]["currentStepIndex"] = json!(1);
        r["status"]["canary"] = json!({"weights": {"canary": {"weight": 33}}});
        assert_eq!(rollout_summary(&r), "Paused, step 1/2, canary weight 33%");
        r["status"]["canary"]["currentStepAnalysisRunStatus"] =
            json!({"name": "r-1", "status": "Failed", "message": "metric failed"});
        r["status"]["abort"] = json!(true);
        assert_eq!(
            rollout_summary(&r),
            "Paused, step 1/2, canary weight 33%, step analysis Failed (metric failed), aborted"
        );
    }

    #[test]
    fn first_deploys() {
        let mut r = json!({"spec": {"template": {"spec": {"containers": [{"name": "api"}]}}}});
        assert!(first_deploy(&r), "no image yet");
        r["spec"]["template"]["spec"]["containers"][0]["image"] = json!("api:1");
        assert!(first_deploy(&r), "an image, never stable");
        r["status"]["stableRS"] = json!("abc");
        assert!(!first_deploy(&r));
    }
}
