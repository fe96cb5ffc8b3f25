//! How Argo Rollouts decides an AnalysisRun (`analysis/analysis.go`, `utils/evaluate`, v1.9):
//! each measurement from its metric's conditions ([`measurement`], `EvaluateResult`), each
//! metric from the tally of its measurements ([`metric_phase`], `assessMetricStatus` and
//! `assessMetricFailureInconclusiveOrError`), the run from its metrics ([`run_phase`], the
//! worst of them by `analysisutil.IsWorse`). The unit tests transcribe upstream's
//! `TestAssessMetricStatus*` cases.

use std::collections::BTreeMap;

use serde_json::Value;

use super::AnalysisPhase;

/// What `assessMetricStatus` reads of a metric, its `{{args.…}}` resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `EffectiveCount`: the measurements to take; `None` runs until the run is stopped (a
    /// metric with an `interval` and no `count`).
    pub count: Option<u32>,
    /// `failureLimit` (default 0): more Failed measurements than this fail the metric.
    pub failure_limit: u32,
    /// `inconclusiveLimit` (default 0).
    pub inconclusive_limit: u32,
    /// `consecutiveErrorLimit` (default 4, `DefaultConsecutiveErrorLimit`).
    pub consecutive_error_limit: u32,
}

/// A metric's measurements so far (`MetricResult`'s counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Measurements that were not errors (an errored measurement is retried, not counted).
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    /// Errors since the last measurement that was not one.
    pub consecutive_error: u32,
    /// The phase of the last measurement, if any.
    pub last: Option<AnalysisPhase>,
}

impl Tally {
    /// One more completed measurement.
    pub fn record(&mut self, phase: AnalysisPhase) {
        match phase {
            AnalysisPhase::Error => {
                self.error += 1;
                self.consecutive_error += 1;
            }
            other => {
                self.count += 1;
                self.consecutive_error = 0;
                match other {
                    AnalysisPhase::Successful => self.successful += 1,
                    AnalysisPhase::Failed => self.failed += 1,
                    AnalysisPhase::Inconclusive => self.inconclusive += 1,
                    _ => {}
                }
            }
        }
        self.last = Some(phase);
    }
}

/// `assessMetricStatus`: Failed once failures exceed the failure limit, Inconclusive once
/// inconclusive measurements exceed theirs, Error after more consecutive errors than allowed
/// (checked in that order, a later one winning); else Successful when the count is reached,
/// or when the run is being terminated; else still Running.
pub fn metric_phase(limits: &Limits, tally: &Tally, terminating: bool) -> AnalysisPhase {
    let Some(last) = tally.last else {
        return if terminating {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Pending
        };
    };
    if !last.completed() {
        return AnalysisPhase::Running;
    }
    let mut decided = None;
    if tally.failed > limits.failure_limit {
        decided = Some(AnalysisPhase::Failed);
    }
    if tally.inconclusive > limits.inconclusive_limit {
        decided = Some(AnalysisPhase::Inconclusive);
    }
    if tally.consecutive_error > limits.consecutive_error_limit {
        decided = Some(AnalysisPhase::Error);
    }
    if let Some(phase) = decided {
        return phase;
    }
    if limits.count.is_some_and(|c| tally.count >= c) || terminating {
        return AnalysisPhase::Successful;
    }
    AnalysisPhase::Running
}

/// `analysisutil.IsWorse`'s order, best first.
fn rank(phase: AnalysisPhase) -> u8 {
    match phase {
        AnalysisPhase::Pending => 0,
        AnalysisPhase::Running => 1,
        AnalysisPhase::Successful => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
    }
}

/// `assessRunStatus`: Running while any metric is; then the worst metric's phase.
pub fn run_phase(metrics: &[AnalysisPhase]) -> AnalysisPhase {
    if metrics.iter().any(|p| !p.completed()) || metrics.is_empty() {
        return AnalysisPhase::Running;
    }
    metrics
        .iter()
        .copied()
        .max_by_key(|p| rank(*p))
        .unwrap_or(AnalysisPhase::Running)
}

