//! Wording for syntax errors: the syntax crate reports what went wrong, this module says it
//! to the user with a code and a help line.

use pipec_syntax::SyntaxError;
use pipec_syntax::lexer::LexErrorKind;
use pipec_syntax::parser::CustomError;

use crate::codes::Code;
use crate::diagnostic::Diagnostic;

pub fn to_diagnostic(error: &SyntaxError) -> Diagnostic {
    match error {
        SyntaxError::Lex(e) => {
            let span = e.span;
            match &e.kind {
                LexErrorKind::InvalidCharacters(text) => {
                    let shown: String = text.chars().take(12).flat_map(char::escape_debug).collect();
                    let one = text.chars().count() == 1;
                    let help = if text.starts_with('#') {
                        "comments start with `//`".to_string()
                    } else if !text.is_ascii() {
                        "names are ASCII letters, digits and `_`; other text belongs in a string".to_string()
                    } else if text == "-" {
                        "names use `_`, not `-` (pipec turns `_` into `-` in Kubernetes names)".to_string()
                    } else {
                        "remove it, or put the text in double quotes".to_string()
                    };
                    Diagnostic::new(
                        Code::E0007,
                        span,
                        if one {
                            format!("unexpected character `{shown}`")
                        } else {
                            format!("unexpected characters `{shown}`")
                        },
                    )
                    .label("not part of any token")
                    .help(help)
                }
                LexErrorKind::UnterminatedString => Diagnostic::new(Code::E0002, span, "this string is never closed")
                    .label("the string ends here, without its closing quote")
                    .help("add the closing `\"`; for text over several lines use a triple-quoted string `\"\"\"…\"\"\"`"),
                LexErrorKind::UnterminatedTripleString => Diagnostic::new(Code::E0002, span, "this string is never closed")
                    .label("this `\"\"\"` opens a string that runs to the end of the file")
                    .help("add the closing `\"\"\"` where the text ends"),
                LexErrorKind::UnterminatedInterpolation => {
                    Diagnostic::new(Code::E0003, span, "`${` is never closed")
                        .label("expected `}` here")
                        .help("close the interpolation with `}`, or write `\\${` for a literal `${`")
                }
                LexErrorKind::UnterminatedRegex => {
                    Diagnostic::new(Code::E0004, span, "this regular expression is never closed")
                        .label("no closing `/` on this line")
                        .help("end the pattern with `/`; write a slash inside the pattern as `\\/`")
                }
                LexErrorKind::InvalidEscape(text) => Diagnostic::new(Code::E0005, span, format!("unknown escape `{text}`"))
                .label("not a valid escape")
                .help("valid escapes: \\\" \\\\ \\n \\t \\r \\0 \\$ \\u{…}; write a backslash as `\\\\`"),
                LexErrorKind::NestedTooDeeply => nested_too_deeply(span, "nested more than 64 levels deep"),
                LexErrorKind::BidiControl(c) => {
                    let c = *c;
                    let name = pipec_syntax::lexer::BIDI_CONTROLS
                        .iter()
                        .find(|(b, _)| *b == c)
                        .map_or("bidirectional control", |(_, n)| n);
                    let code = format!("\\u{{{:04X}}}", u32::from(c));
                    Diagnostic::new(Code::E0013, span, format!("invisible U+{:04X} {name} in the text", u32::from(c)))
                        .label("an editor shows the text around it in another order than pipec reads it")
                        .help(format!("delete it; if a string needs it, write it as the escape `{code}` in a `\"…\"` string"))
                }
                LexErrorKind::InvalidNumber(text) => {
                    Diagnostic::new(Code::E0006, span, format!("`{text}` is not a valid number, percentage or duration"))
                        .label("invalid literal")
                        .help(number_help(text))
                }
            }
        }
        SyntaxError::Parse(e) => {
            match e.custom {
                Some(CustomError::EmptyInterpolation) => {
                    return Diagnostic::new(Code::E0010, e.span, "empty interpolation")
                        .label("nothing between `${` and `}`")
                        .help(
                            "write an expression between `${` and `}`, or `\\${` for a literal `${`",
                        );
                }
                Some(CustomError::ExpressionTooDeep) => {
                    return nested_too_deeply(
                        e.span,
                        "this expression is more than 128 levels deep",
                    );
                }
                Some(CustomError::MissingRefValue) => {
                    return Diagnostic::new(Code::E0001, e.span, "the branch or tag to trigger on is missing")
                        .label("nothing follows")
                        .help("write the branch or tag: `on push branch \"main\"`, or a pattern: `on push tag ~ /^v[0-9]+/`; or drop it to trigger on every push");
                }
                None => {}
            }
            let found = e.found.clone().unwrap_or_else(|| "end of file".to_string());
            let expected = expected_list(&e.expected);
            // Chumsky lists contexts innermost first.
            let context = e.contexts.first();
            let message = match context {
                Some((what, _)) => format!("unexpected {found} in {}", with_article(what)),
                None => format!("unexpected {found}"),
            };
            let context_name = context.map(|(what, _)| what.as_str());
            let d = Diagnostic::new(Code::E0001, e.span, message).label(match &expected {
                Some(list) => format!("expected {list}"),
                None => "not expected here".to_string(),
            });
            d.help(parse_help(e.found.as_deref(), &e.expected, context_name))
        }
    }
}

