#!/usr/bin/env bash
# End-to-end test of `pipec run` on a real cluster: kind + Argo Workflows + Argo Rollouts.
#
# NOT RUN by pipec's CI (it needs Docker, kind and the network); see README.md beside it.
# Every step prints what it checks; the script stops at the first failure.
#
#   tests/e2e/run.sh            # creates the kind cluster `pipec-e2e` if needed
#   KEEP=1 tests/e2e/run.sh     # leaves the cluster up afterwards
set -euo pipefail

ARGO_WORKFLOWS=${ARGO_WORKFLOWS:-v4.1.2}   # the releases ../shared/argo/SOURCES.md names
ARGO_ROLLOUTS=${ARGO_ROLLOUTS:-v1.9.1}
CLUSTER=${CLUSTER:-pipec-e2e}
NS=${NS:-pipec-e2e}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PIPE="$HERE/hello.pipe"
LOG=$(mktemp -d)

for tool in kind kubectl cargo jq; do
  command -v "$tool" >/dev/null || { echo "e2e: $tool is required" >&2; exit 2; }
done

step() { printf '\n== %s\n' "$*"; }
fail() { echo "e2e FAILED: $*" >&2; exit 1; }

step "building pipec"
(cd "$ROOT" && cargo build --release --quiet)
PIPEC="$ROOT/target/release/pipec"
pipec() { "$PIPEC" "$@" --namespace "$NS" --context "kind-$CLUSTER"; }

step "cluster $CLUSTER with Argo Workflows $ARGO_WORKFLOWS and Argo Rollouts $ARGO_ROLLOUTS"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null
if [ -z "${KEEP:-}" ]; then
  trap 'kind delete cluster --name "$CLUSTER"' EXIT
fi

step "pipec says what is missing before Argo is installed (exit 3)"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
if ! kubectl get crd rollouts.argoproj.io >/dev/null 2>&1; then
  set +e
  pipec run "$PIPE" >"$LOG/missing.out" 2>&1
  code=$?
  set -e
  [ "$code" = 3 ] || fail "expected exit 3 without Argo, got $code: $(cat "$LOG/missing.out")"
  grep -q "is not installed: CRD" "$LOG/missing.out" || fail "no missing-CRD message"
fi

kubectl create namespace argo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n argo --server-side -f \
  "https://github.com/argoproj/argo-workflows/releases/download/$ARGO_WORKFLOWS/install.yaml" >/dev/null
kubectl create namespace argo-rollouts --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n argo-rollouts -f \
  "https://github.com/argoproj/argo-rollouts/releases/download/$ARGO_ROLLOUTS/install.yaml" >/dev/null
kubectl -n argo rollout status deploy/workflow-controller --timeout=180s
kubectl -n argo-rollouts rollout status deploy/argo-rollouts --timeout=180s

step "the ServiceAccount the pipeline's steps run as"
kubectl apply -n "$NS" -f "$HERE/rbac.yaml" >/dev/null

# Runs the pipeline in the background, approves its approval when it waits, and checks the
# exit code. $1: the expected exit code, then pipec run's arguments.
run_and_approve() {
  local expected=$1; shift
  local out="$LOG/run-$RANDOM.jsonl"
  pipec run "$PIPE" --output json "$@" >"$out" 2>&1 &
  local pid=$!
  local run=""
  for _ in $(seq 1 300); do
    run=$(jq -r 'select(.event == "submitted") | .run' "$out" 2>/dev/null | head -n1)
    if [ -n "$run" ] && jq -e 'select(.event == "awaiting-approval")' "$out" >/dev/null 2>&1; then
      pipec approve "$run"
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 2
  done
  set +e
  wait "$pid"
  local code=$?
  set -e
  [ "$code" = "$expected" ] || { cat "$out"; fail "run $run: expected exit $expected, got $code"; }
  echo "run $run: exit $code as expected"
  LAST_RUN=$run
  LAST_OUT=$out
}

step "dry run: the API server validates everything, nothing is submitted"
pipec run "$PIPE" --dry-run >/dev/null
[ -z "$(kubectl get workflows -n "$NS" -o name)" ] || fail "the dry run submitted a run"

step "first run: a first deploy (Argo Rollouts goes straight to full), then the approval"
run_and_approve 0 --param tag=6.7.0
grep -q "first deploy" "$LAST_OUT" || fail "the first deploy was not announced"

step "second run: a real canary (1 of 2 pods), checked inside the canary, approved"
run_and_approve 0 --param tag=6.7.1
image=$(kubectl get rollout hello -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$image" = "ghcr.io/stefanprodan/podinfo:6.7.1" ] || fail "rollout runs $image"
if kubectl argo rollouts version >/dev/null 2>&1; then
  kubectl argo rollouts get rollout hello -n "$NS"
fi

step "third run: the gate fails, diagnostics are collected, the canary is rolled back (exit 1)"
run_and_approve 1 --param tag=6.7.2 --param health_path=/status/500
jq -e 'select(.event == "step-finished" and .step.step == "hello-diagnostics")' "$LAST_OUT" >/dev/null \
  || fail "diagnostics did not run"
image=$(kubectl get rollout hello -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$image" = "ghcr.io/stefanprodan/podinfo:6.7.1" ] || fail "after rollback the rollout runs $image"

step "status lists the runs; status RUN shows the failed step"
pipec status
set +e; pipec status "$LAST_RUN"; set -e

step "abort: a run waiting for approval is stopped, its rollout aborted"
out="$LOG/abort.jsonl"
pipec run "$PIPE" --output json --param tag=6.7.2 >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  jq -e 'select(.event == "awaiting-approval")' "$out" >/dev/null 2>&1 && break
  sleep 2
done
run=$(jq -r 'select(.event == "submitted") | .run' "$out" | head -n1)
pipec abort "$run"
set +e; wait "$pid"; code=$?; set -e
[ "$code" = 1 ] || fail "an aborted run must exit 1, got $code"

step "rollback to the first run's image"
first=$(kubectl get workflows -n "$NS" -l app.kubernetes.io/part-of=e2e-hello \
  --sort-by=.metadata.creationTimestamp -o jsonpath='{.items[0].metadata.name}')
pipec rollback hello --to "$first"
image=$(kubectl get rollout hello -n "$NS" -o jsonpath='{.spec.template.spec.containers[0].image}')
[ "$image" = "ghcr.io/stefanprodan/podinfo:6.7.0" ] || fail "after rollback --to $first the rollout runs $image"

step "an unreachable cluster ends in exit 3 within the patience"
set +e
KUBECONFIG=/dev/null "$PIPEC" status --patience 3 >/dev/null 2>&1
code=$?
set -e
[ "$code" = 3 ] || fail "expected exit 3, got $code"

printf '\ne2e: all checks passed\n'
