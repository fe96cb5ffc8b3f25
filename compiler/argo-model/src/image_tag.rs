//! Image tags made from run-time values. A branch (`feature/login`), a git tag (`v1.2+build`) or
//! a parameter can hold characters a tag cannot; distribution's `reference` grammar allows
//! `[\w][\w.-]{0,127}` only, and a registry or the kubelet refuses anything else. pipec makes
//! such a value a valid tag while Argo substitutes it, with one deterministic rule:
//!
//! 1. every character other than ASCII letters, digits, `_`, `.` and `-` becomes `-`;
//! 2. at the start of the tag, a `.` or `-` becomes `_`, and so does an empty value (a tag
//!    cannot be empty, nor start with the `.` or `-` of the text after an empty value);
//! 3. the value is cut to the room the tag leaves it (the whole tag stays within 128).
//!
//! The rule is written twice on purpose, in one place: as the expr-lang expression Argo evaluates
//! ([`expression`]) and as Rust ([`sanitize`]) for the runtime, which must know which image an
//! earlier run deployed. Tests check the two agree, with a Go-compatible regex engine, and that
//! the results always satisfy the reference grammar.

/// The longest tag (distribution `reference`: `[\w][\w.-]{0,127}`).
pub const TAG_MAX: usize = 128;

/// The characters rule 1 replaces, as a Go (RE2) regex.
const INVALID: &str = "[^A-Za-z0-9_.-]";

/// The expr-lang expression Argo evaluates for `operand` (an expr-lang string expression) placed
/// in a tag with room for `max` bytes; `first` when it starts the tag.
pub fn expression(operand: &str, max: usize, first: bool) -> String {
    let mut replaced = format!("sprig.regexReplaceAll('{INVALID}', {operand}, '-')");
    if first {
        replaced = format!("sprig.regexReplaceAll('^[.-]|^$', {replaced}, '_')");
    }
    format!("sprig.trunc({max}, {replaced})")
}

/// The operand, room and position of an [`expression`], for evaluators of emitted Workflows.
pub fn parse(expression: &str) -> Option<(&str, usize, bool)> {
    let rest = expression.strip_prefix("sprig.trunc(")?.strip_suffix(')')?;
    let (max, rest) = rest.split_once(", ")?;
    let max = max.parse().ok()?;
    let (first, rest) = match rest.strip_prefix("sprig.regexReplaceAll('^[.-]|^$', ") {
        Some(inner) => (true, inner.strip_suffix(", '_')")?),
        None => (false, rest),
    };
    let operand = rest
        .strip_prefix(&format!("sprig.regexReplaceAll('{INVALID}', "))?
        .strip_suffix(", '-')")?;
    Some((operand, max, first))
}

/// What Argo computes from [`expression`] for the value `value`.
pub fn sanitize(value: &str, max: usize, first: bool) -> String {
    let mut out: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if first && out.is_empty() {
        out.push('_');
    } else if first && out.starts_with(['.', '-']) {
        out.replace_range(..1, "_");
    }
    // All ASCII now: Go's `s[:n]` in sprig's `trunc` cuts bytes, which are characters here.
    out.truncate(max);
    out
}

/// The values of one run that pipec writes into image references.
#[derive(Clone, Debug, Default)]
pub struct RunValues {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// `metadata.creationTimestamp`, RFC 3339 (`2026-11-22T10:04:05Z`).
    pub creation_timestamp: String,
    /// The Workflow's parameters, by name.
    pub parameters: Vec<(String, String)>,
}

