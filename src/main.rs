//! `bluegreen`: the CLI, the GitHub Action entry point and the host agent, in one binary.

use bluegreen::exit::{classify, ExitCode};
use bluegreen::{cli, image, lint, pipeline, report};
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

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
    Deploy(Box<cli::deploy::DeployCmd>),
    /// Switch traffic back to the prior version.
    Rollback(cli::rollback::RollbackCmd),
    /// Show the live color, its image, and the rollback target of each app.
    Status(cli::status::StatusCmd),
    /// Show the last deploys and rollbacks of an app on each host: image, digest, outcome,
    /// duration, what users saw during the switch, and the run that asked.
    History(cli::history::HistoryCmd),
    /// Render a recorded run (run.json) again: report directory, job summary, outputs, and
    /// with --publish the PR comment and the GitHub deployment.
    Report(report::cli::ReportArgs),
    /// The whole pipeline: lint, verify image, preflight, deploy, verify live, report.
    Run(Box<pipeline::RunArgs>),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    ///
    /// bash: `source <(bluegreen completions bash)`; zsh: write it to a file named
    /// `_bluegreen` in a directory of `$fpath`; fish: to `~/.config/fish/completions/bluegreen.fish`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page of `bluegreen` (roff); with --dir, write one page per command there.
    Man {
        /// Write bluegreen.1 and bluegreen-COMMAND.1 for every command into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Revert an interrupted (unverified) switch to the last verified version.
    Recover(cli::recover::RecoverCmd),
    /// Let the app's canary waiting at a pause step go on (recorded on each host; a canary
    /// not yet paused passes its next pause without waiting).
    Promote(cli::canary::DecideCmd),
    /// Abort the app's canary: the new version's weight goes to 0 and the host is left as
    /// before the deploy.
    Abort(cli::canary::DecideCmd),
    /// Host agent: run one request on this host and print one marked JSON reply line.
    #[command(hide = true)]
    Agent(cli::agent::AgentArgs),
}

fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help shows `run`'s input defaults; action.yml is read for it, not on every start.
            let e = match e.kind() {
                clap::error::ErrorKind::DisplayHelp => {
                    cli_command().try_get_matches().err().unwrap_or(e)
                }
                _ => e,
            };
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
        Command::Lint(args) => {
            // The lint sub-action: mask the runner's secrets before any line is printed.
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                report::Redactor::from_env().emit_masks(&mut std::io::stdout())?;
            }
            lint::run(args)
        }
        Command::VerifyImage(args) => image::run(*args).await,
        Command::Deploy(cmd) => cli::deploy::deploy(*cmd).await,
        Command::Rollback(cmd) => cli::rollback::rollback(cmd).await,
        Command::Status(cmd) => cli::status::status(cmd).await,
        Command::History(cmd) => cli::history::history(cmd).await,
        Command::Report(args) => report::cli::report(args).await,
        Command::Run(args) => pipeline::run_cli(*args).await,
        Command::Agent(args) => cli::agent::run_agent(args).await,
        Command::Completions { shell } => print_completions(shell),
        Command::Man { dir } => write_man_pages(dir.as_deref()),
        Command::Recover(cmd) => cli::recover::recover(cmd).await,
        Command::Promote(cmd) => {
            cli::canary::decide(bluegreen::agent::canary::decision::Decision::Promote, cmd).await
        }
        Command::Abort(cmd) => {
            cli::canary::decide(bluegreen::agent::canary::decision::Decision::Abort, cmd).await
        }
    }
}

/// The command line as `--help`, the completions and the man pages show it: `run`'s flags carry
/// the action inputs' defaults.
fn cli_command() -> clap::Command {
    Cli::command().mut_subcommand("run", bluegreen::config::with_input_defaults)
}

fn print_completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = visible_commands(cli_command());
    clap_complete::generate(shell, &mut cmd, "bluegreen", &mut std::io::stdout());
    Ok(ExitCode::Ok)
}

/// The command without its hidden subcommands (the host agent): clap_complete's generators
/// would offer them.
fn visible_commands(cmd: clap::Command) -> clap::Command {
    let visible: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("bluegreen")
        .version(env!("CARGO_PKG_VERSION"))
        .about(cmd.get_about().cloned().unwrap_or_default())
        .propagate_version(true)
        .subcommands(visible)
}

/// The man pages come from the same clap definitions as `--help`, so they never drift.
fn write_man_pages(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let cmd = cli_command();
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            std::io::stdout().write_all(&out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--dir {}: cannot create the directory", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("--dir {}: cannot write the man pages", dir.display()))?;
        }
    }
    Ok(ExitCode::Ok)
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
