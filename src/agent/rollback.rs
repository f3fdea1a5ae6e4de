//! Rollback: traffic back to the prior version kept on the host.
//!
//! A warm prior (still running) is a proxy switch only: the config flip and one runtime API
//! line, then the command returns; the version it left drains in the background of HAProxy
//! and a later run takes it out of the backend. A stopped prior is started again and
//! health-gated first. With no prior, nothing changes and the command exits 3.

use super::health::Gate;
use super::lock::AppLock;
use super::protocol::{AgentReply, Health, Outcome};
use super::state::Marker;
use super::{deploy, health, recover, reply, start, switch, verify, Host};
use chrono::Utc;
use std::time::Duration;

const ACTION: &str = "rollback";

pub async fn rollback(host: &Host, app: &str) -> anyhow::Result<AgentReply> {
    let total = host.events.start(&host.scope, "total");
    let finish = |outcome: Outcome, message: String, total: crate::report::StepTimer| {
        if outcome.is_success() {
            total.ok(&message);
        } else {
            total.fail(&message);
        }
        reply(host, ACTION, outcome, message)
    };
    let nothing = || format!("no prior version of {app} on this host: nothing to roll back to");
    if !host.app_dir(app).exists() {
        return Ok(finish(Outcome::NothingToRollBack, nothing(), total));
    }
    let _lock = match AppLock::acquire(&host.lock_path(app), host.config.lock_wait, "rollback")
        .await?
    {
        Ok(lock) => lock,
        Err(busy) => {
            let msg = format!(
                "another action holds the lock of {app} on this host ({}); nothing changed: retry when it finishes",
                busy.holder
            );
            return Ok(finish(Outcome::Locked, msg, total));
        }
    };
    let pair = recover::read_recovered(host, app, None).await?;
    let (Some(target), Some(live), Some(proxy)) =
        (pair.rollback_target(), pair.live(), pair.proxy.as_ref())
    else {
        return Ok(finish(Outcome::NothingToRollBack, nothing(), total));
    };
    let before = pair.to_app_state_unprobed().await;

    if !target.running {
        let t = host.events.start(&host.scope, "start");
        start::restart_color(host, &target.name).await?;
        t.ok(format!("{} started again", target.name));
        let t = host
            .events
            .start(&host.scope, crate::report::facts::STEP_READINESS);
        match health::gate(
            host,
            &target.name,
            target.port,
            &target.health_path,
            target.health_timeout,
        )
        .await?
        {
            Gate::Healthy { probes } => {
                t.ok(format!("{} healthy ({probes} probes)", target.name));
            }
            Gate::Exited { detail: why, logs } | Gate::TimedOut { last: why, logs } => {
                t.fail(&why);
                let mut r = finish(Outcome::Failed, format!(
                    "the prior version {} did not become healthy ({why}); the live version keeps serving", target.image
                ), total);
                r.log_tail = logs;
                r.before = Some(before);
                return Ok(r);
            }
        }
    }

    let t = host.events.start(&host.scope, "switch");
    let marker = Marker {
        live: target.color,
        since: Utc::now(),
        prior_deploy: live.deploy_id.clone(),
        warm_until: Some(
            Utc::now()
                .checked_add_signed(chrono::Duration::from_std(live.keep_warm).unwrap_or_default())
                .unwrap_or_else(Utc::now),
        ),
    };
    let body = switch::flip(&switch::current_body(host, app)?, target.color);
    switch::commit_and_route(host, app, &marker, &body).await?;
    t.ok(format!(
        "proxy routes new requests to {}; {} drains",
        target.color, live.color
    ));

    let t = host.events.start(&host.scope, "verify");
    let address = deploy::probe_address(&proxy.public_address);
    let within = Duration::from_secs(5);
    let confirmed = verify::through_proxy(
        address,
        proxy.public_port,
        &target.health_path,
        target.color,
        within,
    )
    .await;
    let verified = confirmed.is_ok();
    let message = match confirmed {
        Ok(n) => {
            t.ok(format!(
                "{} answered through the proxy ({n} request(s))",
                target.color
            ));
            format!(
                "{app} rolled back to {} on {}; {} is now the rollback target",
                target.image, target.color, live.image
            )
        }
        Err(why) => {
            t.fail(&why);
            format!(
                "{app} was switched back to {} on {}, but the proxy did not confirm it ({why}); check with status",
                target.image, target.color
            )
        }
    };
    let mut r = finish(Outcome::RolledBack, message, total);
    r.before = Some(before);
    // The state after, from what this command did (no second scan of the daemon): the target
    // serves, the version it left is the rollback target.
    let mut after = pair.clone();
    after.marker = Some(marker);
    for slot in [&mut after.blue, &mut after.green].into_iter().flatten() {
        if slot.color == target.color {
            slot.running = true;
        }
    }
    let mut state = after.to_app_state_unprobed().await;
    if let (Some(live), true) = (state.live.as_mut(), verified) {
        live.health = Health::Healthy;
    }
    r.apps = vec![state];
    Ok(r)
}
