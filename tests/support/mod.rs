//! Shared by the engine's integration tests: they run against the real Docker daemon, the
//! local registry and the HAProxy test image that `scripts/test` sets up.
#![allow(dead_code)]

use bluegreen::agent::protocol::{AgentReply, AgentRequest, DeploySpec, EnvVar};
use bluegreen::agent::{handle_with, http, AgentConfig};
use bluegreen::report::EventLog;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test (it builds the test images and starts the registry)")
    })
}

/// An image of the test service in the local registry: `v1`, `v2`, `v3`.
pub fn image(tag: &str) -> String {
    format!("{}:{tag}", env("BLUEGREEN_TEST_IMAGE_REPO"))
}

pub mod cloudwatch;
pub mod load;
pub mod ports;
pub mod schema;

/// One app under test: its own name, state directory and public port, leased from the
/// allocator all test binaries share (`ports`; the colors take free ports of the kernel's
/// ephemeral range, above every leased block).
pub struct TestApp {
    pub app: String,
    pub port: u16,
    pub state_dir: PathBuf,
    _dir: tempfile::TempDir,
    _ports: ports::PortLease,
}

impl TestApp {
    pub fn new() -> TestApp {
        let lease = ports::lease();
        let root = PathBuf::from(env("BLUEGREEN_TEST_STATE")).join("agent");
        std::fs::create_dir_all(&root).unwrap();
        let dir = tempfile::tempdir_in(&root).unwrap();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let app = TestApp {
            app: format!("bga-{}", &suffix[..8]),
            port: lease.first,
            state_dir: dir.path().to_path_buf(),
            _dir: dir,
            _ports: lease,
        };
        app
    }

    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            state_dir: self.state_dir.clone(),
            lock_wait: Duration::from_millis(800),
            host_name: "test".into(),
            docker_config: None,
        }
    }

    pub fn spec(&self, tag: &str) -> DeploySpec {
        DeploySpec {
            app: self.app.clone(),
            image: image(tag),
            public_port: self.port,
            container_port: 8080,
            health_path: "/health".into(),
            health_host: None,
            health_timeout_ms: 10_000,
            verify_window_ms: 300,
            keep_warm_ms: 60_000,
            drain_ms: 2_000,
            stop_timeout_ms: 10_000,
            env: vec![],
            env_from_ssm: None,
            proxy_image: env("BLUEGREEN_TEST_PROXY_IMAGE"),
            deploy_id: format!("d-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            public_address: Some("127.0.0.1".into()),
            proxy_lines: vec![],
            pull: None,
            registry_credentials_from_ssm: None,
            run_url: None,
            container: Default::default(),
            pre_switch_command: None,
            pre_switch_checks: vec![],
            canary: None,
            alarms: vec![],
        }
    }

    pub fn spec_env(&self, tag: &str, vars: &[(&str, &str)]) -> DeploySpec {
        let mut spec = self.spec(tag);
        spec.env = vars
            .iter()
            .map(|(k, v)| EnvVar {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect();
        spec
    }

    pub async fn run(&self, request: AgentRequest) -> AgentReply {
        handle_with(request, &EventLog::new(), self.config())
            .await
            .unwrap()
    }

    pub async fn deploy(&self, spec: DeploySpec) -> AgentReply {
        self.run(AgentRequest::Deploy(spec)).await
    }

    pub async fn rollback(&self) -> AgentReply {
        self.run(AgentRequest::Rollback {
            app: self.app.clone(),
            expect_live: None,
            run_url: None,
        })
        .await
    }

    pub async fn status(&self) -> AgentReply {
        self.run(AgentRequest::Status {
            app: Some(self.app.clone()),
        })
        .await
    }

    /// GET / through the proxy: (status, color header, body version header).
    pub async fn through_proxy(&self) -> (u16, String, String) {
        let r = http::get(
            "127.0.0.1",
            self.port,
            http::Probe::path("/"),
            Duration::from_secs(2),
        )
        .await
        .unwrap();
        (
            r.status,
            r.header("x-bluegreen-color")
                .unwrap_or_default()
                .to_string(),
            r.header("x-version").unwrap_or_default().to_string(),
        )
    }

    /// Names of the app's containers on the daemon, sorted, but for those retired (stopping
    /// or stopped, removed by the next deploy or recover: see [`TestApp::retired`]).
    pub fn containers(&self) -> Vec<String> {
        let mut all = self.all_containers();
        all.retain(|n| !n.contains("-retired-"));
        all
    }

    /// The app's retired containers (`<app>-retired-<color>-<ms>`), sorted.
    pub fn retired(&self) -> Vec<String> {
        let mut all = self.all_containers();
        all.retain(|n| n.contains("-retired-"));
        all
    }

    fn all_containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=bluegreen.app={}", self.app),
                "--format",
                "{{.Names}}",
            ])
            .output()
            .unwrap();
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// When each request the proxy logged ended (ms since the epoch), from its container's log.
    pub async fn proxy_request_ends(&self) -> Vec<i64> {
        use futures_util::StreamExt;
        let docker = bollard::Docker::connect_with_local_defaults().unwrap();
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            ..Default::default()
        };
        let name = bluegreen::agent::state::proxy_name(&self.app);
        let mut stream = docker.logs(&name, Some(options));
        let mut ends = Vec::new();
        while let Some(chunk) = stream.next().await {
            for line in chunk.unwrap().to_string().lines() {
                let mut words = line.split_whitespace();
                if words.next() == Some("bgreq") {
                    ends.extend(words.next().and_then(|w| w.parse::<i64>().ok()));
                }
            }
        }
        ends
    }

    /// Fails when the proxy logs requests now (it should only while a deploy runs).
    pub async fn assert_proxy_not_logging(&self, what: &str) {
        let since = chrono::Utc::now().timestamp_millis();
        for _ in 0..5 {
            assert_eq!(self.through_proxy().await.0, 200, "{what}");
        }
        let late = self
            .proxy_request_ends()
            .await
            .into_iter()
            .filter(|&ms| ms >= since)
            .count();
        assert_eq!(late, 0, "{what}: the proxy still logs requests");
    }

    pub fn proxy_config(&self) -> String {
        std::fs::read_to_string(
            self.state_dir
                .join("apps")
                .join(&self.app)
                .join("haproxy.cfg"),
        )
        .unwrap_or_default()
    }

    /// Runs the CLI binary against this app's state directory.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        cmd.env("BLUEGREEN_STATE_DIR", &self.state_dir)
            .env("BLUEGREEN_LOCK_WAIT", "800ms");
        cmd
    }

    pub fn deploy_args(&self, tag: &str) -> Vec<String> {
        let spec = self.spec(tag);
        vec![
            "deploy".into(),
            "--target".into(),
            "local".into(),
            "--app".into(),
            self.app.clone(),
            "--image".into(),
            spec.image,
            "--public-port".into(),
            self.port.to_string(),
            "--container-port".into(),
            "8080".into(),
            "--health-path".into(),
            "/health".into(),
            "--public-address".into(),
            "127.0.0.1".into(),
            "--proxy-image".into(),
            spec.proxy_image,
            "--verify-window".into(),
            "300ms".into(),
            "--keep-warm".into(),
            "60s".into(),
        ]
    }
}

impl Drop for TestApp {
    /// Removes only this app's containers (found by its unique label).
    fn drop(&mut self) {
        for name in self.all_containers() {
            let _ = Command::new("docker").args(["rm", "-f", &name]).output();
        }
    }
}

/// An SSM client for the test servers' moto (`BLUEGREEN_TEST_MOTO_URL`), to put the parameters
/// a test's agent then reads.
pub async fn moto_ssm() -> aws_sdk_ssm::Client {
    let moto = env("BLUEGREEN_TEST_MOTO_URL");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_ssm::Client::new(&config)
}
