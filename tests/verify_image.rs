//! `image::verify` with the real aws-sdk-ecr client against moto's ECR (started by
//! scripts/test): repositories, images pushed with real manifests through PutImage, tags,
//! digests, ages, and scan results. Scan results use moto's own configurable
//! DescribeImageScanFindings answers (POST /moto-api/static/ecr/scan-finding-results).
//! What moto cannot do (config blob download, scan state changes over time, access denied,
//! throttling, expired credentials) is in tests/verify_image_fake.rs.

mod verify_image_support;

use bluegreen::image::{
    verify, CheckName, CheckStatus, Digest, ImageSelector, Platform, PlatformSource, ScanGate,
    ScanReport, VerifyError, VerifyRequest,
};
use serde_json::json;
use std::time::Duration;
use verify_image_support::*;

const REGION: &str = "us-east-1";

fn admin() -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::from_conf(ecr_conf(&moto_url(), REGION, 2))
}

async fn create_repository(name: &str, mutability: &str) {
    admin()
        .create_repository()
        .repository_name(name)
        .image_tag_mutability(mutability.into())
        .send()
        .await
        .unwrap();
}

async fn put(name: &str, tag: &str, image: &Pushed) {
    put_image(name, Some(tag), image).await;
}

/// Pushes an image the way BuildKit pushes the images of an index: by digest, untagged.
async fn put_untagged(name: &str, image: &Pushed) {
    put_image(name, None, image).await;
}

async fn put_image(name: &str, tag: Option<&str>, image: &Pushed) {
    let out = admin()
        .put_image()
        .repository_name(name)
        .set_image_tag(tag.map(str::to_string))
        .image_manifest(&image.body)
        .image_manifest_media_type(image.media_type)
        .image_digest(image.digest.as_str())
        .send()
        .await
        .unwrap();
    let stored = out
        .image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest());
    assert_eq!(stored, Some(image.digest.as_str()));
}

/// A repository holding one single-arch Docker v2 image tagged `v1`.
async fn repo_with_docker_image(what: &str) -> (String, Pushed) {
    let name = unique(what);
    create_repository(&name, "MUTABLE").await;
    let image = docker_v2(&config_blob("amd64", &name), &name);
    put(&name, "v1", &image).await;
    (name, image)
}

fn by_tag(name: &str, tag: &str) -> VerifyRequest {
    VerifyRequest::new(name, ImageSelector::Tag(tag.to_string()))
}

async fn run(req: &VerifyRequest) -> bluegreen::image::ImageVerdict {
    verify(&client(&moto_url(), REGION), req).await.unwrap()
}

fn status_of(verdict: &bluegreen::image::ImageVerdict, name: CheckName) -> CheckStatus {
    verdict
        .check(name)
        .unwrap_or_else(|| panic!("no {name} check in {:#?}", verdict.checks))
        .status
}

