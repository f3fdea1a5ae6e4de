//! `deploy`, `rollback` and `status`: parse the target, send the request, render the replies.

use super::preflight::TargetSelection;
use super::rollout::HostReport;
use super::ssm::{self, SsmTransport};
use super::ssm_run;
use super::{LocalTransport, TargetArgs, TargetKind, Transport};
use crate::agent::cli::DeployArgs;
use crate::agent::{AgentReply, AgentRequest, Color};
use crate::exit::{ExitCode, UsageError};
use crate::report::EventLog;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DeployCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub spec: DeployArgs,
    /// SSM: the environment of the fleet lock /bluegreen/locks/<app>/<environment>.
    #[arg(long, default_value = "production")]
    pub environment: String,
    /// SSM: how long to wait for the fleet lock another deploy holds before refusing (exit 4).
    #[arg(long, default_value = "0s", value_parser = crate::agent::cli::parse_duration_arg)]
    pub lock_wait: std::time::Duration,
    /// Output format of the reply.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The app to switch back to its prior version.
    #[arg(long, required_unless_present = "from_action_inputs")]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Take the other options from the step's INPUT_* variables, as rollback/action.yml runs
    /// this command, and write the step's outputs (status, live-color) and job summary.
    #[arg(long, conflicts_with_all = ["app", "instance_ids", "target_tags"])]
    pub from_action_inputs: bool,
    /// Change nothing unless the live version is this image reference or deploy id (on each
    /// host); otherwise exit 6. A host already rolled back from it succeeds as a no-op.
    #[arg(long, value_name = "IMAGE_OR_DEPLOY_ID")]
    pub expect_live: Option<String>,
}

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

#[derive(Debug, Clone, Args)]
pub struct StatusCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

/// What a command did: its exit code and, host by host, its result in a few words.
#[derive(Debug)]
pub struct Done {
    pub exit: ExitCode,
    pub hosts: Vec<HostLine>,
}

/// One host's result: for a step's outputs and job summary.
#[derive(Debug, Clone)]
pub struct HostLine {
    pub host: String,
    /// The agent's outcome (`rolled_back`, `nothing_to_roll_back`, ...) or the fleet's status
    /// of a host that did not reply.
    pub outcome: String,
    /// The color serving after the command, when the host reported it.
    pub live: Option<Color>,
    pub message: String,
}

impl HostLine {
    fn from_reply(host: &str, reply: &AgentReply) -> HostLine {
        HostLine {
            host: host.to_string(),
            outcome: wire_name(reply.outcome),
            live: reply
                .apps
                .first()
                .and_then(|a| a.live.as_ref())
                .map(|l| l.color),
            message: reply.message.clone(),
        }
    }

    fn from_fleet(h: &HostReport) -> HostLine {
        match (&h.reply, &h.error) {
            (Some(reply), _) => HostLine::from_reply(&h.host, reply),
            (None, error) => HostLine {
                host: h.host.clone(),
                outcome: wire_name(h.status),
                live: None,
                message: error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default(),
            },
        }
    }
}

/// A unit enum's name as the JSON replies and reports spell it (`rolled_back`).
fn wire_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub async fn deploy(cmd: DeployCmd) -> anyhow::Result<ExitCode> {
    let deploy_id = new_deploy_id();
    let spec = cmd.spec.to_spec(&deploy_id)?;
    let lock = LockArgs {
        environment: cmd.environment.clone(),
        wait: cmd.lock_wait,
    };
    lock.check()?;
    let request = AgentRequest::Deploy(spec);
    let done = run_on_target_locked(&cmd.target, request, cmd.format, Some(lock)).await?;
    Ok(done.exit)
}

pub async fn rollback(cmd: RollbackCmd) -> anyhow::Result<ExitCode> {
    let app = match (cmd.from_action_inputs, cmd.app) {
        (true, _) => return super::rollback_step::run(cmd.format).await,
        (false, Some(app)) => app,
        (false, None) => return Err(UsageError("--app: required".into()).into()),
    };
    let request = AgentRequest::Rollback {
        app,
        expect_live: cmd.expect_live,
    };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}

pub async fn recover(cmd: RecoverCmd) -> anyhow::Result<ExitCode> {
    let request = AgentRequest::Recover { app: cmd.app };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}

pub async fn status(cmd: StatusCmd) -> anyhow::Result<ExitCode> {
    let request = AgentRequest::Status { app: cmd.app };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}

/// A deploy id: UTC time plus a short random suffix, sortable and unique enough per app.
pub fn new_deploy_id() -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &suffix[..6]
    )
}

/// The fleet lock of an SSM deploy (`--environment`, `--lock-wait`).
#[derive(Debug, Clone)]
pub struct LockArgs {
    pub environment: String,
    pub wait: std::time::Duration,
}

impl LockArgs {
    /// The longest `--lock-wait`.
    pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

