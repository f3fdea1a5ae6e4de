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
    // A canary in progress holds the app's lock and records its switch as unverified: its
    // progress is what to say, not `recover`.
    let mut canaries = Vec::new();
    for a in &apps {
        if let Some(p) = canary_in_progress(host, &a.app) {
            message.push_str(&format!("; {}: {}", a.app, progress_text(&p)));
            canaries.push((a.app.clone(), p));
        }
    }
    let in_canary = |app: &str| canaries.iter().any(|(a, _)| a == app);
    for a in apps.iter().filter(|a| !a.verified && !in_canary(&a.app)) {
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
    r.canary = canaries.into_iter().next().map(|(_, p)| p.run);
    Ok(r)
}

/// The canary an app's deploy runs now: its progress file, while that deploy holds the lock.
fn canary_in_progress(host: &Host, app: &str) -> Option<super::canary::CanaryProgress> {
    let progress = super::canary::CanaryProgress::read(&host.app_dir(app)).ok()??;
    super::lock::is_held(&host.lock_path(app))
        .ok()?
        .then_some(progress)
}

/// `canary of IMAGE in progress: step 2 of 4 (25 %), weight 25 %; last interval: ...`.
fn progress_text(p: &super::canary::CanaryProgress) -> String {
    let last = p
        .run
        .intervals
        .last()
        .map(|i| format!("; last interval: {}", i.verdict.text()))
        .unwrap_or_default();
    let paused = p
        .run
        .paused_since
        .map(|at| {
            format!(
                "; paused since {}, waiting for `bluegreen promote` or `abort`",
                at.format("%H:%M:%SZ")
            )
        })
        .unwrap_or_default();
    format!(
        "canary of {} in progress on {}: {}{paused}{last}",
        p.image,
        p.new_color,
        p.where_text()
    )
}
