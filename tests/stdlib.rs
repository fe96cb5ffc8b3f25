//! The standard library's definitions, used: the databases a per-run environment runs, and
//! the notification steps executed for real (with a fake `curl` in `tests/fake`) to show what
//! they send, hostile text included. Needs `sh` and `jq`, as `tests/scripts.rs` does.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

fn documents() -> Vec<Value> {
    let path = common::root().join("tests/cases/compile/definitions.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    common::parsed_documents(&compilation)
}

fn workflow_template(name: &str) -> Value {
    let docs = documents();
    let wf = docs.iter().find(|d| d["kind"] == "Workflow").unwrap();
    wf["spec"]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no template {name}"))
}

/// The manifest the `staging-up` step applies, placeholders left in.
fn staging_manifest() -> Value {
    let up = workflow_template("staging-up");
    let manifest = up["script"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "MANIFEST")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_str(&manifest).unwrap()
}

fn container_of(manifest: &Value, deployment: &str) -> Value {
    manifest["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "Deployment" && i["metadata"]["name"] == deployment)
        .map(|d| d["spec"]["template"]["spec"]["containers"][0].clone())
        .unwrap_or_else(|| panic!("no deployment {deployment}"))
}

fn env_value(container: &Value, name: &str) -> Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn postgres_makes_its_database_and_owner_with_the_password_from_a_secret() {
    let manifest = staging_manifest();
    let pg = container_of(&manifest, "staging-pg");
    assert_eq!(pg["image"], "docker.io/library/postgres:16.4");
    assert_eq!(pg["ports"][0]["containerPort"], 5432);
    assert_eq!(env_value(&pg, "POSTGRES_DB")["value"], "ping");
    assert_eq!(env_value(&pg, "POSTGRES_USER")["value"], "ping");
    assert_eq!(
        env_value(&pg, "POSTGRES_PASSWORD")["valueFrom"],
        json!({"secretKeyRef": {"name": "ping-db", "key": "password"}})
    );
    let probe = &pg["readinessProbe"];
    assert!(
        probe["exec"]["command"][2]
            .as_str()
            .unwrap()
            .starts_with("pg_isready -h 127.0.0.1")
    );
    assert_eq!(probe["periodSeconds"], 2);
}

#[test]
fn mysql_takes_its_version_and_keeps_root_out_of_reach() {
    let manifest = staging_manifest();
    let my = container_of(&manifest, "staging-mysql");
    assert_eq!(my["image"], "docker.io/library/mysql:8.0");
    assert_eq!(env_value(&my, "MYSQL_RANDOM_ROOT_PASSWORD")["value"], "yes");
    assert_eq!(
        env_value(&my, "MYSQL_PASSWORD")["valueFrom"]["secretKeyRef"],
        json!({"name": "auth-db", "key": "password"})
    );
    // Both secrets are copied into the per-run namespace.
    let up = workflow_template("staging-up");
    let secrets = up["script"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "SECRETS")
        .unwrap()["value"]
        .clone();
    assert_eq!(secrets, "auth-db ping-db");
}

/// Runs a container template's `sh -c` command with its environment, Argo's tags replaced
/// by `tags`, secret references by `secrets`, and the fake curl first on PATH.
/// The `sh -c` script of a container as Kubernetes hands it to `sh`.
fn args(container: &Value) -> String {
    common::kube::container_args(container, &[])
        .into_iter()
        .next()
        .expect("sh -c script")
}

fn run_step(template: &Value, tags: &[(&str, &str)], secrets: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pipec-stdlib-{}-{}",
        std::process::id(),
        template["name"].as_str().unwrap()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let container = &template["container"];
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(args(container))
        .env(
            "PATH",
            format!(
                "{}:{}",
                common::root().join("tests/fake").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("FAKE", &dir);
    // Each value as Argo substitutes `tags`, then as Kubernetes expands it ([`common::kube`]).
    let mut defined = std::collections::BTreeMap::new();
    for var in container["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        let value = match var["value"].as_str() {
            Some(v) => common::kube::kubernetes_expand(
                &tags
                    .iter()
                    .fold(v.to_string(), |acc, (tag, value)| acc.replace(tag, value)),
                &defined,
            ),
            None => {
                let key = var["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
                secrets
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_else(|| panic!("no secret value for {key}"))
            }
        };
        defined.insert(name.to_string(), value.clone());
        command.env(name, value);
    }
    let out = command.output().expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn chat_posts_the_text_as_json_whatever_it_contains() {
    let step = workflow_template("announce");
    let hostile = "run-1\"; } , {\"text\": \"pwned";
    let dir = run_step(
        &step,
        &[("{{workflow.name}}", hostile)],
        &[("alerts", "https://hooks.example.com/T1/B2")],
    );
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("curl_body")).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"text": format!("{hostile}: staging is healthy")})
    );
    let args = std::fs::read_to_string(dir.join("curl_args")).unwrap();
    assert_eq!(args.lines().last(), Some("https://hooks.example.com/T1/B2"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn discord_uses_its_own_field() {
    let step = workflow_template("tell");
    let dir = run_step(
        &step,
        &[("{{workflow.name}}", "run-1")],
        &[("discord", "https://discord.example.com/api/webhooks/1")],
    );
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("curl_body")).unwrap()).unwrap();
    assert_eq!(body, json!({"content": "run-1 failed"}));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn email_headers_cannot_be_injected() {
    let step = workflow_template("mail");
    let dir = run_step(
        &step,
        &[("{{workflow.name}}", "run-1\r\nBcc: everyone@example.com")],
        &[("username", "ci"), ("password", "s3cret")],
    );
    let message = std::fs::read_to_string(dir.join("curl_body")).unwrap();
    let headers: Vec<&str> = message
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .split("\r\n")
        .collect();
    assert_eq!(
        headers,
        [
            "From: ci@example.com",
            "To: team@example.com",
            "Subject: run-1Bcc: everyone@example.com failed",
            "Content-Type: text/plain; charset=utf-8",
        ]
    );
    let args = std::fs::read_to_string(dir.join("curl_args")).unwrap();
    assert!(args.lines().any(|a| a == "ci:s3cret"));
    assert!(args.lines().any(|a| a == "smtps://smtp.example.com:465"));
    let _ = std::fs::remove_dir_all(dir);
}

/// `docs/stdlib.md` is what `pipec explain std` prints, made from the `///` comments of
/// `stdlib/`: the reference users read cannot drift from the sources. `PIPEC_UPDATE_DOCS=1`
/// rewrites it.
#[test]
fn the_stdlib_reference_is_made_from_the_sources() {
    let made = pipec_core::stdlib_docs::reference("std").unwrap();
    let path = common::root().join("docs/stdlib.md");
    if std::env::var("PIPEC_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &made).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == made,
        "docs/stdlib.md is out of date: run `PIPEC_UPDATE_DOCS=1 cargo test --test stdlib`"
    );
    // Every exported definition is in it, with its doc comment.
    for (module, _) in pipec_core::stdlib::MODULES {
        for name in pipec_core::stdlib::definitions(module) {
            let one = pipec_core::stdlib_docs::reference(&format!("std.{module}.{name}"))
                .unwrap_or_else(|| panic!("std.{module}.{name} has no reference"));
            assert!(made.contains(&one), "std.{module}.{name}");
            assert!(
                one.lines().count() > 5,
                "std.{module}.{name} has no doc comment:\n{one}"
            );
            // Every parameter has its own `///` comment, in the table.
            assert!(
                one.contains("| parameter | meaning |")
                    && !one.lines().any(|l| l.ends_with("|  |")),
                "a parameter of std.{module}.{name} has no `///` comment:\n{one}"
            );
        }
    }
    assert!(pipec_core::stdlib_docs::reference("std.nothing").is_none());
}
