//! `image::verify` with the real aws-sdk-ecr client against a fake of the parts of ECR that
//! moto cannot play: a config blob behind GetDownloadUrlForLayer, push times in the past,
//! scans that change state over time (IN_PROGRESS, PENDING), archived images, access denied,
//! expired or rejected credentials, throttling, and an endpoint that does not answer.
//!
//! The fake is a wiremock server on 127.0.0.1 (ports 17000-17999) speaking ECR's protocol as
//! the SDK does: awsJson1_1, `POST /` with `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>`,
//! timestamps as epoch seconds, errors as HTTP 400 with `{"__type": code, "message": ...}`.
//! Everything moto can do is tested against moto in tests/verify_image.rs.

#[path = "support/ports.rs"]
mod ports;
mod verify_image_support;

use bluegreen::image::client::ClientOptions;
use bluegreen::image::{
    verify, verify_logged, CheckName, CheckStatus, Digest, EcrClient, ImageSelector,
    PlatformSource, PollSchedule, ScanGate, ScanReport, VerifyError, VerifyRequest,
};
use bluegreen::report::{EventLog, StepStatus};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use verify_image_support::*;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REGION: &str = "us-west-2";
const ACCOUNT: &str = "210987654321";
const REPO: &str = "bgi-fake/app";
const TARGET_PREFIX: &str = "AmazonEC2ContainerRegistry_V20150921.";

/// A 127.0.0.1 listener on a leased port (`tests/support/ports.rs`), held with its lease so
/// no other test, in this process or another, is handed the same port.
fn leased_listener() -> (std::net::TcpListener, ports::PortLease) {
    let lease = ports::lease();
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", lease.port(0))).expect("bind a leased port");
    (listener, lease)
}

struct FakeEcr {
    server: MockServer,
    _lease: ports::PortLease,
}

impl FakeEcr {
    async fn start() -> Self {
        let (listener, lease) = leased_listener();
        let server = MockServer::builder().listener(listener).start().await;
        FakeEcr {
            server,
            _lease: lease,
        }
    }

    fn url(&self) -> String {
        self.server.uri()
    }

    fn op(op: &str) -> wiremock::MockBuilder {
        Mock::given(method("POST")).and(path("/")).and(header(
            "x-amz-target",
            format!("{TARGET_PREFIX}{op}").as_str(),
        ))
    }

    fn ok(body: &Value) -> ResponseTemplate {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_string(body.to_string())
    }

    fn error(code: &str, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(400)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .insert_header("x-amzn-errortype", code)
            .set_body_string(json!({"__type": code, "message": message}).to_string())
    }

    /// The default answer of `op` (priority 5: anything mounted with a lower number wins).
    async fn answer(&self, op: &str, body: Value) {
        Self::op(op)
            .respond_with(Self::ok(&body))
            .mount(&self.server)
            .await;
    }

    /// Answers `op` with `body` for the next `times` calls, ahead of the default answer.
    async fn answer_first(&self, op: &str, body: Value, times: u64) {
        Self::op(op)
            .respond_with(Self::ok(&body))
            .up_to_n_times(times)
            .with_priority(1)
            .mount(&self.server)
            .await;
    }

    /// Fails `op` with an AWS error code, ahead of any answer; `times` limits how often.
    async fn fail(&self, op: &str, code: &str, message: &str, times: Option<u64>) {
        let mut mock = Self::op(op)
            .respond_with(Self::error(code, message))
            .with_priority(1);
        if let Some(n) = times {
            mock = mock.up_to_n_times(n);
        }
        mock.mount(&self.server).await;
    }

    async fn calls(&self, op: &str) -> usize {
        let target = format!("{TARGET_PREFIX}{op}");
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| {
                r.headers
                    .get("x-amz-target")
                    .is_some_and(|v| v.to_str().ok() == Some(target.as_str()))
            })
            .count()
    }

    fn client(&self, max_attempts: u32) -> EcrClient {
        EcrClient::from_conf(ecr_conf(&self.url(), REGION, max_attempts)).unwrap()
    }
}

