//! The host agent: the blue-green engine on one Docker host (bollard).
//!
//! Run in-process by the `local` transport, or as `bluegreen agent` in a container started by
//! SSM Run Command on an EC2 instance. Either way it takes one [`AgentRequest`] and returns one
//! [`AgentReply`].
//!
//! A deploy reads like the runbook (see [`deploy`]): lock, read state, recover, pull, start the
//! idle color, health gate, switch, verify, watch, drain, keep warm. Each step is a module.

pub mod canary;
pub mod checks;
pub mod deploy;
pub mod drain;
pub mod health;
pub mod history;
pub mod http;
pub mod lock;
pub mod options;
pub mod protocol;
pub mod proxy;
pub mod pull;
pub mod receipt;
pub mod recover;
pub mod registry_auth;
pub mod release;
pub mod render;
pub mod request_log;
pub mod rollback;
pub mod secrets;
pub mod spec;
pub mod spec_hash;
pub mod start;
pub mod state;
pub mod stats;
pub mod status;
pub mod step;
pub mod switch;
pub mod validate;
pub mod verify;

pub use protocol::{AgentReply, AgentRequest, AppState, Color, ColorState, DeploySpec, Outcome};

use crate::report::{CommandRun, EventLog, Scope};
use anyhow::Context;
use bollard::query_parameters::LogsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the agent keeps each app's proxy config, admin socket and lock, unless
/// `BLUEGREEN_STATE_DIR` says otherwise. The agent container mounts it at the same path.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/bluegreen";

/// How long a second deploy of the same app waits for the lock before it is refused
/// (`BLUEGREEN_LOCK_WAIT` overrides it, e.g. `2m` for CI jobs that queue).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// Colors and proxy survive a daemon or host restart; a restart during the health gate or the
/// verify window counts as a failure (see health.rs).
pub fn restart_unless_stopped() -> Option<bollard::models::RestartPolicy> {
    Some(bollard::models::RestartPolicy {
        name: Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED),
        maximum_retry_count: None,
    })
}

/// Host-level settings: not part of a request, because they belong to the host.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub state_dir: PathBuf,
    pub lock_wait: Duration,
    /// Name of this host in replies and event scopes.
    pub host_name: String,
    /// The Docker config directory whose `config.json` holds registry credentials
    /// (`auths`, `credHelpers`, `credsStore`); `None` reads none.
    pub docker_config: Option<PathBuf>,
}

impl AgentConfig {
    /// From `BLUEGREEN_STATE_DIR`, `BLUEGREEN_LOCK_WAIT`, `BLUEGREEN_HOST_NAME` and
    /// `DOCKER_CONFIG` (else `$HOME/.docker`), read once here: the environment is the process's,
    /// so whoever runs the engine in-process can pass another directory.
    pub fn from_env() -> anyhow::Result<AgentConfig> {
        let lock_wait = match std::env::var("BLUEGREEN_LOCK_WAIT") {
            Ok(v) => crate::duration::parse_flag(&v)
                .map_err(|e| crate::exit::UsageError(format!("BLUEGREEN_LOCK_WAIT: {e}")))?,
            Err(_) => DEFAULT_LOCK_WAIT,
        };
        Ok(AgentConfig {
            state_dir: std::env::var_os("BLUEGREEN_STATE_DIR")
                .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from),
            lock_wait,
            host_name: std::env::var("BLUEGREEN_HOST_NAME").unwrap_or_else(|_| "local".into()),
            docker_config: docker_config_dir(),
        })
    }
}

/// `$DOCKER_CONFIG`, else `$HOME/.docker`, as the Docker CLI finds its config.
pub fn docker_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
}

