//! What runs on the host, read back from Docker and the proxy config: never stored twice.
//!
//! Each container carries labels (app, role, color, image, digest, deploy id, created-at, and
//! the settings a rollback needs to start it again). Which color is live, since when, which
//! deploy is the rollback target and until when it stays warm is the state comment at the top
//! of the proxy config (the file HAProxy itself loads), so a proxy restart and the agent agree.

use super::protocol::{AppState, Color, ColorState, Health};
use super::{http, Host};
use anyhow::Context;
use bollard::query_parameters::ListContainersOptions;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub const LABEL_APP: &str = "bluegreen.app";
pub const LABEL_ROLE: &str = "bluegreen.role";
pub const LABEL_COLOR: &str = "bluegreen.color";
pub const LABEL_IMAGE: &str = "bluegreen.image";
pub const LABEL_DIGEST: &str = "bluegreen.digest";
pub const LABEL_DEPLOY_ID: &str = "bluegreen.deploy-id";
pub const LABEL_CREATED_AT: &str = "bluegreen.created-at";
pub const LABEL_PORT: &str = "bluegreen.port";
pub const LABEL_CONTAINER_PORT: &str = "bluegreen.container-port";
pub const LABEL_HEALTH_PATH: &str = "bluegreen.health-path";
/// The `Host` header of the color's health probes (absent: the address probed).
pub const LABEL_HEALTH_HOST: &str = "bluegreen.health-host";
pub const LABEL_HEALTH_TIMEOUT_MS: &str = "bluegreen.health-timeout-ms";
pub const LABEL_KEEP_WARM_MS: &str = "bluegreen.keep-warm-ms";
/// How long the color's requests in flight may take to finish once it stops getting new
/// ones (its deploy's `--drain`): a rollback away from it gives it that long.
pub const LABEL_DRAIN_MS: &str = "bluegreen.drain-ms";
pub const LABEL_PUBLIC_PORT: &str = "bluegreen.public-port";
pub const LABEL_PUBLIC_ADDRESS: &str = "bluegreen.public-address";
/// The salted hash of the color's whole effective spec (`spec_hash.rs`).
pub const LABEL_SPEC_HASH: &str = "bluegreen.spec-hash";

/// The first line of the proxy config: `# bluegreen-state: {json}`.
pub const MARKER_PREFIX: &str = "# bluegreen-state: ";

/// The state comment of the proxy config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub live: Color,
    pub since: DateTime<Utc>,
    /// Deploy id of the prior version kept for rollback; only that container is a target
    /// (an idle container from an interrupted deploy never is).
    pub prior_deploy: Option<String>,
    /// Until when the prior runs warm; after that the next agent run stops it.
    pub warm_until: Option<DateTime<Utc>>,
    /// Deploy id of the live color's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_deploy: Option<String>,
    /// False from the switch until the switch was verified (through the proxy, then the
    /// verify window): an unverified state is reverted to `previous` by the next deploy,
    /// rollback or `bluegreen recover`. Configs written before this field are verified.
    #[serde(default = "verified_default")]
    pub verified: bool,
    /// The verified state before an unverified switch: what a revert restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<Marker>>,
    /// What made the unverified switch, for messages: `deploy of IMAGE`, `rollback to IMAGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// Versions a rollback left: never a rollback target again (the latest last, bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// Until when the color that is not live may finish the requests it had at the switch
    /// that left it (counted from that switch). Its container is stopped, removed or
    /// replaced, and its server in the proxy given to another container, only once the proxy
    /// counts no request on it or this time has passed: whatever command comes next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_until: Option<DateTime<Utc>>,
}

fn verified_default() -> bool {
    true
}

/// A version a rollback switched away from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub deploy_id: String,
    pub image: String,
    pub at: DateTime<Utc>,
    /// The deploy id the rollback went back to.
    #[serde(default)]
    pub back_to: Option<String>,
}

/// How many rejected versions the state remembers.
pub const REJECTED_KEPT: usize = 10;

impl Marker {
    pub fn parse(config: &str) -> Option<Marker> {
        let line = config.lines().next()?.strip_prefix(MARKER_PREFIX)?;
        serde_json::from_str(line).ok()
    }

    /// The verified state this unverified one replaces, as it should be written back.
    pub fn revert_to(&self) -> Option<Marker> {
        self.previous.as_deref().cloned().map(|mut m| {
            m.previous = None;
            m.pending = None;
            m.verified = true;
            m
        })
    }

    /// This unverified state, confirmed: final from now on.
    pub fn confirmed(&self) -> Marker {
        let mut m = self.clone();
        m.verified = true;
        m.previous = None;
        m.pending = None;
        m
    }

