//! Secrets never leave through a report sink.
//!
//! Secret values are planted in the environment (the token input, AWS credentials) and in the
//! run itself (a value marked secret, appearing in a command line, a log tail, a lint message
//! and the deployment URL). Every sink is rendered, and every byte it produced is scanned:
//! the files in the workspace, the outputs file, the job summary, and the bodies and URLs of
//! every request sent to a mock GitHub API. Then the entry points run as workflow steps do:
//! the rollback sub-action's outputs and summary, `bluegreen report --publish` and the lint
//! sub-action as processes, each scanned in its stdout (but for the `::add-mask::` lines,
//! which must be there), stderr, every file it wrote and every request it sent.

use bluegreen::cli::rollback::write_step;
use bluegreen::exit::ExitCode;
use bluegreen::fleet::command::Done;
use bluegreen::report::github::{publish_quietly, CommentOutcome, GithubOptions};
use bluegreen::report::log::render_log;
use bluegreen::report::HostRecord;
use bluegreen::report::{
    write_report, CommandRun, EventLog, Redactor, ReportOptions, RunReport, Scope,
};
use std::path::Path;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_PLANTEDtoken0123456789abcdef";
const AWS_KEY_ID: &str = "AKIAPLANTED000000001";
const AWS_SECRET: &str = "plAnted/Secret+Key\"with-quote";
const AWS_SESSION: &str = "FwoGZXIvYXdzEPLANTEDsession";
const MARKED: &str = "db-password-PLANTED-42";

fn fixture() -> RunReport {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/report/run.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fixture with the secrets leaked into every free-text field a stage could fill.
fn report_with_planted_secrets() -> RunReport {
    let mut report = fixture();
    report.commands.push(CommandRun {
        ts: report.finished_at,
        scope: Scope::Host("i-0a1b2c3d4e5f60001".into()),
        command: format!(
            "docker run -e DB_PASSWORD={MARKED} -e AWS_ACCESS_KEY_ID={AWS_KEY_ID} shop"
        ),
        exit_code: Some(0),
        duration_ms: Some(10),
        detail: format!("HTTP 400 refused {MARKED}"),
    });
    report.events[0].detail = format!("token {TOKEN} used");
    report.hosts[0].log_tail = vec![format!("boto: secret={AWS_SECRET}")];
    report.hosts[0].message = format!("session {AWS_SESSION}");
    if let Some(lint) = report.lint.as_mut() {
        lint.findings[0].message = format!("hard-coded secret {MARKED}");
    }
    report.environment_url = Some(format!("https://shop.example.com/?k={MARKED}"));
    report
}

fn planted() -> [&'static str; 5] {
    [TOKEN, AWS_KEY_ID, AWS_SECRET, AWS_SESSION, MARKED]
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in planted() {
        let escaped = serde_json::Value::from(secret).to_string();
        let escaped = &escaped[1..escaped.len() - 1];
        assert!(
            !text.contains(secret) && !text.contains(escaped),
            "{what} leaks {secret:?}"
        );
    }
}

fn scan_dir(dir: &Path) -> usize {
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scanned += scan_dir(&path);
        } else {
            assert_clean(&path.display().to_string(), &std::fs::read(&path).unwrap());
            scanned += 1;
        }
    }
    scanned
}

#[tokio::test]
async fn no_sink_leaks_a_planted_secret() {
    // This test binary has only this test, so changing the process environment is safe.
    std::env::set_var("INPUT_GITHUB-TOKEN", TOKEN);
    std::env::set_var("AWS_ACCESS_KEY_ID", AWS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", AWS_SECRET);
    std::env::set_var("AWS_SESSION_TOKEN", AWS_SESSION);
    let mut redactor = Redactor::from_env();
    redactor.add(MARKED);

    let report = report_with_planted_secrets();
    // The scan is only meaningful if the unredacted rendering does contain the secrets.
    let raw_log = render_log(&report);
    for secret in [MARKED, AWS_KEY_ID, AWS_SECRET, TOKEN] {
        assert!(raw_log.contains(secret), "fixture does not plant {secret}");
    }

    let mut masks = Vec::new();
    redactor.emit_masks(&mut masks).unwrap();
    let masks = String::from_utf8(masks).unwrap();
    for secret in planted() {
        assert!(
            masks.contains(&format!("::add-mask::{secret}\n")),
            "no mask for {secret}"
        );
    }

    let ws = tempfile::tempdir().unwrap();
    let sarif = ws.path().join("input.sarif");
    std::fs::write(&sarif, format!(r#"{{"runs":[{{"message":"{MARKED}"}}]}}"#)).unwrap();
    let options = ReportOptions {
        workspace: ws.path().join("workspace"),
        report_dir: "bluegreen-report".into(),
        step_summary: Some(ws.path().join("step_summary")),
        output_file: Some(ws.path().join("output")),
        lint_sarif: Some(sarif.clone()),
        run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        redactor: redactor.clone(),
    };
    let outcome = write_report(&report, &options);
    assert!(outcome.failures().is_empty(), "{:?}", outcome.failures());
    std::fs::remove_file(&sarif).unwrap(); // our input, not our output
    assert_eq!(
        scan_dir(ws.path()),
        5 + 2,
        "report files, summary and outputs"
    );

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/comments$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/deployments$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 1})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 2})))
        .mount(&server)
        .await;
    let github = GithubOptions {
        api_url: server.uri(),
        token: Some(TOKEN.into()),
        repository: Some("acme/shop".into()),
        sha: Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432".into()),
        server_url: "https://github.com".into(),
        pr_number: None,
        event_name: Some("pull_request".into()),
        event: Ok(Some(serde_json::json!({"pull_request": {"number": 7}}))),
        run_url: options.run_url.clone(),
        report_dir: "bluegreen-report".into(),
        comment: true,
        deployment: true,
        started_deployment: None,
        calls: EventLog::new(),
        redactor,
    };
    let published = publish_quietly(&report, &github).await;
    assert!(matches!(published.comment, CommentOutcome::Created { .. }));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 5, "list, comment, deployment, two statuses");
    for r in &requests {
        assert_clean(
            &format!("{} {}", r.method, r.url),
            r.url.as_str().as_bytes(),
        );
        assert_clean(&format!("body of {} {}", r.method, r.url), &r.body);
    }

    // The rollback sub-action: its outputs and summary, with the secrets in host messages.
    let step = tempfile::tempdir().unwrap();
    std::env::set_var("GITHUB_OUTPUT", step.path().join("output"));
    std::env::set_var("GITHUB_STEP_SUMMARY", step.path().join("summary"));
    let done = Done {
        exit: ExitCode::Failed,
        hosts: vec![HostRecord::without_reply(
            "i-0a1b2c3d4e5f60001",
            "failed",
            &format!("{TOKEN} {AWS_KEY_ID} {AWS_SECRET} {AWS_SESSION} {MARKED}"),
        )],
    };
    let mut step_redactor = Redactor::from_env();
    step_redactor.add(MARKED);
    write_step("shop", &done, &step_redactor).unwrap();
    std::env::remove_var("GITHUB_OUTPUT");
    std::env::remove_var("GITHUB_STEP_SUMMARY");
    let summary = std::fs::read_to_string(step.path().join("summary")).unwrap();
    assert!(summary.contains("i-0a1b2c3d4e5f60001"), "{summary}");
    assert_eq!(
        scan_dir(step.path()),
        2,
        "the rollback step's outputs and summary"
    );
}

