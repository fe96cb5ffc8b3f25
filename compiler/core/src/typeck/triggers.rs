//! Checking triggers: `on push …` and `on schedule …`.

use crate::{k8s_rules, names};
use pipec_syntax::ast::{self, TriggerKind};

use super::value::{Val, validate_regex};
use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::hir;

impl Checker<'_, '_> {
    pub(super) fn check_trigger(&mut self, trigger: &ast::Trigger, out: &mut hir::Triggers) {
        match trigger.kind {
            TriggerKind::Push { .. } => out.push_span.get_or_insert(trigger.span),
            TriggerKind::Schedule { .. } => out.schedule_span.get_or_insert(trigger.span),
            TriggerKind::Webhook => out.webhook_span.get_or_insert(trigger.span),
        };
        let scope = Scope::Pipeline;
        match &trigger.kind {
            TriggerKind::Push { filter: None } => out.push.push("^refs/(heads|tags)/".to_string()),
            TriggerKind::Push {
                filter: Some(filter),
            } => {
                let prefix = if filter.kind.name == "tag" {
                    "refs/tags/"
                } else {
                    "refs/heads/"
                };
                let value = self.eval(&filter.value, &scope);
                let regex = match (&value.val, filter.pattern) {
                    (Val::Regex(r), true) => match ref_regex(prefix, r) {
                        Some(regex) => regex,
                        None => {
                            self.diags.push(
                                Diagnostic::new(Code::E0203, value.span, "`^` can only start a trigger's pattern")
                                    .label("`^` inside the pattern")
                                    .help("the pattern is matched against the branch or tag name; start it with `^` to anchor it there, or split it into several `on push` lines"),
                            );
                            return;
                        }
                    },
                    (Val::Str(t), false) => match t.as_static() {
                        Some(name) => format!("^{}$", escape_regex(&format!("{prefix}{name}"))),
                        None => {
                            self.needs_static_because(
                                &value,
                                "a trigger's branch or tag",
                                "the trigger decides whether a run starts at all, before any param has a value: write the name itself",
                            );
                            return;
                        }
                    },
                    (Val::Error, _) => return,
                    (_, true) => {
                        self.mismatch(&value, "a regular expression `/…/` after `~`");
                        return;
                    }
                    (_, false) => {
                        self.mismatch(
                            &value,
                            "a branch or tag name in quotes (or `~ /regex/` for a pattern)",
                        );
                        return;
                    }
                };
                if validate_regex(&regex).is_ok() {
                    out.push.push(regex);
                }
            }
            TriggerKind::Webhook => out.webhook = true,
            TriggerKind::Schedule { cron, timezone } => {
                if let Some(text) = self.expect_static_text(cron, &scope, "a schedule") {
                    match validate_cron(&text) {
                        Ok(()) => out.schedules.push(text),
                        Err(reason) => self.diags.push(
                            Diagnostic::new(Code::E0212, cron.span, format!("`{text}` is not a cron schedule"))
                                .label(reason)
                                .help("write five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\", or @daily, @hourly, @every 30m"),
                        ),
                    }
                }
                if let Some(tz) = timezone
                    && let Some(text) = self.expect_static_text(tz, &scope, "a timezone")
                {
                    let valid = !text.is_empty()
                        && text
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
                    match &out.timezone {
                        _ if !valid => self.diags.push(
                            Diagnostic::new(Code::E0212, tz.span, format!("`{text}` is not a timezone name"))
                                .label("not an IANA timezone")
                                .help("write a name from the tz database, such as \"Europe/Paris\" or \"UTC\""),
                        ),
                        Some(other) if *other != text => {
                            let mut d = Diagnostic::new(Code::E0212, tz.span, "all schedules of a pipeline share one timezone")
                                .label(format!("another timezone than `{other}`"))
                                .help("use one timezone; Argo's CronWorkflow has a single `timezone`");
                            if let Some(first) = out.timezone_span {
                                d = d.with_secondary(first, "the timezone is set here");
                            }
                            self.diags.push(d);
                        }
                        Some(_) => {}
                        None => {
                            out.timezone = Some(text);
                            out.timezone_span = Some(tz.span);
                        }
                    }
                }
            }
        }
    }
}