/// What the fake holds: one repository with one single-arch image tagged `v1`.
struct FakeImage {
    config: Vec<u8>,
    manifest: Pushed,
    pushed_at: i64,
}

impl FakeImage {
    fn new(arch: &str) -> Self {
        let config = config_blob(arch, "fake");
        FakeImage {
            manifest: docker_v2(&config, "fake"),
            config,
            pushed_at: chrono::Utc::now().timestamp() - 120,
        }
    }

    fn detail(&self) -> Value {
        json!({
            "registryId": ACCOUNT,
            "repositoryName": REPO,
            "imageDigest": self.manifest.digest.as_str(),
            "imageTags": ["v1"],
            "imageSizeInBytes": 31_457_280,
            "imagePushedAt": self.pushed_at,
            "imageManifestMediaType": self.manifest.media_type,
            "imageStatus": "ACTIVE",
        })
    }

    /// Mounts the answers of every call verification makes, with no scan.
    async fn mount(&self, fake: &FakeEcr) {
        self.mount_with_blob(fake, &self.config).await;
    }

    async fn mount_with_blob(&self, fake: &FakeEcr, blob: &[u8]) {
        fake.answer(
            "DescribeRepositories",
            json!({"repositories": [{
                "registryId": ACCOUNT,
                "repositoryName": REPO,
                "repositoryArn": format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO}"),
                "repositoryUri": format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}"),
                "imageTagMutability": "IMMUTABLE",
            }]}),
        )
        .await;
        fake.answer("DescribeImages", json!({"imageDetails": [self.detail()]}))
            .await;
        // Answered only when asked by digest and with the index media types first: without
        // them real ECR would answer for a multi-arch image with one of its images.
        FakeEcr::op("BatchGetImage")
            .and(body_partial_json(json!({
                "imageIds": [{"imageDigest": self.manifest.digest.as_str()}],
                "acceptedMediaTypes": [
                    "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                ],
            })))
            .respond_with(FakeEcr::ok(&json!({"images": [{
                "registryId": ACCOUNT,
                "repositoryName": REPO,
                "imageId": {"imageDigest": self.manifest.digest.as_str(), "imageTag": "v1"},
                "imageManifest": self.manifest.body,
                "imageManifestMediaType": self.manifest.media_type,
            }], "failures": []})))
            .mount(&fake.server)
            .await;
        let config_digest = Digest::of_bytes(&self.config);
        // ECR answers with a pre-signed S3 URL; here the blob is served by the fake itself.
        let blob_path = format!("/blobs/{}", config_digest.as_str().replace(':', "-"));
        fake.answer(
            "GetDownloadUrlForLayer",
            json!({
                "downloadUrl": format!("{}{blob_path}", fake.url()),
                "layerDigest": config_digest.as_str(),
            }),
        )
        .await;
        Mock::given(method("GET"))
            .and(path(blob_path.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(blob.to_vec()))
            .mount(&fake.server)
            .await;
        // Default priority: a test's own scan answers and failures outrank it.
        FakeEcr::op("DescribeImageScanFindings")
            .respond_with(FakeEcr::error(
                "ScanNotFoundException",
                "Image scan does not exist for the image",
            ))
            .mount(&fake.server)
            .await;
    }
}

fn scan_page(status: &str, counts: Value) -> Value {
    json!({
        "registryId": ACCOUNT,
        "repositoryName": REPO,
        "imageScanStatus": {"status": status, "description": format!("The scan is {status}.")},
        "imageScanFindings": {"findingSeverityCounts": counts, "imageScanCompletedAt": 1_763_700_000},
    })
}

