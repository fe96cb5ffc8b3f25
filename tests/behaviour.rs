//! The examples under the model of Argo's controller (`pipec-argo-semantics`, checked against
//! Argo's own test cases): each is inside what the model covers, and behaves as its comments
//! say in every outcome class: teardowns run on success too, `on failure` actions after any
//! failure.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::collections::BTreeSet;

use pipec_argo_semantics::Phase;
use pipec_argo_semantics::rollout::controller::{
    Action, RunKind, Script, Verdict, simulate_update,
};
use pipec_argo_semantics::rollout::{AnalysisPhase, RolloutPhase, Spec};
use pipec_argo_semantics::workflow::{self, Outcomes};
use serde_json::{Value, json};

fn workflow_of(relative: &str) -> Value {
    common::documents(relative)
        .into_iter()
        .find(|d| d["kind"] == "Workflow" || d["kind"] == "WorkflowTemplate")
        .unwrap_or_else(|| panic!("no Workflow in {relative}"))
}

fn entry_tasks(workflow: &Value) -> Vec<String> {
    workflow["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "main")
        .unwrap()["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn run(workflow: &Value, failing: &[&str]) -> workflow::Run {
    workflow::run(
        workflow,
        &Outcomes {
            failing: failing
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>(),
            approved: true,
            ..Outcomes::default()
        },
    )
    .unwrap_or_else(|e| panic!("outside the model: {e}"))
}

#[test]
fn every_example_is_inside_the_model() {
    for path in common::pipe_files("examples") {
        let relative = path
            .strip_prefix(common::root())
            .unwrap()
            .display()
            .to_string();
        let wf = workflow_of(&relative);
        let all = run(&wf, &[]);
        assert_eq!(all.phase, Phase::Succeeded, "{relative}: {:?}", all.nodes);
        for task in entry_tasks(&wf) {
            let failed = run(&wf, &[&task]);
            assert!(failed.status.ended(), "{relative} when {task} fails");
        }
    }
}

/// Issue 10's first bug: with two or more `on failure` actions, a successful run Omitted the
/// environment's teardown (the first action is Skipped, the next `depends` on it failed).
#[test]
fn teardown_runs_on_success_and_after_each_failure() {
    for relative in ["examples/homelab-ping.pipe", "examples/go-auth.pipe"] {
        let wf = workflow_of(relative);
        let teardowns: Vec<String> = wf["spec"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .filter(|n| n.ends_with("-down"))
            .map(str::to_string)
            .collect();
        assert!(!teardowns.is_empty(), "{relative}");
        let mut outcomes: Vec<Vec<String>> = vec![Vec::new()];
        outcomes.extend(entry_tasks(&wf).into_iter().map(|t| vec![t]));
        for failing in outcomes {
            let failing: Vec<&str> = failing.iter().map(String::as_str).collect();
            let run = run(&wf, &failing);
            for teardown in &teardowns {
                let node = run.node("on-exit", teardown);
                assert!(
                    node.is_some_and(|n| n.phase.completed()),
                    "{relative}: {teardown} is {node:?} when {failing:?} fail"
                );
            }
            // A failing task whose `when` is false never runs: only failed runs owe actions.
            if run.status != Phase::Succeeded {
                assert!(!failing.is_empty(), "{relative}: {:?}", run.nodes);
                let actions: Vec<_> = run.nodes.iter().filter(|n| n.dag == "on-exit").collect();
                assert!(
                    actions.iter().all(|n| n.phase.completed()),
                    "{relative}: when {failing:?} fail: {actions:?}"
                );
            }
        }
    }
}

/// Issue 10's second bug: a `check run IMAGE` gate did not wait for its image's build, and the
/// canary was deployed even when that build failed.
#[test]
fn no_canary_and_no_gate_without_the_gates_image() {
    let wf = workflow_of("examples/ornithology.pipe");
    let run = run(&wf, &["tests"]);
    for task in [
        "ornithology-deploy",
        "ornithology-check-1",
        "ornithology-check-2",
    ] {
        let node = run.node("main", task);
        assert!(
            node.is_none_or(|n| !n.phase.completed()),
            "{task} ran without the test image: {node:?}"
        );
    }
    assert_eq!(run.status, Phase::Failed);
    let ok = self::run(&wf, &[]);
    assert_eq!(
        ok.node("main", "ornithology-check-2").map(|n| n.phase),
        Some(Phase::Succeeded)
    );
}

/// Issue 10's third bug: the release `timeout` capped the waits across the pauses Argo holds,
/// so two `pause 20m` under a 30-minute timeout failed a healthy rollout at 30 minutes (and
/// the exit handler rolled it back). Each wait now allows the pauses and analyses before it.
#[test]
fn waits_allow_for_the_pauses_argo_holds() {
    let source = r#"
analysis steady(every: duration = 1m) {
  metric errors {
    every  = every
    times  = 5
    prometheus = { address = "http://prometheus:9090", query = "sum(up)" }
    success = result >= 1
  }
}
pipeline p {
  service api { image = "nginx:1.27", port = 80, replicas = 4 }
  release api canary {
    timeout = 30m
    weight 25%
    pause 20m
    weight 50%
    pause 20m
    approve "go on"
    weight 75%
    analyze steady(every = 2m)
  }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let wf = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    let timeout = |task: &str| common::env(&common::runs(wf, task), "TIMEOUT").clone();
    // 30 minutes beyond the two 20-minute pauses before the approval.
    assert_eq!(timeout("api-wait-4"), "4200");
    // After it: the analysis's five measurements, two minutes apart.
    assert_eq!(timeout("api-complete"), (1800 + 4 * 120).to_string());
    // The check (E0408) runs the update through the model of Argo Rollouts: the fixed waits
    // pass, and the bug — the 30-minute timeout alone — is caught on both waits.
    assert_eq!(pipec_core::behaviour::short_waits(wf, &docs), []);
    let mut buggy = wf.clone();
    set_timeouts(&mut buggy, &|t| (t != "1800").then(|| "1800".to_string()));
    let short = pipec_core::behaviour::short_waits(&buggy, &docs);
    let found: Vec<(&str, u64)> = short.iter().map(|s| (s.task.as_str(), s.needed)).collect();
    assert_eq!(found, [("api-wait-4", 2400)], "{short:?}");
}

/// Argo Rollouts' progress deadline and pipec's waits agree: pods slower than Argo's default
/// deadline (600 s) but within the release's `timeout` do not turn the Rollout Degraded (which
/// fails the wait at once), pods that never start do only once the wait's own limit is up; and
/// a check without its own `timeout` is bounded by the release's.
#[test]
fn slow_pods_fail_no_sooner_than_the_release_timeout() {
    let source = r#"
pipeline p {
  service api { image = "nginx:1.27", port = 80, replicas = 2 }
  release api canary {
    timeout = 1h
    weight 50%
    check run "curlimages/curl:8.10.1" { command = "curl -fsS $CANARY_URL/ready" }
  }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let wf = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    assert_eq!(
        common::env(&common::runs(wf, "api-wait-1"), "TIMEOUT"),
        "3600"
    );
    assert_eq!(common::runs(wf, "api-check-1")["timeout"], "1h");
    let rollout = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
    assert_eq!(rollout["spec"]["progressDeadlineSeconds"], 3600);
    let degraded_at = |rollout: &Value, pod_ready_after: u64| {
        let script = Script {
            pod_ready_after,
            promote_held_pauses: true,
            horizon: 86_400,
            ..Script::default()
        };
        simulate_update(Spec::from_json(rollout).unwrap(), &script)
            .frames
            .iter()
            .find(|f| f.phase == RolloutPhase::Degraded)
            .map(|f| f.time)
    };
    // Pods that need 40 minutes: the pipeline waits an hour, and so does Argo Rollouts.
    assert_eq!(degraded_at(rollout, 2400), None);
    // Argo's default deadline (what pipec emitted before) would fail them after 10 minutes.
    let mut defaulted = rollout.clone();
    defaulted["spec"]
        .as_object_mut()
        .unwrap()
        .remove("progressDeadlineSeconds");
    assert_eq!(degraded_at(&defaulted, 2400), Some(601));
    // Pods that never start: Degraded just after the hour the wait allows.
    assert_eq!(degraded_at(rollout, u64::MAX), Some(3601));
}

/// A routed canary's `scale_down_delay` keeps the old pods up that long after the update, as
/// Argo Rollouts runs it: the Rollout is Healthy at once (the Workflow's wait for it does not
/// wait the delay), and the old ReplicaSet goes when the delay is over.
#[test]
fn a_routed_canary_keeps_its_old_pods_for_the_scale_down_delay() {
    let source = r#"
pipeline p {
  service api { image = "nginx:1.27", port = 80, replicas = 2 }
  release api canary {
    traffic = smi()
    scale_down_delay = 10m
    weight 50%
  }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let rollout = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
    assert_eq!(
        rollout["spec"]["strategy"]["canary"]["scaleDownDelaySeconds"],
        600
    );
    let script = Script {
        horizon: 86_400,
        ..Script::default()
    };
    let frames = simulate_update(Spec::from_json(rollout).unwrap(), &script).frames;
    let healthy = frames
        .iter()
        .find(|f| f.phase == RolloutPhase::Healthy)
        .unwrap();
    assert!(
        healthy.old_pods > 0,
        "healthy with the old pods still up: {frames:?}"
    );
    let gone = frames
        .iter()
        .find(|f| f.time > 0 && f.old_pods == 0)
        .unwrap();
    assert_eq!(gone.time, healthy.time + 600, "{frames:?}");
}

/// Sets the `TIMEOUT` each task of `workflow` passes its Rollout script (its `timeout`
/// argument) to what `change` makes of it (`None`: unchanged); returns each task's earlier
/// value.
fn set_timeouts(
    workflow: &mut Value,
    change: &dyn Fn(&str) -> Option<String>,
) -> std::collections::BTreeMap<String, u64> {
    let mut before = std::collections::BTreeMap::new();
    for template in workflow["spec"]["templates"].as_array_mut().unwrap() {
        for task in template["dag"]["tasks"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            let name = task["name"].as_str().unwrap_or_default().to_string();
            for p in task["arguments"]["parameters"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if p["name"] != "TIMEOUT" {
                    continue;
                }
                let old = p["value"].as_str().unwrap().to_string();
                before.insert(name.clone(), old.parse::<u64>().unwrap());
                if let Some(new) = change(&old) {
                    p["value"] = json!(new);
                }
            }
        }
    }
    before
}

/// A random pipeline: steps with random `after` edges and conditions, an ephemeral environment
/// some steps use, and one to three `on failure` steps.
fn random_pipeline(rng: &mut common::Rng) -> String {
    let steps = 1 + (rng.next() % 6) as usize;
    let mut out = String::from(
        "pipeline gen {\n  repo = \"https://example.com/gen.git\"\n  environment staging { ephemeral = true }\n  service db { environment = staging, image = \"postgres:16\", port = 5432 }\n",
    );
    for i in 0..steps {
        let mut props = vec![format!("command = \"./step-{i}\"")];
        let after: Vec<String> = (0..i)
            .filter(|_| rng.next().is_multiple_of(3))
            .map(|j| format!("s{j}"))
            .collect();
        if !after.is_empty() {
            props.push(format!("after = [{}]", after.join(", ")));
        }
        match rng.next() % 4 {
            0 => props.push("when = git.branch == \"main\"".to_string()),
            1 if i > 0 => props.push(format!("when = s{}.failed", i - 1)),
            _ => {}
        }
        if rng.next().is_multiple_of(3) {
            props.push("env = { DB = db.host }".to_string());
        }
        out.push_str(&format!(
            "  step s{i} = run \"alpine:3.20\" {{ {} }}\n",
            props.join(", ")
        ));
    }
    out.push_str("  on failure {\n");
    for k in 0..1 + rng.next() % 3 {
        out.push_str(&format!(
            "    step f{k} = run \"alpine:3.20\" {{ command = \"./alert-{k}\" }}\n"
        ));
    }
    out.push_str("  }\n}\n");
    out
}

/// For generated pipelines, the model ends every outcome class, and the exit handler's
/// always-run steps run in all of them (the teardown always; the `on failure` steps after a
/// failure).
#[test]
fn generated_pipelines_keep_their_promises_in_every_outcome() {
    let mut rng = common::Rng(0x5eed_1234_abcd_ef01);
    for _ in 0..60 {
        let source = random_pipeline(&mut rng);
        let compilation = common::compile_source("gen.pipe", &source, &[]);
        assert!(
            !compilation.has_errors(),
            "{source}\n{}",
            common::rendered(&compilation)
        );
        let docs = common::parsed_documents(&compilation);
        let wf = docs
            .iter()
            .find(|d| d["kind"] == "Workflow")
            .unwrap_or_else(|| panic!("{source}"));
        let mut outcomes: Vec<Vec<String>> = vec![Vec::new()];
        outcomes.extend(entry_tasks(wf).into_iter().map(|t| vec![t]));
        for failing in outcomes {
            let failing: Vec<&str> = failing.iter().map(String::as_str).collect();
            let run = run(wf, &failing);
            assert!(run.status.ended(), "{source}\nwhen {failing:?} fail");
            let teardown = run.node("on-exit", "staging-down");
            assert!(
                teardown.is_some_and(|n| n.phase.completed()),
                "{source}\nteardown {teardown:?} when {failing:?} fail"
            );
            if run.status != Phase::Succeeded {
                for node in run.nodes.iter().filter(|n| n.dag == "on-exit") {
                    assert!(
                        node.phase.completed(),
                        "{source}\n{node:?} when {failing:?} fail"
                    );
                }
            }
        }
    }
}

/// The same check on a blue-green release: the wait before the switch allows the
/// pre-promotion analysis, the wait for health the post-promotion one (the model of Argo
/// Rollouts runs both, five measurements two minutes apart).
#[test]
fn blue_green_waits_allow_for_their_analyses() {
    let source = r#"
analysis steady(every: duration = 1m) {
  metric errors {
    every  = every
    times  = 5
    prometheus = { address = "http://prometheus:9090", query = "sum(up)" }
    success = result >= 1
  }
}
pipeline p {
  service api { image = "nginx:1.27", port = 80, replicas = 2 }
  release api bluegreen {
    timeout = 5m
    analyze steady(every = 2m)
    approve
    switch
    analyze steady(every = 2m)
  }
}
"#;
    let docs = common::clean_documents("p.pipe", source);
    let wf = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    assert_eq!(pipec_core::behaviour::short_waits(wf, &docs), []);
    let mut buggy = wf.clone();
    set_timeouts(&mut buggy, &|_| Some("300".to_string()));
    let short = pipec_core::behaviour::short_waits(&buggy, &docs);
    let found: Vec<(&str, u64)> = short.iter().map(|s| (s.task.as_str(), s.needed)).collect();
    assert_eq!(
        found,
        [("api-wait", 480), ("api-complete", 480)],
        "{short:?}"
    );
}

/// A random release: a canary of weights, pauses, analyses, approvals and checks, or a
/// blue-green with an analysis before and after its switch.
fn random_release(rng: &mut common::Rng) -> String {
    let mut out = String::from(
        "analysis steady(every: duration = 1m, times: int = 3) {\n  metric errors {\n    every = every\n    times = times\n    prometheus = { address = \"http://prometheus:9090\", query = \"sum(up)\" }\n    success = result >= 1\n  }\n}\npipeline gen {\n  service api { image = \"nginx:1.27\", port = 80, replicas = 4 }\n",
    );
    let analyze = |rng: &mut common::Rng| {
        format!(
            "    analyze steady(every = {}m, times = {})\n",
            1 + rng.next() % 3,
            1 + rng.next() % 4
        )
    };
    if rng.next().is_multiple_of(3) {
        out.push_str("  release api bluegreen {\n");
        if rng.next().is_multiple_of(2) {
            out.push_str(&format!("    preview_replicas = {}\n", 1 + rng.next() % 4));
        }
        if rng.next().is_multiple_of(2) {
            out.push_str(&analyze(rng));
        }
        if rng.next().is_multiple_of(2) {
            out.push_str("    approve\n");
        }
        out.push_str("    switch\n");
        if rng.next().is_multiple_of(2) {
            out.push_str(&analyze(rng));
        }
    } else {
        out.push_str("  release api canary {\n");
        let mut weight = 0;
        for i in 0..1 + rng.next() % 6 {
            match if i == 0 { 0 } else { rng.next() % 5 } {
                0 if weight < 75 => {
                    weight += 25;
                    out.push_str(&format!("    weight {weight}%\n"));
                }
                1 => out.push_str(&format!("    pause {}m\n", 1 + rng.next() % 20)),
                2 => out.push_str(&analyze(rng)),
                3 => out.push_str("    approve\n"),
                _ => out.push_str("    check exec \"./smoke\"\n"),
            }
        }
    }
    out.push_str("  }\n}\n");
    out
}

/// For generated releases, every wait of the Workflow allows exactly the release's timeout
/// beyond what the model of Argo Rollouts holds since the Workflow last promoted the Rollout:
/// lowering and the model agree on every pause and analysis (and the check, E0408, passes).
#[test]
fn generated_releases_wait_as_long_as_argo_rollouts_holds() {
    let mut rng = common::Rng(0x7a11_0c4e_5eed_0002);
    for _ in 0..80 {
        let source = random_release(&mut rng);
        let compilation = common::compile_source("gen.pipe", &source, &[]);
        assert!(
            !compilation.has_errors(),
            "{source}\n{}",
            common::rendered(&compilation)
        );
        let docs = common::parsed_documents(&compilation);
        let wf = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
        let mut zeroed = wf.clone();
        let limits = set_timeouts(&mut zeroed, &|_| Some("0".to_string()));
        let held: std::collections::BTreeMap<String, u64> =
            pipec_core::behaviour::short_waits(&zeroed, &docs)
                .into_iter()
                .map(|s| (s.task, s.needed))
                .collect();
        for task in pipec_argo_semantics::workflow::instance::task_templates(&wf["spec"]) {
            let action = task.template["metadata"]["annotations"]["pipec.dev/action"].as_str();
            if !matches!(action, Some("wait" | "complete")) {
                continue;
            }
            let name = task.name();
            let model = held.get(name).copied().unwrap_or(0);
            assert_eq!(limits[name], 1800 + model, "{source}\n`{name}`");
        }
        // The model ends every outcome: nobody promotes (it waits, or completes if nothing
        // holds it), every analysis fails (Degraded if there is one), an abort (Degraded).
        let rollout = docs.iter().find(|d| d["kind"] == "Rollout").unwrap();
        let spec = Spec::from_json(rollout).unwrap();
        let has_analysis = source.contains("analyze");
        let every_analysis = |phase: AnalysisPhase, promote: bool| {
            let mut script = Script {
                horizon: 86_400,
                promote_held_pauses: promote,
                ..Script::default()
            };
            for kind in (0..8)
                .map(RunKind::Step)
                .chain([RunKind::PrePromotion, RunKind::PostPromotion])
            {
                let verdict = Verdict {
                    phase,
                    after: 60,
                    message: String::new(),
                };
                script.analyses.insert(kind, verdict);
            }
            script
        };
        let failing = every_analysis(AnalysisPhase::Failed, true);
        let end = |script: &Script| {
            let t = simulate_update(spec.clone(), script);
            t.frames.last().map(|f| f.phase).unwrap()
        };
        let unattended = end(&every_analysis(AnalysisPhase::Successful, false));
        assert!(
            matches!(unattended, RolloutPhase::Paused | RolloutPhase::Healthy),
            "{source}\nnobody promotes: {unattended:?}"
        );
        let failed = end(&failing);
        assert_eq!(
            failed == RolloutPhase::Degraded,
            has_analysis,
            "{source}\nevery analysis fails: {failed:?}"
        );
        let aborted = end(&Script {
            horizon: 86_400,
            actions: vec![(1, Action::Abort)],
            ..Script::default()
        });
        assert!(
            matches!(aborted, RolloutPhase::Degraded | RolloutPhase::Healthy),
            "{source}\nan abort: {aborted:?}"
        );
        // What pipec's rollback does to an update in progress (abort, then the stable pod
        // template back) leaves the Rollout healthy on the old revision alone. (A fully promoted
        // update it returns to an earlier revision, which the model does not follow yet.)
        if aborted != RolloutPhase::Degraded {
            continue;
        }
        let rolled_back = simulate_update(
            spec.clone(),
            &Script {
                horizon: 86_400,
                actions: vec![(1, Action::Abort), (2, Action::RestoreStable)],
                ..Script::default()
            },
        );
        let last = rolled_back.frames.last().unwrap();
        assert_eq!(
            (last.phase, last.old_pods, rolled_back.cluster.template.1),
            (RolloutPhase::Healthy, 0, 1),
            "{source}\nafter a rollback: {last:?}"
        );
    }
}

/// `collect diagnostics` of every service is one action: its tasks start together and the
/// next action waits for all of them, so the exit handler of many services is as deep as
/// its list of actions (it was a chain as long as the services, which also made the
/// behavioural checks quadratic).
#[test]
fn the_diagnostics_of_every_service_are_collected_side_by_side() {
    let mut src = String::from("pipeline many {\n");
    for i in 0..30 {
        src.push_str(&format!(
            "  service s{i} {{ image = \"nginx:1.27\", port = 80, replicas = 2 }}\n"
        ));
    }
    src.push_str("  on failure {\n    collect diagnostics\n    rollback s3\n  }\n}\n");
    let workflow = common::clean_documents("many.pipe", &src)
        .into_iter()
        .find(|d| d["kind"] == "Workflow")
        .expect("a Workflow");
    let handler = workflow["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "on-exit")
        .expect("an exit handler");
    let tasks = handler["dag"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 31);
    for task in &tasks[..30] {
        assert!(task["depends"].is_null(), "{task}");
    }
    let rollback = tasks[30]["depends"].as_str().expect("the rollback waits");
    assert_eq!(pipec_argo_semantics::depends::tasks(rollback).len(), 30);
    // Every diagnostics task and the rollback run when the run fails.
    let outcomes = Outcomes {
        approved: true,
        ..Outcomes::default()
    };
    let failed = workflow::run_exit_handler(&workflow, Phase::Failed, &outcomes)
        .unwrap()
        .expect("an exit handler run");
    for task in tasks {
        let name = task["name"].as_str().unwrap();
        let node = failed.node("on-exit", name).expect("created");
        assert_eq!(node.phase, Phase::Succeeded, "{name}");
    }
}

/// Every service's deploy, wait, promote, … runs one shared template per action, passing
/// what is its own as arguments: the templates are as many at 40 services as at 2, and each
/// task still acts on its own Rollout (issue 11).
#[test]
fn the_tasks_of_one_action_share_one_template() {
    let pipeline = |services: usize| {
        let mut src = String::from("pipeline many {\n");
        for i in 0..services {
            src.push_str(&format!(
                "  service s{i} {{ image = \"nginx:1.27\", port = 80, replicas = 5 }}\n  release s{i} canary {{\n    weight 20%\n    pause 1m\n    check exec \"./smoke {i}\"\n    approve\n  }}\n"
            ));
        }
        src.push_str("  on failure {\n    collect diagnostics\n    rollback s0\n  }\n}\n");
        common::clean_documents("many.pipe", &src)
            .into_iter()
            .find(|d| d["kind"] == "Workflow")
            .expect("a Workflow")
    };
    let names = |workflow: &Value| -> Vec<String> {
        workflow["spec"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .filter(|n| !n.starts_with('s'))
            .collect()
    };
    let (small, large) = (pipeline(2), pipeline(40));
    assert_eq!(names(&small), names(&large));
    assert_eq!(
        names(&large),
        [
            "main",
            "rollout-deploy",
            "rollout-wait",
            "rollout-check",
            "rollout-promote",
            "rollout-complete",
            "on-exit",
            "rollout-diagnostics",
            "rollout-rollback"
        ]
    );
    // The approvals stay one suspend template per task: nothing in them to share.
    for i in [0, 39] {
        let deploy = common::runs(&large, &format!("s{i}-deploy"));
        assert_eq!(common::env(&deploy, "ROLLOUT"), &json!(format!("s{i}")));
        let check = common::runs(&large, &format!("s{i}-check-1"));
        assert_eq!(
            common::env(&check, "COMMAND"),
            &json!(format!("./smoke {i}"))
        );
        assert_eq!(
            check["metadata"]["annotations"]["pipec.dev/source"],
            json!(format!("many.pipe:{}:5", 6 + 7 * i)),
        );
    }
    // The model runs the shared templates as it ran one template per task.
    let run = run(&large, &[]);
    assert_eq!(run.phase, Phase::Succeeded, "{:?}", run.message);
}
