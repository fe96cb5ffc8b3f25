//! Every document pipec emits, for every example and compile case, validates against the
//! official schemas: the Argo CRDs in `../shared/argo/crds` and, for core Kubernetes kinds,
//! the Kubernetes OpenAPI schema vendored in `tests/schemas/`.
//!
//! Stricter than the CRDs: they accept unknown keys (the API server prunes them), so every
//! object schema that lists `properties` without allowing more is closed here; a misspelt field
//! is an error, as `kubectl --validate=strict` and `argo lint --strict` make it.
//!
//! The CRDs are reference data kept beside the project, not in it. The test reads them from
//! `PIPEC_ARGO_CRDS`, or `../shared/argo/crds`; when neither exists it skips with a message,
//! unless `PIPEC_REQUIRE_ARGO_CRDS=1` (set by `.ci/run`), which makes their absence a failure.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};

struct Schemas {
    /// kind → validator.
    by_kind: BTreeMap<String, Validator>,
}

fn crd_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PIPEC_ARGO_CRDS") {
        return Some(PathBuf::from(dir));
    }
    let beside = common::root().join("../shared/argo/crds");
    beside.is_dir().then_some(beside)
}

fn schemas() -> Option<&'static Schemas> {
    static SCHEMAS: OnceLock<Option<Schemas>> = OnceLock::new();
    SCHEMAS.get_or_init(load).as_ref()
}

