//! The canary on one host, after the health gate and before the verify window: the new
//! version's share of requests goes up step by step (HAProxy server weights through the
//! runtime API, written to the config first so a proxy restart keeps them), and each step is
//! judged interval by interval against the old version serving beside it ([`analysis`]):
//! both servers' counters from `show stat`, both servers' response times from the proxy's
//! request log, the new container's health, the deploy's CloudWatch alarms. A `pause` step
//! waits for `bluegreen promote` or `abort`. An abort puts the new version's weight to 0 at
//! once (the deploy's unwind then reverts the switch); reaching the last step promotes it.
//!
//! While it runs, `canary.json` in the app's state directory says where it is (for `status`,
//! `promote` and `abort`).

use super::alarms::AlarmWatch;
use super::analysis::{self, Decision, IntervalInput, Judge, ResponseTimes};
use super::decision::{self, CanaryDecision};
use super::spec::{CanarySpec, CanaryStep};
use super::CanaryProgress;
use crate::agent::protocol::Color;
use crate::agent::proxy::{self, Ports};
use crate::agent::request_log::Follower;
use crate::agent::state::Marker;
use crate::agent::step::Step;
use crate::agent::verify::HealthWatch;
use crate::agent::{http, Host};
use crate::report::canary::{CanaryEnd, CanaryRun, Verdict};
use crate::report::StepStatus;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often, inside an interval or a pause, the new container's health, the decision file
/// and the alarms (every few seconds, see [`AlarmWatch`]) are looked at.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Intervals a reply keeps (the oldest are counted, not kept).
pub const REPLY_INTERVALS: usize = 20;

/// What the loop needs of the deploy.
pub struct Canary<'a> {
    pub host: &'a Host,
    pub app: &'a str,
    pub spec: &'a CanarySpec,
    pub deploy_id: &'a str,
    pub image: &'a str,
    pub new: Color,
    pub new_name: &'a str,
    /// Both colors' ports, the new container's included.
    pub ports: Ports,
    pub probe: http::Probe<'a>,
    pub alarms: AlarmWatch,
    /// The proxy's request log, followed since the deploy turned it on.
    pub log: &'a Follower,
}

/// How the canary ended.
pub enum End {
    /// The last step passed: the new version is at 100 %.
    Promoted(CanaryRun),
    /// The new version's weight is 0; the caller reverts the switch.
    Aborted { run: CanaryRun, why: String },
}

