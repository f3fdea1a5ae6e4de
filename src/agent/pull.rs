//! Pulls the image before anything changes on the host, with the registry's credentials:
//! from the Docker config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), or for
//! ECR a token from GetAuthorizationToken through the default AWS credential chain (the
//! instance role on EC2): no AWS CLI, no helper binary.
//!
//! The token is the instance role's read access to every repository of the account, so it is
//! requested and handed to the daemon only for a host that is exactly
//! `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]` ([`ImageRef::ecr`]); a look-alike host is an
//! ordinary registry and gets at most what the Docker config holds for that very host.

use super::Host;
use crate::image::reference::{EcrRegistry, ImageRef};
use anyhow::{bail, Context};
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

/// The pulled image's content digest (`sha256:...`) when the registry gave one.
pub async fn pull(host: &Host, image: &str) -> anyhow::Result<Option<String>> {
    let reference = ImageRef::parse(image).map_err(|e| anyhow::anyhow!("cannot pull {e}"))?;
    let credentials = credentials_for(&reference).await?;
    let options = CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut stream = host.docker.create_image(Some(options), None, credentials);
    while let Some(progress) = stream.next().await {
        let info = progress.with_context(|| format!("cannot pull {image}"))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("cannot pull {image}: {err}");
        }
    }
    digest_of(host, image, &reference).await
}

/// Makes sure an image is present, pulling it only when it is not (the proxy image).
pub async fn ensure_present(host: &Host, image: &str) -> anyhow::Result<()> {
    if host.docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    pull(host, image).await.map(|_| ())
}

async fn digest_of(
    host: &Host,
    image: &str,
    reference: &ImageRef,
) -> anyhow::Result<Option<String>> {
    let inspect = host
        .docker
        .inspect_image(image)
        .await
        .with_context(|| format!("pulled {image} but cannot inspect it"))?;
    let repo = reference.name();
    Ok(inspect
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .find_map(|d| d.strip_prefix(&format!("{repo}@")).map(str::to_string)))
}

/// The credentials sent with the pull: an ECR token for an exact ECR host, otherwise the
/// Docker config's entry for that very host (Docker Hub's for a reference without one).
pub async fn credentials_for(reference: &ImageRef) -> anyhow::Result<Option<DockerCredentials>> {
    if let Some(ecr) = reference.ecr() {
        return ecr_token(&ecr).await.map(Some);
    }
    Ok(match &reference.registry {
        Some(registry) => docker_config_auth(registry),
        None => docker_config_auth("https://index.docker.io/v1/"),
    })
}

async fn ecr_token(ecr: &EcrRegistry) -> anyhow::Result<DockerCredentials> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(ecr.region.clone()))
        .load()
        .await;
    let client = aws_sdk_ecr::Client::new(&config);
    let registry = &ecr.host;
    let answer = client
        .get_authorization_token()
        .send()
        .await
        .with_context(|| format!("cannot get an ECR token for {registry} (GetAuthorizationToken through the default AWS credential chain)"))?;
    let token = answer
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .context("GetAuthorizationToken returned no token")?;
    let (username, password) =
        decode_basic(token).context("the ECR token is not base64 of user:password")?;
    Ok(DockerCredentials {
        username: Some(username),
        password: Some(password),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    })
}

fn decode_basic(b64: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// `auths.<registry>.auth` from the Docker config, if there is one.
fn docker_config_auth(registry: &str) -> Option<DockerCredentials> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find(|(key, _)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        host == registry || key.as_str() == registry
    })?;
    let (username, password) = decode_basic(entry.1.get("auth")?.as_str()?)?;
    Some(DockerCredentials {
        username: Some(username),
        password: Some(password),
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decodes() {
        assert_eq!(
            decode_basic("QVdTOnNlY3JldA=="),
            Some(("AWS".into(), "secret".into()))
        );
        assert_eq!(decode_basic("!!"), None);
    }
}
