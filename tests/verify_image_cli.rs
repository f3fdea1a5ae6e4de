//! `bluegreen verify-image` as a user runs it: the binary, the AWS default chain from the
//! environment (AWS_ENDPOINT_URL pointing at moto), rendering and exit codes
//! (0 all checks pass, 1 a check failed, 2 usage, 5 environment).

#[path = "support/schema.rs"]
mod schema;
mod verify_image_support;

use serde_json::Value;
use std::process::{Command, Output};
use verify_image_support::*;

const REGION: &str = "us-east-1";

/// The binary with a clean environment: only the AWS settings a workflow would have after
/// aws-actions/configure-aws-credentials, and a HOME without ~/.aws files.
fn bluegreen(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .arg("verify-image")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A repository with an amd64+arm64 OCI index tagged `v1` (an index needs no config blob
/// download, which moto does not implement).
async fn repo_with_index() -> (String, Pushed) {
    repo_with_index_in(REGION).await
}

/// [`repo_with_index`] in `region`.
async fn repo_with_index_in(region: &str) -> (String, Pushed) {
    let admin = aws_sdk_ecr::Client::from_conf(ecr_conf(&moto_url(), region, 2));
    let name = unique("cli");
    admin
        .create_repository()
        .repository_name(&name)
        .send()
        .await
        .unwrap();
    let amd = oci_manifest(&config_blob("amd64", &name), &format!("{name}-amd"));
    let arm = oci_manifest(&config_blob("arm64", &name), &format!("{name}-arm"));
    let index = oci_index(&[("linux/amd64", &amd), ("linux/arm64", &arm)]);
    for child in [&amd, &arm] {
        admin
            .put_image()
            .repository_name(&name)
            .image_manifest(&child.body)
            .image_manifest_media_type(child.media_type)
            .image_digest(child.digest.as_str())
            .send()
            .await
            .unwrap();
    }
    admin
        .put_image()
        .repository_name(&name)
        .image_tag("v1")
        .image_manifest(&index.body)
        .image_manifest_media_type(index.media_type)
        .image_digest(index.digest.as_str())
        .send()
        .await
        .unwrap();
    (name, index)
}

#[tokio::test]
async fn a_passing_image_exits_0_with_the_json_verdict() {
    let (name, index) = repo_with_index().await;
    let home = tempfile::tempdir().unwrap();
    let out = bluegreen(
        home.path(),
        &[
            "--repository",
            &name,
            "--tag",
            "v1",
            "--region",
            REGION,
            "--expect-digest",
            index.digest.as_str(),
            "--platform",
            "linux/arm64",
            "--max-age",
            "1h",
            "--scan-wait",
            "0s",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::assert_matches("verify-image", &json);
    assert_eq!(json["passed"], true);
    let reference = format!(
        "{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}@{}",
        index.digest
    );
    assert_eq!(json["deploy_reference"], reference.as_str());
    assert_eq!(
        json["image"]["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    let checks: Vec<(&str, &str)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("image", "pass"),
            ("expected-digest", "pass"),
            ("max-age", "pass"),
            ("platform", "pass"),
            ("scan", "warn"),
        ]
    );
}

#[tokio::test]
async fn a_failed_check_exits_1_and_says_both_digests() {
    let (name, index) = repo_with_index().await;
    let other = bluegreen::image::Digest::of_bytes(b"another build");
    let home = tempfile::tempdir().unwrap();
    let out = bluegreen(
        home.path(),
        &[
            "--repository",
            &name,
            "--tag",
            "v1",
            "--region",
            REGION,
            "--expect-digest",
            other.as_str(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("FAIL  expected-digest"), "{text}");
    assert!(
        text.contains(index.digest.as_str()) && text.contains(other.as_str()),
        "{text}"
    );
    assert!(
        text.contains("platforms       linux/amd64, linux/arm64 (image index)"),
        "{text}"
    );
    assert!(text.contains("NOT verified"), "{text}");
}

#[test]
fn bad_flags_exit_2_and_name_the_flag() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--repository", "r1", "--digest", "latest"], "--digest"),
        (
            &[
                "--repository",
                "r1",
                "--tag",
                "v1",
                "--digest",
                &format!("sha256:{}", "a".repeat(64)),
            ],
            "--tag",
        ),
        (&["--repository", "r1"], "--tag"),
        (
            &["--repository", "r1", "--tag", "v1", "--scan-gate", "severe"],
            "--scan-gate",
        ),
        (
            &["--repository", "r1", "--tag", "v1", "--platform", "arm64"],
            "--platform",
        ),
    ];
    for (args, flag) in cases {
        let out = bluegreen(home.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(flag), "{args:?}: {}", stderr(&out));
    }
    let out = bluegreen(
        home.path(),
        &[
            "--repository",
            "Bad Name",
            "--tag",
            "v1",
            "--region",
            REGION,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("repository \"Bad Name\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_repository_uri_in_another_region_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let uri = format!("{MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app");
    let out = bluegreen(
        home.path(),
        &["--repository", &uri, "--tag", "v1", "--region", REGION],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass --region eu-west-1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_repository_uri_must_agree_with_registry_id_and_tags_are_checked() {
    let home = tempfile::tempdir().unwrap();
    let uri = format!("{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app");
    let out = bluegreen(
        home.path(),
        &[
            "--repository",
            &uri,
            "--tag",
            "v1",
            "--region",
            REGION,
            "--registry-id",
            "999999999999",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--registry-id is 999999999999"),
        "{}",
        stderr(&out)
    );

    let out = bluegreen(
        home.path(),
        &["--repository", &uri, "--tag", "bad tag", "--region", REGION],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("tag \"bad tag\""), "{}", stderr(&out));
}

#[test]
fn a_missing_repository_exits_5_and_names_the_region() {
    let home = tempfile::tempdir().unwrap();
    let name = unique("absent");
    let out = bluegreen(
        home.path(),
        &["--repository", &name, "--tag", "v1", "--region", REGION],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("repository \"{name}\" not found")) && err.contains(REGION),
        "{err}"
    );
}

#[test]
fn no_region_exits_5_and_says_how_to_set_one() {
    let home = tempfile::tempdir().unwrap();
    let out = bluegreen(home.path(), &["--repository", "app", "--tag", "v1"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no AWS region: pass --region"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn no_credentials_exits_5_and_shows_what_the_chain_tried() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args([
            "verify-image",
            "--repository",
            "app",
            "--tag",
            "v1",
            "--region",
            REGION,
        ])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no AWS credentials found for ecr:DescribeRepositories"),
        "{err}"
    );
    assert!(err.contains("WebIdentityToken"), "{err}");
}

/// The image's region comes from its ECR host: a repository URI in another region than the
/// default chain's (the instances' region in a workflow) is verified there, with no --region.
#[tokio::test]
async fn a_repository_uri_is_verified_in_its_own_region() {
    const OTHER: &str = "eu-west-2";
    let (name, index) = repo_with_index_in(OTHER).await;
    let home = tempfile::tempdir().unwrap();
    let uri = format!("{MOTO_ACCOUNT}.dkr.ecr.{OTHER}.amazonaws.com/{name}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    let out = cmd
        .args([
            "verify-image",
            "--repository",
            &uri,
            "--tag",
            "v1",
            "--scan-wait",
            "0s",
        ])
        .args(["--format", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", REGION)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["passed"], true, "{json}");
    assert_eq!(
        json["deploy_reference"],
        format!("{uri}@{}", index.digest.as_str()),
        "{json}"
    );
}
