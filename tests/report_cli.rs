//! `bluegreen report` re-renders a recorded run through the local sinks.

use std::path::Path;
use std::process::Command;

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/report/run.json")
        .display()
        .to_string()
}

#[test]
fn report_renders_a_recorded_run_into_the_workspace() {
    let ws = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["report", "--run", &fixture()])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", ws.path())
        .env("GITHUB_OUTPUT", ws.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", ws.path().join("summary"))
        .env("AWS_SECRET_ACCESS_KEY", "cli-planted-secret")
        .env_remove("INPUT_GITHUB-TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::add-mask::cli-planted-secret"),
        "{stdout}"
    );
    for f in ["bluegreen.log", "metrics.json", "summary.md", "run.json"] {
        assert!(ws.path().join("bluegreen-report").join(f).is_file(), "{f}");
    }
    let summary = std::fs::read_to_string(ws.path().join("summary")).unwrap();
    assert!(summary.starts_with("## ✅ shop → production: success"));
    let outputs = std::fs::read_to_string(ws.path().join("output")).unwrap();
    assert!(outputs.contains("report-dir<<") && outputs.contains("\nbluegreen-report\n"));

    // Outside a runner nothing would hide a masked value: no mask commands, no secret printed.
    let local = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["report", "--run", &fixture()])
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_WORKSPACE", local.path())
        .env("AWS_SECRET_ACCESS_KEY", "cli-planted-secret")
        .env_remove("INPUT_GITHUB-TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains("cli-planted-secret"), "{printed}");
}

#[test]
fn an_unreadable_run_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["report", "--run", "/nonexistent/run.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--run /nonexistent/run.json: cannot read it"),
        "{stderr}"
    );
}