/// Sets what moto's DescribeImageScanFindings answers for `repository`, and starts a scan
/// (moto answers ScanNotFoundException for an image never scanned).
async fn scan_result(repository: &str, digest: &Digest, status: &str, counts: serde_json::Value) {
    admin()
        .start_image_scan()
        .repository_name(repository)
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest.as_str())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let result = json!({
        "registryId": MOTO_ACCOUNT,
        "repositoryName": repository,
        // moto matches a result to an image by tag or digest, and an absent tag equals an
        // untagged image's absent tag: a tag no image has keeps the match to the digest.
        "imageId": {"imageDigest": digest.as_str(), "imageTag": "match-by-digest"},
        "imageScanStatus": {"status": status, "description": format!("scan is {status}")},
        "imageScanFindings": {"findingSeverityCounts": counts, "findings": []},
    });
    let response = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/static/ecr/scan-finding-results",
            moto_url()
        ))
        .json(&json!({"results": [result], "region": REGION}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test]
async fn a_tag_resolves_to_an_immutable_reference_with_its_facts() {
    let (name, image) = repo_with_docker_image("facts").await;
    put(&name, "latest", &image).await;
    let verdict = run(&by_tag(&name, "v1")).await;

    assert!(verdict.passed(), "{:#?}", verdict.checks);
    let expected = format!(
        "{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}@{}",
        image.digest
    );
    assert_eq!(verdict.deploy_reference(), Some(expected.as_str()));
    let facts = verdict.image.as_ref().unwrap();
    let mut tags = facts.tags.clone();
    tags.sort();
    assert_eq!(tags, ["latest", "v1"]);
    assert_eq!(facts.tag_mutability, "MUTABLE");
    assert_eq!(
        facts.manifest_media_type.as_deref(),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    assert!(facts.size_bytes.is_some_and(|s| s > 0), "{facts:#?}");
    assert!(facts.age_seconds.is_some_and(|a| a < 600), "{facts:#?}");
    let image_check = verdict.check(CheckName::Image).unwrap();
    assert!(image_check.reason.contains(image.digest.as_str()));
}

#[tokio::test]
async fn a_missing_tag_fails_the_image_check_and_lists_recent_tags() {
    let (name, _) = repo_with_docker_image("notag").await;
    let verdict = run(&by_tag(&name, "v2")).await;

    assert!(!verdict.passed());
    assert_eq!(verdict.deploy_reference(), None);
    let check = verdict.check(CheckName::Image).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("tag \"v2\" not found"),
        "{}",
        check.reason
    );
    assert!(check.reason.contains("v1"), "{}", check.reason);
}

#[tokio::test]
async fn a_digest_selects_the_image_and_expect_digest_compares_both() {
    let (name, image) = repo_with_docker_image("digest").await;
    let mut req = VerifyRequest::new(&name, ImageSelector::Digest(image.digest.clone()));
    req.expect_digest = Some(image.digest.clone());
    let verdict = run(&req).await;
    assert_eq!(status_of(&verdict, CheckName::Image), CheckStatus::Pass);
    assert_eq!(
        status_of(&verdict, CheckName::ExpectedDigest),
        CheckStatus::Pass
    );

    let other = Digest::of_bytes(b"some other image");
    let mut req = by_tag(&name, "v1");
    req.expect_digest = Some(other.clone());
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::ExpectedDigest).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains(image.digest.as_str()),
        "{}",
        check.reason
    );
    assert!(check.reason.contains(other.as_str()), "{}", check.reason);
    assert_eq!(verdict.exit_code(), bluegreen::exit::ExitCode::Failed);
}

#[tokio::test]
async fn an_unknown_digest_fails_the_image_check() {
    let (name, _) = repo_with_docker_image("nodigest").await;
    let missing = Digest::of_bytes(b"never pushed");
    let verdict = run(&VerifyRequest::new(
        &name,
        ImageSelector::Digest(missing.clone()),
    ))
    .await;
    let check = verdict.check(CheckName::Image).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.reason.contains(missing.as_str()), "{}", check.reason);
}

#[tokio::test]
async fn an_index_lists_amd64_and_arm64_and_the_platform_check_uses_it() {
    let name = unique("index");
    create_repository(&name, "IMMUTABLE").await;
    let amd = oci_manifest(&config_blob("amd64", &name), &format!("{name}-amd"));
    let arm = oci_manifest(&config_blob("arm64", &name), &format!("{name}-arm"));
    let index = oci_index(&[("linux/amd64", &amd), ("linux/arm64", &arm)]);
    put_untagged(&name, &amd).await;
    put_untagged(&name, &arm).await;
    put(&name, "v1", &index).await;

    let mut req = by_tag(&name, "v1");
    req.platform = Some("linux/arm64".parse().unwrap());
    let verdict = run(&req).await;
    assert_eq!(status_of(&verdict, CheckName::Platform), CheckStatus::Pass);
    let facts = verdict.image.as_ref().unwrap();
    assert_eq!(facts.platform_source, PlatformSource::Index);
    assert_eq!(facts.digest, index.digest);
    assert_eq!(facts.tag_mutability, "IMMUTABLE");
    let names: Vec<String> = verdict.platforms().iter().map(|p| p.to_string()).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64"]);
    let arm64 = Platform::linux_for_machine("aarch64").unwrap();
    assert_eq!(verdict.supports(&arm64), Some(true));

    req.platform = Some("linux/ppc64le".parse().unwrap());
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::Platform).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("linux/amd64, linux/arm64") && check.reason.contains("linux/ppc64le"),
        "{}",
        check.reason
    );
}

