//! The host agent's request and reply: the contract between the fleet (local or SSM transport)
//! and the engine on each host. Fields may be added; renaming one breaks mixed-version fleets.
//!
//! Over SSM the request travels as one base64 argument and the reply comes back as one line
//! on stdout starting with [`REPLY_MARKER`] (SSM truncates stdout at 24,000 characters, so the
//! reply stays small: events and a short log tail, never full logs).

pub use super::options::ContainerOptions;
use crate::report::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Prefix of the one stdout line that carries the agent's JSON reply.
pub const REPLY_MARKER: &str = "@@bluegreen-reply@@ ";

/// The two colors of a blue-green pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One plain environment variable for the app container. Not for secrets: those come from
/// SSM Parameter Store on the host (`env_from_ssm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// What to deploy on one host. Durations are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploySpec {
    pub app: String,
    /// An image reference; after verify-image, `repo@sha256:...`.
    pub image: String,
    pub public_port: u16,
    pub container_port: u16,
    pub health_path: String,
    /// The `Host` header of the health probes and of the verify request; `None`: the
    /// container's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_host: Option<String>,
    pub health_timeout_ms: u64,
    pub verify_window_ms: u64,
    pub keep_warm_ms: u64,
    pub drain_ms: u64,
    /// How long Docker waits after the image's stop signal before SIGKILL when it stops one
    /// of the app's containers (`--stop-timeout`).
    #[serde(default = "default_stop_timeout_ms")]
    pub stop_timeout_ms: u64,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// SSM Parameter Store path whose parameters become env vars, read on the host.
    #[serde(default)]
    pub env_from_ssm: Option<String>,
    pub proxy_image: String,
    /// Identifies this deploy across hosts, in container labels and reports.
    pub deploy_id: String,
    /// Address the proxy listens on; `None` means every interface (`0.0.0.0`).
    #[serde(default)]
    pub public_address: Option<String>,
    /// Extra lines for the proxy's backend section, checked with `haproxy -c` before use.
    #[serde(default)]
    pub proxy_lines: Vec<String>,
    /// When to pull the image; `None` means [`PullPolicy::default_for`] the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// An SSM Parameter Store parameter holding registry credentials as JSON
    /// (`{"host:port": {"username": "...", "password": "..."}}`), read on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_credentials_from_ssm: Option<String>,
    /// The workflow run that asked for this deploy, kept in the host's history. Not part of
    /// the version (`spec_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// Volumes, limits, command, user, network and the other container options, applied to
    /// both colors.
    #[serde(default, skip_serializing_if = "ContainerOptions::is_default")]
    pub container: ContainerOptions,
    /// A smoke test run in a container of the new image against the idle color before traffic
    /// moves (`BLUEGREEN_URL` names the color); a non-zero exit stops the host's deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_switch_command: Option<Vec<String>>,
    /// `pre-switch-on: host`: HTTP checks the agent runs itself against the idle color
    /// instead of a command in a container (`checks.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_switch_checks: Vec<super::checks::HttpCheck>,
    /// `--strategy canary`: the new version's share of requests moves up step by step, each
    /// step judged against the old version; `None` is a blue-green deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<super::canary::spec::CanarySpec>,
    /// CloudWatch alarms (`--alarm`) whose state ALARM during a canary step or the verify
    /// window aborts the deploy or switches it back, for both strategies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

/// When the agent pulls the image of a deploy (`--pull`, the input `pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    /// Pull every time (a tag may have moved).
    Always,
    /// Pull only when the image is not on the host; the registry is not contacted otherwise.
    Missing,
    /// Never pull: deploy the image on the host, fail when it is not there.
    Never,
}

