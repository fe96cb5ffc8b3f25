//! The rules Kubernetes and Argo apply on top of the CRD schemas, in one place.
//!
//! A schema says what shape an object has; the API server and the controllers then apply
//! rules of their own (name syntax and lengths, label values, …) and reject what breaks them,
//! often only when a run reaches that object. Each function here implements one upstream rule,
//! named in its doc comment, with the limits as constants, so the type checker and the
//! final-names pass ([`crate::names`]) refuse at compile time what the cluster would refuse.

/// `validation.DNS1123LabelMaxLength` (k8s.io/apimachinery `pkg/util/validation`).
pub const DNS1123_LABEL_MAX: usize = 63;
/// `validation.DNS1123SubdomainMaxLength`.
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// `validation.LabelValueMaxLength`.
pub const LABEL_VALUE_MAX: usize = 63;
/// Argo Workflows `maxCharsInObjectName` (`workflow/validate/validate.go`): Workflow and
/// WorkflowTemplate names become label values, so at most 63 characters.
pub const ARGO_OBJECT_NAME_MAX: usize = 63;
/// Argo Workflows `maxCharsInCronWorkflowName`: a CronWorkflow's runs are named after it plus
/// `-<unix time>`, which must still fit in 63 characters.
pub const CRON_WORKFLOW_NAME_MAX: usize = 52;
/// Argo Workflows `workflowFieldMaxLength`: template and task names.
pub const ARGO_FIELD_NAME_MAX: usize = 128;
/// Kubernetes' `SimpleNameGenerator` (`apiserver/pkg/storage/names`): a `generateName`
/// longer than this is cut before the 5 random characters are appended.
pub const GENERATED_NAME_PREFIX_MAX: usize = 58;
/// The Service an Argo Events EventSource gets (`eventsources/resource.go` in Argo Events:
/// `<name>-eventsource-svc`), itself a DNS-1035 label.
pub const EVENT_SOURCE_SERVICE_SUFFIX: &str = "-eventsource-svc";

/// Why a name breaks a rule, in words for a diagnostic's label.
pub type Reason = String;

/// The naming rules of the fields pipec fills with generated names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// `IsDNS1035Label`: Service names (`ValidateServiceName`). Lowercase letters, digits and
    /// `-`, starting with a letter, ending with a letter or digit, at most 63.
    Dns1035Label,
    /// `IsDNS1123Label`: namespace names. As DNS-1035, but may start with a digit.
    Dns1123Label,
    /// `IsDNS1123Subdomain`: most object names. DNS-1123 labels joined by `.`, at most 253.
    Dns1123Subdomain,
    /// `IsValidLabelValue`: at most 63 characters, alphanumerics with `-`, `_` and `.` inside,
    /// beginning and ending with an alphanumeric; or empty.
    LabelValue,
    /// Workflow and WorkflowTemplate names: a DNS-1123 subdomain of at most 63 characters
    /// (Argo's `maxCharsInObjectName`).
    ArgoObject,
    /// CronWorkflow names: a DNS-1123 subdomain of at most 52 characters.
    CronWorkflow,
    /// Argo template and task names (`isValidWorkflowFieldName`):
    /// `^[a-zA-Z0-9][-a-zA-Z0-9]*$`, at most 128.
    ArgoField,
    /// Argo parameter and artifact names (`paramOrArtifactNameRegex`): `^[-a-zA-Z0-9_]+$`.
    ArgoParameter,
}

