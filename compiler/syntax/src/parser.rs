//! The parser: tokens → [`Module`], with error recovery.
//!
//! The grammar is newline-insensitive. What keeps it unambiguous is that every declaration and
//! release stage starts with a keyword, expressions have no juxtaposition, and an action's
//! optional subject may not be a keyword or a name followed by `=`. The grammar is written out
//! in `docs/language.md`.
//!
//! Recovery: a broken entry inside `{ … }` is skipped token by token (whole bracketed groups at
//! a time) until the next entry parses, so three unrelated mistakes give three errors and an
//! AST that still holds everything else.

use chumsky::input::ValueInput;
use chumsky::prelude::*;

use crate::ast::*;
use crate::lexer::{self, LexError};
use crate::span::{FileId, Span};
use crate::token::{Quote, Token};

/// Words that start declarations, stages or handler actions. An action's subject may not
/// start with one, so a subject-less action such as `notify` followed by `step …` is never
/// read as `notify step`.
pub const KEYWORDS: &[&str] = &[
    "use",
    "pipeline",
    "analysis",
    "metric",
    "param",
    "secret",
    "image",
    "step",
    "service",
    "environment",
    "release",
    "on",
    "weight",
    "replicas",
    "pause",
    "approve",
    "check",
    "analyze",
    "join",
    "switch",
    "collect",
    "rollback",
    "irreversible",
    "and",
    "or",
    "not",
    "true",
    "false",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// The keywords that start an item at the top of a file, a member of a pipeline, and an
/// action of `on failure { … }` (what completion offers in each place).
pub const TOP_LEVEL_KEYWORDS: &[&str] = &["use", "pipeline", "analysis", "service", "step"];
pub const MEMBER_KEYWORDS: &[&str] = &[
    "param",
    "secret",
    "image",
    "step",
    "service",
    "environment",
    "release",
    "on",
];
pub const HANDLER_KEYWORDS: &[&str] = &["collect", "rollback", "step", "image"];

/// What may start a top-level item, as syntax errors name it.
pub const TOP_LEVEL: &str = "`use`, `pipeline`, `analysis`, `service` or `step`";

/// Words that can never be names because expressions give them a meaning.
pub const RESERVED: &[&str] = &["and", "or", "not", "true", "false"];

pub fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word)
}

/// A syntax error: lexical, or a parse error with what was found and what was expected.
#[derive(Clone, Debug, PartialEq)]
pub enum SyntaxError {
    Lex(LexError),
    Parse(ParseError),
}

impl SyntaxError {
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Lex(e) => e.span,
            SyntaxError::Parse(e) => e.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub span: Span,
    /// The token found, rendered for a message (`None` at end of input).
    pub found: Option<String>,
    /// What would have been accepted, rendered, sorted and deduplicated.
    pub expected: Vec<String>,
    /// A specific mistake the grammar recognises, when this is not an expected/found error.
    pub custom: Option<CustomError>,
    /// The constructs being parsed when the error happened, innermost last.
    pub contexts: Vec<(String, Span)>,
}

/// Mistakes the grammar itself recognises. Chumsky carries custom errors as text, so each
/// has a fixed message it is recognised by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomError {
    /// `${}`.
    EmptyInterpolation,
    /// `on push branch` with no name after it.
    MissingRefValue,
    /// An expression deeper than [`MAX_EXPR_DEPTH`], or a chain of more operators than that.
    ExpressionTooDeep,
}

impl CustomError {
    const ALL: [CustomError; 3] = [
        CustomError::EmptyInterpolation,
        CustomError::MissingRefValue,
        CustomError::ExpressionTooDeep,
    ];

    pub fn message(self) -> &'static str {
        match self {
            CustomError::EmptyInterpolation => "empty interpolation",
            CustomError::MissingRefValue => "missing branch or tag after `branch`/`tag`",
            CustomError::ExpressionTooDeep => "expression nested too deeply",
        }
    }

    fn from_message(message: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.message() == message)
    }
}

/// The result of parsing one file: always a module, possibly with errors.
#[derive(Debug)]
pub struct Parsed {
    pub module: Module,
    pub errors: Vec<SyntaxError>,
}

