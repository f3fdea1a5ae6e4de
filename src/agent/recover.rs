//! Brings an app back to exactly one verified live color before acting, whatever step a
//! previous agent was killed at. The proxy config's state comment is the truth: a switch it
//! records as unverified is reverted to the verified state it names as `previous` (the same
//! [`revert`] a deploy's own switch back uses); containers it does not vouch for are leftovers
//! of an interrupted deploy and are retired (renamed out of the way at once, stopped by Docker
//! once the proxy counts no request on their color or its drain deadline passed); the proxy's
//! runtime state is set to what the config says; a warm prior past its keep-warm deadline is
//! stopped (it stays as the rollback target). Nothing here waits for a container to stop. Runs
//! under the app lock.

use super::health::{self, Gate};
use super::proxy::{Other, Ports};
use super::state::{self, Marker, Pair, Slot};
use super::step::Step;
use super::{drain, pause_point, proxy, start, switch, Host};
use crate::report::StepStatus;

/// How much tidying a command's recovery does besides making the state consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tidy {
    /// Also removes the retired containers that have stopped (deploy, recover).
    Full,
    /// Only what the command needs: a rollback's time is the users' (it leaves retired
    /// containers to the next deploy).
    Quick,
}

/// Reads the app's state, recovers it, and reads it again only if recovery changed something.
/// Timed as the `state` event. Returns what recovery changed, one phrase each.
pub async fn read_recovered(
    host: &Host,
    app: &str,
    proxy_image: Option<&str>,
    tidy: Tidy,
) -> anyhow::Result<(Pair, Vec<String>)> {
    let t = host.events.start(&host.scope, Step::State.event());
    let pair = state::read(host, app).await?;
    let fixed = recover(host, &pair, proxy_image, tidy).await?;
    let pair = if fixed.is_empty() {
        pair
    } else {
        state::read(host, app).await?
    };
    let live = pair.live().map_or("no live color".to_string(), |l| {
        format!("{} live: {}", l.color, l.image)
    });
    t.ok(live);
    Ok((pair, fixed))
}

/// Whether a list of fixes includes the revert of an interrupted switch (its phrase).
pub fn reverted(fixed: &[String]) -> Option<&String> {
    fixed.iter().find(|f| f.starts_with("the interrupted "))
}

/// Undoes an unverified switch: traffic goes back to the verified version the state names as
/// `previous`, the unverified container goes (unless it is that state's rollback target, as
/// after an interrupted rollback), and a prior set aside for it takes its place again.
/// Returns the phrase for the reply: "the interrupted deploy of IMAGE was reverted".
/// With no verified state before it (a first deployment), everything of the app goes.
/// Each write is one step a later run can pick up from: the config names the verified color
/// first, then the runtime API follows it, then the containers.
pub async fn revert(host: &Host, pair: &Pair) -> anyhow::Result<String> {
    let app = &pair.app;
    let Some(marker) = pair.marker.as_ref().filter(|m| !m.verified) else {
        anyhow::bail!("{app} has no unverified switch to revert");
    };
    let what = marker
        .pending
        .clone()
        .unwrap_or_else(|| "switch".to_string());
    let t = host.events.start(&host.scope, Step::SwitchBack.event());
    let Some(back) = marker.revert_to() else {
        // A first deployment: nothing verified ever served.
        for slot in [&pair.blue, &pair.green].into_iter().flatten() {
            start::remove(host, &slot.name).await?;
        }
        start::remove(host, &state::proxy_name(app)).await?;
        let _ = std::fs::remove_file(host.config_path(app));
        let msg = format!(
            "the interrupted {what} was reverted: the first deployment of {app} was removed"
        );
        t.ok(&msg);
        return Ok(msg);
    };
    let target = pair
        .slot(back.live)
        .filter(|s| back.live_deploy.is_none() || s.deploy_id == back.live_deploy);
    let Some(target) = target else {
        let msg = format!(
            "cannot revert the interrupted {what}: the verified version on {} is gone; deploy a known good version",
            back.live
        );
        t.fail(&msg);
        anyhow::bail!(msg);
    };
    if !target.running {
        start::restart_color(host, &target.name).await?;
        match health::gate(
            host,
            &target.name,
            target.port,
            target.health_probe(),
            target.health_timeout,
        )
        .await?
        {
            Gate::Healthy { .. } => {}
            Gate::Exited { detail: why, .. } | Gate::TimedOut { last: why, .. } => {
                let msg = format!(
                    "cannot revert the interrupted {what}: the verified version {} did not become healthy again ({why})",
                    target.image
                );
                t.fail(&msg);
                anyhow::bail!(msg);
            }
        }
    }
    // The color switched back from drains from now, whatever its own deadline was.
    let left = pair.slot(marker.live);
    let mut back = back;
    back.drain_until = Some(drain::deadline(
        left.map_or(drain::DEFAULT_DRAIN, |s| s.drain),
    ));
    let body = switch::point(
        &switch::current_body(host, app)?,
        back.live,
        Ports::of(pair),
    );
    switch::commit_and_route(
        host,
        app,
        (&back, target.port),
        &body,
        Step::SwitchBackConfig,
    )
    .await?;
    pause_point(Step::SwitchBack).await;
    if let Some(left) = left.filter(|s| s.deploy_id.is_none() || s.deploy_id != back.prior_deploy) {
        retire(host, pair, left, back.drain_until).await?;
        let free = true;
        put_back_aside(host, pair, &back, free).await?;
    }
    let msg = format!(
        "the interrupted {what} was reverted: {} serves on {} again",
        target.image, target.color
    );
    t.ok(&msg);
    Ok(msg)
}

