//! Deploy, rollback and status against the real Docker daemon.

mod support;

use bluegreen::agent::protocol::{Color, Health, Outcome};
use support::TestApp;

#[tokio::test]
async fn first_deploy_then_switch_then_warm_rollback() {
    let t = TestApp::new();

    let first = t.deploy(t.spec("v1")).await;
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);
    assert!(first.first_deployment);
    let after = &first.apps[0];
    assert_eq!(after.live.as_ref().unwrap().color, Color::Blue);
    assert!(
        after.rollback_target.is_none(),
        "a first deployment has no rollback target"
    );
    for step in ["pull", "start", "ready", "switch", "verify", "total"] {
        assert!(
            first
                .events
                .iter()
                .any(|e| e.step == step && e.duration_ms.is_some()),
            "no timed {step} event"
        );
    }
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));

    let second = t.deploy(t.spec("v2")).await;
    assert_eq!(second.outcome, Outcome::Deployed, "{}", second.message);
    assert!(!second.first_deployment);
    assert!(second.events.iter().any(|e| e.step == "drain"));
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    let target = second.apps[0].rollback_target.clone().unwrap();
    assert_eq!(target.image, support::image("v1"));
    assert!(target.running, "the prior stays warm for --keep-warm");

    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    assert!(
        !back.events.iter().any(|e| e.step == "start"),
        "a warm rollback starts nothing"
    );
    let status = t.status().await;
    let app = &status.apps[0];
    assert_eq!(app.live.as_ref().unwrap().image, support::image("v1"));
    assert_eq!(app.live.as_ref().unwrap().health, Health::Healthy);
    // Not a toggle: the version rolled back from is rejected, never a rollback target.
    assert!(app.rollback_target.is_none(), "{:?}", app.rollback_target);
    assert!(
        t.proxy_config().contains("server green 127.0.0.1:")
            && t.proxy_config().contains(" disabled")
    );
}

#[tokio::test]
async fn rollback_to_a_stopped_prior_starts_and_gates_it() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let mut v2 = t.spec("v2");
    v2.keep_warm_ms = 0;
    let r = t.deploy(v2).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let target = r.apps[0].rollback_target.clone().unwrap();
    assert!(
        !target.running,
        "keep-warm 0 stops the prior after the drain"
    );
    assert_eq!(target.health, Health::Stopped);

    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    assert!(back.events.iter().any(|e| e.step == "start"));
    assert!(back.events.iter().any(|e| e.step == "ready"));
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    let after = &back.apps[0];
    assert_eq!(after.live.as_ref().unwrap().health, Health::Healthy);
    assert!(after.rollback_target.is_none(), "v2 was rejected");
}

#[tokio::test]
async fn rollback_with_no_prior_changes_nothing_and_exits_3() {
    let t = TestApp::new();
    let out = t
        .cli()
        .args(["rollback", "--target", "local", "--app", &t.app])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "no prior version of {} on this host: nothing to roll back to",
            t.app
        )),
        "{text}"
    );

    // After a first deployment there is still nothing to go back to.
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let before = t.proxy_config();
    let r = t.rollback().await;
    assert_eq!(r.outcome, Outcome::NothingToRollBack);
    assert_eq!(
        r.message,
        format!(
            "no prior version of {} on this host: nothing to roll back to",
            t.app
        )
    );
    assert_eq!(t.proxy_config(), before);
    assert_eq!(t.through_proxy().await.1, "blue");
}

#[tokio::test]
async fn status_json_lists_live_and_target() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let out = t
        .cli()
        .args([
            "status", "--target", "local", "--app", &t.app, "--format", "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    support::schema::assert_matches("agent-reply", &json);
    assert_eq!(json["apps"][0]["live"]["color"], "green");
    assert_eq!(json["apps"][0]["live"]["image"], support::image("v2"));
    assert_eq!(
        json["apps"][0]["rollback_target"]["image"],
        support::image("v1")
    );
    let human = t
        .cli()
        .args(["status", "--target", "local", "--app", &t.app])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("ROLLBACK TARGET") && text.contains("(warm until"),
        "{text}"
    );
}

