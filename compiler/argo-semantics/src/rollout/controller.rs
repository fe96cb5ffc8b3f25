//! The Argo Rollouts controller reconciling a canary Rollout (`rollout/canary.go`
//! `rolloutCanary` and `syncRolloutStatusCanary`), one pass at a time ([`Cluster::reconcile`]),
//! and a run of it over time for an outcome script ([`simulate`]).
//!
//! One pass, as upstream: a changed pod template resets the status and ends the pass; the new
//! ReplicaSet is created; AnalysisRuns are reconciled (an Inconclusive one pauses, a Failed or
//! Error one aborts, an abort or a full promotion cancels them all); then the stable, the new
//! and the older ReplicaSets are scaled, one of them per pass (`reconcileCanaryReplicaSets`);
//! if none needed it, a pause step adds its pause condition; last the status: a full promotion
//! when all steps are done and the new pods are all available (`shouldFullPromote`), the step
//! index back to 0 on abort, or one step further when the current one is complete
//! (`completedCurrentCanaryStep`). The phase comes from the status (`CalculateRolloutPhase`).
//!
//! Between passes the model's ReplicaSet controller and kubelet make every pod of a
//! ReplicaSet's spec exist and be available at once, and AnalysisRuns end as the script says.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::replicas::{self, current_step, stable_exists};
use super::{
    AnalysisPhase, PauseCondition, PauseReason, Progress, ReplicaSet, Rollout, RolloutPhase, Spec,
    Status,
};

/// Which AnalysisRun of a Rollout: an inline one of a step, or the background one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunKind {
    Step(i32),
    Background,
    /// Blue-green: on the preview, before the switch.
    PrePromotion,
    /// Blue-green: after the switch, before the new stack is stable.
    PostPromotion,
}

/// An AnalysisRun the controller created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalysisRun {
    pub name: String,
    pub kind: RunKind,
    /// The pod-template hash of the revision it analyses.
    pub pod_hash: String,
    pub phase: AnalysisPhase,
    pub message: String,
    /// `spec.terminate`: cancelled by the controller.
    pub terminated: bool,
    /// Seconds since the start of the run.
    pub created_at: u64,
}

/// What the controller adds to and removes from the pause conditions and the abort in one pass
/// (`pauseContext` in `rollout/pause.go`).
#[derive(Default)]
pub(super) struct PauseContext {
    pub(super) add: Vec<PauseReason>,
    pub(super) remove: Vec<PauseReason>,
    pub(super) clear: bool,
    pub(super) add_abort: Option<String>,
    pub(super) remove_abort: bool,
}

impl PauseContext {
    pub(super) fn is_aborted(&self, status: &Status) -> bool {
        !self.remove_abort && (self.add_abort.is_some() || status.abort)
    }
}

/// A Rollout with its ReplicaSets and AnalysisRuns: what the controller reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub rollout: Rollout,
    /// The pod-template hash and revision of the spec's template now.
    pub template: (String, u32),
    pub replica_sets: Vec<ReplicaSet>,
    pub analysis_runs: Vec<AnalysisRun>,
    /// Seconds since the start of the run.
    pub now: u64,
    /// The controller's Kubernetes events, in order (`RolloutStepCompleted (1/2 setWeight: 50)`).
    pub events: Vec<String>,
    /// Every step completed so far, in order (a retried update completes its steps again).
    pub completed_steps: Vec<StepDone>,
}

/// A canary step the controller has completed, and the Rollout at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepDone {
    pub step: i32,
    pub time: u64,
    /// Available pods of the revision being rolled out, and of every older revision.
    pub new_pods: i32,
    pub old_pods: i32,
    /// With a router: the canary's traffic weight.
    pub traffic_weight: Option<i32>,
}

/// `kubectl argo rollouts` verbs and other changes people make.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A new pod template (a new revision).
    UpdateTemplate,
    /// `promote`.
    Promote,
    /// `promote --full`.
    PromoteFull,
    /// `abort`: `status.abort: true`.
    Abort,
    /// `retry rollout`: `status.abort: false`.
    Retry,
    /// `spec.replicas` changed.
    Scale(i32),
    /// `spec.paused` set (true) or cleared.
    SetPaused(bool),
    /// The pod template set back to the stable revision's (what `pipec`'s rollback script and
    /// `kubectl argo rollouts undo` do); the controller then skips the steps.
    RestoreStable,
    /// The pod template set to that of an earlier revision (`kubectl argo rollouts undo
    /// --to-revision`, `pipec rollback --to`): its ReplicaSet, created back then, is the new
    /// one again, under the next revision number (`syncReplicaSetRevision`).
    RollBackTo(u32),
}

fn hash_of(revision: u32) -> String {
    format!("rev{revision}")
}

impl Cluster {
    /// A Rollout just applied: no ReplicaSet yet, template at revision 1.
    pub fn new(spec: Spec) -> Cluster {
        Cluster {
            rollout: Rollout {
                spec,
                status: Status::default(),
            },
            template: (hash_of(1), 1),
            replica_sets: Vec::new(),
            analysis_runs: Vec::new(),
            now: 0,
            events: Vec::new(),
            completed_steps: Vec::new(),
        }
    }

    pub(super) fn step_count(&self) -> i32 {
        i32::try_from(self.rollout.spec.canary.steps.len()).unwrap_or(i32::MAX)
    }

    pub(super) fn find_rs(&self, hash: &str) -> Option<usize> {
        self.replica_sets.iter().position(|rs| rs.hash == hash)
    }

    /// (new, stable, older) ReplicaSets as the controller groups them.
    fn groups(&self) -> (Option<ReplicaSet>, Option<ReplicaSet>, Vec<ReplicaSet>) {
        let new = self
            .find_rs(&self.template.0)
            .map(|i| self.replica_sets[i].clone());
        let status = &self.rollout.status;
        let stable = if status.stable_rs.is_empty() {
            None
        } else {
            self.find_rs(&status.stable_rs)
                .map(|i| self.replica_sets[i].clone())
        };
        let older = self
            .replica_sets
            .iter()
            .filter(|rs| {
                rs.hash != self.template.0 && stable.as_ref().is_none_or(|s| s.hash != rs.hash)
            })
            .cloned()
            .collect();
        (new, stable, older)
    }

    pub(super) fn fully_promoted(&self) -> bool {
        let s = &self.rollout.status;
        s.stable_rs == s.current_pod_hash
    }

