//! The properties every block kind accepts, with their types and one-line docs. The type
//! checker validates blocks against these tables; the language server will complete and hover
//! from the same tables, so the two never disagree.

/// One property of a block.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    /// The type as users write and read it.
    pub ty: &'static str,
    pub required: bool,
    pub doc: &'static str,
}

const fn req(name: &'static str, ty: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
        doc,
    }
}

const fn opt(name: &'static str, ty: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        doc,
    }
}

/// Pipeline settings (`name = value` directly inside `pipeline { … }`).
pub const PIPELINE: &[Field] = &[
    opt(
        "repo",
        "string",
        "Git URL the builds check out; becomes the `git-repo` workflow parameter.",
    ),
    opt(
        "revision",
        "string",
        "Branch, tag or commit the builds check out; defaults to `git.sha` (`HEAD` unless a trigger or the submitter sets `git-sha`).",
    ),
    opt(
        "service_account",
        "string",
        "Kubernetes ServiceAccount the workflow's pods run as.",
    ),
    opt(
        "webhook_token",
        "secret key",
        "Bearer token the `on push` webhook requires in its `Authorization` header.",
    ),
];

/// Properties every step and image action accepts.
pub const NODE_COMMON: &[Field] = &[
    opt(
        "when",
        "condition",
        "Run only if this holds; step results go to Argo `depends`, data tests to `when`.",
    ),
    opt(
        "after",
        "list<step>",
        "Steps that must have succeeded first, beyond those this one references.",
    ),
    opt(
        "retries",
        "int",
        "Retry a failed attempt this many times, with exponential backoff.",
    ),
    opt(
        "timeout",
        "duration",
        "Fail the step if it has not finished in this time.",
    ),
    opt(
        "irreversible",
        "bool",
        "Marks a step whose effect rollback cannot undo (a migration).",
    ),
];

/// `image X = build "context" { … }`.
pub const BUILD: &[Field] = &[
    req(
        "repo",
        "string",
        "Repository to push the built image to, without a tag.",
    ),
    opt(
        "tag",
        "string",
        "Tag of the built image; defaults to `run.id`, unique per run.",
    ),
    opt(
        "dockerfile",
        "string",
        "Dockerfile path relative to the context; defaults to `Dockerfile`.",
    ),
    opt(
        "cache",
        "string",
        "Image to reuse layers from (e.g. the previous `:latest`).",
    ),
    opt("args", "record<string>", "Build arguments (`--build-arg`)."),
    opt(
        "auth",
        "secret",
        "Registry credentials: a secret with `username` and `password`.",
    ),
    opt(
        "inputs",
        "list<output>",
        "Other steps' outputs (`STEP.NAME`), placed in the checkout where they were made.",
    ),
];

/// `image X = push IMAGE { … }`.
pub const PUSH: &[Field] = &[
    req(
        "to",
        "string",
        "Repository to copy the image to, without a tag.",
    ),
    opt(
        "tag",
        "string",
        "Tag in the target repository; defaults to the source image's tag.",
    ),
    opt(
        "auth",
        "secret",
        "Credentials for the target registry: `username` and `password`.",
    ),
    opt(
        "from_auth",
        "secret",
        "Credentials for the source registry, if it needs any.",
    ),
];

/// `step X = run IMAGE { … }`.
pub const RUN: &[Field] = &[
    req(
        "command",
        "string",
        "Shell command (or script) run with `sh -c` in the image.",
    ),
    opt(
        "env",
        "record<string | secret key>",
        "Environment variables; secret keys are passed by reference.",
    ),
    opt(
        "workdir",
        "string",
        "Working directory inside the container; relative to the checkout with `checkout`.",
    ),
    opt(
        "checkout",
        "bool",
        "Check out the pipeline's repository into /workspace and start there.",
    ),
    opt(
        "outputs",
        "record<string>",
        "Files or directories to hand on, `{ NAME = \"path\" }`; relative to the working directory.",
    ),
    opt(
        "inputs",
        "list<output>",
        "Other steps' outputs (`STEP.NAME`), placed where they were made before this step starts.",
    ),
];

