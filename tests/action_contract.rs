//! The action image run exactly as the runner runs a container action: `docker run` with
//! `--workdir /github/workspace`, the workspace, file-command, workflow and docker-socket
//! mounts, `GITHUB_*` paths translated to container paths, and every declared input as
//! `INPUT_<NAME>` with its hyphens kept ("" when the workflow left it out). Then the outputs,
//! summary and report files are read back the way the runner reads them.
//!
//! Also: `action.yml`, the input struct and the README's input table name the same inputs.

mod support;

use bluegreen::gha::files::parse_key_values;
use clap::{Args, Command as ClapCommand};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{env, image, TestApp};

/// `(name, default)` of every input an action.yml declares, read from the file itself.
fn declared_inputs(action_yml: &Path) -> Vec<(String, String)> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(action_yml).unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    let inputs = docs[0]["inputs"].as_mapping().expect("inputs mapping");
    inputs
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().unwrap().to_string();
            let default = v
                .as_mapping()
                .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("default")))
                .and_then(|(_, d)| d.as_str())
                .unwrap_or_default()
                .to_string();
            (name, default)
        })
        .collect()
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn action_yml_the_input_struct_and_the_readme_agree() {
    let in_yml: BTreeSet<String> = declared_inputs(&repo_file("action.yml"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let cmd = bluegreen::pipeline::RunArgs::augment_args(ClapCommand::new("run"));
    let in_code: BTreeSet<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let in_readme: BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(name, _)| name.to_string()))
        .filter(|name| in_yml.contains(name) || in_code.contains(name))
        .collect();
    assert_eq!(in_yml, in_code, "action.yml inputs vs RunInputs fields");
    assert_eq!(in_yml, in_readme, "action.yml inputs vs the README's table");
}

/// A runner's temp layout for one step, and the `docker run` it would issue.
struct RunnerStep {
    workspace: tempfile::TempDir,
    temp: tempfile::TempDir,
}

impl RunnerStep {
    fn new() -> RunnerStep {
        let step = RunnerStep {
            workspace: tempfile::Builder::new()
                .prefix("bgc-ws-")
                .tempdir()
                .unwrap(),
            temp: tempfile::Builder::new()
                .prefix("bgc-tmp-")
                .tempdir()
                .unwrap(),
        };
        for dir in ["_runner_file_commands", "_github_workflow", "_github_home"] {
            std::fs::create_dir_all(step.temp.path().join(dir)).unwrap();
        }
        std::fs::write(step.output_file(), "").unwrap();
        std::fs::write(step.summary_file(), "").unwrap();
        std::fs::write(
            step.temp.path().join("_github_workflow/event.json"),
            r#"{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}"#,
        )
        .unwrap();
        step
    }

    fn output_file(&self) -> PathBuf {
        self.temp.path().join("_runner_file_commands/set_output_1")
    }

