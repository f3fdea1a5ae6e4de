//! The SSM transport against the SSM test server (tests/ssm_server.py): the real aws-sdk-ssm
//! client, the real JSON 1.1 protocol, scripts run with bash on simulated instances.

mod ssm_support;

use base64::Engine;
use bluegreen::agent::{AgentRequest, DeploySpec, Outcome};
use bluegreen::fleet::poll::PollPolicy;
use bluegreen::fleet::preflight::{self, TargetSelection};
use bluegreen::fleet::rollout::{rollout, HostStatus, RolloutPlan};
use bluegreen::fleet::ssm::{SsmSettings, SsmTransport};
use bluegreen::fleet::targets::RolloutLimits;
use bluegreen::fleet::{FailureKind, Transport};
use bluegreen::report::EventLog;
use serde_json::{json, Value};
use ssm_support::{config, instance_ids, Shims, SsmServer};
use std::time::Duration;

const AGENT_IMAGE: &str = "ghcr.io/org/bluegreen-action:0.1.0";
const RUN_URL: &str = "https://github.com/acme/shop/actions/runs/42";

fn transport(server: &SsmServer, tweak: impl FnOnce(&mut SsmSettings)) -> SsmTransport {
    logged_transport(server, &EventLog::new(), tweak)
}

/// A transport whose AWS calls go into `events`' command log.
fn logged_transport(
    server: &SsmServer,
    events: &EventLog,
    tweak: impl FnOnce(&mut SsmSettings),
) -> SsmTransport {
    let mut s = SsmSettings::new(AGENT_IMAGE.into(), Duration::from_secs(30));
    s.poll = PollPolicy {
        min: Duration::from_millis(50),
        max: Duration::from_millis(200),
    };
    s.deadline = Duration::from_secs(30);
    tweak(&mut s);
    SsmTransport::new(server.logged_client(events), s, events.clone())
}

fn deploy_request() -> AgentRequest {
    // Built from JSON so fields the protocol gains later keep their defaults.
    let spec: DeploySpec = serde_json::from_value(json!({
        "app": "bgs-shop",
        "image": "123.dkr.ecr.us-east-1.amazonaws.com/shop@sha256:ab12",
        "public_port": 19080,
        "container_port": 8080,
        "health_path": "/health",
        "health_timeout_ms": 30_000,
        "verify_window_ms": 1_000,
        "keep_warm_ms": 60_000,
        "drain_ms": 1_000,
        "env": [{"name": "GREETING", "value": "it's $(not run) `either`"}],
        "env_from_ssm": "/bgs/shop/prod/",
        "proxy_image": "haproxy:3.2",
        "deploy_id": "20261122T040000Z-abc123",
        "run_url": RUN_URL
    }))
    .unwrap();
    AgentRequest::Deploy(spec)
}

fn status_request() -> AgentRequest {
    AgentRequest::Status {
        app: Some("bgs-shop".into()),
    }
}

fn run(id: &str) -> (String, Value) {
    (id.to_string(), json!({}))
}

fn with_env(id: &str, env: Value) -> (String, Value) {
    (id.to_string(), json!({ "env": env }))
}

fn with_behavior(id: &str, behavior: &str) -> (String, Value) {
    (id.to_string(), json!({ "behavior": behavior }))
}

