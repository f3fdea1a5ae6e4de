//! Flags and `INPUT_*` into one validated [`RunConfig`]; every error names the input.
//!
//! One struct, [`RunInputs`], is both the clap flags of `bluegreen run` and the raw action
//! inputs read through envy: the flag `--health-timeout` and the input `health-timeout` are the
//! same field, so the CLI and the action cannot drift apart. All fields are strings as given;
//! [`RunConfig::from_inputs`] parses them once, with `core.getInput` semantics (trimmed, empty
//! means not given) and errors that name the input, the value and what was expected.

use crate::agent::protocol::{EnvVar, PullPolicy};
pub use crate::agent::spec::DeployConfig;
use crate::agent::spec::{self, parse_env_lines, saturating_ms, DEFAULT_PROXY_IMAGE};
use crate::agent::validate;
use crate::exit::UsageError;
use crate::gha::inputs::{given, parse_bool, parse_duration, parse_list, InputError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Every input of the action, and every flag of `bluegreen run`. Descriptions and defaults are
/// in `action.yml`; a test keeps the two (and the README table) in step.
#[derive(Debug, Clone, Default, Deserialize, Serialize, clap::Args)]
#[serde(rename_all = "kebab-case")]
pub struct RunInputs {
    /// App name (containers <app>-blue, <app>-green, <app>-proxy).
    #[arg(long)]
    pub app: Option<String>,
    /// Image to deploy: an ECR reference (verified, then deployed by digest) or any registry reference.
    #[arg(long)]
    pub image: Option<String>,
    /// Where to deploy: local (this host's Docker) or ssm (EC2 instances through SSM Run Command).
    #[arg(long)]
    pub target: Option<String>,
    /// Instance ids for the ssm target, comma or newline separated.
    #[arg(long)]
    pub instance_ids: Option<String>,
    /// Tag filter for the ssm target: Key=Value[,Value].
    #[arg(long)]
    pub target_tags: Option<String>,
    /// AWS region of the instances (SSM, EC2); ECR is asked in the region of the image's host.
    #[arg(long)]
    pub region: Option<String>,
    /// The agent image run on each host.
    #[arg(long)]
    pub agent_image: Option<String>,
    /// Hosts deployed at once: N or N%.
    #[arg(long)]
    pub max_concurrency: Option<String>,
    /// Failed hosts tolerated before the rollout stops and rolls back: N or N%.
    #[arg(long)]
    pub max_errors: Option<String>,
    /// Deadline of each SSM command.
    #[arg(long)]
    pub command_timeout: Option<String>,
    /// S3 bucket for full SSM command output.
    #[arg(long)]
    pub output_s3_bucket: Option<String>,
    /// CloudWatch Logs group for full SSM command output.
    #[arg(long)]
    pub cloudwatch_log_group: Option<String>,
    /// Port the proxy publishes.
    #[arg(long)]
    pub public_port: Option<String>,
    /// Port the app listens on in its container.
    #[arg(long)]
    pub container_port: Option<String>,
    /// Address the proxy binds the public port to (0.0.0.0, or 127.0.0.1 to keep it local).
    #[arg(long)]
    pub public_address: Option<String>,
    /// Health path of the app.
    #[arg(long)]
    pub health_path: Option<String>,
    /// `Host` header of the health probes and the verify request (default: the container's
    /// address).
    #[arg(long)]
    pub health_host: Option<String>,
    /// Deadline for the new version to become healthy.
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// How long the new version is watched after the switch.
    #[arg(long)]
    pub verify_window: Option<String>,
    /// How long the prior version stays warm after the switch.
    #[arg(long)]
    pub keep_warm: Option<String>,
    /// Drain time for the old version.
    #[arg(long)]
    pub drain: Option<String>,
    /// App environment, K=V per line (not for secrets).
    #[arg(long)]
    pub env: Option<String>,
    /// SSM Parameter Store path read on the host into the app's environment.
    #[arg(long)]
    pub env_from_ssm: Option<String>,
    /// When each host pulls the image: always, missing or never (default: missing for a digest, always for a tag).
    #[arg(long)]
    pub pull: Option<String>,
    /// SSM parameter read on each host for registry credentials (JSON {"host:port": {"username", "password"}}).
    #[arg(long)]
    pub registry_credentials_from_ssm: Option<String>,
    /// Proxy image (HAProxy layout).
    #[arg(long)]
    pub proxy_image: Option<String>,
    /// Extra lines for the proxy's backend section, one per line (e.g. timeout server 120s).
    #[arg(long)]
    pub proxy_lines: Option<String>,
    /// Paths to lint.
    #[arg(long)]
    pub lint_paths: Option<String>,
    /// Lint severity that fails the run: error, warning or note.
    #[arg(long)]
    pub lint_fail_on: Option<String>,
    /// Expected image digest (sha256:...).
    #[arg(long)]
    pub expect_digest: Option<String>,
    /// Maximum image age.
    #[arg(long)]
    pub max_image_age: Option<String>,
    /// Platform the instances run: linux/amd64 or linux/arm64.
    #[arg(long)]
    pub platform: Option<String>,
    /// Scan severity gate: none, low, medium, high or critical.
    #[arg(long)]
    pub scan_gate: Option<String>,
    /// How long to wait for a scan in progress.
    #[arg(long)]
    pub scan_wait: Option<String>,
    /// Stages to skip, comma separated: lint, verify-image, preflight, deploy, verify-live, report.
    #[arg(long)]
    pub skip: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub dry_run: Option<String>,
    /// GitHub environment name for the deployment and comment.
    #[arg(long)]
    pub environment: Option<String>,
    /// URL of the deployed environment.
    #[arg(long)]
    pub environment_url: Option<String>,
    /// SSM: how long to wait for the fleet lock another deploy of this app and environment
    /// holds before the run stops as locked (exit 4).
    #[arg(long)]
    pub lock_wait: Option<String>,
    /// Token for the PR comment and deployment status.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
    /// Post a sticky PR comment.
    #[arg(long)]
    pub pr_comment: Option<String>,
    /// The pull request to comment on, for events that name none (`workflow_run`,
    /// `workflow_dispatch`, merge queues).
    #[arg(long)]
    pub pr_number: Option<String>,
    /// Create a GitHub deployment with statuses.
    #[arg(long)]
    pub deployment: Option<String>,
    /// Report directory, relative to the workspace.
    #[arg(long)]
    pub report_dir: Option<String>,
}

/// Pipeline stages that can be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Lint,
    VerifyImage,
    Preflight,
    Deploy,
    VerifyLive,
    Report,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Lint,
        Stage::VerifyImage,
        Stage::Preflight,
        Stage::Deploy,
        Stage::VerifyLive,
        Stage::Report,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Lint => "lint",
            Stage::VerifyImage => "verify-image",
            Stage::Preflight => "preflight",
            Stage::Deploy => "deploy",
            Stage::VerifyLive => "verify-live",
            Stage::Report => "report",
        }
    }
}

