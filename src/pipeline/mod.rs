//! `bluegreen run`: lint -> verify image -> preflight -> [release] -> deploy -> verify live ->
//! report.
//!
//! Each stage returns a typed outcome and emits timed events into one [`EventLog`]; the report
//! is built only from those. A stage that fails stops the run before anything changes on a
//! host (lint, image, preflight) or after the fleet has put every host back (deploy). The
//! report stage always runs unless skipped, so a failed run is reported as well as a good one.
//!
//! The runbook is [`Pipeline::stages`]; each stage is a file of this folder (`lint.rs`,
//! `verify_image.rs`, `preflight.rs`, `release.rs`, `deploy.rs`, `verify_live.rs`,
//! `report.rs`), with the inputs (`inputs.rs`), the plan (`plan.rs`) and the record handed to
//! the report (`record.rs`) beside them.

mod deploy;
mod inputs;
mod lint;
mod plan;
mod preflight;
mod progress;
mod record;
mod release;
mod report;
mod verify_image;
mod verify_live;

use crate::config::{RunConfig, RunInputs, Stage};
use crate::exit::ExitCode;
use crate::fleet::ssm_run::SsmFleet;
use crate::fleet::{LocalTransport, TargetArgs};
use crate::gha::RunnerEnv;
use crate::report::{EventLog, Redactor, RunStatus, Scope, StepStatus};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use record::Findings;
use std::path::PathBuf;

/// `bluegreen run`: the whole pipeline, from flags or (in a workflow step) action inputs.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: RunInputs,
}

/// Runs the pipeline and returns its exit code.
pub async fn run_cli(args: RunArgs) -> anyhow::Result<ExitCode> {
    let runner = RunnerEnv::from_env();
    let (inputs, origin) = inputs::gather_inputs(args.inputs)?;
    let config = RunConfig::from_inputs(&inputs, origin)?;
    let target = inputs::target_args(&config)?;
    inputs::check_image_inputs(&config)?;
    let redactor = inputs::redactor_for(&config);
    if runner.in_actions {
        // Masks first, so the runner hides the values in every later log line too.
        redactor
            .emit_masks(&mut std::io::stdout())
            .context("writing ::add-mask:: commands")?;
        let values = config.deploy.env.iter().map(|v| v.value.as_str());
        for mask in crate::report::redact::env_masks(values) {
            println!("{mask}");
        }
    }
    crate::cli::deploy::warn_secret_like_env(&config.deploy.env, "env", runner.in_actions);
    let log = progress::Progress::new(runner.in_actions, redactor.clone());
    let pipeline = Pipeline {
        workspace: runner
            .workspace
            .clone()
            .unwrap_or_else(|| PathBuf::from(".")),
        deploy_id: crate::agent::spec::new_deploy_id(),
        events: EventLog::with_echo(log.echo()),
        log,
        started_at: Utc::now(),
        config,
        target,
        runner,
        redactor,
    };
    Ok(pipeline.run().await)
}

/// One run: its validated inputs, where it runs, and the events its stages emit.
struct Pipeline {
    config: RunConfig,
    target: TargetArgs,
    runner: RunnerEnv,
    redactor: Redactor,
    workspace: PathBuf,
    deploy_id: String,
    events: EventLog,
    /// The action log's live view of `events`: a group per stage and per host.
    log: std::sync::Arc<progress::Progress>,
    started_at: DateTime<Utc>,
}

/// The hosts and how requests reach them.
enum Fleet {
    Local(LocalTransport),
    Ssm(SsmFleet),
}

