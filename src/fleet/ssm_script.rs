//! What the SSM command runs on a host and what its output means: the shell script that starts
//! the agent container with the request, and the reading of an invocation's status and output
//! into one host's result. Pure functions, so every case is tested without SSM.

use super::poll::InvocationState;
use super::transport::{FailureKind, HostFailure};
use crate::agent::{AgentReply, AgentRequest};
use anyhow::Context;
use base64::Engine;
use serde::Serialize;

/// The SSM agent keeps the first 24,000 characters of stdout (`MaxStdoutLength`).
pub const STDOUT_LIMIT: usize = 24_000;
/// ... and the first 8,000 of stderr (`MaxStderrLength`).
pub const STDERR_LIMIT: usize = 8_000;
/// The line the script prints before starting the agent, read by preflight.
pub const HOST_MARKER: &str = "@@bluegreen-host@@ ";
/// Passed through to the agent container: the name its events carry.
const HOST_NAME_ENV: &str = "BLUEGREEN_HOST_NAME";
/// Where the host keeps the agent's state (locks, proxy socket), mounted into the agent.
pub const HOST_STATE_DIR: &str = "/var/lib/bluegreen";
/// Requests larger than this are refused before sending: the document plus parameters must
/// stay under SSM's 64 KB, and a request that large means env values that belong in
/// Parameter Store (`--env-from-ssm`).
pub const MAX_REQUEST_BYTES: usize = 32 * 1024;

/// What GetCommandInvocation returned for one ended invocation.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationOutput<'a> {
    pub stdout: &'a str,
    pub stderr: &'a str,
    /// The script's exit code; -1 when it never started.
    pub response_code: i32,
    /// Where the full output is, for messages.
    pub logs_hint: String,
}

/// Turns an ended invocation into the agent's reply, or a failure that says why there is
/// none. A reply wins over the status: a failed deploy exits non-zero and still replies.
pub fn interpret(
    state: InvocationState,
    out: &InvocationOutput,
) -> Result<AgentReply, HostFailure> {
    let kind = match state {
        InvocationState::Running => FailureKind::Unknown,
        InvocationState::Succeeded => FailureKind::NoReply,
        InvocationState::Ended(kind) => kind,
    };
    let reply = AgentReply::from_stdout(out.stdout);
    if matches!(kind, FailureKind::NoReply | FailureKind::Failed) {
        if let Ok(reply) = reply {
            return Ok(reply);
        }
    }
    let truncated = out.stdout.chars().count() >= STDOUT_LIMIT;
    let (kind, what) = match kind {
        FailureKind::NoReply | FailureKind::Failed if truncated => (
            FailureKind::OutputTruncated,
            format!(
                "SSM kept only the first {STDOUT_LIMIT} characters of stdout and the reply line was cut off"
            ),
        ),
        FailureKind::NoReply => (
            kind,
            "the script exited 0 but printed no reply line (is --agent-image this project's image?)"
                .to_string(),
        ),
        FailureKind::Failed => (
            kind,
            format!("the script exited {} without a reply", out.response_code),
        ),
        FailureKind::ExecutionTimedOut => (
            kind,
            "the script ran longer than --command-timeout and was stopped".to_string(),
        ),
        FailureKind::DeliveryTimedOut => (
            kind,
            "SSM could not hand the command to the instance's agent in time (instance stopped, agent offline, or no route to SSM)".to_string(),
        ),
        FailureKind::Undeliverable => (
            kind,
            "the instance is not reachable by SSM (agent stopped, instance terminated, or no permission)".to_string(),
        ),
        FailureKind::InvalidPlatform => (
            kind,
            "the instance is not Linux; AWS-RunShellScript cannot run there".to_string(),
        ),
        FailureKind::AccessDenied => (
            kind,
            "the caller may not run commands on this instance (IAM, or ssm:SendCommand resource conditions)".to_string(),
        ),
        other => (other, format!("the invocation ended as {other}")),
    };
    let stderr_tail = tail_chars(out.stderr.trim_end(), 600);
    let mut message = what;
    if !stderr_tail.is_empty() {
        message.push_str(&format!("; stderr ends: {stderr_tail}"));
    }
    message.push_str(&format!("; {}", out.logs_hint));
    Err(HostFailure { kind, message })
}

