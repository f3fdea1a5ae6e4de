//! Test support: the SSM test server (tests/ssm_server.py) as a child process, an SDK client
//! pointed at it, and simulated-instance shims.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running SSM test server; killed on drop.
pub struct SsmServer {
    child: Child,
    pub url: String,
    _config: tempfile::NamedTempFile,
    _workdir: tempfile::TempDir,
}

impl SsmServer {
    /// Starts a server with this config (see the docstring of tests/ssm_server.py).
    pub fn start(config: Value) -> SsmServer {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = tempfile::Builder::new()
            .prefix("bgs-ssm-config")
            .tempfile()
            .unwrap();
        std::fs::write(file.path(), serde_json::to_vec(&config).unwrap()).unwrap();
        let workdir = tempfile::Builder::new()
            .prefix("bgs-ssm-work")
            .tempdir()
            .unwrap();
        let mut child = Command::new("python3")
            .arg(root.join("tests/ssm_server.py"))
            .arg("--config")
            .arg(file.path())
            .arg("--workdir")
            .arg(workdir.path())
            .args(["--port-range", "19100-19899"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to run the SSM test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("the SSM test server did not start: {line:?}"));
        SsmServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _config: file,
            _workdir: workdir,
        }
    }

    async fn control(&self, what: &str) -> Value {
        reqwest::get(format!("{}/_control/{what}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every request received: `{op, body, valid, error}`.
    pub async fn requests(&self) -> Vec<Value> {
        self.control("requests").await.as_array().unwrap().clone()
    }

    /// Requests of one operation.
    pub async fn requests_of(&self, op: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["op"] == op)
            .collect()
    }

    /// Asserts that every request had the shape the real service requires.
    pub async fn assert_all_valid(&self) {
        for r in self.requests().await {
            assert_eq!(r["valid"], true, "invalid request shape: {r}");
        }
    }

    pub async fn stats(&self) -> Value {
        self.control("stats").await
    }

    /// An SDK client for this server: static test credentials, the product's retry config.
    /// Each client gets its own retry partition: the SDK keeps adaptive retry's rate limiter
    /// per partition for the whole process, and one test's throttling must not slow others.
    pub fn client(&self) -> aws_sdk_ssm::Client {
        self.logged_client(&bluegreen::report::EventLog::new())
    }

    /// A client whose calls go into `events`' command log, as the tool's own client's do.
    pub fn logged_client(&self, events: &bluegreen::report::EventLog) -> aws_sdk_ssm::Client {
        let calls =
            bluegreen::aws::CallLog::interceptor(events, &bluegreen::report::Scope::Pipeline);
        let config = aws_sdk_ssm::Config::builder()
            .interceptor(calls)
            .behavior_version_latest()
            .endpoint_url(&self.url)
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "AKIDBGSTEST",
                "bgs-test-secret",
                None,
                None,
                "bgs-test",
            ))
            .retry_config(bluegreen::fleet::ssm::retry_config())
            .retry_partition(aws_sdk_ssm::config::retry::RetryPartition::new(format!(
                "bgs-{}",
                self.url
            )))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// Environment for a `bluegreen` process that should talk to this server.
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SSM", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "AKIDBGSTEST".into()),
            ("AWS_SECRET_ACCESS_KEY", "bgs-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }
}

impl Drop for SsmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory whose `docker` and `uname` are the test shims, plus a log directory for the
/// shim's argv records.
pub struct Shims {
    pub dir: tempfile::TempDir,
    pub log: tempfile::TempDir,
}

impl Shims {
    pub fn new() -> Shims {
        let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ssm_support");
        let dir = tempfile::Builder::new()
            .prefix("bgs-shims")
            .tempdir()
            .unwrap();
        std::os::unix::fs::symlink(support.join("docker-shim"), dir.path().join("docker")).unwrap();
        std::os::unix::fs::symlink(support.join("uname-shim"), dir.path().join("uname")).unwrap();
        let log = tempfile::Builder::new()
            .prefix("bgs-shim-log")
            .tempdir()
            .unwrap();
        Shims { dir, log }
    }

    pub fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Every recorded `docker` argv of one instance.
    pub fn argvs(&self, instance: &str) -> Vec<Vec<String>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.log.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{instance}."))
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

/// `n` instance ids, i-00000000000000001 ...
pub fn instance_ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("i-{i:017x}")).collect()
}

/// A server config: these instances (id -> extra spec), the shims on PATH.
pub fn config(shims: &Shims, instances: &[(String, Value)]) -> Value {
    let mut map = serde_json::Map::new();
    for (id, spec) in instances {
        let mut spec = spec.clone();
        let env = spec
            .as_object_mut()
            .unwrap()
            .entry("env")
            .or_insert_with(|| json!({}));
        env["SHIM_LOG_DIR"] = json!(shims.log.path().display().to_string());
        map.insert(id.clone(), spec);
    }
    json!({ "instances": map, "path": shims.path(), "delivery_delay": 0.02 })
}