/// moto does not implement GetDownloadUrlForLayer, so a single-arch image's platform stays
/// unknown here: the platform check must fail and say why, never guess. The config blob
/// path itself is tested against the fake in verify_image_fake.rs.
#[tokio::test]
async fn an_oci_single_arch_image_whose_config_cannot_be_read_fails_the_platform_check() {
    let name = unique("oci");
    create_repository(&name, "MUTABLE").await;
    let image = oci_manifest(&config_blob("amd64", &name), &name);
    put(&name, "v1", &image).await;

    let mut req = by_tag(&name, "v1");
    req.platform = Some("linux/amd64".parse().unwrap());
    let verdict = run(&req).await;
    let facts = verdict.image.as_ref().unwrap();
    assert_eq!(
        facts.manifest_media_type.as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert!(matches!(
        facts.platform_source,
        PlatformSource::Unknown { .. }
    ));
    let check = verdict.check(CheckName::Platform).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("GetDownloadUrlForLayer"),
        "{}",
        check.reason
    );
    assert_eq!(verdict.supports(&"linux/amd64".parse().unwrap()), None);
}

#[tokio::test]
async fn max_age_passes_a_fresh_image_and_fails_an_old_one() {
    let (name, _) = repo_with_docker_image("age").await;
    let mut req = by_tag(&name, "v1");
    req.max_age = Some(Duration::from_secs(3600));
    let verdict = run(&req).await;
    assert_eq!(status_of(&verdict, CheckName::MaxAge), CheckStatus::Pass);

    // moto stamps the push time in whole seconds, so 2 s later the image is over 1 s old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    req.max_age = Some(Duration::from_secs(1));
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::MaxAge).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("older than --max-age 1s"),
        "{}",
        check.reason
    );
}

#[tokio::test]
async fn no_scan_warns_without_a_gate_and_fails_with_one() {
    let (name, _) = repo_with_docker_image("noscan").await;
    let verdict = run(&by_tag(&name, "v1")).await;
    assert_eq!(verdict.image.as_ref().unwrap().scan, ScanReport::NotScanned);
    assert_eq!(status_of(&verdict, CheckName::Scan), CheckStatus::Warn);
    assert!(verdict.passed(), "a warning must not fail verification");

    let mut req = by_tag(&name, "v1");
    req.scan_gate = ScanGate::Critical;
    let verdict = run(&req).await;
    assert_eq!(status_of(&verdict, CheckName::Scan), CheckStatus::Fail);
    assert!(!verdict.passed());
}

#[tokio::test]
async fn a_complete_basic_scan_is_judged_against_the_gate() {
    let (name, image) = repo_with_docker_image("gate").await;
    scan_result(
        &name,
        &image.digest,
        "COMPLETE",
        json!({"HIGH": 2, "MEDIUM": 3, "INFORMATIONAL": 4}),
    )
    .await;

    let mut req = by_tag(&name, "v1");
    req.scan_gate = ScanGate::Critical;
    let verdict = run(&req).await;
    assert_eq!(status_of(&verdict, CheckName::Scan), CheckStatus::Pass);
    let ScanReport::Findings { counts, .. } = &verdict.image.as_ref().unwrap().scan else {
        panic!("expected findings");
    };
    assert_eq!(counts.get("HIGH"), Some(&2));
    assert_eq!(counts.get("INFORMATIONAL"), Some(&4));

    req.scan_gate = ScanGate::High;
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::Scan).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("2 HIGH at or above --scan-gate high"),
        "{}",
        check.reason
    );

    req.scan_gate = ScanGate::Medium;
    let check = run(&req).await.check(CheckName::Scan).cloned().unwrap();
    assert!(
        check.reason.contains("2 HIGH, 3 MEDIUM"),
        "{}",
        check.reason
    );
}

