//! Starts the new version in the idle color: `<app>-<color>`, published on a loopback port of
//! its own only (chosen free when it is created, kept in its labels), labelled with everything
//! the state and a later rollback need; and retires the containers a command replaces
//! without waiting for them to stop.

use super::options::{ContainerOptions, Restart};
use super::protocol::{Color, DeploySpec};
use super::state::{self};
use super::Host;
use anyhow::Context;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{RemoveContainerOptions, RenameContainerOptions};
use std::collections::HashMap;

/// How many times a start picks another port when the one it chose was taken in between.
const PORT_ATTEMPTS: u32 = 3;

/// Creates the idle color's container of `spec.image` on a free loopback port and starts it;
/// returns its name and port. The port is free when chosen; should another process take it
/// before Docker binds it, the container is created again on another one.
pub async fn launch(
    host: &Host,
    spec: &DeploySpec,
    color: Color,
    digest: Option<&str>,
    spec_hash: &str,
) -> anyhow::Result<(String, u16)> {
    let mut attempt = 1;
    loop {
        let port = free_loopback_port()?;
        let name = create_color(host, spec, (color, port), digest, spec_hash).await?;
        let start = host.docker.start_container(&name, None);
        match host.command(format!("docker start {name}"), start).await {
            Err(e) if port_taken(&e) && attempt < PORT_ATTEMPTS => attempt += 1,
            result => {
                return result
                    .map(|()| (name.clone(), port))
                    .with_context(|| format!("cannot start {name} on 127.0.0.1:{port}"))
            }
        }
    }
}

/// A loopback port no socket holds now, chosen by the kernel (from its ephemeral range).
fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .context("cannot find a free loopback port for the new container")?;
    Ok(listener.local_addr()?.port())
}

/// Replaces whatever holds the idle color with a fresh container of `spec.image` on `port`
/// (created, not started yet); returns its name.
async fn create_color(
    host: &Host,
    spec: &DeploySpec,
    (color, port): (Color, u16),
    digest: Option<&str>,
    spec_hash: &str,
) -> anyhow::Result<String> {
    let name = state::color_name(&spec.app, color);
    // Normally gone already (set aside); a leftover of an interrupted run is replaced.
    remove(host, &name).await?;
    let labels = HashMap::from([
        (state::LABEL_APP, spec.app.clone()),
        (state::LABEL_ROLE, "color".to_string()),
        (state::LABEL_COLOR, color.to_string()),
        (state::LABEL_IMAGE, spec.image.clone()),
        (state::LABEL_DIGEST, digest.unwrap_or_default().to_string()),
        (state::LABEL_DEPLOY_ID, spec.deploy_id.clone()),
        (state::LABEL_CREATED_AT, chrono::Utc::now().to_rfc3339()),
        (state::LABEL_PORT, port.to_string()),
        (state::LABEL_CONTAINER_PORT, spec.container_port.to_string()),
        (state::LABEL_HEALTH_PATH, spec.health_path.clone()),
        (
            state::LABEL_HEALTH_HOST,
            spec.health_host.clone().unwrap_or_default(),
        ),
        (
            state::LABEL_HEALTH_TIMEOUT_MS,
            spec.health_timeout_ms.to_string(),
        ),
        (state::LABEL_KEEP_WARM_MS, spec.keep_warm_ms.to_string()),
        (state::LABEL_DRAIN_MS, spec.drain_ms.to_string()),
        (state::LABEL_SPEC_HASH, spec_hash.to_string()),
    ])
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let container_port = format!("{}/tcp", spec.container_port);
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.container.command.clone(),
        user: spec.container.user.clone(),
        env: Some(docker_env(&spec.env)),
        labels: Some(with_app_labels(labels, &spec.container)),
        exposed_ports: Some(vec![container_port.clone()]),
        // Docker's own stop (`docker stop`, a retire, a host shutdown) waits this long after
        // the image's stop signal before SIGKILL.
        stop_timeout: Some(stop_timeout_secs(spec.stop_timeout_ms)),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(
                container_port,
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port.to_string()),
                }]),
            )])),
            restart_policy: restart_policy(&spec.container),
            ..container_host_config(&spec.container)
        }),
        ..Default::default()
    };
    host.create_named(&name, body)
        .await
        .with_context(|| format!("cannot create {name} from {}", spec.image))?;
    // So the color can be created again from the state if its container goes.
    let saved = state::SavedColor {
        spec: spec.clone(),
        digest: digest.map(str::to_string),
        spec_hash: spec_hash.to_string(),
    };
    state::save(host, &spec.app, color.as_str(), &saved)?;
    Ok(name)
}

