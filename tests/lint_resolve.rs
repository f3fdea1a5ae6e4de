//! Resolution of used actions against a mock GitHub API (wiremock): runtimes read from the
//! actions' own action.yml, a composite chain, a cycle, SHA pins matched to tags, an archived
//! and a missing repository, a missing ref, a 403, a rate limit and a timeout; a warm cache
//! makes no request; the workflows-lint action passes its token.

mod lint_common;
use bluegreen::lint::resolve::{Online, Resolve};
use bluegreen::lint::{lint_repository_with, Finding, LintReport, Severity};
use lint_common::Repo;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WORKFLOW: &str = include_str!("data/lint/resolve/workflow.yml");
const SHA: &str = "1111111111111111111111111111111111111111";
const CACHE_SHA: &str = "2222222222222222222222222222222222222222";

async fn repo_meta(server: &MockServer, repo: &str, archived: bool) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{repo}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"full_name": repo, "archived": archived})),
        )
        .mount(server)
        .await;
}

async fn action(server: &MockServer, repo: &str, git_ref: &str, yaml: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/repos/{repo}/contents/action.yml")))
        .and(query_param("ref", git_ref))
        .respond_with(ResponseTemplate::new(200).set_body_string(yaml))
        .mount(server)
        .await;
}

fn node(version: &str) -> String {
    format!("name: x\nruns:\n  using: {version}\n  main: dist/index.js\n")
}

fn composite(uses: &[&str]) -> String {
    let steps: String = uses.iter().map(|u| format!("    - uses: {u}\n")).collect();
    format!("name: c\nruns:\n  using: composite\n  steps:\n{steps}")
}

/// The mock API the fixture workflow is resolved against.
async fn github() -> MockServer {
    let server = MockServer::start().await;
    for repo in [
        "acme/node16-action",
        "acme/node24-action",
        "acme/outer",
        "acme/middle",
        "acme/inner",
        "acme/script",
        "acme/pinned",
        "acme/loop-a",
        "acme/loop-b",
        "actions/cache",
        "actions/checkout",
    ] {
        repo_meta(&server, repo, false).await;
    }
    repo_meta(&server, "acme/old-action", true).await;
    action(&server, "acme/node16-action", "v1", &node("node16")).await;
    action(&server, "acme/node24-action", "v2", &node("node24")).await;
    action(
        &server,
        "acme/outer",
        "v1",
        &composite(&["acme/middle@v1", "./local"]),
    )
    .await;
    action(
        &server,
        "acme/middle",
        "v1",
        &composite(&["acme/inner@v3", "actions/checkout@v5"]),
    )
    .await;
    action(&server, "acme/inner", "v3", &node("node12")).await;
    action(&server, "actions/checkout", "v5", &node("node24")).await;
    action(&server, "acme/script", "0.3.0", &node("node20")).await;
    action(&server, "acme/pinned", SHA, &node("node20")).await;
    action(&server, "acme/old-action", "v3", &node("node24")).await;
    action(
        &server,
        "acme/loop-a",
        "v1",
        &composite(&["acme/loop-b@v1"]),
    )
    .await;
    action(
        &server,
        "acme/loop-b",
        "v1",
        &composite(&["acme/loop-a@v1"]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/pinned/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "v1", "commit": {"sha": SHA}},
            {"name": "v1.2.0", "commit": {"sha": SHA}},
            {"name": "v0.9.0", "commit": {"sha": "3333333333333333333333333333333333333333"}},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/actions/cache/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"name": "v2.1.7", "commit": {"sha": CACHE_SHA}},
        ])))
        .mount(&server)
        .await;
    // acme/gone does not exist; acme/node16-action has no v9; acme/private is forbidden.
    Mock::given(method("GET"))
        .and(path("/repos/acme/node16-action/commits/v9"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/private"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        )
        .mount(&server)
        .await;
    // Anything else: 404, as GitHub answers.
    server
}

fn online(server: &MockServer, cache: Option<PathBuf>) -> Online {
    let mut online = Online::new(server.uri(), "test-token");
    online.cache_dir = cache;
    online.timeout = Duration::from_secs(5);
    online
}

async fn lint(repo: &Repo, online: Online) -> LintReport {
    let root = repo.root().to_path_buf();
    tokio::task::spawn_blocking(move || {
        lint_repository_with(
            &root,
            &[],
            &Resolve {
                online: Some(online),
            },
        )
        .unwrap()
    })
    .await
    .unwrap()
}

/// The finding on the line that holds `needle`.
fn on<'a>(report: &'a LintReport, needle: &str) -> Vec<&'a Finding> {
    let line = WORKFLOW
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} is in the fixture"));
    report.findings.iter().filter(|f| f.line == line).collect()
}

