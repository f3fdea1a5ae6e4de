//! Action mode: `bluegreen lint` as the `workflows-lint` step (`GITHUB_ACTIONS=true`).
//!
//! Inputs come from `INPUT_*` through `crate::gha` (flags given on the command line win);
//! the step prints annotations (most severe first, within the runner's per-step limits),
//! writes the SARIF file into the workspace, appends a job summary table and sets the outputs
//! `findings`, `errors`, `warnings` and `sarif-file` (workspace-relative, because the runner
//! does not translate container paths in outputs).

use super::render::{self, github, Format};
use super::{lint_and_fix, LintArgs, LintReport, Options, Severity};
use crate::exit::ExitCode;
use crate::gha::inputs::{given, parse_bool, parse_list, read_raw_inputs};
use crate::gha::{InputError, RunnerEnv};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// The inputs `workflows-lint/action.yml` declares, raw (see `crate::gha::inputs`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawInputs {
    pub paths: Option<String>,
    pub fail_on: Option<String>,
    pub format: Option<String>,
    pub sarif_file: Option<String>,
    pub fix: Option<String>,
    pub github_token: Option<String>,
}

/// The inputs, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInputs {
    pub paths: Vec<PathBuf>,
    pub fail_on: Option<Severity>,
    pub format: Option<Format>,
    /// Workspace-relative; `None` when the input is empty.
    pub sarif_file: Option<PathBuf>,
    pub fix: bool,
}

impl ActionInputs {
    /// Checks raw inputs; every error names the input, the value and what was expected.
    pub fn parse(raw: &RawInputs) -> Result<ActionInputs, InputError> {
        let fail_on = given(&raw.fail_on)
            .map(|v| {
                Severity::parse(v).ok_or_else(|| {
                    InputError::new("fail-on", v, "unknown severity", "error, warning or note")
                })
            })
            .transpose()?;
        let format = given(&raw.format)
            .map(|v| {
                Format::parse(v).ok_or_else(|| {
                    InputError::new(
                        "format",
                        v,
                        "unknown format",
                        "github, human, json or sarif",
                    )
                })
            })
            .transpose()?;
        let sarif_file = given(&raw.sarif_file)
            .map(|v| workspace_relative("sarif-file", v))
            .transpose()?;
        let fix = given(&raw.fix)
            .map(|v| parse_bool("fix", v))
            .transpose()?
            .unwrap_or(false);
        let paths = given(&raw.paths)
            .map(parse_list)
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        Ok(ActionInputs {
            paths,
            fail_on,
            format,
            sarif_file,
            fix,
        })
    }
}

/// A path inside the workspace: relative, without `..`.
fn workspace_relative(name: &str, value: &str) -> Result<PathBuf, InputError> {
    let path = PathBuf::from(value);
    let inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(path)
    } else {
        Err(InputError::new(
            name,
            value,
            "not a path inside the workspace",
            "a relative path such as bluegreen-lint.sarif",
        ))
    }
}

pub fn run(args: LintArgs, runner: &RunnerEnv) -> Result<ExitCode> {
    let raw: RawInputs = read_raw_inputs()?;
    let inputs = ActionInputs::parse(&raw)?;
    let root = match &runner.workspace {
        Some(ws) => ws.clone(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let options = Options {
        paths: if args.paths.is_empty() {
            inputs.paths.clone()
        } else {
            args.paths.clone()
        },
        format: args.format.or(inputs.format).unwrap_or(Format::Github),
        fail_on: args.fail_on.or(inputs.fail_on).unwrap_or(Severity::Error),
        fix: args.fix || inputs.fix,
        resolve: args.resolve(given(&raw.github_token)),
    };
    let outcome = lint_and_fix(&root, &options)?;
    let report = &outcome.report;
    if options.paths.is_empty() && report.files_linted == 0 && report.file_errors.is_empty() {
        return Err(crate::exit::UsageError(super::nothing_found(&root)).into());
    }
    let annotated = github::render(report);
    let text = match options.format {
        Format::Github => annotated.text.clone(),
        other => render::render(other, report)?,
    };
    super::emit(&text, args.output.as_deref())?;
    let sarif = match &inputs.sarif_file {
        Some(rel) => {
            write_sarif(&root.join(rel), report)?;
            rel.to_string_lossy().into_owned()
        }
        None => String::new(),
    };
    let summary = summary_markdown(
        report,
        annotated.not_annotated,
        &sarif,
        outcome.fixed.as_ref(),
    );
    crate::gha::append_summary(&summary)?;
    let outputs: [(&str, String); 4] = [
        ("findings", report.findings.len().to_string()),
        ("errors", report.counts.error.to_string()),
        ("warnings", report.counts.warning.to_string()),
        ("sarif-file", sarif),
    ];
    for (name, value) in &outputs {
        crate::gha::set_output(name, value.as_str())?;
    }
    Ok(report.exit_code(options.fail_on))
}

fn write_sarif(path: &Path, report: &LintReport) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "creating the directory of the SARIF file {}",
                path.display()
            )
        })?;
    }
    let sarif = render::sarif::render(report)?;
    std::fs::write(path, sarif)
        .with_context(|| format!("writing the SARIF file {}", path.display()))
}

