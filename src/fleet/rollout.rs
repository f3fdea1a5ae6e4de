//! Rolling a request across a fleet: batches of `--max-concurrency`, an error budget
//! `--max-errors`, and a fleet rollback when the budget is exceeded, so the fleet never stays
//! on mixed versions without saying so.

use super::targets::RolloutLimits;
use super::transport::{HostFailure, HostRun, Transport};
use crate::agent::{AgentReply, AgentRequest, Outcome};
use crate::exit::ExitCode;
use crate::report::{EventLog, Scope, StepStatus};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Where one host ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// The request succeeded (for a deploy: the new version serves).
    Succeeded,
    /// The host failed: see its reply or error.
    Failed,
    /// Not started: the error budget was exceeded before its batch.
    Skipped,
    /// Switched in this deploy, then switched back by the fleet rollback.
    RolledBack,
    /// Switched in this deploy; the fleet rollback failed on it: it serves the new version.
    RollbackFailed,
    /// The run was cancelled before this host switched: it serves the version it had.
    Cancelled,
    /// The run was cancelled and the host's status did not come back in time, or it was
    /// mid-switch (unverified): check it with `bluegreen status`.
    Unknown,
}

/// One host's outcome, with everything it returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostReport {
    pub host: String,
    pub status: HostStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<AgentReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<HostFailure>,
    /// The fleet rollback's result on this host, when it took part in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_rollback: Option<Result<AgentReply, HostFailure>>,
    /// For a host that gave no reply: its `status`, asked before the outcome was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_after: Option<AgentReply>,
}

impl HostReport {
    fn from_run(run: HostRun) -> HostReport {
        let (status, reply, error) = match run.result {
            Ok(reply) if reply.outcome.is_success() => (HostStatus::Succeeded, Some(reply), None),
            Ok(reply) => (HostStatus::Failed, Some(reply), None),
            Err(e) => (HostStatus::Failed, None, Some(e)),
        };
        HostReport {
            host: run.host,
            status,
            arch: run.arch,
            reply,
            error,
            fleet_rollback: None,
            status_after: None,
        }
    }

    fn skipped(host: &str) -> HostReport {
        HostReport {
            host: host.to_string(),
            status: HostStatus::Skipped,
            arch: None,
            reply: None,
            error: None,
            fleet_rollback: None,
            status_after: None,
        }
    }

    /// True when this deploy moved the host's traffic to the new version: the host says its
    /// live deploy id is this deploy's (a redeploy that was a no-op keeps an older one).
    /// A host without a reply whose status says this deploy is live counts too.
    fn switched(&self, deploy_id: &str) -> bool {
        let replied = self.status == HostStatus::Succeeded
            && self.reply.as_ref().is_some_and(|r| {
                r.outcome == Outcome::Deployed && live_deploy_id(r) == Some(deploy_id)
            });
        let by_status = self
            .status_after
            .as_ref()
            .is_some_and(|r| live_deploy_id(r) == Some(deploy_id));
        replied || by_status
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        let mut what = match (&self.reply, &self.error) {
            (Some(r), _) => r.message.clone(),
            (None, Some(e)) => e.to_string(),
            (None, None) => "not started: the error budget was exceeded".to_string(),
        };
        if let Some(status) = &self.status_after {
            let live = status.apps.first().and_then(|a| a.live.as_ref()).map_or(
                "nothing live".to_string(),
                |l| {
                    format!(
                        "{} live (deploy {})",
                        l.image,
                        l.deploy_id.as_deref().unwrap_or("?")
                    )
                },
            );
            let _ = write!(what, "; its status after: {live}");
        }
        let mut line = format!("{:<20} {:<15} {what}", self.host, status_word(self.status));
        if let Some(rb) = &self.fleet_rollback {
            let rb = match rb {
                Ok(r) => r.message.clone(),
                Err(e) => e.to_string(),
            };
            let _ = write!(line, " | fleet rollback: {rb}");
        }
        line
    }
}

