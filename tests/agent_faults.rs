//! Each fault of a deploy, against the real daemon: what must hold afterwards.

mod support;

use bluegreen::agent::protocol::{AgentRequest, Color, Outcome};
use bluegreen::report::StepStatus;
use std::time::{Duration, Instant};
use support::TestApp;

#[tokio::test]
async fn image_not_found_fails_before_anything_changes() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let (containers, config) = (t.containers(), t.proxy_config());
    let mut spec = t.spec("v1");
    spec.image = support::image("no-such-tag");
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.message.contains("nothing changed"), "{}", r.message);
    assert!(r
        .events
        .iter()
        .any(|e| e.step == "pull" && e.status == StepStatus::Failed));
    assert!(!r.events.iter().any(|e| e.step == "start"));
    assert_eq!(t.containers(), containers);
    assert_eq!(t.proxy_config(), config);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

#[tokio::test]
async fn registry_down_fails_before_anything_changes() {
    let t = TestApp::new();
    let mut spec = t.spec("v1");
    // A registry port in our range where nothing listens.
    spec.image = format!("127.0.0.1:{}/bga-testsvc:v1", t.port + 2);
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.message.contains("cannot pull"), "{}", r.message);
    assert!(t.containers().is_empty(), "{:?}", t.containers());
    assert_eq!(t.proxy_config(), "");
}

#[tokio::test]
async fn never_healthy_is_removed_and_the_old_version_keeps_serving() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let mut spec = t.spec_env("v3", &[("FAIL_HEALTH", "1")]);
    spec.health_timeout_ms = 1_500;
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.message.contains("not healthy within 1500 ms"),
        "{}",
        r.message
    );
    assert!(
        r.log_tail
            .iter()
            .any(|l| l.contains("testsvc v3 listening")),
        "{:?}",
        r.log_tail
    );
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    // The prior the failed deploy had set aside is the rollback target again, warm as before.
    let target = r.apps[0]
        .rollback_target
        .clone()
        .expect("rollback target lost");
    assert_eq!(target.image, support::image("v1"));
    assert!(target.running);
    let mut expected = vec![
        format!("{}-blue", t.app),
        format!("{}-green", t.app),
        format!("{}-proxy", t.app),
    ];
    expected.sort();
    assert_eq!(t.containers(), expected);
    assert_eq!(t.rollback().await.outcome, Outcome::RolledBack);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

#[tokio::test]
async fn a_container_that_exits_fails_the_gate_at_once_with_its_logs() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let spec = t.spec_env("v2", &[("EXIT_AT_START", "1")]);
    let started = Instant::now();
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited out the 10 s deadline"
    );
    assert!(
        r.log_tail.iter().any(|l| l.contains("EXIT_AT_START=1")),
        "{:?}",
        r.log_tail
    );
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

#[tokio::test]
async fn crash_inside_the_verify_window_switches_back() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let mut spec = t.spec_env("v3", &[("CRASH_AFTER", "1")]);
    spec.verify_window_ms = 5_000;
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::AutoRolledBack, "{}", r.message);
    assert!(r
        .events
        .iter()
        .any(|e| e.step == "switch" && e.status == StepStatus::Ok));
    assert!(r
        .events
        .iter()
        .any(|e| e.step == "switch-back" && e.status == StepStatus::Ok));
    assert!(
        r.log_tail.iter().any(|l| l.contains("CRASH_AFTER")),
        "{:?}",
        r.log_tail
    );
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    let status = t.status().await;
    assert_eq!(status.apps[0].live.as_ref().unwrap().color, Color::Green);
    // The crashed version is gone and the prior set aside is the rollback target again.
    let target = status.apps[0]
        .rollback_target
        .clone()
        .expect("rollback target lost");
    assert_eq!(target.image, support::image("v1"));
}

#[tokio::test]
async fn an_invalid_proxy_config_is_never_applied() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    let config = t.proxy_config();
    let mut spec = t.spec("v2");
    spec.proxy_lines = vec!["timeout no-such-timeout 1s".into()];
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(
        r.message.contains("proxy config is invalid"),
        "{}",
        r.message
    );
    assert_eq!(t.proxy_config(), config, "the live config was touched");
    assert!(!t.containers().contains(&format!("{}-green", t.app)));
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

