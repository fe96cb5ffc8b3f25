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
                        // The filter lands in the Sensor and WorkflowTemplate, which Argo
                        // templates: a name with `{{` could never match as written.
                        Some(_) if !self.check_no_template_tags(t, value.span) => return,
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
                if crate::k8s_rules::go_regex(&regex).is_ok() && validate_regex(&regex).is_ok() {
                    out.push.push(regex);
                }
            }
            TriggerKind::Webhook => out.webhook = true,
            TriggerKind::Schedule { cron, timezone } => {
                if let Some(text) = self.expect_static_text(cron, &scope, "a schedule") {
                    match validate_cron(&text) {
                        Ok(()) => out.schedules.push(text),
                        Err(CronError::Malformed(reason)) => self.diags.push(
                            Diagnostic::new(Code::E0212, cron.span, format!("`{text}` is not a cron schedule"))
                                .label(reason)
                                .help("write five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\", or @daily, @hourly, @every 30m"),
                        ),
                        Err(CronError::Useless(reason)) => self.diags.push(
                            Diagnostic::new(Code::E0212, cron.span, format!("the schedule `{text}` cannot be what you mean"))
                                .label(reason)
                                .help("check the day and month fields (February has at most 29 days) or the `@every` duration"),
                        ),
                    }
                }
                if let Some(tz) = timezone
                    && let Some(text) = self.expect_static_text(tz, &scope, "a timezone")
                {
                    let known = k8s_rules::timezone(&text);
                    match &out.timezone {
                        _ if known.is_err() => self.diags.push(
                            Diagnostic::new(Code::E0212, tz.span, format!("`{text}` is not a timezone name"))
                                .label("Argo's CronWorkflow would refuse it: not in the IANA tz database")
                                .help(match known {
                                    Err(Some(name)) => format!("did you mean \"{name}\"?"),
                                    _ => "write a name from the tz database, such as \"Europe/Paris\" or \"UTC\"".to_string(),
                                }),
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

/// Why a schedule is refused.
#[derive(Debug)]
pub enum CronError {
    /// robfig/cron (Argo's parser) would refuse it.
    Malformed(String),
    /// Accepted, but it never runs or runs every second.
    Useless(String),
}

impl From<String> for CronError {
    fn from(reason: String) -> Self {
        CronError::Malformed(reason)
    }
}

/// Checks a cron expression the way Argo's CronWorkflow reads it (robfig/cron's
/// `ParseStandard`): five fields (minute, hour, day of month, month, day of week) or a
/// descriptor (`@daily`, `@every 30m`); and that it would ever run, and not every second.
pub fn validate_cron(text: &str) -> Result<(), CronError> {
    let text = text.trim();
    if let Some(descriptor) = text.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => {
                let every = d.trim_start_matches("every ").trim();
                match k8s_rules::go_duration_nanos(every) {
                    // robfig/cron's `Every` raises anything under a second to one second.
                    Some(n) if n < 1_000_000_000 => Err(CronError::Useless(format!(
                        "`@every {every}` would run every second (robfig/cron raises anything shorter to 1s)"
                    ))),
                    Some(_) => Ok(()),
                    None => Err(CronError::Malformed(format!(
                        "`@every` needs a duration such as 30m, not `{every}`"
                    ))),
                }
            }
            other => Err(CronError::Malformed(format!(
                "unknown descriptor `@{other}`"
            ))),
        };
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CronError::Malformed(format!(
            "{} field{} instead of 5",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        )));
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
    // The values each field allows, as bits: the never-firing check needs them.
    let mut masks = [0u64; 5];
    for (index, (field, (what, min, max, names))) in fields.iter().zip(specs).enumerate() {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            let step = match step {
                Some(step) => match step.parse::<u32>() {
                    Ok(n) if n >= 1 && n <= max.max(1) => n,
                    _ => return Err(format!("bad step `/{step}` in the {what} field").into()),
                },
                None => 1,
            };
            let mut mark = |from: u32, to: u32| {
                for v in (from..=to).step_by(step as usize) {
                    masks[index] |= 1 << v;
                }
            };
            if range == "*" || (range == "?" && (what == "day of month" || what == "day of week")) {
                mark(min, max);
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
                        )
                        .into());
                    }
                    mark(a, b);
                }
                // robfig/cron reads `N/step` as `N-max/step`.
                None if step > 1 => mark(value(range)?, max),
                None => {
                    let v = value(range)?;
                    mark(v, v);
                }
            }
        }
    }
    // With a restricted day of week, robfig/cron fires on either day field, so only a
    // schedule that leaves the day of week open can name days that never come.
    let day_of_week_open = fields[4] == "*" || fields[4] == "?";
    let days_in = |month: u32| match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let fires = (1..=12u32).any(|month| {
        masks[3] & (1 << month) != 0 && (1..=days_in(month)).any(|day| masks[2] & (1 << day) != 0)
    });
    if day_of_week_open && !fires {
        return Err(CronError::Useless(
            "no month has the days it names, so it would never run".to_string(),
        ));
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
            "0 0 29 2 *",
            "0 3 31 2 MON",
            "0 0 31 */2 *",
            "@every 1h30m",
            "@every 1s",
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
            "0 3 31 2 *",
            "0 0 30,31 2 *",
            "0 0 31 4,6,9,11 *",
            "@every 0s",
            "@every 500ms",
            "@every 30",
            "@every -1m",
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