/// Replaces the default "no scan" answer: scans are mounted before the image here.
async fn fake_with_scan(
    arch: &str,
    scans: &[(&str, Value, u64)],
    then: Value,
) -> (FakeEcr, FakeImage) {
    let fake = FakeEcr::start().await;
    for (status, counts, times) in scans {
        fake.answer_first(
            "DescribeImageScanFindings",
            scan_page(status, counts.clone()),
            *times,
        )
        .await;
    }
    // The final answer outranks the image's default "ScanNotFound".
    FakeEcr::op("DescribeImageScanFindings")
        .respond_with(FakeEcr::ok(&then))
        .with_priority(2)
        .mount(&fake.server)
        .await;
    let image = FakeImage::new(arch);
    image.mount(&fake).await;
    (fake, image)
}

fn by_tag() -> VerifyRequest {
    VerifyRequest::new(REPO, ImageSelector::Tag("v1".into()))
}

#[tokio::test]
async fn a_single_arch_platform_is_read_from_its_config_blob() {
    let fake = FakeEcr::start().await;
    let image = FakeImage::new("arm64");
    image.mount(&fake).await;

    let mut req = by_tag();
    req.platform = Some("linux/arm64".parse().unwrap());
    let verdict = verify(&fake.client(2), &req).await.unwrap();
    assert!(verdict.passed(), "{:#?}", verdict.checks);
    let facts = verdict.image.as_ref().unwrap();
    assert_eq!(facts.platform_source, PlatformSource::ConfigBlob);
    assert_eq!(facts.tag_mutability, "IMMUTABLE");
    assert_eq!(facts.size_bytes, Some(31_457_280));
    assert_eq!(
        verdict.deploy_reference(),
        Some(
            format!(
                "{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}@{}",
                image.manifest.digest
            )
            .as_str()
        )
    );
    assert_eq!(fake.calls("GetDownloadUrlForLayer").await, 1);

    req.platform = Some("linux/amd64".parse().unwrap());
    let verdict = verify(&fake.client(2), &req).await.unwrap();
    let check = verdict.check(CheckName::Platform).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert_eq!(
        check.reason,
        "single-arch image for linux/arm64, not linux/amd64"
    );
}

#[tokio::test]
async fn a_config_blob_that_does_not_match_its_digest_leaves_the_platform_unknown() {
    let fake = FakeEcr::start().await;
    let image = FakeImage::new("amd64");
    image
        .mount_with_blob(
            &fake,
            br#"{"os":"linux","architecture":"amd64","tampered":true}"#,
        )
        .await;
    let mut req = by_tag();
    req.platform = Some("linux/amd64".parse().unwrap());
    let verdict = verify(&fake.client(2), &req).await.unwrap();
    let check = verdict.check(CheckName::Platform).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("but the manifest names"),
        "{}",
        check.reason
    );
}

#[tokio::test]
async fn an_image_pushed_long_ago_fails_max_age_with_its_age() {
    let fake = FakeEcr::start().await;
    let mut image = FakeImage::new("amd64");
    image.pushed_at = chrono::Utc::now().timestamp() - 40 * 86_400;
    image.mount(&fake).await;
    let mut req = by_tag();
    req.max_age = Some(Duration::from_secs(30 * 86_400));
    let verdict = verify(&fake.client(2), &req).await.unwrap();
    let check = verdict.check(CheckName::MaxAge).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    // humantime counts a month as 30.44 days: 40 days read "1month 9days 13h ...".
    assert!(
        check.reason.starts_with("pushed 1month 9days")
            && check.reason.contains("older than --max-age 30days"),
        "{}",
        check.reason
    );
}

#[tokio::test]
async fn an_archived_image_fails_the_image_check() {
    let fake = FakeEcr::start().await;
    let image = FakeImage::new("amd64");
    let mut detail = image.detail();
    detail["imageStatus"] = json!("ARCHIVED");
    FakeEcr::op("DescribeImages")
        .respond_with(FakeEcr::ok(&json!({"imageDetails": [detail]})))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    image.mount(&fake).await;
    let verdict = verify(&fake.client(2), &by_tag()).await.unwrap();
    let check = verdict.check(CheckName::Image).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.reason.contains("archived"), "{}", check.reason);
}