    /// A person's action, as the CLI patches the Rollout (`pkg/kubectl-argo-rollouts/cmd`).
    pub fn act(&mut self, action: &Action) {
        let status = &mut self.rollout.status;
        match action {
            Action::UpdateTemplate => {
                let highest = self.replica_sets.iter().map(|rs| rs.revision).max();
                let revision = highest.unwrap_or(0).max(self.template.1) + 1;
                self.template = (hash_of(revision), revision);
            }
            Action::Promote => {
                // `promote`: clear the pause conditions; else, mid-analysis, skip the step. An
                // Inconclusive step analysis is skipped too (`TestPromoteInconclusiveStep`).
                self.rollout.spec.paused = false;
                let steps = i32::try_from(self.rollout.spec.canary.steps.len()).unwrap_or(0);
                let next = (status.current_step_index.unwrap_or(0) + 1).min(steps);
                if !status.pause_conditions.is_empty() {
                    status.pause_conditions.clear();
                    if status
                        .step_analysis
                        .as_ref()
                        .is_some_and(|(p, _)| *p == AnalysisPhase::Inconclusive)
                    {
                        status.controller_pause = false;
                        status.current_step_index = Some(next);
                    }
                } else if !self.rollout.spec.canary.steps.is_empty() {
                    status.current_step_index = Some(next);
                }
            }
            Action::PromoteFull => {
                self.rollout.spec.paused = false;
                if status.current_pod_hash != status.stable_rs {
                    status.promote_full = true;
                }
            }
            Action::Abort => status.abort = true,
            Action::Retry => status.abort = false,
            Action::Scale(n) => self.rollout.spec.replicas = *n,
            Action::SetPaused(p) => self.rollout.spec.paused = *p,
            Action::RestoreStable => {
                if let Some(rs) = self
                    .replica_sets
                    .iter()
                    .find(|rs| rs.hash == status.stable_rs)
                {
                    self.template = (rs.hash.clone(), rs.revision);
                }
            }
            Action::RollBackTo(revision) => {
                let next = self.replica_sets.iter().map(|rs| rs.revision).max();
                let next = next.unwrap_or(0).max(self.template.1) + 1;
                if let Some(rs) = self
                    .replica_sets
                    .iter_mut()
                    .find(|rs| rs.revision == *revision)
                {
                    rs.revision = next;
                    self.template = (rs.hash.clone(), next);
                }
            }
        }
    }

    /// `isRollbackWithinWindow` (`rollout/sync.go`): the new ReplicaSet was created before the
    /// stable one (a rollback), and fewer than `rollbackWindow.revisions` ReplicaSets were
    /// created between them. Such a rollback skips the steps (`canary.go`: the step index goes
    /// to the end, as for `promote --full`), its analyses (`reconcileAnalysisRuns`), and is
    /// promoted once the new ReplicaSet is available (`shouldFullPromote`: "Rollback within
    /// window"). The ReplicaSets' creation order is their order here; Argo also leaves out
    /// those an Experiment made (`experiment` here).
    pub fn rollback_within_window(&self) -> bool {
        let status = &self.rollout.status;
        let (Some(new), Some(stable)) = (
            self.find_rs(&self.template.0),
            self.find_rs(&status.stable_rs),
        ) else {
            return false;
        };
        let Some(window) = self.rollout.spec.rollback_window.filter(|w| *w > 0) else {
            return false;
        };
        if new >= stable {
            return false;
        }
        let between = self.replica_sets[new + 1..stable]
            .iter()
            .filter(|rs| !rs.experiment)
            .count();
        i32::try_from(between).is_ok_and(|b| b < window)
    }

    /// The ReplicaSet controller and the kubelet: each ReplicaSet gets the pods of its spec
    /// (new ones available `ready_after` seconds later; a scale-down removes starting pods
    /// first), and pods whose time has come become available.
    pub fn settle_pods(&mut self, ready_after: u64) {
        let now = self.now;
        for rs in &mut self.replica_sets {
            while rs.pods < rs.spec {
                rs.starting.push(now.saturating_add(ready_after));
                rs.pods += 1;
            }
            while rs.pods > rs.spec {
                if rs.starting.pop().is_none() {
                    rs.available -= 1;
                }
                rs.pods -= 1;
            }
            let before = rs.starting.len();
            rs.starting.retain(|t| *t > now);
            rs.available += i32::try_from(before - rs.starting.len()).unwrap_or(0);
        }
    }

    pub(super) fn scale(&mut self, hash: &str, to: i32) {
        if let Some(i) = self.find_rs(hash) {
            let rs = &mut self.replica_sets[i];
            self.events.push(format!(
                "ScalingReplicaSet (revision {} scaled {} -> {to})",
                rs.revision, rs.spec
            ));
            rs.spec = to;
        }
    }

    /// One reconcile of the Rollout (`rolloutCanary`, or `rolloutBlueGreen`).
    pub fn reconcile(&mut self) {
        // `rolloutReconcile`: a spec `ValidateRolloutSpec` refuses gets the `InvalidSpec`
        // condition and nothing else is done. (Upstream's message names the Rollout, which
        // the model does not know.)
        if let Some(error) = self.rollout.spec.invalid() {
            let status = &mut self.rollout.status;
            status.phase = Some(RolloutPhase::Degraded);
            status.message = format!("InvalidSpec: The Rollout is invalid: {error}");
            return;
        }
        if self.rollout.spec.blue_green.is_some() {
            self.reconcile_blue_green();
            return;
        }
        let old = self.rollout.status.clone();
        let mut status = old.clone();
        let mut pause = PauseContext::default();
        let steps = self.step_count();

        // `PodTemplateOrStepsChanged` → `resetRolloutStatus`.
        if old.current_pod_hash != self.template.0 {
            pause.clear = true;
            pause.remove_abort = true;
            status.promote_full = false;
            status.step_analysis = None;
            status.background_analysis = None;
            status.current_pod_hash = self.template.0.clone();
            status.current_step_index = (steps > 0).then_some(0);
            if steps > 0 && old.stable_rs == self.template.0 {
                status.current_step_index = Some(steps);
            }
            self.finish(status, &pause);
            return;
        }

        // `getAllReplicaSetsAndSyncRevision(true)`: the new ReplicaSet, at `NewRSNewReplicas`.
        if self.find_rs(&self.template.0).is_none() {
            let (_, stable, older) = self.groups();
            let count = if self.rollout.spec.canary.traffic_routing {
                replicas::traffic_routed_canary(&self.rollout, old.weights).0
            } else {
                replicas::basic_canary(&self.rollout, None, stable.as_ref(), &older).0
            };
            self.replica_sets.push(ReplicaSet::created(
                &self.template.0,
                self.template.1,
                count,
            ));
        }
        // `newRolloutContext`: a fully promoted Rollout is not aborted.
        if self.fully_promoted() && old.abort {
            pause.remove_abort = true;
        }
        // A retry after an abort is persisted on its own first
        // (`TestCanaryRolloutResetProgressDeadlineOnRetry` expects this patch, then another).
        if !pause.is_aborted(&old) && matches!(old.progress, Some(Progress::Aborted(_))) {
            status.progress = Some(Progress::Retry);
            self.finish(status, &pause);
            return;
        }

        let weights = self.traffic_weights(&pause);
        status.weights = weights;
        self.reconcile_analysis_runs(&mut status, &mut pause);
        if !pause.add.is_empty() {
            self.sync_status(status, pause, weights);
            return;
        }
        let scaled = self.reconcile_replica_sets(&pause, old.weights, weights);
        if !scaled {
            self.reconcile_pause(&mut pause);
        }
        self.sync_status(status, pause, weights);
    }