/// Where a one-shot container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The app's network (`--network`, else Docker's default): the release command reaches
    /// what the app reaches, a database container among them.
    AppNetwork,
    /// The host's network: the pre-switch command reaches the idle color on its loopback
    /// port, the way the proxy does, whatever the bridge allows between containers.
    HostLoopback,
}

/// Creates and starts `<app>-<role>` (`release`, `pre-switch`): one command in the new image,
/// with the app's environment and container options, no port and no restarts. Its role is
/// not a color's, so a leftover is a stray the next command's recovery removes. Returns its
/// name.
pub async fn create_oneshot(
    host: &Host,
    spec: &DeploySpec,
    role: &str,
    command: &[String],
    env: &[super::protocol::EnvVar],
    reach: Reach,
) -> anyhow::Result<String> {
    let name = format!("{}-{role}", spec.app);
    remove(host, &name).await?;
    let labels = HashMap::from([
        (state::LABEL_APP.to_string(), spec.app.clone()),
        (state::LABEL_ROLE.to_string(), role.to_string()),
        (state::LABEL_DEPLOY_ID.to_string(), spec.deploy_id.clone()),
    ]);
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(command.to_vec()),
        user: spec.container.user.clone(),
        env: Some(docker_env(env)),
        labels: Some(with_app_labels(labels, &spec.container)),
        host_config: Some(match reach {
            Reach::AppNetwork => container_host_config(&spec.container),
            Reach::HostLoopback => HostConfig {
                network_mode: Some("host".into()),
                ..container_host_config(&spec.container)
            },
        }),
        ..Default::default()
    };
    host.create_named(&name, body)
        .await
        .with_context(|| format!("cannot create {name} from {}", spec.image))?;
    let start = host.docker.start_container(&name, None);
    host.command(format!("docker start {name}"), start)
        .await
        .with_context(|| format!("cannot start {name}"))?;
    Ok(name)
}

/// Waits for a one-shot container to end: its exit code, or why there is none (killed at
/// `timeout`, gone).
pub async fn wait_exit(
    host: &Host,
    name: &str,
    timeout: std::time::Duration,
) -> Result<i64, String> {
    use futures_util::StreamExt;
    let options = bollard::query_parameters::WaitContainerOptions::default();
    let mut waited = host.docker.wait_container(name, Some(options));
    match tokio::time::timeout(timeout, waited.next()).await {
        Ok(Some(Ok(status))) => Ok(status.status_code),
        // Docker reports a non-zero exit as an error carrying the code.
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => Ok(code),
        Ok(Some(Err(e))) => Err(format!("waiting for it failed: {e}")),
        Ok(None) => Err("it ended without an exit code".into()),
        Err(_) => Err(format!(
            "still running after its timeout ({} s): killed",
            timeout.as_secs()
        )),
    }
}

/// `NAME=VALUE` per variable, as Docker takes a container's environment.
fn docker_env(env: &[super::protocol::EnvVar]) -> Vec<String> {
    env.iter()
        .map(|v| format!("{}={}", v.name, v.value))
        .collect()
}

/// The app's own labels beside the engine's (which no app label may take: see
/// [`options::parse_label`]).
fn with_app_labels(
    mut labels: HashMap<String, String>,
    options: &ContainerOptions,
) -> HashMap<String, String> {
    for (k, v) in &options.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    labels
}

