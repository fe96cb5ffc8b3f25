//! Command-line interface: `pipec check`, `pipec compile`, `pipec explain`, and the verbs
//! that act on a cluster (`run`, `watch`, `status`, `approve`, `abort`, `rollback`, in
//! `cluster_cli.rs`).
//!
//! Exit codes of `check` and `compile`: 0 success, 1 the program has errors (or an output
//! could not be written), 2 usage errors (bad arguments, unreadable input files). The cluster
//! verbs document theirs in `cluster_cli.rs`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::{Context, IntoDiagnostic, miette};
use pipec_argo_model::contract::labels;
use pipec_core::render::{RenderOptions, SarifInput, render_human, render_json, render_sarif};
use pipec_core::{Code, Compilation, Mode};
use pipec_files::Project;

use crate::cluster_cli::{self, ClusterArgs, Verb};

#[derive(Parser, Debug)]
#[command(
    name = "pipec",
    version,
    about = "Compile typed .pipe delivery pipelines to Argo Workflows and Argo Rollouts",
    long_about = "pipec compiles .pipe files — build, test, push, canary, gates, promotion, rollback — \
                  to Argo Workflows, Argo Rollouts and Kubernetes YAML, and reports every mistake \
                  against the line that made it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check files for errors without writing anything.
    Check {
        /// `.pipe` files, or directories to search for them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Compile files to Argo YAML.
    Compile {
        /// `.pipe` files, or directories to search for them (compiled in parallel).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where to write: a directory (one file per resource), or `-` for standard output.
        #[arg(short, long, default_value = "-")]
        output: String,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite files in the canonical layout; without FILE, standard input to standard output.
    Fmt {
        /// `.pipe` files, or directories to search for them.
        files: Vec<PathBuf>,
        /// Change nothing; list the files that are not formatted and exit 1 if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Run the language server on standard input and output (LSP 3.17), for editors.
    Lsp,
    /// Explain a diagnostic code, e.g. `pipec explain E0101`, or the standard library:
    /// `pipec explain std`, `std.analysis`, `std.analysis.success_rate`.
    Explain {
        /// The code, such as E0101 or W0001.
        code: String,
    },
    /// What a run will do, before it runs: steps, what happens when the run ends, and each
    /// release's stages as traffic and pod counts. Nothing is applied.
    Plan {
        /// The `.pipe` file of the pipeline.
        file: PathBuf,
        /// A run parameter, e.g. `--param version=v1.2`; repeatable.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = cluster_cli::parse_pair)]
        params: Vec<(String, String)>,
        /// The branch the run is for (the `git-branch` parameter).
        #[arg(long)]
        branch: Option<String>,
        /// The git tag the run is for (the `git-tag` parameter).
        #[arg(long)]
        tag: Option<String>,
        /// A step that fails, by its name in the file; repeatable.
        #[arg(long = "fail", value_name = "STEP")]
        fail: Vec<String>,
        /// An analysis whose every measurement fails, by its name in the file (or its
        /// AnalysisTemplate's); repeatable. The update it gates aborts.
        #[arg(long = "fail-analysis", value_name = "ANALYSIS")]
        fail_analysis: Vec<String>,
        /// Nobody approves: the run waits at its first approval.
        #[arg(long)]
        no_approval: bool,
        /// `text` (default) or `json`.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
    },
    /// Compile, apply the Services, Rollouts and AnalysisTemplates, start the run and follow
    /// it to its end (exit 0 succeeded, 1 failed, 2 compile error, 3 cluster unusable).
    Run {
        /// The `.pipe` file of the pipeline.
        file: PathBuf,
        /// A run parameter, e.g. `--param git-branch=master`; repeatable.
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE", value_parser = cluster_cli::parse_pair)]
        params: Vec<(String, String)>,
        /// Print what would be applied; with a reachable cluster, have its API server validate
        /// it (server-side dry run). Nothing is submitted.
        #[arg(long)]
        dry_run: bool,
        /// The kubeconfig context of an environment in another cluster, e.g.
        /// `--env-context edge=edge-admin`; repeatable.
        #[arg(long = "env-context", value_name = "ENV=CONTEXT", value_parser = cluster_cli::parse_pair)]
        env_contexts: Vec<(String, String)>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Follow a run again (after Ctrl-C, or one a trigger started) until it ends.
    Watch {
        /// The run: its Workflow's name.
        run: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// The recent runs, or one run's steps, waiting approvals and Rollouts.
    Status {
        /// The run: its Workflow's name. Without it, every run pipec started.
        run: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Approve a run's waiting manual approvals (only GATE's, if given).
    Approve {
        run: String,
        /// The approval step, as `pipec status` names it.
        gate: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Stop a run: its exit handler still collects diagnostics and rolls back, and the
    /// Rollouts it changed are aborted at once.
    Abort {
        run: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Return a service to its previous revision, a revision number, an earlier run's image or
    /// an image, through its pipeline's rollback template; then follow that run.
    Rollback {
        /// The service (its Rollout's name).
        service: String,
        /// A revision number, a run's name or an image reference; the previous revision by
        /// default.
        #[arg(long, value_name = "RUN|REVISION|IMAGE")]
        to: Option<String>,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

/// How `pipec plan` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Annotated source snippets.
    Human,
    /// One JSON object per diagnostic, per line.
    Json,
    /// A SARIF 2.1.0 log, for code-scanning tools.
    Sarif,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(Failure::Usage(report)) => {
            eprintln!("{report:?}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(report)) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(miette::Report),
    Failed(miette::Report),
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let (verb, cluster) = match cli.command {
        Command::Run {
            file,
            params,
            dry_run,
            env_contexts,
            cluster,
        } => (
            Verb::Run {
                file,
                params,
                dry_run,
                env_contexts,
            },
            cluster,
        ),
        Command::Watch { run, cluster } => (Verb::Watch { run }, cluster),
        Command::Status { run, cluster } => (Verb::Status { run }, cluster),
        Command::Approve { run, gate, cluster } => (Verb::Approve { run, gate }, cluster),
        Command::Abort { run, cluster } => (Verb::Abort { run }, cluster),
        Command::Rollback {
            service,
            to,
            cluster,
        } => (Verb::Rollback { service, to }, cluster),
        compiler => return compiler_verb(compiler),
    };
    Ok(cluster_cli::execute(verb, &cluster))
}

fn compiler_verb(command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Explain { code } => explain(&code),
        Command::Lsp => match pipec_lsp::run_stdio() {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => Err(Failure::Failed(miette!("language server: {e}"))),
        },
        Command::Fmt { files, check } => crate::fmt::run(&files, check).map_err(Failure::Usage),
        Command::Check { files, format } => {
            let results = compile_all(&files, Mode::Check)?;
            Ok(report(&borrowed(&results), format))
        }
        Command::Compile {
            files,
            output,
            format,
        } => {
            let results = compile_all(&files, Mode::Compile)?;
            let code = report(&borrowed(&results), format);
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            if output == "-" {
                write_stdout(&results).map_err(Failure::Failed)?;
            } else {
                write_dir(Path::new(&output), &results).map_err(Failure::Failed)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            file,
            params,
            branch,
            tag,
            fail,
            fail_analysis,
            no_approval,
            format,
        } => {
            let context = pipec_core::plan::Context {
                approved: !no_approval,
                failing: fail.iter().map(|s| pipec_core::names::kebab(s)).collect(),
                parameters: params.into_iter().collect(),
                failing_analyses: Default::default(),
            };
            let git = [("git-branch", branch), ("git-tag", tag)]
                .into_iter()
                .filter_map(|(name, value)| Some((name.to_string(), value?)))
                .collect();
            plan(&file, context, &fail_analysis, git, format)
        }
        _ => Ok(ExitCode::from(2)),
    }
}

/// `pipec plan`: compiles `file`, then asks the model of Argo what a run does in `context`.
/// `git` (from `--branch`, `--tag`) applies where the pipeline reads it; a `--param` the
/// pipeline does not have is a usage error.
fn plan(
    file: &Path,
    mut context: pipec_core::plan::Context,
    fail_analysis: &[String],
    git: Vec<(String, String)>,
    format: PlanFormat,
) -> Result<ExitCode, Failure> {
    let compilation = compile_file(file, Mode::Compile).map_err(Failure::Usage)?;
    if compilation.has_errors() {
        print_diagnostics(file, &compilation, Format::Human);
        return Ok(ExitCode::from(1));
    }
    let mut documents = Vec::new();
    for doc in &compilation.documents {
        let value: serde_json::Value = serde_saphyr::from_str(&doc.yaml).map_err(|e| {
            Failure::Failed(miette!(
                "internal error: {} does not read back: {e}",
                doc.name
            ))
        })?;
        documents.push(value);
    }
    let known: Vec<String> = pipec_core::plan::pipeline_workflow(&documents)
        .and_then(|d| d["spec"]["arguments"]["parameters"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    // The run's own checks (unknown names, `{{`, each param's type, percents as fractions),
    // as `pipec run` makes them.
    let requested: Vec<(String, String)> = context
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let pipeline = documents
        .iter()
        .find_map(|d| d["metadata"]["labels"][labels::PART_OF].as_str())
        .unwrap_or_default()
        .to_string();
    let checked = pipec_runtime::plan(documents.clone(), &pipeline, &requested).map_err(|e| {
        Failure::Usage(match e {
            pipec_runtime::RuntimeError::Invalid(m) => miette!("{m}"),
            other => miette!("{other}"),
        })
    })?;
    for p in checked.run["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(value)) = (p["name"].as_str(), p["value"].as_str())
            && context.parameters.contains_key(name)
        {
            context
                .parameters
                .insert(name.to_string(), value.to_string());
        }
    }
    for (name, value) in git {
        if known.contains(&name) {
            context.parameters.insert(name, value);
        }
    }
    // An analysis by its name in the file (`maintain_success_rate`) is the AnalysisTemplate
    // whose name ends with it (`homelab-ping-maintain-success-rate`).
    let templates: Vec<&str> = documents
        .iter()
        .filter(|d| d["kind"] == "AnalysisTemplate")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    for wanted in fail_analysis {
        let suffix = format!("-{}", pipec_core::names::kebab(wanted));
        let found = templates
            .iter()
            .find(|t| **t == wanted.as_str() || t.ends_with(&suffix))
            .ok_or_else(|| {
                let listed = if templates.is_empty() {
                    "it runs no analyses".to_string()
                } else {
                    format!("its analyses: {}", templates.join(", "))
                };
                Failure::Usage(miette!(
                    "--fail-analysis {wanted}: the pipeline has no analysis `{wanted}`; {listed}"
                ))
            })?;
        context.failing_analyses.insert((*found).to_string());
    }
    let plan = pipec_core::plan::plan(&documents, &context)
        .map_err(|e| Failure::Failed(miette!("cannot plan this pipeline yet: {e}")))?;
    let text = match format {
        PlanFormat::Text => plan.text(),
        PlanFormat::Json => serde_json::to_string_pretty(&plan)
            .map(|j| j + "\n")
            .map_err(|e| Failure::Failed(miette!("{e}")))?,
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn explain(code: &str) -> Result<ExitCode, Failure> {
    if code == "std" || code.starts_with("std.") {
        let Some(text) = pipec_core::stdlib_docs::reference(code) else {
            let modules: Vec<String> = pipec_core::stdlib::MODULES
                .iter()
                .map(|(m, _)| format!("std.{m}"))
                .collect();
            return Err(Failure::Usage(miette!(
                help = format!(
                    "modules: {}; `pipec explain std` lists everything",
                    modules.join(", ")
                ),
                "the standard library has no `{code}`"
            )));
        };
        let _ = write!(std::io::stdout().lock(), "{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let Some(code) = Code::parse(code) else {
        let known: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        return Err(Failure::Usage(miette!(
            help = format!("known codes: {}", known.join(", ")),
            "there is no diagnostic code `{code}`"
        )));
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: {}\n\n{}",
        code.as_str(),
        code.title(),
        code.explanation()
    );
    Ok(ExitCode::SUCCESS)
}

/// Compiles the files (directories stand for the `.pipe` files under them) on every core,
/// each file on its own: the results, in the order of the files, are the same bytes as
/// compiling them one by one; the first unreadable file, in that order, is the error. Then
/// checks what they emit together: objects two files would both generate are errors of the
/// later file, in `check` as in `compile`.
fn compile_all(paths: &[PathBuf], mode: Mode) -> Result<Vec<(PathBuf, Compilation)>, Failure> {
    let files = crate::fmt::pipe_files(paths).map_err(Failure::Usage)?;
    if files.is_empty() {
        let given: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Failure::Usage(miette!(
            "no `.pipe` files in {}",
            given.join(", ")
        )));
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len());
    // Each worker takes the next file not yet taken and keeps what it compiled, by index.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<miette::Result<Compilation>>> =
        std::iter::repeat_with(|| None).take(files.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(pipec_core::COMPILER_STACK)
                    .spawn_scoped(scope, || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(file) = files.get(i) else { break };
                            let mut compiled = compile_file(file, mode);
                            if let Ok(compilation) = compiled.as_mut() {
                                compilation.drop_model();
                            }
                            done.push((i, compiled));
                        }
                        done
                    })
            })
            .collect();
        for handle in handles.into_iter().flatten() {
            for (i, compiled) in handle.join().unwrap_or_default() {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(compiled);
                }
            }
        }
    });
    let mut compilations = Vec::with_capacity(files.len());
    for (file, result) in files.iter().zip(results) {
        match result {
            Some(Ok(compilation)) => compilations.push(compilation),
            Some(Err(e)) => return Err(Failure::Usage(e)),
            None => {
                return Err(Failure::Failed(miette!(
                    "{} was not compiled (a worker thread stopped)",
                    file.display()
                )));
            }
        }
    }
    pipec_core::check_across(&mut compilations);
    Ok(files.into_iter().zip(compilations).collect())
}

/// Compiles one file from disk, its imports relative to it and confined to its project
/// (`pipec-files`); the error is an unreadable file.
pub(crate) fn compile_file(file: &Path, mode: Mode) -> miette::Result<Compilation> {
    let cannot_read = |reason: String| miette!("cannot read {}: {reason}", file.display());
    let bytes =
        pipec_files::read_source(file).map_err(|e| cannot_read(pipec_files::describe(&e)))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let project = Project::of_entry(file).map_err(|e| cannot_read(e.to_string()))?;
    Ok(pipec_core::compile(&name, &bytes, &project, mode))
}

fn borrowed(results: &[(PathBuf, Compilation)]) -> Vec<(&Path, &Compilation)> {
    results.iter().map(|(p, c)| (p.as_path(), c)).collect()
}

/// Prints one compilation's diagnostics to stderr, as `check` does.
pub(crate) fn print_diagnostics(file: &Path, compilation: &Compilation, format: Format) {
    let _ = report(&[(file, compilation)], format);
}

/// Prints diagnostics to stderr; returns the exit code the results deserve.
fn report(results: &[(&Path, &Compilation)], format: Format) -> ExitCode {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut stderr = std::io::stderr().lock();
    let mut failed = false;
    if format == Format::Sarif {
        let inputs: Vec<SarifInput<'_>> = results
            .iter()
            .map(|(_, c)| SarifInput {
                diagnostics: &c.diagnostics,
                sources: &c.sources,
            })
            .collect();
        let _ = stderr.write_all(render_sarif(&inputs, env!("CARGO_PKG_VERSION")).as_bytes());
    }
    for (file, compilation) in results {
        let text = match format {
            Format::Human => render_human(
                &compilation.diagnostics,
                &compilation.sources,
                RenderOptions { color },
            ),
            Format::Json => render_json(&compilation.diagnostics, &compilation.sources),
            Format::Sarif => String::new(),
        };
        let _ = stderr.write_all(text.as_bytes());
        if let Some(internal) = &compilation.internal_error {
            let _ = writeln!(
                stderr,
                "internal compiler error in {}: {internal}\nthis is a bug in pipec; please report it with the input file",
                file.display()
            );
        }
        let errors = compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        let warnings = compilation.diagnostics.len() - errors;
        if compilation.has_errors() {
            failed = true;
            if format == Format::Human {
                let _ = writeln!(
                    stderr,
                    "error: {} has {errors} error{}{}",
                    file.display(),
                    if errors == 1 { "" } else { "s" },
                    if warnings > 0 {
                        format!(
                            " and {warnings} warning{}",
                            if warnings == 1 { "" } else { "s" }
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_stdout(results: &[(PathBuf, Compilation)]) -> miette::Result<()> {
    let yaml: Vec<String> = results
        .iter()
        .map(|(_, c)| c.yaml())
        .filter(|y| !y.is_empty())
        .collect();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(yaml.join("---\n").as_bytes())
        .and_then(|()| stdout.flush())
        .into_diagnostic()
        .wrap_err("cannot write to standard output")
}

/// Writes one file per document into `dir`, all at once (`pipec_files::output`): the new set
/// replaces what pipec wrote there before, atomically, and nothing else in `dir` is touched.
fn write_dir(dir: &Path, results: &[(PathBuf, Compilation)]) -> miette::Result<()> {
    let files: Vec<(String, Vec<u8>)> = results
        .iter()
        .flat_map(|(_, c)| &c.documents)
        .map(|doc| (doc.file_name(), doc.yaml.clone().into_bytes()))
        .collect();
    pipec_files::output::write_dir(dir, &files).map_err(|e| match e {
        pipec_files::output::OutputError::Duplicate(name) => miette!(
            help = "compile the files into separate directories",
            "two documents would both be written to {}",
            dir.join(name).display()
        ),
        other => miette!("cannot write {}: {other}", dir.display()),
    })
}
