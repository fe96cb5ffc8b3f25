//! `pipec fmt`: the canonical layout of a `.pipe` file.
//!
//! The formatter works on the token stream, not the AST: it re-emits exactly the tokens and
//! comments of the file in their order and only decides the whitespace between them, so it
//! cannot change what a file means (the grammar ignores whitespace) and keeps every comment.
//! Strings (with their interpolations) and comments are copied verbatim.
//!
//! The layout:
//! - Line breaks are the author's, but at most one blank line in a row, none at the start or
//!   end of the file, none just inside `{ … }`.
//! - Two spaces of indentation per open `{`, `[` or `(`.
//! - One space between tokens, except none inside `( … )` and `[ … ]` brackets, before `,`,
//!   `;`, `:`, around `.`, and between a name and the `(` of its call; one space inside
//!   `{ … }` on one line.
//! - Consecutive lines of one block that assign (`name = …`, `image app = …`) have their `=`
//!   aligned, as the examples do.
//! - A comment after code is two spaces after it.
//!
//! A file with syntax errors is not formatted: its token stream may not be what the author
//! meant, and the formatter must never guess.

use crate::lexer;
use crate::parser;
use crate::span::FileId;
use crate::token::Token;

/// Why a file was not formatted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// How many syntax errors the file has; `pipec check` shows them.
    pub syntax_errors: usize,
}

/// One thing to print: a token (a whole string literal counts as one), or a comment.
#[derive(Clone, Debug)]
struct Atom<'a> {
    text: &'a str,
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open(char),
    Close(char),
    Comma,
    Semicolon,
    Colon,
    Dot,
    Equals,
    Word,
    /// `and`, `or`, `not`: words a `(` keeps its distance from.
    Operator,
    Other,
    Comment,
}

/// Formats a whole file. Returns the file unchanged in meaning, with the canonical layout.
pub fn format(src: &str) -> Result<String, FormatError> {
    let parsed = parser::parse(src, FileId(0));
    if !parsed.errors.is_empty() {
        return Err(FormatError {
            syntax_errors: parsed.errors.len(),
        });
    }
    let atoms = atoms(src);
    let lines = lay_out(src, &atoms);
    // A byte order mark stays where it was (the lexer skips it, so no atom holds it).
    let bom = if src.starts_with(lexer::BOM) {
        lexer::BOM
    } else {
        ""
    };
    Ok(format!("{bom}{}", render(&lines)))
}

/// The tokens and comments of a file in source order, strings merged into one atom each.
fn atoms(src: &str) -> Vec<Atom<'_>> {
    let lexed = lexer::lex(src, FileId(0));
    let mut out: Vec<Atom<'_>> = Vec::with_capacity(lexed.tokens.len() + lexed.comments.len());
    let mut string_depth = 0usize;
    let mut string_start = 0usize;
    for (token, span) in &lexed.tokens {
        let (start, end) = (span.start as usize, span.end as usize);
        match token {
            Token::StrStart(_) => {
                if string_depth == 0 {
                    string_start = start;
                }
                string_depth += 1;
                continue;
            }
            Token::StrEnd => {
                string_depth = string_depth.saturating_sub(1);
                if string_depth == 0 {
                    out.push(Atom {
                        text: &src[string_start..end],
                        kind: Kind::Other,
                        start: string_start,
                        end,
                    });
                }
                continue;
            }
            _ if string_depth > 0 => continue,
            _ => {}
        }
        let kind = match token {
            Token::Ctrl(c @ ('{' | '(' | '[')) => Kind::Open(*c),
            Token::Ctrl(c @ ('}' | ')' | ']')) => Kind::Close(*c),
            Token::Ctrl(',') => Kind::Comma,
            Token::Ctrl(';') => Kind::Semicolon,
            Token::Ctrl(':') => Kind::Colon,
            Token::Ctrl('.') => Kind::Dot,
            Token::Ctrl('=') => Kind::Equals,
            Token::Ident("and" | "or" | "not") => Kind::Operator,
            Token::Ident(_) => Kind::Word,
            _ => Kind::Other,
        };
        out.push(Atom {
            text: &src[start..end],
            kind,
            start,
            end,
        });
    }
    for comment in &lexed.comments {
        let (start, end) = (comment.span.start as usize, comment.span.end as usize);
        out.push(Atom {
            text: src[start..end].trim_end(),
            kind: Kind::Comment,
            start,
            end,
        });
    }
    out.sort_by_key(|a| a.start);
    out
}

/// A line of output before alignment: its depth, and its atoms with the spaces before each.
struct Line<'a> {
    depth: usize,
    /// Blank line before this one.
    blank_before: bool,
    pieces: Vec<(usize, Atom<'a>)>,
}

fn lay_out<'a>(src: &str, atoms: &[Atom<'a>]) -> Vec<Line<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    let mut depth = 0usize;
    let mut previous: Option<&Atom<'a>> = None;
    for atom in atoms {
        let gap = previous.map_or("", |p| &src[p.end..atom.start]);
        let newlines = gap.matches('\n').count();
        let new_line = previous.is_none() || newlines > 0;
        if let Kind::Close(_) = atom.kind {
            depth = depth.saturating_sub(1);
        }
        if new_line {
            let after_open = previous.is_some_and(|p| matches!(p.kind, Kind::Open('{')));
            let before_close = matches!(atom.kind, Kind::Close('}'));
            lines.push(Line {
                depth,
                blank_before: newlines > 1 && !after_open && !before_close,
                pieces: vec![(0, atom.clone())],
            });
        } else if let (Some(prev), Some(line)) = (previous, lines.last_mut()) {
            line.pieces.push((space_between(prev, atom), atom.clone()));
        }
        if let Kind::Open(_) = atom.kind {
            depth += 1;
        }
        previous = Some(atom);
    }
    lines
}

