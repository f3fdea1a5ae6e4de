//! The checks of a verdict, one function each: found, digest, age, platform, scan.

use super::reference::{Digest, Platform};
use super::scan::{ScanGate, ScanReport};
use super::verdict::{Check, CheckName, CheckStatus, PlatformSource, ResolvedImage, VerifyRequest};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Every check the request asks for, in the order a reader expects them.
pub fn run_checks(req: &VerifyRequest, image: &ResolvedImage, now: DateTime<Utc>) -> Vec<Check> {
    let mut checks = vec![check_found(req, image)];
    if let Some(expected) = &req.expect_digest {
        checks.push(check_digest(req, image, expected));
    }
    if let Some(max_age) = req.max_age {
        checks.push(check_age(image, max_age, now));
    }
    if let Some(platform) = &req.platform {
        checks.push(check_platform(image, platform));
    }
    checks.push(check_image_scan(image, req.scan_gate));
    checks
}

/// [`check_scan`] on the combined scan, naming each image's state for an index.
pub(super) fn check_image_scan(image: &ResolvedImage, gate: ScanGate) -> Check {
    let mut check = check_scan(&image.scan, gate);
    if !image.child_scans.is_empty() {
        let each: Vec<String> = image
            .child_scans
            .iter()
            .map(|c| format!("{}: {}", c.platform, scan_state(&c.report)))
            .collect();
        check
            .reason
            .push_str(&format!(" [per image: {}]", each.join(", ")));
    }
    check
}

pub(super) fn check_found(req: &VerifyRequest, image: &ResolvedImage) -> Check {
    if image.image_status.as_deref() == Some("ARCHIVED") {
        return Check::new(
            CheckName::Image,
            CheckStatus::Fail,
            format!(
                "{} is archived ({}): restore it before deploying",
                req.image, image.digest
            ),
        );
    }
    Check::new(
        CheckName::Image,
        CheckStatus::Pass,
        format!("{} resolves to {}", req.image, image.digest),
    )
}

pub(super) fn check_digest(req: &VerifyRequest, image: &ResolvedImage, expected: &Digest) -> Check {
    if &image.digest == expected {
        Check::new(
            CheckName::ExpectedDigest,
            CheckStatus::Pass,
            format!("digest is {expected}, as expected"),
        )
    } else {
        Check::new(
            CheckName::ExpectedDigest,
            CheckStatus::Fail,
            format!(
                "{} resolves to {}, but --expect-digest is {expected}",
                req.image, image.digest
            ),
        )
    }
}

pub(super) fn check_age(image: &ResolvedImage, max_age: Duration, now: DateTime<Utc>) -> Check {
    let Some(pushed_at) = image.pushed_at else {
        return Check::new(
            CheckName::MaxAge,
            CheckStatus::Fail,
            "ECR reported no push time, so the age cannot be checked",
        );
    };
    let age = age(pushed_at, now);
    let (status, relation) = if age > max_age {
        (CheckStatus::Fail, "older than")
    } else {
        (CheckStatus::Pass, "within")
    };
    Check::new(
        CheckName::MaxAge,
        status,
        format!(
            "pushed {} ago ({}), {relation} --max-age {}",
            human_duration(age),
            pushed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            human_duration(max_age)
        ),
    )
}

pub(super) fn check_platform(image: &ResolvedImage, wanted: &Platform) -> Check {
    let listed = platform_list(&image.platforms);
    let (status, reason) = match &image.platform_source {
        PlatformSource::Unknown { reason } => (
            CheckStatus::Fail,
            format!("cannot confirm {wanted}: {reason}"),
        ),
        _ if image.platforms.iter().any(|p| p.satisfies(wanted)) => {
            (CheckStatus::Pass, format!("{wanted} is in [{listed}]"))
        }
        PlatformSource::Index if image.platforms.is_empty() => (
            CheckStatus::Fail,
            format!("the image index names no runnable platform, so not {wanted}"),
        ),
        PlatformSource::Index => (
            CheckStatus::Fail,
            format!("the image index has [{listed}] but not {wanted}"),
        ),
        PlatformSource::ConfigBlob => (
            CheckStatus::Fail,
            format!("single-arch image for {listed}, not {wanted}"),
        ),
    };
    Check::new(CheckName::Platform, status, reason)
}

