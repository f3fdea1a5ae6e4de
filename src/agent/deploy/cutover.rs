//! The deploy's cutover, from the switch on: the proxy's config is written (recorded as
//! unverified) and its runtime API moves new requests, the new color is verified through the
//! proxy and watched for the verify window, the switch is confirmed final, the old color drains and is kept warm or
//! stopped, and the reply is put together.

use super::{probe_address, Run, Stop, Undo, ACTION};
use crate::agent::canary::alarms::AlarmWatch;
use crate::agent::protocol::{AgentReply, Color, HistoryEntry, Outcome};
use crate::agent::state::{self, Marker, Slot};
use crate::agent::step::{Step, VERIFY_WITHIN};
use crate::agent::{
    drain, health, history, pause_point, proxy, receipt, reply, start, switch, verify,
};
use crate::report::{StepStatus, StepTimer};
use chrono::Utc;
use std::time::Duration;

impl Run<'_> {
    pub(super) fn layout(&self) -> proxy::Layout {
        proxy::Layout {
            public_address: self.spec.public_address().to_string(),
            public_port: self.spec.public_port,
            extra_lines: self.spec.proxy_lines.clone(),
        }
    }

    /// The state of a switch to `color` not verified yet: what it replaces (`previous`, the
    /// verified state a revert goes back to), the prior it keeps, what made it.
    pub(super) fn unverified(&self, color: Color, old: Option<&Slot>, pending: String) -> Marker {
        let current = self.pair.marker.as_ref();
        Marker {
            live: color,
            since: Utc::now(),
            prior_deploy: old.and_then(|o| o.deploy_id.clone()),
            warm_until: None,
            live_deploy: Some(self.spec.deploy_id.clone()),
            verified: false,
            previous: current.map(|m| Box::new(m.confirmed())),
            pending: Some(pending),
            rejected: current.map(|m| m.rejected.clone()).unwrap_or_default(),
            drain_until: None,
        }
    }

    /// Config first (the state says: switched, not verified, and which verified state to go
    /// back to), then the runtime API; the first deployment starts the proxy instead.
    pub(super) async fn switch(
        &mut self,
        color: Color,
        body: &str,
        old: Option<&Slot>,
    ) -> Result<Marker, Stop> {
        let (host, spec, app) = (self.host, self.spec, self.spec.app.as_str());
        let mut marker = self.unverified(color, old, format!("deploy of {}", spec.image));
        marker.drain_until = old.map(|_| drain::deadline(Duration::from_millis(spec.drain_ms)));
        // The receipt's window opens just before the switch step (its two readings of the
        // counters take 20 ms, which are not the switch's).
        if let Some(old) = old {
            self.switched = Some(receipt::mark(host, app, self.logging_since).await);
            self.open_at_switch = proxy::sessions(host, app, old.color).await.ok();
        }
        let t = self.timer(Step::Switch);
        // Once the config is renamed, the way back is the revert (which then does the rest).
        self.undo.push(Undo::Revert);
        let port = self.port;
        let switched = match old {
            Some(_) => {
                let to = (&marker, port);
                switch::commit_and_route(host, app, to, body, Step::SwitchConfig).await
            }
            None => match proxy::commit(host, app, &marker, body) {
                Ok(()) => {
                    pause_point(Step::SwitchConfig).await;
                    proxy::ensure_running(host, app, &spec.proxy_image, &self.layout(), None).await
                }
                Err(e) => Err(e),
            },
        };
        match switched {
            Ok(()) => {
                let drains = old
                    .map(|o| format!(", {} drains", o.color))
                    .unwrap_or_default();
                t.ok(format!(
                    "proxy routes new requests to {color}{drains} (unverified)"
                ));
                Ok(marker)
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Err(Stop::failed(match old {
                    Some(o) => format!("{e:#}; traffic went back to {} on {}", o.image, o.color),
                    None => format!("{e:#}; the first deployment of {app} was removed"),
                }))
            }
        }
    }

    /// Through the proxy once, then the watch for the verify window; a failure switches back.
    pub(super) async fn verify(&mut self, color: Color, name: &str) -> Result<(), Stop> {
        let spec = self.spec;
        let address = probe_address(spec.public_address());
        let t = self.timer(Step::Verify);
        let through = verify::through_proxy(
            address,
            spec.public_port,
            spec.health_probe(),
            color,
            VERIFY_WITHIN,
        )
        .await;
        match through {
            Ok(n) => {
                t.ok(format!(
                    "{color} answered through the proxy on port {} ({n} request(s))",
                    spec.public_port
                ));
            }
            Err(why) => {
                t.fail(&why);
                return Err(self.switched_back(name, why).await);
            }
        }
        pause_point(Step::Verify).await;
        if spec.verify_window_ms > 0 {
            let t = self.timer(Step::Watch);
            let window = Duration::from_millis(spec.verify_window_ms);
            let mut health = verify::HealthWatch::new(name, self.port, spec.health_probe());
            let mut alarms = AlarmWatch::new(self.host, &spec.alarms).await;
            match verify::watch(self.host, &mut health, &mut alarms, window).await? {
                Ok(()) => {
                    t.ok(format!(
                        "{name} stayed healthy for {} ms",
                        spec.verify_window_ms
                    ));
                }
                Err(why) => {
                    t.fail(&why);
                    return Err(self.switched_back(name, why).await);
                }
            }
        }
        pause_point(Step::Watch).await;
        Ok(())
    }

    /// The halt after the new color failed past the switch; the unwind does the switch back.
    pub(super) async fn switched_back(&self, name: &str, why: String) -> Stop {
        let logs = self.host.log_tail(name, health::LOG_LINES).await;
        let message = match self.pair.live() {
            None => format!(
                "{why}; first deployment of {} failed and was removed",
                self.spec.app
            ),
            Some(old) => format!(
                "{why}; traffic went back to {} on {} automatically; the failed version was removed and its last log lines are in the reply",
                old.image, old.color
            ),
        };
        let outcome = if self.pair.live().is_some() {
            Outcome::AutoRolledBack
        } else {
            Outcome::Failed
        };
        Stop::Halt {
            outcome,
            message,
            logs,
        }
    }

    /// The verify window passed: the switch is final. The prior's keep-warm starts now.
    pub(super) async fn confirm(&mut self, marker: &Marker, body: &str) -> Result<(), Stop> {
        let t = self.timer(Step::Verified);
        let mut done = marker.confirmed();
        done.warm_until = Utc::now().checked_add_signed(chrono::Duration::milliseconds(
            i64::try_from(self.spec.keep_warm_ms).unwrap_or(i64::MAX),
        ));
        proxy::commit(self.host, &self.spec.app, &done, body)?;
        self.undo.clear();
        t.ok(format!("{} on {} is verified", self.spec.image, done.live));
        Ok(())
    }

    /// Waits for the old color's requests in flight until its drain deadline (the proxy
    /// closes what is left then: long-lived connections), takes it out of the backend, and
    /// keeps it running warm (or stops it with `--keep-warm 0`).
    pub(super) async fn drain(&mut self, old: &Slot, marker: &Marker) -> Result<(), Stop> {
        let (host, spec) = (self.host, self.spec);
        let t = self.timer(Step::Drain);
        let until = marker
            .drain_until
            .unwrap_or_else(|| drain::deadline(Duration::from_millis(spec.drain_ms)));
        let drained = drain::drain(host, &spec.app, old.color, until).await?;
        self.cut_at_deadline = Some(drained.cut);
        let warm = if spec.keep_warm_ms == 0 {
            start::stop(host, &old.name).await?;
            "stopped (keep-warm 0)".to_string()
        } else {
            format!(
                "kept warm for {} ms as the rollback target",
                spec.keep_warm_ms
            )
        };
        match drained.phrase(old.color) {
            Some(phrase) if drained.cut > 0 => {
                t.finish(StepStatus::Warning, format!("{phrase}; {warm}"))
            }
            Some(phrase) => t.ok(format!("{phrase}; {warm}")),
            None => t.ok(format!("{} drained; {warm}", old.name)),
        };
        Ok(())
    }

    /// What users saw since the switch, as the proxy counted and logged it; once per deploy
    /// (after the drain, or after a switch back).
    pub(super) async fn take_receipt(&mut self) {
        let Some(mark) = self.switched.take() else {
            return;
        };
        let t = self.timer(Step::Receipt);
        let follower = self.follower.as_ref();
        let mut taken = receipt::take(self.host, &self.spec.app, &mark, follower).await;
        taken.held = self
            .open_at_switch
            .map(|open| crate::report::receipt::Held {
                open_at_switch: open,
                cut_at_deadline: self.cut_at_deadline.unwrap_or(0),
            });
        let status = if taken.during.failed() > 0 {
            StepStatus::Warning
        } else {
            StepStatus::Ok
        };
        t.finish(status, taken.line());
        self.receipt = Some(taken);
    }

    /// The reply: outcome, message, log lines, the state before and after, every event.
    pub(super) async fn finish(
        &mut self,
        total: StepTimer,
        outcome: Outcome,
        message: String,
        logs: Vec<String>,
    ) -> AgentReply {
        let message = match &self.reverted {
            Some(phrase) => format!("{phrase}; {message}"),
            None => message,
        };
        // The receipt, the state after, and the retire of the prior replaced, at once: none
        // waits for another.
        let (host, app) = (self.host, self.spec.app.clone());
        // A version that went through was just verified healthy: it is not probed again.
        let deployed = outcome == Outcome::Deployed;
        let after = async move {
            let after = state::read(host, &app).await.ok()?;
            if !deployed {
                return Some(after.to_app_state().await);
            }
            let mut state = after.to_app_state_unprobed().await;
            if let Some(live) = state.live.as_mut() {
                live.health = crate::agent::protocol::Health::Healthy;
            }
            Some(state)
        };
        let set_aside = matches!(self.prior, super::Prior::Aside { .. });
        let color = self.pair.idle_color();
        let retire = retire_aside(
            self.host,
            &self.spec.app,
            color,
            set_aside && outcome == Outcome::Deployed,
        );
        let (after, (), ()) = tokio::join!(after, retire, async {
            self.take_receipt().await;
            self.stop_request_log().await;
        });
        if outcome.is_success() {
            total.ok(&message);
        } else {
            total.fail(&message);
        }
        let mut r = reply(self.host, ACTION, outcome, message);
        r.log_tail = logs;
        r.first_deployment = outcome == Outcome::Deployed && self.pair.live().is_none();
        r.before = Some(self.before.clone());
        r.receipt = self.receipt.clone();
        r.canary = self.canary.clone();
        r.apps = after.into_iter().collect();
        let entry = HistoryEntry::of(&r, Some(self.spec.image.clone()), self.spec.run_url.clone());
        history::keep(self.host, &self.spec.app, &mut r, entry);
        r
    }
}

/// A deploy that went through retires the prior it set aside (the rollback target before it,
/// replaced by the old live version): renamed, stopped by Docker, never waited for. A failure
/// is only noted: the new version serves, and recovery retires a leftover later.
async fn retire_aside(host: &crate::agent::Host, app: &str, color: Color, went_through: bool) {
    if !went_through {
        return;
    }
    let aside = state::aside_name(app, color);
    if let Err(e) = start::retire(host, app, &aside, color, true).await {
        host.events.note(
            &host.scope,
            Step::Drain.event(),
            StepStatus::Warning,
            format!("{e:#}; the next deploy or recover retires it"),
        );
    }
}
