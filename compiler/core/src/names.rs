//! Every name pipec generates.
//!
//! The lowering never spells a suffix itself: it asks this module for the name of a canary
//! Service, a release task or the rollback template, and the type checker asks the same
//! functions which names a step must not take. Plain functions of names, so every phase may
//! use them; the check of the emitted names is [`crate::final_names`].

use pipec_argo_model::contract::RolloutAction;

/// The Workflow's entry template: the DAG of the whole pipeline.
pub const ENTRYPOINT: &str = "main";
/// The Workflow's exit handler: failure handlers, rollback, teardown.
pub const EXIT_HANDLER: &str = "on-exit";

/// `release_image` → `release-image`: the Kubernetes spelling of a `.pipe` name.
pub fn kebab(name: &str) -> String {
    name.replace('_', "-")
}

/// The Service that reaches only the canary pods (isolated canaries, tests, traffic routers).
pub fn canary_service(service: &str) -> String {
    format!("{service}-canary")
}

/// The Service a traffic router points at the stable pods.
pub fn stable_service(service: &str) -> String {
    format!("{service}-stable")
}

/// The Service of a blue-green release's new version before it is promoted.
pub fn preview_service(service: &str) -> String {
    format!("{service}-preview")
}

/// The WorkflowTemplate a person runs to roll a service back by hand.
pub fn rollback_template(pipeline: &str) -> String {
    format!("{pipeline}-rollback")
}

/// The AnalysisTemplate of an analysis, scoped by pipeline so two pipelines in one namespace
/// never overwrite each other's templates.
pub fn analysis_template(pipeline: &str, analysis: &str) -> String {
    format!("{pipeline}-{analysis}")
}

/// The EventSource and Sensor of a push trigger.
pub fn push_trigger(pipeline: &str) -> String {
    format!("{pipeline}-push")
}

/// The EventSource and Sensor of a webhook trigger.
pub fn webhook_trigger(pipeline: &str) -> String {
    format!("{pipeline}-webhook")
}

/// The task that creates an ephemeral environment.
pub fn environment_up(environment: &str) -> String {
    format!("{environment}-up")
}

/// The task that deletes an ephemeral environment.
pub fn environment_down(environment: &str) -> String {
    format!("{environment}-down")
}

/// The kinds of shared templates: one per Rollout action ([`rollout_kind`] of each
/// `pipec.dev/action`), building an image ([`BUILD_IMAGE`]), copying one between registries
/// ([`COPY_IMAGE`]).
pub fn shared_kinds() -> impl Iterator<Item = String> {
    RolloutAction::ALL
        .into_iter()
        .map(|action| rollout_kind(action.as_str()))
        .chain([BUILD_IMAGE, COPY_IMAGE].map(str::to_string))
}

/// Whether `kind` is one of [`shared_kinds`].
fn is_shared_kind(kind: &str) -> bool {
    kind == BUILD_IMAGE
        || kind == COPY_IMAGE
        || kind
            .strip_prefix(ROLLOUT_KIND_PREFIX)
            .and_then(RolloutAction::parse)
            .is_some()
}

/// The shared template of the steps that build an image (BuildKit).
pub const BUILD_IMAGE: &str = "build-image";
/// The shared template of the steps that copy an image between registries (crane).
pub const COPY_IMAGE: &str = "copy-image";

/// What [`rollout_kind`] puts before an action.
const ROLLOUT_KIND_PREFIX: &str = "rollout-";

/// The kind of shared template of the Rollout scripts of one action.
pub fn rollout_kind(action: &str) -> String {
    format!("{ROLLOUT_KIND_PREFIX}{action}")
}

/// The template every task of one kind runs (`rollout-deploy` for each service's deploy),
/// what differs between them passed as inputs. Tasks of one kind whose templates differ in
/// more than their inputs (a service in another cluster, a build with a cache) get further
/// variants, numbered from 2 in the order they first appear.
pub fn shared_template(kind: &str, variant: usize) -> String {
    match variant {
        0 | 1 => kind.to_string(),
        n => format!("{kind}-{n}"),
    }
}

/// Whether `name` is one [`shared_template`] can produce.
pub fn is_shared_template(name: &str) -> bool {
    let kind = match name.rsplit_once('-') {
        Some((kind, n))
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0') =>
        {
            kind
        }
        _ => name,
    };
    is_shared_kind(kind)
}

