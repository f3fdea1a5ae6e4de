//! The action table settles, offline, the references the rule data does not name: the
//! misses real workflows showed (actions/stale v5-v8, actions/labeler v3-v4, setup-dotnet v2,
//! create-pull-request v3-v4, codecov v3, github-script@0.3.0, SHA pins with a comment).

mod lint_common;
use lint_common::{workflow, Repo};

#[test]
fn the_table_judges_every_ref_form_offline() {
    let cases: &[(&str, Option<&str>)] = &[
        ("actions/stale@v5", Some("action-runtime-node16")),
        ("actions/stale@v8", Some("action-runtime-node16")),
        ("actions/stale@v9.1.0", Some("action-runtime-node20")),
        ("actions/stale@v10", None),
        ("actions/labeler@v3", Some("action-runtime-node12")),
        ("actions/labeler@v4", Some("action-runtime-node16")),
        ("actions/setup-dotnet@v2", Some("action-runtime-node16")),
        (
            "peter-evans/create-pull-request@v3",
            Some("action-runtime-node12"),
        ),
        (
            "peter-evans/create-pull-request@v4.2.3",
            Some("action-runtime-node16"),
        ),
        ("codecov/codecov-action@v3", Some("action-runtime-node16")),
        ("actions/github-script@0.3.0", Some("action-runtime-node12")),
        (
            "softprops/action-gh-release@de2c0eb89ae2a093876385947365aca7b0e5f844 # v0.1.15",
            Some("action-runtime-node16"),
        ),
        // A runtime that changed within a major: the release decides.
        ("Swatinem/rust-cache@v2.7.1", Some("action-runtime-node16")),
        ("Swatinem/rust-cache@v2", None),
        (
            "aws-actions/amazon-ecr-login@v2.0.1",
            Some("action-runtime-node20"),
        ),
        ("aws-actions/amazon-ecr-login@v2", None),
        // Composite and unknown actions are left to resolution: offline, no finding.
        ("dtolnay/rust-toolchain@v1", None),
        ("acme/unknown@v1", None),
        // The rule data still wins where it has an entry.
        ("actions/cache@v2", Some("cache-sunset")),
    ];
    for (uses, expected) in cases {
        let repo = Repo::new();
        repo.write(
            ".github/workflows/ci.yml",
            workflow(&format!("      - uses: {uses}\n")),
        );
        let report = repo.lint();
        let ids: Vec<&str> = report.findings.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(ids, expected.iter().copied().collect::<Vec<_>>(), "{uses}");
        if let Some(f) = report.findings.first() {
            if f.rule_id.starts_with("action-runtime") {
                assert!(
                    f.message.contains("action.yml") && f.message.contains("github.com/"),
                    "says where it was checked: {}",
                    f.message
                );
            }
        }
    }
}
