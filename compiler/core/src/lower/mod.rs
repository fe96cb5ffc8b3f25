//! Lowering: the checked program → the typed model of Argo resources.
//!
//! For a pipeline this produces, in apply order: one `Service` per service (its traffic entry
//! point), the `AnalysisTemplate`s its releases use, one `Rollout` per service, and the
//! `Workflow` that builds, tests, pushes, deploys, gates and rolls back (with triggers, a
//! `WorkflowTemplate`), the `<pipeline>-rollback` WorkflowTemplate a person runs to roll a
//! service back by hand, and the CronWorkflow, EventSource and Sensor that start runs. How each concept maps is written in `docs/compilation.md`; this module and its
//! children are that document's code.

mod analysis;
mod condition;
mod environment;
mod release;
mod rollback;
mod rollout;
mod scripts;
mod share;
pub mod shell;
pub mod text;
mod triggers;
mod workflow;

pub use workflow::{ENTRYPOINT, EXIT_HANDLER};

use std::collections::BTreeMap;

use pipec_argo_model::contract::{annotations, labels};
use pipec_argo_model::{Document, ObjectMeta};
use pipec_syntax::Span;

use crate::hir;
use crate::source::SourceDb;

/// Images of the tools the generated steps run. Pinned, so a run today and a run next year
/// execute the same code; each needs what its scripts use.
pub mod tools {
    /// `kubectl`, `jq` and `bash`: deploy, wait, gate, promote, diagnose and roll back.
    pub const KUBECTL: &str = "docker.io/alpine/k8s:1.33.4";
    /// `buildctl-daemonless.sh` and `sh`: rootless BuildKit builds.
    pub const BUILDKIT: &str = "docker.io/moby/buildkit:v0.23.2-rootless";
    /// `crane` and a busybox `sh`: registry-to-registry copies without a Docker daemon.
    pub const CRANE: &str = "gcr.io/go-containerregistry/crane/debug:v0.20.6";
}

/// A generated object and the source that asked for it.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub document: Document,
    pub origin: Span,
}

/// Shared context of one lowering, with the program's nodes, services and releases indexed
/// so lookups stay constant-time however large the pipeline.
pub(crate) struct Ctx<'a> {
    pub program: &'a hir::Program,
    pub sources: &'a SourceDb,
    nodes: BTreeMap<hir::NodeId, &'a hir::Node>,
    services: BTreeMap<hir::ServiceId, &'a hir::Service>,
    releases: BTreeMap<hir::ServiceId, &'a hir::Release>,
}