    fn summary_file(&self) -> PathBuf {
        self.temp
            .path()
            .join("_runner_file_commands/step_summary_1")
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.workspace.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `docker run` as ContainerActionHandler builds it: inputs with their defaults, overridden.
    fn run(
        &self,
        action_yml: &str,
        args: &[&str],
        inputs: &[(&str, &str)],
        extra_env: &[(&str, &str)],
    ) -> Output {
        let mut values: HashMap<String, String> = declared_inputs(&repo_file(action_yml))
            .into_iter()
            .collect();
        for (k, v) in inputs {
            values.insert(k.to_string(), v.to_string());
        }
        let t = self.temp.path().display().to_string();
        let ws = self.workspace.path().display().to_string();
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "--workdir", "/github/workspace"])
            .args(["-v", "/var/run/docker.sock:/var/run/docker.sock"])
            .args(["-v", &format!("{t}/_github_home:/github/home")])
            .args(["-v", &format!("{t}/_github_workflow:/github/workflow")])
            .args([
                "-v",
                &format!("{t}/_runner_file_commands:/github/file_commands"),
            ])
            .args(["-v", &format!("{ws}:/github/workspace")]);
        let mut vars: Vec<(String, String)> = values
            .into_iter()
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v))
            .collect();
        for (k, v) in [
            ("HOME", "/github/home"),
            ("GITHUB_ACTIONS", "true"),
            ("CI", "true"),
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("GITHUB_EVENT_PATH", "/github/workflow/event.json"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_OUTPUT", "/github/file_commands/set_output_1"),
            (
                "GITHUB_STEP_SUMMARY",
                "/github/file_commands/step_summary_1",
            ),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SERVER_URL", "https://github.com"),
        ] {
            vars.push((k.into(), v.into()));
        }
        for (k, v) in extra_env {
            vars.push((k.to_string(), v.to_string()));
        }
        // The runner passes `-e NAME` and the value through its own environment.
        for (k, v) in &vars {
            cmd.arg("-e").arg(k).env(k, v);
        }
        cmd.arg(env("BLUEGREEN_TEST_ACTION_IMAGE")).args(args);
        cmd.output().unwrap()
    }

    fn outputs(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.output_file()).unwrap();
        parse_key_values(&text).unwrap().into_iter().collect()
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.summary_file()).unwrap()
    }

    /// Every byte the step left behind: outputs, summary and the workspace's files.
    fn everything_written(&self, output: &Output) -> String {
        let mut all = String::from_utf8_lossy(&output.stdout).to_string();
        all.push_str(&String::from_utf8_lossy(&output.stderr));
        all.push_str(&std::fs::read_to_string(self.output_file()).unwrap());
        all.push_str(&self.summary());
        for entry in walk(self.workspace.path()) {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
        }
        all
    }
}

/// `bluegreen run --help` shows each input's default as action.yml declares it, next to the
/// flag of the same name (the flags have no value of their own, so that `INPUT_*` wins).
#[test]
fn run_help_shows_every_input_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let mut checked = 0;
    for (name, default) in declared_inputs(&repo_file("action.yml")) {
        if default.is_empty() || default.contains("${{") {
            continue;
        }
        let at = help
            .find(&format!("--{name} "))
            .or_else(|| help.find(&format!("--{name}\n")))
            .unwrap_or_else(|| panic!("--{name} is not in run --help:\n{help}"));
        let next_flag = help[at + 2..]
            .find("\n      --")
            .map_or(help.len(), |n| at + 2 + n);
        let entry = &help[at..next_flag];
        assert!(
            entry.contains(&format!("[default: {default}]")),
            "--{name} should show [default: {default}]:\n{entry}"
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} inputs with a default");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn lint_only_step_annotates_writes_sarif_and_fails_on_a_retired_action() {
    let step = RunnerStep::new();
    step.write(
        ".github/workflows/ci.yml",
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/upload-artifact@v3\n",
    );
    let out = step.run("workflows-lint/action.yml", &["lint"], &[], &[]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error file=.github/workflows/ci.yml,line=6,col=15"),
        "{all}"
    );
    let outputs = step.outputs();
    assert_eq!(
        outputs.get("errors").map(String::as_str),
        Some("1"),
        "{outputs:?}"
    );
    let sarif_rel = outputs.get("sarif-file").expect("sarif-file output");
    assert!(
        !sarif_rel.starts_with('/'),
        "output paths stay workspace-relative: {sarif_rel}"
    );
    let sarif = std::fs::read_to_string(step.workspace.path().join(sarif_rel)).unwrap();
    assert!(sarif.contains("\"version\": \"2.1.0\"") || sarif.contains("\"version\":\"2.1.0\""));
    assert!(
        step.summary().contains("upload-artifact"),
        "{}",
        step.summary()
    );
}

