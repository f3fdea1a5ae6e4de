//! Verifies a pushed image in ECR (aws-sdk-ecr): tag, digest, age, platform, scan findings.
//!
//! [`verify`] is the library entry point the pipeline and the SSM stage call; it returns an
//! [`ImageVerdict`], from which the deploy stage takes [`ImageVerdict::deploy_reference`]
//! (`repo@sha256:...`, never a moving tag) and [`ImageVerdict::platforms`]. The CLI command
//! `bluegreen verify-image` only parses flags and renders the verdict. See
//! `docs/verify-image.md`.

pub mod checks;
pub mod client;
pub mod error;
mod layout;
pub mod manifest;
pub mod reference;
pub mod render;
mod resolve;
pub mod scan;
mod scan_wait;
pub mod verdict;
pub mod verify;

pub use client::{ClientOptions, EcrClient};
pub use error::VerifyError;
pub use reference::{Digest, ImageSelector, Platform};
pub use scan::{PollSchedule, ScanGate, ScanReport};
pub use verdict::{
    Check, CheckName, CheckStatus, ImageVerdict, PlatformSource, ResolvedImage, VerifyRequest,
};
pub use verify::{verify, verify_logged};

use crate::exit::{ExitCode, UsageError};
use crate::output::OutputFormat;
use clap::{ArgGroup, Args};
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("image").required(true).args(["tag", "digest"])))]
pub struct VerifyImageArgs {
    /// ECR repository name (or its URI ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME).
    #[arg(long)]
    pub repository: String,
    /// Image tag to verify.
    #[arg(long)]
    pub tag: Option<String>,
    /// Image digest to verify (sha256:...).
    #[arg(long, value_parser = parse_digest)]
    pub digest: Option<Digest>,
    /// Fail unless the image resolves to this digest.
    #[arg(long, value_parser = parse_digest)]
    pub expect_digest: Option<Digest>,
    /// Fail when the image was pushed longer ago than this (e.g. 30m, 2h, 7d).
    #[arg(long, value_parser = crate::duration::parse_flag)]
    pub max_age: Option<Duration>,
    /// Fail unless the image runs on this platform (linux/amd64 or linux/arm64).
    #[arg(long, value_parser = parse_platform)]
    pub platform: Option<Platform>,
    /// Fail on scan findings of this severity or higher; any gate but `none` needs a scan.
    #[arg(long, value_enum, default_value_t = ScanGate::None)]
    pub scan_gate: ScanGate,
    /// Wait this long for a scan that is still in progress.
    #[arg(long, value_parser = crate::duration::parse_flag, default_value = "60s")]
    pub scan_wait: Duration,
    /// AWS region of the repository (default: the region in a repository URI, else the AWS
    /// default chain, e.g. AWS_REGION).
    #[arg(long, value_parser = crate::image::reference::parse_region)]
    pub region: Option<String>,
    /// Registry (AWS account) id, when the repository belongs to another account.
    #[arg(long, value_parser = parse_registry_id)]
    pub registry_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

impl VerifyImageArgs {
    /// The region ECR is asked in: `--region`, else the one a repository URI names
    /// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`), else `None` for the default chain. So an
    /// image in another region than the instances (the `region` input of `run`) is found.
    pub fn ecr_region(&self) -> Option<String> {
        self.region.clone().or_else(|| {
            reference::ImageRef::parse(&self.repository)
                .ok()?
                .ecr()
                .map(|ecr| ecr.region)
        })
    }

    pub fn to_request(&self) -> Result<VerifyRequest, UsageError> {
        let image = match (&self.tag, &self.digest) {
            (Some(tag), None) => ImageSelector::Tag(tag.clone()),
            (None, Some(digest)) => ImageSelector::Digest(digest.clone()),
            _ => {
                return Err(UsageError(
                    "give exactly one of --tag and --digest".to_string(),
                ))
            }
        };
        Ok(VerifyRequest {
            repository: self.repository.clone(),
            image,
            registry_id: self.registry_id.clone(),
            expect_digest: self.expect_digest.clone(),
            max_age: self.max_age,
            platform: self.platform.clone(),
            scan_gate: self.scan_gate,
            scan_wait: self.scan_wait,
            scan_poll: PollSchedule::default(),
        })
    }
}

/// `bluegreen verify-image`: verify, render, and exit 0 (all checks pass) or 1 (one failed).
pub async fn run(args: VerifyImageArgs) -> anyhow::Result<ExitCode> {
    let request = args.to_request()?;
    let options = ClientOptions {
        region: args.ecr_region(),
        ..ClientOptions::default()
    };
    let verdict = async {
        let client = EcrClient::from_environment(&options, &crate::report::EventLog::new()).await?;
        verify(&client, &request).await
    }
    .await
    .map_err(into_anyhow)?;
    let text = match args.format {
        OutputFormat::Human => render::human(&verdict),
        OutputFormat::Json => render::json(&verdict)? + "\n",
    };
    write_stdout(&text)?;
    Ok(verdict.exit_code())
}

/// Writes the result; a reader that went away (`| head`) is not an error worth a panic.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing the result to stdout"))
        }
        _ => Ok(()),
    }
}

/// Keeps the exit code of a [`VerifyError`] through anyhow: usage errors become
/// [`UsageError`] (exit 2), the rest stay environment errors (exit 5).
fn into_anyhow(err: VerifyError) -> anyhow::Error {
    match err.exit_code() {
        ExitCode::Usage => UsageError(err.to_string()).into(),
        _ => err.into(),
    }
}

fn parse_digest(s: &str) -> Result<Digest, String> {
    s.parse()
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    s.parse()
}

fn parse_registry_id(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "registry id {s:?}: expected a 12-digit AWS account id"
        ))
    }
}
