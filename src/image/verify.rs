//! The verification itself: find the image, read what it is, wait for its scan, judge it.
//!
//! Reads like the runbook: [`verify`] resolves the repository, resolves the image, reads its
//! platforms and its scan, then runs each check. A check that fails is part of the verdict;
//! only a failure to reach a verdict (credentials, permissions, network) is an error.

use super::client::EcrClient;
use super::error::VerifyError;
use super::manifest::{self, IndexChild, Manifest};
use super::reference::{
    parse_repository_uri, validate_repository_name, validate_tag, Digest, ImageSelector, Platform,
};
use super::scan::{classify_status, PollSchedule, ScanGate, ScanReport, StatusClass};
use crate::exit::ExitCode;
use crate::report::event::{EventLog, Scope, StepStatus, StepTimer};
use aws_sdk_ecr::types::{ImageDetail, Repository};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, Instant};

/// How many names a "repository not found" error suggests, and tags a "tag missing" check.
const SUGGESTIONS: usize = 5;

/// What to verify. Build it from flags with [`super::VerifyImageArgs::to_request`], or directly.
#[derive(Debug, Clone)]
pub struct VerifyRequest {
    /// Repository name, or its full URI `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`.
    pub repository: String,
    pub image: ImageSelector,
    pub registry_id: Option<String>,
    pub expect_digest: Option<Digest>,
    pub max_age: Option<Duration>,
    pub platform: Option<Platform>,
    pub scan_gate: ScanGate,
    /// How long a scan that is `IN_PROGRESS` or `PENDING` is waited for.
    pub scan_wait: Duration,
    pub scan_poll: PollSchedule,
}

impl VerifyRequest {
    /// A request with no optional checks: the image must exist, the scan is reported.
    pub fn new(repository: impl Into<String>, image: ImageSelector) -> Self {
        VerifyRequest {
            repository: repository.into(),
            image,
            registry_id: None,
            expect_digest: None,
            max_age: None,
            platform: None,
            scan_gate: ScanGate::None,
            scan_wait: Duration::ZERO,
            scan_poll: PollSchedule::default(),
        }
    }
}

/// The outcome of verification: what the image is, and each check with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageVerdict {
    pub repository: String,
    pub requested: ImageSelector,
    pub region: String,
    /// `None` when the tag or digest was not found (the `image` check says so).
    pub image: Option<ResolvedImage>,
    pub checks: Vec<Check>,
}

/// The facts about the image found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME@sha256:...`: what every host deploys.
    pub reference: String,
    pub repository_uri: String,
    pub registry_id: String,
    pub digest: Digest,
    pub tags: Vec<String>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub age_seconds: Option<u64>,
    /// As ECR reports it; for an index, the largest of its images.
    pub size_bytes: Option<i64>,
    pub manifest_media_type: Option<String>,
    /// ACTIVE, ARCHIVED or ACTIVATING; an archived image cannot be pulled.
    pub image_status: Option<String>,
    pub platforms: Vec<Platform>,
    pub platform_source: PlatformSource,
    /// MUTABLE, IMMUTABLE, or an `_WITH_EXCLUSION` variant.
    pub tag_mutability: String,
    /// The scan the gate judges: for an index, the combination of [`Self::child_scans`].
    pub scan: ScanReport,
    /// For an index, the scan of each image it judged; empty for a single-arch image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child_scans: Vec<ChildScan>,
}

/// The scan of one image of an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildScan {
    pub platform: Platform,
    pub digest: Digest,
    pub report: ScanReport,
}

/// Where the platform list came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum PlatformSource {
    /// The `platform` of each entry of an OCI index or Docker manifest list.
    Index,
    /// `os`/`architecture` of the config blob of a single-arch manifest.
    ConfigBlob,
    /// The config blob could not be read; the list is empty.
    Unknown { reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckName {
    /// The tag or digest exists in the repository (and is not archived).
    Image,
    ExpectedDigest,
    MaxAge,
    Platform,
    Scan,
}

impl fmt::Display for CheckName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckName::Image => "image",
            CheckName::ExpectedDigest => "expected-digest",
            CheckName::MaxAge => "max-age",
            CheckName::Platform => "platform",
            CheckName::Scan => "scan",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: CheckName,
    pub status: CheckStatus,
    pub reason: String,
}

