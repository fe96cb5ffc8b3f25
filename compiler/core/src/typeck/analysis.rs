//! Checking analysis definitions and the `analyze` calls that use them.
//!
//! An analysis compiles to an AnalysisTemplate whose args are its parameters. A call passes
//! every parameter, typed, so the Rollout never waits on an arg nobody supplies.

use std::collections::BTreeMap;

use pipec_syntax::Span;
use pipec_syntax::ast::{self, BinaryOp, Expr, ExprKind, UnaryOp};

use super::value::{Ty, Val};
use super::{Checker, Scope, format_float, kebab};
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::hir::{self, AnalysisId, Setting, StageKind, Template};
use crate::schema;

impl Checker<'_, '_> {
    pub(super) fn check_analysis_def(&mut self, index: usize) {
        let Some(entry) = self.res.analyses.get(index).copied() else {
            return;
        };
        let def = entry.def;
        let k8s_name = self.k8s_name(&def.name, "analysis");
        let mut params = BTreeMap::new();
        let mut hir_params = Vec::new();
        for p in &def.params {
            let Some(ty) = Ty::from_name(&p.ty.name.name).filter(|_| p.ty.args.is_empty()) else {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0211,
                        p.ty.span,
                        format!("unknown type `{}`", p.ty.name.name),
                    )
                    .label("not a parameter type")
                    .help("parameter types: string, int, float, bool, duration, percent"),
                );
                continue;
            };
            params.insert(p.name.name.clone(), (ty, p.name.span));
            let default = match &p.default {
                Some(e) => {
                    let value = self.eval(e, &Scope::Pipeline);
                    if value.is_error() {
                        None
                    } else if let Some(text) = self.value_as_param(&value, ty) {
                        Some(text)
                    } else {
                        self.mismatch(
                            &value,
                            &format!(
                                "{} (the parameter's type)",
                                crate::diagnostic::with_article(ty.name())
                            ),
                        );
                        None
                    }
                }
                None => None,
            };
            hir_params.push(hir::AnalysisParam {
                name: p.name.name.clone(),
                default,
            });
        }
        let scope = Scope::Analysis { params };
        let mut metrics = Vec::new();
        if def.metrics.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::E0206,
                    def.name.span,
                    format!("analysis `{}` measures nothing", def.name.name),
                )
                .label("no `metric`")
                .help("add a `metric NAME { prometheus = { … }, success = … }`"),
            );
        }
        for metric in &def.metrics {
            if let Some(m) = self.check_metric(metric, &scope) {
                metrics.push(m);
            }
        }
        let id = AnalysisId(self.analyses.len());
        self.analysis_ids.insert(index, id);
        self.analyses.push(hir::Analysis {
            name: def.name.name.clone(),
            k8s_name,
            span: def.name.span,
            params: hir_params,
            metrics,
        });
    }

    fn check_metric(&mut self, metric: &ast::Metric, scope: &Scope) -> Option<hir::Metric> {
        let fields = self.fields(
            &metric.body.properties,
            &[schema::METRIC],
            metric.name.span,
            "a metric",
            metric.body.recovered,
        );
        let every = self.metric_setting(
            fields.get("every").copied(),
            scope,
            Ty::Duration,
            1,
            u64::from(u32::MAX),
        );
        let times = self.metric_setting(fields.get("times").copied(), scope, Ty::Int, 1, 10_000);
        let failure_limit = self.metric_setting(
            fields.get("failure_limit").copied(),
            scope,
            Ty::Int,
            0,
            10_000,
        );
        let inconclusive_limit = self.metric_setting(
            fields.get("inconclusive_limit").copied(),
            scope,
            Ty::Int,
            0,
            10_000,
        );
        let initial_delay = self.metric_setting(
            fields.get("initial_delay").copied(),
            scope,
            Ty::Duration,
            1,
            u64::from(u32::MAX),
        );
        let providers: Vec<&&ast::Property> = ["prometheus", "web", "job"]
            .iter()
            .filter_map(|k| fields.get(k))
            .collect();
        let provider_prop = match providers.as_slice() {
            [one] => **one,
            [] => {
                self.diags.push(
                    Diagnostic::new(Code::E0206, metric.name.span, "a metric needs a provider")
                        .label("no provider")
                        .help("add `prometheus = { address = \"http://…\", query = \"…\" }`, `web = { url = … }` or `job = { image = …, command = … }`"),
                );
                return None;
            }
            [first, second, ..] => {
                self.diags.push(
                    Diagnostic::new(Code::E0207, second.name.span, "a metric has one provider")
                        .label("a second provider")
                        .with_secondary(first.name.span, "the first provider")
                        .help("split the measurements into two metrics"),
                );
                return None;
            }
        };
        let provider = self.provider(provider_prop, scope);
        // What `result` is in a condition: Prometheus answers with a vector, whose first
        // sample is the measurement; a web call answers with the value itself.
        let result = match provider_prop.name.name.as_str() {
            "prometheus" => Some("result[0]"),
            "web" => Some("result"),
            _ => None,
        };
        let condition = |this: &mut Self, key: &str| -> Option<String> {
            let prop = fields.get(key)?;
            match result {
                Some(result) => this.metric_condition(&prop.value, scope, result),
                None => {
                    this.diags.push(
                        Diagnostic::new(
                            Code::E0212,
                            prop.name.span,
                            "a job measurement has no value to test",
                        )
                        .label("the job provider succeeds or fails with its Job")
                        .help("remove the condition: the Job's exit status decides"),
                    );
                    None
                }
            }
        };
        let success = condition(self, "success");
        let failure = condition(self, "failure");
        if result.is_some() && !fields.contains_key("success") && !fields.contains_key("failure") {
            self.diags.push(
                Diagnostic::new(Code::E0206, metric.name.span, "a metric needs a `success` or `failure` condition")
                    .label("every measurement would be inconclusive")
                    .help("add `success = result >= …` (or `failure = …`); without one Argo pauses the rollout"),
            );
        }
        Some(hir::Metric {
            name: kebab(&metric.name.name),
            every: every?,
            times: times.map(|t| t.map(to_u32))?,
            failure_limit: failure_limit.map(|t| t.map(to_u32))?,
            inconclusive_limit: inconclusive_limit.map(|t| t.map(to_u32))?,
            initial_delay: initial_delay?,
            provider: provider?,
            success,
            failure,
        })
    }

    /// A metric number or duration: a literal, or a parameter passed through.
    /// `Some(None)` when the property is absent; `None` on error.
    fn metric_setting(
        &mut self,
        prop: Option<&ast::Property>,
        scope: &Scope,
        ty: Ty,
        min: u64,
        max: u64,
    ) -> Option<Option<Setting<u64>>> {
        let Some(prop) = prop else { return Some(None) };
        let value = self.eval(&prop.value, scope);
        let place = format!("`{}`", prop.name.name);
        match (&value.val, ty) {
            (Val::Runtime(t), _) if value.ty == ty => match t.vars().next() {
                Some(hir::Var::Arg(name)) => Some(Some(Setting::Arg(name.clone()))),
                _ => None,
            },
            (Val::Int(_), Ty::Int) => self
                .int_of(&value, min as i64, max.min(i64::MAX as u64) as i64, &place)
                .map(|v| Some(Setting::Value(v as u64))),
            (Val::Duration(d), Ty::Duration) if *d >= min => Some(Some(Setting::Value(*d))),
            (Val::Duration(_), Ty::Duration) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0204,
                        value.span,
                        format!("{place} must be longer than zero"),
                    )
                    .label("zero duration")
                    .help("write a positive duration such as `1m`"),
                );
                None
            }
            (Val::Error, _) => None,
            _ => {
                self.mismatch(&value, &format!("an `{}`", ty.name()));
                None
            }
        }
    }

    /// `prometheus = { … }`, `web = { … }` or `job = { … }`.
    fn provider(&mut self, prop: &ast::Property, scope: &Scope) -> Option<hir::Provider> {
        let kind = prop.name.name.as_str();
        let (table, shape) = match kind {
            "prometheus" => (schema::PROMETHEUS, "{ address = …, query = … }"),
            "web" => (schema::WEB, "{ url = …, json_path = … }"),
            _ => (schema::JOB, "{ image = …, command = … }"),
        };
        let ExprKind::Record(props) = &prop.value.kind else {
            let value = self.eval(&prop.value, scope);
            self.mismatch(&value, &format!("a record `{shape}`"));
            return None;
        };
        let fields = self.fields(
            props,
            &[table],
            prop.value.span,
            &format!("`{kind}`"),
            false,
        );
        let text = |this: &mut Self, key: &str| -> Option<Template> {
            let prop = fields.get(key)?;
            let t = this.expect_text(&prop.value, scope)?;
            this.check_no_template_tags(&t, prop.value.span)
                .then_some(t)
        };
        match kind {
            "prometheus" => {
                let address = text(self, "address");
                let query = text(self, "query");
                Some(hir::Provider::Prometheus {
                    address: address?,
                    query: query?,
                })
            }
            "web" => {
                let url = text(self, "url");
                let json_path = match fields.get("json_path") {
                    Some(_) => Some(text(self, "json_path")?),
                    None => None,
                };
                let timeout = match fields.get("timeout") {
                    Some(p) => Some(self.expect_duration(&p.value, scope, "`timeout`")?),
                    None => None,
                };
                Some(hir::Provider::Web {
                    url: url?,
                    json_path,
                    timeout,
                })
            }
            _ => {
                let image = text(self, "image");
                // The command may contain `{{`; lowering carries such text safely.
                let command = fields
                    .get("command")
                    .and_then(|p| self.expect_text(&p.value, scope));
                Some(hir::Provider::Job {
                    image: image?,
                    command: command?,
                })
            }
        }
    }

    /// A `success`/`failure` condition, as the expr-lang text Argo Rollouts evaluates.
    fn metric_condition(&mut self, expr: &Expr, scope: &Scope, result: &str) -> Option<String> {
        match &expr.kind {
            ExprKind::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                lhs,
                rhs,
                ..
            } => {
                let a = self.metric_condition(lhs, scope, result);
                let b = self.metric_condition(rhs, scope, result);
                let word = if *op == BinaryOp::And { "&&" } else { "||" };
                Some(format!("({} {word} {})", a?, b?))
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr: inner,
                ..
            } => Some(format!(
                "!({})",
                self.metric_condition(inner, scope, result)?
            )),
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let symbol = match op {
                    BinaryOp::Eq => "==",
                    BinaryOp::Ne => "!=",
                    BinaryOp::Lt => "<",
                    BinaryOp::Le => "<=",
                    BinaryOp::Gt => ">",
                    BinaryOp::Ge => ">=",
                    BinaryOp::Match | BinaryOp::NotMatch | BinaryOp::And | BinaryOp::Or => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0201,
                                *op_span,
                                format!("`{}` does not apply to measurements", op.as_str()),
                            )
                            .label("not a numeric comparison")
                            .help(
                                "compare `result` with numbers: `result >= 0.99`, `result < max`",
                            ),
                        );
                        return None;
                    }
                };
                let a = self.metric_operand(lhs, scope, result);
                let b = self.metric_operand(rhs, scope, result);
                Some(format!("{} {symbol} {}", a?, b?))
            }
            ExprKind::Bool(b) => Some(b.to_string()),
            ExprKind::Error => None,
            _ => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        expr.span,
                        "expected a comparison of the measurement",
                    )
                    .label("not a condition")
                    .help("write a comparison such as `result >= min` or `result < 0.5`"),
                );
                None
            }
        }
    }

    fn metric_operand(&mut self, expr: &Expr, scope: &Scope, result: &str) -> Option<String> {
        if let ExprKind::Path(path) = &expr.kind
            && let [head] = path.as_slice()
            && head.name == "result"
        {
            return Some(result.to_string());
        }
        let value = self.eval(expr, scope);
        match (&value.val, value.ty) {
            (Val::Int(i), _) => Some(i.to_string()),
            (Val::Float(f), _) => Some(format_float(*f)),
            (Val::Percent(p), _) => Some(format_float(*p / 100.0)),
            (Val::Bool(b), _) => Some(b.to_string()),
            (Val::Runtime(t), Ty::Int | Ty::Float | Ty::Percent | Ty::Bool) => {
                match t.vars().next() {
                    Some(hir::Var::Arg(name)) => Some(format!("{{{{args.{name}}}}}")),
                    _ => None,
                }
            }
            (Val::Error, _) => None,
            _ => {
                self.mismatch(&value, "a number, a percentage or `result`");
                None
            }
        }
    }

    /// `analyze NAME(args)`: binds the arguments to the analysis' parameters.
    pub(super) fn analyze_call(
        &mut self,
        index: usize,
        callee: &[ast::Ident],
        args: &[ast::Arg],
        span: Span,
    ) -> Option<StageKind> {
        let entry = *self.res.analyses.get(index)?;
        let id = *self.analysis_ids.get(&index)?;
        let callee_name = callee
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let params: Vec<(&str, bool)> = entry
            .def
            .params
            .iter()
            .map(|p| (p.name.name.as_str(), p.default.is_none()))
            .collect();
        let bound = self.bind_args(&callee_name, &params, args, span, Some(entry.def.name.span))?;
        let mut out = Vec::new();
        let mut ok = true;
        for p in &entry.def.params {
            let Some(ty) = Ty::from_name(&p.ty.name.name) else {
                ok = false;
                continue;
            };
            let value_text = match bound.get(&p.name.name) {
                Some(expr) => {
                    let value = self.eval(expr, &Scope::Pipeline);
                    if value.is_error() {
                        ok = false;
                        continue;
                    }
                    if value.is_runtime() {
                        self.needs_static(&value, "an analysis argument");
                        ok = false;
                        continue;
                    }
                    match self.value_as_param(&value, ty) {
                        Some(t) => t,
                        None => {
                            let mut d = Diagnostic::new(
                                Code::E0201,
                                value.span,
                                format!(
                                    "`{}` takes {}, found {}",
                                    p.name.name,
                                    ty.with_article(),
                                    value.ty.with_article()
                                ),
                            )
                            .label(format!("this is {}", value.ty.with_article()))
                            .with_secondary(
                                p.ty.span,
                                format!("`{}` is declared as `{}` here", p.name.name, ty.name()),
                            );
                            d = d.help(format!("pass a `{}`", ty.name()));
                            self.diags.push(d);
                            ok = false;
                            continue;
                        }
                    }
                }
                None => match self
                    .analyses
                    .get(id.0)
                    .and_then(|a| a.params.iter().find(|q| q.name == p.name.name))
                {
                    Some(hir::AnalysisParam {
                        default: Some(d), ..
                    }) => d.clone(),
                    _ => {
                        ok = false;
                        continue;
                    }
                },
            };
            if let Err(found) = crate::k8s_rules::query_argument(&value_text) {
                self.diags.push(
                    Diagnostic::new(Code::E0213, bound.get(&p.name.name).map_or(span, |e| e.span), format!("`{}` would break the analysis' query", p.name.name))
                        .label(format!("contains {found}, which would end a string of the query and let the rest rewrite it"))
                        .help("analysis arguments are inserted into queries as they are: pass plain names and numbers"),
                );
                ok = false;
                continue;
            }
            out.push((p.name.name.clone(), value_text));
        }
        if !ok {
            return None;
        }
        self.analyses_used.insert(id);
        Some(StageKind::Analyze {
            analysis: id,
            args: out,
        })
    }
}

fn to_u32(setting: Setting<u64>) -> Setting<u32> {
    match setting {
        Setting::Value(v) => Setting::Value(u32::try_from(v).unwrap_or(u32::MAX)),
        Setting::Arg(a) => Setting::Arg(a),
    }
}
