//! Flags and `INPUT_*` into one validated [`RunConfig`]; every error names the input.
//!
//! One struct, [`RunInputs`], is both the clap flags of `bluegreen run` and the raw action
//! inputs read through envy: the flag `--health-timeout` and the input `health-timeout` are the
//! same field, so the CLI and the action cannot drift apart. All fields are strings as given;
//! [`RunConfig::from_inputs`] parses them once, with `core.getInput` semantics (trimmed, empty
//! means not given) and errors that name the input, the value and what was expected.

pub use crate::agent::spec::DeployConfig;
use crate::agent::spec::{self, DEFAULT_PROXY_IMAGE};
use crate::gha::inputs::{given, parse_list, InputError};
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
    /// How long Docker waits after a container's stop signal before SIGKILL.
    #[arg(long)]
    pub stop_timeout: Option<String>,
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
    /// Volumes of the app, SRC:DST[:ro] one a line (a named volume or an absolute host path).
    #[arg(long)]
    pub volume: Option<String>,
    /// Memory limit of each of the app's containers (512m, 2g).
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU limit of each of the app's containers (0.5, 2).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Command run instead of the image's: a JSON array of argv or shell words (never a shell).
    #[arg(long)]
    pub command: Option<String>,
    /// User the app runs as: NAME, UID, NAME:GROUP or UID:GID.
    #[arg(long)]
    pub user: Option<String>,
    /// User-defined Docker network on the host the app joins.
    #[arg(long)]
    pub network: Option<String>,
    /// /etc/hosts entries of the app, NAME:IP one a line.
    #[arg(long)]
    pub add_host: Option<String>,
    /// Labels of the app's containers, KEY=VALUE one a line (not bluegreen.*).
    #[arg(long)]
    pub label: Option<String>,
    /// Docker log driver of the app's containers.
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Options of the log driver, KEY=VALUE one a line.
    #[arg(long)]
    pub log_opt: Option<String>,
    /// Restart policy of the app's containers: no or unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,
    /// Smoke test run in a container of the new image against the idle color before traffic
    /// moves (BLUEGREEN_URL names it): a JSON array of argv or shell words.
    #[arg(long)]
    pub pre_switch_command: Option<String>,
    /// Where the pre-switch command runs: container (a command in the new image) or host
    /// (HTTP checks the agent runs, `PATH [STATUS]` a line).
    #[arg(long)]
    pub pre_switch_on: Option<String>,
    /// bluegreen (all traffic at once) or canary (the new version's share of requests moves up
    /// step by step, each step judged against the old version).
    #[arg(long)]
    pub strategy: Option<String>,
    /// Canary: the new version's share of requests at each step, in percent; pause waits for
    /// promote or abort.
    #[arg(long)]
    pub canary_steps: Option<String>,
    /// Canary: each step's analysis period.
    #[arg(long)]
    pub canary_interval: Option<String>,
    /// Canary: requests the new version must get in an interval; fewer is inconclusive.
    #[arg(long)]
    pub canary_min_requests: Option<String>,
    /// Canary: highest share of failed responses of the new version (1%, 0.5%).
    #[arg(long)]
    pub canary_max_error_rate: Option<String>,
    /// Canary: highest ratio of the new version's average response time to the old one's.
    #[arg(long)]
    pub canary_max_latency_ratio: Option<String>,
    /// Canary: failed intervals that abort it.
    #[arg(long)]
    pub canary_failure_limit: Option<String>,
    /// Canary: how long a pause step waits for promote or abort.
    #[arg(long)]
    pub canary_pause_timeout: Option<String>,
    /// Canary over a fleet: first (the first batch runs it, the later ones go blue-green once
    /// it promoted) or every (each batch runs it).
    #[arg(long)]
    pub canary_batches: Option<String>,
    /// CloudWatch alarms, one a line: one in state ALARM during a canary step or the verify
    /// window aborts the deploy or switches it back.
    #[arg(long)]
    pub alarms: Option<String>,
    /// Release command (a migration), run once per deploy in the new image before any host
    /// switches: a JSON array of argv or shell words (never a shell).
    #[arg(long)]
    pub release_command: Option<String>,
    /// Where the release command runs: an instance id of the fleet, or local (default: the
    /// first host of the first batch).
    #[arg(long)]
    pub release_host: Option<String>,
    /// Deadline of the release command.
    #[arg(long)]
    pub release_timeout: Option<String>,
    /// Run the release command even for a digest released before for this app and environment.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub release_always: Option<String>,
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

