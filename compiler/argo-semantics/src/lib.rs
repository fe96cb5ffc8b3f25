//! How Argo Workflows and Argo Rollouts run what pipec emits: a pure, deterministic model of the controller's
//! semantics, for the resources as JSON. It knows nothing of `.pipe`; the compiler, `pipec
//! plan` and the simulated controllers ask it what Argo would do.
//!
//! Each rule names the upstream code it follows, and `tests/conformance.rs` runs the cases of
//! `../shared/argo/conformance/` (taken from Argo's own tests) against it: where the model and
//! a case disagree, the model is wrong.
//!
//! - [`depends`]: a DAG task's `depends`, bare names, `.Omitted` versus `.Skipped`.
//! - [`expr`]: `{{=…}}` expression tags (expr-lang), and the substitution of a `when`'s tags.
//! - [`govaluate`]: a `when` after its tags are substituted, as Argo evaluates it.
//! - [`retry`]: a retried task's phase from its attempts (`retryStrategy`).
//! - [`workflow`]: a Workflow's DAGs and exit handler run to the end for an outcome script.
//! - [`rollout`]: a canary Rollout's steps, pauses, analyses, abort and promotion over time,
//!   with Argo Rollouts' replica math ([`rollout::replicas`]).
//! - [`go_duration`]: Go's duration strings, as all of these read them.

pub mod depends;
pub mod expr;
pub mod go_duration;
pub mod govaluate;
pub mod retry;
pub mod rollout;
pub mod workflow;

/// A node's phase (`NodePhase` in Argo's `workflow/v1alpha1/workflow_types.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Error,
    /// Its `when` was false.
    Skipped,
    /// Its `depends` was false.
    Omitted,
}

impl Phase {
    /// `NodePhase.Fulfilled`: it will not change any more.
    pub fn ended(self) -> bool {
        !matches!(self, Phase::Pending | Phase::Running)
    }

    /// `NodePhase.Completed`: it ran and ended (Skipped and Omitted nodes did not run).
    pub fn completed(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed | Phase::Error)
    }

    pub fn failed_or_error(self) -> bool {
        matches!(self, Phase::Failed | Phase::Error)
    }

    /// The phase as Argo spells it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Error => "Error",
            Phase::Skipped => "Skipped",
            Phase::Omitted => "Omitted",
        }
    }

    pub fn parse(text: &str) -> Option<Phase> {
        Some(match text {
            "Pending" => Phase::Pending,
            "Running" => Phase::Running,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Error" => Phase::Error,
            "Skipped" => Phase::Skipped,
            "Omitted" => Phase::Omitted,
            _ => return None,
        })
    }
}
