//! How many pods the canary and the stable ReplicaSet get at a step: Argo Rollouts'
//! `utils/replicaset/canary.go` (v1.9.1), function by function, checked against every row of
//! that file's tests (`tests/conformance/rollouts/canary-replica-math.json`).
//!
//! Without a traffic router the weight *is* the share of pods, so the controller approximates
//! it within `maxSurge` / `maxUnavailable` ([`basic_canary`]); with one, the router splits the
//! traffic and only the canary is scaled to the weight, the stable staying at full size unless
//! `dynamicStableScale` is set ([`traffic_routed_canary`]).

use super::{Canary, ReplicaSet, Rollout, Step};

/// `(canary, stable)` replica counts.
pub type Split = (i32, i32);

/// `GetCurrentCanaryStep`: the step the Rollout is at, `None` past the last step, and the
/// index (`status.currentStepIndex`, unset counting as 0).
pub fn current_step(rollout: &Rollout) -> (Option<&Step>, i32) {
    let index = rollout.status.current_step_index.unwrap_or(0);
    let step = usize::try_from(index)
        .ok()
        .and_then(|i| rollout.spec.canary.steps.get(i));
    (step, index)
}

/// `GetCurrentSetWeight`: the last `setWeight` at or before the current step; 0 when aborted
/// or before any `setWeight`, 100 past the last step.
pub fn current_set_weight(rollout: &Rollout) -> i32 {
    if rollout.status.abort {
        return 0;
    }
    let (step, index) = current_step(rollout);
    if step.is_none() {
        return 100;
    }
    steps_back_from(&rollout.spec.canary, index)
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

/// The steps from `index` back to the first.
fn steps_back_from(canary: &Canary, index: i32) -> impl Iterator<Item = &Step> {
    let end = usize::try_from(index).map_or(0, |i| (i + 1).min(canary.steps.len()));
    canary.steps[..end].iter().rev()
}

/// `UseSetCanaryScale`: the `setCanaryScale` in force (only with a traffic router; a later
/// `matchTrafficWeight` ends it; an abort ends it unless `abortScaleDownDelaySeconds` is 0).
pub fn set_canary_scale(rollout: &Rollout) -> Option<&super::SetCanaryScale> {
    let canary = &rollout.spec.canary;
    if !canary.traffic_routing {
        return None;
    }
    if rollout.status.abort && canary.abort_scale_down_delay_seconds != Some(0) {
        return None;
    }
    let (step, index) = current_step(rollout);
    step?;
    let scale = steps_back_from(canary, index).find_map(|s| s.set_canary_scale.as_ref())?;
    (!scale.match_traffic_weight).then_some(scale)
}

/// `GetCanaryReplicasOrWeight`: a fixed canary size from `setCanaryScale.replicas`, or the
/// weight to scale the canary to (100 once fully promoted or when there is no stable yet).
pub fn canary_replicas_or_weight(rollout: &Rollout) -> (Option<i32>, i32) {
    let status = &rollout.status;
    if status.promote_full
        || status.stable_rs.is_empty()
        || status.current_pod_hash == status.stable_rs
    {
        return (None, 100);
    }
    if let Some(scale) = set_canary_scale(rollout) {
        if let Some(replicas) = scale.replicas {
            return (Some(replicas), 0);
        }
        if let Some(weight) = scale.weight {
            return (None, weight);
        }
    }
    (None, current_set_weight(rollout))
}

/// `resolveFenceposts` (`utils/replicaset/replicaset.go`): surge rounds up, unavailable down,
/// and when both come to 0 one pod may be unavailable.
fn fenceposts(canary: &Canary, replicas: i32) -> (i32, i32) {
    let surge = canary.max_surge.resolve(replicas, true);
    let unavailable = canary.max_unavailable.resolve(replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// `MaxSurge`.
pub fn max_surge(rollout: &Rollout) -> i32 {
    fenceposts(&rollout.spec.canary, rollout.spec.replicas).0
}

/// `MaxUnavailable`, never more than the Rollout's replicas.
pub fn max_unavailable(rollout: &Rollout) -> i32 {
    let replicas = rollout.spec.replicas;
    if replicas == 0 {
        return 0;
    }
    fenceposts(&rollout.spec.canary, replicas).1.min(replicas)
}

/// `CheckStableRSExists`: a stable ReplicaSet that is not the new one.
pub fn stable_exists(new: Option<&ReplicaSet>, stable: Option<&ReplicaSet>) -> bool {
    match (new, stable) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(n), Some(s)) => n.hash != s.hash,
    }
}

/// `GetReplicasForScaleDown`: pods of `rs` that count as available for a scale-down (its spec
/// when it is already shrinking, or when its availability may be ignored).
fn replicas_for_scale_down(rs: Option<&ReplicaSet>, ignore_availability: bool) -> i32 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available || ignore_availability => rs.spec,
        Some(rs) => rs.available,
    }
}

