//! Services and releases → the `Service`s and the `Rollout` of each service.
//!
//! The Rollout carries what Argo Rollouts can do on its own: weights, bake times, analyses.
//! What it cannot (a command in a canary pod, a test pod, a person's approval, letting an
//! isolated canary into production) runs in the Workflow while the Rollout holds the new
//! version at an indefinite pause that only the Workflow releases (`release.rs`).

use std::collections::BTreeMap;

use pipec_argo_model::contract::labels;
use pipec_argo_model::k8s::{
    Container, ContainerPort, EnvVar, ExecAction, HttpGetAction, HttpIngressPath,
    HttpIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    LabelSelector, LocalObjectReference, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    Service, ServiceBackendPort, ServicePort, ServiceSpec, TcpSocketAction,
};
use pipec_argo_model::rollouts::{
    AnalysisRunArgument, AnalysisTemplateRef, BackgroundAnalysis, BlueGreenStrategy, CanaryStep,
    CanaryStrategy, IstioVirtualService, PodMetadata, RollbackWindow, Rollout, RolloutAnalysis,
    RolloutPause, RolloutSpec, RolloutStrategy, TrafficRouting,
};
use pipec_argo_model::{ARGO_API_VERSION, Document, IntOrString, ObjectMeta};
use pipec_syntax::Span;

use super::text::expanded_text;
use super::{Ctx, Lowered};
use crate::hir::{self, ExposureKind, ImageRef, ProbeKind, Sizing, StageKind, Strategy};
use crate::names;
use crate::rollout_math::{surge_pods, weight_for_replicas};
use crate::typeck::format_duration;

/// The name of the container port, referenced by Services and probes.
const PORT_NAME: &str = "http";
/// Revisions a rollback may return to without running canary steps again.
const ROLLBACK_WINDOW: i64 = 3;

pub(super) fn selector(service: &hir::Service) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::NAME.to_string(), service.k8s_name.clone())])
}

/// The Services a service needs besides its own, by what its release does.
pub fn canary_service_name(ctx: &Ctx<'_>, service: &hir::Service) -> Option<String> {
    let release = ctx.release_of(service.id)?;
    let Strategy::Canary { isolated } = release.strategy else {
        return None;
    };
    let tests = release
        .stages
        .iter()
        .any(|s| matches!(s.kind, StageKind::Test { .. }));
    (isolated || tests || release.traffic.is_some())
        .then(|| names::canary_service(&service.k8s_name))
}

/// With a traffic router the controller points this Service at the stable pods only, and the
/// router splits between it and the canary Service.
pub fn stable_service_name(service: &hir::Service) -> String {
    names::stable_service(&service.k8s_name)
}

/// The Ingress pipec makes for `nginx(host = …)`, named after the service.
pub fn ingress_name(service: &hir::Service, router: &hir::TrafficRouter) -> Option<String> {
    match router {
        hir::TrafficRouter::Nginx { host: Some(_), .. } => Some(service.k8s_name.clone()),
        _ => None,
    }
}

fn traffic_routing(service: &hir::Service, router: &hir::TrafficRouter) -> TrafficRouting {
    match router {
        hir::TrafficRouter::Nginx { ingress, .. } => TrafficRouting::Nginx {
            stable_ingress: ingress
                .clone()
                .or_else(|| ingress_name(service, router))
                .unwrap_or_default(),
        },
        hir::TrafficRouter::Istio {
            virtual_service,
            routes,
        } => TrafficRouting::Istio {
            virtual_service: IstioVirtualService {
                name: virtual_service.clone(),
                routes: routes.clone(),
            },
        },
        hir::TrafficRouter::Smi => TrafficRouting::Smi {},
    }
}

pub fn preview_service_name(ctx: &Ctx<'_>, service: &hir::Service) -> Option<String> {
    let release = ctx.release_of(service.id)?;
    matches!(release.strategy, Strategy::BlueGreen { .. })
        .then(|| names::preview_service(&service.k8s_name))
}

