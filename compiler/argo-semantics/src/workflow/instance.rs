//! A template as Argo runs it for one task: every `{{inputs.parameters.NAME}}` in any string
//! of it replaced by the value the task passes (upstream `common.ProcessArgs` →
//! `substituteParams`, which marshals the template to JSON and replaces the tags in all of
//! it; `template.Replace` trims spaces inside the braces). Other tags — `{{workflow.name}}`,
//! expression tags — are left as written: they are resolved where they stand, at run time.
//!
//! Everything that reads what a step acts on from the emitted Workflow (the behavioural
//! checks, `pipec plan`, the runtime, the simulated controllers) reads it from the instance of
//! the task's template, never from the shared template, whose env holds only input tags.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

/// `text` with each `{{inputs.parameters.NAME}}` that `input` knows replaced by its value;
/// any other tag, and an input `input` does not know, stays as written.
pub fn substitute_inputs<'t>(
    text: &'t str,
    input: &dyn Fn(&str) -> Option<String>,
) -> Cow<'t, str> {
    if !text.contains("{{") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        let tag = &rest[open + 2..open + 2 + close];
        out.push_str(&rest[..open]);
        let value = tag
            .trim()
            .strip_prefix("inputs.parameters.")
            .and_then(input);
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[open..open + 4 + close]),
        }
        rest = &rest[open + 4 + close..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The inputs `text` reads (`{{inputs.parameters.NAME}}`), in order, repeats included.
pub fn input_tags(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        if let Some(name) = rest[open + 2..open + 2 + close]
            .trim()
            .strip_prefix("inputs.parameters.")
        {
            names.push(name);
        }
        rest = &rest[open + 4 + close..];
    }
    names
}

/// `template` with its input tags replaced by `inputs` ([`substitute_inputs`] on every string).
pub fn instantiate(template: &Value, inputs: &BTreeMap<String, String>) -> Value {
    let mut instance = template.clone();
    substitute_in_place(&mut instance, inputs);
    instance
}

/// [`instantiate`] on a copy already made: a copy changed in place where a string holds a
/// tag is cheaper than rebuilding every map.
fn substitute_in_place(instance: &mut Value, inputs: &BTreeMap<String, String>) {
    if inputs.is_empty() {
        return;
    }
    let input = |name: &str| inputs.get(name).cloned();
    fn walk(value: &mut Value, input: &dyn Fn(&str) -> Option<String>) {
        match value {
            Value::String(s) => {
                if let Cow::Owned(replaced) = substitute_inputs(s, input) {
                    *s = replaced;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, input)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, input)),
            _ => {}
        }
    }
    walk(instance, &input);
}

/// The inputs `task` gives `template`, as written: for each input the template declares, the
/// task's argument of that name, else the input's `value` or `default`. Tags in them are not
/// resolved (what runs at run time is not known here); an input with neither is left out.
pub fn task_inputs(template: &Value, task: &Value) -> BTreeMap<String, String> {
    let arguments = &task["arguments"]["parameters"];
    template["inputs"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let given = arguments
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["name"] == name)
                .and_then(|a| a["value"].as_str());
            let value = given.or(p["value"].as_str()).or(p["default"].as_str())?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// One task of a DAG template and the instance of the template it runs.
pub struct TaskTemplate<'w> {
    /// The DAG template the task belongs to (`main`, `on-exit`).
    pub dag: &'w str,
    pub task: &'w Value,
    pub template: Value,
}

impl TaskTemplate<'_> {
    pub fn name(&self) -> &str {
        self.task["name"].as_str().unwrap_or_default()
    }
}

/// Every task of every DAG template of a Workflow's (or WorkflowTemplate's) `spec`, in
/// order, each with the instance of its template. A task naming no template of the spec is
/// left out (verify reports it).
pub fn task_templates(spec: &Value) -> Vec<TaskTemplate<'_>> {
    instances(spec, &|template| template.clone())
}

/// [`task_templates`] with each instance holding only what says what its step is and what it
/// acts on: the template's `metadata` and the `env` of its `script` or `container` (what
/// [`super::template_env`] reads). For readers that need nothing else, cheaper by the size of
/// every script.
pub fn task_summaries(spec: &Value) -> Vec<TaskTemplate<'_>> {
    instances(spec, &|template| {
        let mut summary = serde_json::Map::new();
        if let Some(metadata) = template.get("metadata") {
            summary.insert("metadata".to_string(), metadata.clone());
        }
        for body in ["script", "container"] {
            if let Some(env) = template[body].get("env") {
                summary.insert(body.to_string(), serde_json::json!({ "env": env }));
            }
        }
        Value::Object(summary)
    })
}

