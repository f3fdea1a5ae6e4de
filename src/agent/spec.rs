//! What a deploy request is made from, wherever it is made (the `deploy` flags, the action's
//! inputs): the validated settings ([`DeployConfig`]) and their defaults, the `NAME=VALUE` env
//! lines, and the deploy id.
//! Written once here, next to the protocol, so the CLI and the action cannot drift apart.

use super::protocol::{DeploySpec, EnvVar, PullPolicy};
pub use crate::duration::saturating_ms;
use std::time::Duration;

/// The official HAProxy image (LTS line); any image with its layout works.
pub const DEFAULT_PROXY_IMAGE: &str = "haproxy:3.2";
/// The app's health path when none is given.
pub const DEFAULT_HEALTH_PATH: &str = "/health";
/// How long the new version may take to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: &str = "60s";
/// How long the new version is watched after the switch.
pub const DEFAULT_VERIFY_WINDOW: &str = "10s";
/// How long the prior version keeps running warm after the switch.
pub const DEFAULT_KEEP_WARM: &str = "5m";
/// How long in-flight requests to the old version may take to finish.
pub const DEFAULT_DRAIN: &str = "10s";
/// How long Docker waits after a container's stop signal before SIGKILL.
pub const DEFAULT_STOP_TIMEOUT: &str = "10s";

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

/// A deploy id: UTC time plus a short random suffix, sortable and unique enough per app.
pub fn new_deploy_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &suffix[..6]
    )
}

/// The deploy part of the configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    pub app: String,
    pub image: String,
    pub public_port: u16,
    pub container_port: u16,
    pub public_address: Option<String>,
    pub health_path: String,
    pub health_host: Option<String>,
    pub health_timeout: Duration,
    pub verify_window: Duration,
    pub keep_warm: Duration,
    pub drain: Duration,
    pub stop_timeout: Duration,
    pub env: Vec<EnvVar>,
    pub env_from_ssm: Option<String>,
    pub proxy_image: String,
    pub proxy_lines: Vec<String>,
    /// `None`: the default for the reference ([`PullPolicy::default_for`]), chosen on the host.
    pub pull: Option<PullPolicy>,
    pub registry_credentials_from_ssm: Option<String>,
    pub container: super::options::ContainerOptions,
    pub pre_switch: Option<PreSwitch>,
    /// `None`: blue-green.
    pub canary: Option<super::canary::spec::CanarySpec>,
    pub alarms: Vec<String>,
}

/// The smoke test before traffic moves (`pre-switch-command`, `pre-switch-on`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreSwitch {
    /// A command in a container of the new image (`pre-switch-on: container`, the default).
    Container(Vec<String>),
    /// HTTP checks the agent runs itself (`pre-switch-on: host`).
    Host(Vec<super::checks::HttpCheck>),
}

/// Where the pre-switch command runs: the values of `pre-switch-on`.
pub const PRE_SWITCH_ON: [&str; 2] = ["container", "host"];

impl PreSwitch {
    /// The pre-switch command as `pre-switch-on` says to read it: argv (a JSON array or shell
    /// words) for `container`, a check list for `host`. The error says what was expected.
    pub fn parse(on: &str, command: &str) -> Result<PreSwitch, String> {
        match on {
            "container" => super::options::parse_command(command).map(PreSwitch::Container),
            "host" => match super::checks::parse(command)? {
                checks if checks.is_empty() => {
                    Err("expected at least one check, `PATH [STATUS]` a line".into())
                }
                checks => Ok(PreSwitch::Host(checks)),
            },
            other => Err(format!(
                "pre-switch-on {other:?}: expected container or host"
            )),
        }
    }
}

impl DeployConfig {
    /// The request every host's agent gets to deploy `image` (the verified digest reference,
    /// or the input as given).
    pub fn spec(&self, image: &str, deploy_id: &str) -> DeploySpec {
        let ms = crate::duration::saturating_ms;
        DeploySpec {
            app: self.app.clone(),
            image: image.to_string(),
            public_port: self.public_port,
            container_port: self.container_port,
            health_path: self.health_path.clone(),
            health_host: self.health_host.clone(),
            health_timeout_ms: ms(self.health_timeout),
            verify_window_ms: ms(self.verify_window),
            keep_warm_ms: ms(self.keep_warm),
            drain_ms: ms(self.drain),
            stop_timeout_ms: ms(self.stop_timeout),
            env: self.env.clone(),
            env_from_ssm: self.env_from_ssm.clone(),
            proxy_image: self.proxy_image.clone(),
            deploy_id: deploy_id.to_string(),
            public_address: self.public_address.clone(),
            proxy_lines: self.proxy_lines.clone(),
            pull: self.pull,
            registry_credentials_from_ssm: self.registry_credentials_from_ssm.clone(),
            run_url: None,
            container: self.container.clone(),
            pre_switch_command: match &self.pre_switch {
                Some(PreSwitch::Container(argv)) => Some(argv.clone()),
                _ => None,
            },
            pre_switch_checks: match &self.pre_switch {
                Some(PreSwitch::Host(checks)) => checks.clone(),
                _ => vec![],
            },
            canary: self.canary.clone(),
            alarms: self.alarms.clone(),
        }
    }
}