impl PullPolicy {
    pub const NAMES: [&'static str; 3] = ["always", "missing", "never"];

    /// Without `--pull`: `missing` for a reference by digest (its content cannot change),
    /// `always` for a tag (it may point elsewhere since the last pull).
    pub fn default_for(reference: &crate::image::reference::ImageRef) -> PullPolicy {
        if reference.digest.is_some() {
            PullPolicy::Missing
        } else {
            PullPolicy::Always
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "missing",
            PullPolicy::Never => "never",
        }
    }

    /// One of [`PullPolicy::NAMES`].
    pub fn parse(value: &str) -> Option<PullPolicy> {
        match value {
            "always" => Some(PullPolicy::Always),
            "missing" => Some(PullPolicy::Missing),
            "never" => Some(PullPolicy::Never),
            _ => None,
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeploySpec {
    /// The address the proxy binds the public port to.
    pub fn public_address(&self) -> &str {
        self.public_address.as_deref().unwrap_or("0.0.0.0")
    }

    /// The health probe of this deploy's containers.
    pub fn health_probe(&self) -> super::http::Probe<'_> {
        super::http::Probe {
            path: &self.health_path,
            host: self.health_host.as_deref(),
        }
    }
}

/// `--stop-timeout` when a request does not say ([`super::spec::DEFAULT_STOP_TIMEOUT`]).
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 10_000;

fn default_stop_timeout_ms() -> u64 {
    DEFAULT_STOP_TIMEOUT_MS
}

/// What the fleet asks a host agent to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
// One request per action: its size does not matter, and boxing would change the contract.
#[allow(clippy::large_enum_variant)]
pub enum AgentRequest {
    Deploy(DeploySpec),
    Rollback {
        app: String,
        /// Change nothing unless the live version is this image or deploy id
        /// (`--expect-live`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect_live: Option<String>,
        /// The workflow run that asked for it, for the host's history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_url: Option<String>,
    },
    Status {
        app: Option<String>,
    },
    /// Resolves an interrupted switch: an unverified live color goes back to the last
    /// verified version (`bluegreen recover`).
    Recover {
        app: String,
    },
    /// The app's last deploys and rollbacks on the host (`bluegreen history`). Read-only.
    History {
        app: String,
    },
    /// The release command, once, in a container of the new image (`release-command`).
    Release(ReleaseSpec),
    /// `bluegreen promote`: the app's canary waiting at a pause step goes on. Recorded in a
    /// file the deploy reads; never takes the app's lock (the waiting deploy holds it).
    Promote(CanaryDecisionRequest),
    /// `bluegreen abort`: the app's canary puts the new version's weight to 0 at its next
    /// check. Recorded like `Promote`.
    Abort(CanaryDecisionRequest),
}

/// Who decides about which canary: `promote` and `abort`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryDecisionRequest {
    pub app: String,
    /// Only the canary of this deploy; `None`: the one in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    /// Who asked (the workflow's actor, or the user), kept with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The workflow run that asked, kept with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

/// The release phase's request: the deploy it comes before (image, environment, options),
/// the command, its deadline, and whether to run it for a digest released before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSpec {
    pub deploy: DeploySpec,
    pub command: Vec<String>,
    pub timeout_ms: u64,
    /// The environment the release ledger is kept for (a digest is released once per
    /// app and environment).
    pub environment: String,
    #[serde(default)]
    pub always: bool,
}

/// How the release command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseResult {
    /// False when it did not start (the pull or the environment failed) or was skipped.
    pub ran: bool,
    /// The digest was released for this environment before (and `always` is off).
    #[serde(default)]
    pub skipped: bool,
    /// `None` when it did not end by itself (killed at the timeout) or did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub duration_ms: u64,
    /// Its last lines of output (stdout and stderr), Parameter Store values redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
}

impl ReleaseResult {
    pub fn not_run() -> ReleaseResult {
        ReleaseResult {
            ran: false,
            skipped: false,
            exit_code: None,
            timed_out: false,
            duration_ms: 0,
            log_tail: vec![],
        }
    }

    pub fn skipped() -> ReleaseResult {
        ReleaseResult {
            skipped: true,
            ..ReleaseResult::not_run()
        }
    }
}

impl AgentRequest {
    pub fn action(&self) -> &'static str {
        match self {
            AgentRequest::Deploy(_) => "deploy",
            AgentRequest::Rollback { .. } => "rollback",
            AgentRequest::Status { .. } => "status",
            AgentRequest::Recover { .. } => "recover",
            AgentRequest::History { .. } => "history",
            AgentRequest::Release(_) => "release",
            AgentRequest::Promote(_) => "promote",
            AgentRequest::Abort(_) => "abort",
        }
    }

    /// The app the request is about (`status` may ask about every app).
    pub fn app(&self) -> Option<&str> {
        match self {
            AgentRequest::Deploy(spec) => Some(&spec.app),
            AgentRequest::Release(r) => Some(&r.deploy.app),
            AgentRequest::Promote(d) | AgentRequest::Abort(d) => Some(&d.app),
            AgentRequest::Rollback { app, .. }
            | AgentRequest::Recover { app }
            | AgentRequest::History { app } => Some(app),
            AgentRequest::Status { app } => app.as_deref(),
        }
    }
}

