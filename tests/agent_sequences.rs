//! The sequences a team produces, under keep-alive load through the proxy, with an app that
//! takes 100 ms a request and ignores SIGTERM (so Docker waits its whole stop timeout): no
//! request may fail in any of them. The proxy's retries are off, so they cannot hide a request
//! cut by a container stopped too early. And a long-lived connection (server-sent events)
//! open on the old color stays open through the switch until its drain deadline.

mod support;

use bluegreen::agent::protocol::{AgentReply, DeploySpec, EnvVar, Outcome};
use std::time::Duration;
use support::load::{Load, Stream, Tally};
use support::TestApp;

/// 16 keep-alive connections, as in the measurements.
const CONNECTIONS: usize = 16;

/// An app of 100 ms a request that ignores SIGTERM, retries off, a stop timeout no step may
/// wait for.
fn slow_app(t: &TestApp, tag: &str) -> DeploySpec {
    let mut spec = t.spec(tag);
    for (name, value) in [("LATENCY_MS", "100"), ("IGNORE_SIGTERM", "1")] {
        spec.env.push(EnvVar {
            name: name.into(),
            value: value.into(),
        });
    }
    spec.proxy_lines = vec!["retry-on none".into()];
    spec.stop_timeout_ms = 30_000;
    spec
}

fn assert_ok(r: &AgentReply, what: &str) {
    assert!(
        matches!(r.outcome, Outcome::Deployed | Outcome::RolledBack),
        "{what}: {:?} {}",
        r.outcome,
        r.message
    );
    // Nothing of the command waited for a container to stop (30 s of stop timeout here).
    let total = r.events.iter().find(|e| e.step == "total").unwrap();
    assert!(
        total.duration_ms.unwrap_or(0) < 20_000,
        "{what} took {:?} ms: {:#?}",
        total.duration_ms,
        r.commands
    );
}

fn assert_no_failure(tally: &Tally, what: &str, replies: &[&AgentReply]) {
    assert!(tally.requests > 100, "{what}: the load ran: {tally:?}");
    let steps: Vec<String> = replies
        .iter()
        .flat_map(|r| r.events.iter())
        .map(|e| {
            format!(
                "{} {} {:?}: {}",
                e.ts.format("%H:%M:%S%.3f"),
                e.step,
                e.duration_ms,
                e.detail
            )
        })
        .collect();
    assert_eq!(
        tally.failed, 0,
        "{what}: {} of {} requests failed: {:?}\n{steps:#?}",
        tally.failed, tally.requests, tally.failures
    );
}

/// Load for a moment, so each command runs under requests in flight.
async fn settle_in() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn deploy_rollback_and_deploy_at_once() {
    let t = TestApp::new();
    assert_ok(&t.deploy(slow_app(&t, "v1")).await, "v1");
    assert_ok(&t.deploy(slow_app(&t, "v2")).await, "v2");
    let load = Load::start(t.port, CONNECTIONS, "/");
    settle_in().await;
    let back = t.rollback().await;
    assert_ok(&back, "rollback");
    let next = t.deploy(slow_app(&t, "v3")).await;
    assert_ok(&next, "deploy after the rollback");
    settle_in().await;
    let tally = load.stop();
    assert_no_failure(&tally, "deploy, rollback, deploy", &[&back, &next]);
    assert_eq!(t.through_proxy().await.2, "v3");
}

#[tokio::test]
async fn three_deploys_back_to_back_without_a_verify_window() {
    let t = TestApp::new();
    assert_ok(&t.deploy(slow_app(&t, "v1")).await, "v1");
    let load = Load::start(t.port, CONNECTIONS, "/");
    settle_in().await;
    let mut replies = Vec::new();
    for tag in ["v2", "v3", "v1"] {
        let mut spec = slow_app(&t, tag);
        spec.verify_window_ms = 0;
        let r = t.deploy(spec).await;
        assert_ok(&r, tag);
        replies.push(r);
    }
    settle_in().await;
    let tally = load.stop();
    assert_no_failure(&tally, "three deploys", &replies.iter().collect::<Vec<_>>());
    assert_eq!(t.through_proxy().await.2, "v1");
    // The replaced versions were retired, not waited for; the next deploy removes them once
    // Docker has stopped them.
    assert!(!t.retired().is_empty(), "{:?}", t.containers());
}

