//! A DAG task's `depends` (and `dependencies`) as Argo Workflows evaluates it.
//!
//! Upstream: `workflow/common/ancestry.go` (bare names expand to
//! `(A.Succeeded || A.Skipped || A.Daemoned)`, plus `|| A.Errored` / `|| A.Failed` when task `A`
//! has `continueOn.error` / `continueOn.failed`; `dependencies: [A, B]` is `A && B`; the result
//! names allowed) and `workflow/controller/dag.go` `evaluateDependsLogic` (a task waits until
//! every task it names has a *fulfilled* node; each result flag is set from the exact node
//! phase, so a task whose `when` was false is `.Skipped`, never `.Omitted`; the expression is
//! then evaluated, and a task that may proceed but whose expression is false gets a node of
//! phase `Omitted`). `tests/conformance.rs` runs `workflows/dag/depends-evaluation.yaml` of the
//! conformance corpus against this module.

use crate::Phase;

/// The result names `depends` may test (`TestValidateTaskResults`).
pub const RESULTS: [&str; 8] = [
    "Succeeded",
    "Failed",
    "Errored",
    "Skipped",
    "Omitted",
    "Daemoned",
    "AnySucceeded",
    "AllFailed",
];

/// What a dependency's node looks like when a task's `depends` is evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskState {
    pub phase: Phase,
    /// The node runs a daemon (`daemon: true`) and has started.
    pub daemoned: bool,
    /// For a fan-out (`withItems`/`withParam`, a TaskGroup node): each child's phase, `None`
    /// for a child without a node yet.
    pub children: Option<Vec<Option<Phase>>>,
}

impl TaskState {
    pub fn of(phase: Phase) -> TaskState {
        TaskState {
            phase,
            daemoned: false,
            children: None,
        }
    }

    /// `NodeStatus.Fulfilled`: ended, or a daemon that has started.
    pub fn fulfilled(&self) -> bool {
        self.phase.ended() || (self.daemoned && self.phase != Phase::Pending)
    }
}

/// A task's `continueOn`, which widens what its bare name means to the tasks after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContinueOn {
    pub failed: bool,
    pub error: bool,
}

/// Whether a task may be decided yet (`proceed`) and whether it runs (`execute`); `proceed`
/// without `execute` makes its node Omitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub proceed: bool,
    pub execute: bool,
}

/// `dependencies: [A, B]` as the `depends` it stands for.
pub fn from_dependencies(dependencies: &[String]) -> String {
    dependencies.join(" && ")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// `depends` with each bare task name replaced by what it means, textually as Argo does it:
/// `(task-1 || task-2.Succeeded)` → `((task-1.Succeeded || task-1.Skipped ||
/// task-1.Daemoned) || task-2.Succeeded)`.
pub fn expand(depends: &str, continue_on: &dyn Fn(&str) -> ContinueOn) -> String {
    let mut out = String::with_capacity(depends.len() * 2);
    let mut chars = depends.char_indices().peekable();
    let mut previous = None;
    while let Some((start, c)) = chars.next() {
        if !is_name_char(c) {
            out.push(c);
            previous = Some(c);
            continue;
        }
        // Name characters are ASCII: the name ends at the first byte that is not one.
        let mut end = start + c.len_utf8();
        while let Some(&(at, c)) = chars.peek()
            && is_name_char(c)
        {
            end = at + c.len_utf8();
            chars.next();
        }
        let name = &depends[start..end];
        // `A.Succeeded`: a name with its result, or the result itself.
        let is_result = previous == Some('.');
        previous = Some('a');
        if is_result || chars.peek().map(|&(_, c)| c) == Some('.') {
            out.push_str(name);
            continue;
        }
        let on = continue_on(name);
        for (i, result) in ["Succeeded", "Skipped", "Daemoned"]
            .into_iter()
            .chain(on.error.then_some("Errored"))
            .chain(on.failed.then_some("Failed"))
            .enumerate()
        {
            out.push_str(if i == 0 { "(" } else { " || " });
            out.push_str(name);
            out.push('.');
            out.push_str(result);
        }
        out.push(')');
    }
    out
}

/// A parsed `depends` expression.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Result { task: String, result: String },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A token of a `depends`, borrowing its names from the text.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Token<'t> {
    Name(&'t str),
    Dot,
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '.' => out.push(Token::Dot),
            '!' => out.push(Token::Not),
            '&' | '|' if chars.peek().map(|&(_, next)| next) == Some(c) => {
                chars.next();
                out.push(if c == '&' { Token::And } else { Token::Or });
            }
            c if is_name_char(c) => {
                let mut end = start + c.len_utf8();
                while let Some(&(at, c)) = chars.peek()
                    && is_name_char(c)
                {
                    end = at + c.len_utf8();
                    chars.next();
                }
                out.push(Token::Name(&text[start..end]));
            }
            other => return Err(format!("unexpected `{other}` in depends `{text}`")),
        }
    }
    Ok(out)
}

