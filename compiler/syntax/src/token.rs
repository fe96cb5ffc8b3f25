//! Tokens produced by the lexer. Words are not split into keywords here: the grammar uses
//! contextual keywords, so `image` is a declaration keyword at pipeline level and an ordinary
//! field name inside `service { image = app }`.

use std::fmt;

/// How a string literal was delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quote {
    /// `"…"`: one line, backslash escapes.
    Single,
    /// `"""…"""`: many lines, indentation stripped, backslashes kept literally except `\${`.
    Triple,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Token<'src> {
    /// A word: `pipeline`, `app`, `DB_USER`.
    Ident(&'src str),
    /// Decimal digits, not yet range-checked.
    Int(&'src str),
    /// `0.95`.
    Float(&'src str),
    /// `30s`, `1h30m`: digits and units, validated by the lexer.
    Duration(&'src str),
    /// `10%`, `99.5%`: the number before the sign.
    Percent(&'src str),
    /// A digit-led word that is no valid literal (`1h30`, `3x`); reported by the lexer and
    /// parsed as an error expression so the parser does not report it twice.
    BadNumber(&'src str),
    /// `/…/`: the pattern between the slashes, escapes as written.
    Regex(&'src str),
    /// `./common.pipe`, `../lib/gates.pipe`: a relative file path (only `use` takes one).
    FilePath(&'src str),
    StrStart(Quote),
    /// Raw text between interpolations, escapes as written.
    StrText(&'src str),
    /// `${`
    InterpStart,
    /// The `}` that closes an interpolation.
    InterpEnd,
    StrEnd,
    /// A region the lexer cut out because it nests too deeply (already reported); parsed as
    /// an error expression so nothing else is reported about it.
    Elided,
    /// One of `{ } ( ) [ ] , ; : . =`.
    Ctrl(char),
    /// `==`, `!=`, `~`, `!~`, `<`, `<=`, `>`, `>=`.
    Op(&'src str),
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "`{s}`"),
            Token::Int(s) | Token::Float(s) | Token::Duration(s) | Token::BadNumber(s) => {
                write!(f, "`{s}`")
            }
            Token::Percent(s) => write!(f, "`{s}%`"),
            Token::Regex(s) => write!(f, "`/{s}/`"),
            Token::FilePath(s) => write!(f, "`{s}`"),
            Token::StrStart(_) => write!(f, "a string"),
            Token::StrText(_) => write!(f, "string text"),
            Token::InterpStart => write!(f, "`${{`"),
            Token::InterpEnd => write!(f, "`}}`"),
            Token::StrEnd => write!(f, "end of string"),
            Token::Elided => write!(f, "a deeply nested expression"),
            Token::Ctrl(c) => write!(f, "`{c}`"),
            Token::Op(s) => write!(f, "`{s}`"),
        }
    }
}

/// A `//` comment. Comments are not tokens: they are kept beside the token stream so the
/// formatter can preserve them and hover can show `///` doc comments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    pub span: crate::Span,
    /// The text after `//` (or `///`), without the line break.
    pub text: String,
    /// `///` comments document the declaration that follows them.
    pub doc: bool,
}
