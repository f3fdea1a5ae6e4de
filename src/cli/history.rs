//! `bluegreen history`: the last deploys and rollbacks of an app, host by host, as each host
//! recorded them (image, digest, outcome, duration, what users saw during the switch, the run
//! that asked). It changes nothing.

use crate::agent::AgentRequest;
use crate::exit::ExitCode;
use crate::fleet::command::run_on_target;
use crate::fleet::TargetArgs;
use crate::output::OutputFormat;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct HistoryCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The app whose history to show.
    #[arg(long)]
    pub app: String,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `bluegreen history` on every host of the target.
pub async fn history(cmd: HistoryCmd) -> anyhow::Result<ExitCode> {
    let request = AgentRequest::History { app: cmd.app };
    Ok(run_on_target(&cmd.target, request, cmd.format).await?.exit)
}
