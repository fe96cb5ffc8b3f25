//! What can go wrong talking to a cluster, sorted by what the user can do about it.

use std::fmt;

/// A runtime failure. [`RuntimeError::exit_code`] maps it to the CLI's exit codes.
#[derive(Debug)]
pub enum RuntimeError {
    /// No answer, or only errors worth retrying, within the time allowed.
    Unreachable { context: String, detail: String },
    /// The cluster answered 401 or 403.
    Forbidden { context: String, detail: String },
    /// A kind pipec needs is not served: its CRD is not installed.
    MissingCrd { crd: String, product: &'static str },
    /// The kubeconfig could not be read or has no such context.
    Config(String),
    /// An object the command needs does not exist.
    NotFound(String),
    /// The API refused a request for a reason retrying will not fix.
    Rejected { what: String, detail: String },
    /// The user asked for something that cannot be done in the cluster's current state.
    Invalid(String),
}

impl RuntimeError {
    /// 3 when the cluster cannot be used at all (unreachable, unauthorised, missing CRDs, bad
    /// kubeconfig), 1 otherwise: the pipeline, or the action on it, failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Unreachable { .. }
            | RuntimeError::Forbidden { .. }
            | RuntimeError::MissingCrd { .. }
            | RuntimeError::Config(_) => 3,
            RuntimeError::NotFound(_)
            | RuntimeError::Rejected { .. }
            | RuntimeError::Invalid(_) => 1,
        }
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Unreachable { context, detail } => {
                write!(
                    f,
                    "the cluster of context `{context}` is unreachable: {detail}"
                )
            }
            RuntimeError::Forbidden { context, detail } => write!(
                f,
                "the cluster of context `{context}` refused the request: {detail}"
            ),
            RuntimeError::MissingCrd { crd, product } => {
                write!(f, "{product} is not installed: CRD {crd} not found")
            }
            RuntimeError::Config(detail) => write!(f, "cannot use the kubeconfig: {detail}"),
            RuntimeError::NotFound(what) => write!(f, "{what} not found"),
            RuntimeError::Rejected { what, detail } => write!(f, "{what}: {detail}"),
            RuntimeError::Invalid(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for RuntimeError {}
