//! Evaluating expressions to typed values, and checking them against what a place expects.
//!
//! Values are computed at compile time as far as they can be; what only the run knows
//! (`run.id`, `git.branch`, params) stays symbolic inside [`Template`]s. Every value remembers
//! where it came from, so a type mismatch can point at both the use and the declaration.

use pipec_syntax::Span;
use pipec_syntax::ast::{self, BinaryOp, Expr, ExprKind, StrPart, UnaryOp};

use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hir::{
    self, Condition, Exposure, ImageRef, NodeId, Operand, Probe, SecretKeyRef, ServiceId, Template,
    Var,
};
use crate::resolve::Symbol;
use crate::schema;

/// A type, as users read it in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Duration,
    Percent,
    Regex,
    List,
    Record,
    Image,
    Secret,
    SecretKey,
    Service,
    Environment,
    Step,
    Probe,
    Exposure,
    Traffic,
    Condition,
    Namespace,
    Output,
    Error,
}

impl Ty {
    /// The name with its article, for messages: "an `int`", "a `string`".
    pub fn with_article(self) -> String {
        crate::diagnostic::with_article(self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::Bool => "bool",
            Ty::Duration => "duration",
            Ty::Percent => "percent",
            Ty::Regex => "regex",
            Ty::List => "list",
            Ty::Record => "record",
            Ty::Image => "image",
            Ty::Secret => "secret",
            Ty::SecretKey => "secret key",
            Ty::Service => "service",
            Ty::Environment => "environment",
            Ty::Step => "step",
            Ty::Probe => "probe",
            Ty::Exposure => "exposure",
            Ty::Traffic => "traffic router",
            Ty::Condition => "condition",
            Ty::Namespace => "namespace",
            Ty::Output => "output",
            Ty::Error => "error",
        }
    }

    /// Param and analysis-parameter types users can declare.
    pub fn from_name(name: &str) -> Option<Ty> {
        Some(match name {
            "string" => Ty::Str,
            "int" => Ty::Int,
            "float" => Ty::Float,
            "bool" => Ty::Bool,
            "duration" => Ty::Duration,
            "percent" => Ty::Percent,
            _ => return None,
        })
    }
}

/// A computed value.
#[derive(Clone, Debug)]
pub enum Val {
    Str(Template),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(u64),
    /// Percent as written (`95` for `95%`).
    Percent(f64),
    Regex(String),
    List(Vec<Typed>),
    Record(Vec<(ast::Ident, Typed)>),
    Image(ImageRef),
    Secret {
        secret_name: String,
        keys: Option<Vec<String>>,
        decl_span: Span,
    },
    SecretKey(SecretKeyRef),
    Service(ServiceId),
    Environment(hir::EnvId),
    Step(NodeId),
    /// `STEP.NAME`: a file another step hands on.
    Output(hir::InputFile),
    Probe(Probe),
    Exposure(Exposure),
    Traffic(hir::TrafficRouter),
    Cond(Condition),
    /// A value of type `ty` known only at run time (a param, an analysis argument).
    Runtime(Template),
    /// `run` or `git` on its own.
    Namespace(&'static str),
    /// Already reported; silences follow-up errors.
    Error,
}

/// Where a value was declared, for the second label of a type error.
#[derive(Clone, Debug)]
pub struct Origin {
    pub span: Span,
    pub what: String,
}

#[derive(Clone, Debug)]
pub struct Typed {
    pub val: Val,
    pub ty: Ty,
    /// The expression's span: where the value is used.
    pub span: Span,
    pub origin: Option<Origin>,
}

impl Typed {
    fn new(val: Val, ty: Ty, span: Span) -> Self {
        Typed {
            val,
            ty,
            span,
            origin: None,
        }
    }

    pub fn error(span: Span) -> Self {
        Typed::new(Val::Error, Ty::Error, span)
    }

    pub fn is_error(&self) -> bool {
        matches!(self.val, Val::Error)
    }