/// `EvaluateResult`: a measurement's phase for `result` (the provider's answer as JSON).
/// Without conditions it passes; with only a success condition it fails when that is false;
/// with only a failure condition it passes when that is false; with both and neither true it
/// is Inconclusive. A condition that cannot be evaluated makes it an Error.
pub fn measurement(metric: &Value, result: &Value) -> AnalysisPhase {
    let scope = serde_json::json!({ "result": result });
    let eval = |key: &str| -> Option<Result<bool, ()>> {
        let condition = metric[key].as_str().filter(|c| !c.is_empty())?;
        Some(match crate::expr::eval(condition, &scope) {
            Ok(Value::Bool(b)) => Ok(b),
            _ => Err(()),
        })
    };
    let (success, failure) = match (eval("successCondition"), eval("failureCondition")) {
        (Some(Err(())), _) | (_, Some(Err(()))) => return AnalysisPhase::Error,
        (None, None) => return AnalysisPhase::Successful,
        (Some(Ok(s)), None) => (s, !s),
        (None, Some(Ok(f))) => (!f, f),
        (Some(Ok(s)), Some(Ok(f))) => (s, f),
    };
    if failure {
        AnalysisPhase::Failed
    } else if !success {
        AnalysisPhase::Inconclusive
    } else {
        AnalysisPhase::Successful
    }
}

/// The args an AnalysisRun gets: the template's defaults, then the values the Rollout passes.
pub fn args(template: &Value, passed: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = super::name_values(&template["spec"]["args"])
        .into_iter()
        .collect();
    out.extend(passed.iter().cloned());
    out
}

/// `text` with a whole `{{args.NAME}}` replaced by the arg's value.
fn resolved(text: &str, args: &BTreeMap<String, String>) -> Result<String, String> {
    match text
        .trim()
        .strip_prefix("{{args.")
        .and_then(|r| r.strip_suffix("}}"))
    {
        Some(name) => args
            .get(name.trim())
            .cloned()
            .ok_or_else(|| format!("no value for the arg `{name}`")),
        None => Ok(text.trim().to_string()),
    }
}

/// An int-or-string setting of a metric, `{{args.NAME}}` resolved.
fn setting(value: &Value, args: &BTreeMap<String, String>) -> Result<Option<u32>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.to_string(),
        Value::String(s) => resolved(s, args)?,
        other => return Err(format!("`{other}` is not a count")),
    };
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("`{text}` is not a count"))
}

impl Limits {
    /// The limits of `metric` (JSON) with `args`.
    pub fn of(metric: &Value, args: &BTreeMap<String, String>) -> Result<Limits, String> {
        let count = setting(&metric["count"], args)?.filter(|c| *c > 0);
        let interval = metric["interval"].as_str().is_some_and(|i| !i.is_empty());
        Ok(Limits {
            // `Metric.EffectiveCount`: no count and no interval measure once.
            count: count.or(if interval { None } else { Some(1) }),
            failure_limit: setting(&metric["failureLimit"], args)?.unwrap_or(0),
            inconclusive_limit: setting(&metric["inconclusiveLimit"], args)?.unwrap_or(0),
            consecutive_error_limit: setting(&metric["consecutiveErrorLimit"], args)?.unwrap_or(4),
        })
    }
}

/// A duration setting of a metric (`interval`, `initialDelay`), `{{args.NAME}}` resolved.
fn seconds(value: &Value, args: &BTreeMap<String, String>) -> Result<u64, String> {
    let text = match value.as_str() {
        None if value.is_null() => return Ok(0),
        None => {
            return super::duration_seconds(value)
                .ok_or_else(|| format!("`{value}` is no duration"));
        }
        Some(t) => resolved(t, args)?,
    };
    super::duration_seconds(&Value::String(text.clone()))
        .ok_or_else(|| format!("`{text}` is no duration"))
}

/// How long an AnalysisRun of `template` with `args` measures when every measurement passes:
/// the longest metric's `initialDelay` and `count − 1` intervals; `None` if a metric measures
/// until the run is stopped (it never passes by itself).
pub fn seconds_to_pass(
    template: &Value,
    passed: &[(String, String)],
) -> Result<Option<u64>, String> {
    let args = args(template, passed);
    let mut longest = 0;
    for metric in template["spec"]["metrics"].as_array().into_iter().flatten() {
        let Some(count) = Limits::of(metric, &args)?.count else {
            return Ok(None);
        };
        let took = seconds(&metric["initialDelay"], &args)?
            + u64::from(count.saturating_sub(1)) * seconds(&metric["interval"], &args)?;
        longest = longest.max(took);
    }
    Ok(Some(longest))
}

