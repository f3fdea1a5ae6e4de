//! The repository lints itself clean, the rule data is fully documented, and the sample that
//! trips every family does.

use bluegreen::lint::lint_repository;
use bluegreen::lint::rules::RuleData;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn this_repository_workflows_and_actions_have_no_findings() {
    let report = lint_repository(root(), &[]).unwrap();
    let linted: BTreeSet<&str> = report.files.iter().map(String::as_str).collect();
    for expected in [
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        "workflows-lint/action.yml",
    ] {
        assert!(
            linted.contains(expected),
            "{expected} is linted: {linted:?}"
        );
    }
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn every_rule_in_the_data_file_has_a_row_in_docs_lint_md() {
    let docs = std::fs::read_to_string(root().join("docs/lint.md")).unwrap();
    let data = RuleData::embedded().unwrap();
    let mut missing = Vec::new();
    for meta in data.metas() {
        let row = format!(
            "| `{}` | {} | {} | {} |",
            meta.id,
            meta.severity.as_str(),
            meta.since,
            meta.replacement.replace('|', "\\|")
        );
        if !docs.lines().any(|l| l.starts_with(&row)) {
            missing.push(row);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/lint.md lacks these rule rows:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_sample_trips_every_workflow_rule_family() {
    let report =
        lint_repository(root(), &[PathBuf::from("tests/data/lint/all-families.yml")]).unwrap();
    let ids: BTreeSet<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
    for id in [
        "runner-ubuntu-20-04-retired",
        "checkout-old-runtime",
        "upload-artifact-sunset",
        "cache-sunset",
        "set-output-command",
        "runner-macos-13-retired",
        "add-path-command",
        "codeql-action-retired",
    ] {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }
}
