//! Reporting: one event model ([`event`]), one typed record of a run ([`model::RunReport`]),
//! the figures derived from it once ([`facts`]), and the sinks that render it.
//!
//! Local sinks: [`write_report`] (log, `metrics.json`, summary, report directory, outputs).
//! GitHub sinks: [`github::publish`] (sticky PR comment, deployment statuses).
//! Every sink writes through a [`Redactor`]. See `docs/report.md`.

pub mod canary;
pub mod cli;
pub mod event;
pub mod facts;
pub mod github;
pub mod hosts;
pub mod log;
pub mod markdown;
pub mod metrics;
pub mod model;
pub mod outputs;
pub mod receipt;
pub mod redact;
pub mod timeline;
pub mod units;
pub mod write;

pub use event::{CommandRun, Event, EventLog, Scope, StepStatus, StepTimer};
pub use facts::{Recommendation, ReportFacts};
pub use hosts::{FleetColor, HostRecord};
pub use model::{
    ImageFacts, LintFinding, LintSummary, ReleaseRecord, RunReport, RunStatus, ScanCounts,
};
pub use redact::Redactor;
pub use write::{write_report, ReportOptions, ReportOutcome, SinkOutcome};