/// The deploy id live on a host after its command, as its reply says.
fn live_deploy_id(reply: &AgentReply) -> Option<&str> {
    reply
        .apps
        .first()
        .and_then(|a| a.live.as_ref())
        .and_then(|l| l.deploy_id.as_deref())
}

fn status_word(s: HostStatus) -> &'static str {
    match s {
        HostStatus::Succeeded => "succeeded",
        HostStatus::Failed => "FAILED",
        HostStatus::Skipped => "skipped",
        HostStatus::RolledBack => "rolled back",
        HostStatus::RollbackFailed => "ROLLBACK FAILED",
        HostStatus::Cancelled => "cancelled",
        HostStatus::Unknown => "UNKNOWN",
    }
}

/// The fleet's outcome: per host, the budget, and whether the fleet was rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    pub action: String,
    pub hosts: Vec<HostReport>,
    pub batch_size: usize,
    pub max_errors: usize,
    pub errors: usize,
    pub budget_exceeded: bool,
    /// True when hosts that had switched were sent back to their prior version.
    pub fleet_rolled_back: bool,
    /// One sentence: what the fleet serves now.
    pub message: String,
}

impl FleetReport {
    pub fn count(&self, status: HostStatus) -> usize {
        self.hosts.iter().filter(|h| h.status == status).count()
    }

    /// 0 when every host succeeded; when every host gave the same agent outcome (nothing to
    /// roll back, locked), that outcome's code; otherwise 1.
    pub fn exit_code(&self) -> ExitCode {
        if !self.hosts.is_empty() && self.hosts.iter().all(|h| h.status == HostStatus::Succeeded) {
            return ExitCode::Ok;
        }
        let outcomes: Vec<Option<Outcome>> = self
            .hosts
            .iter()
            .map(|h| h.reply.as_ref().map(|r| r.outcome))
            .collect();
        match outcomes.first() {
            Some(Some(first)) if outcomes.iter().all(|o| *o == Some(*first)) => first.exit_code(),
            _ => ExitCode::Failed,
        }
    }

    /// One line per host; for `status`, each host's state table under its line.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            let _ = writeln!(out, "{}", h.summary());
            let apps = h.reply.as_ref().map(|r| r.apps.as_slice()).unwrap_or(&[]);
            if self.action == "status" && !apps.is_empty() {
                for line in crate::agent::render::table(apps).lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        let _ = write!(out, "{}", self.message);
        out
    }
}

/// What the rollout should do, beside the request.
#[derive(Debug, Clone, Copy)]
pub struct RolloutPlan {
    pub limits: RolloutLimits,
    /// Switch back the hosts that switched in this deploy when the budget is exceeded.
    pub rollback_on_budget: bool,
}