#[tokio::test]
async fn rollback_twice() {
    let t = TestApp::new();
    assert_ok(&t.deploy(slow_app(&t, "v1")).await, "v1");
    assert_ok(&t.deploy(slow_app(&t, "v2")).await, "v2");
    let load = Load::start(t.port, CONNECTIONS, "/");
    settle_in().await;
    let first = t.rollback().await;
    assert_ok(&first, "first rollback");
    let second = t.rollback().await;
    assert_ok(&second, "second rollback");
    assert!(
        second.message.contains("already rolled back"),
        "{}",
        second.message
    );
    settle_in().await;
    let tally = load.stop();
    assert_no_failure(&tally, "rollback twice", &[&first, &second]);
    assert_eq!(t.through_proxy().await.2, "v1");
}

#[tokio::test]
async fn a_deploy_while_another_app_on_the_host_deploys() {
    let (a, b) = (TestApp::new(), TestApp::new());
    assert_ok(&a.deploy(slow_app(&a, "v1")).await, "a v1");
    assert_ok(&b.deploy(slow_app(&b, "v1")).await, "b v1");
    let (load_a, load_b) = (
        Load::start(a.port, CONNECTIONS / 2, "/"),
        Load::start(b.port, CONNECTIONS / 2, "/"),
    );
    settle_in().await;
    let (ra, rb) = tokio::join!(a.deploy(slow_app(&a, "v2")), b.deploy(slow_app(&b, "v3")));
    assert_ok(&ra, "a v2");
    assert_ok(&rb, "b v3");
    settle_in().await;
    assert_no_failure(&load_a.stop(), "app a", &[&ra]);
    assert_no_failure(&load_b.stop(), "app b", &[&rb]);
    assert_eq!(a.through_proxy().await.2, "v2");
    assert_eq!(b.through_proxy().await.2, "v3");
}

#[tokio::test]
async fn a_deploy_that_fails_its_health_gate_right_after_a_rollback() {
    let t = TestApp::new();
    assert_ok(&t.deploy(slow_app(&t, "v1")).await, "v1");
    assert_ok(&t.deploy(slow_app(&t, "v2")).await, "v2");
    let load = Load::start(t.port, CONNECTIONS, "/");
    settle_in().await;
    let back = t.rollback().await;
    assert_ok(&back, "rollback");
    let mut broken = slow_app(&t, "v3");
    broken.env.push(EnvVar {
        name: "FAIL_HEALTH".into(),
        value: "1".into(),
    });
    broken.health_timeout_ms = 1_500;
    let failed = t.deploy(broken).await;
    assert_eq!(failed.outcome, Outcome::Failed, "{}", failed.message);
    settle_in().await;
    let tally = load.stop();
    assert_no_failure(&tally, "failed deploy after a rollback", &[&back, &failed]);
    assert_eq!(t.through_proxy().await.2, "v1");
    // A good deploy goes through afterwards.
    assert_ok(&t.deploy(slow_app(&t, "v3")).await, "v3");
    assert_eq!(t.through_proxy().await.2, "v3");
}