#[tokio::test]
async fn a_scan_in_progress_is_waited_for_until_complete() {
    let (fake, _) = fake_with_scan(
        "amd64",
        &[("IN_PROGRESS", json!({}), 2)],
        scan_page("COMPLETE", json!({"MEDIUM": 1})),
    )
    .await;
    let mut req = by_tag();
    req.scan_gate = ScanGate::High;
    req.scan_wait = Duration::from_secs(20);
    req.scan_poll = PollSchedule {
        first: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    let verdict = verify(&fake.client(2), &req).await.unwrap();
    assert!(verdict.passed(), "{:#?}", verdict.checks);
    assert!(matches!(
        &verdict.image.as_ref().unwrap().scan,
        ScanReport::Findings { status, .. } if status == "COMPLETE"
    ));
    assert_eq!(fake.calls("DescribeImageScanFindings").await, 3);
}

#[tokio::test]
async fn a_scan_still_pending_after_scan_wait_is_reported_with_the_wait() {
    let (fake, _) = fake_with_scan("amd64", &[], scan_page("PENDING", json!({}))).await;
    let mut req = by_tag();
    req.scan_gate = ScanGate::Critical;
    req.scan_wait = Duration::from_secs(1);
    req.scan_poll = PollSchedule {
        first: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    let log = EventLog::new();
    let started = Instant::now();
    let verdict = verify_logged(&fake.client(2), &req, &log).await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let polls = fake.calls("DescribeImageScanFindings").await;
    // 0, 0.1, 0.3, 0.7, 1.0 s: back-off, then one last look at the deadline.
    assert!((4..=6).contains(&polls), "{polls} polls");
    let check = verdict.check(CheckName::Scan).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    // The wait reported is the one measured: at least --scan-wait, more when the last look
    // itself was slow (a loaded machine).
    let waited = check
        .reason
        .strip_prefix("scan still PENDING after waiting ")
        .and_then(|rest| rest.split_once("s (--scan-wait)"))
        .and_then(|(secs, _)| secs.parse::<u64>().ok());
    assert!(
        waited.is_some_and(|s| (1..5).contains(&s)),
        "{}",
        check.reason
    );

    // The report sees where the time went: the scan step carries the wait.
    let events = log.snapshot();
    let step = |name: &str| {
        events
            .iter()
            .find(|e| e.step == name)
            .unwrap_or_else(|| panic!("no {name} in {events:#?}"))
    };
    let scan = step("verify-image.scan");
    assert!(scan.duration_ms.is_some_and(|ms| ms >= 1000), "{scan:?}");
    assert_eq!(scan.detail, "PENDING");
    assert_eq!(step("verify-image.resolve").status, StepStatus::Ok);
    assert_eq!(step("verify-image.platforms").detail, "linux/amd64");
    assert_eq!(step("verify-image.check.scan").status, StepStatus::Failed);
    assert_eq!(step("verify-image.check.image").status, StepStatus::Ok);
}

#[tokio::test]
async fn access_denied_names_the_iam_action() {
    let fake = FakeEcr::start().await;
    FakeImage::new("amd64").mount(&fake).await;
    let denied = |action: &str| {
        format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/ci/gha is not authorized to perform: {action} on resource: arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{REPO} because no identity-based policy allows the {action} action")
    };
    fake.fail(
        "DescribeImages",
        "AccessDeniedException",
        &denied("ecr:DescribeImages"),
        None,
    )
    .await;
    let err = verify(&fake.client(2), &by_tag()).await.unwrap_err();
    let VerifyError::AccessDenied { action, .. } = &err else {
        panic!("expected AccessDenied, got {err:?}");
    };
    assert_eq!(*action, "ecr:DescribeImages");
    assert!(
        err.to_string()
            .contains("IAM permission `ecr:DescribeImages`"),
        "{err}"
    );
    assert_eq!(err.exit_code(), bluegreen::exit::ExitCode::Environment);

    let fake = FakeEcr::start().await;
    FakeImage::new("amd64").mount(&fake).await;
    fake.fail(
        "DescribeImageScanFindings",
        "AccessDeniedException",
        &denied("ecr:DescribeImageScanFindings"),
        None,
    )
    .await;
    let err = verify(&fake.client(2), &by_tag()).await.unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::AccessDenied {
                action: "ecr:DescribeImageScanFindings",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn expired_and_rejected_credentials_say_what_to_refresh() {
    let fake = FakeEcr::start().await;
    fake.fail(
        "DescribeRepositories",
        "ExpiredTokenException",
        "The security token included in the request is expired",
        None,
    )
    .await;
    let err = verify(&fake.client(2), &by_tag()).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::ExpiredCredentials { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("configure-aws-credentials"),
        "{err}"
    );
    // Expired credentials are not retried: one call.
    assert_eq!(fake.calls("DescribeRepositories").await, 1);

    let fake = FakeEcr::start().await;
    fake.fail(
        "DescribeRepositories",
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
        None,
    )
    .await;
    let err = verify(&fake.client(2), &by_tag()).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::InvalidCredentials { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried_adaptively_then_reported() {
    let fake = FakeEcr::start().await;
    FakeImage::new("amd64").mount(&fake).await;
    fake.fail(
        "DescribeImages",
        "ThrottlingException",
        "Rate exceeded",
        Some(2),
    )
    .await;
    let verdict = verify(&fake.client(3), &by_tag()).await.unwrap();
    assert!(verdict.passed(), "{:#?}", verdict.checks);
    assert_eq!(
        fake.calls("DescribeImages").await,
        3,
        "two throttled, one answered"
    );

    let fake = FakeEcr::start().await;
    FakeImage::new("amd64").mount(&fake).await;
    fake.fail(
        "DescribeImages",
        "ThrottlingException",
        "Rate exceeded",
        None,
    )
    .await;
    let err = verify(&fake.client(3), &by_tag()).await.unwrap_err();
    let VerifyError::Throttled {
        action, attempts, ..
    } = &err
    else {
        panic!("expected Throttled, got {err:?}");
    };
    assert_eq!((*action, *attempts), ("ecr:DescribeImages", 3));
    assert_eq!(fake.calls("DescribeImages").await, 3);
    assert!(err.to_string().contains("all 3 attempts"), "{err}");
}

#[tokio::test]
async fn a_missing_repository_says_when_names_cannot_be_listed() {
    let fake = FakeEcr::start().await;
    FakeEcr::op("DescribeRepositories")
        .and(body_partial_json(json!({"repositoryNames": [REPO]})))
        .respond_with(FakeEcr::error(
            "RepositoryNotFoundException",
            "The repository with name 'bgi-fake/app' does not exist",
        ))
        .with_priority(1)
        .mount(&fake.server)
        .await;
    fake.fail(
        "DescribeRepositories",
        "AccessDeniedException",
        "not authorized to perform: ecr:DescribeRepositories on resource: *",
        None,
    )
    .await;
    let err = verify(&fake.client(2), &by_tag()).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, VerifyError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    assert!(
        message.contains("could not list repositories")
            && message.contains("ecr:DescribeRepositories"),
        "{message}"
    );
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_is_reported_with_the_region() {
    // A leased port nobody listens on: the lease keeps every other test off it.
    let lease = ports::lease();
    let url = format!("http://127.0.0.1:{}", lease.port(0));
    let err = verify(&client(&url, "eu-central-9"), &by_tag())
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("region eu-central-9") && message.contains("--region"),
        "{message}"
    );
}

#[tokio::test]
async fn a_client_without_a_region_is_refused_before_any_call() {
    let conf = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .build();
    let err = EcrClient::from_conf(conf).unwrap_err();
    assert!(matches!(err, VerifyError::NoRegion), "{err:?}");
    assert!(err.to_string().contains("--region"), "{err}");
    // The options type the CLI fills in: its default keeps the region to the chain.
    assert_eq!(ClientOptions::default().region, None);
}
