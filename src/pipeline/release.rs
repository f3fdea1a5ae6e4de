//! The release stage: the release command (`release-command`, a migration) once per deploy,
//! in the new image on one host, after the preflight and before any host switches, under the
//! fleet lock. A non-zero exit, a timeout or a crash stops the run with nothing switched.

use super::{Findings, Fleet, Pipeline, Stop};
use crate::agent::protocol::{AgentRequest, DeploySpec, ReleaseResult, ReleaseSpec};
use crate::config::ReleaseConfig;
use crate::duration::saturating_ms;
use crate::fleet::interrupt::{or_stop, Stoppable};
use crate::fleet::Transport;
use crate::report::{ReleaseRecord, Scope, StepStatus};

impl Pipeline {
    pub(super) async fn release_stage(
        &self,
        fleet: &Fleet,
        spec: &DeploySpec,
        found: &mut Findings,
    ) -> Result<(), Stop> {
        let Some(release) = &self.config.release else {
            return Ok(());
        };
        let _group = self.log.stage("release");
        let host = self.release_host(fleet)?;
        let digest = crate::image::reference::ImageRef::parse(&spec.image)
            .ok()
            .and_then(|r| r.digest)
            .map(|d| d.to_string());
        if let Some(skipped) = self
            .released_before(fleet, digest.as_deref(), &host)
            .await?
        {
            found.release = Some(skipped);
            return Ok(());
        }
        let request = AgentRequest::Release(ReleaseSpec {
            deploy: spec.clone(),
            command: release.command.clone(),
            timeout_ms: saturating_ms(release.timeout),
            environment: self.config.environment.clone(),
            always: release.always,
        });
        let timer = self.events.start(&Scope::Pipeline, "release");
        let ran = match fleet {
            Fleet::Local(t) => or_stop(Stoppable::Local(t), &request, t.run(&host, &request)).await,
            Fleet::Ssm(f) => {
                let lasting = release.timeout + crate::agent::validate::COMMAND_OVERHEAD;
                let transport = f.transport.for_command_lasting(lasting);
                let work = transport.run(&host, &request);
                or_stop(Stoppable::Ssm(&f.transport), &request, work).await
            }
        };
        let reply = match ran {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                let why = format!(
                    "the release command on {host} did not report: {e:#}; nothing was switched"
                );
                timer.fail(&why);
                found.release = Some(release_record(
                    &host,
                    release,
                    why.clone(),
                    ReleaseResult::not_run(),
                ));
                return Err(Stop::failure(why));
            }
            Err(stopped) => {
                timer.fail(&stopped);
                return Err(Stop::failure(format!("{stopped}; nothing was switched")));
            }
        };
        self.events.extend(reply.events.iter().cloned());
        self.events.extend_commands(reply.commands.iter().cloned());
        let result = reply.release.clone().unwrap_or_else(ReleaseResult::not_run);
        let record = release_record(&host, release, reply.message.clone(), result);
        let ok = reply.outcome.is_success() && record.succeeded();
        if ok {
            let status = if record.result.skipped {
                StepStatus::Skipped
            } else {
                StepStatus::Ok
            };
            timer.finish(status, &reply.message);
        } else {
            timer.fail(&reply.message);
        }
        let ran = record.result.ran && !record.result.skipped;
        found.release = Some(record);
        if !ok {
            return Err(Stop::failure(reply.message));
        }
        if let (Fleet::Ssm(f), Some(digest), true) = (fleet, digest, ran) {
            let (app, env) = (&spec.app, &self.config.environment);
            crate::fleet::release_ledger::record(f.transport.client(), app, env, &digest)
                .await
                .map_err(|e| Stop::environment(format!("{e:#}; the release ran and exited 0")))?;
        }
        Ok(())
    }

    /// Over SSM, the fleet's release ledger (`fleet::release_ledger`): a digest released
    /// before for this app and environment, whichever host ran it, is not released again
    /// (unless `release-always`). `Some(record)` of the skip; `None` to run it.
    async fn released_before(
        &self,
        fleet: &Fleet,
        digest: Option<&str>,
        host: &str,
    ) -> Result<Option<ReleaseRecord>, Stop> {
        let (Fleet::Ssm(f), Some(digest), Some(release)) = (fleet, digest, &self.config.release)
        else {
            return Ok(None);
        };
        if release.always {
            return Ok(None);
        }
        let (app, env) = (&self.config.deploy.app, &self.config.environment);
        let released = crate::fleet::release_ledger::released(f.transport.client(), app, env)
            .await
            .map_err(|e| Stop::environment(format!("{e:#}; nothing was switched")))?;
        if !released.iter().any(|d| d == digest) {
            return Ok(None);
        }
        let message = format!(
            "{digest} was released for {env} before (the fleet's ledger {}): not run again (release-always: true runs it every deploy)",
            crate::fleet::release_ledger::name(app, env)
        );
        self.events
            .note(&Scope::Pipeline, "release", StepStatus::Skipped, &message);
        Ok(Some(release_record(
            host,
            release,
            message,
            ReleaseResult::skipped(),
        )))
    }

    /// `release-host` when it is one of the fleet's hosts, else the first host of the first
    /// batch. (Its SSM command lasts as long as the release may, whatever `command-timeout`.)
    fn release_host(&self, fleet: &Fleet) -> Result<String, Stop> {
        let release = self.config.release.as_ref();
        let asked = release.and_then(|r| r.host.clone());
        let name = |input: &str| self.config.origin.name(input);
        match fleet {
            Fleet::Local(_) => match asked.as_deref() {
                None | Some("local") => Ok("local".to_string()),
                Some(other) => Err(Stop::usage(format!(
                    "{} {other:?}: the local target has one host, `local`",
                    name("release-host")
                ))),
            },
            Fleet::Ssm(f) => match asked {
                Some(h) if f.hosts.contains(&h) => Ok(h),
                Some(h) => Err(Stop::usage(format!(
                    "{} {h:?}: not one of the fleet's hosts ({})",
                    name("release-host"),
                    f.hosts.join(", ")
                ))),
                None => f
                    .hosts
                    .first()
                    .cloned()
                    .ok_or_else(|| Stop::usage("no host to run the release command on")),
            },
        }
    }
}

fn release_record(
    host: &str,
    release: &ReleaseConfig,
    message: String,
    result: ReleaseResult,
) -> ReleaseRecord {
    ReleaseRecord {
        host: host.to_string(),
        command: release.command.clone(),
        message,
        result,
    }
}
