//! A transport carries one agent request to hosts and brings back their replies.

use super::sibling::SiblingAgent;
use crate::agent::{AgentReply, AgentRequest};
use crate::report::EventLog;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Runs an agent request on hosts. Two implementations: in-process ([`LocalTransport`]) and
/// SSM Run Command ([`crate::fleet::ssm::SsmTransport`]).
///
/// `run_batch` exists because a fleet must not cost one API round trip per host: SSM sends
/// one command to a whole batch and polls it as one. Its default runs the hosts one by one.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn run(&self, host: &str, request: &AgentRequest) -> anyhow::Result<AgentReply>;

    /// Runs the same request on every host of `hosts` at once; one result per host, in order.
    async fn run_batch(&self, hosts: &[String], request: &AgentRequest) -> Vec<HostRun> {
        let mut runs = Vec::with_capacity(hosts.len());
        for host in hosts {
            let result = self.run(host, request).await.map_err(|e| HostFailure {
                kind: FailureKind::Agent,
                message: format!("{e:#}"),
            });
            runs.push(HostRun {
                host: host.clone(),
                arch: Some(std::env::consts::ARCH.to_string()),
                result,
            });
        }
        runs
    }
}

/// What one host returned: the agent's reply, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRun {
    pub host: String,
    /// The host's machine architecture as `uname -m` reports it, when the transport saw it.
    #[serde(default)]
    pub arch: Option<String>,
    pub result: Result<AgentReply, HostFailure>,
}

/// Why a host produced no usable reply. The message says what to look at next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct HostFailure {
    pub kind: FailureKind,
    pub message: String,
}

/// The kinds of failure a fleet tells apart. The SSM ones map the terminal invocation
/// statuses (see `docs/ssm.md`); none of them is ever treated as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The script exited non-zero without an agent reply (docker missing, image pull failed).
    Failed,
    ExecutionTimedOut,
    DeliveryTimedOut,
    Cancelled,
    Undeliverable,
    InvalidPlatform,
    AccessDenied,
    /// SSM stopped the invocation because the command's own MaxErrors was reached.
    Terminated,
    /// Our deadline passed; CancelCommand was sent.
    DeadlineExceeded,
    /// The script succeeded but printed no reply line.
    NoReply,
    /// SSM cut stdout at 24,000 characters before the reply line.
    OutputTruncated,
    /// The AWS API refused or failed a call for this host.
    Api,
    /// The host failed a check before anything was sent to it.
    Preflight,
    /// The agent itself returned an error (local transport).
    Agent,
    /// A status SSM documents no meaning for; reported as failure, never success.
    Unknown,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FailureKind::Failed => "failed",
            FailureKind::ExecutionTimedOut => "execution timed out",
            FailureKind::DeliveryTimedOut => "delivery timed out",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Undeliverable => "undeliverable",
            FailureKind::InvalidPlatform => "invalid platform",
            FailureKind::AccessDenied => "access denied",
            FailureKind::Terminated => "terminated",
            FailureKind::DeadlineExceeded => "deadline exceeded",
            FailureKind::NoReply => "no reply",
            FailureKind::OutputTruncated => "output truncated",
            FailureKind::Api => "AWS API error",
            FailureKind::Preflight => "preflight",
            FailureKind::Agent => "agent error",
            FailureKind::Unknown => "unknown status",
        };
        f.write_str(s)
    }
}

/// This host's Docker daemon. The agent runs in-process, or, when this process is itself in a
/// container (a container action), as a sibling container on the host network
/// ([`SiblingAgent`]), since the colors' loopback ports are out of a container's reach.
#[derive(Debug, Clone, Default)]
pub struct LocalTransport {
    sibling: Option<SiblingAgent>,
}

impl LocalTransport {
    /// Picks in-process or sibling-container mode for where this process runs.
    pub async fn detect() -> anyhow::Result<LocalTransport> {
        Ok(LocalTransport {
            sibling: SiblingAgent::detect().await?,
        })
    }

    /// Whether the agent runs in this process (so an interrupt stops it mid-command).
    pub fn in_process(&self) -> bool {
        self.sibling.is_none()
    }

    /// The agent image when the agent runs as a sibling container.
    pub fn sibling_image(&self) -> Option<&str> {
        self.sibling.as_ref().map(SiblingAgent::image)
    }
}

impl Transport for LocalTransport {
    async fn run(&self, _host: &str, request: &AgentRequest) -> anyhow::Result<AgentReply> {
        match &self.sibling {
            Some(agent) => agent.run(request).await,
            // A log of its own: the reply carries exactly this request's events, which the
            // rollout then adds to the run's log (as it does for replies over SSM).
            None => crate::agent::handle(request.clone(), &EventLog::new()).await,
        }
    }
}
