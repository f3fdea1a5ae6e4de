//! The canary under keep-alive load through the real proxy (`--strategy canary`): a version
//! that fails one request in five, or is three times slower, is aborted at the end of its
//! first interval and serves nothing after; a healthy one promotes through every step at the
//! shares it was given; a pause waits for promote or abort and times out; too little traffic
//! holds a step, then aborts; the weights survive a proxy reload; a CloudWatch alarm in state
//! ALARM aborts a canary and switches a blue-green deploy back. Each deploy runs the CLI, as a
//! user does.

mod support;

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::load::Load;
use support::TestApp;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn reply(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// `deploy` of `tag` with these extra flags (a verify window of 0 s unless they say), as
/// JSON.
fn deploy_cmd(t: &TestApp, tag: &str, extra: &[&str]) -> Command {
    let mut args = t.deploy_args(tag);
    if let Some(i) = args.iter().position(|a| a == "--verify-window") {
        args.drain(i..i + 2);
    }
    if !extra.contains(&"--verify-window") {
        args.extend(["--verify-window".to_string(), "0s".to_string()]);
    }
    let mut cmd = t.cli();
    cmd.args(args)
        .args(["--proxy-line", "retry-on none", "--format", "json"])
        .args(extra);
    cmd
}

fn deploy(t: &TestApp, tag: &str, extra: &[&str]) -> Output {
    deploy_cmd(t, tag, extra).output().unwrap()
}

fn events_of<'a>(r: &'a Value, step: &str) -> Vec<&'a Value> {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["step"] == step)
        .collect()
}

fn ts(e: &Value) -> DateTime<Utc> {
    e["ts"].as_str().unwrap().parse().unwrap()
}

/// The canary's end: its verdict and reason.
fn end(r: &Value) -> (String, String) {
    let end = &r["canary"]["end"];
    (
        end["verdict"].as_str().unwrap_or_default().to_string(),
        end["reason"].as_str().unwrap_or_default().to_string(),
    )
}

const STEPS: [&str; 4] = ["--strategy", "canary", "--canary-min-requests", "20"];

/// A version answering 500 to one request in five: aborted at the end of the first interval
/// (failure limit 1), its weight 0 at once, and no 5xx reached a user after that.
#[tokio::test]
async fn a_version_failing_one_request_in_five_is_aborted_and_serves_nothing_after() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 16, "/");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flags = [
        &STEPS[..],
        &[
            "--canary-steps",
            "20,50,100",
            "--canary-interval",
            "2s",
            "--env",
            "ERROR_PERCENT=20",
        ],
    ]
    .concat();
    let out = deploy(&t, "v2", &flags);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let tally = load.stop();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = reply(&out);
    assert_eq!(r["outcome"], "auto_rolled_back", "{}", r["message"]);
    let (verdict, reason) = end(&r);
    assert_eq!(verdict, "aborted");
    assert!(reason.contains("failed share"), "{reason}");
    assert_eq!(r["canary"]["intervals"].as_array().unwrap().len(), 1);
    let started = ts(events_of(&r, "switch")[0]);
    let aborted = ts(events_of(&r, "canary").last().unwrap());
    let took = (aborted - started).num_milliseconds();
    assert!(
        (2_000..3_500).contains(&took),
        "aborted {took} ms after the canary started (one 2 s interval)"
    );
    // Requests in flight at the abort may still come back 500; nothing sent after it does.
    let late: Vec<_> = tally
        .failed_at
        .iter()
        .filter(|at| **at > aborted + chrono::Duration::milliseconds(200))
        .collect();
    assert!(late.is_empty(), "5xx after the abort: {late:?}");
    assert!(tally.failed > 0, "the broken version was seen: {tally:?}");
    assert_eq!(t.through_proxy().await.2, "v1");
    let status = t.status().await;
    assert!(status.apps[0].verified);
}

/// A version three times slower than the old one (60 ms against 20 ms) fails on response
/// time alone.
#[tokio::test]
async fn a_version_three_times_slower_is_aborted() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &["--env", "LATENCY_MS=20"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 16, "/");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flags = [
        &STEPS[..],
        &[
            "--canary-steps",
            "30,100",
            "--canary-interval",
            "2s",
            "--env",
            "LATENCY_MS=60",
        ],
    ]
    .concat();
    let out = deploy(&t, "v2", &flags);
    let tally = load.stop();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (verdict, reason) = end(&reply(&out));
    assert_eq!(verdict, "aborted");
    assert!(reason.contains("average response time"), "{reason}");
    assert_eq!(tally.failed, 0, "slow is not failed: {tally:?}");
    assert_eq!(t.through_proxy().await.2, "v1");
}