/// Parses one file. Never fails and never panics, whatever the bytes.
pub fn parse(src: &str, file: FileId) -> Parsed {
    let lexed = lexer::lex(src, file);
    let mut errors: Vec<SyntaxError> = lexed.errors.into_iter().map(SyntaxError::Lex).collect();
    let eoi = Span::new(file, src.len()..src.len());
    let whole = Span::new(file, 0..src.len());
    let (items, parse_errors) = module_parser()
        .parse(
            lexed
                .tokens
                .as_slice()
                .map(eoi, |(t, s): &(Token<'_>, Span)| (t, s)),
        )
        .into_output_errors();
    errors.extend(
        parse_errors
            .into_iter()
            .map(|e| SyntaxError::Parse(convert_error(e))),
    );
    // A lexer error and a parse error on the same line describe one mistake: keep the lexer's.
    dedup_errors(&mut errors, src);
    Parsed {
        module: Module {
            items: items.unwrap_or_default(),
            comments: lexed.comments,
            span: whole,
        },
        errors,
    }
}

/// Drops the parse errors a lexer error already explains: on the lexer error's line from its
/// start on, or anywhere after a `"""` string left open (the rest of the file is its text).
/// Sorted ranges with a running maximum, so linear in the errors up to the sort.
fn dedup_errors(errors: &mut Vec<SyntaxError>, src: &str) {
    let mut covered: Vec<(u32, u32)> = errors
        .iter()
        .filter_map(|e| match e {
            SyntaxError::Lex(l) if l.kind == lexer::LexErrorKind::UnterminatedTripleString => {
                Some((l.span.start, u32::try_from(src.len()).unwrap_or(u32::MAX)))
            }
            SyntaxError::Lex(l) => {
                let rest = src.get(l.span.end as usize..).unwrap_or("");
                let line_end = l.span.end as usize + rest.find('\n').unwrap_or(rest.len());
                Some((l.span.start, u32::try_from(line_end).unwrap_or(u32::MAX)))
            }
            SyntaxError::Parse(_) => None,
        })
        .collect();
    covered.sort_unstable();
    let mut reach = 0;
    let furthest: Vec<u32> = covered
        .iter()
        .map(|(_, end)| {
            reach = reach.max(*end);
            reach
        })
        .collect();
    errors.retain(|e| match e {
        SyntaxError::Lex(_) => true,
        SyntaxError::Parse(p) => {
            let before = covered.partition_point(|(start, _)| *start <= p.span.start);
            before
                .checked_sub(1)
                .and_then(|i| furthest.get(i))
                .is_none_or(|end| p.span.start > *end)
        }
    });
    errors.sort_by_key(|e| (e.span().start, e.span().end));
    errors.dedup_by(|a, b| a.span() == b.span());
}

fn convert_error(e: Rich<'_, Token<'_>, Span>) -> ParseError {
    use chumsky::error::RichReason;
    let contexts = e
        .contexts()
        .map(|(label, span)| (label.to_string(), *span))
        .collect();
    let span = *e.span();
    match e.reason() {
        RichReason::ExpectedFound { expected, found } => {
            let mut expected: Vec<String> = expected.iter().map(|p| pattern_text(p)).collect();
            expected.sort();
            expected.dedup();
            ParseError {
                span,
                found: found.as_ref().map(|t| t.to_string()),
                expected,
                custom: None,
                contexts,
            }
        }
        RichReason::Custom(msg) => ParseError {
            span,
            found: None,
            expected: Vec::new(),
            custom: CustomError::from_message(msg),
            contexts,
        },
    }
}

fn pattern_text(p: &chumsky::error::RichPattern<'_, Token<'_>>) -> String {
    use chumsky::error::RichPattern;
    match p {
        RichPattern::Token(t) => t.to_string(),
        RichPattern::Label(l) => l.to_string(),
        RichPattern::Identifier(i) => format!("`{i}`"),
        RichPattern::Any => "any token".to_string(),
        RichPattern::SomethingElse => "something else".to_string(),
        RichPattern::EndOfInput => "end of input".to_string(),
        _ => "something else".to_string(),
    }
}

type Extra<'t, 's> = extra::Err<Rich<'t, Token<'s>, Span>>;

fn ctrl<'t, 's: 't, I>(c: char) -> impl Parser<'t, I, Span, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    any()
        .filter(move |t: &Token<'s>| *t == Token::Ctrl(c))
        .map_with(|_, e| e.span())
        .labelled(ctrl_label(c))
}

fn ctrl_label(c: char) -> &'static str {
    match c {
        '{' => "`{`",
        '}' => "`}`",
        '(' => "`(`",
        ')' => "`)`",
        '[' => "`[`",
        ']' => "`]`",
        ',' => "`,`",
        ';' => "`;`",
        ':' => "`:`",
        '.' => "`.`",
        '=' => "`=`",
        _ => "punctuation",
    }
}

/// A contextual keyword: a word token with this exact text.
fn kw<'t, 's: 't, I>(word: &'static str) -> impl Parser<'t, I, Span, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    any()
        .filter(move |t: &Token<'s>| *t == Token::Ident(word))
        .map_with(|_, e| e.span())
        .labelled(word)
}

fn op<'t, 's: 't, I>(text: &'static str) -> impl Parser<'t, I, Span, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    any()
        .filter(move |t: &Token<'s>| *t == Token::Op(text))
        .map_with(|_, e| e.span())
        .labelled(text)
}

/// Any word, keyword or not (field names after `.`, property names).
fn word<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    select! { Token::Ident(s) => s }
        .map_with(|s: &str, e| Ident {
            name: s.to_string(),
            span: e.span(),
        })
        .labelled("name")
}

/// A word that is not reserved: what names a declaration or starts a path.
fn name<'t, 's: 't, I>() -> impl Parser<'t, I, Ident, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    select! { Token::Ident(s) if !is_reserved(s) => s }
        .map_with(|s: &str, e| Ident {
            name: s.to_string(),
            span: e.span(),
        })
        .labelled("name")
}

/// Optional separators between entries: `;` and `,` are allowed, never required.
fn seps<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    ctrl(';').or(ctrl(',')).repeated().ignored()
}

/// Skips one bracketed group or one token: the unit of error recovery. A closing bracket is
/// never skipped on its own: it belongs to an enclosing construct.
fn skip_unit<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    group().or(any().and_is(closer().not()).ignored())
}

fn closer<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    any()
        .filter(|t: &Token<'s>| matches!(t, Token::Ctrl('}' | ')' | ']')))
        .ignored()
}

/// A bracketed group, tolerant of anything inside. A group missing its closing bracket ends
/// at the end of the file or before a closing bracket of another kind (which belongs to an
/// enclosing group), so skipping it is linear: no rescan from every later token.
fn group<'t, 's: 't, I>() -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    recursive(|group| {
        let plain = any()
            .filter(|t: &Token<'s>| !matches!(t, Token::Ctrl('{' | '}' | '(' | ')' | '[' | ']')))
            .ignored();
        let body = group.or(plain).repeated();
        let delimited = move |open: char, close: char| {
            ctrl(open)
                .then(body.clone())
                .then(choice((ctrl(close).ignored(), end(), closer().rewind())))
                .ignored()
        };
        choice((
            delimited('{', '}'),
            delimited('(', ')'),
            delimited('[', ']'),
        ))
    })
}

/// The end of the enclosing block, without consuming it.
fn at_close<'t, 's: 't, I>(close: char) -> impl Parser<'t, I, (), Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    ctrl(close).ignored().or(end()).rewind()
}

/// One entry of a `{ … }` block, with recovery. A broken entry is reported, then skipped: first
/// by retrying the entry parser after each skipped token (so the next good entry is kept), and
/// if nothing before the closing brace parses, by skipping to it. The guard makes sure an
/// entry is only attempted before something other than the closing brace, so the recovery
/// always consumes input and every broken entry yields exactly one error.
fn entry<'t, 's: 't, I, O>(
    parser: impl Parser<'t, I, O, Extra<'t, 's>> + Clone + 't,
    close: char,
) -> impl Parser<'t, I, Option<O>, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
    O: Clone + 't,
{
    at_close(close).not().ignore_then(
        parser
            .map(Some)
            .recover_with(skip_then_retry_until(skip_unit(), at_close(close)))
            .recover_with(skip_until(skip_unit(), at_close(close), || None)),
    )
}

