//! What a verification is asked and what it answers: the request, the resolved image, the
//! checks and the verdict. Plain types; the steps that fill them are `verify.rs` and its
//! neighbours.

use super::reference::{Digest, ImageSelector, Platform};
use super::scan::{PollSchedule, ScanGate, ScanReport};
use crate::exit::ExitCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

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
    pub(super) fn new(name: CheckName, status: CheckStatus, reason: impl Into<String>) -> Self {
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