struct Parser<'t> {
    tokens: Vec<Token<'t>>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token<'_>> {
        self.tokens.get(self.at).copied()
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(Token::Or) {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(Token::And) {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.at).copied() {
            Some(Token::Not) => {
                self.at += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.or()?;
                if self.peek() != Some(Token::Close) {
                    return Err("unclosed `(` in depends".to_string());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Name(task)) => {
                self.at += 1;
                if self.peek() != Some(Token::Dot) {
                    return Err(format!("`{task}` is not expanded"));
                }
                self.at += 1;
                let Some(Token::Name(result)) = self.tokens.get(self.at).copied() else {
                    return Err(format!("`{task}.` has no result"));
                };
                self.at += 1;
                Ok(Expr::Result {
                    task: task.to_string(),
                    result: result.to_string(),
                })
            }
            other => Err(format!("unexpected {other:?} in depends")),
        }
    }
}

fn parse(expanded: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokens(expanded)?,
        at: 0,
    };
    let expr = parser.or()?;
    if parser.at != parser.tokens.len() {
        return Err(format!(
            "unexpected text after the expression in `{expanded}`"
        ));
    }
    Ok(expr)
}

/// The tasks a `depends` names, in order of first mention (`GetTaskDependencies`).
pub fn tasks(depends: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut after_dot = false;
    for token in tokens(depends).unwrap_or_default() {
        match token {
            Token::Name(name) if !after_dot && !out.iter().any(|seen| seen == name) => {
                out.push(name.to_string());
            }
            Token::Dot => {
                after_dot = true;
                continue;
            }
            _ => {}
        }
        after_dot = false;
    }
    out
}

/// Whether Argo accepts a `depends`: it parses, and every result it tests is one of
/// [`RESULTS`] (`ValidateTaskResults`; its error text).
pub fn validate(depends: &str) -> Result<(), String> {
    let expanded = expand(depends, &|_| ContinueOn::default());
    let expr = parse(&expanded)?;
    fn check(expr: &Expr) -> Result<(), String> {
        match expr {
            Expr::Result { task, result } => {
                if RESULTS.contains(&result.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "task result '{result}' for task '{task}' is invalid"
                    ))
                }
            }
            Expr::Not(e) => check(e),
            Expr::And(a, b) | Expr::Or(a, b) => {
                check(a)?;
                check(b)
            }
        }
    }
    check(&expr)
}

fn flag(state: &TaskState, result: &str) -> bool {
    let children = state.children.as_deref();
    match result {
        "Succeeded" => state.phase == Phase::Succeeded,
        "Failed" => state.phase == Phase::Failed,
        "Errored" => state.phase == Phase::Error,
        "Skipped" => state.phase == Phase::Skipped,
        "Omitted" => state.phase == Phase::Omitted,
        "Daemoned" => state.daemoned && state.phase != Phase::Pending,
        "AnySucceeded" => children.is_some_and(|c| c.contains(&Some(Phase::Succeeded))),
        "AllFailed" => {
            children.is_some_and(|c| !c.is_empty() && c.iter().all(|p| *p == Some(Phase::Failed)))
        }
        _ => false,
    }
}

