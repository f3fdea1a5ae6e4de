//! Renderers of one [`ImageVerdict`]: human text, JSON, and action outputs. They compute
//! nothing of their own; every figure comes from the verdict.

use super::checks::{counts_summary, human_duration};
use super::scan::ScanReport;
use super::verdict::{CheckStatus, ImageVerdict, PlatformSource, ResolvedImage};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// The JSON document: the verdict plus the two fields a script reads first.
#[derive(Serialize)]
struct JsonVerdict<'a> {
    passed: bool,
    deploy_reference: Option<&'a str>,
    #[serde(flatten)]
    verdict: &'a ImageVerdict,
}

pub fn json(verdict: &ImageVerdict) -> Result<String, serde_json::Error> {
    crate::output::json_document(&JsonVerdict {
        passed: verdict.passed(),
        deploy_reference: verdict.deploy_reference(),
        verdict,
    })
}

pub fn human(verdict: &ImageVerdict) -> String {
    let mut out = String::new();
    if let Some(image) = &verdict.image {
        facts(&mut out, image);
        out.push('\n');
    }
    let width = verdict
        .checks
        .iter()
        .map(|c| c.name.to_string().len())
        .max()
        .unwrap_or(0);
    for check in &verdict.checks {
        let _ = writeln!(
            out,
            "{:<4}  {:<width$}  {}",
            status_word(check.status),
            check.name.to_string(),
            check.reason
        );
    }
    let count = |s| verdict.checks.iter().filter(|c| c.status == s).count();
    let _ = writeln!(
        out,
        "\n{}: {} passed, {} warning(s), {} failed",
        if verdict.passed() {
            "verified"
        } else {
            "NOT verified"
        },
        count(CheckStatus::Pass),
        count(CheckStatus::Warn),
        count(CheckStatus::Fail),
    );
    out
}

fn facts(out: &mut String, image: &ResolvedImage) {
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<15} {value}");
    };
    line("reference", image.reference.clone());
    line(
        "tags",
        if image.tags.is_empty() {
            "(untagged)".to_string()
        } else {
            image.tags.join(", ")
        },
    );
    line(
        "pushed",
        match (image.pushed_at, image.age_seconds) {
            (Some(at), Some(age)) => format!(
                "{} ({} ago)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human_duration(Duration::from_secs(age))
            ),
            _ => "(not reported by ECR)".to_string(),
        },
    );
    line(
        "size",
        image
            .size_bytes
            .map_or("(not reported by ECR)".to_string(), |b| {
                format!("{:.1} MiB ({b} bytes)", b as f64 / (1024.0 * 1024.0))
            }),
    );
    line("platforms", platforms(image));
    line("tag mutability", image.tag_mutability.clone());
    line("scan", scan(&image.scan));
}

fn platforms(image: &ResolvedImage) -> String {
    let list = image
        .platforms
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match &image.platform_source {
        PlatformSource::Index => format!("{list} (image index)"),
        PlatformSource::ConfigBlob => format!("{list} (single-arch, from its config)"),
        PlatformSource::Unknown { reason } => format!("unknown: {reason}"),
    }
}

fn scan(report: &ScanReport) -> String {
    match report {
        ScanReport::Findings { status, counts, .. } => {
            format!("{status}: {}", counts_summary(counts))
        }
        ScanReport::NotScanned => "not scanned".to_string(),
        ScanReport::StillRunning { status, waited } => {
            format!("{status} after {}", human_duration(*waited))
        }
        ScanReport::NoFindings { status, .. } => status.clone(),
    }
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Pass => "PASS",
        CheckStatus::Warn => "WARN",
        CheckStatus::Fail => "FAIL",
    }
}

/// A job-summary section: the reference, the facts, and a table of the checks.
pub fn markdown(verdict: &ImageVerdict) -> String {
    let mut out = String::from("### Image verification\n\n");
    match &verdict.image {
        Some(image) => {
            let _ = writeln!(out, "`{}`\n", image.reference);
            let _ = writeln!(
                out,
                "platforms: {} · tag mutability: {} · scan: {}\n",
                platforms(image),
                image.tag_mutability,
                scan(&image.scan)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{} not found in `{}`\n",
                verdict.requested, verdict.repository
            );
        }
    }
    let rows = verdict.checks.iter().map(|check| {
        vec![
            check.name.to_string(),
            status_word(check.status).to_string(),
            check.reason.clone(),
        ]
    });
    out.push_str(&crate::report::markdown::table(
        &["check", "result", "reason"],
        rows,
        usize::MAX,
    ));
    out
}

