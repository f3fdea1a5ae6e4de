//! A deploy, step by step. Each step is a method that times itself as an event; a step that
//! ends the deploy early returns a [`Halt`] (its outcome and message), while an error means
//! Docker or the host failed us. `pause_point` after each step lets the crash tests kill the
//! agent there.
//!
//! lock -> read state -> recover -> secrets -> pull -> start idle color -> health gate (while
//! the next proxy config is checked) -> switch -> verify through the proxy -> watch (verify
//! window) -> drain the old color -> keep it warm (a later run stops it once keep-warm ends).

use super::health::Gate;
use super::lock::AppLock;
use super::protocol::{AgentReply, AppState, Color, DeploySpec, EnvVar, Outcome};
use super::state::{self, Marker, Pair, Slot};
use super::{
    drain, health, pause_point, proxy, pull, recover, reply, secrets, start, switch, verify, Host,
};
use crate::report::facts;
use crate::report::{StepStatus, StepTimer};
use chrono::Utc;
use std::time::Duration;

const ACTION: &str = "deploy";

/// Why a deploy ended before its last step.
struct Halt {
    outcome: Outcome,
    message: String,
    logs: Vec<String>,
}

impl Halt {
    fn failed(message: String) -> Halt {
        Halt {
            outcome: Outcome::Failed,
            message,
            logs: vec![],
        }
    }
}

/// A step's result: its value, or the reason the deploy stops here.
type Step<T> = anyhow::Result<Result<T, Halt>>;

pub async fn deploy(host: &Host, spec: &DeploySpec) -> anyhow::Result<AgentReply> {
    let total = host.events.start(&host.scope, "total");
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
    let pair = recover::read_recovered(host, app, Some(&spec.proxy_image)).await?;
    let before = pair.to_app_state().await;
    pause_point("read").await;

    let run = Run {
        host,
        spec,
        pair: &pair,
        before,
    };
    match run.steps().await? {
        Ok(done) => Ok(run.finish(total, done).await),
        Err(halt) => Ok(run.finish(total, halt).await),
    }
}

struct Run<'a> {
    host: &'a Host,
    spec: &'a DeploySpec,
    pair: &'a Pair,
    before: AppState,
}

/// Unwraps a step: on a halt, the deploy ends with it.
macro_rules! step {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(halt) => return Ok(Err(halt)),
        }
    };
}