/// Runs `request` on `hosts` batch by batch. After each batch the errors are counted; once
/// they exceed the budget no new batch starts, and (for a deploy, when asked) every host that
/// switched in this run gets a rollback request.
pub async fn rollout<T: Transport>(
    transport: &T,
    hosts: &[String],
    request: &AgentRequest,
    plan: RolloutPlan,
    events: &EventLog,
) -> FleetReport {
    let limits = plan.limits;
    let mut reports: Vec<HostReport> = Vec::with_capacity(hosts.len());
    let mut errors = 0;
    let mut budget_exceeded = false;
    for (n, batch) in hosts.chunks(limits.batch_size.max(1)).enumerate() {
        if budget_exceeded {
            reports.extend(batch.iter().map(|h| HostReport::skipped(h)));
            continue;
        }
        let timer = events.start(&Scope::Pipeline, &format!("batch_{}", n + 1));
        let runs = transport.run_batch(batch, request).await;
        let mut batch_reports = complete_batch(batch, runs);
        ask_the_silent(transport, &mut batch_reports, request, events).await;
        let batch_errors = batch_reports
            .iter()
            .filter(|r| r.status == HostStatus::Failed)
            .count();
        errors += batch_errors;
        timer.finish(
            if batch_errors == 0 {
                StepStatus::Ok
            } else {
                StepStatus::Failed
            },
            format!("{} hosts, {batch_errors} failed", batch.len()),
        );
        record_hosts(events, &batch_reports);
        reports.extend(batch_reports);
        if errors > limits.max_errors {
            budget_exceeded = true;
            events.note(
                &Scope::Pipeline,
                "error_budget",
                StepStatus::Failed,
                format!(
                    "{errors} failed hosts, budget {}: no new hosts start",
                    limits.max_errors
                ),
            );
        }
    }
    let is_deploy = matches!(request, AgentRequest::Deploy(_));
    let mut fleet_rolled_back = false;
    if budget_exceeded && is_deploy && plan.rollback_on_budget {
        fleet_rolled_back =
            roll_back_switched(transport, &mut reports, request, limits, events).await;
    }
    let message = fleet_message(
        request,
        &reports,
        errors,
        limits,
        budget_exceeded,
        plan.rollback_on_budget,
    );
    FleetReport {
        action: request.action().to_string(),
        hosts: reports,
        batch_size: limits.batch_size,
        max_errors: limits.max_errors,
        errors,
        budget_exceeded,
        fleet_rolled_back,
        message,
    }
}

/// How long the status sweep after a cancel may take in all.
pub const CANCEL_SWEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// After a cancel (the runner's SIGTERM): no new batch starts, the caller has cancelled the
/// commands in flight, and every host of this deploy is asked for its status, all at once,
/// for at most `within`. Every host stays in the report: succeeded where this deploy is live
/// and verified, cancelled where another version is live, unknown where the sweep got no
/// answer or the host is mid-switch.
pub async fn sweep_after_cancel<T: Transport>(
    transport: &T,
    hosts: &[String],
    request: &AgentRequest,
    reason: &str,
    within: std::time::Duration,
    events: &EventLog,
) -> FleetReport {
    let timer = events.start(&Scope::Pipeline, "cancel_sweep");
    let (app, deploy_id) = match request {
        AgentRequest::Deploy(spec) => (Some(spec.app.clone()), Some(spec.deploy_id.as_str())),
        AgentRequest::Rollback { app, .. } | AgentRequest::Recover { app } => {
            (Some(app.clone()), None)
        }
        AgentRequest::Status { app } => (app.clone(), None),
    };
    let status = AgentRequest::Status { app };
    let runs = tokio::time::timeout(within, transport.run_batch(hosts, &status))
        .await
        .unwrap_or_default();
    let mut reports: Vec<HostReport> = hosts
        .iter()
        .map(|h| {
            let mut r = HostReport::skipped(h);
            r.status = HostStatus::Unknown;
            r.error = Some(HostFailure {
                kind: super::transport::FailureKind::Cancelled,
                message: format!("{reason}; no status within {} ms", within.as_millis()),
            });
            r
        })
        .collect();
    for run in runs {
        let (Some(report), Ok(reply)) =
            (reports.iter_mut().find(|r| r.host == run.host), run.result)
        else {
            continue;
        };
        let app_state = reply.apps.first();
        let live = app_state
            .and_then(|a| a.live.as_ref())
            .and_then(|l| l.deploy_id.as_deref());
        // Nothing of the app on the host counts as verified: nothing is mid-switch there.
        let verified = app_state.is_none_or(|a| a.verified);
        report.status = match (deploy_id, live) {
            (Some(ours), Some(live)) if ours == live && verified => HostStatus::Succeeded,
            (Some(ours), Some(live)) if ours == live => HostStatus::Unknown,
            _ if verified => HostStatus::Cancelled,
            _ => HostStatus::Unknown,
        };
        report.error = Some(HostFailure {
            kind: super::transport::FailureKind::Cancelled,
            message: reason.to_string(),
        });
        report.status_after = Some(reply);
    }
    let count = |s: HostStatus| reports.iter().filter(|r| r.status == s).count();
    let (ok, cancelled, unknown) = (
        count(HostStatus::Succeeded),
        count(HostStatus::Cancelled),
        count(HostStatus::Unknown),
    );
    let message = format!(
        "{reason}; after the cancel: {ok} hosts serve this deploy, {cancelled} the version they had, {unknown} unknown (check them with `bluegreen status`)"
    );
    timer.fail(&message);
    record_hosts(events, &reports);
    FleetReport {
        action: request.action().to_string(),
        errors: reports.len() - ok,
        hosts: reports,
        batch_size: 0,
        max_errors: 0,
        budget_exceeded: false,
        fleet_rolled_back: false,
        message,
    }
}

