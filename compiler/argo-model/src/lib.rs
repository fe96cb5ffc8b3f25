//! A typed model of the Kubernetes objects pipec emits: Argo Workflows `Workflow`,
//! `WorkflowTemplate` and `CronWorkflow`, Argo Rollouts `Rollout` and `AnalysisTemplate`, Argo
//! Events `EventSource` and `Sensor`, and core `Service` and `Deployment` (the latter only
//! inside the Workflow, for ephemeral environments).
//!
//! Hand-written rather than generated: only the fields pipec sets exist, field order is the
//! order a person reads (`name` before `image`), and optional fields are skipped when unset, so
//! the emitted YAML is small and stable. Every struct here mirrors the official schema in
//! `../shared/argo/crds` (or the Kubernetes API for core types); the schema test in
//! `tests/schema.rs` validates everything pipec emits against those schemas, strictly.
//!
//! Int-or-string fields: Argo Workflows' own int-or-string fields (`retryStrategy.limit`,
//! template `activeDeadlineSeconds`, durations) are emitted as strings, which both the CRD and
//! Argo's `schema.json` accept. Kubernetes int-or-string fields (`maxSurge`, probe and service
//! ports) keep their Kubernetes meaning: an integer is a count or port number, a string is a
//! percentage or a port name, so those are emitted as integers unless they are percentages.

pub mod contract;
pub mod events;
pub mod image_tag;
pub mod k8s;
pub mod rollouts;
pub mod workflows;

use serde::Serialize;
use std::collections::BTreeMap;

pub const ARGO_API_VERSION: &str = "argoproj.io/v1alpha1";

/// An integer or a string, as Kubernetes' `IntOrString`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

/// `metadata` of any object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generate_name: Option<String>,
    /// Set for objects of a long-lived environment; otherwise they go where they are applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One emitted object, ready to serialize as a YAML document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    Service(Box<k8s::Service>),
    Ingress(Box<k8s::Ingress>),
    AnalysisTemplate(Box<rollouts::AnalysisTemplate>),
    Rollout(Box<rollouts::Rollout>),
    Workflow(Box<workflows::Workflow>),
    WorkflowTemplate(Box<workflows::Workflow>),
    CronWorkflow(Box<workflows::CronWorkflow>),
    EventSource(Box<events::EventSource>),
    Sensor(Box<events::Sensor>),
}

impl Document {
    pub fn kind(&self) -> &'static str {
        match self {
            Document::Service(_) => "Service",
            Document::Ingress(_) => "Ingress",
            Document::AnalysisTemplate(_) => "AnalysisTemplate",
            Document::Rollout(_) => "Rollout",
            Document::Workflow(_) => "Workflow",
            Document::WorkflowTemplate(_) => "WorkflowTemplate",
            Document::CronWorkflow(_) => "CronWorkflow",
            Document::EventSource(_) => "EventSource",
            Document::Sensor(_) => "Sensor",
        }
    }

    pub fn api_version(&self) -> &'static str {
        match self {
            Document::Service(_) => "v1",
            Document::Ingress(_) => "networking.k8s.io/v1",
            _ => ARGO_API_VERSION,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Document::Service(d) => &d.metadata,
            Document::Ingress(d) => &d.metadata,
            Document::AnalysisTemplate(d) => &d.metadata,
            Document::Rollout(d) => &d.metadata,
            Document::Workflow(d) | Document::WorkflowTemplate(d) => &d.metadata,
            Document::CronWorkflow(d) => &d.metadata,
            Document::EventSource(d) => &d.metadata,
            Document::Sensor(d) => &d.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Document::Service(d) => &mut d.metadata,
            Document::Ingress(d) => &mut d.metadata,
            Document::AnalysisTemplate(d) => &mut d.metadata,
            Document::Rollout(d) => &mut d.metadata,
            Document::Workflow(d) | Document::WorkflowTemplate(d) => &mut d.metadata,
            Document::CronWorkflow(d) => &mut d.metadata,
            Document::EventSource(d) => &mut d.metadata,
            Document::Sensor(d) => &mut d.metadata,
        }
    }

    /// `name`, or `generateName` for objects named by the API server.
    pub fn name(&self) -> &str {
        let meta = self.metadata();
        meta.name
            .as_deref()
            .or(meta.generate_name.as_deref())
            .unwrap_or("")
    }

    /// The name a person reads in a message: [`Document::name`], with a `generateName`'s
    /// trailing dash dropped (`peers` for the runs `peers-x7k2p`, `peers-q9m4z`, …).
    pub fn base_name(&self) -> &str {
        let meta = self.metadata();
        match (&meta.name, &meta.generate_name) {
            (Some(name), _) => name,
            (None, Some(prefix)) => contract::base_of_generate_name(prefix),
            (None, None) => "",
        }
    }
}
