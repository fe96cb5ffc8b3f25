//! The Argo Rollouts controller reconciling a blue-green Rollout (`rollout/bluegreen.go`
//! `rolloutBlueGreen`, v1.9), one pass at a time, on the same [`Cluster`] as a canary.
//!
//! One pass, as upstream: a changed pod template resets the status; the new ReplicaSet (the
//! preview) is created and the preview Service points at it; the active stack is kept at full
//! size, the preview scaled to `previewReplicaCount` until promotion (then to full size), older
//! stacks scaled down `scaleDownDelaySeconds` after a switch; once the preview is fully
//! available the Rollout pauses before its switch (without auto-promotion, or for
//! `autoPromotionSeconds`) after any pre-promotion analysis; the active Service switches to the
//! preview when the pause is over (or at once, on a full promotion or the first deploy) and back
//! to the stable stack on an abort; a post-promotion analysis runs after the switch; the new
//! stack becomes the stable one when the active Service selects it and the analyses passed
//! (`shouldFullPromote`).

use super::controller::{Cluster, PauseContext, RunKind};
use super::{AnalysisPhase, BlueGreen, PauseReason, ReplicaSet};

impl Cluster {
    fn blue_green(&self) -> BlueGreen {
        self.rollout.spec.blue_green.clone().unwrap_or_default()
    }

    /// One reconcile of a blue-green Rollout (`rolloutBlueGreen`).
    pub(super) fn reconcile_blue_green(&mut self) {
        let old = self.rollout.status.clone();
        let mut status = old.clone();
        let mut pause = PauseContext::default();
        let bg = self.blue_green();
        let hash = self.template.0.clone();

        // `CheckPodSpecChange` → `resetRolloutStatus`.
        if old.current_pod_hash != hash {
            pause.clear = true;
            pause.remove_abort = true;
            status.promote_full = false;
            status.pre_promotion = None;
            status.post_promotion = None;
            status.scale_up_preview_checkpoint = false;
            status.current_pod_hash = hash;
            self.finish(status, &pause);
            return;
        }
        if self.find_rs(&hash).is_none() {
            let count = self.preview_replicas(&bg);
            self.replica_sets
                .push(ReplicaSet::created(&hash, self.template.1, count));
        }
        if self.fully_promoted() && old.abort {
            pause.remove_abort = true;
        }
        // `reconcilePreviewService`.
        status.preview_selector = hash.clone();
        self.reconcile_blue_green_replica_sets(&bg, &pause);
        self.reconcile_blue_green_pause(&bg, &mut pause);
        // `reconcileActiveService`.
        if self.preview_ready(&bg) {
            let mut active = old.active_selector.clone();
            if self.fast_tracked()
                || (self.pause_completed(&bg, &pause) && self.pre_promotion_done(&bg))
            {
                active = hash.clone();
            }
            if old.abort {
                active = old.stable_rs.clone();
            }
            status.active_selector = active;
        }
        self.reconcile_blue_green_analysis(&bg, &mut status, &mut pause);

        // `syncRolloutStatusBlueGreen`.
        if old.promote_full {
            pause.clear = true;
            pause.remove_abort = true;
        }
        let promote = if old.stable_rs.is_empty() {
            // The first deploy: no stable stack to protect.
            status.active_selector = status.current_pod_hash.clone();
            true
        } else {
            !pause.is_aborted(&old)
                && self.pre_promotion_done(&bg)
                && status.active_selector == status.current_pod_hash
                && (bg.post_promotion_analysis.is_none()
                    || status
                        .post_promotion
                        .as_ref()
                        .is_some_and(|(p, _)| *p == AnalysisPhase::Successful))
        };
        if promote {
            pause.clear = true;
            pause.remove_abort = true;
            status.promote_full = false;
            status.scale_up_preview_checkpoint = false;
            if status.stable_rs != status.current_pod_hash {
                status.stable_rs = status.current_pod_hash.clone();
                self.events.push("RolloutCompleted".to_string());
            }
        } else {
            status.scale_up_preview_checkpoint = self.scale_up_preview_checkpoint(&bg, &pause);
        }
        self.finish(status, &pause);
    }

    /// `NewRSNewReplicas` for blue-green: `previewReplicaCount` while the preview is not
    /// active and not yet promoted; else every replica.
    fn preview_replicas(&self, bg: &BlueGreen) -> i32 {
        let status = &self.rollout.status;
        match bg.preview_replica_count {
            Some(n)
                if !status.scale_up_preview_checkpoint
                    && status.active_selector != self.template.0 =>
            {
                n
            }
            _ => self.rollout.spec.replicas,
        }
    }

