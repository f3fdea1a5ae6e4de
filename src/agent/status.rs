//! Status: for each app the live color, its image and digest, since when, health, and the
//! rollback target (running warm, stopped, or none). Read-only, except that a warm prior past
//! its keep-warm deadline is stopped when no other action holds the app's lock. An unverified
//! switch is shown as `unverified` and left alone: `bluegreen recover` reverts it.

use super::lock::AppLock;
use super::protocol::{AgentReply, Outcome};
use super::{recover, reply, state, Host};
use std::time::Duration;

pub async fn status(host: &Host, app: Option<&str>) -> anyhow::Result<AgentReply> {
    let t = host.events.start(&host.scope, "status");
    let mut pairs = state::read_all(host, app).await?;
    for pair in pairs.values_mut() {
        let lock = AppLock::acquire(&host.lock_path(&pair.app), Duration::ZERO, "status").await;
        if let Ok(Ok(_lock)) = lock {
            if !recover::reap_warm(host, pair).await?.is_empty() {
                *pair = state::read(host, &pair.app).await?;
            }
        }
    }
    let mut apps = Vec::new();
    for pair in pairs.values() {
        apps.push(pair.to_app_state().await);
    }
    let mut message = match (app, apps.len()) {
        (Some(app), 0) => format!("{app} is not deployed on this host"),
        (None, 0) => "no apps deployed on this host".to_string(),
        (_, n) => format!("{n} app(s) on this host"),
    };
    for a in apps.iter().filter(|a| !a.verified) {
        message.push_str(&format!(
            "; {}: the switch to its live color is unverified ({}): run `bluegreen recover --app {}` to go back to the last verified version",
            a.app,
            a.pending.as_deref().unwrap_or("interrupted"),
            a.app
        ));
    }
    t.ok(&message);
    let mut r = reply(host, "status", Outcome::Status, message);
    r.apps = apps;
    Ok(r)
}
