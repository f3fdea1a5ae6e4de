//! Drains the old color: it already gets no new requests (runtime state `drain`); wait until
//! its in-flight requests finish or the drain timeout passes, then take it out of the backend.

use super::protocol::Color;
use super::{proxy, Host};
use std::time::{Duration, Instant};

/// Returns the requests still in flight when the timeout cut the drain short (0 normally).
pub async fn drain(host: &Host, app: &str, old: Color, timeout: Duration) -> anyhow::Result<u64> {
    let left = until_idle(host, app, old, timeout).await?;
    proxy::retire(host, app, old).await?;
    Ok(left)
}

/// Waits until the proxy counts no request in flight on `color` (`scur` 0) or `timeout`
/// passes; the requests still in flight then (0 when it went idle).
pub async fn until_idle(
    host: &Host,
    app: &str,
    color: Color,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let in_flight = proxy::sessions(host, app, color).await?;
        if in_flight == 0 || Instant::now() >= deadline {
            return Ok(in_flight);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Before a color's container is stopped or removed: lets the requests the proxy still counts
/// on it finish, for at most `within`. `Some(phrase)` when it had to wait (how long, and what
/// the deadline cut); an unreadable count is no reason to wait, since the proxy would not route
/// to that color either.
pub async fn before_stopping(
    host: &Host,
    app: &str,
    color: Color,
    within: Duration,
) -> Option<String> {
    if proxy::sessions(host, app, color).await.unwrap_or(0) == 0 {
        return None;
    }
    let clock = Instant::now();
    let left = until_idle(host, app, color, within).await.unwrap_or(0);
    let waited = clock.elapsed().as_millis();
    Some(match left {
        0 => format!("{color} finished its last requests first: {waited} ms"),
        n => {
            format!("{color} still had {n} requests in flight at its drain deadline ({waited} ms)")
        }
    })
}

/// How long recovery lets a color it is about to remove finish its requests: the default
/// `--drain` (a container's own drain setting is not among its labels).
pub const RECOVERY_DRAIN: Duration = Duration::from_secs(10);
