//! A deploy, step by step, in the order of the runbook. Each step times itself as an event
//! named by [`Step`] and is followed by its pause point (the crash tests kill the agent
//! there). A step that ends the deploy early returns a [`Stop`]; before the reply, every
//! change made so far is undone from the [`Undo`] list, in reverse order, so there is one
//! way back whatever step failed.
//!
//! lock -> read state and recover -> secrets -> pull (as the pull policy says) -> spec hash (a redeploy of the same
//! spec is a no-op) -> start idle color -> health gate (while the next proxy config is
//! checked) -> switch (recorded as unverified) -> verify through the proxy -> watch (verify
//! window) -> verified (final) -> drain the old color -> keep it warm.

use super::health::Gate;
use super::lock::AppLock;
use super::protocol::{AgentReply, AppState, Color, DeploySpec, EnvVar, Outcome};
use super::state::{self, Marker, Pair, Slot};
use super::step::{Step, STOP_GRACE_SECS, VERIFY_WITHIN};
use super::{
    drain, health, pause_point, proxy, pull, recover, registry_auth, reply, secrets, spec_hash,
    start, switch, verify, Host,
};
use crate::report::{StepStatus, StepTimer};
use chrono::Utc;
use std::time::Duration;

const ACTION: &str = "deploy";

/// Why a deploy ended before its last step: its outcome, message and the failed container's
/// log lines. An `Error` is Docker or the host failing us.
enum Stop {
    Halt {
        outcome: Outcome,
        message: String,
        logs: Vec<String>,
    },
    Error(anyhow::Error),
}

impl Stop {
    fn failed(message: String) -> Stop {
        Stop::Halt {
            outcome: Outcome::Failed,
            message,
            logs: vec![],
        }
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Error(e)
    }
}

/// The end of a deploy that went through.
struct Done {
    message: String,
}

/// What the idle color held before the new version took its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prior {
    /// Nothing: the new version took an empty place.
    None,
    /// Renamed `<app>-<color>-prior`; `running` when it was warm.
    Aside { running: bool },
}

/// One change to take back when the deploy stops before it is verified.
#[derive(Debug, Clone)]
enum Undo {
    /// Remove the new container.
    RemoveNew(String),
    /// Put the prior set aside back in its place.
    PutBack(Color, Prior),
    /// Remove the staged `haproxy.cfg.next`.
    Unstage,
    /// The switch happened: go back to the last verified state (this replaces every undo
    /// before it: the revert removes the new container and puts the prior back itself).
    Revert,
}

pub async fn deploy(host: &Host, spec: &DeploySpec) -> anyhow::Result<AgentReply> {
    let total = host.events.start(&host.scope, Step::Total.event());
    let app = spec.app.as_str();
    host.ensure_app_dir(app)?;
    let holder = format!("deploy {} of {}", spec.deploy_id, spec.image);
    let lock = AppLock::acquire(&host.lock_path(app), host.config.lock_wait, &holder).await?;
    let _lock = match lock {
        Ok(lock) => lock,
        Err(busy) => {
            let msg = format!(
                "another action holds the lock of {app} on this host ({}); waited {} ms, nothing changed: retry when it finishes",
                if busy.holder.is_empty() { "holder unknown" } else { &busy.holder },
                busy.waited.as_millis()
            );
            total.fail(&msg);
            return Ok(reply(host, ACTION, Outcome::Locked, msg));
        }
    };
    let (pair, fixed) = recover::read_recovered(host, app, Some(&spec.proxy_image)).await?;
    let before = pair.to_app_state().await;
    pause_point(Step::State).await;

    let mut run = Run {
        host,
        spec,
        pair: &pair,
        before,
        undo: Vec::new(),
        reverted: recover::reverted(&fixed).cloned(),
    };
    let end = run.steps().await;
    let end = match end {
        Ok(done) => Ok((Outcome::Deployed, done.message, vec![])),
        Err(stop) => {
            let unwound = run.unwind().await;
            match (stop, unwound) {
                (
                    Stop::Halt {
                        outcome,
                        message,
                        logs,
                    },
                    Ok(()),
                ) => Ok((outcome, message, logs)),
                (Stop::Halt { message, .. }, Err(e)) => Err(e.context(format!(
                    "{message}; putting the host back failed: run `bluegreen recover --app {app}`"
                ))),
                (Stop::Error(e), Ok(())) => {
                    Err(e.context("the deploy stopped; the host was put back"))
                }
                (Stop::Error(e), Err(u)) => Err(e.context(format!(
                    "putting the host back failed too ({u:#}): run `bluegreen recover --app {app}`"
                ))),
            }
        }
    };
    match end {
        Ok((outcome, message, logs)) => Ok(run.finish(total, outcome, message, logs).await),
        Err(e) => {
            total.fail(format!("{e:#}"));
            Err(e)
        }
    }
}