fn isolated(ctx: &Ctx<'_>, service: &hir::Service) -> bool {
    ctx.release_of(service.id)
        .is_some_and(|r| r.strategy == Strategy::Canary { isolated: true })
}

/// `http://NAME:PORT`, or `http://NAME.NAMESPACE:PORT` for a service of a long-lived
/// environment: the URL of a Service of this service from the Workflow's pods.
pub fn url(ctx: &Ctx<'_>, service: &hir::Service, name: &str) -> String {
    match ctx.namespace_of(service) {
        Some(ns) => format!("http://{name}.{ns}:{}", service.expose.port),
        None => format!("http://{name}:{}", service.expose.port),
    }
}

/// The service's own Service, then its canary-only or preview Service if the release needs one.
pub fn service_objects(ctx: &Ctx<'_>, service: &hir::Service) -> Vec<Lowered> {
    let mut selector = selector(service);
    if isolated(ctx, service) {
        selector.insert(labels::SERVING.to_string(), "true".to_string());
    }
    let kind = match service.expose.kind {
        ExposureKind::ClusterIp => "ClusterIP",
        ExposureKind::LoadBalancer => "LoadBalancer",
        ExposureKind::NodePort => "NodePort",
    };
    let mut out = vec![service_object(
        ctx,
        service,
        &service.k8s_name,
        kind,
        selector,
    )];
    let origin = ctx.release_of(service.id).map_or(service.span, |r| r.span);
    let router = ctx.release_of(service.id).and_then(|r| r.traffic.as_ref());
    for extra in [
        canary_service_name(ctx, service),
        router.map(|_| stable_service_name(service)),
        preview_service_name(ctx, service),
    ]
    .into_iter()
    .flatten()
    {
        let mut lowered =
            service_object(ctx, service, &extra, "ClusterIP", self::selector(service));
        lowered.origin = origin;
        out.push(lowered);
    }
    out
}

/// The Ingress of `nginx(host = …)`: all paths of the host to the stable Service, which Argo
/// Rollouts mirrors into a canary Ingress with the canary's weight.
pub fn ingress(ctx: &Ctx<'_>, service: &hir::Service) -> Option<Lowered> {
    let release = ctx.release_of(service.id)?;
    let router = release.traffic.as_ref()?;
    let hir::TrafficRouter::Nginx {
        host: Some(host),
        class,
        ..
    } = router
    else {
        return None;
    };
    let mut metadata = ctx.metadata(ingress_name(service, router), None, release.span);
    metadata
        .labels
        .insert(labels::NAME.to_string(), service.k8s_name.clone());
    ctx.place(&mut metadata, service);
    Some(Lowered {
        document: Document::Ingress(Box::new(Ingress {
            api_version: "networking.k8s.io/v1",
            kind: "Ingress",
            metadata,
            spec: IngressSpec {
                ingress_class_name: class.clone(),
                rules: vec![IngressRule {
                    host: host.clone(),
                    http: HttpIngressRuleValue {
                        paths: vec![HttpIngressPath {
                            path: "/".to_string(),
                            path_type: "Prefix".to_string(),
                            backend: IngressBackend {
                                service: IngressServiceBackend {
                                    name: stable_service_name(service),
                                    port: ServiceBackendPort {
                                        name: PORT_NAME.to_string(),
                                    },
                                },
                            },
                        }],
                    },
                }],
            },
        })),
        origin: release.span,
    })
}

pub(super) fn service_object(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    name: &str,
    kind: &str,
    selector: BTreeMap<String, String>,
) -> Lowered {
    let mut metadata = ctx.metadata(Some(name.to_string()), None, service.span);
    metadata
        .labels
        .insert(labels::NAME.to_string(), service.k8s_name.clone());
    ctx.place(&mut metadata, service);
    Lowered {
        document: Document::Service(Box::new(Service {
            api_version: "v1",
            kind: "Service",
            metadata,
            spec: ServiceSpec {
                type_: kind.to_string(),
                selector,
                ports: vec![ServicePort {
                    name: PORT_NAME.to_string(),
                    port: i64::from(service.expose.port),
                    target_port: IntOrString::String(PORT_NAME.to_string()),
                    protocol: "TCP".to_string(),
                }],
            },
        })),
        origin: service.span,
    }
}