/// How long an AnalysisRun of `template` with `args` measures before it fails when every
/// measurement fails, as a bad version would measure: the first metric to fail (after its
/// `initialDelay` and `failureLimit + 1` failed measurements, one per `interval`) ends the run
/// (`IsTerminating`: a failed metric terminates the others). `None` if it cannot fail so.
pub fn seconds_to_fail(
    template: &Value,
    passed: &[(String, String)],
) -> Result<Option<u64>, String> {
    let args = args(template, passed);
    let mut first: Option<u64> = None;
    for metric in template["spec"]["metrics"].as_array().into_iter().flatten() {
        let limits = Limits::of(metric, &args)?;
        let mut tally = Tally::default();
        let enough = limits.failure_limit.saturating_add(1);
        let mut measurements = 0u32;
        let mut phase = AnalysisPhase::Running;
        while measurements < limits.count.map_or(enough, |c| c.min(enough)) {
            tally.record(AnalysisPhase::Failed);
            measurements += 1;
            phase = metric_phase(&limits, &tally, false);
            if phase.completed() {
                break;
            }
        }
        if phase == AnalysisPhase::Failed {
            let took = seconds(&metric["initialDelay"], &args)?
                + u64::from(measurements.saturating_sub(1)) * seconds(&metric["interval"], &args)?;
            first = Some(first.map_or(took, |f| f.min(took)));
        }
    }
    Ok(first)
}

