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

/// How long recovery lets a color it is about to remove finish its requests: the default
/// `--drain` (a container's own drain setting is not among its labels).
pub const RECOVERY_DRAIN: Duration = Duration::from_secs(10);
