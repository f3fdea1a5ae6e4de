//! `bluegreen recover`: revert an interrupted (unverified) switch to the last verified version
//! on every host of the target. A host whose live color is verified is left as it is.

use crate::agent::AgentRequest;
use crate::exit::ExitCode;
use crate::fleet::command::run_on_target;
use crate::fleet::TargetArgs;
use crate::output::OutputFormat;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RecoverCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The app whose interrupted switch is reverted to its last verified version.
    #[arg(long)]
    pub app: String,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// Runs `bluegreen recover` on every host of the target.
pub async fn recover(cmd: RecoverCmd) -> anyhow::Result<ExitCode> {
    let request = AgentRequest::Recover { app: cmd.app };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}