#[tokio::test]
async fn a_second_deploy_of_the_same_app_is_refused_while_the_first_runs() {
    let t = TestApp::new();
    let slow = t.spec_env("v1", &[("READY_AFTER", "3000")]);
    let first = tokio::spawn({
        let config = t.config();
        async move {
            bluegreen::agent::handle_with(AgentRequest::Deploy(slow), &Default::default(), config)
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let second = t.deploy(t.spec("v2")).await;
    assert_eq!(second.outcome, Outcome::Locked);
    assert!(
        second.message.contains("holds the lock") && second.message.contains("nothing changed"),
        "{}",
        second.message
    );
    let first = first.await.unwrap();
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);
    assert_eq!(t.through_proxy().await.2, "v1");
}

#[test]
fn bad_names_ports_and_refs_are_rejected_before_any_docker_call() {
    let t = TestApp::new();
    let cases: &[(&str, &str, &str)] = &[
        ("--app", "Bad;Name", "--app \"Bad;Name\""),
        ("--image", "app:$(id)", "--image \"app:$(id)\""),
        (
            "--public-port",
            "0",
            "\"0\" is not a port: expected a number from 1 to 65535",
        ),
        ("--health-path", "health", "--health-path \"health\""),
    ];
    for (flag, value, expected) in cases {
        let mut args = t.deploy_args("v1");
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value.to_string();
        // An unreachable daemon: a Docker call would exit 5, not 2.
        let out = t
            .cli()
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(expected), "{flag} {value}: {err}");
    }
    assert!(t.containers().is_empty());
}

#[tokio::test]
async fn a_first_deployment_whose_proxy_cannot_bind_is_removed_entirely() {
    let t = TestApp::new();
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", t.port)).unwrap();
    let started = Instant::now();
    let r = t.deploy(t.spec("v1")).await;
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.message);
    assert!(r.message.contains("exited at start"), "{}", r.message);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "waited for the socket deadline"
    );
    assert!(t.containers().is_empty(), "{:?}", t.containers());
    assert_eq!(t.proxy_config(), "");
    assert!(t.status().await.apps.is_empty());
}

/// Each container gets a free loopback port of its own, kept in its labels, and the proxy's
/// config names it: a port another process holds is never one the engine picks, and a new
/// container never waits for the port of the one it replaces.
#[tokio::test]
async fn each_container_gets_a_free_port_of_its_own_named_by_its_labels_and_the_proxy() {
    let t = TestApp::new();
    let mut seen = Vec::new();
    for tag in ["v1", "v2", "v3"] {
        assert_eq!(t.deploy(t.spec(tag)).await.outcome, Outcome::Deployed);
        let live = t.status().await.apps[0].live.clone().unwrap();
        let name = format!("{}-{}", t.app, live.color);
        let port: u16 = label(&name, "bluegreen.port").parse().unwrap();
        assert!(port >= 32768, "{name} on {port}: a kernel-chosen port");
        let line = format!("  server {} 127.0.0.1:{port} weight 100\n", live.color);
        assert!(t.proxy_config().contains(&line), "{}", t.proxy_config());
        assert!(!seen.contains(&port), "{port} reused: {seen:?}");
        seen.push(port);
        assert_eq!(t.through_proxy().await.2, tag);
    }
}

/// A label of a container, as Docker reads it back.
fn label(container: &str, key: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
            container,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker_rm(name: &str) {
    let out = std::process::Command::new("docker")
        .args(["rm", "-f", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn recover(t: &TestApp) -> String {
    let out = t
        .cli()
        .args(["recover", "--target", "local", "--app", &t.app])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The live container removed behind the agent's back, the proxy still there: the color is
/// created again from the state; the proxy config and the rollback target are kept.
#[tokio::test]
async fn a_live_container_that_is_gone_is_created_again_from_the_state() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    let config = t.proxy_config();
    docker_rm(&format!("{}-green", t.app));
    let out = recover(&t);
    assert!(out.contains("again from the state"), "{out}");
    // The config is the same but for the new container's port on the green server line.
    let port = label(&format!("{}-green", t.app), "bluegreen.port");
    let green_line = |c: &str| {
        c.lines()
            .find(|l| l.trim_start().starts_with("server green "))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        green_line(&t.proxy_config()),
        format!("  server green 127.0.0.1:{port} weight 100")
    );
    let others = |c: &str| {
        c.lines()
            .filter(|l| !l.trim_start().starts_with("server green "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&t.proxy_config()), others(&config));
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    let state = t.status().await;
    let app = &state.apps[0];
    assert_eq!(app.live.as_ref().unwrap().image, support::image("v2"));
    assert_eq!(
        app.rollback_target.as_ref().unwrap().image,
        support::image("v1")
    );
    // The next deploy goes through as usual.
    assert_eq!(t.deploy(t.spec("v3")).await.outcome, Outcome::Deployed);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v3".into()));
}

/// The proxy container removed, the colors still there: a rollback (which carries no proxy
/// image) creates it again from the state, serving the verified color, then rolls back.
#[tokio::test]
async fn a_proxy_that_is_gone_is_created_again_serving_the_verified_color() {
    let t = TestApp::new();
    assert_eq!(t.deploy(t.spec("v1")).await.outcome, Outcome::Deployed);
    assert_eq!(t.deploy(t.spec("v2")).await.outcome, Outcome::Deployed);
    docker_rm(&format!("{}-proxy", t.app));
    let out = recover(&t);
    assert!(out.contains("created the proxy"), "{out}");
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
    docker_rm(&format!("{}-proxy", t.app));
    let back = t.rollback().await;
    assert_eq!(back.outcome, Outcome::RolledBack, "{}", back.message);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}
