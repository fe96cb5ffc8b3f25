//! `pipec plan`: what a run does before it runs, from the compiled resources through the model
//! of Argo (`pipec-argo-semantics`) and Argo Rollouts' replica math.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::process::Command;

use pipec_core::plan::{Context, plan};

fn context(branch: &str) -> Context {
    let mut context = Context {
        approved: true,
        ..Context::default()
    };
    context
        .parameters
        .insert("git-branch".to_string(), branch.to_string());
    context
}

/// Issue 10: the addressbook canary exposes one pod of three, about a third of the traffic,
/// before its first gate.
#[test]
fn addressbook_exposes_one_pod_of_three_before_its_first_gate() {
    let docs = common::documents("examples/addressbook.pipe");
    let p = plan(&docs, &context("master")).unwrap();
    assert_eq!(p.outcome, "Succeeded");
    let release = &p.releases[0];
    assert_eq!(release.replicas, 3);
    let exposure = release.before_first_gate.unwrap();
    assert_eq!((exposure.canary_pods, exposure.traffic), (1, 33));
    // Another branch does not push the release image, so nothing is deployed.
    let other = plan(&docs, &context("feature")).unwrap();
    let push = other.images.iter().find(|i| i.action == "pushes").unwrap();
    assert_eq!(
        (
            push.task.as_str(),
            push.outcome.as_str(),
            push.to.as_deref()
        ),
        (
            "release-image",
            "skipped",
            Some("docker.io/acme/addressbook:UID")
        )
    );
    let deploy = other
        .steps
        .iter()
        .find(|s| s.task == "addressbook-deploy")
        .unwrap();
    assert_eq!(deploy.outcome, "omitted");
    // The longest it can take: both checks and the promotion at their 30-minute timeouts, plus
    // the approval.
    let worst = release.worst_case.as_ref().unwrap();
    assert_eq!((worst.seconds, worst.approvals), (3 * 1800, 1));
    assert!(worst.unbounded.is_empty());
    // A failed gate: the rest is omitted, the exit handler rolls back.
    let mut failing = context("master");
    failing.failing.insert("addressbook-check-1".to_string());
    let failed = plan(&docs, &failing).unwrap();
    assert_eq!(failed.outcome, "Failed");
    assert!(
        failed
            .on_exit
            .iter()
            .any(|s| s.task == "addressbook-rollback" && s.outcome == "runs")
    );
    // Nobody approves: the run waits there.
    let mut waiting = context("master");
    waiting.approved = false;
    let waits = plan(&docs, &waiting).unwrap();
    assert_eq!(waits.outcome, "Running");
    let approve = waits
        .steps
        .iter()
        .find(|s| s.task == "addressbook-approve")
        .unwrap();
    assert_eq!(approve.outcome, "waits");
}

/// Every example's plan, as `pipec plan` prints it (reviewed snapshots).
#[test]
fn every_example_has_a_plan() {
    for path in common::pipe_files("examples") {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The go-auth pipelines release tagged versions only.
        let mut args = vec!["plan", path.to_str().unwrap(), "--branch", "master"];
        if name.starts_with("go-auth") {
            args.extend(["--param", "version=v1.1"]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        insta::with_settings!({
            snapshot_path => "snapshots/plan",
            prepend_module_to_snapshot => false,
            description => args[1..].join(" ").replace(&common::root().display().to_string(), "."),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, String::from_utf8(out.stdout).unwrap());
        });
    }
}

#[test]
fn unknown_parameters_are_usage_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args(["plan", "examples/addressbook.pipe", "--param", "nope=1"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no parameter `nope`"));
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args([
            "plan",
            "examples/homelab-ping.pipe",
            "--fail-analysis",
            "nope",
        ])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no analysis `nope`")
            && stderr.contains("homelab-ping-maintain-success-rate"),
        "{stderr}"
    );
    // Typed as `pipec run` types them.
    let out = Command::new(env!("CARGO_BIN_EXE_pipec"))
        .args([
            "plan",
            "tests/cases/compile/webhook.pipe",
            "--param",
            "dry_run=yes",
        ])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`dry_run` is of type `bool`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The homelab canary's schedule comes from the Argo Rollouts model: three weights, each
/// followed by a two-minute pause, done at 0, 2 and 4 minutes; every pod on the new version,
/// Healthy, at 6.
#[test]
fn homelab_schedule_over_time() {
    let docs = common::documents("examples/homelab-ping.pipe");
    let p = plan(&docs, &context("master")).unwrap();
    let release = &p.releases[0];
    let done: Vec<(Option<u32>, Option<u64>)> = release
        .stages
        .iter()
        .map(|s| (s.traffic, s.done_at_seconds))
        .collect();
    assert_eq!(
        done,
        [
            (Some(25), Some(0)),
            (None, Some(120)),
            (Some(50), Some(120)),
            (None, Some(240)),
            (Some(75), Some(240)),
            (None, Some(360)),
            (Some(100), Some(360)),
        ]
    );
    assert_eq!(release.held_seconds, 360);
    assert!(release.aborted.is_none());
}

/// `--fail-analysis`: the homelab canary's background analysis (from step 1, every 30s) fails
/// its first measurement there and then its second, a minute into the update; Argo Rollouts
/// aborts, the Workflow's step waiting for the Rollout to be Healthy fails, the rest is
/// omitted and the exit handler rolls back and alerts.
#[test]
fn a_failing_analysis_aborts_the_release_and_the_run() {
    let docs = common::documents("examples/homelab-ping.pipe");
    let mut failing = context("master");
    failing
        .failing_analyses
        .insert("homelab-ping-maintain-success-rate".to_string());
    let p = plan(&docs, &failing).unwrap();
    assert_eq!(p.outcome, "Failed");
    let outcome = |steps: &[pipec_core::plan::StepPlan], task: &str| {
        let step = steps.iter().find(|s| s.task == task).unwrap();
        (step.outcome.clone(), step.why.clone())
    };
    let (complete, why) = outcome(&p.steps, "ping-complete");
    assert_eq!(complete, "fails");
    assert!(why.contains("Rollout aborted"), "{why}");
    assert_eq!(outcome(&p.steps, "report").0, "omitted");
    assert_eq!(outcome(&p.on_exit, "ping-rollback").0, "runs");
    assert_eq!(outcome(&p.on_exit, "alert").0, "runs");
    let release = &p.releases[0];
    let aborted = release.aborted.as_ref().unwrap();
    assert_eq!(aborted.at_seconds, 60);
    // Only the first weight was reached; nothing after the abort has counts or times.
    let reached: Vec<bool> = release
        .stages
        .iter()
        .map(|s| s.done_at_seconds.is_some())
        .collect();
    assert_eq!(reached, [true, false, false, false, false, false]);
    let text = p.text();
    assert!(text.contains("aborted at 1m"), "{text}");
}
