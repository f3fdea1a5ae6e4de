//! The record handed to the report: what the stages found, mapped once into the report's own
//! types ([`RunReport`]). Every sink renders that record and nothing else.

use super::deploy::rolled_back;
use super::plan::HostPlan;
use super::Pipeline;
use crate::fleet::rollout::FleetReport;
use crate::image::{self, ImageVerdict};
use crate::lint::{self, LintReport};
use crate::report::{
    HostRecord, ImageFacts, LintFinding, LintSummary, RunReport, RunStatus, ScanCounts,
};
use chrono::Utc;

/// How many lint findings the report lists (the counts cover all of them).
const REPORT_LINT_FINDINGS: usize = 20;

/// What the stages found, as the report needs it.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) lint: Option<LintReport>,
    pub(super) image: Option<ImageVerdict>,
    pub(super) preflight: Vec<HostPlan>,
    pub(super) fleet: Option<FleetReport>,
    pub(super) release: Option<crate::report::ReleaseRecord>,
    /// The GitHub deployment started before the deploy, finished by the report.
    pub(super) deployment: GithubDeployment,
}

/// Whether the GitHub deployment was started as the deploy began.
#[derive(Debug, Default, Clone, Copy)]
pub(super) enum GithubDeployment {
    /// Not tried (not in Actions, disabled, or the run stopped before the deploy): the report
    /// creates it whole.
    #[default]
    NotStarted,
    Started(u64),
    /// GitHub refused (and the warning was printed): the report does not ask again.
    Refused,
}

impl Pipeline {
    pub(super) fn run_report(
        &self,
        status: RunStatus,
        reason: Option<String>,
        found: &Findings,
    ) -> RunReport {
        let app = Some(self.config.deploy.app.as_str());
        let hosts: Vec<HostRecord> = match &found.fleet {
            Some(fleet) => fleet.hosts.iter().map(|h| h.record(app)).collect(),
            None => found.preflight.iter().map(HostPlan::untouched).collect(),
        };
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
            commands: self.events.commands(),
            hosts,
            image,
            lint: found.lint.as_ref().map(lint_summary),
            rolled_back: found.fleet.as_ref().is_some_and(rolled_back),
            reason,
            environment_url: self.config.environment_url.clone(),
            release: found.release.clone(),
        }
    }

    /// For an image not verified in ECR: the reference and the digest the hosts pulled.
    pub(super) fn deployed_image_facts(&self, hosts: &[HostRecord]) -> Option<ImageFacts> {
        let digest = hosts.iter().find_map(|h| h.digest.clone())?;
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

pub(super) fn image_facts(verdict: &ImageVerdict) -> Option<ImageFacts> {
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
pub(super) fn scan_counts(scan: &image::ScanReport) -> Option<ScanCounts> {
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

pub(super) fn lint_summary(report: &LintReport) -> LintSummary {
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
