//! The local target from inside a container: the agent runs as a sibling container on the
//! host network.
//!
//! A container action runs without the host's network, so from inside it the colors' and the
//! proxy's loopback ports are out of reach. The local transport then does on this host what the
//! SSM script does on an instance: it starts the agent image (its own image) with
//! `--network host`, the Docker socket and the state directory mounted, and reads the one
//! marked reply line from its output.

use crate::agent::{AgentReply, AgentRequest};
use anyhow::{bail, Context};
use base64::Engine;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::path::PathBuf;

/// Set to an image to force the sibling mode with that image (tests, unusual runners).
pub const AGENT_IMAGE_ENV: &str = "BLUEGREEN_AGENT_IMAGE";

/// Set to `1` by the action image itself (Dockerfile and scripts/build-image).
pub const IMAGE_MARKER_ENV: &str = "BLUEGREEN_ACTION_IMAGE";

/// An agent started as a sibling container for each request.
#[derive(Debug, Clone)]
pub struct SiblingAgent {
    docker: Docker,
    image: String,
    state_dir: PathBuf,
}

impl SiblingAgent {
    /// `None` unless this process is a container action (`GITHUB_ACTIONS=true` inside a
    /// container) or [`AGENT_IMAGE_ENV`] is set: elsewhere the agent runs in-process.
    pub async fn detect() -> anyhow::Result<Option<SiblingAgent>> {
        let forced = std::env::var(AGENT_IMAGE_ENV)
            .ok()
            .filter(|v| !v.is_empty());
        // The image's own marker, not /.dockerenv: job containers and containerized runners
        // are containers too, but their image is not this one.
        let container_action = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
            && std::env::var(IMAGE_MARKER_ENV).as_deref() == Ok("1");
        if forced.is_none() && !container_action {
            return Ok(None);
        }
        let docker = Docker::connect_with_local_defaults().context(
            "connecting to the Docker daemon through its socket (is /var/run/docker.sock mounted?)",
        )?;
        let image = match forced {
            Some(image) => image,
            None => own_image(&docker).await?,
        };
        let state_dir = std::env::var_os("BLUEGREEN_STATE_DIR").map_or_else(
            || PathBuf::from(crate::agent::DEFAULT_STATE_DIR),
            PathBuf::from,
        );
        Ok(Some(SiblingAgent {
            docker,
            image,
            state_dir,
        }))
    }

    pub fn image(&self) -> &str {
        &self.image
    }

    /// Runs one request in a fresh agent container and returns its reply.
    pub async fn run(&self, request: &AgentRequest) -> anyhow::Result<AgentReply> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(request)?);
        let name = format!("bluegreen-agent-{}", uuid::Uuid::new_v4().simple());
        let state = self.state_dir.display().to_string();
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["agent".into(), "--request".into(), encoded]),
            env: Some(agent_env(&state)),
            host_config: Some(HostConfig {
                // The reply is read back from the container's log: a driver that can be read
                // back whatever the daemon's default is (awslogs, syslog and none cannot).
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    config: None,
                }),
                network_mode: Some("host".into()),
                binds: Some(vec![
                    "/var/run/docker.sock:/var/run/docker.sock".into(),
                    format!("{state}:{state}"),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("creating the agent container from {}", self.image))?;
        let result = self.start_and_collect(&name).await;
        let remove = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = self.docker.remove_container(&name, Some(remove)).await;
        let (stdout, stderr) = result?;
        AgentReply::from_stdout(&stdout).with_context(|| {
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            format!(
                "agent container {} gave no reply; its last error lines: {}",
                self.image,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        })
    }

    async fn start_and_collect(&self, name: &str) -> anyhow::Result<(String, String)> {
        self.docker
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .with_context(|| format!("starting the agent container {name}"))?;
        let mut wait = self
            .docker
            .wait_container(name, None::<WaitContainerOptions>);
        while let Some(status) = wait.next().await {
            // A non-zero exit is an outcome (failed deploy, nothing to roll back): the reply
            // line says which. Only a missing reply is an error.
            if let Err(e) = status {
                if !matches!(e, bollard::errors::Error::DockerContainerWaitError { .. }) {
                    return Err(e).context("waiting for the agent container");
                }
            }
        }
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        let (mut stdout, mut stderr) = (String::new(), String::new());
        while let Some(chunk) = logs.next().await {
            match chunk.context("reading the agent container's output")? {
                bollard::container::LogOutput::StdOut { message } => {
                    stdout.push_str(&String::from_utf8_lossy(&message))
                }
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                _ => {}
            }
        }
        Ok((stdout, stderr))
    }
}

/// What the agent container inherits: its state directory, and the AWS settings and
/// credentials of this process (aws-actions/configure-aws-credentials exports them), so it can
/// pull from ECR and read Parameter Store as the in-process agent would. Passed through the
/// Docker API, never on a command line.
fn agent_env(state: &str) -> Vec<String> {
    let mut env = vec![format!("BLUEGREEN_STATE_DIR={state}")];
    env.extend(
        std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k == "BLUEGREEN_LOCK_WAIT")
            .map(|(k, v)| format!("{k}={v}")),
    );
    env
}

/// The image this container runs, found by asking the daemon about our own container.
async fn own_image(docker: &Docker) -> anyhow::Result<String> {
    let id = std::env::var("HOSTNAME").unwrap_or_default();
    if id.is_empty() {
        bail!("running in a container without HOSTNAME: set {AGENT_IMAGE_ENV} to the agent image");
    }
    let info = docker
        .inspect_container(&id, None::<bollard::query_parameters::InspectContainerOptions>)
        .await
        .with_context(|| {
            format!("finding this container ({id}) to learn its image: set {AGENT_IMAGE_ENV} to the agent image")
        })?;
    info.config
        .and_then(|c| c.image)
        .filter(|i| !i.is_empty())
        .with_context(|| format!("container {id} has no image name: set {AGENT_IMAGE_ENV}"))
}