/// The phase an AnalysisRun of `template` (JSON) with `args` ends in when every measurement of
/// every metric is Failed, as a bad version would measure: Successful means the gate cannot
/// fail whatever it measures.
pub fn when_every_measurement_fails(
    template: &Value,
    passed: &[(String, String)],
) -> Result<AnalysisPhase, String> {
    let args = args(template, passed);
    let mut phases = Vec::new();
    for metric in template["spec"]["metrics"].as_array().into_iter().flatten() {
        let limits = Limits::of(metric, &args)?;
        let mut tally = Tally::default();
        // A metric decides within `failureLimit + 1` failed measurements, or at its count.
        let enough = limits.failure_limit.saturating_add(1);
        let mut phase = AnalysisPhase::Running;
        for _ in 0..limits.count.map_or(enough, |c| c.min(enough)) {
            tally.record(AnalysisPhase::Failed);
            phase = metric_phase(&limits, &tally, false);
            if phase.completed() {
                break;
            }
        }
        phases.push(phase);
    }
    Ok(run_phase(&phases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use AnalysisPhase::*;

    fn tally(
        count: u32,
        failed: u32,
        inconclusive: u32,
        consecutive_error: u32,
        last: AnalysisPhase,
    ) -> Tally {
        Tally {
            count,
            failed,
            inconclusive,
            consecutive_error,
            last: Some(last),
            ..Tally::default()
        }
    }

    fn limits(count: Option<u32>, failure: u32, inconclusive: u32) -> Limits {
        Limits {
            count,
            failure_limit: failure,
            inconclusive_limit: inconclusive,
            consecutive_error_limit: 4,
        }
    }

    /// `TestAssessMetricStatusNoMeasurements`, `TestAssessMetricStatusInFlightMeasurement`.
    #[test]
    fn no_measurement_and_in_flight() {
        let l = limits(None, 0, 0);
        assert_eq!(metric_phase(&l, &Tally::default(), false), Pending);
        assert_eq!(metric_phase(&l, &Tally::default(), true), Successful);
        let in_flight = tally(1, 0, 0, 0, Running);
        assert_eq!(metric_phase(&l, &in_flight, false), Running);
        assert_eq!(metric_phase(&l, &in_flight, true), Running);
    }

    /// `TestAssessMetricStatusFailureLimit`, `TestAssessMetricStatusInconclusiveLimit`.
    #[test]
    fn limits_are_exceeded_not_reached() {
        let failed = tally(3, 3, 0, 0, Failed);
        assert_eq!(metric_phase(&limits(None, 2, 0), &failed, false), Failed);
        assert_eq!(metric_phase(&limits(None, 2, 0), &failed, true), Failed);
        assert_eq!(metric_phase(&limits(None, 3, 0), &failed, false), Running);
        assert_eq!(metric_phase(&limits(None, 3, 0), &failed, true), Successful);
        let inconclusive = tally(3, 0, 3, 0, Inconclusive);
        assert_eq!(
            metric_phase(&limits(None, 0, 2), &inconclusive, false),
            Inconclusive
        );
        assert_eq!(
            metric_phase(&limits(None, 0, 2), &inconclusive, true),
            Inconclusive
        );
        assert_eq!(
            metric_phase(&limits(None, 0, 3), &inconclusive, false),
            Running
        );
        assert_eq!(
            metric_phase(&limits(None, 0, 3), &inconclusive, true),
            Successful
        );
    }

    /// `TestAssessMetricStatusConsecutiveErrors`, `TestAssessMetricStatusCountReached`.
    #[test]
    fn errors_and_count() {
        let l = limits(None, 0, 0);
        let errors = tally(5, 0, 0, 5, Error);
        assert_eq!(metric_phase(&l, &errors, false), Error);
        assert_eq!(metric_phase(&l, &errors, true), Error);
        let four = tally(5, 0, 0, 4, Error);
        assert_eq!(metric_phase(&l, &four, true), Successful);
        assert_eq!(metric_phase(&l, &four, false), Running);
        let ten = Tally {
            count: 10,
            successful: 10,
            last: Some(Successful),
            ..Tally::default()
        };
        assert_eq!(
            metric_phase(&limits(Some(10), 0, 0), &ten, false),
            Successful
        );
        let mixed = Tally {
            successful: 5,
            inconclusive: 5,
            ..ten
        };
        assert_eq!(
            metric_phase(&limits(Some(10), 0, 0), &mixed, false),
            Inconclusive
        );
    }

    /// `TestRunMeasurementsResetConsecutiveErrorCounter`: an error is not counted and adds to
    /// the consecutive errors; anything else resets them.
    #[test]
    fn errors_are_not_counted() {
        let mut t = Tally {
            count: 4,
            error: 4,
            consecutive_error: 4,
            ..Tally::default()
        };
        t.record(Error);
        assert_eq!((t.count, t.error, t.consecutive_error), (4, 5, 5));
        t.record(Failed);
        assert_eq!((t.count, t.failed, t.consecutive_error), (5, 1, 0));
    }

    /// `EvaluateResult`'s four cases (`utils/evaluate/evaluate.go`), and an error.
    #[test]
    fn measurements_from_conditions() {
        let metric =
            |s: &str, f: &str| serde_json::json!({"successCondition": s, "failureCondition": f});
        let r = serde_json::json!([0.98]);
        assert_eq!(measurement(&metric("", ""), &r), Successful);
        assert_eq!(measurement(&metric("result[0] >= 0.99", ""), &r), Failed);
        assert_eq!(
            measurement(&metric("result[0] >= 0.95", ""), &r),
            Successful
        );
        assert_eq!(measurement(&metric("", "result[0] < 0.95"), &r), Successful);
        assert_eq!(measurement(&metric("", "result[0] < 0.99"), &r), Failed);
        assert_eq!(
            measurement(&metric("result[0] > 0.99", "result[0] < 0.9"), &r),
            Inconclusive
        );
        assert_eq!(measurement(&metric("result[0] >= 'x'", ""), &r), Error);
    }

    /// The gate check's question: with `times` 5, a `failure_limit` of 5 tolerates every
    /// failed measurement; 4 does not; without a count the metric fails at the sixth.
    #[test]
    fn a_gate_that_tolerates_every_failure_cannot_fail() {
        let template = |count: Value, limit: Value| {
            serde_json::json!({"spec": {
                "args": [{"name": "times", "value": "5"}],
                "metrics": [{"name": "m", "interval": "1m", "count": count, "failureLimit": limit,
                             "successCondition": "result[0] >= 0.99"}]}})
        };
        let t = template(Value::from("{{args.times}}"), Value::from(5));
        assert_eq!(when_every_measurement_fails(&t, &[]).unwrap(), Successful);
        assert_eq!(
            when_every_measurement_fails(&t, &[("times".into(), "6".into())]).unwrap(),
            Failed
        );
        assert_eq!(
            when_every_measurement_fails(&template(Value::from(5), Value::from(4)), &[]).unwrap(),
            Failed
        );
        assert_eq!(
            when_every_measurement_fails(&template(Value::Null, Value::from(5)), &[]).unwrap(),
            Failed
        );
    }

    /// A bad version fails a metric at its `failureLimit + 1`-th measurement, one `interval`
    /// apart after the `initialDelay`; the first metric to fail ends the run; a metric whose
    /// count is reached first cannot fail.
    #[test]
    fn how_long_a_bad_version_takes_to_fail() {
        let metric = |name: &str, delay: &str, interval: &str, count: Value, limit: u32| {
            serde_json::json!({"name": name, "initialDelay": delay, "interval": interval,
                "count": count, "failureLimit": limit, "successCondition": "result[0] >= 0.99"})
        };
        let run = |metrics: Vec<Value>| {
            seconds_to_fail(&serde_json::json!({"spec": {"metrics": metrics}}), &[]).unwrap()
        };
        assert_eq!(
            run(vec![metric("a", "0s", "30s", Value::Null, 1)]),
            Some(30)
        );
        assert_eq!(
            run(vec![metric("a", "1m", "30s", Value::Null, 2)]),
            Some(120)
        );
        assert_eq!(
            run(vec![
                metric("slow", "0s", "1m", Value::Null, 3),
                metric("fast", "10s", "10s", Value::Null, 0),
            ]),
            Some(10)
        );
        assert_eq!(run(vec![metric("a", "0s", "1m", Value::from(2), 5)]), None);
    }
}
