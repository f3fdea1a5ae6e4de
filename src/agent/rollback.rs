//! Rollback: traffic back to the version that was live before the current one, which is then
//! rejected: never a rollback target again, so a second rollback is a no-op success instead
//! of a toggle back to the bad version.
//!
//! A warm prior (still running) is probed on its loopback port first; when it answers, the
//! rollback is a proxy switch only: the config flip and one runtime API line. A stopped or
//! unhealthy prior takes the cold path: started (again), health-gated, then switched. The
//! switch is recorded as unverified until a request through the proxy confirms it; an
//! unconfirmed rollback switches back and fails. With no prior, nothing changes (exit 3).

use super::health::Gate;
use super::lock::AppLock;
use super::protocol::{AgentReply, Health, HistoryEntry, Outcome};
use super::proxy::Ports;
use super::state::{Marker, Pair, Rejected, Slot, REJECTED_KEPT};
use super::step::{Step, PROBE_TIMEOUT, VERIFY_WITHIN};
use super::{
    deploy, drain, health, history, http, pause_point, proxy, recover, reply, start, switch,
    verify, Host,
};
use crate::report::StepTimer;
use chrono::Utc;

const ACTION: &str = "rollback";

/// Why a rollback ended where it did.
struct End {
    outcome: Outcome,
    message: String,
    logs: Vec<String>,
}

impl End {
    fn new(outcome: Outcome, message: String) -> End {
        End {
            outcome,
            message,
            logs: vec![],
        }
    }
}

pub async fn rollback(
    host: &Host,
    app: &str,
    expect_live: Option<&str>,
    run_url: Option<String>,
) -> anyhow::Result<AgentReply> {
    let total = host.events.start(&host.scope, Step::Total.event());
    let finish = |end: End, total: StepTimer| {
        if end.outcome.is_success() {
            total.ok(&end.message);
        } else {
            total.fail(&end.message);
        }
        let mut r = reply(host, ACTION, end.outcome, end.message);
        r.log_tail = end.logs;
        r
    };
    if !host.app_dir(app).exists() {
        return Ok(finish(
            End::new(Outcome::NothingToRollBack, nothing(app)),
            total,
        ));
    }
    let holder = match expect_live {
        Some(x) => format!("rollback of {x}"),
        None => "rollback".to_string(),
    };
    let _lock = match AppLock::acquire(&host.lock_path(app), host.config.lock_wait, &holder).await?
    {
        Ok(lock) => lock,
        Err(busy) => {
            let msg = format!(
                "another action holds the lock of {app} on this host ({}); nothing changed: retry when it finishes",
                busy.holder
            );
            return Ok(finish(End::new(Outcome::Locked, msg), total));
        }
    };
    let (pair, fixed) = recover::read_recovered(host, app, None, recover::Tidy::Quick).await?;
    pause_point(Step::State).await;
    let before = pair.to_app_state_unprobed().await;
    let end = steps(host, &pair, expect_live).await?;
    let end = match recover::reverted(&fixed) {
        Some(phrase) => End {
            message: format!("{phrase}; {}", end.message),
            ..end
        },
        None => end,
    };
    let mut r = finish(end, total);
    r.before = Some(before);
    let after = super::state::read(host, app).await?;
    let mut state = after.to_app_state_unprobed().await;
    if let Some(live) = state
        .live
        .as_mut()
        .filter(|_| r.outcome == Outcome::RolledBack)
    {
        live.health = Health::Healthy;
    }
    r.apps = vec![state];
    let entry = HistoryEntry::of(&r, None, run_url);
    history::keep(host, app, &mut r, entry);
    Ok(r)
}

fn nothing(app: &str) -> String {
    format!("no prior version of {app} on this host: nothing to roll back to")
}

/// True when `expect` names this container: its image or its deploy id.
fn names(expect: &str, image: &str, deploy_id: Option<&str>) -> bool {
    expect == image || Some(expect) == deploy_id
}