/// Expressions, by precedence from loosest: `or`, `and`, `not`, comparisons, atoms.
fn expr_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    recursive(|expr| {
        let string = string_parser(expr.clone()).map(|lit: StrLit| Expr {
            span: lit.span,
            kind: ExprKind::Str(lit),
        });

        let literal = select! {
            Token::Int(s) => ExprKind::Int(s.to_string()),
            Token::Float(s) => ExprKind::Float(s.to_string()),
            Token::Duration(s) => ExprKind::Duration(lexer::duration_seconds(s).unwrap_or(0)),
            Token::Percent(s) => ExprKind::Percent(s.to_string()),
            Token::Regex(s) => ExprKind::Regex(s.to_string()),
            Token::BadNumber(_) => ExprKind::Error,
            Token::Elided => ExprKind::Error,
            Token::Ident("true") => ExprKind::Bool(true),
            Token::Ident("false") => ExprKind::Bool(false),
        }
        .map_with(|kind, e| Expr {
            kind,
            span: e.span(),
        })
        .labelled("value");

        let path = name()
            .then(ctrl('.').ignore_then(word()).repeated().collect::<Vec<_>>())
            .map(|(head, mut rest)| {
                rest.insert(0, head);
                rest
            });

        let arg = word()
            .then_ignore(ctrl('='))
            .or_not()
            .then(expr.clone())
            .map(|(name, value)| Arg { name, value });

        let args = arg
            .separated_by(ctrl(','))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(ctrl('('), ctrl(')'));

        let path_or_call = path.then(args.or_not()).map_with(|(path, args), e| Expr {
            span: e.span(),
            kind: match args {
                Some(args) => ExprKind::Call { callee: path, args },
                None => ExprKind::Path(path),
            },
        });

        let list = expr
            .clone()
            .separated_by(ctrl(','))
            .allow_trailing()
            .collect::<Vec<_>>()
            .delimited_by(ctrl('['), ctrl(']'))
            .map_with(|items, e| Expr {
                kind: ExprKind::List(items),
                span: e.span(),
            })
            .labelled("list");

        let record = property_parser(expr.clone())
            .then_ignore(seps())
            .repeated()
            .collect::<Vec<_>>()
            .delimited_by(ctrl('{'), ctrl('}'))
            .map_with(|props, e| Expr {
                kind: ExprKind::Record(props),
                span: e.span(),
            })
            .labelled("record");

        let parens = expr
            .clone()
            .delimited_by(ctrl('('), ctrl(')'))
            .map_with(|inner: Expr, e| Expr {
                kind: inner.kind,
                span: e.span(),
            });

        let atom = choice((string, literal, path_or_call, list, record, parens))
            .labelled("expression")
            .boxed();

        let cmp_op = choice((
            op("==").to(BinaryOp::Eq),
            op("!=").to(BinaryOp::Ne),
            op("~").to(BinaryOp::Match),
            op("!~").to(BinaryOp::NotMatch),
            op("<=").to(BinaryOp::Le),
            op(">=").to(BinaryOp::Ge),
            op("<").to(BinaryOp::Lt),
            op(">").to(BinaryOp::Gt),
        ))
        .map_with(|op, e| (op, e.span()));

        let comparison = atom
            .clone()
            .then(cmp_op.then(atom).or_not())
            .map(|(lhs, rest)| match rest {
                None => lhs,
                Some(((op, op_span), rhs)) => binary(lhs, op, op_span, rhs),
            })
            .boxed();

        // `not not … x` and `a and b and …` are read as flat runs, so a hostile run costs no
        // parser stack, and refused before a tree deeper than the limit is built.
        let not = kw("not")
            .repeated()
            .collect::<Vec<Span>>()
            .then(comparison)
            .validate(|(nots, inner): (Vec<Span>, Expr), e, emitter| {
                if nots.len() > MAX_EXPR_DEPTH {
                    return too_deep(vec![inner], e.span(), emitter);
                }
                nots.into_iter().rev().fold(inner, |inner, op_span| Expr {
                    span: op_span.to(inner.span),
                    kind: ExprKind::Unary {
                        op: UnaryOp::Not,
                        op_span,
                        expr: Box::new(inner),
                    },
                })
            });

        let and = chain_parser(not, "and", BinaryOp::And).boxed();
        chain_parser(and, "or", BinaryOp::Or).labelled("expression")
    })
}

/// `operand (keyword operand)*`, read as one flat run and folded by [`chain`]. Operands past
/// the limit are parsed and dropped at once, not kept: a chain of a million costs the memory
/// of [`MAX_EXPR_DEPTH`] operands.
fn chain_parser<'t, 's: 't, I>(
    operand: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
    keyword: &'static str,
    op: BinaryOp,
) -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    operand
        .clone()
        .then(
            kw(keyword)
                .then(operand.clone())
                .repeated()
                .at_most(MAX_EXPR_DEPTH)
                .collect::<Vec<_>>(),
        )
        .then(kw(keyword).then(operand).repeated().count())
        .validate(move |((first, rest), beyond), e, emitter| {
            chain(first, rest, beyond, op, e.span(), emitter)
        })
}

/// Folds `first op rest…` into a left-nested tree, unless the run is longer than
/// [`MAX_EXPR_DEPTH`]: `beyond` counts the operands after the first [`MAX_EXPR_DEPTH`].
fn chain<'t, 's>(
    first: Expr,
    rest: Vec<(Span, Expr)>,
    beyond: usize,
    op: BinaryOp,
    span: Span,
    emitter: &mut chumsky::input::Emitter<Rich<'t, Token<'s>, Span>>,
) -> Expr {
    if beyond > 0 {
        let mut parts = vec![first];
        parts.extend(rest.into_iter().map(|(_, e)| e));
        return too_deep(parts, span, emitter);
    }
    rest.into_iter()
        .fold(first, |lhs, (op_span, rhs)| binary(lhs, op, op_span, rhs))
}

