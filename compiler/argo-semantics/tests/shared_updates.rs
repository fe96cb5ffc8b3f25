//! `Updates` (one simulation per distinct release policy) against separate simulations: a
//! cache may only save time, never change an answer.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // test code may fail loudly

use std::collections::{BTreeMap, BTreeSet};

use pipec_argo_semantics::rollout::controller::{Updates, passing_update, update_failing};
use serde_json::{Value, json};

/// A canary Rollout named `name` whose analysis step passes `args` to `check`.
fn canary_with_analysis(name: &str, args: Value, pause: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"replicas": 4, "strategy": {"canary": {
        "maxSurge": 1, "maxUnavailable": 0,
        "steps": [{"setWeight": 25}, {"analysis": {"templates": [{"templateName": "check"}],
            "args": args}}, {"pause": pause}, {"setWeight": 75}, {"pause": {}}]}}}})
}

/// `Updates` simulates a policy once, yet answers each Rollout as its own simulation would:
/// with its own arguments, and apart from a Rollout whose analysis takes longer (its
/// arguments set the interval) or whose pause differs.
#[test]
fn shared_updates_answer_as_separate_simulations() {
    let templates = BTreeMap::from([(
        "check".to_string(),
        json!({"spec": {"args": [{"name": "service"}, {"name": "every"}],
            "metrics": [{"name": "m", "interval": "{{args.every}}", "count": 3,
                "successCondition": "result[0] >= 0.99",
                "provider": {"prometheus": {"query": "q{service=\"{{args.service}}\"}"}}}]}}),
    )]);
    let args = |service: &str, every: &str| json!([{"name": "service", "value": service}, {"name": "every", "value": every}]);
    let rollouts = [
        canary_with_analysis("api", args("api", "1m"), json!({"duration": "10m"})),
        canary_with_analysis("web", args("web", "1m"), json!({"duration": "10m"})),
        canary_with_analysis("slow", args("slow", "5m"), json!({"duration": "10m"})),
        canary_with_analysis("long", args("long", "1m"), json!({"duration": "1h"})),
    ];
    let mut shared = Updates::default();
    let mut ends = Vec::new();
    for (i, rollout) in rollouts.iter().enumerate() {
        let alone = passing_update(rollout, &templates).unwrap();
        let together = shared.passing(rollout, &templates).unwrap();
        assert_eq!(together, alone, "rollout {i}");
        let failing = BTreeSet::from(["check".to_string()]);
        assert_eq!(
            shared.failing(rollout, &templates, &failing).unwrap(),
            update_failing(rollout, &templates, &failing).unwrap(),
            "rollout {i}, its analysis failing"
        );
        let steps = &together.cluster.rollout.spec.canary.steps;
        assert_eq!(
            steps[1].analysis_args[0].1,
            rollout["metadata"]["name"].as_str().unwrap()
        );
        ends.push(together.frames.last().unwrap().time);
    }
    assert_eq!(ends[0], ends[1], "the same policy");
    assert!(ends[2] > ends[0], "a longer analysis: {ends:?}");
    assert!(ends[3] > ends[0], "a longer pause: {ends:?}");
}
