//! Scan findings: the state of an image's scan, its counts per severity, and the gate.
//!
//! Basic scanning ends in `COMPLETE`; enhanced scanning (Amazon Inspector) never does, it
//! reports `ACTIVE` while it keeps the image under continuous review. Both mean "findings
//! are available". `IN_PROGRESS` and `PENDING` are worth waiting for; every other state
//! means there are no findings to judge.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Severities in increasing order, as ECR names them in `findingSeverityCounts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// `--scan-gate`: the lowest severity that fails verification (`high` fails on any HIGH or
/// CRITICAL finding). `none` judges no findings and does not require a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanGate {
    #[default]
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl ScanGate {
    /// The lowest failing severity, or `None` when the gate judges nothing.
    pub fn threshold(self) -> Option<Severity> {
        match self {
            ScanGate::None => None,
            ScanGate::Low => Some(Severity::Low),
            ScanGate::Medium => Some(Severity::Medium),
            ScanGate::High => Some(Severity::High),
            ScanGate::Critical => Some(Severity::Critical),
        }
    }

    /// A gate that judges findings needs findings: without a usable scan it fails.
    pub fn requires_scan(self) -> bool {
        self.threshold().is_some()
    }
}

impl fmt::Display for ScanGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.threshold() {
            None => f.write_str("none"),
            Some(s) => f.write_str(&s.as_str().to_lowercase()),
        }
    }
}

/// What the scan of the image says, after waiting as long as `--scan-wait` allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ScanReport {
    /// Findings are available: basic `COMPLETE` or enhanced `ACTIVE`.
    Findings {
        status: String,
        /// Every severity ECR counted, including INFORMATIONAL, UNDEFINED and UNTRIAGED.
        counts: BTreeMap<String, i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completed_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The image was never scanned (`ScanNotFoundException`).
    NotScanned,
    /// Still `IN_PROGRESS` or `PENDING` when `--scan-wait` ran out.
    StillRunning {
        status: String,
        #[serde(with = "duration_secs")]
        waited: Duration,
    },
    /// A state without findings: `FAILED`, `UNSUPPORTED_IMAGE`, `SCAN_ELIGIBILITY_EXPIRED`,
    /// `FINDINGS_UNAVAILABLE`, `LIMIT_EXCEEDED`, `IMAGE_ARCHIVED`, or one newer than this code.
    NoFindings {
        status: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
    },
}

impl ScanReport {
    /// Counts at or above the gate's threshold, highest first; empty when nothing exceeds it.
    pub fn over_gate(&self, gate: ScanGate) -> Vec<(Severity, i64)> {
        let (ScanReport::Findings { counts, .. }, Some(threshold)) = (self, gate.threshold())
        else {
            return Vec::new();
        };
        Severity::ALL
            .into_iter()
            .filter(|s| *s >= threshold)
            .filter_map(|s| counts.get(s.as_str()).map(|n| (s, *n)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// How ECR's scan status strings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Done,
    Running,
    NoFindings,
}

pub fn classify_status(status: &str) -> StatusClass {
    match status {
        "COMPLETE" | "ACTIVE" => StatusClass::Done,
        "IN_PROGRESS" | "PENDING" => StatusClass::Running,
        _ => StatusClass::NoFindings,
    }
}

/// Adaptive polling while a scan runs: start at `first`, double up to `max`, never past
/// the deadline. A basic scan usually takes tens of seconds, so early polls catch the quick
/// ones and later polls stay cheap on the API's rate limit.
#[derive(Debug, Clone, Copy)]
pub struct PollSchedule {
    pub first: Duration,
    pub max: Duration,
}

impl Default for PollSchedule {
    fn default() -> Self {
        PollSchedule {
            first: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

impl PollSchedule {
    /// The delay after `delay`, doubled and capped.
    pub fn next(&self, delay: Duration) -> Duration {
        (delay * 2).min(self.max)
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(pairs: &[(&str, i64)]) -> ScanReport {
        ScanReport::Findings {
            status: "COMPLETE".into(),
            counts: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            completed_at: None,
        }
    }

    #[test]
    fn the_gate_counts_its_severity_and_above() {
        let report = findings(&[
            ("CRITICAL", 0),
            ("HIGH", 2),
            ("MEDIUM", 5),
            ("INFORMATIONAL", 9),
        ]);
        assert_eq!(report.over_gate(ScanGate::Critical), vec![]);
        assert_eq!(report.over_gate(ScanGate::High), vec![(Severity::High, 2)]);
        assert_eq!(
            report.over_gate(ScanGate::Medium),
            vec![(Severity::High, 2), (Severity::Medium, 5)]
        );
        assert_eq!(report.over_gate(ScanGate::None), vec![]);
        assert_eq!(ScanReport::NotScanned.over_gate(ScanGate::Low), vec![]);
    }

    #[test]
    fn basic_and_enhanced_end_states_both_count_as_done() {
        assert_eq!(classify_status("COMPLETE"), StatusClass::Done);
        assert_eq!(classify_status("ACTIVE"), StatusClass::Done);
        assert_eq!(classify_status("IN_PROGRESS"), StatusClass::Running);
        assert_eq!(classify_status("PENDING"), StatusClass::Running);
        assert_eq!(
            classify_status("UNSUPPORTED_IMAGE"),
            StatusClass::NoFindings
        );
        assert_eq!(classify_status("FAILED"), StatusClass::NoFindings);
    }

    #[test]
    fn polling_backs_off_to_its_cap() {
        let s = PollSchedule::default();
        assert_eq!(s.next(Duration::from_millis(500)), Duration::from_secs(1));
        assert_eq!(s.next(Duration::from_secs(8)), Duration::from_secs(10));
    }
}