/// Rows shown in the job summary; the rest are in the SARIF file and the log.
const SUMMARY_ROWS: usize = 100;

/// The job summary: counts, what was not annotated, then the findings as a table.
pub fn summary_markdown(
    report: &LintReport,
    not_annotated: usize,
    sarif: &str,
    fixed: Option<&super::FixSummary>,
) -> String {
    let c = &report.counts;
    let mut md = String::from("### bluegreen lint\n\n| | count |\n| --- | ---: |\n");
    let _ = writeln!(md, "| files linted | {} |", report.files_linted);
    let _ = writeln!(md, "| errors | {} |", c.error);
    let _ = writeln!(md, "| warnings | {} |", c.warning);
    let _ = writeln!(md, "| notes | {} |", c.note);
    let _ = writeln!(
        md,
        "| files that could not be linted | {} |",
        report.file_errors.len()
    );
    md.push('\n');
    if let Some(fixed) = fixed {
        let _ = writeln!(
            md,
            "`--fix` rewrote {} reference(s) in {} file(s).\n",
            fixed.references, fixed.files
        );
    }
    if not_annotated > 0 {
        let _ = writeln!(
            md,
            "{not_annotated} finding(s) were not annotated: the runner shows at most {} errors and {} warnings per step. All are listed below{}.\n",
            github::PER_LEVEL,
            github::PER_LEVEL,
            if sarif.is_empty() { String::new() } else { format!(" and in `{sarif}`") }
        );
    }
    if !report.file_errors.is_empty() {
        md.push_str("| file | problem |\n| --- | --- |\n");
        for e in &report.file_errors {
            let _ = writeln!(
                md,
                "| `{}:{}:{}` | {} |",
                e.file,
                e.line,
                e.column,
                cell(&e.message)
            );
        }
        md.push('\n');
    }
    if !report.findings.is_empty() {
        md.push_str("| severity | where | rule | finding |\n| --- | --- | --- | --- |\n");
        for f in report.findings.iter().take(SUMMARY_ROWS) {
            let _ = writeln!(
                md,
                "| {} | `{}:{}:{}` | `{}` | {} |",
                f.severity.as_str(),
                f.file,
                f.line,
                f.column,
                f.rule_id,
                cell(&f.message)
            );
        }
        if report.findings.len() > SUMMARY_ROWS {
            let _ = writeln!(md, "\n…and {} more.", report.findings.len() - SUMMARY_ROWS);
        }
    }
    md
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_and_name_themselves() {
        let raw = RawInputs {
            fail_on: Some("fatal".into()),
            ..RawInputs::default()
        };
        let err = ActionInputs::parse(&raw).unwrap_err();
        assert_eq!(err.name, "fail-on");
        let raw = RawInputs {
            sarif_file: Some("../out.sarif".into()),
            ..RawInputs::default()
        };
        assert_eq!(ActionInputs::parse(&raw).unwrap_err().name, "sarif-file");
        let raw = RawInputs {
            paths: Some(".github/workflows\naction.yml".into()),
            fail_on: Some(" warning ".into()),
            fix: Some("true".into()),
            format: Some("".into()),
            sarif_file: Some("out/lint.sarif".into()),
            github_token: None,
        };
        let inputs = ActionInputs::parse(&raw).unwrap();
        assert_eq!(
            inputs.paths,
            [
                PathBuf::from(".github/workflows"),
                PathBuf::from("action.yml")
            ]
        );
        assert_eq!(inputs.fail_on, Some(Severity::Warning));
        assert_eq!(inputs.format, None);
        assert!(inputs.fix);
    }
}