/// The agent as SSM Run Command starts it: `bluegreen agent --request <base64>` in a container
/// with the Docker socket and the state directory (same path inside and outside) mounted.
#[tokio::test]
async fn the_agent_container_deploys_and_prints_one_marked_reply() {
    use base64::Engine as _;
    let t = TestApp::new();
    let request = bluegreen::agent::AgentRequest::Deploy(t.spec("v1"));
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&request).unwrap());
    let state = t.state_dir.display().to_string();
    let out = std::process::Command::new("docker")
        .args(["run", "--rm", "--network", "host"])
        .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
        .args([
            "-v",
            &format!("{state}:{state}"),
            "-e",
            &format!("BLUEGREEN_STATE_DIR={state}"),
        ])
        .arg(support::env("BLUEGREEN_TEST_AGENT_IMAGE"))
        .args(["agent", "--request", &b64])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply = bluegreen::agent::AgentReply::from_stdout(&stdout).unwrap();
    assert_eq!(reply.outcome, Outcome::Deployed, "{}", reply.message);
    assert!(reply.first_deployment);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    // The host sees the same state the container wrote.
    assert_eq!(
        t.status().await.apps[0].live.as_ref().unwrap().image,
        support::image("v1")
    );
}

/// `--env-from-ssm`: the agent reads the parameters itself (moto stands in for SSM) and the
/// container gets them as variables; `--env` and `--env-file` come through too.
#[tokio::test]
async fn env_from_ssm_env_file_and_env_reach_the_container() {
    let t = TestApp::new();
    let moto = support::env("BLUEGREEN_TEST_MOTO_URL");
    let path = format!("/{}/prod", t.app);
    let aws = |cmd: &mut std::process::Command| {
        cmd.env("AWS_ENDPOINT_URL", &moto)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
    };
    let ssm = support::moto_ssm().await;
    ssm.put_parameter()
        .name(format!("{path}/DB_PASSWORD"))
        .value("s3cret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let env_file = t.state_dir.join("app.env");
    std::fs::write(
        &env_file,
        "# comment\nFROM_FILE=file value\nPLAIN=from-file\n",
    )
    .unwrap();
    let mut cmd = t.cli();
    aws(&mut cmd);
    let out = cmd
        .args(t.deploy_args("v1"))
        .args([
            "--env-from-ssm",
            &path,
            "--env-file",
            &env_file.display().to_string(),
            "--env",
            "PLAIN=from-flag",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("s3cret"),
        "the secret leaked into the output"
    );
    for (name, want) in [
        ("DB_PASSWORD", "s3cret"),
        ("FROM_FILE", "file value"),
        ("PLAIN", "from-flag"),
    ] {
        let body = reqwest::get(format!("http://127.0.0.1:{}/env/{name}", t.port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, want, "{name}");
    }

    // The same deploy again is a no-op; with the Parameter Store value rotated it is not.
    let redeploy = || {
        let mut cmd = t.cli();
        aws(&mut cmd);
        cmd.args(t.deploy_args("v1"))
            .args([
                "--env-from-ssm",
                &path,
                "--env-file",
                &env_file.display().to_string(),
                "--env",
                "PLAIN=from-flag",
            ])
            .output()
            .unwrap()
    };
    let same = redeploy();
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("nothing to do"),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    ssm.put_parameter()
        .name(format!("{path}/DB_PASSWORD"))
        .value("r0tated")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    let rotated = redeploy();
    let text = String::from_utf8_lossy(&rotated.stdout);
    assert_eq!(rotated.status.code(), Some(0), "{text}");
    assert!(
        !text.contains("nothing to do") && !text.contains("r0tated"),
        "{text}"
    );
    let body = reqwest::get(format!("http://127.0.0.1:{}/env/DB_PASSWORD", t.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "r0tated");

    // A path with nothing under it fails before anything changes.
    let mut cmd = t.cli();
    aws(&mut cmd);
    let out = cmd
        .args(t.deploy_args("v2"))
        .args(["--env-from-ssm", "/bga-nothing/here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no parameters found"));
    assert_eq!(t.through_proxy().await.2, "v1");
}

/// A rollback is not a toggle: the second one is a no-op success naming the rejected
/// version, and the rejected version is never offered as a rollback target.
#[tokio::test]
async fn a_second_rollback_is_a_no_op_and_the_version_left_is_rejected() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let first = t.rollback().await;
    assert_eq!(first.outcome, Outcome::RolledBack, "{}", first.message);
    assert!(first.message.contains("was rejected"), "{}", first.message);
    assert!(first.apps[0].rollback_target.is_none(), "v2 is rejected");
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    for _ in 0..2 {
        let again = t.rollback().await;
        assert_eq!(again.outcome, Outcome::RolledBack, "{}", again.message);
        assert!(
            again.message.starts_with(&format!(
                "already rolled back to {}; {} was rejected at ",
                support::image("v1"),
                support::image("v2")
            )),
            "{}",
            again.message
        );
        assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    }
    let status = t.status().await;
    assert!(status.apps[0].rollback_target.is_none());
    // A new deploy after the rollback has v1 as its rollback target again.
    assert_eq!(t.deploy(t.spec("v3")).await.outcome, Outcome::Deployed);
    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    assert_eq!(t.through_proxy().await.2, "v1");
}

/// `--expect-live`: a rollback away from a version that is not live changes nothing and exits
/// 6; away from the live deploy id it rolls back; repeated, it is the no-op success.
#[tokio::test]
async fn rollback_expect_live_changes_nothing_unless_that_version_is_live() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let v2 = t.deploy(t.spec("v2")).await;
    let v2_id = v2.apps[0].live.as_ref().unwrap().deploy_id.clone().unwrap();
    let before = t.proxy_config();
    let rollback = |expect: &str| {
        t.cli()
            .args(["rollback", "--target", "local", "--app", &t.app])
            .args(["--expect-live", expect])
            .output()
            .unwrap()
    };
    let out = rollback(&support::image("v1"));
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed"));
    assert_eq!(t.proxy_config(), before);
    assert_eq!(t.through_proxy().await.2, "v2");
    for _ in 0..2 {
        let out = rollback(&v2_id);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert_eq!(t.through_proxy().await.2, "v1", "{text}");
    }
    let out = rollback(&v2_id);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already rolled back to"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let bad = rollback("not a ref!");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--expect-live"));
}

