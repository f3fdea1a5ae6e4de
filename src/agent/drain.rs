//! Drains the old color: it already gets no new requests (runtime state `drain`); wait until
//! its in-flight requests finish or the drain timeout passes, then take it out of the backend.

use super::protocol::Color;
use super::{proxy, Host};
use std::time::{Duration, Instant};

/// Returns the requests still in flight when the timeout cut the drain short (0 normally).
pub async fn drain(host: &Host, app: &str, old: Color, timeout: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    let left = loop {
        let in_flight = proxy::sessions(host, app, old).await?;
        if in_flight == 0 || Instant::now() >= deadline {
            break in_flight;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    proxy::retire(host, app, old).await?;
    Ok(left)
}
