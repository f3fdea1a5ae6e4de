//! The GitHub deployment: created for the commit, then `in_progress` and the final state.

use super::client::{id_of, write_permission, Api, Permission};
use super::{DeploymentOutcome, GithubOptions, GithubProblem, DEPLOYMENT_PERMISSION};
use crate::report::model::{RunReport, RunStatus};
use http::Method;
use serde_json::{json, Value};

/// GitHub cuts deployment status descriptions at 140 characters.
const STATUS_DESCRIPTION_MAX: usize = 140;

/// The whole deployment at report time, or only its final state when the run already
/// started it ([`begin_deployment`], `options.started_deployment`).
pub(super) async fn record_deployment(
    api: &Api,
    report: &RunReport,
    options: &GithubOptions,
) -> DeploymentOutcome {
    if let Some(id) = options.started_deployment.filter(|_| options.deployment) {
        return post_final_state(api, id, report, options).await;
    }
    match begin_deployment(api, report, options).await {
        DeploymentOutcome::Recorded { deployment_id, .. } => {
            post_final_state(api, deployment_id, report, options).await
        }
        other => other,
    }
}

/// Creates the deployment for the commit and marks it `in_progress`.
pub(super) async fn begin_deployment(
    api: &Api,
    report: &RunReport,
    options: &GithubOptions,
) -> DeploymentOutcome {
    if !options.deployment {
        return DeploymentOutcome::Skipped("disabled".into());
    }
    let Some(sha) = options.deployment_sha() else {
        return DeploymentOutcome::Skipped("no commit to deploy (GITHUB_SHA unset)".into());
    };
    let permission = write_permission(options, DEPLOYMENT_PERMISSION);
    let id = match create_deployment(api, report, &sha, permission).await {
        Ok(id) => id,
        Err(problem) => {
            return DeploymentOutcome::Warning {
                deployment_id: None,
                problem,
            }
        }
    };
    match post_state(api, id, "in_progress", report, options).await {
        Ok(()) => DeploymentOutcome::Recorded {
            deployment_id: id,
            states: vec!["in_progress"],
        },
        Err(problem) => DeploymentOutcome::Warning {
            deployment_id: Some(id),
            problem,
        },
    }
}

async fn post_final_state(
    api: &Api,
    id: u64,
    report: &RunReport,
    options: &GithubOptions,
) -> DeploymentOutcome {
    let state = final_state(report.status);
    match post_state(api, id, state, report, options).await {
        Ok(()) => DeploymentOutcome::Recorded {
            deployment_id: id,
            states: vec!["in_progress", state],
        },
        Err(problem) => DeploymentOutcome::Warning {
            deployment_id: Some(id),
            problem,
        },
    }
}

async fn post_state(
    api: &Api,
    id: u64,
    state: &str,
    report: &RunReport,
    options: &GithubOptions,
) -> Result<(), GithubProblem> {
    let permission = write_permission(options, DEPLOYMENT_PERMISSION);
    let body = status_body(state, report, options);
    let route = format!("{}/deployments/{id}/statuses", api.repo);
    api.call(Method::POST, &route, Some(body), permission)
        .await
        .map(|_| ())
}

async fn create_deployment(
    api: &Api,
    report: &RunReport,
    sha: &str,
    permission: Permission,
) -> Result<u64, GithubProblem> {
    // auto_merge false: never let GitHub merge the default branch into the ref (and answer
    // 202 instead of deploying); required_contexts []: the workflow already gated this run.
    let body = json!({
        "ref": sha,
        "task": "deploy",
        "auto_merge": false,
        "required_contexts": [],
        "environment": report.environment,
        "description": short(&format!("{} {}", report.app, report.deploy_id)),
        "payload": { "app": report.app, "deploy_id": report.deploy_id },
        "transient_environment": false,
    });
    let route = format!("{}/deployments", api.repo);
    let created = api
        .call(Method::POST, &route, Some(body), permission)
        .await?;
    id_of(&created, "deployment")
}

/// The deployment state for how the run ended: a requested rollback that worked is a
/// successful deployment of the prior version; lock contention and nothing-to-roll-back are
/// errors of the deployment process, not failures of the app.
fn final_state(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success | RunStatus::RolledBack => "success",
        RunStatus::Failure => "failure",
        RunStatus::NothingToRollBack | RunStatus::Locked => "error",
    }
}

fn status_body(state: &str, report: &RunReport, options: &GithubOptions) -> Value {
    let description = match state {
        "in_progress" => format!("deploying {} ({})", report.app, report.deploy_id),
        _ => format!("{} {}: {}", report.app, report.deploy_id, report.status),
    };
    let mut body = json!({
        "state": state,
        "description": short(&description),
    });
    if let Some(url) = &options.run_url {
        body["log_url"] = json!(url);
    }
    if let Some(url) = report
        .environment_url
        .as_ref()
        .filter(|_| state == "success")
    {
        body["environment_url"] = json!(url);
    }
    body
}

fn short(text: &str) -> String {
    text.chars().take(STATUS_DESCRIPTION_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_follow_the_run() {
        assert_eq!(final_state(RunStatus::Success), "success");
        assert_eq!(final_state(RunStatus::Failure), "failure");
        assert_eq!(final_state(RunStatus::Locked), "error");
    }
}