struct Run<'a> {
    host: &'a Host,
    spec: &'a DeploySpec,
    pair: &'a Pair,
    before: AppState,
    undo: Vec<Undo>,
    /// The phrase of an interrupted switch this deploy reverted first.
    reverted: Option<String>,
}

impl Run<'_> {
    /// The runbook.
    async fn steps(&mut self) -> Result<Done, Stop> {
        self.preconditions()?;
        let env = self.secrets().await?;
        pause_point(Step::Secrets).await;
        let (digest, content) = self.pull().await?;
        pause_point(Step::Pull).await;
        let hash = spec_hash::of(self.host, self.spec, &env, content.as_deref())?;
        if let Some(done) = self.same_spec_live(&hash) {
            return Ok(done);
        }
        let color = self.pair.idle_color();
        let name = self.start(color, env, digest.as_deref(), &hash).await?;
        pause_point(Step::Start).await;
        let body = self.gate(color, &name).await?;
        pause_point(Step::Ready).await;
        let old = self.pair.live().cloned();
        let marker = self.switch(color, &body, old.as_ref()).await?;
        pause_point(Step::Switch).await;
        self.verify(color, &name).await?;
        self.confirm(&marker, &body).await?;
        pause_point(Step::Verified).await;
        if let Some(old) = &old {
            self.drain(old, color).await?;
        }
        pause_point(Step::Drain).await;
        Ok(Done {
            message: match &old {
                None => format!(
                    "first deployment of {}: {} is live on {color} (no rollback target yet)",
                    self.spec.app, self.spec.image
                ),
                Some(o) => format!(
                    "{} is live on {color}; rollback target: {} on {}",
                    self.spec.image, o.image, o.color
                ),
            },
        })
    }

    fn timer(&self, step: Step) -> StepTimer {
        self.host.events.start(&self.host.scope, step.event())
    }

    /// Takes back every change since the start, newest first.
    async fn unwind(&mut self) -> anyhow::Result<()> {
        let (host, app) = (self.host, self.spec.app.as_str());
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::RemoveNew(name) => start::remove(host, &name).await?,
                Undo::PutBack(color, Prior::Aside { running }) => {
                    start::restore(host, app, color, running).await?
                }
                Undo::PutBack(_, Prior::None) => {}
                Undo::Unstage => {
                    let _ = std::fs::remove_file(host.app_dir(app).join("haproxy.cfg.next"));
                }
                Undo::Revert => {
                    let now = state::read(host, app).await?;
                    if !now.verified() {
                        recover::revert(host, &now).await?;
                        self.undo.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// Refuses a port change.
    fn preconditions(&self) -> Result<(), Stop> {
        let (spec, app) = (self.spec, &self.spec.app);
        if let Some(p) = self
            .pair
            .proxy
            .as_ref()
            .filter(|p| p.public_port != spec.public_port)
        {
            return Err(Stop::failed(format!(
                "{app} already serves on port {}; --public-port {} would move it: remove the app first (nothing changed)",
                p.public_port, spec.public_port
            )));
        }
        Ok(())
    }

    /// A redeploy is a no-op only when the live color runs, its switch was verified, and its
    /// whole effective spec (digest, env, Parameter Store values, options, health and proxy
    /// settings) hashes the same; any difference is a real blue-green deploy.
    fn same_spec_live(&self, hash: &str) -> Option<Done> {
        let live = self.pair.live()?;
        let same = live.running
            && self.pair.verified()
            && live.spec_hash.as_deref() == Some(hash)
            && self.pair.proxy.as_ref().is_some_and(|p| p.running);
        same.then(|| Done {
            message: format!(
                "{} is already live and verified on {} of {} with the same settings; nothing to do",
                self.spec.image, live.color, self.spec.app
            ),
        })
    }

    /// The app's environment: `--env` and `--env-file`, plus SSM parameters read here, on the
    /// host (a secret of the same name wins over a plain variable).
    async fn secrets(&self) -> Result<Vec<EnvVar>, Stop> {
        let mut env = self.spec.env.clone();
        let Some(path) = &self.spec.env_from_ssm else {
            return Ok(env);
        };
        let t = self.timer(Step::Secrets);
        match secrets::from_ssm(path).await {
            Ok(vars) => {
                t.ok(format!("{} variable(s) from {path}", vars.len()));
                env.retain(|v| !vars.iter().any(|s| s.name == v.name));
                env.extend(vars);
                Ok(env)
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Err(Stop::failed(format!("{e:#}; nothing changed on the host")))
            }
        }
    }

    /// The image as the pull policy says (and the proxy image if missing), with the registry
    /// credentials the host has; returns the image's digest and what identifies its content
    /// for the spec hash (the digest, or the image id of an image built on the host).
    async fn pull(&self) -> Result<(Option<String>, Option<String>), Stop> {
        let (host, spec) = (self.host, self.spec);
        let t = self.timer(Step::Pull);
        let auth = registry_auth::Sources::new(
            host.config.docker_config.as_deref(),
            spec.registry_credentials_from_ssm.as_deref(),
        );
        let pulled = async {
            let found = pull::image(host, &spec.image, spec.pull, &auth).await?;
            pull::ensure_present(host, &spec.proxy_image, &auth).await?;
            anyhow::Ok(found)
        };
        match pulled.await {
            Ok((policy, present)) => {
                let how = if present.pulled {
                    "pulled"
                } else {
                    "already on the host, not pulled"
                };
                t.ok(format!(
                    "{} {} ({how}; --pull {policy})",
                    spec.image,
                    present.digest.as_deref().unwrap_or("(no registry digest)")
                ));
                let content = present.digest.clone().or(present.id);
                Ok((present.digest, content))
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Err(Stop::failed(format!("{e:#}; nothing changed on the host")))
            }
        }
    }

    /// Sets the idle color's container (the rollback target) aside and starts the new version
    /// in its place: the prior is renamed, then killed while Docker creates the new container
    /// (neither waits for the other), and the new one starts once the prior's port is free.
    async fn start(
        &mut self,
        color: Color,
        env: Vec<EnvVar>,
        digest: Option<&str>,
        hash: &str,
    ) -> Result<String, Stop> {
        let (host, t) = (self.host, self.timer(Step::Start));
        let mut spec = self.spec.clone();
        spec.env = env;
        let port = state::color_port(spec.public_port, color);
        let clock = std::time::Instant::now();
        let prior = match start::set_aside(host, &spec.app, color).await {
            Ok(Some(running)) => Prior::Aside { running },
            Ok(None) => Prior::None,
            Err(e) => {
                t.fail(format!("{e:#}"));
                return Err(Stop::failed(format!(
                    "{e:#}; the live version keeps serving"
                )));
            }
        };
        self.undo.push(Undo::PutBack(color, prior));
        let name = state::color_name(&spec.app, color);
        self.undo.push(Undo::RemoveNew(name.clone()));
        let aside_ms = clock.elapsed().as_millis();
        let stop_prior = async {
            match prior {
                Prior::Aside { running: true } => start::stop_aside(host, &spec.app, color).await,
                _ => Ok(()),
            }
        };
        let (stopped, created) = tokio::join!(
            stop_prior,
            start::create_color(host, &spec, color, digest, hash)
        );
        let created_ms = clock.elapsed().as_millis() - aside_ms;
        let started = match (stopped, created) {
            (Ok(()), Ok(name)) => start::run_color(host, &name, port).await.map(|()| name),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        match started {
            Ok(name) => {
                t.ok(format!(
                    "{name} on 127.0.0.1:{port} (previous {color} set aside: {aside_ms} ms, stopped while the new one was created: {created_ms} ms, docker start: {} ms)",
                    clock.elapsed().as_millis() - aside_ms - created_ms
                ));
                Ok(name)
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Err(Stop::failed(format!(
                    "{e:#}; the live version keeps serving"
                )))
            }
        }
    }

    /// The health gate, while the next proxy config is written and checked, so the switch
    /// after a green gate is a rename and one runtime API line. Returns the checked config.
    async fn gate(&mut self, color: Color, name: &str) -> Result<String, Stop> {
        let (host, spec) = (self.host, self.spec);
        let body = proxy::render_body(&self.layout(), color);
        let port = state::color_port(spec.public_port, color);
        let t = self.timer(Step::Ready);
        let timeout = Duration::from_millis(spec.health_timeout_ms);
        self.undo.push(Undo::Unstage);
        let (gate, checked) = tokio::join!(
            health::gate(host, name, port, spec.health_probe(), timeout),
            proxy::stage_and_check(
                host,
                &spec.app,
                &spec.proxy_image,
                self.pair.proxy.as_ref(),
                &body
            ),
        );
        let (why, logs) = match gate? {
            Gate::Healthy { probes } => {
                t.ok(format!(
                    "{name} answered {} {} times in a row ({probes} probes)",
                    spec.health_path,
                    health::SUCCESSES
                ));
                return match checked {
                    Ok(()) => Ok(body),
                    Err(e) => {
                        host.events.note(
                            &host.scope,
                            Step::Switch.event(),
                            StepStatus::Failed,
                            format!("{e:#}"),
                        );
                        Err(Stop::failed(format!(
                            "{e:#}; {name} was removed and the live version keeps serving"
                        )))
                    }
                };
            }
            Gate::Exited { detail, logs } => {
                t.fail(&detail);
                (format!("{detail} before becoming healthy"), logs)
            }
            Gate::TimedOut { last, logs } => {
                let why = format!(
                    "{name} was not healthy within {} ms (last probe of {}: {last})",
                    spec.health_timeout_ms, spec.health_path
                );
                t.fail(&why);
                (why, logs)
            }
        };
        Err(Stop::Halt {
            outcome: Outcome::Failed,
            message: format!(
                "{why}; {name} was removed and the live version keeps serving; its last log lines are in the reply"
            ),
            logs,
        })
    }

    fn layout(&self) -> proxy::Layout {
        proxy::Layout {
            public_address: self.spec.public_address().to_string(),
            public_port: self.spec.public_port,
            extra_lines: self.spec.proxy_lines.clone(),
        }
    }

    /// Config first (the state says: switched, not verified, and which verified state to go
    /// back to), then the runtime API; the first deployment starts the proxy instead.
    async fn switch(
        &mut self,
        color: Color,
        body: &str,
        old: Option<&Slot>,
    ) -> Result<Marker, Stop> {
        let (host, spec, app) = (self.host, self.spec, self.spec.app.as_str());
        let current = self.pair.marker.as_ref();
        let marker = Marker {
            live: color,
            since: Utc::now(),
            prior_deploy: old.and_then(|o| o.deploy_id.clone()),
            warm_until: None,
            live_deploy: Some(spec.deploy_id.clone()),
            verified: false,
            previous: current.map(|m| Box::new(m.confirmed())),
            pending: Some(format!("deploy of {}", spec.image)),
            rejected: current.map(|m| m.rejected.clone()).unwrap_or_default(),
        };
        let t = self.timer(Step::Switch);
        // Once the config is renamed, the way back is the revert (which then does the rest).
        self.undo.push(Undo::Revert);
        let switched = match old {
            Some(_) => switch::commit_and_route(host, app, &marker, body, Step::SwitchConfig).await,
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
    async fn verify(&mut self, color: Color, name: &str) -> Result<(), Stop> {
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
            let port = state::color_port(spec.public_port, color);
            let window = Duration::from_millis(spec.verify_window_ms);
            match verify::watch(self.host, name, port, spec.health_probe(), window).await? {
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
    async fn switched_back(&self, name: &str, why: String) -> Stop {
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
    async fn confirm(&mut self, marker: &Marker, body: &str) -> Result<(), Stop> {
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

    /// Waits for the old color's requests in flight, takes it out of the backend, and keeps it
    /// running warm (or stops it with `--keep-warm 0`).
    async fn drain(&self, old: &Slot, color: Color) -> Result<(), Stop> {
        let spec = self.spec;
        let t = self.timer(Step::Drain);
        let timeout = Duration::from_millis(spec.drain_ms);
        // The new version is proven: the prior set aside is no longer the rollback target.
        let aside_name = state::aside_name(&spec.app, color);
        let (left, removed) = tokio::join!(
            drain::drain(self.host, &spec.app, old.color, timeout),
            start::remove(self.host, &aside_name)
        );
        let left = left?;
        removed?;
        let warm = if spec.keep_warm_ms == 0 {
            stop(self.host, &old.name).await?;
            "stopped (keep-warm 0)".to_string()
        } else {
            format!(
                "kept warm for {} ms as the rollback target",
                spec.keep_warm_ms
            )
        };
        if left == 0 {
            t.ok(format!("{} drained; {warm}", old.name));
        } else {
            t.finish(
                StepStatus::Warning,
                format!(
                    "{} still had {left} request(s) in flight after {} ms; {warm}",
                    old.name, spec.drain_ms
                ),
            );
        }
        Ok(())
    }

    /// The reply: outcome, message, log lines, the state before and after, every event.
    async fn finish(
        &self,
        total: StepTimer,
        outcome: Outcome,
        message: String,
        logs: Vec<String>,
    ) -> AgentReply {
        let message = match &self.reverted {
            Some(phrase) => format!("{phrase}; {message}"),
            None => message,
        };
        if outcome.is_success() {
            total.ok(&message);
        } else {
            total.fail(&message);
        }
        let mut r = reply(self.host, ACTION, outcome, message);
        r.log_tail = logs;
        r.first_deployment = outcome == Outcome::Deployed && self.pair.live().is_none();
        r.before = Some(self.before.clone());
        if let Ok(after) = state::read(self.host, &self.spec.app).await {
            r.apps = vec![after.to_app_state().await];
        }
        r
    }
}

async fn stop(host: &Host, name: &str) -> anyhow::Result<()> {
    use bollard::query_parameters::StopContainerOptions;
    let options = StopContainerOptions {
        t: Some(STOP_GRACE_SECS),
        ..Default::default()
    };
    host.docker
        .stop_container(name, Some(options))
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot stop {name}")))
}

/// Where the agent reaches the proxy: the bound address, or loopback for a wildcard.
pub fn probe_address(public_address: &str) -> &str {
    match public_address {
        "0.0.0.0" | "::" => "127.0.0.1",
        a => a,
    }
}
