//! `bluegreen report`: renders a recorded run (`run.json`, as every deploy writes it into the
//! report directory) through every sink again: the report directory, the job summary and the
//! outputs, and with `--publish` the PR comment and the deployment.
//!
//! Useful to re-publish after fixing a token permission, and to see a run's report locally.

use crate::exit::{ExitCode, UsageError};
use crate::gha::RunnerEnv;
use crate::report::github::{publish, GithubOptions};
use crate::report::{write_report, Redactor, ReportOptions, RunReport, SinkOutcome};
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The recorded run: a `run.json` from a report directory.
    #[arg(long, value_name = "FILE")]
    pub run: PathBuf,
    /// Report directory, relative to the workspace (`GITHUB_WORKSPACE`, else the current
    /// directory).
    #[arg(long, default_value = crate::report::write::DEFAULT_REPORT_DIR)]
    pub report_dir: PathBuf,
    /// Also post the sticky PR comment and the GitHub deployment.
    #[arg(long)]
    pub publish: bool,
    /// Token for `--publish` (the action passes its `github-token` input).
    #[arg(long, env = "INPUT_GITHUB-TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,
}

/// Renders the recorded run; sink problems are warnings, only unreadable input is an error.
pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let run = read_run(&args.run)?;
    let mut redactor = Redactor::from_env();
    if let Some(token) = &args.github_token {
        redactor.add(token.clone());
    }
    let env = RunnerEnv::from_env();
    // Only a runner hides masked values; elsewhere the mask commands would print the secrets.
    if env.in_actions {
        redactor
            .emit_masks(&mut std::io::stdout())
            .context("writing ::add-mask:: commands to stdout")?;
    }
    let mut options = ReportOptions::from_runner(&env, redactor.clone());
    options.report_dir = args.report_dir.clone();
    let outcome = write_report(&run, &options);
    for (sink, reason) in outcome.failures() {
        eprintln!("warning: {sink} not written: {}", redactor.redact(reason));
    }
    if let SinkOutcome::Written(path) = &outcome.summary_file {
        eprintln!("report written to {}", path.display());
    }
    if args.publish {
        let mut github = GithubOptions::from_runner(&env, args.github_token.clone(), redactor);
        github.report_dir = outcome.report_dir.clone();
        publish(&run, &github).await;
    }
    Ok(ExitCode::Ok)
}

fn read_run(path: &PathBuf) -> anyhow::Result<RunReport> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "--run {}: cannot read it ({e}); expected a run.json from a report directory",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        UsageError(format!(
            "--run {}: not a recorded run ({e}); expected a run.json from a report directory",
            path.display()
        ))
        .into()
    })
}
