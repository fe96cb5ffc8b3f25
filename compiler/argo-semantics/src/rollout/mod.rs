//! How Argo Rollouts runs a `Rollout` that pipec emits: the controller ([`controller`]: a
//! canary's step progression, pauses, analyses, abort, retry and promotion; a blue-green
//! Rollout's preview, pause, pre- and post-promotion analysis and switch in [`bluegreen`]), its
//! replica math ([`replicas`]) and how it decides an AnalysisRun ([`analysis`]), for a Rollout
//! as JSON and an outcome script (when analyses end and how, when a person promotes or
//! aborts). The output is a timeline: per moment, the step, the traffic weight and the pod
//! counts of the new and the old revision.
//!
//! Upstream: Argo Rollouts v1.9.1, `rollout/canary.go`, `rollout/pause.go`,
//! `rollout/analysis.go`, `utils/replicaset/canary.go`, `utils/rollout/rolloututil.go`.
//! `tests/rollouts.rs` runs the corpus's `rollouts/` cases against it (the corpus has no
//! blue-green case: those tests follow upstream's `docs/features/bluegreen.md`). Experiments,
//! header and mirror routes and progress deadlines are not modelled yet: a Rollout using them
//! is refused ([`Spec::from_json`] returns `Err`), never guessed at.

pub mod analysis;
pub mod bluegreen;
pub mod controller;
pub mod replicas;

use serde_json::Value;

/// An `IntOrString` count of pods: absolute, or a percentage of the Rollout's replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Amount {
    Pods(i32),
    Percent(i32),
}

impl Amount {
    /// `intstr.GetValueFromIntOrPercent`: a percentage of `total`, rounded up or down.
    pub fn resolve(self, total: i32, round_up: bool) -> i32 {
        match self {
            Amount::Pods(n) => n,
            Amount::Percent(p) => {
                let product = i64::from(p) * i64::from(total);
                let value = if round_up {
                    product.div_euclid(100) + i64::from(product.rem_euclid(100) != 0)
                } else {
                    product.div_euclid(100)
                };
                i32::try_from(value).unwrap_or(i32::MAX)
            }
        }
    }

    /// An integer, or a string `"N%"` (or a string of digits).
    pub fn from_json(value: &Value) -> Option<Amount> {
        if let Some(n) = value.as_i64() {
            return i32::try_from(n).ok().map(Amount::Pods);
        }
        let text = value.as_str()?;
        match text.strip_suffix('%') {
            Some(p) => p.parse().ok().map(Amount::Percent),
            None => text.parse().ok().map(Amount::Pods),
        }
    }
}

/// `setCanaryScale`: the canary's size decoupled from its traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetCanaryScale {
    pub replicas: Option<i32>,
    pub weight: Option<i32>,
    pub match_traffic_weight: bool,
}

/// One canary step. Upstream's `CanaryStep` is a struct of optional fields, and its own tests
/// set two at once, so this is too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Step {
    pub set_weight: Option<i32>,
    /// `pause`: `Some(None)` waits for a promote, `Some(Some(s))` for `s` seconds.
    pub pause: Option<Option<u64>>,
    /// `analysis`: the templates of an inline AnalysisRun.
    pub analysis: Option<Vec<String>>,
    /// `analysis.args`: the values it passes them, by name.
    pub analysis_args: Vec<(String, String)>,
    pub set_canary_scale: Option<SetCanaryScale>,
}

/// `spec.strategy.canary.analysis`: an AnalysisRun in the background of the steps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct BackgroundAnalysis {
    pub templates: Vec<String>,
    /// `startingStep`: the step index from which it runs (from the first when unset).
    pub starting_step: Option<i32>,
}

/// `spec.strategy.canary`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Canary {
    pub steps: Vec<Step>,
    pub max_surge: Amount,
    pub max_unavailable: Amount,
    /// Whether a traffic router splits the traffic (else the pod counts do).
    pub traffic_routing: bool,
    pub dynamic_stable_scale: bool,
    pub min_pods_per_replica_set: Option<i32>,
    /// `abortScaleDownDelaySeconds` (unset: 30 with a router; 0: never scale the canary down).
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// `scaleDownDelaySeconds` (unset: 30): how long a router keeps the old stable after promotion.
    pub scale_down_delay_seconds: Option<i32>,
    pub analysis: Option<BackgroundAnalysis>,
}