    fn check(&self) -> Result<(), UsageError> {
        let env_ok = !self.environment.is_empty()
            && self.environment.len() <= 100
            && self
                .environment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !env_ok {
            return Err(UsageError(format!(
                "--environment {:?}: expected 1-100 letters, digits, '-', '_' or '.'",
                self.environment
            )));
        }
        if self.wait > Self::MAX_WAIT {
            return Err(UsageError(format!(
                "--lock-wait {}: expected at most 1h",
                humantime::format_duration(self.wait)
            )));
        }
        Ok(())
    }
}

/// Sends the request to the target's hosts and prints their replies.
pub(super) async fn run_on_target(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<Done> {
    run_on_target_locked(target, request, format, None).await
}

/// [`run_on_target`], holding the fleet lock for an SSM deploy.
async fn run_on_target_locked(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
    lock: Option<LockArgs>,
) -> anyhow::Result<Done> {
    // The hosts' agents check the request again; checking it here first means a bad value
    // is a usage error (exit 2) before any AWS call, on every target.
    crate::agent::validate::request(&request)?;
    match target.target {
        TargetKind::Local => {
            target.check_local()?;
            let transport = LocalTransport::detect().await?;
            let reply = tokio::select! {
                reply = transport.run("local", &request) => reply?,
                signal = interrupted() => {
                    let what = repair_after_interrupt(&transport, &request, signal).await;
                    eprintln!("error: {what}");
                    return Ok(Done { exit: ExitCode::Failed, hosts: vec![] });
                }
            };
            print_reply(&reply, format)?;
            Ok(Done {
                exit: reply.outcome.exit_code(),
                hosts: vec![HostLine::from_reply("local", &reply)],
            })
        }
        TargetKind::Ssm => run_on_ssm(target, request, format, lock).await,
    }
}

/// The fleet path: resolve the targets, check them, then roll the request out batch by batch.
async fn run_on_ssm(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
    lock: Option<LockArgs>,
) -> anyhow::Result<Done> {
    let selection = target.ssm_selection()?;
    let settings = target.ssm_settings(ssm_comment(&request))?;
    if let AgentRequest::Deploy(spec) = &request {
        crate::agent::validate::command_timeout_covers(target.command_timeout, spec)?;
    }
    let events = EventLog::new();
    let client = ssm::client(target.region.as_deref()).await;
    let lock_client = client.clone();
    let transport = SsmTransport::new(client, settings, events.clone());
    // One deploy per app and environment across the fleet, before any host is touched.
    let held = match (&request, lock) {
        (AgentRequest::Deploy(spec), Some(lock)) => {
            let holder = super::fleet_lock::Holder {
                deploy_id: spec.deploy_id.clone(),
                run_url: crate::gha::runner::RunnerEnv::from_env().run_url(),
                expires_at: chrono::Utc::now()
                    + chrono::Duration::from_std(lock_ttl(target.command_timeout))
                        .unwrap_or_else(|_| chrono::Duration::hours(1)),
            };
            let taken = super::fleet_lock::acquire(
                &lock_client,
                &spec.app,
                &lock.environment,
                holder,
                lock.wait,
            )
            .await;
            match taken {
                Ok(l) => {
                    if let Some(old) = &l.took_over {
                        eprintln!(
                            "warning: the fleet lock {} of deploy {} had expired at {}; taken over",
                            l.name,
                            old.deploy_id,
                            old.expires_at.format("%Y-%m-%d %H:%M:%SZ")
                        );
                    }
                    Some(l)
                }
                Err(e) if e.is::<super::fleet_lock::Held>() => {
                    eprintln!("error: {e}");
                    return Ok(Done {
                        exit: ExitCode::Locked,
                        hosts: vec![],
                    });
                }
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    let result = run_ssm_command(&transport, target, &selection, &request, format, &events).await;
    if let Some(l) = held {
        if let Err(e) = l.release(&lock_client).await {
            eprintln!("warning: {e:#}; it expires at {}", l.holder.expires_at);
        }
    }
    result
}

/// How long a fleet lock stays valid if its holder dies without releasing it: long enough for
/// a deploy of many batches, short enough that a killed run does not block the next day.
fn lock_ttl(command_timeout: std::time::Duration) -> std::time::Duration {
    command_timeout.saturating_mul(3) + std::time::Duration::from_secs(600)
}

/// The rollout over SSM, with the interrupt path.
async fn run_ssm_command(
    transport: &SsmTransport,
    target: &TargetArgs,
    selection: &TargetSelection,
    request: &AgentRequest,
    format: OutputFormat,
    events: &EventLog,
) -> anyhow::Result<Done> {
    tokio::select! {
        result = run_fleet(transport, target, selection, request, format, events) => result,
        signal = interrupted() => {
            let cancelled = transport.cancel_in_flight().await;
            let reason = format!(
                "{signal}: CancelCommand sent for {} commands in flight ({}); SSM does not \
                 guarantee the processes stop, so hosts may be mid-deploy: check them with \
                 `bluegreen status --target ssm`",
                cancelled.len(),
                cancelled.join(", ")
            );
            eprintln!("error: {reason}");
            // Every host of the command stays in the output, with what its status says now.
            let hosts = tokio::time::timeout(
                super::rollout::CANCEL_SWEEP,
                super::preflight::resolve_targets(transport, selection),
            )
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
            let report = super::rollout::sweep_after_cancel(
                transport,
                &hosts,
                request,
                &reason,
                super::rollout::CANCEL_SWEEP,
                events,
            )
            .await;
            match format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                OutputFormat::Human => println!("{}", report.render_human()),
            }
            Ok(Done {
                exit: ExitCode::Failed,
                hosts: report.hosts.iter().map(HostLine::from_fleet).collect(),
            })
        }
    }
}

/// A local command stopped by a signal: in this process the command stopped at its next
/// step, so the host is repaired now; a sibling agent container goes on by itself. Returns
/// what happened, for the error line or the report.
pub(crate) async fn repair_after_interrupt(
    transport: &LocalTransport,
    request: &AgentRequest,
    signal: &str,
) -> String {
    let app = match request {
        AgentRequest::Deploy(spec) => Some(spec.app.as_str()),
        AgentRequest::Rollback { app, .. } | AgentRequest::Recover { app } => Some(app.as_str()),
        AgentRequest::Status { .. } => None,
    };
    let Some(app) = app else {
        return format!("{signal}: stopped; a status query leaves nothing to put back");
    };
    if !transport.in_process() {
        return format!(
            "{signal}: the agent container finishes or undoes the command by itself; check \
             with `bluegreen status --target local`"
        );
    }
    // Bounded: a cancelled workflow's runner kills the process a few seconds after SIGTERM,
    // and a second signal ends the repair at once. Whatever is left, the next command repairs.
    let events = EventLog::new();
    let repair = tokio::time::timeout(REPAIR_LIMIT, crate::agent::recover_now(app, &events));
    let outcome = tokio::select! {
        outcome = repair => outcome,
        _ = interrupted() => return format!(
            "{signal}, then interrupted again: the repair stopped; the next deploy or rollback \
             of {app} repairs the host"
        ),
    };
    match outcome {
        Ok(Ok(fixed)) if fixed.is_empty() => {
            format!("{signal}: stopped before anything changed on the host; {app} is as it was")
        }
        Ok(Ok(fixed)) => format!(
            "{signal}: the command stopped part-way; the host was put back: {}",
            fixed.join("; ")
        ),
        Ok(Err(e)) => format!(
            "{signal}: the command stopped part-way and the repair failed ({e:#}); the next \
             deploy or rollback of {app} repairs it"
        ),
        Err(_) => format!(
            "{signal}: the command stopped part-way and the repair took longer than {} s; the \
             next deploy or rollback of {app} repairs it",
            REPAIR_LIMIT.as_secs()
        ),
    }
}

/// How long the repair after an interrupt may take.
const REPAIR_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM as a cancelled workflow
/// sends it), naming the signal.
pub(crate) async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}

/// Runs the fleet steps and prints what they produced.
async fn run_fleet(
    transport: &SsmTransport,
    target: &TargetArgs,
    selection: &TargetSelection,
    request: &AgentRequest,
    format: OutputFormat,
    events: &EventLog,
) -> anyhow::Result<Done> {
    let run = ssm_run::run(transport, target, selection, request, events).await?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&run)?),
        OutputFormat::Human => print!("{}", run.render_human()),
    }
    if let Some(pre) = run.preflight.as_ref().filter(|_| run.fleet.is_none()) {
        eprintln!(
            "error: preflight failed on {} of {} hosts: nothing was changed",
            pre.problems().len(),
            pre.hosts.len()
        );
    }
    let hosts = match (&run.fleet, &run.preflight) {
        (Some(fleet), _) => fleet.hosts.iter().map(HostLine::from_fleet).collect(),
        (None, Some(pre)) => pre
            .hosts
            .iter()
            .map(|h| HostLine {
                host: h.host.clone(),
                outcome: if h.problem.is_some() {
                    "not_ready"
                } else {
                    "not_started"
                }
                .into(),
                live: None,
                message: h
                    .problem
                    .as_ref()
                    .map(|p| p.message.clone())
                    .unwrap_or_default(),
            })
            .collect(),
        (None, None) => vec![],
    };
    Ok(Done {
        exit: run.exit_code(),
        hosts,
    })
}

/// The command history comment: which action on which app, and the deploy id.
fn ssm_comment(request: &AgentRequest) -> String {
    match request {
        AgentRequest::Deploy(spec) => format!("bluegreen deploy {} {}", spec.app, spec.deploy_id),
        AgentRequest::Rollback { app, .. } => format!("bluegreen rollback {app}"),
        AgentRequest::Recover { app } => format!("bluegreen recover {app}"),
        AgentRequest::Status { app } => {
            format!("bluegreen status {}", app.as_deref().unwrap_or("all apps"))
        }
    }
}

fn print_reply(reply: &AgentReply, format: OutputFormat) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(reply)?),
        OutputFormat::Human => print!("{}", crate::agent::render::reply(reply)),
    }
    Ok(())
}