    /// `reconcileTrafficRouting`'s desired weight, as `(canary, stable)`; `None` without a router.
    fn traffic_weights(&self, pause: &PauseContext) -> Option<(i32, i32)> {
        let ro = &self.rollout;
        if !ro.spec.canary.traffic_routing {
            return None;
        }
        let (new, stable, older) = self.groups();
        let (_, index) = current_step(ro);
        let desired = if self.fully_promoted() {
            0
        } else if pause.is_aborted(&ro.status) {
            match stable.as_ref() {
                Some(s) if ro.spec.canary.dynamic_stable_scale && ro.spec.replicas > 0 => {
                    (100 - 100 * s.available / ro.spec.replicas).max(0)
                }
                _ => 0,
            }
        } else if new.as_ref().is_none_or(|rs| rs.available == 0) {
            0
        } else if !replicas::at_desired_counts(ro, new.as_ref(), stable.as_ref(), &older, None)
            && !ro.status.promote_full
        {
            let end = usize::try_from(index)
                .unwrap_or(0)
                .min(ro.spec.canary.steps.len());
            ro.spec.canary.steps[..end]
                .iter()
                .rev()
                .find_map(|s| s.set_weight)
                .unwrap_or(0)
        } else if index != self.step_count() {
            replicas::current_set_weight(ro)
        } else {
            100
        };
        Some((desired, 100 - desired))
    }

    /// `reconcileAnalysisRuns` for a canary.
    fn reconcile_analysis_runs(&mut self, status: &mut Status, pause: &mut PauseContext) {
        let hash = self.template.0.clone();
        let (_, index) = current_step(&self.rollout);
        let live = |run: &AnalysisRun, kind: RunKind| {
            run.pod_hash == hash && run.kind == kind && !run.terminated
        };
        let mut step_run = self
            .analysis_runs
            .iter()
            .position(|r| live(r, RunKind::Step(index)));
        let mut background_run = self
            .analysis_runs
            .iter()
            .position(|r| live(r, RunKind::Background));
        let report = |runs: &[AnalysisRun], i: Option<usize>| {
            i.map(|i| (runs[i].phase, runs[i].message.clone()))
        };

        let within_window = self.rollback_within_window();
        let ro = &self.rollout;
        if pause.is_aborted(&ro.status)
            || ro.status.promote_full
            || ro.status.stable_rs.is_empty()
            || within_window
        {
            status.step_analysis = report(&self.analysis_runs, step_run);
            status.background_analysis = report(&self.analysis_runs, background_run);
            self.terminate_runs(|_| true);
            return;
        }
        let inconclusive = ro
            .status
            .pause_conditions
            .iter()
            .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun);

