//! What pipec writes on the objects it emits for other programs to read back: the runtime
//! (`pipec run`, `watch`, `approve`, `rollback`), the simulated controllers and the
//! behavioural checks. Named once here, below every crate that writes or reads them, so a
//! reader finds a step by what it is (its [`RolloutAction`], its annotations) and never by
//! re-spelling the shape of a name. The names of the objects themselves are made in
//! `pipec-core`'s `names` module; the runtime needs only [`generate_name`] of them.

/// Annotations pipec writes.
pub mod annotations {
    /// On a Workflow or WorkflowTemplate: the types of its parameters that are not strings
    /// (`replicas=int,min=percent`); Argo's parameters are untyped, and `pipec run --param`
    /// checks values against these before a run starts.
    pub const PARAM_TYPES: &str = "pipec.dev/param-types";
    /// On a template that runs a Rollout script: its [`super::RolloutAction`].
    pub const ACTION: &str = "pipec.dev/action";
    /// On a generated object or step: the `.pipe` source that asked for it (`file:line:col`).
    pub const SOURCE: &str = "pipec.dev/source";
    /// On an approval's suspend template: what the approver is asked to do (`approve "Watch
    /// the dashboards…"`); `pipec run`, `watch` and `status` print it, and the Argo UI shows
    /// it with the template.
    pub const APPROVAL: &str = "pipec.dev/approval";
    /// On an object of a long-lived environment in another cluster: that environment.
    pub const ENVIRONMENT: &str = "pipec.dev/environment";
    /// On a Rollout, set by the deploy step: the run that last changed it.
    pub const RUN: &str = "pipec.dev/run";
}

/// Labels pipec writes.
pub mod labels {
    /// On everything pipec generates, with the value [`MANAGED_BY_PIPEC`].
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY`].
    pub const MANAGED_BY_PIPEC: &str = "pipec";
    /// On everything pipec generates: the pipeline it belongs to.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// On every pod of a service; Services and Rollouts select on it.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// On the pods of an isolated canary's service: `"true"` on stable pods, `"false"` on
    /// canary pods until `join` flips it; the production Service selects on it.
    pub const SERVING: &str = "pipec.dev/serving";
    /// On a WorkflowTemplate a person runs by hand: what it is, so the runtime finds it by
    /// what it is rather than by the shape of its name.
    pub const ROLE: &str = "pipec.dev/role";
    /// [`ROLE`] of the rollback WorkflowTemplate.
    pub const ROLE_ROLLBACK: &str = "rollback";

    /// The label selector of everything pipec generates (`app.kubernetes.io/managed-by=pipec`),
    /// narrowed by further `key=value` pairs.
    pub fn managed_selector(more: &[(&str, &str)]) -> String {
        let mut selector = format!("{MANAGED_BY}={MANAGED_BY_PIPEC}");
        for (key, value) in more {
            selector.push_str(&format!(",{key}={value}"));
        }
        selector
    }
}

/// Environment variables of the steps that run a Rollout script, which the runtime, the
/// simulated controllers and the behavioural checks read back from the step's template.
pub mod script_env {
    /// The Rollout the step acts on.
    pub const ROLLOUT: &str = "ROLLOUT";
    /// The Rollout's namespace, when it is not the Workflow's.
    pub const NAMESPACE: &str = "NAMESPACE";
    /// The image a deploy step sets.
    pub const IMAGE: &str = "IMAGE";
    /// The image a rollback step returns to (empty: the stable one).
    pub const TO_IMAGE: &str = "TO_IMAGE";
    /// The canary step a wait or promote step is about (absent: the first pause).
    pub const STEP: &str = "STEP";
    /// How long, in seconds, the script waits for the Rollout.
    pub const TIMEOUT: &str = "TIMEOUT";
}

/// What a step that runs a Rollout script does to its Rollout: the value of
/// [`annotations::ACTION`] on its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RolloutAction {
    /// Applies the new version.
    Deploy,
    /// Waits until the Rollout pauses.
    Wait,
    /// Runs a check in the canary.
    Check,
    /// Releases a pause.
    Promote,
    /// Lets an isolated canary join production traffic.
    Join,
    /// Waits until the Rollout is fully promoted and healthy.
    Complete,
    /// Prints what went wrong with the Rollout.
    Diagnostics,
    /// Rolls the Rollout back.
    Rollback,
}

impl RolloutAction {
    /// Every action, in the order a release runs them.
    pub const ALL: [RolloutAction; 8] = [
        RolloutAction::Deploy,
        RolloutAction::Wait,
        RolloutAction::Check,
        RolloutAction::Promote,
        RolloutAction::Join,
        RolloutAction::Complete,
        RolloutAction::Diagnostics,
        RolloutAction::Rollback,
    ];

    /// The annotation's value.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Deploy => "deploy",
            RolloutAction::Wait => "wait",
            RolloutAction::Check => "check",
            RolloutAction::Promote => "promote",
            RolloutAction::Join => "join",
            RolloutAction::Complete => "complete",
            RolloutAction::Diagnostics => "diagnostics",
            RolloutAction::Rollback => "rollback",
        }
    }

    /// The action an annotation's value names, if any.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }

    /// The action of a template in its JSON form (`metadata.annotations`), if it has one.
    pub fn of_template(template: &serde_json::Value) -> Option<Self> {
        Self::parse(template["metadata"]["annotations"][annotations::ACTION].as_str()?)
    }
}

/// The `generateName` of the runs of a pipeline or of a WorkflowTemplate named `base`: the
/// API server appends five random characters (`peers-` → `peers-x7k2p`).
pub fn generate_name(base: &str) -> String {
    format!("{base}-")
}

/// The name a `generateName` was made from ([`generate_name`] undone): `peers` for `peers-`.
pub fn base_of_generate_name(generate_name: &str) -> &str {
    generate_name.strip_suffix('-').unwrap_or(generate_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_back_as_written() {
        for action in RolloutAction::ALL {
            assert_eq!(RolloutAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(RolloutAction::parse("deploy-2"), None);
        let template =
            serde_json::json!({"metadata": {"annotations": {annotations::ACTION: "wait"}}});
        assert_eq!(
            RolloutAction::of_template(&template),
            Some(RolloutAction::Wait)
        );
        assert_eq!(RolloutAction::of_template(&serde_json::json!({})), None);
    }

    #[test]
    fn generate_names_and_their_bases_agree() {
        assert_eq!(generate_name("peers"), "peers-");
        assert_eq!(base_of_generate_name(&generate_name("peers")), "peers");
        assert_eq!(base_of_generate_name("peers"), "peers");
        assert_eq!(
            labels::managed_selector(&[]),
            "app.kubernetes.io/managed-by=pipec"
        );
        assert_eq!(
            labels::managed_selector(&[(labels::ROLE, labels::ROLE_ROLLBACK)]),
            "app.kubernetes.io/managed-by=pipec,pipec.dev/role=rollback"
        );
    }
}
