//! Fan-outs: a DAG task or a step with `withItems`, `withParam` or `withSequence` runs once per
//! item (`expandTask` in `workflow/controller/dag.go`, `expandStep` in `steps.go`).
//!
//! The items: `withItems` as written; `withParam` after its tags are replaced, parsed as a JSON
//! list (anything else errs the node: `withParam value could not be parsed as a JSON list`);
//! `withSequence` from `count` (or `start`/`end`, both ends included). No items: the node is
//! Skipped with `Skipped, empty params`. Each child is named `NAME(I:ITEM)` (`processItem`: a
//! map's entries as `key:value`, sorted by key and joined by `,`), and `{{item}}` /
//! `{{item.KEY}}` in its `when` and `arguments` are replaced by the item; an expression tag
//! reads `item` itself. In a DAG the children belong to a TaskGroup node named after the task:
//! once they have all ended it takes the phase of the last that failed or erred, else
//! Succeeded.

use serde_json::Value;

use super::parameters::Substituted;

/// Whether a task or step fans out.
pub(crate) fn expands(task: &Value) -> bool {
    ["withItems", "withParam", "withSequence"]
        .iter()
        .any(|field| !task[*field].is_null())
}

/// The items of a fan-out task, its tags replaced by `substitute`; the inner `Err` is the
/// node's error, the outer one what the model does not cover.
pub(crate) fn items(
    task: &Value,
    substitute: &dyn Fn(&str) -> Result<Substituted, String>,
) -> Result<Result<Vec<Value>, String>, String> {
    if let Some(items) = task["withItems"].as_array() {
        return Ok(Ok(items.clone()));
    }
    if let Some(param) = task["withParam"].as_str() {
        let text = match substitute(param)?.into_text("withParam") {
            Ok(text) => text,
            Err(why) => return Ok(Err(why)),
        };
        if super::parameters::holds_unknown(&text) {
            return Err(format!(
                "the withParam of `{}` reads an output the outcome does not give",
                task["name"].as_str().unwrap_or_default()
            ));
        }
        return Ok(match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => Ok(items),
            _ => Err(format!(
                "withParam value could not be parsed as a JSON list: {}",
                text.trim()
            )),
        });
    }
    let sequence = &task["withSequence"];
    if !sequence["format"].is_null() {
        return Err("withSequence with a format is not modelled".to_string());
    }
    let number = |field: &str| -> Result<Option<i64>, String> {
        match &sequence[field] {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_i64()),
            Value::String(s) => match substitute(s)? {
                Substituted::Text(t) => Ok(t.trim().parse().ok()),
                _ => Ok(None),
            },
            other => Err(format!("withSequence {field} {other} is not modelled")),
        }
    };
    let (count, start, end) = (number("count")?, number("start")?, number("end")?);
    let range: Vec<i64> = match (count, start, end) {
        (Some(count), None, None) => (0..count.max(0)).collect(),
        (Some(count), Some(start), None) => (start..start + count.max(0)).collect(),
        (None, start, Some(end)) => {
            let start = start.unwrap_or(0);
            if start <= end {
                (start..=end).collect()
            } else {
                (end..=start).rev().collect()
            }
        }
        _ => return Ok(Err("invalid withSequence".to_string())),
    };
    Ok(Ok(range
        .into_iter()
        .map(|n| Value::String(n.to_string()))
        .collect()))
}

/// The child's name for item `i` (`processItem`).
pub(crate) fn child_name(name: &str, i: usize, item: &Value) -> Result<String, String> {
    let shown = match item {
        Value::Object(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect();
            entries.sort();
            entries.join(",")
        }
        Value::Array(_) => return Err(format!("task `{name}`: list items are not modelled")),
        other => plain(other),
    };
    Ok(format!("{name}({i}:{shown})"))
}

/// A value as Go's `%v` prints a JSON scalar, and as `{{item}}` puts it in text.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The child task for `item`: named `child`, without the fan-out, `{{item}}` and
/// `{{item.KEY}}` replaced in its `when` and `arguments`.
pub(crate) fn child_task(task: &Value, item: &Value, child: &str) -> Value {
    let mut out = task.clone();
    if let Some(map) = out.as_object_mut() {
        for field in ["withItems", "withParam", "withSequence"] {
            map.remove(field);
        }
        map.insert("name".to_string(), Value::String(child.to_string()));
    }
    for field in ["when", "arguments"] {
        replace_in(&mut out[field], item);
    }
    out
}

fn replace_in(value: &mut Value, item: &Value) {
    match value {
        Value::String(s) => *s = replace_item_tags(s, item),
        Value::Array(items) => items.iter_mut().for_each(|v| replace_in(v, item)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_in(v, item)),
        _ => {}
    }
}

/// `{{item}}` and `{{item.KEY}}` (spaces inside the braces allowed) replaced; other tags,
/// expression tags among them, are left for the scope.
fn replace_item_tags(text: &str, item: &Value) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let whole = &rest[start..start + len + 2];
        let tag = whole[2..whole.len() - 2].trim();
        let replaced = if tag == "item" {
            Some(match item {
                Value::Object(_) | Value::Array(_) => item.to_string(),
                other => plain(other),
            })
        } else {
            tag.strip_prefix("item.")
                .and_then(|key| item.get(key))
                .map(plain)
        };
        out.push_str(replaced.as_deref().unwrap_or(whole));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}
