//! What a container sees of the text pipec emits: Argo's substitution of the tags pipec
//! writes, then Kubernetes' `$(VAR)` expansion of `command`, `args` and `env[].value`.
//!
//! The expansion is a port of Kubernetes' `third_party/forked/golang/expansion/expand.go`
//! (`Expand`, `tryReadVariableName`), so the tests check pipec's escaping against the rule the
//! kubelet applies, not against pipec's own idea of it.

use std::collections::BTreeMap;

use serde_json::Value;

/// Kubernetes' `expansion.Expand` with `MappingFuncFor(env)`: `$$` → `$`; `$(NAME)` → the
/// value of `NAME` if defined, else left as written; any other `$` stays.
pub fn kubernetes_expand(input: &str, env: &BTreeMap<String, String>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let (read, is_var, advance) = try_read_variable_name(rest);
            if is_var {
                match env.get(&read) {
                    Some(value) => out.extend_from_slice(value.as_bytes()),
                    None => out.extend_from_slice(format!("$({read})").as_bytes()),
                }
            } else {
                out.extend_from_slice(read.as_bytes());
            }
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn try_read_variable_name(input: &str) -> (String, bool, usize) {
    let bytes = input.as_bytes();
    match bytes[0] {
        b'$' => ("$".to_string(), false, 1),
        b'(' => match input[1..].find(')') {
            Some(end) => (input[1..1 + end].to_string(), true, end + 2),
            None => ("$(".to_string(), false, 1),
        },
        // Go writes `string(input[0])`: one byte taken as a code point (so `$ü` is mangled;
        // escaped text never has a lone `$`).
        b => (format!("${}", char::from(b)), false, 1),
    }
}

/// Argo's substitution of the tags pipec writes, for a run with these parameters (and the
/// name `run-1`): simple tags `{{workflow.parameters.P}}`, `{{workflow.name}}`, and the
/// expression tags `{{=sprig.replace(OLD, NEW, E)}}`, `{{=sprig.regexReplaceAll(RE, E, NEW)}}`
/// and `{{=sprig.trunc(N, E)}}` over
/// `workflow.parameters['P']`. Other tags are left as they are (Argo's lenient passes).
pub fn argo_substitute(text: &str, params: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let tag = &rest[start + 2..start + end];
        match evaluate(tag.trim(), params) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn evaluate(tag: &str, params: &[(&str, &str)]) -> Option<String> {
    let param = |name: &str| {
        params
            .iter()
            .find(|(p, _)| *p == name)
            .map(|(_, v)| v.to_string())
    };
    if let Some(expr) = tag.strip_prefix('=') {
        return expression(expr.trim(), &param);
    }
    match tag {
        "workflow.name" => Some("run-1".to_string()),
        _ => param(tag.strip_prefix("workflow.parameters.")?),
    }
}

fn expression(expr: &str, param: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(name) = expr
        .strip_prefix("workflow.parameters['")
        .and_then(|r| r.strip_suffix("']"))
    {
        return param(name);
    }
    if let Some(args) = expr
        .strip_prefix("sprig.replace(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (old, rest) = quoted(args)?;
        let (new, rest) = quoted(rest.trim_start().strip_prefix(',')?.trim_start())?;
        let src = expression(rest.trim_start().strip_prefix(',')?.trim(), param)?;
        return Some(src.replace(&old, &new));
    }
    if let Some(args) = expr
        .strip_prefix("sprig.regexReplaceAll(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // sprig's `regexReplaceAll REGEX S REPL` is Go's `regexp.MustCompile(REGEX)
        // .ReplaceAllString(S, REPL)`; the `regex` crate matches RE2 on these patterns.
        let (pattern, rest) = quoted(args)?;
        let (src, repl) = rest.trim_start().strip_prefix(',')?.rsplit_once(',')?;
        let (repl, _) = quoted(repl.trim())?;
        let src = expression(src.trim(), param)?;
        let re = regex::Regex::new(&pattern).ok()?;
        return Some(re.replace_all(&src, regex::NoExpand(&repl)).into_owned());
    }
    if let Some(args) = expr
        .strip_prefix("sprig.trunc(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (n, src) = args.split_once(',')?;
        let n: usize = n.trim().parse().ok()?;
        let src = expression(src.trim(), param)?;
        return Some(src.chars().take(n).collect());
    }
    None
}

/// A single-quoted expr-lang string without escapes, and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('\'')?;
    let end = inner.find('\'')?;
    Some((inner[..end].to_string(), &inner[end + 1..]))
}

/// The environment a container (or script) template's process sees: each value substituted
/// by Argo, then expanded by Kubernetes against the variables before it, in order (as the
/// kubelet's `makeEnvironmentVariables` does). Secret references are left out.
pub fn container_env(body: &Value, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for var in body["env"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) else {
            continue;
        };
        let seen = kubernetes_expand(&argo_substitute(value, params), &defined);
        defined.insert(name.to_string(), seen.clone());
        out.push((name.to_string(), seen));
    }
    out
}

/// The arguments a container's process sees, expanded against its whole environment.
pub fn container_args(body: &Value, params: &[(&str, &str)]) -> Vec<String> {
    let env: BTreeMap<String, String> = container_env(body, params).into_iter().collect();
    body["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|a| kubernetes_expand(&argo_substitute(a, params), &env))
        .collect()
}

/// One variable of [`container_env`].
pub fn seen_env(body: &Value, name: &str, params: &[(&str, &str)]) -> String {
    container_env(body, params)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no env var {name}"))
}

#[test]
fn expansion_as_upstream_tests_it() {
    // Cases from `expand_test.go` (TestMapReference, TestMapping).
    let env: BTreeMap<String, String> = [
        ("VAR_A", "A"),
        ("VAR_B", "B"),
        ("VAR_C", "C"),
        ("VAR_REF", "$(VAR_A)"),
        ("VAR_EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (input, expected) in [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_C)$(VAR_A)", "CA"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_REF)", "$(VAR_A)"),
        ("$(VAR_EMPTY)", ""),
        ("$$(VAR_A)", "$(VAR_A)"),
        ("$$$$(VAR_A)", "$$(VAR_A)"),
        ("$$$$$(VAR_A)", "$$A"),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$(VAR_A", "$(VAR_A"),
        ("$", "$"),
        ("$$", "$"),
        ("$VAR_A", "$VAR_A"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("$)", "$)"),
        ("$()", "$()"),
        ("ünï$(VAR_A)ç", "ünïAç"),
    ] {
        assert_eq!(kubernetes_expand(input, &env), expected, "{input}");
    }
}

/// One variable as a template's process sees it (its `script` or its `container`).
pub fn seen(template: &Value, name: &str, params: &[(&str, &str)]) -> String {
    let body = if template["script"].is_object() {
        &template["script"]
    } else {
        &template["container"]
    };
    seen_env(body, name, params)
}
