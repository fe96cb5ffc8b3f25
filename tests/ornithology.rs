//! Scenario 2 (ornithology), behaviour by behaviour, plus the strategies case (rolling and
//! blue-green): the structure in the emitted resources that carries each behaviour.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use serde_json::{Value, json};

use common::{find, runs, template};

fn docs(program: &str) -> Vec<Value> {
    common::documents(program)
}

fn workflow(docs: &[Value]) -> &Value {
    docs.iter().find(|d| d["kind"] == "Workflow").unwrap()
}

fn task_names(wf: &Value) -> Vec<String> {
    template(wf, "main")["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn env<'a>(t: &'a Value, name: &str) -> Option<&'a Value> {
    let body = if t["script"].is_object() {
        &t["script"]
    } else {
        &t["container"]
    };
    body["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["value"])
}

#[test]
fn behaviour_1_two_images_from_one_commit_tagged_with_the_short_sha() {
    let docs = docs("examples/ornithology.pipe");
    let wf = workflow(&docs);
    // What the build sees for a push of commit 0123456789abcdef.
    let run = [("git-sha", "0123456789abcdef")];
    assert_eq!(
        common::kube::seen(&runs(wf, "app"), "IMAGE", &run),
        "registry.example.com/ornithology:0123456"
    );
    let tests = &runs(wf, "tests");
    assert_eq!(
        common::kube::seen(tests, "IMAGE", &run),
        "registry.example.com/ornithology-tests:0123456"
    );
    assert_eq!(env(tests, "DOCKERFILE").unwrap(), "Dockerfile.test");
    for image in ["app", "tests"] {
        assert_eq!(
            runs(wf, image)["inputs"]["artifacts"][0]["git"]["revision"],
            "{{workflow.parameters.git-sha}}"
        );
    }
}

#[test]
fn behaviour_2_nine_pods_behind_a_load_balancer_of_production_ready_pods() {
    let docs = docs("examples/ornithology.pipe");
    let service = find(&docs, "Service", "ornithology");
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(
        service["spec"]["selector"]["pipec.dev/serving"], "true",
        "only production-ready pods"
    );
    let rollout = find(&docs, "Rollout", "ornithology");
    assert_eq!(rollout["spec"]["replicas"], 9);
    assert_eq!(
        rollout["spec"]["strategy"]["canary"]["stableMetadata"]["labels"]["pipec.dev/serving"],
        "true"
    );
}

#[test]
fn behaviour_3_one_canary_pod_outside_production_with_its_own_service() {
    let docs = docs("examples/ornithology.pipe");
    let rollout = find(&docs, "Rollout", "ornithology");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(
        canary["canaryMetadata"]["labels"]["pipec.dev/serving"],
        "false"
    );
    assert_eq!(canary["canaryService"], "ornithology-canary");
    let canary_service = find(&docs, "Service", "ornithology-canary");
    assert_eq!(canary_service["spec"]["type"], "ClusterIP");
    let weight = canary["steps"][0]["setWeight"].as_u64().unwrap() as u32;
    assert_eq!(
        pipec_core::rollout_math::basic_canary_split(9, weight, 1),
        (1, 9),
        "one canary beside nine"
    );
    // The deploy step isolates the canary again, whatever an earlier run left behind.
    let wf = workflow(&docs);
    let deploy = runs(wf, "ornithology-deploy");
    let reset = env(&deploy, "EXTRA_PATCH").unwrap().as_str().unwrap();
    assert!(
        reset.contains("canaryMetadata/labels/pipec.dev~1serving") && reset.contains("\"false\""),
        "{reset}"
    );
}

#[test]
fn behaviour_4_the_test_image_against_the_canary_only_service() {
    let docs = docs("examples/ornithology.pipe");
    let wf = workflow(&docs);
    let gate = runs(wf, "ornithology-check-1");
    let run = [("git-sha", "0123456789abcdef")];
    assert_eq!(
        common::kube::argo_substitute(gate["container"]["image"].as_str().unwrap(), &run),
        common::kube::seen(&runs(wf, "tests"), "IMAGE", &run)
    );
    assert_eq!(gate["container"]["args"][0], "./canarytest.sh");
    assert_eq!(
        env(&gate, "CANARY_URL").unwrap(),
        "http://ornithology-canary:80"
    );
    let names = task_names(wf);
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("ornithology-wait-1") < pos("ornithology-check-1"));
    assert!(
        pos("ornithology-check-1") < pos("ornithology-join"),
        "isolation comes first"
    );
}

#[test]
fn behaviour_5_the_canary_joins_production_then_the_version_is_verified() {
    let docs = docs("examples/ornithology.pipe");
    let wf = workflow(&docs);
    let join = runs(wf, "ornithology-join");
    assert!(
        join["script"]["source"]
            .as_str()
            .unwrap()
            .contains("canaryMetadata/labels")
    );
    let verify = runs(wf, "ornithology-check-2");
    assert_eq!(verify["container"]["args"][0], "./version_verify.sh");
    assert_eq!(
        env(&verify, "SERVICE_URL").unwrap(),
        "http://ornithology:80"
    );
    let names = task_names(wf);
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("ornithology-join") < pos("ornithology-check-2"));
    assert!(pos("ornithology-check-2") < pos("ornithology-promote-1"));
}

