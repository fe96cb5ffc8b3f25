//! Argo Events `EventSource` and `Sensor` (v1.9): a git push webhook that submits a run.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ObjectMeta;
use crate::k8s::SecretKeySelector;
use crate::workflows::Workflow;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: EventSourceSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceSpec {
    pub service: EventSourceService,
    /// Event name → webhook.
    pub webhook: BTreeMap<String, WebhookEventSource>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourceService {
    pub ports: Vec<EventSourcePort>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSourcePort {
    pub port: i64,
    pub target_port: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEventSource {
    pub endpoint: String,
    pub method: String,
    /// A string in Argo Events' schema.
    pub port: String,
    pub url: String,
    /// The Secret key holding the bearer token callers must send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<SecretKeySelector>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sensor {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: SensorSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<SensorTemplate>,
    pub dependencies: Vec<EventDependency>,
    pub triggers: Vec<Trigger>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensorTemplate {
    pub service_account_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDependency {
    pub name: String,
    pub event_source_name: String,
    pub event_name: String,
    pub filters: EventDependencyFilter,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDependencyFilter {
    /// All must hold (Argo Events' default `and`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exprs: Vec<ExprFilter>,
    /// All must hold (Argo Events' default `and`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataFilter>,
}

/// A govaluate expression over named payload fields.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExprFilter {
    pub expr: String,
    pub fields: Vec<PayloadField>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadField {
    pub name: String,
    pub path: String,
}

/// Matches when the value at `path` matches one of `value` (regular expressions, for strings).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataFilter {
    pub path: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub value: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub template: TriggerTemplate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerTemplate {
    pub name: String,
    pub argo_workflow: ArgoWorkflowTrigger,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgoWorkflowTrigger {
    pub operation: String,
    pub source: ArtifactLocation,
    pub parameters: Vec<TriggerParameter>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    pub resource: Box<Workflow>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerParameter {
    pub src: TriggerParameterSource,
    /// A path into the submitted Workflow, e.g. `spec.arguments.parameters.0.value`.
    pub dest: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerParameterSource {
    pub dependency_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
    /// A Go template over the event (`.Input.body.ref`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_template: Option<String>,
    /// The value when the event has nothing at `data_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
