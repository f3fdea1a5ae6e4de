//! Wires the stages: lint -> verify image -> preflight -> deploy -> verify live -> report.
//!
//! Each stage returns a typed outcome and emits timed events into one [`EventLog`]; the report
//! is built only from those. A stage that fails stops the run before anything changes on a
//! host (lint, image, preflight) or after the fleet has put every host back (deploy). The
//! report stage always runs unless skipped, so a failed run is reported as well as a good one.

use crate::agent::protocol::{AgentReply, AgentRequest, AppState, Color, DeploySpec, Outcome};
use crate::config::{Origin, RunConfig, RunInputs, Stage};
use crate::exit::{ExitCode, UsageError};
use crate::fleet::preflight::{self, PreflightReport};
use crate::fleet::rollout::{self, FleetReport, HostStatus, RolloutPlan};
use crate::fleet::ssm::{self, SsmTransport};
use crate::fleet::targets::RolloutLimits;
use crate::fleet::{LocalTransport, TargetArgs, TargetKind, Transport};
use crate::gha::inputs::{parse_with_flags, FlagInput};
use crate::gha::RunnerEnv;
use crate::image::{self, ImageVerdict};
use crate::lint::{self, LintReport};
use crate::report::github::{self, GithubOptions};
use crate::report::{
    self, EventLog, HostOutcome, ImageFacts, LintFinding, LintSummary, Redactor, ReportOptions,
    RunReport, RunStatus, ScanCounts, Scope, StepStatus,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `bluegreen run`: the whole pipeline, from flags or (in a workflow step) action inputs.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: RunInputs,
}

/// How many lint findings the report lists (the counts cover all of them).
const REPORT_LINT_FINDINGS: usize = 20;

/// Runs the pipeline and returns its exit code.
pub async fn run_cli(args: RunArgs) -> anyhow::Result<ExitCode> {
    let runner = RunnerEnv::from_env();
    let (inputs, origin) = gather_inputs(args.inputs)?;
    let config = RunConfig::from_inputs(&inputs, origin)?;
    let target = target_args(&config)?;
    check_image_inputs(&config)?;
    let redactor = redactor_for(&config);
    if runner.in_actions {
        // Masks first, so the runner hides the values in every later log line too.
        redactor
            .emit_masks(&mut std::io::stdout())
            .context("writing ::add-mask:: commands")?;
    }
    let pipeline = Pipeline {
        workspace: runner
            .workspace
            .clone()
            .unwrap_or_else(|| PathBuf::from(".")),
        deploy_id: crate::fleet::cli::new_deploy_id(),
        events: EventLog::new(),
        started_at: Utc::now(),
        config,
        target,
        runner,
        redactor,
    };
    Ok(pipeline.run().await)
}

/// Flags win over `INPUT_*` variables; in a workflow step the inputs fill what flags leave out.
fn gather_inputs(flags: RunInputs) -> anyhow::Result<(RunInputs, Origin)> {
    let has_inputs = std::env::vars().any(|(k, _)| k.starts_with("INPUT_"));
    if !has_inputs {
        return Ok((flags, Origin::Cli));
    }
    let from_env: RunInputs = crate::gha::read_raw_inputs()?;
    let mut merged = serde_json::to_value(&from_env)?;
    let given = serde_json::to_value(&flags)?;
    if let (Some(merged), Some(given)) = (merged.as_object_mut(), given.as_object()) {
        for (key, value) in given.iter().filter(|(_, v)| !v.is_null()) {
            merged.insert(key.clone(), value.clone());
        }
    }
    Ok((serde_json::from_value(merged)?, Origin::Action))
}

/// The target inputs parsed by the very flags of `deploy --target ...`, so the action and the
/// CLI accept the same values with the same errors.
fn target_args(config: &RunConfig) -> anyhow::Result<TargetArgs> {
    #[derive(Parser)]
    struct TargetOnly {
        #[command(flatten)]
        target: TargetArgs,
    }
    let i = &config.inputs;
    let fields: [FlagInput; 10] = [
        ("target", "target", &i.target),
        ("instance-ids", "instance-ids", &i.instance_ids),
        ("target-tags", "target-tags", &i.target_tags),
        ("region", "region", &i.region),
        ("agent-image", "agent-image", &i.agent_image),
        ("max-concurrency", "max-concurrency", &i.max_concurrency),
        ("max-errors", "max-errors", &i.max_errors),
        ("command-timeout", "command-timeout", &i.command_timeout),
        ("output-s3-bucket", "output-s3-bucket", &i.output_s3_bucket),
        (
            "cloudwatch-log-group",
            "cloudwatch-log-group",
            &i.cloudwatch_log_group,
        ),
    ];
    let parsed: TargetOnly =
        parse_with_flags("target", &[], &fields, |input| config.origin.name(input))?;
    Ok(parsed.target)
}

