//! The HAProxy proxy of an app: its config file, the config check, its container, and the
//! runtime API on the admin socket.
//!
//! The app's state directory `<state>/apps/<app>/` is mounted at `/usr/local/etc/haproxy` in the
//! proxy container (the official image's config directory), so the config file, the admin
//! socket and the lock are all in one place that both the agent and HAProxy see. The config is
//! replaced by rename (atomic), which a directory mount propagates and a file mount would not.

use super::protocol::Color;
use super::state::{self, Marker, ProxySlot};
use super::Host;
use anyhow::{bail, Context};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{LogsOptions, RemoveContainerOptions};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// The config directory of the official HAProxy image.
pub const CONFIG_DIR: &str = "/usr/local/etc/haproxy";
/// The frontend users connect to.
pub const FRONTEND: &str = "public";
/// The backend holding both colors.
pub const BACKEND: &str = "app";
/// The proxy container's log: Docker's `local` driver, rotated, so a line per request (the
/// receipt's response times) never fills the host's disk.
pub const LOG_MAX_SIZE: &str = "20m";
pub const LOG_MAX_FILES: &str = "3";
/// The first word of a request's log line.
pub const LOG_PREFIX: &str = "bgreq";

/// The proxy logs requests only while this ACL file, empty on disk, holds `on` in the running
/// proxy: a deploy adds it through the runtime API before its switch and clears it after its
/// receipt ([`request_log`]). A request's log line costs the proxy about a third of its
/// throughput at full speed; between deploys it writes none. A restarted proxy reads the
/// empty file: not logging.
pub const LOG_SWITCH: &str = "log.acl";

/// HAProxy's `log-format` of a request: when its answer ended (ms since the epoch, taken when
/// the line is written, which is the end of the request), its status (-1 without an answer),
/// its active time (ms), the server and the termination state.
pub const LOG_FORMAT: &str = "bgreq %[date(0,ms)] %ST %Ta %s %ts";

/// The response header naming the color that served.
pub const COLOR_HEADER: &str = "x-bluegreen-color";

/// The user HAProxy runs as when the agent is root (the official image's `haproxy` user): not
/// root, not the owner of anything on the host but the app's state directory.
pub const PROXY_UID: u32 = 99;
pub const PROXY_GID: u32 = 99;

/// Docker's security option that keeps a process from gaining privileges (setuid binaries,
/// file capabilities) after it starts.
pub const NO_NEW_PRIVILEGES: &str = "no-new-privileges:true";

/// The uid and gid HAProxy serves as: [`PROXY_UID`] when the agent is root, else the agent's
/// own (a self-hosted runner's user), so the agent can always reach the admin socket.
pub fn proxy_user() -> (u32, u32) {
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        (PROXY_UID, PROXY_GID)
    } else {
        (uid, gid)
    }
}

/// A public port below 1024 needs `NET_BIND_SERVICE` to bind, and with host networking a
/// non-root process cannot hold it (Docker grants no ambient capabilities, and
/// no-new-privileges ignores file capabilities). So then HAProxy starts as root with only
/// `NET_BIND_SERVICE`, `SETUID` and `SETGID`, binds, and switches to [`proxy_user`] itself
/// (`uid`/`gid` in the global section), which clears every capability; in master-worker mode
/// the master would stay root, so it runs as one process (no `-W`).
pub fn binds_privileged_port(layout: &Layout) -> bool {
    layout.public_port < 1024
}

/// The container options that confine the proxy: its user, capabilities, no-new-privileges and
/// a read-only root filesystem, the state directory being its only writable mount.
fn confined(layout: Option<&Layout>) -> (String, HostConfig) {
    let (uid, gid) = proxy_user();
    let privileged_port = layout.is_some_and(binds_privileged_port);
    let user = if privileged_port {
        "0:0".to_string()
    } else {
        format!("{uid}:{gid}")
    };
    let cap_add = privileged_port.then(|| {
        let mut caps: Vec<String> = ["NET_BIND_SERVICE", "SETUID", "SETGID"]
            .map(str::to_string)
            .to_vec();
        // Root without capabilities cannot enter a 0700 directory it does not own: the
        // state directory of an agent that is not root. Cleared by the switch to its uid.
        if uid != PROXY_UID {
            caps.push("DAC_OVERRIDE".to_string());
        }
        caps
    });
    let host_config = HostConfig {
        cap_drop: Some(vec!["ALL".to_string()]),
        cap_add,
        security_opt: Some(vec![NO_NEW_PRIVILEGES.to_string()]),
        readonly_rootfs: Some(true),
        ..Default::default()
    };
    (user, host_config)
}