/// A warm prior that does not answer is not switched to blindly: it is restarted and
/// health-gated first (the cold path), then the rollback goes through.
#[tokio::test]
async fn an_unresponsive_warm_prior_takes_the_cold_path() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    // Freeze the warm prior's process: Docker still says running, it answers nothing.
    let frozen = std::process::Command::new("docker")
        .args(["kill", "--signal", "SIGSTOP", &format!("{}-blue", t.app)])
        .output()
        .unwrap();
    assert!(frozen.status.success());
    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    let probe = back.events.iter().find(|e| e.step == "probe").unwrap();
    assert_eq!(probe.status, bluegreen::report::StepStatus::Failed);
    assert!(back.events.iter().any(|e| e.step == "ready"));
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

async fn http_ok(t: &TestApp) -> Option<u16> {
    bluegreen::agent::http::get(
        "127.0.0.1",
        t.port,
        bluegreen::agent::http::Probe::path("/"),
        std::time::Duration::from_millis(500),
    )
    .await
    .ok()
    .map(|r| r.status)
}

/// A rollback the proxy does not confirm (here a proxy line rewrites blue's color header)
/// goes back to the version it left and fails.
#[tokio::test]
async fn an_unconfirmed_rollback_switches_back_and_fails() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let mut v2 = t.spec("v2");
    v2.proxy_lines =
        vec!["http-response set-header X-Bluegreen-Color unconfirmed if { srv_name blue }".into()];
    let r = t.deploy(v2).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    // A switch never reloads HAProxy: the line takes effect once the proxy restarts.
    let restarted = std::process::Command::new("docker")
        .args(["restart", &format!("{}-proxy", t.app)])
        .output()
        .unwrap();
    assert!(restarted.status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while http_ok(&t).await.is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::Failed, "{}", back.message);
    assert!(
        back.message.contains("was not confirmed through the proxy"),
        "{}",
        back.message
    );
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    let status = t.status().await;
    let app = &status.apps[0];
    assert!(app.verified);
    assert_eq!(app.live.as_ref().unwrap().image, support::image("v2"));
    assert_eq!(
        app.rollback_target.as_ref().unwrap().image,
        support::image("v1")
    );
}