/// `lhs op rhs`, spanning both operands.
fn binary(lhs: Expr, op: BinaryOp, op_span: Span, rhs: Expr) -> Expr {
    Expr {
        span: lhs.span.to(rhs.span),
        kind: ExprKind::Binary {
            op,
            op_span,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    }
}

/// Reports an expression nested too deeply and stands an error expression in for it.
fn too_deep<'t, 's>(
    parts: Vec<Expr>,
    span: Span,
    emitter: &mut chumsky::input::Emitter<Rich<'t, Token<'s>, Span>>,
) -> Expr {
    for part in parts {
        part.dismantle();
    }
    emitter.emit(Rich::custom(span, CustomError::ExpressionTooDeep.message()));
    Expr {
        kind: ExprKind::Error,
        span,
    }
}

/// A string literal, single- or triple-quoted, with interpolations parsed as expressions.
fn string_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, StrLit, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    enum Piece<'s> {
        Text(&'s str),
        Interp(Option<Expr>, Span),
    }
    let start = select! { Token::StrStart(q) => q };
    let text = select! { Token::StrText(s) => Piece::Text(s) };
    let interp_start = any().filter(|t: &Token<'s>| *t == Token::InterpStart);
    let interp_end = any().filter(|t: &Token<'s>| *t == Token::InterpEnd);
    let interp = interp_start
        .ignore_then(expr.or_not())
        .then_ignore(interp_end)
        .map_with(|e, x| Piece::Interp(e, x.span()));
    let end = any().filter(|t: &Token<'s>| *t == Token::StrEnd);
    start
        .then(text.or(interp).repeated().collect::<Vec<_>>())
        .then_ignore(end)
        .validate(|(quote, pieces), e, emitter| {
            let triple = quote == Quote::Triple;
            let mut parts = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Text(raw) => {
                        let text = if triple {
                            lexer::unescape_triple(raw)
                        } else {
                            lexer::unescape(raw)
                        };
                        match parts.last_mut() {
                            Some(StrPart::Text(prev)) => prev.push_str(&text),
                            _ => parts.push(StrPart::Text(text)),
                        }
                    }
                    Piece::Interp(Some(expr), _) => parts.push(StrPart::Interp(expr)),
                    Piece::Interp(None, span) => emitter.emit(Rich::custom(
                        span,
                        CustomError::EmptyInterpolation.message(),
                    )),
                }
            }
            if triple {
                parts = dedent(parts);
            }
            StrLit {
                parts,
                triple,
                span: e.span(),
            }
        })
        .labelled("string")
}

/// Strips a triple-quoted string's layout: the line break after the opening quotes, the
/// indentation of the closing quotes, and the indentation common to all non-blank lines.
/// An interpolation counts as content, so a line that starts with one has no indentation.
fn dedent(mut parts: Vec<StrPart>) -> Vec<StrPart> {
    if let Some(StrPart::Text(first)) = parts.first_mut() {
        let trimmed = first.trim_start_matches([' ', '\t']);
        if let Some(rest) = trimmed
            .strip_prefix("\r\n")
            .or_else(|| trimmed.strip_prefix('\n'))
        {
            *first = rest.to_string();
        }
    }
    if let Some(StrPart::Text(last)) = parts.last_mut() {
        let keep = last.trim_end_matches([' ', '\t']).len();
        if last[..keep].ends_with('\n') {
            last.truncate(keep);
        }
    }
    // Common indentation of lines with content.
    let mut min_indent: Option<usize> = None;
    let mut at_line_start = true;
    for (i, part) in parts.iter().enumerate() {
        match part {
            StrPart::Text(text) => {
                let mut lines = text.split('\n').peekable();
                let mut first = true;
                while let Some(line) = lines.next() {
                    let is_last_piece = lines.peek().is_none();
                    if at_line_start || !first {
                        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
                        let has_content = indent < line.len()
                            || (is_last_piece
                                && matches!(parts.get(i + 1), Some(StrPart::Interp(_))));
                        if has_content {
                            min_indent = Some(min_indent.map_or(indent, |m| m.min(indent)));
                        }
                    }
                    first = false;
                }
                at_line_start = text.ends_with('\n');
            }
            StrPart::Interp(_) => {
                if at_line_start {
                    min_indent = Some(0);
                }
                at_line_start = false;
            }
        }
    }
    let indent = min_indent.unwrap_or(0);
    if indent == 0 {
        return parts;
    }
    let mut at_line_start = true;
    for part in &mut parts {
        match part {
            StrPart::Text(text) => {
                let mut out = String::with_capacity(text.len());
                for (n, line) in text.split('\n').enumerate() {
                    if n > 0 {
                        out.push('\n');
                    }
                    if n > 0 || at_line_start {
                        let strip = line
                            .char_indices()
                            .take_while(|(j, c)| *j < indent && (*c == ' ' || *c == '\t'))
                            .count();
                        out.push_str(line.get(strip..).unwrap_or(""));
                    } else {
                        out.push_str(line);
                    }
                }
                at_line_start = text.ends_with('\n');
                *text = out;
            }
            StrPart::Interp(_) => at_line_start = false,
        }
    }
    parts
}

/// `name = value`.
fn property_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Property, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    word()
        .then_ignore(ctrl('='))
        .then(expr)
        .map_with(|(name, value), e| Property {
            name,
            value,
            span: e.span(),
        })
        .labelled("property")
}

/// `{ property … }` with per-entry recovery.
fn block_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Block, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    entry(property_parser(expr), '}')
        .then_ignore(seps())
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('{').then(seps()), ctrl('}'))
        .map_with(|properties: Vec<Option<Property>>, e| Block {
            recovered: properties.iter().any(Option::is_none),
            properties: properties.into_iter().flatten().collect(),
            span: e.span(),
        })
        .labelled("block")
        .as_context()
}

/// The optional subject of an action: a literal or a path, but not a keyword and not a name
/// that begins the next property (`name =`).
fn subject_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let starts_subject = any().filter(|t: &Token<'s>| match t {
        Token::Ident(w) => !is_keyword(w),
        Token::StrStart(_)
        | Token::Int(_)
        | Token::Float(_)
        | Token::Duration(_)
        | Token::Percent(_)
        | Token::Regex(_)
        | Token::BadNumber(_)
        | Token::Elided => true,
        Token::Ctrl('[') => true,
        _ => false,
    });
    let name_then_eq = any()
        .filter(|t: &Token<'s>| matches!(t, Token::Ident(_)))
        .then(ctrl('='));
    expr.and_is(starts_subject.rewind())
        .and_is(name_then_eq.not())
        .labelled("subject")
}

/// `VERB [SUBJECT] [{ … }]`.
fn action_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Action, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    name()
        .then(subject_parser(expr.clone()).or_not())
        .then(block_parser(expr).or_not())
        .map_with(|((verb, subject), body), e| Action {
            verb,
            subject,
            body,
            span: e.span(),
        })
        .labelled("action")
}

