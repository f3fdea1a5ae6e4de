//! The four renderers of one report, and the exit codes of the binary.

mod lint_common;
#[path = "support/schema.rs"]
mod schema;
use bluegreen::lint::render::{self, Format};
use lint_common::{workflow, Repo};
use std::process::Command;

fn sample() -> Repo {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        workflow("      - uses: actions/upload-artifact@v3\n      - uses: actions/checkout@v4\n      - run: echo \"::set-output name=a::b\"\n"),
    );
    repo
}

#[test]
fn human_shows_the_source_line_and_a_caret_under_the_value() {
    let repo = sample();
    let text = render::render(Format::Human, &repo.lint()).unwrap();
    let expected = "\
error[upload-artifact-sunset]: actions/upload-artifact@v3: actions/upload-artifact v1-v3 use the retired artifact service: the job fails (since 2025-01-30); use actions/upload-artifact@v6
  --> .github/workflows/ci.yml:7:15
  |
7 |       - uses: actions/upload-artifact@v3
  |               ^^^^^^^^^^^^^^^^^^^^^^^^^^
";
    assert!(text.starts_with(expected), "{text}");
    assert!(
        text.ends_with("3 findings (1 error, 2 warnings, 0 notes) in 1 file\n"),
        "{text}"
    );
}

#[test]
fn json_carries_every_field_of_the_finding_model() {
    let repo = sample();
    let text = render::render(Format::Json, &repo.lint()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["counts"]["error"], 1);
    assert_eq!(doc["counts"]["warning"], 2);
    let first = &doc["findings"][0];
    assert_eq!(first["rule_id"], "upload-artifact-sunset");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["file"], ".github/workflows/ci.yml");
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(7), Some(15))
    );
    assert_eq!(first["replacement"], "v6");
    assert_eq!(first["fixable"], true);
}

fn sarif_validator() -> jsonschema::Validator {
    let mut schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap();
    // The published schema's `language` patterns have a stray `]`
    // (`^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$`), which is not a valid ECMA-262 regex, so a
    // strict validator refuses to compile the schema. Repair those patterns in memory (we
    // never emit `language`); everything else is validated as published.
    let repaired = repair_language_patterns(&mut schema);
    assert_eq!(repaired, 2, "run.language and toolComponent.language");
    jsonschema::validator_for(&schema).unwrap()
}

fn repair_language_patterns(value: &mut serde_json::Value) -> usize {
    const PUBLISHED: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    match value {
        serde_json::Value::String(s) if s == PUBLISHED => {
            *s = "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into();
            1
        }
        serde_json::Value::Array(items) => items.iter_mut().map(repair_language_patterns).sum(),
        serde_json::Value::Object(map) => map.values_mut().map(repair_language_patterns).sum(),
        _ => 0,
    }
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let repo = sample();
    repo.write(".github/workflows/broken.yml", "on: push\njobs: [\n");
    let text = render::render(Format::Sarif, &repo.lint()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF schema errors: {errors:#?}");
    // What GitHub code scanning needs beyond the schema: version, rule ids that resolve,
    // relative URIs, 1-based regions.
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let result = &run["results"][0];
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], result["ruleId"]);
    let loc = &result["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], ".github/workflows/ci.yml");
    assert_eq!(loc["region"]["startLine"], 7);
    assert_eq!(loc["region"]["startColumn"], 15);
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let note = &run["invocations"][0]["toolExecutionNotifications"][0];
    assert!(note["message"]["text"]
        .as_str()
        .unwrap()
        .contains("broken.yml"));
}

#[test]
fn the_schema_test_can_fail() {
    // Guards the guard: a SARIF document with a wrong level must be rejected.
    let repo = sample();
    let text = render::render(Format::Sarif, &repo.lint()).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!sarif_validator().is_valid(&doc));
}

#[test]
fn github_annotations_put_the_most_severe_first_within_the_runner_limits() {
    let repo = Repo::new();
    let mut steps = String::new();
    for _ in 0..12 {
        steps.push_str("      - uses: actions/checkout@v4\n");
    }
    for _ in 0..12 {
        steps.push_str("      - uses: actions/cache@v2\n");
    }
    repo.write(".github/workflows/ci.yml", workflow(&steps));
    let text = render::render(Format::Github, &repo.lint()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let errors = lines.iter().filter(|l| l.starts_with("::error ")).count();
    let warnings = lines.iter().filter(|l| l.starts_with("::warning ")).count();
    assert_eq!((errors, warnings), (10, 10));
    assert!(lines[0].starts_with("::error file=.github/workflows/ci.yml,line=19,col=15,endLine=19,endColumn=31,title=bluegreen lint%3A cache-sunset::"), "{}", lines[0]);
    assert!(lines[10].starts_with("::warning "));
    assert!(lines[20].contains("4 not annotated"), "{}", lines[20]);
}

fn bin(repo: &Repo, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .arg("lint")
        .args(args)
        .current_dir(repo.root())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap()
}

#[test]
fn exit_codes_follow_fail_on_and_file_errors() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ok.yml",
        workflow("      - uses: actions/checkout@v5\n"),
    );
    assert_eq!(bin(&repo, &[]).status.code(), Some(0));
    repo.write(
        ".github/workflows/warn.yml",
        workflow("      - uses: actions/checkout@v4\n"),
    );
    assert_eq!(
        bin(&repo, &[]).status.code(),
        Some(0),
        "warnings pass the default --fail-on error"
    );
    assert_eq!(bin(&repo, &["--fail-on", "warning"]).status.code(), Some(1));
    repo.write(
        ".github/workflows/err.yml",
        workflow("      - uses: actions/cache@v1\n"),
    );
    assert_eq!(bin(&repo, &[]).status.code(), Some(1));
    let out = bin(&repo, &["--format", "json", "--output", "report.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let doc: serde_json::Value = serde_json::from_slice(&repo.read("report.json")).unwrap();
    assert_eq!(doc["counts"]["error"], 1);
    schema::assert_matches("lint", &doc);
    repo.write(".github/workflows/bad.yml", "on: push\njobs: {a: [\n");
    let out = bin(&repo, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a file that cannot be linted wins over findings"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("error[cache-sunset]"),
        "the other files are still linted: {stdout}"
    );
    assert!(
        stdout.contains("error[file]: invalid YAML")
            && stdout.contains("  --> .github/workflows/bad.yml:3:1\n"),
        "the file error has its location: {stdout}"
    );
    assert_eq!(bin(&repo, &["--format", "yaml"]).status.code(), Some(2));
    assert_eq!(bin(&repo, &["missing.yml"]).status.code(), Some(2));
}
