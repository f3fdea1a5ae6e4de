use super::*;
use crate::agent::{AgentReply, DeploySpec};
use crate::exit::ExitCode;
use crate::fleet::transport::FailureKind;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// A transport with scripted outcomes that records every call.
#[derive(Default)]
struct Scripted {
    failing: BTreeSet<String>,
    rollback_fails: BTreeSet<String>,
    /// Hosts where the deploy was a no-op: an older deploy id stays live.
    unchanged: BTreeSet<String>,
    /// Hosts whose deploy gives no reply, though the host switched (status says so).
    silent: BTreeSet<String>,
    calls: Mutex<Vec<(String, Vec<String>)>>,
    /// Hosts whose canary aborts (the deploy ends auto_rolled_back).
    aborting: BTreeSet<String>,
    /// For each deploy batch, whether its request carried a canary.
    canaries: Mutex<Vec<bool>>,
}

fn reply(host: &str, action: &str, outcome: Outcome) -> AgentReply {
    AgentReply {
        host: host.into(),
        action: action.into(),
        outcome,
        message: format!("{action} {outcome:?}"),
        first_deployment: false,
        before: None,
        apps: vec![],
        events: vec![crate::report::Event {
            ts: chrono::Utc::now(),
            scope: crate::report::Scope::Host(host.into()),
            step: "switch".into(),
            status: StepStatus::Ok,
            duration_ms: Some(3),
            detail: String::new(),
        }],
        log_tail: vec![],
        receipt: None,
        history: vec![],
        commands: vec![],
        commands_left_out: 0,
        release: None,
        canary: None,
    }
}

fn app_with_live(deploy_id: &str) -> crate::agent::AppState {
    crate::agent::AppState {
        app: "shop".into(),
        public_port: Some(8080),
        live: Some(crate::agent::ColorState {
            color: crate::agent::Color::Blue,
            image: "shop:2".into(),
            digest: None,
            deploy_id: Some(deploy_id.into()),
            since: None,
            running: true,
            health: crate::agent::protocol::Health::Healthy,
            warm_until: None,
        }),
        rollback_target: None,
        verified: true,
        pending: None,
    }
}

impl Transport for Scripted {
    async fn run(&self, _: &str, _: &AgentRequest) -> anyhow::Result<AgentReply> {
        unreachable!("the rollout uses run_batch")
    }
    async fn run_batch(&self, hosts: &[String], request: &AgentRequest) -> Vec<HostRun> {
        self.calls
            .lock()
            .unwrap()
            .push((request.action().to_string(), hosts.to_vec()));
        if let AgentRequest::Deploy(spec) = request {
            self.canaries.lock().unwrap().push(spec.canary.is_some());
        }
        hosts
            .iter()
            .map(|h| {
                let result = match request {
                    AgentRequest::Deploy(_) if self.silent.contains(h) => Err(HostFailure {
                        kind: FailureKind::ExecutionTimedOut,
                        message: "no reply".into(),
                    }),
                    AgentRequest::Status { .. } if self.silent.contains(h) => {
                        let mut r = reply(h, "status", Outcome::Status);
                        r.apps = vec![app_with_live("d1")];
                        Ok(r)
                    }
                    AgentRequest::Deploy(_) if self.aborting.contains(h) => {
                        Ok(reply(h, "deploy", Outcome::AutoRolledBack))
                    }
                    AgentRequest::Deploy(_) if self.failing.contains(h) => Err(HostFailure {
                        kind: FailureKind::Undeliverable,
                        message: "gone".into(),
                    }),
                    AgentRequest::Deploy(spec) => {
                        let mut r = reply(h, "deploy", Outcome::Deployed);
                        let live = if self.unchanged.contains(h) {
                            "d0".to_string()
                        } else {
                            spec.deploy_id.clone()
                        };
                        r.apps = vec![app_with_live(&live)];
                        Ok(r)
                    }
                    AgentRequest::Rollback { .. } if self.rollback_fails.contains(h) => {
                        Ok(reply(h, "rollback", Outcome::Failed))
                    }
                    AgentRequest::Rollback { expect_live, .. } => {
                        assert_eq!(expect_live.as_deref(), Some("d1"));
                        Ok(reply(h, "rollback", Outcome::RolledBack))
                    }
                    AgentRequest::Status { .. } => Ok(reply(h, "status", Outcome::Status)),
                    AgentRequest::Recover { .. } => Ok(reply(h, "recover", Outcome::Recovered)),
                    AgentRequest::History { .. } => Ok(reply(h, "history", Outcome::Status)),
                    AgentRequest::Release(_) => Ok(reply(h, "release", Outcome::Released)),
                    AgentRequest::Promote(_) | AgentRequest::Abort(_) => {
                        Ok(reply(h, request.action(), Outcome::NoCanary))
                    }
                };
                HostRun {
                    host: h.clone(),
                    arch: None,
                    result,
                }
            })
            .collect()
    }
}

