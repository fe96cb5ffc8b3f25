//! The scripts the Workflow runs against a Rollout, in the kubectl image.
//!
//! They are fixed text: everything specific to a pipeline (rollout name, image, step index,
//! command) arrives in environment variables, so no user value is ever parsed as shell code.
//! They follow the rules Argo Rollouts' own CLI follows (`docs/compilation.md` cites them): a
//! status is trusted only when `observedGeneration` equals `generation`, a rollout is fully
//! promoted when `currentPodHash` equals `stableRS`, and promote and abort are merge patches
//! on the `status` subresource.

use pipec_argo_model::contract::RolloutAction;

/// Reads a Rollout's status into shell variables. Shared by every script below.
const STATUS: &str = r#"rollout_status() {
  kubectl get rollout "$ROLLOUT" -o json | jq -r '[
    .metadata.generation,
    (.status.observedGeneration // ""),
    (.status.phase // ""),
    (.status.currentStepIndex // ""),
    (.status.currentPodHash // ""),
    (.status.stableRS // ""),
    (.status.message // "")
  ] | map(tostring) | join("|")'
}
read_status() {
  # shellcheck disable=SC2034 # not every script reads every field
  IFS='|' read -r generation observed phase step current stable message <<<"$(rollout_status)"
}
"#;

/// Waits until the controller has seen the latest change of the spec; for the scripts that
/// change it.
const WAIT_OBSERVED: &str = r#"wait_observed() {
  local deadline=$((SECONDS + TIMEOUT))
  read_status
  until [ "$observed" = "$generation" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "rollout/$ROLLOUT: the controller did not pick up the change within ${TIMEOUT}s" >&2
      exit 1
    fi
    sleep 2
    read_status
  done
}
"#;

/// Sets the new image and marks the Rollout as changed by this run. On a Rollout that never
/// ran an image (its first deploy) there is no stable version to compare a canary with, so it
/// is promoted fully, which is what Argo Rollouts does for a newly created Rollout.
const DEPLOY: &str = r#"check_image "$IMAGE" IMAGE
previous=$(kubectl get rollout "$ROLLOUT" -o jsonpath='{.spec.template.spec.containers[0].image}')
patch=$(jq -cn --arg image "$IMAGE" --arg run "$RUN" --argjson extra "${EXTRA_PATCH:-[]}" '[
  {op: "add", path: "/spec/template/spec/containers/0/image", value: $image},
  {op: "add", path: "/metadata/annotations/pipec.dev~1run", value: $run}
] + $extra')
kubectl patch rollout "$ROLLOUT" --type=json -p "$patch"
echo "rollout/$ROLLOUT: image set to $IMAGE"
if [ -z "$previous" ]; then
  wait_observed
  kubectl patch rollout "$ROLLOUT" --subresource=status --type=merge -p '{"status":{"promoteFull":true}}'
  echo "rollout/$ROLLOUT: first deploy, no earlier version to compare with: promoted fully, canary stages skipped"
fi
"#;

/// Waits until the Rollout holds the new version at pause step `$STEP` (a canary), or at its
/// pause before the switch (blue-green, `$STEP` empty).
const WAIT_PAUSED: &str = r#"deadline=$((SECONDS + TIMEOUT))
echo "rollout/$ROLLOUT: waiting for step ${STEP:-before the switch}"
while :; do
  read_status
  if [ "$observed" = "$generation" ]; then
    if [ "$phase" = Degraded ]; then
      echo "rollout/$ROLLOUT is degraded: $message" >&2
      exit 1
    fi
    if [ -n "$current" ] && [ "$current" = "$stable" ]; then
      echo "rollout/$ROLLOUT runs the new version on every pod already (first deploy or unchanged image): no canary to hold"
      exit 0
    fi
    if [ "$phase" = Paused ] && { [ -z "$STEP" ] || [ "$step" = "$STEP" ]; }; then
      echo "rollout/$ROLLOUT: paused at step ${STEP:-before the switch} with the new version running"
      exit 0
    fi
    if [ -n "$STEP" ] && [ -n "$step" ] && [ "$step" -gt "$STEP" ]; then
      echo "rollout/$ROLLOUT went past step $STEP without this pipeline (promoted by hand?)" >&2
      exit 1
    fi
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "rollout/$ROLLOUT did not reach step $STEP within ${TIMEOUT}s (phase ${phase:-unknown}, step ${step:-none})" >&2
    exit 1
  fi
  sleep 5
done
"#;

/// Runs `$COMMAND` (or the base64 `$COMMAND_B64`) in a running pod of the new version.
const CHECK_EXEC: &str = r#"read_status
pod=$(kubectl get pods -l "$SELECTOR,rollouts-pod-template-hash=$current" --field-selector=status.phase=Running -o name | head -n 1)
if [ -z "$pod" ]; then
  echo "rollout/$ROLLOUT: no running pod of the new version ($current) to run the check in" >&2
  exit 1
fi
if [ -n "${COMMAND_B64:-}" ]; then
  COMMAND=$(printf '%s' "$COMMAND_B64" | base64 -d)
fi
echo "$pod: $COMMAND"
"#;

/// Lets the Rollout go on from pause step `$STEP`.
const PROMOTE: &str = r#"read_status
if [ -n "$current" ] && [ "$current" = "$stable" ]; then
  echo "rollout/$ROLLOUT runs the new version everywhere already: nothing to promote"
  exit 0
fi
if [ "$phase" != Paused ] || { [ -n "$STEP" ] && [ "$step" != "$STEP" ]; }; then
  echo "rollout/$ROLLOUT is not paused at step ${STEP:-before the switch} (phase ${phase:-unknown}, step ${step:-none})" >&2
  exit 1
fi
kubectl patch rollout "$ROLLOUT" --subresource=status --type=merge -p '{"status":{"pauseConditions":null}}'
echo "rollout/$ROLLOUT: promoted past step ${STEP:-the switch}"
"#;

/// Lets an isolated canary into the production Service: its pods get the serving label (Argo
/// Rollouts updates ephemeral metadata in place), then waits until they carry it.
const JOIN: &str = r#"read_status
if [ -n "$current" ] && [ "$current" = "$stable" ]; then
  echo "rollout/$ROLLOUT runs the new version everywhere already: every pod serves"
  exit 0
fi
path="/spec/strategy/canary/canaryMetadata/labels/${SERVING_LABEL//\//~1}"
patch=$(jq -cn --arg path "$path" '[{op: "add", path: $path, value: "true"}]')
kubectl patch rollout "$ROLLOUT" --type=json -p "$patch"
deadline=$((SECONDS + TIMEOUT))
until [ -n "$(kubectl get pods -l "$SELECTOR,rollouts-pod-template-hash=$current,$SERVING_LABEL=true" -o name)" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "rollout/$ROLLOUT: the canary pods did not join the production Service within ${TIMEOUT}s" >&2
    exit 1
  fi
  sleep 2
done
echo "rollout/$ROLLOUT: the canary ($current) now serves production traffic"
"#;

/// Waits until every pod runs the new version and the Rollout is healthy.
const COMPLETE: &str = r#"deadline=$((SECONDS + TIMEOUT))
echo "rollout/$ROLLOUT: waiting for the new version on every pod"
while :; do
  read_status
  if [ "$observed" = "$generation" ]; then
    if [ "$phase" = Degraded ]; then
      echo "rollout/$ROLLOUT is degraded: $message" >&2
      exit 1
    fi
    if [ "$phase" = Healthy ] && [ -n "$current" ] && [ "$current" = "$stable" ]; then
      echo "rollout/$ROLLOUT: healthy, new version on every pod"
      exit 0
    fi
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "rollout/$ROLLOUT was not fully promoted within ${TIMEOUT}s (phase ${phase:-unknown}: ${message:-no message})" >&2
    exit 1
  fi
  sleep 5
done
"#;

/// Prints everything useful for a post-mortem; never fails.
const DIAGNOSTICS: &str = r#"set +e
section() { printf '\n===== %s =====\n' "$1"; }
read_status
section "rollout/$ROLLOUT status: ${phase:-unknown} ${message}"
kubectl get rollout "$ROLLOUT" -o yaml
section "resources of $ROLLOUT"
kubectl get all,rollouts,analysisruns,replicasets -l "$SELECTOR" -o wide
section "events"
kubectl get events --sort-by=.lastTimestamp | tail -n 200
section "describe rollout/$ROLLOUT"
kubectl describe rollout "$ROLLOUT"
if [ -n "$current" ] && [ "$current" != "$stable" ]; then
  section "describe canary pods ($current)"
  kubectl describe pods -l "$SELECTOR,rollouts-pod-template-hash=$current"
  section "logs of canary pods ($current)"
  kubectl logs -l "$SELECTOR,rollouts-pod-template-hash=$current" --all-containers --prefix --tail=500
fi
exit 0
"#;

/// Returns the Rollout to its stable version if this run changed it: aborts an update in
/// progress (traffic and pods go back to the stable version, the canary is scaled down), then
/// restores the stable pod template so the Rollout is healthy again rather than degraded. If
/// the new version was already fully promoted, returns to the previous revision.
///
/// Run by hand (`MANUAL=1`, from the pipeline's rollback WorkflowTemplate) it acts whoever
/// changed the Rollout last, and with `TO_IMAGE` it redeploys that earlier image instead,
/// promoted at once: a rollback does not go through canary stages again.
const ROLLBACK: &str = r#"changed_by=$(kubectl get rollout "$ROLLOUT" -o json | jq -r '.metadata.annotations["pipec.dev/run"] // ""')
if [ -z "${MANUAL:-}" ] && [ "$changed_by" != "$RUN" ]; then
  echo "rollout/$ROLLOUT was not changed by this run: nothing to roll back"
  exit 0
fi
wait_healthy() {
  deadline=$((SECONDS + TIMEOUT))
  while :; do
    read_status
    if [ "$observed" = "$generation" ] && [ "$phase" = Healthy ] && [ "$current" = "$stable" ]; then
      echo "rollout/$ROLLOUT: rolled back, healthy on $stable"
      exit 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "rollout/$ROLLOUT did not become healthy within ${TIMEOUT}s after the rollback (phase ${phase:-unknown})" >&2
      exit 1
    fi
    sleep 5
  done
}
if [ -n "${TO_IMAGE:-}" ]; then
  check_image "$TO_IMAGE" TO_IMAGE
  patch=$(jq -cn --arg image "$TO_IMAGE" --arg run "$RUN" '[
    {op: "add", path: "/spec/template/spec/containers/0/image", value: $image},
    {op: "add", path: "/metadata/annotations/pipec.dev~1run", value: $run}
  ]')
  kubectl patch rollout "$ROLLOUT" --type=json -p "$patch"
  echo "rollout/$ROLLOUT: redeploying $TO_IMAGE"
  wait_observed
  kubectl patch rollout "$ROLLOUT" --subresource=status --type=merge -p '{"status":{"promoteFull":true}}'
  wait_healthy
fi
read_status
replicasets=$(kubectl get replicasets -l "$SELECTOR" -o json)
if [ -n "$current" ] && [ "$current" != "$stable" ]; then
  echo "rollout/$ROLLOUT: aborting the update, traffic and pods return to the stable version ($stable)"
  kubectl patch rollout "$ROLLOUT" --subresource=status --type=merge -p '{"status":{"abort":true}}'
  target=$stable
else
  target=$(printf '%s' "$replicasets" | jq -r --arg current "$current" '
    [.items[] | {hash: .metadata.labels["rollouts-pod-template-hash"],
                 revision: ((.metadata.annotations["rollout.argoproj.io/revision"] // "0") | tonumber)}]
    | (map(select(.hash == $current)) | first | .revision // 0) as $now
    | map(select(.revision < $now)) | sort_by(.revision) | last | .hash // ""')
  if [ -z "$target" ]; then
    echo "rollout/$ROLLOUT has no earlier revision to return to (first deploy)" >&2
    exit 1
  fi
  echo "rollout/$ROLLOUT: returning to the previous revision ($target)"
fi
template=$(printf '%s' "$replicasets" | jq -c --arg hash "$target" '
  .items[] | select(.metadata.labels["rollouts-pod-template-hash"] == $hash) | .spec.template
  | del(.metadata.labels["rollouts-pod-template-hash"]) | del(.metadata.creationTimestamp)')
if [ -z "$template" ]; then
  echo "rollout/$ROLLOUT: the ReplicaSet of revision $target is gone; it stays aborted on the stable pods" >&2
  exit 1
fi
kubectl patch rollout "$ROLLOUT" --type=json -p "[{\"op\":\"replace\",\"path\":\"/spec/template\",\"value\":$template}]"
wait_healthy
"#;

/// What a Rollout script does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RolloutScript {
    Deploy,
    WaitPaused,
    CheckExec,
    Promote,
    Join,
    Complete,
    Diagnostics,
    Rollback,
}

impl RolloutScript {
    /// What the step does to its Rollout, written on the templates running this script for
    /// the runtime and the simulated controllers, which must not guess it from a task's name.
    pub fn action(self) -> RolloutAction {
        match self {
            RolloutScript::Deploy => RolloutAction::Deploy,
            RolloutScript::WaitPaused => RolloutAction::Wait,
            RolloutScript::CheckExec => RolloutAction::Check,
            RolloutScript::Promote => RolloutAction::Promote,
            RolloutScript::Join => RolloutAction::Join,
            RolloutScript::Complete => RolloutAction::Complete,
            RolloutScript::Diagnostics => RolloutAction::Diagnostics,
            RolloutScript::Rollback => RolloutAction::Rollback,
        }
    }
}

/// The full bash source of a script: strict mode, what makes `kubectl` act at the Rollout's
/// `target`, the status helper, the body.
pub fn source(kind: RolloutScript, target: Target) -> String {
    let changes_spec = matches!(kind, RolloutScript::Deploy | RolloutScript::Rollback);
    let body = match kind {
        RolloutScript::Deploy => DEPLOY,
        RolloutScript::WaitPaused => WAIT_PAUSED,
        RolloutScript::CheckExec => CHECK_EXEC,
        RolloutScript::Promote => PROMOTE,
        RolloutScript::Join => JOIN,
        RolloutScript::Complete => COMPLETE,
        RolloutScript::Diagnostics => DIAGNOSTICS,
        RolloutScript::Rollback => ROLLBACK,
    };
    let target = match target {
        Target::Here => String::new(),
        Target::Namespace => IN_NAMESPACE.to_string(),
        Target::Cluster => format!("{IN_CLUSTER}{IN_NAMESPACE}"),
    };
    let (wait, check) = if changes_spec {
        (WAIT_OBSERVED, super::shell::CHECK_IMAGE)
    } else {
        ("", "")
    };
    format!("set -euo pipefail\n{target}{STATUS}{wait}{check}{body}")
}

/// Every `kubectl` of the script acts in `$NAMESPACE`, the Rollout's.
const IN_NAMESPACE: &str = r#"kubectl() { command kubectl --namespace "$NAMESPACE" "$@"; }
"#;

/// For an environment in another cluster: its kubeconfig, from a Secret (never the YAML).
const IN_CLUSTER: &str = r#"umask 077
printf '%s' "$KUBECONFIG_DATA" > /tmp/kubeconfig
export KUBECONFIG=/tmp/kubeconfig
"#;

/// Where a script's `kubectl` acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The namespace the resources were applied to, in the Workflow's cluster.
    Here,
    /// `$NAMESPACE`.
    Namespace,
    /// `$NAMESPACE` of the cluster `$KUBECONFIG_DATA` reaches.
    Cluster,
}
