//! `bluegreen promote` and `bluegreen abort`: a person's word on the canary of an app, sent to
//! every host of the target (docs/deploy.md, "Canary"). A host with a canary in progress
//! records it for the deploy running there; a host without one records nothing.
//!
//! The sub-actions (`promote/action.yml`, `abort/action.yml`) run `bluegreen promote
//! --from-action-inputs` (or `abort`): the options come from the step's `INPUT_*` variables,
//! parsed by the very flags of the command, and the step gets its outputs and summary, so a
//! GitHub environment's approval can gate the promotion.

use crate::agent::canary::decision::Decision;
use crate::agent::protocol::CanaryDecisionRequest;
use crate::agent::AgentRequest;
use crate::exit::{ExitCode, UsageError};
use crate::fleet::command::{run_on_target, Done};
use crate::fleet::TargetArgs;
use crate::gha::inputs::{parse_with_flags, FlagInput, InputError};
use crate::gha::RunnerEnv;
use crate::output::OutputFormat;
use crate::report::markdown::hosts_or_none;
use crate::report::HostRecord;
use anyhow::Context as _;
use clap::{Args, Command, Parser};
use std::fmt::Write as _;

#[derive(Debug, Clone, Args)]
pub struct DecideCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The app whose canary is promoted or aborted.
    #[arg(long, required_unless_present = "from_action_inputs")]
    pub app: Option<String>,
    /// Only the canary of this deploy (its id, as the deploy printed it); default: the one in
    /// progress.
    #[arg(long, value_name = "DEPLOY_ID")]
    pub deploy_id: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Take the other options from the step's INPUT_* variables, as promote/action.yml and
    /// abort/action.yml run this command, and write the step's outputs (status) and summary.
    #[arg(long, conflicts_with_all = ["app", "instance_ids", "target_tags"])]
    pub from_action_inputs: bool,
}

/// Runs `bluegreen promote` or `bluegreen abort`.
pub async fn decide(decision: Decision, cmd: DecideCmd) -> anyhow::Result<ExitCode> {
    if cmd.from_action_inputs {
        return run_from_action_inputs(decision, cmd.format).await;
    }
    let app = cmd
        .app
        .clone()
        .ok_or_else(|| UsageError("--app: required".into()))?;
    let done = run_on_target(&cmd.target, request(decision, &app, &cmd), cmd.format).await?;
    Ok(exit_of(&done))
}

/// The request every host gets: the app, the deploy, and who asks (the workflow's actor, or
/// the user running the command).
fn request(decision: Decision, app: &str, cmd: &DecideCmd) -> AgentRequest {
    let runner = RunnerEnv::from_env();
    let by = ["GITHUB_ACTOR", "USER"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
    let asked = CanaryDecisionRequest {
        app: app.to_string(),
        deploy_id: cmd.deploy_id.clone(),
        by,
        run_url: runner.run_url(),
    };
    match decision {
        Decision::Promote => AgentRequest::Promote(asked),
        Decision::Abort => AgentRequest::Abort(asked),
    }
}

/// 0 when a host recorded the decision and every other host had no canary (the canary runs
/// on the first batch only); 7 when no host had one; 1 otherwise (a host failed or did not
/// answer).
pub fn exit_of(done: &Done) -> ExitCode {
    let outcome = |h: &HostRecord| h.outcome.clone();
    let recorded = done
        .hosts
        .iter()
        .filter(|h| outcome(h) == "decision_recorded")
        .count();
    let none = done
        .hosts
        .iter()
        .filter(|h| outcome(h) == "no_canary")
        .count();
    match (recorded, none) {
        // No host answered: the runner's own failure, or 1.
        _ if done.hosts.is_empty() && done.exit != ExitCode::Ok => done.exit,
        _ if done.hosts.is_empty() => ExitCode::Failed,
        (r, n) if r > 0 && r + n == done.hosts.len() => ExitCode::Ok,
        (0, n) if n == done.hosts.len() => ExitCode::NoCanary,
        _ => ExitCode::Failed,
    }
}

/// The flags of `promote` and `abort` that are the sub-actions' inputs: all but the ones that
/// choose how the command itself runs, the deploy-only target flags and the hidden ones.
pub fn input_names() -> Vec<String> {
    const NOT_INPUTS: [&str; 4] = [
        "format",
        "from-action-inputs",
        "fleet-rollback-on-budget",
        "image-platform",
    ];
    DecideCmd::augment_args(Command::new("promote"))
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|name| !NOT_INPUTS.contains(name))
        .map(str::to_string)
        .collect()
}

/// Runs the decision the step's inputs describe; returns the command's exit code.
async fn run_from_action_inputs(
    decision: Decision,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let redactor = crate::report::Redactor::from_env();
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        redactor
            .emit_masks(&mut std::io::stdout())
            .context("writing ::add-mask:: commands")?;
    }
    let cmd = from_inputs(decision, |name| std::env::var(name).ok())?;
    let app = cmd.app.clone().unwrap_or_default();
    let what = decision.as_str();
    let done = match run_on_target(&cmd.target, request(decision, &app, &cmd), format).await {
        Ok(done) => done,
        Err(e) => {
            let summary = redactor.redact(&format!("## ❌ {app} {what}: failure\n\n{e:#}\n"));
            let written = crate::gha::set_output("status", "failure")
                .and_then(|_| crate::gha::append_summary(&summary));
            if let Err(w) = written {
                eprintln!("warning: writing the step's outputs: {w:#}");
            }
            return Err(e);
        }
    };
    let exit = exit_of(&done);
    crate::gha::set_output("status", status(exit))?;
    crate::gha::append_summary(&redactor.redact(&summary(&app, what, exit, &done)))?;
    Ok(exit)
}