/// `service X { … }`.
pub const SERVICE: &[Field] = &[
    req(
        "image",
        "image",
        "The image to run: a built or pushed image, or an image name.",
    ),
    req("port", "int", "Port the container listens on."),
    opt("replicas", "int", "Number of pods; defaults to 1."),
    opt(
        "ready",
        "probe",
        "Readiness probe: `http_get(path)`, `tcp()` or `exec(command)`.",
    ),
    opt(
        "live",
        "probe",
        "Liveness probe: `http_get(path)`, `tcp()` or `exec(command)`.",
    ),
    opt(
        "env",
        "record<string | secret key>",
        "Environment variables; secret keys are passed by reference.",
    ),
    opt(
        "command",
        "list<string>",
        "The program to start instead of the image's entrypoint, one word per item: `[\"/app/server\"]`.",
    ),
    opt(
        "args",
        "list<string>",
        "Arguments to the program, one word per item: `[\"--db-host\", \"db\"]`; no shell reads them.",
    ),
    opt(
        "service_account",
        "string",
        "The ServiceAccount its pods run as; the namespace's `default` when unset.",
    ),
    opt(
        "pull_secrets",
        "list<secret>",
        "Declared secrets (registry credentials) the image is pulled with: `[regcred]`.",
    ),
    opt(
        "expose",
        "exposure",
        "How the Service is reached: `cluster_ip(port)`, `load_balancer(port)`, `node_port(port)`.",
    ),
    opt(
        "resources",
        "record<string>",
        "`cpu`, `memory` requests and `cpu_limit`, `memory_limit`.",
    ),
    opt(
        "environment",
        "environment",
        "Where the service runs; by default, the namespace the resources are applied to.",
    ),
];

/// `environment X { … }`.
pub const ENVIRONMENT: &[Field] = &[
    opt(
        "namespace",
        "string",
        "The Kubernetes namespace of a long-lived environment.",
    ),
    opt(
        "ephemeral",
        "bool",
        "Make a fresh namespace for each run and delete it when the run ends, whatever its outcome.",
    ),
    opt(
        "kubeconfig",
        "secret key",
        "A kubeconfig for another cluster: the environment lives there, and the steps acting on it use it.",
    ),
];

/// Settings every release accepts.
pub const RELEASE_COMMON: &[Field] = &[
    opt(
        "timeout",
        "duration",
        "How long the pipeline waits for the rollout to reach each stage; defaults to 30m.",
    ),
    opt(
        "after",
        "list<step>",
        "Steps that must succeed before the release starts.",
    ),
    opt(
        "min_ready",
        "duration",
        "How long a new pod must be ready before it counts as available.",
    ),
];

/// Pod sizing of canary and rolling releases.
pub const SIZING: &[Field] = &[
    opt(
        "max_surge",
        "int | percent",
        "Pods above the desired count during an update; defaults to 1.",
    ),
    opt(
        "max_unavailable",
        "int | percent",
        "Pods below the desired count during an update; defaults to 0.",
    ),
    opt(
        "background_analysis",
        "analysis call",
        "An analysis that runs from the first traffic shift to the end; its failure aborts the release.",
    ),
];

/// `release X canary { … }` settings.
pub const CANARY: &[Field] = &[
    opt(
        "isolated",
        "bool",
        "The canary gets no production traffic (only its own Service reaches it) until a `join` stage.",
    ),
    opt(
        "traffic",
        "traffic router",
        "Exact weights through `nginx(host = …)`, `nginx(ingress = …)`, `istio(virtual_service = …)` or `smi()`.",
    ),
    opt(
        "scale_down_delay",
        "duration",
        "With a traffic router: how long the old pods stay up after the update, as an instant rollback target; defaults to 30s.",
    ),
];

/// `release X rolling { … }` settings.
pub const ROLLING: &[Field] = &[
    opt(
        "batch",
        "int",
        "Replace this many pods at a time; without it the update rolls continuously.",
    ),
    opt("batch_pause", "duration", "Pause between batches."),
];

/// `release X bluegreen { … }` settings.
pub const BLUEGREEN: &[Field] = &[
    opt(
        "scale_down_delay",
        "duration",
        "How long the old version stays up after the switch, as an instant rollback target; defaults to 30s.",
    ),
    opt(
        "preview_replicas",
        "int",
        "Pods of the new version before the switch, for its checks and analyses; all of them by default. Scaled to full size just before the switch.",
    ),
];

/// The stages each strategy accepts, for messages.
pub const CANARY_STAGES: &[&str] = &[
    "weight", "replicas", "pause", "check", "analyze", "approve", "join",
];
pub const ROLLING_STAGES: &[&str] = &["check", "approve"];
pub const BLUEGREEN_STAGES: &[&str] = &["check", "analyze", "approve", "switch"];