fn load() -> Option<Schemas> {
    let Some(dir) = crd_dir() else {
        if std::env::var("PIPEC_REQUIRE_ARGO_CRDS").is_ok_and(|v| v == "1") {
            panic!(
                "PIPEC_REQUIRE_ARGO_CRDS=1 but no CRDs found: set PIPEC_ARGO_CRDS or provide ../shared/argo/crds"
            );
        }
        eprintln!(
            "SKIPPED: the Argo CRD schemas are not available.\n\
             Set PIPEC_ARGO_CRDS to a directory holding rollout-crd.yaml, analysis-template-crd.yaml and \
             argoproj.io_workflows.yaml from Argo Rollouts v1.9.1 (manifests/crds/) and Argo Workflows v4.1.2 \
             (manifests/base/crds/full/), as listed in ../shared/argo/SOURCES.md."
        );
        return None;
    };
    let mut by_kind = BTreeMap::new();
    for (kind, file) in [
        ("Rollout", "rollout-crd.yaml"),
        ("AnalysisTemplate", "analysis-template-crd.yaml"),
        ("Workflow", "argoproj.io_workflows.yaml"),
        ("WorkflowTemplate", "argoproj.io_workflowtemplates.yaml"),
        ("CronWorkflow", "argoproj.io_cronworkflows.yaml"),
    ] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let crd: Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
        let version = crd["spec"]["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == "v1alpha1"))
            .unwrap_or_else(|| panic!("{file} has no v1alpha1 version"));
        let mut schema = version["schema"]["openAPIV3Schema"].clone();
        close_objects(&mut schema);
        let validator = jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{file}: {e}"));
        by_kind.insert(kind.to_string(), validator);
    }
    for (kind, file) in [
        ("Service", "k8s-v1.33-service-strict.json"),
        ("Deployment", "k8s-v1.33-deployment-strict.json"),
        ("Ingress", "k8s-v1.33-ingress-strict.json"),
    ] {
        let path = common::root().join("tests/schemas").join(file);
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        by_kind.insert(
            kind.to_string(),
            jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{kind} schema: {e}")),
        );
    }
    // Argo Events' CRDs carry no schema; its JSON Schema holds the types.
    let events_path = dir.join("../jsonschema/argo-events-schema.json");
    let events: Value = serde_json::from_str(
        &std::fs::read_to_string(&events_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", events_path.display())),
    )
    .unwrap_or_else(|e| panic!("cannot parse {}: {e}", events_path.display()));
    let mut definitions = events["definitions"].clone();
    if let Some(defs) = definitions.as_object_mut() {
        defs.values_mut().for_each(close_objects);
    }
    for kind in ["EventSource", "Sensor"] {
        let schema = json!({
            "$ref": format!("#/definitions/io.argoproj.events.v1alpha1.{kind}"),
            "definitions": definitions,
        });
        let validator =
            jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{kind} schema: {e}"));
        by_kind.insert(kind.to_string(), validator);
    }
    Some(Schemas { by_kind })
}

/// Makes a structural schema reject unknown keys, and spells out int-or-string.
fn close_objects(node: &mut Value) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") && !preserve {
        obj.insert("additionalProperties".to_string(), Value::Bool(false));
    }
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        && !obj.contains_key("anyOf")
    {
        obj.insert(
            "anyOf".to_string(),
            json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = obj.get_mut(key) {
            for value in props.values_mut() {
                close_objects(value);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = obj.get_mut(key) {
            close_objects(child);
        }
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        if let Some(Value::Array(items)) = obj.get_mut(key) {
            for item in items {
                close_objects(item);
            }
        }
    }
}

/// The name rules the API server and Argo apply beyond the schemas, written here from their
/// sources rather than taken from pipec's `k8s_rules`, so the two can disagree: apimachinery's
/// `IsDNS1123Label`, `IsDNS1035Label`, `IsDNS1123Subdomain`, `IsQualifiedName` and
/// `IsValidLabelValue` (`pkg/util/validation/validation.go`), Argo Workflows' 63-character
/// limit on Workflow names and 52 on CronWorkflow names (`workflow/validate/validate.go`,
/// `maxCharsInObjectName`, `cronWorkflowNameMaxLength`), and its template and task names
/// (`[a-zA-Z0-9][-a-zA-Z0-9]*`, at most 128).
mod rules {
    use regex::Regex;

    const LABEL: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

    fn full(pattern: &str, text: &str) -> bool {
        Regex::new(&format!("^(?:{pattern})$"))
            .unwrap()
            .is_match(text)
    }

    pub fn dns1123_label(s: &str) -> bool {
        s.len() <= 63 && full(LABEL, s)
    }

    pub fn dns1035_label(s: &str) -> bool {
        s.len() <= 63 && full("[a-z]([-a-z0-9]*[a-z0-9])?", s)
    }

    pub fn dns1123_subdomain(s: &str, max: usize) -> bool {
        s.len() <= max && full(&format!("{LABEL}(\\.{LABEL})*"), s)
    }

    pub fn qualified_name(s: &str) -> bool {
        let (prefix, name) = match s.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, s),
        };
        prefix.is_none_or(|p| dns1123_subdomain(p, 253))
            && !name.is_empty()
            && name.len() <= 63
            && full("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", name)
    }

    pub fn label_value(s: &str) -> bool {
        s.is_empty() || (s.len() <= 63 && full("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", s))
    }

    pub fn argo_field_name(s: &str) -> bool {
        s.len() <= 128 && full("[a-zA-Z0-9][-a-zA-Z0-9]*", s)
    }

    /// The rule of `metadata.name` for `kind`.
    pub fn object_name(kind: &str, s: &str) -> bool {
        match kind {
            "Service" => dns1035_label(s),
            "Workflow" | "WorkflowTemplate" => dns1123_subdomain(s, 63),
            "CronWorkflow" => dns1123_subdomain(s, 52),
            // Argo Events names the EventSource's Service `<name>-eventsource-svc`.
            "EventSource" => dns1035_label(&format!("{s}-eventsource-svc")),
            _ => dns1123_subdomain(s, 253),
        }
    }
}

