//! Each rule family against real-shaped workflow and action files: the rule, the severity
//! and the exact line and column of the value.

mod lint_common;
use bluegreen::lint::Severity;
use lint_common::{ids, places, workflow, Repo};

#[test]
fn retired_majors_are_found_at_the_value_with_the_first_supported_major() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        workflow(concat!(
            "      - uses: actions/checkout@v4\n",
            "      - uses: actions/upload-artifact@v3\n",
            "      - uses: \"actions/download-artifact@v2\"\n",
            "      - uses: actions/cache@v2\n",
            "      - uses: Actions/Setup-Python@v5.1.0\n",
            "      - uses: github/codeql-action/init@v2\n",
            "      - uses: docker/build-push-action@v6\n",
            "      - uses: aws-actions/configure-aws-credentials@v4\n",
            "      - uses: actions/checkout@v5\n",
            "      - uses: actions/cache@v5\n",
            "      - uses: actions/upload-artifact@v6\n",
            "      - uses: actions/checkout@main\n",
            "      - uses: docker://alpine:3.20\n",
        )),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [
            ("checkout-old-runtime".to_string(), 7, 15),
            ("upload-artifact-sunset".to_string(), 8, 15),
            ("download-artifact-sunset".to_string(), 9, 16),
            ("cache-sunset".to_string(), 10, 15),
            ("setup-python-old-runtime".to_string(), 11, 15),
            ("codeql-action-retired".to_string(), 12, 15),
            ("docker-build-push-old-runtime".to_string(), 13, 15),
            ("aws-configure-credentials-old-runtime".to_string(), 14, 15),
        ]
    );
    let severity = |id: &str| {
        report
            .findings
            .iter()
            .find(|f| f.rule_id == id)
            .unwrap()
            .severity
    };
    assert_eq!(severity("upload-artifact-sunset"), Severity::Error);
    assert_eq!(severity("checkout-old-runtime"), Severity::Warning);
    let artifact = &report.findings[1];
    assert_eq!(artifact.replacement.as_deref(), Some("v6"));
    assert!(
        artifact.message.contains("use actions/upload-artifact@v6"),
        "{}",
        artifact.message
    );
    assert_eq!((artifact.end_line, artifact.end_column), (8, 41));
}

#[test]
fn old_cache_releases_fail_only_when_pinned_below_the_fixed_release() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        workflow(concat!(
            "      - uses: actions/cache@v3.3.1\n",
            "      - uses: actions/cache@v3\n",
            "      - uses: actions/cache@v4.1.2\n",
            "      - uses: actions/cache@v4.2.0\n",
        )),
    );
    let report = repo.lint();
    assert_eq!(
        ids(&report.findings),
        [
            "cache-v3-old-release",
            "cache-old-runtime",
            "cache-v4-old-release",
            "cache-old-runtime"
        ]
    );
    assert_eq!(report.counts.error, 2);
    assert_eq!(report.counts.warning, 2);
}

#[test]
fn sha_pins_are_judged_by_their_version_comment_and_never_get_an_invented_sha() {
    let sha = "8e5e7e5ab8b370d6c329ec480221332ada57f0ab";
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        workflow(&format!(
            "      - uses: actions/cache@{sha} # v2.1.7\n      - uses: actions/cache@{sha} # v5.0.1\n      - uses: actions/checkout@{sha}\n"
        )),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [("cache-sunset".to_string(), 7, 15)]
    );
    let f = &report.findings[0];
    assert!(!f.fixable, "a SHA pin is never rewritten");
    assert!(f.message.contains("# v2.1.7"), "{}", f.message);
    assert!(f.message.contains("v5 release"), "{}", f.message);
    let invented = f
        .message
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|word| word.len() >= 40);
    assert!(!invented, "no full SHA in the advice: {}", f.message);
    assert!(
        f.message.contains("no commit is suggested"),
        "{}",
        f.message
    );
}

#[test]
fn workflow_commands_are_reported_at_their_column_inside_the_script() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        workflow(concat!(
            "      - run: |\n",
            "          echo start\n",
            "          echo \"::set-output name=a::1\"   # old\n",
            "          echo '::save-state name=b::2'\n",
            "      - run: echo \"::set-env name=C::3\" && echo \"::add-path::/opt\"\n",
            "      - run: echo \"name=a\" >> \"$GITHUB_OUTPUT\"  # ::set-outputs is not a command\n",
        )),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [
            ("set-output-command".to_string(), 9, 17),
            ("save-state-command".to_string(), 10, 17),
            ("set-env-command".to_string(), 11, 20),
            ("add-path-command".to_string(), 11, 50),
        ]
    );
    assert_eq!(
        report.counts.error, 2,
        "set-env and add-path are disabled: errors"
    );
}