fn with_article(what: &str) -> String {
    let first = what.chars().next().unwrap_or('x');
    if what.starts_with('`') {
        what.to_string()
    } else if "aeiou".contains(first) {
        format!("an {what}")
    } else {
        format!("a {what}")
    }
}

/// Tokens that would only continue the expression just read; listing them rarely helps.
const CONTINUATIONS: &[&str] = &[
    "==", "!=", "~", "!~", "<", "<=", ">", ">=", "and", "or", "`.`", "`(`",
];

fn expected_list(expected: &[String]) -> Option<String> {
    let mut useful: Vec<&String> = expected
        .iter()
        .filter(|e| e.as_str() != "something else" && e.as_str() != "any token")
        .collect();
    if useful.iter().any(|e| !CONTINUATIONS.contains(&e.as_str())) {
        useful.retain(|e| !CONTINUATIONS.contains(&e.as_str()));
    }
    // Openers come from error recovery trying to skip a bracketed group; a closer is the real
    // expectation when there is one.
    if useful
        .iter()
        .any(|e| matches!(e.as_str(), "`}`" | "`)`" | "`]`"))
    {
        useful.retain(|e| !matches!(e.as_str(), "`{`" | "`(`" | "`[`"));
    }
    // Separators are optional everywhere; naming them only adds noise.
    if useful.iter().any(|e| !matches!(e.as_str(), "`,`" | "`;`")) {
        useful.retain(|e| !matches!(e.as_str(), "`,`" | "`;`"));
    }
    match useful.len() {
        0 => None,
        1 => Some(useful[0].clone()),
        n if n <= 6 => {
            let (last, rest) = useful.split_last()?;
            Some(format!(
                "{} or {last}",
                rest.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        _ => Some(format!(
            "{} or another of {} possibilities",
            useful
                .iter()
                .take(4)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            useful.len() - 4
        )),
    }
}

fn parse_help(found: Option<&str>, expected: &[String], context: Option<&str>) -> String {
    let expects = |s: &str| expected.iter().any(|e| e == s);
    match found {
        None => "the file ends too early: close every `{`, `(` and `[` that is still open".to_string(),
        Some("`}`") if expects(pipec_syntax::parser::TOP_LEVEL) => {
            "this `}` closes nothing: remove it, or look above for a `}` too many".to_string()
        }
        Some(_) if context == Some("release") && !expects("expression") => {
            "a release holds stages (`weight`, `replicas`, `pause`, `approve`, `check`, `analyze`) and settings (`name = value`)".to_string()
        }
        Some("`}`") if expects("expression") => "a value is missing before the `}`".to_string(),
        Some("`=`") if expects("expression") => "a value is missing after `=`".to_string(),
        Some(_) if expects("`=`") => "properties are written `name = value`".to_string(),
        Some(_) if expects("property") => {
            "a block holds one `name = value` per property; several values go in a list: `[a, b]`".to_string()
        }
        Some(_) if expects("name") => "a name is expected here: letters, digits and `_`, starting with a letter".to_string(),
        Some(_) if expects("expression") || expects("value") => {
            "write a value: a string, number, duration, percentage, name, list or record".to_string()
        }
        Some(_) if expects("declaration") => {
            "a pipeline holds `param`, `secret`, `image`, `step`, `service`, `release`, `on …` and `name = value` settings".to_string()
        }
        Some(_) => "check the syntax of this line against `docs/language.md`".to_string(),
    }
}

fn number_help(text: &str) -> String {
    let digits_then_unit = text.trim_end_matches(|c: char| c.is_ascii_digit());
    if digits_then_unit.len() < text.len() && text.chars().any(|c| c.is_ascii_alphabetic()) {
        return "every number in a duration needs a unit: `1h30m`, not `1h30`".to_string();
    }
    "numbers are `3` or `0.95`, percentages `10%`, durations `30s`, `10m`, `1h30m`, `2d`"
        .to_string()
}

/// E0012, from the lexer (brackets, strings) or the parser (one expression's depth).
fn nested_too_deeply(span: pipec_syntax::Span, label: &str) -> Diagnostic {
    Diagnostic::new(Code::E0012, span, "nested too deeply")
        .label(label)
        .help("flatten it: fewer levels of brackets, a regular expression instead of a long `or` chain; what lies beyond the limit is not checked")
}