impl Canary<'_> {
    /// Runs every step; `marker` is the unverified switch already written (the config's
    /// state comment), `body` the checked config the weights are written into.
    pub async fn run(mut self, marker: &Marker, body: &str) -> anyhow::Result<End> {
        let mut run = CanaryRun {
            steps: self.spec.steps.clone(),
            reached: 0,
            paused_since: None,
            end: None,
            intervals: vec![],
            intervals_left_out: 0,
        };
        let mut health = HealthWatch::new(self.new_name, self.port(), self.probe);
        let mut judge = Judge::new(self.spec);
        let started_at = Utc::now();
        let mut weight = 0;
        let mut promoted_by = None;
        let result = async {
            for (i, step) in self.spec.steps.clone().into_iter().enumerate() {
                run.reached = i + 1;
                let outcome = match step {
                    CanaryStep::Weight(w) => {
                        weight = w;
                        self.set_weight(marker, body, w).await?;
                        self.weight_step(&mut run, &mut judge, &mut health, w, started_at)
                            .await?
                    }
                    CanaryStep::Pause => {
                        match self
                            .pause(&mut run, &mut health, weight, started_at)
                            .await?
                        {
                            Paused::Promoted(by) => {
                                promoted_by = by;
                                None
                            }
                            Paused::Abort(why, by) => Some((why, by)),
                        }
                    }
                };
                if let Some(why) = outcome {
                    return Ok(Some(why));
                }
            }
            anyhow::Ok(None)
        }
        .await;
        let _ = CanaryProgress::remove(&self.host.app_dir(self.app));
        match result {
            Ok(None) => {
                run.end = Some(CanaryEnd::Promoted { by: promoted_by });
                let _ = CanaryDecision::remove(&self.host.app_dir(self.app));
                self.note(StatusOf::Ok, run.line());
                Ok(End::Promoted(run))
            }
            Ok(Some((why, by))) => {
                // Out of the rotation first: every request from here goes to the old version.
                let zeroed = proxy::share(self.host, self.app, self.new, self.port(), 0).await;
                let _ = CanaryDecision::remove(&self.host.app_dir(self.app));
                run.end = Some(CanaryEnd::Aborted {
                    reason: why.clone(),
                    by,
                });
                self.note(StatusOf::Failed, run.line());
                zeroed?;
                Ok(End::Aborted { run, why })
            }
            Err(e) => {
                let _ = proxy::share(self.host, self.app, self.new, self.port(), 0).await;
                Err(e)
            }
        }
    }

    fn port(&self) -> u16 {
        self.ports.get(self.new).unwrap_or(0)
    }

    /// The new version at `weight` percent: the config first (a proxy restart keeps the
    /// weights), then the runtime API.
    async fn set_weight(&self, marker: &Marker, body: &str, weight: u8) -> anyhow::Result<()> {
        let weighted = crate::agent::switch::share(body, self.new, weight, self.ports);
        proxy::commit(self.host, self.app, marker, &weighted)?;
        proxy::share(self.host, self.app, self.new, self.port(), weight).await
    }

    /// Intervals at one weight until the judge advances or aborts. `Some((why, by))` to
    /// abort.
    #[allow(clippy::too_many_arguments)]
    async fn weight_step(
        &mut self,
        run: &mut CanaryRun,
        judge: &mut Judge,
        health: &mut HealthWatch<'_>,
        weight: u8,
        started_at: DateTime<Utc>,
    ) -> anyhow::Result<Option<(String, Option<String>)>> {
        loop {
            self.progress(run, weight, started_at);
            let from = Utc::now();
            let before = proxy::runtime(self.host, self.app, "show stat").await?;
            let interval = Duration::from_millis(self.spec.interval_ms);
            let deadline = tokio::time::Instant::now() + interval;
            let mut problem = None;
            while tokio::time::Instant::now() < deadline {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(CHECK_EVERY.min(left)).await;
                if let Some(abort) = self.aborted_by_person()? {
                    return Ok(Some(abort));
                }
                if let Some(why) = self.alarm(false).await {
                    return Ok(Some((why, None)));
                }
                if problem.is_none() {
                    problem = health.check(self.host).await?;
                }
            }
            let after = proxy::runtime(self.host, self.app, "show stat").await?;
            let to = Utc::now();
            let lines = self
                .log
                .between(from.timestamp_millis(), to.timestamp_millis());
            let new_times = ResponseTimes::of(lines.iter(), self.new.as_str(), from, to);
            let old_times = ResponseTimes::of(lines.iter(), self.new.other().as_str(), from, to);
            let input = IntervalInput {
                step: run.reached,
                weight,
                from,
                to,
                before: &before,
                after: &after,
                new: self.new,
                new_times,
                old_times,
                new_container_problem: problem,
                earlier_baseline: analysis::last_baseline(&run.intervals, self.spec.min_requests),
            };
            let interval = analysis::analyse(&input, self.spec);
            let decision = judge.judge(&interval.verdict);
            let status = match &interval.verdict {
                Verdict::Pass => StepStatus::Ok,
                Verdict::Inconclusive { .. } => StepStatus::Warning,
                Verdict::Fail { .. } => StepStatus::Failed,
            };
            // A timed event of the interval: a bar of the run's timeline.
            self.host.events.extend([crate::report::Event {
                ts: from,
                scope: self.host.scope.clone(),
                step: Step::Canary.event().to_string(),
                status,
                duration_ms: u64::try_from((to - from).num_milliseconds()).ok(),
                detail: format!(
                    "step {} ({weight} %): {}",
                    run.reached,
                    interval_text(&interval)
                ),
            }]);
            run.intervals.push(interval);
            run.keep_newest_intervals(REPLY_INTERVALS);
            crate::agent::pause_point(Step::Canary).await;
            match decision {
                Decision::Advance => return Ok(None),
                Decision::Hold => continue,
                Decision::Abort { why } => return Ok(Some((why, None))),
            }
        }
    }

    /// A pause: waits for promote or abort, for at most `--canary-pause-timeout`, watching the
    /// new container and the alarms meanwhile.
    async fn pause(
        &mut self,
        run: &mut CanaryRun,
        health: &mut HealthWatch<'_>,
        weight: u8,
        started_at: DateTime<Utc>,
    ) -> anyhow::Result<Paused> {
        let since = Utc::now();
        run.paused_since = Some(since);
        self.progress(run, weight, started_at);
        self.note(
            StatusOf::Ok,
            format!(
                "step {}: paused at {weight} %, waiting for `bluegreen promote` or `abort` (at most {} s)",
                run.reached,
                self.spec.pause_timeout_ms / 1000
            ),
        );
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.spec.pause_timeout_ms);
        let app_dir = self.host.app_dir(self.app);
        let ended = loop {
            if tokio::time::Instant::now() >= deadline {
                break Paused::Abort(
                    format!(
                        "nobody promoted or aborted it within {} s (--canary-pause-timeout)",
                        self.spec.pause_timeout_ms / 1000
                    ),
                    None,
                );
            }
            tokio::time::sleep(CHECK_EVERY).await;
            match CanaryDecision::for_deploy(&app_dir, self.deploy_id)? {
                Some(d) if d.decision == decision::Decision::Promote => {
                    CanaryDecision::remove(&app_dir)?;
                    self.note(StatusOf::Ok, format!("step {}: {}", run.reached, d.text()));
                    break Paused::Promoted(d.by);
                }
                Some(d) => break Paused::Abort(format!("{} at a pause", d.text()), d.by),
                None => {}
            }
            if let Some(why) = self.alarm(false).await {
                break Paused::Abort(why, None);
            }
            if let Some(why) = health.check(self.host).await? {
                break Paused::Abort(why, None);
            }
        };
        run.paused_since = None;
        Ok(ended)
    }

    /// An `abort` given while a step runs (a `promote` waits for the next pause).
    fn aborted_by_person(&self) -> anyhow::Result<Option<(String, Option<String>)>> {
        let app_dir = self.host.app_dir(self.app);
        Ok(CanaryDecision::for_deploy(&app_dir, self.deploy_id)?
            .filter(|d| d.decision == decision::Decision::Abort)
            .map(|d| (d.text(), d.by)))
    }

    /// An alarm in state ALARM, if one is; a read that failed is a warning, not an abort.
    async fn alarm(&mut self, now: bool) -> Option<String> {
        match self.alarms.check(now).await {
            Ok(firing) => firing,
            Err(e) => {
                self.note(
                    StatusOf::Warning,
                    format!("{e}; the canary goes on without them"),
                );
                None
            }
        }
    }

    /// Writes where the canary is, for `status`, `promote` and `abort`; a failed write is a
    /// warning (the canary does not depend on it).
    fn progress(&self, run: &CanaryRun, weight: u8, started_at: DateTime<Utc>) {
        let progress = CanaryProgress {
            deploy_id: self.deploy_id.to_string(),
            image: self.image.to_string(),
            new_color: self.new,
            weight,
            started_at,
            updated_at: Utc::now(),
            run: run.clone(),
        };
        if let Err(e) = progress.write(&self.host.app_dir(self.app)) {
            self.note(StatusOf::Warning, format!("{e:#}"));
        }
    }

    fn note(&self, status: StatusOf, detail: String) {
        let status = match status {
            StatusOf::Ok => StepStatus::Ok,
            StatusOf::Warning => StepStatus::Warning,
            StatusOf::Failed => StepStatus::Failed,
        };
        self.host
            .events
            .note(&self.host.scope, Step::Canary.event(), status, detail);
    }
}

/// How a pause ended.
enum Paused {
    /// Someone promoted it (who, when known).
    Promoted(Option<String>),
    /// Why, and who aborted it when someone did.
    Abort(String, Option<String>),
}

enum StatusOf {
    Ok,
    Warning,
    Failed,
}

/// `weight 5 %: new 103 requests, 0.0 % failed, 3.1 ms; old 1,950, 0.0 %, 3.0 ms: pass`.
fn interval_text(i: &crate::report::canary::Interval) -> String {
    use crate::report::canary::{ms_text, share_text};
    format!(
        "new {} requests, {} failed, {}; old {}, {}, {}: {}",
        i.new.requests,
        share_text(i.new.failed_share()),
        ms_text(i.new.avg_ms()),
        i.old.requests,
        share_text(i.old.failed_share()),
        ms_text(i.old.avg_ms()),
        i.verdict.text()
    )
}
