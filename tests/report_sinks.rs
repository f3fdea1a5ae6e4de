//! The local report sinks, rendered from a recorded run (`tests/data/report/run.json`).
//!
//! Golden files live in `tests/data/report/golden/`; regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --test report_sinks` and review the diff.

use bluegreen::gha::files::parse_key_values;
use bluegreen::report::facts::ReportFacts;
use bluegreen::report::markdown::{
    render_comment, render_summary, Links, COMMENT_LIMIT_CHARS, SUMMARY_LIMIT_BYTES,
};
use bluegreen::report::metrics::render_metrics;
use bluegreen::report::{write_report, Redactor, ReportOptions, RunReport, SinkOutcome};
use std::path::{Path, PathBuf};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn fixture() -> RunReport {
    let text = std::fs::read_to_string(data("tests/data/report/run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn links() -> Links {
    Links {
        run_url: Some("https://github.com/acme/shop/actions/runs/42".into()),
        report_dir: "bluegreen-report".into(),
        deployments_url: Some("https://github.com/acme/shop/deployments".into()),
    }
}

/// Compares with the golden file, or rewrites it when UPDATE_GOLDEN=1.
fn assert_golden(name: &str, actual: &str) {
    let path = data(&format!("tests/data/report/golden/{name}"));
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} unreadable ({e}); run UPDATE_GOLDEN=1 cargo test --test report_sinks",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} differs from its golden file; if the change is intended, run UPDATE_GOLDEN=1"
    );
}

#[test]
fn summary_matches_golden() {
    let report = fixture();
    let facts = ReportFacts::from_report(&report);
    assert_golden("summary.md", &render_summary(&report, &facts, &links()));
}

#[test]
fn comment_matches_golden_and_starts_with_its_marker() {
    let report = fixture();
    let facts = ReportFacts::from_report(&report);
    let comment = render_comment(&report, &facts, &links());
    assert!(comment.starts_with("<!-- bluegreen-action:shop:production -->\n"));
    assert_golden("comment.md", &comment);
}

/// The run of a real local deploy (v1 live, then v2), recorded by
/// `scripts/record-report-fixture`: the same renderers on measured events.
#[test]
fn a_recorded_local_deploy_renders_to_its_golden_files() {
    let text = std::fs::read_to_string(data("tests/data/report/local-run.json")).unwrap();
    let report: RunReport = serde_json::from_str(&text).unwrap();
    let facts = ReportFacts::from_report(&report);
    assert_eq!(report.hosts.len(), 1);
    assert_eq!(facts.live_before.as_str(), "blue");
    assert_eq!(facts.live_after.as_str(), "green");
    assert_golden(
        "local-summary.md",
        &render_summary(&report, &facts, &links()),
    );
    assert_golden(
        "local-comment.md",
        &render_comment(&report, &facts, &links()),
    );
}

#[test]
fn recommendations_come_from_the_measurements() {
    let report = fixture();
    let facts = ReportFacts::from_report(&report);
    let codes: Vec<_> = facts.recommendations.iter().map(|r| r.code).collect();
    // Host 2's health step took 34.1 s (> 30 s); host 1's receipt counts 3 failed requests;
    // host 2 had no prior version; lint found one deprecated action; the scan found 2 high. The
    // image (212 MiB) is under the size threshold.
    assert_eq!(
        codes,
        [
            "slow-readiness",
            "failed-during-switch",
            "no-rollback-target",
            "deprecated-actions",
            "scan-findings"
        ]
    );
    assert!(facts.recommendations[0]
        .message
        .starts_with("i-0a1b2c3d4e5f60002: the new container took 34.1 s"));
    assert_eq!(
        facts.live_before.as_str(),
        "blue",
        "host 2 served nothing yet"
    );
    assert_eq!(
        facts.live_after.as_str(),
        "mixed",
        "green on host 1, blue on host 2"
    );
}

