//! The sticky PR comment: one per app and environment, found again by its hidden marker
//! among the comments written by the token's own identity.
//!
//! Anyone who may comment on a pull request can write our marker; only a comment of ours is
//! ever edited. The identity is `github-actions[bot]` for the workflow token (an installation
//! token, `ghs_...`, which cannot call `GET /user`) and the `GET /user` login for any other.

use super::client::{id_of, write_permission, Api, Permission};
use super::{CommentOutcome, GithubOptions, GithubProblem, COMMENT_PERMISSION};
use crate::report::facts::ReportFacts;
use crate::report::markdown::{comment_marker, render_comment, Links};
use crate::report::model::RunReport;
use http::Method;
use serde_json::{json, Value};

/// Comments are listed 100 a page (the API's maximum).
const COMMENTS_PER_PAGE: usize = 100;
/// Stop looking for our comment after this many pages (10,000 comments).
const MAX_COMMENT_PAGES: u32 = 100;

pub(super) async fn post_sticky_comment(
    api: &Api,
    report: &RunReport,
    facts: &ReportFacts,
    options: &GithubOptions,
) -> CommentOutcome {
    if !options.comment {
        return CommentOutcome::Skipped("disabled".into());
    }
    let pr = match find_pull_request(api, options).await {
        Ok(Some(pr)) => pr,
        Ok(None) => return CommentOutcome::Skipped(no_pull_request_reason(options)),
        Err(p) => return CommentOutcome::Warning(p),
    };
    let links = Links {
        run_url: options.run_url.clone(),
        report_dir: options.report_dir.clone(),
        deployments_url: options.deployments_url(),
    };
    let body = render_comment(report, facts, &links);
    let marker = comment_marker(&report.app, &report.environment);
    let permission = write_permission(options, COMMENT_PERMISSION);
    let author = match identity(api, options).await {
        Ok(author) => author,
        Err(p) => return CommentOutcome::Warning(p),
    };
    upsert_comment(
        api,
        pr,
        &Ours {
            marker: &marker,
            author: &author,
        },
        &body,
        permission,
    )
    .await
    .unwrap_or_else(CommentOutcome::Warning)
}

/// The login the workflow token writes as.
pub const WORKFLOW_TOKEN_LOGIN: &str = "github-actions[bot]";

/// The login of the token in use: `github-actions[bot]` for an installation token (the
/// workflow token), the `GET /user` login otherwise.
async fn identity(api: &Api, options: &GithubOptions) -> Result<String, GithubProblem> {
    if options
        .token
        .as_deref()
        .is_some_and(|t| t.starts_with("ghs_"))
    {
        return Ok(WORKFLOW_TOKEN_LOGIN.to_string());
    }
    let user = api
        .call(
            Method::GET,
            "/user",
            None,
            Permission::Needs("a token that may read its own user (GET /user)"),
        )
        .await?;
    user.get("login")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .ok_or_else(|| GithubProblem::Transport("GET /user answered without a login".to_string()))
}

/// What makes a comment ours: written by our identity, and starting with our marker.
struct Ours<'a> {
    marker: &'a str,
    author: &'a str,
}

impl Ours<'_> {
    /// Starting with the marker (not merely containing it) keeps a reply that quotes our
    /// comment from being taken for it; the author keeps a planted marker from being taken.
    fn is(&self, comment: &Value) -> bool {
        let author = comment.pointer("/user/login").and_then(Value::as_str);
        let body = comment.get("body").and_then(Value::as_str);
        author == Some(self.author) && body.is_some_and(|b| b.trim_start().starts_with(self.marker))
    }
}

/// Updates our comment when the pull request has one, else creates it.
async fn upsert_comment(
    api: &Api,
    pr: u64,
    ours: &Ours<'_>,
    body: &str,
    permission: Permission,
) -> Result<CommentOutcome, GithubProblem> {
    match find_comment(api, pr, ours, permission).await? {
        Some(id) => {
            update_comment(api, id, body, permission).await?;
            Ok(CommentOutcome::Updated {
                pull_request: pr,
                comment_id: id,
            })
        }
        None => {
            let id = create_comment(api, pr, body, permission).await?;
            Ok(CommentOutcome::Created {
                pull_request: pr,
                comment_id: id,
            })
        }
    }
}

