//! Scenario 1 (addressbook), behaviour by behaviour: each test asserts the structure in the
//! emitted resources that carries one numbered behaviour of `../shared/scenarios.md`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use serde_json::Value;

struct Output {
    service: Value,
    rollout: Value,
    workflow: Value,
    /// The manual rollback, `addressbook-rollback`.
    rollback: Value,
    warnings: Vec<pipec_core::Diagnostic>,
}

fn compiled() -> Output {
    let path = common::root().join("examples/addressbook.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    let docs = common::parsed_documents(&compilation);
    let get = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().unwrap();
    Output {
        service: get("Service"),
        rollout: get("Rollout"),
        workflow: get("Workflow"),
        rollback: get("WorkflowTemplate"),
        warnings: compilation.diagnostics.clone(),
    }
}

use common::{env, runs, task, template};

#[test]
fn behaviour_1_build_with_cache_and_a_per_run_tag() {
    let wf = compiled().workflow;
    let build = &runs(&wf, "app");
    assert_eq!(
        env(build, "IMAGE"),
        "registry.ci.example.com/addressbook:{{workflow.uid}}"
    );
    assert_eq!(
        env(build, "CACHE"),
        "registry.ci.example.com/addressbook:latest"
    );
    let source = build["script"]["source"].as_str().unwrap();
    assert!(source.contains("--import-cache \"type=registry,ref=$CACHE\""));
    assert!(source.contains("push=true"));
    assert_eq!(
        build["inputs"]["artifacts"][0]["git"]["repo"],
        "{{workflow.parameters.git-repo}}"
    );
    let params = wf["spec"]["arguments"]["parameters"].as_array().unwrap();
    let repo = params.iter().find(|p| p["name"] == "git-repo").unwrap();
    assert_eq!(repo["value"], "https://github.com/acme/addressbook.git");
}

#[test]
fn behaviour_2_tests_run_inside_the_fresh_image() {
    let wf = compiled().workflow;
    let unit = template(&wf, "unit");
    assert_eq!(&unit["container"]["image"], env(&runs(&wf, "app"), "IMAGE"));
    assert_eq!(unit["container"]["args"][0], "npm test");
    assert_eq!(task(&wf, "main", "unit")["depends"], "app.Succeeded");
}

#[test]
fn behaviour_3_promotion_only_after_tests_on_master_or_a_hotfix_tag() {
    let wf = compiled().workflow;
    let push = task(&wf, "main", "release-image");
    assert_eq!(push["depends"], "app.Succeeded && unit.Succeeded");
    assert_eq!(
        push["when"],
        "{{=workflow.parameters['git-branch'] == 'master' || workflow.parameters['git-tag'] matches '^hotfix'}}"
    );
}

#[test]
fn behaviour_4_copy_to_the_production_registry_with_the_same_tag() {
    let wf = compiled().workflow;
    let push = &runs(&wf, "release-image");
    assert_eq!(
        env(push, "SOURCE"),
        "registry.ci.example.com/addressbook:{{workflow.uid}}"
    );
    assert_eq!(
        env(push, "TARGET"),
        "docker.io/acme/addressbook:{{workflow.uid}}"
    );
    for (var, key) in [
        ("TARGET_USERNAME", "username"),
        ("TARGET_PASSWORD", "password"),
    ] {
        // `env` gives `valueFrom` when there is no `value`: secret values never appear.
        let secret = &env(push, var)["secretKeyRef"];
        assert_eq!(secret["name"], "dockerhub");
        assert_eq!(secret["key"], key);
    }
    assert!(
        push["script"]["source"]
            .as_str()
            .unwrap()
            .contains("crane copy \"$SOURCE\" \"$TARGET\"")
    );
}

#[test]
fn behaviour_5_a_load_balancer_over_all_pods_and_one_canary_beside_two_stable() {
    let out = compiled();
    assert_eq!(out.service["spec"]["type"], "LoadBalancer");
    assert_eq!(out.service["spec"]["ports"][0]["port"], 80);
    assert_eq!(out.service["spec"]["ports"][0]["targetPort"], "http");
    let selector = &out.service["spec"]["selector"];
    assert_eq!(selector["app.kubernetes.io/name"], "addressbook");
    assert_eq!(
        out.rollout["spec"]["selector"]["matchLabels"], *selector,
        "the Service selects every pod, canary included"
    );
    let container = &out.rollout["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 3000);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(out.rollout["spec"]["replicas"], 3);
    let weight = out.rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"]
        .as_u64()
        .unwrap() as u32;
    assert_eq!(
        pipec_core::rollout_math::basic_canary_split(3, weight, 1),
        (1, 2),
        "weight {weight}"
    );
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        [
            "DB_HOST",
            "DB_PORT",
            "DB_SCHEMA",
            "DB_USER",
            "DB_PASSWORD",
            "DB_SSL"
        ]
    );
    for e in container["env"].as_array().unwrap() {
        assert_eq!(e["valueFrom"]["secretKeyRef"]["name"], "db-params");
        assert_eq!(e["valueFrom"]["secretKeyRef"]["key"], e["name"]);
    }
}

#[test]
fn behaviour_6_ping_then_migrate_inside_a_canary_pod() {
    let out = compiled();
    let steps = &out.rollout["spec"]["strategy"]["canary"]["steps"];
    assert_eq!(
        steps[1]["pause"],
        serde_json::json!({}),
        "the Rollout holds the canary while the checks run"
    );
    let wf = &out.workflow;
    assert_eq!(env(&runs(wf, "addressbook-wait-1"), "STEP"), "1");
    assert_eq!(
        env(&runs(wf, "addressbook-check-1"), "COMMAND"),
        "npm run ping"
    );
    assert_eq!(
        env(&runs(wf, "addressbook-check-2"), "COMMAND"),
        "npm run migrate"
    );
    assert_eq!(
        task(wf, "main", "addressbook-check-1")["depends"],
        "addressbook-wait-1.Succeeded"
    );
    assert_eq!(
        task(wf, "main", "addressbook-check-2")["depends"],
        "addressbook-check-1.Succeeded"
    );
    let source_template = runs(wf, "addressbook-check-1");
    let source = source_template["script"]["source"].as_str().unwrap();
    assert!(
        source.contains("rollouts-pod-template-hash=$current"),
        "runs in a pod of the new version"
    );
}

#[test]
fn behaviour_7_one_manual_go_no_go() {
    let wf = compiled().workflow;
    let suspends: Vec<&Value> = wf["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["suspend"].is_object())
        .collect();
    assert_eq!(suspends.len(), 1, "exactly one place where a person acts");
    assert_eq!(suspends[0]["name"], "addressbook-approve");
    assert_eq!(
        task(&wf, "main", "addressbook-approve")["depends"],
        "addressbook-check-2.Succeeded"
    );
}

#[test]
fn behaviour_8_then_a_rolling_update_of_all_pods() {
    let out = compiled();
    let canary = &out.rollout["spec"]["strategy"]["canary"];
    assert_eq!(canary["maxSurge"], 1);
    assert_eq!(canary["maxUnavailable"], 1);
    assert_eq!(
        canary["steps"].as_array().unwrap().len(),
        2,
        "after the held pause Argo rolls to 100%"
    );
    let wf = &out.workflow;
    assert_eq!(
        task(wf, "main", "addressbook-promote-1")["depends"],
        "addressbook-approve.Succeeded"
    );
    assert_eq!(
        task(wf, "main", "addressbook-complete")["depends"],
        "addressbook-promote-1.Succeeded"
    );
}

#[test]
fn behaviour_9_on_failure_diagnostics_first_then_rollback() {
    let wf = compiled().workflow;
    assert_eq!(wf["spec"]["onExit"], "on-exit");
    let tasks = template(&wf, "on-exit")["dag"]["tasks"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["addressbook-diagnostics", "addressbook-rollback"]);
    for t in tasks {
        assert_eq!(t["when"], "'{{workflow.status}}' != 'Succeeded'");
    }
    assert_eq!(
        tasks[1]["depends"],
        "addressbook-diagnostics.Succeeded || addressbook-diagnostics.Failed || addressbook-diagnostics.Errored || addressbook-diagnostics.Skipped",
        "the rollback runs even if collecting diagnostics failed (and is Skipped by its own `when` on success, not Omitted)"
    );
    let diagnostics_template = runs(&wf, "addressbook-diagnostics");
    let diagnostics = diagnostics_template["script"]["source"].as_str().unwrap();
    for part in [
        "kubectl get all",
        "kubectl get events",
        "kubectl describe rollout",
        "kubectl logs",
    ] {
        assert!(diagnostics.contains(part), "diagnostics collect `{part}`");
    }
    let rollback_template = runs(&wf, "addressbook-rollback");
    let rollback = rollback_template["script"]["source"].as_str().unwrap();
    assert!(rollback.contains(r#"{"status":{"abort":true}}"#));
}

#[test]
fn behaviour_9_a_person_can_trigger_the_same_rollback_by_hand() {
    let manual = compiled().rollback;
    assert_eq!(manual["metadata"]["name"], "addressbook-rollback");
    let params = manual["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    assert_eq!(params[0]["name"], "service");
    assert_eq!(params[0]["enum"], serde_json::json!(["addressbook"]));
    assert_eq!(params[0]["value"], "addressbook");
    let tasks = template(&manual, "main")["dag"]["tasks"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["addressbook-diagnostics", "addressbook-rollback"],
        "diagnostics first, as in the automatic rollback"
    );
    let env_template = runs(&manual, "addressbook-rollback");
    let env: Vec<&str> = env_template["script"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"MANUAL"),
        "acts whichever run changed the Rollout"
    );
}

#[test]
fn behaviour_10_the_migration_is_flagged_as_not_undone_by_rollback() {
    let out = compiled();
    let w = out
        .warnings
        .iter()
        .find(|d| d.code == pipec_core::Code::W0001)
        .expect("W0001");
    assert!(w.message.contains("rollback does not undo"));
    // Images are tagged per run, so an earlier run's image can be redeployed: the manual
    // rollback takes it as `image`.
    assert!(
        out.workflow
            .to_string()
            .contains("docker.io/acme/addressbook:{{workflow.uid}}")
    );
    let params = out.rollback["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    assert_eq!(params[1]["name"], "image");
    let rollback = runs(&out.rollback, "addressbook-rollback");
    let to_image = rollback["script"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TO_IMAGE")
        .unwrap();
    // The image a person types reaches the script as typed, `$` and all.
    let typed = "registry.example.com/addressbook@sha256:ab$(PIPEC)$$";
    let seen = common::kube::kubernetes_expand(
        &common::kube::argo_substitute(to_image["value"].as_str().unwrap(), &[("image", typed)]),
        &std::collections::BTreeMap::new(),
    );
    assert_eq!(seen, typed);
}

#[test]
fn every_object_and_step_points_back_at_the_source() {
    let out = compiled();
    for doc in [&out.service, &out.rollout, &out.workflow] {
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "pipec"
        );
        assert!(
            doc["metadata"]["annotations"]["pipec.dev/source"]
                .as_str()
                .unwrap()
                .starts_with("addressbook.pipe:")
        );
    }
    // Every task's pod, as Argo runs it (a shared template gets the task's location as an
    // input).
    let tasks = pipec_argo_semantics::workflow::instance::task_templates(&out.workflow["spec"]);
    assert!(tasks.len() > 10);
    for task in tasks {
        if task.template["dag"].is_object() {
            continue;
        }
        let source = task.template["metadata"]["annotations"]["pipec.dev/source"].as_str();
        assert!(
            source.is_some_and(|s| s.starts_with("addressbook.pipe:")),
            "{} has no source: {source:?}",
            task.name()
        );
    }
}
