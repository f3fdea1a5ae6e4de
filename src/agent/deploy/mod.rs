//! A deploy, step by step, in the order of the runbook. Each step times itself as an event
//! named by [`Step`] and is followed by its pause point (the crash tests kill the agent
//! there). A step that ends the deploy early returns a [`Stop`]; before the reply, every
//! change made so far is undone from the [`Undo`] list, in reverse order, so there is one
//! way back whatever step failed.
//!
//! lock -> read state and recover -> secrets -> pull (as the pull policy says) -> spec hash (a
//! redeploy of the same spec is a no-op) -> start the idle color on a port of its own (its
//! prior set aside, still running) -> health gate (while the next proxy config is checked) ->
//! pre-switch command -> settle (the idle color's server finishes what it still carries) ->
//! switch (recorded as unverified) -> verify through the proxy -> watch (verify window) ->
//! verified (final) -> drain the old color, keep it warm, retire the prior set aside.

use super::health::Gate;
use super::lock::AppLock;
use super::protocol::{AgentReply, AppState, Color, DeploySpec, EnvVar, Outcome};
use super::state::{self, Pair};
use super::step::Step;
use super::{
    drain, health, pause_point, proxy, pull, receipt, recover, registry_auth, reply, secrets,
    spec_hash, start, Host,
};
use crate::report::receipt::Receipt;
use crate::report::{StepStatus, StepTimer};
use std::time::Duration;

mod canary;
mod cutover;

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
    let (pair, fixed) =
        recover::read_recovered(host, app, Some(&spec.proxy_image), recover::Tidy::Quick).await?;
    let before = pair.to_app_state().await;
    pause_point(Step::State).await;

    let mut run = Run {
        host,
        spec,
        pair: &pair,
        before,
        undo: Vec::new(),
        reverted: recover::reverted(&fixed).cloned(),
        switched: None,
        port: 0,
        prior: Prior::None,
        open_at_switch: None,
        cut_at_deadline: None,
        canary: None,
        receipt: None,
        logging_since: None,
        follower: None,
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
            run.stop_request_log().await;
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
    /// The proxy's counters at the switch from a serving color.
    switched: Option<receipt::Mark>,
    /// The loopback port of the new container.
    port: u16,
    /// What the idle color held before the new version took its place.
    prior: Prior,
    /// The old color's requests in flight at the switch (long-lived connections among them).
    open_at_switch: Option<u64>,
    /// Those its drain deadline closed.
    cut_at_deadline: Option<u64>,
    /// The canary's steps and intervals, when the deploy ran one.
    canary: Option<crate::report::canary::CanaryRun>,
    /// What users saw from the switch to the end of the drain (or of the switch back).
    receipt: Option<Receipt>,
    /// When this deploy turned the proxy's request log on (the receipt's baseline starts
    /// there at the earliest).
    logging_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The proxy's request log, followed from then (the receipt's and the canary's lines).
    follower: Option<super::request_log::Follower>,
}

