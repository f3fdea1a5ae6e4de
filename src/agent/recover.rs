//! Brings an app back to exactly one live color before acting, whatever step a previous agent
//! was killed at. The proxy config's state comment is the truth: containers it does not
//! vouch for are leftovers of an interrupted deploy and go; the proxy's runtime state is set
//! to what the config says; a warm prior past its keep-warm deadline is stopped (it stays as
//! the rollback target). Runs under the app lock.

use super::state::{self, Pair};
use super::{proxy, start, Host};
use crate::report::StepStatus;
use bollard::query_parameters::StopContainerOptions;

/// Reads the app's state, recovers it, and reads it again only if recovery changed something.
/// Timed as the `state` event.
pub async fn read_recovered(
    host: &Host,
    app: &str,
    proxy_image: Option<&str>,
) -> anyhow::Result<Pair> {
    let t = host.events.start(&host.scope, "state");
    let pair = state::read(host, app).await?;
    let fixed = recover(host, &pair, proxy_image).await?;
    let pair = if fixed.is_empty() {
        pair
    } else {
        state::read(host, app).await?
    };
    let live = pair.live().map_or("no live color".to_string(), |l| {
        format!("{} live: {}", l.color, l.image)
    });
    t.ok(live);
    Ok(pair)
}

/// Returns what it changed, one phrase per fix (empty when the app was consistent).
pub async fn recover(
    host: &Host,
    pair: &Pair,
    proxy_image: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut fixed = Vec::new();
    let app = &pair.app;
    let dir = host.app_dir(app);
    for leftover in ["haproxy.cfg.next", "haproxy.cfg.tmp"] {
        if std::fs::remove_file(dir.join(leftover)).is_ok() {
            fixed.push(format!("removed the unapplied {leftover}"));
        }
    }
    for stray in &pair.strays {
        start::remove(host, stray).await?;
        fixed.push(format!("removed leftover container {stray}"));
    }
    let Some(marker) = &pair.marker else {
        // No config: a first deployment never finished; nothing of it ever served.
        for slot in [&pair.blue, &pair.green].into_iter().flatten() {
            start::remove(host, &slot.name).await?;
            fixed.push(format!(
                "removed {} of an unfinished first deployment",
                slot.name
            ));
        }
        if let Some(p) = &pair.proxy {
            start::remove(host, &p.name).await?;
            fixed.push(format!(
                "removed {} of an unfinished first deployment",
                p.name
            ));
        }
        return Ok(note(host, fixed));
    };
    let unproven = pair.unproven_idle();
    if let Some(idle) = unproven {
        start::remove(host, &idle.name).await?;
        fixed.push(format!(
            "removed {} ({}) left by an interrupted deploy",
            idle.name, idle.image
        ));
    }
    // A prior set aside by an interrupted deploy goes back if it is still the rollback target
    // and its place is free; otherwise it is a leftover.
    let slot_free = pair.slot(marker.live.other()).is_none() || unproven.is_some();
    for aside in &pair.aside {
        let is_target = aside.color == marker.live.other()
            && aside.deploy_id.is_some()
            && aside.deploy_id == marker.prior_deploy;
        if is_target && slot_free {
            // Warm again if it was still inside its keep-warm window, so a rollback stays a
            // proxy switch.
            let warm = marker.warm_until.is_some_and(|t| t > chrono::Utc::now());
            start::restore(host, app, aside.color, warm).await?;
            fixed.push(format!("put back {} as the rollback target", aside.name));
        } else {
            start::remove(host, &aside.name).await?;
            fixed.push(format!("removed leftover container {}", aside.name));
        }
    }
    let mut proxy_up = pair.proxy.as_ref().is_some_and(|p| p.running);
    if !proxy_up {
        let image = pair
            .proxy
            .as_ref()
            .map(|p| p.image.as_str())
            .or(proxy_image);
        if let (Some(image), Some(live)) = (image, pair.live()) {
            let layout = proxy::Layout {
                public_address: pair
                    .proxy
                    .as_ref()
                    .map_or("0.0.0.0".into(), |p| p.public_address.clone()),
                public_port: live.port
                    - if live.color == super::Color::Blue {
                        1
                    } else {
                        2
                    },
                extra_lines: vec![],
            };
            proxy::ensure_running(host, app, image, &layout, pair.proxy.as_ref()).await?;
            fixed.push(format!("started the proxy {}", state::proxy_name(app)));
            proxy_up = true;
        }
    }
    if proxy_up {
        let (live, other) = (marker.live, marker.live.other());
        let answer = proxy::runtime(
            host,
            app,
            &format!(
                "set server {b}/{live} state ready; set server {b}/{other} state maint",
                b = proxy::BACKEND
            ),
        )
        .await?;
        if !answer.trim().is_empty() {
            anyhow::bail!("the proxy refused to route to {live}: {}", answer.trim());
        }
    }
    fixed.extend(reap_warm(host, pair).await?);
    Ok(note(host, fixed))
}

/// Stops a warm prior whose keep-warm deadline has passed; it stays as the rollback target
/// (a later rollback starts it again and health-gates it).
pub async fn reap_warm(host: &Host, pair: &Pair) -> anyhow::Result<Vec<String>> {
    let (Some(marker), Some(target)) = (&pair.marker, pair.rollback_target()) else {
        return Ok(vec![]);
    };
    let expired = marker.warm_until.is_some_and(|t| t <= chrono::Utc::now());
    if !(target.running && expired) {
        return Ok(vec![]);
    }
    host.docker
        .stop_container(
            &target.name,
            Some(StopContainerOptions {
                t: Some(10),
                ..Default::default()
            }),
        )
        .await?;
    Ok(vec![format!(
        "stopped warm prior {} (keep-warm ended); it stays the rollback target",
        target.name
    )])
}

fn note(host: &Host, fixed: Vec<String>) -> Vec<String> {
    if !fixed.is_empty() {
        host.events.note(
            &host.scope,
            "recover",
            StepStatus::Warning,
            fixed.join("; "),
        );
    }
    fixed
}
