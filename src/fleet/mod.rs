//! Where commands run: transports (local | ssm), targets, preflight, rolling orchestration.

pub mod command;
pub mod fleet_lock;
pub mod interrupt;
pub mod poll;
pub mod preflight;
pub mod release_ledger;
pub mod rollout;
pub mod sibling;
pub mod ssm;
pub mod ssm_run;
pub mod ssm_script;
pub mod targets;
pub mod transport;

pub use rollout::{FleetReport, HostReport, HostStatus};
pub use transport::{FailureKind, HostFailure, HostRun, LocalTransport, Transport};

use crate::duration::parse_flag as parse_duration_arg;
use crate::exit::UsageError;
use clap::{ArgAction, Args, ValueEnum};
use std::str::FromStr;
use std::time::Duration;
use targets::{HostCount, InstanceId, TagFilter};

/// Which hosts a command acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The local Docker daemon, in-process.
    Local,
    /// EC2 instances through SSM Run Command.
    Ssm,
}

/// The agent image of this very version. A release build is given the pinned reference
/// (`ghcr.io/...@sha256:...`, read from the registry after the push) in
/// `BLUEGREEN_AGENT_IMAGE` at compile time; the action image, which cannot contain its own
/// digest, gets it at run time from the same variable, set by the release in action.yml's
/// `runs.env`. Without either, the version's tag.
pub const DEFAULT_AGENT_IMAGE: &str = match option_env!("BLUEGREEN_AGENT_IMAGE") {
    Some(pinned) => pinned,
    None => concat!("ghcr.io/org/bluegreen-action:", env!("CARGO_PKG_VERSION")),
};

/// The variable that overrides [`DEFAULT_AGENT_IMAGE`] at run time (action.yml sets it).
pub const AGENT_IMAGE_ENV: &str = "BLUEGREEN_AGENT_IMAGE";

/// `--instance-ids i-..,i-..` as one flag value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdList(pub Vec<InstanceId>);

impl FromStr for InstanceIdList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        targets::parse_instance_ids(s).map(InstanceIdList)
    }
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Where to run: the local Docker daemon, or EC2 instances through SSM.
    #[arg(long, value_enum, default_value = "local")]
    pub target: TargetKind,
    /// SSM: the instances, comma-separated (i-..,i-..).
    #[arg(long, value_name = "IDS", conflicts_with = "target_tags")]
    pub instance_ids: Option<InstanceIdList>,
    /// SSM: the instances carrying this tag with any of the values (Key=Value[,Value]).
    #[arg(long, value_name = "KEY=VALUES")]
    pub target_tags: Option<TagFilter>,
    /// SSM: AWS region (default: the SDK's usual chain, AWS_REGION and the profile).
    #[arg(long, value_parser = crate::image::reference::parse_region)]
    pub region: Option<String>,
    /// SSM: the image of this project that runs as the agent on each host (default: this
    /// version's, pinned by digest in a release).
    #[arg(long, env = AGENT_IMAGE_ENV, default_value = DEFAULT_AGENT_IMAGE)]
    pub agent_image: String,
    /// SSM: hosts per batch, a number or a share of the fleet (N or N%).
    #[arg(long, default_value = "1", value_name = "N|N%")]
    pub max_concurrency: HostCount,
    /// SSM: failed hosts tolerated; one more stops the rollout (N or N%).
    #[arg(long, default_value = "0", value_name = "N|N%")]
    pub max_errors: HostCount,
    /// SSM: how long the script may run on a host (executionTimeout).
    #[arg(long, default_value = "10m", value_parser = parse_duration_arg)]
    pub command_timeout: Duration,
    /// SSM: S3 bucket for the full command output (written with the instance role).
    #[arg(long)]
    pub output_s3_bucket: Option<String>,
    /// SSM: CloudWatch Logs group for the full command output (streamed live).
    #[arg(long)]
    pub cloudwatch_log_group: Option<String>,
    /// SSM: when the error budget is exceeded, switch back the hosts this deploy switched.
    #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub fleet_rollback_on_budget: bool,
    /// SSM: platforms the image provides (linux/amd64,...), checked against each instance.
    #[arg(long, value_delimiter = ',', value_name = "PLATFORMS")]
    pub image_platform: Vec<crate::image::Platform>,
    /// Shortest wait between SSM status polls (tests and benchmarks lower it).
    #[arg(long, default_value = "1s", value_parser = parse_duration_arg, hide = true)]
    pub ssm_poll_min: Duration,
    /// Longest wait between SSM status polls.
    #[arg(long, default_value = "15s", value_parser = parse_duration_arg, hide = true)]
    pub ssm_poll_max: Duration,
}

impl TargetArgs {
    /// The SSM selection, or a usage error naming the missing or misplaced flag.
    pub fn ssm_selection(&self) -> Result<preflight::TargetSelection, UsageError> {
        match (&self.instance_ids, &self.target_tags) {
            (Some(ids), None) => Ok(preflight::TargetSelection::Ids(ids.0.clone())),
            (None, Some(tags)) => Ok(preflight::TargetSelection::Tags(tags.clone())),
            (None, None) => Err(UsageError(
                "--target ssm needs --instance-ids i-..,i-.. or --target-tags Key=Value[,Value]"
                    .into(),
            )),
            (Some(_), Some(_)) => Err(UsageError(
                "--instance-ids and --target-tags: give one of them, not both".into(),
            )),
        }
    }

    /// Flags that only mean something with `--target ssm` must not be silently ignored.
    pub fn check_local(&self) -> Result<(), UsageError> {
        let misplaced = [
            ("--instance-ids", self.instance_ids.is_some()),
            ("--target-tags", self.target_tags.is_some()),
            ("--output-s3-bucket", self.output_s3_bucket.is_some()),
            (
                "--cloudwatch-log-group",
                self.cloudwatch_log_group.is_some(),
            ),
        ];
        match misplaced.iter().find(|(_, given)| *given) {
            Some((flag, _)) => Err(UsageError(format!(
                "{flag} applies to --target ssm, but the target is local"
            ))),
            None => Ok(()),
        }
    }

    pub fn ssm_settings(&self, comment: String) -> Result<ssm::SsmSettings, UsageError> {
        let secs = self.command_timeout.as_secs();
        if !(1..=172_800).contains(&secs) {
            return Err(UsageError(format!(
                "--command-timeout {}: expected 1s to 48h (SSM's executionTimeout limits)",
                humantime::format_duration(self.command_timeout)
            )));
        }
        if let Some(bucket) = &self.output_s3_bucket {
            let ok = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
            if !ok {
                return Err(UsageError(format!(
                    "--output-s3-bucket {bucket:?}: expected an S3 bucket name (3-63 lowercase letters, digits, '-', '.')"
                )));
            }
        }
        ssm::validate_image_ref(&self.agent_image).map_err(|e| UsageError(e.to_string()))?;
        let mut settings = ssm::SsmSettings::new(self.agent_image.clone(), self.command_timeout);
        settings.output_s3_bucket = self.output_s3_bucket.clone();
        settings.cloudwatch_log_group = self.cloudwatch_log_group.clone();
        settings.poll = poll::PollPolicy::checked(self.ssm_poll_min, self.ssm_poll_max)?;
        settings.comment = comment;
        Ok(settings)
    }
}