#[test]
fn retired_runner_labels_are_found_directly_in_lists_and_through_matrix_values() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        concat!(
            "on: push\n",
            "jobs:\n",
            "  a:\n",
            "    runs-on: ubuntu-18.04\n",
            "    steps: [{run: 'true'}]\n",
            "  b:\n",
            "    runs-on: [self-hosted, windows-2019]\n",
            "    steps: [{run: 'true'}]\n",
            "  c:\n",
            "    strategy:\n",
            "      matrix:\n",
            "        os: [ubuntu-24.04, macos-14, macos-13-xlarge]\n",
            "        include:\n",
            "          - os: ubuntu-20.04\n",
            "    runs-on: ${{ matrix.os }}\n",
            "    steps: [{run: 'true'}]\n",
            "  d:\n",
            "    runs-on: {group: big, labels: [macos-12]}\n",
            "    steps: [{run: 'true'}]\n",
        ),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [
            ("runner-ubuntu-18-04-retired".to_string(), 4, 14),
            ("runner-windows-2019-retired".to_string(), 7, 28),
            ("runner-macos-14-retired".to_string(), 12, 28),
            ("runner-macos-13-retired".to_string(), 12, 38),
            ("runner-ubuntu-20-04-retired".to_string(), 14, 17),
            ("runner-macos-12-retired".to_string(), 18, 36),
        ]
    );
    assert!(report.findings[2]
        .message
        .contains("through matrix value `os`"));
    assert!(report
        .findings
        .iter()
        .all(|f| f.severity == Severity::Error));
}

#[test]
fn local_actions_runtime_and_composite_steps_are_linted() {
    let repo = Repo::new();
    repo.write(
        ".github/actions/js/action.yml",
        "name: js\ndescription: d\nruns:\n  using: 'node20'\n  main: index.js\n",
    );
    repo.write(
        "tools/setup/action.yaml",
        "name: c\ndescription: d\nruns:\n  using: composite\n  steps:\n    - uses: actions/setup-node@v3\n    - run: echo \"::set-output name=x::y\"\n      shell: bash\n",
    );
    repo.write("target/debug/action.yml", "runs:\n  using: node12\n");
    repo.write("node_modules/pkg/action.yml", "runs:\n  using: node12\n");
    repo.write(".git/hooks/action.yml", "runs:\n  using: node12\n");
    repo.write(
        ".github/actions/ok/action.yml",
        "name: ok\ndescription: d\nruns:\n  using: node24\n  main: i.js\n",
    );
    let report = repo.lint();
    assert_eq!(
        report.files_linted, 3,
        "target/, node_modules/ and .git/ are skipped"
    );
    assert_eq!(
        places(&report.findings),
        [
            ("local-action-node20".to_string(), 4, 11),
            ("setup-node-old-runtime".to_string(), 6, 13),
            ("set-output-command".to_string(), 7, 18),
        ]
    );
    assert!(report.findings[1].message.contains("composite action"));
}

#[test]
fn reusable_workflow_calls_are_judged_by_their_repository_path() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/call.yml",
        concat!(
            "on: push\n",
            "jobs:\n",
            "  codeql:\n",
            "    uses: github/codeql-action/.github/workflows/x.yml@v2\n",
            "  mine:\n",
            "    uses: org/shared/.github/workflows/deploy.yml@v1\n",
            "  local:\n",
            "    uses: ./.github/workflows/other.yml\n",
        ),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [("codeql-action-retired".to_string(), 4, 11)]
    );
    assert!(report.findings[0]
        .message
        .contains("reusable workflow call"));
}

#[test]
fn anchors_aliases_and_flow_style_are_followed_and_reported_once() {
    let repo = Repo::new();
    repo.write(
        ".github/workflows/ci.yml",
        concat!(
            "on: push\n",
            "jobs:\n",
            "  a:\n",
            "    runs-on: ubuntu-24.04\n",
            "    steps:\n",
            "      - &co {uses: actions/checkout@v3, with: {fetch-depth: 0}}\n",
            "  b:\n",
            "    runs-on: ubuntu-24.04\n",
            "    steps: [*co, {uses: actions/cache@v1}]\n",
        ),
    );
    let report = repo.lint();
    assert_eq!(
        places(&report.findings),
        [
            ("checkout-old-runtime".to_string(), 6, 20),
            ("cache-sunset".to_string(), 9, 25),
        ]
    );
}
