//! The lexer: source text → tokens, comments and lexical errors.
//!
//! It never fails. Anything it cannot make sense of becomes an error entry plus, where the
//! parser benefits from it, a stand-in token (`BadNumber`, a closing `StrEnd` for an
//! unterminated string), so one bad character does not turn the rest of the file into noise.

use crate::span::{FileId, Span};
use crate::token::{Comment, Quote, Token};

/// A lexical error. The compiler turns each kind into a coded diagnostic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexErrorKind {
    /// One or more characters that start no token.
    InvalidCharacters(String),
    UnterminatedString,
    /// A `"""` string still open at the end of the file; the span is its opening `"""`.
    UnterminatedTripleString,
    UnterminatedInterpolation,
    UnterminatedRegex,
    /// A backslash escape that single-quoted strings do not know, e.g. `\q`.
    InvalidEscape(String),
    /// A digit-led word that is not an int, float, duration or percent, e.g. `1h30`.
    InvalidNumber(String),
    /// An opening bracket, quote or `${` more than [`MAX_NESTING`] levels deep; what it opens
    /// was cut out of the token stream.
    NestedTooDeeply,
    /// A bidirectional text control character (U+202E RIGHT-TO-LEFT OVERRIDE, …) in a string
    /// or comment, the first of its line: it makes an editor show the text in another order
    /// than pipec reads it ("Trojan Source", CVE-2021-42574).
    BidiControl(char),
}

/// The characters that reorder how text is displayed, as rustc's
/// `text_direction_codepoint_in_literal` lint lists them: the embeddings, overrides and
/// isolates of Unicode's bidirectional algorithm (UAX #9), the left-to-right and right-to-left
/// marks and the Arabic letter mark.
pub const BIDI_CONTROLS: [(char, &str); 12] = [
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{061C}', "ARABIC LETTER MARK"),
];

/// Whether `c` is one of [`BIDI_CONTROLS`].
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Everything the lexer produces for one file.
#[derive(Debug, Default)]
pub struct Lexed<'src> {
    pub tokens: Vec<(Token<'src>, Span)>,
    pub comments: Vec<Comment>,
    pub errors: Vec<LexError>,
}

/// The byte order mark some Windows editors write first. rustc, Go and most YAML tools accept
/// one at the start of a file; so does pipec, there only (elsewhere it is an invisible character,
/// E0007).
pub const BOM: &str = "\u{feff}";

/// Lexes one file. `file` is stamped into every span; a leading [`BOM`] is skipped, spans still
/// count it.
///
/// The lexer is a hand-written state machine with an explicit stack of open strings and
/// interpolations, so it is linear in the input and uses no call stack however deep strings
/// nest; [`bound_nesting`] then caps how deep the parser has to go.
pub fn lex(src: &str, file: FileId) -> Lexed<'_> {
    let skipped = if src.starts_with(BOM) { BOM.len() } else { 0 };
    let mut machine = Machine {
        src,
        bytes: src.as_bytes(),
        pos: skipped,
        file,
        out: Lexed::default(),
        pending_invalid: None,
        unclosed_triple_reported: false,
    };
    machine.run();
    let mut out = machine.finish();
    bound_nesting(&mut out);
    out.errors.sort_by_key(|e| (e.span.start, e.span.end));
    report_bidi_controls(src, file, &mut out.errors);
    drop_follow_on_errors(src, &mut out.errors);
    out
}

/// Reports the first bidirectional control character ([`BIDI_CONTROLS`]) of each line that
/// holds one outside the characters already refused as invalid (where it is code, not text, and
/// E0007 reports it): inside strings and comments it would be accepted, and shown reordered.
/// `errors` is sorted by position before and after; linear.
fn report_bidi_controls(src: &str, file: FileId, errors: &mut Vec<LexError>) {
    if !src.chars().any(is_bidi_control) {
        return;
    }
    let mut found = Vec::new();
    let mut invalid = errors
        .iter()
        .filter(|e| matches!(e.kind, LexErrorKind::InvalidCharacters(_)))
        .map(|e| e.span.start as usize..e.span.end as usize)
        .peekable();
    let mut line_reported = false;
    for (at, c) in src.char_indices() {
        if c == '\n' {
            line_reported = false;
            continue;
        }
        if line_reported || !is_bidi_control(c) {
            continue;
        }
        while invalid.peek().is_some_and(|r| r.end <= at) {
            invalid.next();
        }
        if invalid.peek().is_some_and(|r| r.start <= at) {
            continue;
        }
        line_reported = true;
        found.push(LexError {
            kind: LexErrorKind::BidiControl(c),
            span: Span::new(file, at..at + c.len_utf8()),
        });
    }
    errors.extend(found);
    errors.sort_by_key(|e| (e.span.start, e.span.end));
}