#[tokio::test]
async fn one_command_runs_the_agent_container_on_every_host_of_a_batch() {
    let shims = Shims::new();
    let ids = instance_ids(3);
    let server = SsmServer::start(config(
        &shims,
        &ids.iter().map(|i| run(i)).collect::<Vec<_>>(),
    ));
    let t = transport(&server, |_| {});
    let request = deploy_request();

    let runs = t.run_batch(&ids, &request).await;

    assert_eq!(runs.len(), 3);
    for (run, id) in runs.iter().zip(&ids) {
        let reply = run.result.as_ref().unwrap();
        assert_eq!(&run.host, id);
        assert_eq!(
            &reply.host, id,
            "the reply names the instance, not the hostname"
        );
        assert_eq!(reply.outcome, Outcome::Deployed);
        assert_eq!(run.arch.as_deref(), Some(std::env::consts::ARCH));
    }
    server.assert_all_valid().await;
    let sends = server.requests_of("SendCommand").await;
    assert_eq!(sends.len(), 1, "one SendCommand for the whole batch");
    let body = &sends[0]["body"];
    assert_eq!(body["DocumentName"], "AWS-RunShellScript");
    assert_eq!(body["InstanceIds"], json!(ids));
    assert_eq!(body["Parameters"]["executionTimeout"], json!(["30"]));
    assert_eq!(body["MaxConcurrency"], "3");
    assert!(body["Comment"].as_str().unwrap().len() <= 100);
    // No secret in the parameters: the request carries the Parameter Store path only.
    let params = body["Parameters"].to_string();
    assert!(
        !params.contains("GREETING"),
        "env values travel base64-encoded, inside the request"
    );

    // The docker argv arrived exactly as built: quoting let nothing reach the shell.
    let argv = &shims.argvs(&ids[0])[0];
    let expected_head = [
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        "/var/lib/bluegreen:/var/lib/bluegreen",
        "-e",
        "AWS_SSM_INSTANCE_ID",
        "-e",
        "AWS_SSM_REGION_NAME",
        "-e",
        "BLUEGREEN_HOST_NAME",
        "-e",
        "PATH=/run/bluegreen/bin:/usr/local/bin:/usr/bin:/bin",
    ];
    assert_eq!(&argv[..expected_head.len()], expected_head);
    let n = argv.len();
    assert_eq!(argv[n - 4..n - 1], [AGENT_IMAGE, "agent", "--request"]);
    // Between them only the read-only mounts of the host's registry credentials (the
    // credential helpers this machine has on PATH, and a Docker config if root has one).
    let middle = &argv[expected_head.len()..n - 4];
    for pair in middle.chunks(2) {
        let ok = match pair {
            [flag, mount] if flag == "--mount" => {
                mount.starts_with("type=bind,src=") && mount.ends_with(",readonly")
            }
            [flag, var] if flag == "-e" => var == "DOCKER_CONFIG=/run/bluegreen/docker-config",
            _ => false,
        };
        assert!(ok, "unexpected docker arguments {pair:?} in {argv:?}");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(argv.last().unwrap())
        .unwrap();
    let sent: AgentRequest = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(sent, request);
    // A small reply fits ListCommandInvocations' 2,500 characters: no per-host call.
    assert!(server.requests_of("GetCommandInvocation").await.is_empty());
}

#[tokio::test]
async fn delivery_failures_are_failures_even_when_ssm_says_success() {
    let shims = Shims::new();
    let ids = instance_ids(7);
    let server = SsmServer::start(config(
        &shims,
        &[
            run(&ids[0]),
            with_behavior(&ids[1], "undeliverable"),
            with_behavior(&ids[2], "invalid_platform"),
            with_behavior(&ids[3], "access_denied"),
            with_behavior(&ids[4], "delivery_timeout"),
            with_behavior(&ids[5], "cancelled"),
            with_behavior(&ids[6], "terminated"),
        ],
    ));
    let t = transport(&server, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;

    assert!(runs[0].result.is_ok());
    let kinds: Vec<FailureKind> = runs[1..]
        .iter()
        .map(|r| r.result.as_ref().unwrap_err().kind)
        .collect();
    assert_eq!(
        kinds,
        [
            FailureKind::Undeliverable,
            FailureKind::InvalidPlatform,
            FailureKind::AccessDenied,
            FailureKind::DeliveryTimedOut,
            FailureKind::Cancelled,
            FailureKind::Terminated,
        ]
    );
    // SSM does not count Undeliverable, Invalid Platform or Access Denied as errors; only
    // per-instance results tell.
    let stats = server.stats().await;
    let statuses = &stats["commands"][0]["statuses"];
    assert_eq!(statuses[&ids[1]], json!(["Failed", "Undeliverable"]));
    server.assert_all_valid().await;
}

#[tokio::test]
async fn a_failed_deploy_brings_its_reply_and_a_crash_brings_stderr() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            with_env(&ids[0], json!({"SHIM_DEPLOY": "failed"})),
            with_env(&ids[1], json!({"SHIM_EXIT_EARLY": "125"})),
        ],
    ));
    let t = transport(&server, |s| {
        s.cloudwatch_log_group = Some("/bgs/deploys".into())
    });
    let runs = t.run_batch(&ids, &deploy_request()).await;

    let reply = runs[0].result.as_ref().unwrap();
    assert_eq!(
        reply.outcome,
        Outcome::Failed,
        "exit 1 with a reply is the agent's verdict"
    );
    let err = runs[1].result.as_ref().unwrap_err();
    assert_eq!(err.kind, FailureKind::Failed);
    assert!(err.message.contains("exited 125"), "{}", err.message);
    assert!(
        err.message.contains("pull access denied"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("CloudWatch Logs group /bgs/deploys"),
        "{}",
        err.message
    );
    let send = &server.requests_of("SendCommand").await[0]["body"];
    assert_eq!(
        send["CloudWatchOutputConfig"],
        json!({"CloudWatchLogGroupName": "/bgs/deploys", "CloudWatchOutputEnabled": true})
    );
}

