//! The source database: every file of a compilation (entry file, imported files, stdlib
//! modules) with its text and a line index for positions.

use pipec_syntax::{FileId, Span};

/// Where a file came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file the user gave or imported; the name is relative to the entry file's directory.
    User,
    /// A standard library module embedded in the binary, e.g. `std.analysis`.
    Std(String),
}

#[derive(Clone, Debug)]
pub struct SourceFile {
    pub id: FileId,
    /// What diagnostics and annotations call the file: `addressbook.pipe`, `lib/common.pipe`,
    /// `<std>/analysis.pipe`. Never an absolute path, so output does not depend on the machine.
    pub name: String,
    pub text: String,
    pub origin: Origin,
    line_starts: Vec<u32>,
    /// `chars_at_checkpoint[k]` is the number of characters before byte `k * CHECKPOINT`: with it
    /// a column costs at most one checkpoint's worth of counting, however long the line.
    chars_at_checkpoint: Vec<u32>,
}

/// Bytes between two character-count checkpoints of a [`SourceFile`].
const CHECKPOINT: usize = 1024;

/// Whether a byte starts a UTF-8 character (is not a continuation byte).
fn starts_char(byte: &u8) -> bool {
    byte & 0xC0 != 0x80
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    /// Constant time per call (see `chars_at_checkpoint`), so reporting many diagnostics on one
    /// very long line stays linear. A leading byte order mark is no column: editors do not
    /// show it, and the lexer skips it.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = self.line_index(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0) as usize;
        let start = start.max(self.bom_len(line));
        let end = (offset as usize).min(self.text.len());
        let col = self.chars_before(end) - self.chars_before(start.min(end));
        (line + 1, col + 1)
    }

    /// The length of the byte order mark that opens the file, on its first line (0-based `line`
    /// 0); 0 elsewhere and without one.
    fn bom_len(&self, line: usize) -> usize {
        if line == 0 && self.text.starts_with(pipec_syntax::lexer::BOM) {
            pipec_syntax::lexer::BOM.len()
        } else {
            0
        }
    }

    /// The byte range of the line holding `offset`, without its line break.
    pub fn line_range(&self, offset: u32) -> std::ops::Range<usize> {
        let line = self.line_index(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0) as usize;
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| (next as usize).saturating_sub(1));
        start.min(end)..end
    }

    /// 0-based index of the line holding `offset`.
    fn line_index(&self, offset: u32) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// How many characters the text holds before byte `offset`.
    fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let checkpoint = offset / CHECKPOINT;
        let counted = self
            .chars_at_checkpoint
            .get(checkpoint)
            .copied()
            .unwrap_or(0) as usize;
        let rest = self
            .text
            .as_bytes()
            .get(checkpoint * CHECKPOINT..offset)
            .unwrap_or(&[]);
        counted + rest.iter().filter(|b| starts_char(b)).count()
    }

    /// The span of a 1-based `line` from `column` (in characters) to its last non-blank
    /// character: the inverse of [`SourceFile::line_col`], for locations read back from
    /// generated objects.
    pub fn line_span(&self, line: usize, column: usize) -> Option<Span> {
        let start = *self.line_starts.get(line.checked_sub(1)?)? as usize;
        let start = start.max(self.bom_len(line - 1));
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&e| e as usize);
        let text = self.text.get(start..end)?.trim_end();
        let offset = text
            .char_indices()
            .nth(column.checked_sub(1)?)
            .map(|(i, _)| i)?;
        Some(Span::new(self.id, start + offset..start + text.len()))
    }
}

#[derive(Clone, Debug, Default)]
pub struct SourceDb {
    files: Vec<SourceFile>,
}