/// Where inputs came from; only changes how an error names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `INPUT_*` of a workflow step: named like `health-timeout`.
    Action,
    /// Command-line flags: named like `--health-timeout`.
    Cli,
}

impl Origin {
    /// The input as the user named it: `health-timeout` in a workflow, `--health-timeout` on the
    /// command line.
    pub fn name(self, input: &str) -> String {
        match self {
            Origin::Action => input.to_string(),
            Origin::Cli => format!("--{input}"),
        }
    }
}

/// The whole validated configuration of `bluegreen run`.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub deploy: DeployConfig,
    pub skip: Vec<Stage>,
    pub dry_run: bool,
    pub lint_paths: Vec<PathBuf>,
    pub lint_fail_on: String,
    pub environment: String,
    pub environment_url: Option<String>,
    /// How long to wait for the fleet lock (`lock-wait`), at most an hour.
    pub lock_wait: Duration,
    pub github_token: Option<String>,
    pub pr_comment: bool,
    pub pr_number: Option<u64>,
    pub deployment: bool,
    pub report_dir: PathBuf,
    /// Inputs passed on unparsed to the stage that owns them (target, image checks).
    pub inputs: RunInputs,
    pub origin: Origin,
}

impl RunConfig {
    pub fn skips(&self, stage: Stage) -> bool {
        self.skip.contains(&stage)
    }

