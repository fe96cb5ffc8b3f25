//! Proptest strategies for well-formed `.pipe` programs: a pipeline of one to three services
//! (some starting their own `command` with `args`),
//! each maybe released (a canary of weights, pauses, checks, analyses and approvals, with or
//! without a traffic router; a blue-green with analyses around its switch; a rolling update),
//! steps with `after` edges and conditions, a built image some services run, an `on failure`
//! block. Every program it makes is valid by construction (the property tests assert it), so a
//! shrunk failure is a small valid program that pipec mishandles.

use proptest::prelude::*;

/// One canary stage, before the rules of a canary are applied ([`Program::source`]).
#[derive(Clone, Debug)]
pub enum Stage {
    /// The next weight up (weights only grow).
    Weight,
    Pause(u8),
    Check,
    Approve,
    Analyze {
        every: u8,
        times: u8,
    },
}

#[derive(Clone, Debug)]
pub enum Release {
    Canary {
        router: bool,
        stages: Vec<Stage>,
    },
    BlueGreen {
        before: bool,
        approve: bool,
        after: bool,
        /// One pod of the new version before the switch.
        preview: bool,
    },
    Rolling {
        batch: bool,
        check: bool,
    },
}

#[derive(Clone, Debug)]
pub struct Service {
    /// Runs the pipeline's built image instead of a public one.
    pub built: bool,
    pub ready: bool,
    /// Starts its own program with arguments (`command`, `args`).
    pub program: bool,
    pub release: Option<Release>,
}

#[derive(Clone, Debug)]
pub struct Step {
    /// Indices of earlier steps it waits for (taken modulo its own index).
    pub after: Vec<usize>,
    /// 0: no condition; 1: on `main`; 2: after the previous step failed.
    pub when: u8,
}

#[derive(Clone, Debug)]
pub struct Program {
    pub services: Vec<Service>,
    pub steps: Vec<Step>,
    pub on_failure: bool,
}

fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        3 => Just(Stage::Weight),
        1 => (1u8..30).prop_map(Stage::Pause),
        1 => Just(Stage::Check),
        1 => Just(Stage::Approve),
        1 => (1u8..4, 1u8..5).prop_map(|(every, times)| Stage::Analyze { every, times }),
    ]
}

fn release() -> impl Strategy<Value = Release> {
    prop_oneof![
        3 => (any::<bool>(), prop::collection::vec(stage(), 0..7))
            .prop_map(|(router, stages)| Release::Canary { router, stages }),
        1 => (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(before, approve, after, preview)| Release::BlueGreen { before, approve, after, preview }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(batch, check)| Release::Rolling { batch, check }),
    ]
}

fn service() -> impl Strategy<Value = Service> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(release()),
    )
        .prop_map(|(built, ready, program, release)| Service {
            built,
            ready,
            program,
            release,
        })
}

fn step() -> impl Strategy<Value = Step> {
    (prop::collection::vec(0usize..8, 0..3), 0u8..3).prop_map(|(after, when)| Step { after, when })
}

pub fn program() -> impl Strategy<Value = Program> {
    (
        prop::collection::vec(service(), 1..4),
        prop::collection::vec(step(), 0..5),
        any::<bool>(),
    )
        .prop_map(|(services, steps, on_failure)| Program {
            services,
            steps,
            on_failure,
        })
}

const ANALYSIS: &str = "analysis steady(every: duration = 1m, times: int = 3) {
  metric errors {
    every = every
    times = times
    prometheus = { address = \"http://prometheus:9090\", query = \"sum(rate(http_requests_total{code!~\\\"5..\\\"}[1m]))\" }
    success = result >= 1
  }
}
";