impl Run<'_> {
    /// The runbook. `Ok(Ok(halt))` is the successful end (outcome `Deployed`).
    async fn steps(&self) -> Step<Halt> {
        step!(self.preconditions());
        let env = step!(self.secrets().await);
        let digest = step!(self.pull().await);
        pause_point("pull").await;
        let color = self.pair.idle_color();
        let (name, aside) = step!(self.start(color, env, digest.as_deref()).await);
        pause_point("start").await;
        let body = step!(self.gate(color, &name, aside).await);
        pause_point("ready").await;
        let old = self.pair.live().cloned();
        step!(self.switch(color, &name, &body, old.as_ref()).await);
        pause_point("switch").await;
        step!(self.verify(color, &name, old.as_ref(), aside).await);
        pause_point("verify").await;
        if let Some(old) = &old {
            self.drain(old, color, aside).await?;
        }
        pause_point("drain").await;
        let message = match &old {
            None => format!(
                "first deployment of {}: {} is live on {color} (no rollback target yet)",
                self.spec.app, self.spec.image
            ),
            Some(o) => format!(
                "{} is live on {color}; rollback target: {} on {}",
                self.spec.image, o.image, o.color
            ),
        };
        Ok(Ok(Halt {
            outcome: Outcome::Deployed,
            message,
            logs: vec![],
        }))
    }

    fn timer(&self, step: &str) -> StepTimer {
        self.host.events.start(&self.host.scope, step)
    }

    /// Refuses a port change, and makes a redeploy of the live image a no-op.
    fn preconditions(&self) -> Step<()> {
        let (spec, app) = (self.spec, &self.spec.app);
        if let Some(p) = self
            .pair
            .proxy
            .as_ref()
            .filter(|p| p.public_port != spec.public_port)
        {
            return Ok(Err(Halt::failed(format!(
                "{app} already serves on port {}; --public-port {} would move it: remove the app first (nothing changed)",
                p.public_port, spec.public_port
            ))));
        }
        if let Some(live) = self
            .pair
            .live()
            .filter(|l| l.image == spec.image && l.running)
        {
            return Ok(Err(Halt {
                outcome: Outcome::Deployed,
                message: format!(
                    "{} is already live on {} of {app}; nothing to do",
                    spec.image, live.color
                ),
                logs: vec![],
            }));
        }
        Ok(Ok(()))
    }

    /// The app's environment: `--env` and `--env-file`, plus SSM parameters read here, on the
    /// host (a secret of the same name wins over a plain variable).
    async fn secrets(&self) -> Step<Vec<EnvVar>> {
        let mut env = self.spec.env.clone();
        let Some(path) = &self.spec.env_from_ssm else {
            return Ok(Ok(env));
        };
        let t = self.timer("secrets");
        match secrets::from_ssm(path).await {
            Ok(vars) => {
                t.ok(format!("{} variable(s) from {path}", vars.len()));
                env.retain(|v| !vars.iter().any(|s| s.name == v.name));
                env.extend(vars);
                Ok(Ok(env))
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Ok(Err(Halt::failed(format!(
                    "{e:#}; nothing changed on the host"
                ))))
            }
        }
    }

    /// The image (and the proxy image if missing); returns the image's digest.
    async fn pull(&self) -> Step<Option<String>> {
        let t = self.timer(facts::STEP_PULL);
        let pulled = async {
            let digest = pull::pull(self.host, &self.spec.image).await?;
            pull::ensure_present(self.host, &self.spec.proxy_image).await?;
            anyhow::Ok(digest)
        };
        match pulled.await {
            Ok(digest) => {
                t.ok(format!(
                    "{} {}",
                    self.spec.image,
                    digest.as_deref().unwrap_or("(no digest)")
                ));
                Ok(Ok(digest))
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Ok(Err(Halt::failed(format!(
                    "{e:#}; nothing changed on the host"
                ))))
            }
        }
    }

    /// Sets the idle color's container (the rollback target) aside and starts the new version
    /// in its place: the prior is renamed, then killed while Docker creates the new container
    /// (neither waits for the other), and the new one starts once the prior's port is free.
    /// Returns the new container's name and whether a prior was set aside (`Some(was_running)`).
    async fn start(
        &self,
        color: Color,
        env: Vec<EnvVar>,
        digest: Option<&str>,
    ) -> Step<(String, Option<bool>)> {
        let (host, t) = (self.host, self.timer("start"));
        let mut spec = self.spec.clone();
        spec.env = env;
        let port = state::color_port(spec.public_port, color);
        let clock = std::time::Instant::now();
        let aside = match start::set_aside(host, &spec.app, color).await {
            Ok(aside) => aside,
            Err(e) => {
                t.fail(format!("{e:#}"));
                let msg = format!("{e:#}; the live version keeps serving");
                return Ok(Err(Halt::failed(msg)));
            }
        };
        let aside_ms = clock.elapsed().as_millis();
        let stop_prior = async {
            match aside {
                Some(true) => start::stop_aside(host, &spec.app, color).await,
                _ => Ok(()),
            }
        };
        let (stopped, created) =
            tokio::join!(stop_prior, start::create_color(host, &spec, color, digest));
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
                Ok(Ok((name, aside)))
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                start::remove(host, &state::color_name(&spec.app, color)).await?;
                self.put_back(color, aside).await?;
                let msg = format!("{e:#}; the live version keeps serving");
                Ok(Err(Halt::failed(msg)))
            }
        }
    }

    /// The new version failed before it was proven: its container is gone, so the prior set
    /// aside takes its place again and stays the rollback target.
    async fn put_back(&self, color: Color, aside: Option<bool>) -> anyhow::Result<()> {
        match aside {
            Some(was_running) => {
                start::restore(self.host, &self.spec.app, color, was_running).await
            }
            None => Ok(()),
        }
    }

    /// The health gate, while the next proxy config is written and checked, so the switch
    /// after a green gate is a rename and one runtime API line. Returns the checked config.
    async fn gate(&self, color: Color, name: &str, aside: Option<bool>) -> Step<String> {
        let (host, spec) = (self.host, self.spec);
        let body = proxy::render_body(&self.layout(), color);
        let port = state::color_port(spec.public_port, color);
        let t = self.timer(facts::STEP_READINESS);
        let timeout = Duration::from_millis(spec.health_timeout_ms);
        let (gate, checked) = tokio::join!(
            health::gate(host, name, port, &spec.health_path, timeout),
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
                    Ok(()) => Ok(Ok(body)),
                    Err(e) => {
                        host.events.note(
                            &host.scope,
                            "switch",
                            StepStatus::Failed,
                            format!("{e:#}"),
                        );
                        start::remove(host, name).await?;
                        self.put_back(color, aside).await?;
                        Ok(Err(Halt::failed(format!(
                            "{e:#}; {name} was removed and the live version keeps serving"
                        ))))
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
        start::remove(host, name).await?;
        self.put_back(color, aside).await?;
        Ok(Err(Halt {
            outcome: Outcome::Failed,
            message: format!(
                "{why}; {name} was removed and the live version keeps serving; its last log lines are in the reply"
            ),
            logs,
        }))
    }

    fn layout(&self) -> proxy::Layout {
        proxy::Layout {
            public_address: self.spec.public_address().to_string(),
            public_port: self.spec.public_port,
            extra_lines: self.spec.proxy_lines.clone(),
        }
    }

    /// Config first, then the runtime API; the first deployment starts the proxy instead.
    async fn switch(&self, color: Color, name: &str, body: &str, old: Option<&Slot>) -> Step<()> {
        let (host, spec, app) = (self.host, self.spec, self.spec.app.as_str());
        let marker = Marker {
            live: color,
            since: Utc::now(),
            prior_deploy: old.and_then(|o| o.deploy_id.clone()),
            warm_until: Utc::now()
                .checked_add_signed(chrono::Duration::milliseconds(spec.keep_warm_ms as i64)),
        };
        let t = self.timer("switch");
        let switched = match old {
            Some(_) => switch::commit_and_route(host, app, &marker, body).await,
            None => match proxy::commit(host, app, &marker, body) {
                Ok(()) => {
                    proxy::ensure_running(host, app, &spec.proxy_image, &self.layout(), None).await
                }
                Err(e) => Err(e),
            },
        };
        match (switched, old) {
            (Ok(()), _) => {
                let drains = old
                    .map(|o| format!(", {} drains", o.color))
                    .unwrap_or_default();
                t.ok(format!("proxy routes new requests to {color}{drains}"));
                Ok(Ok(()))
            }
            (Err(e), Some(_)) => {
                t.fail(format!("{e:#}"));
                Err(e.context("the switch failed; run the deploy again to converge"))
            }
            (Err(e), None) => {
                // Nothing served yet: undo the whole first deployment so the next one starts
                // clean instead of recovering a proxy that cannot start.
                t.fail(format!("{e:#}"));
                let _ = std::fs::remove_file(host.config_path(app));
                start::remove(host, &state::proxy_name(app)).await?;
                start::remove(host, name).await?;
                Ok(Err(Halt::failed(format!(
                    "{e:#}; the first deployment of {app} was removed"
                ))))
            }
        }
    }

    /// Through the proxy once, then the watch for the verify window; a failure switches back.
    async fn verify(
        &self,
        color: Color,
        name: &str,
        old: Option<&Slot>,
        aside: Option<bool>,
    ) -> Step<()> {
        let spec = self.spec;
        let address = probe_address(spec.public_address());
        let t = self.timer("verify");
        let within = Duration::from_secs(5);
        match verify::through_proxy(address, spec.public_port, &spec.health_path, color, within)
            .await
        {
            Ok(n) => {
                t.ok(format!(
                    "{color} answered through the proxy on port {} ({n} request(s))",
                    spec.public_port
                ));
            }
            Err(why) => {
                t.fail(&why);
                return self.switch_back(color, old, aside, why).await.map(Err);
            }
        }
        if spec.verify_window_ms == 0 {
            return Ok(Ok(()));
        }
        let t = self.timer("watch");
        let port = state::color_port(spec.public_port, color);
        let window = Duration::from_millis(spec.verify_window_ms);
        match verify::watch(self.host, name, port, &spec.health_path, window).await? {
            Ok(()) => {
                t.ok(format!(
                    "{name} stayed healthy for {} ms",
                    spec.verify_window_ms
                ));
                Ok(Ok(()))
            }
            Err(why) => {
                t.fail(&why);
                self.switch_back(color, old, aside, why).await.map(Err)
            }
        }
    }

    /// The new color failed after the switch: route back to the old color (still running, in
    /// drain) and remove the new one. With no old color (first deployment) the new container
    /// is removed and the proxy answers 503 until a good version is deployed.
    async fn switch_back(
        &self,
        failed: Color,
        old: Option<&Slot>,
        aside: Option<bool>,
        why: String,
    ) -> anyhow::Result<Halt> {
        let (host, app) = (self.host, self.spec.app.as_str());
        let name = state::color_name(app, failed);
        let logs = host.log_tail(&name, health::LOG_LINES).await;
        let Some(old) = old else {
            start::remove(host, &name).await?;
            return Ok(Halt {
                outcome: Outcome::Failed,
                message: format!("{why}; first deployment of {app} failed and was removed"),
                logs,
            });
        };
        let t = self.timer("switch-back");
        // The prior set aside before this deploy becomes the rollback target again.
        let before = self.pair.marker.as_ref();
        let marker = Marker {
            live: old.color,
            since: before.map_or_else(Utc::now, |m| m.since),
            prior_deploy: aside.and(before.and_then(|m| m.prior_deploy.clone())),
            warm_until: aside.and(before.and_then(|m| m.warm_until)),
        };
        let body = switch::flip(&switch::current_body(host, app)?, old.color);
        switch::commit_and_route(host, app, &marker, &body).await?;
        start::remove(host, &name).await?;
        self.put_back(failed, aside).await?;
        t.ok(format!(
            "proxy routes to {} again; {name} removed",
            old.color
        ));
        Ok(Halt {
            outcome: Outcome::AutoRolledBack,
            message: format!(
                "{why}; traffic went back to {} on {} automatically; the failed version was removed and its last log lines are in the reply",
                old.image, old.color
            ),
            logs,
        })
    }

    /// Waits for the old color's requests in flight, takes it out of the backend, and keeps it
    /// running warm (or stops it with `--keep-warm 0`).
    async fn drain(&self, old: &Slot, color: Color, aside: Option<bool>) -> anyhow::Result<()> {
        let spec = self.spec;
        let t = self.timer("drain");
        let timeout = Duration::from_millis(spec.drain_ms);
        // The new version is proven: the prior set aside is no longer the rollback target.
        let aside_name = state::aside_name(&spec.app, color);
        let remove_aside = async {
            match aside {
                Some(_) => start::remove(self.host, &aside_name).await,
                None => Ok(()),
            }
        };
        let (left, removed) = tokio::join!(
            drain::drain(self.host, &spec.app, old.color, timeout),
            remove_aside
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
    async fn finish(&self, total: StepTimer, end: Halt) -> AgentReply {
        if end.outcome.is_success() {
            total.ok(&end.message);
        } else {
            total.fail(&end.message);
        }
        let mut r = reply(self.host, ACTION, end.outcome, end.message);
        r.log_tail = end.logs;
        r.first_deployment = end.outcome == Outcome::Deployed && self.pair.live().is_none();
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
        t: Some(10),
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
