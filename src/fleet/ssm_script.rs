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
///
/// The agent pulls with the host's registry credentials ([`docker_config_lines`]): the
/// host's Docker config is mounted read-only, and every credential helper on the host's
/// `PATH` is mounted read-only where the agent's `PATH` finds it.
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
    let quoted = |words: &[&str]| {
        words
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let docker = quoted(&[
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
        "-e",
        &format!("PATH={AGENT_HELPER_DIR}:/usr/local/bin:/usr/bin:/bin"),
    ]);
    let agent = quoted(&[agent_image, "agent", "--request", &encoded]);
    let mut lines = vec![
        "set -eu".to_string(),
        format!("echo \"{HOST_MARKER}arch=$(uname -m)\""),
        // The SSM agent sets AWS_SSM_INSTANCE_ID for Run Command scripts; the agent names
        // its events after BLUEGREEN_HOST_NAME, so the reports say which instance.
        "BLUEGREEN_HOST_NAME=\"${AWS_SSM_INSTANCE_ID:-$(hostname)}\"".to_string(),
        "export BLUEGREEN_HOST_NAME".to_string(),
    ];
    lines.extend(docker_config_lines());
    lines.push(format!("exec {docker} \"$@\" {agent}"));
    Ok(lines)
}

/// Where the SSM agent (root) keeps its Docker config when `DOCKER_CONFIG` is not set.
pub const HOST_DOCKER_CONFIG: &str = "/root/.docker";
/// Where the agent container sees the host's Docker config (read-only).
pub const AGENT_DOCKER_CONFIG: &str = "/run/bluegreen/docker-config";
/// Where the agent container sees the host's credential helpers (read-only), first on its PATH.
pub const AGENT_HELPER_DIR: &str = "/run/bluegreen/bin";

/// Collects, as the positional parameters, the `docker run` arguments that hand the host's
/// registry credentials to the agent: the Docker config directory (`$DOCKER_CONFIG`, else
/// `/root/.docker`) when it has a `config.json`, and each `docker-credential-*` program on the
/// host's `PATH` (the first of a name wins, as for a lookup). A path with a comma cannot be a
/// `--mount` source and is skipped with a warning. Nothing here is user-given: the values
/// come from the host, in double quotes, never evaluated.
fn docker_config_lines() -> Vec<String> {
    [
        "set --",
        &format!("bg_config=\"${{DOCKER_CONFIG:-{HOST_DOCKER_CONFIG}}}\""),
        "if [ -f \"$bg_config/config.json\" ]; then",
        "  case \"$bg_config\" in",
        "    *,*) echo \"bluegreen: the Docker config $bg_config has a comma in its path and is not mounted\" >&2 ;;",
        &format!("    *) set -- --mount \"type=bind,src=$bg_config,dst={AGENT_DOCKER_CONFIG},readonly\" -e DOCKER_CONFIG={AGENT_DOCKER_CONFIG} ;;"),
        "  esac",
        "fi",
        "bg_seen=' '",
        "bg_ifs=$IFS",
        "IFS=:",
        "for bg_dir in $PATH; do",
        "  IFS=$bg_ifs",
        "  for bg_helper in \"$bg_dir\"/docker-credential-*; do",
        "    [ -f \"$bg_helper\" ] && [ -x \"$bg_helper\" ] || continue",
        "    bg_name=${bg_helper##*/}",
        "    case \"$bg_seen\" in *\" $bg_name \"*) continue ;; esac",
        "    case \"$bg_helper\" in *,*) echo \"bluegreen: $bg_helper has a comma in its path and is not mounted\" >&2; continue ;; esac",
        "    bg_seen=\"$bg_seen$bg_name \"",
        &format!("    set -- \"$@\" --mount \"type=bind,src=$bg_helper,dst={AGENT_HELPER_DIR}/$bg_name,readonly\""),
        "  done",
        "done",
        "IFS=$bg_ifs",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect()
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
            receipt: None,
            history: vec![],
            commands: vec![],
            commands_left_out: 0,
            release: None,
            canary: None,
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

    /// The script run by a real sh with a `docker` that prints its arguments: the host's
    /// Docker config and credential helpers are mounted read-only, the request stays last.
    #[test]
    fn script_mounts_the_host_docker_config_and_credential_helpers_read_only() {
        use std::os::unix::fs::PermissionsExt;
        let req = AgentRequest::Status { app: None };
        let script = agent_script("ghcr.io/org/bluegreen-action:0.1.0", &req)
            .unwrap()
            .join("\n");
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let other = dir.path().join("other");
        let config = dir.path().join("docker config");
        for d in [&bin, &other, &config] {
            std::fs::create_dir_all(d).unwrap();
        }
        let program = |path: std::path::PathBuf, body: &str| {
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        program(
            bin.join("docker"),
            r#"for a in "$@"; do printf '%s\n' "$a"; done"#,
        );
        program(bin.join("docker-credential-ecr-login"), "exit 0");
        // Later on PATH: the first of a name wins.
        program(other.join("docker-credential-ecr-login"), "exit 0");
        program(other.join("docker-credential-pass"), "exit 0");
        std::fs::write(other.join("docker-credential-notes"), "not a program").unwrap();
        let run = |docker_config: Option<&std::path::Path>| {
            let mut sh = std::process::Command::new("/bin/sh");
            sh.arg("-c")
                .arg(&script)
                .env(
                    "PATH",
                    format!("{}:{}:/usr/bin:/bin", bin.display(), other.display()),
                )
                .env("AWS_SSM_INSTANCE_ID", "i-1")
                .env_remove("DOCKER_CONFIG");
            if let Some(c) = docker_config {
                sh.env("DOCKER_CONFIG", c);
            }
            let out = sh.output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        // No config.json yet: the helpers only.
        let args = run(Some(&config));
        assert!(!args.contains("docker-config"), "{args}");
        std::fs::write(config.join("config.json"), "{}").unwrap();
        let args = run(Some(&config));
        let lines: Vec<&str> = args.lines().collect();
        let mounts: Vec<&str> = lines
            .windows(2)
            .filter(|w| w[0] == "--mount")
            .map(|w| w[1])
            // The machine's own helpers (in /usr/bin) are mounted too; only ours are known.
            .filter(|m| m.contains(&dir.path().display().to_string()))
            .collect();
        assert_eq!(
            mounts,
            [
                format!("type=bind,src={},dst={AGENT_DOCKER_CONFIG},readonly", config.display()),
                format!(
                    "type=bind,src={}/docker-credential-ecr-login,dst={AGENT_HELPER_DIR}/docker-credential-ecr-login,readonly",
                    bin.display()
                ),
                format!(
                    "type=bind,src={}/docker-credential-pass,dst={AGENT_HELPER_DIR}/docker-credential-pass,readonly",
                    other.display()
                ),
            ],
            "{args}"
        );
        assert!(lines.contains(&format!("DOCKER_CONFIG={AGENT_DOCKER_CONFIG}").as_str()));
        assert!(lines
            .contains(&format!("PATH={AGENT_HELPER_DIR}:/usr/local/bin:/usr/bin:/bin").as_str()));
        let n = lines.len();
        assert_eq!(
            lines[n - 4..n - 1],
            ["ghcr.io/org/bluegreen-action:0.1.0", "agent", "--request"]
        );
        // DOCKER_CONFIG not set: root's, which is not this test's.
        let args = run(None);
        assert!(!args.contains(&config.display().to_string()), "{args}");
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