impl Check {
    fn new(name: CheckName, status: CheckStatus, reason: impl Into<String>) -> Self {
        Check {
            name,
            status,
            reason: reason.into(),
        }
    }
}

impl ImageVerdict {
    /// No check failed (warnings pass).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Fail)
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.passed() {
            ExitCode::Ok
        } else {
            ExitCode::Failed
        }
    }

    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME@sha256:...`, the immutable reference every
    /// host deploys; `None` when the image was not found. Deploy only when [`Self::passed`].
    pub fn deploy_reference(&self) -> Option<&str> {
        self.image.as_ref().map(|i| i.reference.as_str())
    }

    /// The platforms the image runs on; empty when not found or unknown.
    pub fn platforms(&self) -> &[Platform] {
        self.image.as_ref().map_or(&[], |i| i.platforms.as_slice())
    }

    /// Whether the image runs on `platform`: `None` when the platforms are not known
    /// (single-arch image whose config blob could not be read).
    pub fn supports(&self, platform: &Platform) -> Option<bool> {
        let image = self.image.as_ref()?;
        if let PlatformSource::Unknown { .. } = image.platform_source {
            return None;
        }
        Some(image.platforms.iter().any(|p| p.satisfies(platform)))
    }

    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

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

/// The request with a bare repository name and the registry to ask, after checking what the
/// user gave: a pasted URI's region must be the one in use and its account must agree with
/// `--registry-id` (the URI's account is used when `--registry-id` is not given).
fn normalize(req: &VerifyRequest, region: &str) -> Result<VerifyRequest, VerifyError> {
    if let ImageSelector::Tag(tag) = &req.image {
        validate_tag(tag).map_err(VerifyError::Input)?;
    }
    let Some(uri) = parse_repository_uri(&req.repository) else {
        validate_repository_name(&req.repository).map_err(VerifyError::Input)?;
        return Ok(req.clone());
    };
    if uri.region != region {
        return Err(VerifyError::RegionMismatch {
            uri_region: uri.region,
            region: region.to_string(),
        });
    }
    if let Some(id) = req
        .registry_id
        .as_deref()
        .filter(|id| *id != uri.registry_id)
    {
        return Err(VerifyError::Input(format!(
            "--repository names registry {} but --registry-id is {id}: give one or make them agree",
            uri.registry_id
        )));
    }
    validate_repository_name(&uri.name).map_err(VerifyError::Input)?;
    Ok(VerifyRequest {
        repository: uri.name,
        registry_id: Some(uri.registry_id),
        ..req.clone()
    })
}

/// The repository, or a not-found error that lists the near names these credentials see.
async fn resolve_repository(
    client: &EcrClient,
    name: &str,
    registry: Option<&str>,
) -> Result<Repository, VerifyError> {
    if let Some(repo) = client.describe_repository(name, registry).await? {
        return Ok(repo);
    }
    let (near, listing_error) = match client.repository_names(registry).await {
        Ok(names) => (near_names(name, &names), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Err(VerifyError::RepositoryNotFound {
        name: name.to_string(),
        registry: registry.map_or_else(
            || "the registry of these credentials".to_string(),
            |id| format!("registry {id}"),
        ),
        region: client.region().to_string(),
        near,
        listing_error,
    })
}

/// Names that look like `wanted`: a typo (edit similarity), or one containing the other
/// (`app` for `team/app`). Best first.
pub fn near_names(wanted: &str, names: &[String]) -> Vec<String> {
    let last = |n: &str| n.rsplit('/').next().unwrap_or(n).to_string();
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .filter(|n| n.as_str() != wanted)
        .map(|n| {
            let edit = strsim::normalized_levenshtein(wanted, n);
            let contains = n.contains(wanted) || wanted.contains(n.as_str());
            let same_leaf = last(n) == last(wanted);
            let score = if same_leaf || contains {
                edit.max(0.9)
            } else {
                edit
            };
            (score, n)
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, n)| n.clone())
        .collect()
}

/// "; recent tags: ..." for a missing tag. A failure to list is said, not hidden.
async fn missing_image_hint(
    client: &EcrClient,
    name: &str,
    registry: Option<&str>,
    selector: &ImageSelector,
) -> String {
    if !matches!(selector, ImageSelector::Tag(_)) {
        return String::new();
    }
    match client.recent_tags(name, registry, SUGGESTIONS).await {
        Ok(tags) if tags.is_empty() => "; the repository has no tagged images".to_string(),
        Ok(tags) => format!("; most recently pushed tags: {}", tags.join(", ")),
        Err(e) => format!("; could not list its tags: {e}"),
    }
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

/// `linux/amd64, linux/arm64`.
fn platform_list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One word for the scan event: the status ECR gave, or `not scanned`.
fn scan_state(scan: &ScanReport) -> String {
    match scan {
        ScanReport::Findings { status, .. }
        | ScanReport::StillRunning { status, .. }
        | ScanReport::NoFindings { status, .. } => status.clone(),
        ScanReport::NotScanned => "not scanned".to_string(),
    }
}

/// What the manifest says about the image: its platforms, and for an index its images.
struct Layout {
    platforms: Vec<Platform>,
    source: PlatformSource,
    children: Vec<IndexChild>,
}

/// Platforms from the index, or from the config blob of a single-arch manifest. A config
/// blob that cannot be read leaves the platforms unknown with the reason, rather than
/// failing the whole verification: the platform check (if asked for) fails with it.
async fn read_layout(
    client: &EcrClient,
    name: &str,
    registry: Option<&str>,
    digest: &Digest,
) -> Result<Layout, VerifyError> {
    let (body, media_type) = client.manifest(name, registry, digest).await?;
    let parsed = manifest::parse(&body, media_type.as_deref()).map_err(|message| {
        VerifyError::Malformed {
            action: "ecr:BatchGetImage",
            message,
        }
    })?;
    match parsed {
        Manifest::Index { children } => Ok(Layout {
            platforms: Manifest::index_platforms(&children),
            source: PlatformSource::Index,
            children,
        }),
        Manifest::Single { config, .. } => {
            let platform = match client.blob(name, registry, &config).await {
                Ok(blob) => manifest::config_platform(&blob, &config),
                Err(e) => Err(e.to_string()),
            };
            let (platforms, source) = match platform {
                Ok(p) => (vec![p], PlatformSource::ConfigBlob),
                Err(reason) => (
                    Vec::new(),
                    PlatformSource::Unknown {
                        reason: format!("cannot read config blob {config}: {reason}"),
                    },
                ),
            };
            Ok(Layout {
                platforms,
                source,
                children: Vec::new(),
            })
        }
    }
}

/// Which images' scans to read. ECR scans the images of an index, never the index itself, so
/// for an index these are its images: those for `--platform` when it names one of them
/// (those are what the instances will run), otherwise all of them.
fn scan_targets(
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
async fn scan_all(
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
fn combine_scans<'a>(reports: impl Iterator<Item = &'a ScanReport> + Clone) -> ScanReport {
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
async fn wait_for_scan(
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
fn check_image_scan(image: &ResolvedImage, gate: ScanGate) -> Check {
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

fn check_found(req: &VerifyRequest, image: &ResolvedImage) -> Check {
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

fn check_digest(req: &VerifyRequest, image: &ResolvedImage, expected: &Digest) -> Check {
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

fn check_age(image: &ResolvedImage, max_age: Duration, now: DateTime<Utc>) -> Check {
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

fn check_platform(image: &ResolvedImage, wanted: &Platform) -> Check {
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

fn age(pushed_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - pushed_at).to_std().unwrap_or(Duration::ZERO)
}

/// Whole seconds, in humantime's spelling (`3h 2m 5s`).
pub fn human_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_rank_typos_and_shared_leaves() {
        let names: Vec<String> = [
            "team/web",
            "team/api",
            "billing",
            "web-old",
            "unrelated-thing",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let near = near_names("web", &names);
        assert_eq!(near.first().map(String::as_str), Some("team/web"));
        assert!(near.contains(&"web-old".to_string()));
        assert!(!near.contains(&"billing".to_string()));
        assert_eq!(near_names("biling", &names), vec!["billing".to_string()]);
        assert!(near_names("zzz", &names).is_empty());
    }

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
