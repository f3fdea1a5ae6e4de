//! `deploy`, `rollback` and `status`: parse the target, send the request, render the replies.

use super::preflight::TargetSelection;
use super::ssm::{self, SsmTransport};
use super::ssm_run;
use super::{LocalTransport, TargetArgs, TargetKind, Transport};
use crate::agent::cli::DeployArgs;
use crate::agent::{AgentReply, AgentRequest};
use crate::exit::ExitCode;
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
    /// Output format of the reply.
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackCmd {
    #[command(flatten)]
    pub target: TargetArgs,
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

pub async fn deploy(cmd: DeployCmd) -> anyhow::Result<ExitCode> {
    let deploy_id = new_deploy_id();
    let spec = cmd.spec.to_spec(&deploy_id)?;
    run_on_target(&cmd.target, AgentRequest::Deploy(spec), cmd.format).await
}

pub async fn rollback(cmd: RollbackCmd) -> anyhow::Result<ExitCode> {
    run_on_target(
        &cmd.target,
        AgentRequest::Rollback { app: cmd.app },
        cmd.format,
    )
    .await
}

pub async fn status(cmd: StatusCmd) -> anyhow::Result<ExitCode> {
    run_on_target(
        &cmd.target,
        AgentRequest::Status { app: cmd.app },
        cmd.format,
    )
    .await
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

async fn run_on_target(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    match target.target {
        TargetKind::Local => {
            target.check_local()?;
            let transport = LocalTransport::detect().await?;
            let reply = transport.run("local", &request).await?;
            print_reply(&reply, format)?;
            Ok(reply.outcome.exit_code())
        }
        TargetKind::Ssm => run_on_ssm(target, request, format).await,
    }
}

/// The fleet path: resolve the targets, check them, then roll the request out batch by batch.
async fn run_on_ssm(
    target: &TargetArgs,
    request: AgentRequest,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let selection = target.ssm_selection()?;
    let settings = target.ssm_settings(ssm_comment(&request))?;
    let events = EventLog::new();
    let client = ssm::client(target.region.as_deref()).await;
    let transport = SsmTransport::new(client, settings, events.clone());
    tokio::select! {
        result = run_fleet(&transport, target, &selection, &request, format, &events) => result,
        signal = interrupted() => {
            let cancelled = transport.cancel_in_flight().await;
            eprintln!(
                "error: {signal}: CancelCommand sent for {} commands in flight ({}); SSM does not \
                 guarantee the processes stop, so hosts may be mid-deploy: check them with \
                 `bluegreen status --target ssm`",
                cancelled.len(),
                cancelled.join(", ")
            );
            Ok(ExitCode::Failed)
        }
    }
}

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
) -> anyhow::Result<ExitCode> {
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
    Ok(run.exit_code())
}

/// The command history comment: which action on which app, and the deploy id.
fn ssm_comment(request: &AgentRequest) -> String {
    match request {
        AgentRequest::Deploy(spec) => format!("bluegreen deploy {} {}", spec.app, spec.deploy_id),
        AgentRequest::Rollback { app } => format!("bluegreen rollback {app}"),
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