fn deploy() -> AgentRequest {
    // Built from JSON so fields the protocol gains later keep their defaults.
    let spec: DeploySpec = serde_json::from_value(serde_json::json!({
        "app": "shop", "image": "shop:2", "public_port": 8080, "container_port": 80,
        "health_path": "/health", "health_timeout_ms": 1, "verify_window_ms": 1,
        "keep_warm_ms": 1, "drain_ms": 1, "proxy_image": "haproxy", "deploy_id": "d1"
    }))
    .unwrap();
    AgentRequest::Deploy(spec)
}

fn hosts(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("h{i}")).collect()
}

fn plan(batch_size: usize, max_errors: usize, rollback_on_budget: bool) -> RolloutPlan {
    RolloutPlan {
        limits: RolloutLimits {
            batch_size,
            max_errors,
        },
        rollback_on_budget,
    }
}

#[tokio::test]
async fn budget_exceeded_stops_new_batches_and_rolls_back_switched_hosts() {
    let t = Scripted {
        failing: ["h4".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(&t, &hosts(8), &deploy(), plan(2, 0, true), &EventLog::new()).await;
    let calls = t.calls.lock().unwrap().clone();
    // Batches h1-h2, h3-h4 ran; h5.. never started; h1-h3 were switched back.
    assert_eq!(calls[0], ("deploy".into(), hosts(2)));
    assert_eq!(calls[1].1, vec!["h3", "h4"]);
    assert_eq!(
        calls[2],
        ("rollback".into(), vec!["h1".into(), "h2".into()])
    );
    assert_eq!(calls[3], ("rollback".into(), vec!["h3".into()]));
    assert_eq!(calls.len(), 4);
    assert_eq!(report.count(HostStatus::RolledBack), 3);
    assert_eq!(report.count(HostStatus::Failed), 1);
    assert_eq!(report.count(HostStatus::Skipped), 4);
    assert!(report.budget_exceeded && report.fleet_rolled_back);
    assert_eq!(report.exit_code(), ExitCode::Failed);
    assert!(report.message.contains("rolled back"), "{}", report.message);
}

/// A host where the deploy changed nothing (the same spec was live) is not sent back to
/// an older version by the fleet rollback.
#[tokio::test]
async fn the_fleet_rollback_skips_hosts_whose_live_deploy_is_not_this_one() {
    let t = Scripted {
        failing: ["h3".to_string()].into(),
        unchanged: ["h1".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(&t, &hosts(3), &deploy(), plan(3, 0, true), &EventLog::new()).await;
    let calls = t.calls.lock().unwrap().clone();
    assert_eq!(calls[1], ("rollback".into(), vec!["h2".to_string()]));
    assert_eq!(report.hosts[0].status, HostStatus::Succeeded);
    assert_eq!(report.hosts[1].status, HostStatus::RolledBack);
}

/// A host that gave no reply is asked for its status; serving this deploy, it counts as
/// switched: it is switched back by the fleet rollback like the others.
#[tokio::test]
async fn a_host_without_reply_is_asked_and_counted_as_switched() {
    let t = Scripted {
        failing: ["h3".to_string()].into(),
        silent: ["h2".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(&t, &hosts(3), &deploy(), plan(3, 0, true), &EventLog::new()).await;
    let calls = t.calls.lock().unwrap().clone();
    assert_eq!(calls[1], ("status".into(), vec!["h2".to_string()]));
    assert_eq!(
        calls[2],
        ("rollback".into(), vec!["h1".to_string(), "h2".to_string()])
    );
    assert_eq!(report.hosts[1].status, HostStatus::RolledBack);
    assert!(report.hosts[1].status_after.is_some());
    assert_eq!(report.hosts[2].status, HostStatus::Failed);
    // The run's report keeps the silent host, in the fleet's words.
    let records: Vec<_> = report
        .hosts
        .iter()
        .map(|h| h.record(Some("shop")))
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1].outcome, "rolled_back");
    assert!(!records[1].replied);
    assert!(
        records[1].message.contains("fleet rollback: "),
        "{:?}",
        records[1]
    );
    assert_eq!(records[2].outcome, "failed");
    assert!(!records[2].replied && !records[2].message.is_empty());
}

/// After a cancel every host is in the report: the sweep's answer, or unknown.
#[tokio::test]
async fn a_cancel_sweep_keeps_every_host() {
    let t = Scripted {
        silent: ["h1".to_string()].into(),
        ..Default::default()
    };
    let hosts = hosts(3);
    let within = std::time::Duration::from_millis(500);
    let report = sweep_after_cancel(
        &t,
        &hosts,
        &deploy(),
        "terminated",
        within,
        &EventLog::new(),
    )
    .await;
    let statuses: Vec<HostStatus> = report.hosts.iter().map(|h| h.status).collect();
    // h1's status says d1 is live and verified; h2 and h3 answer with nothing of this deploy.
    assert_eq!(
        statuses,
        [
            HostStatus::Succeeded,
            HostStatus::Cancelled,
            HostStatus::Cancelled
        ]
    );
    assert_eq!(report.exit_code(), ExitCode::Failed);

    // A transport that never answers: the sweep ends on time, every host unknown.
    struct Stuck;
    impl Transport for Stuck {
        async fn run(&self, _: &str, _: &AgentRequest) -> anyhow::Result<AgentReply> {
            unreachable!()
        }
        async fn run_batch(&self, _: &[String], _: &AgentRequest) -> Vec<HostRun> {
            std::future::pending().await
        }
    }
    let started = std::time::Instant::now();
    let report = sweep_after_cancel(
        &Stuck,
        &hosts,
        &deploy(),
        "terminated",
        within,
        &EventLog::new(),
    )
    .await;
    assert!(started.elapsed() < within * 3);
    assert_eq!(report.hosts.len(), 3);
    assert!(report.hosts.iter().all(|h| h.status == HostStatus::Unknown));
    assert!(report.message.contains("3 unknown"), "{}", report.message);
}

#[tokio::test]
async fn within_budget_the_rollout_continues() {
    let t = Scripted {
        failing: ["h2".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(&t, &hosts(6), &deploy(), plan(2, 1, true), &EventLog::new()).await;
    assert_eq!(t.calls.lock().unwrap().len(), 3);
    assert_eq!(report.count(HostStatus::Succeeded), 5);
    assert!(!report.budget_exceeded && !report.fleet_rolled_back);
    assert_eq!(report.exit_code(), ExitCode::Failed);
}

#[tokio::test]
async fn without_fleet_rollback_the_mixed_fleet_is_announced() {
    let t = Scripted {
        failing: ["h3".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(
        &t,
        &hosts(4),
        &deploy(),
        plan(1, 0, false),
        &EventLog::new(),
    )
    .await;
    assert_eq!(t.calls.lock().unwrap().len(), 3);
    assert_eq!(report.count(HostStatus::Succeeded), 2);
    assert!(report.message.contains("MIXED"), "{}", report.message);
}

#[tokio::test]
async fn a_failed_fleet_rollback_is_reported_as_mixed() {
    let t = Scripted {
        failing: ["h2".to_string()].into(),
        rollback_fails: ["h1".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(&t, &hosts(3), &deploy(), plan(1, 0, true), &EventLog::new()).await;
    assert_eq!(report.hosts[0].status, HostStatus::RollbackFailed);
    assert!(!report.fleet_rolled_back);
    assert!(report.message.contains("MIXED"), "{}", report.message);
}

#[tokio::test]
async fn host_events_join_the_run_events() {
    let t = Scripted::default();
    let events = EventLog::new();
    rollout(&t, &hosts(2), &deploy(), plan(2, 0, true), &events).await;
    let steps: Vec<(String, String)> = events
        .snapshot()
        .into_iter()
        .map(|e| (e.scope.to_string(), e.step))
        .collect();
    assert!(
        steps.contains(&("host:h1".into(), "switch".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("host:h2".into(), "host_result".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("pipeline".into(), "batch_1".into())),
        "{steps:?}"
    );
}

#[tokio::test]
async fn all_succeed_exits_zero() {
    let t = Scripted::default();
    let status = AgentRequest::Status { app: None };
    let report = rollout(&t, &hosts(5), &status, plan(50, 0, true), &EventLog::new()).await;
    assert_eq!(t.calls.lock().unwrap().len(), 1);
    assert_eq!(report.exit_code(), ExitCode::Ok);
}

fn canary_deploy(every_batch: bool) -> AgentRequest {
    let AgentRequest::Deploy(mut spec) = deploy() else {
        unreachable!()
    };
    let mut canary = crate::agent::canary::spec::RawCanary {
        strategy: Some("canary"),
        ..Default::default()
    }
    .parse()
    .unwrap()
    .unwrap();
    canary.every_batch = every_batch;
    spec.canary = Some(canary);
    AgentRequest::Deploy(spec)
}

/// The canary runs on the first batch; the later batches go blue-green (or canary with
/// `--canary-batches every`).
#[tokio::test]
async fn the_canary_runs_on_the_first_batch_and_the_later_ones_go_blue_green() {
    for every in [false, true] {
        let t = Scripted::default();
        let report = rollout(
            &t,
            &hosts(5),
            &canary_deploy(every),
            plan(2, 0, true),
            &EventLog::new(),
        )
        .await;
        assert_eq!(report.count(HostStatus::Succeeded), 5);
        let canaries = t.canaries.lock().unwrap().clone();
        assert_eq!(canaries, [true, every, every], "every batch: {every}");
    }
}

/// A canary that aborts on a host of the first batch stops the rollout, even with an error
/// budget that would allow one failure: the hosts that promoted are switched back.
#[tokio::test]
async fn an_aborted_canary_in_the_first_batch_starts_no_later_batch() {
    let t = Scripted {
        aborting: ["h2".to_string()].into(),
        ..Default::default()
    };
    let report = rollout(
        &t,
        &hosts(6),
        &canary_deploy(false),
        plan(2, 2, true),
        &EventLog::new(),
    )
    .await;
    let calls = t.calls.lock().unwrap().clone();
    assert_eq!(calls[0], ("deploy".into(), hosts(2)));
    assert_eq!(calls[1], ("rollback".into(), vec!["h1".to_string()]));
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(report.count(HostStatus::Skipped), 4);
    assert_eq!(report.count(HostStatus::RolledBack), 1);
    assert_eq!(
        report.errors, 1,
        "the aborted host counts against the budget"
    );
    assert_eq!(report.exit_code(), ExitCode::Failed);
}