fn eval(expr: &Expr, state: &dyn Fn(&str) -> Option<TaskState>) -> bool {
    match expr {
        Expr::Result { task, result } => state(task).is_some_and(|s| flag(&s, result)),
        Expr::Not(e) => !eval(e, state),
        Expr::And(a, b) => eval(a, state) && eval(b, state),
        Expr::Or(a, b) => eval(a, state) || eval(b, state),
    }
}

/// `evaluateDependsLogic` for `task`: once its own node exists it has been decided
/// (`proceed` and `execute`); otherwise see [`decide`].
pub fn decide_task(
    task: &str,
    expanded: &str,
    state: &dyn Fn(&str) -> Option<TaskState>,
) -> Result<Decision, String> {
    if state(task).is_some() {
        return Ok(Decision {
            proceed: true,
            execute: true,
        });
    }
    decide(expanded, state)
}

/// `evaluateDependsLogic` for a task that has no node yet: `expanded` is its `depends` after
/// [`expand`]; `state` gives the node of each task it names, if there is one.
pub fn decide(
    expanded: &str,
    state: &dyn Fn(&str) -> Option<TaskState>,
) -> Result<Decision, String> {
    Ok(Depends::parse(expanded)?.decide(state))
}

/// An expanded `depends`, parsed once, to be decided at every operation of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Depends {
    expr: Expr,
    tasks: Vec<String>,
}

impl Depends {
    /// Parses a `depends` already [`expand`]ed.
    pub fn parse(expanded: &str) -> Result<Depends, String> {
        Ok(Depends {
            expr: parse(expanded)?,
            tasks: tasks(expanded),
        })
    }

    /// The tasks it names, in order of first mention.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }

    /// [`decide`] for this expression.
    pub fn decide(&self, state: &dyn Fn(&str) -> Option<TaskState>) -> Decision {
        if !self
            .tasks
            .iter()
            .all(|t| state(t).is_some_and(|s| s.fulfilled()))
        {
            return Decision {
                proceed: false,
                execute: false,
            };
        }
        Decision {
            proceed: true,
            execute: eval(&self.expr, state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_results() {
        assert_eq!(
            tasks("(task-1 || task-2.Succeeded) && !task-3.Succeeded && task-1.Failed"),
            ["task-1", "task-2", "task-3"]
        );
        assert!(validate("a.Succeeded || (b && !c.Omitted)").is_ok());
        assert!(validate("a.Succeeded ||").is_err());
        assert!(validate("a.Succeeded | b").is_err());
        for bad in ["a.Passed", "a &&", "(a", "a b", "a.", ")"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            tasks("a.Succeeded || a.Failed || a.Errored"),
            ["a"],
            "each task once"
        );
        assert!(
            validate("a.Succeeded && é.Failed").is_err(),
            "not a name character"
        );
    }

    /// Bare names expand as `workflow/common/ancestry.go` expands them: the first case is
    /// `TestGetTaskDependsLogic`'s (`dependencies: [task-1, task-2]`), the others follow the
    /// same function's rule for mixed text and for `continueOn`.
    #[test]
    fn bare_names_expand_as_argo_expands_them() {
        let none = |_: &str| ContinueOn::default();
        assert_eq!(
            expand(
                &from_dependencies(&["task-1".into(), "task-2".into()]),
                &none
            ),
            "(task-1.Succeeded || task-1.Skipped || task-1.Daemoned) && \
             (task-2.Succeeded || task-2.Skipped || task-2.Daemoned)"
        );
        assert_eq!(
            expand("(task-1 || task-2.Succeeded) && !task_3", &none),
            "((task-1.Succeeded || task-1.Skipped || task-1.Daemoned) || task-2.Succeeded) \
             && !(task_3.Succeeded || task_3.Skipped || task_3.Daemoned)"
        );
        let both = |name: &str| ContinueOn {
            failed: name == "a",
            error: name == "a",
        };
        assert_eq!(
            expand("a && b.Failed", &both),
            "(a.Succeeded || a.Skipped || a.Daemoned || a.Errored || a.Failed) && b.Failed"
        );
    }
}