        // `reconcileStepBasedAnalysisRun`.
        let (step, _) = current_step(ro);
        let at_a_step = step.is_some();
        if step.is_none_or(|s| s.analysis.is_none()) {
            step_run = None;
        } else if !inconclusive {
            match step_run {
                None => step_run = Some(self.create_run(RunKind::Step(index))),
                Some(i) => self.status_changes(i, "Step-based", pause),
            }
        }
        // `reconcileBackgroundAnalysisRun`.
        let ro = &self.rollout;
        let before_start = ro
            .spec
            .canary
            .analysis
            .as_ref()
            .and_then(|a| a.starting_step)
            .is_some_and(|start| at_a_step && index < start);
        if ro.spec.canary.analysis.is_none()
            || self.fully_promoted()
            || ro.status.current_pod_hash.is_empty()
            || before_start
        {
            background_run = None;
        } else if !inconclusive {
            match background_run {
                None => background_run = Some(self.create_run(RunKind::Background)),
                Some(i) => self.status_changes(i, "Background", pause),
            }
        }
        status.step_analysis = report(&self.analysis_runs, step_run);
        status.background_analysis = report(&self.analysis_runs, background_run);
        // Every other AnalysisRun is cancelled.
        let keep: Vec<usize> = [step_run, background_run].into_iter().flatten().collect();
        let mut i = 0;
        self.terminate_runs(|_| {
            i += 1;
            !keep.contains(&(i - 1))
        });
    }

    /// `reconcileAnalysisRunStatusChanges`.
    pub(super) fn status_changes(&self, i: usize, what: &str, pause: &mut PauseContext) {
        let run = &self.analysis_runs[i];
        match run.phase {
            AnalysisPhase::Inconclusive => pause.add.push(PauseReason::InconclusiveAnalysisRun),
            AnalysisPhase::Error | AnalysisPhase::Failed => {
                let mut message = format!("{what} analysis phase error/failed");
                if !run.message.is_empty() {
                    message = format!("{message}: {}", run.message);
                }
                pause.add_abort = Some(message);
            }
            _ => {}
        }
    }

    pub(super) fn create_run(&mut self, kind: RunKind) -> usize {
        let suffix = match kind {
            RunKind::Step(i) => format!("{}", i + 1),
            RunKind::Background => "background".to_string(),
            RunKind::PrePromotion => "pre".to_string(),
            RunKind::PostPromotion => "post".to_string(),
        };
        let name = format!("{}-{}-{suffix}", self.template.0, self.template.1);
        self.analysis_runs.push(AnalysisRun {
            name,
            kind,
            pod_hash: self.template.0.clone(),
            phase: AnalysisPhase::Running,
            message: String::new(),
            terminated: false,
            created_at: self.now,
        });
        self.analysis_runs.len() - 1
    }

    /// `cancelAnalysisRuns`: a running AnalysisRun told to terminate ends Successful ("Run
    /// Terminated"), as the analysis controller ends a terminated run with no failed metric.
    pub(super) fn terminate_runs(&mut self, mut which: impl FnMut(&AnalysisRun) -> bool) {
        for run in &mut self.analysis_runs {
            if which(run) && !run.terminated && !run.phase.completed() {
                run.terminated = true;
                run.phase = AnalysisPhase::Successful;
                run.message = "Run Terminated".to_string();
            }
        }
    }

    /// `reconcileCanaryReplicaSets`: scales the stable, else the new, else the older
    /// ReplicaSets; whether it scaled any.
    fn reconcile_replica_sets(
        &mut self,
        pause: &PauseContext,
        old_weights: Option<(i32, i32)>,
        weights: Option<(i32, i32)>,
    ) -> bool {
        let ro = &self.rollout;
        // `haltProgress`.
        if ro.spec.paused
            || ro
                .status
                .pause_conditions
                .iter()
                .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun)
        {
            return false;
        }
        let (new, stable, older) = self.groups();
        let routed = ro.spec.canary.traffic_routing;
        // `removeScaleDownDeadlines`: not the new ReplicaSet's while its abort delay runs
        // (`shouldDelayScaleDownOnAbort`).
        let delaying = routed && pause.is_aborted(&ro.status);
        for rs in &mut self.replica_sets {
            if (new.as_ref().is_some_and(|n| n.hash == rs.hash) && !delaying)
                || stable.as_ref().is_some_and(|s| s.hash == rs.hash)
            {
                rs.scale_down_deadline = None;
            }
        }
        let ro = &self.rollout;
        if let Some(s) = stable.as_ref()
            && stable_exists(new.as_ref(), Some(s))
        {
            let desired = if routed {
                replicas::traffic_routed_canary(ro, old_weights).1
            } else {
                replicas::basic_canary(ro, new.as_ref(), Some(s), &older).1
            };
            if desired != s.spec {
                self.scale(&s.hash, desired);
                return true;
            }
        }
        if let Some(n) = new.as_ref() {
            let desired = if routed {
                replicas::traffic_routed_canary(ro, weights).0
            } else {
                replicas::basic_canary(ro, Some(n), stable.as_ref(), &older).0
            };
            let desired = self.abort_scale_down_delay(pause, n, desired);
            if desired != n.spec {
                self.scale(&n.hash, desired);
                return true;
            }
        }
        self.scale_down_older(older)
    }

    /// `shouldDelayScaleDownOnAbort`: with a router, an aborted canary keeps its pods for
    /// `abortScaleDownDelaySeconds` (30 by default; 0 keeps them until the next update).
    fn abort_scale_down_delay(
        &mut self,
        pause: &PauseContext,
        new: &ReplicaSet,
        desired: i32,
    ) -> i32 {
        let canary = &self.rollout.spec.canary;
        if !canary.traffic_routing || !pause.is_aborted(&self.rollout.status) || desired >= new.spec
        {
            return desired;
        }
        let delay = match canary.abort_scale_down_delay_seconds {
            Some(0) => return new.spec,
            Some(s) => u64::try_from(s).unwrap_or(0),
            None => 30,
        };
        let now = self.now;
        let Some(i) = self.find_rs(&new.hash) else {
            return desired;
        };
        match self.replica_sets[i].scale_down_deadline {
            None => {
                self.replica_sets[i].scale_down_deadline = Some(now + delay);
                new.spec
            }
            Some(deadline) if now >= deadline => desired,
            Some(_) => new.spec,
        }
    }

    /// `scaleDownOldReplicaSetsForCanary`: older ReplicaSets scaled down within
    /// `maxUnavailable`, newest first; with a router the previous stable is kept for
    /// `scaleDownDelaySeconds` (30 by default) after a promotion.
    fn scale_down_older(&mut self, mut older: Vec<ReplicaSet>) -> bool {
        let ro = &self.rollout;
        let available: i32 = self.replica_sets.iter().map(|rs| rs.available).sum();
        let min_available = ro.spec.replicas - replicas::max_unavailable(ro);
        let mut max_scale_down = available - min_available;
        if max_scale_down <= 0 {
            return false;
        }
        older.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        let routed = ro.spec.canary.traffic_routing;
        let dynamic = ro.spec.canary.dynamic_stable_scale;
        let delay =
            u64::try_from(ro.spec.canary.scale_down_delay_seconds.unwrap_or(30)).unwrap_or(0);
        let promoted = self.fully_promoted();
        let mut scaled = false;
        for rs in older {
            if max_scale_down <= 0 {
                break;
            }
            if rs.spec == 0 {
                continue;
            }
            let mut desired = 0;
            if !routed {
                if rs.spec > max_scale_down {
                    desired = rs.spec - max_scale_down;
                }
            } else if (promoted || rs.scale_down_deadline.is_some()) && !dynamic {
                desired = match rs.scale_down_deadline {
                    None => {
                        let now = self.now;
                        if let Some(i) = self.find_rs(&rs.hash) {
                            self.replica_sets[i].scale_down_deadline = Some(now + delay);
                        }
                        rs.spec
                    }
                    Some(deadline) if self.now >= deadline => 0,
                    Some(_) => rs.spec,
                };
            }
            if rs.spec == desired {
                continue;
            }
            self.scale(&rs.hash, desired);
            max_scale_down -= rs.spec - desired;
            scaled = true;
        }
        scaled
    }

    /// `reconcileCanaryPause`: a pause step adds its pause condition once.
    fn reconcile_pause(&self, pause: &mut PauseContext) {
        let ro = &self.rollout;
        if ro.spec.paused || ro.status.promote_full {
            return;
        }
        let (step, _) = current_step(ro);
        if step.is_some_and(|s| s.pause.is_some())
            && !has_pause(&ro.status, PauseReason::CanaryPauseStep)
            && !ro.status.controller_pause
        {
            pause.add.push(PauseReason::CanaryPauseStep);
        }
    }

    /// `completedCurrentCanaryStep`.
    fn completed_current_step(&self, status: &Status, weights: Option<(i32, i32)>) -> bool {
        let ro = &self.rollout;
        if ro.spec.paused {
            return false;
        }
        let (Some(step), _) = current_step(ro) else {
            return false;
        };
        if let Some(duration) = step.pause {
            // `CompletedCanaryPauseStep`. The controller is requeued for the moment the pause
            // ends, so `now.After(end)` holds from that second on.
            let cond = ro
                .status
                .pause_conditions
                .iter()
                .find(|c| c.reason == PauseReason::CanaryPauseStep);
            return match (cond, duration) {
                (None, _) => ro.status.controller_pause,
                (Some(c), Some(seconds)) => self.now >= c.start_time + seconds,
                (Some(_), None) => false,
            };
        }
        if step.set_canary_scale.is_some() || step.set_weight.is_some() {
            let (new, stable, older) = self.groups();
            return replicas::at_desired_counts(ro, new.as_ref(), stable.as_ref(), &older, weights);
        }
        if step.analysis.is_some() {
            return status
                .step_analysis
                .as_ref()
                .is_some_and(|(p, _)| *p == AnalysisPhase::Successful);
        }
        false
    }

    /// `syncRolloutStatusCanary` after the template check.
    fn sync_status(
        &mut self,
        mut status: Status,
        mut pause: PauseContext,
        weights: Option<(i32, i32)>,
    ) {
        let steps = self.step_count();
        let (step, mut index) = current_step(&self.rollout);
        let within_window = self.rollback_within_window();
        let old = &self.rollout.status;
        if old.promote_full || within_window {
            pause.clear = true;
            pause.remove_abort = true;
            if steps > 0 {
                index = steps;
            }
        }
        let (new, stable, _) = self.groups();
        // `shouldFullPromote`.
        let promote = if stable.is_none() {
            true
        } else if pause.is_aborted(old) {
            false
        } else {
            new.as_ref()
                .is_some_and(|n| n.available == self.rollout.spec.replicas)
                && (old.promote_full || within_window || steps == 0 || index == steps)
        };
        if promote {
            // `promoteStable`.
            pause.clear = true;
            pause.remove_abort = true;
            status.promote_full = false;
            status.current_step_index = (steps > 0).then_some(steps);
            if status.stable_rs != status.current_pod_hash {
                status.stable_rs = status.current_pod_hash.clone();
                self.events.push("RolloutCompleted".to_string());
            }
            self.finish(status, &pause);
            return;
        }
        if pause.is_aborted(old) {
            if steps > 0 {
                status.current_step_index = Some(if status.stable_rs == status.current_pod_hash {
                    steps
                } else {
                    0
                });
            }
            self.finish(status, &pause);
            return;
        }
        if let Some(step) = step
            && self.completed_current_step(&status, weights)
        {
            let frame = self.frame();
            self.completed_steps.push(StepDone {
                step: index,
                time: self.now,
                new_pods: frame.new_pods,
                old_pods: frame.old_pods,
                traffic_weight: weights.map(|(c, _)| c),
            });
            index += 1;
            status.step_analysis = None;
            self.events.push(format!(
                "RolloutStepCompleted ({index}/{steps} {})",
                step.describe()
            ));
            pause.remove.push(PauseReason::CanaryPauseStep);
        }
        // `GetCurrentCanaryStep` gives no index to a Rollout without steps.
        status.current_step_index = (steps > 0).then_some(index);
        self.finish(status, &pause);
    }

    /// `CalculatePauseStatus`, `calculateRolloutConditions` and the phase, then persist.
    pub(super) fn finish(&mut self, mut status: Status, pause: &PauseContext) {
        let old = &self.rollout.status;
        let aborted = if let Some(message) = &pause.add_abort {
            status.abort = true;
            status.aborted_at = Some(old.aborted_at.unwrap_or(self.now));
            Some(message.clone())
        } else if !pause.remove_abort && old.abort {
            status.abort = true;
            status.aborted_at = Some(old.aborted_at.unwrap_or(self.now));
            Some(String::new())
        } else {
            status.abort = false;
            status.aborted_at = None;
            None
        };
        status.pause_conditions.clear();
        status.controller_pause = false;
        if aborted.is_some() {
            // An aborted Rollout keeps its pause conditions as they were.
            status.pause_conditions = old.pause_conditions.clone();
            status.controller_pause = old.controller_pause;
        } else if !pause.clear {
            let mut controller_pause = old.controller_pause;
            let mut conditions: Vec<PauseCondition> = old
                .pause_conditions
                .iter()
                .filter(|c| !pause.remove.contains(&c.reason))
                .copied()
                .collect();
            for reason in &pause.add {
                if !old.pause_conditions.iter().any(|c| c.reason == *reason) {
                    conditions.push(PauseCondition {
                        reason: *reason,
                        start_time: self.now,
                    });
                    controller_pause = true;
                }
            }
            if !conditions.is_empty() {
                status.controller_pause = controller_pause;
                status.pause_conditions = conditions;
            }
        }
        // The Progressing condition (only its reason matters to the phase).
        if !old.controller_pause && status.controller_pause {
            if let Some(c) = status.pause_conditions.last() {
                self.events
                    .push(format!("RolloutPaused ({})", c.reason.name()));
            }
        } else if old.controller_pause && !status.controller_pause && aborted.is_none() {
            self.events.push("RolloutResumed".to_string());
        }
        status.progress = match (&aborted, &old.progress) {
            (Some(_), Some(Progress::Aborted(message))) => Some(Progress::Aborted(message.clone())),
            (Some(extra), _) => {
                let mut message = format!("Rollout aborted update to revision {}", self.template.1);
                if !extra.is_empty() {
                    message = format!("{message}: {extra}");
                }
                self.events.push(format!("RolloutAborted: {message}"));
                Some(Progress::Aborted(message))
            }
            (None, Some(Progress::Aborted(_))) => Some(Progress::Retry),
            (None, Some(p)) => Some(p.clone()),
            (None, None) => Some(Progress::Other),
        };
        // `calculateBaseStatus`.
        let (new, _, _) = self.groups();
        status.replicas = self.replica_sets.iter().map(|rs| rs.pods).sum();
        status.available_replicas = self.replica_sets.iter().map(|rs| rs.available).sum();
        status.updated_replicas = new.map_or(0, |rs| rs.pods);
        // `syncRolloutStatusBlueGreen`: a blue-green Rollout counts its active stack's pods.
        if self.rollout.spec.blue_green.is_some()
            && let Some(i) = self.find_rs(&status.active_selector)
        {
            status.available_replicas = self.replica_sets[i].available;
        }
        self.progress_deadline(&mut status, aborted.is_some());
        let (phase, message) = phase(&self.rollout.spec, &status);
        status.phase = Some(phase);
        status.message = message;
        self.rollout.status = status;
    }

    /// The progress deadline of `calculateRolloutConditions` (`rollout/sync.go`): progress
    /// (`RolloutProgressing`: pods updated, ready or available, old pods gone, the stable or
    /// the step changed, a blue-green selector moved) and every pause or resume
    /// (`checkPausedConditions`) restart the clock; an update that is not healthy, not
    /// aborted and not at a pause, analysis or experiment step (`isIndefiniteStep`) that goes
    /// longer than `progressDeadlineSeconds` without either is timed out, and Degraded until
    /// it progresses again (`progressDeadlineAbort`, which pipec never sets, is not modelled).
    ///
    /// One divergence, on purpose: upstream also times out a Rollout held by a pause
    /// condition outside a step (a blue-green Rollout waiting for its promote), and the next
    /// reconcile's `checkPausedConditions` sets it back to Paused, so its phase flaps
    /// (argoproj/argo-rollouts#3534). The model settles each instant to a fixpoint, where the
    /// flap would last no time, and its docs say progress is not estimated while paused; so a
    /// paused Rollout is not timed out here.
    fn progress_deadline(&self, status: &mut Status, aborted: bool) {
        let old = &self.rollout.status;
        let paused = |s: &Status| !s.pause_conditions.is_empty() || self.rollout.spec.paused;
        status.progress_at = old.progress_at;
        if aborted {
            return;
        }
        let progressed = status.updated_replicas != old.updated_replicas
            || status.replicas - status.updated_replicas < old.replicas - old.updated_replicas
            || status.available_replicas > old.available_replicas
            || status.stable_rs != old.stable_rs
            || status.current_step_index != old.current_step_index
            || status.active_selector != old.active_selector
            || status.preview_selector != old.preview_selector
            || paused(status) != paused(old)
            || matches!(status.progress, Some(Progress::Retry))
                && !matches!(old.progress, Some(Progress::Retry));
        if progressed {
            status.progress_at = self.now;
            if matches!(status.progress, Some(Progress::TimedOut(_))) {
                status.progress = Some(Progress::Other);
            }
            return;
        }
        if self.deadline_counts(status)
            && self.now > status.progress_at + self.rollout.spec.progress_deadline_seconds
            && !matches!(status.progress, Some(Progress::TimedOut(_)))
        {
            status.progress = Some(Progress::TimedOut(format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                self.template.0
            )));
        }
    }

    /// Whether the progress deadline runs now ([`Cluster::progress_deadline`]): an update
    /// under way, not paused and not at an indefinite step.
    fn deadline_counts(&self, status: &Status) -> bool {
        let healthy = phase(&self.rollout.spec, status).0 == RolloutPhase::Healthy;
        let indefinite = current_step(&self.rollout)
            .0
            .is_some_and(|s| s.pause.is_some() || s.analysis.is_some());
        !healthy
            && !indefinite
            && status.pause_conditions.is_empty()
            && !self.rollout.spec.paused
            && !matches!(status.progress, Some(Progress::Aborted(_)))
    }
}