async fn steps(host: &Host, pair: &Pair, expect_live: Option<&str>) -> anyhow::Result<End> {
    let app = pair.app.as_str();
    let (Some(live), Some(marker), Some(proxy)) =
        (pair.live(), pair.marker.as_ref(), pair.proxy.as_ref())
    else {
        return Ok(End::new(Outcome::NothingToRollBack, nothing(app)));
    };
    // Already rolled back from the version asked about, or (without --expect-live) from the
    // version live before this one: a no-op success.
    let last = marker
        .rejected
        .last()
        .filter(|r| r.back_to.is_some() && r.back_to == live.deploy_id)
        .filter(|r| expect_live.is_none_or(|x| names(x, &r.image, Some(&r.deploy_id))));
    let target = pair.rollback_target();
    if let (Some(r), true) = (last, target.is_none() || expect_live.is_some()) {
        return Ok(End::new(
            Outcome::RolledBack,
            format!(
                "already rolled back to {}; {} was rejected at {} (live on {}; nothing changed)",
                live.image,
                r.image,
                r.at.format("%Y-%m-%d %H:%M:%SZ"),
                live.color
            ),
        ));
    }
    if let Some(x) = expect_live.filter(|x| !names(x, &live.image, live.deploy_id.as_deref())) {
        return Ok(End::new(
            Outcome::NotExpectedLive,
            format!(
                "--expect-live {x}: the live version of {app} is {} (deploy {}) on {}; nothing changed",
                live.image,
                live.deploy_id.as_deref().unwrap_or("unknown"),
                live.color
            ),
        ));
    }
    let Some(target) = target else {
        return Ok(End::new(Outcome::NothingToRollBack, nothing(app)));
    };
    if let Some(end) = ready(host, target).await? {
        return Ok(end);
    }

    let t = host.events.start(&host.scope, Step::Switch.event());
    let mut rejected = marker.rejected.clone();
    if let Some(id) = &live.deploy_id {
        rejected.push(Rejected {
            deploy_id: id.clone(),
            image: live.image.clone(),
            at: Utc::now(),
            back_to: target.deploy_id.clone(),
        });
    }
    let drop = rejected.len().saturating_sub(REJECTED_KEPT);
    rejected.drain(..drop);
    let switched = Marker {
        live: target.color,
        since: Utc::now(),
        // The version left is rejected: no rollback target after a rollback.
        prior_deploy: None,
        warm_until: None,
        live_deploy: target.deploy_id.clone(),
        verified: false,
        previous: Some(Box::new(marker.confirmed())),
        pending: Some(format!("rollback to {}", target.image)),
        rejected,
        // The version left finishes its requests while the command returns; whatever comes
        // next waits for them, until this deadline.
        drain_until: Some(drain::deadline(live.drain)),
    };
    let body = switch::point(
        &switch::current_body(host, app)?,
        target.color,
        Ports::of(pair),
    );
    let to = (&switched, target.port);
    switch::commit_and_route(host, app, to, &body, Step::SwitchConfig).await?;
    t.ok(format!(
        "proxy routes new requests to {}; {} drains (unverified)",
        target.color, live.color
    ));
    pause_point(Step::Switch).await;

    let t = host.events.start(&host.scope, Step::Verify.event());
    let address = deploy::probe_address(&proxy.public_address);
    let confirmed = verify::through_proxy(
        address,
        proxy.public_port,
        target.health_probe(),
        target.color,
        VERIFY_WITHIN,
    )
    .await;
    match confirmed {
        Ok(n) => {
            t.ok(format!(
                "{} answered through the proxy ({n} request(s))",
                target.color
            ));
        }
        Err(why) => {
            t.fail(&why);
            let now = super::state::read(host, app).await?;
            recover::revert(host, &now).await?;
            return Ok(End::new(
                Outcome::Failed,
                format!(
                    "the rollback of {app} to {} was not confirmed through the proxy ({why}); traffic went back to {} on {}",
                    target.image, live.image, live.color
                ),
            ));
        }
    }
    pause_point(Step::Verify).await;
    let t = host.events.start(&host.scope, Step::Verified.event());
    proxy::commit(host, app, &switched.confirmed(), &body)?;
    t.ok(format!("{} on {} is verified", target.image, target.color));
    pause_point(Step::Verified).await;
    Ok(End::new(
        Outcome::RolledBack,
        format!(
            "{app} rolled back to {} on {}; {} was rejected: it is never a rollback target again",
            target.image, target.color, live.image
        ),
    ))
}

/// Makes sure the target serves before any traffic moves: a warm prior that answers its health
/// path is ready; a stopped or unhealthy one is started (again) and health-gated. `Some(end)`
/// when it did not become healthy: nothing was switched.
async fn ready(host: &Host, target: &Slot) -> anyhow::Result<Option<End>> {
    if target.running {
        let t = host.events.start(&host.scope, Step::Probe.event());
        match http::get(
            "127.0.0.1",
            target.port,
            target.health_probe(),
            PROBE_TIMEOUT,
        )
        .await
        {
            Ok(r) if r.is_success() => {
                t.ok(format!(
                    "{} answered {} (warm)",
                    target.name, target.health_path
                ));
                return Ok(None);
            }
            Ok(r) => {
                t.fail(format!(
                    "{} answered HTTP {}: cold path",
                    target.name, r.status
                ));
            }
            Err(e) => {
                t.fail(format!("{}: {e}: cold path", target.name));
            }
        }
        start::stop_and_restart(host, &target.name).await?;
    } else {
        let t = host.events.start(&host.scope, Step::Start.event());
        start::restart_color(host, &target.name).await?;
        t.ok(format!("{} started again", target.name));
    }
    let t = host.events.start(&host.scope, Step::Ready.event());
    let gate = health::gate(
        host,
        &target.name,
        target.port,
        target.health_probe(),
        target.health_timeout,
    )
    .await?;
    match gate {
        Gate::Healthy { probes } => {
            t.ok(format!("{} healthy ({probes} probes)", target.name));
            Ok(None)
        }
        Gate::Exited { detail: why, logs } | Gate::TimedOut { last: why, logs } => {
            t.fail(&why);
            Ok(Some(End {
                outcome: Outcome::Failed,
                message: format!(
                    "the prior version {} did not become healthy ({why}); the live version keeps serving",
                    target.image
                ),
                logs,
            }))
        }
    }
}