impl Default for Canary {
    /// Upstream's defaults (`utils/defaults`): `maxSurge` and `maxUnavailable` 25%.
    fn default() -> Canary {
        Canary {
            steps: Vec::new(),
            max_surge: Amount::Percent(25),
            max_unavailable: Amount::Percent(25),
            traffic_routing: false,
            dynamic_stable_scale: false,
            min_pods_per_replica_set: None,
            abort_scale_down_delay_seconds: None,
            scale_down_delay_seconds: None,
            analysis: None,
        }
    }
}

/// `spec.strategy.blueGreen`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlueGreen {
    /// `autoPromotionEnabled` (default true): switch without waiting for a promote.
    pub auto_promotion_enabled: bool,
    /// `autoPromotionSeconds`: with auto-promotion, wait this long before switching.
    pub auto_promotion_seconds: u64,
    /// `scaleDownDelaySeconds` (unset: 30): how long the old active stack stays after a switch.
    pub scale_down_delay_seconds: Option<i32>,
    /// `abortScaleDownDelaySeconds` (unset: 30; 0: the preview stays after an abort).
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// `previewReplicaCount`: the preview's size until promotion (unset: all replicas).
    pub preview_replica_count: Option<i32>,
    /// `prePromotionAnalysis` templates: run on the preview before the switch.
    pub pre_promotion_analysis: Option<Vec<String>>,
    /// `postPromotionAnalysis` templates: run after the switch, before the new stack is stable.
    pub post_promotion_analysis: Option<Vec<String>>,
    /// The args the Rollout passes the pre- and the post-promotion analysis.
    pub pre_promotion_args: Vec<(String, String)>,
    pub post_promotion_args: Vec<(String, String)>,
}

impl Default for BlueGreen {
    fn default() -> BlueGreen {
        BlueGreen {
            auto_promotion_enabled: true,
            auto_promotion_seconds: 0,
            scale_down_delay_seconds: None,
            abort_scale_down_delay_seconds: None,
            preview_replica_count: None,
            pre_promotion_analysis: None,
            post_promotion_analysis: None,
            pre_promotion_args: Vec::new(),
            post_promotion_args: Vec::new(),
        }
    }
}

/// What the controller reads of a Rollout's spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    /// `spec.replicas` (unset: 1).
    pub replicas: i32,
    /// `spec.paused`: paused by a person.
    pub paused: bool,
    /// The canary strategy (its defaults when the Rollout is blue-green).
    pub canary: Canary,
    /// The blue-green strategy, when the Rollout uses it instead of a canary.
    pub blue_green: Option<BlueGreen>,
    /// `spec.rollbackWindow.revisions`: a return to one of that many earlier revisions skips
    /// the steps and analyses ([`controller::Cluster::rollback_within_window`]).
    pub rollback_window: Option<i32>,
    /// `spec.minReadySeconds` (unset: 0).
    pub min_ready_seconds: u64,
    /// `spec.progressDeadlineSeconds` (unset: 600, `GetProgressDeadlineSecondsOrDefault`): how
    /// long an update may go without progress before the Rollout is Degraded
    /// (`ProgressDeadlineExceeded`).
    pub progress_deadline_seconds: u64,
}

/// `DefaultProgressDeadlineSeconds` (`utils/defaults`).
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: u64 = 600;

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            replicas: 1,
            paused: false,
            canary: Canary::default(),
            blue_green: None,
            rollback_window: None,
            min_ready_seconds: 0,
            progress_deadline_seconds: DEFAULT_PROGRESS_DEADLINE_SECONDS,
        }
    }
}