fn has_pause(status: &Status, reason: PauseReason) -> bool {
    status.pause_conditions.iter().any(|c| c.reason == reason)
}

/// `CalculateRolloutPhase` (`utils/rollout/rolloututil.go`).
pub fn phase(spec: &Spec, status: &Status) -> (RolloutPhase, String) {
    match &status.progress {
        Some(Progress::Aborted(message)) => {
            return (RolloutPhase::Degraded, format!("RolloutAborted: {message}"));
        }
        Some(Progress::TimedOut(message)) => {
            return (
                RolloutPhase::Degraded,
                format!("ProgressDeadlineExceeded: {message}"),
            );
        }
        _ => {}
    }
    if spec.paused {
        return (RolloutPhase::Paused, "manually paused".to_string());
    }
    if let Some(cond) = status.pause_conditions.first() {
        return (RolloutPhase::Paused, cond.reason.name().to_string());
    }
    let progressing = |m: &str| (RolloutPhase::Progressing, m.to_string());
    if status.updated_replicas < spec.replicas {
        return progressing("more replicas need to be updated");
    }
    if status.available_replicas < status.updated_replicas {
        return progressing("updated replicas are still becoming available");
    }
    if let Some(bg) = &spec.blue_green {
        if status.active_selector.is_empty() || status.active_selector != status.current_pod_hash {
            return progressing("active service cutover pending");
        }
        if status.stable_rs.is_empty() || status.stable_rs != status.current_pod_hash {
            let waiting = bg.post_promotion_analysis.is_some()
                && status
                    .post_promotion
                    .as_ref()
                    .is_none_or(|(p, _)| !p.completed());
            return progressing(if waiting {
                "waiting for analysis to complete"
            } else {
                "waiting for post-promotion verification to complete"
            });
        }
        return (RolloutPhase::Healthy, String::new());
    }
    if !spec.canary.traffic_routing && status.replicas > status.updated_replicas {
        return progressing("old replicas are pending termination");
    }
    if status.stable_rs.is_empty() || status.stable_rs != status.current_pod_hash {
        return progressing("waiting for all steps to complete");
    }
    (RolloutPhase::Healthy, String::new())
}

