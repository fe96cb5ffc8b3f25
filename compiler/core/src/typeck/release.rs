//! Checking `release` declarations and `on failure` handlers.

use pipec_syntax::ast::{self, ExprKind, StageKind as AstStage};

use super::value::Val;
use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hir::{self, Sizing, StageKind};
use crate::schema;

/// The release strategies pipec knows.
pub const STRATEGIES: &[&str] = &["canary"];

/// Default time the workflow waits for the Rollout to reach a stage.
const DEFAULT_RELEASE_TIMEOUT: u64 = 30 * 60;

impl Checker<'_, '_> {
    pub(super) fn check_release(
        &mut self,
        r: &ast::ReleaseDecl,
        services: &[hir::Service],
    ) -> Option<hir::Release> {
        let service_id = self.symbol_service(&r.service.name);
        if service_id.is_none() && self.res.symbols.contains_key(&r.service.name) {
            let symbol = self
                .res
                .symbols
                .get(&r.service.name)
                .map(|s| (s.describe(), s.name_span()));
            if let Some((what, span)) = symbol {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        r.service.span,
                        format!("`{}` is a {what}, not a service", r.service.name),
                    )
                    .label("a release needs a service")
                    .with_secondary(span, format!("declared as a {what} here"))
                    .help("name a `service` declared in this pipeline"),
                );
            }
        }
        if !STRATEGIES.contains(&r.strategy.name.as_str()) {
            let suggestion = did_you_mean(&r.strategy.name, STRATEGIES.iter().copied());
            self.diags.push(
                Diagnostic::new(
                    Code::E0212,
                    r.strategy.span,
                    format!("unknown release strategy `{}`", r.strategy.name),
                )
                .label("not a strategy")
                .help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("strategies: {}", STRATEGIES.join(", ")),
                }),
            );
            return None;
        }
        self.used.insert(r.service.name.clone());
        let service = services.iter().find(|s| Some(s.id) == service_id);
        let fields = self.fields(
            &r.settings,
            &[schema::CANARY],
            r.strategy.span,
            "a canary release",
            r.recovered,
        );
        let scope = Scope::Pipeline;
        let max_surge = match fields.get("max_surge") {
            Some(p) => self.sizing(&p.value),
            None => Some(Sizing::Count(1)),
        };
        let max_unavailable = match fields.get("max_unavailable") {
            Some(p) => self.sizing(&p.value),
            None => Some(Sizing::Count(0)),
        };
        if let (Some(s), Some(u)) = (max_surge, max_unavailable)
            && is_zero(s)
            && is_zero(u)
        {
            let span = fields
                .get("max_surge")
                .or(fields.get("max_unavailable"))
                .map_or(r.strategy.span, |p| p.span);
            self.diags.push(
                Diagnostic::new(Code::E0310, span, "`max_surge` and `max_unavailable` are both zero")
                    .label("the update could never add or remove a pod")
                    .help("set `max_surge = 1` (one extra pod during the update) or allow one unavailable pod"),
            );
        }
        let timeout = match fields.get("timeout") {
            Some(p) => self.expect_duration(&p.value, &scope, "`timeout`"),
            None => Some(DEFAULT_RELEASE_TIMEOUT),
        };
        let after = match fields.get("after") {
            Some(p) => self.expect_steps(&p.value, &scope),
            None => Vec::new(),
        };

        let mut stages = Vec::new();
        for stage in &r.stages {
            if let Some(kind) = self.check_stage(stage, service) {
                stages.push(hir::Stage {
                    kind,
                    span: stage.span,
                });
            }
        }
        if let (Some(service), Some(surge)) = (service, max_surge) {
            self.check_stage_order(&stages, service, surge);
        }
        Some(hir::Release {
            service: service_id?,
            span: r.service.span,
            after,
            max_surge: max_surge?,
            max_unavailable: max_unavailable?,
            timeout: timeout?,
            stages,
        })
    }

    /// Checks that need the whole stage list: a check needs canary pods to run in, and a
    /// replica split must be reachable by some weight.
    fn check_stage_order(&mut self, stages: &[hir::Stage], service: &hir::Service, surge: Sizing) {
        let surge_pods = match surge {
            Sizing::Count(c) => c,
            Sizing::Percent(p) => crate::rollout_math::surge_pods(p, service.replicas),
        };
        let mut canary_pods = false;
        for stage in stages {
            match &stage.kind {
                StageKind::Weight(w) => canary_pods = *w > 0,
                StageKind::Replicas(k) => {
                    canary_pods = true;
                    if crate::rollout_math::weight_for_replicas(*k, service.replicas, surge_pods)
                        .is_none()
                    {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0303,
                                stage.span,
                                format!("no canary weight runs exactly {k} of {} pods", service.replicas),
                            )
                            .label("this split cannot be reached")
                            .with_secondary(service.span, format!("`{}` has `replicas = {}`", service.name, service.replicas))
                            .help("without a traffic router Argo Rollouts sets whole-percent weights by pod count: choose a larger canary, or fewer replicas"),
                        );
                    }
                }
                StageKind::Exec { .. } if !canary_pods => {
                    self.diags.push(
                        Diagnostic::new(Code::E0306, stage.span, "this check has no canary pod to run in")
                            .label("no stage before it starts pods of the new version")
                            .help("put `replicas 1` or `weight 10%` before the check, so the new version runs somewhere"),
                    );
                }
                _ => {}
            }
        }
    }

    fn sizing(&mut self, expr: &ast::Expr) -> Option<Sizing> {
        let value = self.eval(expr, &Scope::Pipeline);
        match value.val {
            Val::Int(_) => self
                .int_of(&value, 0, 10_000, "a pod count")
                .map(|v| Sizing::Count(v as u32)),
            Val::Percent(p) if p.fract() == 0.0 => Some(Sizing::Percent(p as u32)),
            Val::Percent(_) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0202,
                        value.span,
                        "a sizing percentage must be a whole number",
                    )
                    .label("fractional percentage")
                    .help("write a whole percentage such as `25%`"),
                );
                None
            }
            Val::Error => None,
            _ => {
                self.mismatch(&value, "a pod count or a percentage");
                None
            }
        }
    }

    fn check_stage(
        &mut self,
        stage: &ast::Stage,
        service: Option<&hir::Service>,
    ) -> Option<StageKind> {
        let scope = Scope::Pipeline;
        match &stage.kind {
            AstStage::Weight(e) => {
                let value = self.eval(e, &scope);
                match value.val {
                    Val::Percent(p) if p.fract() == 0.0 => Some(StageKind::Weight(p as u32)),
                    Val::Percent(_) => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0202,
                                value.span,
                                "a traffic weight must be a whole percentage",
                            )
                            .label("fractional weight")
                            .help("Argo Rollouts takes weights from 0% to 100% in whole steps"),
                        );
                        None
                    }
                    Val::Error => None,
                    _ => {
                        self.mismatch(&value, "a percentage such as `20%`");
                        None
                    }
                }
            }
            AstStage::Replicas { count, of } => {
                let count_value =
                    self.expect_int(count, &scope, 0, 10_000, "a canary pod count")?;
                let of_value = match of {
                    Some(of) => Some((
                        self.expect_int(of, &scope, 0, 10_000, "a pod count")?,
                        of.span,
                    )),
                    None => None,
                };
                let service = service?;
                let total = i64::from(service.replicas);
                if let Some((of, span)) = of_value
                    && of != total
                {
                    self.diags.push(
                        Diagnostic::new(Code::E0302, span, format!("the service runs {total} pods, not {of}"))
                            .label(format!("`of {of}`"))
                            .with_secondary(service.span, format!("`{}` has `replicas = {total}`", service.name))
                            .help(format!("write `of {total}`, or drop `of` (it only restates the service's replicas)")),
                    );
                    return None;
                }
                if count_value < 1 || count_value >= total {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0302,
                            count.span,
                            format!("a canary of {count_value} pod{} beside {total} is not a canary", if count_value == 1 { "" } else { "s" }),
                        )
                        .label(format!("must be between 1 and {}", total - 1))
                        .with_secondary(service.span, format!("`{}` has `replicas = {total}`", service.name))
                        .help("a canary runs some, not all, of the service's pods: raise the service's replicas or lower this count"),
                    );
                    return None;
                }
                Some(StageKind::Replicas(count_value as u32))
            }
            AstStage::Pause(e) => self
                .expect_duration(e, &scope, "a pause")
                .map(StageKind::Pause),
            AstStage::Approve(reason) => {
                let reason = match reason {
                    Some(r) => Some(self.expect_static_text(r, &scope, "an approval's reason")?),
                    None => None,
                };
                Some(StageKind::Approve { reason })
            }
            AstStage::Check {
                action,
                irreversible,
            } => self.check_gate(action, irreversible.is_some()),
            AstStage::Analyze(e) => self.check_analyze(e),
        }
    }

    fn check_gate(&mut self, action: &ast::Action, irreversible: bool) -> Option<StageKind> {
        let scope = Scope::Pipeline;
        if action.verb.name != "exec" {
            let suggestion = did_you_mean(&action.verb.name, ["exec"]);
            self.diags.push(
                Diagnostic::new(Code::E0210, action.verb.span, format!("unknown check `{}`", action.verb.name))
                    .label("not a check")
                    .help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "a check runs a command in a pod of the new version: `check exec \"command\"`".to_string(),
                    }),
            );
            return None;
        }
        let Some(subject) = &action.subject else {
            self.diags.push(
                Diagnostic::new(
                    Code::E0206,
                    action.verb.span,
                    "`check exec` needs the command to run",
                )
                .label("no command")
                .help("write `check exec \"npm run smoke\"`"),
            );
            return None;
        };
        let command = self.expect_text(subject, &scope);
        let empty = Vec::new();
        let props = action.body.as_ref().map_or(&empty, |b| &b.properties);
        let recovered = action.body.as_ref().is_some_and(|b| b.recovered);
        let fields = self.fields(
            props,
            &[schema::EXEC_CHECK],
            action.verb.span,
            "`check exec`",
            recovered,
        );
        let retries = match fields.get("retries") {
            Some(p) => Some(self.expect_int(&p.value, &scope, 0, 20, "`retries`")? as u32),
            None => None,
        };
        let timeout = match fields.get("timeout") {
            Some(p) => Some(self.expect_duration(&p.value, &scope, "`timeout`")?),
            None => None,
        };
        Some(StageKind::Exec {
            command: command?,
            irreversible,
            retries,
            timeout,
        })
    }

    fn check_analyze(&mut self, expr: &ast::Expr) -> Option<StageKind> {
        let ExprKind::Call { callee, args } = &expr.kind else {
            if !matches!(expr.kind, ExprKind::Error) {
                let value = self.eval(expr, &Scope::Pipeline);
                if !value.is_error() {
                    self.diags.push(
                        Diagnostic::new(Code::E0201, expr.span, "`analyze` takes a call of an analysis")
                            .label("not an analysis call")
                            .help("write `analyze NAME(arg = value, …)`, e.g. `analyze success_rate(service = \"api\")`"),
                    );
                }
            }
            return None;
        };
        let Some(index) = self.res.analysis(callee) else {
            // Unknown callees were reported by the resolver; built-in functions are not analyses.
            if callee.len() == 1
                && crate::resolve::BUILTIN_FUNCTIONS.contains(&callee[0].name.as_str())
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        expr.span,
                        format!("`{}` is not an analysis", callee[0].name),
                    )
                    .label("a built-in function")
                    .help("`analyze` runs an `analysis`, e.g. `use std.analysis.success_rate`"),
                );
            }
            return None;
        };
        self.analyze_call(index, callee, args, expr.span)
    }

    pub(super) fn check_handler(
        &mut self,
        h: &ast::Handler,
        services: &[hir::Service],
    ) -> Vec<hir::HandlerAction> {
        if h.event.name != "failure" {
            let suggestion = did_you_mean(&h.event.name, ["failure"]);
            self.diags.push(
                Diagnostic::new(
                    Code::E0212,
                    h.event.span,
                    format!("there is no event `{}`", h.event.name),
                )
                .label("unknown event")
                .help(match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "handlers run `on failure { … }`".to_string(),
                }),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for action in &h.actions {
            match action {
                ast::HandlerAction::CollectDiagnostics { of, span } => match of {
                    Some(name) => {
                        if let Some(id) = self.handler_service(name) {
                            out.push(hir::HandlerAction::CollectDiagnostics {
                                service: id,
                                span: *span,
                            });
                        }
                    }
                    None => {
                        for s in services {
                            out.push(hir::HandlerAction::CollectDiagnostics {
                                service: s.id,
                                span: *span,
                            });
                        }
                    }
                },
                ast::HandlerAction::Rollback { service, span } => {
                    if let Some(id) = self.handler_service(service) {
                        out.push(hir::HandlerAction::Rollback {
                            service: id,
                            span: *span,
                        });
                    }
                }
                ast::HandlerAction::Node(n) => {
                    if let Some(&id) = self.node_ids.get(&n.name.name) {
                        out.push(hir::HandlerAction::Node(id));
                    }
                }
            }
        }
        out
    }

    fn handler_service(&mut self, name: &ast::Ident) -> Option<hir::ServiceId> {
        self.used.insert(name.name.clone());
        match self.symbol_service(&name.name) {
            Some(id) => Some(id),
            None => {
                if let Some(symbol) = self.res.symbols.get(&name.name) {
                    let (what, span) = (symbol.describe(), symbol.name_span());
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0201,
                            name.span,
                            format!("`{}` is a {what}, not a service", name.name),
                        )
                        .label("a service is needed here")
                        .with_secondary(span, format!("declared as a {what} here"))
                        .help("name a `service` of this pipeline"),
                    );
                }
                None
            }
        }
    }
}

fn is_zero(s: Sizing) -> bool {
    matches!(s, Sizing::Count(0) | Sizing::Percent(0))
}