#[tokio::test]
async fn a_script_past_command_timeout_is_execution_timed_out() {
    let shims = Shims::new();
    let ids = instance_ids(1);
    let server = SsmServer::start(config(
        &shims,
        &[with_env(&ids[0], json!({"SHIM_SLEEP": "20"}))],
    ));
    let t = transport(&server, |s| s.command_timeout = Duration::from_secs(1));
    let err = t.run(&ids[0], &status_request()).await.unwrap_err();
    let failure = err.downcast_ref::<bluegreen::fleet::HostFailure>().unwrap();
    assert_eq!(failure.kind, FailureKind::ExecutionTimedOut);
    let send = &server.requests_of("SendCommand").await[0]["body"];
    assert_eq!(send["Parameters"]["executionTimeout"], json!(["1"]));
}

#[tokio::test]
async fn at_the_deadline_the_command_is_cancelled() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            with_behavior(&ids[0], "stuck"),
            with_env(&ids[1], json!({"SHIM_SLEEP": "30"})),
        ],
    ));
    let t = transport(&server, |s| s.deadline = Duration::from_millis(1500));
    let started = std::time::Instant::now();
    let runs = t.run_batch(&ids, &status_request()).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    for r in &runs {
        let err = r.result.as_ref().unwrap_err();
        assert_eq!(err.kind, FailureKind::DeadlineExceeded);
        assert!(
            err.message.contains("CancelCommand sent"),
            "{}",
            err.message
        );
    }
    let cancels = server.requests_of("CancelCommand").await;
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0]["body"]["InstanceIds"], json!(ids));
    // The server killed the running script and marked both invocations Cancelled.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let statuses = &server.stats().await["commands"][0]["statuses"];
    assert_eq!(statuses[&ids[0]][0], "Cancelled");
    assert_eq!(statuses[&ids[1]][0], "Cancelled");
}

#[tokio::test]
async fn commands_left_out_of_a_reply_are_pointed_at_in_the_stderr_kept_by_ssm() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            with_env(&ids[0], json!({"SHIM_COMMANDS_LEFT_OUT": "7"})),
            run(&ids[1]),
        ],
    ));
    let events = EventLog::new();
    let t = logged_transport(&server, &events, |s| {
        s.output_s3_bucket = Some("bgs-logs".into());
        s.cloudwatch_log_group = Some("/bluegreen".into());
    });
    let runs = t.run_batch(&ids, &status_request()).await;
    assert!(runs.iter().all(|r| r.result.is_ok()), "{runs:?}");
    let notes: Vec<_> = events
        .snapshot()
        .into_iter()
        .filter(|e| e.step == "commands")
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "only the host that left some out: {notes:#?}"
    );
    let note = &notes[0];
    assert_eq!(note.scope.to_string(), format!("host:{}", ids[0]));
    assert!(
        note.detail
            .starts_with("7 older commands are not in this report"),
        "{}",
        note.detail
    );
    let command_id = server.stats().await["commands"][0]["command_id"]
        .as_str()
        .unwrap()
        .to_string();
    for place in [
        format!("s3://bgs-logs/bluegreen/{command_id}/{}/", ids[0]),
        format!(
            "CloudWatch Logs group /bluegreen, stream {command_id}/{}/aws-runShellScript/stderr",
            ids[0]
        ),
    ] {
        assert!(note.detail.contains(&place), "{place} in {}", note.detail);
    }
}