/// The longest pipeline name that leaves room for what `name` adds to it, within `max`.
/// Argo appends an 11-character timestamp to a CronWorkflow's name for each run; Argo Events
/// serves the `<pipeline>-push` EventSource as `<pipeline>-push-eventsource-svc`, a Service
/// name; the manual rollback is the WorkflowTemplate `<pipeline>-rollback`.
fn room(max: usize, name: fn(&str) -> String, service_suffix: &str) -> usize {
    max.saturating_sub(name("").len() + service_suffix.len())
}

impl Checker<'_, '_> {
    /// `webhook_token = SECRET.KEY`: only a secret key, so the token never reaches YAML.
    pub(super) fn check_webhook_token(&mut self, prop: &ast::Property, out: &mut hir::Triggers) {
        let value = self.eval(&prop.value, &Scope::Pipeline);
        match value.val {
            Val::SecretKey(key) if !out.push.is_empty() || out.webhook => {
                out.webhook_token = Some(key)
            }
            Val::SecretKey(_) => self.diags.push(
                Diagnostic::new(Code::W0002, prop.name.span, "`webhook_token` is never used")
                    .label("no `on push` or `on webhook` trigger listens for webhooks")
                    .help("add `on push …` or `on webhook`, or remove the setting"),
            ),
            Val::Error => {}
            Val::Str(_) => self.diags.push(
                Diagnostic::new(Code::E0201, value.span, "the webhook token must come from a Secret")
                    .label("a token written here would be readable in the YAML")
                    .help("declare `secret hook = \"git-webhook\" { token }` and write `webhook_token = hook.token`"),
            ),
            _ => self.mismatch(&value, "a secret key (`SECRET.KEY`) holding the token"),
        }
    }

    /// Triggers and the rollback WorkflowTemplate are named after the pipeline; Argo's
    /// suffixes must still fit.
    pub(super) fn check_trigger_names(&mut self, name: &ast::Ident, pipeline: &hir::Pipeline) {
        let triggers = &pipeline.triggers;
        let kebab = super::kebab(&name.name);
        let limit = [
            (
                !triggers.schedules.is_empty(),
                k8s_rules::CRON_WORKFLOW_NAME_MAX,
                "`on schedule` (a CronWorkflow)",
            ),
            (
                !triggers.push.is_empty(),
                room(
                    k8s_rules::DNS1123_LABEL_MAX,
                    names::push_trigger,
                    k8s_rules::EVENT_SOURCE_SERVICE_SUFFIX,
                ),
                "`on push` (an EventSource's Service)",
            ),
            (
                triggers.webhook,
                room(
                    k8s_rules::DNS1123_LABEL_MAX,
                    names::webhook_trigger,
                    k8s_rules::EVENT_SOURCE_SERVICE_SUFFIX,
                ),
                "`on webhook` (an EventSource's Service)",
            ),
            (
                !pipeline.services.is_empty(),
                room(
                    k8s_rules::ARGO_OBJECT_NAME_MAX,
                    names::rollback_template,
                    "",
                ),
                "the rollback WorkflowTemplate `<pipeline>-rollback`",
            ),
        ]
        .into_iter()
        .filter(|(used, max, _)| *used && kebab.len() > *max)
        .min_by_key(|(_, max, _)| *max);
        if let Some((_, max, what)) = limit {
            self.diags.push(
                Diagnostic::new(
                    Code::E0109,
                    name.span,
                    format!("the pipeline name `{}` is too long", name.name),
                )
                .label(format!("{} characters; {what} allows {max}", kebab.len()))
                .help(format!(
                    "shorten the pipeline's name to at most {max} characters"
                )),
            );
        }
    }
}

