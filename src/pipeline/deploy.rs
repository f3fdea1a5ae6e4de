//! The deploy stage: the rollout of the new version over every host, and what its report
//! says about the run.

use super::{Findings, Fleet, Pipeline, Stop};
use crate::agent::protocol::{AgentRequest, DeploySpec, Outcome};
use crate::exit::ExitCode;
use crate::fleet::interrupt::{or_stop, Stoppable};
use crate::fleet::rollout::{self, FleetReport, HostStatus, RolloutPlan};
use crate::fleet::targets::RolloutLimits;
use crate::report::{RunStatus, Scope};

impl Pipeline {
    pub(super) fn deploy_spec(&self, image: &str) -> DeploySpec {
        self.config.deploy.spec(image, &self.deploy_id)
    }

    /// Rolls the deploy out and records the fleet's report; a host that did not end on the new
    /// version stops the run (the fleet has put back what it could).
    pub(super) async fn deploy_stage(
        &self,
        fleet: &Fleet,
        spec: &DeploySpec,
        found: &mut Findings,
    ) -> Result<(), Stop> {
        let timer = self.events.start(&Scope::Pipeline, "deploy");
        let request = AgentRequest::Deploy(spec.clone());
        let report = match fleet {
            Fleet::Local(transport) => {
                let plan = RolloutPlan {
                    limits: RolloutLimits {
                        batch_size: 1,
                        max_errors: 0,
                    },
                    rollback_on_budget: false,
                };
                let hosts = ["local".to_string()];
                let work = rollout::rollout(transport, &hosts, &request, plan, &self.events);
                or_stop(Stoppable::Local(transport), &request, work)
                    .await
                    .unwrap_or_else(|stopped| failed_fleet(&hosts, &stopped))
            }
            // The rollout `deploy --target ssm` runs; a signal cancels what SSM still runs.
            Fleet::Ssm(fleet) => fleet
                .rollout(&request, &self.events)
                .await
                .unwrap_or_else(|stopped| failed_fleet(&fleet.hosts, &stopped)),
        };
        let status = fleet_status(&report);
        let reason = report.message.clone();
        if status == RunStatus::Success {
            timer.ok(reason.clone());
        } else {
            timer.fail(reason.clone());
        }
        found.fleet = Some(report);
        match status {
            RunStatus::Success => Ok(()),
            RunStatus::Locked => Err(Stop::with_status(status, ExitCode::Locked, reason)),
            _ => Err(Stop::with_status(status, ExitCode::Failed, reason)),
        }
    }
}

pub(super) fn failed_fleet(hosts: &[String], reason: &str) -> FleetReport {
    FleetReport {
        action: "deploy".into(),
        hosts: Vec::new(),
        batch_size: 0,
        max_errors: 0,
        errors: hosts.len(),
        budget_exceeded: false,
        fleet_rolled_back: false,
        message: reason.to_string(),
    }
}

pub(super) fn fleet_status(report: &FleetReport) -> RunStatus {
    let all_ok = !report.hosts.is_empty()
        && report
            .hosts
            .iter()
            .all(|h| h.status == HostStatus::Succeeded);
    if all_ok {
        return RunStatus::Success;
    }
    let locked = report.hosts.iter().any(|h| {
        h.reply
            .as_ref()
            .is_some_and(|r| r.outcome == Outcome::Locked)
    });
    if locked {
        RunStatus::Locked
    } else {
        RunStatus::Failure
    }
}

pub(super) fn rolled_back(report: &FleetReport) -> bool {
    report.fleet_rolled_back
        || report.hosts.iter().any(|h| {
            h.reply
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::AutoRolledBack)
        })
}