impl NameRule {
    /// The rule as a user reads it in a diagnostic.
    pub fn describe(self) -> &'static str {
        match self {
            NameRule::Dns1035Label => {
                "a DNS-1035 label: at most 63 lowercase letters, digits and `-`, starting with a letter"
            }
            NameRule::Dns1123Label => {
                "a DNS-1123 label: at most 63 lowercase letters, digits and `-`"
            }
            NameRule::Dns1123Subdomain => {
                "a DNS-1123 subdomain: at most 253 lowercase letters, digits, `-` and `.`"
            }
            NameRule::LabelValue => "a label value: at most 63 letters, digits, `-`, `_` and `.`",
            NameRule::ArgoObject => {
                "an Argo Workflows object name: a DNS-1123 subdomain of at most 63 characters"
            }
            NameRule::CronWorkflow => {
                "a CronWorkflow name: a DNS-1123 subdomain of at most 52 characters"
            }
            NameRule::ArgoField => {
                "an Argo template or task name: at most 128 letters, digits and `-`"
            }
            NameRule::ArgoParameter => "an Argo parameter name: letters, digits, `_` and `-`",
        }
    }

    /// The longest name the rule allows.
    pub fn max_len(self) -> usize {
        match self {
            NameRule::Dns1035Label | NameRule::Dns1123Label => DNS1123_LABEL_MAX,
            NameRule::Dns1123Subdomain => DNS1123_SUBDOMAIN_MAX,
            NameRule::LabelValue => LABEL_VALUE_MAX,
            NameRule::ArgoObject => ARGO_OBJECT_NAME_MAX,
            NameRule::CronWorkflow => CRON_WORKFLOW_NAME_MAX,
            NameRule::ArgoField => ARGO_FIELD_NAME_MAX,
            NameRule::ArgoParameter => usize::MAX,
        }
    }

    /// Checks a name; the error says what is wrong with it.
    pub fn check(self, name: &str) -> Result<(), Reason> {
        if name.len() > self.max_len() {
            return Err(format!(
                "{} characters, at most {} allowed",
                name.chars().count(),
                self.max_len()
            ));
        }
        let ok = match self {
            NameRule::Dns1035Label => dns1035_label(name),
            NameRule::Dns1123Label => dns1123_label(name),
            NameRule::Dns1123Subdomain | NameRule::ArgoObject | NameRule::CronWorkflow => {
                dns1123_subdomain(name)
            }
            NameRule::LabelValue => label_value(name),
            NameRule::ArgoField => argo_field_name(name),
            NameRule::ArgoParameter => argo_parameter_name(name),
        };
        if ok {
            Ok(())
        } else if name.is_empty() {
            Err("empty".to_string())
        } else {
            Err("has characters the rule does not allow".to_string())
        }
    }
}

fn lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `IsDNS1123Label`: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
pub fn dns1123_label(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= DNS1123_LABEL_MAX
        && b.iter().all(|&c| lower_alnum(c) || c == b'-')
        && b.first().is_some_and(|&c| lower_alnum(c))
        && b.last().is_some_and(|&c| lower_alnum(c))
}

/// `IsDNS1035Label`: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63.
pub fn dns1035_label(name: &str) -> bool {
    dns1123_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
}

/// `IsDNS1123Subdomain`: DNS-1123 labels joined by `.`, at most 253 in all.
pub fn dns1123_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= DNS1123_SUBDOMAIN_MAX && name.split('.').all(dns1123_label)
}

/// A `generateName` prefix: the API server masks one trailing `-` before checking it as a
/// subdomain (`ValidateObjectMeta` with `prefix = true`, `maskTrailingDash`).
pub fn generate_name_prefix(prefix: &str) -> bool {
    let masked = prefix
        .strip_suffix('-')
        .map_or_else(|| prefix.to_string(), |p| format!("{p}a"));
    dns1123_subdomain(&masked)
}

/// `IsValidLabelValue`: `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?`, at most 63.
pub fn label_value(value: &str) -> bool {
    let b = value.as_bytes();
    b.is_empty()
        || (b.len() <= LABEL_VALUE_MAX
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric))
}

/// Argo Workflows `isValidWorkflowFieldName`: `^[a-zA-Z0-9][-a-zA-Z0-9]*$`, at most 128.
pub fn argo_field_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= ARGO_FIELD_NAME_MAX
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
}

