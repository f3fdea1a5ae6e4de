//! Checks every user-given value before any Docker call. Nothing user-given reaches a shell
//! (the engine never starts one), but names end up in container names, labels and the proxy
//! config, so each is held to a strict shape and rejected with a [`UsageError`] naming the
//! input, the value and what was expected.

use super::protocol::{AgentRequest, DeploySpec};
use crate::exit::UsageError;
use crate::image::reference::ImageRef;
use std::net::IpAddr;
use std::time::Duration;

/// Longest app name: `<app>-proxy` and the admin socket path must stay short.
pub const MAX_APP_LEN: usize = 40;

/// `--app`: 1-40 lowercase letters, digits and dashes, starting with a letter.
pub fn app_name(app: &str) -> Result<(), UsageError> {
    let ok = !app.is_empty()
        && app.len() <= MAX_APP_LEN
        && app.starts_with(|c: char| c.is_ascii_lowercase())
        && !app.ends_with('-')
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--app {app:?}: expected 1-{MAX_APP_LEN} lowercase letters, digits and dashes, \
             starting with a letter and not ending with a dash"
        )))
    }
}

/// An image reference (see [`ImageRef`]): `[registry[:port]/]path[:tag][@sha256:<64 hex>]`.
pub fn image_ref(flag: &str, image: &str) -> Result<ImageRef, UsageError> {
    ImageRef::parse(image).map_err(|e| UsageError(format!("{flag} {e}")))
}

/// `--health-host`: the `Host` header of the health probes, a host name or address with an
/// optional port (`api.example.com`, `localhost:8000`, `[::1]:8080`).
pub fn health_host(value: &str) -> Result<(), UsageError> {
    let (name, port) = match value.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') && !p.contains(']') => (n, Some(p)),
        _ => (value, None),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if name_ok && port_ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--health-host {value:?}: expected a host name or address with an optional port, \
             such as api.example.com or localhost:8000"
        )))
    }
}

/// `--health-path`: an absolute HTTP path of printable ASCII without spaces.
pub fn health_path(path: &str) -> Result<(), UsageError> {
    let ok =
        path.starts_with('/') && path.len() <= 256 && path.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--health-path {path:?}: expected an absolute path such as /health \
             (printable ASCII, no spaces, at most 256 characters)"
        )))
    }
}

/// `--public-port`: any port but 0 (the colors take free ports of their own, wherever the
/// public one is).
pub fn public_port(port: u16) -> Result<(), UsageError> {
    if port >= 1 {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--public-port {port}: expected a port from 1 to 65535"
        )))
    }
}

pub fn container_port(port: u16) -> Result<(), UsageError> {
    if port == 0 {
        Err(UsageError(
            "--container-port 0: expected the port the app listens on, 1-65535".into(),
        ))
    } else {
        Ok(())
    }
}

/// `--env NAME=...`: a portable environment variable name.
pub fn env_name(name: &str) -> Result<(), UsageError> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--env {name:?}: expected a variable name of letters, digits and '_', not starting with a digit"
        )))
    }
}

pub fn public_address(address: &str) -> Result<IpAddr, UsageError> {
    address.parse().map_err(|_| {
        UsageError(format!(
            "--public-address {address:?}: expected an IP address such as 0.0.0.0 or 127.0.0.1"
        ))
    })
}

/// Keywords that open a section of HAProxy config: a line starting with one would end the
/// backend and start a section of the user's (a `global` with its own `stats socket`).
pub const SECTION_KEYWORDS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "userlist",
    "program",
    "resolvers",
    "cache",
    "mailers",
    "ring",
    "http-errors",
    "log-forward",
    "crt-store",
    "traces",
];

/// The backend-section keywords a `--proxy-line` may start with: tuning of timeouts, retries,
/// balancing, connection reuse, compression and HTTP rules. Nothing here opens a socket, reads
/// a file or reaches the runtime API (`stats` is refused: it can declare an admin page).
pub const PROXY_LINE_KEYWORDS: &[&str] = &[
    "timeout",
    "option",
    "no",
    "http-request",
    "http-response",
    "http-after-response",
    "http-check",
    "balance",
    "hash-type",
    "hash-balance-factor",
    "retries",
    "retry-on",
    "http-reuse",
    "compression",
    "cookie",
    "fullconn",
    "acl",
    "redirect",
    "max-keep-alive-queue",
    "http-send-name-header",
    "description",
];