    /// Parses and validates every input; the first error names its input.
    pub fn from_inputs(inputs: &RunInputs, origin: Origin) -> Result<RunConfig, InputError> {
        let p = Parser { origin };
        let deploy = DeployConfig {
            app: p.app_name("app", &inputs.app)?,
            image: p.image("image", p.required("image", &inputs.image)?)?,
            public_port: p.port("public-port", &inputs.public_port, None)?,
            container_port: p.port("container-port", &inputs.container_port, None)?,
            public_address: p.address(&inputs.public_address)?,
            health_path: p.health_path(&inputs.health_path)?,
            health_host: p.health_host(&inputs.health_host)?,
            health_timeout: p.duration(
                "health-timeout",
                &inputs.health_timeout,
                spec::DEFAULT_HEALTH_TIMEOUT,
            )?,
            verify_window: p.duration(
                "verify-window",
                &inputs.verify_window,
                spec::DEFAULT_VERIFY_WINDOW,
            )?,
            keep_warm: p.duration("keep-warm", &inputs.keep_warm, spec::DEFAULT_KEEP_WARM)?,
            drain: p.duration("drain", &inputs.drain, spec::DEFAULT_DRAIN)?,
            env: p.env(&inputs.env)?,
            env_from_ssm: p.env_from_ssm(&inputs.env_from_ssm)?,
            proxy_image: p.image(
                "proxy-image",
                given(&inputs.proxy_image).unwrap_or(DEFAULT_PROXY_IMAGE),
            )?,
            proxy_lines: p.proxy_lines(&inputs.proxy_lines)?,
            pull: p.pull(&inputs.pull)?,
            registry_credentials_from_ssm: p
                .registry_credentials_from_ssm(&inputs.registry_credentials_from_ssm)?,
        };
        p.engine_limits(&deploy)?;
        Ok(RunConfig {
            deploy,
            skip: p.stages(&inputs.skip)?,
            dry_run: p.flag("dry-run", &inputs.dry_run, false)?,
            lint_paths: given(&inputs.lint_paths)
                .map(parse_list)
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            lint_fail_on: p.one_of(
                "lint-fail-on",
                &inputs.lint_fail_on,
                &["error", "warning", "note"],
                "error",
            )?,
            environment: given(&inputs.environment)
                .unwrap_or("production")
                .to_string(),
            environment_url: given(&inputs.environment_url).map(str::to_string),
            lock_wait: p.lock_wait(&inputs.lock_wait)?,
            github_token: given(&inputs.github_token).map(str::to_string),
            pr_comment: p.flag("pr-comment", &inputs.pr_comment, true)?,
            pr_number: p.pr_number(&inputs.pr_number)?,
            deployment: p.flag("deployment", &inputs.deployment, true)?,
            report_dir: p.relative_dir("report-dir", &inputs.report_dir, "bluegreen-report")?,
            inputs: inputs.clone(),
            origin,
        })
    }
}

/// Parses one input at a time, naming it the way its origin does.
struct Parser {
    origin: Origin,
}

impl Parser {
    fn err(&self, input: &str, value: &str, problem: &str, expected: &str) -> InputError {
        InputError::new(&self.origin.name(input), value, problem, expected)
    }

