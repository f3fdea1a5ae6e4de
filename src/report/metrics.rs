//! `metrics.json`: the run's measurements for machines (dashboards, trend checks).
//!
//! The schema is versioned ([`SCHEMA_VERSION`]) and committed as `docs/metrics.schema.json`;
//! a test validates this output against it. Adding an optional field keeps the version;
//! renaming or removing one, or changing a meaning, bumps it.

use crate::report::canary::{CanaryEnd, CanaryRun, ServerFigures, Verdict};
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
    /// The host's canary (absent for a blue-green deploy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryMetrics<'a>>,
}

/// A host's canary: the record's counts, with each server's failed share and average
/// response time worked out for dashboards.
#[derive(Debug, Serialize)]
pub struct CanaryMetrics<'a> {
    pub steps: &'a [crate::agent::canary::spec::CanaryStep],
    pub reached: usize,
    /// `null` while the canary is in progress.
    pub end: Option<&'a CanaryEnd>,
    pub intervals: Vec<IntervalMetrics<'a>>,
    pub intervals_left_out: usize,
}

#[derive(Debug, Serialize)]
pub struct IntervalMetrics<'a> {
    pub step: usize,
    pub weight: u8,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub new: ServerMetrics,
    pub old: ServerMetrics,
    pub verdict: &'a Verdict,
    pub notes: &'a [String],
}

#[derive(Debug, Serialize)]
pub struct ServerMetrics {
    pub requests: u64,
    pub http_5xx: u64,
    pub errors: u64,
    pub failed: u64,
    /// 0 to 1; `null` without requests.
    pub failed_share: Option<f64>,
    /// Requests with a response time in the proxy's log, and their average.
    pub timed: u64,
    pub avg_response_ms: Option<f64>,
}

impl ServerMetrics {
    fn of(f: &ServerFigures) -> ServerMetrics {
        ServerMetrics {
            requests: f.requests,
            http_5xx: f.http_5xx,
            errors: f.errors,
            failed: f.failed(),
            failed_share: f.failed_share(),
            timed: f.timed,
            avg_response_ms: f.avg_ms(),
        }
    }
}

impl<'a> CanaryMetrics<'a> {
    fn of(run: &'a CanaryRun) -> CanaryMetrics<'a> {
        CanaryMetrics {
            steps: &run.steps,
            reached: run.reached,
            end: run.end.as_ref(),
            intervals: run
                .intervals
                .iter()
                .map(|i| IntervalMetrics {
                    step: i.step,
                    weight: i.weight,
                    from: i.from,
                    to: i.to,
                    new: ServerMetrics::of(&i.new),
                    old: ServerMetrics::of(&i.old),
                    verdict: &i.verdict,
                    notes: &i.notes,
                })
                .collect(),
            intervals_left_out: run.intervals_left_out,
        }
    }
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
                canary: h.canary.as_ref().map(CanaryMetrics::of),
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
