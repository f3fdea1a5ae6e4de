//! The deploy stage: the rollout of the new version over every host, and what its report
//! says about the run.

use super::{Findings, Fleet, Pipeline, Stop};
use crate::agent::protocol::{AgentRequest, DeploySpec, Outcome};
use crate::exit::ExitCode;
use crate::fleet::fleet_lock::{self, FleetLock, LockArgs};
use crate::fleet::interrupt::{or_stop, Stoppable};
use crate::fleet::rollout::{self, FleetReport, HostStatus, RolloutPlan};
use crate::fleet::targets::RolloutLimits;
use crate::report::{RunStatus, Scope};

impl Pipeline {
    /// The hosts' request, naming this workflow run for their history.
    pub(super) fn deploy_spec(&self, image: &str) -> DeploySpec {
        DeploySpec {
            run_url: crate::gha::runner::RunnerEnv::from_env().run_url(),
            ..self.config.deploy.spec(image, &self.deploy_id)
        }
    }

    /// The fleet lock `/bluegreen/locks/<app>/<environment>` (SSM targets only); a lock
    /// another deploy holds stops the run as locked, before any host is touched.
    pub(super) async fn take_fleet_lock(&self, fleet: &Fleet) -> Result<Option<FleetLock>, Stop> {
        let Fleet::Ssm(fleet) = fleet else {
            return Ok(None);
        };
        let lock = LockArgs {
            environment: self.config.environment.clone(),
            wait: self.config.lock_wait,
        };
        let origin = self.config.origin;
        lock.check_as(&origin.name("environment"), &origin.name("lock-wait"))
            .map_err(|e| Stop::usage(e.to_string()))?;
        let taken = fleet_lock::take_for_deploy(
            fleet.transport.client(),
            &self.config.deploy.app,
            &self.deploy_id,
            self.runner.run_url(),
            &lock,
            self.target.command_timeout,
        )
        .await;
        match taken {
            Ok(lock) => Ok(Some(lock)),
            Err(e) if e.is::<fleet_lock::Held>() => Err(Stop::with_status(
                RunStatus::Locked,
                ExitCode::Locked,
                e.to_string(),
            )),
            Err(e) => Err(Stop::environment(format!("{e:#}"))),
        }
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
                match or_stop(Stoppable::Local(transport), &request, work).await {
                    Ok(report) => report,
                    // Every host stays in the report, with what its status says now.
                    Err(stopped) => {
                        rollout::sweep_after_cancel(
                            transport,
                            &hosts,
                            &request,
                            &stopped,
                            rollout::CANCEL_SWEEP,
                            &self.events,
                        )
                        .await
                    }
                }
            }
            // The rollout `deploy --target ssm` runs; a signal cancels what SSM still runs,
            // and the hosts are swept for their status.
            Fleet::Ssm(fleet) => match fleet.rollout(&request, &self.events).await {
                Ok(report) => report,
                Err(stopped) => stopped.report,
            },
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
