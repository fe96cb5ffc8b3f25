//! The pipec runtime: puts compiled pipelines on a cluster and follows them.
//!
//! It takes the compiled documents as JSON and knows nothing of the language: it applies the
//! long-lived objects (server-side apply, field manager `pipec`), creates the run (a Workflow
//! with `generateName`), follows it with reconnecting watches and reports each step as it
//! starts, waits and ends; it approves waiting steps, aborts runs and rolls services back.
//! Only this crate (and the CLI) knows kube and tokio.
//!
//! Every request survives a flaky API server: retries with backoff on connection errors, 429
//! and 5xx up to the patience of [`ConnectOptions`], watches that resume from the last
//! resource version or start over after 410 Gone.

pub mod cluster;
pub mod error;
pub mod progress;
pub mod rollback;

use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};

pub use cluster::{Cluster, ConnectOptions, describe};
pub use error::RuntimeError;
pub use progress::{Event, Step};

const WORKFLOWS: &str = "argoproj.io/v1alpha1";

/// What a run puts on the cluster: the objects to apply, then the Workflow to create.
#[derive(Clone, Debug)]
pub struct Plan {
    pub apply: Vec<Value>,
    pub run: Value,
}

/// Splits compiled documents into what to apply and the run to create. The run is the
/// Workflow; a pipeline installed as a WorkflowTemplate (it has triggers) is run from the
/// template named `template`. `params` replace the run's parameters of the same names.
pub fn plan(
    documents: Vec<Value>,
    template: &str,
    params: &[(String, String)],
) -> Result<Plan, RuntimeError> {
    let mut apply = Vec::new();
    let mut run = None;
    for doc in documents {
        if doc["kind"] == "Workflow" {
            run = Some(doc);
        } else {
            apply.push(doc);
        }
    }
    let types;
    let mut run = match run {
        Some(run) => {
            types = annotation(&run, annotations::PARAM_TYPES);
            run
        }
        None => {
            let Some(installed) = apply
                .iter()
                .find(|d| d["kind"] == "WorkflowTemplate" && d["metadata"]["name"] == template)
            else {
                return Err(RuntimeError::Invalid(format!(
                    "nothing to run: no Workflow, and no WorkflowTemplate `{template}`"
                )));
            };
            types = annotation(installed, annotations::PARAM_TYPES);
            json!({
                "apiVersion": WORKFLOWS,
                "kind": "Workflow",
                "metadata": {
                    "generateName": contract::generate_name(template),
                    "labels": installed["metadata"]["labels"].clone(),
                },
                "spec": {
                    "workflowTemplateRef": {"name": template},
                    "arguments": installed["spec"]["arguments"].clone(),
                },
            })
        }
    };
    let declared: Vec<String> = run["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    for (name, value) in params {
        let Some(index) = declared.iter().position(|d| d == name) else {
            return Err(RuntimeError::Invalid(format!(
                "the pipeline has no parameter `{name}`; it has: {}",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            )));
        };
        // Argo substitutes the run's templates in more than one pass and has no escape for
        // `{{`: a value holding a tag would be evaluated, not passed on.
        if value.contains("{{") || value.contains("}}") {
            return Err(RuntimeError::Invalid(format!(
                "the value of `{name}` contains `{{{{` or `}}}}`, which Argo would read as a template tag; pass it without them"
            )));
        }
        let ty = types
            .split(',')
            .find_map(|entry| entry.strip_prefix(name.as_str())?.strip_prefix('='))
            .unwrap_or("string");
        let value = typed_param(ty, value).map_err(|expected| {
            RuntimeError::Invalid(format!(
                "`{name}` is of type `{ty}`, and `{value}` is not {expected}"
            ))
        })?;
        run["spec"]["arguments"]["parameters"][index]["value"] = json!(value);
    }
    Ok(Plan { apply, run })
}

use pipec_argo_model::contract::{self, annotations, labels};

