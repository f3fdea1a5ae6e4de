//! Pulls from a registry that requires a login (`scripts/setup.d/21-registry-auth.sh`: Debian's
//! docker-registry behind htpasswd), with the credentials of each source the agent reads:
//! the Docker config's `auths`, a `credHelpers` helper, the `credsStore`, and a Parameter
//! Store parameter (moto). Each test gives the right password through one source only, so
//! it fails when that source is not read. The Docker config directory and `PATH` are the
//! CLI process's own (`DOCKER_CONFIG`), never this test process's.

mod support;

use base64::Engine as _;
use bluegreen::agent::protocol::Outcome;
use serde_json::json;
use std::path::Path;
use support::TestApp;

fn registry() -> String {
    support::env("BLUEGREEN_TEST_AUTH_REGISTRY")
}

fn password() -> String {
    support::env("BLUEGREEN_TEST_AUTH_PASSWORD")
}

fn user() -> String {
    support::env("BLUEGREEN_TEST_AUTH_USER")
}

fn basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// A Docker config directory holding `config`.
fn docker_config(config: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

/// A faithful credential helper `docker-credential-NAME` in `bin`: `get` reads the server
/// address on stdin, records it in `bin/NAME.log`, and answers the login for `knows` (or the
/// protocol's "not found" for any other server).
fn helper(bin: &Path, name: &str, knows: &str, user: &str, secret: &str) {
    use std::os::unix::fs::PermissionsExt;
    let log = bin.join(format!("{name}.log"));
    let script = format!(
        r#"#!/bin/sh
[ "$1" = get ] || {{ echo "unsupported action: $1"; exit 1; }}
server=$(cat)
printf '%s\n' "$server" >>'{log}'
if [ "$server" = '{knows}' ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\n' "$server"
else
  echo "credentials not found in native keychain"
  exit 1
fi
"#,
        log = log.display()
    );
    let path = bin.join(format!("docker-credential-{name}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn asked(bin: &Path, name: &str) -> Vec<String> {
    std::fs::read_to_string(bin.join(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

struct Deployed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `bluegreen deploy` of the private image with this Docker config, `bin` first on PATH.
fn deploy_private(
    t: &TestApp,
    config: &Path,
    bin: Option<&Path>,
    extra: &[&str],
    env: &[(&str, String)],
) -> Deployed {
    let mut args = t.deploy_args("v2");
    let at = args.iter().position(|a| a == "--image").unwrap() + 1;
    args[at] = support::env("BLUEGREEN_TEST_AUTH_IMAGE");
    let mut cmd = t.cli();
    cmd.args(args).args(extra).env("DOCKER_CONFIG", config);
    if let Some(bin) = bin {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", bin.display()));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Deployed {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

impl Deployed {
    fn assert_deployed(&self) {
        assert_eq!(self.code, Some(0), "{}{}", self.stdout, self.stderr);
        assert!(
            !self.stdout.contains(&password()) && !self.stderr.contains(&password()),
            "the password leaked: {}{}",
            self.stdout,
            self.stderr
        );
    }
}

#[tokio::test]
async fn without_credentials_the_pull_fails_and_the_live_version_keeps_serving() {
    let t = TestApp::new();
    let first = t.deploy(t.spec("v1")).await;
    assert_eq!(first.outcome, Outcome::Deployed, "{}", first.message);
    let none = tempfile::tempdir().unwrap();
    let wrong = docker_config(json!({"auths": {registry(): {"auth": basic(&user(), "wrong")}}}));
    for config in [none.path(), wrong.path()] {
        let r = deploy_private(&t, config, None, &[], &[]);
        assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
        let image = support::env("BLUEGREEN_TEST_AUTH_IMAGE");
        assert!(
            r.stdout.contains(&format!("cannot pull {image}"))
                && r.stdout.contains("nothing changed on the host"),
            "{}",
            r.stdout
        );
        assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    }
}

#[tokio::test]
async fn the_auths_of_the_docker_config_log_in() {
    let t = TestApp::new();
    let config = docker_config(json!({
        "auths": {format!("http://{}", registry()): {"auth": basic(&user(), &password())}}
    }));
    deploy_private(&t, config.path(), None, &[], &[]).assert_deployed();
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v2".into()));
}

#[tokio::test]
async fn the_cred_helper_of_the_registry_wins_over_auths() {
    let t = TestApp::new();
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "bgtest", &registry(), &user(), &password());
    let config = docker_config(json!({
        "auths": {registry(): {"auth": basic(&user(), "wrong")}},
        "credHelpers": {registry(): "bgtest", "other.example": "missing-helper"}
    }));
    deploy_private(&t, config.path(), Some(bin.path()), &[], &[]).assert_deployed();
    assert_eq!(asked(bin.path(), "bgtest"), [registry()]);
    assert_eq!(t.through_proxy().await.2, "v2");

    // A helper that fails (other than "not found") stops the deploy, naming it and the host.
    let broken = bin.path().join("docker-credential-bgbroken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'error getting credentials: no D-Bus session'\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, says) in [
        ("bgbroken", "no D-Bus session"),
        ("bgabsent", "it is not on PATH"),
    ] {
        let config = docker_config(json!({"credHelpers": {registry(): name}}));
        let r = deploy_private(&t, config.path(), Some(bin.path()), &[], &[]);
        assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains(&format!("docker-credential-{name}"))
                && r.stdout.contains(&registry())
                && r.stdout.contains("credHelpers")
                && r.stdout.contains(says),
            "{}",
            r.stdout
        );
        assert_eq!(t.through_proxy().await.2, "v2");
    }
}

#[tokio::test]
async fn the_creds_store_logs_in_and_a_helper_without_the_login_passes_to_the_next_source() {
    let t = TestApp::new();
    let bin = tempfile::tempdir().unwrap();
    helper(bin.path(), "bgstore", &registry(), &user(), &password());
    let config = docker_config(json!({
        "auths": {registry(): {}},
        "credsStore": "bgstore"
    }));
    deploy_private(&t, config.path(), Some(bin.path()), &[], &[]).assert_deployed();
    assert_eq!(asked(bin.path(), "bgstore"), [registry()]);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v2".into()));

    // The helper the registry names and the store know nothing of it: `auths` logs in.
    helper(bin.path(), "bgelse", "elsewhere.example", "u", "p");
    let config = docker_config(json!({
        "auths": {registry(): {"auth": basic(&user(), &password())}},
        "credHelpers": {registry(): "bgelse"},
        "credsStore": "bgelse"
    }));
    // A changed setting, so this is a real deploy (green), not a no-op.
    deploy_private(
        &t,
        config.path(),
        Some(bin.path()),
        &["--env", "ROUND=2"],
        &[],
    )
    .assert_deployed();
    assert_eq!(asked(bin.path(), "bgelse"), [registry(), registry()]);
    assert_eq!(t.through_proxy().await, (200, "green".into(), "v2".into()));
}

#[tokio::test]
async fn parameter_store_credentials_win_and_a_malformed_parameter_names_itself_only() {
    let t = TestApp::new();
    let moto = support::env("BLUEGREEN_TEST_MOTO_URL");
    let aws: Vec<(&str, String)> = vec![
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ];
    let ssm = support::moto_ssm().await;
    let put = |name: String, value: String| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .overwrite(true)
                .send()
                .await
                .unwrap();
        }
    };
    let good = format!("/{}/registry", t.app);
    put(
        good.clone(),
        json!({registry(): {"username": user(), "password": password()}}).to_string(),
    )
    .await;
    // The Docker config has a wrong password: the parameter must be what logs in.
    let wrong = docker_config(json!({"auths": {registry(): {"auth": basic(&user(), "wrong")}}}));
    let r = deploy_private(
        &t,
        wrong.path(),
        None,
        &["--registry-credentials-from-ssm", &good],
        &aws,
    );
    r.assert_deployed();
    assert_eq!(t.through_proxy().await.2, "v2");

    let broken = format!("/{}/broken", t.app);
    put(
        broken.clone(),
        format!(
            r#"{{"{}": {{"username": "u", "password": "PLANTED-half"#,
            registry()
        ),
    )
    .await;
    let r = deploy_private(
        &t,
        wrong.path(),
        None,
        &[
            "--registry-credentials-from-ssm",
            &broken,
            "--env",
            "ROUND=2",
        ],
        &aws,
    );
    assert_eq!(r.code, Some(1), "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&broken)
            && r.stdout.contains("is not JSON")
            && r.stdout.contains("expected"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("PLANTED"), "{}", r.stdout);
    assert_eq!(t.through_proxy().await.2, "v2");
}