/// The action outputs of the verify stage (`image-reference` is what the deploy stage uses).
pub fn action_outputs(verdict: &ImageVerdict) -> Vec<(&'static str, String)> {
    let image = verdict.image.as_ref();
    vec![
        ("image-verified", verdict.passed().to_string()),
        (
            "image-reference",
            verdict.deploy_reference().unwrap_or_default().to_string(),
        ),
        (
            "image-digest",
            image.map(|i| i.digest.to_string()).unwrap_or_default(),
        ),
        (
            "image-platforms",
            verdict
                .platforms()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::verdict::{Check, CheckName};
    use crate::image::{Digest, ImageSelector};

    fn verdict(scan_status: CheckStatus) -> ImageVerdict {
        let digest = Digest::of_bytes(b"manifest");
        let uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web".to_string();
        ImageVerdict {
            repository: "team/web".into(),
            requested: ImageSelector::Tag("v1".into()),
            region: "eu-west-1".into(),
            image: Some(ResolvedImage {
                reference: format!("{uri}@{digest}"),
                repository_uri: uri,
                registry_id: "123456789012".into(),
                digest,
                tags: vec!["v1".into()],
                pushed_at: None,
                age_seconds: None,
                size_bytes: Some(3 * 1024 * 1024),
                manifest_media_type: None,
                image_status: None,
                platforms: vec![
                    "linux/amd64".parse().unwrap(),
                    "linux/arm64".parse().unwrap(),
                ],
                platform_source: PlatformSource::Index,
                tag_mutability: "IMMUTABLE".into(),
                scan: ScanReport::NotScanned,
                child_scans: Vec::new(),
            }),
            checks: vec![
                Check {
                    name: CheckName::Image,
                    status: CheckStatus::Pass,
                    reason: "found".into(),
                },
                Check {
                    name: CheckName::ExpectedDigest,
                    status: scan_status,
                    reason: "compared".into(),
                },
            ],
        }
    }

    #[test]
    fn human_output_aligns_checks_and_sums_them_up() {
        let text = human(&verdict(CheckStatus::Fail));
        assert!(
            text.contains("size            3.0 MiB (3145728 bytes)"),
            "{text}"
        );
        assert!(
            text.contains("platforms       linux/amd64, linux/arm64 (image index)"),
            "{text}"
        );
        assert!(text.contains("PASS  image            found\n"), "{text}");
        assert!(text.contains("FAIL  expected-digest  compared\n"), "{text}");
        assert!(
            text.ends_with("NOT verified: 1 passed, 0 warning(s), 1 failed\n"),
            "{text}"
        );
        let warned = human(&verdict(CheckStatus::Warn));
        assert!(
            warned.ends_with("\nverified: 1 passed, 1 warning(s), 0 failed\n"),
            "{warned}"
        );
    }

    #[test]
    fn markdown_has_the_reference_and_a_row_per_check() {
        let mut v = verdict(CheckStatus::Fail);
        v.checks[1].reason = "a | b".into();
        let md = markdown(&v);
        assert!(
            md.contains(&format!("`{}`", v.deploy_reference().unwrap())),
            "{md}"
        );
        assert!(md.contains("| image | PASS | found |"), "{md}");
        assert!(md.contains("| expected-digest | FAIL | a \\| b |"), "{md}");
    }

    #[test]
    fn json_leads_with_the_answer_and_outputs_carry_the_reference() {
        let v = verdict(CheckStatus::Pass);
        let json: serde_json::Value = serde_json::from_str(&json(&v).unwrap()).unwrap();
        assert_eq!(json["passed"], true);
        assert_eq!(json["deploy_reference"], v.deploy_reference().unwrap());
        assert_eq!(json["image"]["platform_source"]["from"], "index");
        let outputs = action_outputs(&v);
        assert!(outputs.contains(&("image-verified", "true".to_string())));
        assert!(outputs.contains(&("image-platforms", "linux/amd64,linux/arm64".to_string())));
        let failed = action_outputs(&verdict(CheckStatus::Fail));
        assert!(failed.contains(&("image-verified", "false".to_string())));
    }
}
