//! What the manifest says the image is: its platforms, and for an index its images.

use super::client::EcrClient;
use super::error::VerifyError;
use super::manifest::{self, IndexChild, Manifest};
use super::reference::{Digest, Platform};
use super::verdict::PlatformSource;

/// What the manifest says about the image: its platforms, and for an index its images.
pub(super) struct Layout {
    pub(super) platforms: Vec<Platform>,
    pub(super) source: PlatformSource,
    pub(super) children: Vec<IndexChild>,
}

/// Platforms from the index, or from the config blob of a single-arch manifest. A config
/// blob that cannot be read leaves the platforms unknown with the reason, rather than
/// failing the whole verification: the platform check (if asked for) fails with it.
pub(super) async fn read_layout(
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
