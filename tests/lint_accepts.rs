//! Every file GitHub accepts is read: flow collections indented no deeper than their key,
//! and action metadata under any name.

mod lint_common;
use bluegreen::lint::lint_repository;
use bluegreen::lint::rules::RuleData;
use bluegreen::lint::source::SourceFile;
use lint_common::{places, Repo};
use std::path::{Path, PathBuf};

fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/lint/accepts")
        .join(name)
}

#[test]
fn a_closing_bracket_at_the_keys_indentation_is_read_with_exact_positions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = lint_repository(
        root,
        &[PathBuf::from(
            "tests/data/lint/accepts/flow-closing-bracket.yml",
        )],
    )
    .unwrap();
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    assert_eq!(
        places(&report.findings),
        [
            ("runner-ubuntu-20-04-retired".to_string(), 16, 5),
            ("checkout-old-runtime".to_string(), 20, 15),
            ("cache-sunset".to_string(), 25, 15),
        ]
    );
    // The positions are those of the file as written, not of the re-indented text.
    let text = std::fs::read_to_string(data_path("flow-closing-bracket.yml")).unwrap();
    let line16: &str = text.lines().nth(15).unwrap();
    assert_eq!(&line16[4..], "ubuntu-20.04,");
}

#[test]
fn fix_rewrites_the_right_bytes_in_a_relaxed_file() {
    let repo = Repo::new();
    let text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps: [\n      {uses: actions/cache@v1},\n    {uses: \"actions/checkout@v3\"}\n    ]\n";
    repo.write(".github/workflows/w.yml", text);
    let options = bluegreen::lint::Options {
        paths: Vec::new(),
        format: bluegreen::lint::Format::Json,
        fail_on: bluegreen::lint::Severity::Error,
        fix: true,
        resolve: Default::default(),
    };
    let outcome = bluegreen::lint::lint_and_fix(repo.root(), &options).unwrap();
    assert!(outcome.report.file_errors.is_empty());
    let fixed = String::from_utf8(repo.read(".github/workflows/w.yml")).unwrap();
    assert_eq!(
        fixed,
        text.replace("cache@v1", "cache@v5")
            .replace("checkout@v3", "checkout@v5")
    );
}

#[test]
fn real_errors_inside_flow_collections_are_still_errors() {
    let data = RuleData::embedded().unwrap();
    let source = SourceFile::new(
        ".github/workflows/w.yml",
        "on: push\njobs:\n  a:\n    steps: [\n  - run: x\n".to_string(),
    );
    let e = bluegreen::lint::lint_source(&source, data).unwrap_err();
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    let source = SourceFile::new(
        ".github/workflows/w.yml",
        "on: push\njobs:\n  a:\n    runs-on: [a,\nb\n".to_string(),
    );
    let e = bluegreen::lint::lint_source(&source, data).unwrap_err();
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
}

#[test]
fn a_named_file_with_runs_and_no_jobs_is_action_metadata() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = lint_repository(
        root,
        &[PathBuf::from(
            "tests/data/lint/accepts/my-action-metadata.yml",
        )],
    )
    .unwrap();
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    assert_eq!(
        places(&report.findings),
        [("local-action-node16".to_string(), 5, 10)]
    );
}

#[test]
fn a_workflows_file_without_jobs_is_still_refused() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/w.yml",
        "runs:\n  using: node16\n  main: x.js\n",
    );
    let report = repo.lint();
    assert_eq!(report.file_errors.len(), 1);
    assert!(report.file_errors[0].message.contains("no `jobs:`"));
}

#[test]
fn an_action_yml_in_the_workflows_directory_is_a_workflow() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/action.yml",
        lint_common::workflow("      - uses: actions/cache@v1\n"),
    );
    repo.write(
        "templates/action.yml",
        lint_common::workflow("      - uses: actions/cache@v2\n"),
    );
    let report = repo.lint();
    assert!(report.file_errors.is_empty(), "{:?}", report.file_errors);
    let where_: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.rule_id.as_str()))
        .collect();
    assert_eq!(
        where_,
        [
            (".github/workflows/action.yml", "cache-sunset"),
            ("templates/action.yml", "cache-sunset")
        ]
    );
}
