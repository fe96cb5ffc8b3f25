//! `{{=…}}` expression tags, evaluated with expr-lang by Argo (`util/template/expression_template.go`):
//! the result is JSON-marshalled, and a string's quotes are trimmed, so a bool becomes the text
//! `true`/`false` that a `when` then evaluates with govaluate.
//!
//! The subset here is what pipec writes into `when`: string literals in `'…'` (with `\'` and
//! `\\` escapes), `workflow.parameters['NAME']` and `workflow.status`, `==`, `!=`, `matches`
//! (Go RE2), `!`/`not`, `&&`/`and`, `||`/`or`, `+` on strings, parentheses. Anything else is an
//! error, never a guess.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Bool(bool),
}

impl Value {
    /// The text Argo puts in place of the tag.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

/// What an expression can read.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub parameters: BTreeMap<String, String>,
    /// `workflow.status`, in an exit handler.
    pub status: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Str(String),
    Word(String),
    Op(&'static str),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Dot,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '\'' | '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unclosed string".to_string()),
                        Some(&q) if q == c => break,
                        Some('\\') => {
                            let escaped = chars.get(i + 1).ok_or("bad escape")?;
                            s.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => *other,
                            });
                            i += 2;
                        }
                        Some(&other) => {
                            s.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Str(s));
            }
            '(' | ')' | '[' | ']' | '.' => {
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    ']' => Token::CloseBracket,
                    _ => Token::Dot,
                });
                i += 1;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "and" => Token::Op("&&"),
                    "or" => Token::Op("||"),
                    "not" => Token::Op("!"),
                    "matches" => Token::Op("matches"),
                    _ => Token::Word(word),
                });
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = ["==", "!=", "&&", "||"]
                    .into_iter()
                    .find(|op| *op == two)
                    .or(match c {
                        '!' => Some("!"),
                        '+' => Some("+"),
                        _ => None,
                    })
                    .ok_or(format!("`{c}` is not supported here"))?;
                out.push(Token::Op(op));
                i += op.len();
            }
        }
    }
    Ok(out)
}

struct Parser<'e> {
    tokens: Vec<Token>,
    at: usize,
    env: &'e Env,
}

const LEVELS: [&[&str]; 4] = [&["||"], &["&&"], &["==", "!=", "matches"], &["+"]];

impl Parser<'_> {
    fn binary(&mut self, level: usize) -> Result<Value, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(Token::Op(op)) = self.tokens.get(self.at).cloned() {
            if !LEVELS[level].contains(&op) {
                break;
            }
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = match (op, left, right) {
                ("||", Value::Bool(a), Value::Bool(b)) => Value::Bool(a || b),
                ("&&", Value::Bool(a), Value::Bool(b)) => Value::Bool(a && b),
                ("==", a, b) => Value::Bool(a == b),
                ("!=", a, b) => Value::Bool(a != b),
                ("+", Value::Str(a), Value::Str(b)) => Value::Str(a + &b),
                ("matches", Value::Str(s), Value::Str(p)) => {
                    let re = regex::Regex::new(&p).map_err(|e| e.to_string())?;
                    Value::Bool(re.is_match(&s))
                }
                (op, a, b) => return Err(format!("`{op}` cannot apply to {a:?} and {b:?}")),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, String> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Op("!")) => {
                self.at += 1;
                match self.unary()? {
                    Value::Bool(b) => Ok(Value::Bool(!b)),
                    other => Err(format!("`!` cannot apply to {other:?}")),
                }
            }
            Some(Token::Open) => {
                self.at += 1;
                let v = self.binary(0)?;
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return Err("unclosed `(`".to_string());
                }
                self.at += 1;
                Ok(v)
            }
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(Value::Str(s))
            }
            Some(Token::Word(w)) => {
                self.at += 1;
                match w.as_str() {
                    "true" => return Ok(Value::Bool(true)),
                    "false" => return Ok(Value::Bool(false)),
                    "workflow" => {}
                    other => return Err(format!("unknown name `{other}`")),
                }
                self.path()
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    /// After `workflow`: `.status`, `.parameters['NAME']` or `.parameters.NAME`.
    fn path(&mut self) -> Result<Value, String> {
        let field = self.member()?;
        match field.as_str() {
            "status" => self
                .env
                .status
                .clone()
                .map(Value::Str)
                .ok_or_else(|| "workflow.status is only known in an exit handler".to_string()),
            "parameters" => {
                let name = self.member()?;
                self.env
                    .parameters
                    .get(&name)
                    .cloned()
                    .map(Value::Str)
                    .ok_or_else(|| format!("no parameter `{name}`"))
            }
            other => Err(format!("workflow.{other} is not supported")),
        }
    }

    fn member(&mut self) -> Result<String, String> {
        match (self.tokens.get(self.at), self.tokens.get(self.at + 1)) {
            (Some(Token::Dot), Some(Token::Word(w))) => {
                let w = w.clone();
                self.at += 2;
                Ok(w)
            }
            (Some(Token::OpenBracket), Some(Token::Str(s)))
                if self.tokens.get(self.at + 2) == Some(&Token::CloseBracket) =>
            {
                let s = s.clone();
                self.at += 3;
                Ok(s)
            }
            _ => Err("expected `.name` or `['name']`".to_string()),
        }
    }
}

/// The value of one expression (the text between `{{=` and `}}`).
pub fn eval(text: &str, env: &Env) -> Result<Value, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        env,
    };
    let v = parser.binary(0)?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected text in `{text}`"));
    }
    Ok(v)
}

/// `text` with its tags replaced as Argo replaces them in a `when`: `{{workflow.status}}`,
/// `{{workflow.parameters.NAME}}` and `{{=…}}`.
pub fn substitute(text: &str, env: &Env) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let len = rest[start..].find("}}").ok_or("unclosed `{{`")?;
        let tag = rest[start + 2..start + len].trim();
        let value = if let Some(expression) = tag.strip_prefix('=') {
            eval(expression, env)?.text()
        } else if tag == "workflow.status" {
            env.status
                .clone()
                .ok_or("workflow.status is only known in an exit handler")?
        } else if let Some(name) = tag.strip_prefix("workflow.parameters.") {
            env.parameters
                .get(name)
                .cloned()
                .ok_or(format!("no parameter `{name}`"))?
        } else {
            return Err(format!("`{{{{{tag}}}}}` is not supported"));
        };
        out.push_str(&value);
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Ok(out)
}