/// Pairs results with the batch's hosts; a host the transport did not answer for is a failure.
fn complete_batch(batch: &[String], runs: Vec<HostRun>) -> Vec<HostReport> {
    let mut runs: Vec<Option<HostRun>> = runs.into_iter().map(Some).collect();
    batch
        .iter()
        .map(|host| {
            let run = runs
                .iter_mut()
                .find(|r| r.as_ref().is_some_and(|r| &r.host == host))
                .and_then(Option::take);
            match run {
                Some(run) => HostReport::from_run(run),
                None => HostReport::from_run(HostRun {
                    host: host.clone(),
                    arch: None,
                    result: Err(HostFailure {
                        kind: super::transport::FailureKind::Unknown,
                        message: "the transport returned no result for this host".into(),
                    }),
                }),
            }
        })
        .collect()
}

/// Hosts of a deploy that gave no reply (deadline, cancel, lost output) may still have
/// switched: each is asked for its status before the outcome is decided. One whose live
/// deploy id is this deploy's counts as switched, verified (succeeded) or not (failed, but
/// switched back by a fleet rollback).
async fn ask_the_silent<T: Transport>(
    transport: &T,
    reports: &mut [HostReport],
    request: &AgentRequest,
    events: &EventLog,
) {
    let AgentRequest::Deploy(spec) = request else {
        return;
    };
    // Never delivered or refused before running: the agent cannot have started there.
    let never_ran = |r: &HostReport| {
        r.error.as_ref().is_some_and(|e| {
            use super::transport::FailureKind::*;
            matches!(
                e.kind,
                Undeliverable | InvalidPlatform | AccessDenied | DeliveryTimedOut | Preflight
            )
        })
    };
    let silent: Vec<String> = reports
        .iter()
        .filter(|r| r.reply.is_none() && !never_ran(r))
        .map(|r| r.host.clone())
        .collect();
    if silent.is_empty() {
        return;
    }
    let timer = events.start(&Scope::Pipeline, "status_sweep");
    let status = AgentRequest::Status {
        app: Some(spec.app.clone()),
    };
    let mut switched = 0;
    for run in transport.run_batch(&silent, &status).await {
        let (Some(report), Ok(reply)) =
            (reports.iter_mut().find(|r| r.host == run.host), run.result)
        else {
            continue;
        };
        let app = reply.apps.first();
        let ours = app
            .and_then(|a| a.live.as_ref())
            .and_then(|l| l.deploy_id.as_deref())
            == Some(spec.deploy_id.as_str());
        if ours {
            switched += 1;
            if app.is_some_and(|a| a.verified) {
                report.status = HostStatus::Succeeded;
            }
        }
        report.status_after = Some(reply);
    }
    timer.ok(format!(
        "{} host(s) gave no reply; {switched} of them serve this deploy",
        silent.len()
    ));
}

/// The hosts' own timed steps (from their replies) join this run's events, so the report is
/// built from what each host measured, followed by one result event per host.
fn record_hosts(events: &EventLog, reports: &[HostReport]) {
    for r in reports {
        if let Some(reply) = &r.reply {
            events.extend(reply.events.iter().cloned());
        }
        let status = match r.status {
            HostStatus::Succeeded => StepStatus::Ok,
            _ => StepStatus::Failed,
        };
        events.note(
            &Scope::Host(r.host.clone()),
            "host_result",
            status,
            r.summary(),
        );
    }
}