    pub fn is_rejected(&self, deploy_id: Option<&str>) -> bool {
        deploy_id.is_some_and(|id| self.rejected.iter().any(|r| r.deploy_id == id))
    }

    pub fn to_line(&self) -> String {
        // Serializing plain strings and dates cannot fail.
        format!(
            "{MARKER_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }
}

/// One color's container.
#[derive(Debug, Clone)]
pub struct Slot {
    pub color: Color,
    pub name: String,
    pub image: String,
    pub digest: Option<String>,
    pub deploy_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub running: bool,
    pub port: u16,
    pub container_port: u16,
    pub health_path: String,
    pub health_host: Option<String>,
    pub health_timeout: Duration,
    pub keep_warm: Duration,
    /// Its deploy's `--drain` ([`LABEL_DRAIN_MS`]; the default for containers created
    /// before the label).
    pub drain: Duration,
    pub spec_hash: Option<String>,
}

impl Slot {
    /// This color's health probe, as its deploy set it.
    pub fn health_probe(&self) -> http::Probe<'_> {
        http::Probe {
            path: &self.health_path,
            host: self.health_host.as_deref(),
        }
    }
}

/// The proxy container.
#[derive(Debug, Clone)]
pub struct ProxySlot {
    pub name: String,
    pub running: bool,
    pub image: String,
    pub public_port: u16,
    pub public_address: String,
}

/// Everything of one app on this host.
#[derive(Debug, Clone)]
pub struct Pair {
    pub app: String,
    pub blue: Option<Slot>,
    pub green: Option<Slot>,
    pub proxy: Option<ProxySlot>,
    pub marker: Option<Marker>,
    /// Containers labelled for the app that are neither a color nor the proxy (leftovers).
    pub strays: Vec<String>,
    /// Prior versions set aside by a deploy in progress (`<app>-<color>-prior`).
    pub aside: Vec<Aside>,
    /// Containers a command replaced and asked Docker to stop ([`retired_name`]): stopping
    /// (inside their stop timeout) or stopped, removed by a later deploy or recover.
    pub retired: Vec<Retired>,
}

/// A container on its way out: renamed `<app>-retired-...`, sent its stop signal, killed by
/// Docker at its stop timeout.
#[derive(Debug, Clone)]
pub struct Retired {
    pub name: String,
    /// The color it had: its requests in flight are that server's.
    pub color: Color,
    pub running: bool,
}

/// A color's previous container, moved out of the way while a new version proves itself.
#[derive(Debug, Clone)]
pub struct Aside {
    pub name: String,
    pub color: Color,
    pub deploy_id: Option<String>,
}

impl Pair {
    pub fn slot(&self, color: Color) -> Option<&Slot> {
        match color {
            Color::Blue => self.blue.as_ref(),
            Color::Green => self.green.as_ref(),
        }
    }

    pub fn live(&self) -> Option<&Slot> {
        self.slot(self.marker.as_ref()?.live)
    }

    /// The color a deploy starts the new version in.
    pub fn idle_color(&self) -> Color {
        self.marker.as_ref().map_or(Color::Blue, |m| m.live.other())
    }

    /// The prior version a rollback goes back to: the idle color's container, only if the
    /// proxy config names its deploy as the prior one.
    pub fn rollback_target(&self) -> Option<&Slot> {
        let marker = self.marker.as_ref()?;
        let prior = marker.prior_deploy.as_deref()?;
        self.slot(marker.live.other())
            .filter(|s| s.deploy_id.as_deref() == Some(prior))
            .filter(|s| !marker.is_rejected(s.deploy_id.as_deref()))
    }

    /// True when the live color's switch was verified (or nothing is live yet).
    pub fn verified(&self) -> bool {
        self.marker.as_ref().is_none_or(|m| m.verified)
    }

    /// An idle container that is not the rollback target: left by an interrupted deploy.
    pub fn unproven_idle(&self) -> Option<&Slot> {
        let idle = self.slot(self.idle_color())?;
        match self.rollback_target() {
            Some(target) if target.name == idle.name => None,
            _ => Some(idle),
        }
    }

    /// The report's view, probing the health of each running color.
    pub async fn to_app_state(&self) -> AppState {
        self.app_state(true).await
    }

    /// The report's view without probes (running colors' health is `unknown`): for the warm
    /// rollback, whose command time must not depend on how busy the app is.
    pub async fn to_app_state_unprobed(&self) -> AppState {
        self.app_state(false).await
    }

