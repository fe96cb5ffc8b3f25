//! Scenario tests of the cluster verbs: the real `pipec` binary against a **simulated**
//! Kubernetes API server (`pipec-sim`), whose scripted controllers play Argo Workflows and
//! Argo Rollouts. Each test asserts the exit code, what was printed and what was left in the
//! simulated cluster.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pipec_sim::{Script, Sim};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

const NAMESPACE: &str = "ci";
const WAIT: Duration = Duration::from_secs(20);

/// A simulated cluster and a kubeconfig pointing at it.
struct Cluster {
    sim: Sim,
    dir: PathBuf,
}

impl Cluster {
    async fn start(name: &str) -> Cluster {
        let sim = Sim::start().await.expect("the simulation starts");
        let dir = temp_dir(name);
        write_kubeconfig(&dir.join("kubeconfig"), &sim.url());
        Cluster { sim, dir }
    }

    fn pipec(&self, args: &[&str]) -> Command {
        pipec_with(&self.dir.join("kubeconfig"), args)
    }

    /// Runs pipec to its end: exit code, stdout, stderr.
    async fn pipec_done(&self, args: &[&str]) -> Ended {
        finish(self.pipec(args).spawn().expect("pipec starts")).await
    }

    /// The run's Workflow once a step of it satisfies `test`.
    async fn wait_for_step(&self, test: impl Fn(&Value) -> bool) -> Value {
        self.sim
            .wait_for("workflows", WAIT, |w| {
                w["status"]["nodes"]
                    .as_object()
                    .is_some_and(|nodes| nodes.values().any(&test))
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no step as expected; workflows: {:#}",
                    json!(self.sim.list("workflows"))
                )
            })
    }

    fn rollout(&self, name: &str) -> Value {
        // homelab-ping's service lives in its environment's namespace.
        let namespace = if name == "ping" { "homelab" } else { NAMESPACE };
        self.sim
            .get("rollouts", namespace, name)
            .unwrap_or_else(|| panic!("no rollout {name}"))
    }

    fn workflows(&self) -> Vec<Value> {
        self.sim.list("workflows")
    }

    /// A Rollout that already runs a stable version, so the next release is not a first
    /// deploy.
    fn existing_rollout(&self, name: &str, image: &str) {
        self.sim.put(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/part-of": name}},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}},
            "status": {"phase": "Healthy", "stableRS": "stable1", "currentPodHash": "stable1",
                       "observedGeneration": "1"},
        }));
    }
}

fn pipec_with(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipec"));
    command
        .args(args)
        .current_dir(root())
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

struct Ended {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

async fn finish(mut child: Child) -> Ended {
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let (mut out, mut err) = (String::new(), String::new());
    let reading = async {
        let _ = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
    };
    let status = tokio::time::timeout(Duration::from_secs(60), async {
        reading.await;
        child.wait().await
    })
    .await
    .expect("pipec ends within a minute")
    .expect("pipec runs");
    Ended {
        code: status.code().unwrap_or(-1),
        stdout: out,
        stderr: err,
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pipec-runtime-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_kubeconfig(path: &Path, server: &str) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: sim\n\
             clusters:\n- name: sim\n  cluster:\n    server: {server}\n\
             contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: tester\n    namespace: {NAMESPACE}\n\
             users:\n- name: tester\n  user: {{}}\n"
        ),
    )
    .unwrap();
}

/// Every step of a finished run started once and ended once in the output.
fn each_step_reported_once(stdout: &str, workflow: &Value) {
    for node in workflow["status"]["nodes"].as_object().unwrap().values() {
        if node["type"] != "Pod" {
            continue;
        }
        let name = node["displayName"].as_str().unwrap();
        let phase = node["phase"].as_str().unwrap().to_lowercase();
        let started = stdout
            .lines()
            .filter(|l| l.split_whitespace().collect::<Vec<_>>() == ["started", name])
            .count();
        let ended = stdout
            .lines()
            .filter(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(phase.as_str()) && words.next() == Some(name)
            })
            .count();
        assert_eq!((started, ended), (1, 1), "step {name}:\n{stdout}");
    }
}

