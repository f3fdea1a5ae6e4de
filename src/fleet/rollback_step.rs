//! The rollback sub-action (`rollback/action.yml`): `bluegreen rollback --from-action-inputs`
//! reads its options from the step's `INPUT_*` variables, parses them with the very flags of
//! `bluegreen rollback`, runs the rollback, and writes the step's outputs and job summary.

use super::cli::{run_on_target, Done, OutputFormat, RollbackCmd};
use crate::agent::AgentRequest;
use crate::exit::ExitCode;
use crate::gha::inputs::{parse_with_flags, FlagInput, InputError};
use clap::{Args, Command, Parser};
use std::fmt::Write as _;

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
pub async fn run(format: OutputFormat) -> anyhow::Result<ExitCode> {
    let cmd = from_inputs(|name| std::env::var(name).ok())?;
    let app = cmd.app.clone().unwrap_or_default();
    let request = AgentRequest::Rollback {
        app: app.clone(),
        expect_live: cmd.expect_live.clone(),
    };
    let done = match run_on_target(&cmd.target, request, format).await {
        Ok(done) => done,
        Err(e) => {
            // Docker, AWS or the network failed before any host answered: say so in the
            // step's outputs and summary too, not only in its log.
            let summary = format!("## ❌ {app} rollback: failure\n\n{e:#}\n");
            let written = crate::gha::set_output("status", "failure")
                .and_then(|_| crate::gha::append_summary(&summary));
            if let Err(w) = written {
                eprintln!("warning: writing the step's outputs: {w:#}");
            }
            return Err(e);
        }
    };
    for (name, value) in outputs(&done) {
        crate::gha::set_output(name, &value)?;
    }
    crate::gha::append_summary(&summary(&app, &done))?;
    Ok(done.exit)
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
        ExitCode::Ok => "rolled-back",
        ExitCode::NothingToRollBack => "nothing-to-roll-back",
        ExitCode::Locked => "locked",
        ExitCode::NotExpectedLive => "not-expected-live",
        _ => "failure",
    };
    let mut colors: Vec<String> = done
        .hosts
        .iter()
        .filter_map(|h| h.live.map(|c| c.to_string()))
        .collect();
    colors.sort();
    colors.dedup();
    let live = match colors.as_slice() {
        [one] => one.clone(),
        [] => String::new(),
        _ => "mixed".to_string(),
    };
    [("status", status.to_string()), ("live-color", live)]
}

/// The job summary: one line for the run, one table row per host.
fn summary(app: &str, done: &Done) -> String {
    let [(_, status), (_, live)] = outputs(done);
    let icon = match done.exit {
        ExitCode::Ok => "✅",
        ExitCode::NothingToRollBack | ExitCode::Locked | ExitCode::NotExpectedLive => "⚠️",
        _ => "❌",
    };
    let mut md = format!("## {icon} {app} rollback: {status}\n\n");
    if !live.is_empty() {
        let _ = writeln!(md, "Live color after the rollback: **{live}**\n");
    }
    md.push_str("| host | outcome | live after | message |\n| --- | --- | --- | --- |\n");
    for h in &done.hosts {
        let live = h.live.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            md,
            "| {} | {} | {live} | {} |",
            cell(&h.host),
            cell(&h.outcome),
            cell(&h.message)
        );
    }
    if done.hosts.is_empty() {
        md.push_str("| - | no host answered | - | see the step log |\n");
    }
    md
}

/// A table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Color;
    use crate::fleet::cli::HostLine;
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

    fn line(host: &str, outcome: &str, live: Option<Color>) -> HostLine {
        HostLine {
            host: host.into(),
            outcome: outcome.into(),
            live,
            message: "a | b".into(),
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
