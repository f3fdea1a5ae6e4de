//! The receipt of a switch under real load: the proxy's counters and log agree with what the
//! load generator saw, and a switch that cuts requests shows them.

mod support;

use bluegreen::agent::protocol::{Color, EnvVar, Outcome};
use bluegreen::report::receipt::Receipt;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::TestApp;

/// What the load generator saw: when each answer ended and its status (0 for a request that
/// failed without one).
type Seen = Arc<Mutex<Vec<(DateTime<Utc>, u16)>>>;

/// `connections` keep-alive clients sending GET `path` through the proxy until `stop`.
fn load(
    port: u16,
    path: &str,
    connections: usize,
    stop: Arc<AtomicBool>,
) -> (Seen, Vec<tokio::task::JoinHandle<()>>) {
    let seen: Seen = Arc::default();
    let url = format!("http://127.0.0.1:{port}{path}");
    let tasks = (0..connections)
        .map(|_| {
            let (seen, stop, url) = (seen.clone(), stop.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let status = match client.get(&url).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            match r.bytes().await {
                                Ok(_) => status,
                                Err(_) => 0,
                            }
                        }
                        Err(_) => 0,
                    };
                    seen.lock().unwrap().push((Utc::now(), status));
                }
            })
        })
        .collect();
    (seen, tasks)
}

/// The answers the load generator saw end inside the receipt's window: (all, failed).
fn in_window(seen: &Seen, r: &Receipt) -> (u64, u64) {
    let seen = seen.lock().unwrap();
    let inside = seen.iter().filter(|(t, _)| (r.from..r.to).contains(t));
    inside.fold((0, 0), |(all, failed), (_, status)| {
        (all + 1, failed + u64::from(*status == 0 || *status >= 500))
    })
}

async fn stop_load(stop: Arc<AtomicBool>, tasks: Vec<tokio::task::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
}

/// Under keep-alive load through a real deploy, the receipt counts the requests the load
/// generator saw in the same window (within 2 %), none failed, and the log's response times
/// cover the window and the baseline before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_receipt_counts_what_the_load_generator_saw() {
    let t = TestApp::new();
    let mut v1 = t.spec("v1");
    v1.verify_window_ms = 2_000;
    assert_eq!(t.deploy(v1.clone()).await.outcome, Outcome::Deployed);
    let first = t.deploy(v1.clone()).await;
    assert!(first.receipt.is_none(), "a no-op redeploy switches nothing");

    let stop = Arc::new(AtomicBool::new(false));
    let (seen, tasks) = load(t.port, "/", 8, stop.clone());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut v2 = t.spec("v2");
    v2.verify_window_ms = 2_000;
    let r = t.deploy(v2).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_load(stop, tasks).await;

    let receipt = r.receipt.expect("a deploy that switched has a receipt");
    let (generated, failed) = in_window(&seen, &receipt);
    let counted = receipt.during.requests;
    assert!(generated > 500, "load ran in the window: {generated}");
    let gap = counted.abs_diff(generated) as f64 / generated as f64;
    assert!(
        gap <= 0.02,
        "the proxy counted {counted} requests in the window, the load generator {generated} ({:.2} %): {receipt:?}",
        gap * 100.0
    );
    assert_eq!(failed, 0);
    assert_eq!(receipt.during.failed(), 0, "{}", receipt.line());
    let times = receipt.during_times.expect("the proxy logs its requests");
    let logged_gap = times.requests.abs_diff(generated) as f64 / generated as f64;
    assert!(
        logged_gap <= 0.02,
        "the log holds {} requests of the window, the load generator saw {generated}",
        times.requests
    );
    assert!(times.p99_ms >= times.p50_ms);
    let before = receipt.before.expect("a baseline before the switch");
    assert!(
        before.requests > 500,
        "the baseline window saw the load: {before:?}"
    );
    assert!(
        receipt.window_ms() >= 2_000,
        "the window holds the verify window"
    );
    let event = r.events.iter().find(|e| e.step == "receipt").unwrap();
    assert_eq!(event.detail, receipt.line());
    assert!(event.detail.starts_with("0 of "), "{}", event.detail);

    // The proxy logged requests only for the deploy: turned on before it, off after it.
    let switch = "/usr/local/etc/haproxy/log.acl";
    let commands: Vec<&str> = r.commands.iter().map(|c| c.command.as_str()).collect();
    let on = commands
        .iter()
        .position(|c| *c == format!("haproxy> add acl {switch} on"));
    let off = commands
        .iter()
        .position(|c| *c == format!("haproxy> clear acl {switch}"));
    assert!(
        matches!((on, off), (Some(a), Some(b)) if a < b),
        "{commands:#?}"
    );
    let after_deploy = Utc::now().timestamp_millis();
    for _ in 0..20 {
        assert_eq!(t.through_proxy().await.0, 200);
    }
    let logged = t.proxy_request_ends().await;
    let late: Vec<&i64> = logged.iter().filter(|&&ms| ms >= after_deploy).collect();
    assert!(
        late.is_empty(),
        "{} requests logged after the deploy",
        late.len()
    );
    assert!(
        logged.len() as u64 >= times.requests,
        "the deploy's requests are logged"
    );
}

