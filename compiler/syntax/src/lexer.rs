//! The lexer: source text → tokens, comments and lexical errors.
//!
//! It never fails. Anything it cannot make sense of becomes an error entry plus, where the
//! parser benefits from it, a stand-in token (`BadNumber`, a closing `StrEnd` for an
//! unterminated string), so one bad character does not turn the rest of the file into noise.

use chumsky::prelude::*;

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
    UnterminatedInterpolation,
    UnterminatedRegex,
    /// A backslash escape that single-quoted strings do not know, e.g. `\q`.
    InvalidEscape(String),
    /// A digit-led word that is not an int, float, duration or percent, e.g. `1h30`.
    InvalidNumber(String),
}

/// Everything the lexer produces for one file.
#[derive(Debug, Default)]
pub struct Lexed<'src> {
    pub tokens: Vec<(Token<'src>, Span)>,
    pub comments: Vec<Comment>,
    pub errors: Vec<LexError>,
}

/// What the chumsky lexer emits before post-processing.
#[derive(Clone, Debug, PartialEq)]
enum Raw<'src> {
    Tok(Token<'src>),
    Comment(&'src str),
    Invalid(&'src str),
    /// Zero-width marker where a string ended without its closing quote.
    UnterminatedString,
    UnterminatedInterpolation,
    UnterminatedRegex(&'src str),
}

type RawSpanned<'src> = (Raw<'src>, SimpleSpan);
type LexExtra<'src> = extra::Err<Simple<'src, char>>;

/// The byte order mark some Windows editors write first. rustc, Go and most YAML tools accept
/// one at the start of a file; so does pipec, there only (elsewhere it is an invisible character,
/// E0007).
pub const BOM: &str = "\u{feff}";

/// Lexes one file. `file` is stamped into every span; a leading [`BOM`] is skipped, spans still
/// count it.
pub fn lex(src: &str, file: FileId) -> Lexed<'_> {
    let (body, skipped) = match src.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len()),
        None => (src, 0),
    };
    let at =
        |range: std::ops::Range<usize>| Span::new(file, range.start + skipped..range.end + skipped);
    let (raw, errs) = lexer().parse(body).into_output_errors();
    let mut out = Lexed::default();
    for err in errs {
        // The lexer accepts every character, so chumsky errors are not expected; keep them
        // visible as invalid characters rather than dropping them.
        let span = at(err.span().into_range());
        out.errors.push(LexError {
            kind: LexErrorKind::InvalidCharacters(
                src.get(span.range()).unwrap_or_default().to_string(),
            ),
            span,
        });
    }
    let Some(raw) = raw else {
        return out;
    };
    let mut pending_invalid: Option<(Span, String)> = None;
    for (item, span) in raw.into_iter().flatten() {
        let span = at(span.into_range());
        if let Raw::Invalid(text) = &item {
            match &mut pending_invalid {
                Some((pspan, ptext)) if pspan.end == span.start => {
                    *pspan = pspan.to(span);
                    ptext.push_str(text);
                }
                _ => {
                    flush_invalid(&mut out, pending_invalid.take());
                    pending_invalid = Some((span, (*text).to_string()));
                }
            }
            continue;
        }
        flush_invalid(&mut out, pending_invalid.take());
        match item {
            Raw::Tok(token) => {
                match &token {
                    Token::BadNumber(text) => out.errors.push(LexError {
                        kind: LexErrorKind::InvalidNumber((*text).to_string()),
                        span,
                    }),
                    Token::StrText(text) => check_escapes(text, span, &out.tokens, &mut out.errors),
                    _ => {}
                }
                out.tokens.push((token, span));
            }
            Raw::Comment(text) => {
                let (doc, text) = match text.strip_prefix('/') {
                    Some(rest) => (true, rest),
                    None => (false, text),
                };
                out.comments.push(Comment {
                    span,
                    text: text.trim_end_matches('\r').to_string(),
                    doc,
                });
            }
            Raw::UnterminatedString => {
                out.errors.push(LexError {
                    kind: LexErrorKind::UnterminatedString,
                    span,
                });
                out.tokens.push((Token::StrEnd, span));
            }
            Raw::UnterminatedInterpolation => {
                out.errors.push(LexError {
                    kind: LexErrorKind::UnterminatedInterpolation,
                    span,
                });
                out.tokens.push((Token::InterpEnd, span));
            }
            Raw::UnterminatedRegex(body) => {
                out.errors.push(LexError {
                    kind: LexErrorKind::UnterminatedRegex,
                    span,
                });
                out.tokens.push((Token::Regex(body), span));
            }
            Raw::Invalid(_) => {}
        }
    }
    flush_invalid(&mut out, pending_invalid);
    out
}