impl Spec {
    /// What `ValidateRolloutSpec` (`pkg/apis/rollouts/validation`) refuses of the fields the
    /// model reads, as its `field.Invalid` errors read, aggregated as `ToAggregate` prints them
    /// (one alone, several in brackets); the controller then only records the `InvalidSpec`
    /// condition and the Rollout is Degraded. The rules: a progress deadline greater than
    /// `minReadySeconds`; a canary's `maxSurge` and `maxUnavailable` not both zero;
    /// `scaleDownDelaySeconds` and `dynamicStableScale` only with a traffic router.
    pub fn invalid(&self) -> Option<String> {
        let mut errors = Vec::new();
        if self.progress_deadline_seconds <= self.min_ready_seconds {
            errors.push(format!(
                "spec.progressDeadlineSeconds: Invalid value: {}: must be greater than minReadySeconds",
                self.progress_deadline_seconds
            ));
        }
        if self.blue_green.is_none() {
            let canary = &self.canary;
            let zero = |a: &Amount| matches!(a, Amount::Pods(0) | Amount::Percent(0));
            if zero(&canary.max_surge) && zero(&canary.max_unavailable) {
                // apimachinery's `field.Error` prints the value as JSON.
                let value = match canary.max_surge {
                    Amount::Pods(n) => n.to_string(),
                    Amount::Percent(p) => format!("\"{p}%\""),
                };
                errors.push(format!(
                    "spec.strategy.maxSurge: Invalid value: {value}: MaxSurge and MaxUnavailable both can not be zero"
                ));
            }
            if !canary.traffic_routing {
                if let Some(delay) = canary.scale_down_delay_seconds {
                    errors.push(format!(
                        "spec.strategy.scaleDownDelaySeconds: Invalid value: {delay}: Canary scaleDownDelaySeconds can only be used with traffic routing"
                    ));
                }
                if canary.dynamic_stable_scale {
                    errors.push(
                        "spec.strategy.dynamicStableScale: Invalid value: true: Canary dynamicStableScale can only be used with traffic routing".to_string(),
                    );
                }
            }
        }
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(format!("[{}]", errors.join(", "))),
        }
    }
}

/// Why the Rollout is paused (`PauseReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseReason {
    CanaryPauseStep,
    InconclusiveAnalysisRun,
    /// A blue-green Rollout waits before its switch.
    BlueGreenPause,
}

impl PauseReason {
    pub fn name(self) -> &'static str {
        match self {
            PauseReason::CanaryPauseStep => "CanaryPauseStep",
            PauseReason::InconclusiveAnalysisRun => "InconclusiveAnalysisRun",
            PauseReason::BlueGreenPause => "BlueGreenPause",
        }
    }
}

/// `status.pauseConditions[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PauseCondition {
    pub reason: PauseReason,
    /// Seconds since the start of the run.
    pub start_time: u64,
}

/// `RolloutPhase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutPhase {
    Progressing,
    Paused,
    Healthy,
    Degraded,
}

impl RolloutPhase {
    pub fn name(self) -> &'static str {
        match self {
            RolloutPhase::Progressing => "Progressing",
            RolloutPhase::Paused => "Paused",
            RolloutPhase::Healthy => "Healthy",
            RolloutPhase::Degraded => "Degraded",
        }
    }
}

/// `AnalysisPhase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnalysisPhase {
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

impl AnalysisPhase {
    pub fn name(self) -> &'static str {
        match self {
            AnalysisPhase::Pending => "Pending",
            AnalysisPhase::Running => "Running",
            AnalysisPhase::Successful => "Successful",
            AnalysisPhase::Failed => "Failed",
            AnalysisPhase::Error => "Error",
            AnalysisPhase::Inconclusive => "Inconclusive",
        }
    }

    pub fn parse(text: &str) -> Option<AnalysisPhase> {
        Some(match text {
            "Pending" => AnalysisPhase::Pending,
            "Running" => AnalysisPhase::Running,
            "Successful" => AnalysisPhase::Successful,
            "Failed" => AnalysisPhase::Failed,
            "Error" => AnalysisPhase::Error,
            "Inconclusive" => AnalysisPhase::Inconclusive,
            _ => return None,
        })
    }

    /// `AnalysisPhase.Completed`.
    pub fn completed(self) -> bool {
        !matches!(self, AnalysisPhase::Pending | AnalysisPhase::Running)
    }
}

/// The reason of the `Progressing` condition, as far as the phase depends on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `RolloutAborted`, with the condition's message.
    Aborted(String),
    /// `RolloutRetry`: the abort was taken back.
    Retry,
    /// `ProgressDeadlineExceeded` (`TimedOutReason`): no progress for the progress deadline,
    /// with the condition's message.
    TimedOut(String),
    Other,
}

