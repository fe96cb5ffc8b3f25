//! Scenario 3 (go-auth), behaviour by behaviour, in its two variants: `go-auth.pipe` (rolling)
//! and `go-auth-bluegreen.pipe`. The API check is run for real against a fake `curl`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::process::Command;

use serde_json::{Value, json};

use common::{depends, env, find, runs, task, template};

fn docs(file: &str) -> Vec<Value> {
    common::documents(&format!("examples/{file}"))
}

const VARIANTS: [&str; 2] = ["go-auth.pipe", "go-auth-bluegreen.pipe"];

fn workflow(docs: &[Value]) -> &Value {
    docs.iter().find(|d| d["kind"] == "Workflow").unwrap()
}

#[test]
fn behaviour_1_compile_and_test_in_a_pinned_image_and_hand_the_binary_on() {
    for file in VARIANTS {
        let docs = docs(file);
        let wf = workflow(&docs);
        let compile = template(wf, "compile");
        assert_eq!(
            compile["container"]["image"],
            "docker.io/library/golang:1.23.4"
        );
        assert_eq!(compile["container"]["workingDir"], "/workspace");
        let source = &compile["inputs"]["artifacts"][0];
        assert_eq!(source["path"], "/workspace");
        assert_eq!(source["git"]["revision"], "{{workflow.parameters.version}}");
        let script = compile["container"]["args"][0].as_str().unwrap();
        for stage in [
            "go mod download",
            "gofmt -l",
            "go test ./...",
            "go build -o bin/auth",
        ] {
            assert!(script.contains(stage), "{file}: {stage}");
        }
        assert_eq!(
            compile["outputs"]["artifacts"],
            json!([{"name": "binary", "path": "/workspace/bin/auth"}])
        );
        let package = task(wf, "main", "app");
        assert_eq!(
            package["arguments"]["artifacts"],
            json!([{"name": "compile-binary", "from": "{{tasks.compile.outputs.artifacts.binary}}"}])
        );
        assert!(
            runs(wf, "app")["inputs"]["artifacts"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "compile-binary", "path": "/workspace/bin/auth"})),
            "the binary lands in the build's context"
        );
    }
}

