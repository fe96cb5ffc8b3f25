//! `{{=…}}` expression tags, evaluated with expr-lang by Argo (`util/template/expression_template.go`):
//! the result is JSON-marshalled, and a string's quotes are trimmed, so a bool becomes the text
//! `true`/`false` that a `when` then evaluates with govaluate. `tests/conformance.rs` runs
//! `expressions/expr-lang-tags.yaml` against this module.
//!
//! The subset is expr-lang's core: literals (`'…'`/`"…"` with `\` escapes, numbers, `true`,
//! `false`, `nil`, `[…]` lists), names looked up in the environment (an unknown top-level name is
//! an error; a missing map key is `nil`), `.name` and `['name']`, `int(x)`, unary `!`/`not`/`-`,
//! `* / %`, `+ -`, comparisons `== != < > <= >=` (ordering only between two numbers or two
//! strings), `in`, `matches` (Go RE2), `&&`/`and`, `||`/`or`, `??`, `?:`, pipes (`x | f()`), the builtins
//! `int`, `get`, `concat`, `join`, `toJSON`, `fromJSON`, and Argo's `jsonpath` (its path
//! subset), and the `sprig.` functions pipec writes into image tags ([`sprig`]). Anything else
//! is an error, never a guess: Argo's other functions (`asInt`, the rest of Sprig) are not
//! here.

use std::collections::BTreeMap;

use serde_json::Value;

/// What an expression can read: the variables Argo puts in scope, as JSON (every parameter is
/// a string).
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub parameters: BTreeMap<String, String>,
    /// `workflow.status`, in an exit handler.
    pub status: Option<String>,
    /// `workflow.parameters.json`: the Workflow's parameters as the JSON list Argo gives
    /// (`[{"name":…,"value":…}]`, in declaration order), if known.
    pub parameters_json: Option<String>,
    /// What only a run has, when known (a Workflow as stored, with its metadata):
    /// `workflow.name`, `workflow.uid`, `workflow.namespace`, `workflow.creationTimestamp`
    /// (RFC 3339), by the name after `workflow.`.
    pub run: BTreeMap<String, String>,
}

/// The run variables [`Env::run`] holds, as the metadata fields they are read from.
pub const RUN_VARIABLES: [(&str, &str); 4] = [
    ("name", "name"),
    ("uid", "uid"),
    ("namespace", "namespace"),
    ("creationTimestamp", "creationTimestamp"),
];

impl Env {
    /// The environment as expr-lang sees it: `workflow.parameters`, `workflow.status`, and
    /// the run's own variables that are known.
    pub fn scope(&self) -> Value {
        let mut workflow = serde_json::Map::new();
        let mut parameters: serde_json::Map<String, Value> = self
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        if let Some(json) = &self.parameters_json {
            parameters
                .entry("json")
                .or_insert_with(|| Value::String(json.clone()));
        }
        workflow.insert("parameters".to_string(), Value::Object(parameters));
        for (name, value) in &self.run {
            workflow.insert(name.clone(), Value::String(value.clone()));
        }
        if let Some(status) = &self.status {
            workflow.insert("status".to_string(), Value::String(status.clone()));
        }
        let mut root = serde_json::Map::new();
        root.insert("workflow".to_string(), Value::Object(workflow));
        Value::Object(root)
    }
}

/// The text Argo puts in place of a tag whose expression gave `value` (JSON, a string's quotes
/// trimmed).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Str(String),
    Num(f64),
    Name(String),
    Op(&'static str),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Dot,
    Comma,
}

