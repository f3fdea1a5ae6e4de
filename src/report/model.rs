//! What a report is made of: one plain, typed record of a run ([`RunReport`]).
//!
//! The pipeline maps its stage outcomes into this record once; every sink renders it and
//! nothing else. The types here are the report's own (not lint's, image's or the fleet's), so
//! the report does not move when those stages change shape.

use crate::exit::ExitCode;
use crate::report::event::{CommandRun, Event, Scope};
use crate::report::hosts::HostRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How the whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every host serves the new version.
    Success,
    /// The deploy failed; where traffic moved it was moved back (see `rolled_back`).
    Failure,
    /// A requested rollback switched traffic to the prior version.
    RolledBack,
    /// A rollback was requested but no host had a prior version.
    NothingToRollBack,
    /// Another deploy of the same app held the lock; nothing changed.
    Locked,
}

impl RunStatus {
    /// How a rollback ended, as a run status: from the exit code of `bluegreen rollback`.
    pub fn of_rollback(exit: ExitCode) -> RunStatus {
        match exit {
            ExitCode::Ok => RunStatus::RolledBack,
            ExitCode::NothingToRollBack => RunStatus::NothingToRollBack,
            ExitCode::Locked => RunStatus::Locked,
            _ => RunStatus::Failure,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::RolledBack => "rolled_back",
            RunStatus::NothingToRollBack => "nothing_to_roll_back",
            RunStatus::Locked => "locked",
        }
    }

    /// The mark a summary's title starts with.
    pub fn mark(self) -> &'static str {
        match self {
            RunStatus::Success => "✅",
            RunStatus::Failure => "❌",
            RunStatus::RolledBack => "↩️",
            RunStatus::NothingToRollBack => "⚠️",
            RunStatus::Locked => "🔒",
        }
    }

    /// Whether the run reached what was asked of it.
    pub fn is_success(self) -> bool {
        matches!(self, RunStatus::Success | RunStatus::RolledBack)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Vulnerability counts from the registry's image scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanCounts {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub informational: u32,
    pub undefined: u32,
}

impl ScanCounts {
    /// Findings a team should act on before the next deploy.
    pub fn serious(&self) -> u32 {
        self.critical + self.high
    }

    pub fn total(&self) -> u32 {
        self.critical + self.high + self.medium + self.low + self.informational + self.undefined
    }
}

/// What image verification found out about the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFacts {
    /// The reference deployed (after verification, `repo@sha256:...`).
    pub reference: String,
    #[serde(default)]
    pub digest: Option<String>,
    /// Compressed size as the registry reports it.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub pushed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub platforms: Vec<String>,
    /// `None` when no scan result was available.
    #[serde(default)]
    pub scan: Option<ScanCounts>,
}

/// One lint finding, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintFinding {
    pub rule: String,
    /// `error`, `warning` or `note`.
    pub level: String,
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// The workflow lint's result, reduced to what the report shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintSummary {
    pub errors: u32,
    pub warnings: u32,
    pub notes: u32,
    /// Uses of deprecated actions or runner features (a subset of the counts above).
    pub deprecated_actions: u32,
    /// The top findings, most severe first; may be fewer than the counts.
    #[serde(default)]
    pub findings: Vec<LintFinding>,
}

impl LintSummary {
    pub fn total(&self) -> u32 {
        self.errors + self.warnings + self.notes
    }
}

/// Everything one run did, as measured. The one input of every report sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub app: String,
    pub environment: String,
    pub deploy_id: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Every event of the run: the pipeline's and, appended, each host agent's
    /// (the `EventLog` snapshot). Sinks read events from here, not from the replies.
    pub events: Vec<Event>,
    #[serde(default)]
    pub commands: Vec<CommandRun>,
    #[serde(deserialize_with = "crate::report::hosts::stored_hosts")]
    pub hosts: Vec<HostRecord>,
    #[serde(default)]
    pub image: Option<ImageFacts>,
    #[serde(default)]
    pub lint: Option<LintSummary>,
    /// Traffic was switched back to the prior version during this run.
    pub rolled_back: bool,
    /// Why the run stopped short of success, in one sentence (`None` on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the deployed app is reachable, for the deployment's `environment_url`.
    #[serde(default)]
    pub environment_url: Option<String>,
    /// The release phase (`release-command`), when the run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseRecord>,
}

/// How the release command ran: where, its one-line outcome, and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub host: String,
    pub command: Vec<String>,
    pub message: String,
    #[serde(flatten)]
    pub result: crate::agent::protocol::ReleaseResult,
}

impl ReleaseRecord {
    /// Ended well: exited 0, or skipped for a digest released before.
    pub fn succeeded(&self) -> bool {
        self.result.skipped || self.result.exit_code == Some(0)
    }
}

impl RunReport {
    /// This run grown to `hosts` more hosts (copies of the first) and `events` more events
    /// with `detail_len`-byte details: the load the size limits are tested and benchmarked at
    /// (`tests/report_sinks.rs`, `examples/report-size.rs`).
    #[doc(hidden)]
    pub fn scaled_up(mut self, hosts: u32, events: u32, detail_len: usize) -> RunReport {
        let detail = "x".repeat(detail_len);
        for i in 0..events {
            self.events.push(Event {
                ts: self.finished_at,
                scope: Scope::Host(format!("i-{i:017}")),
                step: "verify".into(),
                status: crate::report::StepStatus::Ok,
                duration_ms: Some(20_000),
                detail: detail.clone(),
            });
        }
        if let Some(template) = self.hosts.first().cloned() {
            for i in 0..hosts {
                let mut h = template.clone();
                h.host = format!("i-{i:017}");
                self.hosts.push(h);
            }
        }
        self
    }

    pub fn duration_ms(&self) -> u64 {
        (self.finished_at - self.started_at)
            .num_milliseconds()
            .max(0) as u64
    }
}