/// A server-sent event stream open on v1 stays open through the switch to v2, still fed by
/// v1, until v1's drain deadline; then the proxy closes it. The reply counts it open at the
/// switch and cut at the deadline.
#[tokio::test]
async fn a_long_lived_connection_stays_open_until_the_drain_deadline() {
    let t = TestApp::new();
    let drain_ms = 3_000;
    let spec = |tag: &str| {
        let mut spec = t.spec(tag);
        spec.drain_ms = drain_ms;
        spec.verify_window_ms = 0;
        spec
    };
    assert_ok(&t.deploy(spec("v1")).await, "v1");
    let stream = Stream::open(t.port, "/events");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stream.count() > 0, "the stream is open");
    let r = t.deploy(spec("v2")).await;
    assert_ok(&r, "v2");
    let switch = r
        .events
        .iter()
        .find(|e| e.step == "switch")
        .map(|e| e.ts)
        .unwrap();
    let ended = stream.events.clone();
    let closed = tokio::task::spawn_blocking(move || stream.ended())
        .await
        .unwrap()
        .expect("the stream was read");
    let events = ended.lock().unwrap().clone();
    let after_switch: Vec<_> = events.iter().filter(|(at, _)| *at > switch).collect();
    assert!(
        after_switch.len() >= 20 && after_switch.iter().all(|(_, d)| d.starts_with("v1 ")),
        "v1 kept feeding the stream after the switch: {} events after it",
        after_switch.len()
    );
    let open_for = (closed - switch).num_milliseconds();
    assert!(
        (drain_ms as i64 - 300..drain_ms as i64 + 2_000).contains(&open_for),
        "closed {open_for} ms after the switch, drain {drain_ms} ms"
    );
    let held = r.receipt.as_ref().and_then(|x| x.held).expect("a receipt");
    assert_eq!(
        (held.open_at_switch, held.cut_at_deadline),
        (1, 1),
        "{held:?}"
    );
    let drain = r.events.iter().find(|e| e.step == "drain").unwrap();
    assert!(
        drain
            .detail
            .contains("1 still open at its drain deadline were closed"),
        "{}",
        drain.detail
    );
    assert_eq!(t.through_proxy().await.2, "v2");
}

/// The same after a rollback: the stream open on v2 stays open while the rollback returns, a
/// deploy of v3 and a recover run right after; v2 is stopped only at its drain deadline,
/// counted from the rollback's switch (kept in the state, not in any process).
#[tokio::test]
async fn a_long_lived_connection_on_the_color_a_rollback_left_stays_until_its_deadline() {
    let t = TestApp::new();
    let drain_ms: i64 = 3_000;
    let spec = |tag: &str| {
        let mut spec = t.spec(tag);
        spec.drain_ms = drain_ms as u64;
        spec.verify_window_ms = 0;
        spec
    };
    assert_ok(&t.deploy(spec("v1")).await, "v1");
    assert_ok(&t.deploy(spec("v2")).await, "v2");
    let stream = Stream::open(t.port, "/events");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let back = t.rollback().await;
    assert_ok(&back, "rollback");
    let switch = back.events.iter().find(|e| e.step == "switch").unwrap().ts;
    let next = t.deploy(spec("v3")).await;
    assert_ok(&next, "v3");
    let settle = next.events.iter().find(|e| e.step == "settle");
    assert!(
        settle.is_some_and(|e| e
            .detail
            .contains("1 still open at its drain deadline were closed")),
        "the deploy waited for the stream on v2: {:#?}",
        next.events
    );
    let recovered = t
        .run(bluegreen::agent::protocol::AgentRequest::Recover { app: t.app.clone() })
        .await;
    assert_eq!(
        recovered.outcome,
        Outcome::Recovered,
        "{}",
        recovered.message
    );
    let events = stream.events.clone();
    let closed = tokio::task::spawn_blocking(move || stream.ended())
        .await
        .unwrap()
        .expect("the stream was read");
    let open_for = (closed - switch).num_milliseconds();
    assert!(
        (drain_ms - 300..drain_ms + 2_000).contains(&open_for),
        "closed {open_for} ms after the rollback's switch, drain {drain_ms} ms"
    );
    let fed_by = events.lock().unwrap().last().map(|(_, d)| d.clone());
    assert!(
        fed_by.is_some_and(|d| d.starts_with("v2 ")),
        "v2 fed it to the end"
    );
    assert_eq!(t.through_proxy().await.2, "v3");
}