/// One host's Docker daemon and state directory, and where events go.
pub struct Host {
    pub docker: Docker,
    pub config: AgentConfig,
    pub events: EventLog,
    pub scope: Scope,
    /// The host's AWS config (the instance role, through IMDS), resolved at the first AWS call
    /// and once per agent run, however many calls the deploy makes.
    aws: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl Host {
    pub fn new(docker: Docker, config: AgentConfig, events: &EventLog) -> Host {
        Host {
            docker,
            scope: Scope::Host(config.host_name.clone()),
            config,
            events: events.clone(),
            aws: tokio::sync::OnceCell::new(),
        }
    }

    async fn aws_config(&self) -> &aws_config::SdkConfig {
        self.aws
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await
    }

    /// A Parameter Store client whose calls go into the host's command log.
    pub async fn ssm_client(&self) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::config::Builder::from(self.aws_config().await)
            .interceptor(crate::aws::CallLog::interceptor(&self.events, &self.scope))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// A CloudWatch client (the host's region, the instance role) whose calls go into the
    /// host's command log: the alarms of a deploy ([`canary::alarms::firing`]).
    pub async fn cloudwatch_client(&self) -> aws_sdk_cloudwatch::Client {
        let config = aws_sdk_cloudwatch::config::Builder::from(self.aws_config().await)
            .interceptor(crate::aws::CallLog::interceptor(&self.events, &self.scope))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    /// An ECR client for `region` whose calls go into the host's command log.
    pub async fn ecr_client(&self, region: &str) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::config::Builder::from(self.aws_config().await)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(crate::aws::CallLog::interceptor(&self.events, &self.scope))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// Runs one command that changes the host (a Docker call, a proxy command) and records it
    /// in the command log the reply carries.
    pub fn command<'a, T: Send + 'a, E: Send + 'a>(
        &self,
        command: impl Into<String>,
        work: impl std::future::Future<Output = Result<T, E>> + Send + 'a,
    ) -> crate::report::event::CommandFuture<'a, T, E> {
        self.events.command(&self.scope, command, work)
    }

    /// Runs one read of the host (a Docker inspect, a listing, a log, a proxy's `show`) and
    /// counts it in the command log the reply carries: one line per kind of read and target.
    pub fn read<'a, T: Send + 'a, E: Send + 'a>(
        &self,
        read: impl Into<String>,
        work: impl std::future::Future<Output = Result<T, E>> + Send + 'a,
    ) -> crate::report::event::CommandFuture<'a, T, E> {
        self.events.read(&self.scope, read, work)
    }

    /// Creates a container under a fixed name (the names are the state: `<app>-blue`, ...).
    pub async fn create_named(
        &self,
        name: &str,
        body: bollard::models::ContainerCreateBody,
    ) -> Result<(), bollard::errors::Error> {
        let options = bollard::query_parameters::CreateContainerOptions {
            name: Some(name.to_string()),
            ..Default::default()
        };
        let image = body.image.clone().unwrap_or_default();
        let create = self.docker.create_container(Some(options), body);
        self.command(format!("docker create {name} {image}"), create)
            .await
            .map(|_| ())
    }

    pub fn connect(config: AgentConfig, events: &EventLog) -> anyhow::Result<Host> {
        let docker = Docker::connect_with_local_defaults()
            .context("cannot connect to the Docker daemon (DOCKER_HOST or /var/run/docker.sock)")?;
        Ok(Host::new(docker, config, events))
    }

    pub fn app_dir(&self, app: &str) -> PathBuf {
        self.config.state_dir.join("apps").join(app)
    }

    pub fn config_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("haproxy.cfg")
    }

    pub fn socket_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("admin.sock")
    }

    pub fn lock_path(&self, app: &str) -> PathBuf {
        self.app_dir(app).join("lock")
    }

    /// Creates the app's state directory (mode 0700: the admin socket lives there).
    pub fn ensure_app_dir(&self, app: &str) -> anyhow::Result<PathBuf> {
        let dir = self.app_dir(app);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        set_private(&dir)?;
        Ok(dir)
    }

    /// The last `lines` log lines of a container (stdout and stderr), for failure replies.
    pub async fn log_tail(&self, container: &str, lines: usize) -> Vec<String> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(container, Some(options));
        let read = async {
            let mut out: Vec<String> = Vec::new();
            // A log that breaks off keeps what came before.
            while let Some(Ok(chunk)) = stream.next().await {
                for line in chunk.to_string().lines() {
                    // Bounded: the reply travels through SSM's 24,000-character stdout.
                    out.push(line.chars().take(300).collect());
                }
            }
            Ok::<_, bollard::errors::Error>(out)
        };
        let mut out = self
            .read(format!("docker logs --tail {lines} {container}"), read)
            .await
            .unwrap_or_default();
        let skip = out.len().saturating_sub(lines);
        out.split_off(skip)
    }
}

fn set_private(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))
}

/// Handles one request on this host's Docker daemon, with settings from the environment.
pub async fn handle(request: AgentRequest, events: &EventLog) -> anyhow::Result<AgentReply> {
    handle_with(request, events, AgentConfig::from_env()?).await
}