const SYMBOLS: [&str; 21] = [
    "==", "!=", "<=", ">=", "&&", "||", "??", "<", ">", "!", "+", "-", "*", "/", "%", "(", ")",
    ",", "?", ":", "|",
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
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let n: String = chars[start..i].iter().collect();
            out.push(Token::Num(
                n.parse().map_err(|_| format!("bad number `{n}`"))?,
            ));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "and" => Token::Op("&&"),
                "or" => Token::Op("||"),
                "not" => Token::Op("!"),
                "in" => Token::Op("in"),
                "matches" => Token::Op("matches"),
                _ => Token::Name(word),
            });
            continue;
        }
        match c {
            '[' => out.push(Token::OpenBracket),
            ']' => out.push(Token::CloseBracket),
            '.' => out.push(Token::Dot),
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let symbol = SYMBOLS
                    .iter()
                    .find(|s| s.len() == 2 && **s == two)
                    .or_else(|| SYMBOLS.iter().find(|s| s.len() == 1 && s.starts_with(c)))
                    .ok_or(format!("`{c}` is not supported"))?;
                out.push(match *symbol {
                    "(" => Token::Open,
                    ")" => Token::Close,
                    "," => Token::Comma,
                    op => Token::Op(op),
                });
                i += symbol.len();
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser<'e> {
    tokens: Vec<Token>,
    at: usize,
    scope: &'e Value,
    /// How many [`Parser::expression`]s are open.
    depth: usize,
}

/// How deeply an expression may nest: a little above what pipec can emit (its source limit is
/// 128 levels, real conditions a handful), and low enough for a 2 MiB thread even in a debug
/// build (about 11 KB of stack per level there); this bounds the model on any text it is given.
const MAX_DEPTH: usize = 150;

/// Binary operators from loosest to tightest (expr-lang's precedence).
const LEVELS: [&[&str]; 6] = [
    &["||"],
    &["&&"],
    &["==", "!=", "<", ">", "<=", ">=", "in", "matches"],
    &["+", "-"],
    &["*", "/", "%"],
    &["??"],
];

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn apply(op: &str, left: Value, right: Value) -> Result<Value, String> {
    use Value::*;
    let bad = |l: &Value, r: &Value| format!("invalid operation: {l} {op} {r}");
    Ok(match op {
        "??" => {
            if left.is_null() {
                right
            } else {
                left
            }
        }
        "==" | "!=" => {
            let equal = match (number(&left), number(&right)) {
                (Some(a), Some(b)) => a == b,
                _ => left == right,
            };
            Bool(equal == (op == "=="))
        }
        "&&" | "||" => match (&left, &right) {
            (Bool(a), Bool(b)) => Bool(if op == "&&" { *a && *b } else { *a || *b }),
            _ => return Err(bad(&left, &right)),
        },
        "<" | ">" | "<=" | ">=" => {
            let ordering = match (&left, &right) {
                (Number(_), Number(_)) => number(&left)
                    .zip(number(&right))
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                (String(a), String(b)) => Some(a.cmp(b)),
                _ => None,
            }
            .ok_or_else(|| bad(&left, &right))?;
            Bool(match op {
                "<" => ordering.is_lt(),
                ">" => ordering.is_gt(),
                "<=" => ordering.is_le(),
                _ => ordering.is_ge(),
            })
        }
        "in" => match &right {
            Array(items) => Bool(
                items
                    .iter()
                    .any(|i| apply("==", left.clone(), i.clone()) == Ok(Bool(true))),
            ),
            Object(map) => match &left {
                String(k) => Bool(map.contains_key(k)),
                _ => return Err(bad(&left, &right)),
            },
            _ => return Err(bad(&left, &right)),
        },
        "matches" => match (&left, &right) {
            (String(s), String(p)) => Bool(compiled(p)?.is_match(s)),
            _ => return Err(bad(&left, &right)),
        },
        "+" => match (&left, &right) {
            (String(a), String(b)) => String(format!("{a}{b}")),
            _ => arithmetic(op, &left, &right).ok_or_else(|| bad(&left, &right))?,
        },
        _ => arithmetic(op, &left, &right).ok_or_else(|| bad(&left, &right))?,
    })
}

