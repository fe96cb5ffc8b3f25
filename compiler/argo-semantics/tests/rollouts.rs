//! The Rollouts model against Argo Rollouts v1.9.1's own tests: every row of
//! `tests/conformance/rollouts/canary-replica-math.json` (the tables of
//! `utils/replicaset/canary_test.go`) and the step cases of `tests/conformance/rollouts/steps/`
//! (from `rollout/*_test.go` and the e2e suite). Where the model and a case disagree, the model
//! is wrong.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

use std::path::{Path, PathBuf};

use pipec_argo_semantics::rollout::replicas;
use pipec_argo_semantics::rollout::{
    Amount, Canary, ReplicaSet, Rollout, SetCanaryScale, Spec, Status, Step,
};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/rollouts")
}

fn math() -> Value {
    let text = std::fs::read_to_string(corpus().join("canary-replica-math.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn rows(data: &Value, table: &str) -> Vec<Value> {
    data["tables"][table]["rows"].as_array().unwrap().clone()
}

fn int(v: &Value) -> i32 {
    i32::try_from(v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))).unwrap()
}

fn amount(v: &Value) -> Amount {
    Amount::from_json(v).unwrap_or_else(|| panic!("not a count: {v}"))
}

fn step(v: &Value) -> Step {
    let scale = v.get("setCanaryScale").map(|s| SetCanaryScale {
        replicas: s["replicas"].as_i64().map(|n| i32::try_from(n).unwrap()),
        weight: s["weight"].as_i64().map(|n| i32::try_from(n).unwrap()),
        match_traffic_weight: s["matchTrafficWeight"].as_bool().unwrap_or(false),
    });
    Step {
        set_weight: v["setWeight"].as_i64().map(|n| i32::try_from(n).unwrap()),
        set_canary_scale: scale,
        ..Step::default()
    }
}

/// The Rollout a table row describes: upstream's tests give the stable ReplicaSet the hash
/// `stable` and the pod template the hash `canary` unless the row says otherwise.
fn rollout_of(r: &Value) -> Rollout {
    let mut canary = Canary {
        steps: r["steps"].as_array().unwrap().iter().map(step).collect(),
        traffic_routing: r["trafficRouting"].as_bool().unwrap_or(false),
        dynamic_stable_scale: r["dynamicStableScale"].as_bool().unwrap_or(false),
        min_pods_per_replica_set: r["minPodsPerReplicaSet"]
            .as_i64()
            .map(|n| i32::try_from(n).unwrap()),
        abort_scale_down_delay_seconds: r["abortScaleDownDelaySeconds"]
            .as_i64()
            .map(|n| i32::try_from(n).unwrap()),
        ..Canary::default()
    };
    canary.max_surge = amount(&r["maxSurge"]);
    canary.max_unavailable = amount(&r["maxUnavailable"]);
    let (stable_rs, current) = match (r.get("status.stableRS"), r.get("status.currentPodHash")) {
        (Some(s), Some(c)) => (
            s.as_str().unwrap().to_string(),
            c.as_str().unwrap().to_string(),
        ),
        _ => ("stable".to_string(), "canary".to_string()),
    };
    Rollout {
        spec: Spec {
            replicas: int(&r["spec.replicas"]),
            paused: false,
            canary,
            blue_green: None,
            rollback_window: None,
            ..Spec::default()
        },
        status: Status {
            current_step_index: r["status.currentStepIndex"]
                .as_i64()
                .map(|n| i32::try_from(n).unwrap()),
            abort: r["status.abort"].as_bool().unwrap_or(false),
            promote_full: r["status.promoteFull"].as_bool().unwrap_or(false),
            stable_rs,
            current_pod_hash: current,
            ..Status::default()
        },
    }
}

fn replica_set(hash: &str, v: &Value) -> ReplicaSet {
    ReplicaSet::new(
        hash,
        1,
        int(&v["specReplicas"]),
        int(&v["availableReplicas"]),
    )
}