/// A redeploy is a no-op only when the whole spec is the same; a changed env, health setting
/// or proxy line is a real blue-green deploy. The spec hash label reveals no value.
#[tokio::test]
async fn a_redeploy_with_changed_settings_is_a_real_deploy() {
    let t = TestApp::new();
    let first = t.deploy(t.spec_env("v1", &[("GREETING", "hello")])).await;
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);
    let same = t.deploy(t.spec_env("v1", &[("GREETING", "hello")])).await;
    assert_eq!(same.outcome, Outcome::Deployed);
    assert!(same.message.contains("nothing to do"), "{}", same.message);
    assert_eq!(t.through_proxy().await.1, "blue");

    let changed = t.deploy(t.spec_env("v1", &[("GREETING", "bonjour")])).await;
    assert_eq!(changed.outcome, Outcome::Deployed, "{}", changed.message);
    assert!(!changed.message.contains("nothing to do"));
    assert_eq!(t.through_proxy().await.1, "green");
    let body = reqwest::get(format!("http://127.0.0.1:{}/env/GREETING", t.port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "bonjour");

    let mut health = t.spec_env("v1", &[("GREETING", "bonjour")]);
    health.health_timeout_ms = 20_000;
    let r = t.deploy(health).await;
    assert!(!r.message.contains("nothing to do"), "{}", r.message);
    assert_eq!(t.through_proxy().await.1, "blue");

    let mut lines = t.spec_env("v1", &[("GREETING", "bonjour")]);
    lines.health_timeout_ms = 20_000;
    lines.proxy_lines = vec!["timeout server 30s".into()];
    let r = t.deploy(lines).await;
    assert!(!r.message.contains("nothing to do"), "{}", r.message);
    assert_eq!(t.through_proxy().await.1, "green");

    let label = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{index .Config.Labels \"bluegreen.spec-hash\"}}",
            &format!("{}-green", t.app),
        ])
        .output()
        .unwrap();
    let label = String::from_utf8_lossy(&label.stdout).trim().to_string();
    assert!(label.starts_with("sha256:") && label.len() == 71, "{label}");
    assert!(!label.contains("bonjour"));
}