/// `image NAME = …` / `step NAME = …`.
fn node_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, NodeDecl, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let keyword = kw("image")
        .map(|s| (NodeKeyword::Image, s))
        .or(kw("step").map(|s| (NodeKeyword::Step, s)));
    // An action has a subject or a body; a bare name or a call is an expression.
    let action = action_parser(expr.clone())
        .filter(|a: &Action| a.subject.is_some() || a.body.is_some())
        .map(NodeValue::Action);
    let template = template_call(expr.clone())
        .then(block_parser(expr.clone()).or_not())
        .map(|(call, body)| NodeValue::Template { call, body });
    keyword
        .then(name())
        .then_ignore(ctrl('='))
        .then(action.or(template).or(expr.map(NodeValue::Expr)))
        .map_with(|(((keyword, keyword_span), name), value), e| NodeDecl {
            keyword,
            keyword_span,
            name,
            value,
            span: e.span(),
        })
}

/// `NAME(args)`: a call expression, as the use of a definition.
fn template_call<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, TemplateCall, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    expr.try_map(|e: Expr, span| match e.kind {
        ExprKind::Call { callee, args } => Ok(TemplateCall {
            callee,
            args,
            span: e.span,
        }),
        _ => Err(Rich::custom(span, "not a call")),
    })
}

fn type_parser<'t, 's: 't, I>() -> impl Parser<'t, I, TypeExpr, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    recursive(|ty| {
        word()
            .then(
                ty.separated_by(ctrl(','))
                    .at_least(1)
                    .collect::<Vec<_>>()
                    .delimited_by(op("<"), op(">"))
                    .or_not(),
            )
            .map_with(|(name, args), e| TypeExpr {
                name,
                args: args.unwrap_or_default(),
                span: e.span(),
            })
            .labelled("type")
    })
}

/// `NAME: TYPE [= DEFAULT]`.
fn param_body<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Param, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    name()
        .then_ignore(ctrl(':'))
        .then(type_parser())
        .then(ctrl('=').ignore_then(expr).or_not())
        .map_with(|((name, ty), default), e| Param {
            name,
            ty,
            default,
            span: e.span(),
        })
}

fn stage_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Stage, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let weight = kw("weight")
        .then(expr.clone())
        .map(|(k, e)| (k, StageKind::Weight(e)));
    let replicas = kw("replicas")
        .then(expr.clone())
        .then(kw("of").ignore_then(expr.clone()).or_not())
        .map(|((k, count), of)| (k, StageKind::Replicas { count, of }));
    let pause = kw("pause")
        .then(expr.clone())
        .map(|(k, e)| (k, StageKind::Pause(e)));
    let reason = string_parser(expr.clone()).map(|lit| Expr {
        span: lit.span,
        kind: ExprKind::Str(lit),
    });
    let approve = kw("approve")
        .then(reason.or_not())
        .map(|(k, r)| (k, StageKind::Approve(r)));
    let check = kw("check")
        .then(action_parser(expr.clone()))
        .then(kw("irreversible").or_not())
        .map(|((k, action), irreversible)| {
            (
                k,
                StageKind::Check {
                    action,
                    irreversible,
                },
            )
        });
    let analyze = kw("analyze")
        .then(expr)
        .map(|(k, e)| (k, StageKind::Analyze(e)));
    let join = kw("join").map(|k| (k, StageKind::Join));
    let switch = kw("switch").map(|k| (k, StageKind::Switch));
    choice((
        weight, replicas, pause, approve, check, analyze, join, switch,
    ))
    .map_with(|(keyword, kind), e| Stage {
        kind,
        keyword,
        span: e.span(),
    })
    .labelled("release stage")
}

fn release_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, ReleaseDecl, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    #[derive(Clone)]
    enum Entry {
        Setting(Property),
        Stage(Stage),
    }
    let release_entry = stage_parser(expr.clone())
        .map(Entry::Stage)
        .or(property_parser(expr).map(Entry::Setting));
    let body = entry(release_entry, '}')
        .then_ignore(seps())
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('{').then(seps()), ctrl('}'))
        .map_with(|entries, e| (entries, e.span()));
    kw("release")
        .ignore_then(name())
        .then(name())
        .then(body)
        .map_with(|((service, strategy), (entries, body_span)), e| {
            let mut settings = Vec::new();
            let mut stages = Vec::new();
            let recovered = entries.iter().any(Option::is_none);
            for entry in entries.into_iter().flatten() {
                match entry {
                    Entry::Setting(p) => settings.push(p),
                    Entry::Stage(s) => stages.push(s),
                }
            }
            ReleaseDecl {
                service,
                strategy,
                settings,
                stages,
                body_span,
                span: e.span(),
                recovered,
            }
        })
        .labelled("release")
        .as_context()
}

fn handler_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Handler, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let collect = kw("collect")
        .then_ignore(kw("diagnostics"))
        .then(kw("of").ignore_then(name()).or_not())
        .map_with(|(_, of), e| HandlerAction::CollectDiagnostics { of, span: e.span() });
    let rollback =
        kw("rollback")
            .ignore_then(name())
            .map_with(|service, e| HandlerAction::Rollback {
                service,
                span: e.span(),
            });
    let action = choice((
        collect,
        rollback,
        node_parser(expr).map(HandlerAction::Node),
    ))
    .labelled("handler action");
    kw("on")
        .ignore_then(name())
        .then(
            entry(action, '}')
                .then_ignore(seps())
                .repeated()
                .collect::<Vec<_>>()
                .delimited_by(ctrl('{').then(seps()), ctrl('}')),
        )
        .map_with(|(event, actions), e| Handler {
            event,
            actions: actions.into_iter().flatten().collect(),
            span: e.span(),
        })
}

