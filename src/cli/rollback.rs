//! `bluegreen rollback`: switch traffic back to the prior version on every host of the target.
//!
//! The rollback sub-action (`rollback/action.yml`) runs `bluegreen rollback --from-action-inputs`,
//! which reads its options from the step's `INPUT_*` variables, parses them with the very flags
//! of `bluegreen rollback`, runs the rollback, and writes the step's outputs and job summary.

use crate::agent::AgentRequest;
use crate::exit::{ExitCode, UsageError};
use crate::fleet::command::{run_on_target, Done};
use crate::fleet::TargetArgs;
use crate::gha::inputs::{parse_with_flags, FlagInput, InputError};
use crate::gha::RunnerEnv;
use crate::output::OutputFormat;
use crate::report::hosts::fleet_color;
use crate::report::markdown::hosts_or_none;
use crate::report::FleetColor;
use crate::report::RunStatus;
use anyhow::Context as _;
use clap::{Args, Command, Parser};
use std::fmt::Write as _;

#[derive(Debug, Clone, Args)]
pub struct RollbackCmd {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The app to switch back to its prior version.
    #[arg(long, required_unless_present = "from_action_inputs")]
    pub app: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: OutputFormat,
    /// Take the other options from the step's INPUT_* variables, as rollback/action.yml runs
    /// this command, and write the step's outputs (status, live-color) and job summary.
    #[arg(long, conflicts_with_all = ["app", "instance_ids", "target_tags"])]
    pub from_action_inputs: bool,
    /// Change nothing unless the live version is this image reference or deploy id (on each
    /// host); otherwise exit 6. A host already rolled back from it succeeds as a no-op.
    #[arg(long, value_name = "IMAGE_OR_DEPLOY_ID")]
    pub expect_live: Option<String>,
}

/// Runs `bluegreen rollback`, from its flags or (the sub-action) from the step's inputs.
pub async fn rollback(cmd: RollbackCmd) -> anyhow::Result<ExitCode> {
    let app = match (cmd.from_action_inputs, cmd.app) {
        (true, _) => return run_from_action_inputs(cmd.format).await,
        (false, Some(app)) => app,
        (false, None) => return Err(UsageError("--app: required".into()).into()),
    };
    let request = AgentRequest::Rollback {
        app,
        expect_live: cmd.expect_live,
        run_url: RunnerEnv::from_env().run_url(),
    };
    let done = run_on_target(&cmd.target, request, cmd.format).await?;
    Ok(done.exit)
}

/// The flags of `bluegreen rollback` that are the sub-action's inputs: all but the ones that
/// choose how the command itself runs, the deploy-only target flags and the hidden tuning ones.
pub fn input_names() -> Vec<String> {
    const NOT_INPUTS: [&str; 4] = [
        "format",
        "from-action-inputs",
        "fleet-rollback-on-budget",
        "image-platform",
    ];
    RollbackCmd::augment_args(Command::new("rollback"))
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .filter(|name| !NOT_INPUTS.contains(name))
        .map(str::to_string)
        .collect()
}

/// Runs the rollback the step's inputs describe; returns the exit code of `bluegreen rollback`.
async fn run_from_action_inputs(format: OutputFormat) -> anyhow::Result<ExitCode> {
    // Masks first, so the runner hides the values in every later log line; the outputs and
    // the summary are redacted here, since the runner does not mask what we write to files.
    let redactor = crate::report::Redactor::from_env();
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        redactor
            .emit_masks(&mut std::io::stdout())
            .context("writing ::add-mask:: commands")?;
    }
    let cmd = from_inputs(|name| std::env::var(name).ok())?;
    let app = cmd.app.clone().unwrap_or_default();
    let request = AgentRequest::Rollback {
        app: app.clone(),
        expect_live: cmd.expect_live.clone(),
        run_url: RunnerEnv::from_env().run_url(),
    };
    let done = match run_on_target(&cmd.target, request, format).await {
        Ok(done) => done,
        Err(e) => {
            // Docker, AWS or the network failed before any host answered: say so in the
            // step's outputs and summary too, not only in its log.
            let summary = redactor.redact(&format!("## ❌ {app} rollback: failure\n\n{e:#}\n"));
            let written = crate::gha::set_output("status", "failure")
                .and_then(|_| crate::gha::append_summary(&summary));
            if let Err(w) = written {
                eprintln!("warning: writing the step's outputs: {w:#}");
            }
            return Err(e);
        }
    };
    write_step(&app, &done, &redactor)?;
    Ok(done.exit)
}

/// The step's outputs and job summary (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`), through the
/// redactor.
pub fn write_step(
    app: &str,
    done: &Done,
    redactor: &crate::report::Redactor,
) -> anyhow::Result<()> {
    for (name, value) in outputs(done) {
        crate::gha::set_output(name, &redactor.redact(&value))?;
    }
    crate::gha::append_summary(&redactor.redact(&summary(app, done)))?;
    Ok(())
}

