//! The app's container options through the CLI against the real daemon: each one applied to
//! both colors and read back from Docker, a volume keeping its data across a deploy and a
//! rollback, a changed option making a real deploy, and bad values refused before any change.

mod support;

use std::process::Output;
use support::TestApp;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// GET `path` through the proxy: its body.
async fn body(t: &TestApp, path: &str) -> String {
    let url = format!("http://127.0.0.1:{}{path}", t.port);
    let r = reqwest::get(&url).await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.text().await.unwrap()
}

/// Removes the test's named volume once the app's containers are gone.
struct VolumeGuard(String);

impl Drop for VolumeGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", "-f", &self.0])
            .output();
    }
}

struct NetworkGuard(String);

/// Removes the network and whatever is still attached to it (the test's containers).
impl Drop for NetworkGuard {
    fn drop(&mut self) {
        let docker = |args: &[&str]| std::process::Command::new("docker").args(args).output();
        let filter = format!("network={}", self.0);
        if let Ok(out) = docker(&["ps", "-aq", "--filter", &filter]) {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
        let _ = docker(&["network", "rm", &self.0]);
    }
}

fn deploy(t: &TestApp, tag: &str, options: &[&str]) -> Output {
    t.cli()
        .args(t.deploy_args(tag))
        .args(options)
        .args(["--format", "json"])
        .output()
        .unwrap()
}

#[tokio::test]
async fn every_option_reaches_both_colors_and_the_volume_keeps_its_data() {
    let t = TestApp::new();
    let volume = format!("{}-data", t.app);
    let _cleanup = VolumeGuard(volume.clone());
    let mount = format!("{volume}:/data");
    let options = [
        "--volume",
        &mount,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--command",
        "serve --name 'a b'",
        "--user",
        "0:0",
        "--add-host",
        "db.internal:10.1.2.3",
        "--label",
        "team=shop",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=5m",
        "--restart",
        "no",
    ];
    let first = deploy(&t, "v1", &options);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(body(&t, "/write/note/kept").await, "wrote note\n");
    let v2 = deploy(&t, "v2", &options);
    assert_eq!(v2.status.code(), Some(0), "{}", text(&v2));
    assert_eq!(t.through_proxy().await.2, "v2");
    assert_eq!(body(&t, "/read/note").await, "kept", "v2 sees v1's data");
    assert_eq!(body(&t, "/argv").await, "/testsvc\nserve\n--name\na b\n");

    // Both colors run with every option, as Docker reports them.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    for color in ["blue", "green"] {
        let name = format!("{}-{color}", t.app);
        let c = docker
            .inspect_container(
                &name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .unwrap();
        let (config, host) = (c.config.unwrap(), c.host_config.unwrap());
        assert_eq!(host.memory, Some(64 << 20), "{name}");
        assert_eq!(host.nano_cpus, Some(500_000_000), "{name}");
        assert_eq!(host.binds, Some(vec![mount.clone()]), "{name}");
        assert_eq!(
            host.extra_hosts,
            Some(vec!["db.internal:10.1.2.3".to_string()])
        );
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("local"));
        assert_eq!(
            log.config.unwrap().get("max-size").map(String::as_str),
            Some("5m")
        );
        assert_eq!(
            host.restart_policy.and_then(|p| p.name),
            Some(bollard::models::RestartPolicyNameEnum::NO)
        );
        assert_eq!(config.user.as_deref(), Some("0:0"));
        assert_eq!(
            config.cmd,
            Some(vec!["serve".into(), "--name".into(), "a b".into()])
        );
        let labels = config.labels.unwrap();
        assert_eq!(labels.get("team").map(String::as_str), Some("shop"));
        assert_eq!(
            labels.get("bluegreen.app"),
            Some(&t.app),
            "the engine's labels stay"
        );
    }

    // A rollback goes back to v1, with the same volume.
    assert_eq!(
        t.rollback().await.outcome,
        bluegreen::agent::Outcome::RolledBack
    );
    assert_eq!(t.through_proxy().await.2, "v1");
    assert_eq!(body(&t, "/read/note").await, "kept", "after the rollback");

