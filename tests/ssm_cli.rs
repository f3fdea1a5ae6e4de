//! `bluegreen deploy|rollback|status --target ssm` as a user runs them, against the SSM test
//! server: flags, validation, exit codes, output.

#[path = "support/schema.rs"]
mod schema;
mod ssm_support;

use serde_json::{json, Value};
use ssm_support::{config, instance_ids, Shims, SsmServer};
use std::process::{Command, Output};

fn bluegreen(server: Option<&SsmServer>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    cmd.args(args);
    if let Some(server) = server {
        for (k, v) in server.cli_env() {
            cmd.env(k, v);
        }
    }
    cmd.output().unwrap()
}

const FAST_POLL: [&str; 4] = ["--ssm-poll-min", "50ms", "--ssm-poll-max", "200ms"];

fn deploy_args<'a>(ids: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = fleet_args("deploy", ids);
    args.extend(FAST_POLL);
    args.extend(extra);
    args
}

/// `COMMAND --target ssm` of the test app on `ids` (`deploy` or `run`).
fn fleet_args<'a>(command: &'a str, ids: &'a str) -> Vec<&'a str> {
    vec![
        command,
        "--target",
        "ssm",
        "--instance-ids",
        ids,
        "--app",
        "bgs-shop",
        "--image",
        "shop:2",
        "--public-port",
        "19080",
        "--container-port",
        "8080",
        "--agent-image",
        "bluegreen-action:local",
    ]
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn deploy_checks_every_host_then_rolls_out_in_batches() {
    let shims = Shims::new();
    let ids = instance_ids(3);
    let instances: Vec<(String, Value)> = ids
        .iter()
        .map(|i| (i.clone(), json!({"env": {"SHIM_LIVE_IMAGE": "shop:1"}})))
        .collect();
    let server = SsmServer::start(config(&shims, &instances));
    let joined = ids.join(",");
    let out = bluegreen(
        Some(&server),
        &deploy_args(
            &joined,
            &[
                "--max-concurrency",
                "2",
                "--image-platform",
                "linux/amd64,linux/arm64",
                "--format",
                "json",
            ],
        ),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    schema::assert_matches("fleet-run", &v);
    assert_eq!(v["preflight"]["hosts"][0]["app"]["live"]["image"], "shop:1");
    let statuses: Vec<&str> = v["fleet"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded"; 3]);
    let sends: Vec<Value> = server
        .requests_of("SendCommand")
        .await
        .iter()
        .map(|r| r["body"]["InstanceIds"].clone())
        .collect();
    // One status command for the whole fleet, then batches of two.
    assert_eq!(sends, [json!(ids), json!(ids[0..2]), json!([ids[2]])]);
    // The fleet lock was taken before any host and released at the end.
    let locks: Vec<Value> = server.requests_of("PutParameter").await;
    assert_eq!(locks.len(), 1);
    assert_eq!(
        locks[0]["body"]["Name"],
        "/bluegreen/locks/bgs-shop/production"
    );
    assert_eq!(locks[0]["body"]["Overwrite"], false);
    assert_eq!(server.stats().await["parameters"], json!({}));
    // The command log names every AWS call of the run, in order: the lock, the sends, the
    // lock's release.
    let commands: Vec<&str> = v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    let sent: Vec<&&str> = commands
        .iter()
        .filter(|c| c.starts_with("aws ssm SendCommand "))
        .collect();
    assert_eq!(sent.len(), 3, "{commands:#?}");
    assert!(sent[1].contains(&format!("InstanceIds={},{} ", ids[0], ids[1])));
    let at = |prefix: &str| commands.iter().position(|c| c.starts_with(prefix));
    let (lock, first_send, release) = (
        at("aws ssm PutParameter Name=/bluegreen/locks/bgs-shop/production"),
        at("aws ssm SendCommand"),
        at("aws ssm DeleteParameter Name=/bluegreen/locks/bgs-shop/production"),
    );
    assert!(
        matches!((lock, first_send, release), (Some(l), Some(s), Some(r)) if l < s && s < r),
        "{commands:#?}"
    );
    server.assert_all_valid().await;
}

/// A second deploy of the same app and environment is refused while the fleet lock is held
/// (exit 4, naming the holder), before any host is touched; an expired lock is taken over.
#[tokio::test]
async fn the_fleet_lock_refuses_a_second_deploy_and_takes_over_an_expired_one() {
    let shims = Shims::new();
    let ids = instance_ids(1);
    let held = json!({
        "deploy_id": "20261201T000000Z-other1",
        "run_url": "https://github.com/org/shop/actions/runs/7",
        "expires_at": (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339(),
    });
    let mut cfg = config(&shims, &[(ids[0].clone(), json!({}))]);
    cfg["parameters"] = json!({"/bluegreen/locks/bgs-shop/production": held.to_string()});
    let server = SsmServer::start(cfg);
    let out = bluegreen(Some(&server), &deploy_args(&ids[0], &["--lock-wait", "1s"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("20261201T000000Z-other1") && stderr.contains("actions/runs/7"),
        "{stderr}"
    );
    assert!(server.requests_of("SendCommand").await.is_empty());

    let mut expired = held.clone();
    expired["expires_at"] = json!((chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339());
    let mut cfg = config(&shims, &[(ids[0].clone(), json!({}))]);
    cfg["parameters"] = json!({"/bluegreen/locks/bgs-shop/production": expired.to_string()});
    let server = SsmServer::start(cfg);
    let out = bluegreen(Some(&server), &deploy_args(&ids[0], &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("had expired") && stderr.contains("taken over"),
        "{stderr}"
    );
    assert_eq!(server.stats().await["parameters"], json!({}));
}

#[tokio::test]
async fn a_failed_host_rolls_the_switched_hosts_back_and_exits_1() {
    let shims = Shims::new();
    let ids = instance_ids(3);
    let server = SsmServer::start(config(
        &shims,
        &[
            (ids[0].clone(), json!({})),
            (ids[1].clone(), json!({"env": {"SHIM_DEPLOY": "failed"}})),
            (ids[2].clone(), json!({})),
        ],
    ));
    let out = bluegreen(Some(&server), &deploy_args(&ids.join(","), &[]));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rolled back"), "{text}");
    assert!(text.contains("1 hosts were not started"), "{text}");
    let first_line = text.lines().find(|l| l.starts_with(&ids[0])).unwrap();
    assert!(first_line.contains("rolled back"), "{first_line}");
}

#[tokio::test]
async fn a_host_that_fails_preflight_stops_the_deploy_before_any_change() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let server = SsmServer::start(config(
        &shims,
        &[
            (ids[0].clone(), json!({})),
            (ids[1].clone(), json!({"ping": "ConnectionLost"})),
        ],
    ));
    let out = bluegreen(Some(&server), &deploy_args(&ids.join(","), &[]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was changed"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ConnectionLost"));
    // Only the read-only status command went out, and only to the reachable host.
    let sends = server.requests_of("SendCommand").await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["body"]["InstanceIds"], json!([ids[0]]));
}

#[tokio::test]
async fn status_by_tag_and_rollback_with_nothing_to_roll_back() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let spec = json!({"tags": {"Role": "bgs-api"}, "env": {
        "SHIM_ROLLBACK": "nothing_to_roll_back", "SHIM_LIVE_IMAGE": "shop:7", "SHIM_PRIOR_IMAGE": "shop:6"
    }});
    let server = SsmServer::start(config(
        &shims,
        &[(ids[0].clone(), spec.clone()), (ids[1].clone(), spec)],
    ));

    let mut args = vec![
        "status",
        "--target",
        "ssm",
        "--target-tags",
        "Role=bgs-api,bgs-web",
        "--app",
        "bgs-shop",
    ];
    args.extend(FAST_POLL);
    let out = bluegreen(Some(&server), &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&ids[0]) && text.contains(&ids[1]), "{text}");
    // Each host's state table: the live image and the rollback target.
    assert_eq!(text.matches("ROLLBACK TARGET").count(), 2, "{text}");
    assert!(text.contains("shop:7") && text.contains("shop:6"), "{text}");
    // The fleet's line, from the report's host records.
    assert!(
        text.contains("bgs-shop: blue live on 2 of 2 hosts; rollback target on 2"),
        "{text}"
    );

    let mut args = vec![
        "rollback",
        "--target",
        "ssm",
        "--target-tags",
        "Role=bgs-api",
        "--app",
        "bgs-shop",
    ];
    args.extend(FAST_POLL);
    args.extend(["--max-errors", "100%"]);
    let out = bluegreen(Some(&server), &args);
    assert_eq!(
        out.status.code(),
        Some(3),
        "every host had nothing to roll back"
    );
}

/// A decision goes to every host at once: it succeeds where a canary runs (the first batch)
/// and the other hosts have none; with a canary nowhere it exits 7.
#[tokio::test]
async fn promote_and_abort_reach_every_host_and_succeed_where_a_canary_runs() {
    let shims = Shims::new();
    let ids = instance_ids(3);
    let canary = json!({"env": {"SHIM_CANARY": "decision_recorded"}});
    let server = SsmServer::start(config(
        &shims,
        &[
            (ids[0].clone(), canary),
            (ids[1].clone(), json!({})),
            (ids[2].clone(), json!({})),
        ],
    ));
    let all = ids.join(",");
    let some = ids[1..].join(",");
    for (command, hosts, code) in [
        ("promote", all.as_str(), 0),
        ("abort", all.as_str(), 0),
        ("promote", some.as_str(), 7),
    ] {
        let mut args = vec![
            command,
            "--target",
            "ssm",
            "--instance-ids",
            hosts,
            "--app",
            "bgs-shop",
            "--agent-image",
            "bluegreen-action:local",
        ];
        args.extend(FAST_POLL);
        let out = bluegreen(Some(&server), &args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{command} on {hosts}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for id in &ids {
        let seen = actions(&shims, id);
        assert!(
            seen.iter().any(|a| a == "promote") && seen.iter().any(|a| a == "abort"),
            "{id}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn bad_deploy_values_fail_with_exit_2_before_any_aws_call() {
    let shims = Shims::new();
    let ids = instance_ids(1);
    let server = SsmServer::start(config(&shims, &[(ids[0].clone(), json!({}))]));
    let cases: [(&[&str], &str); 7] = [
        (&["--app", "Bad!"], "--app"),
        (&["--health-path", "health"], "--health-path"),
        (&["--env-from-ssm", "bad path"], "--env-from-ssm"),
        (&["--public-port", "0"], "--public-port"),
        (
            &["--public-port", "70000"],
            "expected a number from 1 to 65535",
        ),
        (&["--env", "=v"], "--env \"=v\": expected NAME=VALUE"),
        (&["--region", "not a region"], "expected an AWS region code"),
    ];
    for (extra, flag) in cases {
        // The case's flag replaces the default one, so clap never sees it twice.
        let mut args = deploy_args(&ids[0], &[]);
        match args.iter().position(|a| *a == extra[0]) {
            Some(i) => args[i + 1] = extra[1],
            None => args.extend(extra),
        }
        let out = bluegreen(Some(&server), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(flag), "{extra:?}: {stderr}");
    }
    let rollback = [
        "rollback",
        "--target",
        "ssm",
        "--instance-ids",
        &ids[0],
        "--app",
        "Bad!",
    ];
    let out = bluegreen(Some(&server), &rollback);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        server.requests().await.is_empty(),
        "no AWS call for a bad value: {:?}",
        server.requests().await
    );
}

#[test]
fn bad_flags_fail_with_exit_2_naming_the_flag() {
    let id = "i-0123456789abcdef0";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["status", "--target", "ssm"], "--instance-ids"),
        (
            vec!["status", "--target", "ssm", "--instance-ids", "web-1"],
            "--instance-ids",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--max-errors",
                "ten",
            ],
            "--max-errors",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--max-concurrency",
                "150%",
            ],
            "--max-concurrency",
        ),
        (
            vec!["status", "--target", "ssm", "--target-tags", "Role"],
            "--target-tags",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--target-tags",
                "A=b",
            ],
            "--target-tags",
        ),
        (vec!["status", "--instance-ids", id], "--target ssm"),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--agent-image",
                "x;reboot",
            ],
            "--agent-image",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--command-timeout",
                "3d",
            ],
            "--command-timeout",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--output-s3-bucket",
                "Bad_Bucket",
            ],
            "--output-s3-bucket",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--fleet-rollback-on-budget",
                "maybe",
            ],
            "--fleet-rollback-on-budget",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--image-platform",
                "linux/",
            ],
            "--image-platform",
        ),
        // Durations: an overflow is an input error, never a panic.
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--ssm-poll-min",
                "18446744073709551615",
            ],
            "--ssm-poll-min",
        ),
        (
            vec![
                "status",
                "--target",
                "ssm",
                "--instance-ids",
                id,
                "--ssm-poll-max",
                "99999999999999999999999s",
            ],
            "--ssm-poll-max",
        ),
    ];
    let deploy_cases: Vec<(Vec<&str>, &str)> = vec![
        // The command must outlast the deploy: both inputs and values are named.
        (
            deploy_args(id, &["--command-timeout", "60s", "--health-timeout", "60s"]),
            "--command-timeout 1m: expected more than --health-timeout 1m",
        ),
        (
            deploy_args(id, &["--drain", "18446744073709551615"]),
            "--drain",
        ),
    ];
    for (args, flag) in cases.into_iter().chain(deploy_cases) {
        let out = bluegreen(None, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn sigterm_cancels_the_commands_in_flight() {
    let shims = Shims::new();
    let ids = instance_ids(1);
    let server = SsmServer::start(config(
        &shims,
        &[(ids[0].clone(), json!({"behavior": "stuck"}))],
    ));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    cmd.args(deploy_args(&ids[0], &[]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in server.cli_env() {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    // Wait until the preflight's status command (never picked up) is being polled: the CLI
    // holds its id from then on.
    for _ in 0..200 {
        if !server.requests_of("ListCommands").await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let stats = server.stats().await;
    let command_id = stats["commands"][0]["command_id"]
        .as_str()
        .unwrap()
        .to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("terminated: CancelCommand sent for 1 commands"),
        "{stderr}"
    );
    let cancels = server.requests_of("CancelCommand").await;
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0]["body"]["CommandId"], command_id.as_str());
    // The host is still in the output: its status sweep got no answer within 5 s.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&ids[0]) && stdout.contains("UNKNOWN"),
        "{stdout}"
    );
}

/// The actions each instance's agent was asked for, in order (from the shim's argv log).
fn actions(shims: &Shims, instance: &str) -> Vec<String> {
    use base64::Engine;
    shims
        .argvs(instance)
        .iter()
        .filter_map(|argv| argv.last())
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .filter_map(|raw| serde_json::from_slice::<Value>(&raw).ok())
        .filter_map(|r| r["action"].as_str().map(str::to_string))
        .collect()
}

/// `bluegreen run` over SSM with a release command: one release, on the first host only,
/// after the preflight and before the first batch; a failing one sends no deploy at all.
#[tokio::test]
async fn the_release_runs_on_the_first_host_before_any_batch_and_its_failure_deploys_nothing() {
    for release_fails in [false, true] {
        let shims = Shims::new();
        let ids = instance_ids(2);
        // What `status` reports once deployed, for the run's live check.
        let live = json!({"SHIM_LIVE_IMAGE": "shop:2"});
        let mut first_env = live.clone();
        if release_fails {
            first_env["SHIM_RELEASE"] = json!("failed");
        }
        let server = SsmServer::start(config(
            &shims,
            &[
                (ids[0].clone(), json!({ "env": first_env })),
                (ids[1].clone(), json!({ "env": live })),
            ],
        ));
        let ws = tempfile::tempdir().unwrap();
        let joined = ids.join(",");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        for (k, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("INPUT_") || k.starts_with("GITHUB_"))
        {
            cmd.env_remove(k);
        }
        for (k, v) in server.cli_env() {
            cmd.env(k, v);
        }
        let out = cmd
            .current_dir(ws.path())
            .args(fleet_args("run", &joined))
            .args(["--release-command", "migrate up"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let (first, second) = (actions(&shims, &ids[0]), actions(&shims, &ids[1]));
        assert!(!second.contains(&"release".to_string()), "{second:?}");
        let metrics: Value = serde_json::from_str(
            &std::fs::read_to_string(ws.path().join("bluegreen-report/metrics.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(metrics["release"]["host"], ids[0].as_str(), "{metrics}");
        if release_fails {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert_eq!(
                first,
                ["status", "release"],
                "no deploy after a failed release"
            );
            assert_eq!(second, ["status"]);
            assert_eq!(metrics["release"]["exit_code"], 1);
        } else {
            assert_eq!(out.status.code(), Some(0), "{text}");
            assert_eq!(&first[..3], ["status", "release", "deploy"], "{first:?}");
            assert_eq!(
                second.iter().filter(|a| *a == "deploy").count(),
                1,
                "{second:?}"
            );
            assert_eq!(metrics["release"]["exit_code"], 0);
            assert_eq!(
                metrics["release"]["log_tail"],
                json!([format!("migrated on {}", ids[0])])
            );
        }
        server.assert_all_valid().await;
    }
}

/// The fleet's release ledger in Parameter Store: a digest released on one host is not
/// released again when the next deploy's release host is another one (a replaced instance);
/// `release-always` runs it there anyway.
#[tokio::test]
async fn a_digest_released_on_one_host_is_not_released_again_from_another() {
    let shims = Shims::new();
    let ids = instance_ids(2);
    let image = format!("shop@sha256:{}", "c".repeat(64));
    let live = json!({"SHIM_LIVE_IMAGE": image});
    let server = SsmServer::start(config(
        &shims,
        &[
            (ids[0].clone(), json!({ "env": live })),
            (ids[1].clone(), json!({ "env": live })),
        ],
    ));
    let joined = ids.join(",");
    let run = |release_host: &str, extra: &[&str]| {
        let ws = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        for (k, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("INPUT_") || k.starts_with("GITHUB_"))
        {
            cmd.env_remove(k);
        }
        for (k, v) in server.cli_env() {
            cmd.env(k, v);
        }
        let args: Vec<&str> = fleet_args("run", &joined)
            .into_iter()
            .map(|a| if a == "shop:2" { image.as_str() } else { a })
            .collect();
        let out = cmd
            .current_dir(ws.path())
            .args(args)
            .args([
                "--release-command",
                "migrate up",
                "--release-host",
                release_host,
            ])
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{text}");
        let metrics: Value = serde_json::from_str(
            &std::fs::read_to_string(ws.path().join("bluegreen-report/metrics.json")).unwrap(),
        )
        .unwrap();
        metrics["release"].clone()
    };
    let releases = |id: &str| {
        actions(&shims, id)
            .iter()
            .filter(|a| *a == "release")
            .count()
    };

    let first = run(&ids[0], &[]);
    assert_eq!(first["exit_code"], 0, "{first}");
    assert_eq!((releases(&ids[0]), releases(&ids[1])), (1, 0));
    let puts = server.requests_of("PutParameter").await;
    assert!(
        puts.iter().any(|r| {
            r["body"]["Name"] == "/bluegreen/releases/bgs-shop/production"
                && r["body"]["Value"].as_str() == Some(&format!("sha256:{}", "c".repeat(64)))
        }),
        "{puts:#?}"
    );

    let second = run(&ids[1], &[]);
    assert_eq!(second["skipped"], true, "{second}");
    assert!(
        second["message"]
            .as_str()
            .unwrap()
            .contains("the fleet's ledger"),
        "{second}"
    );
    assert_eq!(
        (releases(&ids[0]), releases(&ids[1])),
        (1, 0),
        "not released again on the other host"
    );

    let always = run(&ids[1], &["--release-always"]);
    assert_eq!(always["exit_code"], 0, "{always}");
    assert_eq!((releases(&ids[0]), releases(&ids[1])), (1, 1));
    server.assert_all_valid().await;
}
