//! Parameters between templates: a node's inputs from its task's or step's `arguments`, and
//! its outputs for the tasks and steps after it (`{{tasks.A.outputs.parameters.x}}`,
//! `{{steps.A.outputs.result}}`).
//!
//! The rules, from upstream's `docs/variables.md` ("Outputs of Skipped and Omitted Nodes",
//! v3.7.16, v4.0.7 and after) and the corpus cases taken from its e2e tests
//! (`wf-dag-skipped-*`, `wf-dag-omitted-output-ref-error`, `wf-steps-skipped-output-ref`):
//! a Skipped or Omitted node's outputs are *absent*, not empty. A reference to one takes the
//! producer's `valueFrom.default`; failing that the argument counts as not given, so the
//! consumer's input `default` applies; an expression tag can fall back itself with `??`;
//! otherwise the consumer's node fails with Error ("absent optional"). A suspend node's
//! `supplied` output, when its duration passes with nothing supplied, takes the same-named
//! input's value (`wf-suspend-timeout-input-defaults`), else its `valueFrom.default`; with
//! neither the node fails with `raw output parameter 'x' has not been set and does not have a
//! default value` (upstream's `TestSuspendNodeTimeoutWithoutDefaultValue`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::expr;

/// A node's outputs, by `parameters.NAME` or `result`. `None`: its pod wrote one and the
/// outcome does not say what.
pub(crate) type Outputs = BTreeMap<String, Option<String>>;

/// What a tag naming a variable stands for.
pub(crate) enum Reference {
    Value(String),
    /// An output of a Skipped or Omitted node that has no default.
    Absent,
    /// A variable Argo cannot resolve (a node not created, an output no template declares).
    Unresolvable,
}

/// A text after its tags are replaced.
pub(crate) enum Substituted {
    Text(String),
    /// A tag read an absent output: the tag.
    Absent(String),
    /// A tag Argo cannot resolve: the tag.
    Unresolvable(String),
}

impl Substituted {
    /// The text, or the message of the node whose `place` (`when`, `withParam`) it is in.
    pub(crate) fn into_text(self, place: &str) -> Result<String, String> {
        match self {
            Substituted::Text(t) => Ok(t),
            Substituted::Absent(tag) => Err(absent(&tag, place)),
            Substituted::Unresolvable(tag) => Err(unresolvable(&tag)),
        }
    }
}

/// The message of a node that reads an absent output in `place`.
pub(crate) fn absent(tag: &str, place: &str) -> String {
    format!(
        "unable to resolve {{{{{tag}}}}} in {place}: the output of a Skipped or Omitted node is absent (absent optional)"
    )
}

/// The message of a node with a tag Argo cannot resolve.
pub(crate) fn unresolvable(tag: &str) -> String {
    format!("failed to resolve {{{{{tag}}}}}")
}

/// Stands for a value a pod wrote that the outcome does not give, inside a substituted text:
/// a `when` reading one cannot be decided, and the model says so rather than guess.
const UNKNOWN: char = '\u{1}';

/// `text`'s tags replaced: a plain tag by `lookup` (`None`: a tag the model does not know), an
/// expression tag (`{{=…}}`) by [`expr::eval`] over `scope(expression)`.
pub(crate) fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<Reference>,
    scope: &dyn Fn(&str) -> Value,
) -> Result<Substituted, String> {
    let mut out = String::new();
    for piece in expr::pieces(text)? {
        let tag = match piece {
            expr::Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            expr::Piece::Tag(tag) => tag,
        };
        if let Some(expression) = tag.strip_prefix('=') {
            out.push_str(&expr::text(&expr::eval(expression, &scope(expression))?));
        } else {
            match lookup(tag) {
                Some(Reference::Value(v)) => out.push_str(&v),
                Some(Reference::Absent) => return Ok(Substituted::Absent(tag.to_string())),
                Some(Reference::Unresolvable) => {
                    return Ok(Substituted::Unresolvable(tag.to_string()));
                }
                None => return Err(format!("`{{{{{tag}}}}}` is not supported")),
            }
        }
    }
    Ok(Substituted::Text(out))
}

/// [`substitute`] for a lifecycle hook's arguments, where a tag Argo cannot resolve stays as
/// it is written.
pub(crate) fn keep_unresolved(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<Reference>,
    scope: &dyn Fn(&str) -> Value,
) -> Result<Substituted, String> {
    let kept = |tag: &str| match lookup(tag) {
        Some(Reference::Unresolvable) => Some(Reference::Value(format!("{{{{{tag}}}}}"))),
        other => other,
    };
    substitute(text, &kept, scope)
}

/// The text a value the outcome does not give stands as.
pub(crate) fn unknown(tag: &str) -> String {
    format!("{UNKNOWN}{tag}{UNKNOWN}")
}

/// Whether `text` holds a value the outcome does not give.
pub(crate) fn holds_unknown(text: &str) -> bool {
    text.contains(UNKNOWN)
}

/// A reference to output `key` (`parameters.x`, `result`) of a node in `phase` with `outputs`.
pub(crate) fn output_reference(phase: crate::Phase, outputs: &Outputs, key: &str) -> Reference {
    match outputs.get(key) {
        Some(Some(v)) => Reference::Value(v.clone()),
        Some(None) => Reference::Value(unknown(key)),
        None if matches!(phase, crate::Phase::Skipped | crate::Phase::Omitted) => Reference::Absent,
        None => Reference::Unresolvable,
    }
}

/// The outputs of a node of `template` that did not run (Skipped or Omitted): only the
/// `valueFrom.default`s.
pub(crate) fn absent_outputs(template: &Value) -> Outputs {
    declared(template)
        .filter_map(|p| {
            let default = p["valueFrom"]["default"].as_str()?;
            Some((key(p)?, Some(default.to_string())))
        })
        .collect()
}