/// Retires a container recovery does not keep: renamed out of the way at once, stopped by
/// Docker only once its color is drained (the proxy counts no request on it, or `until`
/// passed); until then it finishes what it has, and a later deploy or recover stops it.
async fn retire(
    host: &Host,
    pair: &Pair,
    slot: &Slot,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<String> {
    let busy = slot.running && drain::in_progress(host, &pair.app, slot.color, until).await;
    let retired = start::retire(host, &pair.app, &slot.name, slot.color, !busy).await?;
    Ok(if busy {
        format!(
            "retired {} ({}) as {retired}: it stops once its last requests finished",
            slot.name, slot.image
        )
    } else {
        format!("retired {} ({}) as {retired}", slot.name, slot.image)
    })
}

/// Puts the prior set aside on the idle color back in its place when `marker` names it as the
/// rollback target; retires it otherwise.
async fn put_back_aside(
    host: &Host,
    pair: &Pair,
    marker: &Marker,
    slot_free: bool,
) -> anyhow::Result<Vec<String>> {
    let mut fixed = Vec::new();
    for aside in &pair.aside {
        let is_target = aside.color == marker.live.other()
            && aside.deploy_id.is_some()
            && aside.deploy_id == marker.prior_deploy;
        if is_target && slot_free {
            // Warm again if it was still inside its keep-warm window, so a rollback stays a
            // proxy switch.
            let warm = marker.warm_until.is_some_and(|t| t > chrono::Utc::now());
            start::restore(host, &pair.app, aside.color, warm).await?;
            fixed.push(format!("put back {} as the rollback target", aside.name));
        } else {
            // A prior set aside may be the color a rollback left, still answering.
            let busy = drain::in_progress(host, &pair.app, aside.color, marker.drain_until).await;
            let retired = start::retire(host, &pair.app, &aside.name, aside.color, !busy).await?;
            fixed.push(format!(
                "retired leftover container {} as {retired}",
                aside.name
            ));
        }
    }
    Ok(fixed)
}

/// Returns what it changed, one phrase per fix (empty when the app was consistent).
pub async fn recover(
    host: &Host,
    pair: &Pair,
    proxy_image: Option<&str>,
    tidy: Tidy,
) -> anyhow::Result<Vec<String>> {
    let mut fixed = Vec::new();
    let app = &pair.app;
    let dir = host.app_dir(app);
    // Recovery holds the app's lock: no canary runs, so its progress and a decision for it
    // are a killed deploy's leftovers.
    for leftover in [
        super::canary::PROGRESS_FILE,
        super::canary::decision::DECISION_FILE,
        "haproxy.cfg.next",
        "haproxy.cfg.tmp",
    ] {
        if std::fs::remove_file(dir.join(leftover)).is_ok() {
            fixed.push(format!(
                "removed the leftover {leftover} of an interrupted command"
            ));
        }
    }
    for stray in &pair.strays {
        start::remove(host, stray).await?;
        fixed.push(format!("removed leftover container {stray}"));
    }
    if tidy == Tidy::Full {
        let live = pair.marker.as_ref().map(|m| (m.live, m.drain_until));
        fixed.extend(start::tidy_retired(host, &pair.app, &pair.retired, live).await?);
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
    let mut proxy_up = pair.proxy.as_ref().is_some_and(|p| p.running);
    if !proxy_up {
        // The proxy is stopped or gone: started, or created again from the state. The config
        // file is its own, so it serves the color the state names.
        let saved: Option<state::SavedProxy> = state::load(host, app, "proxy");
        let image = pair
            .proxy
            .as_ref()
            .map(|p| p.image.clone())
            .or(saved.as_ref().map(|s| s.image.clone()))
            .or(proxy_image.map(str::to_string));
        let public_port = saved.as_ref().map(|s| s.public_port).or_else(|| {
            let live: Option<state::SavedColor> = state::load(host, app, marker.live.as_str());
            live.map(|c| c.spec.public_port)
        });
        if let (Some(image), Some(public_port)) = (image, public_port) {
            let layout = proxy::Layout {
                public_address: pair
                    .proxy
                    .as_ref()
                    .map(|p| p.public_address.clone())
                    .or(saved.map(|s| s.public_address))
                    .unwrap_or_else(|| "0.0.0.0".into()),
                public_port,
                extra_lines: vec![],
            };
            proxy::ensure_running(host, app, &image, &layout, pair.proxy.as_ref()).await?;
            fixed.push(match &pair.proxy {
                Some(_) => format!("started the proxy {}", state::proxy_name(app)),
                None => format!(
                    "created the proxy {} again from the state, serving {}",
                    state::proxy_name(app),
                    marker.live
                ),
            });
            proxy_up = true;
        }
    }
    // A deploy turns the proxy's request log on for its receipt and off at its end; one that
    // was killed in between left it on.
    if proxy_up && proxy::request_log_is_on(host, app).await {
        proxy::request_log(host, app, false).await?;
        fixed.push("turned off the request log an interrupted deploy left on".to_string());
    }
    // An unverified switch goes back to the verified state before it, then recovery goes on
    // from that state.
    let reread;
    let (pair, marker) = if marker.verified || !proxy_up {
        (pair, marker)
    } else {
        fixed.push(revert(host, pair).await?);
        reread = state::read(host, app).await?;
        match &reread.marker {
            Some(m) => (&reread, m),
            None => return Ok(note(host, fixed)),
        }
    };
    // The live color's container gone or stopped: created again from the state (never the
    // proxy config or the state removed for it).
    let recreated;
    let pair = match live_again(host, pair, marker).await? {
        Some(phrase) => {
            fixed.push(phrase);
            recreated = state::read(host, app).await?;
            &recreated
        }
        None => pair,
    };
    // Traffic follows the config before any container goes; the config follows the live
    // container's port (a container created again has a new one).
    if let (true, Some(live)) = (proxy_up, pair.live()) {
        fixed.extend(follow_the_config(host, pair, marker, live).await?);
    }
    let unproven = pair.unproven_idle();
    if let Some(idle) = unproven {
        // A rollback returns at its switch: the color it left may still answer its last
        // requests; it stops only once they finished (or its deadline passed).
        fixed.push(retire(host, pair, idle, marker.drain_until).await?);
    }
    // A prior set aside by an interrupted deploy goes back if it is still the rollback target
    // and its place is free; otherwise it is a leftover.
    let slot_free = pair.slot(marker.live.other()).is_none() || unproven.is_some();
    fixed.extend(put_back_aside(host, pair, marker, slot_free).await?);
    fixed.extend(reap_warm(host, pair).await?);
    Ok(note(host, fixed))
}

/// Brings the verified live color back when its container is gone (created again from the
/// saved spec of that deploy, then health-gated) or stopped (started again). `None` when it
/// runs.
async fn live_again(host: &Host, pair: &Pair, marker: &Marker) -> anyhow::Result<Option<String>> {
    if !marker.verified {
        return Ok(None);
    }
    let name = state::color_name(&pair.app, marker.live);
    let (port, probe, timeout, what) = match pair.live() {
        Some(live) if live.running => return Ok(None),
        Some(live) => {
            start::restart_color(host, &live.name).await?;
            (
                live.port,
                (live.health_path.clone(), live.health_host.clone()),
                live.health_timeout,
                format!("started {name} ({}) again", live.image),
            )
        }
        None => {
            let saved: Option<state::SavedColor> =
                state::load(host, &pair.app, marker.live.as_str());
            let Some(saved) = saved.filter(|s| {
                marker.live_deploy.is_none()
                    || marker.live_deploy.as_ref() == Some(&s.spec.deploy_id)
            }) else {
                return Ok(Some(format!(
                    "the live container {name} is gone and the state has no spec to create it again: deploy again"
                )));
            };
            let (_, port) = start::launch(
                host,
                &saved.spec,
                marker.live,
                saved.digest.as_deref(),
                &saved.spec_hash,
            )
            .await?;
            (
                port,
                (
                    saved.spec.health_path.clone(),
                    saved.spec.health_host.clone(),
                ),
                std::time::Duration::from_millis(saved.spec.health_timeout_ms),
                format!("created {name} ({}) again from the state", saved.spec.image),
            )
        }
    };
    Ok(Some(
        match health::gate(
            host,
            &name,
            port,
            crate::agent::http::Probe {
                path: &probe.0,
                host: probe.1.as_deref(),
            },
            timeout,
        )
        .await?
        {
            Gate::Healthy { .. } => what,
            Gate::Exited { detail: why, .. } | Gate::TimedOut { last: why, .. } => {
                format!("{what}, but it is not healthy ({why})")
            }
        },
    ))
}

/// Stops a warm prior whose keep-warm deadline has passed; it stays as the rollback target
/// (a later rollback starts it again and health-gates it).
pub async fn reap_warm(host: &Host, pair: &Pair) -> anyhow::Result<Vec<String>> {
    let (Some(marker), Some(target)) = (&pair.marker, pair.rollback_target()) else {
        return Ok(vec![]);
    };
    if !marker.verified {
        // The prior of an unverified switch is what a revert goes back to.
        return Ok(vec![]);
    }
    let expired = marker.warm_until.is_some_and(|t| t <= chrono::Utc::now());
    if !(target.running && expired) {
        return Ok(vec![]);
    }
    start::stop_in_background(host, &target.name).await;
    Ok(vec![format!(
        "stopping warm prior {} (keep-warm ended); it stays the rollback target",
        target.name
    )])
}

/// Makes the proxy serve what the config says: the live color's server at its container's
/// port (written to the config first when it changed), ready; the other in maintenance.
async fn follow_the_config(
    host: &Host,
    pair: &Pair,
    marker: &Marker,
    live: &Slot,
) -> anyhow::Result<Vec<String>> {
    let app = &pair.app;
    let current = switch::current_body(host, app)?;
    let body = switch::point(&current, marker.live, Ports::of(pair));
    let mut fixed = Vec::new();
    if body != current {
        proxy::commit(host, app, marker, &body)?;
        fixed.push(format!(
            "pointed the proxy's {} server at {} on 127.0.0.1:{}",
            live.color, live.name, live.port
        ));
    }
    proxy::route_to(host, app, marker.live, live.port, Other::Maint).await?;
    Ok(fixed)
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

/// `bluegreen recover --app A`: under the app's lock, the recovery every command starts with,
/// on its own. Outcome `recovered` (exit 0) once one verified color is live (or nothing is
/// deployed); the message says what was reverted or repaired.
pub async fn recover_request(host: &Host, app: &str) -> anyhow::Result<super::AgentReply> {
    use super::lock::AppLock;
    use super::protocol::Outcome;
    let total = host.events.start(&host.scope, Step::Total.event());
    let done = |outcome: Outcome, message: String| {
        if outcome.is_success() {
            total.ok(&message);
        } else {
            total.fail(&message);
        }
        super::reply(host, "recover", outcome, message)
    };
    if !host.app_dir(app).exists() {
        let msg = format!("{app} is not deployed on this host: nothing to recover");
        return Ok(done(Outcome::Recovered, msg));
    }
    let lock = AppLock::acquire(&host.lock_path(app), host.config.lock_wait, "recover").await?;
    let _lock = match lock {
        Ok(lock) => lock,
        Err(busy) => {
            let msg = format!(
                "another action holds the lock of {app} on this host ({}); nothing changed: retry when it finishes",
                busy.holder
            );
            return Ok(done(Outcome::Locked, msg));
        }
    };
    let before_pair = state::read(host, app).await?;
    let before = before_pair.to_app_state_unprobed().await;
    let fixed = recover(host, &before_pair, None, Tidy::Full).await?;
    let after = state::read(host, app).await?;
    let live = after
        .live()
        .map_or(format!("nothing of {app} is live"), |l| {
            format!("{} is live on {} (verified)", l.image, l.color)
        });
    let message = match (reverted(&fixed), fixed.is_empty()) {
        (Some(phrase), _) => format!("{phrase}; {live}"),
        (None, true) => format!("{app} is consistent: {live}; nothing to recover"),
        (None, false) => format!("{app} repaired ({}); {live}", fixed.join("; ")),
    };
    let mut r = done(Outcome::Recovered, message);
    r.before = Some(before);
    r.apps = vec![after.to_app_state().await];
    Ok(r)
}
