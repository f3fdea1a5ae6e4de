//! The agent killed with SIGKILL after each step of a deploy, inside the verify window,
//! during a switch back and during a rollback: the next run converges to exactly one verified
//! live color and keeps the rollback target. A switch that was not verified when the agent
//! died is reverted first, never taken as done.
//!
//! The binary runs as a child with `BLUEGREEN_FAULT_PAUSE_AFTER=<step>`: it stops at that step
//! and says so on stderr, and the test kills it there (`Child::kill` is SIGKILL).

mod support;

use bluegreen::agent::protocol::Outcome;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use support::TestApp;

/// An app with v1 then v2 deployed, and a deploy of v3 that pauses after `step` (its stderr
/// piped, to see it pause). Each call leases ports of its own.
async fn v3_paused_after(step: &str) -> (TestApp, std::process::Child) {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let child = t
        .cli()
        .env("BLUEGREEN_FAULT_PAUSE_AFTER", step)
        .args(t.deploy_args("v3"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (t, child)
}

/// Waits for the child to pause, then kills it (SIGKILL).
async fn kill_when_paused(mut child: std::process::Child, step: &str) {
    let stderr = child.stderr.take().unwrap();
    let paused = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("paused after"))
    })
    .await
    .unwrap();
    assert!(paused, "the agent never reached {step}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Steps after which the switch is on disk but not verified.
const UNVERIFIED: [&str; 4] = ["switch-config", "switch", "verify", "watch"];

async fn killed_after(step: &str) {
    let (t, child) = v3_paused_after(step).await;
    kill_when_paused(child, step).await;

    // Whatever the kill left, traffic still has exactly one color behind it.
    let (status, serving, _) = t.through_proxy().await;
    assert_eq!(status, 200, "killed after {step}: the proxy does not serve");
    for _ in 0..10 {
        assert_eq!(
            t.through_proxy().await.1,
            serving,
            "killed after {step}: two colors serve"
        );
    }

    // An interrupted deploy's container is never offered as the rollback target.
    let mid = t.status().await;
    assert_eq!(
        !mid.apps[0].verified,
        UNVERIFIED.contains(&step),
        "killed after {step}: {}",
        mid.message
    );
    if UNVERIFIED.contains(&step) {
        assert!(
            mid.message
                .contains(&format!("bluegreen recover --app {}", t.app)),
            "{}",
            mid.message
        );
        let text = t
            .cli()
            .args(["status", "--target", "local", "--app", &t.app])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("unverified"),
            "{}",
            String::from_utf8_lossy(&text.stdout)
        );
    }
    let mid_live = mid.apps[0].live.as_ref().unwrap().image.clone();
    if let Some(target) = &mid.apps[0].rollback_target {
        assert_ne!(target.image, mid_live, "killed after {step}");
        assert_ne!(
            target.image,
            support::image("v3"),
            "killed after {step}: unproven v3 offered as rollback target"
        );
    }

    let out = t
        .cli()
        .args(t.deploy_args("v3"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "re-run after a kill at {step}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The re-run is a real deploy that verifies v3 (never "already live; nothing to do"), and
    // says what it reverted first.
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = reply["message"].as_str().unwrap_or_default();
    let steps: Vec<&str> = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["step"].as_str())
        .collect();
    if step != "drain" && step != "verified" {
        assert!(
            steps.contains(&"watch") && steps.contains(&"verified"),
            "killed after {step}: {steps:?} {message}"
        );
    }
    if UNVERIFIED.contains(&step) {
        assert!(
            message.contains(&format!(
                "the interrupted deploy of {} was reverted",
                support::image("v3")
            )),
            "killed after {step}: {message}"
        );
    }
    let status = t.status().await;
    let app = &status.apps[0];
    assert!(app.verified, "killed after {step}");
    let live = app.live.as_ref().unwrap();
    assert_eq!(live.image, support::image("v3"), "killed after {step}");
    let target = app
        .rollback_target
        .as_ref()
        .unwrap_or_else(|| panic!("killed after {step}: no rollback target"));
    assert_eq!(target.image, support::image("v2"), "killed after {step}");
    for _ in 0..10 {
        let (code, color, version) = t.through_proxy().await;
        assert_eq!(
            (code, color.as_str(), version.as_str()),
            (200, live.color.as_str(), "v3"),
            "killed after {step}"
        );
    }
    let mut expected = vec![
        format!("{}-blue", t.app),
        format!("{}-green", t.app),
        format!("{}-proxy", t.app),
    ];
    expected.sort();
    assert_eq!(t.containers(), expected, "killed after {step}");
    t.assert_proxy_not_logging(&format!("killed after {step}, then deployed again"))
        .await;
}

#[tokio::test]
async fn killed_after_read() {
    killed_after("read").await;
}

#[tokio::test]
async fn killed_after_pull() {
    killed_after("pull").await;
}

#[tokio::test]
async fn killed_after_start() {
    killed_after("start").await;
}

#[tokio::test]
async fn killed_after_ready() {
    killed_after("ready").await;
}

#[tokio::test]
async fn killed_after_switch() {
    killed_after("switch").await;
}

/// Between the config rename and the runtime API line: config and running proxy disagree.
#[tokio::test]
async fn killed_between_config_and_runtime_switch() {
    killed_after("switch-config").await;
}

/// Inside the verify window: the new color answered through the proxy, the watch runs.
#[tokio::test]
async fn killed_inside_the_verify_window() {
    killed_after("verify").await;
}

/// The verify window watched to its end, but not yet recorded as verified.
#[tokio::test]
async fn killed_after_the_watch_before_it_is_recorded() {
    killed_after("watch").await;
}

#[tokio::test]
async fn killed_after_verified() {
    killed_after("verified").await;
}

#[tokio::test]
async fn killed_after_drain() {
    killed_after("drain").await;
}

/// SIGTERM (a cancelled workflow) mid-deploy: the command stops at once and puts the host
/// back itself, without waiting for the next command: the new container goes, the prior set
/// aside is the rollback target again, and the live version never stopped serving.
#[tokio::test]
async fn sigterm_mid_deploy_puts_the_host_back_at_once() {
    let (t, mut child) = v3_paused_after("start").await;
    let stderr = child.stderr.take().unwrap();
    let (paused_tx, paused_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut rest = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("paused after") {
                let _ = paused_tx.send(());
            }
            rest.push(line);
        }
        rest
    });
    paused_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the deploy never reached its start step");
    assert!(
        t.containers().iter().any(|n| n.ends_with("-prior")),
        "the prior was set aside: {:?}",
        t.containers()
    );
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let code = child.wait().unwrap().code();
    let stderr = reader.join().unwrap().join("\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("terminated: the command stopped part-way; the host was put back"),
        "{stderr}"
    );

    // No other command ran: what follows is the signal handler's own repair.
    let names = t.containers();
    assert!(!names.iter().any(|n| n.ends_with("-prior")), "{names:?}");
    let (status, color, version) = t.through_proxy().await;
    assert_eq!((status, version.as_str()), (200, "v2"), "{color}");
    let state = t.status().await;
    let app = &state.apps[0];
    assert_eq!(app.live.as_ref().unwrap().image, support::image("v2"));
    let target = app.rollback_target.as_ref().expect("rollback target kept");
    assert_eq!(target.image, support::image("v1"), "{names:?}");
}