/// Argo Workflows `paramOrArtifactNameRegex`: `^[-a-zA-Z0-9_]+$`.
pub fn argo_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A timezone as Go's `time.LoadLocation` (Argo's CronWorkflow validation) accepts it: a name
/// of the IANA tz database, matched exactly (the database is a directory tree, so case
/// matters). The error suggests the name meant, if only the case was wrong.
pub fn timezone(name: &str) -> Result<(), Option<&'static str>> {
    if name.parse::<chrono_tz::Tz>().is_ok() {
        return Ok(());
    }
    Err(chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .find(|known| known.eq_ignore_ascii_case(name)))
}

/// Go's `time.ParseDuration` ([`pipec_argo_semantics::go_duration::nanos`]), as robfig/cron
/// reads `@every` and Argo reads durations.
pub use pipec_argo_semantics::go_duration::nanos as go_duration_nanos;

/// Go's `regexp/syntax` limit on repeat counts (`maxRepeat` in `parse.go`).
pub const GO_REGEX_MAX_REPEAT: u32 = 1000;

/// A construct of a pattern that Go's `regexp` (RE2 syntax, as Argo, expr-lang's `matches` and
/// Argo Events evaluate patterns) rejects, or reads differently from Rust's `regex-syntax`,
/// which checks the rest. `range` is a byte range in the pattern. The table of differences is
/// in `docs/language.md` ("Regular expressions").
#[derive(Debug, PartialEq, Eq)]
pub struct RegexDifference {
    pub range: std::ops::Range<usize>,
    pub message: String,
}

