//! `metrics.json`: the run's measurements for machines (dashboards, trend checks).
//!
//! The schema is versioned ([`SCHEMA_VERSION`]) and committed as `docs/metrics.schema.json`;
//! a test validates this output against it. Adding an optional field keeps the version;
//! renaming or removing one, or changing a meaning, bumps it.

use crate::report::event::StepStatus;
use crate::report::facts::{Recommendation, ReportFacts};
use crate::report::hosts::FleetColor;
use crate::report::model::{RunReport, RunStatus, ScanCounts};
use crate::report::receipt::{FleetReceipt, Receipt};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Version of the `metrics.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Metrics<'a> {
    pub schema_version: u32,
    pub app: &'a str,
    pub environment: &'a str,
    pub deploy_id: &'a str,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub live_color: LiveColor,
    pub rollback_performed: bool,
    pub image: Option<ImageMetrics<'a>>,
    pub lint: Option<LintCounts>,
    pub steps: Vec<StepMetric<'a>>,
    pub hosts: Vec<HostMetric<'a>>,
    /// What users saw while the hosts switched, summed (`null` when no host switched from a
    /// serving color).
    pub receipt: Option<&'a FleetReceipt>,
    pub recommendations: &'a [Recommendation],
    /// The release phase, when the run has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<&'a crate::report::ReleaseRecord>,
}

#[derive(Debug, Serialize)]
pub struct LiveColor {
    pub before: FleetColor,
    pub after: FleetColor,
}

#[derive(Debug, Serialize)]
pub struct ImageMetrics<'a> {
    pub reference: &'a str,
    pub digest: Option<&'a str>,
    pub size_bytes: Option<u64>,
    pub scan: Option<ScanCounts>,
}

#[derive(Debug, Serialize)]
pub struct LintCounts {
    pub errors: u32,
    pub warnings: u32,
    pub notes: u32,
    pub deprecated_actions: u32,
}

#[derive(Debug, Serialize)]
pub struct StepMetric<'a> {
    pub scope: &'a str,
    pub step: &'a str,
    pub status: StepStatus,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct HostMetric<'a> {
    pub host: &'a str,
    pub outcome: &'a str,
    pub live_color_before: Option<crate::agent::protocol::Color>,
    pub live_color_after: Option<crate::agent::protocol::Color>,
    pub image: Option<&'a str>,
    pub digest: Option<&'a str>,
    pub rollback_target_color: Option<crate::agent::protocol::Color>,
    pub first_deployment: bool,
    pub receipt: Option<&'a Receipt>,
}

/// Builds the metrics record from the report and its derived facts.
pub fn metrics<'a>(report: &'a RunReport, facts: &'a ReportFacts) -> Metrics<'a> {
    Metrics {
        schema_version: SCHEMA_VERSION,
        app: &report.app,
        environment: &report.environment,
        deploy_id: &report.deploy_id,
        status: report.status,
        started_at: report.started_at,
        finished_at: report.finished_at,
        duration_ms: report.duration_ms(),
        live_color: LiveColor {
            before: facts.live_before,
            after: facts.live_after,
        },
        rollback_performed: report.rolled_back,
        image: report.image.as_ref().map(|i| ImageMetrics {
            reference: &i.reference,
            digest: i.digest.as_deref(),
            size_bytes: i.size_bytes,
            scan: i.scan,
        }),
        lint: report.lint.as_ref().map(|l| LintCounts {
            errors: l.errors,
            warnings: l.warnings,
            notes: l.notes,
            deprecated_actions: l.deprecated_actions,
        }),
        steps: facts
            .steps
            .iter()
            .map(|s| StepMetric {
                scope: &s.scope,
                step: &s.step,
                status: s.status,
                duration_ms: s.duration_ms,
            })
            .collect(),
        hosts: report
            .hosts
            .iter()
            .map(|h| HostMetric {
                host: &h.host,
                outcome: &h.outcome,
                live_color_before: h.live_before,
                live_color_after: h.live_after,
                image: h.image.as_deref(),
                digest: h.digest.as_deref(),
                rollback_target_color: h.rollback_target.as_ref().map(|t| t.color),
                first_deployment: h.first_deployment,
                receipt: h.receipt.as_ref(),
            })
            .collect(),
        receipt: facts.receipt.as_ref(),
        recommendations: &facts.recommendations,
        release: report.release.as_ref(),
    }
}

/// `metrics.json` as pretty-printed text.
pub fn render_metrics(report: &RunReport, facts: &ReportFacts) -> serde_json::Result<String> {
    let mut text = serde_json::to_string_pretty(&metrics(report, facts))?;
    text.push('\n');
    Ok(text)
}
