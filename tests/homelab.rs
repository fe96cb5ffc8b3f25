//! Scenario 4 (homelab-ping), behaviour by behaviour: the structure in the emitted resources
//! that carries each one.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use serde_json::{Value, json};

use common::{depends, env, find, runs, task, template};

fn docs() -> Vec<Value> {
    common::documents("examples/homelab-ping.pipe")
}

#[test]
fn behaviour_1_a_push_to_main_starts_a_run() {
    let docs = docs();
    let template = find(&docs, "WorkflowTemplate", "homelab-ping");
    assert_eq!(template["spec"]["entrypoint"], "main");
    assert!(
        docs.iter().all(|d| d["kind"] != "Workflow"),
        "installed, not run"
    );
    let source = find(&docs, "EventSource", "homelab-ping-push");
    assert_eq!(
        source["spec"]["webhook"]["push"]["authSecret"],
        json!({"name": "ping-hooks", "key": "token"}),
        "the webhook takes a bearer token from a Secret"
    );
    let sensor = find(&docs, "Sensor", "homelab-ping-push");
    let refs = &sensor["spec"]["dependencies"][0]["filters"]["data"][0];
    assert_eq!(refs["path"], "body.ref");
    assert_eq!(refs["value"], json!(["^refs/heads/main$"]));
    let trigger = &sensor["spec"]["triggers"][0]["template"]["argoWorkflow"];
    assert_eq!(
        trigger["source"]["resource"]["spec"]["workflowTemplateRef"]["name"],
        "homelab-ping"
    );
    assert_eq!(trigger["parameters"][0]["src"]["dataKey"], "body.after");
}

#[test]
fn behaviour_2_a_timestamped_version_for_two_images() {
    let docs = docs();
    let wf = find(&docs, "WorkflowTemplate", "homelab-ping");
    let (app_build, pipeline_build) = (runs(wf, "app"), runs(wf, "pipeline-image"));
    let app = env(&app_build, "IMAGE").as_str().unwrap();
    let pipeline = env(&pipeline_build, "IMAGE").as_str().unwrap();
    let (app_repo, app_tag) = app.split_once(":v").unwrap();
    let (pipeline_repo, pipeline_tag) = pipeline.split_once(":v").unwrap();
    assert_eq!(app_repo, "registry.homelab.example/ping");
    assert_eq!(pipeline_repo, "registry.homelab.example/ping-pipeline");
    assert_eq!(app_tag, pipeline_tag, "one version for both images");
    assert!(
        app_tag.contains("workflow.creationTimestamp"),
        "the version is the run's time: {app_tag}"
    );
    assert_eq!(
        env(&runs(wf, "pipeline-image"), "DOCKERFILE"),
        "Dockerfile.pipeline"
    );
}

fn staging_manifest(wf: &Value) -> Value {
    let text = env(template(wf, "staging-up"), "MANIFEST")
        .as_str()
        .unwrap();
    serde_json::from_str(text).unwrap()
}