    // The same spec again is a no-op; a changed option is a real deploy.
    let same = deploy(&t, "v1", &options);
    let reply: serde_json::Value = serde_json::from_slice(&same.stdout).unwrap();
    let steps = |r: &serde_json::Value| -> Vec<String> {
        r["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["step"].as_str().map(str::to_string))
            .collect()
    };
    assert!(
        !steps(&reply).contains(&"watch".to_string()),
        "{}",
        text(&same)
    );
    let mut more = options.to_vec();
    more[3] = "96m";
    let changed = deploy(&t, "v1", &more);
    assert_eq!(changed.status.code(), Some(0), "{}", text(&changed));
    let reply: serde_json::Value = serde_json::from_slice(&changed.stdout).unwrap();
    assert!(
        steps(&reply).contains(&"watch".to_string()),
        "{}",
        text(&changed)
    );
    assert_eq!(body(&t, "/read/note").await, "kept");
}

#[tokio::test]
async fn bad_options_are_refused_before_any_change() {
    let t = TestApp::new();
    for (flag, value, expected) in [
        ("--memory", "1m", "at least 6m"),
        ("--volume", "rel:data", "SRC:DST[:ro]"),
        ("--cpus", "0", "more than 0"),
        ("--network", "host", "not host or none"),
        ("--label", "bluegreen.color=red", "bluegreen.*"),
        ("--command", "'unclosed", "shell words"),
        ("--restart", "always", "no or unless-stopped"),
        ("--add-host", "db", "NAME:IP"),
    ] {
        let out = deploy(&t, "v1", &[flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{flag} {value:?}")) && err.contains(expected),
            "{flag} {value}: {err}"
        );
    }
    assert!(t.containers().is_empty(), "nothing was created");

    // A network that does not exist on the host: refused on the host, nothing changed.
    assert_eq!(deploy(&t, "v1", &[]).status.code(), Some(0));
    let out = deploy(&t, "v2", &["--network", "bga-no-such-network"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no such Docker network on this host"),
        "{}",
        text(&out)
    );
    assert_eq!(t.through_proxy().await.2, "v1", "v1 still serves");
}

/// `--pre-switch-command`: a smoke test in a container of the new image, on the host's
/// network, against the idle color (BLUEGREEN_URL) before traffic moves. Passing, the deploy
/// goes on; failing, the new version never serves and no container of it is left.
/// The app runs on a bridge that drops traffic between containers (`enable_icc=false`, as on
/// some hosts): the smoke test reaches the color on its loopback port all the same.
#[tokio::test]
async fn a_failing_pre_switch_command_switches_nothing() {
    let t = TestApp::new();
    let network = format!("{}-noicc", t.app);
    let created = std::process::Command::new("docker")
        .args(["network", "create", "-o"])
        .arg("com.docker.network.bridge.enable_icc=false")
        .arg(&network)
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let _cleanup = NetworkGuard(network.clone());
    let on_network = ["--network", network.as_str()];
    assert_eq!(deploy(&t, "v1", &on_network).status.code(), Some(0));
    let smoke = ["--pre-switch-command", "smoke /health"];
    let good = deploy(&t, "v2", &[&on_network[..], &smoke[..]].concat());
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let reply: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    let step = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["step"] == "pre-switch")
        .unwrap_or_else(|| panic!("no pre-switch step: {reply:#}"));
    assert_eq!(step["status"], "ok");
    let detail = step["detail"].as_str().unwrap();
    assert!(detail.contains("exited 0"), "{step}");
    assert!(detail.contains("against http://127.0.0.1:"), "{step}");
    assert_eq!(t.through_proxy().await.2, "v2");

    let bad = deploy(
        &t,
        "v3",
        &[
            &on_network[..],
            &["--pre-switch-command", r#"["smoke", "/env/NOT_SET"]"#],
        ]
        .concat(),
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let all = text(&bad);
    assert!(
        all.contains("the pre-switch command") && all.contains("exited 1"),
        "{all}"
    );
    assert!(
        all.contains("404 Not Found"),
        "the smoke test's output is in the reply: {all}"
    );
    assert_eq!(t.through_proxy().await.2, "v2", "v2 keeps serving");
    assert!(
        !t.containers().iter().any(|c| c.ends_with("-pre-switch")),
        "{:?}",
        t.containers()
    );
    let status = t.status().await;
    let target = status.apps[0].rollback_target.as_ref().unwrap();
    assert!(
        target.image.ends_with(":v1"),
        "the rollback target stays: {target:?}"
    );
}

/// `--pre-switch-on host`: the agent itself runs the HTTP checks against the idle color, no
/// container. All as expected, the deploy goes on; one answer that is not, nothing switches.
#[tokio::test]
async fn pre_switch_checks_on_the_host_gate_the_switch() {
    let t = TestApp::new();
    assert_eq!(deploy(&t, "v1", &[]).status.code(), Some(0));
    let good = deploy(
        &t,
        "v2",
        &[
            "--pre-switch-on",
            "host",
            "--pre-switch-command",
            "/health\n/env/NOT_SET 404\n# a comment",
        ],
    );
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    let reply: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    let step = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["step"] == "pre-switch")
        .unwrap_or_else(|| panic!("no pre-switch step: {reply:#}"));
    assert_eq!(step["status"], "ok");
    assert!(
        step["detail"]
            .as_str()
            .unwrap()
            .starts_with("2 check(s) passed on 127.0.0.1:"),
        "{step}"
    );
    let commands = reply["commands"].as_array().unwrap();
    assert!(
        !commands
            .iter()
            .any(|c| c["command"].as_str().unwrap().contains("-pre-switch")),
        "no container for host checks: {commands:#?}"
    );
    assert_eq!(t.through_proxy().await.2, "v2");

    let bad = deploy(
        &t,
        "v3",
        &[
            "--pre-switch-on",
            "host",
            "--pre-switch-command",
            "/health\n/env/NOT_SET",
        ],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("the pre-switch check GET /env/NOT_SET 2xx: answered 404"),
        "{}",
        text(&bad)
    );
    assert_eq!(t.through_proxy().await.2, "v2", "v2 keeps serving");

    // A bad check list is refused before anything changes, naming the line.
    let refused = deploy(
        &t,
        "v3",
        &["--pre-switch-on", "host", "--pre-switch-command", "health"],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("line 1: \"health\": expected a path starting with /"),
        "{}",
        text(&refused)
    );
}