    /// `ReadyForPause`: the preview has all the pods it should have, available.
    fn preview_ready(&self, bg: &BlueGreen) -> bool {
        let desired = self.preview_replicas(bg);
        self.find_rs(&self.template.0).is_some_and(|i| {
            let rs = &self.replica_sets[i];
            rs.spec == desired && rs.available == desired
        })
    }

    /// `isBlueGreenFastTracked`: a full promotion, no active stack yet, or the preview already
    /// active.
    fn fast_tracked(&self) -> bool {
        let status = &self.rollout.status;
        status.promote_full
            || status.active_selector.is_empty()
            || status.active_selector == self.template.0
    }

    /// `needsBlueGreenControllerPause`.
    fn needs_pause(bg: &BlueGreen) -> bool {
        !bg.auto_promotion_enabled || bg.auto_promotion_seconds > 0
    }

    /// `completedPrePromotionAnalysis`.
    fn pre_promotion_done(&self, bg: &BlueGreen) -> bool {
        bg.pre_promotion_analysis.is_none()
            || self
                .rollout
                .status
                .pre_promotion
                .as_ref()
                .is_some_and(|(p, _)| *p == AnalysisPhase::Successful)
    }

    /// `CompletedBlueGreenPause`: a person resumed it, or `autoPromotionSeconds` passed.
    fn pause_completed(&self, bg: &BlueGreen, pause: &PauseContext) -> bool {
        let status = &self.rollout.status;
        if !pause.add.is_empty() {
            return false;
        }
        if status.scale_up_preview_checkpoint || !Self::needs_pause(bg) {
            return true;
        }
        let cond = status
            .pause_conditions
            .iter()
            .find(|c| c.reason == PauseReason::BlueGreenPause);
        if bg.auto_promotion_enabled {
            // The controller is requeued for the moment the delay ends.
            return cond.is_some_and(|c| self.now >= c.start_time + bg.auto_promotion_seconds);
        }
        status.controller_pause && cond.is_none()
    }

