//! `bluegreen rollback --from-action-inputs` when the host cannot be reached: the step still
//! says so in its outputs and summary, not only in its log, and exits 5.

use bluegreen::gha::files::parse_key_values;
use std::process::Command;

#[test]
fn an_unreachable_docker_daemon_is_a_failure_in_the_outputs_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("apps/shop")).unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary"));
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["rollback", "--from-action-inputs"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("BLUEGREEN_STATE_DIR", dir.path())
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_APP", "shop")
        .env("INPUT_TARGET", "local")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let outputs = parse_key_values(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(outputs, [("status".to_string(), "failure".to_string())]);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("shop rollback: failure"), "{summary}");
    assert!(summary.contains("Docker daemon"), "{summary}");
}

#[test]
fn from_action_inputs_refuses_command_line_options_it_would_ignore() {
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["rollback", "--from-action-inputs", "--app", "shop"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--from-action-inputs") && stderr.contains("--app"),
        "{stderr}"
    );
}