/// The tasks pipec generates to release a service, named `<service>-<suffix>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseTask {
    /// Applies the new version.
    Deploy,
    /// Waits until the Rollout pauses at the given step (none: at its first pause).
    Wait(Option<usize>),
    /// Releases the pause at the given step.
    Promote(Option<usize>),
    /// Waits until the Rollout is fully promoted and healthy.
    Complete,
    /// The n-th `check` (from 1).
    Check(usize),
    /// The n-th approval (from 1; the first has no number).
    Approve(usize),
    /// Lets an isolated canary join production traffic.
    Join,
    /// Rolls the service back (the exit handler and the rollback template).
    Rollback,
    /// Prints what went wrong with the Rollout.
    Diagnostics,
}

impl ReleaseTask {
    /// The template and task name of this task for a service.
    pub fn name(self, service: &str) -> String {
        format!("{service}-{}", self.suffix())
    }

    fn suffix(self) -> String {
        let numbered = |word: &str, n: Option<usize>| match n {
            Some(n) => format!("{word}-{n}"),
            None => word.to_string(),
        };
        match self {
            ReleaseTask::Deploy => "deploy".to_string(),
            ReleaseTask::Wait(step) => numbered("wait", step),
            ReleaseTask::Promote(step) => numbered("promote", step),
            ReleaseTask::Complete => "complete".to_string(),
            ReleaseTask::Check(n) => format!("check-{n}"),
            ReleaseTask::Approve(1) => "approve".to_string(),
            ReleaseTask::Approve(n) => format!("approve-{n}"),
            ReleaseTask::Join => "join".to_string(),
            ReleaseTask::Rollback => "rollback".to_string(),
            ReleaseTask::Diagnostics => "diagnostics".to_string(),
        }
    }

    /// Whether `suffix` is one [`ReleaseTask::name`] can produce (`check-2`, `wait`).
    pub fn is_suffix(suffix: &str) -> bool {
        let number = |rest: &str| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) && !rest.starts_with('0')
        };
        let (word, n) = match suffix.split_once('-') {
            Some((word, n)) if number(n) => (word, true),
            Some(_) => return false,
            None => (suffix, false),
        };
        match word {
            "check" => n,
            "wait" | "promote" | "approve" => true,
            "deploy" | "complete" | "join" | "rollback" | "diagnostics" => !n,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_task_names_and_their_suffixes_agree() {
        let tasks = [
            ReleaseTask::Deploy,
            ReleaseTask::Wait(None),
            ReleaseTask::Wait(Some(3)),
            ReleaseTask::Promote(None),
            ReleaseTask::Promote(Some(12)),
            ReleaseTask::Complete,
            ReleaseTask::Check(1),
            ReleaseTask::Approve(1),
            ReleaseTask::Approve(2),
            ReleaseTask::Join,
            ReleaseTask::Rollback,
            ReleaseTask::Diagnostics,
        ];
        for task in tasks {
            let name = task.name("api");
            let suffix = name.strip_prefix("api-").unwrap_or_default();
            assert!(ReleaseTask::is_suffix(suffix), "{name}");
        }
        for other in [
            "", "deploy-2", "check", "check-x", "tests", "wait-", "wait-01", "api",
        ] {
            assert!(!ReleaseTask::is_suffix(other), "{other}");
        }
    }

    #[test]
    fn shared_template_names_are_recognised_and_nothing_else() {
        let kinds: Vec<String> = shared_kinds().collect();
        assert_eq!(kinds.len(), 10);
        assert!(
            kinds.iter().any(|k| k == "rollout-deploy") && kinds.iter().any(|k| k == "copy-image")
        );
        for kind in kinds {
            for variant in [1, 2, 17] {
                let name = shared_template(&kind, variant);
                assert!(is_shared_template(&name), "{name}");
            }
        }
        for other in [
            "rollout",
            "rollout-",
            "rollout-api",
            "rollout-deploy-0",
            "rollout-deploy-02",
            "rollout-deploy-x",
            "deploy",
            "api-rollout-deploy",
            "build",
            "copy-image-x",
        ] {
            assert!(!is_shared_template(other), "{other}");
        }
    }
}