/// `--restart no` turns Docker's restarts off; otherwise the colors survive a daemon or host
/// restart.
fn restart_policy(options: &ContainerOptions) -> Option<RestartPolicy> {
    match options.restart {
        Some(Restart::No) => Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        Some(Restart::UnlessStopped) | None => super::restart_unless_stopped(),
    }
}

/// Volumes, limits, network, extra hosts and the log driver, as Docker's host config, and no
/// setuid binary or file capability in the app's image can raise its privileges.
fn container_host_config(options: &ContainerOptions) -> HostConfig {
    let some_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
    HostConfig {
        security_opt: Some(vec![super::proxy::NO_NEW_PRIVILEGES.to_string()]),
        binds: some_vec(options.volumes.iter().map(ToString::to_string).collect()),
        memory: options.memory_bytes,
        nano_cpus: options.nano_cpus,
        network_mode: options.network.clone(),
        extra_hosts: some_vec(options.add_hosts.clone()),
        log_config: options
            .log_driver
            .as_ref()
            .map(|driver| HostConfigLogConfig {
                typ: Some(driver.clone()),
                config: Some(options.log_opts.clone().into_iter().collect()),
            }),
        ..Default::default()
    }
}

/// Docker's `StopTimeout` (whole seconds, rounded up) of a `--stop-timeout` in milliseconds.
fn stop_timeout_secs(ms: u64) -> i64 {
    i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX)
}

