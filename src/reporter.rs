//! How the cluster verbs tell the user what happens: live lines on a terminal, plain lines in
//! a log, one JSON object per line for CI (`--output json`).
//!
//! Human output goes to standard output; failures of pipec itself go to standard error. A
//! failed step is shown against the `.pipe` line that generated it when that file is at hand.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipec_argo_model::contract::labels;
use pipec_core::SourceDb;
use pipec_core::render::{RenderOptions, render_at_location};
use pipec_runtime::progress::rollout_summary;
use pipec_runtime::{Event, Outcome, Step, describe};
use serde_json::{Value, json};

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Lines for people: live on a terminal, plain otherwise.
    Human,
    /// One JSON event per line.
    Json,
}

/// Prints progress in the chosen form.
pub struct Reporter {
    json: bool,
    /// On a terminal: one live line per running step, under the finished ones.
    live: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
    color: bool,
    /// The `.pipe` files of the run, to show failures against; `None` reads them from the
    /// working directory by the names in the annotations.
    sources: Option<SourceDb>,
    /// The run, for the hints (`pipec approve RUN`).
    run: String,
    /// The run's namespace, for the hints that name it.
    namespace: String,
    /// Where to read the `.pipe` files annotations name, without `sources`.
    source_dir: PathBuf,
}

impl Reporter {
    pub fn new(args: &crate::cluster_cli::ClusterArgs, sources: Option<SourceDb>) -> Reporter {
        let output = args.output;
        let terminal = std::io::stdout().is_terminal();
        let json = output == Output::Json;
        Reporter {
            json,
            live: (terminal && !json)
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout())),
            bars: BTreeMap::new(),
            color: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            sources,
            run: String::new(),
            namespace: String::new(),
            source_dir: args.source.clone().unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// A line for people, or a JSON event.
    fn emit(&self, text: &str, event: Value) {
        if self.json {
            self.print(&event.to_string());
        } else {
            self.print(text);
        }
    }

