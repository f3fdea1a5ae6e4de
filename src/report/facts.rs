//! Every derived figure of a report, computed once from the [`RunReport`].
//!
//! Sinks render [`ReportFacts`]; none computes a figure of its own, so the job summary, the PR
//! comment, `metrics.json` and the outputs can never disagree. The thresholds behind the
//! recommendations are named constants, documented in `docs/report.md`.

use crate::report::event::{Scope, StepStatus};
use crate::report::hosts::FleetColor;
use crate::report::model::RunReport;
use crate::report::receipt::{FleetReceipt, Receipt};
use crate::report::timeline::Timeline;
use crate::report::units::{human_bytes, human_ms, thousands};
use serde::Serialize;

/// The engine's step that waits for the new container's health check to pass (the engine
/// names its events with these constants, so the recommendations always find them).
pub const STEP_READINESS: &str = "ready";
/// The engine's step that pulls the image on a host.
pub const STEP_PULL: &str = "pull";
/// Readiness slower than this (ms) earns a recommendation: warm-up work belongs in the image
/// or behind a readiness endpoint that answers early.
pub const SLOW_READINESS_MS: u64 = 30_000;
/// A pull slower than this (ms) earns a recommendation.
pub const SLOW_PULL_MS: u64 = 60_000;
/// An image larger than this (compressed bytes) earns a recommendation: every host pulls it.
pub const LARGE_IMAGE_BYTES: u64 = 500 * 1024 * 1024;

/// One finished step as the pipeline table shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    pub scope: String,
    pub step: String,
    pub status: StepStatus,
    pub duration_ms: Option<u64>,
    pub detail: String,
}

impl StepRow {
    /// The host of a host's step; `None` for the pipeline's own.
    pub fn host(&self) -> Option<&str> {
        self.scope.strip_prefix("host:")
    }

    /// `ok`, `warning`, `failed`, ...
    pub fn status_word(&self) -> String {
        format!("{:?}", self.status).to_lowercase()
    }
}

/// A recommendation computed from a measurement, with a stable code for tooling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    pub code: &'static str,
    pub message: String,
}

/// The derived view every sink renders.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportFacts {
    pub steps: Vec<StepRow>,
    pub live_before: FleetColor,
    pub live_after: FleetColor,
    /// The image reference the run deployed (or the live one after a rollback).
    pub image_ref: Option<String>,
    /// The hosts' receipts summed (`None` when no host switched from a serving color).
    pub receipt: Option<FleetReceipt>,
    /// Every timed step, a lane for the pipeline and one per host.
    pub timeline: Timeline,
    pub recommendations: Vec<Recommendation>,
}

impl ReportFacts {
    pub fn from_report(report: &RunReport) -> ReportFacts {
        let hosts = &report.hosts;
        ReportFacts {
            steps: step_rows(report),
            live_before: FleetColor::of(hosts.iter().map(|h| h.live_before)),
            live_after: FleetColor::of(hosts.iter().map(|h| h.live_after)),
            image_ref: image_ref(report),
            receipt: FleetReceipt::of(hosts.iter().filter_map(|h| h.receipt.as_ref())),
            timeline: Timeline::of(report),
            recommendations: recommendations(report),
        }
    }
}

/// Finished steps in time order; `started` markers are left out (their step follows).
fn step_rows(report: &RunReport) -> Vec<StepRow> {
    let mut events: Vec<_> = report
        .events
        .iter()
        .filter(|e| e.status != StepStatus::Started)
        .collect();
    events.sort_by_key(|e| e.ts);
    events
        .into_iter()
        .map(|e| StepRow {
            scope: e.scope.to_string(),
            step: e.step.clone(),
            status: e.status,
            duration_ms: e.duration_ms,
            detail: e.detail.clone(),
        })
        .collect()
}

fn image_ref(report: &RunReport) -> Option<String> {
    report
        .image
        .as_ref()
        .map(|i| i.reference.clone())
        .or_else(|| report.hosts.iter().find_map(|h| h.image.clone()))
}

/// One recommendation for the hosts whose receipt counts failed requests, the worst named.
fn failed_during_switch(report: &RunReport) -> Option<Recommendation> {
    const NAMED: usize = 3;
    let mut failing: Vec<(&str, &Receipt)> = report
        .hosts
        .iter()
        .filter_map(|h| Some((h.host.as_str(), h.receipt.as_ref()?)))
        .filter(|(_, r)| r.during.failed() > 0)
        .collect();
    if failing.is_empty() {
        return None;
    }
    failing.sort_by_key(|(_, r)| std::cmp::Reverse(r.during.failed()));
    let mut named: Vec<String> = failing
        .iter()
        .take(NAMED)
        .map(|(host, r)| {
            format!(
                "{host}: {} of {} ({})",
                thousands(r.during.failed()),
                thousands(r.during.requests),
                r.during.breakdown()
            )
        })
        .collect();
    if failing.len() > NAMED {
        named.push(format!("and {} more host(s)", failing.len() - NAMED));
    }
    Some(Recommendation {
        code: "failed-during-switch",
        message: format!(
            "requests failed during the switch on {} host(s): {}. Look for the old version \
             stopping before its requests finished (a longer --drain), a new version that was \
             not ready for load (a health path that answers only when the app can serve), or app \
             errors in its log",
            failing.len(),
            named.join("; ")
        ),
    })
}

