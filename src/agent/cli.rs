//! Command-line arguments that describe what to deploy (the same on every transport).

use super::protocol::{DeploySpec, EnvVar};
use crate::config::DeployConfig;
use crate::exit::UsageError;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The official HAProxy image (LTS line); any image with its layout works.
pub const DEFAULT_PROXY_IMAGE: &str = "haproxy:3.2";

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// App name: containers are <app>-blue, <app>-green and <app>-proxy.
    #[arg(long)]
    pub app: String,
    /// Image to deploy (a tag, or repo@sha256:... after verify-image).
    #[arg(long)]
    pub image: String,
    /// Port the proxy publishes on the host.
    #[arg(long, value_parser = parse_port_arg)]
    pub public_port: u16,
    /// Port the app listens on inside its container.
    #[arg(long, value_parser = parse_port_arg)]
    pub container_port: u16,
    /// HTTP path that answers 2xx when the app is ready.
    #[arg(long, default_value = "/health")]
    pub health_path: String,
    /// How long the new version may take to become healthy.
    #[arg(long, default_value = "60s", value_parser = parse_duration_arg)]
    pub health_timeout: Duration,
    /// How long the new version is watched after the switch; a failure switches back.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub verify_window: Duration,
    /// How long the prior version keeps running warm after the switch (instant rollback).
    #[arg(long, default_value = "5m", value_parser = parse_duration_arg)]
    pub keep_warm: Duration,
    /// How long in-flight requests to the old version may take to finish.
    #[arg(long, default_value = "10s", value_parser = parse_duration_arg)]
    pub drain: Duration,
    /// Environment variable for the app, K=V (repeatable). Not for secrets.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// File of K=V lines for the app's environment.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// SSM Parameter Store path read on the host into the app's environment (secrets).
    #[arg(long)]
    pub env_from_ssm: Option<String>,
    /// Proxy image (HAProxy layout: haproxy on PATH, config at /usr/local/etc/haproxy/haproxy.cfg).
    #[arg(long, default_value = DEFAULT_PROXY_IMAGE)]
    pub proxy_image: String,
    /// Address the proxy binds the public port to (127.0.0.1 keeps it off the network).
    #[arg(long, default_value = "0.0.0.0")]
    pub public_address: String,
    /// Extra line for the proxy's backend section (repeatable), e.g. "timeout server 120s";
    /// checked with haproxy -c before it is applied.
    #[arg(long = "proxy-line", value_name = "LINE")]
    pub proxy_lines: Vec<String>,
}

/// A TCP port, 1-65535.
pub fn parse_port_arg(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!(
            "{s:?} is not a port: expected a number from 1 to 65535"
        )),
    }
}

/// Parses durations such as `30s`, `2m`, `500ms` or a bare number of seconds.
pub fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::gha::inputs::parse_duration("duration", s).map_err(|e| {
        format!(
            "{:?} is not a duration: expected e.g. 30s, 2m or 500ms ({})",
            s, e.problem
        )
    })
}

impl DeployArgs {
    /// Turns the flags into a validated request spec.
    /// The env file's variables come first, so `--env` overrides them.
    pub fn to_spec(&self, deploy_id: &str) -> anyhow::Result<DeploySpec> {
        let mut env = match &self.env_file {
            Some(path) => read_env_file(path)?,
            None => vec![],
        };
        for kv in &self.env {
            let (name, value) = kv
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| UsageError(format!("--env {kv:?}: expected NAME=VALUE")))?;
            env.retain(|v| v.name != name);
            env.push(EnvVar {
                name: name.to_string(),
                value: value.to_string(),
            });
        }
        let settings = DeployConfig {
            app: self.app.clone(),
            image: self.image.clone(),
            public_port: self.public_port,
            container_port: self.container_port,
            public_address: Some(self.public_address.clone()),
            health_path: self.health_path.clone(),
            health_timeout: self.health_timeout,
            verify_window: self.verify_window,
            keep_warm: self.keep_warm,
            drain: self.drain,
            env,
            env_from_ssm: self.env_from_ssm.clone(),
            proxy_image: self.proxy_image.clone(),
            proxy_lines: self.proxy_lines.clone(),
        };
        Ok(settings.spec(&self.image, deploy_id))
    }
}

/// `--env-file`: `NAME=VALUE` lines; blank lines and `#` comments are skipped, values are
/// taken literally (no quotes, no expansion: nothing here goes through a shell).
fn read_env_file(path: &std::path::Path) -> anyhow::Result<Vec<EnvVar>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "--env-file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    parse_env_lines(&text).map_err(|bad| {
        UsageError(format!(
            "--env-file {}:{}: expected NAME=VALUE, found {:?}",
            path.display(),
            bad.line,
            bad.text
        ))
        .into()
    })
}

/// A line of an env list that is not `NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEnvLine {
    /// 1-based.
    pub line: usize,
    pub text: String,
}

/// `NAME=VALUE` lines (an env file, or the action's `env` input): blank lines and `#` comments
/// skipped, leading blanks and a trailing CR dropped, the value taken literally, a later
/// definition of a name replacing an earlier one. Names are checked by
/// [`super::validate::env_name`].
pub fn parse_env_lines(text: &str) -> Result<Vec<EnvVar>, BadEnvLine> {
    let mut vars: Vec<EnvVar> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start().trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| BadEnvLine {
                line: n + 1,
                text: line.to_string(),
            })?;
        vars.retain(|v| v.name != name);
        vars.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(vars)
}

/// `bluegreen agent`: the host side, as started by SSM Run Command.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The request, as base64 of its JSON.
    #[arg(long)]
    pub request: String,
}

/// `bluegreen agent --request <base64 JSON>`: runs the request on this host and prints the
/// one marked reply line; the exit code is the outcome's. Errors that end the agent early
/// print no reply line, and the transport reports the exit code and stderr instead.
pub async fn run_agent(args: AgentArgs) -> anyhow::Result<crate::exit::ExitCode> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(args.request.trim())
        .map_err(|e| {
            UsageError(format!(
                "--request: expected base64 of a JSON request ({e})"
            ))
        })?;
    let request: super::AgentRequest = serde_json::from_slice(&raw)
        .map_err(|e| UsageError(format!("--request: not a valid agent request ({e})")))?;
    let events = crate::report::EventLog::new();
    let reply = super::handle(request, &events).await?;
    println!("{}", reply.to_marked_line()?);
    Ok(reply.outcome.exit_code())
}
