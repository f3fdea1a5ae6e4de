//! Shared by the verify-image tests: the SDK client for a local endpoint, unique names, and
//! real image manifests (Docker v2, OCI, OCI index) with their real sha256 digests.
#![allow(dead_code)]

use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
use bluegreen::image::client::adaptive_retry;
use bluegreen::image::{Digest, EcrClient};
use serde_json::json;
use std::time::Duration;

/// moto's account id: every repository URI it returns starts with it.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// The moto server started by scripts/setup.d/10-moto.sh.
pub fn moto_url() -> String {
    std::env::var("BLUEGREEN_TEST_MOTO_URL").unwrap_or_else(|_| {
        panic!("BLUEGREEN_TEST_MOTO_URL is not set: run these tests with scripts/test --test verify_image")
    })
}

/// An SDK config for `endpoint` with static test credentials and adaptive retry with a short
/// back-off, so retry tests take milliseconds.
pub fn ecr_conf(endpoint: &str, region: &str, max_attempts: u32) -> aws_sdk_ecr::Config {
    aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(
            adaptive_retry(max_attempts)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .build()
}

pub fn client(endpoint: &str, region: &str) -> EcrClient {
    EcrClient::from_conf(ecr_conf(endpoint, region, 2)).unwrap()
}

/// A repository name no other test (or engineer sharing moto) uses.
pub fn unique(what: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("bgi-{what}-{}", &id[..10])
}

/// An image config blob as BuildKit writes it (the fields verification reads, and a few more).
pub fn config_blob(arch: &str, salt: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": [format!("SALT={salt}")], "Entrypoint": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "d".repeat(64))]},
    }))
    .unwrap()
}

/// A manifest body (pretty-printed like `docker buildx imagetools inspect --raw` is not: a
/// registry stores bytes, and the digest is of exactly these bytes) and its digest.
pub struct Pushed {
    pub body: String,
    pub digest: Digest,
    pub media_type: &'static str,
}

fn pushed(value: serde_json::Value, media_type: &'static str) -> Pushed {
    let body = serde_json::to_string(&value).unwrap();
    Pushed {
        digest: Digest::of_bytes(body.as_bytes()),
        body,
        media_type,
    }
}

fn layer(salt: &str) -> serde_json::Value {
    let digest = Digest::of_bytes(format!("layer-{salt}").as_bytes());
    json!({"digest": digest.as_str(), "size": 1_234_567})
}

/// A single-arch Docker v2 schema 2 manifest for `config`.
pub fn docker_v2(config: &[u8], salt: &str) -> Pushed {
    let mut l = layer(salt);
    l["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar.gzip");
    pushed(
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": Digest::of_bytes(config).as_str(),
            },
            "layers": [l],
        }),
        "application/vnd.docker.distribution.manifest.v2+json",
    )
}

/// A single-arch OCI image manifest for `config`.
pub fn oci_manifest(config: &[u8], salt: &str) -> Pushed {
    let mut l = layer(salt);
    l["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
    pushed(
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": config.len(),
                "digest": Digest::of_bytes(config).as_str(),
            },
            "layers": [l],
        }),
        "application/vnd.oci.image.manifest.v1+json",
    )
}

/// An OCI image index over `children` (platform, manifest), plus a BuildKit attestation
/// manifest with platform unknown/unknown, as `docker buildx build --platform ...` pushes.
pub fn oci_index(children: &[(&str, &Pushed)]) -> Pushed {
    let mut manifests: Vec<serde_json::Value> = children
        .iter()
        .map(|(platform, m)| {
            let (os, arch) = platform.split_once('/').unwrap();
            json!({
                "mediaType": m.media_type,
                "digest": m.digest.as_str(),
                "size": m.body.len(),
                "platform": {"os": os, "architecture": arch},
            })
        })
        .collect();
    manifests.push(json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": Digest::of_bytes(b"attestation").as_str(),
        "size": 840,
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {
            "vnd.docker.reference.digest": children[0].1.digest.as_str(),
            "vnd.docker.reference.type": "attestation-manifest",
        },
    }));
    pushed(
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }),
        "application/vnd.oci.image.index.v1+json",
    )
}