/// How one AnalysisRun ends in a [`Script`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub phase: AnalysisPhase,
    /// Seconds after the run is created.
    pub after: u64,
    pub message: String,
}

/// The outcome script of a simulated run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Script {
    /// What people do, at which second (stable order for the same second).
    pub actions: Vec<(u64, Action)>,
    /// How AnalysisRuns end, by kind; a step's inline run not listed succeeds at once, the
    /// background run not listed runs until it is cancelled.
    pub analyses: BTreeMap<RunKind, Verdict>,
    /// The last second simulated.
    pub horizon: u64,
    /// Seconds a new pod takes to become available.
    pub pod_ready_after: u64,
    /// Whether a pause that waits for a promote ([`Cluster::held_by_pause`]) is promoted as soon
    /// as it is reached (pipec's Workflow promotes those once the stage it runs has passed).
    pub promote_held_pauses: bool,
}

/// The Rollout at one moment of a [`Timeline`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub time: u64,
    /// `status.currentStepIndex`, if the Rollout has steps.
    pub step: Option<i32>,
    /// `GetCurrentSetWeight`: the weight the steps ask for now.
    pub set_weight: i32,
    /// With a router: the canary's traffic weight it has set; blue-green: 100 once the active
    /// Service selects the new revision, else 0.
    pub traffic_weight: Option<i32>,
    /// Available pods of the revision being rolled out, and of every older revision.
    pub new_pods: i32,
    pub old_pods: i32,
    pub phase: RolloutPhase,
    pub message: String,
    /// The controller's events since the previous frame.
    pub events: Vec<String>,
}

/// A simulated run: a frame whenever something a user sees changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    pub frames: Vec<Frame>,
    pub cluster: Cluster,
    /// When a pause that waits for a promote was promoted (`Script::promote_held_pauses`).
    pub promoted_at: Vec<u64>,
}

/// Passes at one instant before the model gives up on settling (the controller converges in a
/// handful; a Rollout that does not is reported as it stands).
const PASSES_PER_INSTANT: usize = 64;

/// Runs the Rollout (JSON) from its first apply for `script`: at each instant people act, the
/// controller reconciles until nothing changes, pods become available and AnalysisRuns end as
/// scripted; then time moves to the next moment something is due (an action, the end of a
/// timed pause, an analysis verdict, a scale-down deadline) until none is left or the horizon.
pub fn simulate(rollout: &Value, script: &Script) -> Result<Timeline, String> {
    let spec = Spec::from_json(rollout)?;
    Ok(simulate_spec(spec, script))
}

/// [`simulate`] for a spec already read.
pub fn simulate_spec(spec: Spec, script: &Script) -> Timeline {
    run(Cluster::new(spec), script)
}

