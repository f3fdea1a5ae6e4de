//! `bluegreen`: the CLI, the GitHub Action entry point and the host agent, in one binary.

use bluegreen::exit::{classify, ExitCode};
use bluegreen::{agent, fleet, image, lint, pipeline, report};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bluegreen", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lint workflow files for deprecated and retired actions, commands and runner labels.
    Lint(lint::LintArgs),
    /// Verify a pushed image in ECR: tag, digest, age, platform, scan findings.
    VerifyImage(Box<image::VerifyImageArgs>),
    /// Deploy a new version blue-green: start, health-gate, switch, verify, drain.
    Deploy(Box<fleet::cli::DeployCmd>),
    /// Switch traffic back to the prior version.
    Rollback(fleet::cli::RollbackCmd),
    /// Show the live color, its image, and the rollback target of each app.
    Status(fleet::cli::StatusCmd),
    /// Render a recorded run (run.json) again: report directory, job summary, outputs, and
    /// with --publish the PR comment and the GitHub deployment.
    Report(report::cli::ReportArgs),
    /// The whole pipeline: lint, verify image, preflight, deploy, verify live, report.
    Run(Box<pipeline::RunArgs>),
    /// Revert an interrupted (unverified) switch to the last verified version.
    Recover(fleet::cli::RecoverCmd),
    /// Host agent: run one request on this host and print one marked JSON reply line.
    #[command(hide = true)]
    Agent(agent::cli::AgentArgs),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Environment.into();
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            classify(&err).into()
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Lint(args) => lint::run(args),
        Command::VerifyImage(args) => image::run(*args).await,
        Command::Deploy(cmd) => fleet::cli::deploy(*cmd).await,
        Command::Rollback(cmd) => fleet::cli::rollback(cmd).await,
        Command::Status(cmd) => fleet::cli::status(cmd).await,
        Command::Report(args) => report::cli::report(args).await,
        Command::Run(args) => pipeline::run_cli(*args).await,
        Command::Agent(args) => agent::cli::run_agent(args).await,
        Command::Recover(cmd) => fleet::cli::recover(cmd).await,
    }
}

/// Logs go to stderr with timestamps; stdout stays for results. `BLUEGREEN_LOG` sets the
/// filter (tracing syntax); `RUNNER_DEBUG=1` (step debug in Actions) turns on debug.
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let default = if std::env::var("RUNNER_DEBUG").as_deref() == Ok("1") {
        "debug"
    } else {
        "warn"
    };
    let filter =
        EnvFilter::try_from_env("BLUEGREEN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