fn finished(cluster: &Cluster) -> Value {
    let workflows = cluster.workflows();
    assert_eq!(workflows.len(), 1, "one run");
    workflows[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_applies_starts_and_follows_to_success() {
    let cluster = Cluster::start("happy").await;
    // A secret the pipeline refers to: its value must never reach the output.
    cluster.sim.put(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "ping-db", "namespace": "homelab"},
        "stringData": {"password": "s3cr3t-value"}}));
    let _controllers = cluster.sim.run_controllers(Script::default());
    let ended = cluster
        .pipec_done(&[
            "run",
            "examples/homelab-ping.pipe",
            "--param",
            "git-sha=0123456789",
        ])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    // The long-lived objects, by server-side apply as pipec; the pipeline's template too.
    assert!(ended.stdout.contains("applied Service ping"), "{ended:?}");
    assert!(ended.stdout.contains("applied Rollout ping"), "{ended:?}");
    assert!(
        ended
            .stdout
            .contains("applied WorkflowTemplate homelab-ping"),
        "{ended:?}"
    );
    assert!(
        ended.stdout.contains("rollout ping: first deploy"),
        "{ended:?}"
    );
    let requests = cluster.sim.requests();
    assert!(
        requests.iter().any(|r| r
            .starts_with("PATCH /apis/argoproj.io/v1alpha1/namespaces/homelab/rollouts/ping?")
            && r.contains("fieldManager=pipec")
            && r.contains("force=true")),
        "{requests:#?}"
    );
    // The run: from the template, with the parameter given.
    let run = finished(&cluster);
    assert_eq!(run["spec"]["workflowTemplateRef"]["name"], "homelab-ping");
    let params = run["spec"]["arguments"]["parameters"].as_array().unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "git-sha" && p["value"] == "0123456789"),
        "{params:?}"
    );
    assert_eq!(run["status"]["phase"], "Succeeded");
    let name = run["metadata"]["name"].as_str().unwrap();
    assert!(
        ended
            .stdout
            .contains(&format!("run {name} started in namespace ci")),
        "{ended:?}"
    );
    assert!(
        ended.stdout.contains(&format!("run {name} succeeded")),
        "{ended:?}"
    );
    each_step_reported_once(&ended.stdout, &run);
    assert!(!format!("{ended:?}").contains("s3cr3t-value"));
    // The Rollout went to the new image, and pipec's apply did not fight the run over it.
    let rollout = cluster.rollout("ping");
    assert_eq!(rollout["status"]["phase"], "Healthy");
    assert!(
        rollout["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i == "registry.homelab.example/ping:v20261122000000"),
        "{rollout:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_gate_fails_the_run_against_its_source_line() {
    let cluster = Cluster::start("gate").await;
    cluster.existing_rollout("addressbook", "docker.io/acme/addressbook:old");
    let _controllers = cluster.sim.run_controllers(
        Script::default().failing("addressbook-check-1", "npm run ping: exit code 1"),
    );
    let ended = cluster
        .pipec_done(&[
            "run",
            "examples/addressbook.pipe",
            "--param",
            "git-branch=master",
        ])
        .await;
    assert_eq!(ended.code, 1, "{ended:?}");
    // The failure, drawn on the gate's line of addressbook.pipe.
    assert!(
        ended.stdout.contains("step `addressbook-check-1` failed"),
        "{ended:?}"
    );
    assert!(
        ended.stdout.contains("npm run ping: exit code 1"),
        "{ended:?}"
    );
    assert!(ended.stdout.contains("addressbook.pipe:58"), "{ended:?}");
    assert!(
        ended.stdout.contains("check exec \"npm run ping\""),
        "{ended:?}"
    );
    assert!(
        ended
            .stdout
            .contains("kubectl logs -n ci -l workflows.argoproj.io/workflow=addressbook-"),
        "{ended:?}"
    );
    let run = finished(&cluster);
    assert_eq!(run["status"]["phase"], "Failed");
    let nodes = run["status"]["nodes"].as_object().unwrap();
    let node = |task: &str| {
        nodes
            .values()
            .find(|n| n["displayName"] == task)
            .unwrap_or_else(|| panic!("no node {task}"))
    };
    // Later steps never ran; the exit handler collected diagnostics, then rolled back.
    assert_eq!(node("addressbook-approve")["phase"], "Omitted");
    assert_eq!(node("addressbook-diagnostics")["phase"], "Succeeded");
    assert_eq!(node("addressbook-rollback")["phase"], "Succeeded");
    assert!(
        ended.stdout.contains("succeeded addressbook-diagnostics"),
        "{ended:?}"
    );
    // The rollback aborted the update, then restored the stable pod template: Argo Rollouts
    // (its model in the simulated controller) skips the steps and is Healthy on the stable
    // revision again, its abort cleared by the template change.
    let rollout = cluster.rollout("addressbook");
    back_on_stable(&rollout);
    assert!(
        ended.stdout.contains("aborted"),
        "the Rollout's abort is reported: {ended:?}"
    );
    each_step_reported_once(&ended.stdout, &run);
}

/// A Rollout healthy on its stable revision after a rollback.
fn back_on_stable(rollout: &Value) {
    let status = &rollout["status"];
    assert_eq!(status["phase"], "Healthy", "{rollout:#}");
    assert_eq!(status["currentPodHash"], status["stableRS"], "{rollout:#}");
    assert!(status["abort"].is_null(), "{rollout:#}");
}

fn approval_waiting(node: &Value) -> bool {
    node["type"] == "Suspend" && node["phase"] == "Running"
}

/// A run of the addressbook (a release, not a first deploy) that waits at its approval.
struct Waiting {
    running: Child,
    name: String,
}

impl Cluster {
    /// Starts the controllers and `pipec run examples/addressbook.pipe EXTRA…`, and returns
    /// once the run waits for its manual approval.
    async fn addressbook_waiting_for_approval(&self, extra: &[&str]) -> Waiting {
        self.existing_rollout("addressbook", "docker.io/acme/addressbook:old");
        // The controllers run on (a dropped handle detaches, it does not stop the task).
        drop(self.sim.run_controllers(Script::default()));
        // The release image is pushed from master only (`when` of the push), as in a cluster.
        let mut args = vec![
            "run",
            "examples/addressbook.pipe",
            "--param",
            "git-branch=master",
        ];
        args.extend_from_slice(extra);
        let running = self.pipec(&args).spawn().unwrap();
        let waiting = self.wait_for_step(approval_waiting).await;
        Waiting {
            running,
            name: waiting["metadata"]["name"].as_str().unwrap().to_string(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waits_until_pipec_approve() {
    let cluster = Cluster::start("approve").await;
    let Waiting { running, name } = cluster.addressbook_waiting_for_approval(&[]).await;
    // Nothing moves while it waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = &cluster.workflows()[0];
    assert_eq!(still["status"]["phase"], "Running");
    // A wrong gate name is refused, and says so.
    let wrong = cluster.pipec_done(&["approve", &name, "nope"]).await;
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("no approval `nope` waiting"),
        "{wrong:?}"
    );
    let approved = cluster
        .pipec_done(&["approve", &name, "addressbook-approve"])
        .await;
    assert_eq!(approved.code, 0, "{approved:?}");
    assert!(
        approved.stdout.contains("approved addressbook-approve"),
        "{approved:?}"
    );
    let ended = finish(running).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert!(
        ended.stdout.contains(&format!(
            "addressbook-approve waits for approval: `pipec approve {name} addressbook-approve`"
        )),
        "{ended:?}"
    );
    // The approver reads what the `.pipe` asks of them.
    assert!(
        ended
            .stdout
            .contains("          Watch the dashboards, then promote or abort"),
        "{ended:?}"
    );
    let run = finished(&cluster);
    assert_eq!(run["status"]["phase"], "Succeeded");
    each_step_reported_once(&ended.stdout, &run);
    // The Workflow was resumed the way `argo resume` does it: the suspend node succeeded.
    let node = run["status"]["nodes"]
        .as_object()
        .unwrap()
        .values()
        .find(|n| n["displayName"] == "addressbook-approve")
        .unwrap();
    assert_eq!(node["phase"], "Succeeded");
    assert_eq!(cluster.rollout("addressbook")["status"]["phase"], "Healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_expired_watches_lose_and_repeat_nothing() {
    let cluster = Cluster::start("watches").await;
    // Every watch closes after two events; three times, the version to resume from is gone.
    // The controllers take their time, so the run outlasts several watches.
    cluster.sim.drop_watches_after(2);
    cluster.sim.expire_resource_versions(3);
    let _controllers = cluster.sim.run_controllers(Script {
        tick: std::time::Duration::from_millis(80),
        ..Script::default()
    });
    let ended = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe"])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_eq!(
        cluster.sim.gone_served(),
        3,
        "watches met 410 Gone and listed again"
    );
    let run = finished(&cluster);
    each_step_reported_once(&ended.stdout, &run);
    let watches = cluster
        .sim
        .requests()
        .iter()
        .filter(|r| r.contains("/workflows?") && r.contains("watch=true"))
        .count();
    assert!(
        watches > 2,
        "the watch reconnected ({watches} watches): {ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_conflicts_are_retried() {
    let cluster = Cluster::start("flaky").await;
    let _controllers = cluster.sim.run_controllers(Script::default());
    cluster.sim.fail(Some("PATCH"), "/services/ping", 503, 2);
    cluster.sim.fail(Some("PATCH"), "/rollouts/ping", 409, 2);
    cluster.sim.fail(Some("POST"), "/workflows", 500, 1);
    cluster.sim.fail(Some("GET"), "/workflows?", 429, 2);
    let ended = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe"])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    let requests = cluster.sim.requests();
    let count = |prefix: &str| requests.iter().filter(|r| r.starts_with(prefix)).count();
    assert_eq!(
        count("PATCH /api/v1/namespaces/homelab/services/ping?"),
        3,
        "{requests:#?}"
    );
    assert_eq!(
        count("PATCH /apis/argoproj.io/v1alpha1/namespaces/homelab/rollouts/ping?"),
        3
    );
    assert_eq!(
        count("POST /apis/argoproj.io/v1alpha1/namespaces/ci/workflows?"),
        2
    );
    assert_eq!(
        cluster.workflows().len(),
        1,
        "the retried create made one run"
    );
    assert!(cluster.sim.get("services", "homelab", "ping").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_crd_is_exit_3_and_nothing_is_applied() {
    let cluster = Cluster::start("crd").await;
    cluster.sim.without_crd("rollouts");
    let ended = cluster
        .pipec_done(&["run", "examples/addressbook.pipe"])
        .await;
    assert_eq!(ended.code, 3, "{ended:?}");
    assert!(
        ended
            .stderr
            .contains("Argo Rollouts is not installed: CRD rollouts.argoproj.io not found"),
        "{ended:?}"
    );
    assert!(cluster.sim.list("services").is_empty(), "nothing applied");
    assert!(cluster.workflows().is_empty(), "nothing started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_exit_3_within_the_patience() {
    let dir = temp_dir("unreachable");
    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_kubeconfig(&dir.join("kubeconfig"), &format!("http://127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    let child = pipec_with(
        &dir.join("kubeconfig"),
        &["run", "examples/addressbook.pipe", "--patience", "2"],
    )
    .spawn()
    .unwrap();
    let ended = finish(child).await;
    assert_eq!(ended.code, 3, "{ended:?}");
    assert!(
        ended.stderr.contains("context `sim` is unreachable"),
        "{ended:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "gave up in time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_the_context_and_is_exit_3() {
    let cluster = Cluster::start("forbidden").await;
    cluster
        .sim
        .fail(Some("PATCH"), "/services/addressbook", 403, 1);
    let ended = cluster
        .pipec_done(&["run", "examples/addressbook.pipe"])
        .await;
    assert_eq!(ended.code, 3, "{ended:?}");
    assert!(ended.stderr.contains("context `sim` refused"), "{ended:?}");
    assert!(
        ended.stderr.contains("not applied: Service addressbook"),
        "{ended:?}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_detaches_and_watch_reattaches() {
    let cluster = Cluster::start("detach").await;
    let Waiting { running, name } = cluster.addressbook_waiting_for_approval(&[]).await;
    let pid = running.id().unwrap().to_string();
    // The shell's own `kill`, present wherever `sh` is: what a terminal's Ctrl-C sends.
    let killed = std::process::Command::new("sh")
        .args(["-c", "kill -INT \"$1\"", "sh", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let detached = finish(running).await;
    assert_eq!(detached.code, 130, "{detached:?}");
    assert!(
        detached
            .stdout
            .contains(&format!("Re-attach with `pipec watch {name}`")),
        "{detached:?}"
    );
    // The run was left alone.
    let run = &cluster.workflows()[0];
    assert!(run["spec"]["shutdown"].is_null());
    assert_eq!(run["status"]["phase"], "Running");
    let watching = cluster.pipec(&["watch", &name]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let approved = cluster.pipec_done(&["approve", &name]).await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let watched = finish(watching).await;
    assert_eq!(watched.code, 0, "{watched:?}");
    assert!(
        watched.stdout.contains(&format!("run {name} succeeded")),
        "{watched:?}"
    );
    assert!(
        watched.stdout.contains("succeeded addressbook-complete"),
        "{watched:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_stops_the_run_and_the_rollout() {
    let cluster = Cluster::start("abort").await;
    let Waiting { running, name } = cluster.addressbook_waiting_for_approval(&[]).await;
    let aborted = cluster.pipec_done(&["abort", &name]).await;
    assert_eq!(aborted.code, 0, "{aborted:?}");
    assert!(
        aborted.stdout.contains("rollout addressbook aborted"),
        "{aborted:?}"
    );
    let ended = finish(running).await;
    assert_eq!(ended.code, 1, "{ended:?}");
    assert!(
        ended.stdout.contains("Stopped with strategy 'Stop'"),
        "{ended:?}"
    );
    let run = finished(&cluster);
    assert_eq!(run["spec"]["shutdown"], "Stop");
    assert_eq!(run["status"]["phase"], "Failed");
    // The exit handler of the stopped run rolled the Rollout back to its stable revision.
    back_on_stable(&cluster.rollout("addressbook"));
    // Aborting an ended run is refused.
    let again = cluster.pipec_done(&["abort", &name]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already ended"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_an_earlier_run_uses_that_runs_image() {
    let cluster = Cluster::start("rollback").await;
    let _controllers = cluster.sim.run_controllers(Script::default());
    let first = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe"])
        .await;
    assert_eq!(first.code, 0, "{first:?}");
    let earlier = finished(&cluster);
    let earlier_name = earlier["metadata"]["name"].as_str().unwrap().to_string();
    let deployed =
        cluster.rollout("ping")["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    let ended = cluster
        .pipec_done(&["rollback", "ping", "--to", &earlier_name])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    let runs = cluster.workflows();
    let rollback = runs
        .iter()
        .find(|w| w["spec"]["workflowTemplateRef"]["name"] == "homelab-ping-rollback")
        .unwrap_or_else(|| panic!("no rollback run: {runs:#?}"));
    let params = rollback["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.contains(&json!({"name": "service", "value": "ping"})));
    assert!(
        params.contains(&json!({"name": "image", "value": deployed})),
        "the earlier run's image: {params:?} vs {deployed}"
    );
    assert_eq!(rollback["status"]["phase"], "Succeeded");
    // Unknown revision: refused with what exists.
    let unknown = cluster.pipec_done(&["rollback", "ping", "--to", "7"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("has no revision 7"), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_runs_and_shows_steps() {
    let cluster = Cluster::start("status").await;
    let _controllers = cluster
        .sim
        .run_controllers(Script::default().failing("staging-tests", "2 tests failed"));
    let ended = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe"])
        .await;
    assert_eq!(ended.code, 1, "{ended:?}");
    let run = finished(&cluster);
    let name = run["metadata"]["name"].as_str().unwrap();
    let list = cluster.pipec_done(&["status"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    assert!(
        list.stdout.contains(name) && list.stdout.contains("Failed"),
        "{list:?}"
    );
    let one = cluster
        .pipec_done(&["status", name, "--source", "examples"])
        .await;
    assert_eq!(one.code, 1, "a failed run: {one:?}");
    assert!(
        one.stdout.contains(&format!("run {name}: Failed")),
        "{one:?}"
    );
    assert!(one.stdout.contains("staging-tests"), "{one:?}");
    assert!(one.stdout.contains("2 tests failed"), "{one:?}");
    // Drawn on its line, read from --source.
    assert!(one.stdout.contains("homelab-ping.pipe:76:8"), "{one:?}");
    assert!(
        one.stdout
            .contains("step staging_tests = run pipeline_image {"),
        "{one:?}"
    );
    assert!(one.stdout.contains("rollout ping:"), "{one:?}");
    let json_status = cluster
        .pipec_done(&["status", name, "--output", "json"])
        .await;
    let value: Value = serde_json::from_str(json_status.stdout.trim()).unwrap();
    assert_eq!(value["phase"], "Failed");
    assert!(
        value["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["step"] == "staging-tests" && s["phase"] == "Failed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_one_event_per_line() {
    let cluster = Cluster::start("json").await;
    let _controllers = cluster.sim.run_controllers(Script::default());
    let ended = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe", "--output", "json"])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    let events: Vec<Value> = ended
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"applied"));
    assert!(kinds.contains(&"submitted") && kinds.contains(&"step-started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(events.last().unwrap()["phase"], "Succeeded");
    // Every step that started ended; skipped ones only end.
    let started = kinds.iter().filter(|k| **k == "step-started").count();
    let ran_and_ended = events
        .iter()
        .filter(|e| e["event"] == "step-finished")
        .filter(|e| !matches!(e["step"]["phase"].as_str(), Some("Skipped" | "Omitted")))
        .count();
    assert_eq!(started, ran_and_ended, "{}", ended.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_submits_nothing() {
    let cluster = Cluster::start("dry").await;
    let ended = cluster
        .pipec_done(&["run", "examples/addressbook.pipe", "--dry-run"])
        .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert!(ended.stdout.contains("kind: Rollout"), "{ended:?}");
    assert!(
        ended.stdout.contains("validated Rollout addressbook"),
        "{ended:?}"
    );
    assert!(ended.stdout.contains("nothing was submitted"), "{ended:?}");
    let requests = cluster.sim.requests();
    let writes: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("PATCH") || r.starts_with("POST"))
        .collect();
    assert!(!writes.is_empty());
    assert!(
        writes.iter().all(|r| r.contains("dryRun=All")),
        "{writes:#?}"
    );
    // No cluster at all: the plan is still printed.
    let dir = temp_dir("dry-nowhere");
    let ended = finish(
        pipec_with(
            &dir.join("missing-kubeconfig"),
            &["run", "examples/addressbook.pipe", "--dry-run"],
        )
        .spawn()
        .unwrap(),
    )
    .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert!(
        ended.stdout.contains("kind: Rollout") && ended.stdout.contains("not validated"),
        "{ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_and_compile_errors_are_exit_2() {
    let cluster = Cluster::start("usage").await;
    let dir = temp_dir("usage-files");
    let bad = dir.join("bad.pipe");
    std::fs::write(&bad, "pipeline p {\n  image x = build 42\n}\n").unwrap();
    let ended = cluster.pipec_done(&["run", bad.to_str().unwrap()]).await;
    assert_eq!(ended.code, 2, "{ended:?}");
    assert!(ended.stderr.contains("error"), "{ended:?}");
    let ended = cluster
        .pipec_done(&["run", "examples/addressbook.pipe", "--param", "nope=1"])
        .await;
    assert_eq!(ended.code, 2, "{ended:?}");
    assert!(ended.stderr.contains("no parameter `nope`"), "{ended:?}");
    assert!(
        ended.stderr.contains("git-branch"),
        "lists the real ones: {ended:?}"
    );
    let ended = cluster
        .pipec_done(&["run", "examples/addressbook.pipe", "--param", "x"])
        .await;
    assert_eq!(ended.code, 2, "{ended:?}");
    // Argo's parameters are untyped: the installed template says which are not strings.
    let ended = cluster
        .pipec_done(&[
            "run",
            "tests/cases/compile/webhook.pipe",
            "--param",
            "dry_run=yes",
        ])
        .await;
    assert_eq!(ended.code, 2, "{ended:?}");
    assert!(
        ended
            .stderr
            .contains("`dry_run` is of type `bool`, and `yes` is not `true` or `false`"),
        "{ended:?}"
    );
    assert!(
        cluster.sim.requests().is_empty(),
        "nothing reached the cluster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_revision_uses_its_replica_set() {
    let cluster = Cluster::start("revision").await;
    let _controllers = cluster.sim.run_controllers(Script::default());
    let first = cluster
        .pipec_done(&["run", "examples/homelab-ping.pipe"])
        .await;
    assert_eq!(first.code, 0, "{first:?}");
    // Argo Rollouts keeps a ReplicaSet per revision, owned by the Rollout.
    for (revision, image) in [
        ("1", "registry.homelab.example/ping:v1"),
        ("2", "registry.homelab.example/ping:v2"),
    ] {
        cluster.sim.put(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("ping-{revision}"), "namespace": "homelab",
                "labels": {"app.kubernetes.io/name": "ping"},
                "annotations": {"rollout.argoproj.io/revision": revision},
                "ownerReferences": [{"kind": "Rollout", "name": "ping", "apiVersion": "argoproj.io/v1alpha1", "uid": "u"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "ping", "image": image}]}}},
        }));
    }
    let ended = cluster.pipec_done(&["rollback", "ping", "--to", "1"]).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    let rollback = cluster
        .workflows()
        .into_iter()
        .find(|w| w["spec"]["workflowTemplateRef"]["name"] == "homelab-ping-rollback")
        .unwrap();
    let params = &rollback["spec"]["arguments"]["parameters"];
    assert_eq!(
        params[1],
        json!({"name": "image", "value": "registry.homelab.example/ping:v1"})
    );
    assert!(
        ended.stdout.contains("succeeded ping-rollback"),
        "{ended:?}"
    );
    // The fully promoted Rollout was set back to that image and promoted in full: Argo
    // Rollouts' model runs it, Healthy on that revision.
    let rollout = cluster.rollout("ping");
    assert_eq!(
        rollout["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.homelab.example/ping:v1"
    );
    assert_eq!(rollout["status"]["phase"], "Healthy", "{rollout:#}");
    assert_eq!(
        rollout["status"]["currentPodHash"], rollout["status"]["stableRS"],
        "{rollout:#}"
    );
    let unknown = cluster.pipec_done(&["rollback", "ping", "--to", "7"]).await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("has no revision 7; it keeps revisions: 1, 2"),
        "{unknown:?}"
    );
    // Without --to: the previous revision, which the template's script finds itself.
    let previous = cluster.pipec_done(&["rollback", "ping"]).await;
    assert_eq!(previous.code, 0, "{previous:?}");
    assert!(
        cluster.workflows().iter().any(|w| {
            w["spec"]["workflowTemplateRef"]["name"] == "homelab-ping-rollback"
                && w["spec"]["arguments"]["parameters"][1] == json!({"name": "image", "value": ""})
        }),
        "a rollback run with no image: the previous revision"
    );
    let nothing = cluster.pipec_done(&["rollback", "nope"]).await;
    assert_eq!(nothing.code, 1, "{nothing:?}");
    assert!(
        nothing.stderr.contains("offers service nope"),
        "{nothing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_lost_mid_run_is_exit_3_and_the_run_goes_on() {
    let cluster = Cluster::start("lost").await;
    let Waiting { running, .. } = cluster
        .addressbook_waiting_for_approval(&["--patience", "2"])
        .await;
    // The API server goes away, watches in flight included.
    cluster.sim.stop();
    let started = std::time::Instant::now();
    let ended = finish(running).await;
    assert_eq!(ended.code, 3, "{ended:?}");
    assert!(
        ended.stderr.contains("context `sim` is unreachable"),
        "{ended:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "gave up within the patience"
    );
    assert!(ended.stdout.contains("succeeded app"), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_pipec_may_not_watch_does_not_end_the_run() {
    let cluster = Cluster::start("rollout-forbidden").await;
    cluster.sim.fail(Some("GET"), "/rollouts?", 403, 100_000);
    let Waiting { running, name } = cluster
        .addressbook_waiting_for_approval(&["--patience", "1"])
        .await;
    // The run is quiet for longer than the patience while only the Rollout watch fails.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let approved = cluster.pipec_done(&["approve", &name]).await;
    assert_eq!(approved.code, 0, "{approved:?}");
    let ended = finish(running).await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert_eq!(finished(&cluster)["status"]["phase"], "Succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_a_remote_environment_go_to_its_context() {
    let here = Cluster::start("remote-here").await;
    let edge = Sim::start().await.unwrap();
    let _controllers = here.sim.run_controllers(Script::default());
    // The kubeconfig knows both clusters; `sim` is the current context.
    let kubeconfig = here.dir.join("two-clusters");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: sim\n\
             clusters:\n- name: sim\n  cluster:\n    server: {}\n- name: edge\n  cluster:\n    server: {}\n\
             contexts:\n- name: sim\n  context:\n    cluster: sim\n    user: tester\n    namespace: {NAMESPACE}\n\
             - name: edge\n  context:\n    cluster: edge\n    user: tester\n\
             users:\n- name: tester\n  user: {{}}\n",
            here.sim.url(),
            edge.url()
        ),
    )
    .unwrap();
    let file = "tests/cases/compile/environments.pipe";
    // Without saying which context reaches `edge`: refused before anything is sent.
    let refused = finish(pipec_with(&kubeconfig, &["run", file]).spawn().unwrap()).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("--env-context edge=CONTEXT"),
        "{refused:?}"
    );
    assert!(here.sim.requests().is_empty() && edge.requests().is_empty());

    let ended = finish(
        pipec_with(&kubeconfig, &["run", file, "--env-context", "edge=edge"])
            .spawn()
            .unwrap(),
    )
    .await;
    assert_eq!(ended.code, 0, "{ended:?}");
    assert!(
        edge.get("services", "ping", "ping-edge").is_some(),
        "applied to the edge cluster"
    );
    assert!(edge.get("rollouts", "ping", "ping-edge").is_some());
    assert!(
        here.sim.get("rollouts", "ping", "ping-edge").is_none(),
        "not to the run's cluster"
    );
    assert!(here.sim.get("rollouts", "ping-prod", "ping").is_some());
    assert!(
        edge.list("workflows").is_empty(),
        "the run itself is created here"
    );
    assert_eq!(here.workflows().len(), 1);
}