/// Drops lexical errors that only follow from an earlier one on the same line:
///
/// - every error after an unterminated string or interpolation: once a quote is missing, every
///   later quote on the line flips what is text and what is code (`"${"${"${` is one mistake,
///   not three of each kind);
/// - every further run of invalid characters after the first: a line of garbage (`${${${…` in
///   code, binary) is one mistake, not one per character.
///
/// Errors on later lines are kept: a single-quoted string ends at the line break, so they are
/// independent. `errors` must be sorted by position; linear.
fn drop_follow_on_errors(src: &str, errors: &mut Vec<LexError>) {
    let line_end = |start: usize| {
        let rest = src.get(start..).unwrap_or("");
        start + rest.find('\n').unwrap_or(rest.len())
    };
    let mut quiet_until = 0usize;
    let mut invalid_until = 0usize;
    errors.retain(|error| {
        let start = error.span.start as usize;
        if start < quiet_until {
            return false;
        }
        match error.kind {
            LexErrorKind::UnterminatedString | LexErrorKind::UnterminatedInterpolation => {
                quiet_until = line_end(start);
            }
            LexErrorKind::InvalidCharacters(_) => {
                if start < invalid_until {
                    return false;
                }
                invalid_until = line_end(start);
            }
            _ => {}
        }
        true
    });
}

/// How deep brackets, strings and interpolations may nest, counted together: far beyond any
/// real pipeline (a service's record inside a release inside a pipeline is about six), and low
/// enough that every recursive phase after the lexer (parser, type checker, lowering, formatter,
/// language server) stays well within a 2 MiB thread stack.
pub const MAX_NESTING: usize = 64;

/// Cuts out every region nested deeper than [`MAX_NESTING`]: the region from the opening token
/// to its matching closer (or to the end of the enclosing string, interpolation or file, if it
/// is never closed) becomes one [`Token::Elided`], which the parser reads as an expression
/// already reported, and one [`LexErrorKind::NestedTooDeeply`] error points at the opener.
/// Inside an interpolation the `${`/`}` pair is kept and only its content is elided, so the
/// string around it still parses. Lexical errors inside a region stay: that text is still wrong.
/// Linear: every token is looked at once.
fn bound_nesting(lexed: &mut Lexed<'_>) {
    let mut probe = Nesting::default();
    let deepest = lexed
        .tokens
        .iter()
        .map(|(t, _)| probe.apply(t))
        .max()
        .unwrap_or(0);
    if deepest <= MAX_NESTING {
        return;
    }
    // Compacted in place (`write` never passes `read`): a second token vector would double
    // the lexer's peak memory on exactly the inputs this is for.
    let tokens = &mut lexed.tokens;
    let mut nesting = Nesting::default();
    let (mut read, mut write) = (0, 0);
    // Whether `tokens[read]` was already counted, as the token that ended the last region.
    let mut counted = false;
    while let Some((token, span)) = tokens.get(read).cloned() {
        let before = nesting.depth;
        let depth = if std::mem::take(&mut counted) {
            nesting.depth
        } else {
            nesting.apply(&token)
        };
        if depth <= MAX_NESTING || depth <= before {
            tokens.swap(write, read);
            write += 1;
            read += 1;
            continue;
        }
        // Too deep: find where the depth falls back to what this opener found.
        let mut matched = None;
        let mut end = tokens.len();
        for (j, (t, _)) in tokens.iter().enumerate().skip(read + 1) {
            let depth = nesting.apply(t);
            if depth < before {
                end = j;
                counted = true;
                break;
            }
            if depth == before {
                matched = Some(j);
                end = j + 1;
                break;
            }
        }
        lexed.errors.push(LexError {
            kind: LexErrorKind::NestedTooDeeply,
            span,
        });
        let last = tokens.get(end.saturating_sub(1)).map_or(span, |(_, s)| *s);
        // What replaces tokens[read..end]: never more tokens than it replaces.
        let replacement: Vec<(Token<'_>, Span)> = if token == Token::InterpStart {
            let inner_end = matched.map_or(end, |j| j);
            let closer = matched.and_then(|j| tokens.get(j).cloned());
            let inner = (inner_end > read + 1).then(|| {
                let inner_last = tokens.get(inner_end - 1).map_or(span, |(_, s)| *s);
                (
                    Token::Elided,
                    Span::new(
                        span.file,
                        span.end as usize..inner_last.end.max(span.end) as usize,
                    ),
                )
            });
            std::iter::once((Token::InterpStart, span))
                .chain(inner)
                .chain(closer)
                .collect()
        } else {
            vec![(Token::Elided, span.to(last))]
        };
        for entry in replacement {
            if let Some(slot) = tokens.get_mut(write) {
                *slot = entry;
            }
            write += 1;
        }
        read = end;
    }
    tokens.truncate(write);
}