fn ids<'a>(findings: &[&'a Finding]) -> Vec<&'a str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_chains_pins_and_gone_actions_are_resolved_from_the_actions() {
    let server = github().await;
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", WORKFLOW);
    let report = lint(&repo, online(&server, None)).await;
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);

    let f = on(&report, "acme/node16-action@v1");
    assert_eq!(ids(&f), ["action-runtime-node16"]);
    assert!(
        f[0].message
            .contains("runs.using node16 in acme/node16-action@v1 action.yml"),
        "{}",
        f[0].message
    );
    assert_eq!((f[0].column, f[0].severity), (15, Severity::Warning));
    assert!(on(&report, "acme/node24-action@v2").is_empty());

    // The chain outer -> middle -> inner (node12) is reported on the step, with the chain.
    let f = on(&report, "acme/outer@v1");
    assert_eq!(ids(&f), ["action-runtime-node12"]);
    assert!(
        f[0].message.contains(
            "runs.using node12 in acme/inner@v3 action.yml (used by composite acme/middle@v1 (used by composite acme/outer@v1))"
        ),
        "{}",
        f[0].message
    );

    // A ref without the `v` is an exact release: read from the action.
    assert_eq!(
        ids(&on(&report, "acme/script@0.3.0")),
        ["action-runtime-node20"]
    );

    // SHA pins: the tag is found (the most specific), the runtime read at the SHA.
    let lines: Vec<usize> = WORKFLOW
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("acme/pinned@"))
        .map(|(i, _)| i + 1)
        .collect();
    for line in lines {
        let f: Vec<&Finding> = report.findings.iter().filter(|f| f.line == line).collect();
        assert_eq!(ids(&f), ["action-runtime-node20"], "line {line}");
        assert!(f[0].message.contains("(tag v1.2.0)"), "{}", f[0].message);
    }
    // A SHA the rules judge once its tag is known: actions/cache at v2.1.7 is sunset.
    let f = on(&report, "actions/cache@2222");
    assert_eq!(ids(&f), ["cache-sunset"]);
    assert_eq!(f[0].severity, Severity::Error);

    assert_eq!(
        ids(&on(&report, "acme/old-action@v3")),
        ["action-repo-archived"]
    );
    assert_eq!(ids(&on(&report, "acme/gone@v1")), ["action-repo-missing"]);
    let f = on(&report, "acme/node16-action@v9");
    assert_eq!(ids(&f), ["action-ref-missing"]);
    assert!(
        f[0].message.contains("ref `v9` does not exist"),
        "{}",
        f[0].message
    );

    // A 403 is a note that says what happened, not a pass and not a crash.
    let f = on(&report, "acme/private@v1");
    assert_eq!(ids(&f), ["action-unresolved"]);
    assert_eq!(f[0].severity, Severity::Note);
    assert!(f[0].message.contains("403"), "{}", f[0].message);

    let f = on(&report, "acme/loop-a@v1");
    assert_eq!(ids(&f), ["action-unresolved"]);
    assert!(
        f[0].message
            .contains("cycle (acme/loop-a@v1 -> acme/loop-b@v1 -> acme/loop-a@v1)"),
        "{}",
        f[0].message
    );

    // The table settles actions/stale@v8 without a request, and says where it was checked.
    let f = on(&report, "actions/stale@v8");
    assert_eq!(ids(&f), ["action-runtime-node16"]);
    assert!(
        f[0].message.contains("github.com/actions/stale"),
        "{}",
        f[0].message
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| !r.url.path().contains("actions/stale")),
        "the table settles actions/stale"
    );
    assert!(requests.iter().all(|r| r
        .headers
        .get("authorization")
        .is_some_and(|v| v == "Bearer test-token")));
    assert_eq!(report.resolution.mode, "online");
    assert_eq!(report.resolution.unresolved, 2);
    assert_eq!(report.resolution.requests, requests.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_cache_makes_no_request_and_gives_the_same_findings() {
    let server = github().await;
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", WORKFLOW);
    let cache = tempfile::tempdir().unwrap();
    let cold = lint(&repo, online(&server, Some(cache.path().to_path_buf()))).await;
    let after_cold = server.received_requests().await.unwrap().len();
    assert!(after_cold > 10, "{after_cold}");
    assert_eq!(cold.resolution.requests, after_cold);
    let warm = lint(&repo, online(&server, Some(cache.path().to_path_buf()))).await;
    let placed = |r: &LintReport| -> Vec<(String, usize, String)> {
        r.findings
            .iter()
            .filter(|f| f.rule_id != "action-unresolved")
            .map(|f| (f.rule_id.clone(), f.line, f.message.clone()))
            .collect()
    };
    assert_eq!(placed(&cold), placed(&warm));
    // Failures are not cached: only the 403 is asked again.
    let again: Vec<String> = server.received_requests().await.unwrap()[after_cold..]
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(again, ["/repos/acme/private"], "{again:?}");

    let clean = Repo::new();
    clean.write(
        ".github/workflows/ci.yml",
        lint_common::workflow("      - uses: acme/node16-action@v1\n"),
    );
    let before = server.received_requests().await.unwrap().len();
    let warm = lint(&clean, online(&server, Some(cache.path().to_path_buf()))).await;
    assert_eq!(warm.resolution.requests, 0);
    assert_eq!(server.received_requests().await.unwrap().len(), before);
    assert_eq!(lint_common::ids(&warm.findings), ["action-runtime-node16"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_stops_resolution_with_notes_and_no_more_requests() {
    let server = MockServer::start().await;
    let reset = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({"message": "API rate limit exceeded"})),
        )
        .mount(&server)
        .await;
    let repo = Repo::new();
    let steps: String = (0..6)
        .map(|i| format!("      - uses: acme/a{i}@v1\n"))
        .collect();
    repo.write(".github/workflows/ci.yml", lint_common::workflow(&steps));
    let mut settings = online(&server, None);
    settings.concurrency = 1;
    let report = lint(&repo, settings).await;
    assert_eq!(report.findings.len(), 6, "{:#?}", report.findings);
    for f in &report.findings {
        assert_eq!(f.rule_id, "action-unresolved");
        assert!(f.message.contains("rate limit"), "{}", f.message);
    }
    assert_eq!(report.resolution.unresolved, 6);
    // The first refusal stops the run: one request, not one per action.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(
        report.exit_code(Severity::Error),
        bluegreen::exit::ExitCode::Ok
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rate_limit_is_waited_out_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/a"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    repo_meta(&server, "acme/a", false).await;
    action(&server, "acme/a", "v1", &node("node16")).await;
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        lint_common::workflow("      - uses: acme/a@v1\n"),
    );
    let started = std::time::Instant::now();
    let report = lint(&repo, online(&server, None)).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        lint_common::ids(&report.findings),
        ["action-runtime-node16"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_times_out_per_request_into_a_note() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        lint_common::workflow("      - uses: acme/slow@v1\n"),
    );
    let mut settings = online(&server, None);
    settings.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let report = lint(&repo, settings).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(lint_common::ids(&report.findings), ["action-unresolved"]);
    assert!(
        report.findings[0].message.contains("timed out"),
        "{}",
        report.findings[0].message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_and_without_a_token_the_table_alone_is_used() {
    let server = github().await;
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", WORKFLOW);
    let root = repo.root().to_path_buf();
    let report =
        tokio::task::spawn_blocking(move || bluegreen::lint::lint_repository(&root, &[]).unwrap())
            .await
            .unwrap();
    assert_eq!(report.resolution.mode, "offline");
    assert_eq!(
        lint_common::ids(&report.findings),
        ["action-runtime-node16"],
        "only the table's actions/stale@v8"
    );
    assert!(report.resolution.references >= 10);
    assert!(server.received_requests().await.unwrap().is_empty());

    // The CLI: --offline wins over a token; without a token it is offline too.
    for args in [
        vec![
            "lint",
            "--format",
            "json",
            "--offline",
            "--github-token",
            "t",
        ],
        vec!["lint", "--format", "json"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"))
            .args(&args)
            .current_dir(repo.root())
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_ACTIONS")
            .env("GITHUB_API_URL", server.uri())
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["resolution"]["mode"], "offline", "{args:?}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_flags_and_the_action_input_turn_resolution_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/node16-action"))
        .and(header("authorization", "Bearer from-input"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"archived": false})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/acme/node16-action/contents/action.yml"))
        .and(header("authorization", "Bearer from-input"))
        .respond_with(ResponseTemplate::new(200).set_body_string(node("node16")))
        .mount(&server)
        .await;
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        lint_common::workflow("      - uses: acme/node16-action@v1\n"),
    );
    let files = tempfile::tempdir().unwrap();
    let cache = files.path().join("cache");
    // The workflows-lint step: the token comes from the `github-token` input.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["lint", "--format", "json"])
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_TOKEN")
        .env("GITHUB_WORKSPACE", repo.root())
        .env("GITHUB_OUTPUT", files.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", files.path().join("summary"))
        .env("GITHUB_API_URL", server.uri())
        .env("INPUT_GITHUB-TOKEN", "from-input")
        .env("INPUT_SARIF-FILE", "")
        .env("HOME", files.path())
        .output()
        .unwrap();
    // In a runner the step first masks the token (`::add-mask::` lines), then the report.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("::add-mask::from-input"), "{stdout}");
    let report: String = stdout
        .lines()
        .filter(|l| !l.starts_with("::"))
        .collect::<Vec<_>>()
        .join("\n");
    let json: serde_json::Value = serde_json::from_str(&report)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(json["resolution"]["mode"], "online");
    assert_eq!(json["findings"][0]["rule_id"], "action-runtime-node16");
    // HOME's default cache directory was used.
    assert!(files.path().join(".cache/bluegreen/actions").is_dir());

    // The CLI: --github-token and --cache-dir.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args([
            "lint",
            "--format",
            "json",
            "--github-token",
            "from-input",
            "--cache-dir",
        ])
        .arg(&cache)
        .current_dir(repo.root())
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_API_URL", server.uri())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["findings"][0]["rule_id"], "action-runtime-node16");
    assert!(std::fs::read_dir(&cache).unwrap().count() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_references_never_crash_resolution() {
    let server = MockServer::start().await;
    let repo = Repo::new();
    let steps = [
        "      - uses: 'a b/c?x#y@v1'\n",
        "      - uses: ünï/cødé@ßhä\n",
        "      - uses: x/y/../../z@v1\n",
        "      - uses: x/y@refs/heads/main\n",
        "      - uses: \"x/y@v1 \"\n",
        "      - uses: x//@v1\n",
    ]
    .concat();
    repo.write(".github/workflows/ci.yml", lint_common::workflow(&steps));
    let report = lint(&repo, online(&server, None)).await;
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    // Each is judged (every API answer here is 404): a finding or a note, never silence.
    let lines: std::collections::BTreeSet<usize> = report.findings.iter().map(|f| f.line).collect();
    assert!(lines.len() >= 5, "{:#?}", report.findings);
}