/// `approximateWeightedCanaryStableReplicaCounts`: of the candidate splits (the weighted canary
/// count rounded up and down, over `replicas` or, with surge, `replicas + 1` pods), the one
/// whose canary share is nearest the weight; the first candidate wins ties. A weight of 1–99
/// never gives 0 canary pods when there are 2 pods or more (surge included).
pub fn approximate_weighted_split(replicas: i32, weight: i32, max_surge: i32) -> Split {
    if replicas == 0 {
        return (0, 0);
    }
    let product = f64::from(replicas.saturating_mul(weight));
    let ceil = (product / 100.0).ceil() as i32;
    let floor = (product / 100.0).floor() as i32;
    let tied = |total: i32| (f64::from(total) * (f64::from(weight) / 100.0)).fract() == 0.5;
    let zero_allowed = weight == 100 || weight == 0 || (replicas == 1 && max_surge == 0);

    let mut options: Vec<(i32, i32)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        options.push((ceil, replicas));
    }
    if !tied(replicas) && (floor != 0 || zero_allowed) {
        options.push((floor, replicas));
    }
    if max_surge > 0 {
        options.push((ceil, replicas + 1));
        if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
            options.push((floor, replicas + 1));
        }
    }
    let delta = |(canary, total): (i32, i32)| {
        (f64::from(canary.saturating_mul(100)) / f64::from(total) - f64::from(weight)).abs()
    };
    let Some(mut best) = options.first().copied() else {
        return (0, replicas);
    };
    for option in options.iter().skip(1) {
        if delta(*option) < delta(best) {
            best = *option;
        }
    }
    (best.0, best.1 - best.0)
}

/// `CalculateReplicaCountsForBasicCanary`: the counts to scale the new and the stable
/// ReplicaSet to now — toward the weighted split, within `maxSurge` (scaling the stable up
/// first) and `maxUnavailable` (scaling older ReplicaSets down before these two).
pub fn basic_canary(
    rollout: &Rollout,
    new: Option<&ReplicaSet>,
    stable: Option<&ReplicaSet>,
    older: &[ReplicaSet],
) -> Split {
    let replicas = rollout.spec.replicas;
    let (_, weight) = canary_replicas_or_weight(rollout);
    let surge = max_surge(rollout);
    let (mut desired_new, mut desired_stable) = approximate_weighted_split(replicas, weight, surge);

    let mut new_count = new.map_or(0, |rs| rs.spec);
    let mut stable_count = 0;
    let scale_stable = stable_exists(new, stable);
    // The stable ReplicaSet when it is scaled separately from the new one.
    let separate_stable = stable.filter(|_| scale_stable);
    if let Some(s) = separate_stable {
        stable_count = s.spec;
    } else {
        desired_new = replicas;
        desired_stable = 0;
    }
    let max_allowed = replicas + surge;
    let total: i32 = older.iter().map(|rs| rs.spec).sum::<i32>()
        + new.map_or(0, |rs| rs.spec)
        + separate_stable.map_or(0, |rs| rs.spec);
    let mut scale_up = max_allowed - total;

    if let Some(s) = separate_stable
        && s.spec < desired_stable
        && scale_up > 0
    {
        if s.spec + scale_up < desired_stable {
            stable_count = s.spec + scale_up;
            scale_up = 0;
        } else {
            stable_count = desired_stable;
            scale_up -= desired_stable - s.spec;
        }
    }
    if let Some(n) = new
        && n.spec < desired_new
        && scale_up > 0
    {
        new_count = (n.spec + scale_up).min(desired_new);
    }
    if older.iter().map(|rs| rs.spec).sum::<i32>() > 0 {
        return (new_count, stable_count);
    }

    let min_available = replicas - max_unavailable(rollout);
    let increasing = new.is_none_or(|n| desired_new >= n.spec);
    let to_scale_down =
        replicas_for_scale_down(new, !increasing) + replicas_for_scale_down(stable, increasing);
    if to_scale_down <= min_available {
        return (new_count, stable_count);
    }
    let scale_down = to_scale_down - min_available;
    if !increasing {
        new_count = scale_down_count(new, desired_new, scale_down, new_count);
        (new_count, stable_count) = within_limits(
            new,
            stable,
            new_count,
            stable_count,
            max_allowed,
            min_available,
        );
    } else if scale_stable {
        stable_count = scale_down_count(stable, desired_stable, scale_down, stable_count);
        (stable_count, new_count) = within_limits(
            stable,
            new,
            stable_count,
            new_count,
            max_allowed,
            min_available,
        );
    }
    (new_count, stable_count)
}