/// Checks a pattern for what Go's parser (`regexp/syntax/parse.go`, flags `Perl`) would reject
/// or read differently from Rust's: flags other than `i m s U`, the escapes `\u`, `\U`, `\<`,
/// `\>`, `\b{…}` and an escaped space, repeat counts over 1000, `{,n}`, and inside a class
/// the set operations `&&` `--` `~~` and a nested `[`.
pub fn go_regex(pattern: &str) -> Result<(), RegexDifference> {
    let b = pattern.as_bytes();
    let fail = |start: usize, end: usize, message: &str| {
        Err(RegexDifference {
            range: start..end.min(b.len()),
            message: message.to_string(),
        })
    };
    let mut i = 0;
    // Inside `[…]`: the index after the opening bracket (and its `^`).
    let mut class: Option<usize> = None;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'u' | b'U') => {
                        return fail(
                            i,
                            i + 2,
                            "Go has no `\\u` escape: write `\\x{41}` for a code point",
                        );
                    }
                    Some(b'<' | b'>') => {
                        return fail(
                            i,
                            i + 2,
                            "Go has no `\\<` or `\\>` word boundaries: use `\\b`",
                        );
                    }
                    Some(b'b') if b.get(i + 2) == Some(&b'{') => {
                        return fail(i, i + 3, "Go has no `\\b{…}` boundaries: use `\\b`");
                    }
                    Some(b' ') => {
                        return fail(
                            i,
                            i + 2,
                            "Go does not allow escaping a space: write the space",
                        );
                    }
                    Some(b'x' | b'p' | b'P') if b.get(i + 2) == Some(&b'{') => {
                        // Skip the braced argument.
                        i = pattern[i..].find('}').map_or(b.len(), |e| i + e + 1);
                        continue;
                    }
                    _ => {}
                }
                i += 2;
                // A multi-byte escaped character: move to the next boundary.
                while i < b.len() && !pattern.is_char_boundary(i) {
                    i += 1;
                }
                continue;
            }
            b'[' if class.is_none() => {
                let mut start = i + 1;
                if b.get(start) == Some(&b'^') {
                    start += 1;
                }
                class = Some(start);
                // A `]` first in a class is a literal in both.
                i = if b.get(start) == Some(&b']') {
                    start + 1
                } else {
                    start
                };
                continue;
            }
            b'[' if b.get(i + 1) == Some(&b':') => {
                // A POSIX class such as `[:alpha:]`, in both.
                i = pattern[i..].find(":]").map_or(b.len(), |e| i + e + 2);
                continue;
            }
            b'[' => {
                return fail(
                    i,
                    i + 1,
                    "a `[` inside a class nests a class in Rust but is a literal in Go: write `\\[`",
                );
            }
            b']' if class.is_some() => class = None,
            b'&' | b'-' | b'~' if class.is_some() && b.get(i + 1) == Some(&b[i]) => {
                return fail(
                    i,
                    i + 2,
                    "class set operations (`&&`, `--`, `~~`) are not in Go, which reads them as literal characters",
                );
            }
            b'(' if class.is_none() && b.get(i + 1) == Some(&b'?') => {
                let rest = &pattern[i + 2..];
                if !(rest.starts_with("P<") || rest.starts_with('<')) {
                    let flags_end = rest.find([')', ':']).unwrap_or(rest.len());
                    if let Some((at, c)) = rest[..flags_end]
                        .char_indices()
                        .find(|(_, c)| !matches!(c, 'i' | 'm' | 's' | 'U' | '-'))
                    {
                        let at = i + 2 + at;
                        return fail(
                            at,
                            at + c.len_utf8(),
                            "Go knows only the flags `i`, `m`, `s` and `U`",
                        );
                    }
                }
            }
            b'{' if class.is_none() => {
                let rest = &pattern[i + 1..];
                if let Some(close) = rest.find('}') {
                    let inner = &rest[..close];
                    let (min, max) = inner.split_once(',').unwrap_or((inner, inner));
                    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
                    if min.is_empty() && digits(max) {
                        return fail(
                            i,
                            i + close + 2,
                            "`{,n}` repeats in Rust but is literal text in Go: write `{0,n}`",
                        );
                    }
                    if digits(min) && (max.is_empty() || digits(max)) {
                        let too_big = |t: &str| {
                            t.parse::<u64>()
                                .map_or(true, |n| n > u64::from(GO_REGEX_MAX_REPEAT))
                        };
                        if too_big(min) || (!max.is_empty() && too_big(max)) {
                            return fail(i, i + close + 2, "Go allows repeat counts up to 1000");
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
        while i < b.len() && !pattern.is_char_boundary(i) {
            i += 1;
        }
    }
    Ok(())
}

/// Environment variable prefixes pipec sets in the containers it generates
/// (`PIPEC_VALUE_N` carries an inserted value, `PIPEC_SCRIPT_B64` an encoded script): a user's
/// variable of such a name would silently replace one.
pub const RESERVED_ENV_PREFIXES: &[&str] = &["PIPEC_"];

/// The longest duration pipec emits, in seconds. Durations land in int32 seconds fields
/// (`periodSeconds`, `timeoutSeconds`, `minReadySeconds`, `scaleDownDelaySeconds`, … in
/// Kubernetes and Argo Rollouts) or in Go `time.Duration`s (pauses, timeouts: at most about 292
/// years); the smaller bound, 2³¹−1 seconds (about 68 years), fits both.
pub const MAX_DURATION_SECONDS: u64 = i32::MAX as u64;

/// The longest text pipec accepts, in bytes. Text lands in argv strings and environment
/// entries, and Linux's `execve` refuses (E2BIG) any single one of `MAX_ARG_STRLEN` bytes or
/// more, NUL included (`PAGE_SIZE * 32` = 128 KiB, `include/uapi/linux/binfmts.h`): the
/// container would be created and then fail to start.
pub const MAX_TEXT_BYTES: usize = 32 * 4096 - 1;

/// The longest repository name (`NameTotalLengthMax` in distribution's `reference`).
pub const IMAGE_NAME_MAX: usize = 255;
/// The longest tag: `[\w][\w.-]{0,127}`.
pub const IMAGE_TAG_MAX: usize = 128;

/// What part of an image reference is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePart {
    /// `name[:tag][@digest]`, as a container's `image`.
    Reference,
    /// `name` alone: a repository to push to (the tag is given apart).
    Repository,
    /// A tag alone.
    Tag,
}

/// Checks an image reference against the grammar of distribution's `reference` package
/// (`reference/regexp.go`, which containerd, the kubelet and registries use):
/// `[domain[:port]/]path-component[/path-component…][:tag][@algorithm:hex]`, where path
/// components are `[a-z0-9]+` joined by `.`, `_`, `__` or dashes, the domain is DNS-like
/// (`[a-zA-Z0-9-]` labels joined by `.`) or `localhost`, tags are `[\w][\w.-]{0,127}` and the
/// name is at most 255 characters. The error says what is wrong, in words for a label.
pub fn image(text: &str, part: ImagePart) -> Result<(), String> {
    if part == ImagePart::Tag {
        return image_tag(text);
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (text, None),
    };
    // The tag is after the last `:` that follows the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].find(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if part == ImagePart::Repository && (tag.is_some() || digest.is_some()) {
        return Err("names a tag or digest already; give the tag with `tag = …`".to_string());
    }
    if name.is_empty() {
        return Err("has no repository name".to_string());
    }
    if name.len() > IMAGE_NAME_MAX {
        return Err(format!(
            "the name has {} characters, at most {IMAGE_NAME_MAX}",
            name.len()
        ));
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // distribution's `splitDomain`: the first component is a registry if it has `.` or `:`, is
    // `localhost`, or has an uppercase letter.
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':'])
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase())
        {
            let (host, port) = first.split_once(':').unwrap_or((first, ""));
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            if !host.split('.').all(label_ok)
                || (first.contains(':')
                    && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())))
            {
                return Err(format!("`{first}` is not a registry host"));
            }
            components.remove(0);
        }
    }
    for component in components {
        if !path_component(component) {
            return Err(if component.bytes().any(|b| b.is_ascii_uppercase()) {
                format!("`{component}`: repository names are lowercase")
            } else {
                format!(
                    "`{component}` is not a repository path component: lowercase letters and digits, joined by `.`, `_`, `__` or `-`"
                )
            });
        }
    }
    if let Some(tag) = tag {
        image_tag(tag)?;
    }
    if let Some(digest) = digest {
        let (algorithm, hex) = digest
            .split_once(':')
            .ok_or_else(|| "the digest has no `algorithm:`".to_string())?;
        // go-digest registers sha256, sha384 and sha512, in lowercase hex of their length.
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => {
                return Err(format!(
                    "`{algorithm}` is not a digest algorithm (sha256, sha384, sha512)"
                ));
            }
        };
        if hex.len() != length
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "a {algorithm} digest is {length} lowercase hex digits"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+` joined by the separators `.`, `_`, `__` or any run of `-`.
fn path_component(component: &str) -> bool {
    let b = component.as_bytes();
    if b.is_empty() || !lower_alnum(b[0]) || !lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !lower_alnum(b[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        if !(separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|c| c == b'-'))
        {
            return false;
        }
    }
    true
}

fn image_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if tag.is_empty() {
        return Err("the tag is empty".to_string());
    }
    if tag.len() > IMAGE_TAG_MAX {
        return Err(format!(
            "the tag has {} characters, at most {IMAGE_TAG_MAX}",
            tag.len()
        ));
    }
    let b = tag.as_bytes();
    if !word(b[0]) || !b.iter().all(|&c| word(c) || c == b'.' || c == b'-') {
        return Err(format!(
            "`{tag}` is not a tag: letters, digits, `_`, `.` and `-`, not starting with `.` or `-`"
        ));
    }
    Ok(())
}

/// Argo Rollouts pastes an AnalysisTemplate's `{{args.NAME}}` into the query text as it is,
/// so an argument must not be able to leave the string it lands in. PromQL strings are
/// delimited by `"`, `'` or `` ` `` and escape with `\` (Prometheus' `promql/parser/lex.go`);
/// a newline ends a line comment (`#`); `{{` and `}}` would be read as Argo tags. The error
/// names the first such character.
pub fn query_argument(value: &str) -> Result<(), &'static str> {
    if value.contains("{{") || value.contains("}}") {
        return Err("`{{` or `}}`");
    }
    match value
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '`' | '\\' | '\n' | '\r'))
    {
        Some('"' | '\'' | '`') => Err("a quote"),
        Some('\\') => Err("a backslash"),
        Some(_) => Err("a line break"),
        None => Ok(()),
    }
}

