//! A fleet over SSM, from targets to the fleet report, without printing: the steps that
//! `deploy`, `rollback` and `status --target ssm` and the pipeline all take, in one place.
//!
//! [`SsmFleet::connect`] checks the SSM flags and resolves the hosts; [`SsmFleet::preflight`]
//! asks each host before anything changes; [`SsmFleet::rollout`] is the one rollout of a
//! request over the fleet, stopped cleanly by a signal.

use super::interrupt::{or_stop, Stoppable};
use super::preflight::{self, PreflightReport};
use super::rollout::{self, FleetReport, RolloutPlan};
use super::ssm::{self, SsmTransport};
use super::targets::{RolloutLimits, MAX_IDS_PER_COMMAND};
use super::TargetArgs;
use crate::agent::AgentRequest;
use crate::exit::{ExitCode, UsageError};
use crate::image::Platform;
use crate::report::{CommandRun, EventLog};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a fleet command produced: the preflight (deploys), the rollout (absent when the
/// preflight stopped it), and the AWS API calls it cost.
#[derive(Debug, Clone, Serialize)]
pub struct SsmRun {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetReport>,
    /// AWS API calls by operation, and the number of poll rounds.
    pub api_calls: BTreeMap<&'static str, u64>,
    /// Why the command stopped before its end (a signal); the rollout's hosts are then what the
    /// status sweep after the cancel found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The command log: every AWS call this command made and every command the hosts ran
    /// (as their replies carry them), in the order they started.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRun>,
}

impl SsmRun {
    /// The rollout's code; 1 when the preflight stopped the deploy.
    pub fn exit_code(&self) -> ExitCode {
        if self.stopped.is_some() {
            return ExitCode::Failed;
        }
        self.fleet
            .as_ref()
            .map_or(ExitCode::Failed, FleetReport::exit_code)
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        if let Some(p) = &self.preflight {
            out.push_str(&p.render_human());
        }
        if let Some(f) = &self.fleet {
            out.push_str(&f.render_human());
            out.push('\n');
        }
        out
    }
}

/// The hosts of an SSM target, resolved, and how a rollout over them is bounded.
pub struct SsmFleet {
    pub transport: SsmTransport,
    pub hosts: Vec<String>,
    /// Batch size and error budget, resolved against the host count.
    pub limits: RolloutLimits,
    /// Whether a deploy that exceeds its error budget switches the switched hosts back.
    pub rollback_on_budget: bool,
}

impl SsmFleet {
    /// Checks the SSM flags (a usage error names the flag), connects, and resolves the hosts.
    /// `comment` is what the SSM command history shows.
    pub async fn connect(
        target: &TargetArgs,
        comment: String,
        events: &EventLog,
    ) -> anyhow::Result<SsmFleet> {
        let selection = target.ssm_selection()?;
        let settings = target.ssm_settings(comment)?;
        let client = ssm::client(target.region.as_deref(), events).await;
        let transport = SsmTransport::new(client, settings, events.clone());
        let hosts = preflight::resolve_targets(&transport, &selection)
            .await
            .context("resolving targets")?;
        let limits = RolloutLimits::resolve(target.max_concurrency, target.max_errors, hosts.len())
            .map_err(UsageError)?;
        Ok(SsmFleet {
            transport,
            hosts,
            limits,
            rollback_on_budget: target.fleet_rollback_on_budget,
        })
    }

    /// The deploy's preflight on every host: SSM reachability, architecture, the app's state.
    pub async fn preflight(
        &self,
        app: &str,
        platforms: &[Platform],
        events: &EventLog,
    ) -> anyhow::Result<PreflightReport> {
        preflight::preflight(&self.transport, &self.hosts, app, platforms, events).await
    }

    /// Stops before sending anything when a host cannot run commands (rollback and status).
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        let hosts = &self.hosts;
        let infos = preflight::describe_instances(&self.transport, hosts).await?;
        let problems: Vec<String> = hosts
            .iter()
            .filter_map(|h| preflight::check_instance(h, infos.get(h)).err())
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(
                "{} of {} hosts cannot run commands (SSM's view, up to 5 minutes stale); nothing was sent:\n  {}",
                problems.len(),
                hosts.len(),
                problems.join("\n  ")
            )
        }
    }

    /// How `request` walks the fleet: a deploy in batches within its error budget; a rollback
    /// with the same limits but never itself rolled back; a status, which changes nothing,
    /// every host at once with no budget.
    pub fn plan(&self, request: &AgentRequest) -> RolloutPlan {
        match request {
            AgentRequest::Deploy(_) => RolloutPlan {
                limits: self.limits,
                rollback_on_budget: self.rollback_on_budget,
            },
            AgentRequest::Rollback { .. }
            | AgentRequest::Recover { .. }
            | AgentRequest::Release(_) => RolloutPlan {
                limits: self.limits,
                rollback_on_budget: false,
            },
            // A decision reaches every host at once: the canary runs on the first batch,
            // and a host without one answers so without failing the others.
            AgentRequest::Status { .. }
            | AgentRequest::History { .. }
            | AgentRequest::Promote(_)
            | AgentRequest::Abort(_) => RolloutPlan {
                limits: RolloutLimits {
                    batch_size: MAX_IDS_PER_COMMAND,
                    max_errors: self.hosts.len(),
                },
                rollback_on_budget: false,
            },
        }
    }

    /// The one rollout of a request over the fleet. A signal cancels what SSM still runs,
    /// sends no new batch, and ends it with `Err`: why, and every host with what a status sweep
    /// found within [`rollout::CANCEL_SWEEP`] ("unknown" where it got no answer).
    pub async fn rollout(
        &self,
        request: &AgentRequest,
        events: &EventLog,
    ) -> Result<FleetReport, Stopped> {
        let plan = self.plan(request);
        let work = rollout::rollout(&self.transport, &self.hosts, request, plan, events);
        match or_stop(Stoppable::Ssm(&self.transport), request, work).await {
            Ok(report) => Ok(report),
            Err(reason) => {
                let report = self.sweep(request, &reason, events).await;
                Err(Stopped { reason, report })
            }
        }
    }

    /// After a cancel: every host, with what its status says now ("unknown" where it got no
    /// answer within [`rollout::CANCEL_SWEEP`]).
    pub async fn sweep(
        &self,
        request: &AgentRequest,
        reason: &str,
        events: &EventLog,
    ) -> FleetReport {
        rollout::sweep_after_cancel(
            &self.transport,
            &self.hosts,
            request,
            reason,
            rollout::CANCEL_SWEEP,
            events,
        )
        .await
    }
}