/// The regex over the full ref for a pattern over the branch or tag name: `^v[0-9]` →
/// `^refs/tags/(?:v[0-9])`, `hotfix` → `^refs/heads/.*(?:hotfix)`. The group keeps a top-level
/// `|` inside the name. `None` when `^` appears other than at the start, since it could then
/// only match at the start of the whole ref.
fn ref_regex(prefix: &str, pattern: &str) -> Option<String> {
    let (anchored, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(rest)
        .ok()?;
    if hir
        .properties()
        .look_set()
        .contains(regex_syntax::hir::Look::Start)
    {
        return None;
    }
    Some(if anchored {
        format!("^{prefix}(?:{rest})")
    } else {
        format!("^{prefix}.*(?:{rest})")
    })
}

/// `refs/heads/feature.x` → `refs/heads/feature\.x`.
fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Checks a cron expression the way Argo's CronWorkflow reads it: five fields (minute, hour,
/// day of month, month, day of week) or a descriptor (`@daily`, `@every 30m`).
pub fn validate_cron(text: &str) -> Result<(), String> {
    let text = text.trim();
    if let Some(descriptor) = text.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => {
                let every = d.trim_start_matches("every ").trim();
                let ok = !every.is_empty()
                    && every
                        .split(|c: char| c.is_ascii_alphabetic())
                        .any(|n| !n.is_empty())
                    && every
                        .chars()
                        .all(|c| c.is_ascii_digit() || "nsuµmh".contains(c));
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "`@every` needs a duration such as 30m, not `{every}`"
                    ))
                }
            }
            other => Err(format!("unknown descriptor `@{other}`")),
        };
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "{} field{} instead of 5",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    }
    const MONTHS: &[&str] = &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        ("day of week", 0, 7, DAYS),
    ];
    for (field, (what, min, max, names)) in fields.iter().zip(specs) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n >= 1 && n <= max.max(1) => {}
                    _ => return Err(format!("bad step `/{step}` in the {what} field")),
                }
            }
            if range == "*" || (range == "?" && (what == "day of month" || what == "day of week")) {
                continue;
            }
            let value = |v: &str| -> Result<u32, String> {
                if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
                    return Ok(i as u32 + u32::from(what == "month"));
                }
                match v.parse::<u32>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(format!("`{v}` is outside the {what} field ({min}-{max})")),
                }
            };
            match range.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (value(a)?, value(b)?);
                    if a > b {
                        return Err(format!(
                            "the range `{range}` in the {what} field runs backwards"
                        ));
                    }
                }
                None => {
                    value(range)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_expressions() {
        for ok in [
            "0 3 * * *",
            "*/15 * * * *",
            "0 9-17 * * MON-FRI",
            "30 2 1,15 * ?",
            "@daily",
            "@every 30m",
            "0 0 1 JAN *",
        ] {
            assert!(validate_cron(ok).is_ok(), "{ok}: {:?}", validate_cron(ok));
        }
        for bad in [
            "0 3 * *",
            "60 * * * *",
            "* 24 * * *",
            "0 0 0 * *",
            "0 0 * 13 *",
            "0 0 * * 8",
            "@sometimes",
            "5-1 * * * *",
            "*/0 * * * *",
        ] {
            assert!(validate_cron(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn patterns_apply_to_the_name() {
        assert_eq!(
            ref_regex("refs/heads/", "^a|b").as_deref(),
            Some("^refs/heads/(?:a|b)")
        );
        assert_eq!(
            ref_regex("refs/tags/", "v1").as_deref(),
            Some("^refs/tags/.*(?:v1)")
        );
        assert_eq!(
            ref_regex("refs/heads/", "[^x]$").as_deref(),
            Some("^refs/heads/.*(?:[^x]$)")
        );
        assert_eq!(ref_regex("refs/heads/", "a|^b"), None);
    }

    #[test]
    fn exact_names_are_escaped() {
        assert_eq!(
            escape_regex("refs/heads/feature.x"),
            r"refs/heads/feature\.x"
        );
    }
}