/// How a host's action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The new version serves; the prior one (if any) is kept as the rollback target.
    Deployed,
    /// A rollback switched traffic to the prior version.
    RolledBack,
    /// The new version failed after the switch (verify window) and traffic went back.
    AutoRolledBack,
    /// Failed before any traffic moved: the old version keeps serving, nothing lost.
    Failed,
    /// `rollback` with no prior version: nothing changed.
    NothingToRollBack,
    /// Another deploy of the same app holds the lock.
    Locked,
    /// A status query.
    Status,
    /// `recover`: the app is consistent, with a verified live color (reverted or already so).
    Recovered,
    /// `rollback --expect-live`: the live version is another one; nothing changed.
    NotExpectedLive,
    /// The release command exited 0, or the digest was released before.
    Released,
    /// `promote` or `abort`: the decision is recorded for the canary in progress.
    DecisionRecorded,
    /// `promote` or `abort`: no canary is in progress for the app on the host; nothing
    /// recorded.
    NoCanary,
}

impl Outcome {
    /// The process exit code for this outcome (see `docs/exit-codes.md`).
    pub fn exit_code(self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            Outcome::Deployed
            | Outcome::RolledBack
            | Outcome::Status
            | Outcome::Recovered
            | Outcome::Released
            | Outcome::DecisionRecorded => ExitCode::Ok,
            Outcome::NoCanary => ExitCode::NoCanary,
            Outcome::NotExpectedLive => ExitCode::NotExpectedLive,
            Outcome::AutoRolledBack | Outcome::Failed => ExitCode::Failed,
            Outcome::NothingToRollBack => ExitCode::NothingToRollBack,
            Outcome::Locked => ExitCode::Locked,
        }
    }

    pub fn is_success(self) -> bool {
        self.exit_code() == crate::exit::ExitCode::Ok
    }
}

/// Health as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Unhealthy,
    Stopped,
    Unknown,
}

/// One color's container as found on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColorState {
    pub color: Color,
    pub image: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub deploy_id: Option<String>,
    /// When this version started serving (live) or was created (prior).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    pub running: bool,
    pub health: Health,
    /// For a prior running warm: when the agent stops it (it stays as the rollback target).
    #[serde(default)]
    pub warm_until: Option<DateTime<Utc>>,
}

/// One app on one host: what serves, and what a rollback would go back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppState {
    pub app: String,
    #[serde(default)]
    pub public_port: Option<u16>,
    /// The color the proxy sends traffic to; `None` before the first deployment.
    pub live: Option<ColorState>,
    /// The prior version kept for rollback (running warm or stopped); `None` means there is
    /// nothing to roll back to (the "rollback check for prior green").
    pub rollback_target: Option<ColorState>,
    /// False while the live color's switch is not verified: `bluegreen recover` (or the next
    /// deploy or rollback) reverts it to the last verified version.
    #[serde(default = "yes")]
    pub verified: bool,
    /// For an unverified state, what made the switch (`deploy of IMAGE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
}

fn yes() -> bool {
    true
}

/// The agent's one reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentReply {
    /// Host name or instance id the agent ran on.
    pub host: String,
    pub action: String,
    pub outcome: Outcome,
    /// One sentence for humans: what happened and, on failure, what to do next.
    pub message: String,
    /// True when this deploy created the pair (no prior version existed).
    #[serde(default)]
    pub first_deployment: bool,
    /// State before the action (deploy/rollback), for the report's before/after table.
    #[serde(default)]
    pub before: Option<AppState>,
    /// State after the action; for `status`, every app asked about.
    #[serde(default)]
    pub apps: Vec<AppState>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// The last log lines of a container that failed, bounded in size.
    #[serde(default)]
    pub log_tail: Vec<String>,
    /// The commands that changed the host (Docker calls, proxy commands, AWS calls) in the
    /// order they started; through SSM the newest [`crate::agent::REPLY_COMMANDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<crate::report::CommandRun>,
    /// Older commands left out of `commands` (they are on the agent's stderr).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub commands_left_out: usize,
    /// What users saw during the switch, from the proxy (a deploy that switched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::report::receipt::Receipt>,
    /// The app's last deploys and rollbacks on this host, oldest first (`history`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// How the release command ended (`release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseResult>,
    /// A canary deploy's steps, intervals and end; for `promote` and `abort`, the canary in
    /// progress they were sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::report::canary::CanaryRun>,
}

