//! The health gate: the new color must answer its health path with 2xx several times in a
//! row before any traffic moves to it.
//!
//! Polling adapts: probes go out every 10 ms for the first second (most apps are ready by then,
//! and each one is a single loopback request), then the interval grows by half each miss up to
//! 1 s, so a fast app is caught within ~10 ms of being ready and a slow one is not hammered.
//! Once a probe passes, the confirming probes follow 5 ms apart. Docker is asked whether the
//! container still runs at most every 100 ms (and on every round once polling slowed down),
//! so a crash fails the gate at once with the container's last log lines instead of waiting
//! out the deadline (a container that answers its health path runs: the confirming rounds do
//! not ask).

use super::{http, Host};
use std::time::{Duration, Instant};

/// Consecutive 2xx answers needed to pass the gate.
pub const SUCCESSES: u32 = 3;
const FIRST_INTERVAL: Duration = Duration::from_millis(10);
/// How often the fast rounds ask Docker whether the container still runs.
const STATE_EVERY: Duration = Duration::from_millis(100);
/// How long probes stay at [`FIRST_INTERVAL`] before backing off.
const FAST_PHASE: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(1);
const CONFIRM_INTERVAL: Duration = Duration::from_millis(5);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Log lines kept in the reply when a container fails (the reply must stay small).
pub const LOG_LINES: usize = 20;

/// How the gate ended.
#[derive(Debug)]
pub enum Gate {
    Healthy {
        probes: u32,
    },
    /// The container stopped (or restarted) before it became healthy.
    Exited {
        detail: String,
        logs: Vec<String>,
    },
    /// The deadline passed; `last` is what the last probe saw.
    TimedOut {
        last: String,
        logs: Vec<String>,
    },
}

/// Probes `127.0.0.1:port{path}` until it passes, the container dies, or `timeout` passes.
pub async fn gate(
    host: &Host,
    container: &str,
    port: u16,
    probe: http::Probe<'_>,
    timeout: Duration,
) -> anyhow::Result<Gate> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = FIRST_INTERVAL;
    let mut streak = 0;
    let mut probes = 0;
    let mut last = String::from("no probe answered yet");
    let mut asked: Option<Instant> = None;
    loop {
        tokio::time::sleep(if streak > 0 {
            CONFIRM_INTERVAL
        } else {
            interval
        })
        .await;
        if streak == 0 && asked.is_none_or(|at| at.elapsed() >= STATE_EVERY) {
            asked = Some(Instant::now());
            if let Some(detail) = not_running(host, container).await? {
                let logs = host.log_tail(container, LOG_LINES).await;
                return Ok(Gate::Exited { detail, logs });
            }
        }
        probes += 1;
        match http::get("127.0.0.1", port, probe, PROBE_TIMEOUT).await {
            Ok(r) if r.is_success() => {
                streak += 1;
                if streak >= SUCCESSES {
                    return Ok(Gate::Healthy { probes });
                }
            }
            Ok(r) => {
                streak = 0;
                last = format!("HTTP {}", r.status);
            }
            Err(e) => {
                streak = 0;
                last = e;
            }
        }
        if Instant::now() >= deadline {
            let logs = host.log_tail(container, LOG_LINES).await;
            return Ok(Gate::TimedOut { last, logs });
        }
        if started.elapsed() >= FAST_PHASE {
            interval = (interval * 3 / 2).min(MAX_INTERVAL);
        }
    }
}

/// `Some(why)` when the container is not running or has restarted since it was created.
pub async fn not_running(host: &Host, container: &str) -> anyhow::Result<Option<String>> {
    let inspect = host.docker.inspect_container(container, None);
    let inspect = match host
        .read(format!("docker inspect {container}"), inspect)
        .await
    {
        Ok(i) => i,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(Some(format!("{container} no longer exists"))),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot inspect {container}"))),
    };
    let restarts = inspect.restart_count.unwrap_or(0);
    let state = inspect.state.unwrap_or_default();
    if restarts > 0 {
        return Ok(Some(format!(
            "{container} crashed and was restarted {restarts} time(s) (last exit code {})",
            state.exit_code.unwrap_or(-1)
        )));
    }
    if state.running != Some(true) || state.restarting == Some(true) {
        return Ok(Some(format!(
            "{container} exited with code {}",
            state.exit_code.unwrap_or(-1)
        )));
    }
    Ok(None)
}