/// Spaces between two atoms on one line.
fn space_between(before: &Atom<'_>, after: &Atom<'_>) -> usize {
    use Kind::*;
    match (before.kind, after.kind) {
        (_, Comment) => 2,
        (Dot, _) | (_, Dot) => 0,
        (_, Comma | Semicolon | Colon) => 0,
        (Open('(' | '['), _) | (_, Close(')' | ']')) => 0,
        (Word, Open('(')) => 0,
        _ => 1,
    }
}

/// Prints the lines, aligning the `=` of consecutive assignments at one depth.
fn render(lines: &[Line<'_>]) -> String {
    let mut out = String::new();
    let widths = alignment(lines);
    for (i, line) in lines.iter().enumerate() {
        if line.blank_before && i > 0 {
            out.push('\n');
        }
        for _ in 0..line.depth {
            out.push_str("  ");
        }
        let align_at = widths[i];
        let mut column = 0usize;
        for (j, (spaces, atom)) in line.pieces.iter().enumerate() {
            let mut spaces = *spaces;
            if let Some(width) = align_at
                && atom.kind == Kind::Equals
                && is_assignment_at(line, j)
            {
                spaces = width.saturating_sub(column) + 1;
            }
            for _ in 0..spaces {
                out.push(' ');
            }
            out.push_str(atom.text);
            column += spaces + atom.text.chars().count();
        }
        out.push('\n');
    }
    out
}

/// Whether atom `j` of the line is its assignment `=`: the first atom that is `=`, after one
/// to three words.
fn is_assignment_at(line: &Line<'_>, j: usize) -> bool {
    assignment_prefix(line) == Some(j)
}

/// The index of a line's assignment `=`, if the line starts with one to three words and `=`.
fn assignment_prefix(line: &Line<'_>) -> Option<usize> {
    let index = line.pieces.iter().position(|(_, a)| a.kind != Kind::Word)?;
    (index > 0 && index <= 3 && line.pieces[index].1.kind == Kind::Equals).then_some(index)
}

/// For each line, the column its `=` aligns to: the widest prefix of its run of consecutive
/// assignment lines at one depth (runs are broken by blank lines and other lines).
fn alignment(lines: &[Line<'_>]) -> Vec<Option<usize>> {
    let prefix_width = |line: &Line<'_>| -> Option<usize> {
        let index = assignment_prefix(line)?;
        Some(
            line.pieces[..index]
                .iter()
                .map(|(s, a)| s + a.text.chars().count())
                .sum(),
        )
    };
    let mut widths = vec![None; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = prefix_width(&lines[i]) else {
            i += 1;
            continue;
        };
        let mut end = i + 1;
        let mut widest = first;
        while end < lines.len()
            && !lines[end].blank_before
            && lines[end].depth == lines[i].depth
            && let Some(w) = prefix_width(&lines[end])
        {
            widest = widest.max(w);
            end += 1;
        }
        for width in &mut widths[i..end] {
            *width = Some(widest);
        }
        i = end;
    }
    widths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(src: &str) -> String {
        format(src).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn canonical_layout() {
        let src = "pipeline  p {\n\n\n   repo=\"x\"   // the repo\n  image app=build \".\" {tag=run.id , cache = \"c\"}\n\n\n  step unit = run app { command = \"npm test\" }\n\n}\n";
        assert_eq!(
            fmt(src),
            "pipeline p {\n  repo      = \"x\"  // the repo\n  image app = build \".\" { tag = run.id, cache = \"c\" }\n\n  step unit = run app { command = \"npm test\" }\n}\n"
        );
    }

    #[test]
    fn calls_conditions_and_lists() {
        let src = "pipeline p {\n service s {\n  ready = http_get ( \"/r\" )\n  port = 80\n }\n image x = push a { when = u.passed and ( git.branch == \"m\" or git.tag ~ /^h/ ) }\n step t = run a { after = [ u , v ] }\n}\n";
        assert_eq!(
            fmt(src),
            "pipeline p {\n  service s {\n    ready = http_get(\"/r\")\n    port  = 80\n  }\n  image x = push a { when = u.passed and (git.branch == \"m\" or git.tag ~ /^h/) }\n  step t  = run a { after = [u, v] }\n}\n"
        );
    }

    #[test]
    fn strings_and_comments_are_verbatim() {
        let src = "// head\npipeline p {\n  param v: string = \"a  ${ x }  b\"\n  step s = run \"i\" { command = \"\"\"\n      echo  1\n        echo 2\n  \"\"\" }\n}\n";
        let out = fmt(src);
        assert!(out.contains("\"a  ${ x }  b\""), "{out}");
        assert!(
            out.contains("\"\"\"\n      echo  1\n        echo 2\n  \"\"\""),
            "{out}"
        );
        assert!(out.starts_with("// head\n"));
        assert!(out.contains("param v: string = "), "{out}");
    }

    #[test]
    fn idempotent_on_its_own_output() {
        let src = "pipeline p {\n repo = \"x\"\n  secret db = \"d\" { a, b }\n   image app = build \".\" {\n repo = \"r\"\n  tag = run.id\n }\n}\n";
        let once = fmt(src);
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn broken_files_are_not_formatted() {
        assert!(format("pipeline p { image = }").is_err());
        assert!(format("pipeline p { repo = \"x }").is_err());
    }
}
