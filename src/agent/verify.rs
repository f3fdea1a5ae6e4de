//! After the switch: prove through the proxy that the new color serves (the response header
//! names the color), then watch it for the verify window.

use super::protocol::Color;
use super::{health, http, proxy, Host};
use std::time::{Duration, Instant};

/// Asks the proxy until the new color answers, for up to `within`.
pub async fn through_proxy(
    address: &str,
    public_port: u16,
    probe: http::Probe<'_>,
    expect: Color,
    within: Duration,
) -> Result<u32, String> {
    let deadline = Instant::now() + within;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let seen = match http::get(address, public_port, probe, Duration::from_secs(2)).await {
            Ok(r) => match r.header(proxy::COLOR_HEADER) {
                Some(c) if c == expect.as_str() && r.is_success() => return Ok(attempts),
                Some(c) => format!("HTTP {} from {c}", r.status),
                None => format!("HTTP {} without a {} header", r.status, proxy::COLOR_HEADER),
            },
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "the proxy on port {public_port} did not serve {expect} within {} ms (last: {seen})",
                within.as_millis()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Failures in a row that end the verify window early.
const FAILURES: u32 = 3;
const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Watches the new color for `window`: `Err(why)` as soon as its container stops or its
/// health fails [`FAILURES`] times in a row.
pub async fn watch(
    host: &Host,
    container: &str,
    port: u16,
    probe: http::Probe<'_>,
    window: Duration,
) -> anyhow::Result<Result<(), String>> {
    let deadline = Instant::now() + window;
    let mut failures = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(WATCH_INTERVAL.min(deadline.saturating_duration_since(Instant::now())))
            .await;
        if let Some(why) = health::not_running(host, container).await? {
            return Ok(Err(why));
        }
        match http::get("127.0.0.1", port, probe, Duration::from_secs(1)).await {
            Ok(r) if r.is_success() => failures = 0,
            _ => failures += 1,
        }
        if failures >= FAILURES {
            return Ok(Err(format!(
                "{container} failed its health check {FAILURES} times in a row"
            )));
        }
    }
    Ok(Ok(()))
}
