//! The deploy's switch as a canary (`--strategy canary`): instead of moving every request at
//! once, the new version's share goes up step by step, judged against the old version
//! (`agent::canary::run`). The state records the switch as unverified from its first step, so
//! a crash anywhere in it is reverted like any unverified switch; an abort ends the deploy the
//! way a failed verify window does (the unwind reverts it); a promoted canary is at 100 % and
//! goes on as a blue-green deploy does: verify, watch, drain, keep warm.

use super::{Run, Stop, Undo};
use crate::agent::canary::alarms::AlarmWatch;
use crate::agent::canary::run::{Canary, End};
use crate::agent::canary::spec::CanarySpec;
use crate::agent::protocol::{Color, Outcome};
use crate::agent::proxy::{self, Other, Ports};
use crate::agent::state::{Marker, Slot};
use crate::agent::step::Step;
use crate::agent::{drain, health, receipt, switch};
use std::time::Duration;

impl Run<'_> {
    pub(super) async fn canary(
        &mut self,
        color: Color,
        name: &str,
        body: &str,
        old: &Slot,
        spec: &CanarySpec,
    ) -> Result<Marker, Stop> {
        let (host, app) = (self.host, self.spec.app.as_str());
        let mut alarms = AlarmWatch::new(host, &self.spec.alarms).await;
        // A typo in an alarm's name, or an alarm already firing, stops the deploy here: a
        // canary must not start blind or against an alarm.
        match alarms.check(true).await {
            Ok(None) => {}
            Ok(Some(why)) => {
                return Err(Stop::failed(format!(
                    "{why} before the canary started; nothing was switched"
                )))
            }
            Err(e) => return Err(Stop::failed(format!("{e}; nothing was switched"))),
        }
        let marker = self.unverified(color, Some(old), format!("canary of {}", self.spec.image));
        self.switched = Some(receipt::mark(host, app, self.logging_since).await);
        self.open_at_switch = proxy::sessions(host, app, old.color).await.ok();
        let ports = Ports::of(self.pair).with(color, self.port);
        let t = self.timer(Step::Switch);
        // From the first write of the config on, the way back is the revert.
        self.undo.push(Undo::Revert);
        let weighted = switch::share(body, color, 0, ports);
        proxy::commit(host, app, &marker, &weighted).map_err(Stop::Error)?;
        t.ok(format!(
            "canary: {color} joins {} at 0 %, steps {} (unverified)",
            old.color,
            spec.steps_line()
        ));
        let started;
        let log = match &self.follower {
            Some(f) => f,
            None => {
                started = crate::agent::request_log::Follower::start(host, app, chrono::Utc::now());
                &started
            }
        };
        let canary = Canary {
            host,
            app,
            spec,
            deploy_id: &self.spec.deploy_id,
            image: &self.spec.image,
            new: color,
            new_name: name,
            ports,
            probe: self.spec.health_probe(),
            alarms,
            log,
        };
        match canary.run(&marker, body).await {
            Ok(End::Promoted(run)) => {
                self.canary = Some(run);
                self.promote(color, body, ports, marker).await
            }
            Ok(End::Aborted { run, why }) => {
                let step = run.reached_text();
                self.canary = Some(run);
                let logs = host.log_tail(name, health::LOG_LINES).await;
                Err(Stop::Halt {
                    outcome: Outcome::AutoRolledBack,
                    message: format!(
                        "the canary of {} was aborted at {step}: {why}; its weight went to 0 and traffic went back to {} on {} (every request)",
                        self.spec.image, old.image, old.color
                    ),
                    logs,
                })
            }
            Err(e) => Err(Stop::Error(e.context("the canary stopped"))),
        }
    }

    /// The canary reached 100 %: every request to the new color (config first), the old
    /// one drains from now on; the switch is still unverified until the verify window passed.
    async fn promote(
        &mut self,
        color: Color,
        body: &str,
        ports: Ports,
        mut marker: Marker,
    ) -> Result<Marker, Stop> {
        let (host, app) = (self.host, self.spec.app.as_str());
        marker.drain_until = Some(drain::deadline(Duration::from_millis(self.spec.drain_ms)));
        let full = switch::point(body, color, ports);
        proxy::commit(host, app, &marker, &full).map_err(Stop::Error)?;
        proxy::route_to(host, app, color, self.port, Other::Drain)
            .await
            .map_err(Stop::Error)?;
        Ok(marker)
    }
}
