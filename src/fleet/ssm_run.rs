//! A fleet command over SSM, from targets to the fleet report, without printing: what the CLI
//! and the pipeline both call.

use super::preflight::{self, PreflightReport, TargetSelection};
use super::rollout::{self, FleetReport, RolloutPlan};
use super::ssm::SsmTransport;
use super::targets::{RolloutLimits, MAX_IDS_PER_COMMAND};
use super::TargetArgs;
use crate::agent::AgentRequest;
use crate::exit::{ExitCode, UsageError};
use crate::report::EventLog;
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
}

impl SsmRun {
    /// The rollout's code; 1 when the preflight stopped the deploy.
    pub fn exit_code(&self) -> ExitCode {
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

/// Resolves the targets, checks them (a deploy: the full preflight; rollback and status: that
/// SSM can reach them), then rolls the request out. A deploy whose preflight finds a host not
/// ready returns without a rollout: nothing was changed.
pub async fn run(
    transport: &SsmTransport,
    target: &TargetArgs,
    selection: &TargetSelection,
    request: &AgentRequest,
    events: &EventLog,
) -> anyhow::Result<SsmRun> {
    let hosts = preflight::resolve_targets(transport, selection).await?;
    let limits = RolloutLimits::resolve(target.max_concurrency, target.max_errors, hosts.len())
        .map_err(UsageError)?;
    let mut run = SsmRun {
        preflight: None,
        fleet: None,
        api_calls: BTreeMap::new(),
    };
    let plan = match request {
        AgentRequest::Deploy(spec) => {
            let report =
                preflight::preflight(transport, &hosts, &spec.app, &target.image_platform, events)
                    .await?;
            let ready = report.problems().is_empty();
            run.preflight = Some(report);
            if !ready {
                run.api_calls = transport.calls().snapshot();
                return Ok(run);
            }
            RolloutPlan {
                limits,
                rollback_on_budget: target.fleet_rollback_on_budget,
            }
        }
        // A rollback walks the fleet with the same limits, but is never itself rolled back.
        AgentRequest::Rollback { .. } | AgentRequest::Recover { .. } => {
            check_reachable(transport, &hosts).await?;
            RolloutPlan {
                limits,
                rollback_on_budget: false,
            }
        }
        // A status changes nothing: every host at once, no budget.
        AgentRequest::Status { .. } => {
            check_reachable(transport, &hosts).await?;
            RolloutPlan {
                limits: RolloutLimits {
                    batch_size: MAX_IDS_PER_COMMAND,
                    max_errors: hosts.len(),
                },
                rollback_on_budget: false,
            }
        }
    };
    run.fleet = Some(rollout::rollout(transport, &hosts, request, plan, events).await);
    run.api_calls = transport.calls().snapshot();
    Ok(run)
}

/// Stops before sending anything when a host cannot run commands (rollback and status).
async fn check_reachable(transport: &SsmTransport, hosts: &[String]) -> anyhow::Result<()> {
    let infos = preflight::describe_instances(transport, hosts).await?;
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