/// The only metadata fields pipec may set (the CRDs leave `metadata` unchecked), each by the
/// API server's rule.
fn check_metadata(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let kind = doc["kind"].as_str().unwrap_or_default();
    let Some(meta) = doc["metadata"].as_object() else {
        return vec!["metadata is missing".to_string()];
    };
    for (key, value) in meta {
        let text = value.as_str().unwrap_or_default();
        match key.as_str() {
            "name" if !rules::object_name(kind, text) => {
                errors.push(format!("metadata.name is not a valid {kind} name: {value}"));
            }
            // A prefix: the API server appends five characters, Argo allows 63 in all.
            "generateName"
                if !(text.ends_with('-')
                    && rules::object_name(kind, &format!("{text}abcde"))
                    && text.len() <= 58) =>
            {
                errors.push(format!(
                    "metadata.generateName is not a valid prefix: {value}"
                ));
            }
            "namespace" if !rules::dns1123_label(text) => {
                errors.push(format!(
                    "metadata.namespace is not a DNS-1123 label: {value}"
                ));
            }
            "name" | "generateName" | "namespace" => {}
            "labels" | "annotations" => {
                let Some(map) = value.as_object() else {
                    errors.push(format!("metadata.{key} must map strings to strings"));
                    continue;
                };
                let mut size = 0;
                for (k, v) in map {
                    size += k.len() + v.as_str().map_or(0, str::len);
                    if !rules::qualified_name(k) {
                        errors.push(format!("metadata.{key}: `{k}` is not a qualified name"));
                    }
                    match v.as_str() {
                        None => errors.push(format!("metadata.{key}.{k} is not a string")),
                        Some(v) if key == "labels" && !rules::label_value(v) => {
                            errors.push(format!("metadata.labels.{k}: `{v}` is not a label value"));
                        }
                        Some(_) => {}
                    }
                }
                // `ValidateAnnotationsSize`: 256 KiB in all.
                if key == "annotations" && size > 256 * 1024 {
                    errors.push(format!("metadata.annotations hold {size} bytes"));
                }
            }
            other => errors.push(format!("unknown metadata field `{other}`")),
        }
    }
    if meta.get("name").is_none() && meta.get("generateName").is_none() {
        errors.push("metadata has neither name nor generateName".to_string());
    }
    // Argo: template and DAG task names.
    for template in doc["spec"]["templates"].as_array().into_iter().flatten() {
        let name = template["name"].as_str().unwrap_or_default();
        if !rules::argo_field_name(name) {
            errors.push(format!("template name `{name}` breaks Argo's rule"));
        }
        for task in template["dag"]["tasks"].as_array().into_iter().flatten() {
            let task = task["name"].as_str().unwrap_or_default();
            if !rules::argo_field_name(task) {
                errors.push(format!("task name `{task}` in {name} breaks Argo's rule"));
            }
        }
    }
    errors
}

/// Objects one compilation emits twice: the API server keeps one object per apiVersion,
/// kind, namespace and name.
fn duplicates(docs: &[Value]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for doc in docs {
        let Some(name) = doc["metadata"]["name"].as_str() else {
            continue;
        };
        let key = (
            doc["apiVersion"].to_string(),
            doc["kind"].to_string(),
            doc["metadata"]["namespace"].to_string(),
            name.to_string(),
        );
        if !seen.insert(key) {
            out.push(format!("{} {name} is emitted twice", doc["kind"]));
        }
    }
    out
}

/// Validation errors of one document (empty when valid).
fn validate(schemas: &Schemas, doc: &Value) -> Vec<String> {
    let kind = doc["kind"].as_str().unwrap_or("<no kind>");
    let Some(validator) = schemas.by_kind.get(kind) else {
        return vec![format!("no schema for kind {kind}")];
    };
    let mut errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    errors.extend(check_metadata(doc));
    // An ephemeral environment's `up` step carries the Deployments and Services it applies,
    // with placeholders for run-time values (filled in by the step).
    if kind == "Workflow" || kind == "WorkflowTemplate" {
        let placeholder = regex::Regex::new("\u{1}[0-9]+\u{1}").unwrap();
        for template in doc["spec"]["templates"].as_array().into_iter().flatten() {
            let env = template["script"]["env"].as_array().into_iter().flatten();
            for var in env.filter(|v| v["name"] == "MANIFEST") {
                let text = var["value"].as_str().unwrap_or("");
                let filled = placeholder.replace_all(text, "run-value");
                let list: Value = serde_json::from_str(&filled)
                    .unwrap_or_else(|e| panic!("MANIFEST is not JSON: {e}"));
                for (i, item) in list["items"].as_array().into_iter().flatten().enumerate() {
                    for error in validate(schemas, item) {
                        errors.push(format!("{}: MANIFEST item {i}: {error}", template["name"]));
                    }
                }
            }
        }
    }
    // A Sensor's trigger embeds the Workflow it submits, which its schema leaves untyped.
    if kind == "Sensor" {
        for (i, trigger) in doc["spec"]["triggers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let resource = &trigger["template"]["argoWorkflow"]["source"]["resource"];
            for error in validate(schemas, resource) {
                errors.push(format!("/spec/triggers/{i}/…/resource: {error}"));
            }
        }
    }
    errors
}

