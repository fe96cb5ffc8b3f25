//! Checking `release` declarations and `on failure` handlers.

use pipec_syntax::ast::{self, ExprKind, StageKind as AstStage};

use super::value::Val;
use super::{Checker, Scope};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::hir::{self, Sizing, StageKind};
use crate::schema;

/// The release strategies pipec knows.
pub const STRATEGIES: &[&str] = &["canary", "rolling", "bluegreen"];

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
        let strategy_name = r.strategy.name.as_str();
        if !STRATEGIES.contains(&strategy_name) {
            let suggestion = did_you_mean(strategy_name, STRATEGIES.iter().copied());
            self.diags.push(
                Diagnostic::new(
                    Code::E0212,
                    r.strategy.span,
                    format!("unknown release strategy `{strategy_name}`"),
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
        if let Some(id) = service_id
            && self.ephemeral_env_of(id).is_some()
        {
            self.diags.push(
                Diagnostic::new(Code::E0212, r.service.span, format!("`{}` runs in an ephemeral environment and cannot be released", r.service.name))
                    .label("deployed as it is for one run, then deleted")
                    .help("release a service of a long-lived environment; test this one with steps that use its `url`"),
            );
            return None;
        }
        let (tables, what): (&[&[schema::Field]], &str) = match strategy_name {
            "canary" => (
                &[schema::RELEASE_COMMON, schema::SIZING, schema::CANARY],
                "a canary release",
            ),
            "rolling" => (
                &[schema::RELEASE_COMMON, schema::SIZING, schema::ROLLING],
                "a rolling release",
            ),
            _ => (
                &[schema::RELEASE_COMMON, schema::BLUEGREEN],
                "a blue-green release",
            ),
        };
        let fields = self.fields(&r.settings, tables, r.strategy.span, what, r.recovered);
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
        let duration = |this: &mut Self, key: &str| match fields.get(key) {
            Some(p) => this
                .expect_duration(&p.value, &scope, &format!("`{key}`"))
                .map(Some),
            None => Some(None),
        };
        let timeout = duration(self, "timeout").map(|t| t.unwrap_or(hir::DEFAULT_RELEASE_TIMEOUT));
        let min_ready = duration(self, "min_ready");
        // Argo Rollouts' `ValidateRolloutSpec` refuses a Rollout whose `progressDeadlineSeconds`
        // is not greater than its `minReadySeconds` (InvalidSpec, nothing is rolled out); pipec
        // sets that deadline to the release's timeout.
        if let (Some(Some(ready)), Some(limit), Some(p)) =
            (min_ready, timeout, fields.get("min_ready"))
            && ready >= limit
        {
            let mut diag = Diagnostic::new(
                Code::E0314,
                p.value.span,
                format!(
                    "`min_ready` ({}) is not shorter than the release's `timeout` ({})",
                    crate::typeck::format_duration(ready),
                    crate::typeck::format_duration(limit)
                ),
            )
            .label("a new pod counts only once it has been ready this long")
            .help(format!(
                "set `timeout` above {} (the release waits that long for each stage), or shorten `min_ready`",
                crate::typeck::format_duration(ready)
            ));
            diag = match fields.get("timeout") {
                Some(t) => diag.with_secondary(t.value.span, "the release's timeout"),
                None => diag.note(format!(
                    "a release's `timeout` is {} unless it sets one",
                    crate::typeck::format_duration(hir::DEFAULT_RELEASE_TIMEOUT)
                )),
            };
            self.diags.push(diag);
        }
        let (after, after_releases) = match fields.get("after") {
            Some(p) => {
                let (steps, services) = self.expect_after(&p.value, &scope);
                // A service without a release is deployed by its own task; an ephemeral one is
                // not waited for by releases.
                let services = services
                    .into_iter()
                    .filter(|s| self.ephemeral_env_of(*s).is_none() && Some(*s) != service_id)
                    .collect();
                (steps, services)
            }
            None => (Vec::new(), Vec::new()),
        };
        let strategy = match strategy_name {
            "bluegreen" => {
                let replicas = service.map_or(1, |s| s.replicas);
                let preview_replicas = match fields.get("preview_replicas") {
                    // At least one pod: a preview of none has nothing to check or analyse.
                    Some(p) => self
                        .expect_int(
                            &p.value,
                            &scope,
                            1,
                            i64::from(replicas),
                            "`preview_replicas`",
                        )
                        .map(|n| u32::try_from(n).ok()),
                    None => Some(None),
                };
                match (duration(self, "scale_down_delay"), preview_replicas) {
                    (Some(scale_down_delay), Some(preview_replicas)) => {
                        Some(hir::Strategy::BlueGreen {
                            scale_down_delay,
                            preview_replicas,
                        })
                    }
                    _ => None,
                }
            }
            _ => {
                let isolated = match fields.get("isolated") {
                    Some(p) => self.expect_bool(&p.value, &scope),
                    None => Some(false),
                };
                isolated.map(|isolated| hir::Strategy::Canary { isolated })
            }
        };

        let mut stages = Vec::new();
        for stage in &r.stages {
            if !self.stage_allowed(stage, strategy_name) {
                continue;
            }
            if let Some(kind) = self.check_stage(stage, service) {
                stages.push(hir::Stage {
                    kind,
                    span: stage.span,
                });
            }
        }
        if strategy_name == "rolling"
            && let (Some(service), Some(surge)) = (service, max_surge)
        {
            stages = self.rolling_batches(&fields, service, surge, stages);
        }
        if let (Some(service), Some(surge), Some(strategy)) = (service, max_surge, &strategy) {
            let routed = fields.contains_key("traffic");
            let rolling = strategy_name == "rolling";
            self.check_stage_order(&stages, service, surge, strategy, routed, rolling);
        }
        if let Some(id) = service_id
            && self.remote_env_of(id).is_some()
        {
            for stage in stages
                .iter()
                .filter(|s| matches!(s.kind, StageKind::Test { .. }))
            {
                self.diags.push(
                    Diagnostic::new(Code::E0212, stage.span, "a test pod cannot reach a service in another cluster")
                        .label("test pods run in the Workflow's cluster")
                        .help("check from inside the new version with `check exec \"…\"`, or analyse it with `analyze`"),
                );
            }
        }
        let traffic = match fields.get("traffic") {
            Some(p) => {
                let value = self.eval(&p.value, &scope);
                match value.val {
                    Val::Traffic(t) => Some(t),
                    Val::Error => return None,
                    _ => {
                        self.mismatch(
                            &value,
                            "a traffic router: `nginx(…)`, `istio(…)` or `smi()`",
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        // Argo Rollouts' `ValidateRolloutStrategyCanary`: `scaleDownDelaySeconds` "can only be
        // used with traffic routing" (without a router the old pods carry the traffic, and go
        // as the new ones come).
        let scale_down_delay = match (strategy_name, fields.get("scale_down_delay")) {
            ("canary", Some(p)) => {
                let delay = duration(self, "scale_down_delay").flatten();
                if traffic.is_none() {
                    self.diags.push(
                        Diagnostic::new(Code::E0212, p.value.span, "`scale_down_delay` needs a traffic router")
                            .label("without a router the old pods carry the canary's share and go as new ones come")
                            .help("set `traffic = nginx(…)`, `istio(…)` or `smi()`, or remove `scale_down_delay`"),
                    );
                    None
                } else {
                    delay
                }
            }
            _ => None,
        };
        if let (Some(_), Some(p)) = (&traffic, fields.get("traffic")) {
            if matches!(strategy, Some(hir::Strategy::Canary { isolated: true })) {
                self.diags.push(
                    Diagnostic::new(Code::E0212, p.span, "a traffic router and `isolated` do not go together")
                        .label("the router decides the canary's share")
                        .help("remove `isolated`: with a router the canary gets exactly what `weight` sends it, none before the first weight"),
                );
            }
            for stage in stages
                .iter()
                .filter(|s| matches!(s.kind, StageKind::Replicas(_)))
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0306,
                        stage.span,
                        "`replicas` sizes a canary by pods, which a traffic router does not need",
                    )
                    .label("not with `traffic`")
                    .with_secondary(p.span, "the router sets exact weights")
                    .help("write the share the canary gets: `weight 10%`"),
                );
            }
        }
        let background = match fields.get("background_analysis") {
            Some(p) => match self.check_analyze(&p.value)? {
                StageKind::Analyze { analysis, args } => Some(hir::AnalysisUse { analysis, args }),
                _ => None,
            },
            None => None,
        };
        if background.is_some()
            && !stages
                .iter()
                .any(|s| matches!(s.kind, StageKind::Weight(_) | StageKind::Replicas(_)))
            && let Some(p) = fields.get("background_analysis")
        {
            self.diags.push(
                Diagnostic::new(Code::E0306, p.value.span, "a background analysis needs traffic on the new version")
                    .label("no `weight` or `replicas` stage starts it")
                    .help("add a stage such as `weight 20%`: the analysis starts there and runs to the end of the update"),
            );
        }
        Some(hir::Release {
            service: service_id?,
            span: r.service.span,
            after,
            after_releases,
            strategy: strategy?,
            max_surge: max_surge?,
            max_unavailable: max_unavailable?,
            min_ready: min_ready?,
            timeout: timeout?,
            stages,
            background,
            traffic,
            scale_down_delay,
        })
    }

    /// Whether a stage exists in a strategy; reports E0306 if not.
    fn stage_allowed(&mut self, stage: &ast::Stage, strategy: &str) -> bool {
        let keyword = match &stage.kind {
            AstStage::Weight(_) => "weight",
            AstStage::Replicas { .. } => "replicas",
            AstStage::Pause(_) => "pause",
            AstStage::Approve(_) => "approve",
            AstStage::Check { .. } => "check",
            AstStage::Analyze(_) => "analyze",
            AstStage::Join => "join",
            AstStage::Switch => "switch",
        };
        let allowed = match strategy {
            "canary" => schema::CANARY_STAGES,
            "rolling" => schema::ROLLING_STAGES,
            _ => schema::BLUEGREEN_STAGES,
        };
        if allowed.contains(&keyword) {
            return true;
        }
        let help = match (strategy, keyword) {
            ("rolling", "weight" | "replicas" | "pause") => {
                "a rolling release moves in batches: set `batch = N` and `batch_pause = 30s`".to_string()
            }
            ("bluegreen", "weight" | "replicas") => {
                "blue-green starts the whole new version at once; use `canary` to shift traffic gradually".to_string()
            }
            (_, "switch") => "`switch` belongs to blue-green releases".to_string(),
            (_, "join") => "`join` belongs to canary releases with `isolated = true`".to_string(),
            _ => format!("a {} release takes: {}", strategy_display(strategy), allowed.join(", ")),
        };
        self.diags.push(
            Diagnostic::new(
                Code::E0306,
                stage.keyword,
                format!(
                    "`{keyword}` is not a stage of a {} release",
                    strategy_display(strategy)
                ),
            )
            .label("not allowed here")
            .help(help),
        );
        false
    }

    /// A rolling release with `batch = N` becomes canary stages: `replicas N`, a pause,
    /// `replicas 2N`, … up to the last batch, then the user's stages (a final confirmation).
    fn rolling_batches(
        &mut self,
        fields: &std::collections::BTreeMap<&'static str, &ast::Property>,
        service: &hir::Service,
        surge: Sizing,
        user_stages: Vec<hir::Stage>,
    ) -> Vec<hir::Stage> {
        let scope = Scope::Pipeline;
        let Some(batch_prop) = fields.get("batch") else {
            if let Some(p) = fields.get("batch_pause") {
                self.diags.push(
                    Diagnostic::new(Code::E0206, p.name.span, "`batch_pause` needs `batch`")
                        .label("a pause between batches, but no batches")
                        .help("set `batch = N`, the number of pods to replace at a time"),
                );
            }
            return user_stages;
        };
        let total = service.replicas;
        let Some(batch) =
            self.expect_int(&batch_prop.value, &scope, 1, i64::from(total), "`batch`")
        else {
            return user_stages;
        };
        let pause = fields
            .get("batch_pause")
            .and_then(|p| self.expect_duration(&p.value, &scope, "`batch_pause`"));
        let surge_pods = match surge {
            Sizing::Count(c) => c,
            Sizing::Percent(p) => crate::rollout_math::surge_pods(p, total),
        };
        let mut stages = Vec::new();
        let mut done = batch as u32;
        while done < total {
            if crate::rollout_math::weight_for_replicas(done, total, surge_pods).is_some() {
                stages.push(hir::Stage {
                    kind: StageKind::Replicas(done),
                    span: batch_prop.span,
                });
                if let Some(secs) = pause {
                    stages.push(hir::Stage {
                        kind: StageKind::Pause(secs),
                        span: batch_prop.span,
                    });
                }
            }
            done += batch as u32;
        }
        stages.extend(user_stages);
        stages
    }

    /// Without a traffic router Argo Rollouts reaches a weight by pod counts
    /// (`rollout_math`): say when the split it will run is not the weight written.
    fn weight_by_pods(
        &mut self,
        weight: u32,
        stage: &hir::Stage,
        service: &hir::Service,
        surge: u32,
    ) {
        let (canary, stable) =
            crate::rollout_math::basic_canary_split(service.replicas, weight, surge);
        let total = canary + stable;
        let share = f64::from(canary) * 100.0 / f64::from(total.max(1));
        // Within a percentage point is what was meant (33% of 3 pods is 1 of 3).
        if total == 0 || share.round() as u32 == weight {
            return;
        }
        self.diags.push(
            Diagnostic::new(
                Code::W0003,
                stage.span,
                format!(
                    "`weight {weight}%` runs {canary} new pod{} beside {stable} stable: {}% of the traffic",
                    if canary == 1 { "" } else { "s" },
                    super::format_float((share * 10.0).round() / 10.0)
                ),
            )
            .label("Argo Rollouts approximates the weight by pod counts")
            .with_secondary(service.span, format!("`{}` has `replicas = {}`", service.name, service.replicas))
            .help("write `replicas N` to say how many new pods run, or add `traffic = nginx(…)` (or istio, smi) for exact weights"),
        );
    }

    /// Checks that need the whole stage list: a check needs pods of the new version to run
    /// against, a replica split must be reachable by some weight, `join` needs an isolated
    /// canary, and blue-green takes one `switch` and one analysis on each side of it.
    fn check_stage_order(
        &mut self,
        stages: &[hir::Stage],
        service: &hir::Service,
        surge: Sizing,
        strategy: &hir::Strategy,
        routed: bool,
        rolling: bool,
    ) {
        let surge_pods = match surge {
            Sizing::Count(c) => c,
            Sizing::Percent(p) => crate::rollout_math::surge_pods(p, service.replicas),
        };
        let bluegreen = matches!(strategy, hir::Strategy::BlueGreen { .. });
        // Blue-green starts the whole new version before any stage.
        let mut new_pods = bluegreen;
        let mut joined: Option<pipec_syntax::Span> = None;
        let mut switched: Option<pipec_syntax::Span> = None;
        let mut analyses = [None, None];
        let once =
            |this: &mut Self, first: Option<pipec_syntax::Span>, stage: &hir::Stage, what: &str| {
                if let Some(first) = first {
                    this.diags.push(
                        Diagnostic::new(Code::E0306, stage.span, format!("{what} appears twice"))
                            .label("again here")
                            .with_secondary(first, "first here")
                            .help(format!("a release has one {what}")),
                    );
                }
            };
        for stage in stages {
            match &stage.kind {
                StageKind::Weight(w) => {
                    new_pods = *w > 0;
                    if !routed && matches!(strategy, hir::Strategy::Canary { isolated: false }) {
                        self.weight_by_pods(*w, stage, service, surge_pods);
                    }
                }
                StageKind::Replicas(k) => {
                    new_pods = true;
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
                // A rolling update holds only before its last batch (`rolling_batches`).
                StageKind::Exec { .. } | StageKind::Test { .. } if !new_pods && rolling => {
                    self.diags.push(
                        Diagnostic::new(Code::E0306, stage.span, "this check has no pod of the new version to run against")
                            .label("a rolling update holds only before its last batch, and this one has a single batch")
                            .help(format!(
                                "set `batch` below the service's {} replicas (`batch = 1`): the update then holds before its last batch, and the check runs there",
                                service.replicas
                            )),
                    );
                }
                StageKind::Exec { .. } | StageKind::Test { .. } if !new_pods => {
                    self.diags.push(
                        Diagnostic::new(Code::E0306, stage.span, "this check has no canary pod to run against")
                            .label("no stage before it starts pods of the new version")
                            .help("put `replicas 1` or `weight 10%` before the check, so the new version runs somewhere"),
                    );
                }
                StageKind::Join => {
                    once(self, joined, stage, "`join`");
                    joined = Some(stage.span);
                    if !matches!(strategy, hir::Strategy::Canary { isolated: true }) {
                        self.diags.push(
                            Diagnostic::new(Code::E0306, stage.span, "`join` needs an isolated canary")
                                .label("the canary already serves production traffic")
                                .help("set `isolated = true` so the canary is kept out of production until `join`"),
                        );
                    } else if !new_pods {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0306,
                                stage.span,
                                "there is no canary to join yet",
                            )
                            .label("no stage before it starts pods of the new version")
                            .help("put `replicas 1` or `weight 10%` before `join`"),
                        );
                    }
                }
                StageKind::Switch => {
                    once(self, switched, stage, "`switch`");
                    switched = Some(stage.span);
                }
                StageKind::Analyze { .. } if bluegreen => {
                    let side = usize::from(switched.is_some());
                    let what = if side == 0 {
                        "analysis before the switch"
                    } else {
                        "analysis after the switch"
                    };
                    once(self, analyses[side], stage, what);
                    analyses[side] = Some(stage.span);
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
                    Some(r) => {
                        let text = self.expect_static_text(r, &scope, "an approval's reason")?;
                        // It lands in the Workflow, which Argo templates.
                        if !self.check_no_template_tags(&hir::Template::lit(text.clone()), r.span) {
                            return None;
                        }
                        Some(text)
                    }
                    None => None,
                };
                Some(StageKind::Approve { reason })
            }
            AstStage::Check {
                action,
                irreversible,
            } => self.check_gate(action, irreversible.is_some()),
            AstStage::Analyze(e) => self.check_analyze(e),
            AstStage::Join => Some(StageKind::Join),
            AstStage::Switch => Some(StageKind::Switch),
        }
    }

    fn check_gate(&mut self, action: &ast::Action, irreversible: bool) -> Option<StageKind> {
        let scope = Scope::Pipeline;
        if action.verb.name == "run" {
            return self.check_test(action, irreversible);
        }
        if action.verb.name != "exec" {
            let suggestion = did_you_mean(&action.verb.name, ["exec", "run"]);
            self.diags.push(
                Diagnostic::new(Code::E0210, action.verb.span, format!("unknown check `{}`", action.verb.name))
                    .label("not a check")
                    .help(match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "a check runs a command in a pod of the new version (`check exec \"command\"`) or an image against it (`check run IMAGE { command = … }`)".to_string(),
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

    /// `check run IMAGE { command = … }`: a one-shot pod of the image, run against the new
    /// version's Services.
    fn check_test(&mut self, action: &ast::Action, irreversible: bool) -> Option<StageKind> {
        let scope = Scope::Pipeline;
        let Some(subject) = &action.subject else {
            self.diags.push(
                Diagnostic::new(
                    Code::E0206,
                    action.verb.span,
                    "`check run` needs the image to run",
                )
                .label("no image")
                .help("write `check run tests { command = \"./smoke.sh\" }`"),
            );
            return None;
        };
        if irreversible {
            self.diags.push(
                Diagnostic::new(Code::E0306, action.span, "only `check exec` can be marked `irreversible`")
                    .label("a test pod changes nothing pipec could roll back")
                    .help("mark the check that changes state (a migration run inside the service) instead"),
            );
        }
        let image = self.expect_image(subject, &scope);
        let empty = Vec::new();
        let props = action.body.as_ref().map_or(&empty, |b| &b.properties);
        let recovered = action.body.as_ref().is_some_and(|b| b.recovered);
        let fields = self.fields(
            props,
            &[schema::RUN_CHECK],
            action.verb.span,
            "`check run`",
            recovered,
        );
        let command = fields
            .get("command")
            .and_then(|p| self.expect_text(&p.value, &scope));
        let env = match fields.get("env") {
            Some(p) => self.env_record(&p.value, true)?,
            None => Vec::new(),
        };
        let retries = match fields.get("retries") {
            Some(p) => Some(self.expect_int(&p.value, &scope, 0, 20, "`retries`")? as u32),
            None => None,
        };
        let timeout = match fields.get("timeout") {
            Some(p) => Some(self.expect_duration(&p.value, &scope, "`timeout`")?),
            None => None,
        };
        Some(StageKind::Test {
            image: image?,
            command: command?,
            env,
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
                        if let Some(id) = self.handler_service(name)
                            && self.not_ephemeral(id, name, "its diagnostics are collected when its environment is torn down")
                        {
                            out.push(hir::HandlerAction::CollectDiagnostics {
                                service: id,
                                span: *span,
                            });
                        }
                    }
                    None => {
                        for s in services.iter().filter(|s| self.ephemeral_env_of(s.id).is_none()) {
                            out.push(hir::HandlerAction::CollectDiagnostics {
                                service: s.id,
                                span: *span,
                            });
                        }
                    }
                },
                ast::HandlerAction::Rollback { service, span } => {
                    if let Some(id) = self.handler_service(service)
                        && self.not_ephemeral(id, service, "an ephemeral environment is deleted at the end of every run, so there is nothing to roll back")
                    {
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

    /// `on failure` acts on released services; an ephemeral environment's are deleted anyway.
    fn not_ephemeral(&mut self, id: hir::ServiceId, name: &ast::Ident, why: &str) -> bool {
        if self.ephemeral_env_of(id).is_none() {
            return true;
        }
        self.diags.push(
            Diagnostic::new(
                Code::E0212,
                name.span,
                format!("`{}` runs in an ephemeral environment", name.name),
            )
            .label("not a released service")
            .help(why),
        );
        false
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

fn strategy_display(strategy: &str) -> &str {
    if strategy == "bluegreen" {
        "blue-green"
    } else {
        strategy
    }
}

fn is_zero(s: Sizing) -> bool {
    matches!(s, Sizing::Count(0) | Sizing::Percent(0))
}
