//! The action's outputs: `status`, `live-color`, `image-ref`, `rolled-back`, `report-dir`.

use crate::report::facts::ReportFacts;
use crate::report::model::RunReport;

/// The outputs, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutputs {
    /// `success`, `failure`, `rolled_back`, `nothing_to_roll_back` or `locked`.
    pub status: String,
    /// `blue`, `green`, `mixed` (hosts disagree) or `none`.
    pub live_color: String,
    /// The deployed image reference; empty when unknown.
    pub image_ref: String,
    /// `true` when traffic was switched back during this run.
    pub rolled_back: String,
    /// Workspace-relative: the runner does not translate paths in outputs, and a
    /// `/github/workspace/...` path would not exist for the next step.
    pub report_dir: String,
}

impl ActionOutputs {
    pub fn new(report: &RunReport, facts: &ReportFacts, report_dir: &str) -> ActionOutputs {
        ActionOutputs {
            status: report.status.to_string(),
            live_color: facts.live_after.as_str().to_string(),
            image_ref: facts.image_ref.clone().unwrap_or_default(),
            rolled_back: report.rolled_back.to_string(),
            report_dir: report_dir.to_string(),
        }
    }

    pub fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("status", &self.status),
            ("live-color", &self.live_color),
            ("image-ref", &self.image_ref),
            ("rolled-back", &self.rolled_back),
            ("report-dir", &self.report_dir),
        ]
    }
}
