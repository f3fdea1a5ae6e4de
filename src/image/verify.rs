//! The verification itself: find the image, read what it is, wait for its scan, judge it.
//!
//! Reads like the runbook: [`verify`] resolves the repository, resolves the image, reads its
//! platforms and its scan, then runs each check. A check that fails is part of the verdict;
//! only a failure to reach a verdict (credentials, permissions, network) is an error.

use super::checks::{age, platform_list, run_checks, scan_state};
use super::client::EcrClient;
use super::error::VerifyError;
use super::layout::read_layout;
use super::reference::Digest;
use super::resolve::{missing_image_hint, normalize, resolve_repository};
use super::scan_wait::{scan_all, scan_targets};
use super::verdict::{
    Check, CheckName, CheckStatus, ImageVerdict, PlatformSource, ResolvedImage, VerifyRequest,
};
use crate::report::event::{EventLog, Scope, StepStatus, StepTimer};
use aws_sdk_ecr::types::{ImageDetail, Repository};
use chrono::{DateTime, Utc};

/// Verifies one image. See the module doc for the steps.
pub async fn verify(client: &EcrClient, req: &VerifyRequest) -> Result<ImageVerdict, VerifyError> {
    verify_logged(client, req, &EventLog::new()).await
}

/// [`verify`], recording timed events in `log`: `verify-image.resolve`,
/// `verify-image.platforms`, `verify-image.scan` (how long the scan was waited for), and one
/// `verify-image.check.<name>` per check, so the report shows where the time went.
pub async fn verify_logged(
    client: &EcrClient,
    req: &VerifyRequest,
    log: &EventLog,
) -> Result<ImageVerdict, VerifyError> {
    let req = &normalize(req, client.region())?;
    let step = log.start(&Scope::Pipeline, "verify-image.resolve");
    let resolved = resolve_image(client, req).await;
    let (repository, detail) = finish_step(step, resolved, |(_, detail)| match detail {
        Some(d) => (
            StepStatus::Ok,
            format!(
                "{} is {}",
                req.image,
                d.image_digest().unwrap_or("(no digest)")
            ),
        ),
        None => (StepStatus::Failed, format!("{} not found", req.image)),
    })?;
    let mut verdict = ImageVerdict {
        repository: req.repository.clone(),
        requested: req.image.clone(),
        region: client.region().to_string(),
        image: None,
        checks: Vec::new(),
    };
    match detail {
        None => verdict.checks.push(image_missing(client, req).await),
        Some(detail) => {
            let image = describe(client, req, &repository, &detail, log).await?;
            verdict.checks = run_checks(req, &image, Utc::now());
            verdict.image = Some(image);
        }
    }
    record_checks(log, &verdict.checks);
    Ok(verdict)
}

/// Ends a timed step as `result` says: `judge` names the status and detail of a value, an
/// error fails the step with its message. Returns `result` unchanged.
fn finish_step<T>(
    step: StepTimer,
    result: Result<T, VerifyError>,
    judge: impl FnOnce(&T) -> (StepStatus, String),
) -> Result<T, VerifyError> {
    match &result {
        Ok(value) => {
            let (status, detail) = judge(value);
            step.finish(status, detail);
        }
        Err(e) => {
            step.fail(e.to_string());
        }
    }
    result
}

fn record_checks(log: &EventLog, checks: &[Check]) {
    for check in checks {
        let status = match check.status {
            CheckStatus::Pass => StepStatus::Ok,
            CheckStatus::Warn => StepStatus::Warning,
            CheckStatus::Fail => StepStatus::Failed,
        };
        let step = format!("verify-image.check.{}", check.name);
        log.note(&Scope::Pipeline, &step, status, check.reason.clone());
    }
}

/// The failed `image` check for a tag or digest the repository does not hold.
async fn image_missing(client: &EcrClient, req: &VerifyRequest) -> Check {
    let name = &req.repository;
    let hint = missing_image_hint(client, name, req.registry_id.as_deref(), &req.image).await;
    Check::new(
        CheckName::Image,
        CheckStatus::Fail,
        format!("{} not found in repository {name}{hint}", req.image),
    )
}

/// The repository, and the image in it (`None` when the tag or digest is not there).
async fn resolve_image(
    client: &EcrClient,
    req: &VerifyRequest,
) -> Result<(Repository, Option<ImageDetail>), VerifyError> {
    let (name, registry) = (&req.repository, req.registry_id.as_deref());
    let repository = resolve_repository(client, name, registry).await?;
    let detail = client.describe_image(name, registry, &req.image).await?;
    Ok((repository, detail))
}

/// Everything about the found image: reference, platforms and scan.
async fn describe(
    client: &EcrClient,
    req: &VerifyRequest,
    repository: &Repository,
    detail: &ImageDetail,
    log: &EventLog,
) -> Result<ResolvedImage, VerifyError> {
    let (name, registry) = (req.repository.as_str(), req.registry_id.as_deref());
    let digest: Digest = detail
        .image_digest()
        .ok_or("no imageDigest")
        .and_then(|d| {
            d.parse::<Digest>()
                .map_err(|_| "an imageDigest that is not sha256")
        })
        .map_err(|why| VerifyError::Malformed {
            action: "ecr:DescribeImages",
            message: why.to_string(),
        })?;
    let repository_uri = repository
        .repository_uri()
        .ok_or_else(|| VerifyError::Malformed {
            action: "ecr:DescribeRepositories",
            message: format!("no repositoryUri for {name}"),
        })?
        .to_string();
    // The account is the first label of the URI when ECR leaves registryId out.
    let registry_id = repository
        .registry_id()
        .or(detail.registry_id())
        .or_else(|| repository_uri.split('.').next())
        .unwrap_or_default()
        .to_string();
    let step = log.start(&Scope::Pipeline, "verify-image.platforms");
    let layout = read_layout(client, name, registry, &digest).await;
    let layout = finish_step(step, layout, |l| match &l.source {
        PlatformSource::Unknown { reason } => (StepStatus::Warning, reason.clone()),
        _ => (StepStatus::Ok, platform_list(&l.platforms)),
    })?;
    let step = log.start(&Scope::Pipeline, "verify-image.scan");
    let targets = scan_targets(&digest, &layout.children, req.platform.as_ref());
    let scans = scan_all(client, req, name, &targets).await;
    let (scan, child_scans) =
        finish_step(step, scans, |(scan, _)| (StepStatus::Ok, scan_state(scan)))?;
    let pushed_at = detail
        .image_pushed_at()
        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
    Ok(ResolvedImage {
        reference: format!("{repository_uri}@{digest}"),
        registry_id,
        repository_uri,
        tags: detail.image_tags().to_vec(),
        age_seconds: pushed_at.map(|p| age(p, Utc::now()).as_secs()),
        pushed_at,
        size_bytes: detail.image_size_in_bytes(),
        manifest_media_type: detail.image_manifest_media_type().map(str::to_string),
        image_status: detail.image_status().map(|s| s.as_str().to_string()),
        platforms: layout.platforms,
        platform_source: layout.source,
        tag_mutability: repository
            .image_tag_mutability()
            .map_or("UNKNOWN", |m| m.as_str())
            .to_string(),
        scan,
        child_scans,
        digest,
    })
}
