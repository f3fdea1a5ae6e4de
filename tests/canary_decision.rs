//! `bluegreen promote` and `bluegreen abort` on a host, through the CLI and the local target:
//! with no canary they record nothing and exit 7; with a canary in progress (its progress
//! file, and its deploy holding the app's lock, here this test) they write the decision for
//! that deploy and exit 0, without waiting for the lock; a progress file whose deploy no
//! longer runs is not a canary in progress.

use bluegreen::agent::canary::decision::{CanaryDecision, Decision};
use bluegreen::agent::canary::CanaryProgress;
use bluegreen::agent::lock::AppLock;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn run(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(args)
        .env("BLUEGREEN_STATE_DIR", state)
        .env("BLUEGREEN_LOCK_WAIT", "5s")
        .env_remove("BLUEGREEN_AGENT_IMAGE")
        .env_remove("GITHUB_ACTIONS")
        .env("USER", "ops-alice")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn progress(deploy_id: &str) -> CanaryProgress {
    let reply = format!(
        r#"{{"deploy_id":"{deploy_id}","image":"shop:v2","new_color":"green","weight":25,
            "started_at":"2026-12-03T10:00:00Z","updated_at":"2026-12-03T10:01:00Z",
            "run":{{"steps":[5,25,"pause",100],"reached":3,"paused_since":"2026-12-03T10:01:00Z","intervals":[]}}}}"#
    );
    serde_json::from_str(&reply).unwrap()
}

#[tokio::test]
async fn a_decision_reaches_the_canary_in_progress_and_only_it() {
    let state = tempfile::tempdir().unwrap();
    let app_dir = state.path().join("apps").join("shop");
    std::fs::create_dir_all(&app_dir).unwrap();

    // No canary: nothing recorded, exit 7, and the reply says why.
    let out = run(
        state.path(),
        &["promote", "--target", "local", "--app", "shop"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        text(&out).contains("no canary in progress for shop on this host: nothing recorded"),
        "{}",
        text(&out)
    );
    assert_eq!(CanaryDecision::read(&app_dir).unwrap(), None);

    // A canary waiting at its pause, its deploy holding the lock: recorded at once.
    progress("d-7").write(&app_dir).unwrap();
    let held = AppLock::acquire(&app_dir.join("lock"), Duration::ZERO, "deploy d-7")
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let out = run(
        state.path(),
        &[
            "abort", "--target", "local", "--app", "shop", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it did not wait for the lock the deploy holds"
    );
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["outcome"], "decision_recorded");
    assert_eq!(reply["action"], "abort");
    assert_eq!(reply["canary"]["reached"], 3);
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("abort recorded for the canary of shop (deploy d-7) at step 3 of 4 (pause)"),
        "{reply}"
    );
    let decided = CanaryDecision::for_deploy(&app_dir, "d-7")
        .unwrap()
        .unwrap();
    assert_eq!(decided.decision, Decision::Abort);
    assert_eq!(decided.by.as_deref(), Some("ops-alice"));
    assert_eq!(
        std::fs::read_to_string(app_dir.join("lock")).unwrap(),
        "deploy d-7"
    );

    // Another deploy named: nothing recorded, exit 7; the last word stays.
    let out = run(
        state.path(),
        &[
            "promote",
            "--target",
            "local",
            "--app",
            "shop",
            "--deploy-id",
            "d-6",
        ],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        text(&out).contains("the one in progress is deploy d-7"),
        "{}",
        text(&out)
    );
    let promote = run(
        state.path(),
        &[
            "promote",
            "--target",
            "local",
            "--app",
            "shop",
            "--deploy-id",
            "d-7",
        ],
    );
    assert_eq!(promote.status.code(), Some(0), "{}", text(&promote));
    assert_eq!(
        CanaryDecision::read(&app_dir).unwrap().unwrap().decision,
        Decision::Promote,
        "the last word wins"
    );

    // The deploy gone (its lock released) with its progress file left: no canary.
    drop(held);
    let out = run(
        state.path(),
        &["abort", "--target", "local", "--app", "shop"],
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        text(&out).contains("left its progress file and no longer runs"),
        "{}",
        text(&out)
    );

    // A bad deploy id is a usage error before anything is asked.
    let out = run(
        state.path(),
        &[
            "promote",
            "--target",
            "local",
            "--app",
            "shop",
            "--deploy-id",
            "d 7",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
