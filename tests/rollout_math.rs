//! pipec's Argo Rollouts replica math (`compiler/core/src/rollout_math.rs`) against Argo
//! Rollouts v1.9.1's own table, `TestApproximateWeightedNewStableReplicaCounts`
//! (`utils/replicaset/canary_test.go`), as transcribed in the conformance corpus
//! (`compiler/argo-semantics/tests/conformance/rollouts/canary-replica-math.json`).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

mod common;

use pipec_core::rollout_math::basic_canary_split;

fn table(name: &str) -> Vec<serde_json::Value> {
    let path = common::root()
        .join("compiler/argo-semantics/tests/conformance/rollouts/canary-replica-math.json");
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    data["tables"][name]["rows"].as_array().unwrap().clone()
}

#[test]
fn weights_become_the_pod_counts_argo_rollouts_runs() {
    let rows = table("TestApproximateWeightedNewStableReplicaCounts");
    assert!(rows.len() >= 57);
    let mut wrong = Vec::new();
    for row in &rows {
        let input = &row["inputs"];
        assert_eq!(input["maxWeight"], 100, "pipec weights are percentages");
        let n = |k: &str| u32::try_from(input[k].as_u64().unwrap()).unwrap();
        let (canary, stable) =
            basic_canary_split(n("specReplicas"), n("desiredWeight"), n("maxSurge"));
        let expected = (
            row["expected"]["canary"].as_u64().unwrap(),
            row["expected"]["stable"].as_u64().unwrap(),
        );
        if (u64::from(canary), u64::from(stable)) != expected {
            wrong.push(format!(
                "{input}: Argo {expected:?}, pipec ({canary}, {stable})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
