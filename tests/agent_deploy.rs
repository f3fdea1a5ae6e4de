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
    assert_eq!(
        app.rollback_target.as_ref().unwrap().image,
        support::image("v2")
    );
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
    assert_eq!(
        after.rollback_target.as_ref().unwrap().image,
        support::image("v2")
    );
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
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
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