/// What the controller writes to a Rollout's status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub current_step_index: Option<i32>,
    pub abort: bool,
    pub aborted_at: Option<u64>,
    pub promote_full: bool,
    pub controller_pause: bool,
    pub pause_conditions: Vec<PauseCondition>,
    /// `status.stableRS`: the pod-template hash of the stable ReplicaSet ("" before the first).
    pub stable_rs: String,
    /// `status.currentPodHash`: the hash of the pod template in the spec.
    pub current_pod_hash: String,
    pub phase: Option<RolloutPhase>,
    pub message: String,
    /// `status.canary.currentStepAnalysisRunStatus`: (phase, message).
    pub step_analysis: Option<(AnalysisPhase, String)>,
    /// `status.canary.currentBackgroundAnalysisRunStatus`.
    pub background_analysis: Option<(AnalysisPhase, String)>,
    /// `status.canary.weights` with a router: (canary, stable) traffic weights.
    pub weights: Option<(i32, i32)>,
    pub progress: Option<Progress>,
    /// The `Progressing` condition's `lastUpdateTime`: the last progress, pause or resume, from
    /// which the progress deadline counts (`RolloutTimedOut`).
    pub progress_at: u64,
    /// `status.blueGreen.activeSelector`: the pod hash the active Service selects.
    pub active_selector: String,
    /// `status.blueGreen.previewSelector`.
    pub preview_selector: String,
    /// `status.blueGreen.prePromotionAnalysisRunStatus` and the post-promotion one.
    pub pre_promotion: Option<(AnalysisPhase, String)>,
    pub post_promotion: Option<(AnalysisPhase, String)>,
    /// `status.blueGreen.scaleUpPreviewCheckPoint`: the preview was scaled up to full size.
    pub scale_up_preview_checkpoint: bool,
    pub replicas: i32,
    pub updated_replicas: i32,
    pub available_replicas: i32,
}

/// A Rollout: what the controller reads and what it wrote last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollout {
    pub spec: Spec,
    pub status: Status,
}