#[tokio::test]
async fn truncated_stdout_is_a_clear_error_pointing_at_the_full_logs() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            with_env(&ids[0], json!({"SHIM_NOISE": "30000"})),
            with_env(
                &ids[1],
                json!({"SHIM_STDERR": "20000", "SHIM_EXIT_EARLY": "1"}),
            ),
        ],
    ));
    let t = transport(&server, |s| s.output_s3_bucket = Some("bgs-logs".into()));
    let runs = t.run_batch(&ids, &status_request()).await;

    let err = runs[0].result.as_ref().unwrap_err();
    assert_eq!(err.kind, FailureKind::OutputTruncated);
    assert!(err.message.contains("24000"), "{}", err.message);
    assert!(
        err.message
            .contains("https://s3.amazonaws.com/bgs-logs/bluegreen/"),
        "{}",
        err.message
    );
    // stderr is cut at 8,000 characters: the end of the script's stderr is not there.
    let err = runs[1].result.as_ref().unwrap_err();
    assert_eq!(err.kind, FailureKind::Failed);
    assert!(!err.message.contains("END-OF-STDERR"), "{}", err.message);
    assert!(err.message.contains("eeee"), "{}", err.message);
    let send = &server.requests_of("SendCommand").await[0]["body"];
    assert_eq!(send["OutputS3BucketName"], "bgs-logs");
}

#[tokio::test]
async fn a_reply_longer_than_the_listing_is_read_with_get_command_invocation() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            with_env(&ids[0], json!({"SHIM_BIG_REPLY": "6000"})),
            run(&ids[1]),
        ],
    ));
    let t = transport(&server, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;
    assert_eq!(runs[0].result.as_ref().unwrap().log_tail[0].len(), 6000);
    assert!(runs[1].result.is_ok());
    let gets = server.requests_of("GetCommandInvocation").await;
    assert_eq!(gets.len(), 1, "only the host whose reply did not fit");
    assert_eq!(gets[0]["body"]["InstanceId"], ids[0]);
}

#[tokio::test]
async fn a_command_not_visible_yet_is_pending_not_failed() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let mut cfg = config(
        &shims,
        &[
            run(&ids[0]),
            with_env(&ids[1], json!({"SHIM_BIG_REPLY": "3000"})),
        ],
    );
    cfg["invisible_polls"] = json!(4);
    let server = SsmServer::start(cfg);
    let t = transport(&server, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;
    for r in &runs {
        assert!(r.result.is_ok(), "{:?}", r.result);
    }
    let lists = server.requests_of("ListCommands").await;
    assert!(
        lists.len() >= 4,
        "polled past the invisible reads: {}",
        lists.len()
    );
}

