//! The checked program: names resolved, types checked, defaults filled in. Plain data that the
//! lowering phase turns into Argo resources without having to look at the AST again.
//!
//! Values that are only known when the pipeline runs (`run.id`, `git.branch`, params) appear as
//! [`Var`]s inside [`Template`]s; lowering decides how each place spells them (an Argo
//! `{{…}}` tag, an environment variable in a shell command, an expr-lang operand).

use pipec_syntax::Span;

/// Index of a node (an `image` or `step` declaration, or a handler step) in [`Pipeline::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// Index of a service in [`Pipeline::services`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub usize);

/// Index of an environment in [`Pipeline::environments`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvId(pub usize);

/// Index of an analysis in [`Program::analyses`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnalysisId(pub usize);

/// A value known only at run time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Var {
    RunId,
    RunName,
    RunNamespace,
    /// `YYYYMMDDHHMMSS` of the run's creation.
    RunTimestamp,
    GitSha,
    GitShortSha,
    GitBranch,
    GitTag,
    GitRepo,
    /// A pipeline `param`, by name.
    Param(String),
    /// An analysis parameter, inside an analysis definition.
    Arg(String),
    /// A value made a valid part of an image tag as Argo substitutes it, cut to `max` bytes;
    /// `first` when it starts the tag (`pipec_argo_model::image_tag` has the rule).
    TagSafe {
        value: Box<Var>,
        max: usize,
        first: bool,
    },
}

impl Var {
    /// The value itself, without the tag-safe spelling it may be wrapped in.
    pub fn underlying(&self) -> &Var {
        match self {
            Var::TagSafe { value, .. } => value.underlying(),
            other => other,
        }
    }
}

/// A string made of literal text and run-time values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Lit(String),
    Var(Var),
}

impl Template {
    pub fn lit(text: impl Into<String>) -> Self {
        Template {
            pieces: vec![Piece::Lit(text.into())],
        }
    }

    pub fn var(var: Var) -> Self {
        Template {
            pieces: vec![Piece::Var(var)],
        }
    }

    pub fn push_lit(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Lit(prev)) => prev.push_str(text),
            _ => self.pieces.push(Piece::Lit(text.to_string())),
        }
    }

    pub fn push_var(&mut self, var: Var) {
        self.pieces.push(Piece::Var(var));
    }

    pub fn append(&mut self, other: &Template) {
        for piece in &other.pieces {
            match piece {
                Piece::Lit(t) => self.push_lit(t),
                Piece::Var(v) => self.push_var(v.clone()),
            }
        }
    }

    /// The text if no run-time value is involved.
    pub fn as_static(&self) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(t) => out.push_str(t),
                Piece::Var(_) => return None,
            }
        }
        Some(out)
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v),
            Piece::Lit(_) => None,
        })
    }
}

/// The whole checked compilation: one pipeline and the analyses it uses.
#[derive(Clone, Debug)]
pub struct Program {
    pub pipeline: Pipeline,
    pub analyses: Vec<Analysis>,
}

#[derive(Clone, Debug)]
pub struct Pipeline {
    pub name: String,
    pub span: Span,
    /// The git repository the builds check out (`repo = …`).
    pub repo: Option<Template>,
    /// What the builds check out (`revision = …`); by default `git.sha`.
    pub revision: Option<Template>,
    pub service_account: Option<String>,
    pub params: Vec<Param>,
    pub secrets: Vec<Secret>,
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub releases: Vec<Release>,
    pub environments: Vec<Environment>,
    /// `on failure { … }`, in order.
    pub on_failure: Vec<HandlerAction>,
    pub triggers: Triggers,
}

/// What starts the pipeline besides a person or `pipec run`.
#[derive(Clone, Debug, Default)]
pub struct Triggers {
    /// Regexes over the pushed git ref (`^refs/heads/main$`), from `on push`.
    pub push: Vec<String>,
    /// Cron expressions, from `on schedule`.
    pub schedules: Vec<String>,
    pub timezone: Option<String>,
    /// Where the timezone was set, for a conflicting second one.
    pub timezone_span: Option<Span>,
    /// The bearer token the push webhook requires, from `webhook_token`.
    pub webhook_token: Option<SecretKeyRef>,
    /// `on webhook`: a POST with the parameters as JSON starts a run.
    pub webhook: bool,
    /// The first `on push`, `on schedule` and `on webhook`, for source annotations.
    pub push_span: Option<Span>,
    pub schedule_span: Option<Span>,
    pub webhook_span: Option<Span>,
}