/// Nesting depth over the token stream, as [`bound_nesting`] counts it. Strings and
/// interpolations are always closed by the lexer (it emits a stand-in closer when the source
/// does not), so they bound the count: their closer returns to the depth they opened at, and a
/// bracket closer never pops past the innermost open string or interpolation. An unclosed
/// bracket therefore cannot make later, well-nested text look deep.
#[derive(Default)]
struct Nesting {
    depth: usize,
    /// The depth of each open string and interpolation, innermost last.
    floors: Vec<usize>,
}

impl Nesting {
    /// Applies one token and returns the depth after it.
    fn apply(&mut self, token: &Token<'_>) -> usize {
        match token {
            Token::Ctrl('{' | '(' | '[') => self.depth += 1,
            Token::StrStart(_) | Token::InterpStart => {
                self.depth += 1;
                self.floors.push(self.depth);
            }
            Token::Ctrl('}' | ')' | ']')
                if self.depth > self.floors.last().copied().unwrap_or(0) =>
            {
                self.depth -= 1;
            }
            Token::StrEnd | Token::InterpEnd => {
                if let Some(level) = self.floors.pop() {
                    self.depth = level - 1;
                }
            }
            _ => {}
        }
        self.depth
    }
}

/// Reports unknown escapes in single-quoted string text (triple-quoted strings keep
/// backslashes literally).
fn check_escapes(text: &str, span: Span, errors: &mut Vec<LexError>) {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        let Some((_, e)) = chars.next() else {
            errors.push(LexError {
                kind: LexErrorKind::InvalidEscape("\\".to_string()),
                span: Span::new(
                    span.file,
                    span.start as usize + i..span.start as usize + i + 1,
                ),
            });
            break;
        };
        let ok = match e {
            '"' | '\\' | 'n' | 't' | 'r' | '$' | '0' => true,
            'u' => unicode_escape(&mut chars).is_some(),
            _ => false,
        };
        if !ok {
            let end = chars.peek().map_or(text.len(), |(j, _)| *j);
            let end = if e == 'u' { end } else { i + 1 + e.len_utf8() };
            errors.push(LexError {
                kind: LexErrorKind::InvalidEscape(text.get(i..end).unwrap_or("\\").to_string()),
                span: Span::new(
                    span.file,
                    span.start as usize + i..span.start as usize + end,
                ),
            });
        }
    }
}

