//! `--fix`: rewrites only the `@REF` bytes, keeps everything else byte for byte, is
//! idempotent, and never invents a SHA.

mod lint_common;
use bluegreen::lint::{lint_and_fix, Format, Options, Severity};
use lint_common::{ids, Repo};
use std::process::Command;

const BEFORE: &str = concat!(
    "# CI: keep this comment\r\n",
    "on: push\r\n",
    "jobs:\r\n",
    "  build:\r\n",
    "    runs-on: ubuntu-24.04\r\n",
    "    steps:\r\n",
    "      -   uses:   'actions/checkout@v4'     # pinned on purpose\r\n",
    "      - uses: \"actions/upload-artifact@v3.1.2\"\r\n",
    "      - {uses: actions/cache@v2, with: {path: x}}\r\n",
    "      - uses: actions/cache@8e5e7e5ab8b370d6c329ec480221332ada57f0ab # v2.1.7\r\n",
    "      - uses: actions/setup-go@v6\r\n",
);

const AFTER: &str = concat!(
    "# CI: keep this comment\r\n",
    "on: push\r\n",
    "jobs:\r\n",
    "  build:\r\n",
    "    runs-on: ubuntu-24.04\r\n",
    "    steps:\r\n",
    "      -   uses:   'actions/checkout@v5'     # pinned on purpose\r\n",
    "      - uses: \"actions/upload-artifact@v6\"\r\n",
    "      - {uses: actions/cache@v5, with: {path: x}}\r\n",
    "      - uses: actions/cache@8e5e7e5ab8b370d6c329ec480221332ada57f0ab # v2.1.7\r\n",
    "      - uses: actions/setup-go@v6\r\n",
);

fn options() -> Options {
    Options {
        paths: Vec::new(),
        format: Format::Human,
        fail_on: Severity::Error,
        fix: true,
        resolve: Default::default(),
    }
}

#[test]
fn fix_changes_only_the_references_and_keeps_crlf_quotes_and_comments() {
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", BEFORE);
    let outcome = lint_and_fix(repo.root(), &options()).unwrap();
    assert_eq!(
        String::from_utf8(repo.read(".github/workflows/ci.yml")).unwrap(),
        AFTER
    );
    let fixed = outcome.fixed.unwrap();
    assert_eq!((fixed.references, fixed.files), (3, 1));
    // What remains is the SHA pin, which is reported with advice, not rewritten.
    assert_eq!(ids(&outcome.report.findings), ["cache-sunset"]);
    assert!(!outcome.report.findings[0].fixable);
}

#[test]
fn fix_is_idempotent() {
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", BEFORE);
    lint_and_fix(repo.root(), &options()).unwrap();
    let once = repo.read(".github/workflows/ci.yml");
    let again = lint_and_fix(repo.root(), &options()).unwrap();
    assert_eq!(repo.read(".github/workflows/ci.yml"), once);
    assert_eq!(again.fixed.unwrap().references, 0);
}

#[test]
fn fix_leaves_escaped_values_alone_but_still_reports_them() {
    let repo = Repo::new();
    let text = "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: \"actions/\\x63heckout@v4\"\n";
    repo.write(".github/workflows/ci.yml", text);
    let outcome = lint_and_fix(repo.root(), &options()).unwrap();
    assert_eq!(repo.read(".github/workflows/ci.yml"), text.as_bytes());
    assert_eq!(ids(&outcome.report.findings), ["checkout-old-runtime"]);
    assert!(!outcome.report.findings[0].fixable);
}

#[test]
fn the_fix_flag_rewrites_files_from_the_command_line() {
    let repo = Repo::new();
    repo.write(".github/workflows/ci.yml", BEFORE);
    repo.write(
        ".github/actions/a/action.yml",
        "runs:\n  using: composite\n  steps:\n    - uses: docker/login-action@v2 # login\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_bluegreen"))
        .args(["lint", "--fix"])
        .current_dir(repo.root())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the SHA pin of a sunset cache remains an error"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fixed 4 references in 2 files"), "{stderr}");
    assert_eq!(
        String::from_utf8(repo.read(".github/actions/a/action.yml")).unwrap(),
        "runs:\n  using: composite\n  steps:\n    - uses: docker/login-action@v4 # login\n"
    );
}
