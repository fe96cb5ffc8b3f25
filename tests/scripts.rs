//! The shell pipec generates, executed for real: the Rollout scripts against a fake `kubectl`
//! (`tests/fake/kubectl`) that plays the controller through a timeline of Rollout states, user
//! commands with hostile values to show nothing is injected, and shellcheck over every script.
//!
//! Needs bash and jq; shellcheck is optional locally and required in CI
//! (`PIPEC_REQUIRE_SHELLCHECK=1`, set by `.ci/run`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn workflow(program: &str) -> Value {
    let path = common::root().join(program);
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    common::parsed_documents(&compilation)
        .into_iter()
        .find(|d| d["kind"] == "Workflow")
        .expect("a Workflow")
}

use common::{runs, template};

/// The `name=value` environment a template's process sees: Argo substitutes the run's
/// parameters (`params`) and `{{workflow.name}}` (`run-1`), then Kubernetes expands
/// `$(VAR)` ([`common::kube`]).
fn env_of(template: &Value, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let body = if template["script"].is_object() {
        &template["script"]
    } else {
        &template["container"]
    };
    common::kube::container_env(body, params)
}

struct Fake {
    dir: PathBuf,
}

impl Fake {
    fn new(test: &str) -> Fake {
        let dir = std::env::temp_dir().join(format!("pipec-fake-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Fake { dir }
    }

    fn write(&self, file: &str, content: &str) {
        std::fs::write(self.dir.join(file), content).expect("write fake state");
    }

    fn timeline(&self, states: &[Value]) {
        self.write("timeline", &Value::Array(states.to_vec()).to_string());
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn patches(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("patch "))
            .collect()
    }

    /// Runs a script template of the workflow with bash, the fake kubectl first on PATH.
    fn run(&self, template: &Value, extra_env: &[(&str, &str)]) -> Output {
        let source = template["script"]["source"]
            .as_str()
            .expect("a script template");
        let fake_bin = common::root().join("tests/fake");
        let path = format!(
            "{}:{}",
            fake_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(source)
            .env("PATH", path)
            .env("FAKE", &self.dir);
        for (k, v) in env_of(template, &[]) {
            command.env(k, v);
        }
        for (k, v) in extra_env {
            command.env(k, v);
        }
        command.output().expect("bash runs")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rollout(
    generation: u64,
    observed: u64,
    phase: &str,
    step: Option<u64>,
    current: &str,
    stable: &str,
) -> Value {
    let mut status = json!({
        "observedGeneration": observed.to_string(),
        "phase": phase,
        "currentPodHash": current,
        "stableRS": stable,
        "message": format!("{phase} for the test"),
    });
    if let Some(step) = step {
        status["currentStepIndex"] = json!(step);
    }
    json!({
        "metadata": {"generation": generation, "annotations": {"pipec.dev/run": "run-1"}},
        "spec": {"template": {"spec": {"containers": [{"name": "addressbook", "image": "docker.io/acme/addressbook:old"}]}}},
        "status": status,
    })
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn wait_trusts_status_only_once_observed_and_stops_at_the_pause() {
    let wf = workflow("examples/addressbook.pipe");
    let wait = &runs(&wf, "addressbook-wait-1");
    let fake = Fake::new("wait");
    fake.timeline(&[
        // Stale: the controller has not seen the new image yet; `Paused` here is the old status.
        rollout(5, 4, "Paused", Some(1), "old", "old"),
        rollout(5, 5, "Progressing", Some(0), "new", "old"),
        rollout(5, 5, "Paused", Some(1), "new", "old"),
    ]);
    let out = fake.run(wait, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("paused at step 1"),
        "{}",
        stdout(&out)
    );
    assert!(
        fake.patches().is_empty(),
        "waiting never changes the Rollout"
    );
}

#[test]
fn wait_fails_on_a_degraded_rollout_and_passes_when_nothing_is_held() {
    let wf = workflow("examples/addressbook.pipe");
    let wait = &runs(&wf, "addressbook-wait-1");

    let fake = Fake::new("wait-degraded");
    fake.timeline(&[rollout(5, 5, "Degraded", Some(0), "new", "old")]);
    let out = fake.run(wait, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("degraded"), "{}", stderr(&out));

    let fake = Fake::new("wait-first");
    fake.timeline(&[rollout(2, 2, "Healthy", None, "new", "new")]);
    let out = fake.run(wait, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no canary to hold"),
        "{}",
        stdout(&out)
    );

    let fake = Fake::new("wait-timeout");
    fake.timeline(&[rollout(5, 5, "Progressing", Some(0), "new", "old")]);
    let out = fake.run(wait, &[("TIMEOUT", "0")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did not reach step 1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn promote_releases_only_the_expected_pause() {
    let wf = workflow("examples/addressbook.pipe");
    let promote = &runs(&wf, "addressbook-promote-1");

    let fake = Fake::new("promote");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "new", "old")]);
    let out = fake.run(promote, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.patches(),
        [
            r#"patch rollout addressbook --subresource=status --type=merge -p {"status":{"pauseConditions":null}}"#
        ]
    );

    let fake = Fake::new("promote-wrong-step");
    fake.timeline(&[rollout(5, 5, "Progressing", Some(0), "new", "old")]);
    let out = fake.run(promote, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        fake.patches().is_empty(),
        "a Rollout not at the pause is left alone"
    );
}

#[test]
fn deploy_sets_the_image_and_promotes_a_first_deploy_fully() {
    let wf = workflow("examples/addressbook.pipe");
    let deploy = &runs(&wf, "addressbook-deploy");

    let fake = Fake::new("deploy-update");
    fake.timeline(&[rollout(5, 5, "Healthy", Some(2), "old", "old")]);
    let out = fake.run(deploy, &[("IMAGE", "docker.io/acme/addressbook:abc")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let patches = fake.patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(
        patches[0].contains(r#""value":"docker.io/acme/addressbook:abc""#),
        "{}",
        patches[0]
    );
    assert!(
        patches[0].contains(r#""path":"/metadata/annotations/pipec.dev~1run","value":"run-1""#),
        "{}",
        patches[0]
    );

    let fake = Fake::new("deploy-first");
    let mut never_deployed = rollout(1, 1, "Degraded", None, "a", "a");
    never_deployed["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("image");
    let mut picked_up = rollout(2, 2, "Progressing", None, "b", "a");
    picked_up["spec"] = never_deployed["spec"].clone();
    fake.timeline(&[
        never_deployed,
        rollout(2, 1, "Degraded", None, "a", "a"),
        picked_up,
    ]);
    let out = fake.run(deploy, &[("IMAGE", "docker.io/acme/addressbook:abc")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let patches = fake.patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert!(
        patches[1].contains(r#"{"status":{"promoteFull":true}}"#),
        "{}",
        patches[1]
    );
}

#[test]
fn a_check_runs_its_command_in_a_pod_of_the_new_version() {
    let wf = workflow("examples/addressbook.pipe");
    let check = &runs(&wf, "addressbook-check-1");
    let fake = Fake::new("check");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    fake.write("pods", "pod/addressbook-newhash-x1\n");
    let out = fake.run(check, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = fake.calls();
    assert!(
        calls.iter().any(|c| c.contains(
            "get pods -l app.kubernetes.io/name=addressbook,rollouts-pod-template-hash=newhash"
        )),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c == "exec pod/addressbook-newhash-x1 -c addressbook -- sh -c npm run ping"),
        "{calls:?}"
    );

    let fake = Fake::new("check-fails");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    fake.write("pods", "pod/addressbook-newhash-x1\n");
    fake.write("exec_status", "3");
    assert_eq!(
        fake.run(check, &[]).status.code(),
        Some(3),
        "a failing command fails the check"
    );

    let fake = Fake::new("check-no-pod");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    let out = fake.run(check, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no running pod"), "{}", stderr(&out));
}

fn replicasets() -> String {
    let rs = |hash: &str, revision: &str, image: &str| {
        json!({
            "metadata": {"labels": {"rollouts-pod-template-hash": hash}, "annotations": {"rollout.argoproj.io/revision": revision}},
            "spec": {"template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "addressbook", "rollouts-pod-template-hash": hash}},
                "spec": {"containers": [{"name": "addressbook", "image": image}]}
            }}
        })
    };
    json!({"items": [rs("oldhash", "1", "docker.io/acme/addressbook:1"), rs("newhash", "2", "docker.io/acme/addressbook:2")]}).to_string()
}

#[test]
fn rollback_aborts_restores_stable_and_waits_for_health() {
    let wf = workflow("examples/addressbook.pipe");
    let rollback = &runs(&wf, "addressbook-rollback");
    let fake = Fake::new("rollback");
    fake.write("replicasets", &replicasets());
    fake.timeline(&[
        rollout(5, 5, "Paused", Some(1), "newhash", "oldhash"),
        rollout(5, 5, "Paused", Some(1), "newhash", "oldhash"),
        rollout(6, 6, "Healthy", None, "oldhash", "oldhash"),
    ]);
    let out = fake.run(rollback, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let patches = fake.patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert!(
        patches[0].contains(r#"{"status":{"abort":true}}"#),
        "{}",
        patches[0]
    );
    assert!(
        patches[1].contains(r#""path":"/spec/template""#) && patches[1].contains("addressbook:1"),
        "{}",
        patches[1]
    );
    assert!(
        !patches[1].contains("rollouts-pod-template-hash"),
        "the hash label is the controller's: {}",
        patches[1]
    );
}

#[test]
fn rollback_leaves_alone_a_rollout_this_run_did_not_change() {
    let wf = workflow("examples/addressbook.pipe");
    let rollback = &runs(&wf, "addressbook-rollback");
    let fake = Fake::new("rollback-other-run");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    let out = fake.run(rollback, &[("RUN", "another-run")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("nothing to roll back"),
        "{}",
        stdout(&out)
    );
    assert!(fake.patches().is_empty());
}

#[test]
fn rollback_of_a_fully_promoted_release_returns_to_the_previous_revision() {
    let wf = workflow("examples/addressbook.pipe");
    let rollback = &runs(&wf, "addressbook-rollback");
    let fake = Fake::new("rollback-promoted");
    fake.write("replicasets", &replicasets());
    fake.timeline(&[
        rollout(5, 5, "Healthy", None, "newhash", "newhash"),
        rollout(5, 5, "Healthy", None, "newhash", "newhash"),
        rollout(6, 6, "Healthy", None, "oldhash", "oldhash"),
    ]);
    let out = fake.run(rollback, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let patches = fake.patches();
    assert_eq!(
        patches.len(),
        1,
        "no abort when nothing is in progress: {patches:?}"
    );
    assert!(patches[0].contains("addressbook:1"), "{}", patches[0]);
}

#[test]
fn complete_waits_for_every_pod_and_fails_on_degraded() {
    let wf = workflow("examples/addressbook.pipe");
    let complete = &runs(&wf, "addressbook-complete");
    let fake = Fake::new("complete");
    fake.timeline(&[
        rollout(6, 6, "Progressing", None, "newhash", "oldhash"),
        rollout(6, 6, "Healthy", None, "newhash", "newhash"),
    ]);
    assert!(fake.run(complete, &[]).status.success());

    let fake = Fake::new("complete-degraded");
    fake.timeline(&[rollout(6, 6, "Degraded", None, "newhash", "oldhash")]);
    assert_eq!(fake.run(complete, &[]).status.code(), Some(1));
}

#[test]
fn diagnostics_never_fail() {
    let wf = workflow("examples/addressbook.pipe");
    let diagnostics = &runs(&wf, "addressbook-diagnostics");
    let fake = Fake::new("diagnostics");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    let out = fake.run(diagnostics, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let calls = fake.calls();
    for wanted in [
        "describe rollout",
        "get events",
        "logs -l",
        "describe pods -l",
    ] {
        assert!(
            calls.iter().any(|c| c.contains(wanted)),
            "diagnostics must run `{wanted}`: {calls:?}"
        );
    }
}

/// Shell and Kubernetes syntax: quotes, command substitutions, and `$$` and `$(VAR)`, which
/// Kubernetes' expansion would turn into `$` and another variable's value.
const HOSTILE: &str = r#"a b'"; touch "$PWNED"; echo '$(touch "$PWNED")` `touch "$PWNED"` $$ $(PIPEC_VALUE_0) $(PWNED)"#;

fn expect_data(out: &Output, pwned: &Path, times: usize) {
    assert!(out.status.success(), "{}", stderr(out));
    assert!(!pwned.exists(), "a value was executed as shell code");
    let expected: Vec<String> = (0..times).map(|_| format!("[{HOSTILE}]")).collect();
    let lines: Vec<String> = stdout(out).lines().map(str::to_string).collect();
    let hostile_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("[a b")).collect();
    assert_eq!(hostile_lines.len(), times, "{lines:?}");
    for line in hostile_lines {
        assert!(
            expected.contains(line),
            "value changed on its way through the shell: {line}"
        );
    }
}

#[test]
fn hostile_values_stay_data_in_run_steps() {
    let wf = workflow("tests/cases/compile/injection.pipe");
    let step = template(&wf, "echo-all");
    let args = common::kube::container_args(&step["container"], &[("value", HOSTILE)]);
    let script = args[0].as_str();
    let pwned = std::env::temp_dir().join(format!("pipec-pwned-run-{}", std::process::id()));
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).env("PWNED", &pwned);
    for (k, v) in env_of(step, &[("value", HOSTILE)]) {
        command.env(k, v);
    }
    let out = command.output().expect("sh runs");
    // Three bare/quoted forms print the value itself; the two wrapped ones print x…x and y…y.
    expect_data(&out, &pwned, 3);
    assert!(
        stdout(&out).contains(&format!("[x{HOSTILE}x]")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("[y{HOSTILE}y]")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn hostile_values_stay_data_in_checks() {
    let wf = workflow("tests/cases/compile/injection.pipe");
    let check = &runs(&wf, "api-check-1");
    let fake = Fake::new("injection-check");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    fake.write("pods", "pod/api-newhash-1\n");
    let pwned = std::env::temp_dir().join(format!("pipec-pwned-check-{}", std::process::id()));
    let mut env: Vec<(String, String)> = env_of(check, &[("value", HOSTILE)]);
    env.push(("FAKE_RUN_EXEC".into(), "1".into()));
    env.push(("PWNED".into(), pwned.display().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = fake.run(check, &env);
    expect_data(&out, &pwned, 1);
    assert!(
        stdout(&out).contains(&format!("[x{HOSTILE}x]")),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("[y{HOSTILE}y]")),
        "{}",
        stdout(&out)
    );
}

/// `check_image` lets every reference distribution's grammar accepts through and stops the
/// ones that would turn into a tool's options (BuildKit's comma-separated `--output`, a
/// leading `-`) before anything runs; the deploy step stops before it patches anything.
#[test]
fn image_references_made_of_parameters_never_become_options() {
    use pipec_core::k8s_rules::{ImagePart, image};
    let check = |reference: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}check_image \"$1\" IMAGE",
                pipec_core::lower::shell::CHECK_IMAGE
            ))
            .arg("sh")
            .arg(reference)
            .output()
            .expect("sh runs")
    };
    let valid = [
        "nginx",
        "docker.io/acme/app:v1.2-rc_1",
        "registry.example.com:5000/team/app:feature-x",
        "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "localhost/app:v-",
    ];
    for reference in valid {
        assert_eq!(
            image(reference, ImagePart::Reference),
            Ok(()),
            "{reference}"
        );
        let out = check(reference);
        assert!(out.status.success(), "{reference}: {}", stderr(&out));
    }
    let refused = [
        "",
        "registry.example.com/x,name=evil.io/pwn:v1",
        "--insecure",
        "app:",
        "app v1",
        "app:v1\"",
        "app/",
        "app:$(id)",
    ];
    for reference in refused {
        assert!(
            image(reference, ImagePart::Reference).is_err(),
            "{reference}"
        );
        let out = check(reference);
        assert!(!out.status.success(), "{reference} passed");
        assert!(
            stderr(&out).contains("IMAGE is not an image reference"),
            "{}",
            stderr(&out)
        );
    }

    let wf = workflow("examples/addressbook.pipe");
    let deploy = &runs(&wf, "addressbook-deploy");
    let fake = Fake::new("deploy-bad-image");
    fake.timeline(&[rollout(5, 5, "Healthy", Some(2), "old", "old")]);
    let out = fake.run(deploy, &[("IMAGE", "docker.io/acme/x,name=evil.io/pwn")]);
    assert!(!out.status.success());
    assert!(fake.patches().is_empty(), "{:?}", fake.patches());
}

#[test]
fn every_generated_script_passes_shellcheck() {
    let available = Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        let required = std::env::var("PIPEC_REQUIRE_SHELLCHECK").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "PIPEC_REQUIRE_SHELLCHECK=1 but shellcheck is not installed"
        );
        eprintln!("SKIPPED: shellcheck is not installed (apt-get install shellcheck)");
        return;
    }
    let mut checked = 0;
    for path in common::all_valid_programs() {
        let compilation = common::compile_file(&path);
        for doc in common::parsed_documents(&compilation)
            .iter()
            .filter(|d| d["kind"] == "Workflow" || d["kind"] == "WorkflowTemplate")
        {
            for t in doc["spec"]["templates"].as_array().into_iter().flatten() {
                // Generated scripts, and `sh -c` commands: the user's and the standard
                // library's, with pipec's quoting of the values inserted into them.
                // A container's `args` are what Kubernetes expands them to.
                let args = common::kube::container_args(&t["container"], &[]);
                let (source, shell) = match (
                    t["script"]["source"].as_str(),
                    t["container"]["command"] == json!(["sh", "-c"]),
                ) {
                    (Some(source), _) => match t["script"]["command"][0].as_str() {
                        Some("bash") => (source, "bash"),
                        _ => (source, "sh"),
                    },
                    (None, true) => match args.first() {
                        Some(command) => (command.as_str(), "sh"),
                        None => continue,
                    },
                    (None, false) => continue,
                };
                let file = std::env::temp_dir().join(format!(
                    "pipec-shellcheck-{}-{checked}.sh",
                    std::process::id()
                ));
                std::fs::write(&file, source).expect("write script");
                let out = Command::new("shellcheck")
                    .args(["--shell", shell, "--severity", "warning"])
                    .arg(&file)
                    .output()
                    .expect("shellcheck runs");
                let _ = std::fs::remove_file(&file);
                assert!(
                    out.status.success(),
                    "{} template {}:\n{}",
                    path.display(),
                    t["name"],
                    String::from_utf8_lossy(&out.stdout)
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} scripts checked");
}

#[test]
fn join_labels_the_canary_for_production_and_waits_for_it() {
    let wf = workflow("examples/ornithology.pipe");
    let join = &runs(&wf, "ornithology-join");
    let fake = Fake::new("join");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    fake.write("pods", "pod/ornithology-newhash-1\n");
    let out = fake.run(join, &[("ROLLOUT", "ornithology")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fake.patches(),
        [
            r#"patch rollout ornithology --type=json -p [{"op":"add","path":"/spec/strategy/canary/canaryMetadata/labels/pipec.dev~1serving","value":"true"}]"#
        ]
    );
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains("rollouts-pod-template-hash=newhash,pipec.dev/serving=true")),
        "{calls:?}"
    );

    let fake = Fake::new("join-never");
    fake.timeline(&[rollout(5, 5, "Paused", Some(1), "newhash", "oldhash")]);
    let out = fake.run(join, &[("ROLLOUT", "ornithology"), ("TIMEOUT", "0")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "pods that never join fail the step"
    );
}

#[test]
fn deploy_resets_an_isolated_canary() {
    let wf = workflow("examples/ornithology.pipe");
    let deploy = &runs(&wf, "ornithology-deploy");
    let fake = Fake::new("deploy-isolated");
    fake.timeline(&[rollout(5, 5, "Healthy", None, "old", "old")]);
    let out = fake.run(
        deploy,
        &[
            ("ROLLOUT", "ornithology"),
            ("IMAGE", "registry.example.com/ornithology:abc1234"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let patches = fake.patches();
    assert!(patches[0].contains(r#"{"op":"add","path":"/spec/strategy/canary/canaryMetadata/labels/pipec.dev~1serving","value":"false"}"#), "{}", patches[0]);
}

#[test]
fn blue_green_waits_for_the_pause_before_the_switch_and_promotes_it() {
    let wf = workflow("tests/cases/compile/strategies.pipe");
    let wait = &runs(&wf, "auth-wait");
    let fake = Fake::new("bg-wait");
    fake.timeline(&[
        rollout(3, 3, "Progressing", None, "green", "blue"),
        rollout(3, 3, "Paused", None, "green", "blue"),
    ]);
    let out = fake.run(wait, &[("ROLLOUT", "auth")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("before the switch"),
        "{}",
        stdout(&out)
    );

    let promote = &runs(&wf, "auth-promote");
    let fake = Fake::new("bg-promote");
    fake.timeline(&[rollout(3, 3, "Paused", None, "green", "blue")]);
    let out = fake.run(promote, &[("ROLLOUT", "auth")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fake.patches().len(), 1);
}

/// The ephemeral environment's `up` and `down` steps of the environments case.
fn environment_templates() -> (Value, Value) {
    let wf = workflow("tests/cases/compile/environments.pipe");
    (
        template(&wf, "staging-up").clone(),
        template(&wf, "staging-down").clone(),
    )
}

fn applied_objects(fake: &Fake) -> Vec<Value> {
    let text = std::fs::read_to_string(fake.dir.join("applied")).unwrap_or_default();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| v.expect("apply received JSON"))
        .flat_map(|v| match v["items"].as_array() {
            Some(items) => items.clone(),
            None => vec![v],
        })
        .collect()
}

#[test]
fn an_ephemeral_environment_comes_up_in_its_own_namespace() {
    let (up, _) = environment_templates();
    let fake = Fake::new("env-up");
    // VALUE_0 is the image tag, VALUE_1 the branch: hostile text stays data.
    let out = fake.run(
        &up,
        &[
            ("VALUE_0", "abc1234"),
            ("VALUE_1", "feat/\"x\",\"image\":\"evil"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(fake.dir.join("owner"))
            .unwrap()
            .trim(),
        "run-1",
        "the namespace is labelled with the run that owns it"
    );
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("create namespace run-1-staging"))
    );
    let objects = applied_objects(&fake);
    let secret = objects.iter().find(|o| o["kind"] == "Secret").unwrap();
    assert_eq!(
        secret,
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "data": {"password": "cw=="}, "metadata": {"name": "ping-db"}}),
        "the secret is copied without its old namespace or identity"
    );
    let app = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "staging-ping")
        .unwrap();
    let container = &app["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.example.com/acme/ping:abc1234");
    let env = container["env"].as_array().unwrap();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap()
    };
    assert_eq!(value("RELEASE"), json!("feat/\"x\",\"image\":\"evil"));
    assert_eq!(value("DB_HOST"), json!("staging-db"));
    let waited: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("rollout status"))
        .collect();
    assert_eq!(waited.len(), 2, "waits for every deployment: {calls:?}");
    assert!(
        objects.iter().filter(|o| o["kind"] == "Service").count() == 2,
        "a Service per service"
    );
}

#[test]
fn an_environment_never_takes_over_a_namespace_it_did_not_make() {
    let (up, down) = environment_templates();
    let fake = Fake::new("env-foreign");
    fake.write("owner", "someone-else\n");
    let out = fake.run(&up, &[("VALUE_0", "abc1234"), ("VALUE_1", "main")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not made by run run-1"));
    assert!(!fake.dir.join("applied").exists(), "nothing is applied");
    let out = fake.run(&down, &[("STATUS", "Failed")]);
    assert!(out.status.success());
    assert!(
        !fake.dir.join("deleted").exists(),
        "teardown leaves a foreign namespace alone"
    );
}

#[test]
fn an_environment_that_does_not_become_ready_fails_with_its_state() {
    let (up, _) = environment_templates();
    let fake = Fake::new("env-not-ready");
    fake.write("not_ready", "staging-ping\n");
    let out = fake.run(&up, &[("VALUE_0", "abc1234"), ("VALUE_1", "main")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("deployment/staging-ping"), "{stderr}");
    let calls = fake.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("logs deployment/staging-ping"))
    );
    assert!(calls.iter().any(|c| c.starts_with("get events")));
}

#[test]
fn teardown_deletes_the_namespace_and_after_a_failure_shows_what_ran() {
    let (_, down) = environment_templates();
    let fake = Fake::new("env-down-ok");
    fake.write("owner", "run-1\n");
    let out = fake.run(&down, &[("STATUS", "Succeeded")]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(fake.dir.join("deleted"))
            .unwrap()
            .trim(),
        "run-1-staging"
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("logs")));

    let fake = Fake::new("env-down-failed");
    fake.write("owner", "run-1\n");
    let out = fake.run(&down, &[("STATUS", "Failed")]);
    assert!(out.status.success());
    let calls = fake.calls();
    for expected in [
        "get all --namespace run-1-staging",
        "logs deployment/staging-db",
        "logs deployment/staging-ping",
        "delete namespace run-1-staging",
    ] {
        assert!(
            calls.iter().any(|c| c.starts_with(expected)),
            "{expected} in {calls:?}"
        );
    }
}

#[test]
fn rollout_scripts_act_in_the_services_namespace() {
    let wf = workflow("tests/cases/compile/environments.pipe");
    let deploy = &runs(&wf, "ping-deploy");
    let fake = Fake::new("namespaced");
    fake.timeline(&[rollout(1, 1, "Healthy", None, "a", "a")]);
    let out = fake.run(
        deploy,
        &[("IMAGE", "registry.example.com/acme/ping:0123456")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fake.calls();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c.starts_with("--namespace ping-prod ")),
        "{calls:?}"
    );
}

/// The template task `name` of the rollback WorkflowTemplate runs, with its arguments.
fn manual_rollback_template(name: &str) -> Value {
    let path = common::root().join("examples/addressbook.pipe");
    let compilation = common::compile_file(&path);
    let doc = common::parsed_documents(&compilation)
        .into_iter()
        .find(|d| {
            d["kind"] == "WorkflowTemplate" && d["metadata"]["name"] == "addressbook-rollback"
        })
        .expect("the rollback WorkflowTemplate");
    runs(&doc, name)
}

#[test]
fn a_manual_rollback_acts_whoever_changed_the_rollout() {
    let rollback = manual_rollback_template("addressbook-rollback");
    let fake = Fake::new("manual-rollback");
    fake.write("replicasets", &replicasets());
    fake.timeline(&[
        rollout(5, 5, "Paused", Some(1), "newhash", "oldhash"),
        rollout(5, 5, "Paused", Some(1), "newhash", "oldhash"),
        rollout(6, 6, "Healthy", None, "oldhash", "oldhash"),
    ]);
    // A different run than the one that changed the Rollout, and no image: back to stable.
    let out = fake.run(
        &rollback,
        &[("RUN", "addressbook-rollback-x1"), ("TO_IMAGE", "")],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let patches = fake.patches();
    assert!(
        patches[0].contains(r#"{"status":{"abort":true}}"#),
        "{patches:?}"
    );
}

#[test]
fn a_manual_rollback_to_an_earlier_image_redeploys_it_at_once() {
    let rollback = manual_rollback_template("addressbook-rollback");
    let fake = Fake::new("manual-rollback-image");
    fake.timeline(&[
        rollout(6, 6, "Healthy", None, "newhash", "newhash"),
        rollout(7, 7, "Paused", Some(0), "oldhash", "newhash"),
        rollout(8, 8, "Healthy", None, "oldhash", "oldhash"),
    ]);
    let earlier = "docker.io/acme/addressbook:6f1c2a9e-run-of-last-week";
    let out = fake.run(
        &rollback,
        &[("RUN", "addressbook-rollback-x2"), ("TO_IMAGE", earlier)],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let patches = fake.patches();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert!(patches[0].contains(earlier), "{}", patches[0]);
    assert!(
        patches[0].contains("addressbook-rollback-x2"),
        "marks the Rollout as changed by the rollback run: {}",
        patches[0]
    );
    assert!(
        patches[1].contains(r#"{"status":{"promoteFull":true}}"#),
        "no canary stages for a rollback: {}",
        patches[1]
    );
}