/// An extra line for the proxy's backend section: one line, starting with a keyword of
/// [`PROXY_LINE_KEYWORDS`] (`no` only as `no option ...`). Refused here, before any change on
/// any host; `haproxy -c` then checks its arguments.
pub fn proxy_line(line: &str) -> Result<(), UsageError> {
    if line.trim().is_empty() || line.len() > 500 || line.chars().any(|c| c.is_control()) {
        return Err(UsageError(format!(
            "--proxy-line {line:?}: expected one non-empty line of HAProxy config (no control characters, at most 500 characters)"
        )));
    }
    let mut words = line.split_whitespace();
    let keyword = words.next().unwrap_or_default();
    if SECTION_KEYWORDS.contains(&keyword) {
        return Err(UsageError(format!(
            "--proxy-line {line:?}: `{keyword}` opens a new section; proxy lines are added to the app's backend section only"
        )));
    }
    if keyword == "stats" {
        return Err(UsageError(format!(
            "--proxy-line {line:?}: `stats` is not allowed (it can expose the proxy's stats or admin interface); the agent manages the admin socket"
        )));
    }
    let allowed = PROXY_LINE_KEYWORDS.contains(&keyword)
        && (keyword != "no" || words.next() == Some("option"));
    if !allowed {
        return Err(UsageError(format!(
            "--proxy-line {line:?}: `{keyword}` is not an allowed backend keyword; expected a line starting with one of: {}",
            PROXY_LINE_KEYWORDS.join(", ")
        )));
    }
    Ok(())
}

/// `--expect-live`: an image reference or a deploy id.
pub fn expect_live_value(value: &str) -> Result<(), UsageError> {
    let deploy_id = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if deploy_id || image_ref("--expect-live", value).is_ok() {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--expect-live {value:?}: expected the live image reference (as deployed) or a deploy id such as 20261201T120000Z-a1b2c3"
        )))
    }
}

/// Every field of a request, before anything touches Docker or AWS.
pub fn request(request: &AgentRequest) -> Result<(), UsageError> {
    match request {
        AgentRequest::Deploy(spec) => deploy_spec(spec),
        AgentRequest::Rollback {
            app, expect_live, ..
        } => {
            app_name(app)?;
            match expect_live {
                Some(x) => expect_live_value(x),
                None => Ok(()),
            }
        }
        AgentRequest::Status { app: Some(app) }
        | AgentRequest::Recover { app }
        | AgentRequest::History { app } => app_name(app),
        AgentRequest::Status { app: None } => Ok(()),
        AgentRequest::Promote(d) | AgentRequest::Abort(d) => canary_decision(d),
        AgentRequest::Release(r) => {
            deploy_spec(&r.deploy)?;
            command_argv("--release-command", &r.command)?;
            at_most("--release-timeout", r.timeout_ms, MAX_WAIT)
        }
    }
}

/// `promote` and `abort`: the app, the deploy id, and who asked (kept in a file on the host).
pub fn canary_decision(d: &super::protocol::CanaryDecisionRequest) -> Result<(), UsageError> {
    app_name(&d.app)?;
    if let Some(id) = &d.deploy_id {
        deploy_id(id)?;
    }
    for (flag, value, max) in [("by", &d.by, 100), ("run_url", &d.run_url, 500)] {
        if let Some(v) = value {
            if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
                return Err(UsageError(format!(
                    "{flag} {v:?}: expected 1-{max} characters without control characters"
                )));
            }
        }
    }
    Ok(())
}

/// `--deploy-id`: a deploy id as `deploy` makes them (`20261201T120000Z-a1b2c3`).
pub fn deploy_id(value: &str) -> Result<(), UsageError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--deploy-id {value:?}: expected a deploy id such as 20261201T120000Z-a1b2c3"
        )))
    }
}

