//! The fleet's record of a rollout: where each host ended up ([`HostStatus`], [`HostReport`]),
//! the whole fleet's outcome ([`FleetReport`]) and its exit code, and each host's record for
//! the run's report ([`HostReport::record`]).

use crate::agent::{AgentReply, Outcome};
use crate::exit::ExitCode;
use crate::fleet::transport::{HostFailure, HostRun};
use crate::report::hosts::wire_name;
use crate::report::HostRecord;
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
    pub(super) fn from_run(run: HostRun) -> HostReport {
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

    pub(super) fn skipped(host: &str) -> HostReport {
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
    pub(super) fn switched(&self, deploy_id: &str) -> bool {
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

    /// This host's record for the run's report: its reply, or the fleet's word for why there
    /// is none (with the state its status gave after, when it was asked); a host the fleet
    /// rollback sent back ends on the color that rollback left live.
    pub fn record(&self, app: Option<&str>) -> HostRecord {
        let mut record = match &self.reply {
            Some(reply) => HostRecord::from_reply(&self.host, app, reply),
            None => {
                let message = match &self.error {
                    Some(e) => e.message.clone(),
                    None => self.summary_without_reply(),
                };
                let mut silent =
                    HostRecord::without_reply(&self.host, wire_name(self.status), &message);
                if let Some(status) = &self.status_after {
                    silent.serves_as(HostRecord::from_reply(&self.host, app, status));
                }
                silent
            }
        };
        if let Some(Ok(back)) = &self.fleet_rollback {
            let back = HostRecord::from_reply(&self.host, app, back);
            record.outcome = wire_name(self.status);
            record.message = format!("{}; fleet rollback: {}", record.message, back.message);
            record.serves_as(back);
        }
        record
    }

    fn summary_without_reply(&self) -> String {
        match self.status {
            HostStatus::Skipped => "not started: the error budget was exceeded".to_string(),
            HostStatus::Cancelled => "not started: the run was cancelled".to_string(),
            _ => "no reply".to_string(),
        }
    }

    /// One line for humans: host, status, what happened.
    pub fn summary(&self) -> String {
        format!(
            "{:<20} {:<15} {}",
            self.host,
            status_word(self.status),
            self.what()
        )
    }

    /// The status and what happened, without the host: `succeeded, green serves ...`.
    pub fn result_line(&self) -> String {
        format!("{}, {}", status_word(self.status), self.what())
    }

    /// What happened on the host, with the fleet rollback's result when there was one.
    fn what(&self) -> String {
        let mut what = match (&self.reply, &self.error) {
            (Some(r), _) => r.message.clone(),
            (None, Some(e)) => e.to_string(),
            (None, None) => self.summary_without_reply(),
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
        if let Some(rb) = &self.fleet_rollback {
            let rb = match rb {
                Ok(r) => r.message.clone(),
                Err(e) => e.to_string(),
            };
            let _ = write!(what, " | fleet rollback: {rb}");
        }
        what
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
            let history = h
                .reply
                .as_ref()
                .map(|r| r.history.as_slice())
                .unwrap_or(&[]);
            if !history.is_empty() {
                for line in crate::agent::render::history(history).lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        let _ = write!(out, "{}", self.message);
        out
    }
}
