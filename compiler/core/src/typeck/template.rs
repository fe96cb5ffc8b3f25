//! Checking `service` and `step` definitions and their uses. A use was expanded into a plain
//! declaration (`expand.rs`); here its arguments are checked against the definition's
//! parameters first, and mistakes found inside the definition's body are tied to the use.

use super::value::Ty;
use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Label};
use crate::expand::Instance;

/// Types a definition's parameters can have: values, and the references a service or step
/// is built from.
fn param_type(name: &str) -> Option<Ty> {
    Ty::from_name(name).or(match name {
        "secret" => Some(Ty::Secret),
        "secret_key" => Some(Ty::SecretKey),
        "image" => Some(Ty::Image),
        "service" => Some(Ty::Service),
        "environment" => Some(Ty::Environment),
        _ => None,
    })
}

const PARAM_TYPES: &str =
    "string, int, float, bool, duration, percent, secret, secret_key, image, service, environment";

impl Checker<'_, '_> {
    /// Every definition's parameter types, once, whether used or not.
    pub(super) fn check_template_defs(&mut self) {
        for entry in &self.res.templates {
            for p in &entry.def.params {
                if param_type(&p.ty.name.name).is_none() || !p.ty.args.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0211,
                            p.ty.span,
                            format!("unknown type `{}`", p.ty.name.name),
                        )
                        .label("not a parameter type")
                        .help(format!("parameter types: {PARAM_TYPES}")),
                    );
                }
            }
        }
    }

    /// The arguments of a use: every parameter without a default given, none unknown, each
    /// of its parameter's type. `false` if any is wrong: the expansion is then not checked,
    /// as its errors would only repeat these.
    pub(super) fn check_instance_args(&mut self, instance: &Instance) -> bool {
        let Some(entry) = self.res.templates.get(instance.template).copied() else {
            return false;
        };
        let callee = instance.name();
        let params: Vec<(&str, bool)> = entry
            .def
            .params
            .iter()
            .map(|p| (p.name.name.as_str(), p.default.is_none()))
            .collect();
        let Some(bound) = self.bind_args(
            &callee,
            &params,
            &instance.call.args,
            instance.call.span,
            Some(entry.def.name.span),
        ) else {
            return false;
        };
        let mut ok = true;
        for p in &entry.def.params {
            let (Some(expr), Some(ty)) = (bound.get(&p.name.name), param_type(&p.ty.name.name))
            else {
                continue;
            };
            let value = self.eval(expr, &Scope::Pipeline);
            if value.is_error() {
                ok = false;
                continue;
            }
            let fits = value.ty == ty || (ty == Ty::Float && value.ty == Ty::Int);
            if !fits {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        value.span,
                        format!(
                            "`{}` takes a `{}`, found {}",
                            p.name.name,
                            p.ty.name.name,
                            value.ty.with_article()
                        ),
                    )
                    .label(format!("this is {}", value.ty.with_article()))
                    .with_secondary(
                        p.ty.span,
                        format!("`{}` is declared as `{}` here", p.name.name, p.ty.name.name),
                    )
                    .help(match ty {
                        Ty::SecretKey => "pass a key of a declared secret, `SECRET.KEY`: its value never appears in the YAML".to_string(),
                        _ => format!("pass a `{}`", p.ty.name.name),
                    }),
                );
                ok = false;
            }
        }
        ok
    }

    /// Counts the names in the arguments of a use that could not be expanded as used, so the
    /// unused-declaration warning does not pile onto its error.
    pub(super) fn mark_used(&mut self, args: &[pipec_syntax::ast::Arg]) {
        fn walk(expr: &pipec_syntax::ast::Expr, used: &mut std::collections::BTreeSet<String>) {
            use pipec_syntax::ast::{ExprKind, StrPart};
            match &expr.kind {
                ExprKind::Path(path) => {
                    if let Some(head) = path.first() {
                        used.insert(head.name.clone());
                    }
                }
                ExprKind::Call { args, .. } => args.iter().for_each(|a| walk(&a.value, used)),
                ExprKind::Str(lit) => {
                    for part in &lit.parts {
                        if let StrPart::Interp(e) = part {
                            walk(e, used);
                        }
                    }
                }
                ExprKind::List(items) => items.iter().for_each(|i| walk(i, used)),
                ExprKind::Record(props) => props.iter().for_each(|p| walk(&p.value, used)),
                ExprKind::Unary { expr, .. } => walk(expr, used),
                ExprKind::Binary { lhs, rhs, .. } => {
                    walk(lhs, used);
                    walk(rhs, used);
                }
                _ => {}
            }
        }
        for arg in args {
            walk(&arg.value, &mut self.used);
        }
    }

    /// Ties the mistakes reported since `start` inside a definition's body to the use that
    /// expanded it.
    pub(super) fn blame_use(&mut self, start: usize, instance: &Instance) {
        let call = instance.call.span;
        let name = instance.name();
        self.diags.annotate_since(start, |d| {
            if d.primary.span.file != call.file {
                d.secondary.push(Label {
                    span: call,
                    message: format!("in this use of `{name}`"),
                });
            }
        });
    }
}
