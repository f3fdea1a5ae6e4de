//! Helpers shared by the lint tests: a repository in a temp dir, linted through the library.
#![allow(dead_code)]

use bluegreen::lint::{lint_repository, Finding, LintReport};
use std::path::{Path, PathBuf};

pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        Repo {
            dir: tempfile::Builder::new().prefix("bgl-").tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root().join(rel)).unwrap()
    }

    pub fn lint(&self) -> LintReport {
        lint_repository(self.root(), &[]).unwrap()
    }
}

/// A workflow with one job whose steps are `steps` (already indented by 6 spaces).
pub fn workflow(steps: &str) -> String {
    format!("name: t\non: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n{steps}")
}

/// `(rule_id, line, column)` of each finding.
pub fn places(findings: &[Finding]) -> Vec<(String, usize, usize)> {
    findings
        .iter()
        .map(|f| (f.rule_id.clone(), f.line, f.column))
        .collect()
}

pub fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.rule_id.as_str()).collect()
}
