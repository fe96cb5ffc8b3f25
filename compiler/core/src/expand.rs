//! Expansion: each use of a `service` or `step` definition becomes the plain declaration it
//! stands for, before type checking.
//!
//! `service db = postgres(database = "ping", …) { environment = staging }` is the body of
//! `service postgres(…) { … }` with every parameter replaced by the expression given for it
//! (or its default), then the instance's own properties added, replacing any of the same name.
//! The argument expressions keep their spans, so a mistake in an argument is reported where
//! the user wrote it. The type checker checks the arguments against the parameters' types
//! ([`Instance`]) and then checks the expanded declaration like any other.

use std::collections::BTreeMap;

use pipec_syntax::Span;
use pipec_syntax::ast::{
    self, Action, Block, Expr, ExprKind, HandlerAction, Member, NodeValue, Property, StrPart,
    TemplateBody, TemplateCall,
};

use crate::resolve::Resolution;

/// Where an expanded declaration came from.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Index in [`Resolution::templates`].
    pub template: usize,
    pub call: TemplateCall,
}

impl Instance {
    /// `postgres`, `db.postgres`: the definition as the use names it.
    pub fn name(&self) -> String {
        self.call
            .callee
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// The entry pipeline with every instance expanded.
#[derive(Debug)]
pub struct Expanded {
    pub pipeline: ast::Pipeline,
    /// Declaration name → the instance it was expanded from.
    pub instances: BTreeMap<String, Instance>,
}

pub fn expand(pipeline: &ast::Pipeline, res: &Resolution<'_>) -> Expanded {
    let mut instances = BTreeMap::new();
    let mut out = pipeline.clone();
    for member in &mut out.members {
        match member {
            Member::Service(decl) => {
                // A wrong kind or an unknown name was reported by the resolver; the
                // declaration keeps its `from`, which the type checker skips.
                if let Some(call) = decl.from.clone()
                    && let Some((index, ast::TemplateBody::Service(body))) = template(res, &call)
                {
                    decl.from = None;
                    let bindings = bindings(res, index, &call);
                    let mut properties: Vec<Property> = body
                        .properties
                        .iter()
                        .map(|p| substitute_property(p, &bindings))
                        .collect();
                    merge(&mut properties, &decl.body.properties);
                    decl.body = Block {
                        properties,
                        span: decl.body.span,
                        recovered: decl.body.recovered || body.recovered,
                    };
                    instances.insert(
                        decl.name.name.clone(),
                        Instance {
                            template: index,
                            call,
                        },
                    );
                }
            }
            Member::Node(node) => expand_node(node, res, &mut instances),
            Member::Handler(handler) => {
                for action in &mut handler.actions {
                    if let HandlerAction::Node(node) = action {
                        expand_node(node, res, &mut instances);
                    }
                }
            }
            _ => {}
        }
    }
    Expanded {
        pipeline: out,
        instances,
    }
}

fn expand_node(
    node: &mut ast::NodeDecl,
    res: &Resolution<'_>,
    instances: &mut BTreeMap<String, Instance>,
) {
    let NodeValue::Template { call, body } = &node.value else {
        return;
    };
    // A wrong kind or an unknown name was reported by the resolver; the declaration stays a
    // template use, which the type checker skips.
    let Some((index, TemplateBody::Step(action))) = template(res, call) else {
        return;
    };
    let bindings = bindings(res, index, call);
    let mut properties: Vec<Property> = action
        .body
        .iter()
        .flat_map(|b| &b.properties)
        .map(|p| substitute_property(p, &bindings))
        .collect();
    let own = body.as_ref().map_or(&[][..], |b| &b.properties[..]);
    merge(&mut properties, own);
    let expanded = Action {
        verb: action.verb.clone(),
        subject: action.subject.as_ref().map(|s| substitute(s, &bindings)),
        body: Some(Block {
            properties,
            span: body.as_ref().map_or(call.span, |b| b.span),
            recovered: body.as_ref().is_some_and(|b| b.recovered)
                || action.body.as_ref().is_some_and(|b| b.recovered),
        }),
        span: call.span,
    };
    instances.insert(
        node.name.name.clone(),
        Instance {
            template: index,
            call: call.clone(),
        },
    );
    node.value = NodeValue::Action(expanded);
}

fn template<'r>(res: &Resolution<'r>, call: &TemplateCall) -> Option<(usize, &'r TemplateBody)> {
    let index = res.template(&call.callee)?;
    Some((index, &res.templates.get(index)?.def.body))
}

/// Parameter → the expression standing for it: the argument, else the default. Parameters
/// with neither stay unbound; the type checker reports them.
fn bindings(res: &Resolution<'_>, index: usize, call: &TemplateCall) -> BTreeMap<String, Expr> {
    let Some(entry) = res.templates.get(index) else {
        return BTreeMap::new();
    };
    let params = &entry.def.params;
    let mut out = BTreeMap::new();
    let mut positional = 0;
    for arg in &call.args {
        let name = match &arg.name {
            Some(n) => n.name.clone(),
            None => {
                let Some(p) = params.get(positional) else {
                    continue;
                };
                positional += 1;
                p.name.name.clone()
            }
        };
        out.entry(name).or_insert_with(|| arg.value.clone());
    }
    for p in params {
        if let Some(default) = &p.default {
            out.entry(p.name.name.clone())
                .or_insert_with(|| default.clone());
        }
    }
    out
}

/// Adds the instance's own properties, each replacing the definition's of the same name.
fn merge(properties: &mut Vec<Property>, own: &[Property]) {
    for p in own {
        match properties.iter_mut().find(|q| q.name.name == p.name.name) {
            Some(existing) => *existing = p.clone(),
            None => properties.push(p.clone()),
        }
    }
}

fn substitute_property(p: &Property, bindings: &BTreeMap<String, Expr>) -> Property {
    Property {
        name: p.name.clone(),
        value: substitute(&p.value, bindings),
        span: p.span,
    }
}

/// The expression with each parameter replaced by its binding. `password.key` with
/// `password = db` becomes `db.key`.
fn substitute(expr: &Expr, bindings: &BTreeMap<String, Expr>) -> Expr {
    let kind = match &expr.kind {
        ExprKind::Path(path) => {
            let bound = path.first().and_then(|head| bindings.get(&head.name));
            match (bound, path.len()) {
                (Some(value), 1) => return value.clone(),
                (
                    Some(Expr {
                        kind: ExprKind::Path(prefix),
                        span,
                    }),
                    _,
                ) => {
                    let mut joined = prefix.clone();
                    joined.extend(path[1..].iter().cloned());
                    return Expr {
                        kind: ExprKind::Path(joined),
                        span: span_to(*span, expr.span),
                    };
                }
                // A field of a value that is not a name (`"text".x`): nothing it could mean.
                (Some(_), _) => ExprKind::Error,
                (None, _) => ExprKind::Path(path.clone()),
            }
        }
        ExprKind::Call { callee, args } => ExprKind::Call {
            callee: callee.clone(),
            args: args
                .iter()
                .map(|a| ast::Arg {
                    name: a.name.clone(),
                    value: substitute(&a.value, bindings),
                })
                .collect(),
        },
        ExprKind::Str(lit) => ExprKind::Str(ast::StrLit {
            parts: lit
                .parts
                .iter()
                .map(|part| match part {
                    StrPart::Text(t) => StrPart::Text(t.clone()),
                    StrPart::Interp(e) => StrPart::Interp(substitute(e, bindings)),
                })
                .collect(),
            triple: lit.triple,
            span: lit.span,
        }),
        ExprKind::List(items) => {
            ExprKind::List(items.iter().map(|i| substitute(i, bindings)).collect())
        }
        ExprKind::Record(props) => ExprKind::Record(
            props
                .iter()
                .map(|p| substitute_property(p, bindings))
                .collect(),
        ),
        ExprKind::Unary { op, op_span, expr } => ExprKind::Unary {
            op: *op,
            op_span: *op_span,
            expr: Box::new(substitute(expr, bindings)),
        },
        ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } => ExprKind::Binary {
            op: *op,
            op_span: *op_span,
            lhs: Box::new(substitute(lhs, bindings)),
            rhs: Box::new(substitute(rhs, bindings)),
        },
        other => other.clone(),
    };
    Expr {
        kind,
        span: expr.span,
    }
}

/// The argument's span when it and the use are in different files (the use is inside a
/// definition), else both.
fn span_to(arg: Span, use_site: Span) -> Span {
    if arg.file == use_site.file {
        arg.to(use_site)
    } else {
        arg
    }
}
