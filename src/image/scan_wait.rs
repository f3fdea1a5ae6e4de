//! The image scan: which images to read the scan of, waiting for a scan still in progress
//! (within `--scan-wait`), and one report for an index of several images.

use super::client::EcrClient;
use super::error::VerifyError;
use super::manifest::IndexChild;
use super::reference::{Digest, Platform};
use super::scan::{classify_status, ScanReport, StatusClass};
use super::verdict::{ChildScan, VerifyRequest};
use std::time::Instant;

/// Which images' scans to read. ECR scans the images of an index, never the index itself, so
/// for an index these are its images: those for `--platform` when it names one of them
/// (those are what the instances will run), otherwise all of them.
pub(super) fn scan_targets(
    digest: &Digest,
    children: &[IndexChild],
    wanted: Option<&Platform>,
) -> Vec<(Option<Platform>, Digest)> {
    if children.is_empty() {
        return vec![(None, digest.clone())];
    }
    let matching: Vec<&IndexChild> = children
        .iter()
        .filter(|c| wanted.is_some_and(|w| c.platform.satisfies(w)))
        .collect();
    let chosen = if matching.is_empty() {
        children.iter().collect()
    } else {
        matching
    };
    chosen
        .into_iter()
        .map(|c| (Some(c.platform.clone()), c.digest.clone()))
        .collect()
}

/// The scan of each target under one `--scan-wait` deadline, and their combination (see
/// [`combine_scans`]). Per-image results are kept for an index only.
pub(super) async fn scan_all(
    client: &EcrClient,
    req: &VerifyRequest,
    name: &str,
    targets: &[(Option<Platform>, Digest)],
) -> Result<(ScanReport, Vec<ChildScan>), VerifyError> {
    let started = Instant::now();
    let mut scans = Vec::with_capacity(targets.len());
    for (platform, digest) in targets {
        let report = wait_for_scan(client, req, name, digest, started).await?;
        scans.push((platform.clone(), digest.clone(), report));
    }
    let combined = combine_scans(scans.iter().map(|(_, _, r)| r));
    let children = scans
        .into_iter()
        .filter_map(|(platform, digest, report)| {
            platform.map(|platform| ChildScan {
                platform,
                digest,
                report,
            })
        })
        .collect();
    Ok((combined, children))
}

/// The summed counts when every image has findings; otherwise the first image without
/// findings, since a gate cannot pass an image it has no findings for.
pub(super) fn combine_scans<'a>(
    reports: impl Iterator<Item = &'a ScanReport> + Clone,
) -> ScanReport {
    if let Some(missing) = reports
        .clone()
        .find(|r| !matches!(r, ScanReport::Findings { .. }))
    {
        return missing.clone();
    }
    let mut statuses: Vec<&str> = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    let mut completed_at = None;
    for report in reports {
        if let ScanReport::Findings {
            status,
            counts: c,
            completed_at: at,
        } = report
        {
            if !statuses.contains(&status.as_str()) {
                statuses.push(status);
            }
            for (severity, n) in c {
                *counts.entry(severity.clone()).or_insert(0) += n;
            }
            completed_at = completed_at.max(*at);
        }
    }
    if statuses.is_empty() {
        return ScanReport::NotScanned;
    }
    ScanReport::Findings {
        status: statuses.join("/"),
        counts,
        completed_at,
    }
}

/// The scan report of one image, polling while the scan runs, until `req.scan_wait` after
/// `started` (shared by every image of an index).
pub(super) async fn wait_for_scan(
    client: &EcrClient,
    req: &VerifyRequest,
    name: &str,
    digest: &Digest,
    started: Instant,
) -> Result<ScanReport, VerifyError> {
    let deadline = started + req.scan_wait;
    let mut delay = req.scan_poll.first;
    loop {
        let Some(page) = client
            .scan_findings(name, req.registry_id.as_deref(), digest)
            .await?
        else {
            return Ok(ScanReport::NotScanned);
        };
        match classify_status(&page.status) {
            StatusClass::Done => {
                return Ok(ScanReport::Findings {
                    status: page.status,
                    counts: page.counts,
                    completed_at: page.completed_at,
                })
            }
            StatusClass::NoFindings => {
                return Ok(ScanReport::NoFindings {
                    status: page.status,
                    description: page.description,
                })
            }
            StatusClass::Running => {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(ScanReport::StillRunning {
                        status: page.status,
                        waited: now - started,
                    });
                }
                tokio::time::sleep(delay.min(deadline - now)).await;
                delay = req.scan_poll.next(delay);
            }
        }
    }
}