impl Pipeline {
    /// The runbook, stage by stage. `Ok(None)` is a finished dry run.
    async fn stages(&self, found: &mut Findings) -> Result<Option<RunStatus>, Stop> {
        {
            let _group = self.log.stage("lint workflows");
            self.lint_stage(found)?;
        }
        let image = {
            let _group = self.log.stage("verify image");
            self.verify_image_stage(found).await?
        };
        let _group = self.log.stage("preflight");
        let fleet = self.connect().await?;
        found.preflight = self.preflight_stage(&fleet, found).await?;
        drop(_group);
        // Say what will happen before it happens; a dry run stops here.
        println!("{}", self.plan(&image, found));
        if self.config.dry_run {
            if let Err(e) = crate::gha::set_output("status", "planned") {
                eprintln!("warning: writing the status output: {e:#}");
            }
            return Ok(None);
        }
        if self.skipped(Stage::Deploy) {
            return Ok(Some(RunStatus::Success));
        }
        let spec = self.deploy_spec(&image);
        // One deploy per app and environment across the fleet, released on every exit path.
        let lock = self.take_fleet_lock(&fleet).await?;
        let deployed = self.deploy_and_verify(&fleet, &spec, found).await;
        if let (Some(lock), Fleet::Ssm(fleet)) = (lock, &fleet) {
            if let Err(e) = lock.release(fleet.transport.client()).await {
                eprintln!("warning: {e:#}; it expires at {}", lock.holder.expires_at);
            }
        }
        deployed
    }

    async fn deploy_and_verify(
        &self,
        fleet: &Fleet,
        spec: &crate::agent::protocol::DeploySpec,
        found: &mut Findings,
    ) -> Result<Option<RunStatus>, Stop> {
        found.deployment = self.start_github_deployment(found).await;
        self.release_stage(fleet, spec, found).await?;
        self.log.rollout(fleet.hosts(), fleet.batches());
        self.deploy_stage(fleet, spec, found).await?;
        let _group = self.log.stage("verify live");
        self.verify_live_stage(fleet, spec).await?;
        Ok(Some(RunStatus::Success))
    }

    /// Runs the stages, then the report (unless skipped) whatever they ended with.
    async fn run(self) -> ExitCode {
        let mut found = Findings::default();
        let outcome = self.stages(&mut found).await;
        let (status, reason, code) = match &outcome {
            Ok(Some(status)) => (*status, None, ExitCode::Ok),
            Ok(None) => return ExitCode::Ok, // dry run: the plan was printed, nothing to report
            Err(stop) => (stop.status, Some(stop.reason.clone()), stop.code),
        };
        if let Some(reason) = &reason {
            eprintln!("error: {}", self.redactor.redact(reason));
        }
        if !self.config.skips(Stage::Report) {
            let _group = self.log.stage("report");
            self.report(status, reason, &found).await;
        }
        code
    }

    /// Whether the input skips `stage`; a skipped stage is recorded as such.
    fn skipped(&self, stage: Stage) -> bool {
        let skip = self.config.skips(stage);
        if skip {
            self.events.note(
                &Scope::Pipeline,
                stage.name(),
                StepStatus::Skipped,
                "skipped by input",
            );
        }
        skip
    }
}

impl Fleet {
    /// How many hosts the rollout goes to.
    fn hosts(&self) -> usize {
        match self {
            Fleet::Local(_) => 1,
            Fleet::Ssm(f) => f.hosts.len(),
        }
    }

    /// How many batches the rollout takes.
    fn batches(&self) -> usize {
        match self {
            Fleet::Local(_) => 1,
            Fleet::Ssm(f) => f.limits.batches(f.hosts.len()),
        }
    }
}

/// Why the run stopped where it did.
struct Stop {
    status: RunStatus,
    reason: String,
    /// The exit code, as `docs/exit-codes.md` names the cause.
    code: ExitCode,
}

impl Stop {
    /// A stage found a failure (exit 1).
    fn failure(reason: impl Into<String>) -> Stop {
        Stop::with_code(ExitCode::Failed, reason)
    }

    /// An input a stage cannot use (exit 2); nothing was changed.
    fn usage(reason: impl Into<String>) -> Stop {
        Stop::with_code(ExitCode::Usage, reason)
    }

    /// Docker, AWS or the network failed us (exit 5).
    fn environment(reason: impl Into<String>) -> Stop {
        Stop::with_code(ExitCode::Environment, reason)
    }

    fn with_code(code: ExitCode, reason: impl Into<String>) -> Stop {
        Stop::with_status(RunStatus::Failure, code, reason)
    }

    /// The run ended with `status` (a failed or locked deploy).
    fn with_status(status: RunStatus, code: ExitCode, reason: impl Into<String>) -> Stop {
        Stop {
            status,
            reason: reason.into(),
            code,
        }
    }
}