/// Gives the app's state directory (mode 0700, from `ensure_app_dir`) to the user HAProxy starts
/// as: [`proxy_user`], or root when it binds a port below 1024 (root without capabilities can
/// enter only a directory it owns). HAProxy creates its admin socket there (mode 600), so only
/// that user and root, which the agent runs as, can reach the socket.
fn hand_dir_to_proxy(dir: &std::path::Path, layout: &Layout) -> anyhow::Result<()> {
    let (uid, gid) = match proxy_user() {
        (PROXY_UID, _) if binds_privileged_port(layout) => (0, 0),
        user => user,
    };
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).with_context(|| {
        format!(
            "cannot give {} to the proxy user {uid}:{gid}",
            dir.display()
        )
    })
}

/// The owner of the state directory, as `uid:gid`: the one-off config check runs as it, so it
/// can read the directory whoever the proxy starts as.
fn owner_of(dir: &std::path::Path) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
    Ok(format!("{}:{}", meta.uid(), meta.gid()))
}

/// Where the proxy listens and where the colors are.
#[derive(Debug, Clone)]
pub struct Layout {
    pub public_address: String,
    pub public_port: u16,
    /// Extra lines for the backend section (`--proxy-line`), checked like the rest.
    pub extra_lines: Vec<String>,
}

/// The loopback port of each color's container, as its labels say: each container gets a
/// free port of its own when it is created, so a new one never waits for the one it replaces.
/// `None` for a color without a container: its server line keeps port 0 and stays disabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub blue: Option<u16>,
    pub green: Option<u16>,
}

impl Ports {
    /// The ports of the pair's two colors.
    pub fn of(pair: &state::Pair) -> Ports {
        Ports {
            blue: pair.blue.as_ref().map(|s| s.port),
            green: pair.green.as_ref().map(|s| s.port),
        }
    }

    pub fn get(&self, color: Color) -> Option<u16> {
        match color {
            Color::Blue => self.blue,
            Color::Green => self.green,
        }
    }

    /// The same, with `color` on `port`.
    pub fn with(mut self, color: Color, port: u16) -> Ports {
        match color {
            Color::Blue => self.blue = Some(port),
            Color::Green => self.green = Some(port),
        }
        self
    }
}

/// A server's full weight: all the requests when it is the only one enabled. A canary shares
/// [`FULL_WEIGHT`] between the two colors, so a weight reads as a percentage.
pub const FULL_WEIGHT: u8 = 100;

/// A color's server line: its container's address, its weight, `disabled` unless it is live.
pub fn server_line(color: Color, port: Option<u16>, live: Color) -> String {
    let disabled = if color == live { "" } else { " disabled" };
    format!(
        "  server {color} 127.0.0.1:{} weight {FULL_WEIGHT}{disabled}",
        port.unwrap_or(0)
    )
}

/// A color's server line during a canary: both colors enabled, `new` at `weight` percent of
/// the requests, the other at the rest.
pub fn canary_line(color: Color, port: Option<u16>, new: Color, weight: u8) -> String {
    let w = if color == new {
        weight
    } else {
        FULL_WEIGHT.saturating_sub(weight)
    };
    format!(
        "  server {color} 127.0.0.1:{} weight {w}",
        port.unwrap_or(0)
    )
}

