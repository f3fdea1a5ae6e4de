//! The preflight stage: connect to the target, then ask every host for its state (the rollback
//! check for prior green) before anything changes.

use super::plan::HostPlan;
use super::{Findings, Fleet, Pipeline, Stop};
use crate::agent::protocol::AgentRequest;
use crate::config::Stage;
use crate::fleet::preflight::PreflightReport;
use crate::fleet::ssm_run::SsmFleet;
use crate::fleet::{LocalTransport, TargetKind, Transport};
use crate::report::Scope;

impl Pipeline {
    /// Connects the transport and resolves the hosts.
    pub(super) async fn connect(&self) -> Result<Fleet, Stop> {
        match self.target.target {
            TargetKind::Local => {
                self.target
                    .check_local()
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let transport = LocalTransport::detect()
                    .await
                    .map_err(|e| Stop::environment(format!("local target: {e:#}")))?;
                Ok(Fleet::Local(transport))
            }
            TargetKind::Ssm => {
                // The SSM command must outlast the deploy's own durations.
                let spec = self.deploy_spec(&self.config.deploy.image);
                crate::agent::validate::command_timeout_covers(self.target.command_timeout, &spec)
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let comment = format!(
                    "bluegreen run {} {}",
                    self.config.deploy.app, self.deploy_id
                );
                let fleet = SsmFleet::connect(&self.target, comment, &self.events)
                    .await
                    .map_err(|e| Stop::with_code(crate::exit::classify(&e), format!("{e:#}")))?;
                Ok(Fleet::Ssm(fleet))
            }
        }
    }

    /// The rollback check for prior green, on every host, before anything changes.
    pub(super) async fn preflight_stage(
        &self,
        fleet: &Fleet,
        found: &Findings,
    ) -> Result<Vec<HostPlan>, Stop> {
        if self.skipped(Stage::Preflight) {
            return Ok(Vec::new());
        }
        let app = &self.config.deploy.app;
        match fleet {
            Fleet::Local(transport) => {
                let timer = self.events.start(&Scope::Pipeline, "preflight");
                let request = AgentRequest::Status {
                    app: Some(app.clone()),
                };
                let reply = transport.run("local", &request).await.map_err(|e| {
                    Stop::environment(format!("preflight: asking the local agent: {e:#}"))
                })?;
                let state = reply.apps.into_iter().find(|a| &a.app == app);
                let plan = vec![HostPlan {
                    host: "local".into(),
                    state,
                }];
                timer.ok(describe_plan_hosts(&plan));
                Ok(plan)
            }
            Fleet::Ssm(fleet) => {
                let platforms = found
                    .image
                    .as_ref()
                    .map(|v| v.platforms().to_vec())
                    .unwrap_or_default();
                let report = fleet
                    .preflight(app, &platforms, &self.events)
                    .await
                    .map_err(|e| Stop::environment(format!("preflight: {e:#}")))?;
                print!("{}", report.render_human());
                preflight_plan(&report)
            }
        }
    }
}

pub(super) fn describe_plan_hosts(plan: &[HostPlan]) -> String {
    plan.iter()
        .map(|h| match h.live_color() {
            Some(c) => format!(
                "{}: {c} live, rollback target {}",
                h.host,
                h.state
                    .as_ref()
                    .and_then(|s| s.rollback_target.as_ref())
                    .map_or("none".to_string(), |r| r.image.clone())
            ),
            None => format!("{}: first deployment (no rollback target yet)", h.host),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn preflight_plan(report: &PreflightReport) -> Result<Vec<HostPlan>, Stop> {
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(Stop::failure(format!(
            "preflight: {} of {} hosts are not ready; nothing was changed",
            problems.len(),
            report.hosts.len()
        )));
    }
    Ok(report
        .hosts
        .iter()
        .map(|h| HostPlan {
            host: h.host.clone(),
            state: h.app.clone(),
        })
        .collect())
}
