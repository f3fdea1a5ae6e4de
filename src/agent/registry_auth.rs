//! The credentials a pull sends to the image's registry, found on the host, first found wins:
//!
//! 1. the Parameter Store parameter `--registry-credentials-from-ssm` names (JSON
//!    `{"host:port": {"username": "...", "password": "..."}}`, read on the host with the
//!    instance role, never carried in the request);
//! 2. for an exact ECR host, a token from GetAuthorizationToken (the instance role);
//! 3. the host's Docker config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
//!    the credential helper `credHelpers` names for the registry, then the `credsStore`, then
//!    the `auths` entry. A helper that has no credentials for the registry passes to the next
//!    source; with none left, the pull is anonymous.
//!
//! The instance role's ECR token reads every repository of the account, so it is requested
//! and handed to the daemon only for a host that is exactly
//! `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]` ([`ImageRef::ecr`]); a look-alike host is an
//! ordinary registry and gets at most what the sources above hold for that very host. For an
//! exact ECR host the Docker config is not read: the token is what `docker-credential-ecr-login`
//! would get, without a helper binary.
//!
//! Credential helpers speak the docker-credential-helpers protocol: `docker-credential-NAME get`
//! with the server address on stdin (`https://index.docker.io/v1/` for Docker Hub, the
//! registry's `host[:port]` otherwise), answering `{"ServerURL", "Username", "Secret"}`.
//! Every secret found is added to the reply's redaction ([`secrets::remember`]); none is
//! ever part of a message.

use super::secrets;
use super::Host;
use crate::image::reference::{EcrRegistry, ImageRef};
use anyhow::{bail, Context};
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The server address of Docker Hub in Docker configs and the helper protocol.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// How long a credential helper may take to answer.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the helper answers when it holds nothing for the server (the protocol's wording).
const NOT_FOUND: &str = "credentials not found";

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
struct Login {
    username: String,
    secret: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, ***)", self.username)
    }
}

impl Login {
    fn credentials(self, server: &str) -> DockerCredentials {
        secrets::remember([self.secret.clone()]);
        // The helper protocol's way of saying "this secret is an identity token".
        if self.username == "<token>" {
            return DockerCredentials {
                identitytoken: Some(self.secret),
                serveraddress: Some(server.to_string()),
                ..Default::default()
            };
        }
        DockerCredentials {
            username: Some(self.username),
            password: Some(self.secret),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        }
    }
}

/// Where a host finds registry credentials for one deploy. The Parameter Store parameter is
/// read at most once, and only when an image is actually pulled.
pub struct Sources {
    docker_config: Option<PathBuf>,
    from_ssm: Option<String>,
    ssm: tokio::sync::OnceCell<BTreeMap<String, Login>>,
}

impl Sources {
    pub fn new(docker_config: Option<&Path>, from_ssm: Option<&str>) -> Sources {
        Sources {
            docker_config: docker_config.map(Path::to_path_buf),
            from_ssm: from_ssm.map(str::to_string),
            ssm: tokio::sync::OnceCell::new(),
        }
    }

    /// The credentials for the registry of `reference`, or `None` for an anonymous pull.
    pub async fn for_image(
        &self,
        host: &Host,
        reference: &ImageRef,
    ) -> anyhow::Result<Option<DockerCredentials>> {
        let registry = reference.registry.as_deref().unwrap_or("docker.io");
        let key = host_key(registry);
        // The address Docker configs and helpers know the registry by.
        let server = if key == "docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if let Some(name) = &self.from_ssm {
            let logins = self
                .ssm
                .get_or_try_init(|| async { read_parameter(host, name).await })
                .await?;
            if let Some(login) = logins.iter().find(|(k, _)| host_key(k) == key) {
                return Ok(Some(login.1.clone().credentials(server)));
            }
        }
        if let Some(ecr) = reference.ecr() {
            return ecr_token(host, &ecr).await.map(Some);
        }
        let Some(dir) = &self.docker_config else {
            return Ok(None);
        };
        let Some(config) = DockerConfig::load(dir)? else {
            return Ok(None);
        };
        let path = dir.join("config.json");
        let helper = config
            .cred_helpers
            .iter()
            .find(|(k, _)| host_key(k) == key)
            .map(|(_, helper)| (helper, "credHelpers"));
        let store = config.creds_store.as_ref().map(|s| (s, "credsStore"));
        for (helper, field) in helper.into_iter().chain(store) {
            let origin = format!("{field} of {}", path.display());
            if let Some(login) = helper_get(helper, server, registry, &origin).await? {
                return Ok(Some(login.credentials(server)));
            }
        }
        let entry = config.auths.iter().find(|(k, _)| host_key(k) == key);
        match entry {
            None => Ok(None),
            Some((k, entry)) => entry
                .login()
                .map(|login| login.map(|l| l.credentials(server)))
                .with_context(|| format!("{}: auths entry {k:?}", path.display())),
        }
    }
}

