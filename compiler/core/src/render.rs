//! Rendering diagnostics: ariadne for people, JSON lines for machines.

use std::fmt::Write as _;

use ariadne::{Color, Config, IndexType, Label as ALabel, Report, ReportKind};

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceDb;

/// How to render for a person.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// ANSI colours; the CLI turns this on only for a terminal without `NO_COLOR`.
    pub color: bool,
}

/// Renders diagnostics as ariadne reports, one after another.
pub fn render_human(
    diagnostics: &[Diagnostic],
    sources: &SourceDb,
    options: RenderOptions,
) -> String {
    let mut out = String::new();
    let cache = ariadne::sources(
        sources
            .files()
            .iter()
            .map(|f| (f.name.clone(), f.text.clone())),
    );
    let mut cache = cache;
    for diagnostic in diagnostics {
        let mut buf = Vec::new();
        let result = report(diagnostic, sources, options).write(&mut cache, &mut buf);
        match result {
            Ok(()) => out.push_str(&String::from_utf8_lossy(&buf)),
            // A report ariadne cannot draw (a span outside its file) still reaches the user.
            Err(_) => {
                let _ = writeln!(
                    out,
                    "{}[{}]: {}\n  at {}\n  help: {}",
                    severity_word(diagnostic.severity()),
                    diagnostic.code,
                    diagnostic.message,
                    sources.location(diagnostic.primary.span),
                    diagnostic.help
                );
            }
        }
    }
    out
}