impl Run<'_> {
    /// The runbook.
    async fn steps(&mut self) -> Result<Done, Stop> {
        self.preconditions()?;
        self.network_exists().await?;
        let env = self.secrets().await?;
        pause_point(Step::Secrets).await;
        let (digest, content) = self.pull().await?;
        pause_point(Step::Pull).await;
        let hash = spec_hash::of(self.host, self.spec, &env, content.as_deref())?;
        if let Some(done) = self.same_spec_live(&hash) {
            return Ok(done);
        }
        self.start_request_log().await;
        let color = self.pair.idle_color();
        let name = self
            .start(color, env.clone(), digest.as_deref(), &hash)
            .await?;
        pause_point(Step::Start).await;
        let body = self.gate(color, &name).await?;
        pause_point(Step::Ready).await;
        self.pre_switch(self.port, env).await?;
        self.settle_idle(color).await?;
        let old = self.pair.live().cloned();
        let marker = match (&self.spec.canary, &old) {
            (Some(canary), Some(old)) => self.canary(color, &name, &body, old, canary).await?,
            _ => self.switch(color, &body, old.as_ref()).await?,
        };
        pause_point(Step::Switch).await;
        self.verify(color, &name).await?;
        self.confirm(&marker, &body).await?;
        pause_point(Step::Verified).await;
        if let Some(old) = &old {
            self.drain(old, &marker).await?;
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

    /// The proxy serving the live color logs each request from here to the receipt: the
    /// switch's window and a baseline before it. Off otherwise (see [`proxy::LOG_SWITCH`]);
    /// a proxy that refuses (started from an older config) logs every request anyway. The
    /// log is followed from now on, while the deploy's other steps run
    /// ([`super::request_log::Follower`]).
    async fn start_request_log(&mut self) {
        let serving =
            self.pair.live().is_some() && self.pair.proxy.as_ref().is_some_and(|p| p.running);
        if !serving {
            return;
        }
        let since = chrono::Utc::now();
        if proxy::request_log(self.host, &self.spec.app, true)
            .await
            .is_ok()
        {
            self.logging_since = Some(since);
        }
        self.follower = Some(super::request_log::Follower::start(
            self.host,
            &self.spec.app,
            since,
        ));
    }

    /// Turns the request log off again, once the receipt is taken or the deploy ended without
    /// one. A refusal is in the command log; the deploy's outcome stands.
    pub(super) async fn stop_request_log(&mut self) {
        if self.logging_since.take().is_some() {
            let _ = proxy::request_log(self.host, &self.spec.app, false).await;
        }
    }

    /// The pre-switch command, when given: a container of the new image on the host's
    /// network, with `BLUEGREEN_URL` naming the idle color's loopback address (the proxy's own
    /// way to it), bounded by the health timeout. A non-zero exit stops this host's deploy
    /// with nothing switched.
    async fn pre_switch(&self, port: u16, mut env: Vec<EnvVar>) -> Result<(), Stop> {
        if !self.spec.pre_switch_checks.is_empty() {
            return self.pre_switch_checks(port).await;
        }
        let Some(command) = &self.spec.pre_switch_command else {
            return Ok(());
        };
        let (host, spec) = (self.host, self.spec);
        let t = self.timer(Step::PreSwitch);
        let url = format!("http://127.0.0.1:{port}");
        env.push(EnvVar {
            name: "BLUEGREEN_URL".into(),
            value: url.clone(),
        });
        let reach = start::Reach::HostLoopback;
        let check = start::create_oneshot(host, spec, "pre-switch", command, &env, reach)
            .await
            .map_err(Stop::Error)?;
        pause_point(Step::PreSwitch).await;
        let timeout = Duration::from_millis(spec.health_timeout_ms);
        let ended = start::wait_exit(host, &check, timeout).await;
        let logs = host.log_tail(&check, super::release::TAIL_LINES).await;
        start::remove(host, &check).await.map_err(Stop::Error)?;
        let shown = serde_json::to_string(command).unwrap_or_default();
        let why = match ended {
            Ok(0) => {
                t.ok(format!("{shown} against {url} exited 0"));
                return Ok(());
            }
            Ok(code) => format!("exited {code}"),
            Err(why) => why,
        };
        let why = format!("the pre-switch command {shown} against {url} {why}");
        t.fail(&why);
        Err(Stop::Halt {
            outcome: Outcome::Failed,
            message: format!("{why}; the live version keeps serving"),
            logs,
        })
    }

    /// `pre-switch-on: host`: the agent's own HTTP checks against the idle color, within the
    /// health timeout. A check that does not answer as expected stops this host's deploy with
    /// nothing switched.
    async fn pre_switch_checks(&self, port: u16) -> Result<(), Stop> {
        let spec = self.spec;
        let t = self.timer(Step::PreSwitch);
        let within = Duration::from_millis(spec.health_timeout_ms);
        let host_header = spec.health_host.as_deref();
        match super::checks::run(&spec.pre_switch_checks, port, host_header, within).await {
            Ok(passed) => {
                t.ok(passed);
                Ok(())
            }
            Err(why) => {
                let why = format!("the pre-switch check {why}");
                t.fail(&why);
                Err(Stop::failed(format!(
                    "{why}; the live version keeps serving"
                )))
            }
        }
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

    /// The Docker network `--network` names is on the host, before anything changes.
    async fn network_exists(&self) -> Result<(), Stop> {
        let Some(network) = &self.spec.container.network else {
            return Ok(());
        };
        let options = bollard::query_parameters::InspectNetworkOptions::default();
        let inspect = self.host.docker.inspect_network(network, Some(options));
        let read = format!("docker network inspect {network}");
        match self.host.read(read, inspect).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                Err(Stop::failed(format!(
                    "--network {network:?}: no such Docker network on this host; create it first (docker network create {network}): nothing changed"
                )))
            }
            Err(e) => Err(Stop::Error(anyhow::Error::new(e).context(format!(
                "cannot inspect the Docker network {network}"
            )))),
        }
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
        let Some(path) = &self.spec.env_from_ssm else {
            return Ok(self.spec.env.clone());
        };
        let t = self.timer(Step::Secrets);
        match secrets::app_env(self.host, self.spec).await {
            Ok((env, read)) => {
                t.ok(format!("{read} variable(s) from {path}"));
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

    /// Sets the idle color's container (the rollback target) aside, still running, and starts
    /// the new version in its place on a loopback port of its own: nothing waits for the
    /// prior to stop.
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
        let clock = std::time::Instant::now();
        // The state read after recovery knows the idle color's container (recovery put back or
        // retired every prior an interrupted deploy set aside, so its name is free).
        let prior = match start::set_aside(host, &spec.app, self.pair.slot(color)).await {
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
        self.prior = prior;
        let name = state::color_name(&spec.app, color);
        self.undo.push(Undo::RemoveNew(name.clone()));
        let aside_ms = clock.elapsed().as_millis();
        match start::launch(host, &spec, color, digest, hash).await {
            Ok((name, port)) => {
                self.port = port;
                let aside = match prior {
                    Prior::None => String::new(),
                    Prior::Aside { running } => format!(
                        "previous {color} set aside{}: {aside_ms} ms, ",
                        if running { ", still running" } else { "" }
                    ),
                };
                t.ok(format!(
                    "{name} on 127.0.0.1:{port} ({aside}docker create and start: {} ms)",
                    clock.elapsed().as_millis() - aside_ms
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

    /// The idle color's server may still carry requests of the container that had it (the
    /// color a rollback left, or one an earlier deploy's drain deadline cut short): the new
    /// container gets that server only once the proxy counts none on it or the color's drain
    /// deadline has passed (then the proxy closes what is left, and the event counts it).
    async fn settle_idle(&self, color: Color) -> Result<(), Stop> {
        let proxy_runs = self.pair.proxy.as_ref().is_some_and(|p| p.running);
        let Some(marker) = self.pair.marker.as_ref() else {
            return Ok(());
        };
        // A state written before the deadline was kept: the deploy's own drain from now.
        let drain = Duration::from_millis(self.spec.drain_ms);
        let until = marker.drain_until.unwrap_or_else(|| drain::deadline(drain));
        let (host, app) = (self.host, self.spec.app.as_str());
        if !proxy_runs || !drain::in_progress(host, app, color, Some(until)).await {
            return Ok(());
        }
        let t = self.timer(Step::Settle);
        match drain::settle(host, app, color, until).await {
            Ok(drained) => {
                let phrase = drained.phrase(color).unwrap_or_default();
                if drained.cut > 0 {
                    t.finish(StepStatus::Warning, phrase);
                } else {
                    t.ok(phrase);
                }
                Ok(())
            }
            Err(e) => {
                t.fail(format!("{e:#}"));
                Err(Stop::Error(e))
            }
        }
    }

    /// Removes the retired containers that have stopped and asks Docker to stop those whose
    /// color has drained (`start::tidy_retired`); what it did is a note of the reply. A
    /// failure is only noted: nothing of the deploy depends on it.
    async fn tidy(&self) {
        let pair = self.pair;
        let live = pair.marker.as_ref().map(|m| (m.live, m.drain_until));
        let host = self.host;
        match start::tidy_retired(host, &pair.app, &pair.retired, live).await {
            Ok(done) if done.is_empty() => {}
            Ok(done) => host
                .events
                .note(&host.scope, "tidy", StepStatus::Ok, done.join("; ")),
            Err(e) => host.events.note(
                &host.scope,
                "tidy",
                StepStatus::Warning,
                format!("{e:#}; a later deploy or recover tries again"),
            ),
        }
    }

    /// The health gate, while the next proxy config is written and checked, so the switch
    /// after a green gate is a rename and one runtime API line. Returns the checked config.
    async fn gate(&mut self, color: Color, name: &str) -> Result<String, Stop> {
        let (host, spec) = (self.host, self.spec);
        let ports = proxy::Ports::of(self.pair).with(color, self.port);
        let body = proxy::render_body(&self.layout(), color, ports);
        let port = self.port;
        let t = self.timer(Step::Ready);
        let timeout = Duration::from_millis(spec.health_timeout_ms);
        self.undo.push(Undo::Unstage);
        // The containers earlier commands retired are tidied meanwhile: Docker is idle while
        // the app boots, and they are none of this deploy's business (see `tidy`).
        let (gate, checked, ()) = tokio::join!(
            health::gate(host, name, port, spec.health_probe(), timeout),
            proxy::stage_and_check(
                host,
                &spec.app,
                &spec.proxy_image,
                self.pair.proxy.as_ref(),
                &body
            ),
            self.tidy(),
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
}

/// Where the agent reaches the proxy: the bound address, or loopback for a wildcard.
pub fn probe_address(public_address: &str) -> &str {
    match public_address {
        "0.0.0.0" | "::" => "127.0.0.1",
        a => a,
    }
}