/// One finished deploy or rollback on a host (`bluegreen history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When the command finished.
    pub at: DateTime<Utc>,
    /// `deploy` or `rollback`.
    pub action: String,
    pub outcome: Outcome,
    /// For a deploy, the image it was asked to run; for a rollback, the image live after it.
    pub image: Option<String>,
    /// The live color's digest and deploy id after the command.
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub deploy_id: Option<String>,
    pub duration_ms: u64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::report::receipt::Receipt>,
    /// The workflow run that asked for it, when it was a GitHub run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl AgentReply {
    /// Keeps the newest `max` commands and returns the older ones, counted in
    /// `commands_left_out`, for whoever can keep them elsewhere.
    pub fn keep_newest_commands(&mut self, max: usize) -> Vec<crate::report::CommandRun> {
        let excess = self.commands.len().saturating_sub(max);
        self.commands_left_out += excess;
        self.commands.drain(..excess).collect()
    }

    /// The stdout line carrying this reply.
    pub fn to_marked_line(&self) -> anyhow::Result<String> {
        Ok(format!("{REPLY_MARKER}{}", serde_json::to_string(self)?))
    }

    /// Finds the reply in an agent's stdout (the last marked line wins).
    pub fn from_stdout(stdout: &str) -> anyhow::Result<AgentReply> {
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.trim_end_matches('\r').strip_prefix(REPLY_MARKER))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the agent's output has no reply line (a line starting with {REPLY_MARKER:?}); \
                     the agent may have crashed or its output was truncated"
                )
            })?;
        serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("the agent's reply line is not valid JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_tagged_by_action() {
        let r = AgentRequest::Rollback {
            app: "shop".into(),
            expect_live: None,
            run_url: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"action":"rollback","app":"shop"}"#);
        assert_eq!(serde_json::from_str::<AgentRequest>(&json).unwrap(), r);
    }

    #[test]
    fn pull_defaults_to_missing_for_a_digest_and_always_for_a_tag() {
        use crate::image::reference::ImageRef;
        let by_digest =
            ImageRef::parse(&format!("reg:5000/app@sha256:{}", "a".repeat(64))).unwrap();
        assert_eq!(PullPolicy::default_for(&by_digest), PullPolicy::Missing);
        let by_tag = ImageRef::parse("reg:5000/app:v1").unwrap();
        assert_eq!(PullPolicy::default_for(&by_tag), PullPolicy::Always);
        for name in PullPolicy::NAMES {
            assert_eq!(PullPolicy::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(PullPolicy::parse("sometimes"), None);
        // Not given, the field is absent: a request of an older CLI reads the same.
        let spec: DeploySpec = serde_json::from_value(serde_json::json!({
            "app": "shop", "image": "shop:2", "public_port": 8080, "container_port": 80,
            "health_path": "/health", "health_timeout_ms": 1, "verify_window_ms": 1,
            "keep_warm_ms": 1, "drain_ms": 1, "proxy_image": "haproxy", "deploy_id": "d1"
        }))
        .unwrap();
        assert_eq!(spec.pull, None);
        assert!(!serde_json::to_string(&spec).unwrap().contains("pull"));
    }

    #[test]
    fn reply_is_found_in_noisy_stdout() {
        let reply = AgentReply {
            host: "i-1".into(),
            action: "status".into(),
            outcome: Outcome::Status,
            message: "ok".into(),
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
        };
        let out = format!(
            "pulling...\n{}\r\ntrailing\n",
            reply.to_marked_line().unwrap()
        );
        assert_eq!(AgentReply::from_stdout(&out).unwrap(), reply);
        assert!(AgentReply::from_stdout("no reply here").is_err());
    }

    #[test]
    fn a_reply_keeps_the_newest_commands_and_counts_the_rest() {
        let mut reply = AgentReply::from_stdout(
            r#"@@bluegreen-reply@@ {"host":"i-1","action":"deploy","outcome":"deployed","message":""}"#,
        )
        .unwrap();
        let at = chrono::Utc::now();
        reply.commands = (0..5)
            .map(|i| crate::report::CommandRun {
                ts: at + chrono::Duration::milliseconds(i),
                scope: crate::report::Scope::Host("i-1".into()),
                command: format!("docker start c{i}"),
                exit_code: Some(0),
                duration_ms: Some(1),
                detail: String::new(),
            })
            .collect();
        let older = reply.keep_newest_commands(3);
        let names = |c: &[crate::report::CommandRun]| {
            c.iter().map(|c| c.command.clone()).collect::<Vec<_>>()
        };
        assert_eq!(names(&older), ["docker start c0", "docker start c1"]);
        assert_eq!(reply.commands.len(), 3);
        assert_eq!(reply.commands_left_out, 2);
        assert!(reply
            .to_marked_line()
            .unwrap()
            .contains(r#""commands_left_out":2"#));
        assert!(reply.keep_newest_commands(3).is_empty());
        assert_eq!(reply.commands_left_out, 2);
    }
}