/// The outputs of a node of `template` that Succeeded with `inputs`, its pod having written
/// `written` (by `parameters.NAME` / `result`, from the outcome): `Err` with the node's
/// message if a `supplied` output has no value.
pub(crate) fn succeeded_outputs(
    template: &Value,
    inputs: &BTreeMap<String, String>,
    written: Option<&BTreeMap<String, String>>,
) -> Result<Outputs, String> {
    let mut outputs = Outputs::new();
    let suspend = !template["suspend"].is_null();
    for p in declared(template) {
        let Some(key) = key(p) else { continue };
        let name = p["name"].as_str().unwrap_or_default();
        let value = if let Some(v) = p["value"].as_str() {
            Some(v.to_string())
        } else if suspend && !p["valueFrom"]["supplied"].is_null() {
            let from_input = inputs.get(name).cloned();
            let default = p["valueFrom"]["default"].as_str().map(str::to_string);
            let supplied = written.and_then(|w| w.get(&key)).cloned();
            Some(supplied.or(from_input).or(default).ok_or_else(|| {
                format!(
                    "raw output parameter '{name}' has not been set and does not have a default value"
                )
            })?)
        } else {
            written.and_then(|w| w.get(&key)).cloned()
        };
        outputs.insert(key, value);
    }
    if !template["script"].is_null() || !template["container"].is_null() {
        let result = written.and_then(|w| w.get("result")).cloned();
        outputs.insert("result".to_string(), result);
    }
    Ok(outputs)
}

/// The output parameters `template` declares.
fn declared(template: &Value) -> impl Iterator<Item = &Value> {
    template["outputs"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
}

fn key(parameter: &Value) -> Option<String> {
    parameter["name"]
        .as_str()
        .map(|n| format!("parameters.{n}"))
}

/// Substitutes a text in a template's own scope, given its inputs so far.
pub(crate) type OwnSubstitute<'f> =
    dyn Fn(&str, &BTreeMap<String, String>) -> Result<Substituted, String> + 'f;

/// Where a template's input parameter gets its value.
pub(crate) enum Input {
    Value(String),
    /// Neither given nor defaulted: the node errs with this message.
    Missing(String),
}

/// The inputs of `template` run with `arguments` (a task's or step's `arguments`, or the
/// Workflow's), each argument's text substituted by `substitute`: an argument whose value is
/// absent counts as not given, so the input's `default` applies. An input's own `value` or
/// `default` is substituted by `own` over the inputs before it (`ProcessArgs` resolves the
/// inputs before the template body reads them).
pub(crate) fn inputs(
    template: &Value,
    arguments: &Value,
    substitute: &dyn Fn(&str) -> Result<Substituted, String>,
    own: &OwnSubstitute<'_>,
) -> Result<Result<BTreeMap<String, String>, String>, String> {
    let mut values = BTreeMap::new();
    for p in template["inputs"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        let argument = arguments["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == name);
        let given = match argument.and_then(|a| a["value"].as_str()) {
            None => None,
            Some(text) => match substitute(text)? {
                Substituted::Text(t) => Some(Input::Value(t)),
                Substituted::Absent(tag) => {
                    Some(Input::Missing(absent(&tag, &format!("input `{name}`"))))
                }
                Substituted::Unresolvable(tag) => return Ok(Err(unresolvable(&tag))),
            },
        };
        let fallback = match p["value"].as_str().or(p["default"].as_str()) {
            None => None,
            Some(text) if !text.contains("{{") => Some(text.to_string()),
            Some(text) => match own(text, &values)? {
                Substituted::Text(t) => Some(t),
                Substituted::Absent(tag) | Substituted::Unresolvable(tag) => {
                    return Ok(Err(unresolvable(&tag)));
                }
            },
        };
        let value = match (given, fallback) {
            (Some(Input::Value(v)), _) => v,
            (_, Some(v)) => v,
            (Some(Input::Missing(why)), None) => return Ok(Err(why)),
            (None, None) => {
                return Ok(Err(format!("inputs.parameters.{name} was not supplied")));
            }
        };
        values.insert(name.to_string(), value);
    }
    Ok(Ok(values))
}

/// The scope an expression tag reads inside a template: `base` (`workflow.*`),
/// `inputs.parameters`, and each created node of the DAG or steps as `tasks.NAME` (or
/// `steps.NAME`) with its `status` and known `outputs`.
pub(crate) fn scope<'n>(
    base: Value,
    inputs: &BTreeMap<String, String>,
    prefix: &str,
    nodes: impl Iterator<Item = (&'n str, crate::Phase, &'n Outputs)>,
) -> Value {
    let mut root = match base {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let parameters: serde_json::Map<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    root.insert(
        "inputs".to_string(),
        serde_json::json!({ "parameters": parameters }),
    );
    let mut by_name = serde_json::Map::new();
    for (name, phase, outputs) in nodes {
        let mut out = serde_json::Map::new();
        let mut params = serde_json::Map::new();
        for (key, value) in outputs {
            let text = value.clone().unwrap_or_else(|| unknown(key));
            match key.strip_prefix("parameters.") {
                Some(p) => {
                    params.insert(p.to_string(), Value::String(text));
                }
                None => {
                    out.insert(key.clone(), Value::String(text));
                }
            }
        }
        out.insert("parameters".to_string(), Value::Object(params));
        by_name.insert(
            name.to_string(),
            serde_json::json!({ "status": phase.name(), "outputs": out }),
        );
    }
    root.insert(prefix.to_string(), Value::Object(by_name));
    Value::Object(root)
}