/// A healthy version goes through every step, each interval passing with the new version's
/// share near its weight, then on as a blue-green deploy; no request failed.
#[tokio::test]
async fn a_healthy_version_promotes_through_every_step() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 16, "/");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flags = [
        &STEPS[..],
        &["--canary-steps", "10,50,100", "--canary-interval", "2s"],
    ]
    .concat();
    let out = deploy(&t, "v2", &flags);
    let tally = load.stop();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = reply(&out);
    assert_eq!(end(&r).0, "promoted");
    let intervals = r["canary"]["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 3, "{intervals:#?}");
    for (i, weight) in intervals.iter().zip([10.0, 50.0, 100.0]) {
        assert_eq!(i["verdict"]["kind"], "pass", "{i}");
        let (new, old) = (
            i["new"]["requests"].as_f64().unwrap(),
            i["old"]["requests"].as_f64().unwrap(),
        );
        let share = 100.0 * new / (new + old);
        assert!(
            (share - weight).abs() <= 5.0,
            "share {share:.1} % at weight {weight} %: {i}"
        );
    }
    assert_eq!(tally.failed, 0, "{tally:?}");
    assert_eq!(t.through_proxy().await.2, "v2");
    let receipt = &r["receipt"];
    assert!(receipt.is_object(), "the receipt covers the canary: {r}");
}

/// Waits until the app's status shows its canary waiting at a pause.
async fn until_paused(t: &TestApp, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the deploy ended before its pause: {status}");
        }
        let s = t.status().await;
        if s.canary.as_ref().is_some_and(|c| c.paused_since.is_some()) {
            assert!(
                s.message.contains("waiting for `bluegreen promote`"),
                "{}",
                s.message
            );
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never paused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn decide(t: &TestApp, what: &str) -> Output {
    t.cli()
        .args([what, "--target", "local", "--app", &t.app])
        .output()
        .unwrap()
}

/// A pause waits for a person: promote goes on to 100 %, abort puts the weight to 0 and
/// names who aborted, and nobody within the pause timeout aborts it.
#[tokio::test]
async fn a_pause_waits_for_promote_or_abort_and_times_out() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 8, "/");
    let flags = [
        &STEPS[..],
        &["--canary-steps", "20,pause,100", "--canary-interval", "1s"],
    ]
    .concat();
    for (tag, what) in [("v2", "promote"), ("v3", "abort")] {
        let mut child = deploy_cmd(&t, tag, &flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        until_paused(&t, &mut child).await;
        let decided = decide(&t, what);
        assert_eq!(decided.status.code(), Some(0), "{}", text(&decided));
        let out = child.wait_with_output().unwrap();
        let r = reply(&out);
        if what == "promote" {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            assert_eq!(end(&r).0, "promoted");
            assert_eq!(t.through_proxy().await.2, "v2");
        } else {
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            let (verdict, reason) = end(&r);
            assert_eq!(verdict, "aborted");
            assert!(reason.starts_with("abort"), "{reason}");
            assert_eq!(t.through_proxy().await.2, "v2");
        }
    }
    // Nobody decides: the pause times out.
    let timeout = [&flags[..], &["--canary-pause-timeout", "2s"]].concat();
    let out = deploy(&t, "v3", &timeout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (verdict, reason) = end(&reply(&out));
    assert_eq!(verdict, "aborted");
    assert!(reason.contains("--canary-pause-timeout"), "{reason}");
    let tally = load.stop();
    assert_eq!(tally.failed, 0, "{tally:?}");
    // No canary, no decision to take.
    let none = decide(&t, "promote");
    assert_eq!(none.status.code(), Some(7), "{}", text(&none));
}

/// Without traffic every interval is inconclusive: three hold the step, the fourth aborts.
#[tokio::test]
async fn too_little_traffic_holds_the_step_then_aborts() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let flags = [
        &STEPS[..],
        &["--canary-steps", "50,100", "--canary-interval", "1s"],
    ]
    .concat();
    let out = deploy(&t, "v2", &flags);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = reply(&out);
    let intervals = r["canary"]["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 4, "{intervals:#?}");
    assert!(intervals
        .iter()
        .all(|i| i["verdict"]["kind"] == "inconclusive"));
    let (verdict, reason) = end(&r);
    assert_eq!(verdict, "aborted");
    assert!(reason.contains("4 inconclusive intervals"), "{reason}");
    assert_eq!(t.through_proxy().await.2, "v1");
}

/// The runtime API's answer to one command on the app's admin socket.
fn admin(t: &TestApp, command: &str) -> String {
    use std::io::{Read, Write};
    let path = t.state_dir.join("apps").join(&t.app).join("admin.sock");
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// A reload of the proxy (its master re-reads the config, as `docker kill -s USR2` asks)
/// keeps the canary's weights: they are in the config before they reach the runtime API.
#[tokio::test]
async fn the_weights_survive_a_proxy_reload() {
    let t = TestApp::new();
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 8, "/");
    let flags = [
        &STEPS[..],
        &["--canary-steps", "30,pause,100", "--canary-interval", "1s"],
    ]
    .concat();
    let mut child = deploy_cmd(&t, "v2", &flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_paused(&t, &mut child).await;
    let new = t.status().await.canary.unwrap();
    assert_eq!(new.reached, 2);
    let green_before = admin(&t, "get weight app/green");
    assert!(green_before.starts_with("30 "), "{green_before}");
    let reloaded_at = Utc::now();
    let reload = Command::new("docker")
        .args(["kill", "-s", "USR2", &format!("{}-proxy", t.app)])
        .output()
        .unwrap();
    assert!(reload.status.success(), "{reload:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    for (server, weight) in [("green", "30"), ("blue", "70")] {
        let answer = admin(&t, &format!("get weight app/{server}"));
        assert!(
            answer.starts_with(&format!("{weight} (initial {weight})")),
            "{server} after the reload: {answer}"
        );
    }
    let decided = decide(&t, "promote");
    assert_eq!(decided.status.code(), Some(0), "{}", text(&decided));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A reload closes the old worker's idle keep-alive connections, which races clients
    // reusing them (the engine never reloads the proxy: it uses the runtime API); the
    // canary itself failed nothing outside the reload's few seconds (its old worker lets go
    // of each client connection at that connection's next request).
    let tally = load.stop();
    let reload_window = reloaded_at..reloaded_at + chrono::Duration::seconds(5);
    let outside: Vec<_> = tally
        .failed_at
        .iter()
        .filter(|at| !reload_window.contains(at))
        .collect();
    assert!(outside.is_empty(), "{outside:?} {tally:?}");
    assert_eq!(t.through_proxy().await.2, "v2");
}

/// A CloudWatch alarm (the DescribeAlarms test server: moto does not serve the protocol the
/// SDK speaks) in state ALARM aborts a canary at its next look, and switches a blue-green
/// deploy back inside its verify window.
#[tokio::test]
async fn an_alarm_in_state_alarm_aborts_a_canary_and_switches_a_blue_green_deploy_back() {
    use support::cloudwatch::{serve, DescribeAlarms, Kind};
    let alarms = DescribeAlarms::new(&[("shop-5xx", Kind::Metric, "OK")], 50);
    let server = serve(&alarms).await;
    let t = TestApp::new();
    let with_aws = |cmd: &mut Command| {
        cmd.env("AWS_ENDPOINT_URL_CLOUDWATCH", server.uri())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1");
    };
    let first = deploy(&t, "v1", &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let load = Load::start(t.port, 8, "/");
    let flags = [
        &STEPS[..],
        &[
            "--canary-steps",
            "20,100",
            "--canary-interval",
            "8s",
            "--alarm",
            "shop-5xx",
        ],
    ]
    .concat();
    let mut cmd = deploy_cmd(&t, "v2", &flags);
    with_aws(&mut cmd);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    alarms.set_state("shop-5xx", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (verdict, reason) = end(&reply(&out));
    assert_eq!(verdict, "aborted");
    assert_eq!(reason, "CloudWatch alarm shop-5xx is in state ALARM");
    assert_eq!(t.through_proxy().await.2, "v1");

    // Blue-green: the alarm fires inside the verify window, the deploy switches back.
    alarms.set_state("shop-5xx", "OK");
    let mut cmd = deploy_cmd(&t, "v2", &["--verify-window", "8s", "--alarm", "shop-5xx"]);
    with_aws(&mut cmd);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    alarms.set_state("shop-5xx", "ALARM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = reply(&out);
    assert_eq!(r["outcome"], "auto_rolled_back", "{}", r["message"]);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("CloudWatch alarm shop-5xx is in state ALARM"),
        "{}",
        r["message"]
    );
    assert_eq!(t.through_proxy().await.2, "v1");
    assert_eq!(load.stop().failed, 0);
    assert!(
        alarms.seen().iter().all(|s| s.problems.is_empty()),
        "{:?}",
        alarms.seen()
    );
}