/// The config body (everything after the state comment) with `live` enabled.
pub fn render_body(layout: &Layout, live: Color, ports: Ports) -> String {
    let server = |color: Color| format!("{}\n", server_line(color, ports.get(color), live));
    let extra: String = layout
        .extra_lines
        .iter()
        .map(|l| format!("  {l}\n"))
        .collect();
    format!(
        "# Managed by bluegreen: rewritten before every switch; the switch itself goes through\n\
         # the runtime API on admin.sock, so HAProxy never restarts.\n\
         global\n\
         {drop}\
         \x20 stats socket {CONFIG_DIR}/admin.sock mode 600 level admin\n\
         \x20 stats timeout 30s\n\
         \x20 maxconn 4000\n\
         \x20 log stdout format raw local0 info\n\
         defaults\n\
         \x20 mode http\n\
         \x20 log global\n\
         \x20 option dontlognull\n\
         \x20 log-format \"{log_format}\"\n\
         \x20 option redispatch\n\
         \x20 retries 3\n\
         \x20 retry-on conn-failure empty-response response-timeout\n\
         \x20 timeout connect 2s\n\
         \x20 timeout client 60s\n\
         \x20 timeout server 60s\n\
         \x20 timeout http-keep-alive 60s\n\
         frontend {FRONTEND}\n\
         \x20 bind {addr}:{port}\n\
         \x20 http-request set-log-level silent unless {{ str(on) -m str -f {CONFIG_DIR}/{LOG_SWITCH} }}\n\
         \x20 default_backend {BACKEND}\n\
         backend {BACKEND}\n\
         \x20 http-response set-header X-Bluegreen-Color %[srv_name]\n\
         \x20 http-request disable-l7-retry unless METH_GET || METH_OPTIONS\n\
         \x20 http-request disable-l7-retry if {{ req.hdr_cnt(content-length) gt 0 }} || {{ req.hdr_cnt(transfer-encoding) gt 0 }}\n\
         {extra}{blue}{green}",
        drop = if binds_privileged_port(layout) {
            let (uid, gid) = proxy_user();
            format!("  uid {uid}\n  gid {gid}\n")
        } else {
            String::new()
        },
        log_format = LOG_FORMAT,
        addr = layout.public_address,
        port = layout.public_port,
        blue = server(Color::Blue),
        green = server(Color::Green),
    )
}

/// Writes the candidate config next to the live one (`haproxy.cfg.next`) and checks it with
/// `haproxy -c` in the proxy image. Nothing is applied here.
pub async fn stage_and_check(
    host: &Host,
    app: &str,
    proxy_image: &str,
    proxy: Option<&ProxySlot>,
    body: &str,
) -> anyhow::Result<()> {
    let next = host.app_dir(app).join("haproxy.cfg.next");
    std::fs::write(&next, body).with_context(|| format!("cannot write {}", next.display()))?;
    ensure_log_switch(host, app)?;
    let cmd = vec![
        "haproxy".to_string(),
        "-c".to_string(),
        "-q".to_string(),
        "-f".to_string(),
        format!("{CONFIG_DIR}/haproxy.cfg.next"),
    ];
    let (code, output) = match proxy.filter(|p| p.running) {
        Some(p) => exec(host, &p.name, cmd).await?,
        None => run_once(host, app, proxy_image, cmd).await?,
    };
    if code != 0 {
        let _ = std::fs::remove_file(&next);
        bail!(
            "the new proxy config is invalid (haproxy -c exited {code}); it was not applied: {}",
            output.trim()
        );
    }
    Ok(())
}

/// Makes the staged config the live one: the state comment plus the checked body, written to a
/// temporary file and renamed over `haproxy.cfg`.
pub fn commit(host: &Host, app: &str, marker: &Marker, body: &str) -> anyhow::Result<()> {
    let dir = host.app_dir(app);
    let tmp = dir.join("haproxy.cfg.tmp");
    let text = format!("{}\n{body}", marker.to_line());
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    let file = std::fs::File::open(&tmp)?;
    file.sync_all()?;
    std::fs::rename(&tmp, host.config_path(app))
        .with_context(|| format!("cannot replace the proxy config in {}", dir.display()))?;
    let _ = std::fs::remove_file(dir.join("haproxy.cfg.next"));
    Ok(())
}

/// Creates and starts `<app>-proxy` if it is missing, or starts it if it is stopped, then
/// waits until the admin socket answers.
pub async fn ensure_running(
    host: &Host,
    app: &str,
    proxy_image: &str,
    layout: &Layout,
    existing: Option<&ProxySlot>,
) -> anyhow::Result<()> {
    let name = state::proxy_name(app);
    // So the proxy can be created again from the state if its container goes.
    let saved = state::SavedProxy {
        image: proxy_image.to_string(),
        public_address: layout.public_address.clone(),
        public_port: layout.public_port,
    };
    state::save(host, app, "proxy", &saved)?;
    match existing {
        Some(p) if p.running => return Ok(()),
        Some(_) => {}
        None => create(host, app, &name, proxy_image, layout).await?,
    }
    ensure_log_switch(host, app)?;
    let start = host.docker.start_container(&name, None);
    host.command(format!("docker start {name}"), start)
        .await
        .with_context(|| format!("cannot start the proxy container {name}"))?;
    wait_for_socket(host, app, Duration::from_secs(10)).await
}

