//! The action table (`src/lint/actions.toml`): the `runs.using` of each major of the most used
//! actions, each entry read from the action's own `action.yml` at that major's tag, with where
//! it was read. Offline this is all the linter knows about actions the rule data does not
//! name; online it saves a request for every reference it settles.

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The embedded table, as shipped.
pub const EMBEDDED: &str = include_str!("actions.toml");

/// The runtimes a table entry may name.
pub const KNOWN_RUNTIMES: &[&str] = &[
    "node12",
    "node16",
    "node20",
    "node24",
    "composite",
    "docker",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    action: Vec<Entry>,
}

/// One action: the runtime of each major tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `OWNER/REPO` or `OWNER/REPO/PATH`.
    pub name: String,
    /// Where it was checked: the repository, the tags and the commit read.
    pub checked: String,
    /// `v4 = "node20"`: the `runs.using` of the major's tag (or newest release of the major).
    pub runs: BTreeMap<String, String>,
    /// Majors whose releases did not all have one runtime: `v2 = { "2.0.0" = "node16",
    /// "2.7.2" = "node20" }`, each the first release with that runtime.
    #[serde(default)]
    pub releases: BTreeMap<String, BTreeMap<String, String>>,
}

/// The runtime changes within one major, by release.
type Changes = Vec<((u64, u64, u64), String)>;

/// An entry, its runtimes by major, and its runtime changes by major.
type Parsed = (Entry, BTreeMap<u64, String>, BTreeMap<u64, Changes>);

/// What the table says about one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known<'t> {
    pub using: &'t str,
    pub checked: &'t str,
    /// The first major whose runtime is node24 (the replacement), if the table has one.
    pub first_node24: Option<u64>,
}

/// The parsed table, by lower-cased name.
#[derive(Debug, Default)]
pub struct Table {
    entries: HashMap<String, Parsed>,
}

impl Table {
    /// The embedded table, parsed once.
    pub fn embedded() -> Result<&'static Table> {
        static PARSED: OnceLock<std::result::Result<Table, String>> = OnceLock::new();
        PARSED
            .get_or_init(|| Table::parse(EMBEDDED).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the embedded action table is invalid: {e}"))
    }

    /// Parses and checks a table: names unique, majors `vN`, runtimes known, a source named.
    pub fn parse(text: &str) -> Result<Table> {
        let file: TableFile = toml::from_str(text).context("parsing the action table (TOML)")?;
        let mut table = Table::default();
        for entry in file.action {
            if entry.name.split('/').count() < 2 || entry.name.contains('@') {
                bail!("action {:?}: expected OWNER/REPO[/PATH]", entry.name);
            }
            if entry.checked.trim().is_empty() {
                bail!("action {:?}: `checked` is empty", entry.name);
            }
            let major_of = |key: &str| {
                key.strip_prefix('v')
                    .and_then(|n| n.parse::<u64>().ok())
                    .with_context(|| format!("action {:?}: major {key:?} is not vN", entry.name))
            };
            let check_runtime = |key: &str, using: &str| {
                if KNOWN_RUNTIMES.contains(&using) {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "action {:?}: {key} = {using:?} is not one of {}",
                        entry.name,
                        KNOWN_RUNTIMES.join(", ")
                    ))
                }
            };
            let mut majors = BTreeMap::new();
            for (key, using) in &entry.runs {
                check_runtime(key, using)?;
                majors.insert(major_of(key)?, using.clone());
            }
            let mut releases = BTreeMap::new();
            for (key, changes) in &entry.releases {
                let major = major_of(key)?;
                let mut list: Changes = Vec::new();
                for (release, using) in changes {
                    check_runtime(release, using)?;
                    let v = crate::lint::uses::Version::parse(release)
                        .filter(|v| v.major == major && v.is_exact())
                        .with_context(|| {
                            format!(
                                "action {:?}: release {release:?} is not an X.Y.Z of {key}",
                                entry.name
                            )
                        })?;
                    list.push((
                        (v.major, v.minor.unwrap_or(0), v.patch.unwrap_or(0)),
                        using.clone(),
                    ));
                }
                list.sort();
                releases.insert(major, list);
            }
            let name = entry.name.to_ascii_lowercase();
            if table
                .entries
                .insert(name, (entry.clone(), majors, releases))
                .is_some()
            {
                bail!("action {:?} appears twice", entry.name);
            }
        }
        Ok(table)
    }

    /// How many actions the table knows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The runtime of `name` at `version`: a floating major (`v4`) by its tag, an exact
    /// release (`v4.1.2`) by the runtime changes recorded within its major (or the major's,
    /// when all its releases had one runtime).
    pub fn lookup(&self, name: &str, version: &crate::lint::uses::Version) -> Option<Known<'_>> {
        let (entry, majors, releases) = self.entries.get(&name.to_ascii_lowercase())?;
        let using = match (version.is_exact(), releases.get(&version.major)) {
            (true, Some(changes)) => {
                let at = (
                    version.major,
                    version.minor.unwrap_or(0),
                    version.patch.unwrap_or(0),
                );
                &changes.iter().rev().find(|(from, _)| *from <= at)?.1
            }
            _ => majors.get(&version.major)?,
        };
        Some(Known {
            using,
            checked: &entry.checked,
            first_node24: majors
                .iter()
                .find(|(_, u)| u.as_str() == "node24")
                .map(|(m, _)| *m),
        })
    }

    /// Every entry, for the docs test.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().map(|(e, _, _)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_parses_and_answers() {
        let table = Table::embedded().unwrap();
        assert!(table.len() >= 70, "{}", table.len());
        let v = |s| crate::lint::uses::Version::parse(s).unwrap();
        let known = table.lookup("Actions/Stale", &v("v8")).unwrap();
        assert_eq!(known.using, "node16");
        assert_eq!(known.first_node24, Some(10));
        assert!(table.lookup("actions/stale", &v("v99")).is_none());
        // Runtimes that changed within a major, by release.
        assert_eq!(
            table.lookup("swatinem/rust-cache", &v("v2")).unwrap().using,
            "node24"
        );
        assert_eq!(
            table
                .lookup("swatinem/rust-cache", &v("v2.7.1"))
                .unwrap()
                .using,
            "node16"
        );
        assert_eq!(
            table
                .lookup("swatinem/rust-cache", &v("2.7.3"))
                .unwrap()
                .using,
            "node20"
        );
    }

    #[test]
    fn bad_tables_are_refused() {
        let bad = "[[action]]\nname = \"a/b\"\nchecked = \"x\"\nruns = { v1 = \"node99\" }\n";
        assert!(Table::parse(bad).is_err());
        let bad = "[[action]]\nname = \"a/b\"\nchecked = \"x\"\nruns = { one = \"node12\" }\n";
        assert!(Table::parse(bad).is_err());
    }
}
