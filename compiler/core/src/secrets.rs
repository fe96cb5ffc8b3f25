//! W0005: secrets written as literals. A token in a `.pipe` file is in the repository, in every
//! clone and CI log of it, and in the YAML pipec emits; a Kubernetes Secret is where it belongs
//! (`secret NAME = "k8s-secret" { KEY }`, then `NAME.KEY`).
//!
//! Every string of the user's files is looked at (the standard library is not), as written, with
//! interpolations standing apart: a value from `${…}` is never a literal. A string is reported
//! when it holds
//!
//! - a token with a known, documented prefix and shape: AWS access key IDs (`AKIA`, `ASIA`),
//!   GitHub tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab personal
//!   tokens (`glpat-`), Stripe live keys (`sk_live_`, `rk_live_`), Slack tokens (`xox?-`) and
//!   incoming webhooks (`hooks.slack.com/services/`), Google API keys (`AIza`), npm tokens
//!   (`npm_`), JSON Web Tokens (`eyJ….eyJ….…`) and PEM private keys;
//! - a password in a URL (`scheme://user:password@host`);
//! - anything at all as the value of a key named like a credential (`DB_PASSWORD = "hunter2"`,
//!   `api_token = "…"`): a password need not look random to be one.
//!
//! A line is exempt when it, or the line above it, has a comment `pipec:allow W0005` (a test
//! fixture, a documented public demo key).

use std::collections::BTreeSet;

use pipec_syntax::token::Token;
use pipec_syntax::{FileId, Span};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::modules::ModuleGraph;
use crate::source::{Origin, SourceDb};

/// What a comment says to exempt its line and the next from this lint.
pub const ALLOW: &str = "pipec:allow W0005";

/// Stands for an interpolation in the text of a string being looked at.
const HOLE: char = '\u{0}';

pub fn lint(graph: &ModuleGraph, sources: &SourceDb, diags: &mut Diagnostics) {
    for module in &graph.modules {
        let Some(file) = sources.get(module.file) else {
            continue;
        };
        if file.origin != Origin::User {
            continue;
        }
        let allowed: BTreeSet<usize> = module
            .ast
            .comments
            .iter()
            .filter(|c| c.text.contains(ALLOW))
            .flat_map(|c| {
                let line = file.line_col(c.span.start).0;
                [line, line + 1]
            })
            .collect();
        for string in strings(&file.text, module.file) {
            if allowed.contains(&file.line_col(string.span.start).0) {
                continue;
            }
            if let Some(what) = finding(&string) {
                diags.push(
                    Diagnostic::new(Code::W0005, string.span, format!("{what} written in the pipeline"))
                        .label("a secret in the repository, every clone and the generated YAML")
                        .help(format!(
                            "keep it in a Kubernetes Secret and refer to it: `secret creds = \"my-secret\" {{ KEY }}`, then `creds.KEY`; revoke this one, it is already in the history. A comment `{ALLOW}` exempts the line"
                        )),
                );
            }
        }
    }
}

/// One string literal: its text as written, each interpolation a [`HOLE`], and the key it is
/// the value of (`key = "…"`), if any.
struct Literal<'a> {
    key: Option<&'a str>,
    text: String,
    span: Span,
}

/// Every string literal of `text`, nested ones (inside interpolations) included. Linear.
fn strings(text: &str, file: FileId) -> Vec<Literal<'_>> {
    let lexed = pipec_syntax::lexer::lex(text, file);
    let tokens = &lexed.tokens;
    let mut open: Vec<Literal<'_>> = Vec::new();
    let mut done = Vec::new();
    for (i, (token, span)) in tokens.iter().enumerate() {
        match token {
            Token::StrStart(_) => {
                let before = |back: usize| i.checked_sub(back).and_then(|j| tokens.get(j));
                // `secret token = "name" { … }` names a Kubernetes Secret: that is no value.
                let declares_secret = matches!(before(3), Some((Token::Ident("secret"), _)));
                let key = match (before(2), before(1)) {
                    (Some((Token::Ident(key), _)), Some((Token::Ctrl('='), _)))
                        if !declares_secret =>
                    {
                        Some(*key)
                    }
                    _ => None,
                };
                open.push(Literal {
                    key,
                    text: String::new(),
                    span: *span,
                });
            }
            Token::StrText(part) => {
                if let Some(literal) = open.last_mut() {
                    literal.text.push_str(part);
                }
            }
            Token::InterpStart => {
                if let Some(literal) = open.last_mut() {
                    literal.text.push(HOLE);
                }
            }
            Token::StrEnd => {
                if let Some(mut literal) = open.pop() {
                    literal.span = literal.span.to(*span);
                    done.push(literal);
                }
            }
            _ => {}
        }
    }
    done
}

/// What the literal holds that looks like a secret, described for the message.
fn finding(literal: &Literal<'_>) -> Option<&'static str> {
    let text = literal.text.as_str();
    if let Some(what) = known_token(text) {
        return Some(what);
    }
    if password_in_url(text) {
        return Some("a password in a URL");
    }
    let static_value = !text.is_empty() && !text.contains(HOLE) && !text.starts_with('/');
    if static_value && literal.key.is_some_and(names_a_credential) {
        return Some("a credential");
    }
    None
}

/// Whether a key names a credential: it ends in a word such as `password` or `token`
/// (`DB_PASSWORD`, `apiToken`), but not, say, `PASSWORD_FILE`, which names where one is.
fn names_a_credential(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    const ENDINGS: [&str; 12] = [
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "api_key",
        "access_key",
        "secret_key",
        "private_key",
        "credentials",
    ];
    ENDINGS.iter().any(|ending| key.ends_with(ending))
}

/// `scheme://user:password@host` with a password written out (not interpolated).
fn password_in_url(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let authority = after.split(['/', '?', '#', ' ', '"']).next().unwrap_or("");
        if let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_user, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && !password.contains(HOLE)
        {
            return true;
        }
        rest = after;
    }
    false
}

