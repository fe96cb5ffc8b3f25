//! Strings that YAML readers like to turn into something else come back as the same strings,
//! through serde-saphyr and, when Python's PyYAML is available, through a YAML 1.1 reader like
//! the one kubectl and Argo use (where `on`, `yes` and `1:30` are not strings); and a file's
//! name, which the output carries, never reads as an Argo tag.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use pipec_argo_model::k8s::{Service, ServicePort, ServiceSpec};
use pipec_argo_model::{Document, IntOrString, ObjectMeta};

const TRICKY: &[&str] = &[
    "on",
    "off",
    "On",
    "OFF",
    "yes",
    "no",
    "Yes",
    "NO",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "false",
    "True",
    "FALSE",
    "null",
    "Null",
    "NULL",
    "~",
    "",
    "1:30",
    "12:30:45",
    "1_000",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1e3",
    ".5",
    "+1",
    "-1",
    "1.",
    ".inf",
    "-.Inf",
    ".NaN",
    "2026-11-22",
    "2026-11-22T10:00:00Z",
    "2026-11-22 10:00:00",
    "0.95",
    "3",
    "- item",
    "-",
    "key: value",
    "a: ",
    "#comment",
    "a #b",
    "@at",
    "`tick",
    "!tag",
    "&anchor",
    "*alias",
    "%pct",
    "|",
    ">",
    "[a]",
    "{a: b}",
    "?",
    "? q",
    "  leading",
    "trailing  ",
    "multi\nline\n",
    "multi\nline no newline",
    "tab\tin",
    "quote\"in",
    "it's",
    "back\\slash",
    "{{workflow.name}}",
    "é unicode",
    "\u{1F600}",
    "=",
    "<<",
    "---",
    "...",
    "a,b",
    "yes please",
    "1 2",
    "0",
    "00",
    "+0",
    "-0",
    "1,000",
    "$HOME",
    "\"quoted\"",
    "'single'",
];

fn document() -> Document {
    let annotations: BTreeMap<String, String> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("k{i:03}"), (*s).to_string()))
        .collect();
    Document::Service(Box::new(Service {
        api_version: "v1",
        kind: "Service",
        metadata: ObjectMeta {
            name: Some("tricky".into()),
            annotations,
            ..ObjectMeta::default()
        },
        spec: ServiceSpec {
            type_: "ClusterIP".into(),
            selector: BTreeMap::from([("on".to_string(), "yes".to_string())]),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                target_port: IntOrString::String("8080".into()),
                protocol: "TCP".into(),
            }],
        },
    }))
}

fn expected() -> serde_json::Value {
    let annotations: serde_json::Map<String, serde_json::Value> = TRICKY
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                format!("k{i:03}"),
                serde_json::Value::String((*s).to_string()),
            )
        })
        .collect();
    serde_json::Value::Object(annotations)
}

#[test]
fn tricky_strings_round_trip_through_serde_saphyr() {
    let yaml = pipec_core::emit::to_yaml(&document()).unwrap();
    let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back["metadata"]["annotations"], expected(), "{yaml}");
    assert_eq!(back["spec"]["selector"]["on"], "yes");
    // An int-or-string that is a string stays a string: "8080" names a port, 8080 would not.
    assert_eq!(back["spec"]["ports"][0]["targetPort"], "8080");
}

#[test]
fn tricky_strings_round_trip_through_a_yaml_1_1_reader() {
    let yaml = pipec_core::emit::to_yaml(&document()).unwrap();
    let script = "import sys, json, yaml\nprint(json.dumps(yaml.safe_load(sys.stdin.read())))";
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("SKIPPED: python3 is not available");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("No module named 'yaml'")
    {
        eprintln!("SKIPPED: PyYAML is not installed");
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back["metadata"]["annotations"], expected(), "{yaml}");
    assert_eq!(back["spec"]["selector"]["on"], "yes");
}

/// The output of a file named with an Argo tag is the output of a plain name with the name
/// swapped for its escaped spelling: the name adds no `{{` anywhere (Argo would substitute it
/// in a task's `source` argument and in every annotation of a template).
#[test]
fn a_file_name_never_becomes_an_argo_tag() {
    let path = common::root().join("examples/addressbook.pipe");
    let source = std::fs::read_to_string(path).unwrap();
    let yaml = |name: &str| {
        let compilation = common::compile_source(name, &source, &[]);
        assert!(
            !compilation.has_errors(),
            "{}",
            common::rendered(&compilation)
        );
        compilation.yaml()
    };
    let plain = yaml("addressbook.pipe");
    let tagged = yaml("a{{workflow.name}}%.pipe");
    assert!(!tagged.contains("{{workflow.name}}%"));
    assert!(tagged.contains("a%7B%7Bworkflow.name}}%25.pipe:"));
    assert_eq!(
        tagged.replace("a%7B%7Bworkflow.name}}%25.pipe", "addressbook.pipe"),
        plain
    );
}
