//! The GitHub sinks: the sticky PR comment and the deployment with its statuses.
//!
//! Nothing here can change a deploy's result: every failure (no token, a fork's read-only
//! token, a missing permission, rate limiting, a 5xx, the network) becomes a
//! [`GithubProblem`] that [`publish`] prints as a `::warning::` and returns.
//!
//! The client is octocrab with its automatic retries **off**: octocrab's default policy
//! re-sends POSTs on a 5xx, which would post the same comment or deployment twice. Requests go
//! through octocrab's raw `_get`/`_post`/`_patch` with the documented verbs (octocrab's
//! `update_comment` sends POST instead of PATCH), and responses are read into the few fields
//! used, so a 202 "merged branch" answer or an extra field cannot break deserialization.

mod client;
mod comment;
mod deployment;

use crate::gha::commands::{Annotation, AnnotationLevel};
use crate::gha::RunnerEnv;
use crate::report::facts::ReportFacts;
use crate::report::model::RunReport;
use crate::report::redact::Redactor;
use crate::report::EventLog;
use chrono::{DateTime, Utc};
use client::Api;
use comment::post_sticky_comment;
use deployment::record_deployment;
use serde_json::Value;
use std::fmt;

/// The permission each sink needs, as written in a workflow's `permissions:` block.
pub const COMMENT_PERMISSION: &str = "pull-requests: write";
pub const DEPLOYMENT_PERMISSION: &str = "deployments: write";

/// What the GitHub sinks need to know.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// `GITHUB_API_URL`: `https://api.github.com`, or `https://HOST/api/v3` on GHES.
    pub api_url: String,
    pub token: Option<String>,
    /// `owner/repo`.
    pub repository: Option<String>,
    pub sha: Option<String>,
    /// `GITHUB_SERVER_URL`, for links to the repository's pages.
    pub server_url: String,
    /// The pull request to comment on when the event names none (`pr-number`: for
    /// `workflow_run`, `workflow_dispatch`, merge queues); it wins over the event's.
    pub pr_number: Option<u64>,
    pub event_name: Option<String>,
    /// The event payload, or why it could not be read.
    pub event: Result<Option<Value>, String>,
    pub run_url: Option<String>,
    pub report_dir: String,
    pub comment: bool,
    pub deployment: bool,
    /// A deployment [`start_deployment`] already created and marked `in_progress`: the
    /// report then posts only its final state.
    pub started_deployment: Option<u64>,
    pub redactor: Redactor,
    /// Where each request to the API is recorded (the run's command log).
    pub calls: EventLog,
}

impl GithubOptions {
    /// Options for a step on a runner. The token comes from an input: the runner does not
    /// put `GITHUB_TOKEN` in a container action's environment.
    pub fn from_runner(env: &RunnerEnv, token: Option<String>, redactor: Redactor) -> Self {
        GithubOptions {
            api_url: env.api_url.clone(),
            token: token.filter(|t| !t.trim().is_empty()),
            repository: env.repository.clone(),
            sha: env.sha.clone(),
            server_url: env.server_url.clone(),
            pr_number: None,
            event_name: env.event_name.clone(),
            event: env.event().map_err(|e| format!("{e:#}")),
            run_url: env.run_url(),
            report_dir: crate::report::write::DEFAULT_REPORT_DIR.to_string(),
            comment: true,
            deployment: true,
            started_deployment: None,
            redactor,
            calls: EventLog::new(),
        }
    }
}

impl GithubOptions {
    /// The commit the deployment is for: on `pull_request` events the PR's head, not the
    /// merge commit GitHub checks out (`GITHUB_SHA`); otherwise `GITHUB_SHA`.
    pub fn deployment_sha(&self) -> Option<String> {
        let pull_request = matches!(
            self.event_name.as_deref(),
            Some("pull_request" | "pull_request_target")
        );
        let head = self
            .event
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(|e| e.pointer("/pull_request/head/sha"))
            .and_then(Value::as_str)
            .filter(|_| pull_request);
        head.map(str::to_string).or_else(|| self.sha.clone())
    }

    /// The repository's deployments page, for the comment's and the summary's links.
    pub fn deployments_url(&self) -> Option<String> {
        let repo = self.repository.as_ref().filter(|_| self.deployment)?;
        Some(format!(
            "{}/{repo}/deployments",
            self.server_url.trim_end_matches('/')
        ))
    }
}

/// Why a GitHub sink did not do its job. Always a warning, never a failed deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubProblem {
    NoToken,
    /// A pull request from a fork gets a read-only token.
    ForkReadOnly,
    /// 403 without rate limiting: the job's `permissions:` lack this one.
    MissingPermission {
        permission: &'static str,
        message: String,
    },
    RateLimited {
        reset: Option<DateTime<Utc>>,
    },
    /// 401: the token is invalid or expired.
    Unauthorized,
    ServerError {
        status: u16,
        message: String,
    },
    /// Any other refusal (404, 409, 422).
    Rejected {
        status: u16,
        message: String,
    },
    /// The request did not complete (DNS, TLS, timeout) or the answer was unreadable.
    Transport(String),
    /// What the runner told us is unusable (`GITHUB_REPOSITORY`, the event payload).
    Runner(String),
}