/// `on push [branch|tag [~] VALUE]`, `on schedule CRON [timezone TZ]`, `on webhook`.
fn trigger_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Trigger, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let ref_kind =
        select! { Token::Ident(s) if s == "branch" || s == "tag" => s }.map_with(|s: &str, e| {
            Ident {
                name: s.to_string(),
                span: e.span(),
            }
        });
    // Once `branch` or `tag` is read the value is required: report it missing there rather
    // than let the next line be misread.
    let filter = ref_kind
        .then(op("~").or_not())
        .then(subject_parser(expr.clone()).or_not())
        .validate(|((kind, tilde), value), _, emitter| {
            let value = value.unwrap_or_else(|| {
                emitter.emit(Rich::custom(
                    kind.span,
                    CustomError::MissingRefValue.message(),
                ));
                Expr {
                    kind: ExprKind::Error,
                    span: kind.span,
                }
            });
            RefFilter {
                kind,
                pattern: tilde.is_some(),
                value,
            }
        });
    let push = kw("push")
        .ignore_then(filter.or_not())
        .map(|filter| TriggerKind::Push { filter });
    let schedule = kw("schedule")
        .ignore_then(expr.clone())
        .then(kw("timezone").ignore_then(expr).or_not())
        .map(|(cron, timezone)| TriggerKind::Schedule { cron, timezone });
    let webhook = kw("webhook").to(TriggerKind::Webhook);
    kw("on")
        .ignore_then(choice((push, schedule, webhook)))
        .map_with(|kind, e| Trigger {
            kind,
            span: e.span(),
        })
        .labelled("trigger")
}

fn member_parser<'t, 's: 't, I>(
    expr: impl Parser<'t, I, Expr, Extra<'t, 's>> + Clone + 't,
) -> impl Parser<'t, I, Member, Extra<'t, 's>> + Clone
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    let param = kw("param")
        .ignore_then(param_body(expr.clone()))
        .map_with(|mut p, e| {
            p.span = e.span();
            Member::Param(p)
        });
    let keys = name()
        .then_ignore(seps())
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('{').then(seps()), ctrl('}'));
    let secret = kw("secret")
        .ignore_then(name())
        .then_ignore(ctrl('='))
        .then(expr.clone())
        .then(keys.or_not())
        .map_with(|((name, secret_name), keys), e| {
            Member::Secret(SecretDecl {
                name,
                secret_name,
                keys,
                span: e.span(),
            })
        });
    let instance = ctrl('=')
        .ignore_then(template_call(expr.clone()))
        .then(block_parser(expr.clone()).or_not())
        .map(|(call, body)| (Some(call), body));
    let plain = block_parser(expr.clone()).map(|body| (None, Some(body)));
    let service = kw("service")
        .ignore_then(name())
        .then(instance.or(plain))
        .map_with(|(name, (from, body)), e| {
            let span: Span = e.span();
            Member::Service(ServiceDecl {
                name,
                from,
                body: body.unwrap_or(Block {
                    properties: Vec::new(),
                    span: Span::new(span.file, span.end as usize..span.end as usize),
                    recovered: false,
                }),
                span,
            })
        });
    let environment = kw("environment")
        .ignore_then(name())
        .then(block_parser(expr.clone()))
        .map_with(|(name, body), e| {
            Member::Environment(EnvironmentDecl {
                name,
                body,
                span: e.span(),
            })
        });
    choice((
        param,
        secret,
        node_parser(expr.clone()).map(Member::Node),
        service,
        environment,
        release_parser(expr.clone()).map(Member::Release),
        handler_parser(expr.clone()).map(Member::Handler),
        trigger_parser(expr.clone()).map(Member::Trigger),
        property_parser(expr).map(Member::Setting),
    ))
    .labelled("declaration")
    .boxed()
}