/// Sends a rollback to every host that switched in this deploy, in batches of the same size.
/// Returns true when every one of them switched back.
async fn roll_back_switched<T: Transport>(
    transport: &T,
    reports: &mut [HostReport],
    request: &AgentRequest,
    limits: RolloutLimits,
    events: &EventLog,
) -> bool {
    let AgentRequest::Deploy(spec) = request else {
        return false;
    };
    let switched: Vec<String> = reports
        .iter()
        .filter(|r| r.switched(&spec.deploy_id))
        .map(|r| r.host.clone())
        .collect();
    let timer = events.start(&Scope::Pipeline, "fleet_rollback");
    // Only away from this deploy: a host whose live version is another one by now changes
    // nothing (exit 6 on that host), and a second fleet rollback is a no-op.
    let rollback = AgentRequest::Rollback {
        app: spec.app.clone(),
        expect_live: Some(spec.deploy_id.clone()),
    };
    let mut all_ok = true;
    for batch in switched.chunks(limits.batch_size.max(1)) {
        for run in transport.run_batch(batch, &rollback).await {
            let Some(report) = reports.iter_mut().find(|r| r.host == run.host) else {
                continue;
            };
            let ok = matches!(&run.result, Ok(r) if r.outcome == Outcome::RolledBack);
            all_ok &= ok;
            report.status = if ok {
                HostStatus::RolledBack
            } else {
                HostStatus::RollbackFailed
            };
            report.fleet_rollback = Some(run.result);
        }
    }
    let detail = format!("{} switched hosts sent back", switched.len());
    if all_ok {
        timer.ok(detail);
    } else {
        timer.fail(format!(
            "{detail}; some did not switch back: the fleet is MIXED"
        ));
    }
    all_ok
}

