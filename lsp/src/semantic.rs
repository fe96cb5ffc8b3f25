//! Semantic tokens: highlighting from the lexer, for editors that colour through the server
//! (Neovim does by default). Keywords, names, properties, calls, strings with their
//! interpolations, numbers, durations, percents, regexes and comments.

use lsp_types::{SemanticToken, SemanticTokenType, SemanticTokensLegend};
use pipec_syntax::FileId;
use pipec_syntax::lexer::lex;
use pipec_syntax::parser::is_keyword;
use pipec_syntax::token::Token;

use crate::LineIndex;

/// The token types, in the order of their indices in the legend.
const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::REGEXP,
    SemanticTokenType::NAMESPACE,
];

#[derive(Clone, Copy)]
enum Kind {
    Keyword,
    String,
    Number,
    Comment,
    Variable,
    Property,
    Function,
    Operator,
    Regexp,
    Namespace,
}

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: Vec::new(),
    }
}

/// Words that read as keywords where they appear, beyond the parser's reserved list.
const CONTEXTUAL: &[&str] = &[
    "canary",
    "rolling",
    "bluegreen",
    "build",
    "push",
    "run",
    "exec",
    "of",
    "failure",
    "diagnostics",
    "schedule",
    "webhook",
    "branch",
    "tag",
    "timezone",
];

/// The semantic tokens of a whole document, encoded as the protocol wants (deltas, UTF-16).
pub fn tokens(text: &str) -> Vec<SemanticToken> {
    let lexed = lex(text, FileId(0));
    let mut spans: Vec<(usize, usize, Kind)> = Vec::new();
    let tokens = &lexed.tokens;
    for (i, (token, span)) in tokens.iter().enumerate() {
        let (start, end) = (span.start as usize, span.end as usize);
        let next = tokens.get(i + 1).map(|(t, _)| t);
        let previous = i.checked_sub(1).and_then(|j| tokens.get(j)).map(|(t, _)| t);
        let kind = match token {
            Token::Ident(word) => {
                let declared = matches!(
                    previous,
                    Some(Token::Ident(
                        "pipeline"
                            | "param"
                            | "secret"
                            | "image"
                            | "step"
                            | "service"
                            | "environment"
                            | "release"
                            | "analysis"
                            | "metric"
                    ))
                );
                if declared {
                    Kind::Variable
                } else if matches!(previous, Some(Token::Ctrl(':'))) {
                    // A parameter's type.
                    Kind::Keyword
                } else if matches!(next, Some(Token::Ctrl('=')))
                    && !matches!(previous, Some(Token::Ctrl('.')))
                {
                    Kind::Property
                } else if matches!(next, Some(Token::Ctrl('('))) {
                    Kind::Function
                } else if matches!(next, Some(Token::Ctrl('.')))
                    && matches!(*word, "git" | "run" | "std")
                {
                    Kind::Namespace
                } else if is_keyword(word) || CONTEXTUAL.contains(word) {
                    Kind::Keyword
                } else {
                    Kind::Variable
                }
            }
            Token::Int(_) | Token::Float(_) | Token::Duration(_) | Token::Percent(_) => {
                Kind::Number
            }
            Token::Regex(_) => Kind::Regexp,
            Token::StrStart(_) | Token::StrText(_) | Token::StrEnd => Kind::String,
            Token::Op(_) => Kind::Operator,
            Token::FilePath(_) => Kind::String,
            Token::InterpStart
            | Token::InterpEnd
            | Token::BadNumber(_)
            | Token::Elided
            | Token::Ctrl(_) => {
                continue;
            }
        };
        spans.push((start, end, kind));
    }
    for comment in &lexed.comments {
        spans.push((
            comment.span.start as usize,
            comment.span.end as usize,
            Kind::Comment,
        ));
    }
    spans.sort_by_key(|s| s.0);
    // A string's quote and text are separate tokens; one highlight reads better.
    let mut merged: Vec<(usize, usize, Kind)> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last)
                if matches!((last.2, span.2), (Kind::String, Kind::String)) && last.1 == span.0 =>
            {
                last.1 = span.1;
            }
            _ => merged.push(span),
        }
    }
    encode(text, &merged)
}

/// Splits tokens at line breaks (a triple-quoted string spans lines) and encodes each piece
/// relative to the previous one.
fn encode(text: &str, spans: &[(usize, usize, Kind)]) -> Vec<SemanticToken> {
    let lines = LineIndex::new(text);
    let mut out = Vec::with_capacity(spans.len());
    let (mut last_line, mut last_char) = (0u32, 0u32);
    for &(start, end, kind) in spans {
        let Some(piece_text) = text.get(start..end) else {
            continue;
        };
        let mut piece_start = start;
        for piece in piece_text.split_inclusive('\n') {
            let visible = piece.trim_end_matches(['\n', '\r']);
            let length: u32 = visible.chars().map(|c| c.len_utf16() as u32).sum();
            if length > 0 {
                let position = lines.position(text, piece_start);
                let delta_line = position.line - last_line;
                let delta_start = if delta_line == 0 {
                    position.character - last_char
                } else {
                    position.character
                };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length,
                    token_type: kind as u32,
                    token_modifiers_bitset: 0,
                });
                last_line = position.line;
                last_char = position.character;
            }
            piece_start += piece.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, character, length, type name) of each token.
    fn decoded(text: &str) -> Vec<(u32, u32, u32, String)> {
        let (mut line, mut character) = (0, 0);
        tokens(text)
            .into_iter()
            .map(|t| {
                if t.delta_line > 0 {
                    line += t.delta_line;
                    character = t.delta_start;
                } else {
                    character += t.delta_start;
                }
                (
                    line,
                    character,
                    t.length,
                    TYPES[t.token_type as usize].as_str().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn kinds_and_utf16_positions() {
        let text = "// é𝄞\npipeline p {\n  param v: string = \"a${x}\"\n  image app = build \".\" { tag = git.sha }\n  release api canary { weight 20% }\n  step s = run app { command = \"\"\"\n    echo\n  \"\"\" }\n  service api { image = app }\n}\n";
        let tokens = decoded(text);
        let at = |line: u32, character: u32| {
            tokens
                .iter()
                .find(|t| t.0 == line && t.1 == character)
                .map(|t| (t.2, t.3.as_str()))
        };
        assert_eq!(at(0, 0), Some((6, "comment")), "`// é𝄞` is 6 UTF-16 units");
        assert_eq!(at(1, 0), Some((8, "keyword")));
        assert_eq!(
            at(2, 20),
            Some((2, "string")),
            "`\"a` before the interpolation"
        );
        assert_eq!(at(2, 24), Some((1, "variable")), "`x` inside it");
        assert_eq!(at(3, 8), Some((3, "variable")));
        assert_eq!(at(2, 11), Some((6, "keyword")), "the type `string`");
        assert_eq!(at(3, 14), Some((5, "keyword")), "`build`");
        assert_eq!(at(3, 26), Some((3, "property")), "`tag`");
        assert_eq!(at(3, 32), Some((3, "namespace")), "`git`");
        assert_eq!(at(4, 14), Some((6, "keyword")), "`canary`");
        assert_eq!(at(4, 30), Some((3, "number")), "`20%`");
        assert_eq!(
            at(8, 16),
            Some((5, "property")),
            "a keyword used as a property"
        );
        // The triple-quoted string is split at its line breaks.
        assert!(
            tokens.iter().any(|t| t.0 == 6 && t.3 == "string"),
            "{tokens:?}"
        );
    }
}
