//! A task's `when`, after Argo has substituted its `{{…}}` tags, as Argo evaluates it.
//!
//! Upstream: `shouldExecute` in `workflow/controller/steps.go`: an empty `when` is true;
//! otherwise the text is parsed by govaluate, every variable token is turned into a string
//! token (so `foo == foo` compares two strings, and `Succeeded` alone is the text
//! `Succeeded`, not a bool), the expression is evaluated, and a result that is not a bool is an
//! error (the task's node gets phase Error). Values substituted into the text are not quoted,
//! so `feature/foo == feature/foo` divides strings: an error. `tests/conformance.rs` runs
//! `expressions/when-govaluate.yaml` against this module.
//!
//! The subset here is govaluate's: strings in `'…'` or `"…"` (no escapes; a string ends at
//! the next quote of either kind), numbers (float64),
//! `true`/`false`, words, `(` `)`, `!` and unary `-`, `* / %`, `+ -`, comparisons `== != < >
//! <= >= =~ !~`, `in (…, …)`, `&&`, `||`.

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    List(Vec<Value>),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Value(Value),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

const OPERATORS: [&str; 17] = [
    "==", "!=", "<=", ">=", "=~", "!~", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "in",
];

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            // govaluate ends a string at the next quote of either kind: `'{"a": 1}'` is the
            // string `{` followed by the word `a`.
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == '\'' || d == '"')
                .ok_or("unclosed string")?;
            out.push(Token::Value(Value::Str(
                chars[i + 1..i + 1 + end].iter().collect(),
            )));
            i += end + 2;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n: f64 = text.parse().map_err(|_| format!("bad number `{text}`"))?;
            out.push(Token::Value(Value::Num(n)));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.as_str() {
                "true" => out.push(Token::Value(Value::Bool(true))),
                "false" => out.push(Token::Value(Value::Bool(false))),
                "in" => out.push(Token::Op("in")),
                // An accessor (`a.b`) reads a field of a parameter, and there are none.
                w if w.contains('.') => return Err(format!("no parameter `{w}` to access")),
                // Argo turns every variable into a string.
                _ => out.push(Token::Value(Value::Str(word))),
            }
            continue;
        }
        match c {
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            ',' => out.push(Token::Comma),
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = OPERATORS
                    .iter()
                    .find(|op| op.len() == 2 && **op == two)
                    .or_else(|| {
                        OPERATORS
                            .iter()
                            .find(|op| op.len() == 1 && op.starts_with(c))
                    })
                    .ok_or(format!("invalid token `{c}`"))?;
                out.push(Token::Op(op));
                i += op.len();
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

/// Binary operators from loosest to tightest (govaluate's precedence).
const LEVELS: [&[&str]; 5] = [
    &["||"],
    &["&&"],
    &["==", "!=", "<", ">", "<=", ">=", "=~", "!~", "in"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser {
    fn op(&self) -> Option<&'static str> {
        match self.tokens.get(self.at) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn binary(&mut self, level: usize) -> Result<Value, String> {
        if level == LEVELS.len() {
            return self.prefix();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.op().filter(|op| LEVELS[level].contains(op)) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn prefix(&mut self) -> Result<Value, String> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Op("!")) => {
                self.at += 1;
                match self.prefix()? {
                    Value::Bool(b) => Ok(Value::Bool(!b)),
                    _ => Err("`!` needs a bool".to_string()),
                }
            }
            Some(Token::Op("-")) => {
                self.at += 1;
                match self.prefix()? {
                    Value::Num(n) => Ok(Value::Num(-n)),
                    _ => Err("`-` needs a number".to_string()),
                }
            }
            Some(Token::Open) => {
                self.at += 1;
                let first = self.binary(0)?;
                let mut items = vec![first];
                while self.tokens.get(self.at) == Some(&Token::Comma) {
                    self.at += 1;
                    items.push(self.binary(0)?);
                }
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return Err("unclosed `(`".to_string());
                }
                self.at += 1;
                Ok(if items.len() == 1 {
                    items.remove(0)
                } else {
                    Value::List(items)
                })
            }
            Some(Token::Value(v)) => {
                self.at += 1;
                Ok(v)
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn apply(op: &str, left: Value, right: Value) -> Result<Value, String> {
    use Value::*;
    Ok(match (op, left, right) {
        ("||", Bool(a), Bool(b)) => Bool(a || b),
        ("&&", Bool(a), Bool(b)) => Bool(a && b),
        ("==", a, b) => Bool(a == b),
        ("!=", a, b) => Bool(a != b),
        ("in", a, List(items)) => Bool(items.contains(&a)),
        ("in", a, b) => Bool(a == b),
        ("=~" | "!~", Str(s), Str(pattern)) => {
            let re = regex::Regex::new(&pattern).map_err(|e| e.to_string())?;
            Bool(re.is_match(&s) == (op == "=~"))
        }
        ("<", Num(a), Num(b)) => Bool(a < b),
        (">", Num(a), Num(b)) => Bool(a > b),
        ("<=", Num(a), Num(b)) => Bool(a <= b),
        (">=", Num(a), Num(b)) => Bool(a >= b),
        ("<", Str(a), Str(b)) => Bool(a < b),
        (">", Str(a), Str(b)) => Bool(a > b),
        ("<=", Str(a), Str(b)) => Bool(a <= b),
        (">=", Str(a), Str(b)) => Bool(a >= b),
        ("+", Num(a), Num(b)) => Num(a + b),
        ("+", Str(a), Str(b)) => Str(a + &b),
        ("-", Num(a), Num(b)) => Num(a - b),
        ("*", Num(a), Num(b)) => Num(a * b),
        ("/", Num(a), Num(b)) => Num(a / b),
        ("%", Num(a), Num(b)) => Num(a % b),
        (op, a, b) => return Err(format!("`{op}` cannot apply to {a:?} and {b:?}")),
    })
}

/// Whether a task with this `when` (its tags already substituted) runs; `Err` where Argo
/// gives the node phase Error.
pub fn when(text: &str) -> Result<bool, String> {
    if text.trim().is_empty() {
        return Ok(true);
    }
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    let value = parser.binary(0)?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected text in `{text}`"));
    }
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(format!("`{text}` is {other:?}, not a bool")),
    }
}