impl Triggers {
    pub fn any(&self) -> bool {
        !self.push.is_empty() || !self.schedules.is_empty() || self.webhook
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: Option<String>,
    pub span: Span,
}

/// The type of a pipeline `param`. Argo's parameters are all strings, so the Workflow records
/// the types (`pipec.dev/param-types`) for `pipec run --param` to check values against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Int,
    Float,
    Bool,
    Duration,
    /// Travels as a fraction: `95%` is `0.95`.
    Percent,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
            ParamType::Percent => "percent",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Secret {
    pub name: String,
    /// The Kubernetes Secret's name.
    pub secret_name: String,
    pub span: Span,
}

/// A reference to a key of a Kubernetes Secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretKeyRef {
    pub secret_name: String,
    pub key: String,
}

/// Registry credentials: the Secret keys holding the login's user name and password (a
/// secret's `username` and `password`, or any two keys named in a record).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryAuth {
    pub username: SecretKeyRef,
    pub password: SecretKeyRef,
}

/// An image reference: a fixed name, or the image a node produces.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageRef {
    External(Template),
    Node(NodeId),
}

/// A node of the pipeline DAG.
#[derive(Clone, Debug)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub span: Span,
    pub kind: NodeKind,
    pub when: Option<Condition>,
    /// Nodes this one needs to have succeeded: data dependencies and `after`.
    pub needs: Vec<NodeId>,
    /// Services whose release must be complete first (`after = [service]`, or the service an
    /// `exec` step runs in).
    pub after_releases: Vec<ServiceId>,
    /// Ephemeral environments that must be up first: the step uses one of their services.
    pub after_envs: Vec<EnvId>,
    pub retries: Option<u32>,
    pub timeout: Option<u64>,
    pub irreversible: bool,
    /// True for steps declared inside `on failure`: they run in the exit handler.
    pub in_handler: bool,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    /// Build an image from the pipeline's repository and push it.
    Build {
        context: Template,
        dockerfile: Template,
        target: ImageName,
        cache: Option<Template>,
        args: Vec<(String, Template)>,
        auth: Option<RegistryAuth>,
        /// Other steps' outputs placed in the checkout before building.
        inputs: Vec<InputFile>,
    },
    /// Copy an image to another repository under the same (or a new) tag, without rebuilding.
    Push {
        source: ImageRef,
        target: ImageName,
        auth: Option<RegistryAuth>,
        source_auth: Option<RegistryAuth>,
    },
    /// Run a shell command in an image.
    Run {
        image: ImageRef,
        command: Template,
        env: Vec<EnvVar>,
        /// The container's working directory: `workdir`, made absolute under the checkout.
        workdir: Option<Template>,
        /// Check out the pipeline's repository into [`WORKSPACE`] first.
        checkout: bool,
        outputs: Vec<Output>,
        inputs: Vec<InputFile>,
    },
    /// Run a shell command inside a running pod of a service, once its release is complete.
    Exec {
        service: ServiceId,
        command: Template,
    },
}

/// Where steps with `checkout = true`, and builds, find the pipeline's repository.
pub const WORKSPACE: &str = "/workspace";

/// A file or directory a step hands on: `outputs = { binary = "auth" }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub name: String,
    /// Absolute.
    pub path: String,
}

/// Another step's output, placed at the path it was made at before this step starts.
#[derive(Clone, Debug, PartialEq)]
pub struct InputFile {
    pub node: NodeId,
    pub output: String,
    /// Absolute.
    pub path: String,
}

/// `repository:tag`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageName {
    pub repo: Template,
    pub tag: Template,
}

impl ImageName {
    pub fn reference(&self) -> Template {
        let mut t = self.repo.clone();
        t.push_lit(":");
        t.append(&self.tag);
        t
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EnvValue {
    Text(Template),
    Secret(SecretKeyRef),
}

/// A typed condition: step results go to Argo's `depends`, data tests to its `when`.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    /// `unit.passed` / `unit.failed`.
    StepResult {
        node: NodeId,
        passed: bool,
    },
    /// `a == b`, `a != b` on strings.
    Compare {
        lhs: Operand,
        rhs: Operand,
        equal: bool,
    },
    /// `a ~ /re/`, `a !~ /re/`.
    Matches {
        operand: Operand,
        regex: String,
        negated: bool,
    },
    Const(bool),
}

impl Condition {
    /// True if the condition tests a step result anywhere.
    pub fn has_step_results(&self) -> bool {
        match self {
            Condition::StepResult { .. } => true,
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.has_step_results() || b.has_step_results()
            }
            Condition::Not(a) => a.has_step_results(),
            Condition::Compare { .. } | Condition::Matches { .. } | Condition::Const(_) => false,
        }
    }

