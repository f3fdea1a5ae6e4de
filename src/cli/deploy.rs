//! `bluegreen deploy`: the flags that describe what to deploy (the same on every transport),
//! and the command that sends it to the target's hosts.

use crate::agent::canary::spec::{parse_alarms, CanarySpec, RawCanary};
use crate::agent::options::{strs, ContainerOptions, RawOptions};
use crate::agent::protocol::{AgentRequest, DeploySpec, EnvVar, PullPolicy};
use crate::agent::spec::{self, parse_env_lines, DeployConfig, PreSwitch, DEFAULT_PROXY_IMAGE};
use crate::duration::parse_flag as parse_duration_arg;
use crate::exit::{ExitCode, UsageError};
use crate::fleet::{command, TargetArgs};
use crate::output::OutputFormat;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct DeployCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub spec: DeployArgs,
    /// SSM: the environment of the fleet lock /bluegreen/locks/<app>/<environment>.
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// SSM: how long to wait for the fleet lock another deploy holds before refusing (exit 4).
    #[arg(long, default_value = "0s", value_parser = parse_duration_arg)]
    pub lock_wait: Duration,
    /// Output format of the reply.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `bluegreen deploy`: one request, every host of the target.
pub async fn deploy(cmd: DeployCmd) -> anyhow::Result<ExitCode> {
    let deploy_id = spec::new_deploy_id();
    let spec = cmd.spec.to_spec(&deploy_id)?;
    let in_actions = std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true");
    warn_secret_like_env(&spec.env, "--env", in_actions);
    let lock = crate::fleet::fleet_lock::LockArgs {
        environment: cmd.environment.clone(),
        wait: cmd.lock_wait,
    };
    lock.check()?;
    let request = AgentRequest::Deploy(spec);
    let done = command::run_on_target_locked(&cmd.target, request, cmd.format, Some(lock)).await?;
    Ok(done.exit)
}

/// Warns, on stderr and as a workflow annotation in Actions, for each `env` variable whose
/// name looks like a secret (see [`crate::report::redact::secret_like_name`]).
pub fn warn_secret_like_env(env: &[crate::agent::protocol::EnvVar], input: &str, in_actions: bool) {
    for var in env
        .iter()
        .filter(|v| crate::report::redact::secret_like_name(&v.name))
    {
        let warning = crate::report::redact::env_secret_warning(input, &var.name);
        if in_actions {
            let annotation = crate::gha::commands::Annotation::new(
                crate::gha::commands::AnnotationLevel::Warning,
                warning,
            );
            println!("{annotation}");
        } else {
            eprintln!("warning: {warning}");
        }
    }
}

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
    #[arg(long, default_value = spec::DEFAULT_HEALTH_PATH)]
    pub health_path: String,
    /// `Host` header of the health probes and of the verify request, for apps with a host
    /// allow-list (Django's ALLOWED_HOSTS, Rails' host authorization); default: the
    /// container's address.
    #[arg(long)]
    pub health_host: Option<String>,
    /// How long the new version may take to become healthy.
    #[arg(long, default_value = spec::DEFAULT_HEALTH_TIMEOUT, value_parser = parse_duration_arg)]
    pub health_timeout: Duration,
    /// How long the new version is watched after the switch; a failure switches back.
    #[arg(long, default_value = spec::DEFAULT_VERIFY_WINDOW, value_parser = parse_duration_arg)]
    pub verify_window: Duration,
    /// How long the prior version keeps running warm after the switch (instant rollback).
    #[arg(long, default_value = spec::DEFAULT_KEEP_WARM, value_parser = parse_duration_arg)]
    pub keep_warm: Duration,
    /// How long in-flight requests to the old version may take to finish.
    #[arg(long, default_value = spec::DEFAULT_DRAIN, value_parser = parse_duration_arg)]
    pub drain: Duration,
    /// How long Docker waits after the image's stop signal before SIGKILL when a container of
    /// the app stops (a replaced version, keep-warm's end).
    #[arg(long, default_value = spec::DEFAULT_STOP_TIMEOUT, value_parser = parse_duration_arg)]
    pub stop_timeout: Duration,
    /// Environment variable for the app, K=V (repeatable). Not for secrets.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// File of K=V lines for the app's environment.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// SSM Parameter Store path read on the host into the app's environment (secrets).
    #[arg(long)]
    pub env_from_ssm: Option<String>,
    /// When the host pulls the image: always, missing (only when it is not on the host) or
    /// never (deploy the image on the host). Default: missing for a reference by digest,
    /// always for a tag.
    #[arg(long, value_enum)]
    pub pull: Option<PullPolicy>,
    /// SSM parameter (SecureString) read on the host for registry credentials: JSON
    /// {"host:port": {"username": "...", "password": "..."}}.
    #[arg(long, value_parser = parse_ssm_parameter_arg)]
    pub registry_credentials_from_ssm: Option<String>,
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
    #[command(flatten)]
    pub container: ContainerArgs,
    /// Smoke test run in a container of the new image against the idle color before traffic
    /// moves, with BLUEGREEN_URL set to the color's loopback address: a JSON array of argv or shell
    /// words (never a shell). A non-zero exit stops the deploy with nothing switched.
    #[arg(long)]
    pub pre_switch_command: Option<String>,
    /// Where the pre-switch command runs: container (a command in a container of the new
    /// image) or host (HTTP checks the agent runs itself, `PATH [STATUS]` a line).
    #[arg(long, value_parser = ["container", "host"], requires = "pre_switch_command")]
    pub pre_switch_on: Option<String>,
    #[command(flatten)]
    pub canary: CanaryArgs,
}

