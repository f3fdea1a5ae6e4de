//! The whole way: `bluegreen deploy --target ssm` -> the SSM test server -> bash runs the
//! command's script as the SSM agent would -> `docker run` of this project's agent image
//! (scripts/build-image) -> the local Docker daemon -> a blue-green switch, under load, with
//! zero failed requests. Then status and rollback the same way.

#[path = "support/ports.rs"]
mod ports;
mod ssm_support;

use serde_json::{json, Value};
use ssm_support::{instance_ids, SsmServer};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test (it builds the images)")
    })
}

/// Removes only this test's containers and state, found by its unique app name.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=bluegreen.app={}", self.0),
            ])
            .output()
            .unwrap();
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let _ = std::fs::remove_dir_all(format!("/var/lib/bluegreen/apps/{}", self.0));
    }
}

fn cli(server: &SsmServer, args: &[String]) -> (i32, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
    cmd.args(args).args([
        "--ssm-poll-min",
        "100ms",
        "--ssm-poll-max",
        "500ms",
        "--format",
        "json",
    ]);
    for (k, v) in server.cli_env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), json, stderr)
}

/// Counts of a load run: answers, and failures (errors or non-200).
#[derive(Default)]
struct Load {
    ok: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

/// Keep-alive clients hammering the proxy until `stop`. Each returns the versions it saw, in
/// order, repeats collapsed: one client's sequential requests must never go back to the old
/// version once the new one answered (across clients, in-flight requests overlap the switch).
fn start_load(
    load: &Arc<Load>,
    clients: usize,
    port: u16,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..clients)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let url = format!("http://127.0.0.1:{port}/");
                let mut seen: Vec<String> = Vec::new();
                while !load.stop.load(Ordering::Relaxed) {
                    let r = http.get(&url).timeout(Duration::from_secs(5)).send().await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            load.ok.fetch_add(1, Ordering::Relaxed);
                            let v = r
                                .headers()
                                .get("x-version")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            if seen.last() != Some(&v) {
                                seen.push(v);
                            }
                        }
                        _ => {
                            load.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                seen
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_through_ssm_switches_under_load_with_zero_failed_requests() {
    let agent_image = env("BLUEGREEN_TEST_SSM_AGENT_IMAGE");
    let repo = env("BLUEGREEN_TEST_IMAGE_REPO");
    let proxy = env("BLUEGREEN_TEST_PROXY_IMAGE");
    let app = format!(
        "bgs-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let _cleanup = Cleanup(app.clone());
    // The public port of the app under test (the agent puts the colors on the two above it).
    let ports = ports::lease();
    let port = ports.first;
    let id = instance_ids(1).remove(0);
    // No shim on PATH: the script runs the real docker CLI against the local daemon.
    let server = SsmServer::start(json!({"instances": {&id: {}}, "delivery_delay": 0.02}));
    let deploy = |tag: &str| -> Vec<String> {
        [
            "deploy",
            "--target",
            "ssm",
            "--instance-ids",
            &id,
            "--agent-image",
            &agent_image,
            "--app",
            &app,
            "--image",
            &format!("{repo}:{tag}"),
            "--public-port",
            &port.to_string(),
            "--container-port",
            "8080",
            "--public-address",
            "127.0.0.1",
            "--proxy-image",
            &proxy,
            "--verify-window",
            "1s",
            "--keep-warm",
            "60s",
            "--drain",
            "2s",
            "--image-platform",
            "linux/amd64,linux/arm64",
            "--command-timeout",
            "120s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };

    let (code, v1, stderr) = cli(&server, &deploy("v1"));
    assert_eq!(code, 0, "{v1}\n{stderr}");
    assert!(
        v1["preflight"]["hosts"][0]["app"].is_null(),
        "first deployment: {v1}"
    );
    let host = &v1["fleet"]["hosts"][0];
    assert_eq!(host["status"], "succeeded", "{host}");
    assert_eq!(host["reply"]["host"], id.as_str());
    assert_eq!(host["reply"]["first_deployment"], true);

    let load = Arc::new(Load::default());
    let clients = start_load(&load, 4, port);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_ref = &server;
    let args = deploy("v2");
    let (code, v2, stderr) = tokio::task::block_in_place(|| cli(server_ref, &args));
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.stop.store(true, Ordering::Relaxed);
    let mut per_client = Vec::new();
    for c in clients {
        per_client.push(c.await.unwrap());
    }

    assert_eq!(code, 0, "{v2}\n{stderr}");
    assert_eq!(
        v2["preflight"]["hosts"][0]["app"]["live"]["image"],
        format!("{repo}:v1")
    );
    assert_eq!(v2["fleet"]["hosts"][0]["reply"]["outcome"], "deployed");
    let (ok, failed) = (
        load.ok.load(Ordering::Relaxed),
        load.failed.load(Ordering::Relaxed),
    );
    eprintln!(
        "load during the SSM deploy: {ok} requests, {failed} failed, per client {per_client:?}"
    );
    assert_eq!(failed, 0, "{failed} failed requests of {}", ok + failed);
    assert!(ok > 100, "too little load to mean anything: {ok} requests");
    for seen in &per_client {
        assert_eq!(seen, &["v1", "v2"], "each client: one switch, never back");
    }

    let status = vec![
        "status".to_string(),
        "--target".into(),
        "ssm".into(),
        "--instance-ids".into(),
        id.clone(),
        "--agent-image".into(),
        agent_image.clone(),
        "--app".into(),
        app.clone(),
    ];
    let (code, st, stderr) = cli(&server, &status);
    assert_eq!(code, 0, "{st}\n{stderr}");
    let state = &st["fleet"]["hosts"][0]["reply"]["apps"][0];
    assert_eq!(state["live"]["image"], format!("{repo}:v2"));
    assert_eq!(state["rollback_target"]["image"], format!("{repo}:v1"));

    let rollback = vec![
        "rollback".to_string(),
        "--target".into(),
        "ssm".into(),
        "--instance-ids".into(),
        id.clone(),
        "--agent-image".into(),
        agent_image,
        "--app".into(),
        app.clone(),
    ];
    let (code, rb, stderr) = cli(&server, &rollback);
    assert_eq!(code, 0, "{rb}\n{stderr}");
    assert_eq!(rb["fleet"]["hosts"][0]["reply"]["outcome"], "rolled_back");
    let r = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert_eq!(r.headers()["x-version"], "v1");

    // The host kept each command, and the receipt of v2's switch under the load above.
    let mut history = status.clone();
    history[0] = "history".into();
    let (code, hi, stderr) = cli(&server, &history);
    assert_eq!(code, 0, "{hi}\n{stderr}");
    let entries = &hi["fleet"]["hosts"][0]["reply"]["history"];
    let seen: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("deploy", "deployed"),
            ("deploy", "deployed"),
            ("rollback", "rolled_back")
        ],
        "{entries}"
    );
    let receipt = &entries[1]["receipt"];
    assert!(
        receipt["during"]["requests"].as_u64() > Some(0),
        "{receipt}"
    );
    assert_eq!(receipt["during"]["unanswered"], 0, "{receipt}");
    assert_eq!(receipt["during"]["http_5xx"], 0, "{receipt}");
    server.assert_all_valid().await;
}

/// The script mounts the host's Docker config into the agent container: an image of a
/// registry that requires a login deploys through SSM with the `auths` of the instance's
/// `$DOCKER_CONFIG`, and fails (nothing changed) on an instance without it.
#[tokio::test]
async fn an_ssm_deploy_pulls_with_the_instance_docker_config() {
    use base64::Engine as _;
    let agent_image = env("BLUEGREEN_TEST_SSM_AGENT_IMAGE");
    let app = format!(
        "bgs-auth-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let _cleanup = Cleanup(app.clone());
    let ports = ports::lease();
    let registry = env("BLUEGREEN_TEST_AUTH_REGISTRY");
    let login = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        env("BLUEGREEN_TEST_AUTH_USER"),
        env("BLUEGREEN_TEST_AUTH_PASSWORD")
    ));
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("config.json"),
        json!({"auths": {&registry: {"auth": login}}}).to_string(),
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let ids = instance_ids(2);
    let server = SsmServer::start(json!({
        "instances": {
            &ids[0]: {"env": {"DOCKER_CONFIG": empty.path().display().to_string()}},
            &ids[1]: {"env": {"DOCKER_CONFIG": config.path().display().to_string()}},
        },
        "delivery_delay": 0.02
    }));
    let deploy = |id: &str| -> Vec<String> {
        let port = ports.first.to_string();
        [
            "deploy",
            "--target",
            "ssm",
            "--instance-ids",
            id,
            "--agent-image",
            &agent_image,
            "--app",
            &app,
            "--image",
            &env("BLUEGREEN_TEST_AUTH_IMAGE"),
            "--public-port",
            &port,
            "--container-port",
            "8080",
            "--public-address",
            "127.0.0.1",
            "--proxy-image",
            &env("BLUEGREEN_TEST_PROXY_IMAGE"),
            "--verify-window",
            "300ms",
            "--image-platform",
            "linux/amd64,linux/arm64",
            "--command-timeout",
            "120s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (code, out, stderr) = cli(&server, &deploy(&ids[0]));
    assert_eq!(code, 1, "{out}\n{stderr}");
    let message = out["fleet"]["hosts"][0]["reply"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("no basic auth credentials"), "{out}");
    let (code, out, stderr) = cli(&server, &deploy(&ids[1]));
    assert_eq!(code, 0, "{out}\n{stderr}");
    assert_eq!(out["fleet"]["hosts"][0]["reply"]["outcome"], "deployed");
    assert!(!out
        .to_string()
        .contains(&env("BLUEGREEN_TEST_AUTH_PASSWORD")));
    let r = reqwest::get(format!("http://127.0.0.1:{}/", ports.first))
        .await
        .unwrap();
    assert_eq!(r.headers()["x-version"], "v2");
}