/// The pull request to comment on: from the payload on `pull_request` events, through the
/// commit on `push` events. `None` when the event has none.
async fn find_pull_request(
    api: &Api,
    options: &GithubOptions,
) -> Result<Option<u64>, GithubProblem> {
    if let Some(number) = options.pr_number {
        return Ok(Some(number));
    }
    match options.event_name.as_deref() {
        Some("pull_request" | "pull_request_target") => pull_request_from_event(options),
        Some("push") => pull_request_for_commit(api, options).await,
        _ => Ok(None),
    }
}

fn pull_request_from_event(options: &GithubOptions) -> Result<Option<u64>, GithubProblem> {
    let event = options
        .event
        .as_ref()
        .map_err(|e| GithubProblem::Runner(format!("the event payload could not be read: {e}")))?;
    Ok(event
        .as_ref()
        .and_then(|e| e.pointer("/pull_request/number"))
        .and_then(Value::as_u64))
}

async fn pull_request_for_commit(
    api: &Api,
    options: &GithubOptions,
) -> Result<Option<u64>, GithubProblem> {
    let Some(sha) = &options.sha else {
        return Ok(None);
    };
    let route = format!("{}/commits/{sha}/pulls?per_page=100&page=1", api.repo);
    let pulls = api
        .call(
            Method::GET,
            &route,
            None,
            Permission::Needs("contents: read"),
        )
        .await?;
    let pulls = pulls.as_array().cloned().unwrap_or_default();
    // Prefer an open pull request; a merged one introduced the commit on the default branch.
    let open = pulls
        .iter()
        .find(|p| p.get("state").and_then(Value::as_str) == Some("open"));
    Ok(open
        .or(pulls.first())
        .and_then(|p| p.get("number"))
        .and_then(Value::as_u64))
}

fn no_pull_request_reason(options: &GithubOptions) -> String {
    match options.event_name.as_deref() {
        Some("push") => "no pull request is associated with this commit".into(),
        Some(e) => {
            format!("`{e}` events have no pull request (set the `pr-number` input to name one)")
        }
        None => "not running in a workflow (GITHUB_EVENT_NAME unset)".into(),
    }
}

/// Our comment: the first of ours (see [`Ours`]).
async fn find_comment(
    api: &Api,
    pr: u64,
    ours: &Ours<'_>,
    permission: Permission,
) -> Result<Option<u64>, GithubProblem> {
    for page in 1..=MAX_COMMENT_PAGES {
        let route = format!(
            "{}/issues/{pr}/comments?per_page={COMMENTS_PER_PAGE}&page={page}",
            api.repo
        );
        let comments = api.call(Method::GET, &route, None, permission).await?;
        let comments = comments.as_array().cloned().unwrap_or_default();
        let found = comments.iter().find(|c| ours.is(c));
        if let Some(id) = found.and_then(|c| c.get("id")).and_then(Value::as_u64) {
            return Ok(Some(id));
        }
        if comments.len() < COMMENTS_PER_PAGE {
            break;
        }
    }
    Ok(None)
}

async fn create_comment(
    api: &Api,
    pr: u64,
    body: &str,
    permission: Permission,
) -> Result<u64, GithubProblem> {
    let route = format!("{}/issues/{pr}/comments", api.repo);
    let created = api
        .call(
            Method::POST,
            &route,
            Some(json!({ "body": body })),
            permission,
        )
        .await?;
    id_of(&created, "comment")
}

async fn update_comment(
    api: &Api,
    id: u64,
    body: &str,
    permission: Permission,
) -> Result<(), GithubProblem> {
    let route = format!("{}/issues/comments/{id}", api.repo);
    api.call(
        Method::PATCH,
        &route,
        Some(json!({ "body": body })),
        permission,
    )
    .await
    .map(drop)
}
