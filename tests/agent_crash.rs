//! The agent killed with SIGKILL after each step of a deploy: the next run converges to
//! exactly one live color and keeps the rollback target.
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

async fn killed_after(step: &str) {
    let (t, mut child) = v3_paused_after(step).await;
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
    let mid_live = mid.apps[0].live.as_ref().unwrap().image.clone();
    if let Some(target) = &mid.apps[0].rollback_target {
        assert_ne!(target.image, mid_live, "killed after {step}");
        assert_ne!(
            target.image,
            support::image("v3"),
            "killed after {step}: unproven v3 offered as rollback target"
        );
    }

    let out = t.cli().args(t.deploy_args("v3")).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "re-run after a kill at {step}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = t.status().await;
    let app = &status.apps[0];
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

#[tokio::test]
async fn killed_after_verify() {
    killed_after("verify").await;
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