#[test]
fn behaviour_3_staging_is_a_namespace_of_this_run_with_the_app_and_its_database() {
    let docs = docs();
    let wf = find(&docs, "WorkflowTemplate", "homelab-ping");
    let up = template(wf, "staging-up");
    assert_eq!(env(up, "NAMESPACE"), "{{workflow.name}}-staging");
    assert_eq!(
        env(up, "DEPLOYMENTS"),
        "staging-db staging-ping",
        "waits until every component is ready"
    );
    assert_eq!(env(up, "SECRETS"), "ping-db");
    let manifest = staging_manifest(wf);
    let deployment = |name: &str| {
        manifest["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "Deployment" && i["metadata"]["name"] == name)
            .map(|d| d["spec"]["template"]["spec"]["containers"][0].clone())
            .unwrap()
    };
    let db = deployment("staging-db");
    assert!(
        db["image"]
            .as_str()
            .unwrap()
            .starts_with("docker.io/library/postgres:")
    );
    let db_env: Vec<&str> = db["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        db_env,
        ["POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"]
    );
    let app = deployment("staging-ping");
    assert_eq!(app["readinessProbe"]["httpGet"]["path"], "/ping");
    assert!(
        app["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "DB_HOST", "value": "staging-db"})),
        "the app finds its database in its own namespace"
    );
    // Nothing of staging is emitted as a document: it exists only while the run does.
    assert!(docs.iter().all(|d| {
        !d["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .starts_with("staging")
    }));
}

#[test]
fn behaviour_4_migrations_then_functional_tests_from_the_pipeline_image() {
    let docs = docs();
    let wf = find(&docs, "WorkflowTemplate", "homelab-ping");
    let image = env(&runs(wf, "pipeline-image"), "IMAGE").clone();
    for step in ["staging-migrate", "staging-tests"] {
        assert_eq!(template(wf, step)["container"]["image"], image);
        assert!(depends(wf, step).contains(&"staging-up.Succeeded".to_string()));
    }
    assert!(depends(wf, "staging-tests").contains(&"staging-migrate.Succeeded".to_string()));
    let tests = template(wf, "staging-tests");
    let command = tests["container"]["args"][0].as_str().unwrap();
    assert!(command.contains("http://staging-ping."), "{command}");
    assert_eq!(env(tests, "PIPEC_VALUE_0"), "{{workflow.name}}");
}

#[test]
fn behaviour_5_production_after_staging_passed_and_staging_always_torn_down() {
    let docs = docs();
    let wf = find(&docs, "WorkflowTemplate", "homelab-ping");
    assert!(depends(wf, "ping-deploy").contains(&"staging-tests.Succeeded".to_string()));
    assert_eq!(wf["spec"]["onExit"], "on-exit");
    let down = task(wf, "on-exit", "staging-down");
    assert!(
        down["when"].is_null(),
        "torn down on success and failure alike"
    );
    let after = down["depends"].as_str().unwrap();
    assert!(
        after.contains("alert.Skipped"),
        "runs after the failure steps, or without them: {after}"
    );
    assert_eq!(
        env(template(wf, "staging-down"), "NAMESPACE"),
        "{{workflow.name}}-staging"
    );
}

#[test]
fn behaviour_6_a_canary_whose_traffic_grows_while_the_analysis_passes() {
    let docs = docs();
    let rollout = find(&docs, "Rollout", "ping");
    assert_eq!(rollout["metadata"]["namespace"], "homelab");
    let canary = &rollout["spec"]["strategy"]["canary"];
    let weights: Vec<u64> = canary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["setWeight"].as_u64())
        .collect();
    assert_eq!(weights, [25, 50, 75], "traffic grows step by step");
    assert!(canary["steps"][1]["pause"]["duration"].is_string());
    let analysis = &canary["analysis"];
    assert_eq!(
        analysis["startingStep"], 1,
        "from the first traffic shift on"
    );
    assert_eq!(
        analysis["templates"][0]["templateName"],
        "homelab-ping-maintain-success-rate"
    );
    assert!(
        analysis["args"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "service", "value": "ping"}))
    );
    let template = find(
        &docs,
        "AnalysisTemplate",
        "homelab-ping-maintain-success-rate",
    );
    assert_eq!(
        template["metadata"]["namespace"], "homelab",
        "beside its Rollout"
    );
    let metric = &template["spec"]["metrics"][0];
    assert!(
        metric["provider"]["prometheus"]["query"]
            .as_str()
            .unwrap()
            .contains("http_requests_total{service=\"{{args.service}}\"")
    );
    assert_eq!(metric["successCondition"], "result[0] >= {{args.min}}");
    assert_eq!(metric["failureLimit"], 2);
}

#[test]
fn behaviour_7_after_the_rollout_migrations_tests_and_a_report() {
    let docs = docs();
    let wf = find(&docs, "WorkflowTemplate", "homelab-ping");
    assert!(depends(wf, "production-migrate").contains(&"ping-complete.Succeeded".to_string()));
    assert!(depends(wf, "production-tests").contains(&"production-migrate.Succeeded".to_string()));
    assert_eq!(depends(wf, "report"), ["production-tests.Succeeded"]);
    let tests = template(wf, "production-tests");
    assert!(
        tests["container"]["args"][0]
            .as_str()
            .unwrap()
            .contains("http://ping.homelab:8080")
    );
    let report = template(wf, "report");
    assert_eq!(
        env(report, "WEBHOOK"),
        &json!({"secretKeyRef": {"name": "ping-hooks", "key": "chat"}})
    );
    assert_eq!(
        env(report, "TEXT"),
        "ping {{workflow.name}} is live in production"
    );
}