/// The runner's environment for an entry point run as a step, with every file in `dir`.
fn step_env(cmd: &mut std::process::Command, dir: &Path, api: &str) {
    std::fs::create_dir_all(dir.join("workspace")).unwrap();
    let event = dir.join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", dir.join("workspace"))
        .env("GITHUB_STEP_SUMMARY", dir.join("step_summary"))
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_API_URL", api)
        .env("GITHUB_REPOSITORY", "acme/shop")
        .env("GITHUB_SHA", "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("INPUT_GITHUB-TOKEN", TOKEN)
        .env("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_SESSION_TOKEN", AWS_SESSION)
        .current_dir(dir.join("workspace"));
}

/// Every line of a step's stdout but its `::add-mask::` commands (those carry the values to
/// the runner, which hides them) is clean, and every env secret was masked first.
fn assert_step_stdout(what: &str, stdout: &[u8]) {
    let text = String::from_utf8_lossy(stdout);
    for secret in [TOKEN, AWS_KEY_ID, AWS_SECRET, AWS_SESSION] {
        assert!(
            text.contains(&format!("::add-mask::{secret}\n")),
            "{what}: no mask for {secret}"
        );
    }
    let rest: String = text
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert_clean(&format!("{what} stdout"), rest.as_bytes());
}

#[tokio::test]
async fn report_publish_and_lint_entry_points_mask_and_redact() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/deployments$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 1})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 2})))
        .mount(&server)
        .await;

    // `bluegreen report --run run.json --publish`, on a run that carries the env's secrets.
    let dir = tempfile::tempdir().unwrap();
    let mut report = fixture();
    report.events[0].detail = format!("token {TOKEN} key {AWS_KEY_ID}");
    report.hosts[0].log_tail = vec![format!("secret={AWS_SECRET} {AWS_SESSION}")];
    let run = dir.path().join("run.json");
    std::fs::write(&run, serde_json::to_vec(&report).unwrap()).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    step_env(&mut cmd, dir.path(), &server.uri());
    let out = cmd
        .args(["report", "--publish", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_step_stdout("report --publish", &out.stdout);
    assert_clean("report --publish stderr", &out.stderr);
    std::fs::remove_file(&run).unwrap();
    std::fs::remove_file(dir.path().join("event.json")).unwrap();
    assert!(
        scan_dir(dir.path()) >= 5,
        "report files, summary and outputs"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(requests.len() >= 3, "comment and deployment were published");
    for r in &requests {
        assert_clean(
            &format!("{} {}", r.method, r.url),
            r.url.as_str().as_bytes(),
        );
        assert_clean(&format!("body of {} {}", r.method, r.url), &r.body);
    }

    // The lint sub-action (`bluegreen lint` in a runner), with its summary, outputs and SARIF.
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workspace/.github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(
        workflows.join("ci.yml"),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-20.04\n    steps:\n      - uses: actions/checkout@v2\n",
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    step_env(&mut cmd, dir.path(), &server.uri());
    let out = cmd
        .env("INPUT_SARIF-FILE", "lint.sarif")
        .arg("lint")
        .output()
        .unwrap();
    assert_step_stdout("lint", &out.stdout);
    assert_clean("lint stderr", &out.stderr);
    std::fs::remove_file(dir.path().join("event.json")).unwrap();
    std::fs::remove_dir_all(dir.path().join("workspace/.github")).unwrap();
    assert!(scan_dir(dir.path()) >= 2, "lint summary and outputs");
}