/// After a command on this host was interrupted (Ctrl-C, or SIGTERM from a cancelled
/// workflow): takes the app's lock and runs now the recovery every command starts with, so
/// an unproven new container goes and a prior set aside comes back at once rather than at
/// the next command. Returns what it repaired, one phrase each.
pub async fn recover_now(app: &str, events: &EventLog) -> anyhow::Result<Vec<String>> {
    let host = Host::connect(AgentConfig::from_env()?, events)?;
    if !host.app_dir(app).exists() {
        return Ok(Vec::new());
    }
    let wait = host.config.lock_wait.min(Duration::from_secs(2));
    let lock = lock::AppLock::acquire(&host.lock_path(app), wait, "recovery")
        .await?
        .map_err(|busy| anyhow::anyhow!("the lock of {app} is held by {}", busy.holder))?;
    // The interrupted command may have left a Docker call in flight (a rename, a create, a
    // kill) that the daemon still completes: let it land, then repair until nothing changes.
    let mut fixed = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pair = state::read(&host, app).await?;
        let round = recover::recover(&host, &pair, None, recover::Tidy::Quick).await?;
        if round.is_empty() {
            break;
        }
        fixed.extend(round);
    }
    drop(lock);
    Ok(fixed)
}

/// Handles one request with explicit host settings.
pub async fn handle_with(
    request: AgentRequest,
    events: &EventLog,
    config: AgentConfig,
) -> anyhow::Result<AgentReply> {
    // Validation comes before any Docker call.
    validate::request(&request)?;
    let host = Host::connect(config, events)?;
    let reply = match request {
        AgentRequest::Deploy(spec) => deploy::deploy(&host, &spec).await,
        AgentRequest::Rollback {
            app,
            expect_live,
            run_url,
        } => rollback::rollback(&host, &app, expect_live.as_deref(), run_url).await,
        AgentRequest::Status { app } => status::status(&host, app.as_deref()).await,
        AgentRequest::Recover { app } => recover::recover_request(&host, &app).await,
        AgentRequest::History { app } => history::history_request(&host, &app).await,
        AgentRequest::Release(spec) => release::release(&host, &spec).await,
        AgentRequest::Promote(asked) => {
            canary::decision::request(&host, canary::decision::Decision::Promote, &asked)
        }
        AgentRequest::Abort(asked) => {
            canary::decision::request(&host, canary::decision::Decision::Abort, &asked)
        }
    };
    // Nothing read from Parameter Store leaves the host in a reply.
    reply.map(secrets::redact_reply)
}

/// A reply with this host's name and the events recorded so far.
pub(crate) fn reply(host: &Host, action: &str, outcome: Outcome, message: String) -> AgentReply {
    AgentReply {
        host: host.config.host_name.clone(),
        action: action.to_string(),
        outcome,
        message,
        first_deployment: false,
        before: None,
        apps: vec![],
        events: host.events.snapshot(),
        commands: in_start_order([host.events.commands(), host.events.reads()].concat()),
        commands_left_out: 0,
        log_tail: vec![],
        receipt: None,
        history: vec![],
        release: None,
        canary: None,
    }
}

/// Commands the agent's printed reply carries at most (the newest; SSM keeps 24,000
/// characters of a reply). The older ones go to its stderr, which SSM keeps in full in S3 or
/// CloudWatch Logs when the command is configured to ([`AgentReply::keep_newest_commands`]).
pub const REPLY_COMMANDS: usize = 60;

/// Canary intervals the agent's printed reply carries at most (the newest): a canary of
/// [`canary::spec::MAX_STEPS`] steps each held by inconclusive intervals would not fit in the
/// 24,000 characters SSM keeps next to the commands
/// ([`crate::report::canary::CanaryRun::keep_newest_intervals`]).
pub const REPLY_INTERVALS: usize = 20;

/// In the order they started (a command is recorded when it ends, and the proxy's config
/// check runs beside the health gate).
fn in_start_order(mut commands: Vec<CommandRun>) -> Vec<CommandRun> {
    commands.sort_by_key(|c| c.ts);
    commands
}

/// Crash tests stop the agent at a chosen step: with `BLUEGREEN_FAULT_PAUSE_AFTER=<step>` the
/// agent prints `paused after <step>` on stderr and waits to be killed. Unset in production.
pub(crate) async fn pause_point(step: step::Step) {
    let step = step.pause();
    if std::env::var("BLUEGREEN_FAULT_PAUSE_AFTER").as_deref() == Ok(step) {
        eprintln!("bluegreen: paused after {step}");
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}