#[test]
fn behaviour_4_5_a_failed_gate_removes_the_canary() {
    let docs = docs("examples/ornithology.pipe");
    let wf = workflow(&docs);
    let tasks = template(wf, "on-exit")["dag"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["name"], "ornithology-rollback");
}

#[test]
fn behaviour_6_a_rolling_update_of_every_pod_to_the_same_image() {
    let docs = docs("examples/ornithology.pipe");
    let rollout = find(&docs, "Rollout", "ornithology");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["maxSurge"], 1);
    assert_eq!(canary["maxUnavailable"], 1);
    assert_eq!(rollout["spec"]["minReadySeconds"], 5);
    assert!(
        rollout["spec"]["template"]["spec"]["containers"][0]
            .get("image")
            .is_none(),
        "the pipeline's image is set by the deploy step, never rebuilt"
    );
    let wf = workflow(&docs);
    assert_eq!(
        env(&runs(wf, "ornithology-deploy"), "IMAGE").unwrap(),
        env(&runs(wf, "app"), "IMAGE").unwrap()
    );
}

#[test]
fn rolling_releases_move_in_batches_new_pods_first() {
    let docs = docs("tests/cases/compile/strategies.pipe");
    let rollout = find(&docs, "Rollout", "billing");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(
        canary["maxUnavailable"], 0,
        "new pods start before old ones stop"
    );
    let steps = canary["steps"].as_array().unwrap();
    let weights: Vec<u32> = steps
        .iter()
        .filter_map(|s| s["setWeight"].as_u64())
        .map(|w| w as u32)
        .collect();
    let splits: Vec<(u32, u32)> = weights
        .iter()
        .map(|w| pipec_core::rollout_math::basic_canary_split(6, *w, 2))
        .collect();
    assert_eq!(splits, [(2, 4), (4, 2)], "batches of two pods");
    assert_eq!(steps[1]["pause"]["duration"], "1m");
    assert_eq!(
        steps.last().unwrap()["pause"],
        json!({}),
        "the final confirmation"
    );
    assert!(task_names(workflow(&docs)).contains(&"billing-approve".to_string()));
}

#[test]
fn blue_green_checks_the_preview_then_switches() {
    let docs = docs("tests/cases/compile/strategies.pipe");
    let rollout = find(&docs, "Rollout", "auth");
    let bg = &rollout["spec"]["strategy"]["blueGreen"];
    assert_eq!(bg["activeService"], "auth");
    assert_eq!(bg["previewService"], "auth-preview");
    assert_eq!(
        bg["autoPromotionEnabled"], false,
        "the Workflow switches after its checks"
    );
    assert_eq!(bg["scaleDownDelaySeconds"], 600);
    assert_eq!(
        bg["prePromotionAnalysis"]["templates"][0]["templateName"],
        "strategies-success-rate"
    );
    assert_eq!(
        bg["postPromotionAnalysis"]["templates"][0]["templateName"],
        "strategies-error-count"
    );
    find(&docs, "Service", "auth-preview");
    let wf = workflow(&docs);
    assert_eq!(
        env(&runs(wf, "auth-check-1"), "PREVIEW_URL").unwrap(),
        "http://auth-preview:9000"
    );
    assert_eq!(
        task_names(wf)
            .into_iter()
            .filter(|n| n.starts_with("auth-"))
            .collect::<Vec<_>>(),
        [
            "auth-deploy",
            "auth-wait",
            "auth-check-1",
            "auth-approve",
            "auth-promote",
            "auth-complete",
            "auth-check-2"
        ]
    );
}