/// A switch that cuts requests: the old color is killed right after the switch while its
/// requests of 2 s each are in flight (long enough that a loaded machine still kills them
/// mid-answer) (the proxy's retries off, so none is hidden). HAProxy closes those
/// clients' connections without an answer, logs nothing and counts no error; the receipt still
/// shows exactly the failures the load generator saw, as requests received and never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switch_that_cuts_requests_shows_them_in_the_receipt() {
    let t = TestApp::new();
    let slow = |tag: &str| {
        let mut spec = t.spec(tag);
        spec.env.push(EnvVar {
            name: "SLOW_MS".into(),
            value: "2000".into(),
        });
        spec.proxy_lines = vec!["retry-on none".into()];
        spec.verify_window_ms = 3_000;
        spec
    };
    let r1 = t.deploy(slow("v1")).await;
    assert_eq!(r1.outcome, Outcome::Deployed, "{}", r1.message);
    let old = r1.apps[0].live.as_ref().unwrap().color;
    let old_name = format!("{}-{old}", t.app);

    let stop = Arc::new(AtomicBool::new(false));
    let (seen, tasks) = load(t.port, "/slow", 12, stop.clone());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let killer = {
        let port = t.port;
        let new = old.other();
        tokio::spawn(async move { kill_once_switched(port, new, &old_name).await })
    };
    let r = t.deploy(slow("v2")).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    killer.await.unwrap();
    stop_load(stop, tasks).await;

    let receipt = r.receipt.expect("a deploy that switched has a receipt");
    let (_, failed_seen) = in_window(&seen, &receipt);
    assert!(failed_seen > 0, "killing the old color cut requests");
    assert_eq!(
        receipt.during.failed(),
        failed_seen,
        "the receipt counts the failures users saw: {}",
        receipt.line()
    );
    assert!(receipt.line().starts_with(&format!("{failed_seen} of ")));
    // The proxy answered none of them and logged none: they are the requests it received and
    // closed without an answer.
    assert_eq!(receipt.during.unanswered, failed_seen, "{receipt:?}");
    assert!(
        receipt.line().contains("closed without an answer"),
        "{}",
        receipt.line()
    );
    let event = r.events.iter().find(|e| e.step == "receipt").unwrap();
    assert_eq!(
        event.status,
        bluegreen::report::StepStatus::Warning,
        "{}",
        event.detail
    );
}

/// Waits until the proxy answers from `new`, then kills `old` (its requests in flight).
async fn kill_once_switched(port: u16, new: Color, old: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let answer = bluegreen::agent::http::get(
            "127.0.0.1",
            port,
            bluegreen::agent::http::Probe::path("/health"),
            Duration::from_secs(2),
        )
        .await;
        if answer.is_ok_and(|a| a.header("x-bluegreen-color") == Some(new.as_str())) {
            let out = std::process::Command::new("docker")
                .args(["kill", old])
                .output()
                .unwrap();
            assert!(out.status.success(), "docker kill {old}: {out:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the proxy never answered from {new}");
}
