//! A retried task's phase from its attempts, as Argo's `processNodeRetries`
//! (`workflow/controller/operator.go`) decides it: the Retry node follows its last attempt; a
//! failed attempt is retried while attempts remain (`limit + 1` in all; lifecycle-hook children
//! do not count) and the policy retries that kind of failure: `OnFailure` (the default) only
//! Failed, `OnError` only Error, `OnTransientError` only Errors whose message is transient,
//! `Always` both. Otherwise the Retry node ends with its last attempt's phase.
//! `tests/conformance.rs` runs `workflows/retry/retry-node-evaluation.yaml` against it.

use crate::Phase;

/// One child of a Retry node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub phase: Phase,
    /// A lifecycle hook's node, not an attempt.
    pub hook: bool,
    /// An Error whose message matches the transient-error pattern.
    pub transient: bool,
}

impl Attempt {
    pub fn of(phase: Phase) -> Attempt {
        Attempt {
            phase,
            hook: false,
            transient: false,
        }
    }
}

/// Whether `policy` (`retryStrategy.retryPolicy`, empty for the default) retries `attempt`.
pub fn retries(policy: &str, attempt: &Attempt) -> bool {
    match (policy, attempt.phase) {
        ("Always", Phase::Failed | Phase::Error) => true,
        ("OnError", Phase::Error) => true,
        ("OnTransientError", Phase::Error) => attempt.transient,
        ("" | "OnFailure", Phase::Failed) => true,
        _ => false,
    }
}

/// The Retry node's phase for `children` (oldest first) under `limit` and `policy`.
pub fn phase(policy: &str, limit: u32, children: &[Attempt]) -> Phase {
    let attempts: Vec<&Attempt> = children.iter().filter(|c| !c.hook).collect();
    let Some(last) = attempts.last() else {
        return Phase::Running;
    };
    if !last.phase.ended() {
        return Phase::Running;
    }
    if !last.phase.failed_or_error() {
        return last.phase;
    }
    let left = attempts.len()
        < usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
    if left && retries(policy, last) {
        Phase::Running
    } else {
        last.phase
    }
}