/// A command of a request (`--release-command`, `--pre-switch-command`): argv whose first
/// word is a program, never run through a shell.
pub fn command_argv(flag: &str, argv: &[String]) -> Result<(), UsageError> {
    let json = serde_json::to_string(argv).unwrap_or_default();
    crate::agent::options::parse_command(&json)
        .map(|_| ())
        .map_err(|e| UsageError(format!("{flag} {json:?}: {e}")))
}

/// Every field of a deploy request, before anything touches Docker.
pub fn deploy_spec(spec: &DeploySpec) -> Result<(), UsageError> {
    app_name(&spec.app)?;
    image_ref("--image", &spec.image)?;
    image_ref("--proxy-image", &spec.proxy_image)?;
    public_port(spec.public_port)?;
    container_port(spec.container_port)?;
    health_path(&spec.health_path)?;
    if let Some(h) = &spec.health_host {
        health_host(h)?;
    }
    public_address(spec.public_address())?;
    for var in &spec.env {
        env_name(&var.name)?;
        if var.value.contains('\0') {
            return Err(UsageError(format!(
                "--env {}: the value contains a NUL byte",
                var.name
            )));
        }
    }
    for line in &spec.proxy_lines {
        proxy_line(line)?;
    }
    if let Some(path) = &spec.env_from_ssm {
        env_from_ssm(path)?;
    }
    if let Some(name) = &spec.registry_credentials_from_ssm {
        registry_credentials_from_ssm(name)?;
    }
    if let Some(argv) = &spec.pre_switch_command {
        command_argv("--pre-switch-command", argv)?;
    }
    super::checks::check_list(&spec.pre_switch_checks)
        .map_err(|e| UsageError(format!("--pre-switch-command (pre-switch-on host): {e}")))?;
    if spec.pre_switch_command.is_some() && !spec.pre_switch_checks.is_empty() {
        return Err(UsageError(
            "--pre-switch-command: a command and HTTP checks at once; expected one (pre-switch-on container or host)".into(),
        ));
    }
    spec.container
        .check()
        .map_err(|e| UsageError(format!("--{} {:?}: {}", e.input, e.value, e.expected)))?;
    if let Some(canary) = &spec.canary {
        super::canary::spec::check(canary).map_err(|e| UsageError(e.to_string()))?;
    }
    super::canary::spec::check_alarms(&spec.alarms).map_err(|e| UsageError(e.to_string()))?;
    at_most("--verify-window", spec.verify_window_ms, MAX_WAIT)?;
    at_most("--keep-warm", spec.keep_warm_ms, MAX_KEEP_WARM)?;
    at_most("--drain", spec.drain_ms, MAX_WAIT)?;
    at_most("--stop-timeout", spec.stop_timeout_ms, MAX_WAIT)?;
    health_timeout_ms(spec.health_timeout_ms)
}

/// The characters and length of an SSM Parameter Store name or path.
fn ssm_name(name: &str) -> bool {
    name.starts_with('/')
        && name.len() <= 1011
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-'))
}

/// `--registry-credentials-from-ssm`: the full name of one SSM parameter.
pub fn registry_credentials_from_ssm(name: &str) -> Result<(), UsageError> {
    if ssm_name(name) && !name.ends_with('/') {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--registry-credentials-from-ssm {name:?}: expected the name of an SSM parameter \
             such as /ci/registry-credentials"
        )))
    }
}

/// `--env-from-ssm`: an SSM Parameter Store path.
pub fn env_from_ssm(path: &str) -> Result<(), UsageError> {
    if ssm_name(path) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--env-from-ssm {path:?}: expected an SSM parameter path such as /shop/prod"
        )))
    }
}

/// `--health-timeout`: the gate needs some time.
pub fn health_timeout_ms(ms: u64) -> Result<(), UsageError> {
    if ms == 0 {
        return Err(UsageError(
            "--health-timeout 0s: expected a positive duration".into(),
        ));
    }
    at_most("--health-timeout", ms, MAX_WAIT)
}

