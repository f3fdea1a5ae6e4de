//! Reading an image manifest (or image index) as ECR returns it from `BatchGetImage`.
//!
//! An index names its platforms; a single-arch manifest does not, its platform lives in the
//! config blob (`os`, `architecture`, `variant`), which [`config_platform`] reads.

use super::reference::{Digest, Platform};
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What `BatchGetImage` may send back. The index types come first: without them ECR
/// answers for a multi-arch image with one child manifest, and the platforms would be lost.
/// By digest ECR never converts formats, so the stored one is returned whichever comes first.
pub const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST_V2,
];

/// A manifest, reduced to what verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An OCI index or Docker manifest list: its runnable images (attestations excluded).
    Index { children: Vec<IndexChild> },
    /// A single-arch manifest: its platform is in the config blob.
    Single { config: Digest, config_size: u64 },
}

/// One runnable image of an index: its manifest digest and platform. Scans belong to these
/// images, not to the index: ECR does not scan an index itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChild {
    pub digest: Digest,
    pub platform: Platform,
}

impl Manifest {
    /// The distinct platforms of an index, sorted; empty for a single-arch manifest.
    pub fn index_platforms(children: &[IndexChild]) -> Vec<Platform> {
        let mut platforms: Vec<Platform> = children.iter().map(|c| c.platform.clone()).collect();
        platforms.sort();
        platforms.dedup();
        platforms
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    media_type: Option<String>,
    manifests: Option<Vec<RawDescriptor>>,
    config: Option<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: Option<String>,
    size: Option<u64>,
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Parses a manifest body. `media_type` is what ECR reported (`imageManifestMediaType`);
/// an OCI manifest may omit `mediaType` in its body, so the reported one wins.
pub fn parse(body: &str, media_type: Option<&str>) -> Result<Manifest, String> {
    let raw: RawManifest =
        serde_json::from_str(body).map_err(|e| format!("manifest is not valid JSON: {e}"))?;
    let media_type = media_type.or(raw.media_type.as_deref());
    let is_index = matches!(media_type, Some(OCI_INDEX | DOCKER_MANIFEST_LIST))
        || (media_type.is_none() && raw.manifests.is_some());
    if is_index {
        let children = raw.manifests.ok_or("image index has no `manifests` list")?;
        return Ok(Manifest::Index {
            children: index_children(&children)?,
        });
    }
    let config = raw.config.ok_or_else(|| {
        format!(
            "manifest ({}) has no `config` descriptor",
            media_type.unwrap_or("no media type")
        )
    })?;
    let digest = config
        .digest
        .ok_or("manifest `config` has no digest")?
        .parse::<Digest>()?;
    Ok(Manifest::Single {
        config: digest,
        config_size: config.size.unwrap_or(0),
    })
}

/// The runnable images of an index. BuildKit adds attestation manifests with the platform
/// `unknown/unknown`; they are not something an instance can run, so they are left out.
fn index_children(children: &[RawDescriptor]) -> Result<Vec<IndexChild>, String> {
    children
        .iter()
        .filter(|c| {
            c.annotations
                .get("vnd.docker.reference.type")
                .is_none_or(|t| t != "attestation-manifest")
        })
        .filter_map(|c| c.platform.as_ref().map(|p| (c, p)))
        .filter(|(_, p)| p.os != "unknown" && p.architecture != "unknown")
        .map(|(c, p)| {
            let digest = c
                .digest
                .as_deref()
                .ok_or_else(|| {
                    format!("index entry for {}/{} has no digest", p.os, p.architecture)
                })?
                .parse::<Digest>()?;
            Ok(IndexChild {
                digest,
                platform: Platform::new(&p.os, &p.architecture, p.variant.as_deref()),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct RawConfig {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

/// The platform recorded in an image config blob, after checking the blob is the one the
/// manifest names (its sha256 must equal `expected`).
pub fn config_platform(blob: &[u8], expected: &Digest) -> Result<Platform, String> {
    let actual = Digest::of_bytes(blob);
    if &actual != expected {
        return Err(format!(
            "config blob digest is {actual}, but the manifest names {expected}"
        ));
    }
    let raw: RawConfig = serde_json::from_slice(blob)
        .map_err(|e| format!("config blob {expected} is not valid JSON: {e}"))?;
    match (raw.os, raw.architecture) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => {
            Ok(Platform::new(&os, &arch, raw.variant.as_deref()))
        }
        _ => Err(format!(
            "config blob {expected} has no `os` and `architecture`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_lists_its_platforms_without_attestations() {
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{a}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{b}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{c}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}},
             "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}]}}"#
        );
        let Manifest::Index { children } = parse(&body, Some(OCI_INDEX)).unwrap() else {
            panic!("expected an index");
        };
        assert_eq!(children.len(), 2, "the attestation is not a runnable image");
        assert_eq!(children[0].digest.as_str(), format!("sha256:{a}"));
        let names: Vec<String> = Manifest::index_platforms(&children)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(names, ["linux/amd64", "linux/arm64/v8"]);
        let bad = body.replace(&format!("sha256:{a}"), "sha256:short");
        assert!(parse(&bad, Some(OCI_INDEX)).is_err());
    }

    #[test]
    fn a_single_manifest_names_its_config() {
        let config = format!("sha256:{}", "1".repeat(64));
        let body = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":42}},"layers":[]}}"#
        );
        assert_eq!(
            parse(&body, Some(OCI_MANIFEST)).unwrap(),
            Manifest::Single {
                config: config.parse().unwrap(),
                config_size: 42
            }
        );
        assert!(parse("{}", Some(DOCKER_MANIFEST_V2))
            .unwrap_err()
            .contains("config"));
        assert!(parse("not json", None).unwrap_err().contains("JSON"));
    }

    #[test]
    fn a_config_blob_must_match_its_digest() {
        let blob = br#"{"os":"linux","architecture":"arm64"}"#;
        let digest = Digest::of_bytes(blob);
        assert_eq!(
            config_platform(blob, &digest).unwrap().to_string(),
            "linux/arm64"
        );
        let other = Digest::of_bytes(b"other");
        assert!(config_platform(blob, &other).unwrap_err().contains("names"));
        let bare = br#"{"rootfs":{}}"#;
        assert!(config_platform(bare, &Digest::of_bytes(bare)).is_err());
    }
}