mod help;
mod parse;
mod stage;

pub use help::{action_input_defaults, with_input_defaults};
pub use parse::Origin;
use parse::Parser;
pub use stage::Stage;

/// The release phase: the command, where it runs, its deadline, and whether a digest released
/// before runs again.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseConfig {
    pub command: Vec<String>,
    pub host: Option<String>,
    pub timeout: Duration,
    pub always: bool,
}

/// The release command's deadline unless `release-timeout` says otherwise.
pub const DEFAULT_RELEASE_TIMEOUT: &str = "10m";

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
    /// The release phase, when `release-command` is given.
    pub release: Option<ReleaseConfig>,
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
            stop_timeout: p.duration(
                "stop-timeout",
                &inputs.stop_timeout,
                spec::DEFAULT_STOP_TIMEOUT,
            )?,
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
            container: p.container(inputs)?,
            pre_switch: p.pre_switch(&inputs.pre_switch_on, &inputs.pre_switch_command)?,
            canary: p.canary(inputs)?,
            alarms: p.alarms(&inputs.alarms)?,
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
            release: p.release(inputs)?,
            inputs: inputs.clone(),
            origin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::protocol::PullPolicy;

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
        let cases: [Case; 22] = [
            (|i| i.canary_steps = Some("5,25,100".into()), "canary-steps"),
            (
                |i| {
                    i.strategy = Some("canary".into());
                    i.canary_max_error_rate = Some("1".into());
                },
                "canary-max-error-rate",
            ),
            (|i| i.strategy = Some("linear".into()), "strategy"),
            (
                |i| i.alarms = Some("shop-5xx\nbad\u{7}name".into()),
                "alarms",
            ),
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
            (|i| i.public_port = Some("0".into()), "public-port"),
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
    fn a_canary_and_its_alarms_reach_the_spec() {
        let mut i = minimal();
        i.strategy = Some("canary".into());
        i.canary_steps = Some("10,pause,100".into());
        i.canary_max_error_rate = Some("0.5%".into());
        i.alarms = Some("shop-5xx\n\n  shop-p99 \n".into());
        let c = RunConfig::from_inputs(&i, Origin::Action).unwrap();
        let spec = c.deploy.spec("repo:v1", "d-1");
        let canary = spec.canary.expect("a canary");
        assert_eq!(canary.steps_line(), "10 %, pause, 100 %");
        assert_eq!(canary.max_error_rate_bp, 50);
        assert_eq!(canary.interval_ms, 30_000, "the default");
        assert_eq!(spec.alarms, ["shop-5xx", "shop-p99"]);
        // The action passes `strategy: bluegreen` by default: still no canary.
        i.strategy = Some("bluegreen".into());
        i.canary_steps = None;
        i.canary_max_error_rate = None;
        let c = RunConfig::from_inputs(&i, Origin::Cli).unwrap();
        assert_eq!(c.deploy.canary, None);
        // An error names the input as its origin spells it, with the value.
        i.strategy = Some("canary".into());
        i.canary_interval = Some("100ms".into());
        let e = RunConfig::from_inputs(&i, Origin::Cli).unwrap_err();
        assert_eq!(
            (e.name.as_str(), e.value.as_str()),
            ("--canary-interval", "100ms")
        );
        assert!(e.expected.contains("from 1s to 1h"), "{e}");
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