/// What a deploy's SSM command needs beyond the health gate, the verify window and the drain:
/// the agent container's start, the pull of an image of ordinary size, the proxy check.
pub const COMMAND_OVERHEAD: Duration = Duration::from_secs(30);

/// `--command-timeout` against the deploy's own durations, checked together before any host
/// is touched: SSM ends a command at its executionTimeout (ExecutionTimedOut) while the agent
/// may still be switching, so the command must outlast the whole deploy.
pub fn command_timeout_covers(
    command_timeout: Duration,
    spec: &DeploySpec,
) -> Result<(), UsageError> {
    // Each part is bounded by its own maximum (checked first), so the sum cannot overflow u128.
    deploy_spec(spec)?;
    let canary_ms = spec.canary.as_ref().map_or(0, |c| c.longest_ms());
    let needed_ms = u128::from(spec.health_timeout_ms)
        + u128::from(spec.verify_window_ms)
        + u128::from(spec.drain_ms)
        + canary_ms
        + COMMAND_OVERHEAD.as_millis();
    if command_timeout.as_millis() > needed_ms {
        return Ok(());
    }
    let ms = |v: u64| short(Duration::from_millis(v));
    let needed = Duration::from_millis(u64::try_from(needed_ms).unwrap_or(u64::MAX));
    let canary = if canary_ms > 0 {
        format!(
            " + the canary's longest {} (every step held by {} inconclusive intervals, every tolerated failure, every pause timed out)",
            short(Duration::from_millis(u64::try_from(canary_ms).unwrap_or(u64::MAX))),
            super::canary::spec::MAX_INCONCLUSIVE_HOLDS
        )
    } else {
        String::new()
    };
    Err(UsageError(format!(
        "--command-timeout {}: expected more than --health-timeout {} + --verify-window {} + --drain {}{canary} + {} for the pull and the agent's start = {}; raise --command-timeout or lower the others",
        short(command_timeout),
        ms(spec.health_timeout_ms),
        ms(spec.verify_window_ms),
        ms(spec.drain_ms),
        short(COMMAND_OVERHEAD),
        short(needed)
    )))
}

/// The longest the health gate, the verify window and the drain may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// The longest a prior may be kept warm.
pub const MAX_KEEP_WARM: Duration = Duration::from_secs(30 * 24 * 3600);

/// A duration flag, in milliseconds, within `max`.
pub fn at_most(flag: &str, ms: u64, max: Duration) -> Result<(), UsageError> {
    if u128::from(ms) > max.as_millis() {
        return Err(UsageError(format!(
            "{flag} {}: expected at most {}",
            short(Duration::from_millis(ms)),
            short(max)
        )));
    }
    Ok(())
}

