//! The release phase on one host: the release command (a migration) run once, in a container
//! of the new image, with the app's environment and container options, before any host
//! switches. Its exit code, duration and last lines are the reply; a digest already released
//! for the app and environment is skipped unless `always`.
//!
//! The container is `<app>-release`, labelled with the app and the role `release`: a leftover
//! of a killed agent is a stray the next command's recovery removes.

use super::lock::AppLock;
use super::protocol::{AgentReply, Outcome, ReleaseResult, ReleaseSpec};
use super::step::Step;
use super::{pull, registry_auth, reply, secrets, start, Host};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ACTION: &str = "release";
/// Lines of the command's output the reply carries.
pub const TAIL_LINES: usize = 50;
/// Digests remembered per environment.
const LEDGER_KEPT: usize = 20;
const LEDGER_FILE: &str = "releases.json";

/// The digests released per environment, newest last (`<state>/apps/<app>/releases.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Ledger {
    #[serde(default)]
    released: BTreeMap<String, Vec<String>>,
}

pub async fn release(host: &Host, spec: &ReleaseSpec) -> anyhow::Result<AgentReply> {
    let app = spec.deploy.app.as_str();
    let total = host.events.start(&host.scope, Step::Total.event());
    host.ensure_app_dir(app)?;
    let lock = AppLock::acquire(&host.lock_path(app), host.config.lock_wait, "release").await?;
    let _lock = match lock {
        Ok(lock) => lock,
        Err(busy) => {
            let message = format!(
                "another action holds the lock of {app} on this host ({}); nothing was run",
                busy.holder
            );
            total.fail(&message);
            return Ok(reply(host, ACTION, Outcome::Locked, message));
        }
    };
    let (outcome, message, result) = run(host, spec).await?;
    if outcome.is_success() {
        total.ok(&message);
    } else {
        total.fail(&message);
    }
    let mut r = reply(host, ACTION, outcome, message);
    r.release = Some(result);
    Ok(r)
}

async fn run(host: &Host, spec: &ReleaseSpec) -> anyhow::Result<(Outcome, String, ReleaseResult)> {
    let deploy = &spec.deploy;
    let app = deploy.app.as_str();
    let auth = registry_auth::Sources::new(
        host.config.docker_config.as_deref(),
        deploy.registry_credentials_from_ssm.as_deref(),
    );
    let t = host.events.start(&host.scope, Step::Pull.event());
    let (_, present) = match pull::image(host, &deploy.image, deploy.pull, &auth).await {
        Ok(found) => found,
        Err(e) => {
            t.fail(format!("{e:#}"));
            let msg = format!("{e:#}; the release command did not run");
            return Ok((Outcome::Failed, msg, ReleaseResult::not_run()));
        }
    };
    t.ok(deploy.image.clone());
    let content = present
        .digest
        .clone()
        .or(present.id.clone())
        .unwrap_or_default();
    if !spec.always && released(host, app, &spec.environment).contains(&content) {
        let msg = format!(
            "{} ({content}) was released for {} before: not run again (release-always: true runs it every deploy)",
            deploy.image, spec.environment
        );
        return Ok((Outcome::Released, msg, ReleaseResult::skipped()));
    }
    let env = match secrets::app_env(host, deploy).await {
        Ok((env, _)) => env,
        Err(e) => {
            let msg = format!("{e:#}; the release command did not run");
            return Ok((Outcome::Failed, msg, ReleaseResult::not_run()));
        }
    };
    let t = host.events.start(&host.scope, Step::Release.event());
    let started = Instant::now();
    let name = start::create_oneshot(
        host,
        deploy,
        "release",
        &spec.command,
        &env,
        start::Reach::AppNetwork,
    )
    .await?;
    super::pause_point(Step::Release).await;
    let ended = start::wait_exit(host, &name, Duration::from_millis(spec.timeout_ms)).await;
    let result = ReleaseResult {
        ran: true,
        skipped: false,
        exit_code: ended.as_ref().ok().copied(),
        timed_out: ended.is_err(),
        duration_ms: started.elapsed().as_millis() as u64,
        log_tail: secrets_redacted(host.log_tail(&name, TAIL_LINES).await),
    };
    full_output_to_stderr(host, &name).await;
    start::remove(host, &name).await?;
    let shown = serde_json::to_string(&spec.command).unwrap_or_default();
    match ended {
        Ok(0) => {
            record(host, app, &spec.environment, &content)?;
            t.ok(format!("{shown} exited 0"));
            let msg = format!("release command {shown} of {} exited 0", deploy.image);
            Ok((Outcome::Released, msg, result))
        }
        Ok(code) => {
            t.fail(format!("{shown} exited {code}"));
            let msg = format!(
                "release command {shown} of {} exited {code}: nothing was switched",
                deploy.image
            );
            Ok((Outcome::Failed, msg, result))
        }
        Err(why) => {
            t.fail(&why);
            let msg = format!(
                "release command {shown} of {}: {why}: nothing was switched",
                deploy.image
            );
            Ok((Outcome::Failed, msg, result))
        }
    }
}

/// The release command's whole output, redacted, to the agent's stderr, streamed: the reply
/// carries its last [`TAIL_LINES`] lines, SSM keeps the agent's stderr whole in S3 or
/// CloudWatch Logs when the command is configured to (`output-s3-bucket`,
/// `cloudwatch-log-group`), and a local run prints it.
async fn full_output_to_stderr(host: &Host, name: &str) {
    use futures_util::StreamExt;
    use std::io::Write;
    let options = bollard::query_parameters::LogsOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut stream = host.docker.logs(name, Some(options));
    eprintln!("bluegreen: the release command's output, whole:");
    while let Some(Ok(chunk)) = stream.next().await {
        let mut err = std::io::stderr().lock();
        for line in chunk.to_string().lines() {
            let _ = writeln!(err, "  | {}", secrets::redact_text(line));
        }
    }
    eprintln!("bluegreen: end of the release command's output");
}

fn secrets_redacted(lines: Vec<String>) -> Vec<String> {
    lines.iter().map(|l| secrets::redact_text(l)).collect()
}

fn ledger_path(host: &Host, app: &str) -> std::path::PathBuf {
    host.app_dir(app).join(LEDGER_FILE)
}

fn read_ledger(host: &Host, app: &str) -> Ledger {
    std::fs::read_to_string(ledger_path(host, app))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn released(host: &Host, app: &str, environment: &str) -> Vec<String> {
    read_ledger(host, app)
        .released
        .remove(environment)
        .unwrap_or_default()
}

/// Remembers `content` as released for `environment`, replacing the file atomically.
fn record(host: &Host, app: &str, environment: &str, content: &str) -> anyhow::Result<()> {
    let mut ledger = read_ledger(host, app);
    let list = ledger.released.entry(environment.to_string()).or_default();
    list.retain(|d| d != content);
    list.push(content.to_string());
    let excess = list.len().saturating_sub(LEDGER_KEPT);
    list.drain(..excess);
    let path = ledger_path(host, app);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&ledger)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
}