#[test]
fn local_deploy_step_deploys_reports_and_keeps_the_token_secret() {
    let app = TestApp::new();
    let step = RunnerStep::new();
    step.write(
        ".github/workflows/deploy.yml",
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v5\n",
    );
    let token = "ghs_contractTestSecretToken0123456789";
    let port = app.port.to_string();
    let state = app.state_dir.display().to_string();
    let v1 = image("v1");
    let proxy = env("BLUEGREEN_TEST_PROXY_IMAGE");
    let inputs = [
        ("app", app.app.as_str()),
        ("image", v1.as_str()),
        ("target", "local"),
        ("public-port", port.as_str()),
        ("public-address", "127.0.0.1"),
        ("container-port", "8080"),
        ("proxy-image", proxy.as_str()),
        ("verify-window", "500ms"),
        ("keep-warm", "10s"),
        ("drain", "500ms"),
        ("github-token", token),
    ];
    // The GitHub API is unreachable: comment and deployment become warnings, never a failure.
    let extra = [
        ("BLUEGREEN_STATE_DIR", state.as_str()),
        ("GITHUB_API_URL", "http://127.0.0.1:9"),
    ];
    let out = step.run("action.yml", &["run"], &inputs, &extra);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");

    let outputs = step.outputs();
    assert_eq!(
        outputs.get("status").map(String::as_str),
        Some("success"),
        "{outputs:?}"
    );
    assert_eq!(outputs.get("live-color").map(String::as_str), Some("blue"));
    assert_eq!(
        outputs.get("rolled-back").map(String::as_str),
        Some("false")
    );
    assert_eq!(outputs.get("image-ref"), Some(&v1));
    let report_dir = outputs.get("report-dir").expect("report-dir output");
    assert_eq!(report_dir, "bluegreen-report");
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(step.workspace.path().join(report_dir).join("metrics.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(metrics["status"], "success");
    assert_eq!(metrics["live_color"]["after"], "blue");
    assert!(step.summary().contains(&app.app), "{}", step.summary());

    // The deployed app answers through its proxy on the host.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, color, version) = rt.block_on(app.through_proxy());
    assert_eq!(
        (status, color.as_str(), version.as_str()),
        (200, "blue", "v1")
    );

    // The token was masked first thing, and reached no output, summary or file.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("::add-mask::"), "{all}");
    let written = step.everything_written(&out);
    let leaks = written.matches(token).count();
    let masked = stdout.matches(&format!("::add-mask::{token}")).count();
    assert_eq!(
        leaks, masked,
        "the token appears outside its ::add-mask:: line"
    );
}

/// `runs.args` of an action.yml: what the runner passes to the image.
fn declared_args(action_yml: &Path) -> Vec<String> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(action_yml).unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    docs[0]["runs"]["args"]
        .as_sequence()
        .expect("runs.args sequence")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rollback_action_inputs_are_the_rollback_flags() {
    let in_yml: BTreeSet<String> = declared_inputs(&repo_file("rollback/action.yml"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let in_code: BTreeSet<String> = bluegreen::cli::rollback::input_names()
        .into_iter()
        .collect();
    assert_eq!(
        in_yml, in_code,
        "rollback/action.yml inputs vs the rollback flags"
    );
    assert_eq!(
        declared_args(&repo_file("rollback/action.yml")),
        ["rollback", "--from-action-inputs"]
    );
}

#[test]
fn promote_and_abort_action_inputs_are_their_commands_flags() {
    let in_code: BTreeSet<String> = bluegreen::cli::canary::input_names().into_iter().collect();
    for kind in ["promote", "abort"] {
        let file = format!("{kind}/action.yml");
        let in_yml: BTreeSet<String> = declared_inputs(&repo_file(&file))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(in_yml, in_code, "{file} inputs vs the {kind} flags");
        assert_eq!(
            declared_args(&repo_file(&file)),
            [kind, "--from-action-inputs"]
        );
    }
}

#[test]
fn rollback_step_switches_back_and_says_so_or_exits_3_with_nothing_to_roll_back() {
    let app = TestApp::new();
    for tag in ["v1", "v2"] {
        let out = app.cli().args(app.deploy_args(tag)).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let state = app.state_dir.display().to_string();
    let extra = [("BLUEGREEN_STATE_DIR", state.as_str())];
    let args = declared_args(&repo_file("rollback/action.yml"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let step = RunnerStep::new();
    let inputs = [("app", app.app.as_str()), ("target", "local")];
    let out = step.run("rollback/action.yml", &args, &inputs, &extra);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let outputs = step.outputs();
    assert_eq!(
        outputs.get("status").map(String::as_str),
        Some("rolled-back"),
        "{outputs:?}"
    );
    assert_eq!(outputs.get("live-color").map(String::as_str), Some("blue"));
    let summary = step.summary();
    assert!(
        summary.contains(&format!("{} rollback: rolled-back", app.app)),
        "{summary}"
    );
    assert!(
        summary.contains("| local | rolled_back | blue |"),
        "{summary}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, color, version) = rt.block_on(app.through_proxy());
    assert_eq!(
        (status, color.as_str(), version.as_str()),
        (200, "blue", "v1")
    );

    // An app that was never deployed here: nothing changes, exit 3, and the step says why.
    let step = RunnerStep::new();
    let inputs = [("app", "bga-never-deployed"), ("target", "local")];
    let out = step.run("rollback/action.yml", &args, &inputs, &extra);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        step.outputs().get("status").map(String::as_str),
        Some("nothing-to-roll-back")
    );
    assert!(
        step.summary().contains("nothing to roll back to"),
        "{}",
        step.summary()
    );

    // The input the runner leaves empty when the workflow forgot it: exit 2, naming it.
    let step = RunnerStep::new();
    let out = step.run("rollback/action.yml", &args, &[("target", "local")], &extra);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("input `app`"),
        "{}",
        text(&out)
    );
}

/// The promote and abort sub-actions as the runner runs them, against this host: with no
/// canary, exit 7 and `status: no-canary`; with a canary in progress (its progress file, and
/// its deploy holding the app's lock, here this test), the decision is recorded for it.
#[test]
fn promote_and_abort_steps_record_a_decision_or_say_there_is_no_canary() {
    use bluegreen::agent::canary::decision::{CanaryDecision, Decision};
    let app = TestApp::new();
    let state = app.state_dir.display().to_string();
    let extra = [("BLUEGREEN_STATE_DIR", state.as_str())];
    let inputs = [("app", app.app.as_str()), ("target", "local")];
    let app_dir = app.state_dir.join("apps").join(&app.app);
    std::fs::create_dir_all(&app_dir).unwrap();

    let args = declared_args(&repo_file("promote/action.yml"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let step = RunnerStep::new();
    let out = step.run("promote/action.yml", &args, &inputs, &extra);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(
        step.outputs().get("status").map(String::as_str),
        Some("no-canary")
    );
    assert!(
        step.summary().contains("promote: no-canary"),
        "{}",
        step.summary()
    );
    assert!(
        step.summary().contains("no canary in progress"),
        "{}",
        step.summary()
    );

    let progress = serde_json::json!({
        "deploy_id": "d-42", "image": "shop:v2", "new_color": "green", "weight": 25,
        "started_at": "2026-12-03T10:00:00Z", "updated_at": "2026-12-03T10:01:00Z",
        "run": {"steps": [5, 25, "pause", 100], "reached": 3,
                "paused_since": "2026-12-03T10:01:00Z", "intervals": []}
    });
    std::fs::write(app_dir.join("canary.json"), progress.to_string()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lock = rt
        .block_on(bluegreen::agent::lock::AppLock::acquire(
            &app_dir.join("lock"),
            std::time::Duration::ZERO,
            "deploy d-42",
        ))
        .unwrap()
        .unwrap();
    let args = declared_args(&repo_file("abort/action.yml"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let step = RunnerStep::new();
    let out = step.run("abort/action.yml", &args, &inputs, &extra);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        step.outputs().get("status").map(String::as_str),
        Some("recorded")
    );
    assert!(
        step.summary()
            .contains("The canary: waiting for promote or abort at step 3 of 4 (pause)"),
        "{}",
        step.summary()
    );
    let decided = CanaryDecision::for_deploy(&app_dir, "d-42")
        .unwrap()
        .unwrap();
    assert_eq!(decided.decision, Decision::Abort);
    drop(lock);
}
