//! `bluegreen run`, the whole pipeline, against the real Docker daemon and test images: what
//! each stage's failure leaves behind, the dry run, and input errors.

mod support;

use std::path::Path;
use std::process::Output;
use support::{env, image, TestApp};

/// `bluegreen run` for `app` with `tag`, in `workspace`, plus extra flags.
fn run(app: &TestApp, workspace: &Path, tag: &str, extra: &[&str]) -> Output {
    run_command(app, workspace, tag, extra).output().unwrap()
}

/// The command [`run`] runs, to spawn it instead.
fn run_command(
    app: &TestApp,
    workspace: &Path,
    tag: &str,
    extra: &[&str],
) -> std::process::Command {
    let port = app.port.to_string();
    let image = image(tag);
    let proxy = env("BLUEGREEN_TEST_PROXY_IMAGE");
    let mut args = vec![
        "run",
        "--target",
        "local",
        "--app",
        &app.app,
        "--image",
        &image,
        "--public-port",
        &port,
        "--public-address",
        "127.0.0.1",
        "--container-port",
        "8080",
        "--proxy-image",
        &proxy,
        "--verify-window",
        "300ms",
        "--drain",
        "200ms",
        "--keep-warm",
        "30s",
        "--health-timeout",
        "5s",
    ];
    // A flag in `extra` replaces the default one.
    for flag in extra.iter().filter(|a| a.starts_with("--")) {
        if let Some(i) = args.iter().position(|a| a == flag) {
            if args.get(i + 1).is_some_and(|v| !v.starts_with("--")) {
                args.remove(i + 1);
            }
            args.remove(i);
        }
    }
    args.extend_from_slice(extra);
    let mut cmd = app.cli();
    for (k, _) in
        std::env::vars().filter(|(k, _)| k.starts_with("INPUT_") || k.starts_with("GITHUB_"))
    {
        cmd.env_remove(k);
    }
    cmd.current_dir(workspace).args(&args);
    cmd
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn metrics(workspace: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace.join("bluegreen-report/metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn summary(workspace: &Path) -> String {
    std::fs::read_to_string(workspace.join("bluegreen-report/summary.md")).unwrap()
}

#[test]
fn a_retired_action_stops_the_run_before_any_host_changes() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let wf = ws.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("ci.yml"),
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/upload-artifact@v3\n",
    )
    .unwrap();
    let out = run(&app, ws.path(), "v1", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        app.containers().is_empty(),
        "nothing may be started: {:?}",
        app.containers()
    );
    let s = summary(ws.path());
    assert!(
        s.contains("**Stopped:** lint: 1 findings at or above `error`"),
        "{s}"
    );
    assert!(s.contains("No host was changed"), "{s}");
    assert_eq!(metrics(ws.path())["status"], "failure");
    assert!(ws.path().join("bluegreen-report/lint.sarif").exists());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let out = run(&app, ws.path(), "v1", &["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(
        stdout.contains("now: nothing (first deployment); next: blue"),
        "{stdout}"
    );
    assert!(
        stdout.contains("health gate on /health (timeout 5s)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("canary:"),
        "blue-green by default: {stdout}"
    );
    assert!(app.containers().is_empty(), "{:?}", app.containers());

    // A canary's plan says its steps and its rule; its alarms are named.
    let out = run(
        &app,
        ws.path(),
        "v1",
        &[
            "--dry-run",
            "--strategy=canary",
            "--canary-steps=10,pause,100",
            "--canary-max-error-rate=0.5%",
            "--alarms=shop-5xx",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout.contains("canary:  steps 10 %, pause, 100 % of 30s each")
            && stdout.contains("fails above 0.5% failed"),
        "{stdout}"
    );
    assert!(stdout.contains("alarms:  shop-5xx"), "{stdout}");
    // A canary setting without the canary strategy is refused, naming it.
    let out = run(
        &app,
        ws.path(),
        "v1",
        &["--dry-run", "--canary-interval=10s"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--canary-interval"), "{}", text(&out));
    assert!(app.containers().is_empty(), "{:?}", app.containers());
}

#[test]
fn a_failed_deploy_keeps_the_old_version_serving_and_reports_why() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let first = run(&app, ws.path(), "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(metrics(ws.path())["live_color"]["after"], "blue");
    // The live view: a header per stage, the host's result line, the rollout's progress.
    let log = String::from_utf8_lossy(&first.stdout);
    let order = [
        "== lint workflows",
        "== verify image",
        "== preflight",
        "== local (",
        "): succeeded, ",
        "rollout: batch 1 of 1 done, 1 of 1 hosts, 0 failed,",
        "== verify live",
        "== report",
    ];
    let mut at = 0;
    for line in order {
        let found = log[at..].find(line).map(|i| i + at);
        assert!(found.is_some(), "{line:?} after byte {at}:\n{log}");
        at = found.unwrap_or(at);
    }
    assert!(log.contains(" pull "), "the host's steps are shown: {log}");
    let second = run(
        &app,
        ws.path(),
        "v2",
        &["--proxy-lines", "timeout server 90s"],
    );
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let config = app.proxy_config();
    assert!(config.contains("\n  timeout server 90s\n"), "{config}");
    let m = metrics(ws.path());
    assert_eq!(m["live_color"]["before"], "blue");
    assert_eq!(m["live_color"]["after"], "green");
    assert!(
        m["image"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{m}"
    );

    // v3 never becomes healthy: the run fails, v2 keeps serving, v1 stays the rollback target.
    let third = run(&app, ws.path(), "v3", &["--env", "FAIL_HEALTH=1"]);
    assert_eq!(third.status.code(), Some(1), "{}", text(&third));
    let log = String::from_utf8_lossy(&third.stdout);
    assert!(
        log.contains("== local (") && log.contains("): FAILED, "),
        "{log}"
    );
    assert!(
        log.contains("rollout: batch 1 of 1 done, 1 of 1 hosts, 1 failed,"),
        "{log}"
    );
    let (status, color, version) = rt.block_on(app.through_proxy());
    assert_eq!(
        (status, color.as_str(), version.as_str()),
        (200, "green", "v2")
    );
    let m = metrics(ws.path());
    assert_eq!(m["status"], "failure");
    assert_eq!(m["live_color"]["after"], "green");
    let s = summary(ws.path());
    assert!(s.contains("**Stopped:**"), "{s}");
    let state = rt.block_on(app.status());
    let target = state.apps[0]
        .rollback_target
        .as_ref()
        .expect("rollback target kept");
    assert!(target.image.ends_with(":v1"), "{target:?}");

    // The log holds the commands the host ran and how each ended: v3 created in blue's slot,
    // removed when its gate failed, and the prior put back.
    let log = std::fs::read_to_string(ws.path().join("bluegreen-report/bluegreen.log")).unwrap();
    let blue = format!("{}-blue", app.app);
    for command in [
        format!("$ docker create {blue} "),
        format!("$ docker rm -f {blue} (exit=0, "),
        format!(" {blue} (exit=0, "),
    ] {
        assert!(log.contains(&command), "{command:?} in:\n{log}");
    }
}

#[test]
fn bad_inputs_name_the_flag_or_the_input() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let out = run(&app, ws.path(), "v1", &["--public-port", "99999"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`--public-port`") && err.contains("99999"),
        "{err}"
    );

    // A malformed image-check input is refused up front, named as given.
    let out = run(&app, ws.path(), "v1", &["--expect-digest", "sha256:0123"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("input `--expect-digest`") && err.contains("\"sha256:0123\""),
        "{err}"
    );

    // Image checks on an image that is not in ECR are refused, not silently skipped.
    let digest = format!("sha256:{}", "ab".repeat(32));
    let out = run(&app, ws.path(), "v1", &["--expect-digest", &digest]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expect-digest: image checks run on ECR images only"),
        "{err}"
    );

    // The same mistake as an action input is named as the input.
    let out = app
        .cli()
        .current_dir(ws.path())
        .env("INPUT_APP", &app.app)
        .env("INPUT_IMAGE", image("v1"))
        .env("INPUT_PUBLIC-PORT", "eighty")
        .env("INPUT_CONTAINER-PORT", "8080")
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("input `public-port`") && err.contains("eighty"),
        "{err}"
    );
    assert!(app.containers().is_empty());
}

/// The release phase (`release-command`) through `bluegreen run`: once per digest and
/// environment before any switch, its failure and its timeout leave the old version serving,
/// `release-always` runs it again. The release writes into the app's volume, which the app
/// then serves, so what ran is counted from the outside.
#[test]
fn the_release_command_runs_once_before_the_switch_and_its_failure_switches_nothing() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let volume = format!("{}-data", app.app);
    let mount = format!("{volume}:/data");
    let releases = || {
        let url = format!("http://127.0.0.1:{}/read/releases", app.port);
        rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() })
    };
    let release = |tag: &str, env: &str, extra: &[&str]| {
        let mut flags = vec![
            "--release-command",
            "release",
            "--volume",
            &mount,
            "--user",
            "0:0",
            "--env",
            env,
        ];
        flags.extend_from_slice(extra);
        run(&app, ws.path(), tag, &flags)
    };

    let planned = release("v1", "RELEASE_LINES=60", &["--dry-run"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert!(
        String::from_utf8_lossy(&planned.stdout).contains(
            "release: [\"release\"] once on the first host before any switch (timeout 10m"
        ),
        "{}",
        text(&planned)
    );
    let first = release("v1", "RELEASE_LINES=60", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(releases(), "v1\n");
    let m = metrics(ws.path());
    assert_eq!(m["release"]["exit_code"], 0, "{m}");
    assert_eq!(m["release"]["host"], "local");
    let tail = m["release"]["log_tail"].as_array().unwrap();
    assert_eq!(tail.len(), 50, "the last 50 lines");
    // Docker copies stdout and stderr apart and stamps each line as it reads it, so the one
    // stderr line ("done, exit 0", written last) may land anywhere among them in the log: the
    // tail ends with the last stdout line, and the whole output, on stderr, holds both.
    assert!(
        tail.last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("step 60 of 60")
            || tail
                .iter()
                .any(|l| l.as_str().unwrap().contains("done, exit 0")),
        "{tail:?}"
    );
    let whole = String::from_utf8_lossy(&first.stderr);
    assert!(
        whole.contains("the release command's output, whole:")
            && whole.contains("| release v1: step 1 of 60")
            && whole.contains("| release v1: done, exit 0"),
        "{whole}"
    );
    let s = summary(ws.path());
    assert!(s.contains("### Release") && s.contains("exited 0"), "{s}");
    let log = std::fs::read_to_string(ws.path().join("bluegreen-report/bluegreen.log")).unwrap();
    assert!(
        log.contains("local release | release v1: step 60 of 60"),
        "{log}"
    );

    // The same digest again: not released again, and the run succeeds.
    let again = release("v1", "RELEASE_LINES=60", &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(releases(), "v1\n", "released once");
    assert_eq!(metrics(ws.path())["release"]["skipped"], true);

    // A failing release: nothing switched, v1 serves.
    let failed = release("v2", "RELEASE_EXIT=3", &[]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert_eq!(rt.block_on(app.through_proxy()).2, "v1");
    let m = metrics(ws.path());
    assert_eq!(m["status"], "failure");
    assert_eq!(m["release"]["exit_code"], 3);
    assert_eq!(m["live_color"]["after"], m["live_color"]["before"], "{m}");
    assert!(summary(ws.path()).contains("exited 3"));

    // Past its deadline: killed, nothing switched, no container left behind.
    let slow = release("v2", "RELEASE_SLEEP_MS=20000", &["--release-timeout", "1s"]);
    assert_eq!(slow.status.code(), Some(1), "{}", text(&slow));
    assert_eq!(rt.block_on(app.through_proxy()).2, "v1");
    assert_eq!(metrics(ws.path())["release"]["timed_out"], true);
    assert!(
        !app.containers().iter().any(|c| c.ends_with("-release")),
        "{:?}",
        app.containers()
    );

    // A good v2 is released and deployed; release-always runs it again for the same digest.
    let v2 = release("v2", "A=1", &[]);
    assert_eq!(v2.status.code(), Some(0), "{}", text(&v2));
    assert_eq!(rt.block_on(app.through_proxy()).2, "v2");
    let always = release("v2", "A=1", &["--release-always"]);
    assert_eq!(always.status.code(), Some(0), "{}", text(&always));
    assert!(releases().ends_with("v2\nv2\n"), "{}", releases());

    // A rollback never runs the release command: v1 serves again, nothing was released.
    let back = app
        .cli()
        .args(["rollback", "--target", "local", "--app", &app.app])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(back.status.code(), Some(0), "{}", text(&back));
    assert_eq!(rt.block_on(app.through_proxy()).2, "v1");
    assert!(releases().ends_with("v2\nv2\n"), "{}", releases());
    let reply: serde_json::Value = serde_json::from_slice(&back.stdout).unwrap();
    let commands = reply["commands"].to_string();
    assert!(!commands.contains("-release"), "{commands}");

    // Release inputs without a release command are refused, not ignored.
    let out = run(&app, ws.path(), "v2", &["--release-timeout", "1m"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--release-timeout"));
    drop(app);
    let _ = std::process::Command::new("docker")
        .args(["volume", "rm", "-f", &volume])
        .output();
}

/// A real migration: Debian's psql in the app's image, against the PostgreSQL server the test
/// script runs on a Docker network it created (`--network` puts the release container and the
/// app on it). The migration runs once per digest, and a failing one leaves the old version
/// serving and the schema as it was.
#[test]
fn a_postgres_migration_runs_once_and_a_failing_one_switches_nothing() {
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pg_host, pg_port) = (env("BLUEGREEN_TEST_PG_HOST"), env("BLUEGREEN_TEST_PG_PORT"));
    let network = env("BLUEGREEN_TEST_PG_NETWORK");
    let table = app.app.replace('-', "_");
    let psql = |sql: &str| {
        let argv = [
            "psql",
            "-h",
            &pg_host,
            "-p",
            &pg_port,
            "-U",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ];
        serde_json::to_string(&argv).unwrap()
    };
    let migrate = |tag: &str, sql: &str| {
        let image = format!("{}-pg:{tag}", env("BLUEGREEN_TEST_IMAGE_REPO"));
        let command = psql(sql);
        let flags = [
            "--image",
            &image,
            "--network",
            &network,
            "--release-command",
            &command,
        ];
        run(&app, ws.path(), tag, &flags)
    };
    let versions = || {
        let out = std::process::Command::new("psql")
            .args([
                "-h", &pg_host, "-p", &pg_port, "-U", "postgres", "-tA", "-c",
            ])
            .arg(format!(
                "SELECT string_agg(version, ',' ORDER BY version) FROM {table}"
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let add = |v: &str| {
        format!(
            "CREATE TABLE IF NOT EXISTS {table} (version text); INSERT INTO {table} VALUES ('{v}')"
        )
    };

    let v1 = migrate("v1", &add("v1"));
    assert_eq!(v1.status.code(), Some(0), "{}", text(&v1));
    assert_eq!(versions(), "v1");
    assert_eq!(rt.block_on(app.through_proxy()).2, "v1");
    let again = migrate("v1", &add("v1"));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        versions(),
        "v1",
        "a digest released before is not migrated again"
    );

    let broken = migrate("v2", &format!("INSERT INTO {table}_missing VALUES ('v2')"));
    assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
    assert_eq!(rt.block_on(app.through_proxy()).2, "v1", "nothing switched");
    assert_eq!(versions(), "v1");
    let m = metrics(ws.path());
    assert_eq!(m["release"]["exit_code"], 1, "{m}");
    let tail = m["release"]["log_tail"].to_string();
    assert!(
        tail.contains("does not exist"),
        "psql's error is in the report: {tail}"
    );

    let v2 = migrate("v2", &add("v2"));
    assert_eq!(v2.status.code(), Some(0), "{}", text(&v2));
    assert_eq!(versions(), "v1,v2");
    assert_eq!(rt.block_on(app.through_proxy()).2, "v2");
}

/// The release command killed (SIGKILL) and cancelled (SIGTERM, a cancelled job) while it
/// runs: a cancel removes its container at once; after a kill the next run's recovery removes
/// it, and the release runs to its end. Nothing switched either time.
#[test]
fn a_release_killed_or_cancelled_mid_run_leaves_nothing_behind() {
    use std::io::{BufRead, BufReader};
    let app = TestApp::new();
    let ws = tempfile::tempdir().unwrap();
    let flags = ["--release-command", "release"];
    let release_containers = || {
        app.containers()
            .into_iter()
            .filter(|c| c.ends_with("-release"))
            .count()
    };
    for signal in ["KILL", "TERM"] {
        let mut child = run_command(&app, ws.path(), "v1", &flags)
            .env("BLUEGREEN_FAULT_PAUSE_AFTER", "release")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let paused = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("paused after release"));
        assert!(paused, "{signal}: the release never started");
        assert_eq!(
            release_containers(),
            1,
            "{signal}: the release container runs"
        );
        std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
        let colors: Vec<String> = app
            .containers()
            .into_iter()
            .filter(|c| c.ends_with("-blue") || c.ends_with("-green"))
            .collect();
        assert!(
            colors.is_empty(),
            "{signal}: nothing was deployed: {colors:?}"
        );
        if signal == "TERM" {
            assert_eq!(
                release_containers(),
                0,
                "a cancelled job puts the host back at once"
            );
        }
    }
    let out = run(&app, ws.path(), "v1", &flags);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(metrics(ws.path())["release"]["exit_code"], 0);
    assert_eq!(release_containers(), 0);
}
