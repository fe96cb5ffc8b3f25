//! The core Kubernetes types pipec emits: `Service` and the pod pieces that Rollouts and
//! Workflows embed.

use serde::Serialize;
use std::collections::BTreeMap;

use crate::{IntOrString, ObjectMeta};

/// Kubernetes expands variable references in a container's `command`, `args` and `env[].value`
/// before the process sees them (`third_party/forked/golang/expansion/expand.go`, used by the
/// kubelet's `ExpandContainerCommandAndArgs`, env resolution and exec probes): `$$` becomes `$`,
/// `$(NAME)` becomes the value of another variable of the container, and any other `$` stays
/// with the byte after it (Go's `string(input[0])` turns that byte into a code point, so a `$`
/// before a multi-byte character is mangled). The model holds the text the container must see;
/// serialization doubles each `$` the expansion would otherwise change — one before `$`, `(`,
/// a non-ASCII character or an Argo tag — so the expansion gives the text back exactly
/// (`echo $$` stays `echo $$`, a `$(WEBHOOK)` written by a user never reads a secret) and
/// `"$TEXT"` or `"${VALUE}"` stay as readable as a person would write them.
///
/// Argo tags (`{{…}}`) are copied as they are: Argo replaces them before Kubernetes expands,
/// so the lowering spells run-time values that may hold a `$` as
/// `{{=sprig.replace('$', '$$', …)}}` (`pipec-core`'s `lower/text.rs`), and a `$` just before a
/// tag is doubled since the value may start with one. Text of the user's containing `{{` never
/// reaches these fields (it is refused or carried base64-encoded).
pub mod expansion {
    use serde::Serializer;

    /// `text` escaped so that Kubernetes' expansion yields it unchanged.
    pub fn escape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(tail) = rest.strip_prefix("{{")
                && let Some(end) = tail.find("}}")
            {
                out.push_str(&rest[..end + 4]);
                rest = &tail[end + 2..];
                continue;
            }
            let mut chars = rest.chars();
            let c = chars.next().unwrap_or_default();
            let after = chars.as_str();
            if c == '$'
                && (after.starts_with(['$', '('])
                    || after.starts_with("{{")
                    || after.chars().next().is_some_and(|n| !n.is_ascii()))
            {
                out.push('$');
            }
            out.push(c);
            rest = after;
        }
        out
    }

    pub fn serialize_all<S: Serializer>(items: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(items.iter().map(|t| escape(t)))
    }

    pub fn serialize_some<S: Serializer>(value: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => s.serialize_str(&escape(t)),
            None => s.serialize_none(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::escape;

        #[test]
        fn dollars_the_expansion_would_change_are_doubled() {
            assert_eq!(escape("echo $$"), "echo $$$");
            assert_eq!(escape("pa$$word"), "pa$$$word");
            assert_eq!(escape("$(WEBHOOK)"), "$$(WEBHOOK)");
            assert_eq!(escape("${HOME} $1 \"$TEXT\" $"), "${HOME} $1 \"$TEXT\" $");
            assert_eq!(
                escape("v$$${{=sprig.replace('$', '$$', workflow.parameters['x'])}}-$("),
                "v$$$$$${{=sprig.replace('$', '$$', workflow.parameters['x'])}}-$$("
            );
            assert_eq!(escape("{{ unclosed $("), "{{ unclosed $$(");
            assert_eq!(escape("ünï$çødé"), "ünï$$çødé");
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type")]
    pub type_: String,
    pub selector: BTreeMap<String, String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    pub name: String,
    pub port: i64,
    pub target_port: IntOrString,
    pub protocol: String,
}

/// `networking.k8s.io/v1` Ingress: the stable entry point an NGINX-routed canary splits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: IngressSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    pub ingress_class_name: String,
    pub rules: Vec<IngressRule>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    pub host: String,
    pub http: HttpIngressRuleValue,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpIngressRuleValue {
    pub paths: Vec<HttpIngressPath>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpIngressPath {
    pub path: String,
    pub path_type: String,
    pub backend: IngressBackend,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressBackend {
    pub service: IngressServiceBackend,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressServiceBackend {
    pub name: String,
    pub port: ServiceBackendPort,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceBackendPort {
    pub name: String,
}

/// `apps/v1` Deployment: how an ephemeral environment runs a service for one run.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    pub replicas: i64,
    pub selector: LabelSelector,
    pub template: PodTemplateSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// The ServiceAccount the pods run as (the namespace's `default` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secrets the kubelet pulls the image with, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
}

/// A reference to an object of the same namespace, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct LocalObjectReference {
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absent in a Rollout whose image is produced by the pipeline: the Workflow sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Written escaped for Kubernetes' `$(VAR)` expansion ([`expansion`]).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "expansion::serialize_all"
    )]
    pub command: Vec<String>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "expansion::serialize_all"
    )]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: String,
    pub container_port: i64,
    pub protocol: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    /// The text the container sees; written escaped for Kubernetes' `$(VAR)` expansion
    /// ([`expansion`]).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "expansion::serialize_some"
    )]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

impl EnvVar {
    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    pub fn secret(
        name: impl Into<String>,
        secret: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: SecretKeySelector {
                    name: secret.into(),
                    key: key.into(),
                },
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub secret_key_ref: SecretKeySelector,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    pub secret_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct EmptyDirVolumeSource {}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    pub path: String,
    pub port: IntOrString,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    pub port: IntOrString,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The kubelet expands probe commands too (`ExpandContainerCommandOnlyStatic` in
    /// `pkg/kubelet/prober`).
    #[serde(serialize_with = "expansion::serialize_all")]
    pub command: Vec<String>,
}