/// How traffic moves to the new version, and the CloudWatch alarms watched while it does
/// (docs/deploy.md, "Canary"). Every value is checked together by
/// [`crate::agent::canary::spec::RawCanary::parse`], the one parser of the flags and the inputs.
#[derive(Debug, Clone, Default, Args)]
pub struct CanaryArgs {
    /// bluegreen (all traffic at once, the default) or canary (the new version's share of
    /// requests moves up step by step, each step judged against the old version).
    #[arg(long, value_name = "bluegreen|canary")]
    pub strategy: Option<String>,
    /// Canary: the new version's share of requests at each step, in percent, strictly
    /// increasing to 100; the word pause waits for `bluegreen promote` or `abort`
    /// (default 5,25,50,100).
    #[arg(long, value_name = "STEPS")]
    pub canary_steps: Option<String>,
    /// Canary: each step's analysis period (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub canary_interval: Option<String>,
    /// Canary: requests the new version must get in an interval; fewer makes it
    /// inconclusive (default 50).
    #[arg(long, value_name = "N")]
    pub canary_min_requests: Option<String>,
    /// Canary: highest share of failed responses of the new version, unless twice the old
    /// version's share is higher (default 1%).
    #[arg(long, value_name = "PERCENT")]
    pub canary_max_error_rate: Option<String>,
    /// Canary: highest ratio of the new version's average response time to the old one's,
    /// plus 5 ms (default 1.5).
    #[arg(long, value_name = "RATIO")]
    pub canary_max_latency_ratio: Option<String>,
    /// Canary: failed intervals that abort it (default 1).
    #[arg(long, value_name = "N")]
    pub canary_failure_limit: Option<String>,
    /// Canary: how long a pause step waits for promote or abort before it aborts (default 1h).
    #[arg(long, value_name = "DURATION")]
    pub canary_pause_timeout: Option<String>,
    /// Canary over a fleet: first (the first batch runs it, the later ones go blue-green
    /// once it promoted; the default) or every (each batch runs it).
    #[arg(long, value_name = "first|every")]
    pub canary_batches: Option<String>,
    /// A CloudWatch alarm (repeatable): in state ALARM during a canary step or the verify
    /// window, it aborts the deploy or switches it back.
    #[arg(long = "alarm", value_name = "NAME")]
    pub alarm: Vec<String>,
}

impl CanaryArgs {
    /// The canary (`None` for blue-green) and the alarms; an error names the flag, the value
    /// and what was expected.
    pub fn parse(&self) -> Result<(Option<CanarySpec>, Vec<String>), UsageError> {
        let raw = RawCanary {
            strategy: self.strategy.as_deref(),
            canary_steps: self.canary_steps.as_deref(),
            canary_interval: self.canary_interval.as_deref(),
            canary_min_requests: self.canary_min_requests.as_deref(),
            canary_max_error_rate: self.canary_max_error_rate.as_deref(),
            canary_max_latency_ratio: self.canary_max_latency_ratio.as_deref(),
            canary_failure_limit: self.canary_failure_limit.as_deref(),
            canary_pause_timeout: self.canary_pause_timeout.as_deref(),
            canary_batches: self.canary_batches.as_deref(),
        };
        let usage = |e: crate::agent::canary::spec::CanaryError| UsageError(e.to_string());
        let canary = raw.parse().map_err(usage)?;
        let alarms = parse_alarms(self.alarm.iter().map(String::as_str)).map_err(usage)?;
        Ok((canary, alarms))
    }
}

