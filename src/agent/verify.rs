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

/// The new color's container and health, checked round after round: the verify window's
/// watch and a canary's steps. [`FAILURES`] failed probes in a row, a stopped or restarted
/// container, is a problem.
pub struct HealthWatch<'a> {
    pub container: &'a str,
    pub port: u16,
    pub probe: http::Probe<'a>,
    failures: u32,
}

impl<'a> HealthWatch<'a> {
    pub fn new(container: &'a str, port: u16, probe: http::Probe<'a>) -> HealthWatch<'a> {
        HealthWatch {
            container,
            port,
            probe,
            failures: 0,
        }
    }

    /// One round: `Some(why)` when the container stopped or restarted, or its health path
    /// failed [`FAILURES`] times in a row.
    pub async fn check(&mut self, host: &Host) -> anyhow::Result<Option<String>> {
        if let Some(why) = health::not_running(host, self.container).await? {
            return Ok(Some(why));
        }
        match http::get("127.0.0.1", self.port, self.probe, Duration::from_secs(1)).await {
            Ok(r) if r.is_success() => self.failures = 0,
            _ => self.failures += 1,
        }
        Ok((self.failures >= FAILURES).then(|| {
            format!(
                "{} failed its health check {FAILURES} times in a row",
                self.container
            )
        }))
    }
}

/// Watches the new color for `window`: `Err(why)` as soon as its container stops or its
/// health fails [`FAILURES`] times in a row, or one of the deploy's CloudWatch alarms is in
/// state ALARM (read every few seconds and at the end). An alarm that cannot be read is a
/// warning of the reply, not a failure: CloudWatch's trouble is not the new version's.
pub async fn watch(
    host: &Host,
    health: &mut HealthWatch<'_>,
    alarms: &mut super::canary::alarms::AlarmWatch,
    window: Duration,
) -> anyhow::Result<Result<(), String>> {
    let deadline = Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let at_end = left.is_zero();
        if !at_end {
            tokio::time::sleep(WATCH_INTERVAL.min(left)).await;
            if let Some(why) = health.check(host).await? {
                return Ok(Err(why));
            }
        }
        match alarms.check(at_end).await {
            Ok(Some(why)) => return Ok(Err(why)),
            Ok(None) => {}
            Err(e) => host.events.note(
                &host.scope,
                super::step::Step::Watch.event(),
                crate::report::StepStatus::Warning,
                format!("{e}; the verify window goes on without them"),
            ),
        }
        if at_end {
            return Ok(Ok(()));
        }
    }
}