    fn print(&self, line: &str) {
        match &self.live {
            Some(live) => {
                let _ = live.println(line);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }

    pub fn note(&self, text: &str) {
        self.emit(text, json!({"event": "note", "message": text}));
    }

    pub fn applied(&self, object: &Value, dry_run: bool) {
        let what = describe(object);
        let verb = if dry_run { "validated" } else { "applied" };
        self.emit(
            &format!("{verb} {what}"),
            json!({"event": verb, "kind": object["kind"], "name": object["metadata"]["name"],
                   "namespace": object["metadata"]["namespace"]}),
        );
    }

    pub fn submitted(&mut self, run: &str, namespace: &str) {
        self.run = run.to_string();
        self.namespace = namespace.to_string();
        self.emit(
            &format!(
                "run {run} started in namespace {namespace}; Ctrl-C detaches, `pipec watch {run}` re-attaches"
            ),
            json!({"event": "submitted", "run": run, "namespace": namespace}),
        );
    }

    pub fn attached(&mut self, run: &str, namespace: &str) {
        self.run = run.to_string();
        self.namespace = namespace.to_string();
        self.emit(
            &format!("following run {run}"),
            json!({"event": "attached", "run": run}),
        );
    }

    pub fn event(&mut self, event: Event) {
        if self.json {
            self.print(&event.to_json().to_string());
            return;
        }
        match event {
            Event::Started(step) => {
                if let Some(live) = &self.live {
                    let bar = live.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<28} running {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(step.name.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    self.bars.insert(step.id.clone(), bar);
                } else {
                    self.print(&format!("{:<9} {}", "started", step.name));
                }
            }
            Event::AwaitingApproval(step) => {
                let mut text = format!(
                    "{:<9} {} waits for approval: `pipec approve {} {}`",
                    "waiting", step.name, self.run, step.name
                );
                if let Some(reason) = &step.approval {
                    text.push_str(&format!("\n{:<9} {reason}", ""));
                }
                if let Some(bar) = self.bars.get(&step.id) {
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:<28} {msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message("waiting for approval");
                }
                self.print(&text);
            }
            Event::Finished(step) => {
                let line = finished_line(&step);
                match self.bars.remove(&step.id) {
                    Some(bar) => {
                        bar.finish_and_clear();
                        self.print(&line);
                    }
                    None => self.print(&line),
                }
            }
            Event::Rollout { name, summary } => {
                self.print(&format!("{:<9} {name}: {summary}", "rollout"));
            }
        }
    }

    /// The end of a run: its phase, and each failed step against its source.
    pub fn outcome(&mut self, outcome: &Outcome) {
        for bar in std::mem::take(&mut self.bars).into_values() {
            bar.finish_and_clear();
        }
        if self.json {
            let failed: Vec<Value> = outcome
                .steps
                .iter()
                .filter(|s| s.failed())
                .map(Step::to_json)
                .collect();
            self.print(
                &json!({"event": "finished", "run": self.run, "phase": outcome.phase,
                        "message": outcome.message, "failedSteps": failed})
                .to_string(),
            );
            return;
        }
        let mut text = format!("run {} {}", self.run, outcome.phase.to_lowercase());
        if let Some(message) = &outcome.message {
            text.push_str(&format!(": {message}"));
        }
        self.print(&text);
        for step in outcome.steps.iter().filter(|s| s.failed()) {
            self.print(&self.failure(step));
        }
    }

    /// A failed step: its message drawn on its `.pipe` line, else with the location.
    fn failure(&self, step: &Step) -> String {
        let title = format!("step `{}` {}", step.name, step.phase.to_lowercase());
        let label = step.message.as_deref().unwrap_or("this step failed");
        let help = format!(
            "its logs: `kubectl logs -n {} -l workflows.argoproj.io/workflow={} --all-containers`",
            self.namespace, self.run
        );
        let drawn = step.source.as_deref().and_then(|location| {
            let from_disk;
            let sources = match &self.sources {
                Some(sources) => sources,
                None => {
                    from_disk = sources_from_disk(&self.source_dir, location)?;
                    &from_disk
                }
            };
            render_at_location(
                sources,
                location,
                &title,
                label,
                Some(&help),
                RenderOptions { color: self.color },
            )
        });
        drawn.unwrap_or_else(|| {
            let at = step
                .source
                .as_deref()
                .map(|s| format!("\n  at {s}"))
                .unwrap_or_default();
            format!("error: {title}: {label}{at}\n  help: {help}")
        })
    }

    /// `pipec status`: a run's steps, one line each.
    pub fn run_status(&mut self, run: &Value, steps: &[Step], rollouts: &[Value]) {
        let name = run["metadata"]["name"].as_str().unwrap_or_default();
        self.run = name.to_string();
        self.namespace = run["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let phase = run["status"]["phase"].as_str().unwrap_or("Pending");
        if self.json {
            let steps: Vec<Value> = steps.iter().map(Step::to_json).collect();
            let rollouts: Vec<Value> = rollouts
                .iter()
                .map(|r| json!({"rollout": r["metadata"]["name"], "summary": rollout_summary(r)}))
                .collect();
            self.print(
                &json!({"event": "status", "run": name, "phase": phase,
                        "message": run["status"]["message"], "steps": steps,
                        "rollouts": rollouts})
                .to_string(),
            );
            return;
        }
        self.print(&format!("run {name}: {phase}"));
        let now = pipec_runtime::now_rfc3339();
        for step in steps {
            let state = if step.awaits_approval() {
                "waiting for approval".to_string()
            } else {
                step.phase.to_lowercase()
            };
            let duration = step
                .duration(Some(&now))
                .map(|d| format!(" ({})", seconds(d)))
                .unwrap_or_default();
            self.print(&format!("  {:<28} {state}{duration}", step.name));
        }
        for rollout in rollouts {
            let rname = rollout["metadata"]["name"].as_str().unwrap_or_default();
            self.print(&format!("  rollout {rname}: {}", rollout_summary(rollout)));
        }
        if let Some(waiting) = steps.iter().find(|s| s.awaits_approval()) {
            self.print(&format!(
                "approve with `pipec approve {name} {}`",
                waiting.name
            ));
        }
        for step in steps.iter().filter(|s| s.failed()) {
            self.print(&self.failure(step));
        }
    }

    /// `pipec status` without a run: the recent runs.
    pub fn run_list(&self, runs: &[Value]) {
        if self.json {
            for run in runs {
                self.print(
                    &json!({"event": "run", "run": run["metadata"]["name"],
                            "pipeline": run["metadata"]["labels"][labels::PART_OF],
                            "phase": run["status"]["phase"],
                            "startedAt": run["status"]["startedAt"]})
                    .to_string(),
                );
            }
            return;
        }
        if runs.is_empty() {
            self.print("no runs");
            return;
        }
        for run in runs {
            self.print(&format!(
                "{:<36} {:<12} {}",
                run["metadata"]["name"].as_str().unwrap_or_default(),
                run["status"]["phase"].as_str().unwrap_or("Pending"),
                run["status"]["startedAt"].as_str().unwrap_or_default(),
            ));
        }
    }
}

fn finished_line(step: &Step) -> String {
    let ran = !matches!(step.phase.as_str(), "Skipped" | "Omitted");
    let duration = step
        .duration(None)
        .filter(|_| ran)
        .map(|d| format!(" ({})", seconds(d)))
        .unwrap_or_default();
    let message = match (&step.message, step.failed()) {
        (Some(m), true) => format!(": {m}"),
        _ => String::new(),
    };
    format!(
        "{:<9} {}{duration}{message}",
        step.phase.to_lowercase(),
        step.name
    )
}

/// `75` → `1m15s`.
fn seconds(total: i64) -> String {
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// The `.pipe` file a location names, read from `dir`. The location comes from the cluster,
/// so it is read as an import would be: only a `.pipe` file of the project (`pipec-files`).
fn sources_from_disk(dir: &Path, location: &str) -> Option<SourceDb> {
    let name = SourceDb::location_file(location)?;
    let project = pipec_files::Project::of_dir(dir).ok()?;
    let bytes = pipec_core::FileLoader::load(&project, &name).ok()?;
    let text = pipec_files::source_text(bytes).ok()?;
    let mut sources = SourceDb::default();
    sources.add(&name, text, pipec_core::source::Origin::User);
    Some(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file named with `{` is written `%7B` in annotations (Argo would substitute `{{`);
    /// the reporter reads the file by its real name.
    #[test]
    fn a_location_names_its_file_as_it_is_on_disk() {
        let dir = std::env::temp_dir().join(format!("pipec-reporter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pipec.toml"), "").unwrap();
        std::fs::write(
            dir.join("x{{y}}.pipe"),
            "pipeline p {\n  step a = run \"b\" { command = \"c\" }\n}\n",
        )
        .unwrap();
        let sources = sources_from_disk(&dir, "x%7B%7By}}.pipe:2:3").unwrap();
        let span = sources.resolve_location("x%7B%7By}}.pipe:2:3").unwrap();
        assert!(
            sources.slice(span).starts_with("step a"),
            "{}",
            sources.slice(span)
        );
        assert!(sources_from_disk(&dir, "../x.pipe:1:1").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(5), "5s");
        assert_eq!(seconds(75), "1m15s");
        assert_eq!(seconds(3725), "1h02m05s");
    }
}
