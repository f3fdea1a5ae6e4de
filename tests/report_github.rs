//! The GitHub sinks against a mock GitHub API (wiremock) served under a GHES-style
//! `/api/v3` prefix, so every test also proves `GITHUB_API_URL` is honoured.
//!
//! Every request the sink sends is checked against the operation's schema, extracted from
//! GitHub's OpenAPI description into `tests/data/github/` (see the README there): method,
//! path template, body schema, and the exact set of keys.

use bluegreen::report::github::{
    publish_quietly, start_deployment, CommentOutcome, DeploymentOutcome, GithubOptions,
    GithubProblem,
};
use bluegreen::report::{EventLog, Redactor, RunReport};
use serde_json::{json, Value};
use std::path::Path;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PREFIX: &str = "/api/v3/repos/acme/shop";
const SHA: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
const RUN_URL: &str = "https://github.example.com/acme/shop/actions/runs/42";

fn fixture() -> RunReport {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report/run.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn pr_event(number: u64, head_repo: &str) -> Value {
    json!({"pull_request": {"number": number,
        "head": {"sha": SHA, "repo": {"full_name": head_repo}},
        "base": {"repo": {"full_name": "acme/shop"}}}})
}

fn options(server: &MockServer, event_name: &str, event: Option<Value>) -> GithubOptions {
    GithubOptions {
        api_url: format!("{}/api/v3", server.uri()),
        token: Some("ghs_mocktoken0123456789".into()),
        repository: Some("acme/shop".into()),
        sha: Some(SHA.into()),
        server_url: "https://github.example.com".into(),
        pr_number: None,
        event_name: Some(event_name.into()),
        event: Ok(event),
        run_url: Some(RUN_URL.into()),
        report_dir: "bluegreen-report".into(),
        comment: true,
        deployment: true,
        started_deployment: None,
        calls: EventLog::new(),
        redactor: Redactor::default(),
    }
}

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

async fn mount_deployment_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/deployments")))
        .respond_with(json_response(
            201,
            json!({"id": 501, "environment": "production"}),
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/deployments/501/statuses")))
        .respond_with(json_response(201, json!({"id": 9001})))
        .mount(server)
        .await;
}

/// `(METHOD, path-without-prefix)` of every request, in order, after checking each against
/// its operation's schema.
async fn checked_requests(server: &MockServer) -> Vec<(String, String)> {
    let requests = server.received_requests().await.unwrap();
    requests.iter().map(check_against_schema).collect()
}

struct Operation {
    file: &'static str,
    method: &'static str,
    /// The path template with `{...}` segments.
    template: &'static str,
}

const OPERATIONS: &[Operation] = &[
    Operation {
        file: "users-get-authenticated",
        method: "GET",
        template: "/user",
    },
    Operation {
        file: "issues-list-comments",
        method: "GET",
        template: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    },
    Operation {
        file: "issues-create-comment",
        method: "POST",
        template: "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    },
    Operation {
        file: "issues-update-comment",
        method: "PATCH",
        template: "/repos/{owner}/{repo}/issues/comments/{comment_id}",
    },
    Operation {
        file: "repos-list-pull-requests-associated-with-commit",
        method: "GET",
        template: "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
    },
    Operation {
        file: "repos-create-deployment",
        method: "POST",
        template: "/repos/{owner}/{repo}/deployments",
    },
    Operation {
        file: "repos-create-deployment-status",
        method: "POST",
        template: "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    },
];

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

fn check_against_schema(req: &Request) -> (String, String) {
    let method = req.method.as_str().to_string();
    let full = req.url.path().to_string();
    let api_path = full
        .strip_prefix("/api/v3")
        .unwrap_or_else(|| panic!("{full}: not under GITHUB_API_URL's /api/v3"));
    let op = OPERATIONS
        .iter()
        .find(|o| o.method == method && template_matches(o.template, api_path))
        .unwrap_or_else(|| panic!("{method} {api_path}: not one of the documented operations"));
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/data/github/{}.json", op.file)),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(spec["method"], op.method);
    assert_eq!(spec["path"], op.template);
    assert_eq!(
        req.headers
            .get("x-github-api-version")
            .map(|v| v.to_str().unwrap()),
        Some("2022-11-28")
    );
    match &spec["requestBody"] {
        Value::Null => {
            assert!(req.body.is_empty(), "{method} {api_path} sends a body");
            let query: serde_json::Map<String, Value> = req
                .url
                .query_pairs()
                .map(|(k, v)| {
                    let v = v
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(Value::from(v.to_string()));
                    (k.to_string(), v)
                })
                .collect();
            validate(&spec["query"], &Value::Object(query), op.file);
        }
        schema => {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            validate(schema, &body, op.file);
            let allowed = schema["properties"].as_object().unwrap();
            for key in body.as_object().unwrap().keys() {
                assert!(
                    allowed.contains_key(key),
                    "{}: unknown body key {key}",
                    op.file
                );
            }
        }
    }
    (
        method,
        api_path.trim_start_matches("/repos/acme/shop").to_string(),
    )
}

/// A planted marker: a comment that starts with our marker but was written by someone else.
fn planted(id: u64, marker: &str, login: &str) -> Value {
    json!({"id": id, "body": format!("{marker}\nplanted by {login}"), "user": {"login": login}})
}

#[tokio::test]
async fn a_marker_planted_by_someone_else_is_never_edited() {
    let server = MockServer::start().await;
    let marker = "<!-- bluegreen-action:shop:production -->";
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(
            200,
            json!([
                planted(13, marker, "mallory"),
                planted(14, marker, "github-actions")
            ]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(201, json!({"id": 100})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(json_response(200, json!({"id": 13})))
        .expect(0)
        .mount(&server)
        .await;
    let mut opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    opts.deployment = false;
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Created {
            pull_request: 7,
            comment_id: 100
        },
        "the planted markers are ignored: a new comment of ours is created"
    );
    let flow = checked_requests(&server).await;
    assert!(flow.iter().all(|(m, _)| m != "PATCH"), "{flow:?}");
}

#[tokio::test]
async fn with_a_personal_token_the_comment_is_found_by_the_get_user_login() {
    let server = MockServer::start().await;
    let marker = "<!-- bluegreen-action:shop:production -->";
    Mock::given(method("GET"))
        .and(path("/api/v3/user"))
        .respond_with(json_response(200, json!({"login": "deploy-bot", "id": 5})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(
            200,
            json!([
                planted(21, marker, "github-actions[bot]"),
                planted(22, marker, "deploy-bot")
            ]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{PREFIX}/issues/comments/22")))
        .respond_with(json_response(200, json!({"id": 22})))
        .expect(1)
        .mount(&server)
        .await;
    let mut opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    opts.token = Some("github_pat_11PLANTEDmock0123456789".into());
    opts.deployment = false;
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Updated {
            pull_request: 7,
            comment_id: 22
        },
        "only deploy-bot's comment is ours; the workflow token's is not"
    );
    let flow = checked_requests(&server).await;
    assert_eq!(flow[0], ("GET".to_string(), "/user".to_string()));
}

fn validate(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: {instance} violates its schema: {errors:?}"
    );
}

fn bodies(requests: &[Request], suffix: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with(suffix))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test]
async fn first_run_creates_the_comment_and_the_second_updates_it() {
    let server = MockServer::start().await;
    let marker = "<!-- bluegreen-action:shop:production -->";
    // First listing: someone else's comments only. Later listings: ours is there too.
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .and(query_param("per_page", "100"))
        .respond_with(json_response(
            200,
            json!([{"id": 11, "body": "LGTM", "user": {"login": "octocat"}}]),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(
            200,
            json!([{"id": 11, "body": format!("> {marker}\nquoted"), "user": {"login": "octocat"}},
                   {"id": 99, "body": format!("{marker}\nold report"),
                    "user": {"login": "github-actions[bot]"}}]),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(201, json!({"id": 99})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{PREFIX}/issues/comments/99")))
        .respond_with(json_response(200, json!({"id": 99})))
        .expect(1)
        .mount(&server)
        .await;
    mount_deployment_ok(&server).await;

    let report = fixture();
    let opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    let first = publish_quietly(&report, &opts).await;
    assert_eq!(
        first.comment,
        CommentOutcome::Created {
            pull_request: 7,
            comment_id: 99
        }
    );
    assert_eq!(
        first.deployment,
        DeploymentOutcome::Recorded {
            deployment_id: 501,
            states: vec!["in_progress", "success"]
        }
    );
    let second = publish_quietly(&report, &opts).await;
    assert_eq!(
        second.comment,
        CommentOutcome::Updated {
            pull_request: 7,
            comment_id: 99
        },
        "the quoted marker in comment 11 is not ours"
    );
    assert!(first.warnings().is_empty() && second.warnings().is_empty());

    let flow = checked_requests(&server).await;
    let run = [
        ("GET", "/issues/7/comments"),
        ("POST", "/issues/7/comments"),
        ("POST", "/deployments"),
        ("POST", "/deployments/501/statuses"),
        ("POST", "/deployments/501/statuses"),
    ];
    let mut expected: Vec<(String, String)> = run
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.extend(run.iter().map(|(m, p)| {
        let (m, p) = if *m == "POST" && p.ends_with("/7/comments") {
            ("PATCH", "/issues/comments/99")
        } else {
            (*m, *p)
        };
        (m.to_string(), p.to_string())
    }));
    assert_eq!(flow, expected);

    let requests = server.received_requests().await.unwrap();
    let comment: Value = serde_json::from_slice(&requests[1].body).unwrap();
    let body = comment["body"].as_str().unwrap();
    assert!(body.starts_with(marker) && body.contains("i-0a1b2c3d4e5f60002"));
    assert!(body.chars().count() <= 65_536);
    assert_eq!(
        requests[1].headers.get("authorization").unwrap(),
        "Bearer ghs_mocktoken0123456789"
    );

    let deployment = &bodies(&requests, "/deployments")[0];
    assert_eq!(deployment["auto_merge"], false);
    assert_eq!(deployment["required_contexts"], json!([]));
    assert_eq!(deployment["ref"], SHA);
    assert_eq!(deployment["environment"], "production");
    let statuses = bodies(&requests, "/statuses");
    let states: Vec<&str> = statuses
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["in_progress", "success", "in_progress", "success"]);
    assert!(statuses.iter().all(|s| s["log_url"] == RUN_URL));
    assert_eq!(statuses[0].get("environment_url"), None);
    assert_eq!(statuses[1]["environment_url"], "https://shop.example.com");
}

#[tokio::test]
async fn a_failed_deploy_ends_its_deployment_in_failure() {
    let server = MockServer::start().await;
    mount_deployment_ok(&server).await;
    let mut report = fixture();
    report.status = bluegreen::report::RunStatus::Failure;
    let mut opts = options(&server, "workflow_dispatch", None);
    opts.comment = true;
    let outcome = publish_quietly(&report, &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Skipped(
            "`workflow_dispatch` events have no pull request (set the `pr-number` input to name one)"
                .into()
        )
    );
    assert_eq!(
        outcome.deployment,
        DeploymentOutcome::Recorded {
            deployment_id: 501,
            states: vec!["in_progress", "failure"]
        }
    );
    let requests = server.received_requests().await.unwrap();
    let statuses = bodies(&requests, "/statuses");
    assert_eq!(
        statuses[1].get("environment_url"),
        None,
        "no URL for a failed deploy"
    );
    checked_requests(&server).await;
}

/// The pipeline starts the deployment as the deploy begins (so the Environments page shows it
/// while it runs) and the report then posts only the final state: one deployment, two statuses.
#[tokio::test]
async fn a_deployment_started_with_the_deploy_is_finished_by_the_report() {
    let server = MockServer::start().await;
    mount_deployment_ok(&server).await;
    let report = fixture();
    let mut opts = options(&server, "workflow_dispatch", None);
    opts.comment = false;
    let started = start_deployment(&report, &opts).await;
    assert_eq!(
        started,
        DeploymentOutcome::Recorded {
            deployment_id: 501,
            states: vec!["in_progress"]
        }
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    opts.started_deployment = Some(501);
    let outcome = publish_quietly(&report, &opts).await;
    assert_eq!(
        outcome.deployment,
        DeploymentOutcome::Recorded {
            deployment_id: 501,
            states: vec!["in_progress", "success"]
        }
    );
    let requests = checked_requests(&server).await;
    let created = requests
        .iter()
        .filter(|(_, p)| p.ends_with("/deployments"))
        .count();
    assert_eq!(created, 1, "the deployment is created once: {requests:?}");
    let states: Vec<Value> = bodies(&server.received_requests().await.unwrap(), "/statuses")
        .into_iter()
        .map(|b| b["state"].clone())
        .collect();
    assert_eq!(states, [json!("in_progress"), json!("success")]);
}

#[tokio::test]
async fn push_events_find_the_pull_request_through_the_commit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/commits/{SHA}/pulls")))
        .respond_with(json_response(
            200,
            json!([{"number": 12, "state": "closed"}, {"number": 13, "state": "open"}]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/13/comments")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/issues/13/comments")))
        .respond_with(json_response(201, json!({"id": 5})))
        .expect(1)
        .mount(&server)
        .await;
    let mut opts = options(&server, "push", None);
    opts.deployment = false;
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Created {
            pull_request: 13,
            comment_id: 5
        }
    );
    assert_eq!(
        outcome.deployment,
        DeploymentOutcome::Skipped("disabled".into())
    );
    checked_requests(&server).await;
}

#[tokio::test]
async fn a_push_without_a_pull_request_skips_the_comment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/commits/{SHA}/pulls")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    let mut opts = options(&server, "push", None);
    opts.deployment = false;
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Skipped("no pull request is associated with this commit".into())
    );
    assert_eq!(checked_requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_fork_pull_request_403_is_a_warning_naming_the_read_only_token() {
    let server = MockServer::start().await;
    let forbidden = json!({"message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest"});
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(json_response(403, forbidden))
        .mount(&server)
        .await;
    let opts = options(&server, "pull_request", Some(pr_event(7, "someone/shop")));
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Warning(GithubProblem::ForkReadOnly)
    );
    assert_eq!(
        outcome.deployment,
        DeploymentOutcome::Warning {
            deployment_id: None,
            problem: GithubProblem::ForkReadOnly
        }
    );
    let warnings = outcome.warnings();
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings[0].contains("fork") && warnings[0].contains("read-only"),
        "{warnings:?}"
    );
    checked_requests(&server).await;
}

#[tokio::test]
async fn a_missing_permission_is_named() {
    let server = MockServer::start().await;
    let forbidden = json!({"message": "Resource not accessible by integration"});
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(json_response(403, forbidden))
        .mount(&server)
        .await;
    let opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    let outcome = publish_quietly(&fixture(), &opts).await;
    let warnings = outcome.warnings();
    assert!(
        matches!(&outcome.comment, CommentOutcome::Warning(GithubProblem::MissingPermission { permission, .. }) if *permission == "pull-requests: write")
    );
    assert!(
        warnings[0].contains("`pull-requests: write`"),
        "{warnings:?}"
    );
    assert!(warnings[1].contains("`deployments: write`"), "{warnings:?}");
    let requests = checked_requests(&server).await;
    // Every request is in the command log, in order, with how it ended.
    let calls = opts.calls.commands();
    assert_eq!(calls.len(), requests.len(), "{calls:#?}");
    let listed = &calls[0];
    assert_eq!(
        listed.command,
        "github GET /repos/acme/shop/issues/7/comments?per_page=100&page=1"
    );
    assert_eq!((listed.exit_code, listed.detail.as_str()), (Some(0), ""));
    let refused = calls
        .iter()
        .find(|c| c.command == "github POST /repos/acme/shop/deployments")
        .expect("the deployment request is logged");
    assert_eq!(refused.exit_code, Some(1));
    assert!(refused.detail.contains("403"), "{}", refused.detail);
    assert!(refused.duration_ms.is_some());
}

#[tokio::test]
async fn rate_limiting_is_a_warning_with_the_reset_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json_response(
                403,
                json!({"message": "API rate limit exceeded for installation ID 1."}),
            )
            .insert_header("x-ratelimit-remaining", "0")
            .insert_header("x-ratelimit-reset", "1795000000"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(json_response(
            429,
            json!({"message": "You have exceeded a secondary rate limit."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    let outcome = publish_quietly(&fixture(), &opts).await;
    let CommentOutcome::Warning(GithubProblem::RateLimited { reset: Some(reset) }) =
        outcome.comment
    else {
        panic!(
            "expected a rate limit with its reset time: {:?}",
            outcome.comment
        );
    };
    assert_eq!(reset.timestamp(), 1_795_000_000);
    assert!(matches!(
        outcome.deployment,
        DeploymentOutcome::Warning {
            problem: GithubProblem::RateLimited { .. },
            ..
        }
    ));
    checked_requests(&server).await;
}

#[tokio::test]
async fn a_5xx_on_a_post_is_sent_exactly_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/deployments")))
        .respond_with(json_response(500, json!({"message": "Server Error"})))
        .expect(1)
        .mount(&server)
        .await;
    let opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert!(matches!(
        outcome.comment,
        CommentOutcome::Warning(GithubProblem::ServerError { status: 502, .. })
    ));
    assert!(matches!(
        outcome.deployment,
        DeploymentOutcome::Warning {
            problem: GithubProblem::ServerError { status: 500, .. },
            ..
        }
    ));
    let posts = checked_requests(&server)
        .await
        .into_iter()
        .filter(|(m, _)| m == "POST")
        .count();
    assert_eq!(posts, 2, "one POST per sink, none repeated");
}

#[tokio::test]
async fn without_a_token_nothing_is_sent() {
    let server = MockServer::start().await;
    let mut opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    opts.token = None;
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Warning(GithubProblem::NoToken)
    );
    assert!(outcome.warnings()[0].contains("github-token"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_api_is_a_warning() {
    // A port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = MockServer::start().await;
    let mut opts = options(&server, "pull_request", Some(pr_event(7, "acme/shop")));
    opts.api_url = format!("http://127.0.0.1:{port}/api/v3");
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert!(matches!(
        outcome.comment,
        CommentOutcome::Warning(GithubProblem::Transport(_))
    ));
}

/// `workflow_dispatch` and `workflow_run` name no pull request: `pr-number` does. The comment
/// links the deployment and the run.
#[tokio::test]
async fn pr_number_targets_the_comment_and_the_comment_links_deployment_and_run() {
    let server = MockServer::start().await;
    mount_deployment_ok(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(200, json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PREFIX}/issues/7/comments")))
        .respond_with(json_response(201, json!({"id": 70})))
        .expect(1)
        .mount(&server)
        .await;
    let mut opts = options(&server, "workflow_dispatch", None);
    let without = publish_quietly(&fixture(), &opts).await;
    match without.comment {
        CommentOutcome::Skipped(why) => assert!(why.contains("pr-number"), "{why}"),
        other => panic!("expected a skipped comment, got {other:?}"),
    }
    opts.pr_number = Some(7);
    let outcome = publish_quietly(&fixture(), &opts).await;
    assert_eq!(
        outcome.comment,
        CommentOutcome::Created {
            pull_request: 7,
            comment_id: 70
        }
    );
    let requests = server.received_requests().await.unwrap();
    let posted = bodies(&requests, "/issues/7/comments");
    let text = posted[0]["body"].as_str().unwrap();
    assert!(text.contains(&format!("[this run]({RUN_URL})")), "{text}");
    assert!(
        text.contains("(https://github.example.com/acme/shop/deployments)"),
        "{text}"
    );
    checked_requests(&server).await;
}

/// On `pull_request` events GitHub checks out a merge commit (`GITHUB_SHA`); the deployment
/// is for the PR's head, the commit the author pushed.
#[tokio::test]
async fn a_pull_request_deployment_is_for_the_head_commit_not_the_merge_commit() {
    let server = MockServer::start().await;
    mount_deployment_ok(&server).await;
    let mut opts = options(&server, "pull_request", Some(pr_event(3, "acme/shop")));
    opts.comment = false;
    opts.sha = Some("0000000000000000000000000000000000000001".into());
    publish_quietly(&fixture(), &opts).await;
    let requests = server.received_requests().await.unwrap();
    let created = bodies(&requests, "/deployments");
    assert_eq!(created.len(), 1, "one deployment");
    assert_eq!(created[0]["ref"], SHA, "the PR head, not GITHUB_SHA");
    // On a push the ref is GITHUB_SHA itself.
    assert_eq!(
        options(&server, "push", None).deployment_sha().as_deref(),
        Some(SHA)
    );
    checked_requests(&server).await;
}