#[tokio::test]
async fn an_enhanced_scan_ends_active_and_is_judged() {
    let (name, image) = repo_with_docker_image("active").await;
    scan_result(
        &name,
        &image.digest,
        "ACTIVE",
        json!({"CRITICAL": 1, "UNTRIAGED": 2}),
    )
    .await;
    let mut req = by_tag(&name, "v1");
    req.scan_gate = ScanGate::Critical;
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::Scan).unwrap();
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.reason.contains("scan ACTIVE") && check.reason.contains("1 CRITICAL"),
        "{}",
        check.reason
    );
}

#[tokio::test]
async fn unsupported_and_failed_scans_are_reported_as_such() {
    for (status, words) in [
        (
            "UNSUPPORTED_IMAGE",
            "cannot scan this image (UNSUPPORTED_IMAGE)",
        ),
        ("FAILED", "the scan FAILED"),
    ] {
        let (name, image) = repo_with_docker_image("scanfail").await;
        scan_result(&name, &image.digest, status, json!({})).await;
        let verdict = run(&by_tag(&name, "v1")).await;
        let check = verdict.check(CheckName::Scan).unwrap();
        assert_eq!(check.status, CheckStatus::Warn, "{status}");
        assert!(check.reason.contains(words), "{}", check.reason);

        let mut req = by_tag(&name, "v1");
        req.scan_gate = ScanGate::Low;
        assert_eq!(
            status_of(&run(&req).await, CheckName::Scan),
            CheckStatus::Fail
        );
    }
}

#[tokio::test]
async fn a_missing_repository_lists_the_near_names_you_can_see() {
    let base = unique("nearby");
    create_repository(&base, "MUTABLE").await;
    let typo = format!("{base}x");
    let err = verify(&client(&moto_url(), REGION), &by_tag(&typo, "v1"))
        .await
        .unwrap_err();
    let VerifyError::RepositoryNotFound { near, region, .. } = &err else {
        panic!("expected RepositoryNotFound, got {err:?}");
    };
    assert!(near.contains(&base), "{near:?}");
    assert_eq!(region, REGION);
    let message = err.to_string();
    assert!(
        message.contains(&typo) && message.contains(&base),
        "{message}"
    );
    assert_eq!(err.exit_code(), bluegreen::exit::ExitCode::Environment);
}

#[tokio::test]
async fn the_wrong_region_names_the_region_searched() {
    let (name, _) = repo_with_docker_image("region").await;
    let err = verify(&client(&moto_url(), "eu-west-1"), &by_tag(&name, "v1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::RepositoryNotFound { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("in region eu-west-1") && message.contains("--region"),
        "{message}"
    );

    let uri = format!("{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}");
    let err = verify(&client(&moto_url(), "eu-west-1"), &by_tag(&uri, "v1"))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::RegionMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("pass --region us-east-1"), "{err}");
    assert_eq!(err.exit_code(), bluegreen::exit::ExitCode::Usage);

    let verdict = run(&by_tag(&uri, "v1")).await;
    assert!(
        verdict.passed(),
        "a URI in the right region verifies: {:#?}",
        verdict.checks
    );
}

