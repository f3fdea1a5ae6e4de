//! `bluegreen status`: the live color, its image, and the rollback target of each app, host by
//! host. It changes nothing.

use crate::agent::AgentRequest;
use crate::exit::ExitCode;
use crate::fleet::command::run_on_target;
use crate::fleet::TargetArgs;
use crate::output::OutputFormat;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct StatusCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `bluegreen status` on every host of the target.
pub async fn status(cmd: StatusCmd) -> anyhow::Result<ExitCode> {
    let request = AgentRequest::Status { app: cmd.app };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}
