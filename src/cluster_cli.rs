//! The verbs that act on a cluster: `run`, `watch`, `status`, `approve`, `abort`, `rollback`.
//!
//! `run` compiles first; then every verb hands JSON objects to `pipec-runtime`, which alone
//! talks to Kubernetes, and prints what happens through a [`Reporter`].
//!
//! Exit codes: 0 the run succeeded (or the action was done), 1 the run failed (or the action
//! was refused), 2 usage or compile errors, 3 the cluster cannot be used (unreachable,
//! unauthorised, Argo not installed, no kubeconfig), 130 detached with Ctrl-C.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pipec_argo_model::contract::{annotations, labels};
use pipec_core::Mode;
use pipec_runtime::rollback::{self, Target};
use pipec_runtime::{Cluster, ConnectOptions, Outcome, RuntimeError};
use serde_json::Value;

use crate::reporter::{Output, Reporter};

const ARGO: &str = "argoproj.io/v1alpha1";

pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const DETACHED: u8 = 130;

/// How to reach the cluster and how to print, shared by every verb.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// The kubeconfig context (`KUBECONFIG`, else `~/.kube/config`); its current one by
    /// default.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace of the run; the context's by default.
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
    /// How long to keep retrying when the cluster does not answer before giving up (exit 3).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, global = true)]
    pub patience: u64,
    /// How to print progress.
    #[arg(long, value_enum, default_value_t = Output::Human, global = true)]
    pub output: Output,
    /// For `watch`, `status` and `rollback`: where the run's `.pipe` files are (the directory of
    /// the file `pipec run` was given), to draw failed steps on their lines; the working
    /// directory by default. `run` has them already.
    #[arg(long, value_name = "DIR", global = true)]
    pub source: Option<std::path::PathBuf>,
}

/// A verb and its own arguments.
pub enum Verb {
    Run {
        file: std::path::PathBuf,
        params: Vec<(String, String)>,
        dry_run: bool,
        env_contexts: Vec<(String, String)>,
    },
    Watch {
        run: String,
    },
    Status {
        run: Option<String>,
    },
    Approve {
        run: String,
        gate: Option<String>,
    },
    Abort {
        run: String,
    },
    Rollback {
        service: String,
        to: Option<String>,
    },
}

/// Why a verb stopped early.
enum Stop {
    /// Already reported (compile errors); exit with this code.
    Code(u8),
    Runtime(RuntimeError),
    Usage(String),
}

impl From<RuntimeError> for Stop {
    fn from(e: RuntimeError) -> Stop {
        Stop::Runtime(e)
    }
}

pub fn execute(verb: Verb, args: &ClusterArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let result = runtime.block_on(dispatch(verb, args));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Stop::Code(code)) => ExitCode::from(code),
        Err(Stop::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(USAGE)
        }
        Err(Stop::Runtime(e)) => {
            eprintln!("error: {e}");
            if let Some(help) = help_for(&e) {
                eprintln!("  help: {help}");
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(FAILED))
        }
    }
}

fn help_for(e: &RuntimeError) -> Option<&'static str> {
    match e {
        RuntimeError::Unreachable { .. } => Some(
            "check the context (`kubectl config current-context`) and that the API server is up; \
             --patience sets how long pipec keeps trying",
        ),
        RuntimeError::Forbidden { .. } => {
            Some("the context's user needs rights on Argo's resources in this namespace")
        }
        RuntimeError::MissingCrd { .. } => {
            Some("install it in the cluster first; tests/e2e/README.md shows how")
        }
        RuntimeError::Config(_) => Some("set KUBECONFIG or --context to a cluster you can reach"),
        _ => None,
    }
}

async fn connect(args: &ClusterArgs, context: Option<String>) -> Result<Cluster, RuntimeError> {
    Cluster::connect(&ConnectOptions {
        context: context.or_else(|| args.context.clone()),
        namespace: args.namespace.clone(),
        patience: Duration::from_secs(args.patience),
    })
    .await
}