/// ECR scans the images of an index, not the index: the gate judges the image for
/// `--platform`, or every image when no platform is asked for.
#[tokio::test]
async fn an_index_is_judged_by_the_scans_of_its_images() {
    let name = unique("indexscan");
    create_repository(&name, "MUTABLE").await;
    let amd = oci_manifest(&config_blob("amd64", &name), &format!("{name}-amd"));
    let arm = oci_manifest(&config_blob("arm64", &name), &format!("{name}-arm"));
    let index = oci_index(&[("linux/amd64", &amd), ("linux/arm64", &arm)]);
    put_untagged(&name, &amd).await;
    put_untagged(&name, &arm).await;
    put(&name, "v1", &index).await;
    scan_result(&name, &amd.digest, "COMPLETE", json!({"HIGH": 1})).await;
    scan_result(
        &name,
        &arm.digest,
        "COMPLETE",
        json!({"CRITICAL": 1, "HIGH": 2}),
    )
    .await;

    let mut req = by_tag(&name, "v1");
    req.scan_gate = ScanGate::Critical;
    req.platform = Some("linux/amd64".parse().unwrap());
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::Scan).unwrap();
    assert_eq!(check.status, CheckStatus::Pass, "{}", check.reason);
    assert!(
        check.reason.contains("[per image: linux/amd64: COMPLETE]"),
        "{}",
        check.reason
    );

    req.platform = None;
    let verdict = run(&req).await;
    let check = verdict.check(CheckName::Scan).unwrap();
    assert_eq!(check.status, CheckStatus::Fail, "{}", check.reason);
    assert!(
        check.reason.contains("1 CRITICAL, 3 HIGH"),
        "{}",
        check.reason
    );
    let facts = verdict.image.as_ref().unwrap();
    let judged: Vec<(String, Digest)> = facts
        .child_scans
        .iter()
        .map(|c| (c.platform.to_string(), c.digest.clone()))
        .collect();
    assert_eq!(
        judged,
        [
            ("linux/amd64".to_string(), amd.digest.clone()),
            ("linux/arm64".to_string(), arm.digest.clone())
        ]
    );
}

#[tokio::test]
async fn an_index_image_without_a_scan_fails_a_gate_and_is_named() {
    let name = unique("indexnoscan");
    create_repository(&name, "MUTABLE").await;
    let amd = oci_manifest(&config_blob("amd64", &name), &format!("{name}-amd"));
    let arm = oci_manifest(&config_blob("arm64", &name), &format!("{name}-arm"));
    let index = oci_index(&[("linux/amd64", &amd), ("linux/arm64", &arm)]);
    put_untagged(&name, &amd).await;
    put_untagged(&name, &arm).await;
    put(&name, "v1", &index).await;
    scan_result(&name, &amd.digest, "COMPLETE", json!({})).await;

    let mut req = by_tag(&name, "v1");
    req.scan_gate = ScanGate::High;
    let check = run(&req).await.check(CheckName::Scan).cloned().unwrap();
    assert_eq!(check.status, CheckStatus::Fail, "{}", check.reason);
    assert!(
        check
            .reason
            .contains("linux/amd64: COMPLETE, linux/arm64: not scanned"),
        "{}",
        check.reason
    );
}

/// An index naming images the repository does not hold has nothing to scan: said, not hidden.
#[tokio::test]
async fn an_index_whose_images_are_missing_reports_them() {
    let name = unique("orphan");
    create_repository(&name, "MUTABLE").await;
    let amd = oci_manifest(&config_blob("amd64", &name), &format!("{name}-amd"));
    let index = oci_index(&[("linux/amd64", &amd)]);
    put(&name, "v1", &index).await;

    let check = run(&by_tag(&name, "v1"))
        .await
        .check(CheckName::Scan)
        .cloned()
        .unwrap();
    assert_eq!(check.status, CheckStatus::Warn, "{}", check.reason);
    assert!(
        check
            .reason
            .contains(&format!("{} is not in repository {name}", amd.digest))
            && check.reason.contains("linux/amd64: IMAGE_NOT_FOUND"),
        "{}",
        check.reason
    );
}
