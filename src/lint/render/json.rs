//! The JSON format: the report as one document (`"schema_version": 1`, as every `--format
//! json` of the CLI, and the older `"version": 1`; fields only get added).

use crate::lint::LintReport;

pub fn render(report: &LintReport) -> anyhow::Result<String> {
    let doc = serde_json::json!({
        "schema_version": crate::output::SCHEMA_VERSION,
        "version": 1,
        "files_linted": report.files_linted,
        "counts": report.counts,
        "findings": report.findings,
        "file_errors": report.file_errors,
        "resolution": report.resolution,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