    /// `reconcileBlueGreenReplicaSets`: the active stack at full size, the preview at its
    /// size (scaled down `abortScaleDownDelaySeconds` after an abort), older stacks scaled down
    /// `scaleDownDelaySeconds` after they stopped being active.
    fn reconcile_blue_green_replica_sets(&mut self, bg: &BlueGreen, pause: &PauseContext) {
        let status = self.rollout.status.clone();
        let hash = self.template.0.clone();
        let replicas = self.rollout.spec.replicas;
        // `removeScaleDownDeadlines`: not the new stack's while its abort delay runs.
        let aborted = pause.is_aborted(&status);
        for rs in &mut self.replica_sets {
            if (rs.hash == hash && !aborted) || rs.hash == status.active_selector {
                rs.scale_down_deadline = None;
            }
        }
        if let Some(i) = self.find_rs(&status.active_selector)
            && self.replica_sets[i].spec != replicas
        {
            let active = self.replica_sets[i].hash.clone();
            self.scale(&active, replicas);
        }
        let mut desired = self.preview_replicas(bg);
        if aborted && hash != status.active_selector {
            desired = match bg.abort_scale_down_delay_seconds {
                Some(0) => desired,
                delay => {
                    self.after_deadline(&hash, u64::try_from(delay.unwrap_or(30)).unwrap_or(0), 0)
                }
            };
        }
        if let Some(i) = self.find_rs(&hash)
            && self.replica_sets[i].spec != desired
        {
            self.scale(&hash, desired);
        }
        // `scaleDownOldReplicaSetsForBlueGreen`.
        let inconclusive = status
            .pause_conditions
            .iter()
            .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun);
        let post_pending = bg.post_promotion_analysis.is_some()
            && bg.scale_down_delay_seconds.is_none()
            && status
                .post_promotion
                .as_ref()
                .is_none_or(|(p, _)| *p != AnalysisPhase::Successful);
        if inconclusive
            || (post_pending && status.active_selector == hash && status.stable_rs != hash)
        {
            return;
        }
        let delay = u64::try_from(bg.scale_down_delay_seconds.unwrap_or(30)).unwrap_or(0);
        let mut older: Vec<ReplicaSet> = self
            .replica_sets
            .iter()
            .filter(|rs| rs.hash != hash && rs.hash != status.active_selector && rs.spec > 0)
            .cloned()
            .collect();
        older.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        for rs in older {
            let desired = self.after_deadline(&rs.hash, delay, 0);
            if desired != rs.spec {
                self.scale(&rs.hash, desired);
            }
        }
    }

    /// `scaleDownDelayHelper`: `to` once the ReplicaSet's scale-down deadline (set now +
    /// `delay` the first time) has passed; its present size until then.
    fn after_deadline(&mut self, hash: &str, delay: u64, to: i32) -> i32 {
        let now = self.now;
        let Some(i) = self.find_rs(hash) else {
            return to;
        };
        let rs = &mut self.replica_sets[i];
        match rs.scale_down_deadline {
            None => {
                rs.scale_down_deadline = Some(now + delay);
                if delay == 0 { to } else { rs.spec }
            }
            Some(deadline) if now >= deadline => to,
            Some(_) => rs.spec,
        }
    }

    /// `reconcileBlueGreenPause`.
    fn reconcile_blue_green_pause(&self, bg: &BlueGreen, pause: &mut PauseContext) {
        let status = &self.rollout.status;
        if status.abort || !self.preview_ready(bg) {
            return;
        }
        let halted = self.rollout.spec.paused
            || status
                .pause_conditions
                .iter()
                .any(|c| c.reason == PauseReason::InconclusiveAnalysisRun);
        if halted {
            return;
        }
        if self.fast_tracked() || status.scale_up_preview_checkpoint || !Self::needs_pause(bg) {
            pause.remove.push(PauseReason::BlueGreenPause);
            return;
        }
        if !self.pre_promotion_done(bg) {
            return;
        }
        let paused = status
            .pause_conditions
            .iter()
            .any(|c| c.reason == PauseReason::BlueGreenPause);
        if paused {
            if self.pause_completed(bg, pause) {
                pause.remove.push(PauseReason::BlueGreenPause);
            }
        } else if !status.controller_pause {
            pause.add.push(PauseReason::BlueGreenPause);
        }
    }

    /// `reconcileAnalysisRuns` for blue-green: the pre-promotion run on the ready preview
    /// before the switch, the post-promotion run after it; a Failed or Error one aborts, an
    /// Inconclusive one pauses; an abort or a full promotion cancels them.
    fn reconcile_blue_green_analysis(
        &mut self,
        bg: &BlueGreen,
        status: &mut super::Status,
        pause: &mut PauseContext,
    ) {
        let hash = self.template.0.clone();
        let live = |runs: &[super::controller::AnalysisRun], kind: RunKind| {
            runs.iter()
                .position(|r| r.pod_hash == hash && r.kind == kind && !r.terminated)
        };
        let old = self.rollout.status.clone();
        if pause.is_aborted(&old) || old.promote_full || old.stable_rs.is_empty() {
            self.terminate_runs(|_| true);
            return;
        }
        let report = |this: &Cluster, i: Option<usize>| {
            i.map(|i| {
                (
                    this.analysis_runs[i].phase,
                    this.analysis_runs[i].message.clone(),
                )
            })
        };
        let switched = status.active_selector == hash;
        let mut keep = Vec::new();
        let runs = [
            (
                RunKind::PrePromotion,
                "Blue/green pre-promotion",
                bg.pre_promotion_analysis.is_some() && !switched && self.preview_ready(bg),
            ),
            (
                RunKind::PostPromotion,
                "Blue/green post-promotion",
                bg.post_promotion_analysis.is_some() && switched && old.stable_rs != hash,
            ),
        ];
        for (kind, what, due) in runs {
            if !due {
                continue;
            }
            let i = match live(&self.analysis_runs, kind) {
                None => self.create_run(kind),
                Some(i) => {
                    self.status_changes(i, what, pause);
                    i
                }
            };
            let reported = report(self, Some(i));
            if kind == RunKind::PrePromotion {
                status.pre_promotion = reported;
            } else {
                status.post_promotion = reported;
            }
            keep.push(i);
        }
        let mut i = 0;
        self.terminate_runs(|_| {
            i += 1;
            !keep.contains(&(i - 1))
        });
    }

    /// `calculateScaleUpPreviewCheckPoint`: once the promoted preview (`previewReplicaCount`)
    /// is available it is scaled to full size before the switch, and stays so.
    fn scale_up_preview_checkpoint(&self, bg: &BlueGreen, pause: &PauseContext) -> bool {
        let Some(count) = bg.preview_replica_count else {
            return false;
        };
        let status = &self.rollout.status;
        if status.scale_up_preview_checkpoint {
            return true;
        }
        if !self.pre_promotion_done(bg) || !self.pause_completed(bg, pause) {
            return false;
        }
        self.find_rs(&self.template.0)
            .is_some_and(|i| self.replica_sets[i].available == count)
    }
}