    fn required<'a>(&self, input: &str, value: &'a Option<String>) -> Result<&'a str, InputError> {
        given(value).ok_or_else(|| {
            self.err(
                input,
                "",
                "required input not supplied",
                "a non-empty value",
            )
        })
    }

    fn app_name(&self, input: &str, value: &Option<String>) -> Result<String, InputError> {
        let v = self.required(input, value)?;
        validate::app_name(v).map_err(|e| self.relabel(input, v, "not a valid app name", &e))?;
        Ok(v.to_string())
    }

    /// Re-labels an engine validation error with this input's name.
    fn relabel(&self, input: &str, value: &str, problem: &str, e: &UsageError) -> InputError {
        self.err(input, value, problem, &e.expected())
    }

    fn port(
        &self,
        input: &str,
        value: &Option<String>,
        default: Option<u16>,
    ) -> Result<u16, InputError> {
        let v = match (given(value), default) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d),
            (None, None) => self.required(input, value)?,
        };
        match v.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(self.err(input, v, "not a port", "a number from 1 to 65535")),
        }
    }

    fn address(&self, value: &Option<String>) -> Result<Option<String>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        validate::public_address(v)
            .map_err(|e| self.relabel("public-address", v, "not an IP address", &e))?;
        Ok(Some(v.to_string()))
    }

    fn pr_number(&self, value: &Option<String>) -> Result<Option<u64>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(self.err(
                "pr-number",
                v,
                "not a pull request number",
                "a positive number such as 42",
            )),
        }
    }

    fn health_host(&self, value: &Option<String>) -> Result<Option<String>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        validate::health_host(v)
            .map_err(|e| self.relabel("health-host", v, "not a host name", &e))?;
        Ok(Some(v.to_string()))
    }

    fn health_path(&self, value: &Option<String>) -> Result<String, InputError> {
        let v = given(value).unwrap_or(spec::DEFAULT_HEALTH_PATH);
        validate::health_path(v)
            .map_err(|e| self.relabel("health-path", v, "not an HTTP path", &e))?;
        Ok(v.to_string())
    }

    fn duration(
        &self,
        input: &str,
        value: &Option<String>,
        default: &str,
    ) -> Result<Duration, InputError> {
        let v = given(value).unwrap_or(default);
        parse_duration(&self.origin.name(input), v)
    }

    fn lock_wait(&self, value: &Option<String>) -> Result<Duration, InputError> {
        let wait = self.duration("lock-wait", value, "0s")?;
        let max = crate::fleet::fleet_lock::LockArgs::MAX_WAIT;
        if wait > max {
            return Err(InputError::new(
                &self.origin.name("lock-wait"),
                given(value).unwrap_or_default(),
                "too long",
                "at most 1h",
            ));
        }
        Ok(wait)
    }

    fn flag(&self, input: &str, value: &Option<String>, default: bool) -> Result<bool, InputError> {
        match given(value) {
            None => Ok(default),
            Some(v) => parse_bool(&self.origin.name(input), v),
        }
    }

    fn one_of(
        &self,
        input: &str,
        value: &Option<String>,
        allowed: &[&str],
        default: &str,
    ) -> Result<String, InputError> {
        let v = given(value).unwrap_or(default);
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(self.err(input, v, "not a known value", &allowed.join(", ")))
        }
    }

    fn stages(&self, value: &Option<String>) -> Result<Vec<Stage>, InputError> {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        given(value)
            .map(parse_list)
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Stage::ALL
                    .into_iter()
                    .find(|s| s.name() == item)
                    .ok_or_else(|| self.err("skip", item, "not a stage", &names.join(", ")))
            })
            .collect()
    }

    fn env(&self, value: &Option<String>) -> Result<Vec<EnvVar>, InputError> {
        let Some(text) = given(value) else {
            return Ok(Vec::new());
        };
        let vars = parse_env_lines(text).map_err(|bad| {
            self.err(
                "env",
                &bad.text,
                "not a K=V line",
                "one NAME=value per line",
            )
        })?;
        for var in &vars {
            validate::env_name(&var.name)
                .map_err(|e| self.relabel("env", &var.name, "not a variable name", &e))?;
        }
        Ok(vars)
    }

    fn image(&self, input: &str, value: &str) -> Result<String, InputError> {
        validate::image_ref(input, value)
            .map_err(|e| self.relabel(input, value, "not an image reference", &e))?;
        Ok(value.to_string())
    }

    fn env_from_ssm(&self, value: &Option<String>) -> Result<Option<String>, InputError> {
        let Some(path) = given(value) else {
            return Ok(None);
        };
        validate::env_from_ssm(path)
            .map_err(|e| self.relabel("env-from-ssm", path, "not an SSM parameter path", &e))?;
        Ok(Some(path.to_string()))
    }

    /// `None` when not given: the host picks the default for the reference.
    fn pull(&self, value: &Option<String>) -> Result<Option<PullPolicy>, InputError> {
        let Some(v) = given(value) else {
            return Ok(None);
        };
        PullPolicy::parse(v).map(Some).ok_or_else(|| {
            self.err(
                "pull",
                v,
                "not a pull policy",
                &PullPolicy::NAMES.join(", "),
            )
        })
    }

    fn registry_credentials_from_ssm(
        &self,
        value: &Option<String>,
    ) -> Result<Option<String>, InputError> {
        let Some(name) = given(value) else {
            return Ok(None);
        };
        validate::registry_credentials_from_ssm(name).map_err(|e| {
            self.relabel(
                "registry-credentials-from-ssm",
                name,
                "not an SSM parameter name",
                &e,
            )
        })?;
        Ok(Some(name.to_string()))
    }

    /// The limits the host engine puts on values that parse well on their own.
    fn engine_limits(&self, d: &DeployConfig) -> Result<(), InputError> {
        let port = d.public_port.to_string();
        validate::public_port(d.public_port)
            .map_err(|e| self.relabel("public-port", &port, "out of range", &e))?;
        let timeout = humantime::format_duration(d.health_timeout).to_string();
        validate::health_timeout_ms(saturating_ms(d.health_timeout))
            .map_err(|e| self.relabel("health-timeout", &timeout, "out of range", &e))?;
        for (input, value, max) in [
            ("verify-window", d.verify_window, validate::MAX_WAIT),
            ("keep-warm", d.keep_warm, validate::MAX_KEEP_WARM),
            ("drain", d.drain, validate::MAX_WAIT),
        ] {
            let text = humantime::format_duration(value).to_string();
            validate::at_most(&format!("--{input}"), saturating_ms(value), max)
                .map_err(|e| self.relabel(input, &text, "too long", &e))?;
        }
        Ok(())
    }

    /// One backend line per input line; blank lines are skipped.
    fn proxy_lines(&self, value: &Option<String>) -> Result<Vec<String>, InputError> {
        let lines: Vec<String> = given(value)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        for line in &lines {
            validate::proxy_line(line).map_err(|e| {
                self.relabel("proxy-lines", line, "not a line of HAProxy config", &e)
            })?;
        }
        Ok(lines)
    }

    fn relative_dir(
        &self,
        input: &str,
        value: &Option<String>,
        default: &str,
    ) -> Result<PathBuf, InputError> {
        let v = given(value).unwrap_or(default);
        let path = PathBuf::from(v);
        let escapes = path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)));
        if escapes {
            Err(self.err(
                input,
                v,
                "not a path inside the workspace",
                "a relative path without '..', such as bluegreen-report",
            ))
        } else {
            Ok(path)
        }
    }
}

