//! Draining a color: it gets no new requests (runtime state `drain`); the requests it has
//! finish, or its drain deadline passes and the proxy closes what is left (long-lived
//! connections: WebSocket, server-sent events). The deadline is counted from the switch that
//! left the color and kept in the state comment ([`super::state::Marker::drain_until`]), so
//! whatever command comes next respects it: a color's container is stopped, removed or
//! replaced, and its server given to another container, only once it is drained.

use super::protocol::Color;
use super::{proxy, Host};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

pub use super::step::DEFAULT_DRAIN;

/// How often the proxy's count of a draining color's sessions is read.
const POLL: Duration = Duration::from_millis(20);

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Sessions the proxy counted on the color when the wait began.
    pub open: u64,
    /// Sessions still open at the deadline, closed by the proxy (0 when it went idle).
    pub cut: u64,
    pub waited: Duration,
}

/// The deadline of a color that stops getting new requests now.
pub fn deadline(drain: Duration) -> DateTime<Utc> {
    let drain = chrono::Duration::from_std(drain).unwrap_or(chrono::Duration::MAX);
    Utc::now()
        .checked_add_signed(drain)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Waits until the proxy counts no session on `color` or `until` passes; at the deadline the
/// proxy closes the sessions left (`shutdown sessions`), and they are counted as cut.
pub async fn settle(
    host: &Host,
    app: &str,
    color: Color,
    until: DateTime<Utc>,
) -> anyhow::Result<Drained> {
    let clock = Instant::now();
    let open = proxy::sessions(host, app, color).await?;
    let mut left = open;
    while left > 0 {
        let remaining = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            proxy::shutdown_sessions(host, app, color).await?;
            break;
        }
        tokio::time::sleep(POLL.min(remaining)).await;
        left = proxy::sessions(host, app, color).await?;
    }
    Ok(Drained {
        open,
        cut: left,
        waited: clock.elapsed(),
    })
}

/// Settles the old color after a verified switch, then takes it out of the backend (what the
/// config's `disabled` says).
pub async fn drain(
    host: &Host,
    app: &str,
    old: Color,
    until: DateTime<Utc>,
) -> anyhow::Result<Drained> {
    let drained = settle(host, app, old, until).await?;
    proxy::retire(host, app, old).await?;
    Ok(drained)
}

/// True while `color` still has requests the proxy counts and its deadline has not passed:
/// then it is left as it is. An unreadable count is no reason to wait (the proxy would not
/// route to it either).
pub async fn in_progress(
    host: &Host,
    app: &str,
    color: Color,
    until: Option<DateTime<Utc>>,
) -> bool {
    let before_deadline = until.is_some_and(|t| t > Utc::now());
    before_deadline && proxy::sessions(host, app, color).await.unwrap_or(0) > 0
}

impl Drained {
    /// How the wait went, for a step's detail: `None` when there was nothing to wait for.
    pub fn phrase(&self, color: Color) -> Option<String> {
        let waited = self.waited.as_millis();
        match (self.open, self.cut) {
            (0, _) => None,
            (_, 0) => Some(format!(
                "{color} finished its {} request(s) in flight first: {waited} ms",
                self.open
            )),
            (open, cut) => Some(format!(
                "{color} had {open} request(s) or connection(s) in flight; {cut} still open at its drain deadline were closed ({waited} ms)"
            )),
        }
    }
}
