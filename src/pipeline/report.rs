//! The report stage: the record written to every sink (report directory, job summary, outputs),
//! then the PR comment and the GitHub deployment.

use super::record::GithubDeployment;
use super::{Findings, Pipeline};
use crate::config::Stage;
use crate::lint;
use crate::report::github::{self, GithubOptions};
use crate::report::{self, ReportOptions, RunReport, RunStatus};
use std::path::PathBuf;

impl Pipeline {
    /// Writes the report directory, summary and outputs, then the PR comment and deployment.
    pub(super) async fn report(&self, status: RunStatus, reason: Option<String>, found: &Findings) {
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
            self.rewrite_command_log(record, &options);
        }
    }

    pub(super) fn github_options(&self) -> GithubOptions {
        let mut gh = GithubOptions::from_runner(
            &self.runner,
            self.config.github_token.clone(),
            self.redactor.clone(),
        );
        gh.comment = self.config.pr_comment;
        gh.pr_number = self.config.pr_number;
        gh.deployment = self.config.deployment;
        gh.calls = self.events.clone();
        gh
    }

    /// The log and run.json again, with the GitHub requests the report stage made.
    fn rewrite_command_log(&self, mut record: RunReport, options: &ReportOptions) {
        record.commands = self.events.commands();
        for (sink, outcome) in report::write::rewrite_command_log(&record, options) {
            if let report::SinkOutcome::Failed(reason) = outcome {
                eprintln!("warning: report {sink}: {reason}");
            }
        }
    }

    /// The GitHub deployment, `in_progress` from the moment the deploy starts (a warning, never
    /// a stop, when GitHub refuses).
    pub(super) async fn start_github_deployment(&self, found: &Findings) -> GithubDeployment {
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
    pub(super) fn print_outcome(&self, record: &RunReport, written: &report::ReportOutcome) {
        for host in &record.hosts {
            println!("{}: {}", host.host, self.redactor.redact(&host.message));
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
    pub(super) fn write_lint_sarif(&self, found: &Findings) -> Option<PathBuf> {
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
}