/// A registry as config keys name it, reduced to `host[:port]`: `https://reg:5000/v2/` and
/// `reg:5000` are the same registry, and so are Docker Hub's several names.
fn host_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// The parts of a Docker config a pull uses.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl AuthEntry {
    /// `auth` (base64 of `user:password`) or `identitytoken`; an empty entry (what `docker
    /// login` leaves next to a credential store) holds nothing.
    fn login(&self) -> anyhow::Result<Option<Login>> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Login {
                username: "<token>".into(),
                secret: token.to_string(),
            }));
        }
        match self.auth.as_deref().filter(|a| !a.is_empty()) {
            None => Ok(None),
            Some(auth) => {
                let (username, secret) =
                    decode_basic(auth).context("\"auth\" is not base64 of user:password")?;
                Ok(Some(Login { username, secret }))
            }
        }
    }
}

impl DockerConfig {
    /// `DIR/config.json`; `None` when there is none. A file that is there but not a Docker
    /// config is an error, as it is for `docker pull`.
    fn load(dir: &Path) -> anyhow::Result<Option<DockerConfig>> {
        let path = dir.join("config.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the Docker config {}", path.display()))
            }
        };
        // The parse error's text could quote a credential: only its position is told.
        let config: DockerConfig = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "the Docker config {} is not valid (line {}, column {}): expected JSON with \
                 \"auths\", \"credHelpers\" and \"credsStore\" as docker login writes them",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        Ok(Some(config))
    }
}