/// A failure that happened at run time, drawn against the `.pipe` line that generated the
/// failing object: `location` is its `pipec.dev/source` annotation. `None` when the location
/// is not in `sources` (the file changed since, or the run came from elsewhere).
pub fn render_at_location(
    sources: &SourceDb,
    location: &str,
    title: &str,
    label: &str,
    help: Option<&str>,
    options: RenderOptions,
) -> Option<String> {
    let span = sources.resolve_location(location)?;
    let name = sources.get(span.file)?.name.clone();
    let range = safe_range(span, sources);
    let mut builder = Report::build(ReportKind::Error, (name.clone(), range.clone()))
        .with_config(
            Config::default()
                .with_color(options.color)
                .with_index_type(IndexType::Byte),
        )
        .with_message(title)
        .with_label(
            ALabel::new((name, range))
                .with_message(label)
                .with_color(Color::Red),
        );
    if let Some(help) = help {
        builder = builder.with_help(help);
    }
    let mut cache = ariadne::sources(
        sources
            .files()
            .iter()
            .map(|f| (f.name.clone(), f.text.clone())),
    );
    let mut buf = Vec::new();
    builder.finish().write(&mut cache, &mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A span clamped to its file and widened to character boundaries, so the renderer can slice
/// the text. Every span the compiler makes already is; this is insurance against a panic.
fn safe_range(span: pipec_syntax::Span, sources: &SourceDb) -> std::ops::Range<usize> {
    let Some(file) = sources.get(span.file) else {
        return 0..0;
    };
    let text = &file.text;
    let mut start = (span.start as usize).min(text.len());
    let mut end = (span.end as usize).clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

fn report<'a>(
    diagnostic: &'a Diagnostic,
    sources: &SourceDb,
    options: RenderOptions,
) -> Report<'a, (String, std::ops::Range<usize>)> {
    let name = |span: pipec_syntax::Span| {
        sources
            .get(span.file)
            .map_or_else(|| "<unknown>".to_string(), |f| f.name.clone())
    };
    let kind = match diagnostic.severity() {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let primary = diagnostic.primary.span;
    let (primary_color, secondary_color) = match diagnostic.severity() {
        Severity::Error => (Color::Red, Color::Blue),
        Severity::Warning => (Color::Yellow, Color::Blue),
    };
    // Ariadne draws one snippet per run of labels in ascending line order; ordering labels by
    // position keeps all labels of a file in one snippet.
    let mut positions: Vec<(pipec_syntax::FileId, u32, usize)> =
        std::iter::once(&diagnostic.primary)
            .chain(&diagnostic.secondary)
            .enumerate()
            .map(|(i, l)| (l.span.file, l.span.start, i))
            .collect();
    positions.sort();
    let order = |index: usize| {
        let rank = positions
            .iter()
            .position(|(_, _, i)| *i == index)
            .unwrap_or(index);
        i32::try_from(rank).unwrap_or(i32::MAX)
    };
    let mut builder = Report::build(kind, (name(primary), safe_range(primary, sources)))
        .with_config(
            Config::default()
                .with_color(options.color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(
            ALabel::new((name(primary), safe_range(primary, sources)))
                .with_message(&diagnostic.primary.message)
                .with_color(primary_color)
                .with_order(order(0)),
        );
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        builder = builder.with_label(
            ALabel::new((name(label.span), safe_range(label.span, sources)))
                .with_message(&label.message)
                .with_color(secondary_color)
                .with_order(order(i + 1)),
        );
    }
    if !diagnostic.help.is_empty() {
        builder = builder.with_help(&diagnostic.help);
    }
    for note in &diagnostic.notes {
        builder = builder.with_note(note);
    }
    builder.finish()
}

/// One JSON object per diagnostic, one per line: stable for CI tools to read.
pub fn render_json(diagnostics: &[Diagnostic], sources: &SourceDb) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let value = serde_json::json!({
            "code": d.code.as_str(),
            "severity": severity_word(d.severity()),
            "message": d.message,
            "primary": label_json(&d.primary, sources),
            "secondary": d.secondary.iter().map(|l| label_json(l, sources)).collect::<Vec<_>>(),
            "help": d.help,
            "notes": d.notes,
        });
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out
}

fn label_json(label: &crate::diagnostic::Label, sources: &SourceDb) -> serde_json::Value {
    let (file, start, end) = match sources.get(label.span.file) {
        Some(f) => (
            f.name.as_str(),
            f.line_col(label.span.start),
            f.line_col(label.span.end),
        ),
        None => ("<unknown>", (0, 0), (0, 0)),
    };
    serde_json::json!({
        "file": file,
        "start": {"line": start.0, "column": start.1, "offset": label.span.start},
        "end": {"line": end.0, "column": end.1, "offset": label.span.end},
        "message": label.message,
    })
}

/// One file's diagnostics, for [`render_sarif`].
pub struct SarifInput<'a> {
    pub diagnostics: &'a [Diagnostic],
    pub sources: &'a SourceDb,
}

/// A SARIF 2.1.0 log of all files' diagnostics, for code-scanning tools. Every code pipec
/// has is listed as a rule with its explanation.
pub fn render_sarif(inputs: &[SarifInput<'_>], version: &str) -> String {
    let rules: Vec<serde_json::Value> = crate::codes::Code::ALL
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.as_str(),
                "name": c.title(),
                "shortDescription": {"text": c.title()},
                "fullDescription": {"text": c.explanation()},
                "defaultConfiguration": {"level": if c.is_warning() { "warning" } else { "error" }},
            })
        })
        .collect();
    let mut results = Vec::new();
    for input in inputs {
        for d in input.diagnostics {
            let mut message = d.message.clone();
            if !d.help.is_empty() {
                message.push_str("\nhelp: ");
                message.push_str(&d.help);
            }
            let related: Vec<serde_json::Value> = d
                .secondary
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut loc = sarif_location(l.span, input.sources);
                    loc["id"] = serde_json::json!(i);
                    loc["message"] = serde_json::json!({"text": l.message});
                    loc
                })
                .collect();
            let mut result = serde_json::json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": crate::codes::Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0),
                "level": severity_word(d.severity()),
                "message": {"text": message},
                "locations": [sarif_location(d.primary.span, input.sources)],
            });
            if !related.is_empty() {
                result["relatedLocations"] = serde_json::Value::Array(related);
            }
            results.push(result);
        }
    }
    let log = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pipec",
                "version": version,
                "informationUri": "https://github.com/pipec/pipec",
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
    text.push('\n');
    text
}

fn sarif_location(span: pipec_syntax::Span, sources: &SourceDb) -> serde_json::Value {
    let (uri, (start_line, start_col), (end_line, end_col)) = match sources.get(span.file) {
        Some(f) => (
            f.name.as_str(),
            f.line_col(span.start),
            f.line_col(span.end),
        ),
        None => ("<unknown>", (1, 1), (1, 1)),
    };
    serde_json::json!({
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {
                "startLine": start_line,
                "startColumn": start_col,
                "endLine": end_line,
                "endColumn": end_col.max(if end_line == start_line { start_col } else { 1 }),
            },
        },
    })
}
