//! The abstract syntax tree: plain data with spans, as written, before any name is resolved.
//!
//! Error recovery shows up here as `Error` variants: the parser keeps going past a broken
//! declaration and the later phases skip the pieces it could not read.

use crate::span::Span;
use crate::token::Comment;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed `.pipe` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
    /// Every comment in the file, in order (for the formatter and hover docs).
    pub comments: Vec<Comment>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Use(Use),
    Pipeline(Pipeline),
    Analysis(AnalysisDef),
    /// `service NAME(params) { … }` or `step NAME(params) = action`.
    Template(TemplateDef),
    /// A top-level region the parser could not read.
    Error(Span),
}

/// `use std.analysis.success_rate`, `use std.analysis.{a, b}`, `use std.analysis`,
/// `use "./common.pipe"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub target: UseTarget,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum UseTarget {
    /// `std.` followed by a dotted path and an optional `{…}` group of names.
    Std {
        std_span: Span,
        path: Vec<Ident>,
        group: Option<Vec<Ident>>,
    },
    /// A local file, relative to the importing file: `use ./common.pipe` or `use "./common.pipe"`.
    File(StrLit),
}

/// `pipeline NAME { … }`: one delivery pipeline, compiled to one Workflow plus the release
/// resources of its services.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub name: Ident,
    pub members: Vec<Member>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Member {
    /// `repo = "…"`: a pipeline setting.
    Setting(Property),
    Param(Param),
    Secret(SecretDecl),
    /// `image NAME = …` or `step NAME = …`.
    Node(NodeDecl),
    Service(ServiceDecl),
    Environment(EnvironmentDecl),
    Release(ReleaseDecl),
    /// `on failure { … }`.
    Handler(Handler),
    /// `on push …`, `on schedule …`.
    Trigger(Trigger),
    Error(Span),
}

/// `param NAME: TYPE = DEFAULT`; also an analysis parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `string`, `int`, `list<string>`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub args: Vec<TypeExpr>,
    pub span: Span,
}

/// `secret NAME = "k8s-secret-name" { KEY, … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretDecl {
    pub name: Ident,
    pub secret_name: Expr,
    /// The keys the Secret is known to hold; `None` when not declared.
    pub keys: Option<Vec<Ident>>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKeyword {
    Image,
    Step,
}

/// A node of the pipeline DAG: `image app = build "." { … }`, `step unit = run app { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeDecl {
    pub keyword: NodeKeyword,
    pub keyword_span: Span,
    pub name: Ident,
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Action(Action),
    /// `image base = "node:20-alpine"`: a value, not an action.
    Expr(Expr),
    /// `step alert = slack(text = "…") { when = … }`: an instance of a `step` definition,
    /// with properties added or overridden.
    Template {
        call: TemplateCall,
        body: Option<Block>,
    },
}

/// `NAME(args)` or `module.NAME(args)`: the use of a `service` or `step` definition.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateCall {
    pub callee: Vec<Ident>,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A definition instantiated with arguments: its parameters stand for the arguments'
/// expressions wherever they appear in the body.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: TemplateBody,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplateBody {
    /// `service NAME(params) { properties }`.
    Service(Block),
    /// `step NAME(params) = VERB …`.
    Step(Action),
}

impl TemplateDef {
    pub fn kind(&self) -> &'static str {
        match self.body {
            TemplateBody::Service(_) => "service",
            TemplateBody::Step(_) => "step",
        }
    }
}

/// `VERB [SUBJECT] [{ properties }]`, e.g. `build "." { repo = … }`, `exec "npm run ping"`.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub verb: Ident,
    pub subject: Option<Expr>,
    pub body: Option<Block>,
    pub span: Span,
}

/// `{ name = value … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub properties: Vec<Property>,
    pub span: Span,
    /// True if the parser dropped a broken entry: "missing property" errors would be noise.
    pub recovered: bool,
}

/// `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `service NAME { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceDecl {
    pub name: Ident,
    /// `service db = postgres(…) { … }`: the definition it instantiates.
    pub from: Option<TemplateCall>,
    pub body: Block,
    pub span: Span,
}

/// `environment NAME { namespace = "…" }` or `environment NAME { ephemeral = true }`.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvironmentDecl {
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

/// `release SERVICE STRATEGY { settings and stages }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseDecl {
    pub service: Ident,
    pub strategy: Ident,
    pub settings: Vec<Property>,
    pub stages: Vec<Stage>,
    pub body_span: Span,
    pub span: Span,
    /// True if the parser dropped a broken entry.
    pub recovered: bool,
}

/// One ordered step of a release.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub kind: StageKind,
    /// The stage keyword, for labels.
    pub keyword: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StageKind {
    /// `weight 20%`.
    Weight(Expr),
    /// `replicas 1` or `replicas 1 of 3`.
    Replicas { count: Expr, of: Option<Expr> },
    /// `pause 10m`.
    Pause(Expr),
    /// `approve` or `approve "reason"`.
    Approve(Option<Expr>),
    /// `check exec "npm run ping" [irreversible]`, `check run tests { command = "…" }`.
    Check {
        action: Action,
        irreversible: Option<Span>,
    },
    /// `analyze success_rate(min = 95%)`.
    Analyze(Expr),
    /// `join`: an isolated canary enters the production Service.
    Join,
    /// `switch`: blue-green moves all traffic to the new version here; stages after it verify
    /// the switched version.
    Switch,
}