/// Characters of the bodies of the tokens below.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A token of a known provider, by its documented prefix and body.
fn known_token(text: &str) -> Option<&'static str> {
    // (prefix, characters of the body, shortest body, what it is)
    type Shape = (&'static str, fn(char) -> bool, usize, &'static str);
    let upper_digit: fn(char) -> bool = |c| c.is_ascii_uppercase() || c.is_ascii_digit();
    let alnum: fn(char) -> bool = |c| c.is_ascii_alphanumeric();
    let word: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || c == '_';
    let shapes: [Shape; 16] = [
        ("AKIA", upper_digit, 16, "an AWS access key ID"),
        ("ASIA", upper_digit, 16, "an AWS access key ID"),
        ("ghp_", alnum, 36, "a GitHub token"),
        ("gho_", alnum, 36, "a GitHub token"),
        ("ghu_", alnum, 36, "a GitHub token"),
        ("ghs_", alnum, 36, "a GitHub token"),
        ("ghr_", alnum, 36, "a GitHub token"),
        ("github_pat_", word, 22, "a GitHub token"),
        ("glpat-", token_char, 20, "a GitLab token"),
        ("sk_live_", alnum, 24, "a Stripe live key"),
        ("rk_live_", alnum, 24, "a Stripe live key"),
        ("xoxb-", token_char, 10, "a Slack token"),
        ("xoxp-", token_char, 10, "a Slack token"),
        (
            "hooks.slack.com/services/T",
            |c| token_char(c) || c == '/',
            20,
            "a Slack webhook URL",
        ),
        ("AIza", token_char, 35, "a Google API key"),
        ("npm_", alnum, 36, "an npm token"),
    ];
    for (prefix, body, shortest, what) in shapes {
        for (at, _) in text.match_indices(prefix) {
            // The prefix must start a word: `xAKIA…` is not a key.
            let starts_word = text[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !token_char(c));
            let length = text[at + prefix.len()..]
                .chars()
                .take_while(|&c| body(c))
                .count();
            if (starts_word || prefix.contains('.')) && length >= shortest {
                return Some(what);
            }
        }
    }
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        return Some("a private key");
    }
    if json_web_token(text) {
        return Some("a JSON Web Token");
    }
    None
}

/// `eyJ…` `.` `eyJ…` `.` signature: a JWT's base64url header and payload both begin `{"`.
fn json_web_token(text: &str) -> bool {
    text.match_indices("eyJ").any(|(at, _)| {
        let mut parts = text[at..].splitn(3, '.');
        let header = parts.next().unwrap_or("");
        let payload = parts.next().unwrap_or("");
        let signature: String = parts
            .next()
            .unwrap_or("")
            .chars()
            .take_while(|&c| token_char(c))
            .collect();
        header.len() >= 10
            && header.chars().all(token_char)
            && payload.starts_with("eyJ")
            && payload.len() >= 10
            && payload.chars().all(token_char)
            && signature.len() >= 10
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal<'a>(key: Option<&'a str>, text: &str) -> Literal<'a> {
        Literal {
            key,
            text: text.to_string(),
            span: Span::new(FileId(0), 0..0),
        }
    }

    /// Shapes from the providers' documentation (fake values of the documented form).
    #[test]
    fn secrets_are_found_and_ordinary_strings_are_not() {
        let found = [
            (Some("DB_PASSWORD"), "hunter2"),
            (Some("apiToken"), "abc"),
            (None, "aws s3 ls --key AKIAIOSFODNN7EXAMPLE"),
            (
                None,
                "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/x.git",
            ),
            (
                None,
                "git clone https://bot:s3cret@git.example.com/repo.git",
            ),
            (
                None,
                "curl -u x https://api.stripe.com -H 'sk_live_abcdefghijklmnopqrstuvwx'",
            ),
            (
                None,
                "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            ),
            (
                None,
                "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            ),
            (None, "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
            (None, "glpat-abcdefghij0123456789"),
        ];
        for (key, text) in found {
            assert!(finding(&literal(key, text)).is_some(), "{key:?} = {text:?}");
        }
        let fine = [
            (Some("DB_PASSWORD"), "\u{0}"),
            (Some("PASSWORD_FILE"), "/run/secrets/db"),
            (Some("password_file"), "db.txt"),
            (Some("tag"), "AKIA"),
            (None, "https://user:\u{0}@git.example.com/repo.git"),
            (None, "https://git.example.com/repo.git"),
            (None, "postgres://db:5432/app"),
            (None, "echo ghp_ is a prefix"),
            (None, "registry.example.com/ornithology"),
            (Some("repo"), "https://github.com/acme/ornithology.git"),
        ];
        // A secret's declaration names the Kubernetes Secret, whatever the secret is called.
        let declared: Vec<_> = strings(
            "pipeline p { secret token = \"k8s-name\" { KEY } }",
            FileId(0),
        )
        .into_iter()
        .filter_map(|l| finding(&l))
        .collect();
        assert!(declared.is_empty(), "{declared:?}");
        for (key, text) in fine {
            assert_eq!(finding(&literal(key, text)), None, "{key:?} = {text:?}");
        }
    }
}