/// Docker's answer when a published port is held by another socket.
fn port_taken(e: &bollard::errors::Error) -> bool {
    let text = e.to_string();
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// Moves the idle color's container (the rollback target) out of the way so the new version
/// can take its name, without losing it or stopping it (the new one gets a port of its own):
/// it is renamed `<app>-<color>-prior`. The deploy retires it once the new version is proven,
/// or puts it back if the new version fails. Returns whether it was running (warm).
pub async fn set_aside(
    host: &Host,
    app: &str,
    idle: Option<&state::Slot>,
) -> anyhow::Result<Option<bool>> {
    let Some(idle) = idle else {
        return Ok(None);
    };
    let aside = state::aside_name(app, idle.color);
    let rename = host.docker.rename_container(
        &idle.name,
        RenameContainerOptions {
            name: aside.clone(),
        },
    );
    host.command(format!("docker rename {} {aside}", idle.name), rename)
        .await
        .with_context(|| format!("cannot rename {} to {aside}", idle.name))?;
    Ok(Some(idle.running))
}

/// How long a retire waits for Docker's answer to its stop: long enough for the request to
/// reach the daemon on its local socket, which then goes on without us (it sends the stop
/// signal and kills the container at its stop timeout whether or not the caller still waits:
/// Docker Engine 20.10, measured here). A later deploy or recover asks again for a container still
/// running, should a request have been lost with a killed agent.
const RETIRE_HANDOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// Takes a container the proxy no longer routes new requests to out of the way without
/// waiting for it to stop: renamed [`state::retired_name`] (its name is free for the next
/// container at once), then, with `stop_now`, stopped by Docker: its stop signal, its stop
/// timeout, SIGKILL. Without (its color still drains), a later deploy or recover stops it once
/// drained, and removes it once stopped ([`tidy_retired`]).
pub async fn retire(
    host: &Host,
    app: &str,
    name: &str,
    color: Color,
    stop_now: bool,
) -> anyhow::Result<String> {
    let retired = state::retired_name(app, color);
    let rename = host.docker.rename_container(
        name,
        RenameContainerOptions {
            name: retired.clone(),
        },
    );
    host.command(format!("docker rename {name} {retired}"), rename)
        .await
        .with_context(|| format!("cannot rename {name} to {retired}"))?;
    if stop_now {
        stop_in_background(host, &retired).await;
    }
    Ok(retired)
}

/// `docker stop NAME` with the container's own stop timeout, waited for at most
/// [`RETIRE_HANDOFF`]: a container still stopping then is left to Docker. A removed-meanwhile
/// or already-stopped container is done.
pub async fn stop_in_background(host: &Host, name: &str) {
    use bollard::query_parameters::StopContainerOptions;
    let stop = host
        .docker
        .stop_container(name, None::<StopContainerOptions>);
    let handed_off = async {
        match tokio::time::timeout(RETIRE_HANDOFF, unless_status(stop, 304)).await {
            Ok(result) => result,
            // Docker received it and goes on stopping the container on its own.
            Err(_) => Ok(()),
        }
    };
    let _ = host
        .command(format!("docker stop {name} (not waited for)"), handed_off)
        .await;
}

/// Removes the retired containers that have stopped; asks Docker to stop those still running
/// whose color is drained (retired while it drained, or a stop request lost with a killed
/// agent). `live` is the state's live color and its other color's drain deadline. Returns
/// what it did, a phrase each.
pub async fn tidy_retired(
    host: &Host,
    app: &str,
    retired: &[state::Retired],
    live: Option<(Color, Option<chrono::DateTime<chrono::Utc>>)>,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for r in retired {
        if !r.running {
            remove(host, &r.name).await?;
            done.push(format!("removed {} (stopped)", r.name));
            continue;
        }
        let until = live
            .filter(|(l, _)| *l != r.color)
            .and_then(|(_, until)| until);
        if !super::drain::in_progress(host, app, r.color, until).await {
            stop_in_background(host, &r.name).await;
        }
    }
    Ok(done)
}

/// A Docker call whose answer `status` means there was nothing to do (already stopped,
/// already gone): done, and logged as done.
async fn unless_status(
    call: impl std::future::Future<Output = Result<(), bollard::errors::Error>>,
    status: u16,
) -> Result<(), bollard::errors::Error> {
    match call.await {
        Err(bollard::errors::Error::DockerResponseServerError { status_code, .. })
            if status_code == status =>
        {
            Ok(())
        }
        result => result,
    }
}

/// Puts a set-aside container back as the idle color (started again if it was warm).
pub async fn restore(
    host: &Host,
    app: &str,
    color: Color,
    was_running: bool,
) -> anyhow::Result<()> {
    let (name, aside) = (state::color_name(app, color), state::aside_name(app, color));
    let rename = host
        .docker
        .rename_container(&aside, RenameContainerOptions { name: name.clone() });
    host.command(format!("docker rename {aside} {name}"), rename)
        .await
        .with_context(|| format!("cannot rename {aside} back to {name}"))?;
    if was_running {
        restart_color(host, &name).await?;
    }
    Ok(())
}

/// Starts an existing stopped color again (rollback to a stopped prior). One that runs
/// already (a prior whose kill failed) is left as it is.
pub async fn restart_color(host: &Host, name: &str) -> anyhow::Result<()> {
    let start = unless_status(host.docker.start_container(name, None), 304);
    host.command(format!("docker start {name}"), start)
        .await
        .with_context(|| format!("cannot start {name}"))
}

/// Stops a container and waits for it: its stop signal, its own stop timeout, SIGKILL.
pub async fn stop(host: &Host, name: &str) -> anyhow::Result<()> {
    use bollard::query_parameters::StopContainerOptions;
    let stop = unless_status(
        host.docker
            .stop_container(name, None::<StopContainerOptions>),
        304,
    );
    host.command(format!("docker stop {name}"), stop)
        .await
        .with_context(|| format!("cannot stop {name}"))
}

/// Restarts a running container that does not answer (a rollback's cold path).
pub async fn stop_and_restart(host: &Host, name: &str) -> anyhow::Result<()> {
    use bollard::query_parameters::StopContainerOptions;
    let stop = unless_status(
        host.docker
            .stop_container(name, None::<StopContainerOptions>),
        304,
    );
    host.command(format!("docker stop {name}"), stop)
        .await
        .with_context(|| format!("cannot stop {name}"))?;
    restart_color(host, name).await
}

/// Removes a container if it exists.
pub async fn remove(host: &Host, name: &str) -> anyhow::Result<()> {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    let removed = unless_status(host.docker.remove_container(name, Some(options)), 404);
    host.command(format!("docker rm -f {name}"), removed)
        .await
        .with_context(|| format!("cannot remove {name}"))
}