/// Every task's instance of (the part `part` keeps of) its template.
fn instances<'s>(spec: &'s Value, part: &dyn Fn(&Value) -> Value) -> Vec<TaskTemplate<'s>> {
    let templates = super::by_name(&spec["templates"]);
    let mut out = Vec::new();
    for dag in spec["templates"].as_array().into_iter().flatten() {
        let owner = dag["name"].as_str().unwrap_or_default();
        for task in dag["dag"]["tasks"].as_array().into_iter().flatten() {
            let Some(template) = task["template"].as_str().and_then(|t| templates.get(t)) else {
                continue;
            };
            out.push(TaskTemplate {
                dag: owner,
                task,
                template: {
                    let mut instance = part(template);
                    substitute_in_place(&mut instance, &task_inputs(template, task));
                    instance
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn input_tags_are_replaced_and_every_other_tag_stays() {
        let input = |name: &str| (name == "rollout").then(|| "api".to_string());
        assert_eq!(
            substitute_inputs("{{inputs.parameters.rollout}}", &input),
            "api"
        );
        assert_eq!(
            substitute_inputs("x-{{ inputs.parameters.rollout }}-y", &input),
            "x-api-y"
        );
        assert_eq!(
            input_tags("{{inputs.parameters.a}} {{ inputs.parameters.b }} {{workflow.name}}"),
            ["a", "b"]
        );
        for kept in [
            "{{workflow.name}}",
            "{{inputs.parameters.other}}",
            "{{=inputs.parameters.rollout}}",
            "{{ unclosed",
            "plain",
        ] {
            assert_eq!(substitute_inputs(kept, &input), kept);
        }
    }

    #[test]
    fn a_task_sees_its_template_with_its_own_values() {
        let spec = json!({"templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "api-deploy", "template": "rollout-deploy",
                 "arguments": {"parameters": [{"name": "rollout", "value": "api"}]}},
                {"name": "web-deploy", "template": "rollout-deploy",
                 "arguments": {"parameters": [{"name": "rollout", "value": "web"},
                                              {"name": "timeout", "value": "60"}]}},
                {"name": "lost", "template": "nowhere"}
            ]}},
            {"name": "rollout-deploy",
             "inputs": {"parameters": [{"name": "rollout"}, {"name": "timeout", "default": "1800"}]},
             "script": {"env": [{"name": "ROLLOUT", "value": "{{inputs.parameters.rollout}}"},
                                {"name": "TIMEOUT", "value": "{{inputs.parameters.timeout}}"},
                                {"name": "RUN", "value": "{{workflow.name}}"}]}}
        ]});
        let tasks = task_templates(&spec);
        type Seen<'t> = (&'t str, Option<&'t str>, Option<&'t str>, Option<&'t str>);
        let seen: Vec<Seen<'_>> = tasks
            .iter()
            .map(|t| {
                (
                    t.name(),
                    super::super::template_env(&t.template, "ROLLOUT"),
                    super::super::template_env(&t.template, "TIMEOUT"),
                    super::super::template_env(&t.template, "RUN"),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "api-deploy",
                    Some("api"),
                    Some("1800"),
                    Some("{{workflow.name}}")
                ),
                (
                    "web-deploy",
                    Some("web"),
                    Some("60"),
                    Some("{{workflow.name}}")
                ),
            ]
        );
        assert!(tasks.iter().all(|t| t.dag == "main"));
    }

    /// A summary is the instance with only its metadata and env: the same values there,
    /// nothing else (no script source).
    #[test]
    fn a_summary_keeps_what_says_what_a_step_is() {
        let spec = json!({"templates": [
            {"name": "main", "dag": {"tasks": [
                {"name": "api-check", "template": "rollout-check",
                 "arguments": {"parameters": [{"name": "rollout", "value": "api"},
                                              {"name": "source", "value": "p.pipe:9:5"}]}}]}},
            {"name": "rollout-check",
             "metadata": {"annotations": {"pipec.dev/source": "{{inputs.parameters.source}}"}},
             "inputs": {"parameters": [{"name": "rollout"}, {"name": "source"}]},
             "timeout": "30m",
             "script": {"image": "kubectl", "source": "echo {{inputs.parameters.rollout}}",
                        "env": [{"name": "ROLLOUT", "value": "{{inputs.parameters.rollout}}"}]}}
        ]});
        let full = &task_templates(&spec)[0].template;
        let summary = &task_summaries(&spec)[0].template;
        assert_eq!(summary["metadata"], full["metadata"]);
        assert_eq!(
            summary["metadata"]["annotations"]["pipec.dev/source"],
            "p.pipe:9:5"
        );
        assert_eq!(summary["script"]["env"], full["script"]["env"]);
        assert_eq!(super::super::template_env(summary, "ROLLOUT"), Some("api"));
        assert_eq!(full["script"]["source"], "echo api");
        assert!(summary["script"]["source"].is_null() && summary["timeout"].is_null());
    }
}