    /// True if any operand of a data test uses `var`.
    pub fn uses_var(&self, var: &Var) -> bool {
        match self {
            Condition::And(a, b) | Condition::Or(a, b) => a.uses_var(var) || b.uses_var(var),
            Condition::Not(a) => a.uses_var(var),
            Condition::Compare {
                lhs: Operand::Text(l),
                rhs: Operand::Text(r),
                ..
            } => l.vars().any(|v| v == var) || r.vars().any(|v| v == var),
            Condition::Matches {
                operand: Operand::Text(t),
                ..
            } => t.vars().any(|v| v == var),
            Condition::StepResult { .. } | Condition::Const(_) => false,
        }
    }

    /// True if the condition tests only step results (no data).
    pub fn only_step_results(&self) -> bool {
        match self {
            Condition::StepResult { .. } | Condition::Const(_) => true,
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.only_step_results() && b.only_step_results()
            }
            Condition::Not(_) | Condition::Compare { .. } | Condition::Matches { .. } => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Text(Template),
}

#[derive(Clone, Debug)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    /// The Kubernetes name: kebab case of `name`.
    pub k8s_name: String,
    pub span: Span,
    pub image: ImageRef,
    pub image_span: Span,
    pub replicas: u32,
    pub port: u16,
    pub ready: Option<Probe>,
    pub live: Option<Probe>,
    pub env: Vec<EnvVar>,
    /// The container's `command` (its entrypoint) and `args`, each word as the process sees
    /// it; empty: the image's own.
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// The ServiceAccount its pods run as; `None`: the namespace's default.
    pub service_account: Option<String>,
    /// The Kubernetes Secrets its image is pulled with, by name.
    pub pull_secrets: Vec<String>,
    pub expose: Exposure,
    pub resources: Resources,
    /// Where the service runs; `None`: the namespace the resources are applied to.
    pub environment: Option<EnvId>,
}

/// `environment NAME { … }`: where services run.
#[derive(Clone, Debug)]
pub struct Environment {
    pub id: EnvId,
    pub name: String,
    pub k8s_name: String,
    pub span: Span,
    pub kind: EnvKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EnvKind {
    /// A long-lived namespace; its services are emitted as documents there. With a
    /// `kubeconfig`, in another cluster, which the Workflow's steps reach with it.
    Named {
        namespace: String,
        kubeconfig: Option<SecretKeyRef>,
    },
    /// A namespace made for one run (`<run name>-<environment>`), its services deployed by
    /// the Workflow, and deleted when the run ends, whatever its outcome.
    Ephemeral,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub period: Option<u64>,
    pub timeout: Option<u64>,
    pub failures: Option<u32>,
    pub successes: Option<u32>,
    pub delay: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProbeKind {
    HttpGet { path: String, port: Option<u16> },
    Tcp { port: Option<u16> },
    Exec { command: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExposureKind {
    ClusterIp,
    LoadBalancer,
    NodePort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub kind: ExposureKind,
    /// The Service's port; the container port is the service's `port`.
    pub port: u16,
}

/// A count or a percentage, as Kubernetes' int-or-string sizing fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizing {
    Count(u32),
    Percent(u32),
}

#[derive(Clone, Debug)]
pub struct Release {
    pub service: ServiceId,
    pub span: Span,
    /// Steps that must succeed before the release starts, beyond the image's own step.
    pub after: Vec<NodeId>,
    /// Services whose release must be complete before this one starts.
    pub after_releases: Vec<ServiceId>,
    pub strategy: Strategy,
    pub max_surge: Sizing,
    pub max_unavailable: Sizing,
    /// Seconds a new pod must be ready before it counts as available.
    pub min_ready: Option<u64>,
    /// How long the workflow waits for the Rollout to reach each state, beyond the pauses and
    /// analyses Argo Rollouts holds it for ([`DEFAULT_RELEASE_TIMEOUT`] when unset). It is
    /// also the Rollout's `progressDeadlineSeconds`, so Argo Rollouts gives up on a stalled
    /// update no sooner than the pipeline does.
    pub timeout: u64,
    pub stages: Vec<Stage>,
    /// `background_analysis = NAME(args)`: runs through the whole update.
    pub background: Option<AnalysisUse>,
    /// `traffic = nginx(…)`: exact traffic weights through a router instead of pod counts.
    pub traffic: Option<TrafficRouter>,
    /// A routed canary's `scale_down_delay`: how long the old stable pods stay after the
    /// update (Argo's default 30 s). A blue-green release keeps its own in [`Strategy`].
    pub scale_down_delay: Option<u64>,
}

/// How long the workflow waits for a Rollout to reach a stage when its release does not say,
/// or when the service has no release block.
pub const DEFAULT_RELEASE_TIMEOUT: u64 = 30 * 60;

/// Where a canary's traffic share is set.
#[derive(Clone, Debug, PartialEq)]
pub enum TrafficRouter {
    /// NGINX Ingress: pipec makes the Ingress for `host`, or uses the existing `ingress`.
    Nginx {
        host: Option<String>,
        class: String,
        ingress: Option<String>,
    },
    /// Istio: an existing VirtualService and the HTTP routes in it to split.
    Istio {
        virtual_service: String,
        routes: Vec<String>,
    },
    /// SMI: Argo Rollouts creates the TrafficSplit.
    Smi,
}

/// An analysis with the argument values it runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisUse {
    pub analysis: AnalysisId,
    /// `(parameter, value)`, as AnalysisTemplate args.
    pub args: Vec<(String, String)>,
}

impl Release {
    pub fn uses_analysis(&self, id: AnalysisId) -> bool {
        self.background.as_ref().is_some_and(|b| b.analysis == id)
            || self
                .stages
                .iter()
                .any(|s| matches!(&s.kind, StageKind::Analyze { analysis, .. } if *analysis == id))
    }
}

/// How the new version replaces the old one. A rolling update is a canary whose stages the
/// type checker generated from its batches.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Canary {
        /// The canary gets no production traffic until a `join` stage.
        isolated: bool,
    },
    BlueGreen {
        /// How long the old version stays up after the switch, as an instant rollback target.
        scale_down_delay: Option<u64>,
        /// How many pods the new version runs before the switch (`previewReplicaCount`); all of
        /// them when unset. It is scaled to full size just before the switch.
        preview_replicas: Option<u32>,
    },
}