/// A rollout a signal stopped: why, and every host as the sweep after the cancel found it.
pub struct Stopped {
    pub reason: String,
    pub report: FleetReport,
}

/// A fleet command from the CLI: checks the hosts (a deploy: the full preflight; rollback and
/// status: that SSM can reach them), then rolls the request out. A deploy whose preflight
/// finds a host not ready returns without a rollout: nothing was changed. `Err` of the outer
/// result is an error before the rollout; of the inner, a signal during it.
pub async fn run(
    fleet: &SsmFleet,
    platforms: &[Platform],
    request: &AgentRequest,
    events: &EventLog,
) -> anyhow::Result<SsmRun> {
    let mut run = SsmRun {
        preflight: None,
        fleet: None,
        api_calls: BTreeMap::new(),
        stopped: None,
        commands: vec![],
    };
    let on = Stoppable::Ssm(&fleet.transport);
    // Stopped before the rollout: nothing was sent to a host.
    if let AgentRequest::Deploy(spec) = request {
        let report = match or_stop(on, request, fleet.preflight(&spec.app, platforms, events)).await
        {
            Ok(report) => report?,
            Err(stopped) => return Ok(run.stopped_by(stopped, fleet, request, events).await),
        };
        let ready = report.problems().is_empty();
        run.preflight = Some(report);
        if !ready {
            run.api_calls = fleet.transport.calls().snapshot();
            return Ok(run);
        }
    } else {
        match or_stop(on, request, fleet.check_reachable()).await {
            Ok(checked) => checked?,
            Err(stopped) => return Ok(run.stopped_by(stopped, fleet, request, events).await),
        }
    }
    match fleet.rollout(request, events).await {
        Ok(report) => run.fleet = Some(report),
        Err(Stopped { reason, report }) => {
            run.fleet = Some(report);
            run.stopped = Some(reason);
        }
    }
    run.api_calls = fleet.transport.calls().snapshot();
    Ok(run)
}

impl SsmRun {
    /// Stopped before the rollout: nothing was switched, and every host is still reported.
    async fn stopped_by(
        mut self,
        reason: String,
        fleet: &SsmFleet,
        request: &AgentRequest,
        events: &EventLog,
    ) -> SsmRun {
        self.fleet = Some(fleet.sweep(request, &reason, events).await);
        self.stopped = Some(reason);
        self.api_calls = fleet.transport.calls().snapshot();
        self
    }
}