#[test]
fn every_emitted_document_validates() {
    let Some(schemas) = schemas() else { return };
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in common::all_valid_programs() {
        let compilation = common::compile_file(&path);
        common::expect_clean(&path, &compilation);
        let docs = common::parsed_documents(&compilation);
        for error in duplicates(&docs) {
            failures.push(format!("{}: {error}", path.display()));
        }
        for (doc, emitted) in docs.iter().zip(&compilation.documents) {
            checked += 1;
            for error in validate(schemas, doc) {
                failures.push(format!(
                    "{} → {} {}: {error}",
                    path.display(),
                    emitted.kind,
                    emitted.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "schema violations:\n{}",
        failures.join("\n")
    );
    assert!(checked > 0, "nothing was validated");
}

/// Generated well-formed programs (`common::programs`, a fixed seed, shrunk on failure)
/// compile without errors to documents the schemas accept, each object once.
#[test]
fn generated_programs_compile_to_schema_valid_output() {
    let Some(schemas) = schemas() else { return };
    common::programs::check_programs(64, |source| {
        let compilation = common::compile_source("gen.pipe", source, &[]);
        proptest::prop_assert!(
            !compilation.has_errors(),
            "{source}\n{}",
            common::rendered(&compilation)
        );
        let docs = common::parsed_documents(&compilation);
        let mut errors = duplicates(&docs);
        for doc in &docs {
            errors.extend(validate(schemas, doc));
        }
        proptest::prop_assert!(errors.is_empty(), "{source}\n{}", errors.join("\n"));
        Ok(())
    });
}

/// The first document of `kind`: from the addressbook, or for trigger kinds from the
/// triggers case.
fn sample_document(kind: &str) -> Value {
    let file = match kind {
        "WorkflowTemplate" | "CronWorkflow" | "EventSource" | "Sensor" => {
            "tests/cases/compile/triggers.pipe"
        }
        _ => "examples/addressbook.pipe",
    };
    let path = common::root().join(file);
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    common::parsed_documents(&compilation)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {file}"))
}

/// The validation must be able to fail: misspelt fields, wrong types and bad metadata are
/// rejected in every kind.
#[test]
fn misspelt_and_mistyped_fields_are_rejected() {
    let Some(schemas) = schemas() else { return };
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "Rollout",
            Box::new(|d| rename(&mut d["spec"]["strategy"]["canary"], "maxSurge", "maxSurg")),
        ),
        (
            "Rollout",
            Box::new(|d| d["spec"]["replicas"] = json!("three")),
        ),
        (
            "Rollout",
            Box::new(|d| {
                rename(
                    &mut d["spec"]["template"]["spec"]["containers"][0],
                    "ports",
                    "port",
                )
            }),
        ),
        (
            "Rollout",
            Box::new(|d| d["spec"]["strategy"]["canary"]["steps"][0] = json!({"setWieght": 33})),
        ),
        (
            "Workflow",
            Box::new(|d| rename(&mut d["spec"], "entrypoint", "entryPoint")),
        ),
        (
            "Workflow",
            Box::new(|d| {
                rename(
                    &mut d["spec"]["templates"][0]["dag"]["tasks"][1],
                    "depends",
                    "dependsOn",
                )
            }),
        ),
        (
            "Workflow",
            Box::new(|d| d["spec"]["templates"][1]["script"]["command"] = json!("sh")),
        ),
        (
            "Service",
            Box::new(|d| rename(&mut d["spec"], "selector", "selectors")),
        ),
        (
            "Service",
            Box::new(|d| d["spec"]["ports"][0]["port"] = json!("eighty")),
        ),
        (
            "Service",
            Box::new(|d| rename(&mut d["metadata"], "name", "nmae")),
        ),
        (
            "WorkflowTemplate",
            Box::new(|d| rename(&mut d["spec"], "templates", "template")),
        ),
        (
            "CronWorkflow",
            Box::new(|d| d["spec"]["schedules"] = json!("0 3 * * *")),
        ),
        (
            "CronWorkflow",
            Box::new(|d| {
                rename(
                    &mut d["spec"]["workflowSpec"],
                    "workflowTemplateRef",
                    "templateRef",
                )
            }),
        ),
        (
            "EventSource",
            Box::new(|d| d["spec"]["webhook"]["push"]["port"] = json!(12000)),
        ),
        (
            "EventSource",
            Box::new(|d| rename(&mut d["spec"]["webhook"]["push"], "endpoint", "path")),
        ),
        (
            "Sensor",
            Box::new(|d| rename(&mut d["spec"]["dependencies"][0], "eventName", "event")),
        ),
        (
            "Sensor",
            Box::new(|d| {
                rename(
                    &mut d["spec"]["dependencies"][0]["filters"]["data"][0],
                    "value",
                    "values",
                )
            }),
        ),
        // The Workflow a Sensor submits is checked against the Workflow CRD.
        (
            "Sensor",
            Box::new(|d| {
                rename(
                    &mut d["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"]
                        ["spec"],
                    "workflowTemplateRef",
                    "workflowTemplate",
                )
            }),
        ),
        // The API server's and Argo's name rules, beyond the schemas.
        (
            "Service",
            Box::new(|d| d["metadata"]["name"] = json!("a".repeat(64))),
        ),
        (
            "Service",
            Box::new(|d| d["metadata"]["name"] = json!("1api")),
        ),
        (
            "Rollout",
            Box::new(|d| d["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("-x")),
        ),
        (
            "Rollout",
            Box::new(|d| d["metadata"]["annotations"]["pipec dev/source"] = json!("x")),
        ),
        (
            "Workflow",
            Box::new(|d| d["spec"]["templates"][1]["name"] = json!("compile_app")),
        ),
        (
            "Workflow",
            Box::new(|d| d["metadata"]["generateName"] = json!(format!("{}-", "w".repeat(60)))),
        ),
        (
            "CronWorkflow",
            Box::new(|d| d["metadata"]["name"] = json!("c".repeat(53))),
        ),
        (
            "EventSource",
            Box::new(|d| d["metadata"]["name"] = json!("e".repeat(50))),
        ),
    ];
    let service = sample_document("Service");
    assert!(duplicates(std::slice::from_ref(&service)).is_empty());
    assert_eq!(duplicates(&[service.clone(), service]).len(), 1);
    for (i, (kind, mutate)) in cases.iter().enumerate() {
        let mut doc = sample_document(kind);
        assert!(
            validate(schemas, &doc).is_empty(),
            "case {i}: the unmodified {kind} must be valid"
        );
        mutate(&mut doc);
        assert!(
            !validate(schemas, &doc).is_empty(),
            "case {i}: the broken {kind} was accepted: {doc}"
        );
    }
}

fn rename(object: &mut Value, from: &str, to: &str) {
    let map = object
        .as_object_mut()
        .unwrap_or_else(|| panic!("not an object"));
    let value = map
        .remove(from)
        .unwrap_or_else(|| panic!("no field {from}"));
    map.insert(to.to_string(), value);
}

/// The Deployments and Services an ephemeral environment applies travel inside the Workflow;
/// they are validated too.
#[test]
fn manifests_inside_the_workflow_are_validated() {
    let Some(schemas) = schemas() else { return };
    let path = common::root().join("tests/cases/compile/environments.pipe");
    let compilation = common::compile_file(&path);
    common::expect_clean(&path, &compilation);
    let mut workflow = common::parsed_documents(&compilation)
        .into_iter()
        .find(|d| d["kind"] == "Workflow")
        .unwrap();
    assert!(validate(schemas, &workflow).is_empty());
    let templates = workflow["spec"]["templates"].as_array_mut().unwrap();
    let up = templates
        .iter_mut()
        .find(|t| t["name"] == "staging-up")
        .unwrap();
    let vars = up["script"]["env"].as_array_mut().unwrap();
    let manifest = vars.iter_mut().find(|v| v["name"] == "MANIFEST").unwrap();
    let broken = manifest["value"]
        .as_str()
        .unwrap()
        .replacen("\"containerPort\"", "\"port\"", 1);
    manifest["value"] = json!(broken);
    let errors = validate(schemas, &workflow);
    assert!(
        errors.iter().any(|e| e.contains("MANIFEST item")),
        "{errors:?}"
    );
}