async fn create(
    host: &Host,
    app: &str,
    name: &str,
    image: &str,
    layout: &Layout,
) -> anyhow::Result<()> {
    let dir = host.app_dir(app);
    let labels = HashMap::from([
        (state::LABEL_APP.to_string(), app.to_string()),
        (state::LABEL_ROLE.to_string(), "proxy".to_string()),
        (
            state::LABEL_PUBLIC_PORT.to_string(),
            layout.public_port.to_string(),
        ),
        (
            state::LABEL_PUBLIC_ADDRESS.to_string(),
            layout.public_address.clone(),
        ),
    ]);
    hand_dir_to_proxy(&dir, layout)?;
    let (user, confinement) = confined(Some(layout));
    let mut cmd = vec!["haproxy".to_string()];
    if !binds_privileged_port(layout) {
        cmd.push("-W".into());
    }
    cmd.extend([
        "-db".into(),
        "-f".into(),
        format!("{CONFIG_DIR}/haproxy.cfg"),
    ]);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        // Never the image's own user: see `confined`.
        user: Some(user),
        labels: Some(labels),
        host_config: Some(HostConfig {
            // Host networking: the proxy reaches the colors on loopback and publishes the
            // public port without a userland proxy in between.
            network_mode: Some("host".into()),
            binds: Some(vec![format!("{}:{CONFIG_DIR}", dir.display())]),
            restart_policy: super::restart_unless_stopped(),
            log_config: Some(HostConfigLogConfig {
                typ: Some("local".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                    ("max-file".to_string(), LOG_MAX_FILES.to_string()),
                ])),
            }),
            ..confinement
        }),
        ..Default::default()
    };
    host.create_named(name, body)
        .await
        .with_context(|| format!("cannot create the proxy container {name} from {image}"))?;
    Ok(())
}