/// The app's container options, applied to both colors and part of the version
/// (docs/deploy.md, "Container options").
#[derive(Debug, Clone, Default, Args)]
pub struct ContainerArgs {
    /// Volume of the app: SRC:DST[:ro], SRC a named volume or an absolute host path
    /// (repeatable).
    #[arg(long = "volume", value_name = "SRC:DST[:ro]")]
    pub volume: Vec<String>,
    /// Memory limit of each of the app's containers (512m, 2g).
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU limit of each of the app's containers (0.5, 2).
    #[arg(long)]
    pub cpus: Option<String>,
    /// The command run instead of the image's: a JSON array of argv, or shell words split into
    /// argv (never run through a shell; write `sh -c` for one).
    #[arg(long)]
    pub command: Option<String>,
    /// The user the app runs as: NAME, UID, NAME:GROUP or UID:GID.
    #[arg(long)]
    pub user: Option<String>,
    /// A user-defined Docker network on the host the app joins (to reach a database
    /// container).
    #[arg(long)]
    pub network: Option<String>,
    /// An /etc/hosts entry of the app, NAME:IP (repeatable).
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// A label of the app's containers, KEY=VALUE (repeatable; not bluegreen.*).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The Docker log driver of the app's containers (json-file, local, awslogs, ...).
    #[arg(long)]
    pub log_driver: Option<String>,
    /// An option of the log driver, KEY=VALUE (repeatable).
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Restart policy of the app's containers: no, or unless-stopped (the default).
    #[arg(long)]
    pub restart: Option<String>,
}

impl ContainerArgs {
    /// The options, parsed; an error names the flag, the value and what was expected.
    pub fn options(&self) -> Result<ContainerOptions, UsageError> {
        let raw = RawOptions {
            volume: strs(&self.volume),
            memory: self.memory.as_deref(),
            cpus: self.cpus.as_deref(),
            command: self.command.as_deref(),
            user: self.user.as_deref(),
            network: self.network.as_deref(),
            add_host: strs(&self.add_host),
            label: strs(&self.label),
            log_driver: self.log_driver.as_deref(),
            log_opt: strs(&self.log_opt),
            restart: self.restart.as_deref(),
        };
        ContainerOptions::parse(&raw)
            .map_err(|e| UsageError(format!("--{} {:?}: {}", e.input, e.value, e.expected)))
    }
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

/// The name of one SSM parameter.
fn parse_ssm_parameter_arg(s: &str) -> Result<String, String> {
    crate::agent::validate::registry_credentials_from_ssm(s)
        .map(|()| s.to_string())
        .map_err(|e| format!("expected {}", e.expected()))
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
        let (canary, alarms) = self.canary.parse()?;
        let settings = DeployConfig {
            app: self.app.clone(),
            image: self.image.clone(),
            public_port: self.public_port,
            container_port: self.container_port,
            public_address: Some(self.public_address.clone()),
            health_path: self.health_path.clone(),
            health_host: self.health_host.clone(),
            health_timeout: self.health_timeout,
            verify_window: self.verify_window,
            keep_warm: self.keep_warm,
            drain: self.drain,
            stop_timeout: self.stop_timeout,
            env,
            env_from_ssm: self.env_from_ssm.clone(),
            proxy_image: self.proxy_image.clone(),
            proxy_lines: self.proxy_lines.clone(),
            pull: self.pull,
            registry_credentials_from_ssm: self.registry_credentials_from_ssm.clone(),
            container: self.container.options()?,
            pre_switch: self
                .pre_switch_command
                .as_deref()
                .map(|c| {
                    let on = self.pre_switch_on.as_deref().unwrap_or("container");
                    PreSwitch::parse(on, c)
                        .map_err(|e| UsageError(format!("--pre-switch-command {c:?}: {e}")))
                })
                .transpose()?,
            canary,
            alarms,
        };
        Ok(DeploySpec {
            // A deploy from a workflow step names its run in the hosts' history.
            run_url: crate::gha::runner::RunnerEnv::from_env().run_url(),
            ..settings.spec(&self.image, deploy_id)
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        canary: CanaryArgs,
    }

    fn parse(args: &[&str]) -> Result<(Option<CanarySpec>, Vec<String>), UsageError> {
        let argv = std::iter::once("deploy").chain(args.iter().copied());
        Flags::try_parse_from(argv).unwrap().canary.parse()
    }

    #[test]
    fn canary_flags_parse_together_and_errors_name_the_flag() {
        let (canary, alarms) = parse(&[
            "--strategy=canary",
            "--canary-steps=10,pause,100",
            "--canary-max-latency-ratio=2",
            "--alarm=shop-5xx",
            "--alarm=shop-p99",
        ])
        .unwrap();
        let canary = canary.unwrap();
        assert_eq!(canary.steps_line(), "10 %, pause, 100 %");
        assert_eq!(canary.max_latency_ratio_milli, 2_000);
        assert_eq!(alarms, ["shop-5xx", "shop-p99"]);
        // Alarms alone watch a blue-green deploy.
        let (canary, alarms) = parse(&["--alarm=shop-5xx"]).unwrap();
        assert_eq!((canary, alarms.len()), (None, 1));
        let e = parse(&["--strategy=canary", "--canary-max-error-rate=2"]).unwrap_err();
        assert!(
            e.0.starts_with("--canary-max-error-rate \"2\": expected a percentage")
                && e.0.contains("such as 1% or 0.5%"),
            "{e}"
        );
        let e = parse(&["--canary-steps=5,100"]).unwrap_err();
        assert!(e.0.contains("--strategy canary as well"), "{e}");
    }
}