/// Runs the function a row names with the row's inputs; `(canary, stable)`.
fn calculate(inputs: &Value) -> (i32, i32) {
    let rollout = rollout_of(&inputs["rollout"]);
    let sets = &inputs["replicaSets"];
    let weights = inputs
        .get("trafficWeights")
        .filter(|w| w.is_object())
        .map(|w| (int(&w["canary"]), int(&w["stable"])));
    match inputs["function"].as_str().unwrap() {
        "CalculateReplicaCountsForTrafficRoutedCanary" => {
            replicas::traffic_routed_canary(&rollout, weights)
        }
        "CalculateReplicaCountsForBasicCanary" => {
            // `TestCalculateReplicaCountsForNewDeployment`: the new ReplicaSet is the stable one.
            let same_hash = text(&inputs["note"]).contains("same pod-hash label");
            let canary = replica_set(if same_hash { "stable" } else { "canary" }, &sets["canary"]);
            let stable = match &sets["stable"] {
                Value::Null => None,
                Value::String(s) if s.starts_with("same") => Some(canary.clone()),
                v => Some(replica_set("stable", v)),
            };
            let older: Vec<ReplicaSet> = sets["older"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
                .map(|(i, v)| replica_set(&format!("older-{i}"), v))
                .collect();
            replicas::basic_canary(&rollout, Some(&canary), stable.as_ref(), &older)
        }
        other => panic!("unknown function {other}"),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn expected_pair(v: &Value) -> (i32, i32) {
    (int(&v["canary"]), int(&v["stable"]))
}

#[test]
fn replica_counts_for_canary_table() {
    let data = math();
    let table = rows(&data, "TestCalculateReplicaCountsForCanary");
    assert_eq!(table.len(), 39);
    let mut wrong = Vec::new();
    for row in &table {
        let got = calculate(&row["inputs"]);
        if got != expected_pair(&row["expected"]) {
            wrong.push(format!(
                "{}: Argo {}, model {got:?}",
                row["name"], row["expected"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Rows of the dynamic-scale table the model does not follow yet: in v1.9.1 the traffic-routed
/// function also takes the new and stable ReplicaSets and, while aborting, scales the stable
/// from them; the only source at hand is an older `canary.go` without that rule, and the rule
/// is not guessed from three rows. pipec never emits `dynamicStableScale`.
const DYNAMIC_SCALE_NOT_MODELLED: &[&str] = &[
    "Should scale stable replica up depending on next expected canary downscale step, if abort is true",
    "Should scale stable replica up depending on available canary replicas, if actual number of canaries is less than expected and abort is true",
    "Should scale stable replica up depending on available stable replicas, if abort is true",
];

#[test]
fn dynamic_stable_scale_table() {
    let data = math();
    let table = rows(
        &data,
        "TestCalculateReplicaCountsForCanaryTrafficRoutingDynamicScale",
    );
    assert_eq!(table.len(), 8);
    let mut wrong = Vec::new();
    for row in &table {
        let got = calculate(&row["inputs"]);
        let agrees = got == expected_pair(&row["expected"]);
        let listed = DYNAMIC_SCALE_NOT_MODELLED.contains(&text(&row["name"]));
        if agrees == listed {
            wrong.push(format!(
                "{} (listed as not modelled: {listed}): Argo {}, model {got:?}",
                row["name"], row["expected"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn single_assertion_tests() {
    let data = math();
    let cases = data["single_assertion_tests"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let got = calculate(&case["inputs"]);
        assert_eq!(got, expected_pair(&case["expected"]), "{}", case["test"]);
    }
}

#[test]
fn approximate_weighted_counts_table() {
    let data = math();
    let table = rows(&data, "TestApproximateWeightedNewStableReplicaCounts");
    assert_eq!(table.len(), 57);
    let mut wrong = Vec::new();
    for row in &table {
        let i = &row["inputs"];
        assert_eq!(i["maxWeight"], 100);
        let got = replicas::approximate_weighted_split(
            int(&i["specReplicas"]),
            int(&i["desiredWeight"]),
            int(&i["maxSurge"]),
        );
        if got != expected_pair(&row["expected"]) {
            wrong.push(format!("{i}: Argo {}, model {got:?}", row["expected"]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn traffic_weight_to_replicas_table() {
    let data = math();
    let table = rows(&data, "TestTrafficWeightToReplicas");
    assert_eq!(table.len(), 7);
    for row in &table {
        let i = &row["inputs"];
        let got = replicas::traffic_weight_to_replicas(
            int(&i["replicas"]),
            int(&i["weight"]),
            int(&i["maxWeight"]),
        );
        assert_eq!(got, int(&row["expected"]), "{i}");
    }
}

#[test]
fn current_set_weight_table() {
    let data = math();
    let table = rows(&data, "TestGetCurrentSetWeight");
    assert_eq!(table.len(), 3);
    for row in &table {
        let i = &row["inputs"];
        let mut rollout = Rollout::default();
        rollout.spec.canary.steps = vec![Step {
            set_weight: Some(10),
            ..Step::default()
        }];
        rollout.status.current_step_index = i["status.currentStepIndex"]
            .as_i64()
            .map(|n| i32::try_from(n).unwrap());
        rollout.status.abort = i["status.abort"].as_bool().unwrap();
        assert_eq!(
            replicas::current_set_weight(&rollout),
            int(&row["expected"]),
            "{i}"
        );
    }
}

// ---- rollouts/steps: the controller, pass by pass and over time ----

use pipec_argo_semantics::rollout::controller::{
    Action, AnalysisRun, Cluster, RunKind, Script, Verdict,
};
use pipec_argo_semantics::rollout::{AnalysisPhase, PauseCondition, PauseReason, Progress};

/// The second the unit tests' `now` stands for.
const NOW: u64 = 1000;

fn step_cases() -> Vec<(String, Vec<Value>)> {
    let dir = corpus().join("steps");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().to_string(),
                docs,
            )
        })
        .collect()
}

fn reason(text: &str) -> PauseReason {
    match text {
        "CanaryPauseStep" => PauseReason::CanaryPauseStep,
        "InconclusiveAnalysisRun" => PauseReason::InconclusiveAnalysisRun,
        other => panic!("pause reason {other}"),
    }
}

/// `<now>`, `now - 10s`.
fn time(text: &str) -> u64 {
    match text
        .strip_prefix("now - ")
        .and_then(|r| r.strip_suffix('s'))
    {
        Some(ago) => NOW - ago.parse::<u64>().unwrap(),
        None => {
            assert_eq!(text, "<now>");
            NOW
        }
    }
}

/// The Rollout, ReplicaSets and AnalysisRuns a unit test builds (`newCanaryRollout`,
/// `bumpVersion`, `updateCanaryRolloutStatus`), from the case's `initial` facts.
fn cluster_of(initial: &Value) -> Cluster {
    let mut spec = Spec {
        replicas: initial["spec.replicas"]
            .as_i64()
            .map_or(1, |n| i32::try_from(n).unwrap()),
        paused: initial["spec.paused"].as_bool().unwrap_or(false),
        canary: Canary::default(),
        blue_green: None,
        rollback_window: None,
        ..Spec::default()
    };
    for s in initial["steps"].as_array().unwrap() {
        spec.canary.steps.push(Step::from_json(s).unwrap());
    }
    if let Some(v) = initial.get("maxSurge") {
        spec.canary.max_surge = amount(v);
    }
    if let Some(v) = initial.get("maxUnavailable") {
        spec.canary.max_unavailable = amount(v);
    }
    if let Some(a) = initial.get("analysis (background)") {
        spec.canary.analysis = Some(pipec_argo_semantics::rollout::BackgroundAnalysis {
            templates: vec![text(&a["templates"][0]["templateName"]).to_string()],
            starting_step: None,
        });
    }
    let mut cluster = Cluster::new(spec.clone());
    cluster.now = NOW;
    // ReplicaSets: `stable (rev 1)`, `new (rev 2)`, `rev 2`, `old (rev 1)`, `stable == new`.
    let mut sets: Vec<(String, u32, i32, i32)> = Vec::new();
    match initial.get("replicaSets").and_then(Value::as_object) {
        Some(map) => {
            for (name, counts) in map {
                let role = name.split_whitespace().next().unwrap().to_string();
                let revision = name
                    .split("rev ")
                    .nth(1)
                    .map(|r| r.trim_end_matches(')').parse::<u32>().unwrap());
                let revision = revision.unwrap_or(match role.as_str() {
                    "stable" | "old" if !name.contains("==") => 1,
                    _ => 2,
                });
                sets.push((role, revision, int(&counts[0]), int(&counts[1])));
            }
        }
        None => {
            sets.push(("stable".into(), 1, spec.replicas, spec.replicas));
            sets.push(("new".into(), 2, 0, 0));
        }
    }
    let hash = |revision: u32| format!("rev{revision}");
    let new_revision = sets
        .iter()
        .find(|(role, ..)| role == "new")
        .map_or(2, |(_, r, ..)| *r);
    let stable_revision = sets
        .iter()
        .find(|(role, ..)| role == "stable" || role == "old")
        .map(|(_, r, ..)| *r)
        .unwrap_or(new_revision);
    cluster.template = (hash(new_revision), new_revision);
    cluster.replica_sets = sets
        .iter()
        .map(|(_, revision, spec, available)| {
            ReplicaSet::new(&hash(*revision), *revision, *spec, *available)
        })
        .collect();
    let status = &mut cluster.rollout.status;
    status.stable_rs = hash(stable_revision);
    status.current_pod_hash = hash(new_revision);
    status.current_step_index = initial["status.currentStepIndex"]
        .as_i64()
        .map(|n| i32::try_from(n).unwrap());
    status.abort = initial["status.abort"].as_bool().unwrap_or(false);
    status.aborted_at = initial.get("status.abortedAt").map(|t| time(text(t)));
    status.controller_pause = initial["status.controllerPause"].as_bool().unwrap_or(false);
    for c in initial["status.pauseConditions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        status.pause_conditions.push(PauseCondition {
            reason: reason(text(&c["reason"])),
            start_time: time(text(&c["startTime"])),
        });
    }
    if text(&initial["progressing condition"]) == "RolloutAborted" {
        status.progress = Some(Progress::Aborted(format!(
            "Rollout aborted update to revision {new_revision}"
        )));
    }
    let index = status.current_step_index.unwrap_or(0);
    let run = |name: &str, kind: RunKind, pod_hash: String, phase: AnalysisPhase, message: &str| {
        AnalysisRun {
            name: name.to_string(),
            kind,
            pod_hash,
            phase,
            message: message.to_string(),
            terminated: false,
            created_at: 0,
        }
    };
    if let Some(ar) = initial.get("analysisRun") {
        let kind = match text(&ar["type"]) {
            "step" => RunKind::Step(index),
            _ => RunKind::Background,
        };
        let phase = AnalysisPhase::parse(text(&ar["phase"])).unwrap();
        cluster.analysis_runs.push(run(
            "current",
            kind,
            hash(new_revision),
            phase,
            text(&ar["message"]),
        ));
    }
    for name in initial["analysisRuns"].as_array().into_iter().flatten() {
        let name = text(name);
        let (short, pod_hash) = match name.strip_suffix(" (step)") {
            Some(short) => (short, hash(new_revision)),
            None => (name, "older".to_string()),
        };
        cluster.analysis_runs.push(run(
            short,
            RunKind::Step(index),
            pod_hash,
            AnalysisPhase::Running,
            "",
        ));
    }
    cluster
}

/// One reconcile from `initial` against the status patch the unit test asserts: every field
/// the patch names has its value, every modelled field it does not name is unchanged.
fn check_status_patch(id: &str, initial: &Value, expected: &Value, wrong: &mut Vec<String>) {
    let mut cluster = cluster_of(initial);
    let before = cluster.rollout.status.clone();
    cluster.reconcile();
    let after = &cluster.rollout.status;
    let patch = &expected["status"];
    let mut check = |field: &str, ok: bool, got: String| {
        if !ok {
            wrong.push(format!(
                "{id}: {field}: expected {}, model {got}",
                patch[field]
            ));
        }
    };
    let named = |field: &str| patch.get(field).is_some();
    let pauses = |s: &pipec_argo_semantics::rollout::Status| {
        s.pause_conditions
            .iter()
            .map(|c| (c.reason, c.start_time))
            .collect::<Vec<_>>()
    };
    if named("pauseConditions") {
        let want: Vec<(PauseReason, u64)> = patch["pauseConditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (reason(text(&c["reason"])), time(text(&c["startTime"]))))
            .collect();
        check(
            "pauseConditions",
            pauses(after) == want,
            format!("{:?}", pauses(after)),
        );
    }
    // An unnamed `pauseConditions` is not checked as unchanged: upstream computes the patch
    // against the object the fixture stored, and `TestResumeRolloutAfterPauseDuration`
    // stores it before adding the pause condition the corpus lists (its patch clears
    // `controllerPause` but names no `pauseConditions`).
    let flag = |v: &Value| v.as_bool().unwrap_or(false);
    if named("controllerPause") {
        check(
            "controllerPause",
            after.controller_pause == flag(&patch["controllerPause"]),
            after.controller_pause.to_string(),
        );
    } else {
        check(
            "controllerPause",
            after.controller_pause == before.controller_pause,
            format!("{} (changed)", after.controller_pause),
        );
    }
    if named("abort") {
        check(
            "abort",
            after.abort == flag(&patch["abort"]),
            after.abort.to_string(),
        );
    } else {
        check(
            "abort",
            after.abort == before.abort,
            format!("{} (changed)", after.abort),
        );
    }
    if named("abortedAt") {
        let want = patch["abortedAt"].as_str().map(time);
        check(
            "abortedAt",
            after.aborted_at == want,
            format!("{:?}", after.aborted_at),
        );
    }
    if named("currentStepIndex") {
        let want = patch["currentStepIndex"]
            .as_i64()
            .map(|n| i32::try_from(n).unwrap());
        check(
            "currentStepIndex",
            after.current_step_index == want,
            format!("{:?}", after.current_step_index),
        );
    } else {
        check(
            "currentStepIndex",
            after.current_step_index == before.current_step_index,
            format!("{:?} (changed)", after.current_step_index),
        );
    }
    if named("stableRS") {
        assert_eq!(text(&patch["stableRS"]), "<currentPodHash>");
        check(
            "stableRS",
            after.stable_rs == after.current_pod_hash,
            after.stable_rs.clone(),
        );
    } else {
        check(
            "stableRS",
            after.stable_rs == before.stable_rs,
            format!("{} (changed)", after.stable_rs),
        );
    }
    if named("phase") {
        let phase = after.phase.map(|p| p.name()).unwrap_or_default();
        check("phase", phase == text(&patch["phase"]), phase.to_string());
    }
    if named("message") {
        check(
            "message",
            after.message == text(&patch["message"]),
            after.message.clone(),
        );
    }
    if let Some(c) = patch["conditions"].as_str() {
        assert!(c.contains("RolloutRetry"), "{id}: {c}");
        check(
            "conditions",
            after.progress == Some(Progress::Retry),
            format!("{:?}", after.progress),
        );
    }
    let canary = &patch["canary"];
    for (field, got) in [
        ("currentStepAnalysisRunStatus", &after.step_analysis),
        (
            "currentBackgroundAnalysisRunStatus",
            &after.background_analysis,
        ),
    ] {
        if let Some(want) = canary.get(field) {
            let want = want.as_object().map(|w| {
                (
                    AnalysisPhase::parse(text(&w["status"])).unwrap(),
                    text(w.get("message").unwrap_or(&Value::Null)).to_string(),
                )
            });
            if *got != want {
                wrong.push(format!(
                    "{id}: canary.{field}: expected {want:?}, model {got:?}"
                ));
            }
        }
    }
    for name in expected["analysisRuns_patched_terminate"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let run = cluster
            .analysis_runs
            .iter()
            .find(|r| r.name == text(name))
            .unwrap();
        if !run.terminated {
            wrong.push(format!("{id}: AnalysisRun {name} is not terminated"));
        }
    }
    if let Some(n) = expected["updated_replicaset_spec_replicas"].as_i64() {
        let stable = cluster
            .replica_sets
            .iter()
            .find(|rs| rs.hash == after.stable_rs)
            .unwrap();
        if i64::from(stable.spec) != n {
            wrong.push(format!(
                "{id}: stable ReplicaSet scaled to {}, expected {n}",
                stable.spec
            ));
        }
    }
}

#[test]
fn controller_passes_against_unit_tests() {
    let mut wrong = Vec::new();
    let mut ran = 0;
    for (file, docs) in step_cases() {
        let case = &docs[0];
        let id = format!("{file} ({})", text(&case["id"]));
        if let Some(expected) = case.get("expected_status_patch") {
            check_status_patch(&id, &case["initial"], expected, &mut wrong);
            ran += 1;
        }
        if case.get("events").is_none() {
            for variant in case["variants"].as_array().into_iter().flatten() {
                let vid = format!("{id} / {}", text(&variant["name"]));
                check_status_patch(&vid, &variant["initial"], &variant["expected"], &mut wrong);
                ran += 1;
            }
        }
    }
    assert_eq!(ran, 16, "status-patch cases and variants");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// How each e2e case's AnalysisRuns end and how fast its pods start, read off its manifests
/// (the job provider's `sleep {{args.duration}} && exit {{args.exit-code}}`, the web
/// provider's conditions). Cases not listed use the defaults: inline runs succeed at once,
/// background runs run until cancelled, pods are available at once.
fn e2e_script(id: &str) -> Script {
    let verdict = |phase, after| Verdict {
        phase,
        after,
        message: String::new(),
    };
    let mut script = Script::default();
    match id {
        // `successCondition: result.Status == 999` never holds nor fails: inconclusive after
        // `inconclusiveLimit` 3 measurements 5 s apart.
        "ro-background-analysis-inconclusive" => {
            script.analyses.insert(
                RunKind::Background,
                verdict(AnalysisPhase::Inconclusive, 15),
            );
        }
        // Step 2's metric `sleep-job-rep` exits 1, twice, 1 s apart: failureLimit 1 exceeded.
        "ro-inline-analysis-failure-degraded" => {
            script
                .analyses
                .insert(RunKind::Step(2), verdict(AnalysisPhase::Failed, 1));
        }
        // Step 1's job sleeps 24 h.
        "ro-promote-and-promote-full" => {
            script
                .analyses
                .insert(RunKind::Step(1), verdict(AnalysisPhase::Successful, 86_400));
        }
        // Step 5's job exits 1; nginx pods take a few seconds to become ready.
        "ro-reduce-weight-honor-maxunavailable" => {
            script
                .analyses
                .insert(RunKind::Step(5), verdict(AnalysisPhase::Failed, 0));
            script.pod_ready_after = 5;
        }
        _ => {}
    }
    script
}

/// `ScalingReplicaSet (revision 2 0 -> 1)` and `… scaled 0 -> 1` name the same event;
/// `RolloutAborted` matches its message too.
fn same_event(seen: &str, expected: &str) -> bool {
    let normal = |e: &str| e.replace("scaled ", "");
    normal(seen) == normal(expected) || seen.starts_with(&format!("{expected}:"))
}

/// The facts an e2e expectation names that differ from the cluster's.
fn e2e_mismatches(cluster: &Cluster, expected: &Value, events: &[String]) -> Vec<String> {
    let status = &cluster.rollout.status;
    let mut out = Vec::new();
    let pods_of = |hash: &str| {
        cluster
            .replica_sets
            .iter()
            .find(|rs| rs.hash == hash)
            .map_or(0, |rs| rs.pods)
    };
    let mut want = |what: &str, ok: bool, got: String| {
        if !ok {
            out.push(format!("{what}: expected {}, model {got}", expected[what]));
        }
    };
    let phase = status.phase.map(|p| p.name()).unwrap_or_default();
    if let Some(p) = expected["phase"].as_str() {
        want("phase", phase == p, phase.to_string());
    }
    if let Some(m) = expected["message"].as_str() {
        want("message", status.message == m, status.message.clone());
    }
    for key in ["currentStepIndex", "at_step"] {
        if let Some(i) = expected[key].as_i64() {
            let got = status.current_step_index.map(i64::from);
            want(key, got == Some(i), format!("{got:?}"));
        }
    }
    if let Some(n) = expected["analysisRuns"].as_i64() {
        let got = cluster.analysis_runs.len();
        want(
            "analysisRuns",
            got == usize::try_from(n).unwrap(),
            got.to_string(),
        );
    }
    if let Some(n) = expected["availableReplicas"].as_i64() {
        let got: i32 = cluster.replica_sets.iter().map(|rs| rs.available).sum();
        want("availableReplicas", i64::from(got) == n, got.to_string());
    }
    for (key, kind) in [
        ("backgroundAnalysisRunPhase", Some(RunKind::Background)),
        ("inlineAnalysisRunPhase", None),
    ] {
        if let Some(p) = expected[key].as_str() {
            let run = cluster.analysis_runs.iter().rev().find(|r| match kind {
                Some(k) => r.kind == k,
                None => matches!(r.kind, RunKind::Step(_)),
            });
            let got = run.map(|r| r.phase.name()).unwrap_or("(none)");
            want(key, got == p, got.to_string());
        }
    }
    if let Some(pods) = expected["pods"].as_object() {
        for (name, n) in pods {
            let hash = match name.as_str() {
                "canary" => status.current_pod_hash.clone(),
                "stable" => status.stable_rs.clone(),
                other => format!("rev{}", other.trim_start_matches("revision ")),
            };
            let got = pods_of(&hash);
            if i64::from(got) != n.as_i64().unwrap() {
                out.push(format!("pods {name}: expected {n}, model {got}"));
            }
        }
    }
    let mut seen = events.iter();
    for e in expected["events_seen"].as_array().into_iter().flatten() {
        if !seen.any(|s| same_event(s, text(e))) {
            out.push(format!("event {e} not seen in order among {events:?}"));
        }
    }
    out
}

/// The moves an e2e event text stands for, then what the e2e test waits for: `+Ns` moves the
/// clock; otherwise the test polls until the expected state holds, as upstream's
/// `WaitForRolloutStatus` / `Eventually` do.
#[derive(Debug)]
enum Move {
    Act(Action),
    Advance(u64),
    WaitForStep(i32),
}

fn moves(event: &str) -> Vec<Move> {
    let mut out = Vec::new();
    // Parenthesised remarks (`wait (pause duration 3s elapses; no promote)`) are not moves.
    let mut bare = String::new();
    let mut depth = 0;
    for c in event.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    for part in bare.split("; ") {
        let part = part.trim();
        if let Some(s) = part.strip_prefix('+').and_then(|p| p.strip_suffix('s')) {
            out.push(Move::Advance(s.parse().unwrap()));
        } else if let Some(i) = part.strip_prefix("wait for currentStepIndex ") {
            out.push(Move::WaitForStep(i.parse().unwrap()));
        } else if part.starts_with("promote --full") {
            out.push(Move::Act(Action::PromoteFull));
        } else if part.starts_with("promote") {
            out.push(Move::Act(Action::Promote));
        } else if part.starts_with("update pod template") {
            out.push(Move::Act(Action::UpdateTemplate));
        } else if part.starts_with("kubectl argo rollouts abort") || part == "abort" {
            out.push(Move::Act(Action::Abort));
        } else if part.starts_with("kubectl argo rollouts retry") {
            out.push(Move::Act(Action::Retry));
        } else if let Some(n) = part.strip_prefix("scale to ") {
            out.push(Move::Act(Action::Scale(n.parse().unwrap())));
        } else if part.starts_with("inline AnalysisRun Successful, then promote") {
            out.push(Move::WaitForStep(-1));
            out.push(Move::Act(Action::Promote));
        } else if part == "apply"
            || part.starts_with("wait")
            || part.starts_with("inline AnalysisRun")
        {
            // Nothing to do: the expectation is waited for.
        } else {
            panic!("unknown e2e event `{part}`");
        }
    }
    out
}

/// Moves the clock to the next moment something is due; false if nothing is.
fn tick(cluster: &mut Cluster, script: &Script) -> bool {
    match cluster.next_due(script) {
        Some(t) if t <= cluster.now + 2 * 86_400 => {
            cluster.now = t;
            controller::settle(cluster, script);
            true
        }
        _ => false,
    }
}

use pipec_argo_semantics::rollout::controller;

#[test]
fn controller_over_time_against_e2e_tests() {
    let mut wrong = Vec::new();
    let mut ran = 0;
    for (file, docs) in step_cases() {
        let case = &docs[0];
        let Some(events) = case["events"].as_array() else {
            continue;
        };
        let id = text(&case["id"]);
        let rollout = docs[1..]
            .iter()
            .find(|d| d["spec"]["strategy"].is_object())
            .unwrap_or_else(|| panic!("{file}: no Rollout manifest"));
        let mut spec = Spec::from_json(rollout).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Steps the e2e test writes in Go rather than in the manifest.
        let steps: Option<Vec<Value>> = if let Some(y) = case["steps_yaml"].as_str() {
            Some(serde_saphyr::from_str(y).unwrap())
        } else {
            case["initial"]["steps_override"].as_array().cloned()
        };
        if let Some(steps) = steps {
            spec.canary.steps = steps.iter().map(|s| Step::from_json(s).unwrap()).collect();
        }
        let script = e2e_script(id);
        let mut cluster = Cluster::new(spec);
        controller::settle(&mut cluster, &script);
        for event in events {
            let name = text(&event["event"]);
            let expected = &event["expected"];
            cluster.events.clear();
            let mut waited = false;
            for m in moves(name) {
                match m {
                    Move::Act(action) => {
                        cluster.act(&action);
                        controller::settle(&mut cluster, &script);
                    }
                    Move::Advance(s) => {
                        cluster.now += s;
                        controller::settle(&mut cluster, &script);
                        waited = true;
                    }
                    Move::WaitForStep(i) => {
                        // -1: until the current inline AnalysisRun has ended.
                        while !(if i < 0 {
                            cluster
                                .analysis_runs
                                .last()
                                .is_some_and(|r| r.phase.completed())
                        } else {
                            cluster.rollout.status.current_step_index == Some(i)
                        }) && tick(&mut cluster, &script)
                        {}
                    }
                }
            }
            if !waited {
                while !e2e_mismatches(&cluster, expected, &cluster.events).is_empty()
                    && tick(&mut cluster, &script)
                {}
            }
            for m in e2e_mismatches(&cluster, expected, &cluster.events) {
                wrong.push(format!(
                    "{file} ({id}), after `{name}` at {}s: {m}",
                    cluster.now
                ));
            }
        }
        ran += 1;
    }
    assert_eq!(ran, 9, "e2e cases");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- blue-green: the corpus has no case; these follow upstream's docs/features/bluegreen.md ----

mod blue_green {
    use super::*;
    use pipec_argo_semantics::rollout::BlueGreen;
    use pipec_argo_semantics::rollout::RolloutPhase;
    use pipec_argo_semantics::rollout::controller::{Cluster, simulate_update};

    fn spec(replicas: i32, bg: BlueGreen) -> Spec {
        Spec {
            replicas,
            blue_green: Some(bg),
            ..Spec::default()
        }
    }

    fn pods(c: &Cluster, revision: u32) -> i32 {
        let hash = format!("rev{revision}");
        c.replica_sets
            .iter()
            .find(|rs| rs.hash == hash)
            .map_or(0, |rs| rs.available)
    }

    /// Settles at `now`, then moves to `t` and settles again.
    fn at(c: &mut Cluster, t: u64) {
        c.now = t;
        controller::settle(c, &Script::default());
    }

    fn updated(spec: Spec) -> Cluster {
        let mut c = Cluster::new(spec);
        controller::settle(&mut c, &Script::default());
        assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
        c.act(&Action::UpdateTemplate);
        controller::settle(&mut c, &Script::default());
        c
    }

    /// `autoPromotionEnabled: false`: "the rollout will pause before switching"; `promote`
    /// switches the active Service; "If omitted, the Rollout waits 30 seconds before scaling
    /// down the previous ReplicaSet" (`scaleDownDelaySeconds`).
    #[test]
    fn without_auto_promotion_it_waits_for_a_promote() {
        let mut c = updated(spec(
            2,
            BlueGreen {
                auto_promotion_enabled: false,
                ..BlueGreen::default()
            },
        ));
        let s = &c.rollout.status;
        assert_eq!(s.phase, Some(RolloutPhase::Paused), "{s:?}");
        assert_eq!(s.message, "BlueGreenPause");
        assert_eq!(
            (s.active_selector.as_str(), s.preview_selector.as_str()),
            ("rev1", "rev2")
        );
        assert_eq!((pods(&c, 1), pods(&c, 2)), (2, 2));
        at(&mut c, 600);
        assert_eq!(
            c.rollout.status.active_selector, "rev1",
            "a pause without auto-promotion holds"
        );
        c.act(&Action::Promote);
        controller::settle(&mut c, &Script::default());
        let s = &c.rollout.status;
        assert_eq!(
            (s.active_selector.as_str(), s.stable_rs.as_str()),
            ("rev2", "rev2")
        );
        assert_eq!(s.phase, Some(RolloutPhase::Healthy));
        assert_eq!(
            pods(&c, 1),
            2,
            "the old stack stays for the scale-down delay"
        );
        at(&mut c, 629);
        assert_eq!(pods(&c, 1), 2);
        at(&mut c, 630);
        assert_eq!(pods(&c, 1), 0);
    }

    /// `autoPromotionSeconds`: "automatically promote the new ReplicaSet to active Service
    /// after the AutoPromotionSeconds time has passed since the rollout has entered a paused
    /// state"; without it, the switch comes as soon as the preview is ready.
    #[test]
    fn auto_promotion_switches_by_itself() {
        let timeline = simulate_update(
            spec(
                3,
                BlueGreen {
                    auto_promotion_seconds: 60,
                    ..BlueGreen::default()
                },
            ),
            &Script {
                horizon: 3600,
                ..Script::default()
            },
        );
        let switch = timeline
            .frames
            .iter()
            .find(|f| f.traffic_weight == Some(100))
            .unwrap();
        assert_eq!(switch.time, 60);
        assert_eq!(timeline.frames.last().unwrap().phase, RolloutPhase::Healthy);
        let immediate = updated(spec(3, BlueGreen::default()));
        assert_eq!(immediate.rollout.status.active_selector, "rev2");
        assert_eq!(immediate.rollout.status.phase, Some(RolloutPhase::Healthy));
    }

    /// `previewReplicaCount`: the preview runs that many pods; "Once the application is ready
    /// to promote to the active service, the controller will scale the new ReplicaSet to the
    /// value of the spec.replicas" before the switch.
    #[test]
    fn preview_replica_count_until_promotion() {
        let mut c = updated(spec(
            3,
            BlueGreen {
                auto_promotion_enabled: false,
                preview_replica_count: Some(1),
                ..BlueGreen::default()
            },
        ));
        assert_eq!((pods(&c, 1), pods(&c, 2)), (3, 1));
        assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Paused));
        c.act(&Action::Promote);
        controller::settle(&mut c, &Script::default());
        let s = &c.rollout.status;
        assert_eq!(pods(&c, 2), 3);
        assert_eq!(
            (s.active_selector.as_str(), s.phase),
            ("rev2", Some(RolloutPhase::Healthy))
        );
    }

    /// A failed pre-promotion analysis aborts: the active Service stays on the stable stack,
    /// the Rollout is Degraded, and the preview is scaled down `abortScaleDownDelaySeconds`
    /// (30 by default) later.
    #[test]
    fn failed_pre_promotion_analysis_aborts_before_the_switch() {
        let bg = BlueGreen {
            auto_promotion_enabled: false,
            pre_promotion_analysis: Some(vec!["smoke".into()]),
            ..BlueGreen::default()
        };
        let mut script = Script {
            horizon: 3600,
            ..Script::default()
        };
        script.analyses.insert(
            RunKind::PrePromotion,
            Verdict {
                phase: AnalysisPhase::Failed,
                after: 10,
                message: "smoke failed".into(),
            },
        );
        let timeline = simulate_update(spec(2, bg), &script);
        let c = &timeline.cluster;
        let s = &c.rollout.status;
        assert_eq!(s.phase, Some(RolloutPhase::Degraded), "{s:?}");
        assert_eq!(
            s.message,
            "RolloutAborted: Rollout aborted update to revision 2: Blue/green pre-promotion analysis phase error/failed: smoke failed"
        );
        assert_eq!(s.active_selector, "rev1");
        assert!(timeline.frames.iter().all(|f| f.traffic_weight == Some(0)));
        let aborted = timeline
            .frames
            .iter()
            .find(|f| f.phase == RolloutPhase::Degraded)
            .unwrap();
        assert_eq!(aborted.time, 10);
        let scaled_down = timeline
            .frames
            .iter()
            .find(|f| f.new_pods == 0 && f.time > 10)
            .unwrap();
        assert_eq!(scaled_down.time, 40);
    }

    /// A failed post-promotion analysis aborts after the switch: the active Service goes back
    /// to the stable stack, which was kept (no `scaleDownDelaySeconds`: the old stack stays
    /// until the post-promotion analysis passed).
    #[test]
    fn failed_post_promotion_analysis_switches_back() {
        let bg = BlueGreen {
            post_promotion_analysis: Some(vec!["smoke".into()]),
            ..BlueGreen::default()
        };
        let mut script = Script {
            horizon: 3600,
            ..Script::default()
        };
        script.analyses.insert(
            RunKind::PostPromotion,
            Verdict {
                phase: AnalysisPhase::Failed,
                after: 120,
                message: String::new(),
            },
        );
        let timeline = simulate_update(spec(2, bg), &script);
        let switched = timeline
            .frames
            .iter()
            .find(|f| f.traffic_weight == Some(100))
            .unwrap();
        assert_eq!(switched.time, 0);
        assert_eq!(switched.old_pods, 2, "the old stack waits for the analysis");
        let c = &timeline.cluster;
        let s = &c.rollout.status;
        assert_eq!(s.phase, Some(RolloutPhase::Degraded), "{s:?}");
        assert_eq!(s.active_selector, "rev1");
        assert_eq!(pods(c, 1), 2);
    }
}

/// With a traffic router an aborted canary's traffic goes back to the stable at once, and its
/// pods are scaled down `abortScaleDownDelaySeconds` later (30 by default: upstream's
/// `docs/features/scaledown-aborted-rs.md`); `0` keeps them.
#[test]
fn routed_canary_keeps_its_pods_for_the_abort_delay() {
    let rollout = |delay: Value| {
        serde_json::json!({"spec": {"replicas": 4, "strategy": {"canary": {
            "trafficRouting": {"nginx": {"stableIngress": "i"}},
            "abortScaleDownDelaySeconds": delay,
            "steps": [{"setWeight": 50}, {"pause": {}}]}}}})
    };
    let script = Script {
        actions: vec![(10, Action::Abort)],
        horizon: 3600,
        ..Script::default()
    };
    let spec = Spec::from_json(&rollout(Value::Null)).unwrap();
    let timeline = controller::simulate_update(spec, &script);
    let aborted = timeline.frames.iter().find(|f| f.time == 10).unwrap();
    assert_eq!(
        (aborted.traffic_weight, aborted.new_pods, aborted.old_pods),
        (Some(0), 2, 4)
    );
    let down = timeline
        .frames
        .iter()
        .find(|f| f.new_pods == 0 && f.time > 0)
        .unwrap();
    assert_eq!(down.time, 40);
    let kept =
        controller::simulate_update(Spec::from_json(&rollout(Value::from(0))).unwrap(), &script);
    assert!(
        kept.frames.iter().all(|f| f.time < 10 || f.new_pods == 2),
        "{:?}",
        kept.frames
    );
}

// ---- the rollback window: upstream's rollout/sync_test.go, and what it does to a rollback ----

mod rollback_window {
    use super::*;
    use pipec_argo_semantics::rollout::RolloutPhase;

    /// `TestRollbackWindow` (`rollout/sync_test.go`): ReplicaSets created in the order
    /// foo-4, foo-3, foo-2, foo-1, foo-experiment (an Experiment's), foo; each row is (stable,
    /// new, `rollbackWindow.revisions`, within the window).
    #[test]
    fn is_rollback_within_window_as_upstream_tests_it() {
        let names = ["foo-4", "foo-3", "foo-2", "foo-1", "foo-experiment", "foo"];
        let rows: [(usize, Option<usize>, i32, bool); 6] = [
            (0, None, 1, false),
            (0, Some(1), 1, false),
            (1, Some(0), 1, true),
            (2, Some(0), 2, true),
            (3, Some(0), 2, false),
            // "from 5->3 the window is 1 because experiments are excluded"
            (5, Some(3), 1, true),
        ];
        for (stable, new, window, within) in rows {
            let mut c = Cluster::new(Spec {
                rollback_window: Some(window),
                ..Spec::default()
            });
            c.replica_sets = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let mut rs = ReplicaSet::new(name, u32::try_from(i).unwrap() + 1, 0, 0);
                    rs.experiment = name.ends_with("experiment");
                    rs
                })
                .collect();
            c.rollout.status.stable_rs = names[stable].to_string();
            c.template.0 = new.map_or("not-created".to_string(), |n| names[n].to_string());
            assert_eq!(
                c.rollback_within_window(),
                within,
                "stable {}, new {new:?}, window {window}",
                names[stable]
            );
        }
    }

    /// `Test_shouldFullPromote`, its canary half: the new ReplicaSet `bar`, created a minute
    /// before the stable `foo` and available, is promoted at once ("Rollback within window").
    #[test]
    fn a_rollback_within_the_window_is_promoted_once_available() {
        let mut c = Cluster::new(Spec {
            rollback_window: Some(1),
            canary: Canary {
                steps: vec![Step {
                    pause: Some(None),
                    ..Step::default()
                }],
                ..Canary::default()
            },
            ..Spec::default()
        });
        c.replica_sets = vec![
            ReplicaSet::new("bar", 1, 1, 1),
            ReplicaSet::new("foo", 2, 0, 0),
        ];
        c.template = ("bar".to_string(), 3);
        c.rollout.status.stable_rs = "foo".to_string();
        c.rollout.status.current_pod_hash = "bar".to_string();
        c.rollout.status.current_step_index = Some(0);
        c.reconcile();
        assert_eq!(c.rollout.status.stable_rs, "bar", "{:?}", c.rollout.status);
    }

    /// What the window does to a whole rollback: a canary that holds at a pause for a promote
    /// (and runs a background analysis) goes from revision 1 to 2 through its steps; taken back
    /// to revision 1 within a window of 3 it skips the pause and the analysis and is Healthy on
    /// revision 1 again; without the window the same rollback stops at the pause.
    #[test]
    fn a_rollback_within_the_window_skips_the_steps() {
        let spec = |window: Option<i32>| Spec {
            replicas: 2,
            rollback_window: window,
            canary: Canary {
                steps: vec![
                    Step {
                        set_weight: Some(50),
                        ..Step::default()
                    },
                    Step {
                        pause: Some(None),
                        ..Step::default()
                    },
                ],
                analysis: Some(pipec_argo_semantics::rollout::BackgroundAnalysis {
                    templates: vec!["success".to_string()],
                    starting_step: None,
                }),
                ..Canary::default()
            },
            ..Spec::default()
        };
        for (window, skips) in [(Some(3), true), (None, false)] {
            let mut c = Cluster::new(spec(window));
            controller::settle(&mut c, &Script::default());
            c.act(&Action::UpdateTemplate);
            controller::settle(&mut c, &Script::default());
            assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Paused));
            c.act(&Action::Promote);
            controller::settle(&mut c, &Script::default());
            assert_eq!(c.rollout.status.stable_rs, "rev2", "{:?}", c.rollout.status);
            let runs = c.analysis_runs.len();
            c.act(&Action::RollBackTo(1));
            controller::settle(&mut c, &Script::default());
            let s = &c.rollout.status;
            if skips {
                assert_eq!(s.phase, Some(RolloutPhase::Healthy), "{s:?}");
                assert_eq!(s.stable_rs, "rev1");
                assert_eq!(c.analysis_runs.len(), runs, "no analysis on the way back");
            } else {
                assert_eq!(s.phase, Some(RolloutPhase::Paused), "{s:?}");
                assert_eq!(s.stable_rs, "rev2");
            }
        }
    }
}

// ---- the progress deadline: `calculateRolloutConditions` / `RolloutTimedOut` (rollout/sync.go,
// utils/conditions) and `ValidateRolloutSpec`; the corpus has no case for them, so these follow
// the cited upstream rules ----

mod progress_deadline {
    use super::*;
    use pipec_argo_semantics::rollout::RolloutPhase;

    fn spec(deadline: Option<u64>, min_ready: Option<u64>, steps: Value) -> Spec {
        let mut rollout = serde_json::json!({"spec": {"replicas": 2, "strategy": {"canary": {
            "maxSurge": 1, "maxUnavailable": 0, "steps": steps}}}});
        if let Some(d) = deadline {
            rollout["spec"]["progressDeadlineSeconds"] = Value::from(d);
        }
        if let Some(m) = min_ready {
            rollout["spec"]["minReadySeconds"] = Value::from(m);
        }
        Spec::from_json(&rollout).unwrap()
    }

    fn run(spec: Spec, pod_ready_after: u64) -> Vec<controller::Frame> {
        let script = Script {
            pod_ready_after,
            horizon: 4 * 3600,
            ..Script::default()
        };
        controller::simulate_update(spec, &script).frames
    }

    fn degraded(frames: &[controller::Frame]) -> Vec<(u64, String)> {
        frames
            .iter()
            .filter(|f| f.phase == RolloutPhase::Degraded)
            .map(|f| (f.time, f.message.clone()))
            .collect()
    }

    /// Argo's default of 600 s: a pod that is never ready turns the update Degraded one
    /// second after the deadline (`from.Add(delta).Before(now)`), and it stays so.
    #[test]
    fn pods_that_never_start_exceed_the_default_deadline() {
        let frames = run(
            spec(None, None, serde_json::json!([{"setWeight": 50}])),
            u64::MAX,
        );
        let bad = degraded(&frames);
        assert_eq!(bad.len(), 1, "{frames:?}");
        assert_eq!(bad[0].0, 601);
        assert_eq!(
            bad[0].1,
            "ProgressDeadlineExceeded: ReplicaSet \"rev2\" has timed out progressing."
        );
        assert_eq!(frames.last().unwrap().phase, RolloutPhase::Degraded);
    }

    /// Degraded is a state, not an end: a pod that becomes available later is progress, and
    /// the update goes on to Healthy.
    #[test]
    fn a_slow_pod_recovers_once_it_is_available() {
        let frames = run(
            spec(None, None, serde_json::json!([{"setWeight": 50}])),
            900,
        );
        assert_eq!(
            degraded(&frames).first().map(|d| d.0),
            Some(601),
            "{frames:?}"
        );
        let healthy = frames.last().unwrap();
        assert_eq!(healthy.phase, RolloutPhase::Healthy, "{frames:?}");
        assert_eq!((healthy.new_pods, healthy.old_pods), (2, 0));
        let recovered = frames.iter().find(|f| f.time == 900).unwrap();
        assert_ne!(recovered.phase, RolloutPhase::Degraded);
    }

    /// A deadline longer than the pods need: never Degraded (what pipec emits: the release's
    /// timeout, 30 minutes unless it says otherwise).
    #[test]
    fn a_longer_deadline_waits_for_slow_pods() {
        let frames = run(
            spec(Some(1800), None, serde_json::json!([{"setWeight": 50}])),
            900,
        );
        assert!(degraded(&frames).is_empty(), "{frames:?}");
        assert_eq!(frames.last().unwrap().phase, RolloutPhase::Healthy);
    }

    /// A pause step is indefinite (`isIndefiniteStep`): an hour's pause does not time out,
    /// and the clock restarts when it ends (`RolloutResumed`).
    #[test]
    fn a_pause_step_does_not_count() {
        let steps = serde_json::json!([{"setWeight": 50}, {"pause": {"duration": 3600}}]);
        let frames = run(spec(None, None, steps), 0);
        assert!(degraded(&frames).is_empty(), "{frames:?}");
        assert_eq!(frames.last().unwrap().phase, RolloutPhase::Healthy);
    }

    /// `ValidateRolloutStrategyCanary`'s rules the model reads: a scale-down delay or a
    /// dynamic stable scale only with a router, a surge or an unavailable pod allowed; several
    /// broken rules are listed together, as `ToAggregate` prints them.
    #[test]
    fn canary_rules_of_the_validation() {
        let invalid = |canary: Value| {
            Spec::from_json(
                &serde_json::json!({"spec": {"replicas": 2, "strategy": {"canary": canary}}}),
            )
            .unwrap()
            .invalid()
        };
        assert_eq!(
            invalid(serde_json::json!({"scaleDownDelaySeconds": 60})).as_deref(),
            Some(
                "spec.strategy.scaleDownDelaySeconds: Invalid value: 60: Canary scaleDownDelaySeconds can only be used with traffic routing"
            )
        );
        assert_eq!(
            invalid(
                serde_json::json!({"scaleDownDelaySeconds": 60, "trafficRouting": {"smi": {}}})
            ),
            None
        );
        assert_eq!(
            invalid(serde_json::json!({"maxSurge": 0, "maxUnavailable": "0%"})).as_deref(),
            Some(
                "spec.strategy.maxSurge: Invalid value: 0: MaxSurge and MaxUnavailable both can not be zero"
            )
        );
        assert_eq!(
            invalid(serde_json::json!({"maxSurge": 0, "maxUnavailable": 1})),
            None
        );
        let both = invalid(
            serde_json::json!({"maxSurge": "0%", "maxUnavailable": 0, "dynamicStableScale": true}),
        )
        .unwrap();
        assert!(
            both.starts_with("[spec.strategy.maxSurge: Invalid value: \"0%\""),
            "{both}"
        );
        assert!(
            both.ends_with("dynamicStableScale can only be used with traffic routing]"),
            "{both}"
        );
    }

    /// `ValidateRolloutSpec`: `progressDeadlineSeconds` (600 unless set) must be greater than
    /// `minReadySeconds`; otherwise the Rollout is Degraded with InvalidSpec and no pod of the
    /// new revision is made.
    #[test]
    fn a_deadline_not_above_min_ready_is_an_invalid_spec() {
        for (deadline, min_ready, invalid) in [
            (None, 600, true),
            (None, 599, false),
            (Some(900), 900, true),
            (Some(901), 900, false),
        ] {
            let mut c = controller::Cluster::new(spec(
                deadline,
                Some(min_ready),
                serde_json::json!([{"setWeight": 50}]),
            ));
            controller::settle(&mut c, &Script::default());
            let s = &c.rollout.status;
            assert_eq!(
                s.phase == Some(RolloutPhase::Degraded),
                invalid,
                "{deadline:?} {min_ready}: {s:?}"
            );
            if invalid {
                assert_eq!(
                    s.message,
                    format!(
                        "InvalidSpec: The Rollout is invalid: spec.progressDeadlineSeconds: Invalid value: {}: must be greater than minReadySeconds",
                        deadline.unwrap_or(600)
                    )
                );
                assert!(c.replica_sets.is_empty());
            }
        }
    }
}