impl Program {
    /// The program as `.pipe` source.
    pub fn source(&self) -> String {
        let mut out = String::new();
        let analyses = self.services.iter().any(|s| match &s.release {
            Some(Release::Canary { stages, .. }) => {
                stages.iter().any(|s| matches!(s, Stage::Analyze { .. }))
            }
            Some(Release::BlueGreen { before, after, .. }) => *before || *after,
            _ => false,
        });
        if analyses {
            out.push_str(ANALYSIS);
        }
        out.push_str("pipeline gen {\n  repo = \"https://example.com/gen.git\"\n");
        let built = self.services.iter().any(|s| s.built);
        if built {
            out.push_str(
                "  image app = build \".\" {\n    repo = \"registry.example.com/gen\"\n    tag  = run.id\n  }\n",
            );
        }
        for (i, step) in self.steps.iter().enumerate() {
            let mut props = vec![format!("command = \"./step-{i} --verbose\"")];
            let mut after: Vec<usize> =
                step.after.iter().filter(|_| i > 0).map(|a| a % i).collect();
            after.sort_unstable();
            after.dedup();
            if !after.is_empty() {
                let names: Vec<String> = after.iter().map(|a| format!("s{a}")).collect();
                props.push(format!("after = [{}]", names.join(", ")));
            }
            match step.when {
                1 => props.push("when = git.branch == \"main\"".to_string()),
                2 if i > 0 => props.push(format!("when = s{}.failed", i - 1)),
                _ => {}
            }
            out.push_str(&format!(
                "  step s{i} = run \"alpine:3.20\" {{ {} }}\n",
                props.join(", ")
            ));
        }
        for (i, service) in self.services.iter().enumerate() {
            let image = if service.built {
                "app"
            } else {
                "\"nginx:1.27\""
            };
            out.push_str(&format!(
                "  service svc{i} {{\n    image    = {image}\n    replicas = 4\n    port     = 8080\n"
            ));
            if service.ready {
                out.push_str("    ready    = http_get(\"/healthz\")\n");
            }
            if service.program {
                out.push_str(
                    "    command  = [\"/app/server\"]\n    args     = [\"--port\", 8080, \"--banner=$(HOME) $$\"]\n",
                );
            }
            out.push_str("  }\n");
            if let Some(release) = &service.release {
                out.push_str(&release_source(i, release));
            }
        }
        if self.on_failure {
            out.push_str("  on failure {\n");
            for (i, service) in self.services.iter().enumerate() {
                if service.release.is_some() {
                    out.push_str(&format!(
                        "    collect diagnostics of svc{i}\n    rollback svc{i}\n"
                    ));
                }
            }
            out.push_str("    step alert = run \"alpine:3.20\" { command = \"./alert\" }\n  }\n");
        }
        out.push_str("}\n");
        out
    }
}

fn analyze(every: u8, times: u8) -> String {
    format!("    analyze steady(every = {every}m, times = {times})\n")
}

/// A release under the rules of its strategy: a canary's first stage sets a weight (checks
/// need pods of the new version, E0306) and its weights grow by a quarter up to 75% (splits
/// of four pods Argo Rollouts reaches without a router, E0303); a rolling update with a check
/// has batches.
fn release_source(i: usize, release: &Release) -> String {
    let mut out = String::new();
    match release {
        Release::Canary { router, stages } => {
            out.push_str(&format!("  release svc{i} canary {{\n"));
            if *router {
                out.push_str(&format!(
                    "    traffic = nginx(host = \"svc{i}.example.com\")\n"
                ));
            }
            let mut weight = 25;
            out.push_str("    weight 25%\n");
            for stage in stages {
                match stage {
                    Stage::Weight if weight < 75 => {
                        weight += 25;
                        out.push_str(&format!("    weight {weight}%\n"));
                    }
                    Stage::Weight => {}
                    Stage::Pause(m) => out.push_str(&format!("    pause {m}m\n")),
                    Stage::Check => out.push_str("    check exec \"./smoke --fast\"\n"),
                    Stage::Approve => out.push_str("    approve \"go on?\"\n"),
                    Stage::Analyze { every, times } => out.push_str(&analyze(*every, *times)),
                }
            }
        }
        Release::BlueGreen {
            before,
            approve,
            after,
            preview,
        } => {
            out.push_str(&format!("  release svc{i} bluegreen {{\n"));
            if *preview {
                out.push_str("    preview_replicas = 1\n");
            }
            if *before {
                out.push_str(&analyze(1, 2));
            }
            if *approve {
                out.push_str("    approve\n");
            }
            out.push_str("    switch\n");
            if *after {
                out.push_str(&analyze(2, 1));
            }
        }
        Release::Rolling { batch, check } => {
            out.push_str(&format!("  release svc{i} rolling {{\n"));
            // A check runs before the last batch: it needs batches (E0306).
            if *batch || *check {
                out.push_str("    batch       = 2\n    batch_pause = 30s\n");
            }
            if *check {
                out.push_str("    check exec \"./smoke\"\n");
            }
        }
    }
    out.push_str("  }\n");
    out
}

/// A proptest runner of `cases` cases from a fixed seed: the same inputs on every run, so a
/// failure reproduces; none saved to disk.
pub fn deterministic_runner(cases: u32) -> proptest::test_runner::TestRunner {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest::test_runner::TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    )
}

/// Runs `test` on `cases` programs ([`deterministic_runner`]), shrinking a failure to a small
/// program before it is reported.
pub fn check_programs(cases: u32, test: impl Fn(&str) -> Result<(), TestCaseError>) {
    let mut runner = deterministic_runner(cases);
    if let Err(e) = runner.run(&program(), |p| test(&p.source())) {
        panic!("{e}");
    }
}