/// `calculateScaleDownReplicaCount`: shrink `drain` toward `desired` by at most `scale_down`.
fn scale_down_count(
    drain: Option<&ReplicaSet>,
    desired: i32,
    scale_down: i32,
    current: i32,
) -> i32 {
    match drain {
        Some(rs) if rs.spec > desired => desired.max(rs.spec - scale_down),
        _ => current,
    }
}

/// `adjustReplicaWithinLimits`: keep the pair within `maxSurge`, giving back to `adjust` the
/// available pods `maxUnavailable` still needs and taking any excess from `drain`.
fn within_limits(
    drain: Option<&ReplicaSet>,
    adjust: Option<&ReplicaSet>,
    mut drain_count: i32,
    mut adjust_count: i32,
    max_allowed: i32,
    min_available: i32,
) -> (i32, i32) {
    let mut over = 0.max(adjust_count + drain_count - max_allowed);
    let mut available = drain.map_or(0, |rs| rs.available.min(drain_count));
    if let Some(adjust) = adjust {
        adjust_count -= over;
        available += adjust.available.min(adjust_count);
        let lost = 0.max(adjust.available - adjust_count);
        let needed = 0.max(min_available - available);
        adjust_count += lost.min(needed);
        over = 0.max(adjust_count + drain_count - max_allowed);
        drain_count -= over;
    }
    (drain_count, adjust_count)
}

/// `CheckMinPodsPerReplicaSet`: with a traffic router, a ReplicaSet that has pods has at least
/// `minPodsPerReplicaSet`.
fn min_pods(rollout: &Rollout, count: i32) -> i32 {
    let canary = &rollout.spec.canary;
    match canary.min_pods_per_replica_set {
        Some(min) if count != 0 && canary.traffic_routing => count.max(min),
        _ => count,
    }
}

/// `trafficWeightToReplicas`: `weight`% of `replicas`, rounded up.
pub fn traffic_weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    let product = i64::from(weight) * i64::from(replicas);
    product.div_euclid(i64::from(max_weight.max(1))) as i32
        + i32::from(product.rem_euclid(i64::from(max_weight.max(1))) != 0)
}

/// `CalculateReplicaCountsForTrafficRoutedCanary`: the canary scaled to the weight (or to
/// `setCanaryScale`); the stable left at full size, or with `dynamicStableScale` at the larger
/// of the desired and the actual stable traffic (`weights` = the `(canary, stable)` weights the
/// router has now), the canary not shrinking below its actual traffic while aborting.
pub fn traffic_routed_canary(rollout: &Rollout, weights: Option<(i32, i32)>) -> Split {
    let replicas = rollout.spec.replicas;
    let (fixed, weight) = canary_replicas_or_weight(rollout);
    let mut canary = match fixed {
        Some(n) => n,
        None => min_pods(rollout, traffic_weight_to_replicas(replicas, weight, 100)),
    };
    if !rollout.spec.canary.dynamic_stable_scale {
        return (canary, replicas);
    }
    let mut stable = traffic_weight_to_replicas(replicas, 100 - weight, 100);
    if let Some((canary_weight, stable_weight)) = weights {
        stable = stable.max(traffic_weight_to_replicas(replicas, stable_weight, 100));
        if rollout.status.abort {
            canary = canary.max(traffic_weight_to_replicas(replicas, canary_weight, 100));
        }
    }
    (min_pods(rollout, canary), min_pods(rollout, stable))
}

/// `AtDesiredReplicaCountsForCanary`: the new ReplicaSet has all its desired pods available,
/// the stable all its desired pods created (unless scaled dynamically), and without a router
/// no older ReplicaSet has pods available.
pub fn at_desired_counts(
    rollout: &Rollout,
    new: Option<&ReplicaSet>,
    stable: Option<&ReplicaSet>,
    older: &[ReplicaSet],
    weights: Option<(i32, i32)>,
) -> bool {
    let canary = &rollout.spec.canary;
    let (desired_new, desired_stable) = if canary.traffic_routing {
        traffic_routed_canary(rollout, weights)
    } else {
        basic_canary(rollout, new, stable, older)
    };
    if !new.is_some_and(|rs| rs.spec == desired_new && rs.available == desired_new) {
        return false;
    }
    if (!canary.traffic_routing || !canary.dynamic_stable_scale)
        && !stable.is_some_and(|rs| rs.spec == desired_stable && rs.pods == desired_stable)
    {
        return false;
    }
    canary.traffic_routing || older.iter().all(|rs| rs.available == 0)
}
