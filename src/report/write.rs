//! [`write_report`]: the local sinks in one call: the report directory (log, `metrics.json`,
//! `summary.md`, `run.json`, `lint.sarif`), the job summary and the action outputs.
//!
//! A sink that cannot write says why in its [`SinkOutcome`]; it never fails the deploy.

use crate::gha::files::{append_summary_to, write_key_value};
use crate::gha::RunnerEnv;
use crate::report::facts::ReportFacts;
use crate::report::log::render_log;
use crate::report::markdown::{render_summary, Links};
use crate::report::metrics::render_metrics;
use crate::report::model::RunReport;
use crate::report::outputs::ActionOutputs;
use crate::report::redact::Redactor;
use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};

/// The report directory, relative to the workspace, unless configured otherwise.
pub const DEFAULT_REPORT_DIR: &str = "bluegreen-report";

/// Where the local sinks write.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// `GITHUB_WORKSPACE` (or the current directory outside a runner).
    pub workspace: PathBuf,
    /// Relative to `workspace`; must not leave it.
    pub report_dir: PathBuf,
    /// `GITHUB_STEP_SUMMARY`, when running as a step.
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_OUTPUT`, when running as a step.
    pub output_file: Option<PathBuf>,
    /// The lint stage's SARIF file, copied into the report directory.
    pub lint_sarif: Option<PathBuf>,
    pub run_url: Option<String>,
    pub redactor: Redactor,
}

impl ReportOptions {
    /// Options for a step on a runner, read from its environment.
    pub fn from_runner(env: &RunnerEnv, redactor: Redactor) -> ReportOptions {
        Self::from_lookup(env, |k| std::env::var(k).ok(), redactor)
    }

    /// Same as [`ReportOptions::from_runner`] with an explicit variable lookup.
    pub fn from_lookup(
        env: &RunnerEnv,
        get: impl Fn(&str) -> Option<String>,
        redactor: Redactor,
    ) -> ReportOptions {
        let path = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        ReportOptions {
            workspace: env.workspace.clone().unwrap_or_else(|| PathBuf::from(".")),
            report_dir: PathBuf::from(DEFAULT_REPORT_DIR),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            output_file: path("GITHUB_OUTPUT"),
            lint_sarif: None,
            run_url: env.run_url(),
            redactor,
        }
    }
}

/// How one sink ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkOutcome {
    Written(PathBuf),
    /// Not applicable here (no runner file, no SARIF given); the reason says which.
    Skipped(String),
    /// Could not write; the reason says what and why. The deploy result is unchanged.
    Failed(String),
}

impl SinkOutcome {
    fn from_result(path: PathBuf, result: Result<()>) -> SinkOutcome {
        match result {
            Ok(()) => SinkOutcome::Written(path),
            Err(e) => SinkOutcome::Failed(format!("{e:#}")),
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, SinkOutcome::Failed(_))
    }
}

/// What [`write_report`] did, one outcome per sink.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    /// Workspace-relative report directory, as given to the `report-dir` output.
    pub report_dir: String,
    pub log: SinkOutcome,
    pub metrics: SinkOutcome,
    pub summary_file: SinkOutcome,
    pub run_json: SinkOutcome,
    pub lint_sarif: SinkOutcome,
    pub step_summary: SinkOutcome,
    pub outputs: SinkOutcome,
    pub facts: ReportFacts,
}

impl ReportOutcome {
    /// Every failed sink with its reason, for warnings.
    pub fn failures(&self) -> Vec<(&'static str, &str)> {
        [
            ("log", &self.log),
            ("metrics.json", &self.metrics),
            ("summary.md", &self.summary_file),
            ("run.json", &self.run_json),
            ("lint.sarif", &self.lint_sarif),
            ("job summary", &self.step_summary),
            ("outputs", &self.outputs),
        ]
        .into_iter()
        .filter_map(|(name, o)| match o {
            SinkOutcome::Failed(reason) => Some((name, reason.as_str())),
            _ => None,
        })
        .collect()
    }
}

/// Renders every local sink through the redactor and writes it.
pub fn write_report(report: &RunReport, options: &ReportOptions) -> ReportOutcome {
    let facts = ReportFacts::from_report(report);
    let report_dir = options.report_dir.to_string_lossy().replace('\\', "/");
    let links = Links {
        run_url: options.run_url.clone(),
        report_dir: report_dir.clone(),
        // The job summary sits beside the run's own deployment entry: no link needed.
        deployments_url: None,
    };
    let summary = render_summary(report, &facts, &links);
    let writer = DirWriter::new(options);
    let outputs = ActionOutputs::new(report, &facts, &report_dir);
    ReportOutcome {
        log: writer.write("bluegreen.log", || Ok(render_log(report))),
        metrics: writer.write("metrics.json", || Ok(render_metrics(report, &facts)?)),
        summary_file: writer.write("summary.md", || Ok(summary.clone())),
        run_json: writer.write("run.json", || Ok(run_json(report)?)),
        lint_sarif: copy_sarif(&writer, options.lint_sarif.as_deref()),
        step_summary: append_step_summary(options, &summary),
        outputs: write_outputs(options, &outputs),
        report_dir,
        facts,
    }
}

/// Writes the log and `run.json` again once the GitHub sinks have run, so the requests they
/// made are in the command log too (the summary and the comment are written before them).
pub fn rewrite_command_log(
    report: &RunReport,
    options: &ReportOptions,
) -> Vec<(&'static str, SinkOutcome)> {
    let writer = DirWriter::new(options);
    vec![
        (
            "log",
            writer.write("bluegreen.log", || Ok(render_log(report))),
        ),
        (
            "run.json",
            writer.write("run.json", || Ok(run_json(report)?)),
        ),
    ]
}

fn run_json(report: &RunReport) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(report)? + "\n")
}

/// Writes files into the report directory, redacted.
struct DirWriter<'a> {
    dir: Result<PathBuf, String>,
    redactor: &'a Redactor,
}

impl<'a> DirWriter<'a> {
    fn new(options: &'a ReportOptions) -> DirWriter<'a> {
        let dir = checked_report_dir(&options.workspace, &options.report_dir)
            .and_then(|dir| {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating report directory {}", dir.display()))?;
                Ok(dir)
            })
            .map_err(|e| format!("{e:#}"));
        DirWriter {
            dir,
            redactor: &options.redactor,
        }
    }

    fn write(&self, name: &str, render: impl FnOnce() -> Result<String>) -> SinkOutcome {
        let dir = match &self.dir {
            Ok(dir) => dir,
            Err(reason) => return SinkOutcome::Failed(reason.clone()),
        };
        let path = dir.join(name);
        let result = render().and_then(|text| {
            std::fs::write(&path, self.redactor.redact(&text))
                .with_context(|| format!("writing {}", path.display()))
        });
        SinkOutcome::from_result(path, result)
    }
}

/// The report directory must stay inside the workspace: it is uploaded as an artifact and
/// its relative path is an output.
fn checked_report_dir(workspace: &Path, relative: &Path) -> Result<PathBuf> {
    let escapes = relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    if escapes || relative.as_os_str().is_empty() {
        bail!(
            "report directory {:?}: expected a relative path inside the workspace, such as {DEFAULT_REPORT_DIR}",
            relative.display().to_string()
        );
    }
    Ok(workspace.join(relative))
}

fn copy_sarif(writer: &DirWriter<'_>, sarif: Option<&Path>) -> SinkOutcome {
    match sarif {
        None => SinkOutcome::Skipped("no SARIF file from the lint stage".into()),
        Some(src) => writer.write("lint.sarif", || {
            std::fs::read_to_string(src)
                .with_context(|| format!("reading lint SARIF {}", src.display()))
        }),
    }
}

fn append_step_summary(options: &ReportOptions, summary: &str) -> SinkOutcome {
    let Some(file) = &options.step_summary else {
        return SinkOutcome::Skipped(
            "GITHUB_STEP_SUMMARY is not set (not running as a step)".into(),
        );
    };
    let result = append_summary_to(file, &options.redactor.redact(summary));
    SinkOutcome::from_result(file.clone(), result)
}

fn write_outputs(options: &ReportOptions, outputs: &ActionOutputs) -> SinkOutcome {
    let Some(file) = &options.output_file else {
        return SinkOutcome::Skipped("GITHUB_OUTPUT is not set (not running as a step)".into());
    };
    let result = outputs
        .pairs()
        .into_iter()
        .try_for_each(|(name, value)| write_key_value(file, name, &options.redactor.redact(value)));
    SinkOutcome::from_result(file.clone(), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_dir_must_stay_in_the_workspace() {
        let ws = Path::new("/ws");
        assert_eq!(
            checked_report_dir(ws, Path::new("bluegreen-report")).unwrap(),
            Path::new("/ws/bluegreen-report")
        );
        for bad in ["../out", "/tmp/out", ""] {
            let err = checked_report_dir(ws, Path::new(bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains("expected a relative path"), "{bad}: {err}");
        }
    }
}
