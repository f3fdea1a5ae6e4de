//! Bad input: each gets a clear error for that file with its location, the other files are
//! still linted, and nothing panics.

mod lint_common;
use bluegreen::lint::files::MAX_FILE_BYTES;
use lint_common::{ids, workflow, Repo};

/// Lints a repository holding one good file with a finding and `bad` at `.github/workflows/bad.yml`;
/// returns the file error for `bad.yml`.
fn lint_with(bad: &[u8]) -> bluegreen::lint::FileError {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/good.yml",
        workflow("      - uses: actions/cache@v1\n"),
    );
    repo.write(".github/workflows/bad.yml", bad);
    let report = repo.lint();
    assert_eq!(
        ids(&report.findings),
        ["cache-sunset"],
        "the good file is still linted"
    );
    assert_eq!(report.files_linted, 1);
    assert_eq!(report.file_errors.len(), 1, "{:?}", report.file_errors);
    let error = report.file_errors[0].clone();
    assert_eq!(error.file, ".github/workflows/bad.yml");
    error
}

#[test]
fn malformed_yaml_is_reported_with_the_parser_location() {
    let e = lint_with(b"on: push\njobs:\n  a:\n    steps: [\n      - run: x\n");
    assert!(e.message.starts_with("invalid YAML:"), "{}", e.message);
    assert!(e.line >= 4, "{e:?}");
}

#[test]
fn empty_binary_and_non_utf8_files_are_refused_by_name() {
    let e = lint_with(b"");
    assert!(e.message.starts_with("empty file"), "{}", e.message);
    let e = lint_with(b"\x7fELF\x02\x01\x01\0\0\0");
    assert!(e.message.contains("binary"), "{}", e.message);
    let e = lint_with(b"on: push\njobs:\n  caf\xe9: {}\n");
    assert!(
        e.message.contains("not UTF-8") && e.message.contains("0xe9"),
        "{}",
        e.message
    );
    assert_eq!((e.line, e.column), (3, 6));
}

#[test]
fn huge_files_are_refused_above_the_documented_cap() {
    let mut big = b"on: push\njobs: {}\n".to_vec();
    big.resize(MAX_FILE_BYTES as usize + 1, b'#');
    let e = lint_with(&big);
    assert!(
        e.message.contains("limit is 2097152 bytes"),
        "{}",
        e.message
    );
}

#[test]
fn yaml_that_is_not_a_workflow_says_what_is_missing() {
    let e = lint_with(b"- just\n- a list\n");
    assert_eq!(e.message, "expected a mapping at the top level");
    let e = lint_with(b"name: x\non: push\n");
    assert!(e.message.contains("no `jobs:` key"), "{}", e.message);
    let e = lint_with(b"on: push\njobs: {}\n---\non: push\njobs: {}\n");
    assert!(
        e.message.contains("more than one YAML document"),
        "{}",
        e.message
    );
    assert_eq!(e.line, 4, "the second document's first node");
    let e = lint_with(b"on: push\njobs: *nowhere\n");
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
}

#[test]
fn odd_indentation_and_tabs_are_errors_not_panics() {
    let e = lint_with(b"on: push\njobs:\n  a:\n      runs-on: x\n    steps: []\n");
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    assert_eq!(e.line, 5);
    let e = lint_with(b"on: push\njobs:\n\ta: {}\n");
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Flow style: saphyr's own flow-level limit.
    let mut flow = b"on: push\njobs: ".to_vec();
    flow.extend(std::iter::repeat_n(b'[', 100_000));
    let e = lint_with(&flow);
    assert!(e.message.starts_with("invalid YAML"), "{}", e.message);
    // Compact block sequences: 500,000 levels on one line used to overflow the stack.
    let mut block = b"on: push\njobs:\n  a:\n    steps:\n      ".to_vec();
    block.extend(std::iter::repeat_n(b"- ".as_slice(), 500_000).flatten());
    block.extend(b"x\n");
    let e = lint_with(&block);
    assert!(
        e.message.contains("nested deeper than 128 levels"),
        "{}",
        e.message
    );
    assert_eq!(e.line, 5);
    // Indentation: one mapping per line, each deeper.
    let mut indented = String::from("on: push\njobs:\n");
    for i in 1..200 {
        indented.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
    }
    indented.push_str(&format!("{}v: 1\n", "  ".repeat(200)));
    let e = lint_with(indented.as_bytes());
    assert!(
        e.message.contains("nested deeper than 128 levels"),
        "{}",
        e.message
    );
}
