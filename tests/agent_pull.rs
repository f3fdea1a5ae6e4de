//! The pull policy (`--pull always|missing|never`, the input `pull`) against the real Docker
//! daemon: a local image in no registry deploys with `never`; `missing` does not contact the
//! registry when the image is there (its registry here does not exist); a tag whose pull
//! fails while the image is on the host says how to deploy it anyway.

mod support;

use bluegreen::agent::protocol::{Outcome, PullPolicy};
use std::process::Command;
use support::TestApp;

/// A second name for the test service's `v1`, removed when dropped.
struct LocalTag(String);

impl LocalTag {
    fn of_v1(name: String) -> LocalTag {
        let tagged = Command::new("docker")
            .args(["tag", &support::image("v1"), &name])
            .output()
            .unwrap();
        assert!(
            tagged.status.success(),
            "{}",
            String::from_utf8_lossy(&tagged.stderr)
        );
        LocalTag(name)
    }
}

impl Drop for LocalTag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", &self.0]).output();
    }
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Nothing listens on port 1: any contact with this "registry" fails at once.
fn unreachable_registry_image() -> String {
    format!("127.0.0.1:1/bga-gone:{}", unique())
}

#[tokio::test]
async fn pull_never_deploys_an_image_that_is_in_no_registry_and_refuses_an_absent_one() {
    let t = TestApp::new();
    // No registry in the name: Docker Hub, which this machine cannot reach.
    let local = LocalTag::of_v1(format!("bga-built-here-{}:v1", unique()));
    let mut spec = t.spec("v1");
    spec.image = local.0.clone();
    spec.pull = Some(PullPolicy::Never);
    let r = t.deploy(spec.clone()).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
    let pull = r.events.iter().find(|e| e.step == "pull").unwrap();
    assert!(
        pull.detail.contains("not pulled") && pull.detail.contains("--pull never"),
        "{}",
        pull.detail
    );

    // The pull policy is not part of the version: the same image again is a no-op.
    spec.pull = Some(PullPolicy::Missing);
    let same = t.deploy(spec.clone()).await;
    assert!(same.message.contains("nothing to do"), "{}", same.message);

    let absent = format!("bga-never-built-{}:v1", unique());
    spec.image = absent.clone();
    spec.pull = Some(PullPolicy::Never);
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.message);
    assert!(
        r.message.contains(&absent)
            && r.message.contains("--pull never")
            && r.message.contains("nothing changed"),
        "{}",
        r.message
    );
    assert_eq!(t.through_proxy().await.2, "v1");
}

#[tokio::test]
async fn pull_missing_leaves_the_registry_alone_when_the_image_is_there() {
    let t = TestApp::new();
    let local = LocalTag::of_v1(unreachable_registry_image());
    let mut spec = t.spec("v1");
    spec.image = local.0.clone();
    spec.pull = Some(PullPolicy::Missing);
    let r = t.deploy(spec.clone()).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    assert_eq!(t.through_proxy().await.2, "v1");

    // A tag, no --pull: always. The registry is gone, the image is here: the hint.
    spec.pull = None;
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Failed, "{}", r.message);
    assert!(
        r.message.contains(&format!("cannot pull {}", local.0))
            && r.message
                .contains("use --pull never to deploy the local image"),
        "{}",
        r.message
    );
    assert_eq!(t.through_proxy().await, (200, "blue".into(), "v1".into()));
}

#[tokio::test]
async fn a_missing_image_is_pulled_with_pull_missing() {
    let t = TestApp::new();
    // v1 under a name of its own in the open registry, not on the daemon yet.
    let name = format!(
        "{}-missing-{}",
        support::env("BLUEGREEN_TEST_IMAGE_REPO"),
        unique()
    );
    let tag = LocalTag::of_v1(format!("{name}:v1"));
    let pushed = Command::new("docker")
        .args(["push", "-q", &tag.0])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let removed = Command::new("docker")
        .args(["rmi", &tag.0])
        .output()
        .unwrap();
    assert!(removed.status.success());
    let mut spec = t.spec("v1");
    spec.image = tag.0.clone();
    spec.pull = Some(PullPolicy::Missing);
    let r = t.deploy(spec).await;
    assert_eq!(r.outcome, Outcome::Deployed, "{}", r.message);
    let pull = r.events.iter().find(|e| e.step == "pull").unwrap();
    assert!(
        pull.detail.contains("(pulled; --pull missing)"),
        "{}",
        pull.detail
    );
}

#[test]
fn a_bad_pull_value_is_a_usage_error_naming_the_flag_and_the_choices() {
    let t = TestApp::new();
    let out = t
        .cli()
        .args(t.deploy_args("v1"))
        .args(["--pull", "sometimes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for word in ["--pull", "sometimes", "always", "missing", "never"] {
        assert!(stderr.contains(word), "{word}: {stderr}");
    }
    assert!(t.containers().is_empty(), "nothing was started");
    // The action's input, through `bluegreen run`.
    let ws = tempfile::tempdir().unwrap();
    let out = t
        .cli()
        .current_dir(ws.path())
        .env("INPUT_APP", &t.app)
        .env("INPUT_IMAGE", support::image("v1"))
        .env("INPUT_PUBLIC-PORT", t.port.to_string())
        .env("INPUT_CONTAINER-PORT", "8080")
        .env("INPUT_PULL", "sometimes")
        .arg("run")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("input `pull`")
            && err.contains("sometimes")
            && err.contains("always, missing, never"),
        "{err}"
    );
    assert!(t.containers().is_empty());
}