fn fleet_message(
    request: &AgentRequest,
    reports: &[HostReport],
    errors: usize,
    limits: RolloutLimits,
    budget_exceeded: bool,
    rollback_on_budget: bool,
) -> String {
    let total = reports.len();
    let count = |s: HostStatus| reports.iter().filter(|r| r.status == s).count();
    let (ok, skipped, rolled_back, rb_failed) = (
        count(HostStatus::Succeeded),
        count(HostStatus::Skipped),
        count(HostStatus::RolledBack),
        count(HostStatus::RollbackFailed),
    );
    let action = request.action();
    if errors == 0 {
        return format!("{action}: all {total} hosts succeeded");
    }
    if !budget_exceeded {
        return format!(
            "{action}: {ok} of {total} hosts succeeded, {errors} failed (within --max-errors {})",
            limits.max_errors
        );
    }
    let mut msg = format!(
        "{action}: {errors} hosts failed, more than --max-errors {}; {skipped} hosts were not started",
        limits.max_errors
    );
    if matches!(request, AgentRequest::Deploy(_)) {
        if rb_failed > 0 {
            let _ = write!(
                msg,
                "; the fleet rollback failed on {rb_failed} hosts, which still serve the NEW version: the fleet is MIXED"
            );
        } else if rolled_back > 0 {
            let _ = write!(msg, "; {rolled_back} hosts that had switched were rolled back, the fleet serves the prior version");
        } else if ok > 0 && !rollback_on_budget {
            let _ = write!(
                msg,
                "; {ok} hosts serve the new version and the rest the prior one: the fleet is MIXED (fleet rollback is off)"
            );
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::DeploySpec;
    use crate::fleet::transport::FailureKind;
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    /// A transport with scripted outcomes that records every call.
    #[derive(Default)]
    struct Scripted {
        failing: BTreeSet<String>,
        rollback_fails: BTreeSet<String>,
        /// Hosts where the deploy was a no-op: an older deploy id stays live.
        unchanged: BTreeSet<String>,
        /// Hosts whose deploy gives no reply, though the host switched (status says so).
        silent: BTreeSet<String>,
        calls: Mutex<Vec<(String, Vec<String>)>>,
    }

    fn reply(host: &str, action: &str, outcome: Outcome) -> AgentReply {
        AgentReply {
            host: host.into(),
            action: action.into(),
            outcome,
            message: format!("{action} {outcome:?}"),
            first_deployment: false,
            before: None,
            apps: vec![],
            events: vec![crate::report::Event {
                ts: chrono::Utc::now(),
                scope: crate::report::Scope::Host(host.into()),
                step: "switch".into(),
                status: StepStatus::Ok,
                duration_ms: Some(3),
                detail: String::new(),
            }],
            log_tail: vec![],
        }
    }

    fn app_with_live(deploy_id: &str) -> crate::agent::AppState {
        crate::agent::AppState {
            app: "shop".into(),
            public_port: Some(8080),
            live: Some(crate::agent::ColorState {
                color: crate::agent::Color::Blue,
                image: "shop:2".into(),
                digest: None,
                deploy_id: Some(deploy_id.into()),
                since: None,
                running: true,
                health: crate::agent::protocol::Health::Healthy,
                warm_until: None,
            }),
            rollback_target: None,
            verified: true,
            pending: None,
        }
    }

    impl Transport for Scripted {
        async fn run(&self, _: &str, _: &AgentRequest) -> anyhow::Result<AgentReply> {
            unreachable!("the rollout uses run_batch")
        }
        async fn run_batch(&self, hosts: &[String], request: &AgentRequest) -> Vec<HostRun> {
            self.calls
                .lock()
                .unwrap()
                .push((request.action().to_string(), hosts.to_vec()));
            hosts
                .iter()
                .map(|h| {
                    let result = match request {
                        AgentRequest::Deploy(_) if self.silent.contains(h) => Err(HostFailure {
                            kind: FailureKind::ExecutionTimedOut,
                            message: "no reply".into(),
                        }),
                        AgentRequest::Status { .. } if self.silent.contains(h) => {
                            let mut r = reply(h, "status", Outcome::Status);
                            r.apps = vec![app_with_live("d1")];
                            Ok(r)
                        }
                        AgentRequest::Deploy(_) if self.failing.contains(h) => Err(HostFailure {
                            kind: FailureKind::Undeliverable,
                            message: "gone".into(),
                        }),
                        AgentRequest::Deploy(spec) => {
                            let mut r = reply(h, "deploy", Outcome::Deployed);
                            let live = if self.unchanged.contains(h) {
                                "d0".to_string()
                            } else {
                                spec.deploy_id.clone()
                            };
                            r.apps = vec![app_with_live(&live)];
                            Ok(r)
                        }
                        AgentRequest::Rollback { .. } if self.rollback_fails.contains(h) => {
                            Ok(reply(h, "rollback", Outcome::Failed))
                        }
                        AgentRequest::Rollback { expect_live, .. } => {
                            assert_eq!(expect_live.as_deref(), Some("d1"));
                            Ok(reply(h, "rollback", Outcome::RolledBack))
                        }
                        AgentRequest::Status { .. } => Ok(reply(h, "status", Outcome::Status)),
                        AgentRequest::Recover { .. } => Ok(reply(h, "recover", Outcome::Recovered)),
                    };
                    HostRun {
                        host: h.clone(),
                        arch: None,
                        result,
                    }
                })
                .collect()
        }
    }

    fn deploy() -> AgentRequest {
        // Built from JSON so fields the protocol gains later keep their defaults.
        let spec: DeploySpec = serde_json::from_value(serde_json::json!({
            "app": "shop", "image": "shop:2", "public_port": 8080, "container_port": 80,
            "health_path": "/health", "health_timeout_ms": 1, "verify_window_ms": 1,
            "keep_warm_ms": 1, "drain_ms": 1, "proxy_image": "haproxy", "deploy_id": "d1"
        }))
        .unwrap();
        AgentRequest::Deploy(spec)
    }

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("h{i}")).collect()
    }

    fn plan(batch_size: usize, max_errors: usize, rollback_on_budget: bool) -> RolloutPlan {
        RolloutPlan {
            limits: RolloutLimits {
                batch_size,
                max_errors,
            },
            rollback_on_budget,
        }
    }

    #[tokio::test]
    async fn budget_exceeded_stops_new_batches_and_rolls_back_switched_hosts() {
        let t = Scripted {
            failing: ["h4".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(&t, &hosts(8), &deploy(), plan(2, 0, true), &EventLog::new()).await;
        let calls = t.calls.lock().unwrap().clone();
        // Batches h1-h2, h3-h4 ran; h5.. never started; h1-h3 were switched back.
        assert_eq!(calls[0], ("deploy".into(), hosts(2)));
        assert_eq!(calls[1].1, vec!["h3", "h4"]);
        assert_eq!(
            calls[2],
            ("rollback".into(), vec!["h1".into(), "h2".into()])
        );
        assert_eq!(calls[3], ("rollback".into(), vec!["h3".into()]));
        assert_eq!(calls.len(), 4);
        assert_eq!(report.count(HostStatus::RolledBack), 3);
        assert_eq!(report.count(HostStatus::Failed), 1);
        assert_eq!(report.count(HostStatus::Skipped), 4);
        assert!(report.budget_exceeded && report.fleet_rolled_back);
        assert_eq!(report.exit_code(), ExitCode::Failed);
        assert!(report.message.contains("rolled back"), "{}", report.message);
    }

    /// A host where the deploy changed nothing (the same spec was live) is not sent back to
    /// an older version by the fleet rollback.
    #[tokio::test]
    async fn the_fleet_rollback_skips_hosts_whose_live_deploy_is_not_this_one() {
        let t = Scripted {
            failing: ["h3".to_string()].into(),
            unchanged: ["h1".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(&t, &hosts(3), &deploy(), plan(3, 0, true), &EventLog::new()).await;
        let calls = t.calls.lock().unwrap().clone();
        assert_eq!(calls[1], ("rollback".into(), vec!["h2".to_string()]));
        assert_eq!(report.hosts[0].status, HostStatus::Succeeded);
        assert_eq!(report.hosts[1].status, HostStatus::RolledBack);
    }

    /// A host that gave no reply is asked for its status; serving this deploy, it counts as
    /// switched: it is switched back by the fleet rollback like the others.
    #[tokio::test]
    async fn a_host_without_reply_is_asked_and_counted_as_switched() {
        let t = Scripted {
            failing: ["h3".to_string()].into(),
            silent: ["h2".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(&t, &hosts(3), &deploy(), plan(3, 0, true), &EventLog::new()).await;
        let calls = t.calls.lock().unwrap().clone();
        assert_eq!(calls[1], ("status".into(), vec!["h2".to_string()]));
        assert_eq!(
            calls[2],
            ("rollback".into(), vec!["h1".to_string(), "h2".to_string()])
        );
        assert_eq!(report.hosts[1].status, HostStatus::RolledBack);
        assert!(report.hosts[1].status_after.is_some());
        assert_eq!(report.hosts[2].status, HostStatus::Failed);
    }

    /// After a cancel every host is in the report: the sweep's answer, or unknown.
    #[tokio::test]
    async fn a_cancel_sweep_keeps_every_host() {
        let t = Scripted {
            silent: ["h1".to_string()].into(),
            ..Default::default()
        };
        let hosts = hosts(3);
        let within = std::time::Duration::from_millis(500);
        let report = sweep_after_cancel(
            &t,
            &hosts,
            &deploy(),
            "terminated",
            within,
            &EventLog::new(),
        )
        .await;
        let statuses: Vec<HostStatus> = report.hosts.iter().map(|h| h.status).collect();
        // h1's status says d1 is live and verified; h2 and h3 answer with nothing of this deploy.
        assert_eq!(
            statuses,
            [
                HostStatus::Succeeded,
                HostStatus::Cancelled,
                HostStatus::Cancelled
            ]
        );
        assert_eq!(report.exit_code(), ExitCode::Failed);

        // A transport that never answers: the sweep ends on time, every host unknown.
        struct Stuck;
        impl Transport for Stuck {
            async fn run(&self, _: &str, _: &AgentRequest) -> anyhow::Result<AgentReply> {
                unreachable!()
            }
            async fn run_batch(&self, _: &[String], _: &AgentRequest) -> Vec<HostRun> {
                std::future::pending().await
            }
        }
        let started = std::time::Instant::now();
        let report = sweep_after_cancel(
            &Stuck,
            &hosts,
            &deploy(),
            "terminated",
            within,
            &EventLog::new(),
        )
        .await;
        assert!(started.elapsed() < within * 3);
        assert_eq!(report.hosts.len(), 3);
        assert!(report.hosts.iter().all(|h| h.status == HostStatus::Unknown));
        assert!(report.message.contains("3 unknown"), "{}", report.message);
    }

    #[tokio::test]
    async fn within_budget_the_rollout_continues() {
        let t = Scripted {
            failing: ["h2".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(&t, &hosts(6), &deploy(), plan(2, 1, true), &EventLog::new()).await;
        assert_eq!(t.calls.lock().unwrap().len(), 3);
        assert_eq!(report.count(HostStatus::Succeeded), 5);
        assert!(!report.budget_exceeded && !report.fleet_rolled_back);
        assert_eq!(report.exit_code(), ExitCode::Failed);
    }

    #[tokio::test]
    async fn without_fleet_rollback_the_mixed_fleet_is_announced() {
        let t = Scripted {
            failing: ["h3".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(
            &t,
            &hosts(4),
            &deploy(),
            plan(1, 0, false),
            &EventLog::new(),
        )
        .await;
        assert_eq!(t.calls.lock().unwrap().len(), 3);
        assert_eq!(report.count(HostStatus::Succeeded), 2);
        assert!(report.message.contains("MIXED"), "{}", report.message);
    }

    #[tokio::test]
    async fn a_failed_fleet_rollback_is_reported_as_mixed() {
        let t = Scripted {
            failing: ["h2".to_string()].into(),
            rollback_fails: ["h1".to_string()].into(),
            ..Default::default()
        };
        let report = rollout(&t, &hosts(3), &deploy(), plan(1, 0, true), &EventLog::new()).await;
        assert_eq!(report.hosts[0].status, HostStatus::RollbackFailed);
        assert!(!report.fleet_rolled_back);
        assert!(report.message.contains("MIXED"), "{}", report.message);
    }

    #[tokio::test]
    async fn host_events_join_the_run_events() {
        let t = Scripted::default();
        let events = EventLog::new();
        rollout(&t, &hosts(2), &deploy(), plan(2, 0, true), &events).await;
        let steps: Vec<(String, String)> = events
            .snapshot()
            .into_iter()
            .map(|e| (e.scope.to_string(), e.step))
            .collect();
        assert!(
            steps.contains(&("host:h1".into(), "switch".into())),
            "{steps:?}"
        );
        assert!(
            steps.contains(&("host:h2".into(), "host_result".into())),
            "{steps:?}"
        );
        assert!(
            steps.contains(&("pipeline".into(), "batch_1".into())),
            "{steps:?}"
        );
    }

    #[tokio::test]
    async fn all_succeed_exits_zero() {
        let t = Scripted::default();
        let status = AgentRequest::Status { app: None };
        let report = rollout(&t, &hosts(5), &status, plan(50, 0, true), &EventLog::new()).await;
        assert_eq!(t.calls.lock().unwrap().len(), 1);
        assert_eq!(report.exit_code(), ExitCode::Ok);
    }
}
