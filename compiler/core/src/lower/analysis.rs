//! Analyses → `AnalysisTemplate`s with typed args.

use pipec_argo_model::rollouts::{
    AnalysisTemplate, AnalysisTemplateSpec, Argument, JobMetric, JobSpec, Metric, MetricProvider,
    PrometheusMetric, WebMetric,
};
use pipec_argo_model::{ARGO_API_VERSION, Document, IntOrString};

use pipec_argo_model::ObjectMeta;
use pipec_argo_model::k8s::{Container, EnvVar, PodSpec, PodTemplateSpec};

use super::shell;
use super::text::argo_text;
use super::{Ctx, Lowered};
use crate::hir::{self, AnalysisId, Setting};
use crate::typeck::format_duration;

pub fn analysis_template(ctx: &Ctx<'_>, id: AnalysisId, analysis: &hir::Analysis) -> Lowered {
    let args = analysis
        .params
        .iter()
        .map(|p| Argument {
            name: p.name.clone(),
            value: p.default.clone(),
        })
        .collect();
    let metrics = analysis
        .metrics
        .iter()
        .map(|m| Metric {
            name: m.name.clone(),
            interval: m
                .every
                .as_ref()
                .map(|s| setting_text(s, |d| format_duration(*d))),
            initial_delay: m
                .initial_delay
                .as_ref()
                .map(|s| setting_text(s, |d| format_duration(*d))),
            count: m.times.as_ref().map(int_or_arg),
            failure_limit: m.failure_limit.as_ref().map(int_or_arg),
            inconclusive_limit: m.inconclusive_limit.as_ref().map(int_or_arg),
            success_condition: m.success.clone(),
            failure_condition: m.failure.clone(),
            provider: provider(&m.provider),
        })
        .collect();
    Lowered {
        document: Document::AnalysisTemplate(Box::new(AnalysisTemplate {
            api_version: ARGO_API_VERSION,
            kind: "AnalysisTemplate",
            metadata: ctx.metadata(Some(ctx.analysis_template_name(id)), None, analysis.span),
            spec: AnalysisTemplateSpec { args, metrics },
        })),
        origin: analysis.span,
    }
}

fn provider(provider: &hir::Provider) -> MetricProvider {
    match provider {
        hir::Provider::Prometheus { address, query } => {
            MetricProvider::Prometheus(PrometheusMetric {
                address: argo_text(address),
                query: argo_text(query),
            })
        }
        hir::Provider::Web {
            url,
            json_path,
            timeout,
        } => MetricProvider::Web(WebMetric {
            url: argo_text(url),
            json_path: json_path.as_ref().map(argo_text),
            timeout_seconds: timeout.map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        }),
        hir::Provider::Job { image, command } => {
            // Arguments reach the command as environment variables, never as script text.
            let (script, values) = shell::script(command, "ARG_").for_sh();
            MetricProvider::Job(JobMetric {
                spec: JobSpec {
                    backoff_limit: 0,
                    template: PodTemplateSpec {
                        metadata: ObjectMeta::default(),
                        spec: PodSpec {
                            containers: vec![Container {
                                name: Some("check".to_string()),
                                image: Some(argo_text(image)),
                                command: vec!["sh".to_string(), "-c".to_string()],
                                args: vec![script],
                                env: values.iter().map(|(k, v)| EnvVar::value(k, v)).collect(),
                                ..Container::default()
                            }],
                            restart_policy: Some("Never".to_string()),
                            ..PodSpec::default()
                        },
                    },
                },
            })
        }
    }
}

fn setting_text<T>(setting: &Setting<T>, value: impl Fn(&T) -> String) -> String {
    match setting {
        Setting::Value(v) => value(v),
        Setting::Arg(name) => format!("{{{{args.{name}}}}}"),
    }
}

/// Counts and limits: integers, or `"{{args.x}}"` strings Argo Rollouts resolves.
fn int_or_arg(setting: &Setting<u32>) -> IntOrString {
    match setting {
        Setting::Value(v) => IntOrString::Int(i64::from(*v)),
        Setting::Arg(name) => IntOrString::String(format!("{{{{args.{name}}}}}")),
    }
}