impl RunValues {
    /// A Workflow's values, read from its JSON: metadata, and the parameters of the stored
    /// WorkflowTemplate overridden by the Workflow's own.
    pub fn of_workflow(workflow: &serde_json::Value) -> RunValues {
        let mut parameters: Vec<(String, String)> = Vec::new();
        for list in [
            &workflow["status"]["storedWorkflowTemplateSpec"]["arguments"]["parameters"],
            &workflow["spec"]["arguments"]["parameters"],
        ] {
            for p in list.as_array().into_iter().flatten() {
                if let (Some(n), Some(v)) = (p["name"].as_str(), p["value"].as_str()) {
                    parameters.retain(|(k, _)| k != n);
                    parameters.push((n.to_string(), v.to_string()));
                }
            }
        }
        let meta = &workflow["metadata"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        RunValues {
            uid: text(&meta["uid"]),
            name: text(&meta["name"]),
            namespace: text(&meta["namespace"]),
            creation_timestamp: text(&meta["creationTimestamp"]),
            parameters,
        }
    }

    /// The value of a simple tag (`workflow.uid`, `workflow.parameters.git-sha`,
    /// `workflow.creationTimestamp.Y`).
    fn simple(&self, tag: &str) -> Option<String> {
        match tag {
            "workflow.uid" => Some(self.uid.clone()),
            "workflow.name" => Some(self.name.clone()),
            "workflow.namespace" => Some(self.namespace.clone()),
            _ => {
                if let Some(field) = tag.strip_prefix("workflow.creationTimestamp.") {
                    let index = ["Y", "m", "d", "H", "M", "S"]
                        .iter()
                        .position(|f| *f == field)?;
                    return self
                        .creation_timestamp
                        .split(|c: char| !c.is_ascii_digit())
                        .filter(|p| !p.is_empty())
                        .nth(index)
                        .map(str::to_string);
                }
                let name = tag.strip_prefix("workflow.parameters.")?;
                self.parameters
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            }
        }
    }
}

/// An image reference as pipec writes it into a Workflow (`repo:{{…}}`), with the values of
/// one run in place of its tags: what the container of that run was given. Expression tags
/// are the forms pipec writes into image references (tag-safe values, `sprig.trunc`, and the
/// `sprig.replace('$', '$$', …)` that only undoes Kubernetes' `$$` expansion of an env value).
/// A tag it cannot resolve is kept as written, so callers can tell.
pub fn resolve(text: &str, run: &RunValues) -> String {
    let simple = |tag: &str| run.simple(tag);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = rest[start + 2..start + len].trim();
        let value = match inner.strip_prefix('=') {
            Some(expression) => operand(expression.trim(), &simple),
            None => simple(inner),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The value of one expr-lang operand pipec writes into an image reference.
fn operand(text: &str, simple: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some((inner, max, first)) = parse(text) {
        return Some(sanitize(&operand(inner, simple)?, max, first));
    }
    if let Some(name) = text
        .strip_prefix("workflow.parameters['")
        .and_then(|t| t.strip_suffix("']"))
    {
        return simple(&format!("workflow.parameters.{name}"));
    }
    if let Some(rest) = text.strip_prefix("sprig.trunc(")
        && let Some((n, inner)) = rest.strip_suffix(')')?.split_once(", ")
    {
        let n: usize = n.parse().ok()?;
        return Some(operand(inner, simple)?.chars().take(n).collect());
    }
    let inner = text
        .strip_prefix("sprig.replace('$', '")?
        .strip_suffix(')')?
        .split_once("', ")?;
    if !inner.0.bytes().all(|b| b == b'$') {
        return None;
    }
    operand(inner.1, simple)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_round_trip() {
        for (max, first) in [(128, true), (60, false)] {
            let e = expression("workflow.parameters['git-branch']", max, first);
            assert_eq!(
                parse(&e),
                Some(("workflow.parameters['git-branch']", max, first))
            );
        }
        assert_eq!(
            parse("sprig.trunc(7, workflow.parameters['git-sha'])"),
            None
        );
    }

    #[test]
    fn values_become_tags() {
        assert_eq!(sanitize("feature/login", 128, true), "feature-login");
        assert_eq!(
            sanitize("x,name=evil.io/pwn", 128, true),
            "x-name-evil.io-pwn"
        );
        assert_eq!(sanitize(".hidden", 128, true), "_hidden");
        assert_eq!(sanitize(".hidden", 128, false), ".hidden");
        assert_eq!(sanitize("v1.2+build", 128, false), "v1.2-build");
        assert_eq!(sanitize("é", 128, false), "-");
        assert_eq!(sanitize("abcdef", 3, false), "abc");
        assert_eq!(sanitize("", 3, true), "_");
        assert_eq!(sanitize("", 3, false), "");
    }

    #[test]
    fn images_resolve_with_a_runs_values() {
        let run = RunValues {
            uid: "1234".into(),
            creation_timestamp: "2026-11-22T10:04:05Z".into(),
            parameters: vec![
                ("git-sha".into(), "0123456789abcdef".into()),
                ("git-branch".into(), "feature/x".into()),
            ],
            ..RunValues::default()
        };
        let branch = expression("workflow.parameters['git-branch']", 60, true);
        let text = format!(
            "r.io/app:{{{{={branch}}}}}-{{{{=sprig.replace('$', '$$', sprig.trunc(7, workflow.parameters['git-sha']))}}}}-{{{{workflow.uid}}}}-{{{{workflow.creationTimestamp.Y}}}}{{{{workflow.creationTimestamp.S}}}}"
        );
        assert_eq!(
            resolve(&text, &run),
            "r.io/app:feature-x-0123456-1234-202605"
        );
        assert_eq!(
            resolve("r.io/app:{{tasks.v.outputs.result}}", &run),
            "r.io/app:{{tasks.v.outputs.result}}"
        );
    }
}