async fn dispatch(verb: Verb, args: &ClusterArgs) -> Result<u8, Stop> {
    match verb {
        Verb::Run {
            file,
            params,
            dry_run,
            env_contexts,
        } => run(&file, &params, dry_run, &env_contexts, args).await,
        Verb::Watch { run } => {
            let cluster = connect(args, None).await?;
            let mut reporter = Reporter::new(args, None);
            reporter.attached(&run, cluster.namespace());
            let rollouts = rollouts_of_run(&cluster, &run).await?;
            follow(&cluster, &run, &rollouts, &mut reporter).await
        }
        Verb::Status { run } => status(run, args).await,
        Verb::Approve { run, gate } => {
            let cluster = connect(args, None).await?;
            let approved = pipec_runtime::approve(&cluster, &run, gate.as_deref()).await?;
            let reporter = Reporter::new(args, None);
            for step in approved {
                reporter.note(&format!("approved {step} of run {run}"));
            }
            Ok(0)
        }
        Verb::Abort { run } => {
            let cluster = connect(args, None).await?;
            let aborted = pipec_runtime::abort(&cluster, &run).await?;
            let reporter = Reporter::new(args, None);
            reporter.note(&format!(
                "run {run} stopped; its exit handler still runs (diagnostics, rollback)"
            ));
            for rollout in aborted {
                reporter.note(&format!(
                    "rollout {rollout} aborted: traffic back on the stable version"
                ));
            }
            Ok(0)
        }
        Verb::Rollback { service, to } => {
            let cluster = connect(args, None).await?;
            let target = Target::parse(to.as_deref());
            let workflow = rollback::rollback_run(&cluster, &service, &target).await?;
            let created = cluster.create(&workflow, false).await?;
            let name = created["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut reporter = Reporter::new(args, None);
            reporter.submitted(&name, cluster.namespace());
            let rollouts = rollouts_of_run(&cluster, &name).await?;
            follow(&cluster, &name, &rollouts, &mut reporter).await
        }
    }
}

/// Reads `--param name=value`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

async fn run(
    file: &Path,
    params: &[(String, String)],
    dry_run: bool,
    env_contexts: &[(String, String)],
    args: &ClusterArgs,
) -> Result<u8, Stop> {
    let compilation = crate::cli::compile_file(file, Mode::Compile).map_err(|report| {
        eprintln!("{report:?}");
        Stop::Code(USAGE)
    })?;
    if compilation.has_errors() {
        crate::cli::print_diagnostics(file, &compilation, crate::cli::Format::Human);
        return Err(Stop::Code(USAGE));
    }
    let mut documents = Vec::new();
    for doc in &compilation.documents {
        let value: Value = serde_saphyr::from_str(&doc.yaml).map_err(|e| {
            Stop::Usage(format!(
                "internal error: {} {} does not read back: {e}",
                doc.kind, doc.name
            ))
        })?;
        documents.push(value);
    }
    let pipeline = documents
        .iter()
        .find_map(|d| d["metadata"]["labels"][labels::PART_OF].as_str())
        .unwrap_or_default()
        .to_string();
    let apis = pipec_runtime::required_apis(&documents);
    let plan = pipec_runtime::plan(documents, &pipeline, params).map_err(|e| match e {
        RuntimeError::Invalid(m) => Stop::Usage(m),
        other => Stop::Runtime(other),
    })?;
    // Objects of an environment in another cluster go to that cluster's context.
    let mut here = Vec::new();
    let mut elsewhere: Vec<(String, Vec<Value>)> = Vec::new();
    for object in plan.apply {
        match object["metadata"]["annotations"][annotations::ENVIRONMENT].as_str() {
            None => here.push(object),
            Some(env) => {
                let Some((_, context)) = env_contexts.iter().find(|(e, _)| e == env) else {
                    return Err(Stop::Usage(format!(
                        "{} belongs to environment `{env}`, in another cluster; say which \
                         kubeconfig context reaches it with --env-context {env}=CONTEXT",
                        pipec_runtime::describe(&object)
                    )));
                };
                match elsewhere.iter_mut().find(|(c, _)| c == context) {
                    Some((_, list)) => list.push(object),
                    None => elsewhere.push((context.clone(), vec![object])),
                }
            }
        }
    }
    let mut reporter = Reporter::new(args, Some(compilation.sources));
    if dry_run {
        return dry_run_plan(&here, &elsewhere, &plan.run, &apis, args, &reporter).await;
    }
    let cluster = connect(args, None).await?;
    let apis: Vec<(&str, &str)> = apis.iter().map(|(a, p)| (a.as_str(), p.as_str())).collect();
    cluster.require(&apis).await?;
    let mut rollouts = Vec::new();
    pipec_runtime::apply_all(&cluster, &here, false, |stored| {
        reporter.applied(stored, false);
        if stored["kind"] == "Rollout" {
            let name = stored["metadata"]["name"].as_str().unwrap_or_default();
            if pipec_runtime::progress::first_deploy(stored) {
                reporter.note(&format!(
                    "rollout {name}: first deploy; Argo Rollouts skips canary steps and analyses \
                     on a Rollout's first version, so it goes straight to full"
                ));
            }
            rollouts.push((
                stored["metadata"]["namespace"].as_str().map(str::to_string),
                name.to_string(),
            ));
        }
    })
    .await?;
    for (context, objects) in &elsewhere {
        let remote = connect(args, Some(context.clone())).await?;
        pipec_runtime::apply_all(&remote, objects, false, |stored| {
            reporter.applied(stored, false);
        })
        .await?;
    }
    let created = cluster.create(&plan.run, false).await?;
    let name = created["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    reporter.submitted(&name, cluster.namespace());
    follow(&cluster, &name, &rollouts, &mut reporter).await
}

/// `run --dry-run`: prints what would be applied and created; with a reachable cluster, has
/// the API server validate every object without storing it.
async fn dry_run_plan(
    here: &[Value],
    elsewhere: &[(String, Vec<Value>)],
    run: &Value,
    apis: &[(String, String)],
    args: &ClusterArgs,
    reporter: &Reporter,
) -> Result<u8, Stop> {
    let mut yaml = String::new();
    let all = here
        .iter()
        .chain(elsewhere.iter().flat_map(|(_, o)| o))
        .chain(std::iter::once(run));
    for (i, object) in all.enumerate() {
        if i > 0 {
            yaml.push_str("---\n");
        }
        yaml.push_str(&serde_saphyr::to_string(object).unwrap_or_default());
    }
    if args.output == Output::Json {
        reporter.note("dry run: nothing is submitted");
    } else {
        print!("{yaml}");
    }
    let quick = ClusterArgs {
        patience: args.patience.min(5),
        ..args.clone()
    };
    let cluster = match connect(&quick, None).await {
        Ok(c) => c,
        Err(e) => {
            reporter.note(&format!(
                "dry run: not validated by an API server ({e}); nothing was submitted"
            ));
            return Ok(0);
        }
    };
    let apis: Vec<(&str, &str)> = apis.iter().map(|(a, p)| (a.as_str(), p.as_str())).collect();
    match cluster.require(&apis).await {
        Err(RuntimeError::Unreachable { .. }) => {
            reporter.note("dry run: no cluster answered; not validated, nothing was submitted");
            return Ok(0);
        }
        other => other?,
    }
    pipec_runtime::apply_all(&cluster, here, true, |stored| {
        reporter.applied(stored, true);
    })
    .await?;
    let validated = cluster.create(run, true).await?;
    reporter.applied(&validated, true);
    reporter.note("dry run: the API server accepted everything; nothing was submitted");
    Ok(0)
}

/// The Rollouts a run acts on, from its steps (or its template's, before Argo has copied it).
async fn rollouts_of_run(
    cluster: &Cluster,
    run: &str,
) -> Result<Vec<(Option<String>, String)>, RuntimeError> {
    let workflow = cluster.get(ARGO, "Workflow", None, run).await?;
    let mut rollouts = pipec_runtime::progress::rollouts_of(&workflow);
    if rollouts.is_empty()
        && let Some(template) = workflow["spec"]["workflowTemplateRef"]["name"].as_str()
    {
        let template = cluster
            .get(ARGO, "WorkflowTemplate", None, template)
            .await?;
        rollouts = pipec_runtime::progress::rollouts_of(&template);
    }
    Ok(rollouts)
}

/// Follows a run to its end, or until Ctrl-C, which detaches and leaves the run alone.
async fn follow(
    cluster: &Cluster,
    run: &str,
    rollouts: &[(Option<String>, String)],
    reporter: &mut Reporter,
) -> Result<u8, Stop> {
    let outcome: Result<Outcome, RuntimeError> = {
        let following = pipec_runtime::follow(cluster, None, run, rollouts, |e| reporter.event(e));
        tokio::select! {
            outcome = following => outcome,
            _ = tokio::signal::ctrl_c() => {
                reporter.note(&format!(
                    "detached; run {run} goes on in the cluster. Re-attach with `pipec watch {run}`"
                ));
                return Ok(DETACHED);
            }
        }
    };
    let outcome = outcome?;
    reporter.outcome(&outcome);
    Ok(if outcome.succeeded() { 0 } else { FAILED })
}

async fn status(run: Option<String>, args: &ClusterArgs) -> Result<u8, Stop> {
    let cluster = connect(args, None).await?;
    let mut reporter = Reporter::new(args, None);
    match run {
        None => {
            let runs = pipec_runtime::runs(&cluster, None).await?;
            reporter.run_list(&runs);
            Ok(0)
        }
        Some(run) => {
            let workflow = cluster.get(ARGO, "Workflow", None, &run).await?;
            let steps = pipec_runtime::progress::steps(&workflow);
            let mut rollouts = Vec::new();
            for (namespace, name) in rollouts_of_run(&cluster, &run).await? {
                rollouts.push(
                    cluster
                        .get(ARGO, "Rollout", namespace.as_deref(), &name)
                        .await?,
                );
            }
            reporter.run_status(&workflow, &steps, &rollouts);
            let failed = matches!(
                workflow["status"]["phase"].as_str(),
                Some("Failed" | "Error")
            );
            Ok(if failed { FAILED } else { 0 })
        }
    }
}