/// An app with a host allow-list (Django's ALLOWED_HOSTS) answers 400 to the probes' default
/// `Host`; with `health_host` the gate, the verify request, `status` and the rollback's probes
/// of a stopped prior all send the allowed name.
#[tokio::test]
async fn health_host_reaches_an_app_with_a_host_allow_list() {
    use bluegreen::agent::protocol::EnvVar;
    let t = TestApp::new();
    let allow = |mut spec: bluegreen::agent::DeploySpec| {
        spec.env.push(EnvVar {
            name: "ALLOWED_HOSTS".into(),
            value: "api.example.test".into(),
        });
        spec.health_timeout_ms = 2_000;
        spec
    };
    let refused = t.deploy(allow(t.spec("v1"))).await;
    assert_eq!(refused.outcome, Outcome::Failed, "{}", refused.message);
    assert!(
        refused.apps.iter().all(|a| a.live.is_none()),
        "a failed first deploy leaves nothing live"
    );

    let mut v1 = allow(t.spec("v1"));
    v1.health_host = Some("api.example.test".into());
    v1.health_timeout_ms = 10_000;
    let r = t.deploy(v1.clone()).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let status = t.status().await;
    let live = status.apps[0].live.as_ref().unwrap();
    assert_eq!(live.health, Health::Healthy, "status probes with the host");
    let through = bluegreen::agent::http::get(
        "127.0.0.1",
        t.port,
        bluegreen::agent::http::Probe {
            path: "/",
            host: Some("api.example.test"),
        },
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!(through.status, 200);

    let mut v2 = v1.clone();
    v2.image = support::image("v2");
    v2.deploy_id = format!("{}-2", v1.deploy_id);
    v2.keep_warm_ms = 0;
    let r = t.deploy(v2).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let back = t.rollback().await;
    assert_eq!(
        back.outcome,
        Outcome::RolledBack,
        "the stopped prior is gated with its own host: {}",
        back.message
    );
}

/// Keep-alive load through the proxy for `secs` seconds: (requests, failed), where failed is
/// wrk's socket errors plus its non-2xx/3xx answers.
fn wrk(port: u16, secs: u32) -> (u64, u64) {
    wrk_path(port, "/", secs)
}

/// [`wrk`] on `path`.
fn wrk_path(port: u16, path: &str, secs: u32) -> (u64, u64) {
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c16", &format!("-d{secs}s")])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("wrk (scripts/install-deps installs it)");
    assert!(out.status.success(), "wrk: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = |label: &str| text.lines().find(|l| l.contains(label)).map(str::trim);
    let requests = line("requests in")
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // `Socket errors: connect 0, read 87, write 0, timeout 0`
    let socket: u64 = line("Socket errors:")
        .map(|l| {
            l.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let non_2xx: u64 = line("Non-2xx or 3xx responses:")
        .and_then(|l| l.split(':').nth(1)?.trim().parse().ok())
        .unwrap_or(0);
    (requests, socket + non_2xx)
}

/// An app that closes each keep-alive connection after its response without saying so (a
/// keep-alive timeout shorter than the proxy's): HAProxy reuses a connection the app closed.
/// With retries off that fails requests at steady state; the proxy's defaults (retry on
/// connection failure and empty response, for replayable requests) fail almost none. Two apps, so
/// each proxy starts with its own config (a running proxy reads its defaults once).
#[tokio::test]
async fn the_proxy_survives_an_app_that_closes_keep_alive_connections() {
    use bluegreen::agent::protocol::EnvVar;
    let closing = |t: &TestApp| {
        let mut spec = t.spec("v1");
        spec.env.push(EnvVar {
            name: "CLOSE_AFTER_RESPONSE".into(),
            value: "1".into(),
        });
        spec
    };
    let bare = TestApp::new();
    let mut without_retries = closing(&bare);
    without_retries.proxy_lines = vec!["retry-on none".into()];
    let r = bare.deploy(without_retries).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let port = bare.port;
    let (requests, failed_without) = tokio::task::spawn_blocking(move || wrk(port, 3))
        .await
        .unwrap();
    assert!(requests > 1_000, "load ran: {requests}");
    assert!(
        failed_without > 0,
        "with retries off the closed connections show ({failed_without} of {requests})"
    );

    let t = TestApp::new();
    let r = t.deploy(closing(&t)).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let port = t.port;
    let (requests, failed) = tokio::task::spawn_blocking(move || wrk(port, 3))
        .await
        .unwrap();
    assert!(requests > 1_000, "load ran: {requests}");
    // What is left with retries on is HAProxy closing a reused client connection without a
    // response when the app's close races its retry (haproxy/haproxy#1109): no request is
    // logged as failed, and HTTP clients retry an idempotent request on such a connection;
    // wrk does not. On a loaded machine that is 0 to 2 of about 4,000, against 40 to 170
    // without retries.
    assert!(
        failed * 1_000 <= requests && failed * 10 <= failed_without,
        "the default proxy retries: {failed} of {requests} failed, \
         {failed_without} with retries off"
    );
}

/// A deploy right after a rollback: the rollback returns at its switch, and the color it left
/// still answers its last requests (800 ms each here) when the deploy takes that color's slot.
/// The deploy waits for them; under keep-alive load no request fails. The proxy's retries are
/// off here, so they cannot hide a request cut by a stopped container.
#[tokio::test]
async fn a_deploy_right_after_a_rollback_drops_no_request() {
    use bluegreen::agent::protocol::EnvVar;
    let t = TestApp::new();
    let slow = |tag: &str| {
        let mut spec = t.spec(tag);
        spec.env.push(EnvVar {
            name: "SLOW_MS".into(),
            value: "800".into(),
        });
        spec.verify_window_ms = 0;
        spec.proxy_lines = vec!["retry-on none".into()];
        spec
    };
    assert_eq!(t.deploy(slow("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(slow("v2")).await.outcome, Outcome::Deployed);
    let port = t.port;
    let load = tokio::task::spawn_blocking(move || wrk_path(port, "/slow", 5));
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    let next = t.deploy(slow("v3")).await;
    assert_eq!(next.outcome, Outcome::Deployed, "{}", next.message);
    // Whatever comes next stops the containers that were retired: the color the rollback
    // left must have finished its requests by then.
    let recovered = t
        .run(bluegreen::agent::protocol::AgentRequest::Recover { app: t.app.clone() })
        .await;
    assert_eq!(
        recovered.outcome,
        Outcome::Recovered,
        "{}",
        recovered.message
    );
    let start = next.events.iter().find(|e| e.step == "start").unwrap();
    let (requests, failed) = load.await.unwrap();
    assert!(requests > 50, "load ran: {requests}");
    let steps = |r: &bluegreen::agent::AgentReply| -> Vec<String> {
        r.events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?}: {}",
                    e.ts.format("%H:%M:%S%.3f"),
                    e.step,
                    e.duration_ms,
                    e.detail
                )
            })
            .collect()
    };
    assert_eq!(
        failed,
        0,
        "{requests} requests; the deploy's start: {}\nrollback: {:#?}\ndeploy: {:#?}",
        start.detail,
        steps(&back),
        steps(&next)
    );
}