impl Ctx<'_> {
    pub fn pipeline(&self) -> &hir::Pipeline {
        &self.program.pipeline
    }

    pub fn pipeline_name(&self) -> String {
        crate::names::kebab(&self.program.pipeline.name)
    }

    /// `file.pipe:12:3` of a span.
    /// Where `span` is, as the generated objects carry it ([`SourceDb::annotation_location`]).
    pub fn location(&self, span: Span) -> String {
        self.sources.annotation_location(span)
    }

    pub fn service(&self, id: hir::ServiceId) -> Option<&hir::Service> {
        self.services.get(&id).copied()
    }

    pub fn node(&self, id: hir::NodeId) -> Option<&hir::Node> {
        self.nodes.get(&id).copied()
    }

    pub fn release_of(&self, id: hir::ServiceId) -> Option<&hir::Release> {
        self.releases.get(&id).copied()
    }

    pub fn environment(&self, id: hir::EnvId) -> Option<&hir::Environment> {
        self.program
            .pipeline
            .environments
            .iter()
            .find(|e| e.id == id)
    }

    /// The namespace of a service in a long-lived environment.
    pub fn namespace_of(&self, service: &hir::Service) -> Option<String> {
        match &self.environment(service.environment?)?.kind {
            hir::EnvKind::Named { namespace, .. } => Some(namespace.clone()),
            hir::EnvKind::Ephemeral => None,
        }
    }

    /// Puts an object of a service where the service runs: its environment's namespace, and
    /// for an environment in another cluster the annotation saying which, so whoever applies
    /// the YAML knows where each object goes.
    pub fn place(&self, metadata: &mut ObjectMeta, service: &hir::Service) {
        metadata.namespace = self.namespace_of(service);
        if self.kubeconfig_of(service).is_some()
            && let Some(env) = service.environment.and_then(|id| self.environment(id))
        {
            metadata
                .annotations
                .insert(annotations::ENVIRONMENT.to_string(), env.name.clone());
        }
    }

    /// The kubeconfig of a service whose environment is in another cluster.
    pub fn kubeconfig_of(&self, service: &hir::Service) -> Option<&hir::SecretKeyRef> {
        match &self.environment(service.environment?)?.kind {
            hir::EnvKind::Named { kubeconfig, .. } => kubeconfig.as_ref(),
            hir::EnvKind::Ephemeral => None,
        }
    }

    /// Whether a service runs in a per-run environment (deployed by the Workflow, not emitted).
    pub fn is_ephemeral(&self, service: &hir::Service) -> bool {
        service
            .environment
            .and_then(|id| self.environment(id))
            .is_some_and(|e| e.kind == hir::EnvKind::Ephemeral)
    }

    /// The AnalysisTemplate name of an analysis: scoped by pipeline, so two pipelines in one
    /// namespace never overwrite each other's templates.
    pub fn analysis_template_name(&self, id: hir::AnalysisId) -> String {
        let analysis = self
            .program
            .analyses
            .get(id.0)
            .map_or("analysis", |a| a.k8s_name.as_str());
        crate::names::analysis_template(&self.pipeline_name(), analysis)
    }

    /// Metadata for a generated object: managed-by and part-of labels plus the source
    /// annotation.
    pub fn metadata(
        &self,
        name: Option<String>,
        generate_name: Option<String>,
        origin: Span,
    ) -> ObjectMeta {
        let mut labels = BTreeMap::new();
        labels.insert(
            labels::MANAGED_BY.to_string(),
            labels::MANAGED_BY_PIPEC.to_string(),
        );
        labels.insert(labels::PART_OF.to_string(), self.pipeline_name());
        let mut annotations = BTreeMap::new();
        annotations.insert(annotations::SOURCE.to_string(), self.location(origin));
        ObjectMeta {
            name,
            generate_name,
            namespace: None,
            labels,
            annotations,
        }
    }
}

/// Lowers a checked program to documents, in the order they should be applied.
pub fn lower(program: &hir::Program, sources: &SourceDb) -> Vec<Lowered> {
    let pipeline = &program.pipeline;
    let ctx = Ctx {
        program,
        sources,
        nodes: pipeline.nodes.iter().map(|n| (n.id, n)).collect(),
        services: pipeline.services.iter().map(|s| (s.id, s)).collect(),
        releases: pipeline.releases.iter().map(|r| (r.service, r)).collect(),
    };
    let mut out = Vec::new();
    // Services of ephemeral environments are deployed by the Workflow (`environment.rs`).
    let lasting: Vec<&hir::Service> = pipeline
        .services
        .iter()
        .filter(|s| !ctx.is_ephemeral(s))
        .collect();
    for service in &lasting {
        out.extend(rollout::service_objects(&ctx, service));
    }
    for service in &lasting {
        out.extend(rollout::ingress(&ctx, service));
    }
    for (i, analysis) in program.analyses.iter().enumerate() {
        let id = hir::AnalysisId(i);
        // An AnalysisTemplate must be beside the Rollouts that run it: one per namespace and
        // cluster.
        let mut placed: BTreeMap<(Option<String>, Option<&hir::SecretKeyRef>), &hir::Service> =
            BTreeMap::new();
        for service in pipeline
            .releases
            .iter()
            .filter(|r| r.uses_analysis(id))
            .filter_map(|r| ctx.service(r.service))
        {
            placed
                .entry((ctx.namespace_of(service), ctx.kubeconfig_of(service)))
                .or_insert(service);
        }
        for service in placed.into_values() {
            let mut lowered = analysis::analysis_template(&ctx, id, analysis);
            ctx.place(lowered.document.metadata_mut(), service);
            out.push(lowered);
        }
    }
    for service in &lasting {
        out.push(rollout::rollout(&ctx, service));
    }
    out.push(workflow::workflow(&ctx));
    out.extend(rollback::rollback_template(&ctx));
    out.extend(triggers::triggers(&ctx));
    out
}
