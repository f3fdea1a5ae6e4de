//! The lint stage: the repository's workflows, with the findings at or above `lint-fail-on`
//! stopping the run.

use super::{Findings, Pipeline, Stop};
use crate::config::Stage;
use crate::exit::ExitCode;
use crate::lint::{self, LintReport};
use crate::report::{Scope, StepStatus};

impl Pipeline {
    pub(super) fn lint_stage(&self, found: &mut Findings) -> Result<(), Stop> {
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
}

pub(super) fn lint_blocking(report: &LintReport, fail_on: &str) -> usize {
    let c = &report.counts;
    match fail_on {
        "note" => c.error + c.warning + c.note,
        "warning" => c.error + c.warning,
        _ => c.error,
    }
}
