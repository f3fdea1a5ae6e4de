//! `bluegreen history`: each host keeps its last deploys and rollbacks of an app, through the
//! sequence a team produces (deploy, redeploy, a failed deploy, a rollback, a deploy after it),
//! with the receipt of each switch and the run that asked.

mod support;

use bluegreen::agent::protocol::{AgentRequest, Outcome};
use bluegreen::agent::AgentReply;
use support::TestApp;

async fn history(t: &TestApp) -> AgentReply {
    t.run(AgentRequest::History { app: t.app.clone() }).await
}

#[tokio::test]
async fn the_history_holds_every_deploy_and_rollback_with_outcome_receipt_and_run() {
    let t = TestApp::new();
    let empty = history(&t).await;
    assert_eq!(empty.outcome, Outcome::Status);
    assert!(empty.history.is_empty(), "nothing before the first deploy");
    assert!(
        empty.message.contains("no deploy or rollback"),
        "{}",
        empty.message
    );

    let mut v1 = t.spec("v1");
    v1.run_url = Some("https://github.com/acme/shop/actions/runs/41".into());
    assert_eq!(t.deploy(v1).await.outcome, Outcome::Deployed);
    let v2 = t.deploy(t.spec("v2")).await;
    assert_eq!(v2.outcome, Outcome::Deployed, "{}", v2.message);
    let broken = t.deploy(t.spec_env("v3", &[("FAIL_HEALTH", "1")])).await;
    assert_eq!(broken.outcome, Outcome::Failed, "{}", broken.message);
    let rollback = AgentRequest::Rollback {
        app: t.app.clone(),
        expect_live: None,
        run_url: Some("https://github.com/acme/shop/actions/runs/44".into()),
    };
    assert_eq!(t.run(rollback).await.outcome, Outcome::RolledBack);
    assert_eq!(t.deploy(t.spec("v3")).await.outcome, Outcome::Deployed);

    let h = history(&t).await.history;
    let seen: Vec<(&str, Outcome, &str)> = h
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.outcome,
                e.image.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    let image = |tag: &str| support::image(tag);
    assert_eq!(
        seen,
        [
            ("deploy", Outcome::Deployed, image("v1").as_str()),
            ("deploy", Outcome::Deployed, image("v2").as_str()),
            ("deploy", Outcome::Failed, image("v3").as_str()),
            ("rollback", Outcome::RolledBack, image("v1").as_str()),
            ("deploy", Outcome::Deployed, image("v3").as_str()),
        ]
    );
    assert_eq!(
        h[0].run_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/41")
    );
    assert_eq!(
        h[3].run_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/44"),
        "the rollback's run"
    );
    assert!(
        h[0].receipt.is_none(),
        "a first deployment switches from nothing"
    );
    let receipt = h[1].receipt.as_ref().expect("v2's switch has a receipt");
    assert_eq!(Some(receipt), v2.receipt.as_ref());
    assert!(h[1]
        .digest
        .as_deref()
        .is_some_and(|d| d.starts_with("sha256:")));
    assert!(h.iter().all(|e| e.duration_ms > 0), "{h:?}");
    assert!(h.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");

    // The CLI shows it, newest first, and as JSON.
    let out = t
        .cli()
        .args(["history", "--target", "local", "--app", &t.app])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" deploy ") || l.contains(" rollback "))
        .collect();
    assert_eq!(rows.len(), 5, "{text}");
    assert!(
        rows[0].contains("deployed") && rows[0].contains(":v3"),
        "{text}"
    );
    assert!(rows[4].contains("runs/41"), "{text}");
    assert!(text.contains("users saw: 0 of "), "{text}");
    let json = t
        .cli()
        .args([
            "history", "--target", "local", "--app", &t.app, "--format", "json",
        ])
        .output()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(reply["history"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn a_bad_app_name_is_a_usage_error_naming_it() {
    let t = TestApp::new();
    let out = t
        .cli()
        .args(["history", "--target", "local", "--app", "Bad/Name"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Bad/Name"), "{err}");
}