    async fn app_state(&self, probe: bool) -> AppState {
        let marker = self.marker.as_ref();
        let live = match self.live() {
            Some(slot) => {
                let mut state = color_state(slot, probe).await;
                state.since = marker.map(|m| m.since);
                Some(state)
            }
            None => None,
        };
        let rollback_target = match self.rollback_target() {
            Some(slot) => {
                let mut state = color_state(slot, probe).await;
                state.warm_until = marker.and_then(|m| m.warm_until).filter(|_| slot.running);
                Some(state)
            }
            None => None,
        };
        AppState {
            app: self.app.clone(),
            public_port: self.proxy.as_ref().map(|p| p.public_port),
            live,
            rollback_target,
            verified: self.verified(),
            pending: marker
                .filter(|m| !m.verified)
                .and_then(|m| m.pending.clone()),
        }
    }
}

async fn color_state(slot: &Slot, probe: bool) -> ColorState {
    let health = if !slot.running {
        Health::Stopped
    } else if !probe {
        Health::Unknown
    } else {
        match http::get(
            "127.0.0.1",
            slot.port,
            slot.health_probe(),
            Duration::from_secs(1),
        )
        .await
        {
            Ok(r) if r.is_success() => Health::Healthy,
            _ => Health::Unhealthy,
        }
    };
    ColorState {
        color: slot.color,
        image: slot.image.clone(),
        digest: slot.digest.clone(),
        deploy_id: slot.deploy_id.clone(),
        since: slot.created_at,
        running: slot.running,
        health,
        warm_until: None,
    }
}

/// Reads one app's containers and proxy config.
pub async fn read(host: &Host, app: &str) -> anyhow::Result<Pair> {
    let mut all = read_all(host, Some(app)).await?;
    Ok(all.remove(app).unwrap_or_else(|| empty_pair(app)))
}

fn empty_pair(app: &str) -> Pair {
    Pair {
        app: app.to_string(),
        blue: None,
        green: None,
        proxy: None,
        marker: None,
        strays: vec![],
        aside: vec![],
        retired: vec![],
    }
}

/// Reads every app (or one) managed on this host, by label.
pub async fn read_all(host: &Host, app: Option<&str>) -> anyhow::Result<BTreeMap<String, Pair>> {
    let filter = match app {
        Some(app) => format!("{LABEL_APP}={app}"),
        None => LABEL_APP.to_string(),
    };
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), vec![filter.clone()])])),
        ..Default::default()
    };
    let read = format!("docker ps -a --filter label={filter}");
    let containers = host
        .read(read, host.docker.list_containers(Some(options)))
        .await
        .context("cannot list containers (is the Docker daemon reachable?)")?;
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let Some(app) = labels.get(LABEL_APP) else {
            continue;
        };
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        let running = c.state.map(|s| s.to_string()) == Some("running".to_string());
        let pair = pairs.entry(app.clone()).or_insert_with(|| empty_pair(app));
        match labels.get(LABEL_ROLE).map(String::as_str) {
            Some("proxy") if name == proxy_name(app) => {
                pair.proxy = Some(ProxySlot {
                    name,
                    running,
                    image: c.image.unwrap_or_default(),
                    public_port: label_num(&labels, LABEL_PUBLIC_PORT).unwrap_or(0),
                    public_address: labels
                        .get(LABEL_PUBLIC_ADDRESS)
                        .cloned()
                        .unwrap_or_else(|| "0.0.0.0".into()),
                })
            }
            Some("color") => match slot_from_labels(app, &name, running, &labels) {
                Some(slot) if slot.color == Color::Blue => pair.blue = Some(slot),
                Some(slot) => pair.green = Some(slot),
                None => match aside_from_labels(app, &name, &labels) {
                    Some(aside) => pair.aside.push(aside),
                    None => match retired_color(app, &name) {
                        Some(color) => pair.retired.push(Retired {
                            name,
                            color,
                            running,
                        }),
                        None => pair.strays.push(name),
                    },
                },
            },
            _ => pair.strays.push(name),
        }
    }
    for pair in pairs.values_mut() {
        pair.marker = read_marker(host, &pair.app)?;
    }
    if let Some(app) = app {
        if !pairs.contains_key(app) {
            let marker = read_marker(host, app)?;
            if marker.is_some() {
                let mut pair = empty_pair(app);
                pair.marker = marker;
                pairs.insert(app.to_string(), pair);
            }
        }
    }
    Ok(pairs)
}

