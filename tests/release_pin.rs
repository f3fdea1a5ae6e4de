//! The release pins every action to one agent image by digest (`scripts/pin-release`, run by
//! .github/workflows/release.yml): `runs.image` of the five actions and the agent image the
//! deploying ones pass to every host; a tag is refused and changes nothing.

use std::path::Path;
use std::process::Command;

const FILES: [&str; 5] = [
    "action.yml",
    "rollback/action.yml",
    "promote/action.yml",
    "abort/action.yml",
    "workflows-lint/action.yml",
];

fn copy_actions(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in FILES {
        std::fs::create_dir_all(to.join(f).parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), to.join(f)).unwrap();
    }
}

fn pin(dir: &Path, reference: &str) -> std::process::Output {
    Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pin-release"))
        .arg(reference)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `runs.image` and `runs.env.BLUEGREEN_AGENT_IMAGE` of an action.yml.
fn pins(dir: &Path, file: &str) -> (Option<String>, Option<String>) {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    let runs = &docs[0]["runs"];
    let image = runs["image"].as_str().map(str::to_string);
    let agent = runs
        .as_mapping()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("env")))
        .and_then(|(_, env)| env["BLUEGREEN_AGENT_IMAGE"].as_str().map(str::to_string));
    (image, agent)
}

#[test]
fn the_release_pins_every_action_and_its_agent_image_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    copy_actions(dir.path());
    let pinned = format!("ghcr.io/org/bluegreen-action@sha256:{}", "a1".repeat(32));
    for _ in 0..2 {
        // Twice: a second release replaces the pins rather than adding more.
        let out = pin(dir.path(), &pinned);
        assert!(out.status.success(), "{out:?}");
    }
    for f in FILES {
        let (image, agent) = pins(dir.path(), f);
        assert_eq!(image, Some(format!("docker://{pinned}")), "{f}");
        if f == "workflows-lint/action.yml" {
            assert_eq!(agent, None, "the lint action runs no agent");
        } else {
            assert_eq!(agent.as_deref(), Some(pinned.as_str()), "{f}");
        }
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert_eq!(
            text.matches("BLUEGREEN_AGENT_IMAGE").count(),
            usize::from(!f.starts_with("workflows-lint"))
        );
    }
}

#[test]
fn a_tag_or_a_short_digest_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    copy_actions(dir.path());
    let before: Vec<String> = FILES
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    for bad in [
        "ghcr.io/org/bluegreen-action:1.2.3",
        "ghcr.io/org/bluegreen-action@sha256:abc",
        "ghcr.io/org/bluegreen-action@sha256:ABCDEF",
        "",
    ] {
        let out = pin(dir.path(), bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("never a tag"));
    }
    let after: Vec<String> = FILES
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}