/// The script SSM runs on the host: print the architecture, then run the agent container.
/// It is plain POSIX sh (the SSM agent runs `sh -c`, which is dash on Debian). Every value
/// is single-quoted, so nothing user-given is ever interpreted by the shell; the request is
/// base64 and carries no secret (only `env_from_ssm` paths, read on the host).
pub fn agent_script(agent_image: &str, request: &AgentRequest) -> anyhow::Result<Vec<String>> {
    validate_image_ref(agent_image)?;
    let json = serde_json::to_vec(request).context("encoding the agent request")?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    if encoded.len() > MAX_REQUEST_BYTES {
        anyhow::bail!(
            "the agent request is {} bytes, more than the {MAX_REQUEST_BYTES} an SSM command \
             should carry; move large --env values to Parameter Store (--env-from-ssm)",
            encoded.len()
        );
    }
    let docker = [
        "docker",
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &format!("{HOST_STATE_DIR}:{HOST_STATE_DIR}"),
        "-e",
        "AWS_SSM_INSTANCE_ID",
        "-e",
        "AWS_SSM_REGION_NAME",
        "-e",
        HOST_NAME_ENV,
        agent_image,
        "agent",
        "--request",
        &encoded,
    ]
    .iter()
    .map(|w| shell_quote(w))
    .collect::<Vec<_>>()
    .join(" ");
    Ok(vec![
        "set -eu".to_string(),
        format!("echo \"{HOST_MARKER}arch=$(uname -m)\""),
        // The SSM agent sets AWS_SSM_INSTANCE_ID for Run Command scripts; the agent names
        // its events after BLUEGREEN_HOST_NAME, so the reports say which instance.
        "BLUEGREEN_HOST_NAME=\"${AWS_SSM_INSTANCE_ID:-$(hostname)}\"".to_string(),
        "export BLUEGREEN_HOST_NAME".to_string(),
        format!("exec {docker}"),
    ])
}

/// Quotes one word for POSIX sh: inside single quotes nothing is special but the quote.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `--agent-image`: an image reference ([`ImageRef`](crate::image::reference::ImageRef)),
/// so it has no spaces, quotes or shell characters and cannot be taken for a flag.
pub fn validate_image_ref(image: &str) -> anyhow::Result<()> {
    crate::image::reference::ImageRef::parse(image)
        .map(|_| ())
        .map_err(|e| {
            crate::exit::UsageError(format!(
                "--agent-image {e}; e.g. ghcr.io/org/bluegreen-action@sha256:..."
            ))
            .into()
        })
}

/// The architecture line the script printed, if any.
pub fn host_arch(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix(HOST_MARKER)
            .and_then(|rest| rest.strip_prefix("arch="))
            .map(str::to_string)
    })
}

/// The reply names the host by instance id, whatever hostname the container saw.
pub(super) fn with_host(mut reply: AgentReply, instance: &str) -> AgentReply {
    reply.host = instance.to_string();
    reply
}

pub(super) fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn tail_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Outcome;

    fn reply() -> AgentReply {
        AgentReply {
            host: "ip-10-0-0-1".into(),
            action: "deploy".into(),
            outcome: Outcome::Failed,
            message: "health gate failed".into(),
            first_deployment: false,
            before: None,
            apps: vec![],
            events: vec![],
            log_tail: vec![],
        }
    }

    fn output(stdout: &str) -> InvocationOutput<'_> {
        InvocationOutput {
            stdout,
            stderr: "docker: boom\n",
            response_code: 1,
            logs_hint: "full output: s3://b/".into(),
        }
    }

    #[test]
    fn quoting_keeps_every_byte_literal() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's $(rm -rf /)"), r"'it'\''s $(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn script_runs_the_agent_with_the_request_as_one_argument() {
        let req = AgentRequest::Status {
            app: Some("shop".into()),
        };
        let lines = agent_script("ghcr.io/org/bluegreen-action:0.1.0", &req).unwrap();
        let run = lines.last().unwrap();
        assert!(run.starts_with("exec docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/bluegreen:/var/lib/bluegreen"));
        let b64 = run.rsplit(' ').next().unwrap();
        let json = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(serde_json::from_slice::<AgentRequest>(&json).unwrap(), req);
        let err = agent_script("img; rm -rf /", &req).unwrap_err().to_string();
        assert!(err.contains("--agent-image"), "{err}");
    }

    #[test]
    fn a_failed_script_with_a_reply_is_the_reply() {
        let line = reply().to_marked_line().unwrap();
        let stdout = format!("{HOST_MARKER}arch=x86_64\npull...\n{line}\n");
        let got = interpret(
            InvocationState::Ended(FailureKind::Failed),
            &output(&stdout),
        )
        .unwrap();
        assert_eq!(got.outcome, Outcome::Failed);
        assert_eq!(host_arch(&stdout).as_deref(), Some("x86_64"));
    }

    #[test]
    fn a_cut_reply_is_a_truncation_error_pointing_at_the_logs() {
        let line = reply().to_marked_line().unwrap();
        let noisy = format!("{}\n{line}", "x".repeat(STDOUT_LIMIT));
        let cut: String = noisy.chars().take(STDOUT_LIMIT).collect();
        let err = interpret(InvocationState::Succeeded, &output(&cut)).unwrap_err();
        assert_eq!(err.kind, FailureKind::OutputTruncated);
        assert!(err.message.contains("s3://b/"), "{}", err.message);
        let err = interpret(InvocationState::Succeeded, &output("hello\n")).unwrap_err();
        assert_eq!(err.kind, FailureKind::NoReply);
        let err = interpret(InvocationState::Ended(FailureKind::Failed), &output("")).unwrap_err();
        assert!(err.message.contains("exited 1") && err.message.contains("docker: boom"));
    }

    #[test]
    fn undeliverable_is_never_success_even_with_output() {
        let line = reply().to_marked_line().unwrap();
        let err = interpret(
            InvocationState::Ended(FailureKind::Undeliverable),
            &output(&line),
        )
        .unwrap_err();
        assert_eq!(err.kind, FailureKind::Undeliverable);
    }
}