/// Reads `{XXXX}` after `\u`; `None` if malformed or not a Unicode scalar value.
fn unicode_escape(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<char> {
    chars.next_if(|(_, c)| *c == '{')?;
    let mut hex = String::new();
    while let Some((_, c)) = chars.next_if(|(_, c)| c.is_ascii_hexdigit()) {
        hex.push(c);
    }
    chars.next_if(|(_, c)| *c == '}')?;
    if hex.is_empty() || hex.len() > 6 {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
}

/// Decodes the escapes of single-quoted string text. Unknown escapes (already reported by the
/// lexer) are kept as written. A source line break is `\n` whichever way the file ends its lines:
/// the carriage return of a CRLF never reaches a script or YAML.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '\r' && chars.peek().is_some_and(|(_, next)| *next == '\n') {
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, '0')) => out.push('\0'),
            Some((_, 'u')) => {
                let mut probe = chars.clone();
                match unicode_escape(&mut probe) {
                    Some(ch) => {
                        out.push(ch);
                        chars = probe;
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some((_, e @ ('"' | '\\' | '$'))) => out.push(e),
            Some((_, e)) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Decodes triple-quoted string text: only `\${` is an escape there. CRLF line breaks become
/// `\n`, as in [`unescape`].
pub fn unescape_triple(text: &str) -> String {
    text.replace("\r\n", "\n").replace("\\${", "${")
}

/// Classifies a digit-led word.
fn classify_number(word: &str) -> Token<'_> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return Token::Int(word);
    }
    if is_float(word) {
        return Token::Float(word);
    }
    if is_duration(word) {
        return Token::Duration(word);
    }
    Token::BadNumber(word)
}

fn is_float(word: &str) -> bool {
    match word.split_once('.') {
        Some((int, frac)) => {
            !int.is_empty()
                && !frac.is_empty()
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// `30s`, `10m`, `1h30m`, `2d`: one or more digit runs, each followed by a unit; units may
/// not repeat and must go from larger to smaller.
pub fn is_duration(word: &str) -> bool {
    duration_seconds(word).is_some()
}

/// The value of a duration literal in seconds, or `None` if it is malformed or overflows.
pub fn duration_seconds(word: &str) -> Option<u64> {
    let bytes = word.as_bytes();
    let mut i = 0;
    let mut total: u64 = 0;
    let mut last_rank = usize::MAX;
    if bytes.is_empty() {
        return None;
    }
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let value: u64 = word.get(start..i)?.parse().ok()?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let (rank, factor) = match word.get(unit_start..i)? {
            "d" => (3, 86_400),
            "h" => (2, 3_600),
            "m" => (1, 60),
            "s" => (0, 1),
            _ => return None,
        };
        if rank >= last_rank {
            return None;
        }
        last_rank = rank;
        total = total.checked_add(value.checked_mul(factor)?)?;
    }
    Some(total)
}

/// What the lexer is inside of. The stack of these replaces recursion: a string inside an
/// interpolation inside a string is three entries, not three call frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `${ … }` inside a string. In a single-quoted string it also ends (unterminated) at a line
    /// break or a `"`; in a triple-quoted one it may span lines.
    Interpolation {
        single: bool,
        started: bool,
    },
    Single,
    /// A triple-quoted string whose `"""` starts at `opened`: the error for one never closed
    /// points there, not at the end of the file.
    Triple {
        opened: usize,
    },
}

/// The lexer's state: a cursor over the text, the stack of open strings and interpolations,
/// and what has been produced so far.
struct Machine<'src> {
    src: &'src str,
    bytes: &'src [u8],
    pos: usize,
    file: FileId,
    out: Lexed<'src>,
    /// Adjacent invalid characters become one error; this is the run being collected.
    pending_invalid: Option<Span>,
    /// Whether a triple-quoted string left open at the end was reported.
    unclosed_triple_reported: bool,
}

impl<'src> Machine<'src> {
    fn run(&mut self) {
        let mut modes: Vec<Mode> = Vec::new();
        loop {
            match modes.last().copied() {
                None => {
                    self.skip_while(char::is_whitespace);
                    if self.pos >= self.bytes.len() {
                        break;
                    }
                    if self.at("//") {
                        self.comment();
                    } else {
                        self.lexeme(&mut modes);
                    }
                }
                Some(Mode::Interpolation { single, started }) => {
                    let save = self.pos;
                    let pad: fn(char) -> bool = if single {
                        |c| matches!(c, ' ' | '\t' | '\r')
                    } else {
                        |c| matches!(c, ' ' | '\t' | '\r' | '\n')
                    };
                    self.skip_while(pad);
                    let stop = match self.bytes.get(self.pos) {
                        None | Some(b'}') => true,
                        Some(b'\n' | b'"') => single,
                        Some(_) => false,
                    };
                    if stop {
                        // Only the padding after a lexeme is kept; `${ }` ends right after `${`.
                        if !started {
                            self.pos = save;
                        }
                        modes.pop();
                        if self.bytes.get(self.pos) == Some(&b'}') {
                            self.token(Token::InterpEnd, self.pos, self.pos + 1);
                        } else {
                            self.marker(LexErrorKind::UnterminatedInterpolation, Token::InterpEnd);
                        }
                    } else {
                        if let Some(Mode::Interpolation { started, .. }) = modes.last_mut() {
                            *started = true;
                        }
                        self.lexeme(&mut modes);
                    }
                }
                Some(Mode::Single) => match self.bytes.get(self.pos) {
                    Some(b'"') => {
                        modes.pop();
                        self.token(Token::StrEnd, self.pos, self.pos + 1);
                    }
                    None | Some(b'\n') => {
                        modes.pop();
                        self.marker(LexErrorKind::UnterminatedString, Token::StrEnd);
                    }
                    Some(_) if self.at("${") => self.interpolation(&mut modes, true),
                    Some(_) => self.single_text(),
                },
                Some(Mode::Triple { opened }) => {
                    if self.at("\"\"\"") {
                        modes.pop();
                        self.token(Token::StrEnd, self.pos, self.pos + 3);
                    } else if self.pos >= self.bytes.len() {
                        modes.pop();
                        self.flush_invalid();
                        let opener = self.span(opened, opened + 3);
                        // All end here; the innermost says what is missing.
                        if !std::mem::replace(&mut self.unclosed_triple_reported, true) {
                            self.out.errors.push(LexError {
                                kind: LexErrorKind::UnterminatedTripleString,
                                span: opener,
                            });
                        }
                        let end = self.span(self.pos, self.pos);
                        self.out.tokens.push((Token::StrEnd, end));
                    } else if self.at("${") {
                        self.interpolation(&mut modes, false);
                    } else {
                        self.triple_text();
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Lexed<'src> {
        self.flush_invalid();
        self.out
    }

    fn at(&self, text: &str) -> bool {
        self.bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(text.as_bytes()))
    }

    fn peek_char(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while let Some(c) = self.peek_char() {
            if !keep(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start..end)
    }

    fn slice(&self, start: usize, end: usize) -> &'src str {
        self.src.get(start..end).unwrap_or_default()
    }

    /// Emits a token covering `start..end` and moves past it.
    fn token(&mut self, token: Token<'src>, start: usize, end: usize) {
        self.flush_invalid();
        if let Token::BadNumber(text) = token {
            self.out.errors.push(LexError {
                kind: LexErrorKind::InvalidNumber(text.to_string()),
                span: self.span(start, end),
            });
        }
        self.out.tokens.push((token, self.span(start, end)));
        self.pos = end;
    }

    /// A zero-width stand-in closer where a string or interpolation ends without one.
    /// A stand-in closer for a string or interpolation the source never closes, and its error;
    /// when many end unclosed at one place (the end of a file), only the first is reported.
    fn marker(&mut self, kind: LexErrorKind, closer: Token<'src>) {
        self.flush_invalid();
        let span = self.span(self.pos, self.pos);
        let repeated = self.out.errors.last().is_some_and(|last| {
            last.span == span
                && matches!(
                    last.kind,
                    LexErrorKind::UnterminatedString | LexErrorKind::UnterminatedInterpolation
                )
        });
        if !repeated {
            self.out.errors.push(LexError { kind, span });
        }
        self.out.tokens.push((closer, span));
    }

    fn flush_invalid(&mut self) {
        if let Some(span) = self.pending_invalid.take() {
            self.out.errors.push(LexError {
                kind: LexErrorKind::InvalidCharacters(
                    self.slice(span.start as usize, span.end as usize)
                        .to_string(),
                ),
                span,
            });
        }
    }

    fn comment(&mut self) {
        self.flush_invalid();
        let start = self.pos;
        let end = self.bytes[start..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(self.bytes.len(), |n| start + n);
        let text = self.slice(start + 2, end);
        let (doc, text) = match text.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        self.out.comments.push(Comment {
            span: self.span(start, end),
            text: text.trim_end_matches('\r').to_string(),
            doc,
        });
        self.pos = end;
    }

    fn interpolation(&mut self, modes: &mut Vec<Mode>, single: bool) {
        self.token(Token::InterpStart, self.pos, self.pos + 2);
        modes.push(Mode::Interpolation {
            single,
            started: false,
        });
    }

    /// One token of code, at a position that is not whitespace and not the end of the input.
    fn lexeme(&mut self, modes: &mut Vec<Mode>) {
        let start = self.pos;
        let Some(c) = self.peek_char() else { return };
        if self.at("\"\"\"") {
            self.token(Token::StrStart(Quote::Triple), start, start + 3);
            modes.push(Mode::Triple { opened: start });
            return;
        }
        match c {
            '"' => {
                self.token(Token::StrStart(Quote::Single), start, start + 1);
                modes.push(Mode::Single);
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                let end = self.scan(start + 1, |b| b.is_ascii_alphanumeric() || b == b'_');
                self.token(Token::Ident(self.slice(start, end)), start, end);
            }
            '0'..='9' => self.number(start),
            '.' if self.at("./") || self.at("../") => {
                let mut end = start + if self.at("./") { 2 } else { 3 };
                while let Some(c) = self.src.get(end..).and_then(|r| r.chars().next()) {
                    if c.is_whitespace() || "{}()[],;\"".contains(c) {
                        break;
                    }
                    end += c.len_utf8();
                }
                self.token(Token::FilePath(self.slice(start, end)), start, end);
            }
            '/' => self.regex(start),
            _ => {
                const OPS: [&str; 8] = ["==", "!=", "!~", "<=", ">=", "~", "<", ">"];
                if let Some(op) = OPS.iter().find(|op| self.at(op)) {
                    let end = start + op.len();
                    self.token(Token::Op(self.slice(start, end)), start, end);
                } else if "{}()[],;:.=".contains(c) {
                    self.token(Token::Ctrl(c), start, start + 1);
                } else {
                    // Not the start of any token: one invalid character, merged with its neighbours.
                    let span = self.span(start, start + c.len_utf8());
                    self.pending_invalid = Some(match self.pending_invalid.take() {
                        Some(run) if run.end == span.start => run.to(span),
                        Some(run) => {
                            self.pending_invalid = Some(run);
                            self.flush_invalid();
                            span
                        }
                        None => span,
                    });
                    self.pos = span.end as usize;
                }
            }
        }
    }

    /// The end of the run of bytes from `from` that satisfy `keep`.
    fn scan(&self, from: usize, keep: impl Fn(u8) -> bool) -> usize {
        from + self.bytes[from..].iter().take_while(|b| keep(**b)).count()
    }

    /// A digit-led word: digits, letters, `_`, and `.` before a digit; then an optional `%`.
    fn number(&mut self, start: usize) {
        let mut end = start + 1;
        loop {
            match self.bytes.get(end) {
                Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => end += 1,
                Some(b'.') if self.bytes.get(end + 1).is_some_and(u8::is_ascii_digit) => end += 2,
                _ => break,
            }
        }
        let word = self.slice(start, end);
        let token = if self.bytes.get(end) == Some(&b'%') {
            let token = if word.bytes().all(|b| b.is_ascii_digit()) || is_float(word) {
                Token::Percent(word)
            } else {
                Token::BadNumber(word)
            };
            end += 1;
            token
        } else {
            classify_number(word)
        };
        self.token(token, start, end);
    }

    /// `/…/`; without the closing slash on its line, an unterminated pattern.
    fn regex(&mut self, start: usize) {
        let mut end = start + 1;
        loop {
            match self.bytes.get(end) {
                Some(b'\\') => {
                    end += 1;
                    if let Some(c) = self.src.get(end..).and_then(|r| r.chars().next())
                        && c != '\n'
                    {
                        end += c.len_utf8();
                    }
                }
                Some(b'/') => {
                    let body = self.slice(start + 1, end);
                    self.token(Token::Regex(body), start, end + 1);
                    return;
                }
                None | Some(b'\n') => break,
                Some(_) => end += 1,
            }
        }
        let body = self.slice(start + 1, end);
        self.flush_invalid();
        self.out.errors.push(LexError {
            kind: LexErrorKind::UnterminatedRegex,
            span: self.span(start, end),
        });
        self.token(Token::Regex(body), start, end);
    }

    /// Text of a single-quoted string up to its end, a line break or `${`. A backslash takes
    /// the next character with it (so `\"` and `\${` are text); escapes are checked here.
    fn single_text(&mut self) {
        let start = self.pos;
        let mut end = start;
        loop {
            match self.bytes.get(end) {
                None | Some(b'"' | b'\n') => break,
                Some(b'$') if self.bytes.get(end + 1) == Some(&b'{') => break,
                Some(b'\\') => {
                    end += 1;
                    if let Some(c) = self.src.get(end..).and_then(|r| r.chars().next())
                        && c != '\n'
                    {
                        end += c.len_utf8();
                    }
                }
                Some(_) => end += 1,
            }
        }
        let span = self.span(start, end);
        let text = self.slice(start, end);
        self.token(Token::StrText(text), start, end);
        check_escapes(text, span, &mut self.out.errors);
    }

    /// Text of a triple-quoted string up to `"""`, `${` or the end of the input; `\${` is text.
    fn triple_text(&mut self) {
        let start = self.pos;
        let mut end = start;
        loop {
            let rest = &self.bytes[end..];
            if rest.is_empty() || rest.starts_with(b"\"\"\"") || rest.starts_with(b"${") {
                break;
            }
            end += if rest.starts_with(b"\\${") { 3 } else { 1 };
        }
        self.token(Token::StrText(self.slice(start, end)), start, end);
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<String> {
        lex(src, FileId(0))
            .tokens
            .iter()
            .map(|(t, _)| format!("{t:?}"))
            .collect()
    }

    #[test]
    fn words_numbers_and_units() {
        assert_eq!(
            kinds("replicas 1 of 3 pause 1h30m weight 10% min 99.5% x 0.95"),
            vec![
                "Ident(\"replicas\")",
                "Int(\"1\")",
                "Ident(\"of\")",
                "Int(\"3\")",
                "Ident(\"pause\")",
                "Duration(\"1h30m\")",
                "Ident(\"weight\")",
                "Percent(\"10\")",
                "Ident(\"min\")",
                "Percent(\"99.5\")",
                "Ident(\"x\")",
                "Float(\"0.95\")",
            ]
        );
    }

    #[test]
    fn durations_are_validated() {
        assert_eq!(duration_seconds("1h30m"), Some(5400));
        assert_eq!(duration_seconds("2d"), Some(172_800));
        assert_eq!(duration_seconds("30m1h"), None);
        assert_eq!(duration_seconds("1h30"), None);
        assert_eq!(duration_seconds("5x"), None);
        let lexed = lex("x = 1h30", FileId(0));
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(
            lexed.errors[0].kind,
            LexErrorKind::InvalidNumber("1h30".into())
        );
    }

    #[test]
    fn strings_with_interpolation() {
        assert_eq!(
            kinds(r#""a${ b.c }d""#),
            vec![
                "StrStart(Single)",
                "StrText(\"a\")",
                "InterpStart",
                "Ident(\"b\")",
                "Ctrl('.')",
                "Ident(\"c\")",
                "InterpEnd",
                "StrText(\"d\")",
                "StrEnd",
            ]
        );
    }

    #[test]
    fn dollar_without_brace_is_text() {
        assert_eq!(
            kinds(r#""$HOME \${x}""#),
            vec!["StrStart(Single)", "StrText(\"$HOME \\\\${x}\")", "StrEnd"]
        );
        assert_eq!(unescape(r"$HOME \${x}"), "$HOME ${x}");
    }

    #[test]
    fn triple_quoted_strings_keep_backslashes() {
        let src = "\"\"\"\n  echo \"a\\n\" ${x}\n  \"\"\"";
        let lexed = lex(src, FileId(0));
        assert!(lexed.errors.is_empty(), "{:?}", lexed.errors);
        assert_eq!(lexed.tokens.len(), 7);
    }

    #[test]
    fn unterminated_string_recovers_at_end_of_line() {
        let lexed = lex("a = \"oops\nb = 2", FileId(0));
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(lexed.errors[0].kind, LexErrorKind::UnterminatedString);
        // `b = 2` is still lexed.
        assert!(lexed.tokens.iter().any(|(t, _)| *t == Token::Ident("b")));
    }

    #[test]
    fn invalid_characters_merge_into_one_error() {
        let lexed = lex("a @@# b", FileId(0));
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(
            lexed.errors[0].kind,
            LexErrorKind::InvalidCharacters("@@#".into())
        );
        assert_eq!(lexed.tokens.len(), 2);
    }

    #[test]
    fn comments_are_kept_aside() {
        let lexed = lex("/// doc\na // note\n", FileId(0));
        assert_eq!(lexed.tokens.len(), 1);
        assert_eq!(lexed.comments.len(), 2);
        assert!(lexed.comments[0].doc);
        assert_eq!(lexed.comments[0].text, " doc");
        assert!(!lexed.comments[1].doc);
    }

    #[test]
    fn regex_and_ops() {
        assert_eq!(
            kinds(r"git.tag ~ /^hotfix\/x/ and a != b"),
            vec![
                "Ident(\"git\")",
                "Ctrl('.')",
                "Ident(\"tag\")",
                "Op(\"~\")",
                "Regex(\"^hotfix\\\\/x\")",
                "Ident(\"and\")",
                "Ident(\"a\")",
                "Op(\"!=\")",
                "Ident(\"b\")",
            ]
        );
    }

    #[test]
    fn invalid_escape_is_reported() {
        let lexed = lex(r#""a\qb""#, FileId(0));
        assert_eq!(
            lexed.errors[0].kind,
            LexErrorKind::InvalidEscape("\\q".into())
        );
        assert_eq!(lexed.errors[0].span.range(), 2..4);
    }

    /// In strings and comments a bidirectional control is E0013's, the first of each line
    /// only; in code it is an invalid character and reported as that alone; every one of
    /// [`BIDI_CONTROLS`] counts, and an escape of one does not.
    #[test]
    fn bidirectional_controls_in_text_are_reported_once_per_line() {
        let kinds = |src: &str| -> Vec<(LexErrorKind, std::ops::Range<usize>)> {
            lex(src, FileId(0))
                .errors
                .into_iter()
                .map(|e| (e.kind, e.span.range()))
                .collect()
        };
        assert_eq!(
            kinds("x = \"a\u{202E}b\u{2066}\" // c\u{202E}\ny = 1 // \u{2069}"),
            [
                (LexErrorKind::BidiControl('\u{202E}'), 6..9),
                (LexErrorKind::BidiControl('\u{2069}'), 32..35),
            ]
        );
        let code = kinds("x = \u{202E}1");
        assert_eq!(code.len(), 1);
        assert!(
            matches!(code[0].0, LexErrorKind::InvalidCharacters(_)),
            "{code:?}"
        );
        for (c, _) in BIDI_CONTROLS {
            assert!(is_bidi_control(c));
            let found = kinds(&format!("// {c}"));
            assert_eq!(found, [(LexErrorKind::BidiControl(c), 3..3 + c.len_utf8())]);
        }
        assert!(kinds(r#"x = "\u{202E}""#).is_empty());
        assert!(kinds("// \u{200D} and \u{2070} are not controls").is_empty());
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        let garbage: String = (0u32..2000)
            .filter_map(|i| char::from_u32((i * 7919) % 0x2FFF))
            .collect();
        let lexed = lex(&garbage, FileId(0));
        assert!(!lexed.errors.is_empty());
    }
}

#[cfg(test)]
mod nesting_tests {
    use super::*;

    /// The deepest point of a token stream, counted afresh.
    fn deepest(tokens: &[(Token<'_>, Span)]) -> usize {
        let mut nesting = Nesting::default();
        tokens
            .iter()
            .map(|(t, _)| nesting.apply(t))
            .max()
            .unwrap_or(0)
    }

    /// Whatever mix of brackets, quotes and interpolations comes in, and however they fail to
    /// close, what reaches the parser is at most one level deeper than the limit (a kept `${`
    /// whose content was cut). Inputs from a fixed-seed generator, so failures reproduce.
    #[test]
    fn no_input_reaches_the_parser_deeper_than_the_limit() {
        const PIECES: [&str; 12] = [
            "\"\"\"${", "\"${", "}", "\"\"\"", "\"", "(", ")", "[", "]", "{", "x ", "\n",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..300 {
            let mut src = String::new();
            // Mostly openers, so that the limit is reached often.
            for _ in 0..next(3000) {
                let piece = if next(3) == 0 {
                    next(PIECES.len())
                } else {
                    next(2) * 5 + next(2) * 2
                };
                src.push_str(PIECES[piece % PIECES.len()]);
            }
            let lexed = lex(&src, FileId(0));
            let depth = deepest(&lexed.tokens);
            assert!(
                depth <= MAX_NESTING + 1,
                "{depth} levels reach the parser for {src:?}"
            );
        }
    }

    #[test]
    fn a_region_closed_by_its_string_leaves_the_count_true() {
        // Each interpolation holds an unclosed run too deep to keep; its `}` closes it. The
        // strings around them stay open, so the true depth keeps growing.
        let src = format!("\"\"\"${{ {} }} ${{", "(".repeat(70)).repeat(40);
        let lexed = lex(&src, FileId(0));
        assert!(deepest(&lexed.tokens) <= MAX_NESTING + 1);
    }
}
