//! Least privilege on the host, read from the running processes: the proxy serves as a
//! non-root user with no capability and no-new-privileges, on a read-only root filesystem
//! whose only writable mount is the state directory; the admin socket is reachable only by
//! root and the proxy user; the app container has no-new-privileges.

mod support;

use bluegreen::agent::protocol::Outcome;
use bluegreen::agent::proxy::{NO_NEW_PRIVILEGES, PROXY_UID};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use support::TestApp;

/// `Name:` lines of /proc/PID/status for every process of a container (host pids).
async fn process_status(docker: &bollard::Docker, container: &str) -> Vec<String> {
    let top = docker
        .top_processes(
            container,
            Some(bollard::query_parameters::TopOptions {
                ps_args: "-eo pid".into(),
            }),
        )
        .await
        .unwrap();
    let pids: Vec<String> = top
        .processes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|row| row.into_iter().next())
        .collect();
    assert!(!pids.is_empty(), "{container} runs no process");
    pids.iter()
        .map(|pid| std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap())
        .collect()
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .trim()
}

#[tokio::test]
async fn the_proxy_runs_unprivileged_and_the_socket_is_private() {
    let t = TestApp::new();
    let reply = t.deploy(t.spec("v1")).await;
    assert_eq!(reply.outcome, Outcome::Deployed, "{}", reply.message);
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let proxy = format!("{}-proxy", t.app);

    for status in process_status(&docker, &proxy).await {
        let uids: Vec<&str> = field(&status, "Uid").split_whitespace().collect();
        assert!(
            uids.iter().all(|u| *u == PROXY_UID.to_string()),
            "the proxy runs as {uids:?}, not {PROXY_UID}"
        );
        for caps in ["CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                field(&status, caps),
                "0000000000000000",
                "{caps} of the proxy (public port {} needs none)",
                t.port
            );
        }
        assert_eq!(field(&status, "NoNewPrivs"), "1");
    }

    let inspect = docker.inspect_container(&proxy, None).await.unwrap();
    let host_config = inspect.host_config.unwrap();
    assert_eq!(host_config.readonly_rootfs, Some(true));
    assert_eq!(host_config.cap_drop, Some(vec!["ALL".to_string()]));
    assert!(host_config
        .security_opt
        .unwrap_or_default()
        .contains(&NO_NEW_PRIVILEGES.to_string()));
    let mounts = inspect.mounts.unwrap_or_default();
    let writable: Vec<_> = mounts.iter().filter(|m| m.rw == Some(true)).collect();
    assert_eq!(writable.len(), 1, "{mounts:?}");
    let app_dir = t.state_dir.join("apps").join(&t.app);
    assert_eq!(
        writable[0].source.as_deref().map(std::path::PathBuf::from),
        Some(app_dir.clone())
    );

    let dir = std::fs::metadata(&app_dir).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let socket = std::fs::metadata(app_dir.join("admin.sock")).unwrap();
    assert_eq!(
        socket.permissions().mode() & 0o777,
        0o600,
        "the admin socket's mode"
    );
    assert_eq!(socket.uid(), PROXY_UID, "the admin socket's owner");

    let app = format!("{}-blue", t.app);
    let app_inspect = docker.inspect_container(&app, None).await.unwrap();
    assert!(app_inspect
        .host_config
        .unwrap()
        .security_opt
        .unwrap_or_default()
        .contains(&NO_NEW_PRIVILEGES.to_string()));
    for status in process_status(&docker, &app).await {
        assert_eq!(field(&status, "NoNewPrivs"), "1", "the app container");
    }
}

/// Three free loopback ports below 1024 (`P`, and `P+1`, `P+2` for the colors). The shared
/// allocator hands out high ports only; nothing else on this machine binds these.
fn free_privileged_ports() -> u16 {
    (900..1018)
        .step_by(3)
        .find(|p| (0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()))
        .expect("no three free loopback ports between 900 and 1020")
}

#[tokio::test]
async fn below_port_1024_the_proxy_binds_as_root_then_serves_as_the_proxy_user() {
    let t = TestApp::new();
    let mut spec = t.spec("v1");
    spec.public_port = free_privileged_ports();
    let reply = t.deploy(spec.clone()).await;
    assert_eq!(reply.outcome, Outcome::Deployed, "{}", reply.message);
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let proxy = format!("{}-proxy", t.app);
    for status in process_status(&docker, &proxy).await {
        let uids: Vec<&str> = field(&status, "Uid").split_whitespace().collect();
        assert!(
            uids.iter().all(|u| *u == PROXY_UID.to_string()),
            "after binding {} the proxy runs as {uids:?}",
            spec.public_port
        );
        for caps in ["CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(field(&status, caps), "0000000000000000", "{caps}");
        }
        assert_eq!(field(&status, "NoNewPrivs"), "1");
    }
    let host_config = docker
        .inspect_container(&proxy, None)
        .await
        .unwrap()
        .host_config
        .unwrap();
    let mut added = host_config.cap_add.unwrap_or_default();
    added.sort();
    assert_eq!(added, ["NET_BIND_SERVICE", "SETGID", "SETUID"]);
    let r = bluegreen::agent::http::get(
        "127.0.0.1",
        spec.public_port,
        bluegreen::agent::http::Probe::path("/"),
        std::time::Duration::from_secs(2),
    )
    .await
    .unwrap();
    assert_eq!((r.status, r.header("x-version")), (200, Some("v1")));
    // A second deploy switches through the admin socket the root-started proxy created.
    let mut next = t.spec("v2");
    next.public_port = spec.public_port;
    let reply = t.deploy(next).await;
    assert_eq!(reply.outcome, Outcome::Deployed, "{}", reply.message);
}