/// A release's plan: the Rollout steps and, for each pause the Workflow holds, its index and
/// the stages the Workflow runs there.
pub(super) struct Plan<'r> {
    pub steps: Vec<CanaryStep>,
    pub segments: Vec<Segment<'r>>,
    /// Blue-green: the analyses before and after the switch.
    pub pre_switch_analysis: Option<RolloutAnalysis>,
    pub post_switch_analysis: Option<RolloutAnalysis>,
    /// Blue-green: Workflow stages after the switch, run once the new version is active.
    pub after_switch: Vec<&'r hir::Stage>,
}

pub(super) struct Segment<'r> {
    /// The canary step index of the held pause; `None` for blue-green's single pause.
    pub pause_index: Option<usize>,
    pub stages: Vec<&'r hir::Stage>,
}

fn analysis_step(
    ctx: &Ctx<'_>,
    analysis: hir::AnalysisId,
    args: &[(String, String)],
) -> RolloutAnalysis {
    RolloutAnalysis {
        templates: vec![AnalysisTemplateRef {
            template_name: ctx.analysis_template_name(analysis),
        }],
        args: args
            .iter()
            .map(|(name, value)| AnalysisRunArgument {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

pub(super) fn plan<'r>(
    ctx: &Ctx<'_>,
    service: &hir::Service,
    release: &'r hir::Release,
) -> Plan<'r> {
    let mut plan = Plan {
        steps: Vec::new(),
        segments: Vec::new(),
        pre_switch_analysis: None,
        post_switch_analysis: None,
        after_switch: Vec::new(),
    };
    if let Strategy::BlueGreen { .. } = release.strategy {
        let mut switched = false;
        let mut before = Vec::new();
        for stage in &release.stages {
            match &stage.kind {
                StageKind::Switch => switched = true,
                StageKind::Analyze { analysis, args } => {
                    let step = Some(analysis_step(ctx, *analysis, args));
                    if switched {
                        plan.post_switch_analysis = step;
                    } else {
                        plan.pre_switch_analysis = step;
                    }
                }
                _ if switched => plan.after_switch.push(stage),
                _ => before.push(stage),
            }
        }
        if !before.is_empty() {
            plan.segments.push(Segment {
                pause_index: None,
                stages: before,
            });
        }
        return plan;
    }
    let surge = sizing_pods(release.max_surge, service.replicas);
    let mut open: Option<Segment<'r>> = None;
    for stage in &release.stages {
        if stage.kind.runs_in_workflow() {
            let steps = &mut plan.steps;
            let segment = open.get_or_insert_with(|| {
                steps.push(CanaryStep::Pause(RolloutPause::default()));
                Segment {
                    pause_index: Some(steps.len() - 1),
                    stages: Vec::new(),
                }
            });
            segment.stages.push(stage);
            continue;
        }
        if let Some(segment) = open.take() {
            plan.segments.push(segment);
        }
        plan.steps.push(match &stage.kind {
            StageKind::Weight(w) => CanaryStep::SetWeight(i64::from(*w)),
            // Checked by the type checker: a weight exists for every accepted split.
            StageKind::Replicas(k) => CanaryStep::SetWeight(i64::from(
                weight_for_replicas(*k, service.replicas, surge).unwrap_or(0),
            )),
            StageKind::Pause(secs) => CanaryStep::Pause(RolloutPause {
                duration: Some(IntOrString::String(format_duration(*secs))),
            }),
            StageKind::Analyze { analysis, args } => {
                CanaryStep::Analysis(analysis_step(ctx, *analysis, args))
            }
            StageKind::Approve { .. }
            | StageKind::Exec { .. }
            | StageKind::Test { .. }
            | StageKind::Join
            | StageKind::Switch => continue,
        });
    }
    if let Some(segment) = open.take() {
        plan.segments.push(segment);
    }
    plan
}

fn sizing_pods(sizing: Sizing, replicas: u32) -> u32 {
    match sizing {
        Sizing::Count(c) => c,
        Sizing::Percent(p) => surge_pods(p, replicas),
    }
}

fn sizing_value(sizing: Sizing) -> IntOrString {
    match sizing {
        Sizing::Count(c) => IntOrString::Int(i64::from(c)),
        Sizing::Percent(p) => IntOrString::String(format!("{p}%")),
    }
}

fn serving(value: &str) -> Option<PodMetadata> {
    Some(PodMetadata {
        labels: BTreeMap::from([(labels::SERVING.to_string(), value.to_string())]),
    })
}

pub fn rollout(ctx: &Ctx<'_>, service: &hir::Service) -> Lowered {
    let release = ctx.release_of(service.id);
    let mut metadata = ctx.metadata(Some(service.k8s_name.clone()), None, service.span);
    metadata
        .labels
        .insert(labels::NAME.to_string(), service.k8s_name.clone());
    let template = pod_template(&metadata, service);
    ctx.place(&mut metadata, service);

    let strategy = match release {
        Some(
            r @ hir::Release {
                strategy:
                    Strategy::BlueGreen {
                        scale_down_delay,
                        preview_replicas,
                    },
                ..
            },
        ) => {
            let plan = plan(ctx, service, r);
            RolloutStrategy::BlueGreen(BlueGreenStrategy {
                active_service: service.k8s_name.clone(),
                preview_service: preview_service_name(ctx, service).unwrap_or_default(),
                // The Workflow promotes after its stages; with none, Argo switches by itself.
                auto_promotion_enabled: plan.segments.is_empty(),
                scale_down_delay_seconds: scale_down_delay.map(secs),
                preview_replica_count: preview_replicas.map(i64::from),
                pre_promotion_analysis: plan.pre_switch_analysis,
                post_promotion_analysis: plan.post_switch_analysis,
            })
        }
        Some(r) => {
            let isolated = r.strategy == Strategy::Canary { isolated: true };
            let steps = plan(ctx, service, r).steps;
            // The analysis starts once the first traffic shift is done, when there is a
            // new version to measure.
            let analysis = r.background.as_ref().map(|b| {
                let first_shift = steps
                    .iter()
                    .position(|s| matches!(s, CanaryStep::SetWeight(_)))
                    .unwrap_or(0);
                let step = analysis_step(ctx, b.analysis, &b.args);
                BackgroundAnalysis {
                    templates: step.templates,
                    args: step.args,
                    starting_step: i64::try_from(first_shift + 1).unwrap_or(i64::MAX),
                }
            });
            RolloutStrategy::Canary(CanaryStrategy {
                canary_service: canary_service_name(ctx, service),
                stable_service: r.traffic.as_ref().map(|_| stable_service_name(service)),
                traffic_routing: r.traffic.as_ref().map(|t| traffic_routing(service, t)),
                max_surge: sizing_value(r.max_surge),
                max_unavailable: sizing_value(r.max_unavailable),
                canary_metadata: if isolated { serving("false") } else { None },
                stable_metadata: if isolated { serving("true") } else { None },
                steps,
                analysis,
                scale_down_delay_seconds: r.scale_down_delay.map(secs),
            })
        }
        None => RolloutStrategy::Canary(CanaryStrategy {
            canary_service: None,
            stable_service: None,
            traffic_routing: None,
            max_surge: IntOrString::Int(1),
            max_unavailable: IntOrString::Int(0),
            canary_metadata: None,
            stable_metadata: None,
            steps: Vec::new(),
            analysis: None,
            scale_down_delay_seconds: None,
        }),
    };
    Lowered {
        document: Document::Rollout(Box::new(Rollout {
            api_version: ARGO_API_VERSION,
            kind: "Rollout",
            metadata,
            spec: RolloutSpec {
                replicas: i64::from(service.replicas),
                revision_history_limit: 10,
                min_ready_seconds: release.and_then(|r| r.min_ready).map(secs),
                // The pipeline's patience for each stage: with Argo's default of 600 s a pod
                // that needs longer to start would turn the Rollout Degraded, and fail the
                // release, long before the `timeout` the release asks for.
                progress_deadline_seconds: secs(
                    release.map_or(hir::DEFAULT_RELEASE_TIMEOUT, |r| r.timeout),
                ),
                rollback_window: Some(RollbackWindow {
                    revisions: ROLLBACK_WINDOW,
                }),
                selector: LabelSelector {
                    match_labels: selector(service),
                },
                template,
                strategy,
            },
        })),
        origin: release.map_or(service.span, |r| r.span),
    }
}

/// The pods of a service: labelled like the object that runs them (`object`), one container.
/// An image the pipeline makes is left out: the Workflow's deploy step sets it.
pub(super) fn pod_template(object: &ObjectMeta, service: &hir::Service) -> PodTemplateSpec {
    let image = match &service.image {
        ImageRef::External(t) => t.as_static(),
        ImageRef::Node(_) => None,
    };
    pod_template_with_image(object, service, image)
}

pub(super) fn pod_template_with_image(
    object: &ObjectMeta,
    service: &hir::Service,
    image: Option<String>,
) -> PodTemplateSpec {
    let container = Container {
        name: Some(service.k8s_name.clone()),
        image,
        ports: vec![ContainerPort {
            name: PORT_NAME.to_string(),
            container_port: i64::from(service.port),
            protocol: "TCP".to_string(),
        }],
        command: service.command.clone(),
        args: service.args.clone(),
        env: service.env.iter().map(env_var).collect(),
        resources: resources(&service.resources),
        readiness_probe: service.ready.as_ref().map(probe),
        liveness_probe: service.live.as_ref().map(probe),
        ..Container::default()
    };
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: object.labels.clone(),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![container],
            restart_policy: None,
            service_account_name: service.service_account.clone(),
            image_pull_secrets: service
                .pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect(),
        },
    }
}