/// An update of a Rollout that is Healthy at its first revision: the new pod template is
/// applied at second 0 and the run goes on for `script` (its times count from the update).
pub fn simulate_update(spec: Spec, script: &Script) -> Timeline {
    let mut cluster = Cluster::new(spec);
    settle(&mut cluster, &Script::default());
    cluster.events.clear();
    cluster.act(&Action::UpdateTemplate);
    run(cluster, script)
}

/// The update of `rollout` (JSON) when nothing goes wrong: every analysis passes once it has
/// measured ([`super::analysis::seconds_to_pass`], with the AnalysisTemplates by name), pods
/// start at once, and every pause without a duration is promoted as soon as it holds (pipec's
/// Workflow promotes those once its own stage has passed). `Err` for what the model does not
/// cover, an AnalysisTemplate that is not given, or an inline analysis that never ends.
pub fn passing_update(
    rollout: &Value,
    templates: &BTreeMap<String, Value>,
) -> Result<Timeline, String> {
    Updates::default().passing(rollout, templates)
}

/// [`passing_update`] and [`update_failing`] of many Rollouts, each distinct update simulated
/// once. The controller acts on a Rollout's spec and on what happens to it (the [`Script`]):
/// not on its name, its pod template or its analyses' arguments, which only decide the
/// verdicts the script already holds. So Rollouts that share a release policy (a monorepo's
/// services, each with the same canary) share one simulation, and checking a pipeline costs
/// one simulation per distinct policy rather than one per service.
#[derive(Default)]
pub struct Updates {
    simulated: HashMap<(Spec, Script), Timeline>,
}

impl Updates {
    /// [`passing_update`].
    pub fn passing(
        &mut self,
        rollout: &Value,
        templates: &BTreeMap<String, Value>,
    ) -> Result<Timeline, String> {
        self.failing(rollout, templates, &BTreeSet::new())
    }

    /// [`update_failing`].
    pub fn failing(
        &mut self,
        rollout: &Value,
        templates: &BTreeMap<String, Value>,
        failing: &BTreeSet<String>,
    ) -> Result<Timeline, String> {
        let (mut spec, script) = update_script(rollout, templates, failing)?;
        let args = take_analysis_args(&mut spec);
        let key = (spec, script);
        let mut timeline = match self.simulated.get(&key) {
            Some(timeline) => timeline.clone(),
            None => {
                let timeline = simulate_update(key.0.clone(), &key.1);
                self.simulated.insert(key, timeline.clone());
                timeline
            }
        };
        // The arguments back, as read: the simulation never looked at them.
        let spec = &mut timeline.cluster.rollout.spec;
        for (step, args) in spec.canary.steps.iter_mut().zip(args.steps) {
            step.analysis_args = args;
        }
        if let (Some(bg), Some((pre, post))) = (spec.blue_green.as_mut(), args.blue_green) {
            bg.pre_promotion_args = pre;
            bg.post_promotion_args = post;
        }
        Ok(timeline)
    }
}

/// The arguments a spec passes its analyses (name, value), taken out of it.
struct AnalysisArgs {
    steps: Vec<Args>,
    /// Blue-green: before and after the switch.
    blue_green: Option<(Args, Args)>,
}

type Args = Vec<(String, String)>;

fn take_analysis_args(spec: &mut Spec) -> AnalysisArgs {
    AnalysisArgs {
        steps: spec
            .canary
            .steps
            .iter_mut()
            .map(|s| std::mem::take(&mut s.analysis_args))
            .collect(),
        blue_green: spec.blue_green.as_mut().map(|bg| {
            (
                std::mem::take(&mut bg.pre_promotion_args),
                std::mem::take(&mut bg.post_promotion_args),
            )
        }),
    }
}

/// [`passing_update`], except that every AnalysisRun of a template in `failing` measures a bad
/// version: each of its measurements fails, so it fails as soon as its limits let it
/// ([`super::analysis::seconds_to_fail`]) and the update aborts. That includes the canary's
/// background analysis, which otherwise runs until the update completes.
pub fn update_failing(
    rollout: &Value,
    templates: &BTreeMap<String, Value>,
    failing: &BTreeSet<String>,
) -> Result<Timeline, String> {
    Updates::default().failing(rollout, templates, failing)
}

/// The spec of `rollout` and the script of its update for [`update_failing`]: pauses
/// promoted as they hold, each AnalysisRun's verdict from its templates and arguments.
fn update_script(
    rollout: &Value,
    templates: &BTreeMap<String, Value>,
    failing: &BTreeSet<String>,
) -> Result<(Spec, Script), String> {
    let spec = Spec::from_json(rollout)?;
    let mut script = Script {
        promote_held_pauses: true,
        horizon: 366 * 86_400,
        ..Script::default()
    };
    let took = |names: &[String], args: &[(String, String)]| -> Result<u64, String> {
        let mut longest = 0;
        for name in names {
            let template = templates
                .get(name)
                .ok_or_else(|| format!("no AnalysisTemplate `{name}`"))?;
            let seconds = super::analysis::seconds_to_pass(template, args)?
                .ok_or_else(|| format!("the analysis `{name}` measures until it is stopped"))?;
            longest = longest.max(seconds);
        }
        Ok(longest)
    };
    let pass = |after: u64| Verdict {
        phase: AnalysisPhase::Successful,
        after,
        message: String::new(),
    };
    // The run of `names` fails if one of them does, when the first of those fails.
    let fails = |names: &[String], args: &[(String, String)]| -> Result<Option<Verdict>, String> {
        let mut first: Option<u64> = None;
        for name in names.iter().filter(|n| failing.contains(*n)) {
            let template = templates
                .get(name)
                .ok_or_else(|| format!("no AnalysisTemplate `{name}`"))?;
            if let Some(seconds) = super::analysis::seconds_to_fail(template, args)? {
                first = Some(first.map_or(seconds, |f| f.min(seconds)));
            }
        }
        Ok(first.map(|after| Verdict {
            phase: AnalysisPhase::Failed,
            after,
            message: "every measurement failed".to_string(),
        }))
    };
    for (i, step) in spec.canary.steps.iter().enumerate() {
        if let Some(names) = &step.analysis {
            let index = i32::try_from(i).map_err(|e| e.to_string())?;
            let verdict = match fails(names, &step.analysis_args)? {
                Some(failed) => failed,
                None => pass(took(names, &step.analysis_args)?),
            };
            script.analyses.insert(RunKind::Step(index), verdict);
        }
    }
    if let Some(background) = &spec.canary.analysis {
        let args = super::name_values(&rollout["spec"]["strategy"]["canary"]["analysis"]["args"]);
        if let Some(failed) = fails(&background.templates, &args)? {
            script.analyses.insert(RunKind::Background, failed);
        }
    }
    if let Some(bg) = &spec.blue_green {
        for (kind, names, args) in [
            (
                RunKind::PrePromotion,
                &bg.pre_promotion_analysis,
                &bg.pre_promotion_args,
            ),
            (
                RunKind::PostPromotion,
                &bg.post_promotion_analysis,
                &bg.post_promotion_args,
            ),
        ] {
            if let Some(names) = names {
                let verdict = match fails(names, args)? {
                    Some(failed) => failed,
                    None => pass(took(names, args)?),
                };
                script.analyses.insert(kind, verdict);
            }
        }
    }
    Ok((spec, script))
}

