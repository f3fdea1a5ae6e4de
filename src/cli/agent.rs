//! `bluegreen agent`: the host side, as SSM Run Command starts it on an instance.

use crate::exit::UsageError;
use clap::Args;

/// The flags of `bluegreen agent`.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The request, as base64 of its JSON.
    #[arg(long)]
    pub request: String,
}

/// `bluegreen agent --request <base64 JSON>`: runs the request on this host and prints the
/// one marked reply line; the exit code is the outcome's. Errors that end the agent early
/// print no reply line, and the transport reports the exit code and stderr instead.
pub async fn run_agent(args: AgentArgs) -> anyhow::Result<crate::exit::ExitCode> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(args.request.trim())
        .map_err(|e| {
            UsageError(format!(
                "--request: expected base64 of a JSON request ({e})"
            ))
        })?;
    let request: crate::agent::AgentRequest = serde_json::from_slice(&raw)
        .map_err(|e| UsageError(format!("--request: not a valid agent request ({e})")))?;
    let events = crate::report::EventLog::new();
    let reply = crate::agent::handle(request, &events).await?;
    println!("{}", reply.to_marked_line()?);
    Ok(reply.outcome.exit_code())
}