/// The image-check inputs, parsed by the flags of `verify-image` after `fixed` (the repository
/// and the tag or digest).
fn image_inputs(
    config: &RunConfig,
    fixed: &[String],
) -> Result<image::VerifyImageArgs, crate::gha::InputError> {
    #[derive(Parser)]
    struct VerifyOnly {
        #[command(flatten)]
        args: image::VerifyImageArgs,
    }
    let i = &config.inputs;
    let fields: [FlagInput; 6] = [
        ("expect-digest", "expect-digest", &i.expect_digest),
        ("max-age", "max-image-age", &i.max_image_age),
        ("platform", "platform", &i.platform),
        ("scan-gate", "scan-gate", &i.scan_gate),
        ("scan-wait", "scan-wait", &i.scan_wait),
        ("region", "region", &i.region),
    ];
    let parsed: VerifyOnly = parse_with_flags("verify-image", fixed, &fields, |input| {
        config.origin.name(input)
    })?;
    Ok(parsed.args)
}

/// Checks the image-check inputs up front, whatever stage runs later, so a bad value is an
/// input error even when the verify-image stage is skipped or the run is a dry run.
fn check_image_inputs(config: &RunConfig) -> Result<(), crate::gha::InputError> {
    let placeholder = ["--repository", "placeholder", "--tag", "placeholder"].map(String::from);
    image_inputs(config, &placeholder).map(|_| ())
}

fn redactor_for(config: &RunConfig) -> Redactor {
    let mut redactor = Redactor::from_env();
    if let Some(token) = &config.github_token {
        redactor.add(token.clone());
    }
    redactor
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
        Stop {
            status: RunStatus::Failure,
            reason: reason.into(),
            code,
        }
    }
}

/// What the stages found, as the report needs it.
#[derive(Default)]
struct Findings {
    lint: Option<LintReport>,
    image: Option<ImageVerdict>,
    preflight: Vec<HostPlan>,
    fleet: Option<FleetReport>,
    /// The GitHub deployment started before the deploy, finished by the report.
    deployment: GithubDeployment,
}

/// Whether the GitHub deployment was started as the deploy began.
#[derive(Debug, Default, Clone, Copy)]
enum GithubDeployment {
    /// Not tried (not in Actions, disabled, or the run stopped before the deploy): the report
    /// creates it whole.
    #[default]
    NotStarted,
    Started(u64),
    /// GitHub refused (and the warning was printed): the report does not ask again.
    Refused,
}

/// One host before the deploy: what serves now, what will.
#[derive(Debug, Clone)]
struct HostPlan {
    host: String,
    state: Option<AppState>,
}

impl HostPlan {
    fn live_color(&self) -> Option<Color> {
        self.state.as_ref()?.live.as_ref().map(|c| c.color)
    }

    fn next_color(&self) -> Color {
        self.live_color().map_or(Color::Blue, Color::other)
    }
}

struct Pipeline {
    config: RunConfig,
    target: TargetArgs,
    runner: RunnerEnv,
    redactor: Redactor,
    workspace: PathBuf,
    deploy_id: String,
    events: EventLog,
    started_at: DateTime<Utc>,
}

/// The hosts and how requests reach them.
enum Fleet {
    Local(LocalTransport),
    Ssm {
        transport: SsmTransport,
        hosts: Vec<String>,
        /// Batch size and error budget, resolved against the host count before the plan.
        limits: RolloutLimits,
    },
}

impl Pipeline {
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

    /// The stages in order. `Ok(None)` is a finished dry run.
    async fn stages(&self, found: &mut Findings) -> Result<Option<RunStatus>, Stop> {
        self.lint_stage(found)?;
        let image = self.verify_image_stage(found).await?;
        let fleet = self.connect().await?;
        found.preflight = self.preflight_stage(&fleet, found).await?;
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
        let result = self.deploy_and_verify(&fleet, &spec, found).await;
        if let (Some(lock), Fleet::Ssm { transport, .. }) = (lock, &fleet) {
            if let Err(e) = lock.release(transport.client()).await {
                eprintln!("warning: {e:#}; it expires at {}", lock.holder.expires_at);
            }
        }
        result
    }