fn module_parser<'t, 's: 't, I>() -> impl Parser<'t, I, Vec<Item>, Extra<'t, 's>>
where
    I: ValueInput<'t, Token = Token<'s>, Span = Span>,
{
    // Each expression the declarations hold is checked once for depth, as a whole.
    let expr = expr_parser()
        .validate(|expr: Expr, e, emitter| {
            if expr.nests_deeper_than(MAX_EXPR_DEPTH) {
                too_deep(vec![expr], e.span(), emitter)
            } else {
                expr
            }
        })
        .boxed();

    let group = name()
        .separated_by(ctrl(','))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('{'), ctrl('}'));
    let std_path = kw("std")
        .then(
            ctrl('.')
                .ignore_then(name())
                .repeated()
                .at_least(1)
                .collect::<Vec<_>>(),
        )
        .then(ctrl('.').ignore_then(group).or_not())
        .map(|((std_span, path), group)| UseTarget::Std {
            std_span,
            path,
            group,
        });
    let bare_path = select! { Token::FilePath(p) => p }.map_with(|p: &str, e| {
        UseTarget::File(StrLit {
            parts: vec![StrPart::Text(p.to_string())],
            triple: false,
            span: e.span(),
        })
    });
    let file_path = bare_path.or(string_parser(expr.clone()).map(UseTarget::File));
    let use_ = kw("use")
        .ignore_then(std_path.or(file_path))
        .map_with(|target, e| {
            Item::Use(Use {
                target,
                span: e.span(),
            })
        })
        .labelled("use");

    let members = entry(member_parser(expr.clone()), '}')
        .then_ignore(seps())
        .repeated()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('{').then(seps()), ctrl('}'));
    let pipeline = kw("pipeline")
        .ignore_then(name())
        .then(members)
        .map_with(|(name, members), e| {
            Item::Pipeline(Pipeline {
                name,
                members: members.into_iter().flatten().collect(),
                span: e.span(),
            })
        })
        .labelled("pipeline")
        .as_context();

    let metric = kw("metric")
        .ignore_then(name())
        .then(block_parser(expr.clone()))
        .map_with(|(name, body), e| Metric {
            name,
            body,
            span: e.span(),
        });
    let params = param_body(expr.clone())
        .separated_by(ctrl(','))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(ctrl('('), ctrl(')'));
    let analysis = kw("analysis")
        .ignore_then(name())
        .then(params.clone())
        .then(
            entry(metric, '}')
                .then_ignore(seps())
                .repeated()
                .collect::<Vec<_>>()
                .delimited_by(ctrl('{').then(seps()), ctrl('}')),
        )
        .map_with(|((name, params), metrics), e| {
            Item::Analysis(AnalysisDef {
                name,
                params,
                metrics: metrics.into_iter().flatten().collect(),
                span: e.span(),
            })
        })
        .labelled("analysis");

    let service_def = kw("service")
        .ignore_then(name())
        .then(params.clone())
        .then(block_parser(expr.clone()))
        .map_with(|((name, params), body), e| {
            Item::Template(TemplateDef {
                name,
                params,
                body: TemplateBody::Service(body),
                span: e.span(),
            })
        })
        .labelled("service definition");
    let step_def = kw("step")
        .ignore_then(name())
        .then(params.clone())
        .then_ignore(ctrl('='))
        .then(action_parser(expr.clone()))
        .map_with(|((name, params), action), e| {
            Item::Template(TemplateDef {
                name,
                params,
                body: TemplateBody::Step(action),
                span: e.span(),
            })
        })
        .labelled("step definition");

    let item = choice((use_, pipeline, analysis, service_def, step_def)).labelled(TOP_LEVEL);
    // At the top level there is no enclosing brace: skip anything, stray closers included.
    let skip_any = skip_unit().or(any().ignored());
    let top = end().not().ignore_then(
        item.map(Some)
            .recover_with(skip_then_retry_until(skip_any.clone(), end()))
            .recover_with(skip_until(skip_any, end().rewind(), || None)),
    );

    top.then_ignore(seps())
        .repeated()
        .collect::<Vec<_>>()
        .map(|items| items.into_iter().flatten().collect())
        .then_ignore(end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Module {
        let parsed = parse(src, FileId(0));
        assert!(
            parsed.errors.is_empty(),
            "unexpected errors: {:#?}",
            parsed.errors
        );
        parsed.module
    }

    fn pipeline(module: &Module) -> &Pipeline {
        module
            .items
            .iter()
            .find_map(|i| match i {
                Item::Pipeline(p) => Some(p),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no pipeline in {module:#?}"))
    }

    #[test]
    fn parses_the_addressbook_example() {
        let src = include_str!("../../../examples/addressbook.pipe");
        let module = parse_ok(src);
        let p = pipeline(&module);
        assert_eq!(p.name.name, "addressbook");
        let kinds: Vec<&str> = p
            .members
            .iter()
            .map(|m| match m {
                Member::Setting(_) => "setting",
                Member::Param(_) => "param",
                Member::Secret(_) => "secret",
                Member::Node(_) => "node",
                Member::Service(_) => "service",
                Member::Environment(_) => "environment",
                Member::Release(_) => "release",
                Member::Handler(_) => "handler",
                Member::Trigger(_) => "trigger",
                Member::Error(_) => "error",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "setting", "secret", "secret", "node", "node", "node", "service", "release",
                "handler"
            ]
        );
        let Some(Member::Release(release)) =
            p.members.iter().find(|m| matches!(m, Member::Release(_)))
        else {
            panic!("no release");
        };
        assert_eq!(release.settings.len(), 2);
        assert_eq!(release.stages.len(), 4);
        assert!(matches!(
            &release.stages[2].kind,
            StageKind::Check {
                irreversible: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn triggers() {
        let module = parse_ok(
            "pipeline p {\n  on push\n  on push tag ~ /^v/\n  on push branch \"main\"\n  on schedule \"0 3 * * *\" timezone \"UTC\"\n  on failure { rollback api }\n}",
        );
        let members = &pipeline(&module).members;
        let kinds: Vec<String> = members
            .iter()
            .map(|m| match m {
                Member::Trigger(Trigger {
                    kind: TriggerKind::Push { filter: None },
                    ..
                }) => "push".to_string(),
                Member::Trigger(Trigger {
                    kind: TriggerKind::Push { filter: Some(f) },
                    ..
                }) => format!("push {} {}", f.kind.name, f.pattern),
                Member::Trigger(Trigger {
                    kind: TriggerKind::Schedule { timezone, .. },
                    ..
                }) => format!("schedule {}", timezone.is_some()),
                Member::Handler(_) => "handler".to_string(),
                _ => "other".to_string(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "push",
                "push tag true",
                "push branch false",
                "schedule true",
                "handler"
            ]
        );
    }

    #[test]
    fn operator_precedence() {
        let module = parse_ok(
            r#"pipeline p { step s = run x { when = a.passed and (b == "m" or not c ~ /^h/) or d } }"#,
        );
        let Member::Node(node) = &pipeline(&module).members[0] else {
            panic!()
        };
        let NodeValue::Action(action) = &node.value else {
            panic!()
        };
        let body = action.body.as_ref().map(|b| &b.properties[0].value);
        let Some(Expr {
            kind:
                ExprKind::Binary {
                    op: BinaryOp::Or,
                    lhs,
                    ..
                },
            ..
        }) = body
        else {
            panic!("top is not `or`: {body:#?}")
        };
        assert!(matches!(
            lhs.kind,
            ExprKind::Binary {
                op: BinaryOp::And,
                ..
            }
        ));
    }

    #[test]
    fn subject_less_actions_do_not_swallow_the_next_entry() {
        let module = parse_ok(
            "pipeline p {\n step a = notify { x = 1 }\n release s canary { approve\n pause 5m\n weight 50% }\n}",
        );
        let p = pipeline(&module);
        let Member::Release(r) = &p.members[1] else {
            panic!()
        };
        assert_eq!(r.stages.len(), 3);
    }

    #[test]
    fn three_unrelated_errors_are_all_reported_and_the_rest_survives() {
        let src = "pipeline p {\n  secret s = \"x\"\n  service a {\n    replicas = = 3\n    port = 80\n  }\n  step b = run app { command = }\n  image c = build \".\" { repo = \"r\" tag = ( }\n  service d { port = 1 }\n}\n";
        let parsed = parse(src, FileId(0));
        assert_eq!(parsed.errors.len(), 3, "{:#?}", parsed.errors);
        let p = pipeline(&parsed.module);
        let services: Vec<&str> = p
            .members
            .iter()
            .filter_map(|m| match m {
                Member::Service(s) => Some(s.name.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(services, ["a", "d"]);
        let Some(Member::Service(a)) = p.members.iter().find(|m| matches!(m, Member::Service(_)))
        else {
            panic!()
        };
        assert_eq!(
            a.body.properties.len(),
            1,
            "port survives the broken replicas line"
        );
    }

    #[test]
    fn an_error_in_the_last_entry_of_each_block_is_reported() {
        let parsed = parse(
            "pipeline p {\n service a { port = 80 80 }\n service b { x = = 1 }\n step c = run \"x\" { command = }\n}",
            FileId(0),
        );
        assert_eq!(parsed.errors.len(), 3, "{:#?}", parsed.errors);
        let Item::Pipeline(p) = &parsed.module.items[0] else {
            panic!()
        };
        assert_eq!(p.members.len(), 3, "all three members survive");
    }

    #[test]
    fn a_lexical_error_silences_parse_errors_on_its_line() {
        let parsed = parse(
            "pipeline p {\n service a {\n port = 80 # the port\n }\n}",
            FileId(0),
        );
        assert_eq!(parsed.errors.len(), 1, "{:#?}", parsed.errors);
        assert!(matches!(parsed.errors[0], SyntaxError::Lex(_)));
    }

    #[test]
    fn triple_quoted_strings_are_dedented() {
        let module = parse_ok(
            "pipeline p { step s = run x { command = \"\"\"\n      echo a\n        echo ${b}\n      done\n      \"\"\" } }",
        );
        let Member::Node(node) = &pipeline(&module).members[0] else {
            panic!()
        };
        let NodeValue::Action(action) = &node.value else {
            panic!()
        };
        let Some(ExprKind::Str(lit)) = action.body.as_ref().map(|b| &b.properties[0].value.kind)
        else {
            panic!()
        };
        assert_eq!(lit.parts.len(), 3);
        assert_eq!(lit.parts[0], StrPart::Text("echo a\n  echo ".into()));
        assert_eq!(lit.parts[2], StrPart::Text("\ndone\n".into()));
    }

    #[test]
    fn use_forms() {
        let module = parse_ok(
            "use std.analysis.success_rate\nuse std.analysis.{a, b}\nuse std.analysis\nuse \"./common.pipe\"\nuse ../lib/gates.pipe",
        );
        assert_eq!(module.items.len(), 5);
        let Item::Use(Use {
            target: UseTarget::File(path),
            ..
        }) = &module.items[4]
        else {
            panic!()
        };
        assert_eq!(path.as_plain().as_deref(), Some("../lib/gates.pipe"));
        let Item::Use(Use {
            target: UseTarget::Std { path, group, .. },
            ..
        }) = &module.items[1]
        else {
            panic!()
        };
        assert_eq!(path.len(), 1);
        assert_eq!(group.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn analysis_definitions() {
        let module = parse_ok(
            "analysis success_rate(service: string, min: percent = 95%) {\n metric rate { every = 1m\n times = 5 }\n}",
        );
        let Item::Analysis(a) = &module.items[0] else {
            panic!()
        };
        assert_eq!(a.params.len(), 2);
        assert_eq!(a.metrics.len(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        for src in [
            "",
            "}}}}",
            "pipeline",
            "pipeline {",
            "pipeline p { service",
            "\"",
            "\"\"\"",
            "${",
            "\"${\"",
            "pipeline p { x = \"${ \" }",
            "/",
            "pipeline p { release a canary { check } }",
            "use std.",
            "analysis a(",
            "\u{0}\u{1}\u{2}",
        ] {
            let _ = parse(src, FileId(0));
        }
    }
}

#[cfg(test)]
mod depth_tests {
    use super::*;
    use crate::lexer::MAX_NESTING;

    /// One expression of each construct that nests, `levels` deep.
    fn nested(construct: &str, levels: usize) -> String {
        let body = match construct {
            "paren" => format!("{}1{}", "(".repeat(levels), ")".repeat(levels)),
            "list" => format!("{}1{}", "[".repeat(levels), "]".repeat(levels)),
            "record" => format!("{}1{}", "{a = ".repeat(levels), "}".repeat(levels)),
            "not" => format!("{}true", "not ".repeat(levels)),
            "and" => format!("true{}", " and true".repeat(levels)),
            "or" => format!("true{}", " or true".repeat(levels)),
            "triple" => format!(
                "{}\"x\"{}",
                "\"\"\"${".repeat(levels),
                "}\"\"\"".repeat(levels)
            ),
            "unclosed" => "[".repeat(levels),
            "unclosed_string" => "\"\"\"${".repeat(levels),
            other => unreachable!("no construct {other}"),
        };
        format!("pipeline p {{ x = {body} }}")
    }

    const CONSTRUCTS: [&str; 9] = [
        "paren",
        "list",
        "record",
        "not",
        "and",
        "or",
        "triple",
        "unclosed",
        "unclosed_string",
    ];

    fn too_deep(parsed: &Parsed) -> bool {
        parsed.errors.iter().any(|e| match e {
            SyntaxError::Lex(l) => l.kind == lexer::LexErrorKind::NestedTooDeeply,
            SyntaxError::Parse(p) => p.custom == Some(CustomError::ExpressionTooDeep),
        })
    }

    /// A million levels of any construct is refused with one clear error, on an ordinary
    /// 2 MiB thread: no recursion follows the input's depth, in parsing or in dropping.
    #[test]
    fn a_million_levels_of_each_construct_is_refused_without_overflow() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                for construct in CONSTRUCTS {
                    let parsed = parse(&nested(construct, 1_000_000), FileId(0));
                    assert!(
                        too_deep(&parsed),
                        "{construct}: {:?}",
                        parsed.errors.first()
                    );
                }
            })
            .unwrap();
        handle.join().unwrap();
    }

    /// Real programs nest far less than the limits, and parse cleanly up to them.
    #[test]
    fn nesting_within_the_limits_parses() {
        // Inside `pipeline p { … }`, one level in; a string with an interpolation is two.
        // (construct, levels that parse, levels refused)
        for (construct, within, beyond) in [
            ("paren", MAX_NESTING - 1, MAX_NESTING + 1),
            ("list", MAX_NESTING - 1, MAX_NESTING + 1),
            ("record", MAX_NESTING - 1, MAX_NESTING + 1),
            ("triple", MAX_NESTING / 2 - 1, MAX_NESTING + 1),
            ("not", MAX_EXPR_DEPTH - 2, MAX_EXPR_DEPTH + 1),
            ("and", MAX_EXPR_DEPTH - 2, MAX_EXPR_DEPTH + 1),
            ("or", MAX_EXPR_DEPTH - 2, MAX_EXPR_DEPTH + 1),
        ] {
            let parsed = parse(&nested(construct, within), FileId(0));
            assert!(
                parsed.errors.is_empty(),
                "{construct}: {:?}",
                parsed.errors.first()
            );
            assert!(too_deep(&parse(&nested(construct, beyond), FileId(0))));
        }
    }
}