impl SourceDb {
    pub fn add(
        &mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        origin: Origin,
    ) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        let text = text.into();
        let mut line_starts = vec![0u32];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX)),
        );
        let mut chars_at_checkpoint = vec![0u32];
        let mut chars = 0u32;
        for chunk in text.as_bytes().chunks(CHECKPOINT) {
            let in_chunk = chunk.iter().filter(|b| starts_char(b)).count();
            chars = chars.saturating_add(u32::try_from(in_chunk).unwrap_or(u32::MAX));
            chars_at_checkpoint.push(chars);
        }
        self.files.push(SourceFile {
            id,
            name: name.into(),
            text,
            origin,
            line_starts,
            chars_at_checkpoint,
        });
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// `file:line:column` of a span's start.
    pub fn location(&self, span: Span) -> String {
        self.location_spelt(span, |name| name.to_string())
    }

    /// [`SourceDb::location`] as the generated objects carry it (`pipec.dev/source`), with
    /// the file name's `{` written `%7B` and its `%` written `%25`. Argo substitutes tags in
    /// every string of a template and of a task's arguments and has no escape for `{{`
    /// (fasttemplate's start tag, upstream `common.ProcessArgs`): a file named
    /// `x{{workflow.name}}.pipe` would otherwise have its location replaced at run time.
    pub fn annotation_location(&self, span: Span) -> String {
        self.location_spelt(span, encode_name)
    }

    /// `file:line:column` with the file name as `spell` writes it.
    fn location_spelt(&self, span: Span, spell: impl Fn(&str) -> String) -> String {
        match self.get(span.file) {
            Some(file) => {
                let (line, col) = file.line_col(span.start);
                format!("{}:{line}:{col}", spell(&file.name))
            }
            None => "<unknown>".to_string(),
        }
    }

    /// The span a `file:line:column` location points at: a [`SourceDb::location`], or an
    /// [`SourceDb::annotation_location`] read back from a generated object.
    pub fn resolve_location(&self, location: &str) -> Option<Span> {
        let (rest, column) = location.rsplit_once(':')?;
        let (name, line) = rest.rsplit_once(':')?;
        let decoded = decode_name(name);
        let file = self
            .files
            .iter()
            .find(|f| f.name == name || f.name == decoded)?;
        file.line_span(line.parse().ok()?, column.parse().ok()?)
    }

    /// The file a `file:line:column` location names, with an
    /// [`SourceDb::annotation_location`]'s escapes undone (`x%7Bb%7D.pipe` → `x{b}.pipe`): the
    /// name to read it by.
    pub fn location_file(location: &str) -> Option<String> {
        let name = location.rsplitn(3, ':').nth(2)?;
        Some(decode_name(name))
    }

    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.range()))
            .unwrap_or("")
    }
}

/// A file name as [`SourceDb::annotation_location`] writes it: `%` → `%25`, `{` → `%7B`.
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            c => out.push(c),
        }
    }
    out
}

/// An [`SourceDb::annotation_location`]'s file name as it was: `%7B` → `{`, `%25` → `%`,
/// read left to right so each escape is undone once.
fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if let Some(after) = escape.strip_prefix("%7B") {
            out.push('{');
            rest = after;
        } else if let Some(after) = escape.strip_prefix("%25") {
            out.push('%');
            rest = after;
        } else {
            out.push('%');
            rest = &escape[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_back_to_spans() {
        let mut db = SourceDb::default();
        let id = db.add("a.pipe", "one\n  é two  \nthree", Origin::User);
        let span = db.resolve_location("a.pipe:2:5");
        assert_eq!(span.map(|s| db.slice(s)), Some("two"));
        assert_eq!(span.map(|s| db.location(s)).as_deref(), Some("a.pipe:2:5"));
        assert_eq!(
            db.resolve_location("a.pipe:3:1").map(|s| db.slice(s)),
            Some("three")
        );
        assert!(db.resolve_location("a.pipe:9:1").is_none());
        assert!(db.resolve_location("a.pipe:1:40").is_none());
        assert!(db.resolve_location("b.pipe:1:1").is_none());
        assert!(db.resolve_location("nonsense").is_none());
        let _ = id;
    }

    #[test]
    fn annotation_locations_hold_no_argo_tag_and_resolve_back() {
        let mut db = SourceDb::default();
        for name in [
            "x{{workflow.name}}.pipe",
            "100%7B.pipe",
            "a%.pipe",
            "plain.pipe",
        ] {
            let id = db.add(name, "one\ntwo", Origin::User);
            let span = Span::new(id, 4..7);
            let location = db.annotation_location(span);
            assert!(!location.contains('{'), "{location}");
            assert_eq!(db.resolve_location(&location), Some(span), "{location}");
            assert_eq!(
                db.resolve_location(&db.location(span)),
                Some(span),
                "{name}"
            );
        }
        assert_eq!(
            db.annotation_location(
                db.resolve_location("x%7B%7Bworkflow.name}}.pipe:2:1")
                    .unwrap()
            ),
            "x%7B%7Bworkflow.name}}.pipe:2:1"
        );
    }
}