    /// True if the value depends on the run (params, `run.*`, `git.*`).
    pub fn is_runtime(&self) -> bool {
        match &self.val {
            Val::Runtime(_) => true,
            Val::Str(t) => t.as_static().is_none(),
            Val::List(items) => items.iter().any(Typed::is_runtime),
            Val::Record(fields) => fields.iter().any(|(_, v)| v.is_runtime()),
            _ => false,
        }
    }
}

impl Checker<'_, '_> {
    /// Evaluates an expression in a scope.
    pub(super) fn eval(&mut self, expr: &Expr, scope: &Scope) -> Typed {
        let span = expr.span;
        match &expr.kind {
            ExprKind::Error => Typed::error(span),
            ExprKind::Str(lit) => self.eval_string(lit, scope),
            ExprKind::Int(text) => match text.parse::<i64>() {
                Ok(v) => Typed::new(Val::Int(v), Ty::Int, span),
                Err(_) => {
                    self.diags.push(
                        Diagnostic::new(Code::E0204, span, "this number is too large")
                            .label("does not fit in 64 bits")
                            .help("use a smaller number"),
                    );
                    Typed::error(span)
                }
            },
            ExprKind::Float(text) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Typed::new(Val::Float(v), Ty::Float, span),
                _ => {
                    self.diags.push(
                        Diagnostic::new(Code::E0204, span, "this number is out of range")
                            .label("not a finite number")
                            .help("use a smaller number"),
                    );
                    Typed::error(span)
                }
            },
            ExprKind::Duration(secs) => Typed::new(Val::Duration(*secs), Ty::Duration, span),
            ExprKind::Percent(text) => {
                let value: f64 = text.parse().unwrap_or(f64::INFINITY);
                if !(0.0..=100.0).contains(&value) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0202,
                            span,
                            format!("{text}% is not a percentage between 0% and 100%"),
                        )
                        .label("out of range")
                        .help("write a value from 0% to 100%"),
                    );
                    return Typed::error(span);
                }
                Typed::new(Val::Percent(value), Ty::Percent, span)
            }
            ExprKind::Regex(pattern) => {
                if let Err(d) = crate::k8s_rules::go_regex(pattern) {
                    self.diags.push(
                        Diagnostic::new(Code::E0203, pattern_span(span, d.range), format!("invalid regular expression: {}", d.message))
                            .label("Go's regexp, which Argo uses, would refuse or misread this")
                            .with_secondary(span, "in this pattern")
                            .help("patterns use Go's RE2 syntax; `pipec explain E0203` lists what differs from other engines"),
                    );
                    return Typed::error(span);
                }
                if let Err(e) = validate_regex(pattern) {
                    let (label_span, message) = regex_error_span(span, pattern, &e);
                    self.diags.push(
                        Diagnostic::new(Code::E0203, label_span, format!("invalid regular expression: {message}"))
                            .label(message)
                            .with_secondary(span, "in this pattern")
                            .help("patterns use RE2 syntax, as Argo evaluates them; escape special characters with `\\`"),
                    );
                    return Typed::error(span);
                }
                Typed::new(Val::Regex(pattern.clone()), Ty::Regex, span)
            }
            ExprKind::Bool(b) => Typed::new(Val::Bool(*b), Ty::Bool, span),
            ExprKind::Path(path) => self.eval_path(path, span, scope),
            ExprKind::Call { callee, args } => self.eval_call(callee, args, span, scope),
            ExprKind::List(items) => {
                let items = items.iter().map(|i| self.eval(i, scope)).collect();
                Typed::new(Val::List(items), Ty::List, span)
            }
            ExprKind::Record(props) => {
                let mut fields: Vec<(ast::Ident, Typed)> = Vec::new();
                for p in props {
                    if let Some((prev, _)) = fields.iter().find(|(n, _)| n.name == p.name.name) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0207,
                                p.name.span,
                                format!("`{}` is set twice", p.name.name),
                            )
                            .label("set again here")
                            .with_secondary(prev.span, "first set here")
                            .help("keep one of them"),
                        );
                        continue;
                    }
                    let value = self.eval(&p.value, scope);
                    fields.push((p.name.clone(), value));
                }
                Typed::new(Val::Record(fields), Ty::Record, span)
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr: inner,
                ..
            } => match self.condition_of(inner, scope) {
                Some(c) => Typed::new(Val::Cond(Condition::Not(Box::new(c))), Ty::Condition, span),
                None => Typed::error(span),
            },
            ExprKind::Unary {
                op: UnaryOp::Neg, ..
            } => Typed::error(span),
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.eval_binary(*op, *op_span, lhs, rhs, span, scope),
        }
    }

    fn eval_string(&mut self, lit: &ast::StrLit, scope: &Scope) -> Typed {
        let mut template = Template::default();
        let mut failed = false;
        for part in &lit.parts {
            match part {
                // Text ends up in argv, env values, labels or annotations: none can hold a NUL
                // (execve takes C strings; the container runtime refuses it).
                StrPart::Text(t) if t.contains('\0') => {
                    self.diags.push(
                        Diagnostic::new(Code::E0212, lit.span, "text cannot contain a NUL character")
                            .label("contains `\\u{0}`")
                            .help("remove it: processes receive their arguments and environment as C strings, which a NUL would cut"),
                    );
                    failed = true;
                }
                StrPart::Text(t) => template.push_lit(t),
                StrPart::Interp(e) => {
                    let value = self.eval(e, scope);
                    match self.as_text(&value) {
                        Some(t) => template.append(&t),
                        None => failed = true,
                    }
                }
            }
        }
        if failed {
            return Typed::error(lit.span);
        }
        let literal_bytes: usize = template
            .pieces
            .iter()
            .map(|p| match p {
                crate::hir::Piece::Lit(t) => t.len(),
                crate::hir::Piece::Var(_) => 0,
            })
            .sum();
        if literal_bytes > crate::k8s_rules::MAX_TEXT_BYTES {
            self.diags.push(
                Diagnostic::new(Code::E0212, lit.span, format!("text of {literal_bytes} bytes is too long for a process argument or environment variable"))
                    .label(format!("at most {} bytes", crate::k8s_rules::MAX_TEXT_BYTES))
                    .help("Linux refuses to start a process with a longer argument (E2BIG): put the content in a file of the repository and read it from there"),
            );
            return Typed::error(lit.span);
        }
        Typed::new(Val::Str(template), Ty::Str, lit.span)
    }

    /// The text a value contributes to a string, or an error if it has none.
    pub(super) fn as_text(&mut self, value: &Typed) -> Option<Template> {
        match &value.val {
            Val::Error => None,
            Val::Str(t) | Val::Runtime(t) => Some(t.clone()),
            Val::Int(i) => Some(Template::lit(i.to_string())),
            Val::Float(f) => Some(Template::lit(format_float(*f))),
            Val::Bool(b) => Some(Template::lit(b.to_string())),
            Val::Duration(d) => Some(Template::lit(format_duration(*d))),
            Val::Percent(p) => Some(Template::lit(format!("{}%", format_float(*p)))),
            Val::Image(image) => Some(self.image_reference(image)),
            Val::SecretKey(_) | Val::Secret { .. } => {
                self.diags.push(
                    Diagnostic::new(Code::E0201, value.span, "a secret cannot be put into text")
                        .label("this would copy the secret's value into the generated YAML")
                        .help("pass secrets to containers by reference: `env = { NAME = secret.KEY }`"),
                );
                None
            }
            _ => {
                self.mismatch(value, "a value that can be written as text");
                None
            }
        }
    }

    fn eval_path(&mut self, path: &[ast::Ident], span: Span, scope: &Scope) -> Typed {
        let Some(head) = path.first() else {
            return Typed::error(span);
        };
        let mut value = self.eval_head(head, scope);
        for field in &path[1..] {
            if value.is_error() {
                return value;
            }
            value = self.field(value, field);
        }
        value.span = span;
        value
    }

    fn eval_head(&mut self, head: &ast::Ident, scope: &Scope) -> Typed {
        let span = head.span;
        if let Scope::Analysis { params } = scope {
            if head.name == "result" {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        span,
                        "`result` only exists in `success` and `failure` conditions",
                    )
                    .label("no measurement here")
                    .help("use `result` in `success = …` or `failure = …` of a metric"),
                );
                return Typed::error(span);
            }
            return match params.get(head.name.as_str()) {
                Some((ty, decl)) => Typed {
                    val: Val::Runtime(Template::var(Var::Arg(head.name.clone()))),
                    ty: *ty,
                    span,
                    origin: Some(Origin {
                        span: *decl,
                        what: format!("`{}` is declared as `{}` here", head.name, ty.name()),
                    }),
                },
                None => Typed::error(span),
            };
        }
        match head.name.as_str() {
            "run" => return Typed::new(Val::Namespace("run"), Ty::Namespace, span),
            "git" => return Typed::new(Val::Namespace("git"), Ty::Namespace, span),
            _ => {}
        }
        let Some(symbol) = self.res.symbols.get(&head.name).copied() else {
            // Unknown names were reported by the resolver.
            return Typed::error(span);
        };
        self.used.insert(head.name.clone());
        let origin = |what: String| {
            Some(Origin {
                span: symbol.name_span(),
                what,
            })
        };
        match symbol {
            Symbol::Param(p) => {
                let ty = Ty::from_name(&p.ty.name.name).unwrap_or(Ty::Error);
                let val = if ty == Ty::Str {
                    Val::Str(Template::var(Var::Param(p.name.name.clone())))
                } else {
                    Val::Runtime(Template::var(Var::Param(p.name.name.clone())))
                };
                Typed {
                    val,
                    ty,
                    span,
                    origin: origin(format!(
                        "`{}` is a param of type `{}`, known when the pipeline runs",
                        p.name.name,
                        ty.name()
                    )),
                }
            }
            Symbol::Secret(s) => Typed {
                val: Val::Secret {
                    secret_name: self
                        .secret_names
                        .get(&s.name.name)
                        .cloned()
                        .unwrap_or_default(),
                    keys: s
                        .keys
                        .as_ref()
                        .map(|k| k.iter().map(|i| i.name.clone()).collect()),
                    decl_span: s.name.span,
                },
                ty: Ty::Secret,
                span,
                origin: origin(format!("`{}` is a secret", s.name.name)),
            },
            Symbol::Node { decl, .. } => {
                let id = self
                    .node_ids
                    .get(&head.name)
                    .copied()
                    .unwrap_or(NodeId(usize::MAX));
                match decl.keyword {
                    ast::NodeKeyword::Image => Typed {
                        val: Val::Image(self.image_of_node(id)),
                        ty: Ty::Image,
                        span,
                        origin: origin(format!("`{}` is an image", decl.name.name)),
                    },
                    ast::NodeKeyword::Step => Typed {
                        val: Val::Step(id),
                        ty: Ty::Step,
                        span,
                        origin: origin(format!("`{}` is a step", decl.name.name)),
                    },
                }
            }
            Symbol::Service(s) => Typed {
                val: Val::Service(
                    self.service_ids
                        .get(&s.name.name)
                        .copied()
                        .unwrap_or(ServiceId(usize::MAX)),
                ),
                ty: Ty::Service,
                span,
                origin: origin(format!("`{}` is a service", s.name.name)),
            },
            Symbol::Environment(e) => Typed {
                val: Val::Environment(
                    self.env_ids
                        .get(&e.name.name)
                        .copied()
                        .unwrap_or(hir::EnvId(usize::MAX)),
                ),
                ty: Ty::Environment,
                span,
                origin: origin(format!("`{}` is an environment", e.name.name)),
            },
        }
    }

    /// `value.field`.
    fn field(&mut self, value: Typed, field: &ast::Ident) -> Typed {
        let span = value.span.to(field.span);
        let name = field.name.as_str();
        let unknown = |this: &mut Self, fields: &[&str], what: &str| {
            let suggestion = did_you_mean(name, fields.iter().copied());
            this.diags.push(
                Diagnostic::new(
                    Code::E0103,
                    field.span,
                    format!("{what} has no field `{name}`"),
                )
                .label("unknown field")
                .help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if fields.is_empty() => format!("{what} has no fields"),
                    None => format!("its fields are: {}", fields.join(", ")),
                }),
            );
            Typed::error(span)
        };
        match &value.val {
            Val::Namespace("run") => {
                let var = match name {
                    "id" => Var::RunId,
                    "name" => Var::RunName,
                    "namespace" => Var::RunNamespace,
                    "timestamp" => Var::RunTimestamp,
                    _ => {
                        let fields: Vec<&str> =
                            schema::RUN_FIELDS.iter().map(|(n, _)| *n).collect();
                        return unknown(self, &fields, "`run`");
                    }
                };
                Typed::new(Val::Str(Template::var(var)), Ty::Str, span)
            }
            Val::Namespace(_) => {
                let var = match name {
                    "sha" => Var::GitSha,
                    "short_sha" => Var::GitShortSha,
                    "branch" => Var::GitBranch,
                    "tag" => Var::GitTag,
                    "repo" => Var::GitRepo,
                    _ => {
                        let fields: Vec<&str> =
                            schema::GIT_FIELDS.iter().map(|(n, _)| *n).collect();
                        return unknown(self, &fields, "`git`");
                    }
                };
                Typed::new(Val::Str(Template::var(var)), Ty::Str, span)
            }
            Val::Secret {
                secret_name,
                keys,
                decl_span,
            } => {
                if let Some(keys) = keys
                    && !keys.iter().any(|k| k == name)
                {
                    let suggestion = did_you_mean(name, keys.iter().map(String::as_str));
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0104,
                            field.span,
                            format!("the secret has no key `{name}`"),
                        )
                        .label("not among the declared keys")
                        .with_secondary(*decl_span, "keys declared here")
                        .help(match suggestion {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("declared keys: {}", keys.join(", ")),
                        }),
                    );
                    return Typed::error(span);
                }
                Typed {
                    val: Val::SecretKey(SecretKeyRef {
                        secret_name: secret_name.clone(),
                        key: name.to_string(),
                    }),
                    ty: Ty::SecretKey,
                    span,
                    origin: value.origin.clone(),
                }
            }
            Val::Step(id) | Val::Image(ImageRef::Node(id)) => {
                let id = *id;
                let is_image = matches!(value.val, Val::Image(_));
                match name {
                    "passed" | "failed" => Typed::new(
                        Val::Cond(Condition::StepResult {
                            node: id,
                            passed: name == "passed",
                        }),
                        Ty::Condition,
                        span,
                    ),
                    "image" if is_image => Typed { span, ..value },
                    _ => {
                        let outputs = self.declared_outputs(id);
                        if let Some(output) = outputs.iter().find(|o| o.name == name) {
                            return Typed::new(
                                Val::Output(hir::InputFile {
                                    node: id,
                                    output: output.name.clone(),
                                    path: output.path.clone(),
                                }),
                                Ty::Output,
                                span,
                            );
                        }
                        let mut fields: Vec<&str> = if is_image {
                            vec!["image", "passed", "failed"]
                        } else {
                            vec!["passed", "failed"]
                        };
                        fields.extend(outputs.iter().map(|o| o.name.as_str()));
                        unknown(
                            self,
                            &fields,
                            if is_image { "an image step" } else { "a step" },
                        )
                    }
                }
            }
            Val::Service(id) => {
                let id = *id;
                let Some(address) = self.service_hosts.get(&id).cloned() else {
                    // The service's port is not a literal; its own check reports that.
                    return Typed::error(span);
                };
                if name != "port" && self.remote_env_of(id).is_some() {
                    self.diags.push(
                        Diagnostic::new(Code::E0212, field.span, format!("`{name}` of a service in another cluster"))
                            .label("its Service is not reachable by name from the Workflow's cluster")
                            .help("reach it through an address it is exposed at (a load balancer or Ingress host), written as text"),
                    );
                    return Typed::error(span);
                }
                let mut host = Template::lit(&address.name);
                if address.env != self.current_env {
                    host.pieces.extend(address.qualifier.pieces);
                }
                let text = match name {
                    "host" => host,
                    "port" => Template::lit(address.port.to_string()),
                    "url" => {
                        let mut url = Template::lit("http://");
                        url.pieces.extend(host.pieces);
                        url.push_lit(&format!(":{}", address.port));
                        url
                    }
                    _ => return unknown(self, &["url", "host", "port"], "a service"),
                };
                if let Some(env) = self.ephemeral_env_of(id) {
                    self.env_up.push(env);
                }
                Typed::new(Val::Str(text), Ty::Str, span)
            }
            _ => unknown(self, &[], &format!("a value of type `{}`", value.ty.name())),
        }
    }

    fn eval_call(
        &mut self,
        callee: &[ast::Ident],
        args: &[ast::Arg],
        span: Span,
        scope: &Scope,
    ) -> Typed {
        let name = match callee {
            [one] => one.name.as_str(),
            _ => "",
        };
        match name {
            "http_get" | "tcp" | "exec" => match self.probe(name, args, span, scope) {
                Some(p) => Typed::new(Val::Probe(p), Ty::Probe, span),
                None => Typed::error(span),
            },
            "cluster_ip" | "load_balancer" | "node_port" => {
                match self.exposure(name, args, span, scope) {
                    Some(e) => Typed::new(Val::Exposure(e), Ty::Exposure, span),
                    None => Typed::error(span),
                }
            }
            "nginx" | "istio" | "smi" => match self.traffic_router(name, args, span, scope) {
                Some(t) => Typed::new(Val::Traffic(t), Ty::Traffic, span),
                None => Typed::error(span),
            },
            _ => {
                if self.res.analysis(callee).is_some() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0201,
                            span,
                            "an analysis is used with `analyze`, inside a release",
                        )
                        .label("analysis call outside `analyze`")
                        .help("write `analyze NAME(…)` as a stage of a `release`"),
                    );
                }
                Typed::error(span)
            }
        }
    }

    fn eval_binary(
        &mut self,
        op: BinaryOp,
        op_span: Span,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        scope: &Scope,
    ) -> Typed {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let a = self.condition_of(lhs, scope);
                let b = self.condition_of(rhs, scope);
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let c = if op == BinaryOp::And {
                            Condition::And(Box::new(a), Box::new(b))
                        } else {
                            Condition::Or(Box::new(a), Box::new(b))
                        };
                        Typed::new(Val::Cond(c), Ty::Condition, span)
                    }
                    _ => Typed::error(span),
                }
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                let a = self.eval(lhs, scope);
                let b = self.eval(rhs, scope);
                let (Some(ta), Some(tb)) = (self.operand(&a), self.operand(&b)) else {
                    return Typed::error(span);
                };
                if !self.check_no_template_tags(&ta, a.span)
                    || !self.check_no_template_tags(&tb, b.span)
                {
                    return Typed::error(span);
                }
                if a.ty != b.ty && !matches!((a.ty, b.ty), (Ty::Str, _) | (_, Ty::Str)) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0201,
                            op_span,
                            format!("cannot compare `{}` with `{}`", a.ty.name(), b.ty.name()),
                        )
                        .label("different types")
                        .with_secondary(a.span, format!("this is {}", a.ty.with_article()))
                        .with_secondary(b.span, format!("this is {}", b.ty.with_article()))
                        .help("compare values of the same type"),
                    );
                    return Typed::error(span);
                }
                Typed::new(
                    Val::Cond(Condition::Compare {
                        lhs: Operand::Text(ta),
                        rhs: Operand::Text(tb),
                        equal: op == BinaryOp::Eq,
                    }),
                    Ty::Condition,
                    span,
                )
            }
            BinaryOp::Match | BinaryOp::NotMatch => {
                let a = self.eval(lhs, scope);
                let b = self.eval(rhs, scope);
                let operand = self.operand(&a);
                let regex = match &b.val {
                    Val::Regex(r) if r.contains("{{") || r.contains("}}") => {
                        self.check_no_template_tags(&Template::lit(r.clone()), b.span);
                        None
                    }
                    Val::Regex(r) => Some(r.clone()),
                    Val::Error => None,
                    _ => {
                        self.mismatch(&b, "a regular expression `/…/`");
                        None
                    }
                };
                match (operand, regex) {
                    (Some(t), Some(regex)) => Typed::new(
                        Val::Cond(Condition::Matches {
                            operand: Operand::Text(t),
                            regex,
                            negated: op == BinaryOp::NotMatch,
                        }),
                        Ty::Condition,
                        span,
                    ),
                    _ => Typed::error(span),
                }
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                self.diags.push(
                    Diagnostic::new(Code::E0201, op_span, format!("`{}` is only available in analysis conditions", op.as_str()))
                        .label("ordering comparison")
                        .help("pipeline conditions compare text with `==`, `!=`, `~` and `!~`; numbers are compared in `success`/`failure` of a metric"),
                );
                Typed::error(span)
            }
        }
    }

    /// A comparison operand: anything with a text form.
    fn operand(&mut self, value: &Typed) -> Option<Template> {
        match &value.val {
            Val::Error => None,
            Val::Cond(_) => {
                self.mismatch(value, "a value to compare");
                None
            }
            _ => self.as_text(value),
        }
    }

    /// Evaluates an expression that must be a condition.
    pub(super) fn condition_of(&mut self, expr: &Expr, scope: &Scope) -> Option<Condition> {
        let value = self.eval(expr, scope);
        self.as_condition(&value)
    }

    pub(super) fn as_condition(&mut self, value: &Typed) -> Option<Condition> {
        match &value.val {
            Val::Cond(c) => Some(c.clone()),
            Val::Bool(b) => Some(Condition::Const(*b)),
            Val::Runtime(t) if value.ty == Ty::Bool => Some(Condition::Compare {
                lhs: Operand::Text(t.clone()),
                rhs: Operand::Text(Template::lit("true")),
                equal: true,
            }),
            Val::Error => None,
            Val::Step(id) => {
                let name = self.node_name(*id);
                self.diags.push(
                    Diagnostic::new(Code::E0201, value.span, "a step is not a condition")
                        .label("a step")
                        .help(format!(
                            "test its result: `{name}.passed` or `{name}.failed`"
                        )),
                );
                None
            }
            _ => {
                self.mismatch(value, "a condition");
                None
            }
        }
    }

    /// Reports that `value` is not what the place wants, pointing at its origin when known.
    pub(super) fn mismatch(&mut self, value: &Typed, wanted: &str) {
        if value.is_error() {
            return;
        }
        let mut d = Diagnostic::new(
            Code::E0201,
            value.span,
            format!("expected {wanted}, found {}", value.ty.with_article()),
        )
        .label(format!("this is {}", value.ty.with_article()));
        if let Some(origin) = &value.origin {
            d = d.with_secondary(origin.span, origin.what.clone());
        }
        d = d.help(mismatch_help(value.ty, wanted));
        self.diags.push(d);
    }

    /// Reports a value that needs to be known at compile time but depends on the run.
    pub(super) fn needs_static(&mut self, value: &Typed, place: &str) {
        self.needs_static_because(
            value,
            place,
            "Rollouts, Services and AnalysisTemplates are plain YAML that Argo does not template: write the value itself",
        );
    }

    /// [`Self::needs_static`] with the reason the place cannot wait for the run.
    pub(super) fn needs_static_because(&mut self, value: &Typed, place: &str, help: &str) {
        let mut d = Diagnostic::new(
            Code::E0214,
            value.span,
            format!("{place} must be known when the pipeline is compiled"),
        )
        .label("this is only known when the pipeline runs");
        if let Some(origin) = &value.origin {
            d = d.with_secondary(origin.span, origin.what.clone());
        }
        d = d.help(help);
        self.diags.push(d);
    }

    // ---- expectations -------------------------------------------------------------------

    /// A string, possibly with run-time parts.
    pub(super) fn expect_text(&mut self, expr: &Expr, scope: &Scope) -> Option<Template> {
        let value = self.eval(expr, scope);
        match &value.val {
            Val::Str(t) => Some(t.clone()),
            Val::Runtime(t) if value.ty == Ty::Str => Some(t.clone()),
            Val::Error => None,
            _ => {
                self.mismatch(&value, "a `string`");
                None
            }
        }
    }

    /// A string known at compile time.
    pub(super) fn expect_static_text(
        &mut self,
        expr: &Expr,
        scope: &Scope,
        place: &str,
    ) -> Option<String> {
        let value = self.eval(expr, scope);
        match &value.val {
            Val::Str(t) => match t.as_static() {
                Some(s) => Some(s),
                None => {
                    self.needs_static(&value, place);
                    None
                }
            },
            Val::Error => None,
            Val::Runtime(_) => {
                self.needs_static(&value, place);
                None
            }
            _ => {
                self.mismatch(&value, "a `string`");
                None
            }
        }
    }

    /// An integer known at compile time, within `range`.
    pub(super) fn expect_int(
        &mut self,
        expr: &Expr,
        scope: &Scope,
        min: i64,
        max: i64,
        place: &str,
    ) -> Option<i64> {
        let value = self.eval(expr, scope);
        self.int_of(&value, min, max, place)
    }

    pub(super) fn int_of(&mut self, value: &Typed, min: i64, max: i64, place: &str) -> Option<i64> {
        match value.val {
            Val::Int(v) if (min..=max).contains(&v) => Some(v),
            Val::Int(v) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        value.span,
                        format!("{place} must be between {min} and {max}, not {v}"),
                    )
                    .label("out of range")
                    .help(format!("write a value from {min} to {max}")),
                );
                None
            }
            Val::Error => None,
            Val::Runtime(_) if value.ty == Ty::Int => {
                self.needs_static(value, place);
                None
            }
            _ => {
                self.mismatch(value, "an `int`");
                None
            }
        }
    }

    /// A positive duration in seconds, known at compile time.
    pub(super) fn expect_duration(
        &mut self,
        expr: &Expr,
        scope: &Scope,
        place: &str,
    ) -> Option<u64> {
        let value = self.eval(expr, scope);
        match value.val {
            Val::Duration(0) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        value.span,
                        format!("{place} must be longer than zero"),
                    )
                    .label("zero duration")
                    .help("write a positive duration such as `30s` or `5m`"),
                );
                None
            }
            Val::Duration(d) if d > crate::k8s_rules::MAX_DURATION_SECONDS => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        value.span,
                        format!("{place} is longer than Kubernetes and Argo can hold"),
                    )
                    .label(format!(
                        "{d} seconds; at most {} (about 68 years)",
                        crate::k8s_rules::MAX_DURATION_SECONDS
                    ))
                    .help(
                        "these durations become int32 seconds or Go durations: write a shorter one",
                    ),
                );
                None
            }
            Val::Duration(d) => Some(d),
            Val::Error => None,
            Val::Runtime(_) if value.ty == Ty::Duration => {
                self.needs_static(&value, place);
                None
            }
            _ => {
                self.mismatch(&value, "a `duration` such as `30s` or `10m`");
                None
            }
        }
    }

    pub(super) fn expect_bool(&mut self, expr: &Expr, scope: &Scope) -> Option<bool> {
        let value = self.eval(expr, scope);
        match value.val {
            Val::Bool(b) => Some(b),
            Val::Error => None,
            _ => {
                self.mismatch(&value, "`true` or `false`");
                None
            }
        }
    }

    /// An image: a declared image, the image a step produced, or an image name.
    pub(super) fn expect_image(&mut self, expr: &Expr, scope: &Scope) -> Option<ImageRef> {
        let value = self.eval(expr, scope);
        match &value.val {
            Val::Image(image) => Some(image.clone()),
            Val::Str(t) => {
                self.check_no_template_tags(t, value.span);
                if !self.check_image_text(t, value.span, crate::k8s_rules::ImagePart::Reference) {
                    return None;
                }
                Some(ImageRef::External(t.clone()))
            }
            Val::Error => None,
            _ => {
                self.mismatch(&value, "an image (an `image` declaration or an image name)");
                None
            }
        }
    }

    /// An image name, repository or tag known at compile time must be one the container
    /// runtime and registries accept ([`crate::k8s_rules::image`]); text with run-time values
    /// is checked when it runs. False if it was refused.
    pub(super) fn check_image_text(
        &mut self,
        text: &Template,
        span: Span,
        part: crate::k8s_rules::ImagePart,
    ) -> bool {
        // Run-time values are made valid (tags) or checked when the step runs (repositories):
        // here each stands for one valid character, so the text around them is checked.
        let literal: String = text
            .pieces
            .iter()
            .map(|p| match p {
                crate::hir::Piece::Lit(t) => t.as_str(),
                crate::hir::Piece::Var(_) => "0",
            })
            .collect();
        let Err(reason) = crate::k8s_rules::image(&literal, part) else {
            return true;
        };
        let shown = match text.as_static() {
            Some(_) => format!("`{literal}`"),
            None => "this text".to_string(),
        };
        let what = match part {
            crate::k8s_rules::ImagePart::Reference => "an image reference",
            crate::k8s_rules::ImagePart::Repository => "an image repository",
            crate::k8s_rules::ImagePart::Tag => "an image tag",
        };
        self.diags.push(
            Diagnostic::new(Code::E0212, span, format!("{shown} is not {what}"))
                .label(reason)
                .help("image names follow the distribution reference grammar: `registry.example.com/team/app:1.2.3`, lowercase repositories, tags of letters, digits, `_`, `.` and `-`"),
        );
        false
    }

    /// A secret holding registry credentials.
    pub(super) fn expect_registry_auth(
        &mut self,
        expr: &Expr,
        scope: &Scope,
    ) -> Option<crate::hir::RegistryAuth> {
        let value = self.eval(expr, scope);
        match &value.val {
            Val::Secret {
                secret_name,
                keys,
                decl_span,
            } => {
                if let Some(keys) = keys {
                    let missing: Vec<&str> = ["username", "password"]
                        .into_iter()
                        .filter(|k| !keys.iter().any(|have| have == k))
                        .collect();
                    if !missing.is_empty() {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0309,
                                value.span,
                                format!("registry credentials need the key{} {}", if missing.len() > 1 { "s" } else { "" }, missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" and ")),
                            )
                            .label("used as registry credentials")
                            .with_secondary(*decl_span, "keys declared here")
                            .help("declare the secret with `{ username, password }`, the keys of a registry login"),
                        );
                        return None;
                    }
                }
                let key = |key: &str| crate::hir::SecretKeyRef {
                    secret_name: secret_name.clone(),
                    key: key.to_string(),
                };
                Some(crate::hir::RegistryAuth {
                    username: key("username"),
                    password: key("password"),
                })
            }
            // `{ username = hub.DOCKER_USER, password = hub.DOCKER_TOKEN }`: a Secret whose
            // keys are named otherwise, or two Secrets.
            Val::Record(fields) => {
                let mut username = None;
                let mut password = None;
                let mut misspelt = false;
                for (name, field) in fields {
                    let slot = match name.name.as_str() {
                        "username" => &mut username,
                        "password" => &mut password,
                        other => {
                            let suggestion = did_you_mean(other, ["username", "password"]);
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0205,
                                    name.span,
                                    format!("registry credentials have no field `{other}`"),
                                )
                                .label("unknown field")
                                .help(suggestion.map_or_else(
                                    || "the fields are `username` and `password`".to_string(),
                                    |s| format!("did you mean `{s}`?"),
                                )),
                            );
                            misspelt = true;
                            continue;
                        }
                    };
                    match &field.val {
                        Val::SecretKey(key) => *slot = Some(key.clone()),
                        Val::Error => return None,
                        _ => {
                            self.mismatch(field, "a secret key, such as `hub.DOCKER_TOKEN`");
                            return None;
                        }
                    }
                }
                match (username, password) {
                    (Some(username), Some(password)) => {
                        Some(crate::hir::RegistryAuth { username, password })
                    }
                    // The misspelt field was reported; what it lacks follows from it.
                    _ if misspelt => None,
                    (u, _) => {
                        let missing = if u.is_none() { "username" } else { "password" };
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0309,
                                value.span,
                                format!("registry credentials need `{missing}`"),
                            )
                            .label("the login is incomplete")
                            .help("give both: `{ username = hub.USER, password = hub.TOKEN }`"),
                        );
                        None
                    }
                }
            }
            Val::Error => None,
            _ => {
                self.mismatch(
                    &value,
                    "a `secret` with `username` and `password`, or `{ username = s.KEY, password = s.KEY }`",
                );
                None
            }
        }
    }

    /// An `after` list: steps, and services whose release must be complete.
    pub(super) fn expect_after(
        &mut self,
        expr: &Expr,
        scope: &Scope,
    ) -> (Vec<NodeId>, Vec<ServiceId>) {
        let value = self.eval(expr, scope);
        let items = match value.val {
            Val::List(items) => items,
            Val::Error => return (Vec::new(), Vec::new()),
            _ => vec![value],
        };
        let mut steps = Vec::new();
        let mut released = Vec::new();
        for item in items {
            match item.val {
                Val::Step(id) | Val::Image(ImageRef::Node(id)) => steps.push(id),
                Val::Service(id) => released.push(id),
                Val::Error => {}
                _ => self.mismatch(&item, "a step or a service"),
            }
        }
        (steps, released)
    }

    /// Argo Workflows rewrites `{{…}}` everywhere; text that reaches a template field must not
    /// contain it.
    pub(super) fn check_no_template_tags(&mut self, template: &Template, span: Span) -> bool {
        let bad = template.pieces.iter().any(|p| match p {
            crate::hir::Piece::Lit(t) => t.contains("{{") || t.contains("}}"),
            crate::hir::Piece::Var(_) => false,
        });
        if bad {
            self.diags.push(
                Diagnostic::new(Code::E0213, span, "`{{` would be read by Argo as a template tag")
                    .label("contains `{{` or `}}`")
                    .help("insert pipec values with `${…}`; Argo has no escape for `{{`, so the text cannot contain it here"),
            );
        }
        !bad
    }
}

