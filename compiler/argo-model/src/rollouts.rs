//! Argo Rollouts `Rollout` and `AnalysisTemplate` (v1.9).

use serde::Serialize;

use crate::k8s::{LabelSelector, PodTemplateSpec};
use crate::{IntOrString, ObjectMeta};

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: RolloutSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    pub replicas: i64,
    pub revision_history_limit: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i64>,
    /// How long an update may go without progress before the controller marks the Rollout
    /// Degraded (`ProgressDeadlineExceeded`); Argo Rollouts defaults it to 600 and refuses a
    /// value not greater than `minReadySeconds`.
    pub progress_deadline_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindow>,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
    pub strategy: RolloutStrategy,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindow {
    pub revisions: i64,
}

/// Exactly one strategy is set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RolloutStrategy {
    Canary(CanaryStrategy),
    BlueGreen(BlueGreenStrategy),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// A Service the controller points at the new version's pods only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_service: Option<String>,
    /// With a traffic router: the Service the controller points at the stable pods only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_service: Option<String>,
    pub max_surge: IntOrString,
    pub max_unavailable: IntOrString,
    /// Labels the new version's pods carry while they are the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_metadata: Option<PodMetadata>,
    /// Labels the stable version's pods carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_metadata: Option<PodMetadata>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    /// Background analysis: runs from `starting_step` until the update completes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<BackgroundAnalysis>,
    /// Exact weights through a router instead of pod counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// With a router: how long the old stable ReplicaSet stays after the update (30 s unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i64>,
}

/// Exactly one router is set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TrafficRouting {
    Nginx {
        stable_ingress: String,
    },
    Istio {
        virtual_service: IstioVirtualService,
    },
    /// Argo Rollouts creates and updates the TrafficSplit.
    Smi {},
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualService {
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundAnalysis {
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    pub starting_step: i64,
}

/// Ephemeral pod metadata, applied in place as pods change roles.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetadata {
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    pub active_service: String,
    pub preview_service: String,
    pub auto_promotion_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i64>,
    /// Pods of the new version before the switch (all of them unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
}

/// One canary step; exactly one field is set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CanaryStep {
    SetWeight(i64),
    Pause(RolloutPause),
    Analysis(RolloutAnalysis),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// `None` pauses until promoted; otherwise a duration string such as `"10m"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    pub templates: Vec<AnalysisTemplateRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    pub template_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: AnalysisTemplateSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    pub metrics: Vec<Metric>,
}

/// A template argument; without a value it must be supplied by the Rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    pub provider: MetricProvider,
}

/// Exactly one provider is set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricProvider {
    Prometheus(PrometheusMetric),
    Web(WebMetric),
    Job(JobMetric),
}

/// An HTTP GET whose JSON answer, at `jsonPath`, is the measurement.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebMetric {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
}

/// A Kubernetes Job; the measurement succeeds when the Job does.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobMetric {
    pub spec: JobSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    pub backoff_limit: i64,
    pub template: crate::k8s::PodTemplateSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusMetric {
    pub address: String,
    pub query: String,
}
