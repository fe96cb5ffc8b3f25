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

/// How many diagnostics a person is shown at most, errors before warnings; the rest are
/// counted in one closing line. A million unused secrets should not print a million reports:
/// the first ones say what is wrong, and `--format json` (never capped) lists them all.
pub const MAX_SHOWN: usize = 50;

/// Renders diagnostics as ariadne reports, one after another: at most [`MAX_SHOWN`] of them,
/// and very long source lines only around what the labels point at (see [`Excerpts`]), so the
/// output is bounded however large or strange the input.
pub fn render_human(
    diagnostics: &[Diagnostic],
    sources: &SourceDb,
    options: RenderOptions,
) -> String {
    let shown = shown(diagnostics);
    let excerpts = Excerpts::new(
        sources,
        shown
            .iter()
            .flat_map(|d| std::iter::once(&d.primary).chain(&d.secondary))
            .map(|l| l.span),
    );
    let mut cache = excerpts.cache();
    let mut out = String::new();
    for diagnostic in &shown {
        let mut buf = Vec::new();
        let result = report(diagnostic, &excerpts, options).write(&mut cache, &mut buf);
        match result {
            Ok(()) => out.push_str(&excerpts.true_headers(&String::from_utf8_lossy(&buf))),
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
    if shown.len() < diagnostics.len() {
        let hidden_errors = diagnostics.iter().filter(|d| d.is_error()).count()
            - shown.iter().filter(|d| d.is_error()).count();
        let hidden = diagnostics.len() - shown.len();
        let _ = writeln!(
            out,
            "… and {hidden} more not shown ({hidden_errors} error{}, {} warning{}); `--format json` lists every diagnostic",
            plural(hidden_errors),
            hidden - hidden_errors,
            plural(hidden - hidden_errors)
        );
    }
    out
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The diagnostics [`render_human`] draws, in their order: all if there are at most
/// [`MAX_SHOWN`]; otherwise the first errors, then the first warnings, up to the cap.
fn shown(diagnostics: &[Diagnostic]) -> Vec<&Diagnostic> {
    errors_first(diagnostics.iter().collect(), MAX_SHOWN, |d| d.is_error())
}

/// At most `cap` of `items`, in their order: the first errors, then as many of the first
/// warnings as fit.
fn errors_first<T>(items: Vec<T>, cap: usize, is_error: impl Fn(&T) -> bool) -> Vec<T> {
    if items.len() <= cap {
        return items;
    }
    let errors = items.iter().filter(|d| is_error(d)).count();
    let mut warnings_left = cap.saturating_sub(errors);
    let mut errors_left = cap;
    items
        .into_iter()
        .filter(|d| {
            let left = if is_error(d) {
                &mut errors_left
            } else {
                &mut warnings_left
            };
            let keep = *left > 0;
            *left = left.saturating_sub(1);
            keep
        })
        .collect()
}

/// Source lines longer than this many bytes are drawn in part.
const LONG_LINE: usize = 240;

/// Bytes of context kept on each side of a labelled position on a long line.
const CONTEXT: usize = 40;

/// What stands in for the text cut out of a long line.
const ELLIPSIS: &str = "…";

/// The texts ariadne draws from. A line longer than [`LONG_LINE`] that a label points into is
/// cut down to [`CONTEXT`] bytes around each labelled position, the cuts marked `…`; every other
/// line is kept as written. Cuts never cross a line break, so line numbers stay true; ariadne's
/// column in a report header is put right afterwards by [`Excerpts::true_headers`]. Without this
/// a diagnostic on a minified 10 MB line prints the 10 MB, once per diagnostic.
struct Excerpts<'a> {
    sources: &'a SourceDb,
    /// Per file (by index), the byte ranges cut out of its text, ascending; empty if none.
    cuts: Vec<Vec<std::ops::Range<usize>>>,
    /// Per file, its text with the cuts made.
    texts: Vec<String>,
}

impl<'a> Excerpts<'a> {
    fn new(sources: &'a SourceDb, spans: impl Iterator<Item = pipec_syntax::Span>) -> Self {
        let mut points: Vec<Vec<usize>> = vec![Vec::new(); sources.files().len()];
        for span in spans {
            if let Some(file_points) = points.get_mut(span.file.0 as usize) {
                file_points.extend([span.start as usize, span.end as usize]);
            }
        }
        let cuts: Vec<_> = sources
            .files()
            .iter()
            .zip(points)
            .map(|(file, mut points)| {
                points.sort_unstable();
                points.dedup();
                cuts_of(file, &points)
            })
            .collect();
        let texts = sources
            .files()
            .iter()
            .zip(&cuts)
            .map(|(file, cuts)| cut_text(&printable(&file.text), cuts))
            .collect();
        Excerpts {
            sources,
            cuts,
            texts,
        }
    }

    /// The cache ariadne reads the (cut) texts from, borrowing them.
    fn cache(&self) -> impl ariadne::Cache<String> + '_ {
        ariadne::sources(
            self.sources
                .files()
                .iter()
                .zip(&self.texts)
                .map(|(file, text)| (file.name.clone(), text.as_str()))
                .collect::<Vec<_>>(),
        )
    }

    /// A span of the original text, as a byte range of its file's cut text.
    fn range(&self, span: pipec_syntax::Span) -> std::ops::Range<usize> {
        let range = safe_range(span, self.sources);
        match self.cuts.get(span.file.0 as usize) {
            Some(cuts) if !cuts.is_empty() => {
                let start = to_cut(cuts, range.start);
                start..to_cut(cuts, range.end).max(start)
            }
            _ => range,
        }
    }

    /// `rendered` with the column of every `[ file:line:column ]` header of a cut file set back
    /// to the column in the original line.
    fn true_headers(&self, rendered: &str) -> String {
        let bom = |f: &crate::source::SourceFile| f.text.starts_with(pipec_syntax::lexer::BOM);
        if self.cuts.iter().all(Vec::is_empty) && !self.sources.files().iter().any(bom) {
            return rendered.to_string();
        }
        let mut out = String::with_capacity(rendered.len());
        for line in rendered.split_inclusive('\n') {
            match self.true_header(line) {
                Some(fixed) => out.push_str(&fixed),
                None => out.push_str(line),
            }
        }
        out
    }

    /// `line` fixed, if it is the header of a snippet of a cut file, or of line 1 of a file
    /// that opens with a byte order mark. Colours are stripped to recognise it; ariadne writes
    /// the `file:line:column` part itself uncoloured.
    fn true_header(&self, line: &str) -> Option<String> {
        let plain = strip_ansi(line);
        let reference = plain
            .trim()
            .strip_prefix("╭─[ ")
            .or_else(|| plain.trim().strip_prefix("├─[ "))?
            .strip_suffix(" ]")?;
        let (rest, column) = reference.rsplit_once(':')?;
        let (name, line_no) = rest.rsplit_once(':')?;
        let index = self.sources.files().iter().position(|f| f.name == name)?;
        let file = self.sources.files().get(index)?;
        // ariadne counts a leading byte order mark as a column of line 1; pipec does not.
        let line_no: usize = line_no.parse().ok()?;
        let bom = line_no == 1 && file.text.starts_with(pipec_syntax::lexer::BOM);
        let cuts = self.cuts.get(index).filter(|c| !c.is_empty() || bom)?;
        let cut = self.texts.get(index)?;
        let line_start = if bom {
            0
        } else {
            file.line_span(line_no, 1)?.start as usize
        };
        // Walk the cut line to the column ariadne counted, then map back to the original.
        let cut_start = to_cut(cuts, line_start);
        let cut_offset = cut
            .get(cut_start..)?
            .char_indices()
            .nth(column.parse::<usize>().ok()?.checked_sub(1)?)
            .map_or(cut.len(), |(i, _)| cut_start + i);
        let original = from_cut(cuts, cut_offset);
        let (_, true_column) = file.line_col(u32::try_from(original).ok()?);
        let written = format!("{reference} ");
        let at = line.rfind(&written)?;
        Some(format!(
            "{}{rest}:{true_column} {}",
            &line[..at],
            &line[at + written.len()..]
        ))
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The byte ranges to cut from `file`: on each line longer than [`LONG_LINE`] holding one of
/// `points` (sorted), everything farther than [`CONTEXT`] from all of them.
fn cuts_of(file: &crate::source::SourceFile, points: &[usize]) -> Vec<std::ops::Range<usize>> {
    let text = &file.text;
    let mut cuts = Vec::new();
    let mut i = 0;
    while let Some(&point) = points.get(i) {
        let line = file.line_range(u32::try_from(point).unwrap_or(u32::MAX));
        let on_line = points[i..].iter().take_while(|&&p| p <= line.end).count();
        let line_points = &points[i..i + on_line];
        i += on_line.max(1);
        if line.len() <= LONG_LINE {
            continue;
        }
        let mut kept_to = line.start;
        for &p in line_points {
            let from = floor_char(text, p.saturating_sub(CONTEXT).max(line.start));
            let to = ceil_char(text, (p + CONTEXT).min(line.end));
            if from > kept_to + ELLIPSIS.len() {
                cuts.push(kept_to..from);
            }
            kept_to = kept_to.max(to);
        }
        if line.end > kept_to + ELLIPSIS.len() {
            cuts.push(kept_to..line.end);
        }
    }
    cuts
}

/// `text` safe to print on a terminal and split into lines as pipec counts them: every control
/// character but tab, line feed and the carriage return of a CRLF, and the Unicode line and
/// paragraph separators and the bidirectional controls (E0013), become a placeholder of the same
/// UTF-8 length (`?`, `¿`, `�`), so no offset moves. Without this a file could move the cursor
/// or recolour the terminal (ESC sequences), or reorder the quoted line (U+202E), in a CI log, and ariadne, which also breaks lines at a lone CR, vertical tab,
/// form feed, NEL and U+2028/9, would number lines differently from JSON, SARIF and the
/// language server.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |(i, c): (usize, char)| {
        let crlf = c == '\r' && text.as_bytes().get(i + 1) == Some(&b'\n');
        (c.is_control() && c != '\t' && c != '\n' && !crlf)
            || matches!(c, '\u{2028}' | '\u{2029}')
            || pipec_syntax::lexer::is_bidi_control(c)
    };
    if !text.char_indices().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if unsafe_char((i, c)) {
            out.push(match c.len_utf8() {
                1 => '?',
                2 => '¿',
                _ => '\u{fffd}',
            });
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` with each of `cuts` replaced by [`ELLIPSIS`].
fn cut_text(text: &str, cuts: &[std::ops::Range<usize>]) -> String {
    if cuts.is_empty() {
        return text.to_string();
    }
    let mut out = String::new();
    let mut from = 0;
    for cut in cuts {
        out.push_str(text.get(from..cut.start).unwrap_or(""));
        out.push_str(ELLIPSIS);
        from = cut.end;
    }
    out.push_str(text.get(from..).unwrap_or(""));
    out
}

/// An original offset as an offset of the cut text; inside a cut, the cut's ellipsis.
fn to_cut(cuts: &[std::ops::Range<usize>], offset: usize) -> usize {
    let before = cuts.partition_point(|c| c.end <= offset);
    let removed: usize = cuts[..before]
        .iter()
        .map(|c| c.len() - ELLIPSIS.len())
        .sum();
    match cuts.get(before) {
        Some(cut) if cut.start < offset => cut.start - removed,
        _ => offset - removed,
    }
}

/// An offset of the cut text as an original offset; on an ellipsis, where its cut starts.
fn from_cut(cuts: &[std::ops::Range<usize>], offset: usize) -> usize {
    let mut shift = 0;
    for cut in cuts {
        let cut_start = cut.start - shift;
        if offset < cut_start {
            break;
        }
        if offset < cut_start + ELLIPSIS.len() {
            return cut.start;
        }
        shift += cut.len() - ELLIPSIS.len();
    }
    offset + shift
}

fn floor_char(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

fn ceil_char(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset += 1;
    }
    offset
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
    let excerpts = Excerpts::new(sources, std::iter::once(span));
    let range = excerpts.range(span);
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
    let mut buf = Vec::new();
    builder.finish().write(excerpts.cache(), &mut buf).ok()?;
    Some(excerpts.true_headers(&String::from_utf8_lossy(&buf)))
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
    excerpts: &Excerpts<'_>,
    options: RenderOptions,
) -> Report<'a, (String, std::ops::Range<usize>)> {
    let sources = excerpts.sources;
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
    let mut builder = Report::build(kind, (name(primary), excerpts.range(primary)))
        .with_config(
            Config::default()
                .with_color(options.color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(diagnostic.code)
        .with_message(&diagnostic.message)
        .with_label(
            ALabel::new((name(primary), excerpts.range(primary)))
                .with_message(&diagnostic.primary.message)
                .with_color(primary_color)
                .with_order(order(0)),
        );
    for (i, label) in diagnostic.secondary.iter().enumerate() {
        builder = builder.with_label(
            ALabel::new((name(label.span), excerpts.range(label.span)))
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

/// The most results one SARIF run holds, errors first: GitHub code scanning rejects an upload
/// with more than 25,000 results in a run ("SARIF results exceed hard limit", docs.github.com,
/// code-security/code-scanning/troubleshooting-sarif-uploads/results-exceed-limit).
pub const MAX_SARIF_RESULTS: usize = 25_000;

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
    let all: Vec<(&SourceDb, &Diagnostic)> = inputs
        .iter()
        .flat_map(|input| input.diagnostics.iter().map(|d| (input.sources, d)))
        .collect();
    let total = all.len();
    let kept = errors_first(all, MAX_SARIF_RESULTS, |(_, d)| d.is_error());
    let omitted = total - kept.len();
    let mut results = Vec::new();
    {
        for (sources, d) in kept {
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
                    let mut loc = sarif_location(l.span, sources);
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
                "locations": [sarif_location(d.primary.span, sources)],
            });
            if !related.is_empty() {
                result["relatedLocations"] = serde_json::Value::Array(related);
            }
            results.push(result);
        }
    }
    let mut run = serde_json::json!({
        "tool": {"driver": {
            "name": "pipec",
            "version": version,
            "informationUri": "https://github.com/pipec/pipec",
            "rules": rules,
        }},
        "results": results,
    });
    if omitted > 0 {
        run["invocations"] = serde_json::json!([{
            "executionSuccessful": true,
            "toolExecutionNotifications": [{
                "level": "warning",
                "message": {"text": format!(
                    "{omitted} more results not included: GitHub code scanning rejects a run of more than {MAX_SARIF_RESULTS}; `--format json` lists every diagnostic"
                )},
            }],
        }]);
    }
    let log = serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
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