pub(super) fn env_var(var: &hir::EnvVar) -> EnvVar {
    match &var.value {
        hir::EnvValue::Text(t) => EnvVar::value(&var.name, expanded_text(t)),
        hir::EnvValue::Secret(key) => EnvVar::secret(&var.name, &key.secret_name, &key.key),
    }
}

fn resources(r: &hir::Resources) -> Option<ResourceRequirements> {
    let mut out = ResourceRequirements::default();
    if let Some(v) = &r.cpu {
        out.requests.insert("cpu".to_string(), v.clone());
    }
    if let Some(v) = &r.memory {
        out.requests.insert("memory".to_string(), v.clone());
    }
    if let Some(v) = &r.cpu_limit {
        out.limits.insert("cpu".to_string(), v.clone());
    }
    if let Some(v) = &r.memory_limit {
        out.limits.insert("memory".to_string(), v.clone());
    }
    (!out.requests.is_empty() || !out.limits.is_empty()).then_some(out)
}

fn probe(p: &hir::Probe) -> Probe {
    let port = |p: Option<u16>| match p {
        Some(n) => IntOrString::Int(i64::from(n)),
        None => IntOrString::String(PORT_NAME.to_string()),
    };
    let mut out = Probe {
        initial_delay_seconds: p.delay.map(secs),
        period_seconds: p.period.map(secs),
        timeout_seconds: p.timeout.map(secs),
        success_threshold: p.successes.map(i64::from),
        failure_threshold: p.failures.map(i64::from),
        ..Probe::default()
    };
    match &p.kind {
        ProbeKind::HttpGet { path, port: n } => {
            out.http_get = Some(HttpGetAction {
                path: path.clone(),
                port: port(*n),
            });
        }
        ProbeKind::Tcp { port: n } => out.tcp_socket = Some(TcpSocketAction { port: port(*n) }),
        ProbeKind::Exec { command } => {
            out.exec = Some(ExecAction {
                command: vec!["sh".to_string(), "-c".to_string(), command.clone()],
            });
        }
    }
    out
}

pub(super) fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Where a release's stages come from, for source annotations.
pub(super) fn release_origin(ctx: &Ctx<'_>, service: &hir::Service) -> Span {
    ctx.release_of(service.id).map_or(service.span, |r| r.span)
}
