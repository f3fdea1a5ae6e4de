//! The ECR calls verification makes, each returning facts or a [`VerifyError`] a user can act on.
//!
//! Every call goes through [`api_error`], so access denied, expired credentials, throttling
//! and an unreachable region read the same whichever call hit them, and name the IAM action.

use super::error::VerifyError;
use super::manifest::ACCEPTED_MEDIA_TYPES;
use super::reference::{Digest, ImageSelector};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{ImageDetail, ImageIdentifier, Repository, TagStatus};
use std::time::Duration;

/// Attempts per call under adaptive retry before a throttled call becomes an error. The SDK
/// default (3) gives up within a second or two, which a burst of CI jobs in one account can
/// outlast; 5 attempts with back-off capped at [`MAX_BACKOFF`] span about 6 to 12 s.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Longest pause between two attempts. The SDK default (20 s) would keep a run waiting
/// close to a minute on an endpoint that will never answer (a mistyped region).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long one config blob download may take. Config blobs are a few KiB.
const BLOB_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest config blob read; real ones are a few KiB, this bounds a hostile or broken answer.
const MAX_CONFIG_BLOB: usize = 4 * 1024 * 1024;

/// How to build the client from the environment.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--region`; `None` uses the default chain (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    pub max_attempts: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            region: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// An ECR client with the region it talks to and the retry budget it was given.
#[derive(Debug, Clone)]
pub struct EcrClient {
    ecr: aws_sdk_ecr::Client,
    http: reqwest::Client,
    region: String,
    max_attempts: u32,
}

