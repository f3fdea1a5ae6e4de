//! An ECR token goes only to an exact ECR host.
//!
//! The agent's pull runs against a recording Docker daemon (a mock HTTP server speaking the
//! Engine API) with a recording AWS endpoint (`AWS_ENDPOINT_URL`) behind the default
//! credential chain. For the exact ECR host the token is requested and reaches the daemon in
//! `X-Registry-Auth` (so the recording can see it); for look-alike hosts there is no
//! GetAuthorizationToken call and the pull request carries no credentials.
//!
//! This binary has a single test, so setting the process environment is safe.

use bluegreen::agent::protocol::PullPolicy;
use bluegreen::agent::registry_auth::Sources;
use bluegreen::agent::{pull, AgentConfig, Host};
use bluegreen::report::EventLog;
use std::time::Duration;
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ECR_PASSWORD: &str = "ecr-token-PLANTED-password";

async fn recording_aws() -> MockServer {
    let aws = MockServer::start().await;
    let token = base64_encode(&format!("AWS:{ECR_PASSWORD}"));
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(serde_json::json!({
                    "authorizationData": [{
                        "authorizationToken": token,
                        "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                        "expiresAt": 1.9e9
                    }]
                })),
        )
        .mount(&aws)
        .await;
    aws
}

async fn recording_daemon() -> MockServer {
    let daemon = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/images/create$"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string("{\"status\":\"Pulling\"}\n"),
        )
        .mount(&daemon)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("/images/.*/json$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "Id": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "RepoDigests": []
        })))
        .mount(&daemon)
        .await;
    daemon
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The credentials the daemon was sent with the pull, decoded (`None` when there were none).
fn registry_auth(request: &Request) -> Option<serde_json::Value> {
    use base64::Engine as _;
    let value = request.headers.get("x-registry-auth")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(value)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(value))
        .unwrap_or_else(|e| panic!("X-Registry-Auth {value:?} is not base64: {e}"));
    serde_json::from_slice(&raw).ok()
}

fn no_sources() -> Sources {
    Sources::new(None, None)
}

fn host_on(daemon: &MockServer) -> Host {
    let docker =
        bollard::Docker::connect_with_http(&daemon.uri(), 10, bollard::API_DEFAULT_VERSION)
            .unwrap();
    let config = AgentConfig {
        state_dir: std::env::temp_dir(),
        lock_wait: Duration::from_millis(100),
        host_name: "test".into(),
        docker_config: None,
    };
    Host::new(docker, config, &EventLog::new())
}

#[tokio::test]
async fn an_ecr_token_goes_only_to_an_exact_ecr_host() {
    let aws = recording_aws().await;
    let docker_config = tempfile::tempdir().unwrap();
    std::env::set_var("DOCKER_CONFIG", docker_config.path());
    std::env::set_var("AWS_ENDPOINT_URL", aws.uri());
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAFAKE000000000001");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "fake-secret");
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    // The exact host: one token request, and the daemon receives the token.
    let daemon = recording_daemon().await;
    let host = host_on(&daemon);
    let exact = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1";
    pull::image(&host, exact, Some(PullPolicy::Always), &no_sources())
        .await
        .unwrap();
    assert_eq!(aws.received_requests().await.unwrap().len(), 1);
    let pulls: Vec<Request> = daemon
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/images/create"))
        .collect();
    assert_eq!(pulls.len(), 1);
    let auth = registry_auth(&pulls[0]).expect("the exact ECR host gets credentials");
    assert_eq!(auth["password"], ECR_PASSWORD);
    assert_eq!(
        auth["serveraddress"],
        "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    );

    // Look-alikes: no token request, no credentials to the daemon.
    for look_alike in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.attacker.example/app:v1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.attacker.example/app:v1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:8443/app:v1",
        "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
    ] {
        let aws_again = recording_aws().await;
        std::env::set_var("AWS_ENDPOINT_URL", aws_again.uri());
        let daemon = recording_daemon().await;
        let host = host_on(&daemon);
        pull::image(&host, look_alike, Some(PullPolicy::Always), &no_sources())
            .await
            .unwrap();
        assert!(
            aws_again.received_requests().await.unwrap().is_empty(),
            "{look_alike}: GetAuthorizationToken was called"
        );
        for r in daemon.received_requests().await.unwrap() {
            let auth = registry_auth(&r);
            assert!(
                auth.is_none(),
                "{look_alike}: the daemon received credentials {auth:?}"
            );
            let seen = format!("{:?} {}", r.headers, String::from_utf8_lossy(&r.body));
            assert!(!seen.contains(ECR_PASSWORD), "{look_alike}: token leaked");
        }
    }
}

#[tokio::test]
async fn a_proxy_line_that_opens_a_section_is_refused_before_any_change() {
    use bluegreen::agent::protocol::{AgentRequest, DeploySpec};
    let state = tempfile::tempdir().unwrap();
    for (line, keyword) in [
        ("global", "global"),
        ("stats socket ipv4@0.0.0.0:9999 level admin", "stats"),
        ("frontend admin", "frontend"),
    ] {
        let spec = DeploySpec {
            app: "shop".into(),
            image: "127.0.0.1:5000/shop:v1".into(),
            public_port: 18080,
            container_port: 8080,
            health_path: "/health".into(),
            health_host: None,
            health_timeout_ms: 1_000,
            verify_window_ms: 0,
            keep_warm_ms: 0,
            drain_ms: 0,
            stop_timeout_ms: 10_000,
            env: vec![],
            env_from_ssm: None,
            proxy_image: "haproxy:3.2".into(),
            deploy_id: "d-1".into(),
            public_address: None,
            proxy_lines: vec!["timeout server 5s".into(), line.into()],
            pull: None,
            registry_credentials_from_ssm: None,
            run_url: None,
            container: Default::default(),
            pre_switch_command: None,
            pre_switch_checks: vec![],
            canary: None,
            alarms: vec![],
        };
        let config = AgentConfig {
            state_dir: state.path().to_path_buf(),
            lock_wait: Duration::from_millis(100),
            host_name: "test".into(),
            docker_config: None,
        };
        let err =
            bluegreen::agent::handle_with(AgentRequest::Deploy(spec), &EventLog::new(), config)
                .await
                .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("{line:?}")) && message.contains(&format!("`{keyword}`")),
            "{message}"
        );
        assert_eq!(
            bluegreen::exit::classify(&err),
            bluegreen::exit::ExitCode::Usage
        );
    }
    assert_eq!(
        std::fs::read_dir(state.path()).unwrap().count(),
        0,
        "nothing was written on the host"
    );
}
