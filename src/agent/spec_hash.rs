//! A color's version is its whole effective spec, not only its image: the image digest, the
//! environment (with the values read from Parameter Store), the container options and the
//! health and proxy settings. Its hash is a label of the color's container
//! (`bluegreen.spec-hash`), so a redeploy is a no-op only when nothing of it changed.
//!
//! How the image reached the host is not part of it: the pull policy and the registry
//! credentials (`pull`, `registry_credentials_from_ssm`) change where the bytes come from,
//! not what runs, which the image's content identity (its registry digest, or for an image
//! built on the host its image id) already names. A redeploy of the same image with
//! `--pull never` instead of `always` is still a no-op; a rebuilt local tag is not. Nor is how
//! traffic moves to it and what is watched meanwhile (`--strategy`, the canary's settings,
//! `--alarm`): the same version by canary after a blue-green deploy is a no-op.
//!
//! The hash is salted with a random value kept on the host (`<state>/salt`, mode 0600), so
//! the label, readable by anyone who can list containers, reveals nothing about a secret
//! value (no guessing a short password against it).

use super::protocol::{DeploySpec, EnvVar};
use super::Host;
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::io::Write;

/// The salted hash of what a deploy would run.
pub fn of(
    host: &Host,
    spec: &DeploySpec,
    env: &[EnvVar],
    digest: Option<&str>,
) -> anyhow::Result<String> {
    let salt = salt(host)?;
    Ok(compute(&salt, spec, env, digest))
}

/// The hash itself: independent of the order of `env`.
pub fn compute(salt: &str, spec: &DeploySpec, env: &[EnvVar], digest: Option<&str>) -> String {
    let mut vars: Vec<(&str, &str)> = env
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    vars.sort();
    let mut canonical = serde_json::json!({
        "image": digest.unwrap_or(&spec.image),
        "env": vars,
        "container_port": spec.container_port,
        "health_path": spec.health_path,
        "health_timeout_ms": spec.health_timeout_ms,
        "public_port": spec.public_port,
        "public_address": spec.public_address(),
        "proxy_image": spec.proxy_image,
        "proxy_lines": spec.proxy_lines,
    });
    // Added after the first release: only when set, so the hash of a color deployed before
    // stays the same and its redeploy stays a no-op.
    if let Some(host) = &spec.health_host {
        canonical["health_host"] = serde_json::json!(host);
    }
    if let Some(argv) = &spec.pre_switch_command {
        canonical["pre_switch_command"] = serde_json::json!(argv);
    }
    if !spec.pre_switch_checks.is_empty() {
        canonical["pre_switch_checks"] = serde_json::json!(spec.pre_switch_checks);
    }
    if spec.stop_timeout_ms != super::protocol::DEFAULT_STOP_TIMEOUT_MS {
        canonical["stop_timeout_ms"] = serde_json::json!(spec.stop_timeout_ms);
    }
    if !spec.container.is_default() {
        canonical["container"] = serde_json::to_value(&spec.container).unwrap_or_default();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0]);
    h.update(canonical.to_string().as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The host's salt, created on first use.
fn salt(host: &Host) -> anyhow::Result<String> {
    let path = host.config.state_dir.join("salt");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let fresh = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(mut f) => {
            f.write_all(fresh.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(fresh)
        }
        // Another agent created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(std::fs::read_to_string(&path)?.trim().to_string())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DeploySpec {
        serde_json::from_value(serde_json::json!({
            "app": "shop", "image": "shop:2", "public_port": 8080, "container_port": 80,
            "health_path": "/health", "health_timeout_ms": 1, "verify_window_ms": 1,
            "keep_warm_ms": 1, "drain_ms": 1, "proxy_image": "haproxy", "deploy_id": "d1"
        }))
        .unwrap()
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn every_setting_changes_the_hash_and_order_does_not() {
        let base = compute(
            "s",
            &spec(),
            &[var("A", "1"), var("B", "2")],
            Some("sha256:a"),
        );
        assert_eq!(
            base,
            compute(
                "s",
                &spec(),
                &[var("B", "2"), var("A", "1")],
                Some("sha256:a")
            )
        );
        assert_ne!(
            base,
            compute(
                "s",
                &spec(),
                &[var("A", "1"), var("B", "3")],
                Some("sha256:a")
            )
        );
        assert_ne!(
            base,
            compute(
                "s",
                &spec(),
                &[var("A", "1"), var("B", "2")],
                Some("sha256:b")
            )
        );
        // The same secret on another host (another salt) hashes differently.
        assert_ne!(
            base,
            compute(
                "t",
                &spec(),
                &[var("A", "1"), var("B", "2")],
                Some("sha256:a")
            )
        );
        // A request without a canary or alarms (an older CLI's) hashes as it did before
        // they existed: the hash of a color deployed then is unchanged. (The value is
        // sha256 of "s", a NUL and the sorted compact JSON of the nine fields of the first
        // release, computed apart from this code.)
        assert_eq!(
            compute("s", &spec(), &[], None),
            "sha256:3d4513a006208ddf958ef4d350df2f2206735bdaf75676edff7f59e889ae6972",
        );
        let env = [var("A", "1"), var("B", "2")];
        // How traffic moves to a version and what is watched meanwhile are not the version:
        // the same spec by canary after a blue-green deploy is a no-op.
        let mut by_canary = spec();
        by_canary.canary = crate::agent::canary::spec::RawCanary {
            strategy: Some("canary"),
            ..Default::default()
        }
        .parse()
        .unwrap();
        by_canary.alarms = vec!["shop-5xx".into()];
        assert_eq!(
            compute("s", &by_canary, &env, Some("sha256:a")),
            compute("s", &spec(), &env, Some("sha256:a"))
        );
        let tweaks: [fn(&mut DeploySpec); 9] = [
            |s| s.container.memory_bytes = Some(64 << 20),
            |s| s.container.command = Some(vec!["serve".into()]),
            |s| s.container_port = 81,
            |s| s.health_path = "/ready".into(),
            |s| s.health_host = Some("api.example.com".into()),
            |s| s.health_timeout_ms = 2,
            |s| s.proxy_lines = vec!["timeout server 5s".into()],
            |s| s.public_address = Some("127.0.0.1".into()),
            |s| s.proxy_image = "haproxy:3".into(),
        ];
        for tweak in tweaks {
            let mut changed = spec();
            tweak(&mut changed);
            assert_ne!(base, compute("s", &changed, &env, Some("sha256:a")));
        }
    }
}