/// A helper name is the suffix of `docker-credential-NAME`, never a path.
fn helper_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `docker-credential-NAME get` for `server`; `None` when the helper holds nothing for it.
async fn helper_get(
    name: &str,
    server: &str,
    registry: &str,
    origin: &str,
) -> anyhow::Result<Option<Login>> {
    if !helper_name_ok(name) {
        bail!(
            "credential helper {name:?} ({origin}): expected the NAME of a docker-credential-NAME program on PATH"
        );
    }
    let program = format!("docker-credential-{name}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                "it is not on PATH".to_string()
            } else {
                e.to_string()
            };
            anyhow::anyhow!(
                "cannot run the credential helper {program} ({origin}) for {registry}: {why}"
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its answer below.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the credential helper {program} ({origin}) did not answer for {registry} within {} s",
                HELPER_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("the credential helper {program} ({origin}) for {registry}"))?;
    if !output.status.success() {
        // Helpers print their error on stdout; it names no secret (there is none to give).
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = if stdout.trim().is_empty() {
            stderr.trim()
        } else {
            stdout.trim()
        };
        if said.contains(NOT_FOUND) {
            return Ok(None);
        }
        let said: String = said.chars().take(300).collect();
        bail!(
            "the credential helper {program} ({origin}) failed for {registry} ({}): {said}",
            output.status
        );
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    // Never quoted: the answer holds the secret.
    let answer: Answer = serde_json::from_slice(&output.stdout).map_err(|_| {
        anyhow::anyhow!(
            "the credential helper {program} ({origin}) answered for {registry} with something \
             other than {{\"Username\": \"...\", \"Secret\": \"...\"}}"
        )
    })?;
    Ok(Some(Login {
        username: answer.username,
        secret: answer.secret,
    }))
}

/// The registry logins in the Parameter Store parameter `name`.
async fn read_parameter(host: &Host, name: &str) -> anyhow::Result<BTreeMap<String, Login>> {
    let value = secrets::parameter(host, name)
        .await
        .with_context(|| format!("--registry-credentials-from-ssm {name}"))?;
    let logins = parse_logins(name, &value)?;
    secrets::remember(logins.values().map(|l| l.secret.clone()));
    Ok(logins)
}

const LOGINS_SHAPE: &str = r#"{"registry.host:port": {"username": "...", "password": "..."}, ...}"#;

/// The parameter's JSON; errors name the parameter and the registry, never a value.
fn parse_logins(name: &str, value: &str) -> anyhow::Result<BTreeMap<String, Login>> {
    let flag = "--registry-credentials-from-ssm";
    let json: serde_json::Value = serde_json::from_str(value).map_err(|e| {
        anyhow::anyhow!(
            "{flag} {name}: the parameter is not JSON (line {}, column {}); expected {LOGINS_SHAPE}",
            e.line(),
            e.column()
        )
    })?;
    let Some(registries) = json.as_object() else {
        bail!("{flag} {name}: the parameter is not a JSON object; expected {LOGINS_SHAPE}");
    };
    if registries.is_empty() {
        bail!("{flag} {name}: the parameter names no registry; expected {LOGINS_SHAPE}");
    }
    let mut logins = BTreeMap::new();
    for (registry, entry) in registries {
        let field = |f: &str| {
            entry
                .get(f)
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let (Some(username), Some(password)) = (field("username"), field("password")) else {
            bail!(
                "{flag} {name}: the entry for {registry:?} needs non-empty \"username\" and \"password\" strings; expected {LOGINS_SHAPE}"
            );
        };
        logins.insert(
            registry.clone(),
            Login {
                username: username.to_string(),
                secret: password.to_string(),
            },
        );
    }
    Ok(logins)
}

async fn ecr_token(host: &Host, ecr: &EcrRegistry) -> anyhow::Result<DockerCredentials> {
    let client = host.ecr_client(&ecr.region).await;
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
    secrets::remember([password.clone()]);
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

    #[test]
    fn registries_match_whatever_their_key_spelling() {
        assert_eq!(host_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(host_key("docker.io"), "docker.io");
        assert_eq!(host_key("https://Reg.example:5000/v2/"), "reg.example:5000");
        assert_eq!(host_key("reg.example:5000"), "reg.example:5000");
        assert_ne!(host_key("reg.example"), host_key("reg.example:5000"));
    }

    #[test]
    fn parameter_errors_name_the_parameter_and_never_the_value() {
        for bad in [
            r#"{"reg:5000": {"username": "u", "password": "PLANTED-pass""#,
            r#"["PLANTED-pass"]"#,
            r#"{"reg:5000": {"username": "u", "secret": "PLANTED-pass"}}"#,
            r#"{"reg:5000": "PLANTED-pass"}"#,
            "{}",
        ] {
            let e = parse_logins("/ci/registry", bad).unwrap_err().to_string();
            assert!(e.contains("/ci/registry") && e.contains("expected"), "{e}");
            assert!(!e.contains("PLANTED"), "{e}");
        }
        let ok = parse_logins(
            "/p",
            r#"{"reg:5000": {"username": "u", "password": "p4ss"}}"#,
        )
        .unwrap();
        assert_eq!(ok["reg:5000"].secret, "p4ss");
        assert!(!format!("{:?}", ok).contains("p4ss"));
    }

    #[test]
    fn a_broken_docker_config_is_an_error_that_quotes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {"reg": {"auth": "PLANTED"}}, "credsStore": 7}"#,
        )
        .unwrap();
        let e = DockerConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("config.json") && !e.contains("PLANTED"), "{e}");
        let empty = tempfile::tempdir().unwrap();
        assert!(DockerConfig::load(empty.path()).unwrap().is_none());
    }

    #[test]
    fn helper_names_are_never_paths() {
        assert!(helper_name_ok("ecr-login"));
        assert!(helper_name_ok("pass"));
        assert!(!helper_name_ok("../../bin/sh"));
        assert!(!helper_name_ok(""));
    }
}