fn recommendations(report: &RunReport) -> Vec<Recommendation> {
    let mut out = Vec::new();
    out.extend(slow_steps(report, STEP_READINESS, SLOW_READINESS_MS).map(|(host, ms)| {
        Recommendation {
            code: "slow-readiness",
            message: format!(
                "{host}: the new container took {} to pass its health check (threshold {}); \
                 move warm-up into the image or answer the health path as soon as the app can serve",
                human_ms(ms),
                human_ms(SLOW_READINESS_MS)
            ),
        }
    }));
    out.extend(
        slow_steps(report, STEP_PULL, SLOW_PULL_MS).map(|(host, ms)| Recommendation {
            code: "slow-pull",
            message: format!(
                "{host}: pulling the image took {} (threshold {}); a smaller image or a registry \
             endpoint in the hosts' VPC shortens every deploy",
                human_ms(ms),
                human_ms(SLOW_PULL_MS)
            ),
        }),
    );
    if let Some(bytes) = report
        .image
        .as_ref()
        .and_then(|i| i.size_bytes)
        .filter(|b| *b > LARGE_IMAGE_BYTES)
    {
        out.push(Recommendation {
            code: "large-image",
            message: format!(
                "the image is {} compressed (threshold {}); every host pulls it on each deploy, \
                 so a multi-stage build or a slimmer base pays back quickly",
                human_bytes(bytes),
                human_bytes(LARGE_IMAGE_BYTES)
            ),
        });
    }
    out.extend(failed_during_switch(report));
    let without_target: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| h.live_after.is_some() && h.rollback_target.is_none())
        .map(|h| h.host.as_str())
        .collect();
    if !without_target.is_empty() {
        out.push(Recommendation {
            code: "no-rollback-target",
            message: format!(
                "no rollback target yet on {}: this was the first deployment there, so a \
                 rollback has nothing to return to until the next deploy succeeds",
                without_target.join(", ")
            ),
        });
    }
    if let Some(n) = report
        .lint
        .as_ref()
        .map(|l| l.deprecated_actions)
        .filter(|n| *n > 0)
    {
        out.push(Recommendation {
            code: "deprecated-actions",
            message: format!(
                "{n} use(s) of deprecated actions or runner features in the workflows; \
                 run `bluegreen lint --fix` or update them before GitHub removes them"
            ),
        });
    }
    if let Some(scan) = report
        .image
        .as_ref()
        .and_then(|i| i.scan)
        .filter(|s| s.serious() > 0)
    {
        out.push(Recommendation {
            code: "scan-findings",
            message: format!(
                "the image scan found {} critical and {} high vulnerabilities; rebuild on a \
                 patched base image",
                scan.critical, scan.high
            ),
        });
    }
    out
}

/// `(host, duration)` of every finished `step` on a host that took longer than `threshold_ms`.
fn slow_steps<'a>(
    report: &'a RunReport,
    step: &'a str,
    threshold_ms: u64,
) -> impl Iterator<Item = (String, u64)> + 'a {
    report
        .events
        .iter()
        .filter_map(move |e| match (&e.scope, e.duration_ms) {
            (Scope::Host(host), Some(ms)) if e.step == step && ms > threshold_ms => {
                Some((host.clone(), ms))
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_ready_step_of_a_recorded_run_earns_its_recommendation() {
        let text = include_str!("../../tests/data/report/local-run.json");
        let mut report: RunReport = serde_json::from_str(text).unwrap();
        let codes = |r: &RunReport| -> Vec<&'static str> {
            ReportFacts::from_report(r)
                .recommendations
                .iter()
                .map(|r| r.code)
                .collect()
        };
        assert!(!codes(&report).contains(&"slow-readiness"));
        let ready = report
            .events
            .iter_mut()
            .find(|e| e.step == STEP_READINESS)
            .expect("the recorded engine run has a readiness step");
        ready.duration_ms = Some(SLOW_READINESS_MS + 1);
        assert!(codes(&report).contains(&"slow-readiness"));
    }

    #[test]
    fn human_units() {
        assert_eq!(human_ms(350), "350 ms");
        assert_eq!(human_ms(1_250), "1.2 s");
        assert_eq!(human_ms(125_000), "2 min 05 s");
        assert_eq!(human_bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }
}