impl EcrClient {
    /// The default credential chain (environment, web identity as set up by
    /// aws-actions/configure-aws-credentials with OIDC, profiles, SSO, instance role),
    /// `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_ECR` for another endpoint, and adaptive retry,
    /// which slows the client down when ECR throttles instead of failing at once.
    /// Every call goes into `events`' command log.
    pub async fn from_environment(
        options: &ClientOptions,
        events: &crate::report::EventLog,
    ) -> Result<Self, VerifyError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(adaptive_retry(options.max_attempts));
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let calls = crate::aws::CallLog::interceptor(events, &crate::report::Scope::Pipeline);
        Self::from_conf(
            aws_sdk_ecr::config::Builder::from(&shared)
                .interceptor(calls)
                .build(),
        )
    }

    /// A client from a ready SDK config (tests point it at a local endpoint).
    pub fn from_conf(conf: aws_sdk_ecr::Config) -> Result<Self, VerifyError> {
        let region = conf
            .region()
            .map(|r| r.to_string())
            .ok_or(VerifyError::NoRegion)?;
        let max_attempts = conf.retry_config().map_or(1, |r| r.max_attempts());
        let http = reqwest::Client::builder()
            .timeout(BLOB_TIMEOUT)
            .build()
            .map_err(|e| VerifyError::Unreachable {
                action: "GetDownloadUrlForLayer",
                region: region.clone(),
                message: format!("cannot build the HTTP client for blob downloads: {e}"),
            })?;
        Ok(EcrClient {
            ecr: aws_sdk_ecr::Client::from_conf(conf),
            http,
            region,
            max_attempts,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `DescribeRepositories` for one name: its URI, registry and tag mutability.
    /// `Ok(None)` when ECR says the repository does not exist.
    pub async fn describe_repository(
        &self,
        name: &str,
        registry_id: Option<&str>,
    ) -> Result<Option<Repository>, VerifyError> {
        let result = self
            .ecr
            .describe_repositories()
            .repository_names(name)
            .set_registry_id(registry_id.map(str::to_string))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.repositories().first().cloned()),
            Err(e) if e.code() == Some("RepositoryNotFoundException") => Ok(None),
            Err(e) => Err(self.api_error("ecr:DescribeRepositories", name, e)),
        }
    }

    /// Every repository name these credentials can see in the registry, for suggestions.
    pub async fn repository_names(
        &self,
        registry_id: Option<&str>,
    ) -> Result<Vec<String>, VerifyError> {
        let mut pages = self
            .ecr
            .describe_repositories()
            .set_registry_id(registry_id.map(str::to_string))
            .max_results(1000)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.api_error("ecr:DescribeRepositories", "*", e))?;
            names.extend(
                page.repositories()
                    .iter()
                    .filter_map(|r| r.repository_name().map(str::to_string)),
            );
        }
        Ok(names)
    }

    /// `DescribeImages` for one image. `Ok(None)` when the tag or digest is not there.
    pub async fn describe_image(
        &self,
        repository: &str,
        registry_id: Option<&str>,
        selector: &ImageSelector,
    ) -> Result<Option<ImageDetail>, VerifyError> {
        let result = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_string))
            .image_ids(image_id(selector))
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.image_details().first().cloned()),
            Err(e) if e.code() == Some("ImageNotFoundException") => Ok(None),
            Err(e) => Err(self.api_error("ecr:DescribeImages", repository, e)),
        }
    }

    /// Up to `limit` tags of the most recently pushed tagged images, to suggest when a tag
    /// is missing. Only the first page is read: this is a hint, not an inventory.
    pub async fn recent_tags(
        &self,
        repository: &str,
        registry_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, VerifyError> {
        let out = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_string))
            .filter(
                aws_sdk_ecr::types::DescribeImagesFilter::builder()
                    .tag_status(TagStatus::Tagged)
                    .build(),
            )
            .max_results(1000)
            .send()
            .await
            .map_err(|e| self.api_error("ecr:DescribeImages", repository, e))?;
        let mut images: Vec<&ImageDetail> = out.image_details().iter().collect();
        images.sort_by_key(|d| std::cmp::Reverse(d.image_pushed_at().map(|t| t.secs())));
        Ok(images
            .iter()
            .flat_map(|d| d.image_tags().iter().cloned())
            .take(limit)
            .collect())
    }

    /// `BatchGetImage` by digest: the manifest body and its media type. By digest ECR
    /// returns the stored format unchanged (it only converts when pulling by tag).
    pub async fn manifest(
        &self,
        repository: &str,
        registry_id: Option<&str>,
        digest: &Digest,
    ) -> Result<(String, Option<String>), VerifyError> {
        const ACTION: &str = "ecr:BatchGetImage";
        let out = self
            .ecr
            .batch_get_image()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_string))
            .image_ids(
                ImageIdentifier::builder()
                    .image_digest(digest.as_str())
                    .build(),
            )
            .set_accepted_media_types(Some(
                ACCEPTED_MEDIA_TYPES.iter().map(|m| m.to_string()).collect(),
            ))
            .send()
            .await
            .map_err(|e| self.api_error(ACTION, repository, e))?;
        if let Some(image) = out.images().first() {
            let body = image
                .image_manifest()
                .ok_or_else(|| VerifyError::Malformed {
                    action: ACTION,
                    message: format!("no manifest body for {digest}"),
                })?;
            return Ok((
                body.to_string(),
                image.image_manifest_media_type().map(str::to_string),
            ));
        }
        let why = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.failure_code().map_or("unknown", |c| c.as_str()),
                    f.failure_reason().unwrap_or("no reason given")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(VerifyError::Malformed {
            action: ACTION,
            message: format!("no manifest for {digest}: {why}"),
        })
    }

    /// Downloads a blob (the image config) through `GetDownloadUrlForLayer`, which hands out
    /// a short-lived pre-signed URL; the blob is then a plain HTTPS GET.
    pub async fn blob(
        &self,
        repository: &str,
        registry_id: Option<&str>,
        digest: &Digest,
    ) -> Result<Vec<u8>, VerifyError> {
        const ACTION: &str = "ecr:GetDownloadUrlForLayer";
        let out = self
            .ecr
            .get_download_url_for_layer()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_string))
            .layer_digest(digest.as_str())
            .send()
            .await
            .map_err(|e| self.api_error(ACTION, repository, e))?;
        let url = out.download_url().ok_or_else(|| VerifyError::Malformed {
            action: ACTION,
            message: format!("no download URL for {digest}"),
        })?;
        let unreachable = |message: String| VerifyError::Unreachable {
            action: ACTION,
            region: self.region.clone(),
            message,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unreachable(format!("downloading blob {digest}: {e}")))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(format!("reading blob {digest}: {e}")))?;
        if bytes.len() > MAX_CONFIG_BLOB {
            return Err(VerifyError::Malformed {
                action: ACTION,
                message: format!(
                    "blob {digest} is {} bytes, more than an image config can be",
                    bytes.len()
                ),
            });
        }
        Ok(bytes.to_vec())
    }

    /// One `DescribeImageScanFindings` call: `(status, description, findings)`, or `Ok(None)`
    /// when the image was never scanned. Only the first page is asked for, and one finding:
    /// the per-severity counts come with every page.
    pub async fn scan_findings(
        &self,
        repository: &str,
        registry_id: Option<&str>,
        digest: &Digest,
    ) -> Result<Option<ScanPage>, VerifyError> {
        let result = self
            .ecr
            .describe_image_scan_findings()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_string))
            .image_id(
                ImageIdentifier::builder()
                    .image_digest(digest.as_str())
                    .build(),
            )
            .max_results(1)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("ScanNotFoundException") => return Ok(None),
            // An index naming an image the repository does not hold: nothing to scan.
            Err(e) if e.code() == Some("ImageNotFoundException") => {
                return Ok(Some(ScanPage {
                    status: "IMAGE_NOT_FOUND".to_string(),
                    description: format!("{digest} is not in repository {repository}"),
                    counts: Default::default(),
                    completed_at: None,
                }))
            }
            Err(e) => return Err(self.api_error("ecr:DescribeImageScanFindings", repository, e)),
        };
        let status = out.image_scan_status();
        let findings = out.image_scan_findings();
        Ok(Some(ScanPage {
            status: status
                .and_then(|s| s.status())
                .map_or_else(|| "UNKNOWN".to_string(), |s| s.as_str().to_string()),
            description: status
                .and_then(|s| s.description())
                .unwrap_or_default()
                .to_string(),
            counts: findings
                .and_then(|f| f.finding_severity_counts())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().to_string(), i64::from(*v)))
                        .collect()
                })
                .unwrap_or_default(),
            completed_at: findings
                .and_then(|f| f.image_scan_completed_at())
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        }))
    }

    /// Turns an SDK failure into the error a user can act on.
    fn api_error<E>(&self, action: &'static str, resource: &str, err: SdkError<E>) -> VerifyError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_string();
        let message = match (err.message(), &err) {
            (Some(m), _) => m.to_string(),
            // A service error without an AWS error body (a proxy's HTML page, an endpoint
            // that is not ECR): the status says enough, the raw response would not help.
            (None, SdkError::ServiceError(e)) => format!(
                "HTTP {} without an AWS error code (is the endpoint really ECR?)",
                e.raw().status().as_u16()
            ),
            (None, _) => chain_text(&err),
        };
        if let Some(missing) = credentials_error(&err) {
            return VerifyError::NoCredentials {
                action,
                message: chain_text(missing),
            };
        }
        if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) {
            return VerifyError::Unreachable {
                action,
                region: self.region.clone(),
                message,
            };
        }
        match code.as_str() {
            "AccessDeniedException" | "AccessDenied" => VerifyError::AccessDenied {
                action,
                resource: resource.to_string(),
                message,
            },
            "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
                VerifyError::ExpiredCredentials {
                    action,
                    code,
                    message,
                }
            }
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "MissingAuthenticationToken" => VerifyError::InvalidCredentials {
                action,
                code,
                message,
            },
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded" => VerifyError::Throttled {
                action,
                code,
                attempts: self.max_attempts,
                message,
            },
            _ => VerifyError::Api {
                action,
                code: if code.is_empty() {
                    "an unknown error".to_string()
                } else {
                    code
                },
                message,
            },
        }
    }
}

/// The credentials failure behind an SDK error, if that is what it is: the SDK reports a
/// chain that found nothing as a dispatch failure, which would otherwise read as "unreachable".
fn credentials_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<CredentialsError>() {
            return Some(e);
        }
        current = e.source();
    }
    None
}

/// Each error of the chain, joined with `: ` (the SDK's errors do not repeat their sources).
fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The first page of `DescribeImageScanFindings`, reduced to what the gate needs.
#[derive(Debug, Clone)]
pub struct ScanPage {
    pub status: String,
    pub description: String,
    pub counts: std::collections::BTreeMap<String, i64>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Adaptive retry: standard exponential back-off plus a client-side rate limiter that
/// slows every call down once ECR starts throttling.
pub fn adaptive_retry(max_attempts: u32) -> RetryConfig {
    RetryConfig::adaptive()
        .with_max_attempts(max_attempts.max(1))
        .with_max_backoff(MAX_BACKOFF)
}

fn image_id(selector: &ImageSelector) -> ImageIdentifier {
    match selector {
        ImageSelector::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
        ImageSelector::Digest(d) => ImageIdentifier::builder().image_digest(d.as_str()).build(),
    }
}