/// A ReplicaSet of the Rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSet {
    /// `rollouts-pod-template-hash`.
    pub hash: String,
    pub revision: u32,
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.replicas`: pods created.
    pub pods: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `scale-down-deadline` annotation, in seconds since the start of the run.
    pub scale_down_deadline: Option<u64>,
    /// When each created but not yet available pod becomes available (`u64::MAX`: never).
    pub starting: Vec<u64>,
    /// Made by an Experiment (`experiment-name` annotation), not by the Rollout's updates.
    pub experiment: bool,
}

impl ReplicaSet {
    /// A ReplicaSet the controller just created: its pods are yet to be made.
    pub fn created(hash: &str, revision: u32, spec: i32) -> ReplicaSet {
        ReplicaSet {
            hash: hash.to_string(),
            revision,
            spec,
            ..ReplicaSet::default()
        }
    }

    /// A ReplicaSet with `spec` pods, `available` of them available (the others never become
    /// available unless the model's pods are settled).
    pub fn new(hash: &str, revision: u32, spec: i32, available: i32) -> ReplicaSet {
        let pods = spec.max(available);
        ReplicaSet {
            hash: hash.to_string(),
            revision,
            spec,
            pods,
            available,
            scale_down_deadline: None,
            starting: vec![u64::MAX; usize::try_from(pods - available).unwrap_or(0)],
            experiment: false,
        }
    }
}

/// Seconds of an Argo Rollouts duration (`RolloutPause.DurationSeconds`): an integer of
/// seconds, a string of digits, or a Go duration (`"10m"`); `None` if it is none of these.
pub fn duration_seconds(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let text = value.as_str()?;
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let nanos = crate::go_duration::nanos(text)?;
    u64::try_from(nanos / 1_000_000_000).ok()
}

impl Spec {
    /// The spec of a Rollout as JSON; `Err` for what the model does not cover.
    pub fn from_json(rollout: &Value) -> Result<Spec, String> {
        let spec = &rollout["spec"];
        let strategy = &spec["strategy"];
        let replicas = spec["replicas"]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(1);
        let paused = spec["paused"].as_bool().unwrap_or(false);
        let min_ready_seconds = spec["minReadySeconds"].as_u64().unwrap_or(0);
        let progress_deadline_seconds = spec["progressDeadlineSeconds"]
            .as_u64()
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        let rollback_window = spec["rollbackWindow"]["revisions"]
            .as_i64()
            .and_then(|n| i32::try_from(n).ok());
        if let Some(bg) = strategy.get("blueGreen") {
            let int = |key: &str| {
                bg.get(key)
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
            };
            let analysis = |key: &str| bg.get(key).map(template_names);
            return Ok(Spec {
                replicas,
                paused,
                canary: Canary::default(),
                blue_green: Some(BlueGreen {
                    auto_promotion_enabled: bg["autoPromotionEnabled"].as_bool().unwrap_or(true),
                    auto_promotion_seconds: bg["autoPromotionSeconds"].as_u64().unwrap_or(0),
                    scale_down_delay_seconds: int("scaleDownDelaySeconds"),
                    abort_scale_down_delay_seconds: int("abortScaleDownDelaySeconds"),
                    preview_replica_count: int("previewReplicaCount"),
                    pre_promotion_analysis: analysis("prePromotionAnalysis"),
                    post_promotion_analysis: analysis("postPromotionAnalysis"),
                    pre_promotion_args: name_values(&bg["prePromotionAnalysis"]["args"]),
                    post_promotion_args: name_values(&bg["postPromotionAnalysis"]["args"]),
                }),
                rollback_window,
                min_ready_seconds,
                progress_deadline_seconds,
            });
        }
        let canary_json = strategy
            .get("canary")
            .ok_or("the Rollout has no canary strategy")?;
        let mut canary = Canary::default();
        if let Some(v) = canary_json.get("maxSurge") {
            canary.max_surge = Amount::from_json(v).ok_or("maxSurge is not a count")?;
        }
        if let Some(v) = canary_json.get("maxUnavailable") {
            canary.max_unavailable = Amount::from_json(v).ok_or("maxUnavailable is not a count")?;
        }
        canary.traffic_routing = canary_json.get("trafficRouting").is_some();
        canary.dynamic_stable_scale = canary_json["dynamicStableScale"].as_bool().unwrap_or(false);
        let int = |key: &str| {
            canary_json
                .get(key)
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
        };
        canary.min_pods_per_replica_set = int("minPodsPerReplicaSet");
        canary.abort_scale_down_delay_seconds = int("abortScaleDownDelaySeconds");
        canary.scale_down_delay_seconds = int("scaleDownDelaySeconds");
        if let Some(analysis) = canary_json.get("analysis") {
            canary.analysis = Some(BackgroundAnalysis {
                templates: template_names(analysis),
                starting_step: analysis["startingStep"]
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok()),
            });
        }
        for step in canary_json["steps"].as_array().into_iter().flatten() {
            canary.steps.push(Step::from_json(step)?);
        }
        Ok(Spec {
            replicas,
            paused,
            canary,
            blue_green: None,
            rollback_window,
            min_ready_seconds,
            progress_deadline_seconds,
        })
    }
}

/// `[{name, value}]` (analysis args) as pairs; entries without a string value are left out.
pub fn name_values(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some((
                a["name"].as_str()?.to_string(),
                a["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn template_names(analysis: &Value) -> Vec<String> {
    analysis["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["templateName"].as_str().map(str::to_string))
        .collect()
}

impl Step {
    /// One step of `spec.strategy.canary.steps` as JSON.
    pub fn from_json(step: &Value) -> Result<Step, String> {
        let mut out = Step::default();
        let Some(fields) = step.as_object() else {
            return Err("a canary step is not an object".to_string());
        };
        for (key, value) in fields {
            match key.as_str() {
                "setWeight" => {
                    out.set_weight = value.as_i64().and_then(|n| i32::try_from(n).ok());
                }
                "pause" => {
                    out.pause = Some(match value.get("duration") {
                        None => None,
                        Some(d) => {
                            Some(duration_seconds(d).ok_or("a pause duration is unreadable")?)
                        }
                    });
                }
                "analysis" => {
                    out.analysis = Some(template_names(value));
                    out.analysis_args = name_values(&value["args"]);
                }
                "setCanaryScale" => {
                    let int = |k: &str| value[k].as_i64().and_then(|n| i32::try_from(n).ok());
                    out.set_canary_scale = Some(SetCanaryScale {
                        replicas: int("replicas"),
                        weight: int("weight"),
                        match_traffic_weight: value["matchTrafficWeight"]
                            .as_bool()
                            .unwrap_or(false),
                    });
                }
                other => return Err(format!("the canary step `{other}` is not modelled yet")),
            }
        }
        Ok(out)
    }

    /// `CanaryStepString`, as events and the CLI show a step.
    pub fn describe(&self) -> String {
        if let Some(w) = self.set_weight {
            return format!("setWeight: {w}");
        }
        if let Some(pause) = self.pause {
            return match pause {
                Some(s) => format!("pause: {s}s"),
                None => "pause".to_string(),
            };
        }
        if self.analysis.is_some() {
            return "analysis".to_string();
        }
        if let Some(scale) = &self.set_canary_scale {
            if let Some(w) = scale.weight {
                return format!("setCanaryScale{{weight: {w}}}");
            }
            if scale.match_traffic_weight {
                return "setCanaryScale{matchTrafficWeight: true}".to_string();
            }
            if let Some(r) = scale.replicas {
                return format!("setCanaryScale{{replicas: {r}}}");
            }
        }
        "invalid".to_string()
    }
}