/// `action.yml`, embedded: the one place the inputs' defaults are written.
const ACTION_YML: &str = include_str!("../action.yml");

/// `(input, default)` for every input of `action.yml` with a literal default (not an
/// expression such as `${{ github.token }}`).
pub fn action_input_defaults() -> Vec<(String, String)> {
    use saphyr::{LoadableYamlNode, Yaml};
    let Ok(docs) = Yaml::load_from_str(ACTION_YML) else {
        return Vec::new();
    };
    let Some(inputs) = docs.first().and_then(|d| d["inputs"].as_mapping()) else {
        return Vec::new();
    };
    inputs
        .iter()
        .filter_map(|(name, input)| {
            let default = input.as_mapping()?.iter().find_map(|(k, v)| {
                (k.as_str() == Some("default")).then(|| v.as_str().map(str::to_string))?
            })?;
            let name = name.as_str()?.to_string();
            (!default.is_empty() && !default.contains("${{")).then_some((name, default))
        })
        .collect()
}

/// `bluegreen run`'s flags with the inputs' defaults in their help. The flags themselves stay
/// without a value of their own, so a flag not given never hides an `INPUT_*` variable.
pub fn with_input_defaults(mut run: clap::Command) -> clap::Command {
    for (input, default) in action_input_defaults() {
        let Some(id) = run
            .get_arguments()
            .find(|a| a.get_long() == Some(input.as_str()))
            .map(|a| a.get_id().clone())
        else {
            continue;
        };
        run = run.mut_arg(id, |arg| {
            let suffix = format!(" [default: {default}]");
            let help = format!(
                "{}{suffix}",
                arg.get_help().map(ToString::to_string).unwrap_or_default()
            );
            let long = arg.get_long_help().map(|h| format!("{h}{suffix}"));
            let arg = arg.help(help);
            match long {
                Some(long) => arg.long_help(long),
                None => arg,
            }
        });
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> RunInputs {
        RunInputs {
            app: Some("shop".into()),
            image: Some("registry.local/shop:v2".into()),
            public_port: Some("8080".into()),
            container_port: Some("3000".into()),
            ..RunInputs::default()
        }
    }

    #[test]
    fn defaults_fill_what_is_not_given() {
        let c = RunConfig::from_inputs(&minimal(), Origin::Action).unwrap();
        assert_eq!(c.deploy.health_path, "/health");
        assert_eq!(c.deploy.health_timeout, Duration::from_secs(60));
        assert_eq!(c.report_dir, PathBuf::from("bluegreen-report"));
        assert!(!c.dry_run);
        assert!(c.skip.is_empty());
    }

    #[test]
    fn errors_name_the_input_the_way_its_origin_does() {
        let mut i = minimal();
        i.public_port = Some("80800".into());
        let e = RunConfig::from_inputs(&i, Origin::Action).unwrap_err();
        assert_eq!(e.name, "public-port");
        assert_eq!(e.value, "80800");
        let e = RunConfig::from_inputs(&i, Origin::Cli).unwrap_err();
        assert_eq!(e.name, "--public-port");
    }

    #[test]
    fn bad_values_are_refused_not_defaulted() {
        type Case = (fn(&mut RunInputs), &'static str);
        let cases: [Case; 18] = [
            (|i| i.pull = Some("sometimes".into()), "pull"),
            (
                |i| i.registry_credentials_from_ssm = Some("/ci/creds/".into()),
                "registry-credentials-from-ssm",
            ),
            (|i| i.app = Some("Shop!".into()), "app"),
            (|i| i.skip = Some("lint,deploy-now".into()), "skip"),
            (|i| i.dry_run = Some("yes".into()), "dry-run"),
            (|i| i.env = Some("A=1\nnot a pair".into()), "env"),
            (|i| i.report_dir = Some("../out".into()), "report-dir"),
            (|i| i.health_path = Some("health".into()), "health-path"),
            (
                |i| i.health_host = Some("api example".into()),
                "health-host",
            ),
            (|i| i.pr_number = Some("#42".into()), "pr-number"),
            (|i| i.lock_wait = Some("2h".into()), "lock-wait"),
            (
                |i| i.proxy_lines = Some(format!("timeout server {}", "9".repeat(600))),
                "proxy-lines",
            ),
            (|i| i.public_port = Some("65535".into()), "public-port"),
            (|i| i.health_timeout = Some("0s".into()), "health-timeout"),
            (|i| i.env_from_ssm = Some("bad path".into()), "env-from-ssm"),
            (|i| i.image = Some("Bad Image!".into()), "image"),
            (|i| i.proxy_image = Some("haproxy:".into()), "proxy-image"),
            (|i| i.keep_warm = Some("300000y".into()), "keep-warm"),
        ];
        for (mutate, input) in cases {
            let mut i = minimal();
            mutate(&mut i);
            let e = RunConfig::from_inputs(&i, Origin::Action).unwrap_err();
            assert_eq!(e.name, input, "{e}");
        }
    }

    #[test]
    fn lists_and_env_parse() {
        let mut i = minimal();
        i.skip = Some("lint, verify-image".into());
        i.env = Some("# comment\nRUST_LOG=info\nGREETING=a=b\n".into());
        let c = RunConfig::from_inputs(&i, Origin::Action).unwrap();
        assert_eq!(c.skip, vec![Stage::Lint, Stage::VerifyImage]);
        assert_eq!(c.deploy.env.len(), 2);
        assert_eq!(c.deploy.env[1].value, "a=b");
    }

    #[test]
    fn the_spec_carries_every_deploy_setting() {
        let mut i = minimal();
        i.proxy_lines = Some("timeout server 120s\n\n  option httplog \n".into());
        i.keep_warm = Some("2m".into());
        let c = RunConfig::from_inputs(&i, Origin::Action).unwrap();
        let spec = c.deploy.spec("repo@sha256:abc", "d-1");
        assert_eq!(spec.pull, None, "not given: the host picks by reference");
        assert_eq!(spec.proxy_lines, ["timeout server 120s", "option httplog"]);
        assert_eq!(spec.keep_warm_ms, 120_000);
        assert_eq!(spec.image, "repo@sha256:abc");
        assert_eq!(spec.deploy_id, "d-1");
        assert_eq!(spec.app, c.deploy.app);
        i.pull = Some("never".into());
        i.registry_credentials_from_ssm = Some("/ci/registry".into());
        let c = RunConfig::from_inputs(&i, Origin::Action).unwrap();
        let spec = c.deploy.spec("repo:v1", "d-1");
        assert_eq!(spec.pull, Some(PullPolicy::Never));
        assert_eq!(
            spec.registry_credentials_from_ssm.as_deref(),
            Some("/ci/registry")
        );
    }
}