fn mismatch_help(found: Ty, wanted: &str) -> String {
    match (found, wanted) {
        (Ty::Str, "an environment") => {
            "name an `environment` declared in the pipeline, without quotes".to_string()
        }
        (Ty::Str, w) if w.contains("int") => "write the number without quotes".to_string(),
        (Ty::Str, w) if w.contains("duration") => {
            "write the duration without quotes: `30s`, `10m`".to_string()
        }
        (Ty::Int, w) if w.contains("string") => {
            "write the value in quotes, or use `\"${…}\"`".to_string()
        }
        (Ty::Step, w) if w.contains("condition") => {
            "test the step's result with `.passed` or `.failed`".to_string()
        }
        (Ty::Secret, _) => "read one key of the secret: `secret.KEY`".to_string(),
        _ => format!("give {wanted} here"),
    }
}

/// Checks a pattern with RE2 rules (what Go's `regexp`, used by Argo, accepts).
/// Parses a pattern with Rust's `regex-syntax`; what Go reads differently is checked first by
/// [`crate::k8s_rules::go_regex`].
pub fn validate_regex(pattern: &str) -> Result<(), Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map(|_| ())
        .map_err(Box::new)
}

/// Narrows a regex error to the offending part of the literal, when regex-syntax says where.
fn regex_error_span(literal: Span, pattern: &str, error: &regex_syntax::Error) -> (Span, String) {
    let (message, range) = match error {
        regex_syntax::Error::Parse(e) => (
            e.kind().to_string(),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        regex_syntax::Error::Translate(e) => (
            e.kind().to_string(),
            Some(e.span().start.offset..e.span().end.offset),
        ),
        _ => (error.to_string(), None),
    };
    match range {
        Some(r) if r.end <= pattern.len() => (pattern_span(literal, r), message),
        _ => (literal, message),
    }
}

/// The span in the source of a byte range of a `/…/` literal's pattern (at least one byte).
fn pattern_span(literal: Span, range: std::ops::Range<usize>) -> Span {
    // +1 for the opening slash.
    let start = literal.start as usize + 1 + range.start;
    let end =
        (literal.start as usize + 1 + range.end.max(range.start + 1)).min(literal.end as usize);
    Span::new(literal.file, start..end)
}

pub fn format_float(f: f64) -> String {
    let s = format!("{f}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
    .trim_end_matches(".0")
    .to_string()
}

/// `5400` → `1h30m`: the form Argo accepts in duration strings.
pub fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_as_argo_accepts_them() {
        assert_eq!(format_duration(30), "30s");
        assert_eq!(format_duration(600), "10m");
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(90_061), "25h1m1s");
    }

    #[test]
    fn floats() {
        assert_eq!(format_float(0.95), "0.95");
        assert_eq!(format_float(95.0), "95");
        assert_eq!(format_float(99.5), "99.5");
    }

    #[test]
    fn regexes_use_re2_rules() {
        assert!(validate_regex("^hotfix").is_ok());
        assert!(validate_regex("^(hotfix").is_err());
        // Backreferences are not RE2.
        assert!(validate_regex(r"(a)\1").is_err());
    }
}
