//! Makes the deploy's image present before anything changes on the host, as the pull policy
//! says ([`PullPolicy`]: `always`, `missing`, `never`), with the registry's credentials
//! ([`registry_auth::Sources`]).

use super::protocol::PullPolicy;
use super::registry_auth;
use super::Host;
use crate::image::reference::ImageRef;
use anyhow::{bail, Context};
use bollard::models::ImageInspect;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

/// The image a deploy runs, as found on the host after the pull step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    /// Its registry content digest (`sha256:...`), when it came from a registry.
    pub digest: Option<String>,
    /// Docker's image id (`sha256:...` of its config): what identifies an image built on the
    /// host, which has no registry digest.
    pub id: Option<String>,
    /// Whether this run pulled it (false: already on the host, the registry not contacted).
    pub pulled: bool,
}

/// Makes `image` present as `policy` says (`None`: [`PullPolicy::default_for`] the reference).
pub async fn image(
    host: &Host,
    image: &str,
    policy: Option<PullPolicy>,
    auth: &registry_auth::Sources,
) -> anyhow::Result<(PullPolicy, Present)> {
    let reference = ImageRef::parse(image).map_err(|e| anyhow::anyhow!("cannot pull {e}"))?;
    let policy = policy.unwrap_or_else(|| PullPolicy::default_for(&reference));
    let local = local(host, image).await?;
    let present = match (policy, local) {
        (PullPolicy::Never, None) => bail!(
            "{image} is not on this host and --pull never does not pull it: build or load it \
             on the host first, or deploy with --pull missing"
        ),
        (PullPolicy::Never | PullPolicy::Missing, Some(found)) => {
            present(&found, &reference, false)
        }
        (_, local) => match pull(host, image, &reference, auth).await {
            Ok(()) => {
                let found = local_after_pull(host, image).await?;
                present(&found, &reference, true)
            }
            Err(e) if local.is_some() => bail!(
                "{e:#}; {image} is on this host from an earlier pull or build: use --pull never \
                 to deploy the local image"
            ),
            Err(e) => return Err(e),
        },
    };
    Ok((policy, present))
}

/// Makes sure an image is present, pulling it only when it is not (the proxy image).
pub async fn ensure_present(
    host: &Host,
    image: &str,
    auth: &registry_auth::Sources,
) -> anyhow::Result<()> {
    if local(host, image).await?.is_some() {
        return Ok(());
    }
    let reference = ImageRef::parse(image).map_err(|e| anyhow::anyhow!("cannot pull {e}"))?;
    pull(host, image, &reference, auth).await
}

/// The image as the daemon has it, `None` when it has not.
async fn local(host: &Host, image: &str) -> anyhow::Result<Option<ImageInspect>> {
    let inspect = host.docker.inspect_image(image);
    match host
        .read(format!("docker image inspect {image}"), inspect)
        .await
    {
        Ok(found) => Ok(Some(found)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot inspect {image}"))),
    }
}

async fn local_after_pull(host: &Host, image: &str) -> anyhow::Result<ImageInspect> {
    let inspect = host.docker.inspect_image(image);
    host.read(format!("docker image inspect {image}"), inspect)
        .await
        .with_context(|| format!("pulled {image} but cannot inspect it"))
}

async fn pull(
    host: &Host,
    image: &str,
    reference: &ImageRef,
    auth: &registry_auth::Sources,
) -> anyhow::Result<()> {
    let work = pull_image(host, image, reference, auth);
    host.command(format!("docker pull {image}"), work).await
}

async fn pull_image(
    host: &Host,
    image: &str,
    reference: &ImageRef,
    auth: &registry_auth::Sources,
) -> anyhow::Result<()> {
    let credentials = auth.for_image(host, reference).await?;
    let options = CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut stream = host.docker.create_image(Some(options), None, credentials);
    while let Some(progress) = stream.next().await {
        let info = match progress {
            Ok(info) => info,
            Err(e) => {
                let e = e.to_string();
                bail!("cannot pull {image}: {e}{}", login_hint(&e));
            }
        };
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("cannot pull {image}: {err}{}", login_hint(&err));
        }
    }
    Ok(())
}

/// What to do when the registry refused the pull for want of a login.
fn login_hint(err: &str) -> &'static str {
    let err = err.to_ascii_lowercase();
    let refused = [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
    ]
    .iter()
    .any(|s| err.contains(s));
    if refused {
        " (the registry wants a login: give the host credentials in its Docker config, \
         through a credential helper, or with --registry-credentials-from-ssm)"
    } else {
        ""
    }
}

fn present(found: &ImageInspect, reference: &ImageRef, pulled: bool) -> Present {
    let repo = reference.name();
    let digest = found
        .repo_digests
        .iter()
        .flatten()
        .find_map(|d| d.strip_prefix(&format!("{repo}@")).map(str::to_string));
    Present {
        digest,
        id: found.id.clone(),
        pulled,
    }
}
