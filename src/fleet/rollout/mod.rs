//! Rolling a request across a fleet: batches of `--max-concurrency`, an error budget
//! `--max-errors`, and a fleet rollback when the budget is exceeded, so the fleet never stays
//! on mixed versions without saying so.
//!
//! The records the rollout produces are in [`report`].

mod report;
#[cfg(test)]
mod tests;

pub use report::{FleetReport, HostReport, HostStatus};

use super::targets::RolloutLimits;
use super::transport::{HostFailure, HostRun, Transport};
use crate::agent::{AgentRequest, Outcome};
use crate::report::{EventLog, Scope, StepStatus};
use std::fmt::Write as _;

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
    let canary = canary_of(request);
    for (n, batch) in hosts.chunks(limits.batch_size.max(1)).enumerate() {
        if budget_exceeded {
            reports.extend(batch.iter().map(|h| HostReport::skipped(h)));
            continue;
        }
        let timer = events.start(&Scope::Pipeline, &format!("batch_{}", n + 1));
        let batch_request = match canary {
            Some(c) if n > 0 && !c.every_batch => blue_green(request),
            _ => request.clone(),
        };
        let runs = transport.run_batch(batch, &batch_request).await;
        let mut batch_reports = complete_batch(batch, runs);
        ask_the_silent(transport, &mut batch_reports, request, events).await;
        let batch_errors = batch_reports
            .iter()
            .filter(|r| r.status == HostStatus::Failed)
            .count();
        errors += batch_errors;
        // The hosts' results first: the batch's line then counts them.
        record_hosts(events, &batch_reports);
        timer.finish(
            if batch_errors == 0 {
                StepStatus::Ok
            } else {
                StepStatus::Failed
            },
            format!("{} hosts, {batch_errors} failed", batch.len()),
        );
        reports.extend(batch_reports);
        if n == 0 && canary.is_some() && batch_errors > 0 && !budget_exceeded {
            // The canary batch decides for the fleet: a version it did not promote on every
            // host goes nowhere else, whatever the error budget says.
            budget_exceeded = true;
            events.note(
                &Scope::Pipeline,
                "error_budget",
                StepStatus::Failed,
                format!(
                    "the canary did not promote on {batch_errors} host(s) of the first batch: no later batch starts"
                ),
            );
            continue;
        }
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

/// The canary of a deploy request, if it is one.
fn canary_of(request: &AgentRequest) -> Option<&crate::agent::canary::spec::CanarySpec> {
    match request {
        AgentRequest::Deploy(spec) => spec.canary.as_ref(),
        _ => None,
    }
}

/// The same deploy without its canary: what the batches after the canary's are sent (it
/// promoted on every host of the first batch, or they would not start).
fn blue_green(request: &AgentRequest) -> AgentRequest {
    match request {
        AgentRequest::Deploy(spec) => AgentRequest::Deploy(crate::agent::DeploySpec {
            canary: None,
            ..spec.clone()
        }),
        other => other.clone(),
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
        AgentRequest::History { app } => (Some(app.clone()), None),
        AgentRequest::Release(r) => (Some(r.deploy.app.clone()), None),
        AgentRequest::Promote(d) | AgentRequest::Abort(d) => (Some(d.app.clone()), None),
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
            events.extend_commands(reply.commands.iter().cloned());
        }
        let status = match r.status {
            HostStatus::Succeeded => StepStatus::Ok,
            _ => StepStatus::Failed,
        };
        events.note(
            &Scope::Host(r.host.clone()),
            "host_result",
            status,
            r.result_line(),
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
        run_url: spec.run_url.clone(),
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
