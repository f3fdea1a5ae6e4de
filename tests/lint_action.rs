//! The workflows-lint step as the runner runs it: the binary with GITHUB_ACTIONS, hyphenated
//! INPUT_* variables, GITHUB_WORKSPACE and the runner's GITHUB_OUTPUT / GITHUB_STEP_SUMMARY
//! files; then what it wrote is read back with the runner's own format.

mod lint_common;
use bluegreen::gha::files::parse_key_values;
use lint_common::{workflow, Repo};
use std::collections::HashMap;
use std::process::{Command, Output};

struct Step {
    repo: Repo,
    files: tempfile::TempDir,
}

impl Step {
    fn new() -> Step {
        Step {
            repo: Repo::new(),
            files: tempfile::Builder::new()
                .prefix("bgl-runner-")
                .tempdir()
                .unwrap(),
        }
    }

    /// Runs `bluegreen lint` with every input the action declares (the runner exports all of
    /// them, `""` when the workflow left one out) overridden by `inputs`.
    fn run(&self, inputs: &[(&str, &str)]) -> Output {
        let mut declared: HashMap<String, String> = action_defaults();
        for (k, v) in inputs {
            declared.insert(k.to_string(), v.to_string());
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bluegreen"));
        cmd.arg("lint")
            .current_dir(self.repo.root())
            .env("GITHUB_ACTIONS", "true")
            .env_remove("GITHUB_TOKEN")
            .env("GITHUB_WORKSPACE", self.repo.root())
            .env("GITHUB_OUTPUT", self.files.path().join("output"))
            .env("GITHUB_STEP_SUMMARY", self.files.path().join("summary"));
        for (name, value) in declared {
            cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        cmd.output().unwrap()
    }

    fn outputs(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.files.path().join("output")).unwrap();
        parse_key_values(&text).unwrap().into_iter().collect()
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(self.files.path().join("summary")).unwrap()
    }
}

/// The inputs and defaults `workflows-lint/action.yml` declares, read from the file itself.
fn action_defaults() -> HashMap<String, String> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows-lint/action.yml"
    ))
    .unwrap();
    let docs = Yaml::load_from_str(&text).unwrap();
    let inputs = docs[0]["inputs"].as_mapping().unwrap();
    inputs
        .iter()
        .map(|(k, v)| {
            let default = v["default"].as_str().unwrap_or("").to_string();
            (k.as_str().unwrap().to_string(), default)
        })
        .collect()
}

#[test]
fn the_action_declares_what_the_code_reads() {
    let names: Vec<String> = {
        let mut n: Vec<String> = action_defaults().into_keys().collect();
        n.sort();
        n
    };
    assert_eq!(
        names,
        [
            "fail-on",
            "fix",
            "format",
            "github-token",
            "paths",
            "sarif-file"
        ]
    );
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows-lint/action.yml"
    ))
    .unwrap();
    for output in ["findings:", "errors:", "warnings:", "sarif-file:"] {
        assert!(text.contains(output), "action.yml declares output {output}");
    }
    // The same image as the main action: the release pins both to one version.
    let root = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let image_line = |t: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with("image: docker://"))
            .map(|l| l.trim().to_string())
    };
    assert!(
        image_line(&text).is_some(),
        "workflows-lint/action.yml runs a prebuilt image"
    );
    assert_eq!(image_line(&text), image_line(&root));
}

#[test]
fn step_annotates_writes_sarif_summary_and_outputs() {
    let step = Step::new();
    let mut steps = String::new();
    for _ in 0..11 {
        steps.push_str("      - uses: actions/upload-artifact@v2\n");
    }
    steps.push_str("      - uses: actions/checkout@v4\n");
    step.repo
        .write(".github/workflows/ci.yml", workflow(&steps));
    let out = step.run(&[("sarif-file", "reports/lint.sarif")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("::error file=.github/workflows/ci.yml,line="))
            .count(),
        10
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("::warning "))
            .count(),
        1
    );
    assert!(stdout.contains("1 not annotated"), "{stdout}");

    let outputs = step.outputs();
    assert_eq!(outputs["findings"], "12");
    assert_eq!(outputs["errors"], "11");
    assert_eq!(outputs["warnings"], "1");
    assert_eq!(
        outputs["sarif-file"], "reports/lint.sarif",
        "workspace-relative, never /github/..."
    );
    let sarif: serde_json::Value =
        serde_json::from_slice(&step.repo.read("reports/lint.sarif")).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 12);

    let summary = step.summary();
    assert!(summary.contains("| errors | 11 |"), "{summary}");
    assert!(
        summary.contains("1 finding(s) were not annotated"),
        "{summary}"
    );
    assert!(
        summary.contains("`.github/workflows/ci.yml:7:15`"),
        "{summary}"
    );
}

#[test]
fn hyphenated_inputs_reach_the_linter() {
    let step = Step::new();
    step.repo.write(
        ".github/workflows/ci.yml",
        workflow("      - uses: actions/checkout@v4\n"),
    );
    step.repo
        .write("other/wf.yml", workflow("      - uses: actions/cache@v2\n"));
    let clean = step.run(&[]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "a warning passes fail-on: error"
    );
    let strict = step.run(&[
        ("fail-on", "warning"),
        ("paths", ".github/workflows\nother"),
    ]);
    assert_eq!(strict.status.code(), Some(1));
    let outputs = step.outputs();
    assert_eq!(outputs["findings"], "2", "both paths were linted");
    let fixed = step.run(&[("fix", "true"), ("sarif-file", "")]);
    assert_eq!(fixed.status.code(), Some(0));
    assert!(
        String::from_utf8(step.repo.read(".github/workflows/ci.yml"))
            .unwrap()
            .contains("actions/checkout@v5")
    );
    assert_eq!(step.outputs()["sarif-file"], "");
}

#[test]
fn a_bad_input_fails_the_step_with_its_name() {
    let step = Step::new();
    step.repo
        .write(".github/workflows/ci.yml", workflow("      - run: true\n"));
    let out = step.run(&[("fail-on", "critical")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("input `fail-on`") && stderr.contains("\"critical\""),
        "{stderr}"
    );
    let out = step.run(&[("sarif-file", "/tmp/x.sarif")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("input `sarif-file`"));
}

#[test]
fn a_workspace_with_nothing_to_lint_fails_the_step_instead_of_passing_it() {
    // The usual cause: the job did not run actions/checkout before the lint step.
    let step = Step::new();
    let out = step.run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("actions/checkout"), "{stderr}");

    // Paths that hold no workflow file are refused by name, in the action and on the CLI.
    std::fs::create_dir_all(step.repo.root().join("docs")).unwrap();
    let out = step.run(&[("paths", "docs")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("docs: expected workflow or action files"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["lint", "docs"])
        .current_dir(step.repo.root())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