fn annotation(doc: &Value, key: &str) -> String {
    doc["metadata"]["annotations"][key]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A `--param` value as the Workflow carries a parameter of type `ty` (the types of pipec's
/// language): ints and floats as numbers Argo's expression languages compare as numbers,
/// bools as `true`/`false`, durations in the `1h30m` form Argo's Go durations read, percents
/// (`95%`) as the fractions the Workflow compares ratios with (`0.95`). `Err` says what the
/// value should have been.
pub fn typed_param(ty: &str, value: &str) -> Result<String, &'static str> {
    match ty {
        "int" => value
            .parse::<i64>()
            .map(|i| i.to_string())
            .map_err(|_| "a whole number such as 3"),
        "float" => match value.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(value.trim_start_matches('+').to_string()),
            _ => Err("a number such as 0.5"),
        },
        "bool" => match value {
            "true" | "false" => Ok(value.to_string()),
            _ => Err("`true` or `false`"),
        },
        "duration" => {
            let mut rest = value;
            let mut parts = 0;
            while !rest.is_empty() {
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let unit = rest[digits..].chars().next();
                if digits == 0 || !matches!(unit, Some('h' | 'm' | 's')) {
                    return Err("a duration such as 30s, 10m or 1h30m");
                }
                rest = &rest[digits + 1..];
                parts += 1;
            }
            if parts == 0 {
                return Err("a duration such as 30s, 10m or 1h30m");
            }
            Ok(value.to_string())
        }
        "percent" => {
            const EXPECTED: &str = "a percentage from 0% to 100%, such as 95%";
            let number = value.strip_suffix('%').ok_or(EXPECTED)?;
            match number.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) && !number.starts_with('+') => {
                    let fraction = format!("{:.10}", p / 100.0);
                    Ok(fraction
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string())
                }
                _ => Err(EXPECTED),
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// The `(apiVersion, plural)` of every Argo kind in `documents`, for [`Cluster::require`].
pub fn required_apis(documents: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for doc in documents {
        let plural = match doc["kind"].as_str() {
            Some("Workflow") => "workflows",
            Some("WorkflowTemplate") => "workflowtemplates",
            Some("CronWorkflow") => "cronworkflows",
            Some("Rollout") => "rollouts",
            Some("AnalysisTemplate") => "analysistemplates",
            Some("EventSource") => "eventsources",
            Some("Sensor") => "sensors",
            _ => continue,
        };
        let api = doc["apiVersion"].as_str().unwrap_or(WORKFLOWS).to_string();
        if !out.iter().any(|(a, p)| *a == api && p == plural) {
            out.push((api, plural.to_string()));
        }
    }
    out
}

/// Applies the plan's objects in order, reporting each as stored. A failure says which
/// objects were applied before it and which were not, so a half-applied release is never
/// silent.
pub async fn apply_all(
    cluster: &Cluster,
    objects: &[Value],
    dry_run: bool,
    mut applied: impl FnMut(&Value),
) -> Result<(), RuntimeError> {
    for (i, object) in objects.iter().enumerate() {
        let stored = match cluster.apply(object, dry_run).await {
            Ok(stored) => stored,
            Err(e) => {
                let done: Vec<String> = objects[..i].iter().map(describe).collect();
                let left: Vec<String> = objects[i..].iter().map(describe).collect();
                let detail = format!(
                    "{e}\n  applied before the failure: {}\n  not applied: {}",
                    if done.is_empty() {
                        "nothing".to_string()
                    } else {
                        done.join(", ")
                    },
                    left.join(", ")
                );
                return Err(match e {
                    RuntimeError::Unreachable { context, .. } => {
                        RuntimeError::Unreachable { context, detail }
                    }
                    RuntimeError::Forbidden { context, .. } => {
                        RuntimeError::Forbidden { context, detail }
                    }
                    _ => RuntimeError::Rejected {
                        what: describe(object),
                        detail,
                    },
                });
            }
        };
        applied(&stored);
    }
    Ok(())
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// `Succeeded`, `Failed` or `Error`.
    pub phase: String,
    pub message: Option<String>,
    /// Its steps at the end.
    pub steps: Vec<Step>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.phase == "Succeeded"
    }
}

/// Follows a run until it ends, calling `report` for each event: steps starting, waiting for
/// approval and ending, and the Rollouts `rollouts` (namespace, name) moving. Watches
/// reconnect by themselves; only when they fail for longer than the cluster's patience does
/// this give up with [`RuntimeError::Unreachable`].
pub async fn follow(
    cluster: &Cluster,
    namespace: Option<&str>,
    workflow: &str,
    rollouts: &[(Option<String>, String)],
    mut report: impl FnMut(Event),
) -> Result<Outcome, RuntimeError> {
    enum Seen {
        Workflow(Result<Option<Value>, String>),
        Rollout(String, Result<Option<Value>, String>),
    }
    let workflow_stream = cluster
        .watch(WORKFLOWS, "Workflow", namespace, workflow)
        .map(Seen::Workflow)
        .boxed();
    let mut streams = vec![workflow_stream];
    for (ns, name) in rollouts {
        let name_for_events = name.clone();
        streams.push(
            cluster
                .watch(WORKFLOWS, "Rollout", ns.as_deref(), name)
                .map(move |e| Seen::Rollout(name_for_events.clone(), e))
                .boxed(),
        );
    }
    let mut events = futures::stream::select_all(streams);
    let mut steps: Vec<Step> = Vec::new();
    let mut summaries: std::collections::BTreeMap<String, String> = Default::default();
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut last_error = String::new();
    while let Some(seen) = events.next().await {
        // Only the run's own watch decides whether the cluster is gone: a Rollout that cannot
        // be watched (no rights in its namespace) must not end a run that is going well.
        let result = match seen {
            Seen::Workflow(r) => r.map(|o| (None, o)),
            Seen::Rollout(name, Ok(o)) => Ok((Some(name), o)),
            Seen::Rollout(_, Err(_)) => continue,
        };
        let (rollout, object) = match result {
            Ok(x) => {
                if x.0.is_none() {
                    failing_since = None;
                }
                x
            }
            Err(e) => {
                last_error = e;
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() > cluster.patience() {
                    return Err(RuntimeError::Unreachable {
                        context: cluster.context().to_string(),
                        detail: format!("watching {workflow}: {last_error}"),
                    });
                }
                continue;
            }
        };
        match (rollout, object) {
            (Some(name), Some(object)) => {
                let summary = progress::rollout_summary(&object);
                if summaries.get(&name) != Some(&summary) {
                    summaries.insert(name.clone(), summary.clone());
                    report(Event::Rollout { name, summary });
                }
            }
            (Some(_), None) => {}
            (None, None) => {
                return Err(RuntimeError::NotFound(format!(
                    "workflow {workflow} (deleted while it ran)"
                )));
            }
            (None, Some(object)) => {
                let now = progress::steps(&object);
                for event in progress::changes(&steps, &now) {
                    report(event);
                }
                steps = now;
                if let Some((phase, message)) = progress::finished(&object) {
                    return Ok(Outcome {
                        phase,
                        message,
                        steps,
                    });
                }
            }
        }
    }
    Err(RuntimeError::Unreachable {
        context: cluster.context().to_string(),
        detail: format!("the watch of {workflow} ended: {last_error}"),
    })
}

/// The runs pipec started (of one pipeline, by its `app.kubernetes.io/part-of` label, if
/// given), newest first.
pub async fn runs(cluster: &Cluster, pipeline: Option<&str>) -> Result<Vec<Value>, RuntimeError> {
    let selector = match pipeline {
        Some(p) => labels::managed_selector(&[(labels::PART_OF, p)]),
        None => labels::managed_selector(&[]),
    };
    let mut runs = cluster.list(WORKFLOWS, "Workflow", None, &selector).await?;
    let key = |w: &Value| {
        (
            w["metadata"]["creationTimestamp"]
                .as_str()
                .map(str::to_string),
            w["metadata"]["name"].as_str().map(str::to_string),
        )
    };
    runs.sort_by_key(|w| std::cmp::Reverse(key(w)));
    Ok(runs)
}

/// Resumes the run's waiting approvals (only `gate`'s, if given), as `argo resume` does: the
/// suspend node is marked succeeded. Returns the approved steps' names.
pub async fn approve(
    cluster: &Cluster,
    workflow: &str,
    gate: Option<&str>,
) -> Result<Vec<String>, RuntimeError> {
    let run = cluster.get(WORKFLOWS, "Workflow", None, workflow).await?;
    let waiting: Vec<Step> = progress::steps(&run)
        .into_iter()
        .filter(Step::awaits_approval)
        .filter(|s| gate.is_none_or(|g| s.name == g))
        .collect();
    if waiting.is_empty() {
        return Err(RuntimeError::Invalid(match gate {
            Some(g) => format!("run {workflow} has no approval `{g}` waiting"),
            None => format!("run {workflow} has no approval waiting"),
        }));
    }
    let now = now_rfc3339();
    let mut nodes = serde_json::Map::new();
    for step in &waiting {
        nodes.insert(
            step.id.clone(),
            json!({"phase": "Succeeded", "finishedAt": now, "message": "approved with pipec"}),
        );
    }
    // Workflows have no status subresource: the node phases change with the object.
    patch_run(cluster, workflow, &json!({"status": {"nodes": nodes}})).await?;
    Ok(waiting.into_iter().map(|s| s.name).collect())
}

/// Stops a run: its exit handler still runs (diagnostics, rollback), and every Rollout this
/// run changed is aborted at once, its traffic back on the stable version.
pub async fn abort(cluster: &Cluster, workflow: &str) -> Result<Vec<String>, RuntimeError> {
    let run = cluster.get(WORKFLOWS, "Workflow", None, workflow).await?;
    if progress::finished(&run).is_some() {
        return Err(RuntimeError::Invalid(format!(
            "run {workflow} has already ended"
        )));
    }
    patch_run(cluster, workflow, &json!({"spec": {"shutdown": "Stop"}})).await?;
    let mut aborted = Vec::new();
    for (namespace, name) in progress::rollouts_of(&run) {
        let rollout = match cluster
            .get(WORKFLOWS, "Rollout", namespace.as_deref(), &name)
            .await
        {
            Ok(r) => r,
            Err(RuntimeError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        // Only a Rollout this run changed: aborting another run's release is not ours to do.
        if rollout["metadata"]["annotations"][annotations::RUN] != workflow {
            continue;
        }
        cluster
            .merge_patch(
                WORKFLOWS,
                "Rollout",
                namespace.as_deref(),
                &name,
                &json!({"status": {"abort": true}}),
                true,
            )
            .await?;
        aborted.push(name);
    }
    Ok(aborted)
}

/// A merge patch of a run's Workflow.
async fn patch_run(
    cluster: &Cluster,
    workflow: &str,
    patch: &Value,
) -> Result<Value, RuntimeError> {
    cluster
        .merge_patch(WORKFLOWS, "Workflow", None, workflow, patch, false)
        .await
}

/// Now, as `2026-11-22T10:04:05Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_round_trips() {
        let now = now_rfc3339();
        let secs = progress::seconds(&now).unwrap_or_default();
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        assert!((sys - secs).abs() <= 2, "{now}");
    }

    #[test]
    fn params_are_checked_against_their_types() {
        assert_eq!(typed_param("int", "+3"), Ok("3".to_string()));
        assert!(typed_param("int", "3.5").is_err());
        assert!(typed_param("int", "").is_err());
        assert_eq!(typed_param("float", "0.5"), Ok("0.5".to_string()));
        assert!(typed_param("float", "NaN").is_err());
        assert!(typed_param("float", "inf").is_err());
        assert_eq!(typed_param("bool", "true"), Ok("true".to_string()));
        assert!(typed_param("bool", "yes").is_err());
        assert_eq!(typed_param("duration", "1h30m"), Ok("1h30m".to_string()));
        for bad in ["", "30", "m", "1.5h", "-5s", "30sec"] {
            assert!(typed_param("duration", bad).is_err(), "{bad}");
        }
        assert_eq!(typed_param("percent", "95%"), Ok("0.95".to_string()));
        assert_eq!(typed_param("percent", "33.3%"), Ok("0.333".to_string()));
        assert_eq!(typed_param("percent", "100%"), Ok("1".to_string()));
        assert_eq!(typed_param("percent", "0%"), Ok("0".to_string()));
        for bad in ["0.95", "101%", "-1%", "x%"] {
            assert!(typed_param("percent", bad).is_err(), "{bad}");
        }
        assert_eq!(
            typed_param("string", "anything"),
            Ok("anything".to_string())
        );

        let docs = vec![
            json!({"kind": "Workflow", "metadata": {"generateName": "p-",
            "annotations": {"pipec.dev/param-types": "replicas=int,min=percent"}},
            "spec": {"arguments": {"parameters": [
                {"name": "replicas", "value": "2"}, {"name": "min", "value": "0.99"},
                {"name": "note", "value": ""}]}}}),
        ];
        let planned = plan(docs.clone(), "p", &[("min".into(), "95%".into())]).unwrap();
        assert_eq!(
            planned.run["spec"]["arguments"]["parameters"][1]["value"],
            "0.95"
        );
        let wrong = plan(docs.clone(), "p", &[("replicas".into(), "many".into())]);
        assert!(
            matches!(&wrong, Err(RuntimeError::Invalid(m)) if m.contains("`replicas` is of type `int`, and `many` is not a whole number")),
            "{wrong:?}"
        );
        assert!(plan(docs, "p", &[("note".into(), "many".into())]).is_ok());
    }

    #[test]
    fn params_holding_argo_tags_are_refused() {
        let docs = vec![json!({"kind": "Workflow",
            "spec": {"arguments": {"parameters": [{"name": "version", "value": "1"}]}}})];
        for value in ["{{workflow.name}}", "a}}b", "{{=sprig.env('X')}}"] {
            let err = plan(
                docs.clone(),
                "t",
                &[("version".to_string(), value.to_string())],
            );
            assert!(
                matches!(&err, Err(RuntimeError::Invalid(m)) if m.contains("`version`")),
                "{value}: {err:?}"
            );
        }
        assert!(plan(docs, "t", &[("version".to_string(), "v{1}$".to_string())]).is_ok());
    }

    #[test]
    fn plans_split_apply_from_run_and_set_params() {
        let docs = vec![
            json!({"kind": "Service", "metadata": {"name": "api"}}),
            json!({"kind": "Workflow", "metadata": {"generateName": "p-"},
                   "spec": {"arguments": {"parameters": [{"name": "version", "value": "1"}]}}}),
        ];
        let plan = plan(docs.clone(), "p", &[("version".into(), "2".into())])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.apply.len(), 1);
        assert_eq!(plan.run["spec"]["arguments"]["parameters"][0]["value"], "2");
        let unknown = super::plan(docs, "p", &[("nope".into(), "x".into())]);
        assert!(matches!(unknown, Err(RuntimeError::Invalid(m)) if m.contains("version")));
    }

    #[test]
    fn a_triggered_pipeline_runs_from_its_template() {
        let docs = vec![
            json!({"kind": "WorkflowTemplate", "metadata": {"name": "p"},
            "spec": {"arguments": {"parameters": [{"name": "git-sha", "value": "HEAD"}]}}}),
        ];
        let plan = plan(docs, "p", &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.run["spec"]["workflowTemplateRef"]["name"], "p");
        assert_eq!(plan.run["metadata"]["generateName"], "p-");
        assert_eq!(plan.apply.len(), 1, "the template is applied first");
    }
}