#[derive(Clone, Debug)]
pub struct Stage {
    pub kind: StageKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum StageKind {
    /// Send this share of traffic (by pod count without a router) to the new version.
    Weight(u32),
    /// Run exactly this many pods of the new version; lowering finds the weight.
    Replicas(u32),
    /// Bake for this many seconds.
    Pause(u64),
    /// Wait for a person.
    Approve { reason: Option<String> },
    /// Run a command inside a pod of the new version.
    Exec {
        command: Template,
        irreversible: bool,
        retries: Option<u32>,
        timeout: Option<u64>,
    },
    /// Run an analysis against the new version.
    Analyze {
        analysis: AnalysisId,
        args: Vec<(String, String)>,
    },
    /// Run a command in an image, as a one-shot pod, against the new version's Services.
    Test {
        image: ImageRef,
        command: Template,
        env: Vec<EnvVar>,
        retries: Option<u32>,
        timeout: Option<u64>,
    },
    /// An isolated canary enters the production Service.
    Join,
    /// Blue-green: all traffic moves to the new version here.
    Switch,
}

impl StageKind {
    /// Stages the Workflow runs (the Rollout holds the new version at a pause meanwhile).
    pub fn runs_in_workflow(&self) -> bool {
        matches!(
            self,
            StageKind::Approve { .. }
                | StageKind::Exec { .. }
                | StageKind::Test { .. }
                | StageKind::Join
        )
    }
}

#[derive(Clone, Debug)]
pub enum HandlerAction {
    CollectDiagnostics { service: ServiceId, span: Span },
    Rollback { service: ServiceId, span: Span },
    Node(NodeId),
}

/// A reusable analysis, compiled to one AnalysisTemplate.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub name: String,
    /// The AnalysisTemplate name.
    pub k8s_name: String,
    pub span: Span,
    pub params: Vec<AnalysisParam>,
    pub metrics: Vec<Metric>,
}

#[derive(Clone, Debug)]
pub struct AnalysisParam {
    pub name: String,
    pub default: Option<String>,
}

/// A metric setting: a value, or an analysis parameter passed through as `{{args.x}}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting<T> {
    Value(T),
    Arg(String),
}

#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub every: Option<Setting<u64>>,
    pub times: Option<Setting<u32>>,
    pub failure_limit: Option<Setting<u32>>,
    pub inconclusive_limit: Option<Setting<u32>>,
    pub initial_delay: Option<Setting<u64>>,
    pub provider: Provider,
    /// expr-lang conditions over `result`, args already spelled `{{args.x}}`.
    pub success: Option<String>,
    pub failure: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Provider {
    Prometheus {
        address: Template,
        query: Template,
    },
    /// An HTTP GET; the value at `json_path` of its JSON answer is the measurement.
    Web {
        url: Template,
        json_path: Option<Template>,
        timeout: Option<u64>,
    },
    /// A one-shot Job; the measurement succeeds when the Job does.
    Job {
        image: Template,
        command: Template,
    },
}