/// The command as the inputs give it; an input the flags refuse is a usage error naming it.
fn from_inputs(
    decision: Decision,
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<DecideCmd> {
    #[derive(Parser)]
    struct FromInputs {
        #[command(flatten)]
        cmd: DecideCmd,
    }
    if get("INPUT_APP").is_none_or(|v| v.trim().is_empty()) {
        let expected = format!("the name of the app whose canary to {}", decision.as_str());
        return Err(InputError::new("app", "", "required input not supplied", &expected).into());
    }
    let names = input_names();
    let values: Vec<Option<String>> = names
        .iter()
        .map(|n| get(&format!("INPUT_{}", n.to_uppercase())))
        .collect();
    let fields: Vec<FlagInput> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.as_str(), n.as_str(), v))
        .collect();
    let parsed: FromInputs = parse_with_flags(decision.as_str(), &[], &fields, str::to_string)?;
    let cmd = parsed.cmd;
    if let Some(app) = &cmd.app {
        crate::agent::validate::app_name(app)
            .map_err(|e| InputError::new("app", app, "not a valid app name", &e.expected()))?;
    }
    if let Some(id) = &cmd.deploy_id {
        crate::agent::validate::deploy_id(id)
            .map_err(|e| InputError::new("deploy-id", id, "not a deploy id", &e.expected()))?;
    }
    if cmd.target.target == crate::fleet::TargetKind::Local {
        cmd.target.check_local()?;
    }
    Ok(cmd)
}

/// The step's `status` output: `recorded`, `no-canary` (exit 7) or `failure`.
fn status(exit: ExitCode) -> &'static str {
    match exit {
        ExitCode::Ok => "recorded",
        ExitCode::NoCanary => "no-canary",
        _ => "failure",
    }
}

/// The job summary: one line for the decision, one row per host.
fn summary(app: &str, what: &str, exit: ExitCode, done: &Done) -> String {
    let mark = match exit {
        ExitCode::Ok => "✅",
        ExitCode::NoCanary => "⚠️",
        _ => "❌",
    };
    let mut md = format!("## {mark} {app} {what}: {}\n\n", status(exit));
    if let Some(c) = done.hosts.iter().find_map(|h| h.canary.as_ref()) {
        let _ = writeln!(md, "The canary: {}\n", c.line());
    }
    md.push_str(&hosts_or_none(&done.hosts));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn inputs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn host(name: &str, outcome: &str) -> HostRecord {
        HostRecord::without_reply(name, outcome, "")
    }

    fn done(outcomes: &[&str]) -> Done {
        Done {
            exit: ExitCode::Failed,
            hosts: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| host(&format!("i-{i}"), o))
                .collect(),
        }
    }

    #[test]
    fn a_decision_succeeds_where_the_canary_runs_and_the_other_hosts_have_none() {
        assert_eq!(exit_of(&done(&["decision_recorded"])), ExitCode::Ok);
        assert_eq!(
            exit_of(&done(&["decision_recorded", "no_canary", "no_canary"])),
            ExitCode::Ok
        );
        assert_eq!(
            exit_of(&done(&["no_canary", "no_canary"])),
            ExitCode::NoCanary
        );
        assert_eq!(
            exit_of(&done(&["decision_recorded", "failed"])),
            ExitCode::Failed
        );
        assert_eq!(
            exit_of(&done(&["no_canary", "not_ready"])),
            ExitCode::Failed
        );
        let nobody = Done {
            exit: ExitCode::Ok,
            hosts: vec![],
        };
        assert_eq!(exit_of(&nobody), ExitCode::Failed);
        assert_eq!(status(ExitCode::NoCanary), "no-canary");
        assert_eq!(status(ExitCode::Ok), "recorded");
    }

    #[test]
    fn inputs_parse_with_the_flags_rules_and_errors_name_the_input() {
        let cmd = from_inputs(
            Decision::Promote,
            inputs(&[
                ("app", "shop"),
                ("target", "ssm"),
                ("instance-ids", "i-0123456789abcdef0"),
                ("deploy-id", "20261201T120000Z-a1b2c3"),
            ]),
        )
        .unwrap();
        assert_eq!(cmd.app.as_deref(), Some("shop"));
        assert_eq!(cmd.deploy_id.as_deref(), Some("20261201T120000Z-a1b2c3"));
        let e = from_inputs(Decision::Abort, inputs(&[("target", "ssm")])).unwrap_err();
        assert!(e.to_string().contains("input `app`"), "{e}");
        assert!(e.to_string().contains("whose canary to abort"), "{e}");
        let e = from_inputs(
            Decision::Abort,
            inputs(&[("app", "shop"), ("deploy-id", "d 1")]),
        )
        .unwrap_err();
        assert_eq!(crate::exit::classify(&e), ExitCode::Usage);
        assert!(e.to_string().contains("deploy-id"), "{e}");
        assert!(input_names().contains(&"deploy-id".to_string()));
        assert!(!input_names().contains(&"format".to_string()));
    }

    #[test]
    fn the_summary_says_what_was_recorded_host_by_host() {
        let md = summary("shop", "promote", ExitCode::NoCanary, &done(&["no_canary"]));
        assert!(md.starts_with("## ⚠️ shop promote: no-canary\n"), "{md}");
        assert!(md.contains("| i-0 | no_canary |"), "{md}");
    }
}