fn arithmetic(op: &str, left: &Value, right: &Value) -> Option<Value> {
    let (a, b) = (left.as_f64()?, right.as_f64()?);
    let v = match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        _ => a % b,
    };
    serde_json::Number::from_f64(v).map(Value::Number)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// `(a, b, …)` after a function's name.
    fn arguments(&mut self) -> Result<Vec<Value>, String> {
        self.at += 1;
        let mut arguments = Vec::new();
        while self.peek() != Some(&Token::Close) {
            arguments.push(self.expression()?);
            match self.peek() {
                Some(Token::Comma) => self.at += 1,
                Some(Token::Close) => {}
                _ => return Err("expected `,` or `)`".to_string()),
            }
        }
        self.at += 1;
        Ok(arguments)
    }

    /// A full expression: a conditional, piped into functions (`x | f(y)` is `f(x, y)`).
    /// Refused past [`MAX_DEPTH`] levels of parentheses, calls and brackets, so no text can
    /// exhaust the stack.
    fn expression(&mut self) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            ));
        }
        let value = self.piped();
        self.depth -= 1;
        value
    }

    fn piped(&mut self) -> Result<Value, String> {
        let mut value = self.conditional()?;
        while self.peek() == Some(&Token::Op("|")) {
            self.at += 1;
            let Some(Token::Name(function)) = self.peek().cloned() else {
                return Err("expected a function after `|`".to_string());
            };
            self.at += 1;
            let mut arguments = vec![value];
            if self.peek() == Some(&Token::Open) {
                arguments.extend(self.arguments()?);
            }
            value = call(&function, arguments)?;
        }
        Ok(value)
    }

    /// `cond ? a : b` (expr-lang's loosest form) or a binary expression. Both branches are
    /// parsed; an error in the branch not taken is dropped, as expr-lang never evaluates it.
    fn conditional(&mut self) -> Result<Value, String> {
        let condition = self.binary(0)?;
        if self.peek() != Some(&Token::Op("?")) {
            return Ok(condition);
        }
        self.at += 1;
        let then = self.conditional();
        if self.peek() != Some(&Token::Op(":")) {
            return Err("expected `:` in `?:`".to_string());
        }
        self.at += 1;
        let otherwise = self.conditional();
        match condition {
            Value::Bool(true) => then,
            Value::Bool(false) => otherwise,
            other => Err(format!("non-bool {other} used as condition")),
        }
    }

    /// Operators of `min_level` and tighter, by precedence climbing: one loop for a run of
    /// operators, recursion only where a tighter operator follows, so the stack grows with the
    /// parentheses of the text and not with [`LEVELS`] for each of them.
    fn binary(&mut self, min_level: usize) -> Result<Value, String> {
        let mut left = self.unary()?;
        while let Some(Token::Op(op)) = self.peek().cloned() {
            let Some(level) = LEVELS.iter().position(|ops| ops.contains(&op)) else {
                break;
            };
            if level < min_level {
                break;
            }
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    /// `!x`, `-x`, and runs of them, applied innermost first; a loop, not recursion.
    fn unary(&mut self) -> Result<Value, String> {
        let mut prefixes = Vec::new();
        while let Some(Token::Op(op @ ("!" | "-"))) = self.peek().cloned() {
            self.at += 1;
            prefixes.push(op);
        }
        let mut value = self.postfix()?;
        for op in prefixes.into_iter().rev() {
            value = if op == "!" {
                match value {
                    Value::Bool(b) => Value::Bool(!b),
                    other => return Err(format!("invalid operation: ! {other}")),
                }
            } else {
                arithmetic("-", &Value::from(0), &value)
                    .ok_or(format!("invalid operation: -{value}"))?
            };
        }
        Ok(value)
    }

    fn postfix(&mut self) -> Result<Value, String> {
        let mut value = self.primary()?;
        loop {
            match self.peek() {
                Some(Token::Dot) => {
                    self.at += 1;
                    let Some(Token::Name(field)) = self.peek().cloned() else {
                        return Err("expected a name after `.`".to_string());
                    };
                    self.at += 1;
                    value = member(&value, &field)?;
                }
                Some(Token::OpenBracket) => {
                    self.at += 1;
                    let index = self.expression()?;
                    if self.peek() != Some(&Token::CloseBracket) {
                        return Err("unclosed `[`".to_string());
                    }
                    self.at += 1;
                    value = match (&value, &index) {
                        (Value::Array(items), Value::Number(n)) => n
                            .as_u64()
                            .and_then(|i| items.get(usize::try_from(i).ok()?))
                            .cloned()
                            .ok_or("index out of range")?,
                        (_, Value::String(key)) => member(&value, key)?,
                        _ => return Err(format!("cannot index {value} with {index}")),
                    };
                }
                _ => return Ok(value),
            }
        }
    }

    fn primary(&mut self) -> Result<Value, String> {
        let token = self.peek().cloned().ok_or("unexpected end")?;
        self.at += 1;
        match token {
            Token::Str(s) => Ok(Value::String(s)),
            Token::Num(n) => Ok(if n.fract() == 0.0 && n.abs() < 9e15 {
                Value::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }),
            Token::Open => {
                let v = self.expression()?;
                if self.peek() != Some(&Token::Close) {
                    return Err("unclosed `(`".to_string());
                }
                self.at += 1;
                Ok(v)
            }
            Token::OpenBracket => {
                let mut items = Vec::new();
                while self.peek() != Some(&Token::CloseBracket) {
                    items.push(self.expression()?);
                    match self.peek() {
                        Some(Token::Comma) => self.at += 1,
                        Some(Token::CloseBracket) => {}
                        _ => return Err("expected `,` or `]`".to_string()),
                    }
                }
                self.at += 1;
                Ok(Value::Array(items))
            }
            Token::Name(name) => {
                // The environment's names shadow the builtins (`split`, `join` as variables).
                if let Some(v) = self.scope.get(&name) {
                    return Ok(v.clone());
                }
                match name.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "nil" => Ok(Value::Null),
                    "sprig" if self.peek() == Some(&Token::Dot) => {
                        self.at += 1;
                        let Some(Token::Name(function)) = self.peek().cloned() else {
                            return Err("expected a name after `sprig.`".to_string());
                        };
                        self.at += 1;
                        if self.peek() != Some(&Token::Open) {
                            return Err(format!("sprig.{function} is a function"));
                        }
                        let arguments = self.arguments()?;
                        sprig(&function, arguments)
                    }
                    function if self.peek() == Some(&Token::Open) => {
                        let arguments = self.arguments()?;
                        call(function, arguments)
                    }
                    other => Err(format!("unknown name {other}")),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// A builtin function: expr-lang's `int`, `get`, `concat`, `join`, `toJSON`, `fromJSON`
/// (`builtin/builtin.go`), and Argo's `jsonpath`. Any other is an error.
fn call(function: &str, arguments: Vec<Value>) -> Result<Value, String> {
    let arity = |n: usize| takes(function, &arguments, n);
    match function {
        "int" => {
            arity(1)?;
            match &arguments[0] {
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("int({s}): not an integer")),
                Value::Number(n) => Ok(Value::from(n.as_f64().unwrap_or(0.0) as i64)),
                other => Err(format!("int({other})")),
            }
        }
        "jsonpath" => {
            arity(2)?;
            jsonpath(&arguments[0], &arguments[1])
        }
        // `get(from, key)`: a map's entry or a list's element, nil when absent.
        "get" => {
            arity(2)?;
            Ok(match (&arguments[0], &arguments[1]) {
                (Value::Object(map), Value::String(key)) => {
                    map.get(key).cloned().unwrap_or(Value::Null)
                }
                (Value::Array(items), Value::Number(n)) => n
                    .as_u64()
                    .and_then(|i| items.get(usize::try_from(i).ok()?))
                    .cloned()
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
        "concat" => {
            let mut out = Vec::new();
            for a in arguments {
                match a {
                    Value::Array(items) => out.extend(items),
                    other => return Err(format!("concat: {other} is not a list")),
                }
            }
            Ok(Value::Array(out))
        }
        "join" => {
            let (Some(Value::Array(items)), separator) = (arguments.first(), arguments.get(1))
            else {
                return Err("join takes a list".to_string());
            };
            let separator = separator.and_then(Value::as_str).unwrap_or_default();
            let parts: Result<Vec<&str>, String> = items
                .iter()
                .map(|i| i.as_str().ok_or(format!("join: {i} is not a string")))
                .collect();
            Ok(Value::String(parts?.join(separator)))
        }
        // Go's `json.MarshalIndent(v, "", "  ")`, as serde's pretty printer writes it.
        "toJSON" => {
            arity(1)?;
            serde_json::to_string_pretty(&arguments[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        "fromJSON" => {
            arity(1)?;
            let text = arguments[0].as_str().ok_or("fromJSON takes a string")?;
            serde_json::from_str(text).map_err(|e| format!("fromJSON: {e}"))
        }
        other => Err(format!("unknown function {other}")),
    }
}

/// `Ok` when `function` is called with `n` arguments.
fn takes(function: &str, arguments: &[Value], n: usize) -> Result<(), String> {
    if arguments.len() == n {
        Ok(())
    } else {
        Err(format!("{function} takes {n} argument(s)"))
    }
}

/// `pattern` compiled (Go's RE2 syntax, which the `regex` crate follows), once per thread: the
/// model evaluates the same few patterns for every task of every run.
fn compiled(pattern: &str) -> Result<regex::Regex, String> {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    CACHE.with(|cache| {
        if let Some(regex) = cache.borrow().get(pattern) {
            return Ok(regex.clone());
        }
        let regex = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
        let mut cache = cache.borrow_mut();
        // Patterns come from the documents: a bound keeps a hostile one from growing it.
        if cache.len() < 256 {
            cache.insert(pattern.to_string(), regex.clone());
        }
        Ok(regex)
    })
}

/// The Sprig functions Argo puts in expressions as `sprig.NAME` that pipec writes: `trunc`,
/// `replace` (Masterminds/sprig `strings.go`: `trunc(c, s)` keeps the first `c` bytes, or the
/// last `-c`; `replace(old, new, s)` is `strings.Replace(s, old, new, -1)`) and
/// `regexReplaceAll(regex, s, repl)` (`regex.go`: Go's `ReplaceAllString`, `$1` expanded in
/// `repl`). Any other is an error, never a guess.
fn sprig(function: &str, arguments: Vec<Value>) -> Result<Value, String> {
    let text = |i: usize| {
        arguments.get(i).and_then(Value::as_str).ok_or(format!(
            "sprig.{function}: argument {} is not a string",
            i + 1
        ))
    };
    let count = |i: usize| {
        arguments
            .get(i)
            .and_then(|v| {
                v.as_i64()
                    .or(v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            })
            .ok_or(format!(
                "sprig.{function}: argument {} is not an int",
                i + 1
            ))
    };
    let expect = |n: usize| takes(&format!("sprig.{function}"), &arguments, n);
    match function {
        "trunc" => {
            expect(2)?;
            let (c, s) = (count(0)?, text(1)?.as_bytes());
            let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
            let kept = if c < 0 && len + c > 0 {
                &s[usize::try_from(len + c).unwrap_or(0)..]
            } else if c >= 0 && len > c {
                &s[..usize::try_from(c).unwrap_or(0)]
            } else {
                s
            };
            Ok(Value::String(String::from_utf8_lossy(kept).into_owned()))
        }
        "replace" => {
            expect(3)?;
            Ok(Value::String(text(2)?.replace(text(0)?, text(1)?)))
        }
        "regexReplaceAll" => {
            expect(3)?;
            let regex = compiled(text(0)?)?;
            Ok(Value::String(
                regex.replace_all(text(1)?, text(2)?).into_owned(),
            ))
        }
        other => Err(format!("unknown function sprig.{other}")),
    }
}

/// Argo's `jsonpath(json, path)` (`util/expr/env`, over `oliveagle/jsonpath`): `json` is a
/// JSON text, `path` starts at `$` and goes on by `.name`, `[N]` and `['name']`. Filters,
/// wildcards and slices are not here: an error, never a guess.
fn jsonpath(document: &Value, path: &Value) -> Result<Value, String> {
    let (Value::String(document), Value::String(path)) = (document, path) else {
        return Err("jsonpath takes a JSON text and a path".to_string());
    };
    let mut value: Value = serde_json::from_str(document).map_err(|e| format!("jsonpath: {e}"))?;
    let mut rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("jsonpath `{path}` does not start at `$`"))?;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..end];
            if field.is_empty() || field == "*" {
                return Err(format!("jsonpath `{path}` is not supported"));
            }
            value = member(&value, field)?;
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after
                .find(']')
                .ok_or_else(|| format!("jsonpath `{path}`: unclosed `[`"))?;
            let inside = after[..end].trim();
            value = if let Ok(i) = inside.parse::<usize>() {
                value
                    .as_array()
                    .and_then(|items| items.get(i))
                    .cloned()
                    .ok_or_else(|| format!("jsonpath `{path}`: index out of range"))?
            } else if let Some(key) = inside
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
            {
                member(&value, key)?
            } else {
                return Err(format!("jsonpath `{path}` is not supported"));
            };
            rest = &after[end + 1..];
        } else {
            return Err(format!("jsonpath `{path}` is not supported"));
        }
    }
    Ok(value)
}

/// `value.field`: a map's entry (`nil` when absent); anything else has no fields.
fn member(value: &Value, field: &str) -> Result<Value, String> {
    match value {
        Value::Object(map) => Ok(map.get(field).cloned().unwrap_or(Value::Null)),
        other => Err(format!("cannot fetch {field} from {other}")),
    }
}

/// The value of one expression (the text between `{{=` and `}}`) over `scope` (a JSON object).
pub fn eval(text: &str, scope: &Value) -> Result<Value, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        scope,
        depth: 0,
    };
    let v = parser.expression()?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected text in `{text}`"));
    }
    Ok(v)
}

/// `text` with its tags replaced as Argo replaces them in a `when`: simple tags
/// (`{{workflow.status}}`, `{{workflow.parameters.NAME}}`) and expression tags `{{=…}}`.
pub fn substitute(text: &str, env: &Env) -> Result<String, String> {
    let scope = env.scope();
    let mut out = String::new();
    for piece in pieces(text)? {
        let tag = match piece {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Tag(tag) => tag,
        };
        let value = if let Some(expression) = tag.strip_prefix('=') {
            self::text(&eval(expression, &scope)?)
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
    }
    Ok(out)
}

/// A text cut into its plain runs and its `{{…}}` tags (the tag's text trimmed).
pub(crate) enum Piece<'t> {
    Text(&'t str),
    Tag(&'t str),
}

/// `text`'s pieces, in order; an unclosed `{{` is an error.
pub(crate) fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push(Piece::Text(&rest[..start]));
        let len = rest[start..].find("}}").ok_or("unclosed `{{`")?;
        out.push(Piece::Tag(rest[start + 2..start + len].trim()));
        rest = &rest[start + len + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deep text is refused or evaluated, never a stack overflow, on a 2 MiB thread.
    #[test]
    fn nesting_is_bounded_and_runs_of_operators_cost_no_stack() {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let scope = Value::Null;
                let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
                assert!(eval(&deep, &scope).is_err());
                let within = format!("{}1{}", "(".repeat(140), ")".repeat(140));
                assert_eq!(eval(&within, &scope), Ok(Value::from(1)));
                let nots = format!("{}true", "!".repeat(100_001));
                assert_eq!(eval(&nots, &scope), Ok(Value::Bool(false)));
                let chain = format!("1{}", " + 1".repeat(100_000));
                assert_eq!(
                    eval(&chain, &scope).ok().and_then(|v| v.as_f64()),
                    Some(100_001.0)
                );
                let mixed = format!("{}true{}", "!(".repeat(128), ")".repeat(128));
                assert_eq!(eval(&mixed, &scope), Ok(Value::Bool(true)));
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// The examples of Sprig's documentation (`docs/strings.md`, `docs/regex.md`).
    #[test]
    fn sprig_functions_follow_the_sprig_documentation() {
        let scope = Env::default().scope();
        for (expression, expected) in [
            ("sprig.trunc(5, 'hello world')", "hello"),
            ("sprig.trunc(-5, 'hello world')", "world"),
            ("sprig.trunc(99, 'hello')", "hello"),
            ("sprig.trunc(-99, 'hello')", "hello"),
            (
                "sprig.replace(' ', '-', 'I Am Henry VIII')",
                "I-Am-Henry-VIII",
            ),
            (
                "sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')",
                "-W-xxW-",
            ),
            (
                "sprig.replace('$', '$$', sprig.trunc(7, '0123456789'))",
                "0123456",
            ),
        ] {
            assert_eq!(
                eval(expression, &scope),
                Ok(Value::String(expected.to_string())),
                "{expression}"
            );
        }
        for wrong in [
            "sprig.upper('x')",
            "sprig.trunc('5', 'x')",
            "sprig.trunc(5)",
            "sprig.regexReplaceAll('(', 'x', '')",
            "sprig",
        ] {
            assert!(eval(wrong, &scope).is_err(), "{wrong}");
        }
    }
}
