//! Analyses → `AnalysisTemplate`s with typed args.

use pipec_argo_model::rollouts::{
    AnalysisTemplate, AnalysisTemplateSpec, Argument, Metric, MetricProvider, PrometheusMetric,
};
use pipec_argo_model::{ARGO_API_VERSION, Document, IntOrString};

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
        .map(|m| {
            let hir::Provider::Prometheus { address, query } = &m.provider;
            Metric {
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
                provider: MetricProvider {
                    prometheus: Some(PrometheusMetric {
                        address: argo_text(address),
                        query: argo_text(query),
                    }),
                },
            }
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