#[test]
fn metrics_validate_against_the_committed_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("docs/metrics.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let report = fixture();
    let metrics: serde_json::Value =
        serde_json::from_str(&render_metrics(&report, &ReportFacts::from_report(&report)).unwrap())
            .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&metrics)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(metrics["schema_version"], 1);
    assert_eq!(metrics["hosts"][0]["live_color_before"], "blue");
    assert_eq!(metrics["hosts"][0]["live_color_after"], "green");
    assert_eq!(
        metrics["hosts"][1]["rollback_target_color"],
        serde_json::Value::Null
    );
    assert_eq!(metrics["rollback_performed"], false);
    assert_eq!(metrics["lint"]["warnings"], 2);

    // The schema is strict enough to catch a renamed field.
    let mut broken = metrics.clone();
    broken["rollback"] = broken["rollback_performed"].take();
    broken.as_object_mut().unwrap().remove("rollback_performed");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn write_report_fills_the_report_dir_summary_and_outputs() {
    let ws = tempfile::tempdir().unwrap();
    let sarif = ws.path().join("lint-input.sarif");
    std::fs::write(&sarif, r#"{"version":"2.1.0","runs":[]}"#).unwrap();
    let options = ReportOptions {
        workspace: ws.path().to_path_buf(),
        report_dir: "bluegreen-report".into(),
        step_summary: Some(ws.path().join("step_summary")),
        output_file: Some(ws.path().join("output")),
        lint_sarif: Some(sarif),
        run_url: links().run_url,
        redactor: Redactor::default(),
    };
    let outcome = write_report(&fixture(), &options);
    assert!(outcome.failures().is_empty(), "{:?}", outcome.failures());
    let dir = ws.path().join("bluegreen-report");
    for f in [
        "bluegreen.log",
        "metrics.json",
        "summary.md",
        "run.json",
        "lint.sarif",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        outcome.metrics,
        SinkOutcome::Written(dir.join("metrics.json"))
    );

    let log = std::fs::read_to_string(dir.join("bluegreen.log")).unwrap();
    assert_eq!(
        log.lines().count(),
        1 + 17 + 6,
        "header, one line per event, one per command:\n{log}"
    );
    assert!(log.lines().any(|l| l.contains(" host:i-0a1b2c3d4e5f60001 ")
        && l.contains(" $ docker pull ")
        && l.ends_with("(exit=0, 7.4 s)")));

    let summary = std::fs::read_to_string(ws.path().join("step_summary")).unwrap();
    assert_eq!(
        summary,
        std::fs::read_to_string(dir.join("summary.md")).unwrap()
    );

    let outputs =
        parse_key_values(&std::fs::read_to_string(ws.path().join("output")).unwrap()).unwrap();
    let get = |k: &str| {
        outputs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("status"), Some("success"));
    assert_eq!(get("live-color"), Some("mixed"));
    assert_eq!(get("rolled-back"), Some("false"));
    assert_eq!(get("report-dir"), Some("bluegreen-report"));
    assert!(get("image-ref").unwrap().contains("@sha256:5f2b9c0e"));

    // The run record round-trips, so the fixture can be regenerated from a real deploy.
    let back: RunReport =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(back, fixture());
}

#[test]
fn a_report_dir_outside_the_workspace_is_refused_not_fatal() {
    let ws = tempfile::tempdir().unwrap();
    let options = ReportOptions {
        workspace: ws.path().to_path_buf(),
        report_dir: "../elsewhere".into(),
        step_summary: None,
        output_file: None,
        lint_sarif: None,
        run_url: None,
        redactor: Redactor::default(),
    };
    let outcome = write_report(&fixture(), &options);
    assert!(matches!(&outcome.metrics, SinkOutcome::Failed(r) if r.contains("../elsewhere")));
    assert!(matches!(outcome.step_summary, SinkOutcome::Skipped(_)));
    assert!(!ws.path().parent().unwrap().join("elsewhere").exists());
}

/// A run far larger than GitHub accepts: the summary and comment shrink by dropping rows,
/// and every table stays whole.
#[test]
fn huge_runs_are_trimmed_by_rows_never_mid_table() {
    let report = fixture().scaled_up(3_000, 20_000, 5_000);
    let facts = ReportFacts::from_report(&report);
    let summary = render_summary(&report, &facts, &links());
    let comment = render_comment(&report, &facts, &links());
    assert!(summary.len() <= SUMMARY_LIMIT_BYTES, "{}", summary.len());
    assert!(comment.chars().count() <= COMMENT_LIMIT_CHARS);
    assert!(summary.contains("| ... and "), "trimmed rows are counted");
    for doc in [&summary, &comment] {
        assert_tables_whole(doc);
    }
    assert!(summary.contains("### Hosts") && summary.contains("### Lint"));
    let failing: Vec<_> = facts
        .recommendations
        .iter()
        .filter(|r| r.code == "failed-during-switch")
        .collect();
    assert_eq!(
        failing.len(),
        1,
        "one recommendation for every failing host"
    );
    assert!(
        failing[0].message.contains("on 3001 host(s)")
            && failing[0].message.contains("and 2998 more host(s)"),
        "{}",
        failing[0].message
    );
    assert!(
        summary.contains("**9,003 of 37,047,345 requests failed while 3001 hosts switched"),
        "the fleet's receipt sums the hosts"
    );
}

fn assert_tables_whole(doc: &str) {
    let mut columns: Option<usize> = None;
    for line in doc.lines() {
        if line.starts_with('|') {
            assert!(line.ends_with('|'), "cut row: {line:.80}");
            let n = line.replace("\\|", "").matches('|').count();
            assert_eq!(*columns.get_or_insert(n), n, "ragged row: {line:.80}");
        } else {
            columns = None;
        }
    }
}

/// A canary run on two hosts: one promoted at its pause by a person and went on to 100 %,
/// the other aborted at 25 % (20.6 % of its requests failed, three times slower).
fn canary_fixture() -> RunReport {
    let text = std::fs::read_to_string(data("tests/data/report/canary-run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_canary_run_renders_a_table_per_host_to_its_golden_files() {
    let report = canary_fixture();
    let facts = ReportFacts::from_report(&report);
    let summary = render_summary(&report, &facts, &links());
    let comment = render_comment(&report, &facts, &links());
    for doc in [&summary, &comment] {
        assert!(doc.contains(
            "`i-0a1b2c3d4e5f60001`: promoted by octocat after step 5 of 5 (100 %), 5 intervals; \
             steps 5 %, 25 %, pause, 50 %, 100 %"
        ));
        assert!(doc.contains(
            "`i-0a1b2c3d4e5f60002`: aborted at step 2 of 5 (25 %), 2 intervals: 1 failed interval"
        ));
        assert!(doc.contains(
            "| 2 | 25 % | 296 / 880 | 20.6 % / 0.11 % | 38.2 ms / 12.0 ms | fail: failed share 20.6 %"
        ));
        assert!(doc.contains("| 5 | 100 % | 1,207 / 0 | 0.08 % / - | 13.0 ms / - | pass (note: the old version got 0 requests"));
    }
    assert_golden("canary-summary.md", &summary);
    assert_golden("canary-comment.md", &comment);
}

#[test]
fn a_canary_run_metrics_validate_and_carry_each_interval() {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("docs/metrics.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let report = canary_fixture();
    let metrics: serde_json::Value =
        serde_json::from_str(&render_metrics(&report, &ReportFacts::from_report(&report)).unwrap())
            .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&metrics)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let promoted = &metrics["hosts"][0]["canary"];
    assert_eq!(
        promoted["end"],
        serde_json::json!({"verdict": "promoted", "by": "octocat"})
    );
    assert_eq!(
        promoted["steps"],
        serde_json::json!([5, 25, "pause", 50, 100])
    );
    assert_eq!(promoted["intervals"].as_array().unwrap().len(), 5);
    assert_eq!(
        promoted["intervals"][4]["old"]["failed_share"],
        serde_json::Value::Null
    );
    let failed = &metrics["hosts"][1]["canary"]["intervals"][1];
    assert_eq!(failed["verdict"]["kind"], "fail");
    assert_eq!(failed["new"]["failed"], 61);
    let share = failed["new"]["failed_share"].as_f64().unwrap();
    assert!((share - 61.0 / 296.0).abs() < 1e-9, "{share}");
    assert_eq!(failed["old"]["avg_response_ms"], 12.0);
    // A host without a canary has no key; a canary of an unknown verdict is refused.
    let plain: serde_json::Value = serde_json::from_str(
        &render_metrics(&fixture(), &ReportFacts::from_report(&fixture())).unwrap(),
    )
    .unwrap();
    assert!(plain["hosts"][0].get("canary").is_none());
    let mut broken = metrics.clone();
    broken["hosts"][1]["canary"]["end"]["verdict"] = "paused".into();
    assert!(!validator.is_valid(&broken));
}

/// A host's reply with a canary, as `deploy --format json` prints it, matches the reply's
/// schema; a step that is neither a percentage nor `pause` does not.
#[test]
fn a_reply_with_a_canary_matches_the_reply_schema() {
    let path = data("docs/schemas/agent-reply.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let canary = canary_fixture().hosts[1].canary.clone().unwrap();
    let mut reply = bluegreen::agent::AgentReply::from_stdout(
        r#"@@bluegreen-reply@@ {"host":"i-2","action":"deploy","outcome":"failed","message":"canary aborted"}"#,
    )
    .unwrap();
    reply.canary = Some(canary);
    let doc: serde_json::Value =
        serde_json::from_str(&bluegreen::output::json_document(&reply).unwrap()).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(doc["canary"]["end"]["verdict"], "aborted");
    let mut broken = doc.clone();
    broken["canary"]["steps"][1] = "wait".into();
    assert!(!validator.is_valid(&broken));
}