/// The state after a converged run: `live` serves, verified, with `target` as the rollback
/// target, and nothing but the three containers.
async fn assert_converged(t: &TestApp, live: &str, target: Option<&str>, what: &str) {
    let state = t.status().await;
    let app = &state.apps[0];
    assert!(app.verified, "{what}: {}", state.message);
    assert_eq!(
        app.live.as_ref().unwrap().image,
        support::image(live),
        "{what}"
    );
    assert_eq!(
        app.rollback_target.as_ref().map(|t| t.image.clone()),
        target.map(support::image),
        "{what}"
    );
    for _ in 0..10 {
        let (code, _, version) = t.through_proxy().await;
        assert_eq!((code, version.as_str()), (200, live), "{what}");
    }
    let names = t.containers();
    assert!(
        !names.iter().any(|n| n.ends_with("-prior")),
        "{what}: {names:?}"
    );
}

fn run_ok(cmd: &mut std::process::Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `bluegreen recover` after a kill inside the verify window: v2 (the last verified version)
/// serves again with v1 as its rollback target, and the reply says what was reverted.
#[tokio::test]
async fn recover_reverts_a_deploy_killed_inside_the_verify_window() {
    let (t, child) = v3_paused_after("verify").await;
    kill_when_paused(child, "verify").await;
    let out = run_ok(
        t.cli()
            .args(["recover", "--target", "local", "--app", &t.app]),
        "recover",
    );
    assert!(
        out.contains(&format!(
            "the interrupted deploy of {} was reverted",
            support::image("v3")
        )),
        "{out}"
    );
    assert_converged(&t, "v2", Some("v1"), "after recover").await;
    assert_eq!(t.containers().len(), 3, "{:?}", t.containers());
    // A second recover finds nothing to do.
    let again = run_ok(
        t.cli()
            .args(["recover", "--target", "local", "--app", &t.app]),
        "recover again",
    );
    assert!(again.contains("nothing to recover"), "{again}");
}

/// The switch back itself killed, between its config and its runtime line and after it: the
/// next recover finishes it.
#[tokio::test]
async fn killed_during_the_switch_back() {
    for pause in ["switch-back-config", "switch-back"] {
        let (t, child) = v3_paused_after("verify").await;
        kill_when_paused(child, "verify").await;
        let child = t
            .cli()
            .env("BLUEGREEN_FAULT_PAUSE_AFTER", pause)
            .args(["recover", "--target", "local", "--app", &t.app])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        kill_when_paused(child, pause).await;
        assert_eq!(t.through_proxy().await.0, 200, "killed at {pause}");
        run_ok(
            t.cli()
                .args(["recover", "--target", "local", "--app", &t.app]),
            pause,
        );
        assert_converged(&t, "v2", Some("v1"), pause).await;
        // And the next deploy goes through as usual.
        run_ok(t.cli().args(t.deploy_args("v3")), pause);
        assert_converged(&t, "v3", Some("v2"), pause).await;
    }
}

/// A rollback killed at each of its steps: the rollback switch is unverified until the
/// proxy confirms it, so the next command reverts it to v2, and a rerun of the rollback
/// lands on v1 with v2 rejected; one more rollback is a no-op success.
#[tokio::test]
async fn killed_during_a_rollback() {
    for pause in ["read", "switch-config", "switch", "verify", "verified"] {
        let t = TestApp::new();
        assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
        assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
        let child = t
            .cli()
            .env("BLUEGREEN_FAULT_PAUSE_AFTER", pause)
            .args(["rollback", "--target", "local", "--app", &t.app])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        kill_when_paused(child, pause).await;
        assert_eq!(t.through_proxy().await.0, 200, "killed at {pause}");
        let mid = t.status().await;
        let unverified = ["switch-config", "switch", "verify"].contains(&pause);
        assert_eq!(
            !mid.apps[0].verified, unverified,
            "{pause}: {}",
            mid.message
        );
        let out = run_ok(
            t.cli()
                .args(["rollback", "--target", "local", "--app", &t.app]),
            pause,
        );
        if pause == "verified" {
            assert!(out.contains("already rolled back to"), "{pause}: {out}");
        } else {
            assert!(out.contains("rolled back to"), "{pause}: {out}");
        }
        assert_converged(&t, "v1", None, pause).await;
        let again = run_ok(
            t.cli()
                .args(["rollback", "--target", "local", "--app", &t.app]),
            pause,
        );
        assert!(
            again.contains(&format!(
                "already rolled back to {}; {} was rejected at",
                support::image("v1"),
                support::image("v2")
            )),
            "{pause}: {again}"
        );
        assert_converged(&t, "v1", None, pause).await;
    }
}

/// Killed while the pre-switch command runs: nothing switched, and the next deploy removes the
/// smoke test's container, runs it again and goes live.
#[tokio::test]
async fn killed_during_the_pre_switch_command() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let smoke = ["--pre-switch-command", "smoke /health"];
    let child = t
        .cli()
        .env("BLUEGREEN_FAULT_PAUSE_AFTER", "pre-switch")
        .args(t.deploy_args("v3"))
        .args(smoke)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    kill_when_paused(child, "pre-switch").await;
    assert_eq!(t.through_proxy().await.2, "v2", "nothing switched");
    let out = t
        .cli()
        .args(t.deploy_args("v3"))
        .args(smoke)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_converged(&t, "v3", Some("v2"), "killed during the pre-switch command").await;
    assert!(
        !t.containers().iter().any(|c| c.ends_with("-pre-switch")),
        "{:?}",
        t.containers()
    );
}

