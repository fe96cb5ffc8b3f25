//! How Argo Rollouts turns a canary weight into pod counts when no traffic router is set, so
//! pipec can choose the weight that gives exactly the split a `replicas N` stage asks for.
//!
//! Without a router, Argo Rollouts (v1.9, `approximateWeightedCanaryStableReplicaCounts`)
//! considers a few candidate splits — the weighted canary count rounded up and down, with and
//! without one surge pod — and keeps the one whose actual share is closest to the weight,
//! preferring the larger canary on ties. The rule itself lives in the Argo model
//! (`pipec_argo_semantics::rollout::replicas`); this module inverts it.

use pipec_argo_semantics::rollout::replicas::approximate_weighted_split;

/// `(canary pods, stable pods)` Argo Rollouts runs for `weight` percent of `replicas` pods
/// ([`pipec_argo_semantics::rollout::replicas::approximate_weighted_split`], checked there
/// against Argo Rollouts' own table).
pub fn basic_canary_split(replicas: u32, weight: u32, max_surge: u32) -> (u32, u32) {
    let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let (canary, stable) = approximate_weighted_split(int(replicas), int(weight), int(max_surge));
    (canary.max(0).unsigned_abs(), stable.max(0).unsigned_abs())
}

/// The weight, nearest to `canary / replicas`, for which Argo Rollouts runs exactly `canary`
/// new pods beside `replicas - canary` stable ones; `None` if no weight does.
pub fn weight_for_replicas(canary: u32, replicas: u32, max_surge: u32) -> Option<u32> {
    let ideal = f64::from(canary) * 100.0 / f64::from(replicas.max(1));
    let mut candidates: Vec<u32> = (1..100).collect();
    candidates.sort_by(|a, b| {
        let da = (f64::from(*a) - ideal).abs();
        let db = (f64::from(*b) - ideal).abs();
        da.total_cmp(&db).then(a.cmp(b))
    });
    candidates
        .into_iter()
        .find(|w| basic_canary_split(replicas, *w, max_surge) == (canary, replicas - canary))
}

/// Kubernetes scales a percentage surge up: 25% of 3 pods is 1 pod.
pub fn surge_pods(percent: u32, replicas: u32) -> u32 {
    (u64::from(percent) * u64::from(replicas)).div_ceil(100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_documented_upstream() {
        // replicas 10, weight 10, surge 1 → 1 canary, 9 stable.
        assert_eq!(basic_canary_split(10, 10, 1), (1, 9));
        // replicas 10, weight 5, surge 1: 1 of 10 (10%) and 1 of 11 (9%) are the candidates;
        // the surge pod gets closer to 5%, so all 10 stable pods stay.
        assert_eq!(basic_canary_split(10, 5, 1), (1, 10));
        // replicas 1, weight 5, surge 1 → 1 and 1.
        assert_eq!(basic_canary_split(1, 5, 1), (1, 1));
        // replicas 3, weight 50: 1 and 2 are tied, the larger canary wins.
        assert_eq!(basic_canary_split(3, 50, 0), (2, 1));
    }

    #[test]
    fn one_of_three() {
        assert_eq!(weight_for_replicas(1, 3, 1), Some(33));
        assert_eq!(basic_canary_split(3, 33, 1), (1, 2));
        assert_eq!(weight_for_replicas(1, 10, 1), Some(10));
        assert_eq!(weight_for_replicas(1, 9, 1), Some(11));
        assert_eq!(weight_for_replicas(2, 3, 0), Some(67));
    }

    #[test]
    fn every_split_of_small_services_is_reachable() {
        for replicas in 2..=20 {
            for canary in 1..replicas {
                for surge in [0, 1, 2] {
                    let weight = weight_for_replicas(canary, replicas, surge);
                    assert!(weight.is_some(), "{canary} of {replicas}, surge {surge}");
                }
            }
        }
    }

    #[test]
    fn surge_rounds_up() {
        assert_eq!(surge_pods(25, 3), 1);
        assert_eq!(surge_pods(25, 4), 1);
        assert_eq!(surge_pods(25, 5), 2);
        assert_eq!(surge_pods(0, 5), 0);
    }
}