impl fmt::Display for GithubProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GithubProblem::NoToken => f.write_str(
                "no GitHub token: pass `github-token: ${{ github.token }}` (the default) to enable it",
            ),
            GithubProblem::ForkReadOnly => f.write_str(
                "403 from GitHub: this pull request comes from a fork, whose GITHUB_TOKEN is read-only",
            ),
            GithubProblem::MissingPermission { permission, message } => write!(
                f,
                "403 from GitHub ({message}): the token lacks `{permission}`; add it to the job's `permissions:`"
            ),
            GithubProblem::RateLimited { reset: Some(t) } => {
                write!(f, "GitHub API rate limit reached; it resets at {}", t.to_rfc3339())
            }
            GithubProblem::RateLimited { reset: None } => {
                f.write_str("GitHub API rate limit reached (secondary limit); try again later")
            }
            GithubProblem::Unauthorized => {
                f.write_str("401 from GitHub: the token is invalid or expired")
            }
            GithubProblem::ServerError { status, message } => write!(
                f,
                "GitHub answered {status} ({message}); not retried, so nothing was sent twice"
            ),
            GithubProblem::Rejected { status, message } => {
                write!(f, "GitHub refused the request: {status} ({message})")
            }
            GithubProblem::Transport(e) => write!(f, "could not reach the GitHub API: {e}"),
            GithubProblem::Runner(e) => write!(f, "cannot tell what to publish to: {e}"),
        }
    }
}

/// How the sticky comment sink ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    Created {
        pull_request: u64,
        comment_id: u64,
    },
    Updated {
        pull_request: u64,
        comment_id: u64,
    },
    /// Not applicable (disabled, no pull request for this event or commit).
    Skipped(String),
    Warning(GithubProblem),
}

/// How the deployment sink ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentOutcome {
    /// The deployment and the statuses posted, in order.
    Recorded {
        deployment_id: u64,
        states: Vec<&'static str>,
    },
    Skipped(String),
    /// `deployment_id` is set when the deployment exists but a status could not be posted.
    Warning {
        deployment_id: Option<u64>,
        problem: GithubProblem,
    },
}

/// Both GitHub sinks' outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubOutcome {
    pub comment: CommentOutcome,
    pub deployment: DeploymentOutcome,
}

impl GithubOutcome {
    /// One line per sink that could not do its job.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let CommentOutcome::Warning(p) = &self.comment {
            out.push(format!("PR comment not posted: {p}"));
        }
        if let DeploymentOutcome::Warning { problem, .. } = &self.deployment {
            out.push(format!("GitHub deployment not recorded: {problem}"));
        }
        out
    }
}

/// Posts or updates the sticky PR comment and records the deployment. Prints a `::warning::`
/// for each sink that could not do its job; never fails.
pub async fn publish(report: &RunReport, options: &GithubOptions) -> GithubOutcome {
    let outcome = publish_quietly(report, options).await;
    for w in outcome.warnings() {
        println!(
            "{}",
            Annotation::new(AnnotationLevel::Warning, options.redactor.redact(&w))
        );
    }
    outcome
}

/// Creates the GitHub deployment and marks it `in_progress` as the deploy starts, so the
/// Environments page shows it while it runs. Problems are warnings, printed, never fatal.
/// `report` needs only the app, environment and deploy id at this point.
pub async fn start_deployment(report: &RunReport, options: &GithubOptions) -> DeploymentOutcome {
    let outcome = match Api::connect(options) {
        Ok(api) => deployment::begin_deployment(&api, report, options).await,
        Err(problem) => every_sink_warns(options, problem).deployment,
    };
    if let DeploymentOutcome::Warning { problem, .. } = &outcome {
        let w = format!("GitHub deployment: {problem}");
        println!(
            "{}",
            Annotation::new(AnnotationLevel::Warning, options.redactor.redact(&w))
        );
    }
    outcome
}

/// [`publish`] without printing the warnings.
pub async fn publish_quietly(report: &RunReport, options: &GithubOptions) -> GithubOutcome {
    let api = match Api::connect(options) {
        Ok(api) => api,
        Err(problem) => return every_sink_warns(options, problem),
    };
    let facts = ReportFacts::from_report(report);
    GithubOutcome {
        comment: post_sticky_comment(&api, report, &facts, options).await,
        deployment: record_deployment(&api, report, options).await,
    }
}

/// The outcome when no request can be made at all (no token, no client).
fn every_sink_warns(options: &GithubOptions, problem: GithubProblem) -> GithubOutcome {
    let comment = if options.comment {
        CommentOutcome::Warning(problem.clone())
    } else {
        CommentOutcome::Skipped("disabled".into())
    };
    let deployment = if options.deployment {
        DeploymentOutcome::Warning {
            deployment_id: None,
            problem,
        }
    } else {
        DeploymentOutcome::Skipped("disabled".into())
    };
    GithubOutcome {
        comment,
        deployment,
    }
}
