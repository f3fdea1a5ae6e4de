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
    let mut reply = crate::agent::handle(request, &events).await?;
    let left_out = reply.keep_newest_commands(crate::agent::REPLY_COMMANDS);
    if let Some(canary) = reply.canary.as_mut() {
        canary.keep_newest_intervals(crate::agent::REPLY_INTERVALS);
    }
    eprint!("{}", left_out_section(&left_out));
    println!("{}", reply.to_marked_line()?);
    Ok(reply.outcome.exit_code())
}

/// The commands too old for the reply, for the agent's stderr (SSM keeps it whole in S3 or
/// CloudWatch Logs when configured). Already redacted, like the reply.
fn left_out_section(commands: &[crate::report::CommandRun]) -> String {
    if commands.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "bluegreen: {} older commands, left out of the reply (it carries the newest {}):\n",
        commands.len(),
        crate::agent::REPLY_COMMANDS
    );
    for c in commands {
        out.push_str(&crate::report::log::command_line(c));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{CommandRun, Scope};

    #[test]
    fn the_commands_left_out_go_to_stderr_one_line_each() {
        assert_eq!(left_out_section(&[]), "");
        let commands: Vec<CommandRun> = ["docker pull shop:1", "docker create shop-blue"]
            .iter()
            .map(|c| CommandRun {
                ts: chrono::Utc::now(),
                scope: Scope::Host("i-1".into()),
                command: c.to_string(),
                exit_code: Some(0),
                duration_ms: Some(12),
                detail: String::new(),
            })
            .collect();
        let text = left_out_section(&commands);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].contains("2 older commands, left out of the reply (it carries the newest 60)")
        );
        assert!(
            lines[1].ends_with("$ docker pull shop:1 (exit=0, 12 ms)"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("$ docker create shop-blue"),
            "{}",
            lines[2]
        );
    }
}