#[tokio::test]
async fn get_command_invocation_does_not_exist_is_retried() {
    let shims = Shims::new();
    let ids = instance_ids(1);
    // A reply too long for the listing, and GetCommandInvocation answering
    // InvocationDoesNotExist twice even though the listing shows the invocation ended.
    let mut cfg = config(
        &shims,
        &[with_env(&ids[0], json!({"SHIM_BIG_REPLY": "3000"}))],
    );
    cfg["invisible_gets"] = json!(2);
    let server = SsmServer::start(cfg);
    let t = transport(&server, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;
    assert!(runs[0].result.is_ok(), "{:?}", runs[0].result);
    assert_eq!(server.requests_of("GetCommandInvocation").await.len(), 3);
}

#[tokio::test]
async fn throttling_is_absorbed_by_adaptive_retry() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let mut cfg = config(&shims, &[run(&ids[0]), run(&ids[1])]);
    cfg["throttle"] = json!({"SendCommand": 1, "ListCommands": 1});
    let server = SsmServer::start(cfg);
    let events = EventLog::new();
    let t = logged_transport(&server, &events, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;
    for r in &runs {
        assert!(r.result.is_ok(), "{:?}", r.result);
    }
    let stats = server.stats().await;
    assert_eq!(
        stats["throttled"],
        json!({"SendCommand": 1, "ListCommands": 1})
    );
    // The command log has each call, what it named, and the retry it took.
    let calls = events.commands();
    let sent: Vec<_> = calls
        .iter()
        .filter(|c| c.command.starts_with("aws ssm SendCommand "))
        .collect();
    assert_eq!(sent.len(), 1, "{calls:#?}");
    assert_eq!(
        sent[0].command,
        format!(
            "aws ssm SendCommand InstanceIds={},{} DocumentName=AWS-RunShellScript",
            ids[0], ids[1]
        )
    );
    assert_eq!(
        (sent[0].exit_code, sent[0].detail.as_str()),
        (Some(0), "2 attempts")
    );
    assert!(
        calls
            .iter()
            .any(|c| c.command.starts_with("aws ssm ListCommands CommandId=")
                && c.detail == "2 attempts"),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| !c.command.contains("commands") && !c.command.contains("base64")),
        "no script in the log: {calls:#?}"
    );
    assert_eq!(
        stats["commands"].as_array().unwrap().len(),
        1,
        "a retried send is not sent twice"
    );
}

#[tokio::test]
async fn fleet_rollback_over_ssm_switches_back_exactly_the_switched_hosts() {
    let shims = Shims::new();
    let ids = instance_ids(6);
    let mut instances: Vec<(String, Value)> = ids.iter().map(|i| run(i)).collect();
    instances[3] = with_env(&ids[3], json!({"SHIM_DEPLOY": "auto_rolled_back"}));
    let server = SsmServer::start(config(&shims, &instances));
    let t = transport(&server, |_| {});
    let plan = RolloutPlan {
        limits: RolloutLimits {
            batch_size: 2,
            max_errors: 0,
        },
        rollback_on_budget: true,
    };
    let report = rollout(&t, &ids, &deploy_request(), plan, &EventLog::new()).await;

    let statuses: Vec<HostStatus> = report.hosts.iter().map(|h| h.status).collect();
    use HostStatus::*;
    assert_eq!(
        statuses,
        [RolledBack, RolledBack, RolledBack, Failed, Skipped, Skipped]
    );
    assert!(report.budget_exceeded && report.fleet_rolled_back);
    let sends = server.requests_of("SendCommand").await;
    let targets: Vec<Value> = sends
        .iter()
        .map(|s| s["body"]["InstanceIds"].clone())
        .collect();
    assert_eq!(
        targets,
        [
            json!(ids[0..2]),
            json!(ids[2..4]),
            json!(ids[0..2]),
            json!([ids[2]])
        ]
    );
    // Hosts 5 and 6 never ran anything.
    assert!(shims.argvs(&ids[4]).is_empty() && shims.argvs(&ids[5]).is_empty());
    // The rollback commands carried rollback requests.
    let argv = shims.argvs(&ids[2]);
    let last = base64::engine::general_purpose::STANDARD
        .decode(argv.last().unwrap().last().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<AgentRequest>(&last).unwrap(),
        AgentRequest::Rollback {
            app: "bgs-shop".into(),
            expect_live: Some("20261122T040000Z-abc123".into()),
            run_url: Some(RUN_URL.into()),
        }
    );
}