/// Words of expr-lang (v1.17, as pinned by Argo Workflows v4.1) that cannot be identifiers:
/// its word operators, literals and keywords (`parser/lexer` and `parser/operator` in
/// expr-lang/expr). Argo evaluates a DAG task's `depends` with expr-lang after replacing `-`
/// by `_` in task names (`evaluateDependsLogic` in `workflow/controller/dag.go`), so a task
/// named after one of these breaks every `depends` that mentions it.
pub const EXPR_RESERVED: &[&str] = &[
    "not",
    "and",
    "or",
    "in",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
    "nil",
    "true",
    "false",
];

/// Whether an Argo task name can appear in `depends`: after Argo's `-` → `_`, an expr-lang
/// identifier that is not a reserved word.
pub fn depends_identifier(task: &str) -> bool {
    let name = task.replace('-', "_");
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !EXPR_RESERVED.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from k8s.io/apimachinery `pkg/util/validation/validation_test.go`
    // (TestIsDNS1123Label, TestIsDNS1035Label, TestIsDNS1123Subdomain, TestIsValidLabelValue).
    #[test]
    fn dns_labels_as_apimachinery_tests_them() {
        for good in [
            "a",
            "ab",
            "abc",
            "a1",
            "a-1",
            "a--1--2--b",
            "0",
            "01",
            "012",
            "1a",
            "1-a",
            "1--a--b--2",
        ] {
            assert!(dns1123_label(good), "{good}");
        }
        let long = "a".repeat(63);
        assert!(dns1123_label(&long));
        for bad in [
            "", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_",
            "_a", "a_b", "1_", "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ",
            " a", "a b", "1 ", " 1", "1 2",
        ] {
            assert!(!dns1123_label(bad), "{bad}");
        }
        assert!(!dns1123_label(&"a".repeat(64)));
        for good in ["a", "ab", "abc", "a1", "a-1", "a--1--2--b"] {
            assert!(dns1035_label(good), "{good}");
        }
        for bad in ["0", "01", "1a", "1-a", "A", "a-", "-a", "a_b", "a.b"] {
            assert!(!dns1035_label(bad), "{bad}");
        }
    }

    #[test]
    fn subdomains_as_apimachinery_tests_them() {
        for good in [
            "a",
            "ab",
            "a1",
            "a-1",
            "0",
            "1a",
            "a.a",
            "a.1",
            "1.a",
            "0.0",
            "a-1.a-1.a-1",
            "11.22.33.44.55",
        ] {
            assert!(dns1123_subdomain(good), "{good}");
        }
        let longest = format!("{}a", "a.".repeat(126));
        assert_eq!(longest.len(), 253);
        assert!(dns1123_subdomain(&longest));
        assert!(!dns1123_subdomain(&format!("a{longest}")));
        for bad in [
            "", "A", "a.B", "a-.b", "-a.b", "a.-b", "a..b", "a_b", ".a", "a.", "a@b",
        ] {
            assert!(!dns1123_subdomain(bad), "{bad}");
        }
        assert!(
            !dns1123_subdomain(&"a".repeat(64)),
            "a label of the subdomain is too long"
        );
        assert!(generate_name_prefix("addressbook-"));
        assert!(!generate_name_prefix("Addressbook-"));
    }

    #[test]
    fn label_values_as_apimachinery_tests_them() {
        for good in [
            "simple",
            "now-with-dashes",
            "1-starts-with-num",
            "end-with-num-1",
            "1234",
            "-".repeat(0).as_str(),
            "A.B.C",
            "a_b",
            "a-_-b",
        ] {
            assert!(label_value(good), "{good}");
        }
        assert!(label_value(&"a".repeat(63)));
        for bad in [
            "nospecialchars%^=@",
            "Tama-nui-te-rā.is.Māori.sun",
            "\\backslashes\\are\\bad",
            "-starts-with-dash",
            "ends-with-dash-",
            ".starts.with.dot",
            "ends.with.dot.",
        ] {
            assert!(!label_value(bad), "{bad}");
        }
        assert!(!label_value(&"a".repeat(64)));
    }

    // Cases from argo-workflows `workflow/validate/validate_test.go` (template and parameter
    // names) and the rule's regexes.
    #[test]
    fn argo_names() {
        for good in ["whalesay", "My-name1-2", "123-NAME", "a"] {
            assert!(argo_field_name(good), "{good}");
        }
        for bad in ["", "-a", "a_b", "a.b", "a b", "ä"] {
            assert!(!argo_field_name(bad), "{bad}");
        }
        assert!(!argo_field_name(&"a".repeat(129)));
        for good in ["my_param_1", "MY-PARAM-1", "-x"] {
            assert!(argo_parameter_name(good), "{good}");
        }
        for bad in ["", "a.b", "a b", "a/b"] {
            assert!(!argo_parameter_name(bad), "{bad}");
        }
    }

    #[test]
    fn timezones_as_go_loads_them() {
        for good in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+2",
            "US/Eastern",
        ] {
            assert!(timezone(good).is_ok(), "{good}");
        }
        assert_eq!(timezone("europe/paris"), Err(Some("Europe/Paris")));
        for bad in ["Mars/Olympus", "GMT+2", "", "Local", "Europe/Paris "] {
            assert!(timezone(bad).is_err(), "{bad}");
        }
    }

    // Cases from Go's `time/time_test.go` (parseDurationTests).
    #[test]
    fn durations_as_go_parses_them() {
        for (text, nanos) in [
            ("0", 0i128),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.004s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("13ms", 13_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("1h1m1s1ms1us1ns", 3_661_001_001_001),
            ("9223372036854775807ns", 9_223_372_036_854_775_807),
        ] {
            assert_eq!(go_duration_nanos(text), Some(nanos), "{text}");
        }
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "9223372036854775808ns",
            "3000000h",
        ] {
            assert_eq!(go_duration_nanos(bad), None, "{bad}");
        }
    }

    /// One row per line of the table in `docs/language.md`: Rust's regex-syntax accepts each
    /// pattern; Go's `regexp.Compile` rejects it or reads it differently (Go's behaviour from
    /// `regexp/syntax/parse_test.go` and the RE2 syntax page).
    #[test]
    fn patterns_go_rejects_or_reads_differently() {
        for (pattern, at) in [
            ("(?x)a b", 2),
            ("(?u)a", 2),
            ("(?R)a", 2),
            ("(?ix:a)", 3),
            (r"\u0041", 0),
            (r"\u{41}", 0),
            (r"\U00000041", 0),
            ("a{1001}", 1),
            ("a{2,1001}", 1),
            ("a{,3}", 1),
            ("[a-z&&[^x]]", 4),
            ("[a-z--x]", 4),
            ("[a~~b]", 2),
            ("[[a-z]]", 1),
            (r"\<word\>", 0),
            (r"\b{start}x", 0),
            (r"a\ b", 1),
        ] {
            // `{,n}` is refused by both, with a clearer message from here.
            assert!(
                pattern.contains("{,") || regex_syntax::Parser::new().parse(pattern).is_ok(),
                "{pattern}: regex-syntax should accept it for the row to matter"
            );
            let found = go_regex(pattern).err();
            assert_eq!(found.map(|d| d.range.start), Some(at), "{pattern}");
        }
        for pattern in [
            "^v[0-9]+\\.[0-9]+$",
            "(?i)hotfix",
            "(?i:a)(?-s:b)(?U)c*",
            "(?P<major>[0-9]+)(?<minor>x)",
            "a{2}b{3,}c{4,1000}",
            "[]a]",
            "[^]a]",
            "[[:alpha:]-]",
            "[a-z-]",
            r"\x{41}\p{Greek}\pL\[",
            "a&&b--c",
            "{x}",
            "ünï[ç-ø]",
            r"\é",
        ] {
            assert_eq!(go_regex(pattern), Ok(()), "{pattern}");
        }
    }

    // Cases from distribution's `reference/reference_test.go` (TestReferenceParse).
    #[test]
    fn image_references_as_distribution_parses_them() {
        let digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        for good in [
            "test_com".to_string(),
            "test.com:tag".to_string(),
            "test.com:5000".to_string(),
            "test.com/repo:tag".to_string(),
            "test:5000/repo".to_string(),
            "test:5000/repo:tag".to_string(),
            format!("test:5000/repo@{digest}"),
            format!("test:5000/repo:tag@{digest}"),
            "lowercase:Uppercase".to_string(),
            "sub-dom1.foo.com/bar/baz/quux".to_string(),
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag".to_string(),
            "b.gcr.io/test.example.com/my-app:test.example.com".to_string(),
            "xn--n3h.com/myimage:xn--n3h.com".to_string(),
            "foo_bar.com:8080".to_string(),
            "foo/foo_bar.com:8080".to_string(),
            "localhost:5000/a__b--c.d:v1".to_string(),
            format!("a/b:{}", "t".repeat(128)),
        ] {
            assert_eq!(image(&good, ImagePart::Reference), Ok(()), "{good}");
        }
        for bad in [
            "".to_string(),
            ":justtag".to_string(),
            "@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff".to_string(),
            "repo@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff@x".to_string(),
            "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff".to_string(),
            "Uppercase:tag".to_string(),
            "test:5000/Uppercase/lowercase:tag".to_string(),
            "aa/asdf$$^/aa".to_string(),
            "a/b:x+y".to_string(),
            "a/b:latest:1.0".to_string(),
            "a b".to_string(),
            "nginх:1.27".to_string(),
            format!("a/b:{}", "t".repeat(129)),
            format!("{}/x", "a".repeat(255)),
        ] {
            assert!(image(&bad, ImagePart::Reference).is_err(), "{bad}");
        }
        assert!(image("docker.io/acme/auth:latest", ImagePart::Repository).is_err());
        assert_eq!(image("docker.io/acme/auth", ImagePart::Repository), Ok(()));
        assert!(image("feature/x", ImagePart::Tag).is_err());
        assert!(image(".hidden", ImagePart::Tag).is_err());
        assert_eq!(image("v1.2.3_rc-1", ImagePart::Tag), Ok(()));
    }

    #[test]
    fn query_arguments_cannot_leave_their_string() {
        assert_eq!(query_argument("api"), Ok(()));
        assert_eq!(query_argument("api-v2.prod_1"), Ok(()));
        assert_eq!(query_argument("x'}[1m])) or vector(1) #"), Err("a quote"));
        assert_eq!(query_argument("x\"y"), Err("a quote"));
        assert_eq!(query_argument("x`y"), Err("a quote"));
        assert_eq!(query_argument("x\\y"), Err("a backslash"));
        assert_eq!(query_argument("x\ny"), Err("a line break"));
        assert_eq!(query_argument("{{args.x}}"), Err("`{{` or `}}`"));
    }

    #[test]
    fn task_names_in_depends() {
        for good in ["build", "run-tests", "in-place", "not_yet", "android"] {
            assert!(depends_identifier(good), "{good}");
        }
        for bad in [
            "in", "not", "and", "or", "matches", "contains", "let", "if", "nil", "true", "1st",
        ] {
            assert!(!depends_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn rules_say_why() {
        assert_eq!(
            NameRule::Dns1035Label.check(&"a".repeat(70)),
            Err("70 characters, at most 63 allowed".to_string())
        );
        assert!(NameRule::CronWorkflow.check(&"a".repeat(53)).is_err());
        assert!(NameRule::CronWorkflow.check(&"a".repeat(52)).is_ok());
        assert!(NameRule::Dns1035Label.check("1abc").is_err());
        assert!(NameRule::Dns1123Label.check("1abc").is_ok());
    }
}
