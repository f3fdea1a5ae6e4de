//! The one HTTP client of the GitHub sinks: octocrab without retries, every body redacted,
//! every error classified into a [`GithubProblem`].

use super::{GithubOptions, GithubProblem};
use crate::report::redact::Redactor;
use crate::report::{CommandRun, EventLog, Scope};
use chrono::Utc;
use http::{Method, StatusCode};
use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use serde_json::Value;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What a 403 means for the request at hand.
#[derive(Debug, Clone, Copy)]
pub(super) enum Permission {
    Needs(&'static str),
    ForkReadOnly,
}

pub(super) struct Api {
    client: Octocrab,
    /// Every request is recorded there, with its outcome.
    calls: EventLog,
    /// Every request body passes through it: no caller can forget.
    redactor: Redactor,
    /// `/repos/{owner}/{repo}`.
    pub(super) repo: String,
}

impl Api {
    pub(super) fn connect(options: &GithubOptions) -> Result<Api, GithubProblem> {
        let token = options.token.clone().ok_or(GithubProblem::NoToken)?;
        let repository = options.repository.as_deref().unwrap_or_default();
        let repo = match repository.split_once('/') {
            Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/') => {
                format!("/repos/{o}/{r}")
            }
            _ => {
                return Err(GithubProblem::Runner(format!(
                    "GITHUB_REPOSITORY {repository:?}: expected owner/repo"
                )))
            }
        };
        let client = Octocrab::builder()
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(READ_TIMEOUT))
            .base_uri(options.api_url.as_str())
            .map_err(|e| {
                GithubProblem::Transport(format!("GITHUB_API_URL {:?}: {e}", options.api_url))
            })?
            .personal_token(token)
            .build()
            .map_err(|e| GithubProblem::Transport(format!("building the HTTP client: {e}")))?;
        Ok(Api {
            client,
            calls: options.calls.clone(),
            repo,
            redactor: options.redactor.clone(),
        })
    }

    /// One request, sent once and recorded in the command log. Returns the JSON body (`null`
    /// when empty).
    pub(super) async fn call(
        &self,
        method: Method,
        route: &str,
        body: Option<Value>,
        permission: Permission,
    ) -> Result<Value, GithubProblem> {
        let (ts, started) = (Utc::now(), Instant::now());
        let command = format!("github {method} {route}");
        let result = self.send(method, route, body, permission).await;
        self.calls.record_command(CommandRun {
            ts,
            scope: Scope::Pipeline,
            command,
            exit_code: Some(if result.is_ok() { 0 } else { 1 }),
            duration_ms: Some(started.elapsed().as_millis() as u64),
            detail: result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
        });
        result
    }

    async fn send(
        &self,
        method: Method,
        route: &str,
        body: Option<Value>,
        permission: Permission,
    ) -> Result<Value, GithubProblem> {
        let body = body.map(|mut b| {
            self.redactor.redact_json(&mut b);
            b
        });
        let response = match method {
            Method::GET => self.client._get(route).await,
            Method::PATCH => self.client._patch(route, body.as_ref()).await,
            _ => self.client._post(route, body.as_ref()).await,
        }
        .map_err(|e| classify(e, permission))?;
        let response = octocrab::map_github_error(response)
            .await
            .map_err(|e| classify(e, permission))?;
        let status = response.status();
        let text = self
            .client
            .body_to_string(response)
            .await
            .map_err(|e| GithubProblem::Transport(format!("reading the answer: {e}")))?;
        if status == StatusCode::ACCEPTED {
            return Err(GithubProblem::Rejected {
                status: 202,
                message: format!("accepted without creating anything: {text}"),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| GithubProblem::Transport(format!("GitHub's answer is not JSON: {e}")))
    }
}

fn classify(error: octocrab::Error, permission: Permission) -> GithubProblem {
    match error {
        octocrab::Error::GitHub { source, .. } => classify_github_error(&source, permission),
        other => GithubProblem::Transport(other.to_string()),
    }
}

fn classify_github_error(e: &octocrab::GitHubError, permission: Permission) -> GithubProblem {
    let header = |name: &str| {
        e.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let limited = header("x-ratelimit-remaining").as_deref() == Some("0")
        || header("retry-after").is_some()
        || e.message.to_lowercase().contains("rate limit");
    let status = e.status_code.as_u16();
    match (status, permission) {
        (429, _) | (403, _) if limited || status == 429 => GithubProblem::RateLimited {
            reset: e.rate_limit_reset_at(),
        },
        (403, Permission::ForkReadOnly) => GithubProblem::ForkReadOnly,
        (403, Permission::Needs(permission)) => GithubProblem::MissingPermission {
            permission,
            message: e.message.clone(),
        },
        (401, _) => GithubProblem::Unauthorized,
        (500..=599, _) => GithubProblem::ServerError {
            status,
            message: e.message.clone(),
        },
        _ => GithubProblem::Rejected {
            status,
            message: e.message.clone(),
        },
    }
}

/// What a 403 means for a write needing `permission`: on a fork's pull request it is the
/// read-only token, which no `permissions:` block can widen.
pub(super) fn write_permission(options: &GithubOptions, permission: &'static str) -> Permission {
    let fork = options
        .event
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .is_some_and(is_fork_pull_request);
    if fork {
        Permission::ForkReadOnly
    } else {
        Permission::Needs(permission)
    }
}

fn is_fork_pull_request(event: &Value) -> bool {
    let head = event.pointer("/pull_request/head/repo/full_name");
    let base = event.pointer("/pull_request/base/repo/full_name");
    matches!((head, base), (Some(h), Some(b)) if h != b)
}

pub(super) fn id_of(value: &Value, what: &str) -> Result<u64, GithubProblem> {
    value.get("id").and_then(Value::as_u64).ok_or_else(|| {
        GithubProblem::Transport(format!(
            "GitHub's answer for the new {what} has no numeric `id`"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fork_pull_requests_are_recognised() {
        let fork = json!({"pull_request": {"number": 3,
            "head": {"repo": {"full_name": "someone/shop"}},
            "base": {"repo": {"full_name": "acme/shop"}}}});
        let same = json!({"pull_request": {"number": 3,
            "head": {"repo": {"full_name": "acme/shop"}},
            "base": {"repo": {"full_name": "acme/shop"}}}});
        assert!(is_fork_pull_request(&fork));
        assert!(!is_fork_pull_request(&same));
    }
}