async fn wait_for_socket(host: &Host, app: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match runtime(host, app, "show info").await {
            Ok(_) => return Ok(()),
            Err(_)
                if super::health::not_running(host, &state::proxy_name(app))
                    .await?
                    .is_some() =>
            {
                let logs = host.log_tail(&state::proxy_name(app), 5).await;
                bail!(
                    "the proxy {} exited at start; its last log lines: {}",
                    state::proxy_name(app),
                    logs.join(" | ")
                )
            }
            Err(e) if started.elapsed() > timeout => {
                let logs = host.log_tail(&state::proxy_name(app), 10).await;
                bail!(
                    "the proxy did not open its admin socket within {} s ({e:#}); its last log lines: {}",
                    timeout.as_secs(),
                    logs.join(" | ")
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// Sends one line of runtime API commands and returns the answer. HAProxy answers nothing
/// to a successful `set server`, so any text back from one is an error. Reads (`show ...`,
/// `get ...`) are counted in the command log, one line per kind: the drain and the receipt
/// poll them.
pub async fn runtime(host: &Host, app: &str, command: &str) -> anyhow::Result<String> {
    let ask = ask(host, app, command);
    let line = format!("haproxy> {command}");
    if command.starts_with("show ") || command.starts_with("get ") {
        return host.read(line, ask).await;
    }
    host.command(line, ask).await
}

async fn ask(host: &Host, app: &str, command: &str) -> anyhow::Result<String> {
    let path = host.socket_path(app);
    let mut stream = UnixStream::connect(&path).await.with_context(|| {
        format!(
            "cannot connect to the proxy's admin socket {}",
            path.display()
        )
    })?;
    stream.write_all(format!("{command}\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
        .await
        .context("the proxy's admin socket did not answer within 5 s")??;
    Ok(answer)
}

/// The config names the request log's switch file: it must exist for the proxy to start.
fn ensure_log_switch(host: &Host, app: &str) -> anyhow::Result<()> {
    let path = host.app_dir(app).join(LOG_SWITCH);
    if !path.exists() {
        std::fs::write(&path, "").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Turns the proxy's request log on or off ([`LOG_SWITCH`]). An error when the proxy refuses:
/// one started from an older config has no switch (and logs every request).
pub async fn request_log(host: &Host, app: &str, on: bool) -> anyhow::Result<()> {
    let file = format!("{CONFIG_DIR}/{LOG_SWITCH}");
    let command = if on {
        format!("add acl {file} on")
    } else {
        format!("clear acl {file}")
    };
    let answer = runtime(host, app, &command).await?;
    if !answer.trim().is_empty() {
        bail!("the proxy refused `{command}`: {}", answer.trim());
    }
    Ok(())
}

/// Whether the running proxy logs requests now (`show acl` of [`LOG_SWITCH`] lists `on`).
/// `false` when it cannot tell: a proxy started from an older config has no switch.
pub async fn request_log_is_on(host: &Host, app: &str) -> bool {
    let listed = runtime(host, app, &format!("show acl {CONFIG_DIR}/{LOG_SWITCH}")).await;
    listed.is_ok_and(|answer| {
        answer
            .lines()
            .any(|l| l.split_whitespace().last() == Some("on"))
    })
}

/// Routes new requests to `live`, the container on loopback `port`, and lets the other color
/// drain (or, with [`Other::Maint`], takes it out): one runtime API line, so the changes land
/// together. No process restarts; keep-alive connections stay open.
pub async fn route_to(
    host: &Host,
    app: &str,
    live: Color,
    port: u16,
    other: Other,
) -> anyhow::Result<()> {
    let old = live.other();
    let answer = runtime(
        host,
        app,
        &format!(
            "set server {BACKEND}/{live} addr 127.0.0.1 port {port}; \
             set weight {BACKEND}/{live} {FULL_WEIGHT}; \
             set server {BACKEND}/{live} state ready; \
             set server {BACKEND}/{old} state {}",
            other.as_str()
        ),
    )
    .await?;
    accepted(&answer).with_context(|| format!("the proxy refused the switch to {live}"))
}

/// The answer of a runtime line that changes servers: nothing but the notes `set server
/// ... addr` gives (what it changed, or that nothing changed); anything else was refused.
fn accepted(answer: &str) -> anyhow::Result<()> {
    let refused: Vec<&str> = answer
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_address_note(l))
        .collect();
    if !refused.is_empty() {
        bail!("{}", refused.join(" | "));
    }
    Ok(())
}

/// HAProxy's answer to a `set server addr` that took effect (or had nothing to change).
fn is_address_note(line: &str) -> bool {
    line.starts_with("IP changed from")
        || line.starts_with("no need to change")
        || line.starts_with("port changed from")
        || line.starts_with("IP changed")
}

/// A canary's share: `new` (its container on loopback `port`) gets `weight` percent of the
/// requests, the other color the rest, both ready: one runtime API line. A weight of 0 takes
/// the new version out of the rotation at once (an abort); its requests in flight finish.
pub async fn share(
    host: &Host,
    app: &str,
    new: Color,
    port: u16,
    weight: u8,
) -> anyhow::Result<()> {
    let old = new.other();
    let rest = FULL_WEIGHT.saturating_sub(weight);
    let answer = runtime(
        host,
        app,
        &format!(
            "set server {BACKEND}/{new} addr 127.0.0.1 port {port}; \
             set weight {BACKEND}/{new} {weight}; \
             set weight {BACKEND}/{old} {rest}; \
             set server {BACKEND}/{new} state ready; \
             set server {BACKEND}/{old} state ready"
        ),
    )
    .await?;
    accepted(&answer)
        .with_context(|| format!("the proxy refused the weights {new} {weight} / {old} {rest}"))
}

/// What becomes of the color that is not live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    /// No new requests; those in flight finish (a switch).
    Drain,
    /// Out of the backend (recovery, once the config is what serves).
    Maint,
}

impl Other {
    fn as_str(self) -> &'static str {
        match self {
            Other::Drain => "drain",
            Other::Maint => "maint",
        }
    }
}

/// Closes every session the proxy still has on a color's server: what its drain deadline cut.
pub async fn shutdown_sessions(host: &Host, app: &str, color: Color) -> anyhow::Result<()> {
    let answer = runtime(
        host,
        app,
        &format!("shutdown sessions server {BACKEND}/{color}"),
    )
    .await?;
    if !answer.trim().is_empty() {
        bail!(
            "the proxy refused to close the sessions of {color}: {}",
            answer.trim()
        );
    }
    Ok(())
}

/// Takes a drained color out of the backend (what the config's `disabled` says).
pub async fn retire(host: &Host, app: &str, color: Color) -> anyhow::Result<()> {
    let answer = runtime(
        host,
        app,
        &format!("set server {BACKEND}/{color} state maint"),
    )
    .await?;
    if !answer.trim().is_empty() {
        bail!("the proxy refused to retire {color}: {}", answer.trim());
    }
    Ok(())
}

/// Requests in flight on a color's server (`scur` of `show stat`).
pub async fn sessions(host: &Host, app: &str, color: Color) -> anyhow::Result<u64> {
    let csv = runtime(host, app, "show stat -1 4 -1").await?;
    super::stats::server_field(&csv, BACKEND, color.as_str(), "scur")
        .with_context(|| format!("the proxy's stats have no server {BACKEND}/{color}"))
}

/// Runs a command in a running container; returns its exit code and output.
async fn exec(host: &Host, container: &str, cmd: Vec<String>) -> anyhow::Result<(i64, String)> {
    let line = format!("docker exec {container} {}", cmd.join(" "));
    host.command(line, exec_in(host, container, cmd)).await
}

async fn exec_in(host: &Host, container: &str, cmd: Vec<String>) -> anyhow::Result<(i64, String)> {
    let created = host
        .docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot run haproxy -c in {container}"))?;
    let mut output = String::new();
    if let StartExecResults::Attached {
        output: mut stream, ..
    } = host.docker.start_exec(&created.id, None).await?
    {
        while let Some(chunk) = stream.next().await {
            output.push_str(&chunk?.to_string());
        }
    }
    let inspect = host.docker.inspect_exec(&created.id).await?;
    Ok((inspect.exit_code.unwrap_or(-1), output))
}

/// Runs a command in a one-off container of the proxy image (before the proxy exists).
async fn run_once(
    host: &Host,
    app: &str,
    image: &str,
    cmd: Vec<String>,
) -> anyhow::Result<(i64, String)> {
    let name = format!("{}-check", state::proxy_name(app));
    let rm = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    let _ = host.docker.remove_container(&name, Some(rm.clone())).await;
    let dir = host.app_dir(app);
    let (_, confinement) = confined(None);
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        user: Some(owner_of(&dir)?),
        labels: Some(HashMap::from([
            (state::LABEL_APP.to_string(), app.to_string()),
            (state::LABEL_ROLE.to_string(), "check".to_string()),
        ])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            binds: Some(vec![format!("{}:{CONFIG_DIR}", dir.display())]),
            ..confinement
        }),
        ..Default::default()
    };
    host.create_named(&name, body)
        .await
        .with_context(|| format!("cannot create {name} from the proxy image {image}"))?;
    let result = async {
        let start = host.docker.start_container(&name, None);
        host.command(format!("docker start {name}"), start).await?;
        let mut wait = host.docker.wait_container(&name, None);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // A non-zero exit arrives as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(e.into()),
            None => -1,
        };
        let mut logs = host.docker.logs(
            &name,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        );
        let mut output = String::new();
        while let Some(chunk) = logs.next().await {
            output.push_str(&chunk?.to_string());
        }
        anyhow::Ok((code, output))
    }
    .await;
    let _ = host.docker.remove_container(&name, Some(rm)).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_live_color_is_enabled() {
        let layout = Layout {
            public_address: "127.0.0.1".into(),
            public_port: 18100,
            extra_lines: vec!["timeout server 5s".into()],
        };
        let ports = Ports::default().with(Color::Green, 40102);
        let body = render_body(&layout, Color::Green, ports);
        assert!(body.contains("  server green 127.0.0.1:40102 weight 100\n"));
        assert!(body.contains("  server blue 127.0.0.1:0 weight 100 disabled\n"));
        assert!(body.contains("bind 127.0.0.1:18100"));
        assert!(body.contains("  timeout server 5s\n"));
        assert!(
            !body.contains("  uid "),
            "a high port needs no privilege drop"
        );
    }

    #[test]
    fn a_port_below_1024_starts_as_root_and_drops_to_the_proxy_user() {
        let layout = Layout {
            public_address: "0.0.0.0".into(),
            public_port: 80,
            extra_lines: vec![],
        };
        let (uid, gid) = proxy_user();
        assert_ne!(uid, 0);
        let body = render_body(&layout, Color::Blue, Ports::default());
        assert!(
            body.contains(&format!("global\n  uid {uid}\n  gid {gid}\n")),
            "{body}"
        );
        let (user, config) = confined(Some(&layout));
        assert_eq!(user, "0:0");
        assert_eq!(config.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            config.cap_add,
            Some(vec![
                "NET_BIND_SERVICE".into(),
                "SETUID".into(),
                "SETGID".into()
            ])
        );
        let high = Layout {
            public_port: 8080,
            ..layout
        };
        let (user, config) = confined(Some(&high));
        assert_eq!(user, format!("{uid}:{gid}"));
        assert_eq!(config.cap_add, None);
        assert_eq!(config.readonly_rootfs, Some(true));
        assert_eq!(
            config.security_opt,
            Some(vec![NO_NEW_PRIVILEGES.to_string()])
        );
    }
}