/// Runs `cluster` from its present state for `script`.
pub fn run(mut cluster: Cluster, script: &Script) -> Timeline {
    let mut frames: Vec<Frame> = Vec::new();
    let mut promoted_at = Vec::new();
    let mut actions = script.actions.clone();
    actions.sort_by_key(|(t, _)| *t);
    let mut next_action = 0;
    loop {
        while next_action < actions.len() && actions[next_action].0 <= cluster.now {
            cluster.act(&actions[next_action].1);
            next_action += 1;
        }
        settle(&mut cluster, script);
        // The Workflow (or a person) promotes a pause without a duration as soon as it holds.
        if script.promote_held_pauses && cluster.held_by_pause() {
            promoted_at.push(cluster.now);
            cluster.act(&Action::Promote);
            settle(&mut cluster, script);
        }
        let frame = cluster.frame();
        if frames.last().is_none_or(|last| last.differs(&frame)) {
            frames.push(frame);
        }
        cluster.events.clear();
        let next = [
            actions.get(next_action).map(|(t, _)| *t),
            cluster.next_due(script),
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > cluster.now)
        .min();
        match next {
            Some(t) if t <= script.horizon => cluster.now = t,
            _ => break,
        }
    }
    Timeline {
        frames,
        cluster,
        promoted_at,
    }
}

/// Reconcile, pods, analyses, until the cluster stands still at this instant.
pub fn settle(cluster: &mut Cluster, script: &Script) {
    for _ in 0..PASSES_PER_INSTANT {
        let before = (
            cluster.rollout.clone(),
            cluster.replica_sets.clone(),
            cluster.analysis_runs.clone(),
        );
        cluster.reconcile();
        cluster.settle_pods(script.pod_ready_after);
        cluster.end_analyses(script);
        if before.0 == cluster.rollout
            && before.1 == cluster.replica_sets
            && before.2 == cluster.analysis_runs
        {
            break;
        }
    }
}

impl Cluster {
    /// AnalysisRuns whose scripted verdict is due take its phase.
    fn end_analyses(&mut self, script: &Script) {
        for run in &mut self.analysis_runs {
            if run.terminated || run.phase.completed() {
                continue;
            }
            let verdict = script.analyses.get(&run.kind).cloned().or_else(|| {
                matches!(run.kind, RunKind::Step(_)).then(|| Verdict {
                    phase: AnalysisPhase::Successful,
                    after: 0,
                    message: String::new(),
                })
            });
            if let Some(v) = verdict
                && self.now >= run.created_at + v.after
            {
                run.phase = v.phase;
                run.message = v.message;
            }
        }
    }

    /// The next second at which something is due without anyone acting.
    pub fn next_due(&self, script: &Script) -> Option<u64> {
        let mut due: Vec<u64> = Vec::new();
        let (step, _) = current_step(&self.rollout);
        if let Some(Some(seconds)) = step.and_then(|s| s.pause)
            && let Some(c) = self
                .rollout
                .status
                .pause_conditions
                .iter()
                .find(|c| c.reason == PauseReason::CanaryPauseStep)
        {
            due.push(c.start_time + seconds);
        }
        if let Some(bg) = &self.rollout.spec.blue_green
            && bg.auto_promotion_enabled
            && bg.auto_promotion_seconds > 0
            && let Some(c) = self
                .rollout
                .status
                .pause_conditions
                .iter()
                .find(|c| c.reason == PauseReason::BlueGreenPause)
        {
            due.push(c.start_time + bg.auto_promotion_seconds);
        }
        for run in &self.analysis_runs {
            if !run.terminated
                && !run.phase.completed()
                && let Some(v) = script.analyses.get(&run.kind)
            {
                due.push(run.created_at + v.after);
            }
        }
        if self.deadline_counts(&self.rollout.status)
            && !matches!(self.rollout.status.progress, Some(Progress::TimedOut(_)))
        {
            due.push(
                self.rollout.status.progress_at + self.rollout.spec.progress_deadline_seconds + 1,
            );
        }
        for rs in &self.replica_sets {
            due.extend(rs.scale_down_deadline);
            due.extend(rs.starting.iter().copied().filter(|t| *t != u64::MAX));
        }
        due.into_iter().filter(|t| *t > self.now).min()
    }

    /// Whether the Rollout waits for a promote: at a canary pause step without a duration, or
    /// before a blue-green switch without auto-promotion.
    pub fn held_by_pause(&self) -> bool {
        if let Some(bg) = &self.rollout.spec.blue_green {
            return !bg.auto_promotion_enabled
                && has_pause(&self.rollout.status, PauseReason::BlueGreenPause);
        }
        let (step, _) = current_step(&self.rollout);
        step.is_some_and(|s| s.pause == Some(None))
            && has_pause(&self.rollout.status, PauseReason::CanaryPauseStep)
    }

    /// What a user sees now.
    pub fn frame(&self) -> Frame {
        let status = &self.rollout.status;
        let (new_pods, old_pods) = self.replica_sets.iter().fold((0, 0), |(n, o), rs| {
            if rs.hash == self.template.0 {
                (n + rs.available, o)
            } else {
                (n, o + rs.available)
            }
        });
        Frame {
            time: self.now,
            step: status.current_step_index,
            set_weight: replicas::current_set_weight(&self.rollout),
            traffic_weight: match &self.rollout.spec.blue_green {
                Some(_) => Some(if status.active_selector == self.template.0 {
                    100
                } else {
                    0
                }),
                None => status.weights.map(|(c, _)| c),
            },
            new_pods,
            old_pods,
            phase: status.phase.unwrap_or(RolloutPhase::Progressing),
            message: status.message.clone(),
            events: self.events.clone(),
        }
    }
}

impl Frame {
    fn differs(&self, other: &Frame) -> bool {
        (
            self.step,
            self.set_weight,
            self.traffic_weight,
            self.new_pods,
            self.old_pods,
            self.phase,
            &self.message,
        ) != (
            other.step,
            other.set_weight,
            other.traffic_weight,
            other.new_pods,
            other.old_pods,
            other.phase,
            &other.message,
        ) || !other.events.is_empty()
    }
}