#[test]
fn behaviour_2_the_image_is_tagged_with_the_version_parameter() {
    for file in VARIANTS {
        let docs = docs(file);
        let wf = workflow(&docs);
        let version = wf["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "version")
            .unwrap();
        assert_eq!(version["value"], "develop");
        let app = &runs(wf, "app");
        // What the build sees, for a run with `version = v1.2.3`.
        assert_eq!(
            common::kube::seen(app, "IMAGE", &[("version", "v1.2.3")]),
            "registry.example.com/acme/auth:v1.2.3"
        );
        assert_eq!(env(app, "DOCKERFILE"), "Dockerfile.package");
    }
}

/// Runs the API check with the fake curl answering `codes` in turn; true if it passed.
fn api_check_passes(check: &Value, codes: &str) -> bool {
    let dir = std::env::temp_dir().join(format!(
        "pipec-goauth-{}-{}",
        std::process::id(),
        codes.replace('\n', "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("http_codes"), codes).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&common::kube::container_args(&check["container"], &[])[0])
        .env(
            "PATH",
            format!(
                "{}:{}",
                common::root().join("tests/fake").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("FAKE", &dir)
        .env("URL", "http://test-auth.run-1-integration-test:9000")
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(dir.join("curl_calls")).unwrap_or_default();
    if out.status.success() {
        assert_eq!(calls.lines().count(), 2, "registers twice");
        assert!(calls.contains("-X POST http://test-auth.run-1-integration-test:9000/register"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    out.status.success()
}

#[test]
fn behaviour_3_an_integration_test_against_a_throwaway_environment_with_mysql() {
    for file in VARIANTS {
        let docs = docs(file);
        let wf = workflow(&docs);
        let up = template(wf, "integration-test-up");
        assert_eq!(env(up, "NAMESPACE"), "{{workflow.name}}-integration-test");
        assert_eq!(
            env(up, "DEPLOYMENTS"),
            "test-db test-auth",
            "waits for the database"
        );
        let manifest: Value = serde_json::from_str(env(up, "MANIFEST").as_str().unwrap()).unwrap();
        let db = manifest["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["kind"] == "Deployment" && i["metadata"]["name"] == "test-db")
            .unwrap();
        let db = &db["spec"]["template"]["spec"]["containers"][0];
        assert!(
            db["image"]
                .as_str()
                .unwrap()
                .starts_with("docker.io/library/mysql:")
        );
        assert!(
            db["readinessProbe"]["exec"]["command"][2]
                .as_str()
                .unwrap()
                .starts_with("mysqladmin ping")
        );
        assert_eq!(depends(wf, "api-check"), ["integration-test-up.Succeeded"]);
        let check = &runs(wf, "api-check");
        assert_eq!(
            env(check, "URL"),
            "http://test-auth.{{workflow.name}}-integration-test:9000"
        );
        assert!(
            api_check_passes(check, "200\n409\n"),
            "{file}: 200 then 409"
        );
        assert!(
            !api_check_passes(check, "200\n200\n"),
            "{file}: a second 200 fails"
        );
        assert!(
            !api_check_passes(check, "500\n"),
            "{file}: a failed registration fails"
        );
        // Torn down whatever happened.
        let down = task(wf, "on-exit", "integration-test-down");
        assert!(down["when"].is_null());
    }
}

#[test]
fn behaviour_4_the_integration_environment_with_its_health_check() {
    for file in VARIANTS {
        let docs = docs(file);
        let rollout = find(&docs, "Rollout", "integration-auth");
        assert_eq!(rollout["metadata"]["namespace"], "auth-integration");
        let probe = &rollout["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
        assert_eq!(probe["httpGet"]["path"], "/health");
        assert_eq!(probe["periodSeconds"], 2);
        assert_eq!(probe["failureThreshold"], 3);
        assert_eq!(probe["successThreshold"], 2);
        let wf = workflow(&docs);
        assert!(
            depends(wf, "integration-auth-deploy").contains(&"api-check.Succeeded".to_string())
        );
        assert_eq!(
            env(&runs(wf, "integration-auth-deploy"), "NAMESPACE"),
            "auth-integration"
        );
    }
}

#[test]
fn behaviour_5_tagged_versions_are_pushed_under_their_name_and_released() {
    for file in VARIANTS {
        let docs = docs(file);
        let wf = workflow(&docs);
        let push = task(wf, "main", "release-image");
        assert_eq!(
            push["when"],
            "{{=workflow.parameters['version'] matches '^v[0-9]'}}"
        );
        assert_eq!(
            common::kube::seen(
                &runs(wf, "release-image"),
                "TARGET",
                &[("version", "v2.0.0")]
            ),
            "docker.io/acme/auth:v2.0.0"
        );
        let deploy = depends(wf, "go-auth-deploy");
        assert!(deploy.contains(&"release-image.Succeeded".to_string()));
        assert!(deploy.contains(&"integration-auth-complete.Succeeded".to_string()));
        assert_eq!(
            common::kube::seen(
                &runs(wf, "go-auth-deploy"),
                "IMAGE",
                &[("version", "v2.0.0")]
            ),
            "docker.io/acme/auth:v2.0.0"
        );
    }
}

#[test]
fn behaviour_6_rolling_in_batches_new_before_old_confirmed_by_a_person() {
    let docs = docs("go-auth.pipe");
    let rollout = find(&docs, "Rollout", "go-auth");
    let canary = &rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["maxSurge"], 2);
    assert_eq!(
        canary["maxUnavailable"], 0,
        "new pods start before old ones stop"
    );
    let steps = canary["steps"].as_array().unwrap();
    assert_eq!(
        steps,
        &[
            json!({"setWeight": 33}),
            json!({"pause": {"duration": "1m"}}),
            json!({"setWeight": 67}),
            json!({"pause": {"duration": "1m"}}),
            json!({"pause": {}}),
        ],
        "batches of 2 of 6 pods, a pause between, then the confirmation"
    );
    let wf = workflow(&docs);
    assert!(template(wf, "go-auth-approve")["suspend"].is_object());
    assert_eq!(
        depends(wf, "go-auth-promote-4"),
        ["go-auth-approve.Succeeded"]
    );
    let rollback = task(wf, "on-exit", "go-auth-rollback");
    assert_eq!(rollback["when"], "'{{workflow.status}}' != 'Succeeded'");
}

#[test]
fn behaviour_7_blue_green_verify_the_idle_stack_then_switch_at_once() {
    let docs = docs("go-auth-bluegreen.pipe");
    let rollout = find(&docs, "Rollout", "go-auth");
    let bg = &rollout["spec"]["strategy"]["blueGreen"];
    assert_eq!(bg["activeService"], "go-auth");
    assert_eq!(bg["previewService"], "go-auth-preview");
    assert_eq!(
        bg["autoPromotionEnabled"], false,
        "the switch waits for the check"
    );
    assert_eq!(
        bg["scaleDownDelaySeconds"], 1800,
        "the old stack stays as rollback target"
    );
    assert_eq!(
        find(&docs, "Service", "go-auth")["spec"]["type"],
        "LoadBalancer"
    );
    assert_eq!(
        find(&docs, "Service", "go-auth-preview")["metadata"]["namespace"],
        "auth"
    );
    let wf = workflow(&docs);
    let verify = &runs(wf, "go-auth-check-1");
    assert_eq!(env(verify, "PREVIEW_URL"), "http://go-auth-preview.auth:80");
    assert_eq!(
        depends(wf, "go-auth-promote"),
        ["go-auth-check-1.Succeeded"]
    );
    assert_eq!(
        depends(wf, "go-auth-check-2"),
        ["go-auth-complete.Succeeded"]
    );
    // Argo Rollouts (its model) holds the new stack as a preview, with no traffic, until the
    // Workflow promotes it; then switches at once and keeps the old stack for 30 minutes.
    use pipec_argo_semantics::rollout::controller::{Action, Script, simulate_update};
    use pipec_argo_semantics::rollout::{RolloutPhase, Spec};
    let spec = Spec::from_json(rollout).unwrap();
    let replicas = spec.replicas;
    let mut script = Script {
        horizon: 7200,
        ..Script::default()
    };
    script.actions.push((600, Action::Promote));
    let timeline = simulate_update(spec, &script);
    let held = timeline.frames.iter().find(|f| f.time == 0).unwrap();
    assert_eq!(
        (held.phase, held.traffic_weight, held.new_pods),
        (RolloutPhase::Paused, Some(0), replicas)
    );
    let switched = timeline.frames.iter().find(|f| f.time == 600).unwrap();
    assert_eq!(
        (switched.phase, switched.traffic_weight, switched.old_pods),
        (RolloutPhase::Healthy, Some(100), replicas)
    );
    let scaled_down = timeline.frames.iter().find(|f| f.old_pods == 0).unwrap();
    assert_eq!(scaled_down.time, 600 + 1800);
}

#[test]
fn behaviour_8_failures_are_announced_by_chat_and_email() {
    let rolling = docs("go-auth.pipe");
    let wf = workflow(&rolling);
    let chat = template(wf, "tell-chat");
    assert_eq!(
        env(chat, "WEBHOOK"),
        &json!({"secretKeyRef": {"name": "auth-alerts", "key": "chat"}})
    );
    let mail = template(wf, "tell-mail");
    assert_eq!(env(mail, "TO"), "auth-team@example.com");
    assert_eq!(
        env(mail, "SMTP_PASSWORD"),
        &json!({"secretKeyRef": {"name": "auth-alerts", "key": "smtp_password"}})
    );
    for name in ["tell-chat", "tell-mail"] {
        assert_eq!(
            task(wf, "on-exit", name)["when"],
            "'{{workflow.status}}' != 'Succeeded'",
            "only when the run failed"
        );
    }
    let bluegreen = docs("go-auth-bluegreen.pipe");
    assert_eq!(
        env(template(workflow(&bluegreen), "tell-chat"), "WEBHOOK"),
        &json!({"secretKeyRef": {"name": "auth-alerts", "key": "chat"}})
    );
}