#[tokio::test]
async fn preflight_reports_state_and_stops_unready_hosts() {
    let shims = Shims::new();
    let ids = instance_ids(4);
    let tags = json!({"Role": "bgs-web"});
    let server = SsmServer::start(config(
        &shims,
        &[
            (
                ids[0].clone(),
                json!({"tags": tags, "env": {"SHIM_LIVE_IMAGE": "shop:1", "SHIM_PRIOR_IMAGE": "shop:0"}}),
            ),
            (ids[1].clone(), json!({"tags": tags})),
            (
                ids[2].clone(),
                json!({"tags": tags, "ping": "ConnectionLost"}),
            ),
            (
                ids[3].clone(),
                json!({"tags": tags, "env": {"SHIM_UNAME": "aarch64"}}),
            ),
        ],
    ));
    let t = transport(&server, |_| {});
    let selection = TargetSelection::Tags("Role=bgs-web".parse().unwrap());
    let hosts = preflight::resolve_targets(&t, &selection).await.unwrap();
    assert_eq!(hosts, ids);
    let report = preflight::preflight(
        &t,
        &hosts,
        "bgs-shop",
        &["linux/amd64".parse().unwrap()],
        &EventLog::new(),
    )
    .await
    .unwrap();

    let h = &report.hosts;
    assert_eq!(h[0].live_image(), Some("shop:1"));
    assert_eq!(h[0].rollback_image(), Some("shop:0"));
    assert!(h[0].problem.is_none() && h[1].problem.is_none());
    assert_eq!(h[1].live_image(), None, "first deployment on this host");
    assert!(h[2]
        .problem
        .as_ref()
        .unwrap()
        .message
        .contains("ConnectionLost"));
    assert!(h[3]
        .problem
        .as_ref()
        .unwrap()
        .message
        .contains("linux/arm64"));
    // The offline host was never sent a command.
    let sends = server.requests_of("SendCommand").await;
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0]["body"]["InstanceIds"],
        json!([ids[0], ids[1], ids[3]])
    );
    let rendered = report.render_human();
    assert!(rendered.contains("stale"), "{rendered}");
    assert!(rendered.contains("rollback target: shop:0"), "{rendered}");
    server.assert_all_valid().await;

    let missing = TargetSelection::Tags("Role=nobody".parse().unwrap());
    let err = preflight::resolve_targets(&t, &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--target-tags Role=nobody"), "{err}");
}

#[tokio::test]
async fn more_than_50_hosts_go_out_as_several_commands_polled_together() {
    let shims = Shims::new();
    let ids = instance_ids(60);
    let server = SsmServer::start(config(
        &shims,
        &ids.iter().map(|i| run(i)).collect::<Vec<_>>(),
    ));
    let t = transport(&server, |_| {});
    let runs = t.run_batch(&ids, &status_request()).await;
    assert_eq!(runs.len(), 60);
    assert!(runs.iter().all(|r| r.result.is_ok()));
    let hosts: Vec<&String> = runs.iter().map(|r| &r.host).collect();
    assert_eq!(
        hosts,
        ids.iter().collect::<Vec<_>>(),
        "results in the hosts' order"
    );
    // The batches go out concurrently, so the server may see them in either order.
    let mut sizes: Vec<usize> = server
        .requests_of("SendCommand")
        .await
        .iter()
        .map(|r| r["body"]["InstanceIds"].as_array().unwrap().len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 50]);
    server.assert_all_valid().await;
}

/// The shape checks behind `assert_all_valid` do reject what the real service rejects.
#[tokio::test]
async fn the_test_server_rejects_requests_the_service_rejects() {
    let shims = Shims::new();
    let ids = instance_ids(51);
    let server = SsmServer::start(config(
        &shims,
        &ids.iter().map(|i| run(i)).collect::<Vec<_>>(),
    ));
    let client = server.client();
    let too_many = client
        .send_command()
        .document_name("AWS-RunShellScript")
        .set_instance_ids(Some(ids.clone()))
        .parameters("commands", vec!["true".to_string()])
        .send()
        .await;
    assert!(too_many.is_err());
    let long_comment = client
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&ids[0])
        .parameters("commands", vec!["true".to_string()])
        .comment("x".repeat(101))
        .send()
        .await;
    assert!(long_comment.is_err());
    let errors: Vec<String> = server
        .requests()
        .await
        .iter()
        .filter(|r| r["valid"] == false)
        .map(|r| r["error"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "InstanceIds has more than 50 members",
            "Comment longer than 100 characters"
        ]
    );
}