fn read_marker(host: &Host, app: &str) -> anyhow::Result<Option<Marker>> {
    let path = host.config_path(app);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Marker::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn label_num<T: std::str::FromStr>(labels: &HashMap<String, String>, key: &str) -> Option<T> {
    labels.get(key)?.parse().ok()
}

fn slot_from_labels(
    app: &str,
    name: &str,
    running: bool,
    labels: &HashMap<String, String>,
) -> Option<Slot> {
    let color = match labels.get(LABEL_COLOR)?.as_str() {
        "blue" => Color::Blue,
        "green" => Color::Green,
        _ => return None,
    };
    if name != color_name(app, color) {
        return None;
    }
    Some(Slot {
        color,
        name: name.to_string(),
        image: labels.get(LABEL_IMAGE)?.clone(),
        digest: labels.get(LABEL_DIGEST).filter(|d| !d.is_empty()).cloned(),
        deploy_id: labels.get(LABEL_DEPLOY_ID).cloned(),
        created_at: labels
            .get(LABEL_CREATED_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        running,
        port: label_num(labels, LABEL_PORT)?,
        container_port: label_num(labels, LABEL_CONTAINER_PORT)?,
        health_path: labels.get(LABEL_HEALTH_PATH)?.clone(),
        health_host: labels
            .get(LABEL_HEALTH_HOST)
            .filter(|h| !h.is_empty())
            .cloned(),
        health_timeout: Duration::from_millis(
            label_num(labels, LABEL_HEALTH_TIMEOUT_MS).unwrap_or(60_000),
        ),
        keep_warm: Duration::from_millis(label_num(labels, LABEL_KEEP_WARM_MS).unwrap_or(0)),
        drain: label_num(labels, LABEL_DRAIN_MS)
            .map_or(super::step::DEFAULT_DRAIN, Duration::from_millis),
        spec_hash: labels.get(LABEL_SPEC_HASH).cloned(),
    })
}

fn aside_from_labels(app: &str, name: &str, labels: &HashMap<String, String>) -> Option<Aside> {
    let color = [Color::Blue, Color::Green]
        .into_iter()
        .find(|c| name == aside_name(app, *c))?;
    Some(Aside {
        name: name.to_string(),
        color,
        deploy_id: labels.get(LABEL_DEPLOY_ID).cloned(),
    })
}

/// Where a deploy keeps the idle color's previous container until the new one is proven.
pub fn aside_name(app: &str, color: Color) -> String {
    format!("{app}-{color}-prior")
}

pub fn color_name(app: &str, color: Color) -> String {
    format!("{app}-{color}")
}

pub fn proxy_name(app: &str) -> String {
    format!("{app}-proxy")
}

/// The name a replaced container takes while it stops: unique (the time it was retired, in
/// milliseconds), so it never holds a name the next deploy needs.
pub fn retired_name(app: &str, color: Color) -> String {
    format!("{app}-retired-{color}-{}", Utc::now().timestamp_millis())
}

/// The color of a [`retired_name`] of `app`.
fn retired_color(app: &str, name: &str) -> Option<Color> {
    let rest = name.strip_prefix(app)?.strip_prefix("-retired-")?;
    [Color::Blue, Color::Green]
        .into_iter()
        .find(|c| rest.starts_with(&format!("{c}-")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_on_the_first_line() {
        let m = Marker {
            live: Color::Green,
            since: Utc::now(),
            prior_deploy: Some("d1".into()),
            warm_until: None,
            live_deploy: Some("d2".into()),
            verified: false,
            previous: None,
            pending: Some("deploy of x".into()),
            rejected: vec![],
            drain_until: Some(Utc::now()),
        };
        let config = format!("{}\nglobal\n", m.to_line());
        assert_eq!(Marker::parse(&config), Some(m));
        assert_eq!(Marker::parse("global\n"), None);
        // A state comment written before verification existed reads as verified.
        let old = format!("{MARKER_PREFIX}{{\"live\":\"blue\",\"since\":\"2026-01-01T00:00:00Z\",\"prior_deploy\":null,\"warm_until\":null}}\n");
        assert!(Marker::parse(&old).unwrap().verified);
    }
}

/// What recreates a color whose container is gone (`<state>/apps/<app>/<color>.json`, mode
/// 0600 in the 0700 app directory): the spec it was created from, with the environment as
/// resolved on this host (Parameter Store values included, as `docker inspect` shows them to
/// anyone with the Docker socket), its digest and spec hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedColor {
    pub spec: super::protocol::DeploySpec,
    pub digest: Option<String>,
    pub spec_hash: String,
}

/// What recreates the proxy container (`<state>/apps/<app>/proxy.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedProxy {
    pub image: String,
    pub public_address: String,
    pub public_port: u16,
}

fn saved_path(host: &Host, app: &str, what: &str) -> std::path::PathBuf {
    host.app_dir(app).join(format!("{what}.json"))
}

/// Writes a saved spec (temporary file and rename, mode 0600).
pub fn save<T: Serialize>(host: &Host, app: &str, what: &str, value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = saved_path(host, app, what);
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(serde_json::to_string(value)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a saved spec; `None` when there is none (or it is unreadable: then nothing can be
/// recreated from it, and the caller says so).
pub fn load<T: for<'de> Deserialize<'de>>(host: &Host, app: &str, what: &str) -> Option<T> {
    let text = std::fs::read_to_string(saved_path(host, app, what)).ok()?;
    serde_json::from_str(&text).ok()
}