fn flush_invalid(out: &mut Lexed<'_>, pending: Option<(Span, String)>) {
    if let Some((span, text)) = pending {
        out.errors.push(LexError {
            kind: LexErrorKind::InvalidCharacters(text),
            span,
        });
    }
}

/// Reports unknown escapes in single-quoted string text. Triple-quoted strings keep
/// backslashes literally, so they are skipped: the last `StrStart` tells which kind we are in.
fn check_escapes(text: &str, span: Span, tokens: &[(Token<'_>, Span)], errors: &mut Vec<LexError>) {
    let quote = tokens.iter().rev().find_map(|(t, _)| match t {
        Token::StrStart(q) => Some(*q),
        _ => None,
    });
    if quote != Some(Quote::Single) {
        return;
    }
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

fn lexer<'src>() -> impl Parser<'src, &'src str, Vec<Vec<RawSpanned<'src>>>, LexExtra<'src>> {
    let one = |raw: Raw<'src>, span: SimpleSpan| vec![(raw, span)];

    let comment = just("//")
        .ignore_then(none_of('\n').repeated().to_slice())
        .map_with(move |text, e| one(Raw::Comment(text), e.span()));

    let lexeme = recursive(|lexeme| {
        let ident =
            text::ascii::ident().map_with(move |s, e| one(Raw::Tok(Token::Ident(s)), e.span()));

        let digit = any().filter(|c: &char| c.is_ascii_digit());
        let number = digit
            .then(
                choice((
                    any()
                        .filter(|c: &char| c.is_ascii_alphanumeric() || *c == '_')
                        .ignored(),
                    just('.').then(digit).ignored(),
                ))
                .repeated(),
            )
            .to_slice()
            .then(just('%').or_not())
            .map_with(move |(word, pct): (&str, Option<char>), e| {
                let token = match pct {
                    Some(_) if word.bytes().all(|b| b.is_ascii_digit()) || is_float(word) => {
                        Token::Percent(word)
                    }
                    Some(_) => Token::BadNumber(word),
                    None => classify_number(word),
                };
                one(Raw::Tok(token), e.span())
            });

        // `${ … }` inside a string: the tokens of an expression, then the closing brace.
        let interpolation = |close_on_newline: bool| {
            let stop = if close_on_newline { "}\n\"" } else { "}" };
            let pad = one_of(if close_on_newline { " \t\r" } else { " \t\r\n" }).repeated();
            just("${")
                .map_with(|_, e| (Raw::Tok(Token::InterpStart), e.span()))
                .then(
                    lexeme
                        .clone()
                        .and_is(one_of(stop).not())
                        .padded_by(pad)
                        .repeated()
                        .collect::<Vec<Vec<RawSpanned<'src>>>>(),
                )
                .then(
                    just('}')
                        .map_with(|_, e| (Raw::Tok(Token::InterpEnd), e.span()))
                        .or(empty().map_with(|_, e| (Raw::UnterminatedInterpolation, e.span()))),
                )
                .map(|((start, inner), end)| {
                    let mut v = vec![start];
                    v.extend(inner.into_iter().flatten());
                    v.push(end);
                    v
                })
        };

        let single_text = choice((
            just('\\').then(none_of('\n').or_not()).ignored(),
            none_of("\"\\$\n").ignored(),
            just('$').and_is(just("${").not()).ignored(),
        ))
        .repeated()
        .at_least(1)
        .to_slice()
        .map_with(|s, e| vec![(Raw::Tok(Token::StrText(s)), e.span())]);

        let single_string = just('"')
            .map_with(|_, e| (Raw::Tok(Token::StrStart(Quote::Single)), e.span()))
            .then(
                single_text
                    .or(interpolation(true))
                    .repeated()
                    .collect::<Vec<Vec<RawSpanned<'src>>>>(),
            )
            .then(
                just('"')
                    .map_with(|_, e| (Raw::Tok(Token::StrEnd), e.span()))
                    .or(empty().map_with(|_, e| (Raw::UnterminatedString, e.span()))),
            )
            .map(|((start, parts), end)| {
                let mut v = vec![start];
                v.extend(parts.into_iter().flatten());
                v.push(end);
                v
            });

        let triple_text = choice((
            just("\\${").ignored(),
            just('\\').ignored(),
            none_of("\"\\$").ignored(),
            just('"').and_is(just("\"\"\"").not()).ignored(),
            just('$').and_is(just("${").not()).ignored(),
        ))
        .repeated()
        .at_least(1)
        .to_slice()
        .map_with(|s, e| vec![(Raw::Tok(Token::StrText(s)), e.span())]);

        let triple_string = just("\"\"\"")
            .map_with(|_, e| (Raw::Tok(Token::StrStart(Quote::Triple)), e.span()))
            .then(
                triple_text
                    .or(interpolation(false))
                    .repeated()
                    .collect::<Vec<Vec<RawSpanned<'src>>>>(),
            )
            .then(
                just("\"\"\"")
                    .map_with(|_, e| (Raw::Tok(Token::StrEnd), e.span()))
                    .or(empty().map_with(|_, e| (Raw::UnterminatedString, e.span()))),
            )
            .map(|((start, parts), end)| {
                let mut v = vec![start];
                v.extend(parts.into_iter().flatten());
                v.push(end);
                v
            });

        // `./x.pipe` and `../x.pipe`: `.` followed by `/` starts nothing else.
        let file_path = just("./")
            .or(just("../"))
            .then(
                any()
                    .filter(|c: &char| !c.is_whitespace() && !"{}()[],;\"".contains(*c))
                    .repeated(),
            )
            .to_slice()
            .map_with(move |s, e| one(Raw::Tok(Token::FilePath(s)), e.span()));

        let regex = just('/')
            .ignore_then(
                choice((
                    just('\\').then(none_of('\n').or_not()).ignored(),
                    none_of("/\\\n").ignored(),
                ))
                .repeated()
                .to_slice(),
            )
            .then(just('/').or_not())
            .map_with(move |(body, close), e| {
                let raw = match close {
                    Some(_) => Raw::Tok(Token::Regex(body)),
                    None => Raw::UnterminatedRegex(body),
                };
                one(raw, e.span())
            });

        let op = choice((
            just("=="),
            just("!="),
            just("!~"),
            just("<="),
            just(">="),
            just("~"),
            just("<"),
            just(">"),
        ))
        .map_with(move |s, e| one(Raw::Tok(Token::Op(s)), e.span()));

        let ctrl =
            one_of("{}()[],;:.=").map_with(move |c, e| one(Raw::Tok(Token::Ctrl(c)), e.span()));

        let invalid = any()
            .to_slice()
            .map_with(move |s, e| one(Raw::Invalid(s), e.span()));

        choice((
            triple_string,
            single_string,
            ident,
            number,
            file_path,
            regex,
            op,
            ctrl,
            invalid,
        ))
    });

    comment
        .or(lexeme)
        .padded()
        .repeated()
        .collect::<Vec<_>>()
        .then_ignore(text::whitespace())
        .then_ignore(end())
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

    #[test]
    fn binary_garbage_does_not_panic() {
        let garbage: String = (0u32..2000)
            .filter_map(|i| char::from_u32((i * 7919) % 0x2FFF))
            .collect();
        let lexed = lex(&garbage, FileId(0));
        assert!(!lexed.errors.is_empty());
    }
}
