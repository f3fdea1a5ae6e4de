//! SARIF 2.1.0, as GitHub code scanning reads it: one run, every rule of the data file in
//! `tool.driver.rules` (so `ruleIndex` is stable), columns in Unicode code points, paths
//! relative to the repository root (`%SRCROOT%`), and files that could not be linted as
//! tool execution notifications.

use crate::lint::rules::RuleData;
use crate::lint::{Finding, LintReport, Severity};
use serde_json::{json, Value};

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn render(report: &LintReport) -> anyhow::Result<String> {
    let data = RuleData::embedded()?;
    let rules: Vec<Value> = data
        .metas()
        .map(|m| {
            json!({
                "id": m.id,
                "name": m.id,
                "shortDescription": { "text": m.what },
                "fullDescription": { "text": format!("{} (since {}); use {}", m.what, m.since, m.replacement) },
                "helpUri": m.link,
                "help": { "text": format!("Use {} instead. See {}", m.replacement, m.link) },
                "defaultConfiguration": { "level": level(m.severity) },
                "properties": { "since": m.since, "replacement": m.replacement, "tags": ["deprecation"] },
            })
        })
        .collect();
    let index = |id: &str| data.metas().position(|m| m.id == id);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, index(&f.rule_id)))
        .collect();
    let notifications: Vec<Value> = report
        .file_errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": { "text": format!("{}: {}", e.file, e.message) },
                "locations": [location(&e.file, e.line, e.column, e.line, e.column + 1)],
            })
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "bluegreen-lint",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/org/bluegreen-action/blob/main/docs/lint.md",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": report.file_errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "originalUriBaseIds": { "%SRCROOT%": { "description": { "text": "the repository root" } } },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}

fn result(f: &Finding, rule_index: Option<usize>) -> Value {
    let mut r = json!({
        "ruleId": f.rule_id,
        "level": level(f.severity),
        "message": { "text": f.message },
        "locations": [location(&f.file, f.line, f.column, f.end_line, f.end_column)],
        "partialFingerprints": { "bluegreenLint/v1": fingerprint(f) },
    });
    if let (Some(i), Some(obj)) = (rule_index, r.as_object_mut()) {
        obj.insert("ruleIndex".into(), json!(i));
    }
    r
}

fn location(file: &str, line: usize, col: usize, end_line: usize, end_col: usize) -> Value {
    json!({ "physicalLocation": {
        "artifactLocation": { "uri": file, "uriBaseId": "%SRCROOT%" },
        "region": { "startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col.max(col + usize::from(end_line == line && end_col <= col)) },
    }})
}

/// Stable across unrelated edits above the finding: rule, file and the flagged text, not the
/// line number, so code scanning keeps an alert open instead of re-creating it.
fn fingerprint(f: &Finding) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&f.rule_id, &f.file, &f.message).hash(&mut h);
    format!("{:016x}", h.finish())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}