/// `30d` (from two days), `24h`, or humantime's form when the duration is not whole days or hours.
fn short(d: Duration) -> String {
    match d.as_secs() {
        s if d.subsec_nanos() == 0 && s >= 2 * 86_400 && s % 86_400 == 0 => {
            format!("{}d", s / 86_400)
        }
        s if d.subsec_nanos() == 0 && s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        _ => humantime::format_duration(d).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_timeout_must_outlast_the_deploy() {
        let mut spec: DeploySpec = serde_json::from_value(serde_json::json!({
            "app": "shop", "image": "shop:2", "public_port": 8080, "container_port": 80,
            "health_path": "/health", "health_timeout_ms": 60_000, "verify_window_ms": 10_000,
            "keep_warm_ms": 1, "drain_ms": 10_000, "proxy_image": "haproxy", "deploy_id": "d1"
        }))
        .unwrap();
        assert!(command_timeout_covers(Duration::from_secs(600), &spec).is_ok());
        let e = command_timeout_covers(Duration::from_secs(60), &spec).unwrap_err();
        for part in [
            "--command-timeout 1m",
            "--health-timeout 1m",
            "--verify-window 10s",
            "--drain 10s",
        ] {
            assert!(e.0.contains(part), "{e}");
        }
        // A canary's longest run counts too: 16 intervals of 30 s and an hour's pause.
        spec.canary = super::super::canary::spec::RawCanary {
            strategy: Some("canary"),
            canary_steps: Some("5,pause,100"),
            ..Default::default()
        }
        .parse()
        .unwrap();
        let e = command_timeout_covers(Duration::from_secs(600), &spec).unwrap_err();
        assert!(e.0.contains("the canary's longest 1h 4m"), "{e}");
        assert!(command_timeout_covers(Duration::from_secs(2 * 3600), &spec).is_ok());
        spec.canary = None;
        // Out of range values are refused by name, never summed into an overflow.
        spec.drain_ms = u64::MAX;
        let e = command_timeout_covers(Duration::from_secs(600), &spec).unwrap_err();
        assert!(e.0.starts_with("--drain"), "{e}");
    }

    #[test]
    fn app_names() {
        assert!(app_name("shop-api2").is_ok());
        for bad in [
            "",
            "Shop",
            "2shop",
            "shop-",
            "shop;rm -rf",
            "a/b",
            &"a".repeat(41),
        ] {
            assert!(app_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn image_refs() {
        for good in [
            "nginx",
            "nginx:1.27",
            "127.0.0.1:5000/bga-testsvc:v1",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:2026-11-22",
            &format!("repo/app@sha256:{}", "a".repeat(64)),
            &format!("repo/app:v1@sha256:{}", "0".repeat(64)),
        ] {
            assert!(image_ref("--image", good).is_ok(), "{good:?} rejected");
        }
        for bad in [
            "",
            "Nginx",
            "app:",
            "app:$(id)",
            "app;id",
            "-app",
            "a//b",
            "app@sha256:abc",
            "app name",
            &format!("app@sha256:{}", "A".repeat(64)),
        ] {
            assert!(image_ref("--image", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn proxy_lines_are_backend_keywords_only() {
        for good in [
            "timeout server 120s",
            "option httpchk GET /health",
            "no option http-server-close",
            "http-request set-header X-Forwarded-Proto https",
            "http-response del-header Server",
            "balance roundrobin",
            "retries 5",
            "retry-on conn-failure empty-response",
            "http-reuse safe",
            "compression algo gzip",
            "  timeout connect 3s",
        ] {
            assert!(proxy_line(good).is_ok(), "{good:?} refused");
        }
        for (bad, keyword) in [
            ("global", "global"),
            ("frontend admin", "frontend"),
            ("listen x 0.0.0.0:9999", "listen"),
            ("  defaults", "defaults"),
            ("peers p", "peers"),
            ("userlist u", "userlist"),
            ("program p", "program"),
            ("resolvers r", "resolvers"),
            ("cache c", "cache"),
            ("backend b", "backend"),
            ("stats socket ipv4@0.0.0.0:9999 level admin", "stats"),
            ("stats enable", "stats"),
            ("server evil 169.254.169.254:80", "server"),
            ("errorfile 503 /etc/shadow", "errorfile"),
            ("no server x", "no"),
        ] {
            let err = proxy_line(bad).unwrap_err().0;
            assert!(
                err.contains(&format!("{bad:?}")) && err.contains(&format!("`{keyword}`")),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn ports_paths_and_env() {
        assert!(
            public_port(65535).is_ok(),
            "the colors no longer sit above it"
        );
        assert!(public_port(0).is_err());
        assert!(container_port(0).is_err());
        for good in [
            "api.example.com",
            "localhost:8000",
            "[::1]:8080",
            "10.0.0.7",
        ] {
            assert!(health_host(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "api example",
            "a\r\nX: y",
            "host:0",
            "host:99999",
            "-a.com",
            "[::zz]",
        ] {
            let e = health_host(bad).unwrap_err().to_string();
            assert!(
                e.contains("--health-host") && e.contains("expected a host name"),
                "{e}"
            );
        }
        assert!(health_path("health").is_err());
        assert!(health_path("/he alth").is_err());
        assert!(health_path("/up?x=1").is_ok());
        assert!(env_name("1X").is_err());
        assert!(env_name("DATABASE_URL").is_ok());
    }
}
