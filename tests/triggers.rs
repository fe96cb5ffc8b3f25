//! Triggers: `on push` and `on schedule` install the pipeline as a WorkflowTemplate and start
//! runs of it from a CronWorkflow or an Argo Events Sensor. These tests check what a push or a
//! clock tick would actually start, not only the shape of the YAML.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use regex::Regex;
use serde_json::Value;

fn docs_of(source: &str) -> Vec<Value> {
    let compilation = common::compile_source("t.pipe", source, &[]);
    assert!(
        compilation.diagnostics.is_empty(),
        "{}",
        common::rendered(&compilation)
    );
    common::parsed_documents(&compilation)
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

fn triggers_case() -> Vec<Value> {
    let path = common::root().join("tests/cases/compile/triggers.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    common::parsed_documents(&compilation)
}

/// Whether the Sensor would start a run for a push of `git_ref` (Argo Events: every data
/// filter must hold; a string filter holds when one of its regexes matches).
fn sensor_accepts(sensor: &Value, git_ref: &str, after: &str) -> bool {
    let filters = &sensor["spec"]["dependencies"][0]["filters"];
    // Argo Events matches a string data filter's values as regexes against the field.
    let data_ok = filters["data"].as_array().unwrap().iter().all(|f| {
        let field = match f["path"].as_str().unwrap() {
            "body.ref" => git_ref,
            "body.after" => after,
            other => panic!("a filter on {other}"),
        };
        f["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|re| Regex::new(re.as_str().unwrap()).unwrap().is_match(field))
    });
    let exprs = filters["exprs"].as_array().unwrap();
    assert_eq!(exprs.len(), 1);
    assert_eq!(exprs[0]["fields"][0]["path"], "body.after");
    let deleted = format!("after != \"{}\"", "0".repeat(40));
    assert_eq!(exprs[0]["expr"], deleted.as_str());
    data_ok && after != "0".repeat(40)
}

/// Evaluates the Sensor's `{{ if hasPrefix P .Input.body.ref }}{{ trimPrefix P … }}{{ end }}`.
fn eval_data_template(template: &str, git_ref: &str) -> String {
    let re = Regex::new(
        r#"^\{\{ if hasPrefix "([^"]+)" \.Input\.body\.ref \}\}\{\{ trimPrefix "([^"]+)" \.Input\.body\.ref \}\}\{\{ end \}\}$"#,
    )
    .unwrap();
    let caps = re
        .captures(template)
        .unwrap_or_else(|| panic!("unexpected dataTemplate {template}"));
    assert_eq!(&caps[1], &caps[2]);
    git_ref
        .strip_prefix(&caps[1])
        .map(str::to_string)
        .unwrap_or_default()
}

/// The parameters the Sensor submits for a push: name → value.
fn submitted_parameters(sensor: &Value, git_ref: &str, after: &str) -> Vec<(String, String)> {
    let trigger = &sensor["spec"]["triggers"][0]["template"]["argoWorkflow"];
    let mut args: Vec<(String, String)> =
        trigger["source"]["resource"]["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    for p in trigger["parameters"].as_array().unwrap() {
        let dest = p["dest"].as_str().unwrap();
        let index: usize = dest
            .strip_prefix("spec.arguments.parameters.")
            .and_then(|d| d.strip_suffix(".value"))
            .unwrap_or_else(|| panic!("unexpected dest {dest}"))
            .parse()
            .unwrap();
        let src = &p["src"];
        let value = match (src["dataKey"].as_str(), src["dataTemplate"].as_str()) {
            (Some("body.after"), None) => after.to_string(),
            (None, Some(t)) => eval_data_template(t, git_ref),
            other => panic!("unexpected source {other:?}"),
        };
        args[index].1 = value;
    }
    args
}

#[test]
fn a_triggered_pipeline_is_installed_as_a_workflow_template() {
    let docs = triggers_case();
    assert!(
        kind(&docs, "Workflow").is_none(),
        "no run is created at apply time"
    );
    let template = kind(&docs, "WorkflowTemplate").unwrap();
    assert_eq!(template["metadata"]["name"], "nightly-api");
    assert_eq!(template["spec"]["entrypoint"], "main");

    let cron = kind(&docs, "CronWorkflow").unwrap();
    assert_eq!(
        cron["spec"]["schedules"],
        serde_json::json!(["0 3 * * *", "@every 6h"])
    );
    assert_eq!(cron["spec"]["timezone"], "Europe/Paris");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(
        cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"],
        "nightly-api"
    );
}

#[test]
fn pushes_start_runs_only_for_the_listed_refs() {
    let docs = triggers_case();
    let sensor = kind(&docs, "Sensor").unwrap();
    let sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    for (git_ref, expected) in [
        ("refs/heads/main", true),
        ("refs/heads/main2", false),
        ("refs/heads/feature/main", false),
        ("refs/tags/v1.2.3", true),
        ("refs/tags/v1.2", false),
        ("refs/tags/v1.2.3-rc1", false),
        ("refs/heads/v1.2.3", false),
    ] {
        assert_eq!(
            sensor_accepts(sensor, git_ref, sha),
            expected,
            "push of {git_ref}"
        );
    }
    assert!(
        !sensor_accepts(sensor, "refs/heads/main", &"0".repeat(40)),
        "deleting main starts nothing"
    );
    // The commit becomes the run's revision: only a hex object name does.
    for after in [
        "HEAD",
        "main",
        "4b825dc",
        "$(rm -rf /)",
        &"G".repeat(40),
        &sha.to_uppercase(),
    ] {
        assert!(
            !sensor_accepts(sensor, "refs/heads/main", after),
            "commit {after:?} starts nothing"
        );
    }
    assert!(
        sensor_accepts(sensor, "refs/heads/main", &"a1".repeat(32)),
        "SHA-256"
    );
    // The Sensor listens to the EventSource it is emitted with.
    let source = kind(&docs, "EventSource").unwrap();
    let dep = &sensor["spec"]["dependencies"][0];
    assert_eq!(dep["eventSourceName"], source["metadata"]["name"]);
    assert!(source["spec"]["webhook"][dep["eventName"].as_str().unwrap()].is_object());
}

#[test]
fn a_push_run_gets_the_commit_branch_and_tag() {
    let docs = triggers_case();
    let sensor = kind(&docs, "Sensor").unwrap();
    let template = kind(&docs, "WorkflowTemplate").unwrap();
    let declared: Vec<&str> = template["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    let params = submitted_parameters(sensor, "refs/heads/main", sha);
    for (name, _) in &params {
        assert!(
            declared.contains(&name.as_str()),
            "{name} is not a parameter of the template"
        );
    }
    let get = |params: &[(String, String)], name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get(&params, "git-sha"), sha);
    assert_eq!(get(&params, "git-branch"), "main");
    assert_eq!(get(&params, "git-tag"), "");
    let params = submitted_parameters(sensor, "refs/tags/v1.2.3", sha);
    assert_eq!(get(&params, "git-branch"), "");
    assert_eq!(get(&params, "git-tag"), "v1.2.3");
}

#[test]
fn refs_with_braces_never_reach_a_run() {
    let docs = docs_of(
        "pipeline p {\n  on push\n  step s = run \"alpine:3\" { command = \"echo ${git.branch}\" }\n}\n",
    );
    let sensor = kind(&docs, "Sensor").unwrap();
    let sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    assert!(sensor_accepts(sensor, "refs/heads/any/branch", sha));
    assert!(sensor_accepts(sensor, "refs/tags/anything", sha));
    assert!(!sensor_accepts(sensor, "refs/notes/commits", sha));
    assert!(!sensor_accepts(
        sensor,
        "refs/heads/x{{workflow.name}}",
        sha
    ));
    // Only the git parameters the pipeline reads are passed.
    let names: Vec<String> = submitted_parameters(sensor, "refs/heads/a", sha)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["git-branch"]);
}

#[test]
fn branch_patterns_and_exact_names() {
    let docs = docs_of(
        "pipeline p {\n  on push branch ~ /^release-[0-9]+$/\n  on push branch ~ /hotfix/\n  on push branch \"a.b\"\n  step s = run \"alpine:3\" { command = \"true\" }\n}\n",
    );
    let sensor = kind(&docs, "Sensor").unwrap();
    let sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    for (git_ref, expected) in [
        ("refs/heads/release-12", true),
        ("refs/heads/release-12a", false),
        ("refs/heads/x-release-12", false),
        ("refs/heads/urgent-hotfix-1", true),
        ("refs/tags/hotfix", false),
        ("refs/heads/a.b", true),
        ("refs/heads/axb", false),
    ] {
        assert_eq!(
            sensor_accepts(sensor, git_ref, sha),
            expected,
            "push of {git_ref}"
        );
    }
}

#[test]
fn the_webhook_token_is_a_secret_reference() {
    let docs = docs_of(
        "pipeline p {\n  webhook_token = hook.token\n  secret hook = \"git-webhook\" { token }\n  on push branch \"main\"\n  step s = run \"alpine:3\" { command = \"true\" }\n}\n",
    );
    let source = kind(&docs, "EventSource").unwrap();
    assert_eq!(
        source["spec"]["webhook"]["push"]["authSecret"],
        serde_json::json!({"name": "git-webhook", "key": "token"})
    );
    let without = docs_of(
        "pipeline p {\n  on push branch \"main\"\n  step s = run \"alpine:3\" { command = \"true\" }\n}\n",
    );
    let source = kind(&without, "EventSource").unwrap();
    assert!(
        source["spec"]["webhook"]["push"]
            .get("authSecret")
            .is_none()
    );
}

#[test]
fn untriggered_pipelines_still_create_a_run() {
    let docs = docs_of("pipeline p {\n  step s = run \"alpine:3\" { command = \"true\" }\n}\n");
    assert!(kind(&docs, "Workflow").is_some());
    for k in ["WorkflowTemplate", "CronWorkflow", "EventSource", "Sensor"] {
        assert!(kind(&docs, k).is_none(), "{k} without a trigger");
    }
}

#[test]
fn a_webhook_post_starts_a_run_with_the_parameters_of_its_body() {
    let path = common::root().join("tests/cases/compile/webhook.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    let docs = common::parsed_documents(&compilation);
    let source = docs.iter().find(|d| d["kind"] == "EventSource").unwrap();
    assert_eq!(source["metadata"]["name"], "deploy-on-demand-webhook");
    assert_eq!(
        source["spec"]["webhook"]["run"]["authSecret"],
        serde_json::json!({"name": "deploy-hook", "key": "token"})
    );
    let sensor = kind(&docs, "Sensor").unwrap();
    let trigger = &sensor["spec"]["triggers"][0]["template"]["argoWorkflow"];
    let params = trigger["parameters"].as_array().unwrap();
    let args = trigger["source"]["resource"]["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    // Each parameter comes from the body field of its name, its default when absent.
    let sources: Vec<(String, String, String)> = params
        .iter()
        .map(|p| {
            let index: usize = p["dest"]
                .as_str()
                .unwrap()
                .trim_start_matches("spec.arguments.parameters.")
                .trim_end_matches(".value")
                .parse()
                .unwrap();
            (
                args[index]["name"].as_str().unwrap().to_string(),
                p["src"]["dataKey"].as_str().unwrap().to_string(),
                p["src"]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("version".into(), "body.version".into(), "latest".into()),
            ("dry_run".into(), "body.dry_run".into(), "false".into()),
        ]
    );
    // Bodies with `{{` never reach a run.
    let filter = &sensor["spec"]["dependencies"][0]["filters"]["data"][0];
    assert_eq!(filter["path"], "body");
    let re = Regex::new(filter["value"][0].as_str().unwrap()).unwrap();
    assert!(re.is_match(r#"{"version": "v1.4", "dry_run": true}"#));
    assert!(re.is_match(r#"{"nested": {"a": 1}}"#));
    assert!(!re.is_match(r#"{"version": "{{workflow.name}}"}"#));
    assert!(!re.is_match(r#"{"version": "x{{"}"#));
}