/// Killed in the middle of a canary (after its first interval, the new version at 50 %): the
/// next command's recovery reverts it like any unverified switch, every request goes to the
/// old version again, the canary's files are gone, the rollback target stays; a deploy then
/// goes through.
#[tokio::test]
async fn killed_during_a_canary_step() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let canary = [
        "--strategy",
        "canary",
        "--canary-steps",
        "50,100",
        "--canary-interval",
        "1s",
        "--canary-min-requests",
        "1",
    ];
    let child = t
        .cli()
        .env("BLUEGREEN_FAULT_PAUSE_AFTER", "canary")
        .args(t.deploy_args("v3"))
        .args(canary)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    kill_when_paused(child, "canary").await;
    let app_dir = t.state_dir.join("apps").join(&t.app);
    assert!(app_dir.join("canary.json").exists(), "killed mid-canary");
    let out = run_ok(
        t.cli()
            .args(["recover", "--target", "local", "--app", &t.app]),
        "recover after a killed canary",
    );
    assert!(out.contains("the interrupted canary of"), "{out}");
    assert!(!app_dir.join("canary.json").exists());
    assert_converged(&t, "v2", Some("v1"), "killed during a canary step").await;
    let again = t.cli().args(t.deploy_args("v3")).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_converged(&t, "v3", Some("v2"), "a deploy after the killed canary").await;
}