/// The command as the inputs give it; an input the flags refuse is a usage error naming it.
fn from_inputs(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<RollbackCmd> {
    #[derive(Parser)]
    struct FromInputs {
        #[command(flatten)]
        cmd: RollbackCmd,
    }
    if get("INPUT_APP").is_none_or(|v| v.trim().is_empty()) {
        let expected = "the name of the app to roll back";
        return Err(InputError::new("app", "", "required input not supplied", expected).into());
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
    let parsed: FromInputs = parse_with_flags("rollback", &[], &fields, str::to_string)?;
    let cmd = parsed.cmd;
    // The same checks as the agent's, before any host is asked.
    if let Some(app) = &cmd.app {
        crate::agent::validate::app_name(app)
            .map_err(|e| InputError::new("app", app, "not a valid app name", &e.expected()))?;
    }
    if cmd.target.target == crate::fleet::TargetKind::Local {
        cmd.target.check_local()?;
    }
    Ok(cmd)
}

/// `status`: what the rollback did, as one word; `live-color`: the color serving after it on
/// every host (`mixed` when the hosts disagree, empty when none reported one).
fn outputs(done: &Done) -> [(&'static str, String); 2] {
    let status = match done.exit {
        // Not a run status of its own: nothing was changed, as the caller asked.
        ExitCode::NotExpectedLive => "not-expected-live".to_string(),
        exit => RunStatus::of_rollback(exit).as_str().replace('_', "-"),
    };
    let live = match fleet_color(&done.hosts) {
        FleetColor::None => String::new(),
        color => color.as_str().to_string(),
    };
    [("status", status), ("live-color", live)]
}

/// The job summary: one line for the run, one table row per host.
fn summary(app: &str, done: &Done) -> String {
    let [(_, status), (_, live)] = outputs(done);
    let mark = match done.exit {
        ExitCode::NotExpectedLive => "⚠️",
        exit => RunStatus::of_rollback(exit).mark(),
    };
    let mut md = format!("## {mark} {app} rollback: {status}\n\n");
    if !live.is_empty() {
        let _ = writeln!(md, "Live color after the rollback: **{live}**\n");
    }
    md.push_str(&hosts_or_none(&done.hosts));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Color;
    use crate::report::HostRecord;
    use std::collections::HashMap;

    fn inputs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn inputs_parse_with_the_flags_rules() {
        let cmd = from_inputs(inputs(&[
            ("app", "shop"),
            ("target", "ssm"),
            ("instance-ids", "i-0123456789abcdef0\ni-0123456789abcdef1"),
            ("max-concurrency", "50%"),
            ("region", ""),
        ]))
        .unwrap();
        assert_eq!(cmd.app.as_deref(), Some("shop"));
        assert_eq!(cmd.target.instance_ids.map(|l| l.0.len()), Some(2));
        assert_eq!(cmd.target.region, None);
    }

    #[test]
    fn a_bad_input_is_a_usage_error_that_names_it() {
        let e = from_inputs(inputs(&[("app", "shop"), ("max-concurrency", "lots")])).unwrap_err();
        let text = e.to_string();
        assert!(crate::exit::classify(&e) == ExitCode::Usage, "{text}");
        assert!(
            text.contains("max-concurrency") && text.contains("lots"),
            "{text}"
        );
        let e = from_inputs(inputs(&[("target", "local")])).unwrap_err();
        assert!(e.to_string().contains("input `app`"), "{e}");
        assert!(crate::exit::classify(&e) == ExitCode::Usage);
    }

    fn line(host: &str, outcome: &str, live: Option<Color>) -> HostRecord {
        HostRecord {
            live_after: live,
            ..HostRecord::without_reply(host, outcome, "a | b")
        }
    }

    #[test]
    fn outputs_and_summary_follow_the_hosts() {
        let done = Done {
            exit: ExitCode::Ok,
            hosts: vec![
                line("i-1", "rolled_back", Some(Color::Blue)),
                line("i-2", "rolled_back", Some(Color::Blue)),
            ],
        };
        assert_eq!(outputs(&done)[0].1, "rolled-back");
        assert_eq!(outputs(&done)[1].1, "blue");
        let md = summary("shop", &done);
        assert!(
            md.contains("| i-2 | rolled_back | blue | a \\| b |"),
            "{md}"
        );

        let split = Done {
            exit: ExitCode::Failed,
            hosts: vec![
                line("i-1", "rolled_back", Some(Color::Blue)),
                line("i-2", "failed", Some(Color::Green)),
            ],
        };
        assert_eq!(outputs(&split)[0].1, "failure");
        assert_eq!(outputs(&split)[1].1, "mixed");
        let none = Done {
            exit: ExitCode::NothingToRollBack,
            hosts: vec![line("local", "nothing_to_roll_back", None)],
        };
        assert_eq!(outputs(&none)[0].1, "nothing-to-roll-back");
        assert_eq!(outputs(&none)[1].1, "");
    }
}
