//! The rule data file (`src/lint/rules.toml`), embedded in the binary.

use crate::lint::finding::Severity;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The embedded rules, as shipped.
pub const EMBEDDED: &str = include_str!("../rules.toml");

/// What every entry says about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    pub id: String,
    pub severity: Severity,
    pub what: String,
    pub since: String,
    pub replacement: String,
    pub link: String,
}

/// A retired or deprecated major of an action (or reusable workflow repository).
#[derive(Debug, Clone, Deserialize)]
pub struct ActionRule {
    /// `OWNER/REPO` or `OWNER/REPO/PATH`; also matches any `OWNER/REPO/...` below it.
    pub action: String,
    pub majors: Vec<u64>,
    /// Only exact releases below this version match (`3.4.0`).
    #[serde(default)]
    pub below: Option<String>,
    #[serde(flatten)]
    pub meta: Meta,
}

/// A deprecated workflow command (`::set-output`).
#[derive(Debug, Clone, Deserialize)]
pub struct CommandRule {
    pub command: String,
    #[serde(flatten)]
    pub meta: Meta,
}

/// A retired runner label.
#[derive(Debug, Clone, Deserialize)]
pub struct RunnerRule {
    pub label: String,
    #[serde(default)]
    pub also: Vec<String>,
    #[serde(flatten)]
    pub meta: Meta,
}

/// A retired `runs.using` of a JavaScript action.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeRule {
    pub using: String,
    #[serde(flatten)]
    pub meta: Meta,
}

/// What resolution can find about a used action besides its runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoneKind {
    RepoMissing,
    RefMissing,
    RepoArchived,
    /// Not a problem of the action: resolution failed (network, rate limit, 403...).
    Unresolved,
}

/// An action that is gone, or could not be looked at.
#[derive(Debug, Clone, Deserialize)]
pub struct GoneRule {
    pub kind: GoneKind,
    #[serde(flatten)]
    pub meta: Meta,
}

/// All rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    #[serde(default)]
    pub action: Vec<ActionRule>,
    #[serde(default)]
    pub command: Vec<CommandRule>,
    #[serde(default)]
    pub runner: Vec<RunnerRule>,
    #[serde(default)]
    pub runtime: Vec<RuntimeRule>,
    /// The runtime of an action a step uses (from the action table or resolution).
    #[serde(default)]
    pub used_runtime: Vec<RuntimeRule>,
    #[serde(default)]
    pub gone: Vec<GoneRule>,
}

impl RuleData {
    /// The embedded rules, parsed once.
    pub fn embedded() -> Result<&'static RuleData> {
        static PARSED: OnceLock<std::result::Result<RuleData, String>> = OnceLock::new();
        PARSED
            .get_or_init(|| RuleData::parse(EMBEDDED).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the embedded rule data is invalid: {e}"))
    }

    /// Parses and checks a rule file: ids unique, fields non-empty, replacements usable.
    pub fn parse(text: &str) -> Result<RuleData> {
        let data: RuleData = toml::from_str(text).context("parsing the rule data (TOML)")?;
        let mut ids = HashSet::new();
        for meta in data.metas() {
            if !ids.insert(meta.id.as_str()) {
                bail!("rule id {:?} appears twice", meta.id);
            }
            for (field, value) in [
                ("what", &meta.what),
                ("since", &meta.since),
                ("replacement", &meta.replacement),
                ("link", &meta.link),
            ] {
                if value.trim().is_empty() {
                    bail!("rule {:?}: `{field}` is empty", meta.id);
                }
            }
            if chrono::NaiveDate::parse_from_str(&meta.since, "%Y-%m-%d").is_err() {
                bail!(
                    "rule {:?}: since = {:?} is not a YYYY-MM-DD date",
                    meta.id,
                    meta.since
                );
            }
        }
        for rule in &data.action {
            let major = crate::lint::uses::Version::parse(&rule.meta.replacement);
            if major.is_none() || !rule.meta.replacement.starts_with('v') {
                bail!(
                    "rule {:?}: replacement {:?} must be a major tag such as v5",
                    rule.meta.id,
                    rule.meta.replacement
                );
            }
            if let Some(below) = &rule.below {
                if crate::lint::uses::Version::parse(below).is_none() {
                    bail!(
                        "rule {:?}: below = {below:?} is not a version",
                        rule.meta.id
                    );
                }
            }
        }
        Ok(data)
    }

    /// Every rule's metadata, in file order by family.
    pub fn metas(&self) -> impl Iterator<Item = &Meta> {
        self.action
            .iter()
            .map(|r| &r.meta)
            .chain(self.command.iter().map(|r| &r.meta))
            .chain(self.runner.iter().map(|r| &r.meta))
            .chain(self.runtime.iter().map(|r| &r.meta))
            .chain(self.used_runtime.iter().map(|r| &r.meta))
            .chain(self.gone.iter().map(|r| &r.meta))
    }

    /// The rule for a used action's runtime (`node16`), if it is retired.
    pub fn used_runtime(&self, using: &str) -> Option<&RuntimeRule> {
        let using = using.trim();
        self.used_runtime
            .iter()
            .find(|r| r.using.eq_ignore_ascii_case(using))
    }

    /// The rule for a kind of gone action.
    pub fn gone(&self, kind: GoneKind) -> Option<&GoneRule> {
        self.gone.iter().find(|r| r.kind == kind)
    }

    pub fn meta(&self, id: &str) -> Option<&Meta> {
        self.metas().find(|m| m.id == id)
    }

    /// Whether a rule is about an action to upgrade: a retired or deprecated major of a used
    /// action (family `action`), or a local action on a retired runtime (family `runtime`).
    pub fn is_action_rule(&self, id: &str) -> bool {
        self.action.iter().any(|r| r.meta.id == id)
            || self.runtime.iter().any(|r| r.meta.id == id)
            || self.used_runtime.iter().any(|r| r.meta.id == id)
            || self
                .gone
                .iter()
                .any(|r| r.meta.id == id && r.kind != GoneKind::Unresolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_parse_and_cover_every_family() {
        let data = RuleData::embedded().unwrap();
        assert!(data.action.len() >= 20);
        assert_eq!(data.command.len(), 4);
        assert!(data.runner.iter().any(|r| r.label == "ubuntu-20.04"));
        assert_eq!(data.runtime.len(), 3);
    }

    #[test]
    fn bad_rule_files_are_refused_with_the_rule_named() {
        let dup = r#"
[[runner]]
id = "x"
label = "a"
severity = "error"
what = "w"
since = "2020-01-01"
replacement = "b"
link = "l"
[[runtime]]
id = "x"
using = "node12"
severity = "warning"
what = "w"
since = "2020-01-01"
replacement = "node24"
link = "l"
"#;
        let err = RuleData::parse(dup).unwrap_err().to_string();
        assert!(err.contains("\"x\" appears twice"), "{err}");
        let bad_date = dup.replacen("2020-01-01", "soon", 1).replacen(
            "id = \"x\"\nusing",
            "id = \"y\"\nusing",
            1,
        );
        let err = RuleData::parse(&bad_date).unwrap_err().to_string();
        assert!(err.contains("not a YYYY-MM-DD"), "{err}");
        let bad_severity =
            bad_date
                .replace("soon", "2020-01-01")
                .replacen("\"error\"", "\"fatal\"", 1);
        assert!(RuleData::parse(&bad_severity).is_err());
    }
}