/// What starts a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TriggerKind {
    /// `on push`, `on push branch "main"`, `on push tag ~ /^v/`.
    Push { filter: Option<RefFilter> },
    /// `on schedule "0 3 * * *"` with an optional `timezone "Europe/Paris"`.
    Schedule { cron: Expr, timezone: Option<Expr> },
    /// `on webhook`: a POST starts a run, its JSON body giving the parameters.
    Webhook,
}

/// `branch "main"` (exact) or `tag ~ /^v/` (pattern).
#[derive(Clone, Debug, PartialEq)]
pub struct RefFilter {
    /// `branch` or `tag`.
    pub kind: Ident,
    /// True for `~ /regex/`.
    pub pattern: bool,
    pub value: Expr,
}

/// `on EVENT { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Handler {
    pub event: Ident,
    pub actions: Vec<HandlerAction>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HandlerAction {
    /// `collect diagnostics` or `collect diagnostics of SERVICE`.
    CollectDiagnostics { of: Option<Ident>, span: Span },
    /// `rollback SERVICE`.
    Rollback { service: Ident, span: Span },
    /// A step of its own, e.g. a notification.
    Node(NodeDecl),
}

/// `analysis NAME(params) { metric NAME { … } … }`: a reusable gate, compiled to an
/// AnalysisTemplate whose args are the params.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub metrics: Vec<Metric>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// How deep one expression may nest (operators, lists, records, strings in interpolations):
/// far beyond any real condition, and low enough that the phases after the parser, which
/// recurse over expressions, stay well within a 2 MiB thread stack. The parser refuses deeper
/// expressions (E0012).
pub const MAX_EXPR_DEPTH: usize = 128;

impl Expr {
    /// Whether the expression is more than `limit` levels deep (a leaf is one level). Walks
    /// with its own stack, so it is safe on any depth, and stops at the first node too deep.
    pub fn nests_deeper_than(&self, limit: usize) -> bool {
        let mut stack = vec![(self, 1usize)];
        while let Some((expr, depth)) = stack.pop() {
            if depth > limit {
                return true;
            }
            match &expr.kind {
                ExprKind::Str(lit) => stack.extend(lit.parts.iter().filter_map(|p| match p {
                    StrPart::Interp(e) => Some((e, depth + 1)),
                    StrPart::Text(_) => None,
                })),
                ExprKind::Call { args, .. } => {
                    stack.extend(args.iter().map(|a| (&a.value, depth + 1)));
                }
                ExprKind::List(items) => stack.extend(items.iter().map(|e| (e, depth + 1))),
                ExprKind::Record(props) => {
                    stack.extend(props.iter().map(|p| (&p.value, depth + 1)));
                }
                ExprKind::Unary { expr, .. } => stack.push((expr, depth + 1)),
                ExprKind::Binary { lhs, rhs, .. } => {
                    stack.push((lhs, depth + 1));
                    stack.push((rhs, depth + 1));
                }
                _ => {}
            }
        }
        false
    }

    /// Drops the expression node by node. Rust's own drop recurses once per level, so an
    /// expression too deep to keep is taken apart with this instead.
    pub fn dismantle(self) {
        let mut stack = vec![self];
        while let Some(expr) = stack.pop() {
            match expr.kind {
                ExprKind::Str(lit) => stack.extend(lit.parts.into_iter().filter_map(|p| match p {
                    StrPart::Interp(e) => Some(e),
                    StrPart::Text(_) => None,
                })),
                ExprKind::Call { args, .. } => stack.extend(args.into_iter().map(|a| a.value)),
                ExprKind::List(items) => stack.extend(items),
                ExprKind::Record(props) => stack.extend(props.into_iter().map(|p| p.value)),
                ExprKind::Unary { expr, .. } => stack.push(*expr),
                ExprKind::Binary { lhs, rhs, .. } => {
                    stack.push(*lhs);
                    stack.push(*rhs);
                }
                _ => {}
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Str(StrLit),
    /// Digits as written; range-checked by the type checker.
    Int(String),
    Float(String),
    /// Seconds.
    Duration(u64),
    /// As written before `%`.
    Percent(String),
    /// The pattern between the slashes, escapes as written.
    Regex(String),
    Bool(bool),
    /// `a`, `run.id`, `db.DB_USER`.
    Path(Vec<Ident>),
    /// `http("/ready")`, `success_rate(min = 95%)`.
    Call {
        callee: Vec<Ident>,
        args: Vec<Arg>,
    },
    List(Vec<Expr>),
    Record(Vec<Property>),
    Unary {
        op: UnaryOp,
        op_span: Span,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Something the parser could not read; already reported.
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Ne,
    Match,
    NotMatch,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Match => "~",
            BinaryOp::NotMatch => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
        }
    }
}

/// A call argument, positional or `name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

/// A string literal: text pieces and `${…}` interpolations, escapes already decoded and, for
/// triple-quoted strings, common indentation already removed.
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub triple: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

impl StrLit {
    /// The literal's text if it has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}