/// `check run IMAGE { … }`: a one-shot pod against the new version.
pub const RUN_CHECK: &[Field] = &[
    req(
        "command",
        "string",
        "Shell command run with `sh -c` in the image; SERVICE_URL, CANARY_URL and PREVIEW_URL point at the Services.",
    ),
    opt(
        "env",
        "record<string | secret key>",
        "Environment variables; secret keys are passed by reference.",
    ),
    opt(
        "retries",
        "int",
        "Retry the command this many times before the check fails.",
    ),
    opt(
        "timeout",
        "duration",
        "Fail the check if the command has not finished in this time.",
    ),
];

/// `check exec "command" { … }`.
pub const EXEC_CHECK: &[Field] = &[
    opt(
        "retries",
        "int",
        "Retry the command this many times before the check fails.",
    ),
    opt(
        "timeout",
        "duration",
        "Fail the check if the command has not finished in this time.",
    ),
];

/// `metric X { … }` inside an analysis.
pub const METRIC: &[Field] = &[
    opt("every", "duration", "Time between measurements."),
    opt(
        "times",
        "int",
        "Number of measurements; without it the metric runs until the release ends.",
    ),
    opt(
        "failure_limit",
        "int",
        "Failed measurements tolerated before the analysis fails.",
    ),
    opt(
        "inconclusive_limit",
        "int",
        "Inconclusive measurements tolerated before the rollout pauses.",
    ),
    opt(
        "initial_delay",
        "duration",
        "Wait before the first measurement.",
    ),
    opt(
        "prometheus",
        "record",
        "Query Prometheus: `{ address = …, query = … }`.",
    ),
    opt(
        "web",
        "record",
        "Call a URL: `{ url = …, json_path = \"{$.data.ok}\", timeout = 10s }`; the JSON value is `result`.",
    ),
    opt(
        "job",
        "record",
        "Run a Job: `{ image = …, command = … }`; the measurement succeeds when the Job does.",
    ),
    opt(
        "success",
        "condition",
        "Measurement succeeds if this holds; `result` is the measured value.",
    ),
    opt(
        "failure",
        "condition",
        "Measurement fails if this holds; `result` is the measured value.",
    ),
];

/// `web = { … }` inside a metric.
pub const WEB: &[Field] = &[
    req(
        "url",
        "string",
        "URL to GET; `${param}` inserts an analysis parameter.",
    ),
    opt(
        "json_path",
        "string",
        "JSONPath of the measured value in the answer, e.g. `{$.data.ok}`.",
    ),
    opt("timeout", "duration", "Request timeout; defaults to 10s."),
];

/// `job = { … }` inside a metric.
pub const JOB: &[Field] = &[
    req("image", "string", "Image of the Job's container."),
    req(
        "command",
        "string",
        "Shell command run with `sh -c`; `${param}` reads an analysis parameter.",
    ),
];

/// `prometheus = { … }` inside a metric.
pub const PROMETHEUS: &[Field] = &[
    req("address", "string", "Prometheus base URL."),
    req(
        "query",
        "string",
        "PromQL query returning one value; `${param}` inserts an analysis parameter.",
    ),
];

/// `resources = { … }` inside a service.
pub const RESOURCES: &[Field] = &[
    opt("cpu", "string", "CPU request, e.g. `250m`."),
    opt("memory", "string", "Memory request, e.g. `256Mi`."),
    opt("cpu_limit", "string", "CPU limit."),
    opt("memory_limit", "string", "Memory limit."),
];

/// The built-in value namespaces and their fields.
pub const RUN_FIELDS: &[(&str, &str)] = &[
    ("id", "unique id of this run (the workflow's UID)"),
    ("name", "name of this run (the workflow's name)"),
    ("namespace", "namespace the run executes in"),
    ("timestamp", "creation time of the run as YYYYMMDDHHMMSS"),
];

pub const GIT_FIELDS: &[(&str, &str)] = &[
    ("sha", "commit being built (workflow parameter `git-sha`)"),
    ("short_sha", "first 7 characters of the commit"),
    (
        "branch",
        "branch that triggered the run (workflow parameter `git-branch`)",
    ),
    (
        "tag",
        "tag that triggered the run (workflow parameter `git-tag`)",
    ),
    ("repo", "repository URL (workflow parameter `git-repo`)"),
];

/// The actions that make images and steps.
pub const IMAGE_ACTIONS: &[&str] = &["build", "push"];
pub const STEP_ACTIONS: &[&str] = &["run", "exec"];

/// `step X = exec SERVICE { … }`.
pub const EXEC: &[Field] = &[req(
    "command",
    "string",
    "Shell command run with `sh -c` inside a running pod of the service, after its release.",
)];