    /// The fleet lock `/bluegreen/locks/<app>/<environment>` (SSM targets only); a lock
    /// another deploy holds stops the run as locked, before any host is touched.
    async fn take_fleet_lock(
        &self,
        fleet: &Fleet,
    ) -> Result<Option<crate::fleet::fleet_lock::FleetLock>, Stop> {
        let Fleet::Ssm { transport, .. } = fleet else {
            return Ok(None);
        };
        let ttl =
            self.target.command_timeout.saturating_mul(3) + std::time::Duration::from_secs(600);
        let holder = crate::fleet::fleet_lock::Holder {
            deploy_id: self.deploy_id.clone(),
            run_url: self.runner.run_url(),
            expires_at: chrono::Utc::now()
                + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::hours(1)),
        };
        let taken = crate::fleet::fleet_lock::acquire(
            transport.client(),
            &self.config.deploy.app,
            &self.config.environment,
            holder,
            std::time::Duration::ZERO,
        )
        .await;
        match taken {
            Ok(lock) => {
                if let Some(old) = &lock.took_over {
                    eprintln!(
                        "warning: the fleet lock {} of deploy {} had expired; taken over",
                        lock.name, old.deploy_id
                    );
                }
                Ok(Some(lock))
            }
            Err(e) if e.is::<crate::fleet::fleet_lock::Held>() => Err(Stop {
                status: RunStatus::Locked,
                code: ExitCode::Locked,
                reason: e.to_string(),
            }),
            Err(e) => Err(Stop::environment(format!("{e:#}"))),
        }
    }

    async fn deploy_and_verify(
        &self,
        fleet: &Fleet,
        spec: &DeploySpec,
        found: &mut Findings,
    ) -> Result<Option<RunStatus>, Stop> {
        let spec = spec.clone();
        found.deployment = self.start_github_deployment(found).await;
        let report = self.deploy_stage(fleet, &spec).await;
        let status = fleet_status(&report);
        found.fleet = Some(report);
        if status != RunStatus::Success {
            let code = if status == RunStatus::Locked {
                ExitCode::Locked
            } else {
                ExitCode::Failed
            };
            return Err(Stop {
                status,
                code,
                reason: found
                    .fleet
                    .as_ref()
                    .map_or_else(String::new, |f| f.message.clone()),
            });
        }
        self.verify_live_stage(fleet, &spec).await?;
        Ok(Some(RunStatus::Success))
    }

    fn lint_stage(&self, found: &mut Findings) -> Result<(), Stop> {
        if self.skipped(Stage::Lint) {
            return Ok(());
        }
        let timer = self.events.start(&Scope::Pipeline, "lint");
        let report = match lint::lint_repository(&self.workspace, &self.config.lint_paths) {
            Ok(report) => report,
            Err(e) => {
                timer.fail(format!("{e:#}"));
                let reason = format!("lint: {e:#}");
                return Err(match crate::exit::classify(&e) {
                    ExitCode::Usage => Stop::usage(reason),
                    _ => Stop::environment(reason),
                });
            }
        };
        let blocking = lint_blocking(&report, &self.config.lint_fail_on);
        let detail = format!(
            "{} files: {} errors, {} warnings, {} notes",
            report.files_linted, report.counts.error, report.counts.warning, report.counts.note
        );
        let failed = blocking > 0 || !report.file_errors.is_empty();
        if failed {
            timer.fail(detail);
        } else if report.files_linted == 0 {
            timer.finish(StepStatus::Warning, lint::nothing_found(&self.workspace));
        } else if report.findings.is_empty() {
            timer.ok(detail);
        } else {
            timer.finish(StepStatus::Warning, detail);
        }
        let unreadable = report.file_errors.len();
        found.lint = Some(report);
        if unreadable > 0 {
            // As for `bluegreen lint`: an unreadable file may hide a retired action (exit 2).
            return Err(Stop::usage(format!(
                "lint: {unreadable} workflow files could not be read (see the report)"
            )));
        }
        if blocking > 0 {
            return Err(Stop::failure(format!(
                "lint: {blocking} findings at or above `{}`: fix them (bluegreen lint --fix) or raise lint-fail-on",
                self.config.lint_fail_on
            )));
        }
        Ok(())
    }

    /// Verifies an ECR image and returns the reference to deploy (by digest when verified).
    async fn verify_image_stage(&self, found: &mut Findings) -> Result<String, Stop> {
        let image = self.config.deploy.image.clone();
        if self.skipped(Stage::VerifyImage) {
            return Ok(image);
        }
        let Some(args) = self.verify_image_args(&image)? else {
            self.events.note(
                &Scope::Pipeline,
                "verify-image",
                StepStatus::Skipped,
                format!("{image} is not in ECR: deployed as given"),
            );
            return Ok(image);
        };
        let timer = self.events.start(&Scope::Pipeline, "verify-image");
        let verdict = match run_verify(&args, &self.events).await {
            Ok(v) => v,
            Err(e) => {
                timer.fail(format!("{e:#}"));
                let code = crate::exit::classify(&e);
                return Err(Stop::with_code(code, format!("verify-image: {e:#}")));
            }
        };
        let reference = verdict.deploy_reference().map(str::to_string);
        let passed = verdict.passed();
        found.image = Some(verdict);
        match (passed, reference) {
            (true, Some(reference)) => {
                timer.ok(format!("deploying {reference}"));
                Ok(reference)
            }
            _ => {
                timer.fail("an image check failed");
                Err(Stop::failure(
                    "verify-image: an image check failed (see the report); nothing was deployed",
                ))
            }
        }
    }

    /// The verify-image flags for an ECR reference, or `None` for another registry.
    fn verify_image_args(&self, image: &str) -> Result<Option<image::VerifyImageArgs>, Stop> {
        let (repository, selector) = split_reference(image);
        if image::reference::looks_like_ecr(repository)
            && image::reference::parse_repository_uri(repository).is_none()
        {
            return Err(Stop::usage(format!(
                "image {}",
                image::reference::malformed_ecr_uri(repository)
            )));
        }
        if image::reference::parse_repository_uri(repository).is_none() {
            return self.no_checks_outside_ecr(image).map(|()| None);
        }
        let Some((flag, value)) = selector else {
            return Err(Stop::usage(format!(
                "image {image:?}: an ECR image needs a tag or a digest (NAME:TAG or NAME@sha256:...)"
            )));
        };
        let fixed = [
            "--repository".to_string(),
            repository.to_string(),
            flag.to_string(),
            value.to_string(),
        ];
        image_inputs(&self.config, &fixed)
            .map(Some)
            .map_err(|e| Stop::usage(e.to_string()))
    }

    /// Image checks asked for on an image that is not in ECR cannot run: refuse rather than
    /// deploy without them.
    fn no_checks_outside_ecr(&self, image: &str) -> Result<(), Stop> {
        let i = &self.config.inputs;
        let gate = crate::gha::inputs::given(&i.scan_gate).filter(|g| *g != "none");
        let asked: Vec<&str> = [
            ("expect-digest", crate::gha::inputs::given(&i.expect_digest)),
            ("max-image-age", crate::gha::inputs::given(&i.max_image_age)),
            ("platform", crate::gha::inputs::given(&i.platform)),
            ("scan-gate", gate),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|_| name))
        .collect();
        if asked.is_empty() {
            return Ok(());
        }
        Err(Stop::usage(format!(
            "{}: image checks run on ECR images only, and image {image:?} is not an ECR reference \
             (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG); remove them or push the image to ECR",
            asked.join(", ")
        )))
    }

    /// Connects the transport and resolves the hosts.
    async fn connect(&self) -> Result<Fleet, Stop> {
        match self.target.target {
            TargetKind::Local => {
                self.target
                    .check_local()
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let transport = LocalTransport::detect()
                    .await
                    .map_err(|e| Stop::environment(format!("local target: {e:#}")))?;
                Ok(Fleet::Local(transport))
            }
            TargetKind::Ssm => {
                let selection = self
                    .target
                    .ssm_selection()
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let settings = self
                    .target
                    .ssm_settings(format!(
                        "bluegreen run {} {}",
                        self.config.deploy.app, self.deploy_id
                    ))
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let spec = self.deploy_spec(&self.config.deploy.image);
                crate::agent::validate::command_timeout_covers(self.target.command_timeout, &spec)
                    .map_err(|e| Stop::usage(e.to_string()))?;
                let client = ssm::client(self.target.region.as_deref()).await;
                let transport = SsmTransport::new(client, settings, self.events.clone());
                let hosts = preflight::resolve_targets(&transport, &selection)
                    .await
                    .map_err(|e| {
                        Stop::with_code(
                            crate::exit::classify(&e),
                            format!("resolving targets: {e:#}"),
                        )
                    })?;
                let limits = RolloutLimits::resolve(
                    self.target.max_concurrency,
                    self.target.max_errors,
                    hosts.len(),
                )
                .map_err(Stop::usage)?;
                Ok(Fleet::Ssm {
                    transport,
                    hosts,
                    limits,
                })
            }
        }
    }

    /// The rollback check for prior green, on every host, before anything changes.
    async fn preflight_stage(
        &self,
        fleet: &Fleet,
        found: &Findings,
    ) -> Result<Vec<HostPlan>, Stop> {
        if self.skipped(Stage::Preflight) {
            return Ok(Vec::new());
        }
        let app = &self.config.deploy.app;
        match fleet {
            Fleet::Local(transport) => {
                let timer = self.events.start(&Scope::Pipeline, "preflight");
                let request = AgentRequest::Status {
                    app: Some(app.clone()),
                };
                let reply = transport.run("local", &request).await.map_err(|e| {
                    Stop::environment(format!("preflight: asking the local agent: {e:#}"))
                })?;
                let state = reply.apps.into_iter().find(|a| &a.app == app);
                let plan = vec![HostPlan {
                    host: "local".into(),
                    state,
                }];
                timer.ok(describe_plan_hosts(&plan));
                Ok(plan)
            }
            Fleet::Ssm {
                transport, hosts, ..
            } => {
                let platforms = found
                    .image
                    .as_ref()
                    .map(|v| v.platforms().to_vec())
                    .unwrap_or_default();
                let report = preflight::preflight(transport, hosts, app, &platforms, &self.events)
                    .await
                    .map_err(|e| Stop::environment(format!("preflight: {e:#}")))?;
                print!("{}", report.render_human());
                preflight_plan(&report)
            }
        }
    }

    fn deploy_spec(&self, image: &str) -> DeploySpec {
        self.config.deploy.spec(image, &self.deploy_id)
    }

    async fn deploy_stage(&self, fleet: &Fleet, spec: &DeploySpec) -> FleetReport {
        let timer = self.events.start(&Scope::Pipeline, "deploy");
        let request = AgentRequest::Deploy(spec.clone());
        let report = match fleet {
            Fleet::Local(transport) => {
                let plan = RolloutPlan {
                    limits: RolloutLimits {
                        batch_size: 1,
                        max_errors: 0,
                    },
                    rollback_on_budget: false,
                };
                let hosts = ["local".to_string()];
                tokio::select! {
                    report = rollout::rollout(transport, &hosts, &request, plan, &self.events) => report,
                    signal = crate::fleet::cli::interrupted() => {
                        let what =
                            crate::fleet::cli::repair_after_interrupt(transport, &request, signal)
                                .await;
                        rollout::sweep_after_cancel(transport, &hosts, &request, &what, rollout::CANCEL_SWEEP, &self.events).await
                    }
                }
            }
            Fleet::Ssm {
                transport,
                hosts,
                limits,
            } => {
                let plan = RolloutPlan {
                    limits: *limits,
                    rollback_on_budget: self.target.fleet_rollback_on_budget,
                };
                // A cancelled workflow sends SIGTERM: cancel what SSM still runs, then report.
                tokio::select! {
                    report = rollout::rollout(transport, hosts, &request, plan, &self.events) => report,
                    signal = crate::fleet::cli::interrupted() => {
                        let cancelled = transport.cancel_in_flight().await;
                        let reason = format!(
                            "{signal}: CancelCommand sent for {} commands in flight; SSM does not \
                             guarantee the processes stop, so hosts may be mid-deploy: check them \
                             with `bluegreen status --target ssm`",
                            cancelled.len()
                        );
                        rollout::sweep_after_cancel(transport, hosts, &request, &reason, rollout::CANCEL_SWEEP, &self.events).await
                    }
                }
            }
        };
        let detail = report.message.clone();
        if fleet_status(&report) == RunStatus::Success {
            timer.ok(detail);
        } else {
            timer.fail(detail);
        }
        report
    }

    /// Asks every host what serves now and checks it is the image just deployed.
    async fn verify_live_stage(&self, fleet: &Fleet, spec: &DeploySpec) -> Result<(), Stop> {
        if self.skipped(Stage::VerifyLive) {
            return Ok(());
        }
        let timer = self.events.start(&Scope::Pipeline, "verify-live");
        let request = AgentRequest::Status {
            app: Some(spec.app.clone()),
        };
        let hosts: Vec<String> = match fleet {
            Fleet::Local(_) => vec!["local".into()],
            Fleet::Ssm { hosts, .. } => hosts.clone(),
        };
        let runs = match fleet {
            Fleet::Local(t) => t.run_batch(&hosts, &request).await,
            Fleet::Ssm { transport, .. } => transport.run_batch(&hosts, &request).await,
        };
        let wrong: Vec<String> = runs
            .iter()
            .filter_map(|run| live_mismatch(run.host.as_str(), &run.result, spec))
            .collect();
        if wrong.is_empty() {
            timer.ok(format!("{} hosts serve {}", hosts.len(), spec.image));
            Ok(())
        } else {
            timer.fail(wrong.join("; "));
            Err(Stop::failure(format!(
                "verify-live: not every host serves the new version: {}",
                wrong.join("; ")
            )))
        }
    }

    /// The dry run's plan: what would happen, with the figures that bound it.
    fn plan(&self, image: &str, found: &Findings) -> String {
        let d = &self.config.deploy;
        let mut out = String::new();
        let mode = if self.config.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        };
        let _ = writeln!(out, "plan for {}{mode}", d.app);
        let _ = writeln!(out, "  image:   {image}");
        let target = match self.target.target {
            TargetKind::Local => "local Docker daemon".to_string(),
            TargetKind::Ssm => format!(
                "{} instances through SSM, batches of {}, up to {} failed before rolling back",
                found.preflight.len(),
                self.target.max_concurrency,
                self.target.max_errors
            ),
        };
        let _ = writeln!(out, "  target:  {target}");
        let _ = writeln!(out, "  hosts:");
        for h in &found.preflight {
            let live = h
                .state
                .as_ref()
                .and_then(|s| s.live.as_ref())
                .map_or("nothing (first deployment)".to_string(), |c| {
                    format!("{} {}", c.color, c.image)
                });
            let _ = writeln!(
                out,
                "    {:<20} now: {live}; next: {} on port {}",
                h.host,
                h.next_color(),
                d.public_port
            );
        }
        let _ = writeln!(
            out,
            "  steps:   pull; start the idle color; health gate on {} (timeout {}); switch; \
             verify window {}; drain {}; keep the prior warm {}",
            d.health_path,
            humantime::format_duration(d.health_timeout),
            humantime::format_duration(d.verify_window),
            humantime::format_duration(d.drain),
            humantime::format_duration(d.keep_warm)
        );
        let skipped: Vec<&str> = self.config.skip.iter().map(|s| s.name()).collect();
        if !skipped.is_empty() {
            let _ = writeln!(out, "  skipped: {}", skipped.join(", "));
        }
        out
    }

    /// Writes the report directory, summary and outputs, then the PR comment and deployment.
    async fn report(&self, status: RunStatus, reason: Option<String>, found: &Findings) {
        let record = self.run_report(status, reason, found);
        let mut options = ReportOptions::from_runner(&self.runner, self.redactor.clone());
        options.report_dir = self.config.report_dir.clone();
        options.lint_sarif = self.write_lint_sarif(found);
        let written = report::write_report(&record, &options);
        if let Some(partial) = &options.lint_sarif {
            let _ = std::fs::remove_file(partial);
        }
        for (sink, reason) in written.failures() {
            eprintln!("warning: report {sink}: {reason}");
        }
        self.print_outcome(&record, &written);
        if self.runner.in_actions && (self.config.pr_comment || self.config.deployment) {
            let mut gh = self.github_options();
            gh.report_dir = written.report_dir.clone();
            match found.deployment {
                GithubDeployment::NotStarted => {}
                GithubDeployment::Started(id) => gh.started_deployment = Some(id),
                GithubDeployment::Refused => gh.deployment = false,
            }
            github::publish(&record, &gh).await;
        }
    }

    fn github_options(&self) -> GithubOptions {
        let mut gh = GithubOptions::from_runner(
            &self.runner,
            self.config.github_token.clone(),
            self.redactor.clone(),
        );
        gh.comment = self.config.pr_comment;
        gh.deployment = self.config.deployment;
        gh
    }

    /// The GitHub deployment, `in_progress` from the moment the deploy starts (a warning, never
    /// a stop, when GitHub refuses).
    async fn start_github_deployment(&self, found: &Findings) -> GithubDeployment {
        if !(self.runner.in_actions && self.config.deployment) || self.config.skips(Stage::Report) {
            return GithubDeployment::NotStarted;
        }
        let so_far = self.run_report(RunStatus::Success, None, found);
        match github::start_deployment(&so_far, &self.github_options()).await {
            github::DeploymentOutcome::Recorded { deployment_id, .. } => {
                GithubDeployment::Started(deployment_id)
            }
            github::DeploymentOutcome::Skipped(_) => GithubDeployment::NotStarted,
            github::DeploymentOutcome::Warning { .. } => GithubDeployment::Refused,
        }
    }

    /// One line per host and one for the run, for whoever reads the terminal or the job log.
    fn print_outcome(&self, record: &RunReport, written: &report::ReportOutcome) {
        for host in &record.hosts {
            println!(
                "{}: {}",
                host.host,
                self.redactor.redact(&host.reply.message)
            );
        }
        println!(
            "{} {}: {} (live color {} -> {}); report in {}/",
            record.app,
            record.environment,
            record.status,
            written.facts.live_before.as_str(),
            written.facts.live_after.as_str(),
            written.report_dir
        );
    }

    /// The lint stage's SARIF, written into the report directory for the report to take in.
    /// (Not the temp dir: the release image is FROM scratch and has no /tmp.)
    fn write_lint_sarif(&self, found: &Findings) -> Option<PathBuf> {
        let report = found.lint.as_ref()?;
        let dir = self.workspace.join(&self.config.report_dir);
        let path = dir.join(".lint.sarif.partial");
        let written = lint::render::sarif::render(report).and_then(|sarif| {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&path, sarif)?;
            Ok(())
        });
        match written {
            Ok(()) => Some(path),
            Err(e) => {
                eprintln!("warning: report lint.sarif: {e:#}");
                None
            }
        }
    }

    fn run_report(&self, status: RunStatus, reason: Option<String>, found: &Findings) -> RunReport {
        let hosts: Vec<HostOutcome> = found
            .fleet
            .as_ref()
            .map(|f| {
                f.hosts
                    .iter()
                    .filter_map(|h| {
                        h.reply.clone().map(|reply| HostOutcome {
                            host: h.host.clone(),
                            reply,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let image = found
            .image
            .as_ref()
            .and_then(image_facts)
            .or_else(|| self.deployed_image_facts(&hosts));
        RunReport {
            app: self.config.deploy.app.clone(),
            environment: self.config.environment.clone(),
            deploy_id: self.deploy_id.clone(),
            status,
            started_at: self.started_at,
            finished_at: Utc::now(),
            events: self.events.snapshot(),
            commands: Vec::new(),
            hosts,
            image,
            lint: found.lint.as_ref().map(lint_summary),
            rolled_back: found.fleet.as_ref().is_some_and(rolled_back),
            reason,
            environment_url: self.config.environment_url.clone(),
        }
    }
}

impl Pipeline {
    /// For an image not verified in ECR: the reference and the digest the hosts pulled.
    fn deployed_image_facts(&self, hosts: &[HostOutcome]) -> Option<ImageFacts> {
        let digest = hosts.iter().find_map(|h| {
            h.reply
                .apps
                .iter()
                .find(|a| a.app == self.config.deploy.app)
                .and_then(|a| a.live.as_ref())
                .and_then(|c| c.digest.clone())
        })?;
        Some(ImageFacts {
            reference: self.config.deploy.image.clone(),
            digest: Some(digest),
            size_bytes: None,
            pushed_at: None,
            platforms: Vec::new(),
            scan: None,
        })
    }
}

async fn run_verify(
    args: &image::VerifyImageArgs,
    events: &EventLog,
) -> anyhow::Result<ImageVerdict> {
    let request = args.to_request()?;
    let options = image::ClientOptions {
        region: args.region.clone(),
        ..image::ClientOptions::default()
    };
    let verdict = async {
        let client = image::EcrClient::from_environment(&options).await?;
        image::verify_logged(&client, &request, events).await
    }
    .await;
    // A bad input or a region mismatch is the user's to fix (exit 2), the rest is the
    // environment's (exit 5): the error carries which.
    verdict.map_err(|e| match e.exit_code() {
        ExitCode::Usage => UsageError(e.to_string()).into(),
        _ => anyhow::Error::from(e),
    })
}

/// Splits `repo:tag` / `repo@sha256:...` into the repository and the verify-image flag.
/// In `NAME:TAG@sha256:...` the digest wins and the tag is dropped, as Docker does.
fn split_reference(image: &str) -> (&str, Option<(&'static str, &str)>) {
    if let Some((named, digest)) = image.split_once('@') {
        let (repo, _tag) = split_tag(named);
        return (repo, Some(("--digest", digest)));
    }
    match split_tag(image) {
        (repo, Some(tag)) => (repo, Some(("--tag", tag))),
        (repo, None) => (repo, None),
    }
}

/// `repo:tag` into the repository and the tag (a `:` before the last `/` is a registry port).
fn split_tag(image: &str) -> (&str, Option<&str>) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, None),
    }
}

fn lint_blocking(report: &LintReport, fail_on: &str) -> usize {
    let c = &report.counts;
    match fail_on {
        "note" => c.error + c.warning + c.note,
        "warning" => c.error + c.warning,
        _ => c.error,
    }
}

fn describe_plan_hosts(plan: &[HostPlan]) -> String {
    plan.iter()
        .map(|h| match h.live_color() {
            Some(c) => format!(
                "{}: {c} live, rollback target {}",
                h.host,
                h.state
                    .as_ref()
                    .and_then(|s| s.rollback_target.as_ref())
                    .map_or("none".to_string(), |r| r.image.clone())
            ),
            None => format!("{}: first deployment (no rollback target yet)", h.host),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn preflight_plan(report: &PreflightReport) -> Result<Vec<HostPlan>, Stop> {
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(Stop::failure(format!(
            "preflight: {} of {} hosts are not ready; nothing was changed",
            problems.len(),
            report.hosts.len()
        )));
    }
    Ok(report
        .hosts
        .iter()
        .map(|h| HostPlan {
            host: h.host.clone(),
            state: h.app.clone(),
        })
        .collect())
}

fn fleet_status(report: &FleetReport) -> RunStatus {
    let all_ok = !report.hosts.is_empty()
        && report
            .hosts
            .iter()
            .all(|h| h.status == HostStatus::Succeeded);
    if all_ok {
        return RunStatus::Success;
    }
    let locked = report.hosts.iter().any(|h| {
        h.reply
            .as_ref()
            .is_some_and(|r| r.outcome == Outcome::Locked)
    });
    if locked {
        RunStatus::Locked
    } else {
        RunStatus::Failure
    }
}

fn rolled_back(report: &FleetReport) -> bool {
    report.fleet_rolled_back
        || report.hosts.iter().any(|h| {
            h.reply
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::AutoRolledBack)
        })
}

fn live_mismatch(
    host: &str,
    result: &Result<AgentReply, crate::fleet::HostFailure>,
    spec: &DeploySpec,
) -> Option<String> {
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => return Some(format!("{host}: {e}")),
    };
    let live = reply
        .apps
        .iter()
        .find(|a| a.app == spec.app)
        .and_then(|a| a.live.as_ref());
    match live {
        Some(c) if c.image == spec.image => None,
        Some(c) => Some(format!("{host}: {} serves {}", c.color, c.image)),
        None => Some(format!("{host}: nothing serves {}", spec.app)),
    }
}

fn image_facts(verdict: &ImageVerdict) -> Option<ImageFacts> {
    let resolved = verdict.image.as_ref()?;
    Some(ImageFacts {
        reference: resolved.reference.clone(),
        digest: Some(resolved.digest.to_string()),
        size_bytes: resolved.size_bytes.and_then(|s| u64::try_from(s).ok()),
        pushed_at: resolved.pushed_at,
        platforms: resolved.platforms.iter().map(|p| p.to_string()).collect(),
        scan: scan_counts(&resolved.scan),
    })
}

/// The registry's counts by severity, when the scan produced findings.
fn scan_counts(scan: &image::ScanReport) -> Option<ScanCounts> {
    let image::ScanReport::Findings { counts, .. } = scan else {
        return None;
    };
    let count = |severity: &str| {
        counts
            .get(severity)
            .and_then(|n| u32::try_from(*n).ok())
            .unwrap_or(0)
    };
    Some(ScanCounts {
        critical: count("CRITICAL"),
        high: count("HIGH"),
        medium: count("MEDIUM"),
        low: count("LOW"),
        informational: count("INFORMATIONAL"),
        undefined: count("UNDEFINED") + count("UNTRIAGED"),
    })
}

fn lint_summary(report: &LintReport) -> LintSummary {
    let rules = lint::rules::RuleData::embedded().ok();
    let mut findings: Vec<&lint::Finding> = report.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    LintSummary {
        errors: report.counts.error as u32,
        warnings: report.counts.warning as u32,
        notes: report.counts.note as u32,
        deprecated_actions: report
            .findings
            .iter()
            .filter(|f| rules.is_some_and(|r| r.is_action_rule(&f.rule_id)))
            .count() as u32,
        findings: findings
            .into_iter()
            .take(REPORT_LINT_FINDINGS)
            .map(|f| LintFinding {
                rule: f.rule_id.clone(),
                level: f.severity.as_str().to_string(),
                file: f.file.clone(),
                line: f.line as u32,
                message: f.message.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_selector() {
        let ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop";
        assert_eq!(
            split_reference(&format!("{ecr}:v2")),
            (ecr, Some(("--tag", "v2")))
        );
        assert_eq!(
            split_reference(&format!("{ecr}@sha256:abc")),
            (ecr, Some(("--digest", "sha256:abc")))
        );
        assert_eq!(split_reference(ecr), (ecr, None));
        assert_eq!(
            split_reference(&format!("{ecr}:v2@sha256:abc")),
            (ecr, Some(("--digest", "sha256:abc"))),
            "the digest wins over a tag, as in Docker"
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/shop:v1"),
            ("127.0.0.1:5000/shop", Some(("--tag", "v1")))
        );
    }

    #[test]
    fn deprecated_actions_counts_the_actions_to_upgrade_only() {
        let dir = tempfile::tempdir().unwrap();
        let workflows = dir.path().join(".github/workflows");
        std::fs::create_dir_all(&workflows).unwrap();
        std::fs::write(
            workflows.join("ci.yml"),
            "on: push\njobs:\n  build:\n    runs-on: ubuntu-20.04\n    steps:\n      \
             - uses: actions/upload-artifact@v3\n      - uses: actions/checkout@v2\n      \
             - run: echo \"::set-output name=a::b\"\n",
        )
        .unwrap();
        let report = lint::lint_repository(dir.path(), &[]).unwrap();
        let summary = lint_summary(&report);
        assert_eq!(report.findings.len(), 4, "{:?}", report.findings);
        assert_eq!(summary.deprecated_actions, 2, "{:?}", report.findings);
    }
}