/// The scan check: findings against the gate, or what stood in the way of findings. Without
/// findings it warns under `--scan-gate none` and fails under any other gate.
pub fn check_scan(scan: &ScanReport, gate: ScanGate) -> Check {
    let missing = if gate.requires_scan() {
        CheckStatus::Fail
    } else {
        CheckStatus::Warn
    };
    let gate_note = if gate.requires_scan() {
        format!(" and --scan-gate {gate} needs findings")
    } else {
        String::new()
    };
    let (status, reason) = match scan {
        ScanReport::Findings { status, counts, .. } => {
            let summary = counts_summary(counts);
            let over = scan.over_gate(gate);
            if gate == ScanGate::None {
                (
                    CheckStatus::Pass,
                    format!("scan {status}: {summary} (no gate)"),
                )
            } else if over.is_empty() {
                (
                    CheckStatus::Pass,
                    format!("scan {status}: {summary}; nothing at or above {gate}"),
                )
            } else {
                let over: Vec<String> = over
                    .iter()
                    .map(|(s, n)| format!("{n} {}", s.as_str()))
                    .collect();
                (
                    CheckStatus::Fail,
                    format!(
                        "scan {status}: {} at or above --scan-gate {gate} ({summary})",
                        over.join(", ")
                    ),
                )
            }
        }
        ScanReport::NotScanned => (
            missing,
            format!("the image has no scan (enable scan-on-push or enhanced scanning){gate_note}"),
        ),
        ScanReport::StillRunning { status, waited } => (
            missing,
            format!(
                "scan still {status} after waiting {} (--scan-wait){gate_note}",
                human_duration(*waited)
            ),
        ),
        ScanReport::NoFindings {
            status,
            description,
        } => {
            let what = match status.as_str() {
                "UNSUPPORTED_IMAGE" => "ECR cannot scan this image (UNSUPPORTED_IMAGE)".to_string(),
                "FAILED" => "the scan FAILED".to_string(),
                other => format!("the scan has no findings ({other})"),
            };
            let why = if description.is_empty() {
                String::new()
            } else {
                format!(": {description}")
            };
            (missing, format!("{what}{why}{gate_note}"))
        }
    };
    Check::new(CheckName::Scan, status, reason)
}

/// "2 CRITICAL, 0 HIGH, ..." in severity order, then any other counts ECR gave.
pub fn counts_summary(counts: &std::collections::BTreeMap<String, i64>) -> String {
    const ORDER: [&str; 7] = [
        "CRITICAL",
        "HIGH",
        "MEDIUM",
        "LOW",
        "INFORMATIONAL",
        "UNDEFINED",
        "UNTRIAGED",
    ];
    let mut parts: Vec<String> = ORDER
        .iter()
        .filter(|s| ["CRITICAL", "HIGH", "MEDIUM", "LOW"].contains(s) || counts.contains_key(**s))
        .map(|s| format!("{} {s}", counts.get(*s).copied().unwrap_or(0)))
        .collect();
    parts.extend(
        counts
            .iter()
            .filter(|(k, _)| !ORDER.contains(&k.as_str()))
            .map(|(k, v)| format!("{v} {k}")),
    );
    parts.join(", ")
}

pub(super) fn age(pushed_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - pushed_at).to_std().unwrap_or(Duration::ZERO)
}

/// Whole seconds, in humantime's spelling (`3h 2m 5s`).
pub fn human_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// `linux/amd64, linux/arm64`.
pub(super) fn platform_list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One word for the scan event: the status ECR gave, or `not scanned`.
pub(super) fn scan_state(scan: &ScanReport) -> String {
    match scan {
        ScanReport::Findings { status, .. }
        | ScanReport::StillRunning { status, .. }
        | ScanReport::NoFindings { status, .. } => status.clone(),
        ScanReport::NotScanned => "not scanned".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_without_findings_warns_without_gate_and_fails_with_one() {
        for scan in [
            ScanReport::NotScanned,
            ScanReport::NoFindings {
                status: "UNSUPPORTED_IMAGE".into(),
                description: "os not supported".into(),
            },
            ScanReport::StillRunning {
                status: "IN_PROGRESS".into(),
                waited: Duration::from_secs(3),
            },
        ] {
            assert_eq!(check_scan(&scan, ScanGate::None).status, CheckStatus::Warn);
            let gated = check_scan(&scan, ScanGate::Critical);
            assert_eq!(gated.status, CheckStatus::Fail);
            assert!(
                gated.reason.contains("--scan-gate critical"),
                "{}",
                gated.reason
            );
        }
    }

    #[test]
    fn counts_are_summarized_in_severity_order() {
        let counts = [("HIGH", 2), ("UNTRIAGED", 1), ("CRITICAL", 1)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(
            counts_summary(&counts),
            "1 CRITICAL, 2 HIGH, 0 MEDIUM, 0 LOW, 1 UNTRIAGED"
        );
    }
}
